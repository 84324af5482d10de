"""``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /v1/models/{id}``, OpenAI-compatible.

``model: "errand"`` runs the agent with the built-in tools and answers as the assistant (its
steps are on the runs stream, not here, so stock clients see only standard chunks). Any other
served model name is a gateway: the client's messages and tools go straight to that backend,
and its tool calls come back to the client. A client that disconnects cancels generation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import JSONResponse, Response

from errand.agent.events import (
    ConfirmationResolved,
    ReasoningDeltaEvent,
    RevisionRequested,
    RunFailed,
    RunFinished,
    TextDeltaEvent,
    ToolCallStarted,
    ToolResultEvent,
)
from errand.agent.loop import Conversation
from errand.errors import (
    ErrandError,
    ModelNotFound,
    ModelResponseError,
    ModelTimeout,
    RequestError,
    RunInputError,
)
from errand.llm.base import collect
from errand.llm.context import check_context, estimate_tokens
from errand.llm.types import (
    Finish,
    ImagePart,
    MalformedToolCall,
    Message,
    ModelEvent,
    ModelSettings,
    ReasoningDelta,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
    UsageEvent,
)
from errand.runs.request import RunRequest, build_request
from errand.server.auth import current_key
from errand.server.errors import error_body, error_responses
from errand.server.idempotency import IDEMPOTENCY_KEY
from errand.server.keys import ApiKey
from errand.server.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    JsonObjectResponseFormat,
    JsonSchemaResponseFormat,
    ModelCard,
    ModelList,
    NamedToolChoice,
)
from errand.server.state import ServerState, server_state

log = logging.getLogger("errand.server")

AGENT_MODEL = "errand"
"""The model name that runs errand's agent instead of a bare model."""
GATEWAY_MAX_CALLS = 4
"""Most tool calls one gateway response may carry when the client allows parallel calls: enough
for the parallel requests clients make (two to four lookups at once), few enough that a small
model cannot run on repeating calls until the token limit."""
ARGUMENT_PIECE = 16
"""Characters of a tool call's arguments per streamed chunk: OpenAI sends arguments in pieces,
and clients are written to join them (one whole piece would hide a client that cannot)."""

router = APIRouter(tags=["chat"])
T = TypeVar("T")
_STARTED = int(time.time())


class ClientGone(Exception):
    """The client closed the connection before the answer was ready."""


def _text(message: ChatMessage) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    return "".join(p.text for p in message.content if p.type == "text")


def _images(message: ChatMessage) -> list[str]:
    if message.content is None or isinstance(message.content, str):
        return []
    return [p.image_url.url for p in message.content if p.type == "image_url"]


def to_message(index: int, m: ChatMessage) -> Message:
    """A client message as errand's `Message` (400 naming the field when it cannot be one)."""
    where = f"messages.{index}"
    calls = []
    for j, c in enumerate(m.tool_calls or []):
        try:
            args = json.loads(c.function.arguments or "{}")
        except ValueError:
            args = None
        if not isinstance(args, dict):
            raise RequestError(
                f"{where}.tool_calls.{j}.function.arguments must be a JSON object.",
                param=f"{where}.tool_calls.{j}.function.arguments",
            )
        calls.append(ToolCall(id=c.id, name=c.function.name, arguments=args))
    if m.role == "tool" and not m.tool_call_id:
        raise RequestError(f"{where}: a tool message needs tool_call_id.", param=f"{where}.tool_call_id")
    content: str | list[TextPart | ImagePart] | None
    if isinstance(m.content, list):
        content = [
            TextPart(text=p.text) if p.type == "text" else ImagePart(url=p.image_url.url) for p in m.content
        ]
    else:
        content = m.content
    role = "system" if m.role == "developer" else m.role
    return Message(role=role, content=content, tool_calls=calls, tool_call_id=m.tool_call_id, name=m.name)


def structured_schema(body: ChatCompletionRequest) -> dict[str, Any] | None:
    """The JSON schema ``response_format`` asks the reply to match (None: plain text)."""
    fmt = body.response_format
    if isinstance(fmt, JsonSchemaResponseFormat):
        return fmt.json_schema.schema_
    if isinstance(fmt, JsonObjectResponseFormat):
        return {"type": "object"}
    return None


def gateway_request(
    body: ChatCompletionRequest, state: ServerState
) -> tuple[list[Message], list[ToolSpec], ModelSettings]:
    """What to send the backend model; checks tools and the context window first."""
    messages = [to_message(i, m) for i, m in enumerate(body.messages)]
    tools = [
        ToolSpec(name=t.function.name, description=t.function.description, parameters=t.function.parameters)
        for t in body.tools or []
    ]
    choice = body.tool_choice
    tool_choice: Any = "auto"
    if choice == "none":
        tools = []
    elif choice == "required" or isinstance(choice, NamedToolChoice):
        if isinstance(choice, NamedToolChoice):
            tools = [t for t in tools if t.name == choice.function.name]
        if not tools:
            raise RequestError(
                "tool_choice asks for a tool call but names no offered tool.", param="tool_choice"
            )
        tool_choice = "required"
    schema = structured_schema(body)
    if schema is not None and tools:
        # No backend can do both: the embedded grammar is either the reply's schema or the calls.
        raise RequestError(
            "response_format cannot be combined with tools: drop one, or send tool_choice 'none'.",
            param="response_format",
        )
    # A named choice forces that one function once; otherwise several calls in one response
    # unless the client says no (one tool called twice is the common parallel case too).
    single = isinstance(choice, NamedToolChoice) or body.parallel_tool_calls is False
    max_calls = 1 if single else GATEWAY_MAX_CALLS
    asked = body.max_completion_tokens or body.max_tokens
    window = state.context_window
    prompt = estimate_tokens(messages, tools)
    check_context(prompt, asked, window)
    settings = ModelSettings(
        temperature=state.settings.temperature if body.temperature is None else body.temperature,
        max_tokens=asked or max(1, min(window - prompt, state.settings.max_output_tokens)),
        seed=body.seed,
        tool_choice=tool_choice,
        max_tool_calls=max_calls if tools else None,
        response_format=schema,
        stop=body.stop or None,
        top_p=body.top_p,
    )
    return messages, tools, settings


def agent_request(body: ChatCompletionRequest, state: ServerState) -> tuple[RunRequest, Conversation]:
    """The task (the last user message) and the earlier turns, for the agent.

    Blocking: each user message's images are read as a run's are (`build_request`: OCR unless
    the model reads images), so call it in a thread."""
    if body.tools:
        raise RequestError(
            "Model 'errand' runs its own tools; to offer yours, call a backend model (GET /v1/models).",
            param="tools",
        )
    if structured_schema(body) is not None:
        raise RequestError(
            "Model 'errand' answers in prose; for structured output call a backend model (GET /v1/models).",
            param="response_format",
        )
    *history, last = body.messages
    task = _text(last).strip()
    if last.role != "user" or not (task or _images(last)):
        raise RequestError(
            "The last message must be the user's request, as text or images.",
            param=f"messages.{len(body.messages) - 1}",
        )
    conversation = Conversation([Message(role="system", content=state.agent.system_prompt)])
    for i, m in enumerate(history):
        if m.role == "user" and _images(m):
            earlier = _read(state, _text(m), _images(m), i)
            parts: list[TextPart | ImagePart] = [TextPart(text=earlier.text)]
            parts += [ImagePart(url=u) for u in earlier.images]
            conversation.messages.append(
                Message(role="user", content=parts if earlier.images else earlier.text)
            )
        elif m.role in ("user", "assistant") and _text(m).strip():
            conversation.messages.append(Message(role=m.role, content=_text(m)))
    request = _read(state, task, _images(last), len(body.messages) - 1)
    check_context(
        estimate_tokens([*conversation.messages, Message(role="user", content=request.text)], []),
        None,
        state.context_window,
    )
    return request, conversation


def _read(state: ServerState, text: str, images: list[str], index: int) -> RunRequest:
    try:
        return build_request(state.settings, text, images)
    except RunInputError as exc:
        raise RequestError(str(exc), param=f"messages.{index}.content") from None


async def agent_events(
    state: ServerState, key: ApiKey, request: RunRequest, conv: Conversation
) -> AsyncGenerator[ModelEvent, None]:
    """The agent's run as model events: reasoning as it comes, the answer once it is final.

    A step's text is held until the run finishes with it: a draft the agent must ground or
    text written before a tool call is never shown to a client that cannot take it back.
    """
    stream = state.agent.stream(request.text, conversation=conv, user=key.user, images=request.images)
    async for ev in stream:
        if isinstance(ev, ReasoningDeltaEvent):
            yield ReasoningDelta(text=ev.text)
        elif isinstance(ev, ToolResultEvent):
            state.metrics.tool_calls.labels("ok" if ev.ok else "error").inc()
        elif isinstance(ev, ConfirmationResolved) and not ev.approved:
            state.metrics.tool_calls.labels("rejected").inc()
        elif isinstance(ev, TextDeltaEvent | ToolCallStarted | RevisionRequested):
            continue
        elif isinstance(ev, RunFinished):
            for piece in re.findall(r"\s*\S+", ev.answer):
                yield TextDelta(text=piece)
            yield UsageEvent(usage=ev.usage)
            yield Finish(reason="stop")
        elif isinstance(ev, RunFailed):
            if ev.kind == "model_error":
                raise ModelResponseError(ev.reason)
            yield TextDelta(text=ev.reason)
            yield UsageEvent(usage=ev.usage)
            yield Finish(reason="stop")


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


class _Meter:
    """Time to first token, tokens and the key's charge for one completion."""

    def __init__(self, state: ServerState, key: ApiKey, model: str) -> None:
        self.state, self.key, self.model = state, key, model
        self.started = time.perf_counter()
        self.first = False
        self.usage = Usage()

    def see(self, ev: ModelEvent) -> None:
        if not self.first and isinstance(ev, TextDelta | ReasoningDelta | ToolCallEvent):
            self.first = True
            self.state.metrics.ttft.labels(self.model).observe(time.perf_counter() - self.started)
        elif isinstance(ev, UsageEvent):
            self.usage = ev.usage

    async def done(self) -> None:
        u = self.usage
        self.state.metrics.usage(u.prompt_tokens, u.completion_tokens)
        total = u.prompt_tokens + u.completion_tokens
        if total:
            loop = asyncio.get_running_loop()
            await asyncio.shield(loop.run_in_executor(None, self.state.keys.charge, self.key.id, total))


async def _metered(events: AsyncIterator[ModelEvent], meter: _Meter) -> AsyncGenerator[ModelEvent, None]:
    try:
        async for ev in events:
            meter.see(ev)
            yield ev
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


def _usage_dict(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
    }


def call_deltas(index: int, call: ToolCall) -> list[dict[str, Any]]:
    """One call as OpenAI streams it: its id, type and name with empty arguments, then only the
    arguments, in pieces that join to exactly the JSON a whole response carries."""
    arguments = call.to_openai()["function"]["arguments"]
    head = {
        "index": index,
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }
    pieces = [
        {"index": index, "function": {"arguments": arguments[i : i + ARGUMENT_PIECE]}}
        for i in range(0, len(arguments), ARGUMENT_PIECE)
    ]
    return [head, *pieces]


async def _sse(
    events: AsyncGenerator[ModelEvent, None], meter: _Meter, *, cid: str, model: str, include_usage: bool
) -> AsyncGenerator[ServerSentEvent, None]:
    """OpenAI's chunks: a role chunk, deltas, a finish chunk, a usage chunk if asked, ``[DONE]``."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> ServerSentEvent:
        body = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return ServerSentEvent(data=json.dumps(body, ensure_ascii=False))

    calls = 0
    finish = "stop"
    try:
        yield chunk({"role": "assistant", "content": ""})
        async for ev in events:
            if isinstance(ev, TextDelta):
                yield chunk({"content": ev.text})
            elif isinstance(ev, ReasoningDelta):
                yield chunk({"reasoning_content": ev.text})
            elif isinstance(ev, MalformedToolCall):
                yield chunk({"content": ev.raw})
            elif isinstance(ev, ToolCallEvent):
                for delta in call_deltas(calls, ev.call):
                    yield chunk({"tool_calls": [delta]})
                calls += 1
            elif isinstance(ev, Finish):
                finish = ev.reason
        yield chunk({}, finish)
        if include_usage:
            body = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage_dict(meter.usage),
            }
            yield ServerSentEvent(data=json.dumps(body))
        yield ServerSentEvent(data="[DONE]")
    except ErrandError as exc:
        yield ServerSentEvent(data=json.dumps(error_body(exc), ensure_ascii=False))
    except Exception as exc:
        log.exception("chat stream failed")
        yield ServerSentEvent(data=json.dumps(error_body(exc)))
    finally:
        await events.aclose()
    await meter.done()


def _completion(response: Any, cid: str, model: str) -> dict[str, Any]:
    text = response.text + "".join(m.raw for m in response.malformed)
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if response.tool_calls else "")}
    if response.tool_calls:
        message["tool_calls"] = [c.to_openai() for c in response.tool_calls]
    if response.reasoning:
        message["reasoning_content"] = response.reasoning
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": response.finish_reason}
        ],
        "usage": _usage_dict(response.usage),
    }


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


_STREAM_DOC = {
    "text/event-stream": {"schema": {"type": "string", "description": "OpenAI chunks, then [DONE]"}}
}


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    summary="Create a chat completion (OpenAI-compatible)",
    responses={
        200: {"content": _STREAM_DOC, "description": "The completion, or its chunks when `stream` is true."},
        **error_responses(400, 401, 404, 409, 422, 429, 502, 503, 504),
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=255, pattern=IDEMPOTENCY_KEY)
    ] = None,
) -> Response:
    """``model: "errand"`` runs the agent; a backend model's name passes the request to it."""
    state = server_state(request)
    key = current_key(request)
    meter = _Meter(state, key, body.model)
    if body.model == AGENT_MODEL:
        asked, conversation = await asyncio.to_thread(agent_request, body, state)
        events: AsyncGenerator[ModelEvent, None] = _metered(
            agent_events(state, key, asked, conversation), meter
        )
    elif body.model == state.model.name:
        messages, tools, settings = gateway_request(body, state)
        events = _metered(state.model.stream(messages, tools, settings), meter)
    else:
        raise _unknown_model(body.model, state)
    cid = f"chatcmpl-{uuid.uuid4().hex}"
    try:
        if body.stream:
            if body.model != AGENT_MODEL:
                events = await unless_disconnected(request, _deadline(_prime(events), state))
            include = bool(body.stream_options and body.stream_options.include_usage)
            return EventSourceResponse(
                _sse(events, meter, cid=cid, model=body.model, include_usage=include),
                ping=state.settings.serve_ping_s,
                sep="\n",
            )
        work = collect(events) if body.model == AGENT_MODEL else _deadline(collect(events), state)
        response = await unless_disconnected(request, work)
    except ClientGone:
        await events.aclose()
        return Response(status_code=499)
    except StopAsyncIteration:
        raise ModelResponseError("The model answered nothing.") from None
    await meter.done()
    return JSONResponse(_completion(response, cid, body.model))


def _unknown_model(name: str, state: ServerState) -> ModelNotFound:
    return ModelNotFound(
        f"The model {name!r} does not exist here; use 'errand' or {state.model.name!r} (GET /v1/models)."
    )


def _cards(state: ServerState) -> list[ModelCard]:
    return [
        ModelCard(id=AGENT_MODEL, created=_STARTED, owned_by="errand"),
        ModelCard(id=state.model.name, created=_STARTED, owned_by=state.settings.resolved_model_backend()),
    ]


@router.get(
    "/v1/models",
    response_model=ModelList,
    summary="The models this server answers to",
    responses=error_responses(401, 429),
)
async def list_models(request: Request) -> ModelList:
    """``errand`` (the agent) and the backend model it runs on."""
    return ModelList(data=_cards(server_state(request)))


@router.get(
    "/v1/models/{model_id:path}",
    response_model=ModelCard,
    summary="One model this server answers to",
    responses=error_responses(401, 404, 429),
)
async def get_model(model_id: str, request: Request) -> ModelCard:
    """``errand`` or the backend model (a remote model's name may hold a ``/``); else 404."""
    state = server_state(request)
    for card in _cards(state):
        if card.id == model_id:
            return card
    raise _unknown_model(model_id, state)
