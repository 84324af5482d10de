"""A run's span tree, read with the SDK's in-memory exporter: one trace per run, run → step →
model call and tool calls, GenAI attributes, confirmations as events, no content unless allowed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from errand.agent import approve_all
from errand.agent.events import Event, RunFinished, StepFinished
from errand.config import ModelPrice, Settings
from errand.llm.scripted import ScriptedModel, ScriptedTurn, call
from errand.telemetry.trace import TracedAgent, otlp_requested, recording, use_tracer_provider
from errand.tools import ToolRegistry, tool

REQUEST = "Book a viewing of the cheapest home in Hangzhou for Dave Chen"


@tool(domain="homes")
def find_homes(city: str) -> dict[str, object]:
    """Find homes in a city.

    Args:
        city: City name.
    """
    return {"count": 1, "results": [{"id": "HZ-1", "price": 4_200_000}]}


@tool(domain="homes", risk="write", confirm_text=lambda a: f"Book a viewing of {a['listing_id']}")
def book_viewing(listing_id: str) -> dict[str, str]:
    """Book a viewing.

    Args:
        listing_id: The listing.
    """
    return {"viewing": "V-1", "listing_id": listing_id}


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Spans of errand's runs, kept in memory (and nothing exported anywhere else)."""
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer_provider(provider)
    yield exporter
    use_tracer_provider(None)
    provider.shutdown()


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings.model_validate({"home": tmp_path, "model_backend": "scripted", **values})


async def _run(settings: Settings, *, user: str = "dave") -> list[Event]:
    model = ScriptedModel(
        [
            ScriptedTurn(tool_calls=[call("find_homes", city="Hangzhou")], cached_tokens=3),
            call("book_viewing", listing_id="HZ-1"),
            "HZ-1 is booked: viewing V-1.",
        ]
    )
    agent = TracedAgent(
        model, ToolRegistry([find_homes, book_viewing]), approver=approve_all, settings=settings
    )
    return [ev async for ev in agent.stream(REQUEST, user=user)]


def _children(all_spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return sorted(
        (s for s in all_spans if s.parent is not None and s.parent.span_id == parent.context.span_id),
        key=lambda s: s.start_time or 0,
    )


def _strings(span: ReadableSpan) -> str:
    values = [str(v) for v in (span.attributes or {}).values()]
    values += [str(v) for e in span.events for v in (e.attributes or {}).values()]
    return " ".join(values)


async def test_a_run_is_one_tree_of_steps_model_calls_and_tool_calls(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    events = await _run(_settings(tmp_path))
    done = events[-1]
    assert isinstance(done, RunFinished)
    got = list(spans.get_finished_spans())
    assert len({s.context.trace_id for s in got}) == 1
    (run,) = [s for s in got if s.parent is None]
    assert run.name == "invoke_agent errand"
    attrs = dict(run.attributes or {})
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["errand.run.id"] == done.run_id and attrs["user.id"] == "dave"
    assert attrs["gen_ai.request.model"] == "scripted"
    assert attrs["gen_ai.usage.input_tokens"] == done.usage.prompt_tokens > 0
    assert attrs["gen_ai.usage.output_tokens"] == done.usage.completion_tokens > 0
    assert attrs["errand.outcome"] == "answered" and attrs["errand.cost"] == 0.0
    steps = _children(got, run)
    assert [s.name for s in steps] == ["step 1", "step 2", "step 3"]
    finished = [e for e in events if isinstance(e, StepFinished)]
    for step, ev in zip(steps, finished, strict=True):
        kids = _children(got, step)
        chat = kids[0]
        assert chat.name == "chat scripted"
        a = dict(chat.attributes or {})
        assert a["gen_ai.operation.name"] == "chat" and a["errand.run.id"] == done.run_id
        assert a["gen_ai.usage.input_tokens"] == ev.usage.prompt_tokens
        assert a["gen_ai.usage.output_tokens"] == ev.usage.completion_tokens
        assert a["gen_ai.usage.cache_read.input_tokens"] == ev.usage.cached_tokens
        assert [k.name for k in kids[1:]] == {
            1: ["execute_tool find_homes"],
            2: ["execute_tool book_viewing"],
            3: [],
        }[ev.step]
    first_chat = _children(got, steps[0])[0]
    assert dict(first_chat.attributes or {})["gen_ai.usage.cache_read.input_tokens"] == 3
    # The answer streamed its words: its time to first chunk is known; a step of calls only has none.
    assert "gen_ai.response.time_to_first_chunk" in dict(_children(got, steps[2])[0].attributes or {})
    assert "gen_ai.response.time_to_first_chunk" not in dict(first_chat.attributes or {})
    book = _children(got, steps[1])[1]
    b = dict(book.attributes or {})
    assert b["gen_ai.tool.name"] == "book_viewing" and b["errand.outcome"] == "ok"
    assert b["errand.tool.risk"] == "write" and b["gen_ai.tool.call.id"] == "call_2_0"
    assert [e.name for e in book.events] == ["confirmation_required", "confirmation_resolved"]
    assert dict(book.events[1].attributes or {})["errand.confirmation.approved"] is True
    for s in got:  # every span lies within its parent
        parent = next(
            (p for p in got if s.parent is not None and p.context.span_id == s.parent.span_id), None
        )
        if parent is not None:
            assert parent.start_time is not None and s.start_time is not None
            assert parent.start_time <= s.start_time and s.end_time is not None
            assert parent.end_time is not None and s.end_time <= parent.end_time
    # What people wrote stays off the spans: not the request, the arguments, or the answer.
    for s in got:
        text = _strings(s)
        assert "Hangzhou" not in text and "Dave Chen" not in text and "V-1" not in text


async def test_content_goes_on_spans_only_when_the_setting_allows(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    await _run(_settings(tmp_path, trace_content=True))
    got = list(spans.get_finished_spans())
    (run,) = [s for s in got if s.parent is None]
    attrs = dict(run.attributes or {})
    assert json.loads(str(attrs["gen_ai.input.messages"]))[0]["parts"][0]["content"] == REQUEST
    assert "HZ-1 is booked" in str(attrs["gen_ai.output.messages"])
    (find,) = [s for s in got if s.name == "execute_tool find_homes"]
    f = dict(find.attributes or {})
    assert json.loads(str(f["gen_ai.tool.call.arguments"])) == {"city": "Hangzhou"}
    assert "HZ-1" in str(f["gen_ai.tool.call.result"])


async def test_a_failed_run_and_a_failed_call_are_errors_with_their_kind(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    model = ScriptedModel([call("find_homes", city=7)])  # then no turn left: the backend fails
    settings = _settings(tmp_path, prices={"scripted": ModelPrice(input=1000.0, output=1000.0)})
    agent = TracedAgent(model, ToolRegistry([find_homes]), settings=settings)
    events = [ev async for ev in agent.stream("homes in Hangzhou")]
    got = list(spans.get_finished_spans())
    (run,) = [s for s in got if s.parent is None]
    assert run.status.status_code == StatusCode.ERROR
    assert dict(run.attributes or {})["error.type"] == "model_error"
    assert dict(run.attributes or {})["user.id"] == "local"
    (tool_span,) = [s for s in got if s.name == "execute_tool find_homes"]
    assert tool_span.status.status_code == StatusCode.ERROR
    assert dict(tool_span.attributes or {})["errand.outcome"] == "error"
    (chat,) = [s for s in got if s.name == "chat scripted"]
    step = next(e for e in events if isinstance(e, StepFinished))
    expected = (step.usage.prompt_tokens + step.usage.completion_tokens) * 1000 / 1_000_000
    assert dict(chat.attributes or {})["errand.cost"] == pytest.approx(expected)


async def test_without_an_exporter_nothing_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    use_tracer_provider(None)
    if recording():
        pytest.skip("a global OpenTelemetry SDK is installed in this test process")
    events = await _run(_settings(tmp_path))
    assert isinstance(events[-1], RunFinished)
    assert not recording()


def test_otlp_export_follows_the_standard_variables() -> None:
    assert not otlp_requested({})
    assert otlp_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert otlp_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert not otlp_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"})
    assert not otlp_requested(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}
    )
