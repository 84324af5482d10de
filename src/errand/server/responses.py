"""``POST /v1/responses``: the subset of OpenAI's Responses API that vLLM serves.

Text in and out, the client's function tools (``function_call`` items out, ``function_call_output``
items in), structured output (``text.format``) and streaming with the Responses API's typed
events. The request becomes an `Ask` and goes down the same path as a chat completion
(`errand.server.completions`): ``model: "errand"`` runs the agent, the backend model's name is a
gateway. Nothing is stored, so ``previous_response_id`` and ``background`` are refused and a
response cannot be read back by its id: send the whole conversation in ``input`` each time.
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
    UsageEvent,
)
from errand.server.completions import Ask, Meter, StreamWriter, answer, argument_pieces, sse_stream
from errand.server.errors import error_body, error_responses
from errand.server.idempotency import IDEMPOTENCY_KEY
from errand.server.schemas import (
    FunctionCallInput,
    FunctionCallOutput,
    FunctionToolChoice,
    IncompleteDetails,
    InputImage,
    InputMessage,
    InputTokensDetails,
    OutputFunctionCall,
    OutputItem,
    OutputMessage,
    OutputReasoning,
    OutputText,
    OutputTokensDetails,
    ReasoningText,
    ResponseError,
    ResponseObject,
    ResponsesRequest,
    ResponseUsage,
    TextFormatJsonObject,
    TextFormatJsonSchema,
)

router = APIRouter(tags=["responses"])


# ---- the request ---------------------------------------------------------------------------


def _content(item: InputMessage, where: str) -> str | list[TextPart | ImagePart]:
    """The message's text, or its parts when it holds an image (every chat template takes text)."""
    if isinstance(item.content, str):
        return item.content
    parts: list[TextPart | ImagePart] = []
    for j, part in enumerate(item.content):
        if isinstance(part, InputImage):
            if not part.image_url:
                raise RequestError(
                    "Files are not stored here: send the image as image_url (a URL or a data: URL).",
                    param=f"{where}.content.{j}.image_url",
                )
            parts.append(ImagePart(url=part.image_url))
        else:
            parts.append(TextPart(text=part.text))
    if all(isinstance(p, TextPart) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextPart))
    return parts


def _arguments(item: FunctionCallInput, where: str) -> dict[str, Any]:
    try:
        args = json.loads(item.arguments or "{}")
    except ValueError:
        args = None
    if not isinstance(args, dict):
        raise RequestError(f"{where}.arguments must be a JSON object.", param=f"{where}.arguments")
    return args


def to_messages(body: ResponsesRequest) -> tuple[list[Message], list[str]]:
    """``instructions`` and ``input`` as errand's messages, with where each came from.

    A ``function_call`` joins the assistant message before it (a reply that wrote text and
    called, or called several functions at once, is one assistant turn); its output becomes a
    tool message naming the function; reasoning items are left out."""
    messages: list[Message] = []
    where: list[str] = []
    if body.instructions:
        messages.append(Message(role="system", content=body.instructions))
        where.append("instructions")
    if isinstance(body.input, str):
        messages.append(Message(role="user", content=body.input))
        where.append("input")
        return messages, where
    names: dict[str, str] = {}
    for i, item in enumerate(body.input):
        place = f"input.{i}"
        if isinstance(item, InputMessage):
            role = "system" if item.role == "developer" else item.role
            messages.append(Message(role=role, content=_content(item, place)))
            where.append(place)
        elif isinstance(item, FunctionCallInput):
            call = ToolCall(id=item.call_id, name=item.name, arguments=_arguments(item, place))
            names[item.call_id] = item.name
            if messages and messages[-1].role == "assistant":
                messages[-1].tool_calls.append(call)
            else:
                messages.append(Message(role="assistant", tool_calls=[call]))
                where.append(place)
        elif isinstance(item, FunctionCallOutput):
            output = item.output if isinstance(item.output, str) else "".join(p.text for p in item.output)
            name = names.get(item.call_id)
            messages.append(Message(role="tool", content=output, tool_call_id=item.call_id, name=name))
            where.append(place)
    if not messages:
        raise RequestError("input holds no message: send the user's request.", param="input")
    return messages, where


def to_ask(body: ResponsesRequest) -> Ask:
    """The request as errand's messages and options (400 naming the field when it cannot be)."""
    if body.previous_response_id:
        raise RequestError(
            "previous_response_id is not supported: this server stores no responses. "
            "Send the whole conversation in input (earlier output items included).",
            param="previous_response_id",
        )
    if body.background:
        raise RequestError(
            "background responses are not supported; stream the response, or start a run (POST /v1/runs).",
            param="background",
        )
    messages, where = to_messages(body)
    choice = body.tool_choice
    fmt = body.text.format if body.text else None
    schema: dict[str, Any] | None = None
    if isinstance(fmt, TextFormatJsonSchema):
        schema = fmt.schema_
    elif isinstance(fmt, TextFormatJsonObject):
        schema = {"type": "object"}
    return Ask(
        model=body.model,
        messages=messages,
        where=where,
        tools=[
            ToolSpec(
                name=t.name,
                description=t.description or "",
                parameters=t.parameters or {"type": "object", "properties": {}},
            )
            for t in body.tools or []
        ],
        tool_choice=choice if isinstance(choice, str) else "auto",
        named_tool=choice.name if isinstance(choice, FunctionToolChoice) else None,
        parallel_tool_calls=body.parallel_tool_calls,
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        schema=schema,
        format_param="text.format",
        stream=body.stream,
    )


# ---- the response --------------------------------------------------------------------------


def _usage(u: Usage) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=u.prompt_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=u.cached_tokens),
        output_tokens=u.completion_tokens,
        output_tokens_details=OutputTokensDetails(),
        total_tokens=u.prompt_tokens + u.completion_tokens,
    )


def _dump(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=False)
    return data


class _Builder:
    """One response as it is made: its output items from model events, the stream's events on
    the way (``response.output_text.delta``...), and the response object at any point."""

    def __init__(self, body: ResponsesRequest, rid: str, created: int) -> None:
        self.body, self.rid, self.created = body, rid, created
        self.items: list[OutputItem] = []
        self.open: OutputMessage | OutputReasoning | None = None
        self.finish = "stop"
        self.usage: Usage | None = None
        self.seq = 0
        self._text_so_far = ""
        """The text of the open item."""

    def event(self, type_: str, **fields: Any) -> dict[str, Any]:
        """One stream event, numbered in order."""
        data = {"type": type_, "sequence_number": self.seq, **fields}
        self.seq += 1
        return data

    def response(self, status: str, error: ResponseError | None = None) -> ResponseObject:
        """The response now (``in_progress`` while it streams)."""
        b = self.body
        incomplete = status == "incomplete"
        return ResponseObject(
            id=self.rid,
            created_at=self.created,
            status=status,  # type: ignore[arg-type]
            model=b.model,
            output=list(self.items),
            instructions=b.instructions,
            max_output_tokens=b.max_output_tokens,
            metadata=b.metadata or {},
            parallel_tool_calls=b.parallel_tool_calls is not False,
            temperature=b.temperature,
            top_p=b.top_p,
            tool_choice=b.tool_choice or "auto",
            tools=b.tools or [],
            text={"format": _dump(b.text.format)}
            if b.text and b.text.format
            else {"format": {"type": "text"}},
            error=error,
            incomplete_details=IncompleteDetails(reason="max_output_tokens") if incomplete else None,
            usage=_usage(self.usage) if self.usage is not None and status != "in_progress" else None,
        )

    def status(self) -> str:
        return "incomplete" if self.finish == "length" else "completed"

    def feed(self, ev: ModelEvent) -> list[dict[str, Any]]:
        """The stream events one model event makes (none for usage and the finish)."""
        if isinstance(ev, TextDelta | MalformedToolCall):
            text = ev.text if isinstance(ev, TextDelta) else ev.raw
            return self._text(OutputMessage, text) if text else []
        if isinstance(ev, ReasoningDelta):
            return self._text(OutputReasoning, ev.text) if ev.text else []
        if isinstance(ev, ToolCallEvent):
            return self._call(ev.call)
        if isinstance(ev, UsageEvent):
            self.usage = ev.usage
        elif isinstance(ev, Finish):
            self.finish = ev.reason
        return []

    def _text(self, kind: type[OutputMessage] | type[OutputReasoning], delta: str) -> list[dict[str, Any]]:
        out = []
        if self.open is not None and not isinstance(self.open, kind):
            out += self.close()
        if self.open is None:
            index = len(self.items)
            if kind is OutputMessage:
                self.open = OutputMessage(id=f"msg_{uuid.uuid4().hex}", status="in_progress", content=[])
                part: dict[str, Any] = _dump(OutputText(text=""))
            else:
                self.open = OutputReasoning(id=f"rs_{uuid.uuid4().hex}", status="in_progress", content=[])
                part = _dump(ReasoningText(text=""))
            out.append(self.event("response.output_item.added", output_index=index, item=_dump(self.open)))
            out.append(
                self.event(
                    "response.content_part.added",
                    item_id=self.open.id,
                    output_index=index,
                    content_index=0,
                    part=part,
                )
            )
            self._text_so_far = ""
        self._text_so_far += delta
        where = {"item_id": self.open.id, "output_index": len(self.items), "content_index": 0}
        if isinstance(self.open, OutputMessage):
            out.append(self.event("response.output_text.delta", **where, delta=delta, logprobs=[]))
        else:
            out.append(self.event("response.reasoning_text.delta", **where, delta=delta))
        return out

    def close(self) -> list[dict[str, Any]]:
        """Finish the open message or reasoning item (its ``.done`` events)."""
        item, self.open = self.open, None
        if item is None:
            return []
        text = self._text_so_far
        where = {"item_id": item.id, "output_index": len(self.items), "content_index": 0}
        done: OutputItem
        if isinstance(item, OutputMessage):
            part: OutputText | ReasoningText = OutputText(text=text)
            done = OutputMessage(id=item.id, content=[OutputText(text=text)])
            ended = self.event("response.output_text.done", **where, text=text, logprobs=[])
        else:
            part = ReasoningText(text=text)
            done = OutputReasoning(id=item.id, content=[ReasoningText(text=text)])
            ended = self.event("response.reasoning_text.done", **where, text=text)
        out = [
            ended,
            self.event("response.content_part.done", **where, part=_dump(part)),
            self.event("response.output_item.done", output_index=len(self.items), item=_dump(done)),
        ]
        self.items.append(done)
        return out

    def _call(self, call: ToolCall) -> list[dict[str, Any]]:
        out = self.close()
        arguments = call.to_openai()["function"]["arguments"]
        item = OutputFunctionCall(
            id=f"fc_{uuid.uuid4().hex}", call_id=call.id, name=call.name, arguments="", status="in_progress"
        )
        index = len(self.items)
        out.append(self.event("response.output_item.added", output_index=index, item=_dump(item)))
        for piece in argument_pieces(arguments):
            out.append(
                self.event(
                    "response.function_call_arguments.delta", item_id=item.id, output_index=index, delta=piece
                )
            )
        out.append(
            self.event(
                "response.function_call_arguments.done",
                item_id=item.id,
                output_index=index,
                name=call.name,
                arguments=arguments,
            )
        )
        done = item.model_copy(update={"arguments": arguments, "status": "completed"})
        out.append(self.event("response.output_item.done", output_index=index, item=_dump(done)))
        self.items.append(done)
        return out


def _sse(data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(event=data["type"], data=json.dumps(data, ensure_ascii=False))


def _stream(body: ResponsesRequest, rid: str, created: int) -> StreamWriter:
    """The Responses API's stream: ``response.created``, ``response.in_progress``, each item's
    events, ``response.completed``; on a failure mid-way, ``error`` then ``response.failed``."""
    built = _Builder(body, rid, created)

    def stream(
        events: AsyncGenerator[ModelEvent, None], meter: Meter
    ) -> AsyncGenerator[ServerSentEvent, None]:
        async def write(events: AsyncGenerator[ModelEvent, None]) -> AsyncGenerator[ServerSentEvent, None]:
            start = _dump(built.response("in_progress"))
            yield _sse(built.event("response.created", response=start))
            yield _sse(built.event("response.in_progress", response=start))
            async for ev in events:
                for data in built.feed(ev):
                    yield _sse(data)
            for data in built.close():
                yield _sse(data)
            yield _sse(built.event("response.completed", response=_dump(built.response(built.status()))))

        def error(exc: Exception) -> list[ServerSentEvent]:
            detail = error_body(exc)["error"]
            code = detail["code"] or "server_error"
            failed = built.response("failed", ResponseError(code=code, message=detail["message"]))
            return [
                _sse(built.event("error", code=code, message=detail["message"], param=detail["param"])),
                _sse(built.event("response.failed", response=_dump(failed))),
            ]

        return sse_stream(events, meter, write, error)

    return stream


def _whole(body: ResponsesRequest, rid: str, created: int, response: ModelResponse) -> dict[str, Any]:
    """The whole response: the same items a stream of the collected answer would make."""
    built = _Builder(body, rid, created)
    events: list[ModelEvent] = [ReasoningDelta(text=response.reasoning)]
    events.append(TextDelta(text=response.text + "".join(m.raw for m in response.malformed)))
    events += [ToolCallEvent(call=c) for c in response.tool_calls]
    events += [UsageEvent(usage=response.usage), Finish(reason=response.finish_reason)]
    for ev in events:
        built.feed(ev)
    built.close()
    return _dump(built.response(built.status()))


_STREAM_DOC = {
    "text/event-stream": {
        "schema": {
            "type": "string",
            "description": "Responses API events, response.created to response.completed",
        }
    }
}


@router.post(
    "/v1/responses",
    response_model=ResponseObject,
    summary="Create a response (OpenAI's Responses API: text, function tools, streaming)",
    responses={
        200: {"content": _STREAM_DOC, "description": "The response, or its events when `stream` is true."},
        **error_responses(400, 401, 404, 409, 422, 429, 502, 503, 504),
    },
)
async def create_response(
    body: ResponsesRequest,
    request: Request,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=255, pattern=IDEMPOTENCY_KEY)
    ] = None,
) -> Response:
    """``model: "errand"`` runs the agent; a backend model's name passes the request to it."""
    rid = f"resp_{uuid.uuid4().hex}"
    created = int(time.time())
    return await answer(
        request,
        to_ask(body),
        stream=_stream(body, rid, created),
        whole=lambda response, _: _whole(body, rid, created, response),
    )
