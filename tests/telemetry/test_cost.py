"""What tokens cost: one formula, checked against prices worked out by hand."""

from __future__ import annotations

import pytest

from errand.agent.events import RunFailed, RunStarted, StepFinished
from errand.config import FREE, ModelPrice, Settings
from errand.llm.types import Usage
from errand.telemetry.cost import CostMeter, cost_of

GPT = ModelPrice(input=2.5, cached_input=1.25, output=10.0)


def test_cost_is_evaluated_cached_and_written_tokens_at_their_prices() -> None:
    usage = Usage(prompt_tokens=1200, cached_tokens=200, completion_tokens=300)
    # 1,000 evaluated x 2.50 + 200 cached x 1.25 + 300 written x 10.00, per million: 0.00575
    assert cost_of(usage, GPT) == pytest.approx(0.00575)
    # No cached price: cached tokens cost the input price. 1,200 x 2.50 + 300 x 10.00 = 0.006
    assert cost_of(usage, ModelPrice(input=2.5, output=10.0)) == pytest.approx(0.006)
    assert cost_of(usage, FREE) == 0.0


def test_prices_come_from_the_environment_and_unpriced_server_models_have_no_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ERRAND_PRICES", '{"gpt-4o": {"input": 2.5, "cached_input": 1.25, "output": 10}}')
    monkeypatch.setenv("ERRAND_MODEL_URL", "http://127.0.0.1:8000/v1")
    settings = Settings()
    assert settings.price_of("gpt-4o") == GPT
    assert settings.price_of("some-other-model") is None  # unknown, not free
    assert settings.price_of("qwen2.5-coder-1.5b") == FREE
    monkeypatch.delenv("ERRAND_MODEL_URL")
    assert Settings().price_of("my-model.Q4_K_M") == FREE  # a GGUF run in process


def test_a_run_cancelled_without_totals_is_priced_by_its_steps() -> None:
    meter = CostMeter(Settings(prices={"gpt-4o": GPT}, model_url="http://x/v1"))
    meter.see(RunStarted(input="x", model="gpt-4o", tools=[]))
    step = Usage(prompt_tokens=1200, cached_tokens=200, completion_tokens=300)
    assert meter.see(StepFinished(step=1, usage=step, duration_ms=1.0)) == pytest.approx(0.00575)
    meter.see(StepFinished(step=2, usage=step, duration_ms=1.0))
    cancelled = RunFailed(reason="The run was cancelled.", kind="cancelled")
    assert meter.see(cancelled) == pytest.approx(0.0115)
    assert meter.run_fields(cancelled) | {"cost": 0} == {
        "model": "gpt-4o",
        "prompt_tokens": 2400,
        "cached_tokens": 400,
        "completion_tokens": 600,
        "cost": 0,
    }
