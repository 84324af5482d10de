"""``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /v1/models/{id}``, OpenAI-compatible.

``model: "errand"`` runs the agent with the built-in tools as a durable run and answers as the
assistant (its steps are on the run's event stream, named by the ``x-errand-run-id`` header, not
here, so stock clients see only standard chunks); a booking or payment is asked about in the
conversation and answered by the next message's yes or no (`errand.server.chat_runs`). Any other
served model name is a gateway: the client's messages and tools go straight to that backend,
and its tool calls come back to the client. A client that disconnects cancels generation.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from sse_starlette import ServerSentEvent
from starlette.responses import Response

from errand.errors import RequestError
from errand.llm.types import (
    Finish,
    ImagePart,
    MalformedToolCall,
    Message,
    ModelEvent,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
)
from errand.server.completions import (
    AGENT_MODEL,
    Ask,
    Meter,
    StreamWriter,
    answer,
    argument_pieces,
    sse_stream,
    unknown_model,
)
from errand.server.errors import error_body, error_responses
from errand.server.idempotency import IDEMPOTENCY_KEY
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

router = APIRouter(tags=["chat"])
_STARTED = int(time.time())


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


def to_ask(body: ChatCompletionRequest) -> Ask:
    """The request as errand's messages and options (400 naming the field when it cannot be)."""
    choice = body.tool_choice
    return Ask(
        model=body.model,
        messages=[to_message(i, m) for i, m in enumerate(body.messages)],
        where=[f"messages.{i}" for i in range(len(body.messages))],
        tools=[
            ToolSpec(
                name=t.function.name, description=t.function.description, parameters=t.function.parameters
            )
            for t in body.tools or []
        ],
        tool_choice=choice if isinstance(choice, str) else "auto",
        named_tool=choice.function.name if isinstance(choice, NamedToolChoice) else None,
        parallel_tool_calls=body.parallel_tool_calls,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
        stop=body.stop,
        schema=structured_schema(body),
        stream=body.stream,
    )


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
    pieces = [{"index": index, "function": {"arguments": piece}} for piece in argument_pieces(arguments)]
    return [head, *pieces]


def _sse(cid: str, model: str, include_usage: bool) -> StreamWriter:
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

    def stream(
        events: AsyncGenerator[ModelEvent, None], meter: Meter
    ) -> AsyncGenerator[ServerSentEvent, None]:
        async def write(events: AsyncGenerator[ModelEvent, None]) -> AsyncGenerator[ServerSentEvent, None]:
            calls = 0
            finish = "stop"
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

        def error(exc: Exception) -> ServerSentEvent:
            return ServerSentEvent(data=json.dumps(error_body(exc), ensure_ascii=False))

        return sse_stream(events, meter, write, error)

    return stream


def _completion(response: ModelResponse, cid: str, model: str) -> dict[str, Any]:
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
    cid = f"chatcmpl-{uuid.uuid4().hex}"
    include = bool(body.stream_options and body.stream_options.include_usage)
    return await answer(
        request,
        to_ask(body),
        stream=_sse(cid, body.model, include),
        whole=lambda response, _: _completion(response, cid, body.model),
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
    raise unknown_model(model_id, state)
