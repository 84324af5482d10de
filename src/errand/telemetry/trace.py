"""One OpenTelemetry span tree per run, built from the run's events.

    invoke_agent errand              the run: run id, user, model, tokens, cost, outcome
      step 1                         one model step and the calls it made
        chat <model>                 the model call: tokens, cached tokens, time to first token
        execute_tool <name>          a tool call; confirmations are events on it
      step 2 ...

Spans follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``) where they name a
thing, and ``errand.*`` where they do not (steps, cost, risk). They carry ids, names, timings
and token counts; what people wrote (the request, the answer, tool arguments and results) only
with ``ERRAND_TRACE_CONTENT``.

Every front end builds its agent with `errand.runtime.build_agent`, which makes it a
`TracedAgent`, so the CLI, durable runs and chat completions are traced here and nowhere else.
Spans are exported over OTLP when the standard ``OTEL_EXPORTER_OTLP_*`` variables name an
endpoint (`setup_tracing`); without them nothing is recorded and tracing costs one generator.
While the agent runs, the open step (or the run) is the current span, so spans made below it
(DBOS's workflow steps, with ``ERRAND_TRACE_DBOS``) join the run's trace.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, Span, SpanKind, Status, StatusCode

from errand.agent import Agent
from errand.agent.events import (
    ConfirmationRequired,
    ConfirmationResolved,
    Event,
    ReasoningDeltaEvent,
    RevisionRequested,
    RunFailed,
    RunFinished,
    RunStarted,
    StepFinished,
    TextDeltaEvent,
    ToolCallStarted,
    ToolResultEvent,
)
from errand.config import Settings
from errand.errors import ConfigError
from errand.telemetry.cost import CostMeter

log = logging.getLogger("errand.telemetry")

TRACER_NAME = "errand"
AGENT_NAME = "errand"

# The GenAI semantic conventions' attribute names (written out: the semconv package marks its
# gen_ai constants deprecated while they move to their own repository).
OPERATION = "gen_ai.operation.name"
AGENT = "gen_ai.agent.name"
MODEL = "gen_ai.request.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHED_TOKENS = "gen_ai.usage.cache_read.input_tokens"
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
ERROR_TYPE = "error.type"
USER_ID = "user.id"
RUN_ID = "errand.run.id"
STEP = "errand.step"
COST = "errand.cost"
CURRENCY = "errand.cost.currency"
OUTCOME = "errand.outcome"
RISK = "errand.tool.risk"
TOOL_MS = "errand.tool.duration_ms"

_override: trace.TracerProvider | None = None
_setup = False
_lock = threading.Lock()


def use_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """Trace errand's runs into ``provider`` instead of the global one (tests, host applications);
    None goes back to the global provider."""
    global _override
    _override = provider


def _provider() -> trace.TracerProvider:
    return _override or trace.get_tracer_provider()


def recording() -> bool:
    """Whether spans go anywhere: a provider is installed (errand's OTLP one, or the host's)."""
    return not isinstance(_provider(), ProxyTracerProvider | NoOpTracerProvider)


def otlp_requested(env: dict[str, str] | None = None) -> bool:
    """Whether the standard variables ask for OTLP export of traces."""
    env = dict(os.environ) if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() not in ("otlp", ""):
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def _exporter() -> SpanExporter:
    """The OTLP exporter the protocol variable names; both read endpoint, headers and timeout
    from the same ``OTEL_EXPORTER_OTLP_*`` variables."""
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

        return Http()
    raise ConfigError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: use http/protobuf or grpc."
    )


def setup_tracing() -> bool:
    """Install an OTLP exporter once per process when ``OTEL_EXPORTER_OTLP_*`` asks for one (and
    no provider is installed yet); True when spans are recorded at all."""
    global _setup
    with _lock:
        if not _setup:
            _setup = True
            if otlp_requested() and not recording():
                resource = Resource.create()
                if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
                    resource = resource.merge(Resource({"service.name": "errand"}))
                provider = TracerProvider(resource=resource)
                provider.add_span_processor(BatchSpanProcessor(_exporter()))
                trace.set_tracer_provider(provider)
    return recording()


def dbos_tracing() -> bool:
    """Whether DBOS's own spans can join runs' traces: DBOS traces only through the global provider
    (installed by `setup_tracing` or the host application), not one given to `use_tracer_provider`."""
    return setup_tracing() and not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)


class QuietDbosTelemetry(logging.Filter):
    """Drops DBOS's warning that no OpenTelemetry *log* provider is set: errand exports traces only."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for that one warning."""
        return not record.getMessage().startswith("OTLP is enabled but logger provider not set")


def _ns() -> int:
    return time.time_ns()


def _ms(ns: int) -> int:
    return ns // 1_000_000


class RunSpans:
    """The spans of one run, opened and closed as its events pass (see the module's drawing).

    A model call's span ends when its ``step_finished`` arrives and starts ``duration_ms``
    before; a tool call's span starts with its ``tool_call`` and ends when its execution did
    (the step's calls run together, and their results arrive together)."""

    def __init__(self, tracer: trace.Tracer, settings: Settings, *, user: str, kind: SpanKind) -> None:
        self.tracer = tracer
        self.settings = settings
        self.kind = kind
        self.content = settings.trace_content
        self.meter = CostMeter(settings)
        self.base: dict[str, Any] = {USER_ID: user}
        self.run = tracer.start_span(
            f"invoke_agent {AGENT_NAME}",
            kind=SpanKind.INTERNAL,
            attributes={OPERATION: "invoke_agent", AGENT: AGENT_NAME, **self.base},
        )
        self.model = ""
        self.step: Span | None = None
        self.step_no = 0
        self.first_chunk_ns: int | None = None
        self.tools: dict[str, Span] = {}
        self.rejected: set[str] = set()
        self.exec_start_ns: int | None = None
        """When the step's calls began to run: the last event before its first result."""
        self.acting = False
        """The step's model call has ended and its tool calls are not all done."""
        self.calls = 0
        """Tool calls the open step made."""
        self.last_ns = _ns()
        self.done = False

    def context(self) -> otel_context.Context:
        """The context the agent works in next: the one tool call in flight, else the step whose
        calls are in flight, else the run (a model turn has no span until it ends, and it may
        turn out to be the next step's or the plan's)."""
        if self.step is not None and self.acting:
            if len(self.tools) == 1 and self.calls == 1:
                return trace.set_span_in_context(next(iter(self.tools.values())))
            return trace.set_span_in_context(self.step)
        return trace.set_span_in_context(self.run)

    def see(self, ev: Event) -> None:
        """Open, annotate or close spans for one event."""
        now = _ns()
        cost = self.meter.see(ev)
        if isinstance(ev, RunStarted):
            self.model = ev.model
            self.base[RUN_ID] = ev.run_id
            self.run.set_attributes({RUN_ID: ev.run_id, MODEL: ev.model})
            if self.content:
                message = [{"role": "user", "parts": [{"type": "text", "content": ev.input}]}]
                self.run.set_attribute(INPUT_MESSAGES, json.dumps(message, ensure_ascii=False))
        elif isinstance(ev, RunFinished | RunFailed):
            self._finish(ev, cost, now)
            return
        step = getattr(ev, "step", None)
        if isinstance(step, int) and not self.done:
            self._step(ev, step, cost, now)
        self.last_ns = now

    def _open_step(self, step: int) -> Span:
        if self.step is not None and step != self.step_no:
            self._end_step(self.last_ns)
        if self.step is None:
            self.step_no, self.first_chunk_ns, self.exec_start_ns = step, None, None
            self.acting, self.calls = False, 0
            self.step = self.tracer.start_span(
                f"step {step}",
                context=trace.set_span_in_context(self.run),
                start_time=self.last_ns,
                attributes={STEP: step, **self.base},
            )
        return self.step

    def _step(self, ev: Event, step: int, cost: float | None, now: int) -> None:
        span = self._open_step(step)
        parent = trace.set_span_in_context(span)
        if isinstance(ev, TextDeltaEvent | ReasoningDeltaEvent):
            if self.first_chunk_ns is None:
                self.first_chunk_ns = now
        elif isinstance(ev, StepFinished):
            start = max(span_start(span, self.last_ns), now - int(ev.duration_ms * 1_000_000))
            attrs: dict[str, Any] = {
                OPERATION: "chat",
                MODEL: self.model,
                STEP: step,
                INPUT_TOKENS: ev.usage.prompt_tokens,
                OUTPUT_TOKENS: ev.usage.completion_tokens,
                CACHED_TOKENS: ev.usage.cached_tokens,
                **self.base,
            }
            if self.first_chunk_ns is not None:
                attrs[TIME_TO_FIRST_CHUNK] = max(0, self.first_chunk_ns - start) / 1e9
            if cost is not None:
                attrs |= {COST: cost, CURRENCY: self.settings.price_currency}
            chat = self.tracer.start_span(
                f"chat {self.model}", context=parent, kind=self.kind, start_time=start, attributes=attrs
            )
            chat.end(end_time=now)
            self.acting = True
        elif isinstance(ev, ToolCallStarted):
            attrs = {
                OPERATION: "execute_tool",
                TOOL_NAME: ev.name,
                TOOL_CALL_ID: ev.call_id,
                TOOL_TYPE: "function",
                RISK: ev.risk,
                STEP: step,
                **self.base,
            }
            if self.content:
                attrs[TOOL_ARGUMENTS] = json.dumps(ev.arguments, ensure_ascii=False, default=str)
            self.calls += 1
            self.tools[ev.call_id] = self.tracer.start_span(
                f"execute_tool {ev.name}", context=parent, start_time=now, attributes=attrs
            )
        elif isinstance(ev, ConfirmationRequired):
            attrs = {RISK: ev.risk}
            if ev.amount is not None and ev.currency is not None:
                attrs |= {
                    "errand.confirmation.amount": ev.amount,
                    "errand.confirmation.currency": ev.currency,
                }
            if self.content:
                attrs["errand.confirmation.summary"] = ev.summary
            self._tool(ev.call_id, span).add_event("confirmation_required", attrs, timestamp=now)
        elif isinstance(ev, ConfirmationResolved):
            resolved: dict[str, Any] = {"errand.confirmation.approved": ev.approved}
            if self.content and ev.note:
                resolved["errand.confirmation.note"] = ev.note
            if not ev.approved:
                self.rejected.add(ev.call_id)
            self._tool(ev.call_id, span).add_event("confirmation_resolved", resolved, timestamp=now)
        elif isinstance(ev, ToolResultEvent):
            if self.exec_start_ns is None:
                self.exec_start_ns = self.last_ns
            tool = self.tools.pop(ev.call_id, None)
            if tool is not None:
                outcome = "rejected" if ev.call_id in self.rejected else "ok" if ev.ok else "error"
                tool.set_attributes({OUTCOME: outcome, TOOL_MS: ev.duration_ms})
                if self.content:
                    tool.set_attribute(TOOL_RESULT, ev.content)
                if not ev.ok:
                    tool.set_attribute(ERROR_TYPE, outcome)
                    tool.set_status(Status(StatusCode.ERROR, ev.summary[:200]))
                # A step's calls run together and report together: each ended when its own
                # time was up. A step's only call ended when its result came.
                end = self.exec_start_ns + int(ev.duration_ms * 1_000_000)
                tool.end(end_time=now if self.calls == 1 else min(now, max(end, span_start(tool, end))))
            if not self.tools:
                self.acting = False
        elif isinstance(ev, RevisionRequested):
            self.acting = False
            span.add_event(
                "revision_requested",
                {"errand.revision.reason": ev.reason, "errand.revision.count": len(ev.unverified_numbers)},
                timestamp=now,
            )

    def _tool(self, call_id: str, step: Span) -> Span:
        return self.tools.get(call_id, step)

    def _end_step(self, end: int) -> None:
        for tool in self.tools.values():  # calls that never ran (the run stopped first)
            tool.set_attribute(OUTCOME, "not_run")
            tool.end(end_time=end)
        self.tools.clear()
        self.rejected.clear()
        if self.step is not None:
            self.step.end(end_time=end)
            self.step = None

    def _finish(self, ev: RunFinished | RunFailed, cost: float | None, now: int) -> None:
        self._end_step(now)
        usage = self.meter.run_usage(ev)
        attrs: dict[str, Any] = {
            INPUT_TOKENS: usage.prompt_tokens,
            OUTPUT_TOKENS: usage.completion_tokens,
            CACHED_TOKENS: usage.cached_tokens,
            "errand.steps": ev.steps,
        }
        if cost is not None:
            attrs |= {COST: cost, CURRENCY: self.settings.price_currency}
        if isinstance(ev, RunFinished):
            attrs[OUTCOME] = ev.outcome
            if self.content:
                message = [{"role": "assistant", "parts": [{"type": "text", "content": ev.answer}]}]
                attrs[OUTPUT_MESSAGES] = json.dumps(message, ensure_ascii=False)
        else:
            attrs |= {OUTCOME: "failed", ERROR_TYPE: ev.kind}
            self.run.set_status(Status(StatusCode.ERROR, ev.kind))
        self.run.set_attributes(attrs)
        self.run.end(end_time=now)
        self.done = True

    def close(self, error: BaseException | None = None) -> None:
        """End what is still open: the run stopped without its last event (cancelled, or the
        process is stopping)."""
        if self.done:
            return
        now = _ns()
        self._end_step(now)
        kind = type(error).__name__ if error is not None else "interrupted"
        self.run.set_attributes({OUTCOME: "interrupted", ERROR_TYPE: kind})
        self.run.set_status(Status(StatusCode.ERROR, kind))
        self.run.end(end_time=now)
        self.done = True


def span_start(span: Span, default: int) -> int:
    """When ``span`` started (SDK spans know; others give ``default``)."""
    start = getattr(span, "start_time", None)
    return start if isinstance(start, int) else default


async def traced(
    events: AsyncIterator[Event], settings: Settings, *, user: str, kind: SpanKind = SpanKind.CLIENT
) -> AsyncIterator[Event]:
    """``events`` unchanged, with the run's spans built from them as they pass.

    The run's context (its open step) is current only while the agent works, never while the
    consumer handles an event, so the consumer's own spans are not misplaced in the run."""
    if not setup_tracing():
        async for ev in events:
            yield ev
        return
    tracer = trace.get_tracer(TRACER_NAME, tracer_provider=_override)
    spans = RunSpans(tracer, settings, user=user, kind=kind)
    error: BaseException | None = None
    try:
        while True:
            token = otel_context.attach(spans.context())
            try:
                ev = await anext(events)
            except StopAsyncIteration:
                break
            finally:
                otel_context.detach(token)
            spans.see(ev)
            yield ev
    except BaseException as exc:
        error = exc
        raise
    finally:
        spans.close(error)


class TracedAgent(Agent):
    """An `Agent` whose every run is traced (`traced`); otherwise the same agent."""

    def __init__(self, *args: Any, settings: Settings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trace_settings = settings
        """Prices, whether spans may carry content, and the backend (in process or a server)."""

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Event]:
        """`Agent.stream`, traced."""
        in_process = self.trace_settings.resolved_model_backend() != "openai"
        kind = SpanKind.INTERNAL if in_process else SpanKind.CLIENT
        user = str(kwargs.get("user", "local"))
        async for ev in traced(super().stream(*args, **kwargs), self.trace_settings, user=user, kind=kind):
            yield ev
