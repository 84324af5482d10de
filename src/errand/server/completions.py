"""The model work behind errand's two OpenAI APIs, chat completions and responses, in one place.

Each API turns its own wire format into an `Ask` (errand's messages and the sampling options);
from there the path is shared: which model answers (``errand``, the agent as a durable run, see
`errand.server.chat_runs`, or the backend model as a gateway), the context-window check, the key's metering, the backend's deadline, a client
that leaves, and the stream-or-whole answer. The API writes the events back in its own format.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from fastapi import Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import JSONResponse, Response

from errand.errors import (
    ErrandError,
    ModelNotFound,
    ModelResponseError,
    ModelTimeout,
    RequestError,
)
from errand.llm.base import collect
from errand.llm.context import check_context, estimate_tokens
from errand.llm.types import (
    Message,
    ModelEvent,
    ModelResponse,
    ModelSettings,
    ReasoningDelta,
    TextDelta,
    ToolCallEvent,
    ToolSpec,
    Usage,
    UsageEvent,
)
from errand.server.auth import current_key
from errand.server.chat_runs import agent_run, images_of
from errand.server.keys import ApiKey
from errand.server.state import ServerState, server_state

log = logging.getLogger("errand.server")

AGENT_MODEL = "errand"
"""The model name that runs errand's agent instead of a bare model."""
GATEWAY_MAX_CALLS = 4
"""Most tool calls one gateway response may carry when the client allows parallel calls: enough
for the parallel requests clients make (two to four lookups at once), few enough that a small
model cannot run on repeating calls until the token limit."""
ARGUMENT_PIECE = 16
"""Characters of a tool call's arguments per streamed delta: OpenAI sends arguments in pieces,
and clients are written to join them (one whole piece would hide a client that cannot)."""

T = TypeVar("T")


@dataclass
class Ask:
    """What a client asks of a model, whatever API it came through."""

    model: str
    messages: list[Message]
    where: list[str]
    """Each message's place in the request (``messages.3``, ``input.2``), for errors that name it."""
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: Literal["auto", "none", "required"] = "auto"
    named_tool: str | None = None
    """The one function a forced ``tool_choice`` names."""
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    schema: dict[str, Any] | None = None
    """A JSON schema the reply must match (structured output), or None for text."""
    format_param: str = "response_format"
    """Where the request asked for ``schema`` (``text.format`` in the responses API)."""
    stream: bool = False


def argument_pieces(arguments: str) -> list[str]:
    """A call's JSON arguments in the pieces a stream sends; joined, exactly the whole."""
    return [arguments[i : i + ARGUMENT_PIECE] for i in range(0, len(arguments), ARGUMENT_PIECE)]


def gateway_request(ask: Ask, state: ServerState) -> tuple[list[Message], list[ToolSpec], ModelSettings]:
    """What to send the backend model; checks tools and the context window first."""
    tools = list(ask.tools)
    tool_choice: Literal["auto", "required"] = "auto"
    if ask.tool_choice == "none":
        tools = []
    elif ask.tool_choice == "required" or ask.named_tool is not None:
        if ask.named_tool is not None:
            tools = [t for t in tools if t.name == ask.named_tool]
        if not tools:
            raise RequestError(
                "tool_choice asks for a tool call but names no offered tool.", param="tool_choice"
            )
        tool_choice = "required"
    if ask.schema is not None and tools:
        # No backend can do both: the embedded grammar is either the reply's schema or the calls.
        raise RequestError(
            f"{ask.format_param} cannot be combined with tools: drop one, or send tool_choice 'none'.",
            param=ask.format_param,
        )
    # A named choice forces that one function once; otherwise several calls in one response
    # unless the client says no (one tool called twice is the common parallel case too).
    single = ask.named_tool is not None or ask.parallel_tool_calls is False
    max_calls = 1 if single else GATEWAY_MAX_CALLS
    window = state.context_window
    prompt = estimate_tokens(ask.messages, tools)
    check_context(prompt, ask.max_tokens, window)
    settings = ModelSettings(
        temperature=state.settings.temperature if ask.temperature is None else ask.temperature,
        max_tokens=ask.max_tokens or max(1, min(window - prompt, state.settings.max_output_tokens)),
        seed=ask.seed,
        tool_choice=tool_choice,
        max_tool_calls=max_calls if tools else None,
        response_format=ask.schema,
        stop=ask.stop or None,
        top_p=ask.top_p,
    )
    return ask.messages, tools, settings


def check_agent_ask(ask: Ask) -> None:
    """What ``model: "errand"`` refuses before any run starts (400 naming the field)."""
    if ask.tools:
        raise RequestError(
            "Model 'errand' runs its own tools; to offer yours, call a backend model (GET /v1/models).",
            param="tools",
        )
    if ask.schema is not None:
        raise RequestError(
            "Model 'errand' answers in prose; for structured output call a backend model (GET /v1/models).",
            param=ask.format_param,
        )
    last = ask.messages[-1]
    if last.role != "user" or not (last.text.strip() or images_of(last)):
        raise RequestError(
            "The last message must be the user's request, as text or images.", param=ask.where[-1]
        )


class ClientGone(Exception):
    """The client closed the connection before the answer was ready."""


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``, cancelling it (and raising `ClientGone`) if the client leaves first."""
    job = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({job, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (job, watch):
            if not task.done():
                task.cancel()
    if job.cancelled() or not job.done():
        raise ClientGone()
    return job.result()


class Meter:
    """Time to first token, tokens and the key's charge for one answer."""

    def __init__(self, state: ServerState, key: ApiKey, model: str) -> None:
        self.state, self.key, self.model = state, key, model
        self.started = time.perf_counter()
        self.first = False
        self.usage = Usage()
        self.run_id: str | None = None
        """The run answering (``model: "errand"``): its tokens are charged when it ends, by the
        server that started it (`errand.server.watch`), not here."""

    def see(self, ev: ModelEvent) -> None:
        """Note one event on its way to the client."""
        if not self.first and isinstance(ev, TextDelta | ReasoningDelta | ToolCallEvent):
            self.first = True
            self.state.metrics.ttft.labels(self.model).observe(time.perf_counter() - self.started)
        elif isinstance(ev, UsageEvent):
            self.usage = ev.usage

    async def done(self) -> None:
        """Count the tokens and charge the key (once the answer is complete or cut)."""
        if self.run_id is not None:
            return
        u = self.usage
        self.state.metrics.usage(u.prompt_tokens, u.completion_tokens)
        total = u.prompt_tokens + u.completion_tokens
        if total:
            loop = asyncio.get_running_loop()
            await asyncio.shield(loop.run_in_executor(None, self.state.keys.charge, self.key.id, total))


async def _metered(events: AsyncIterator[ModelEvent], meter: Meter) -> AsyncGenerator[ModelEvent, None]:
    try:
        async for ev in events:
            meter.see(ev)
            yield ev
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


async def _prime(events: AsyncGenerator[ModelEvent, None]) -> AsyncGenerator[ModelEvent, None]:
    """Wait for the first event before answering, so a backend that fails at once gets a real status."""
    first = await anext(events)

    async def again() -> AsyncGenerator[ModelEvent, None]:
        try:
            yield first
            async for ev in events:
                yield ev
        finally:
            await events.aclose()

    return again()


async def _deadline(work: Awaitable[T], state: ServerState) -> T:
    """``work``, or 504 when the backend model has not answered within ``request_timeout_s``
    (the agent has its own wall-time budget)."""
    try:
        async with asyncio.timeout(state.settings.request_timeout_s):
            return await work
    except TimeoutError:
        raise ModelTimeout(
            f"The model did not answer within {state.settings.request_timeout_s:.0f} s; "
            "retry, or raise ERRAND_REQUEST_TIMEOUT_S."
        ) from None


def unknown_model(name: str, state: ServerState) -> ModelNotFound:
    """404 for a model this server does not answer to, naming the ones it does."""
    return ModelNotFound(
        f"The model {name!r} does not exist here; use 'errand' or {state.model.name!r} (GET /v1/models)."
    )


StreamWriter = Callable[[AsyncGenerator[ModelEvent, None], Meter], AsyncGenerator[ServerSentEvent, None]]
"""An API's stream: model events in, its server-sent events out (it closes the events)."""
WholeWriter = Callable[[ModelResponse, Meter], dict[str, Any]]
"""An API's whole answer: the collected response as its JSON body."""


async def answer(request: Request, ask: Ask, *, stream: StreamWriter, whole: WholeWriter) -> Response:
    """Answer ``ask`` with the agent or the backend model, streamed (``stream`` writes the events)
    or whole (``whole`` writes the body); 499 when the client leaves first."""
    state = server_state(request)
    key = current_key(request)
    meter = Meter(state, key, ask.model)
    run_id: str | None = None
    if ask.model == AGENT_MODEL:
        check_agent_ask(ask)
        run = await agent_run(state, key, ask.messages, ask.where)
        run_id = meter.run_id = run.run_id
        events: AsyncGenerator[ModelEvent, None] = _metered(run.events, meter)
    elif ask.model == state.model.name:
        messages, tools, settings = gateway_request(ask, state)
        events = _metered(state.model.stream(messages, tools, settings), meter)
    else:
        raise unknown_model(ask.model, state)
    try:
        if ask.stream:
            if ask.model != AGENT_MODEL:
                events = await unless_disconnected(request, _deadline(_prime(events), state))
            return EventSourceResponse(
                stream(events, meter), ping=state.settings.serve_ping_s, sep="\n", headers=_run_header(run_id)
            )
        work = collect(events) if ask.model == AGENT_MODEL else _deadline(collect(events), state)
        response = await unless_disconnected(request, work)
    except ClientGone:
        await events.aclose()
        return Response(status_code=499)
    except StopAsyncIteration:
        raise ModelResponseError("The model answered nothing.") from None
    await meter.done()
    return JSONResponse(whole(response, meter), headers=_run_header(run_id))


RUN_HEADER = "x-errand-run-id"
"""The response header naming the run a ``model: "errand"`` answer is (follow it on
``/v1/runs/{id}/events``)."""


def _run_header(run_id: str | None) -> dict[str, str]:
    return {RUN_HEADER: run_id} if run_id else {}


async def sse_stream(
    events: AsyncGenerator[ModelEvent, None],
    meter: Meter,
    write: Callable[[AsyncGenerator[ModelEvent, None]], AsyncGenerator[ServerSentEvent, None]],
    error: Callable[[Exception], ServerSentEvent | list[ServerSentEvent]],
) -> AsyncGenerator[ServerSentEvent, None]:
    """What every stream shares: ``write``'s events, then, if the work failed, ``error``'s (the
    status line was sent long ago); the model's events closed and the tokens charged at the end."""
    try:
        async for sse in write(events):
            yield sse
    except Exception as exc:
        if not isinstance(exc, ErrandError):
            log.exception("stream failed")
        out = error(exc)
        for sse in out if isinstance(out, list) else [out]:
            yield sse
    finally:
        await events.aclose()
    await meter.done()
