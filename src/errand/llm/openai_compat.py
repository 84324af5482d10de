"""Any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, DashScope, OpenAI).

Built on the official ``openai`` client, so retries, timeouts and the streaming
protocol are theirs. Native ``tool_calls`` are used when the server returns
them; text content still goes through errand's `StreamParser`, because many
open models behind these servers write their calls as text the server does not
recognise. ``reasoning_content`` (vLLM, SGLang, DeepSeek, DashScope) and
``reasoning`` (Ollama, OpenRouter) become reasoning events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import json_repair
import openai

from errand.errors import ModelResponseError, ModelUnavailableError
from errand.llm.base import ChatModel
from errand.llm.parsing import StreamParser
from errand.llm.types import (
    Finish,
    MalformedToolCall,
    Message,
    ModelEvent,
    ModelSettings,
    ReasoningDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
    UsageEvent,
)


@dataclass
class _PendingCall:
    """A native tool call being assembled from streamed pieces."""

    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


def _field(obj: Any, name: str) -> Any:
    """A declared or extra (server-specific) field of an openai pydantic object."""
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name)
    return value


def _native_call(pending: _PendingCall, index: int) -> ToolCallEvent | MalformedToolCall:
    """A finished native call, its arguments parsed (and repaired when broken)."""
    raw = "".join(pending.arguments)
    call_id = pending.id or f"call_{index}"
    if not pending.name:
        return MalformedToolCall(raw=raw[:500], reason="the tool call has no function name")
    if not raw.strip():
        return ToolCallEvent(call=ToolCall(id=call_id, name=pending.name, arguments={}))
    try:
        args = json.loads(raw)
    except ValueError:
        try:
            args = json_repair.loads(raw)
        except Exception:
            args = None
    if not isinstance(args, dict):
        return MalformedToolCall(
            raw=f'{{"name": "{pending.name}", "arguments": {raw[:400]}}}',
            reason=f"the arguments of {pending.name} are not a JSON object",
        )
    return ToolCallEvent(call=ToolCall(id=call_id, name=pending.name, arguments=args))


def _usage(chunk: Any) -> Usage:
    usage = chunk.usage
    details = _field(usage, "prompt_tokens_details")
    cached = _field(details, "cached_tokens") if details is not None else None
    timings = _field(chunk, "timings") or {}  # llama.cpp adds its own timings
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        cached_tokens=int(cached or timings.get("cache_n", 0) or 0),
        prompt_ms=float(timings.get("prompt_ms", 0.0) or 0.0),
        completion_ms=float(timings.get("predicted_ms", 0.0) or 0.0),
    )


class OpenAICompatModel(ChatModel):
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str = "default",
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
    ) -> None:
        """Point at ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``); nothing connects yet."""
        self.base_url = base_url
        self.model = model
        self.name = model
        # Servers without auth still need some key: the client refuses to start without one.
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=max_retries
        )

    def request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for one turn."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_openai() for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
        }
        if settings.seed is not None:
            kwargs["seed"] = settings.seed
        if settings.stop:
            kwargs["stop"] = list(settings.stop)
        if settings.top_p is not None:
            kwargs["top_p"] = settings.top_p
        if tools:
            kwargs["tools"] = [t.to_openai() for t in tools]
            kwargs["tool_choice"] = settings.tool_choice
        if settings.response_format is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": settings.response_format, "strict": True},
            }
        return kwargs

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> AsyncIterator[ModelEvent]:
        """Stream one turn from the server, mapped to errand's events."""
        parser = StreamParser()
        pending: dict[int, _PendingCall] = {}
        usage = Usage()
        finish_reason: str | None = None
        try:
            response = await self._client.chat.completions.create(**self.request(messages, tools, settings))
            try:
                async for chunk in response:
                    if chunk.usage is not None:
                        usage = _usage(chunk)
                    for choice in chunk.choices[:1]:
                        delta = choice.delta
                        reasoning = _field(delta, "reasoning_content") or _field(delta, "reasoning")
                        if isinstance(reasoning, str) and reasoning:
                            yield ReasoningDelta(text=reasoning)
                        if delta.content:
                            for ev in parser.feed(delta.content):
                                yield ev
                        for piece in delta.tool_calls or []:
                            call = pending.setdefault(piece.index, _PendingCall())
                            call.id = call.id or (piece.id or "")
                            if piece.function is not None:
                                call.name += piece.function.name or ""
                                call.arguments.append(piece.function.arguments or "")
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
            finally:
                await response.close()
        except openai.APITimeoutError:
            raise ModelUnavailableError(
                f"The model server at {self.base_url} did not answer in time. "
                "Check that it is running and not overloaded, or raise ERRAND_REQUEST_TIMEOUT_S."
            ) from None
        except openai.APIConnectionError as exc:
            raise ModelUnavailableError(
                f"Cannot reach the model server at {self.base_url}: {exc.__cause__ or exc}. "
                "Start it or fix ERRAND_MODEL_URL."
            ) from None
        except openai.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            detail = body.get("message") or exc.message
            code = f" ({exc.code})" if exc.code else ""
            raise ModelResponseError(
                f"The model server at {self.base_url} answered HTTP {exc.status_code}{code}: {detail}"
            ) from None
        except openai.APIError as exc:
            raise ModelResponseError(f"The model server at {self.base_url} failed: {exc.message}") from None

        called = False
        for ev in parser.finish():
            called = called or isinstance(ev, ToolCallEvent)
            yield ev
        for index in sorted(pending):
            native = _native_call(pending[index], index)
            called = called or isinstance(native, ToolCallEvent)
            yield native
        yield UsageEvent(usage=usage)
        if called:
            yield Finish(reason="tool_calls")
        else:
            yield Finish(reason="length" if finish_reason == "length" else "stop")

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()
