"""Any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, DashScope, OpenAI).

Built on the official ``openai`` client, so retries, timeouts and the streaming
protocol are theirs. Native ``tool_calls`` are used when the server returns
them; text content still goes through errand's `StreamParser`, because many
open models behind these servers write their calls as text the server does not
recognise. ``reasoning_content`` (vLLM, SGLang, DeepSeek, DashScope) and
``reasoning`` (Ollama, OpenRouter) become reasoning events, and so does
``<think>`` text, with or without its opening tag (a server without a reasoning
parser, a template that opens the block in the prompt).

Thinking is bounded by ``max_thinking_tokens`` per step. A server cannot be
steered mid-stream, so past the budget errand closes the stream and asks for the
same turn again with the thinking so far, closed by Qwen's stop sentence and
``</think>``, as the start of the assistant's message to continue
(``continue_final_message``, as vLLM and SGLang name it; llama.cpp's server
continues a final assistant message by itself). What the server writes then is
the answer, whichever field it comes in: its reasoning parser cannot see the
``</think>`` that errand wrote.
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
from errand.llm.thinking import NO_THINK, STOP_SENTENCE, STOP_THINKING, Thinking, ThinkingMeter, after_cut
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
    written = _field(usage, "completion_tokens_details")
    reasoning = _field(written, "reasoning_tokens") if written is not None else None
    timings = _field(chunk, "timings") or {}  # llama.cpp adds its own timings
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        cached_tokens=int(cached or timings.get("cache_n", 0) or 0),
        prompt_ms=float(timings.get("prompt_ms", 0.0) or 0.0),
        completion_ms=float(timings.get("predicted_ms", 0.0) or 0.0),
        reasoning_tokens=int(reasoning or 0),
    )


@dataclass
class _Reading:
    """What one streamed response left behind, besides the events it yielded."""

    pending: dict[int, _PendingCall] = field(default_factory=dict)
    usage: Usage | None = None
    finish_reason: str | None = None
    cut: bool = False
    """The thinking's budget was spent and the stream closed before the answer."""
    server_reasoning: bool = False
    """The server sent thinking in its own field, so the text content is only the answer."""
    content: bool = False
    """Some text content came."""
    thought: list[str] = field(default_factory=list)
    """The thinking as shown, to write back closed when the budget is spent."""


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
        thinking: Thinking = "auto",
        max_thinking_tokens: int | None = None,
    ) -> None:
        """Point at ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``); nothing connects yet.

        ``thinking`` ``on``/``off`` sends ``chat_template_kwargs: {"enable_thinking": ...}``
        (Qwen3-style templates), and ``off`` also Qwen3's ``/no_think`` in the system message;
        ``auto`` sends neither. ``max_thinking_tokens`` bounds the thinking of each turn."""
        self.base_url = base_url
        self.model = model
        self.name = model
        self.thinking: Thinking = thinking
        self.max_thinking_tokens = max_thinking_tokens
        self._opens_thinking: bool | None = None
        """Whether this model's text starts inside a think block its template opened (learnt from
        its first answer in text: a ``</think>`` with no ``<think>``); None: not known yet, so
        the text is held until it says."""
        # Servers without auth still need some key: the client refuses to start without one.
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=max_retries
        )

    def request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for one turn.

        Unless thinking is off, ``max_tokens`` is the answer's plus the thinking's budget: a
        server counts both against it, and the answer must not pay for the thinking."""
        sent = [m.to_openai() for m in messages]
        extra: dict[str, Any] = {}
        if self.thinking != "auto":
            extra["chat_template_kwargs"] = {"enable_thinking": self.thinking == "on"}
        if self.thinking == "off":
            if sent and sent[0]["role"] == "system" and isinstance(sent[0]["content"], str):
                sent[0] = {**sent[0], "content": f"{sent[0]['content']}\n{NO_THINK}"}
            else:
                sent.insert(0, {"role": "system", "content": NO_THINK})
        budget = self.max_thinking_tokens if self.thinking != "off" else None
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": sent,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens + (budget or 0),
        }
        if extra:
            kwargs["extra_body"] = extra
        if settings.seed is not None:
            kwargs["seed"] = settings.seed
        if settings.stop:
            kwargs["stop"] = list(settings.stop)
        if settings.top_p is not None:
            kwargs["top_p"] = settings.top_p
        if tools:
            kwargs["tools"] = [t.to_openai() for t in tools]
            # none callable this step (the agent's answer step): shown, but the turn answers
            kwargs["tool_choice"] = settings.tool_choice if any(t.callable for t in tools) else "none"
        if settings.response_format is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": settings.response_format, "strict": True},
            }
        return kwargs

    def continuation(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings, thought: str
    ) -> dict[str, Any]:
        """The request that asks for the turn again once its thinking was cut: the thinking so
        far, closed, starts the assistant's message, and the server continues it."""
        prefill = Message(role="assistant", content=f"<think>\n{thought.strip()}{STOP_THINKING}")
        kwargs = self.request([*messages, prefill], tools, settings)
        kwargs["max_tokens"] = settings.max_tokens
        extra = kwargs.setdefault("extra_body", {})
        extra.update({"continue_final_message": True, "add_generation_prompt": False})
        return kwargs

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> AsyncIterator[ModelEvent]:
        """Stream one turn from the server, mapped to errand's events; thinking past its budget
        is closed and the turn asked again (see the module)."""
        parser = StreamParser(in_thinking=self._opens_thinking)
        meter = ThinkingMeter(self.max_thinking_tokens)
        first = _Reading()
        async for ev in self._read(self.request(messages, tools, settings), parser, meter, first):
            yield ev
        reading, usage = first, None
        if first.cut:
            for ev in parser.close_thinking():
                first.thought.append(getattr(ev, "text", ""))
                yield ev
            yield ReasoningDelta(text=f"\n\n{STOP_SENTENCE}")
            reading = _Reading(pending=first.pending)
            kwargs = self.continuation(messages, tools, settings, "".join(first.thought))
            async for ev in self._read(kwargs, parser, None, reading):
                yield ev
            usage = after_cut(meter.tokens, reading.usage or Usage())
        called = False
        for ev in parser.finish():
            called = called or isinstance(ev, ToolCallEvent)
            yield ev
        self._learn(first, parser, settings)
        for index in sorted(reading.pending):
            native = _native_call(reading.pending[index], index)
            called = called or isinstance(native, ToolCallEvent)
            yield native
        if usage is None:
            usage = reading.usage or Usage()
            if not usage.reasoning_tokens:
                usage.reasoning_tokens = meter.tokens
        yield UsageEvent(usage=usage)
        if called:
            yield Finish(reason="tool_calls")
        else:
            yield Finish(reason="length" if reading.finish_reason == "length" else "stop")

    def _learn(self, reading: _Reading, parser: StreamParser, settings: ModelSettings) -> None:
        """Remember whether this model's text starts inside thinking, from an answer that says:
        one in free text (a reply held to a schema may skip the thinking the template opened)."""
        if reading.server_reasoning:
            self._opens_thinking = False  # the server splits the thinking off: text is the answer
        elif reading.content and settings.response_format is None and parser.opened_by_prompt is not None:
            self._opens_thinking = bool(self._opens_thinking) or parser.opened_by_prompt

    async def _read(
        self, kwargs: dict[str, Any], parser: StreamParser, meter: ThinkingMeter | None, out: _Reading
    ) -> AsyncIterator[ModelEvent]:
        """Stream one response into ``parser`` and ``out``. ``meter`` counts the thinking and
        ends the stream when its budget is spent (``out.cut``); None: the thinking is already
        closed, so whatever comes is the answer."""
        maybe = ThinkingMeter(None)  # text held until it says whether it is thinking
        try:
            response = await self._client.chat.completions.create(**kwargs)
            try:
                async for chunk in response:
                    if chunk.usage is not None:
                        out.usage = _usage(chunk)
                    for choice in chunk.choices[:1]:
                        delta = choice.delta
                        reasoning = _field(delta, "reasoning_content") or _field(delta, "reasoning")
                        events: list[ModelEvent] = []
                        if isinstance(reasoning, str) and reasoning:
                            if meter is None:  # the server's parser cannot see errand's </think>
                                events += parser.feed(reasoning)
                            else:
                                out.server_reasoning = True
                                events += parser.close_thinking() if not out.content else []
                                events.append(ReasoningDelta(text=reasoning))
                                meter.add()
                        if delta.content:
                            out.content = True
                            held, thinking = parser.undecided, parser.thinking
                            events += parser.feed(delta.content)
                            if meter is not None:
                                if held:
                                    maybe.add()
                                elif thinking:
                                    meter.add()
                                if maybe.tokens and not parser.undecided:  # the held text has said
                                    if parser.opened_by_prompt or parser.thinking:  # it was thinking
                                        meter.absorb(maybe)
                                    maybe = ThinkingMeter(None)
                        for ev in events:
                            if isinstance(ev, ReasoningDelta):
                                out.thought.append(ev.text)
                            yield ev
                        for piece in delta.tool_calls or []:
                            call = out.pending.setdefault(piece.index, _PendingCall())
                            call.id = call.id or (piece.id or "")
                            if piece.function is not None:
                                call.name += piece.function.name or ""
                                call.arguments.append(piece.function.arguments or "")
                        if choice.finish_reason:
                            out.finish_reason = choice.finish_reason
                        if meter is not None and meter.budget is not None and not out.pending:
                            server_thinking = bool(reasoning) and not out.content
                            if (parser.thinking or parser.undecided or server_thinking) and (
                                meter.tokens + maybe.tokens >= meter.budget
                            ):
                                out.cut = True
                                return
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
            hint = ""
            if meter is None:
                hint = (
                    " (asked to continue the thinking it had closed at ERRAND_MAX_THINKING_TOKENS: a "
                    "chat template that drops thinking from assistant messages, as QwQ's and "
                    "DeepSeek-R1's do, cannot; raise ERRAND_MAX_THINKING_TOKENS, or serve the model "
                    "with a reasoning parser and a template that keeps it)"
                )
            raise ModelResponseError(
                f"The model server at {self.base_url} answered HTTP {exc.status_code}{code}: {detail}{hint}"
            ) from None
        except openai.APIError as exc:
            raise ModelResponseError(f"The model server at {self.base_url} failed: {exc.message}") from None

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()
