"""A durable run's tokens and cost land in its record and its stored events, and are summed
per key and user; its spans (and, when asked, DBOS's) form one trace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from errand.config import Settings
from errand.runs import Runs, RunStatus
from errand.telemetry.trace import use_tracer_provider
from tests.runs.conftest import TRIP_REQUEST

PRICES = {"scripted": {"input": 2.0, "cached_input": 0.5, "output": 8.0}}


def by_hand(usage: dict[str, int]) -> float:
    """2.00 per million evaluated prompt tokens, 0.50 per million cached, 8.00 per million written."""
    p, c, o = usage["prompt_tokens"], usage["cached_tokens"], usage["completion_tokens"]
    return ((p - c) * 2.0 + c * 0.5 + o * 8.0) / 1_000_000


async def test_a_runs_cost_is_its_tokens_at_its_models_price(make_settings: Callable[..., Settings]) -> None:
    runs = await Runs.open(make_settings(prices=PRICES))
    try:
        rec = await runs.create("dave", TRIP_REQUEST, approve="all", key_id="k1")
        done = await runs.wait("dave", rec.id, timeout_s=60)
        assert done.status == RunStatus.succeeded, done.error
        events = await runs.events("dave", rec.id)
        (total,) = runs.log.usage()
        # Another run of that key on a model nobody priced, and one cancelled before it started.
        runs.log.create("run_unpriced", "dave", "x", {}, key_id="k1")
        runs.log.append(
            "run_unpriced", [], {"status": RunStatus.failed, "model": "gpt-x", "prompt_tokens": 10}
        )
        runs.log.create("run_idle", "dave", "x", {}, key_id="k1")
        runs.log.append("run_idle", [], {"status": RunStatus.cancelled})
        (later,) = runs.log.usage()
        assert runs.log.usage(since=datetime.now(UTC) + timedelta(hours=1)) == []
    finally:
        runs.close()
    assert (later.runs, later.unpriced, later.prompt_tokens) == (3, 1, total.prompt_tokens + 10)
    assert later.cost == pytest.approx(total.cost)
    last = events[-1].data
    assert last["type"] == "run_finished"
    assert (done.model, done.prompt_tokens, done.completion_tokens) == (
        "scripted",
        last["usage"]["prompt_tokens"],
        last["usage"]["completion_tokens"],
    )
    assert done.prompt_tokens > 0 and done.completion_tokens > 0
    assert done.cost == pytest.approx(by_hand(last["usage"])) and done.cost > 0
    assert last["cost"] == pytest.approx(done.cost)
    steps = [e.data for e in events if e.type == "step_finished"]
    assert len(steps) == 3
    for step in steps:
        assert step["cost"] == pytest.approx(by_hand(step["usage"]))
    assert (total.key_id, total.user, total.runs, total.unpriced) == ("k1", "dave", 1, 0)
    assert total.prompt_tokens == done.prompt_tokens and total.cost == pytest.approx(done.cost)


@pytest.fixture
def global_spans() -> Iterator[InMemorySpanExporter]:
    """Spans of a global provider installed for this test only (DBOS traces only through the
    global one); afterwards the process has none again, as OpenTelemetry's own test helpers do."""
    from opentelemetry.util._once import Once

    before = trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = None, Once()
    trace.set_tracer_provider(provider)
    use_tracer_provider(None)
    yield exporter
    provider.shutdown()
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = before


async def test_dbos_steps_join_the_runs_trace(
    make_settings: Callable[..., Settings], global_spans: InMemorySpanExporter
) -> None:
    runs = await Runs.open(make_settings(trace_dbos=True))
    try:
        rec = await runs.create("dave", TRIP_REQUEST, approve="all")
        done = await runs.wait("dave", rec.id, timeout_s=60)
        assert done.status == RunStatus.succeeded, done.error
    finally:
        runs.close()
    got = [s for s in global_spans.get_finished_spans()]
    (run,) = [
        s
        for s in got
        if s.name == "invoke_agent errand" and (s.attributes or {}).get("errand.run.id") == rec.id
    ]
    mine = [s for s in got if s.context.trace_id == run.context.trace_id]
    names = {s.name for s in mine}
    assert {"model:1", "tool:book_flight", "step 1", "chat scripted", "execute_tool book_flight"} <= names, (
        names
    )
    by_id = {s.context.span_id: s for s in mine}

    def ancestors(span: object) -> list[str]:
        out, parent = [], getattr(span, "parent", None)
        while parent is not None and parent.span_id in by_id:
            out.append(by_id[parent.span_id].name)
            parent = by_id[parent.span_id].parent
        return out

    (model_step,) = [s for s in mine if s.name == "model:1"]
    assert "invoke_agent errand" in ancestors(model_step)
