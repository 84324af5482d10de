"""A model that replays a script: the test double for the agent loop, server and benchmarks.

    model = ScriptedModel([
        call("search_listings", city="Hangzhou", bedrooms=3),
        "The best value is HZ-00042 ...",
    ])

Each turn is a string (the answer), a `ToolCall` or list of them (calls in one
turn), a `ScriptedTurn` (text, reasoning, calls, or `raw` model text that goes
through the real tool-call parser), or a function of the messages so far that
returns one of those.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from errand.errors import ConfigError, ModelResponseError
from errand.llm.base import ChatModel
from errand.llm.parsing import THINK_CLOSE, StreamParser
from errand.llm.thinking import STOP_SENTENCE
from errand.llm.types import (
    Finish,
    Message,
    ModelEvent,
    ModelSettings,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
    UsageEvent,
)


class ScriptedTurn(BaseModel):
    """One scripted model turn."""

    text: str = ""
    """Answer text, streamed word by word."""
    reasoning: str = ""
    """Reasoning, streamed before the text."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """Tool calls made in this turn."""
    raw: str | None = None
    """Raw model output parsed by the real `StreamParser` (overrides the fields above)."""
    thinking_opened: bool = False
    """The ``raw`` output starts inside a think block the prompt opened, so only ``</think>``
    marks where the thinking ends (QwQ, DeepSeek-R1)."""
    cached_tokens: int = Field(default=0, ge=0)
    """Prompt tokens to report as read from the prompt cache (at most the prompt's), so usage
    reporting can be tested without a real cache."""


Turn = str | ToolCall | list[ToolCall] | ScriptedTurn
TurnSource = Turn | Callable[[Sequence[Message]], Turn]


def call(name: str, /, **arguments: Any) -> ToolCall:
    """A scripted tool call: ``call("get_listing", listing_id="HZ-00001")``."""
    return ToolCall(id="", name=name, arguments=arguments)


def _as_turn(turn: Turn) -> ScriptedTurn:
    if isinstance(turn, ScriptedTurn):
        return turn
    if isinstance(turn, str):
        return ScriptedTurn(text=turn)
    if isinstance(turn, ToolCall):
        return ScriptedTurn(tool_calls=[turn])
    return ScriptedTurn(tool_calls=list(turn))


def broad_instance(schema: dict[str, Any]) -> Any:
    """A broad instance of a simple JSON schema: every enum value of an array, the first of a
    single enum, false for a boolean, every property of an object. (An agent's plan then offers
    every service and claims nothing about the request.)"""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: broad_instance(v) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        items = schema.get("items", {})
        return list(items["enum"]) if "enum" in items else []
    return {"boolean": False, "integer": 0, "number": 0, "string": ""}.get(str(kind))


def _cut(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """``text`` up to the first of the ``stop`` strings (as a real model stops), and whether
    one was found."""
    at = min((i for s in stop or () if (i := text.find(s)) >= 0), default=None)
    return (text, False) if at is None else (text[:at], True)


def _words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p + " " for p in parts[:-1]] + [parts[-1]] if text else []


class ScriptedModel(ChatModel):
    """Replays turns in order; records every request it receives in `requests`.

    With ``per_conversation`` the turn played is chosen by how many assistant messages the
    conversation already holds, not by how many calls this object served: every run plays
    the script from its start, and a run resumed in a new process plays the turn it stopped
    at. ``token_delay_s`` paces the stream like a real model (benchmarks of serving).
    """

    name = "scripted"

    def __init__(
        self,
        turns: Sequence[TurnSource],
        *,
        per_conversation: bool = False,
        token_delay_s: float = 0.0,
        structured: Sequence[dict[str, Any]] = (),
        max_thinking_tokens: int | None = None,
    ) -> None:
        """``max_thinking_tokens`` cuts each turn's reasoning after that many words, as a real
        backend closes thinking past its budget: the stop sentence ends it and the turn's answer
        or calls follow (in a ``raw`` turn, what it wrote after ``</think>``)."""
        self.max_thinking_tokens = max_thinking_tokens
        self._turns = list(turns)
        self._structured = list(structured)
        self.structured_default: dict[str, Any] | None = None
        """The reply to a structured request when ``structured`` has none left (else a broad one)."""
        self.structured_requests: list[tuple[list[Message], dict[str, Any]]] = []
        """Requests for a structured reply (``response_format``): they play no turn of the script."""
        self._next = 0
        self.per_conversation = per_conversation
        self.token_delay_s = token_delay_s
        self.requests: list[tuple[list[Message], list[ToolSpec]]] = []
        """The messages and tools of every call, for assertions."""
        self.settings: list[ModelSettings] = []
        """The sampling settings of every call (``tool_choice`` included)."""

    @classmethod
    def from_file(cls, path: Path, *, token_delay_s: float = 0.0) -> ScriptedModel:
        """Load turns from JSON: a list where each item is an answer string,
        ``{"tool": name, "arguments": {...}}``, a list of such calls, or ``{"raw": "model text"}``;
        an item ``{"structured": {...}}`` is no turn but the reply to every structured request
        (an agent's plan).

        Turns are chosen per conversation (see the class), as every front end needs."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Cannot read the script {path}: {exc}. Give a JSON list of turns.") from None
        if not isinstance(data, list):
            raise ConfigError(f"The script {path} must be a JSON list of turns.")

        def one(item: Any) -> Turn:
            if isinstance(item, str):
                return item
            if isinstance(item, list):
                return [c for c in (one(i) for i in item) if isinstance(c, ToolCall)]
            if isinstance(item, dict) and "tool" in item:
                return call(item["tool"], **item.get("arguments", {}))
            if isinstance(item, dict) and "raw" in item:
                return ScriptedTurn(raw=item["raw"])
            raise ConfigError(f"Unknown turn in {path}: {item!r}")

        fixed = [i["structured"] for i in data if isinstance(i, dict) and "structured" in i]
        turns = [one(i) for i in data if not (isinstance(i, dict) and "structured" in i)]
        model = cls(turns, per_conversation=True, token_delay_s=token_delay_s)
        model.structured_default = fixed[-1] if fixed else None
        return model

    @property
    def remaining(self) -> int:
        """Turns not yet played."""
        return len(self._turns) - self._next

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> AsyncIterator[ModelEvent]:
        """Play the next turn as a stream of events.

        A request for a structured reply (``settings.response_format``) gets the next of the
        ``structured`` replies, or else a broad instance of the schema (every choice of a list,
        the first of one, false): it never plays a turn of the script.

        ``settings.stop`` cuts the answer (text, raw output or structured reply, not the
        reasoning) before the first stop string, drops the calls after it and finishes "stop"."""
        if settings.response_format is not None:
            self.structured_requests.append((list(messages), settings.response_format))
            reply = (
                self._structured.pop(0)
                if self._structured
                else self.structured_default or broad_instance(settings.response_format)
            )
            text, _ = _cut(json.dumps(reply, ensure_ascii=False), settings.stop)
            yield TextDelta(text=text)
            yield UsageEvent(usage=Usage(prompt_tokens=1, completion_tokens=1))
            yield Finish(reason="stop")
            return
        self.requests.append((list(messages), list(tools)))
        self.settings.append(settings)
        index = sum(m.role == "assistant" for m in messages) if self.per_conversation else self._next
        if index >= len(self._turns):
            raise ModelResponseError(
                f"ScriptedModel has no turn left after {len(self._turns)}; add more turns to the script"
            )
        source = self._turns[index]
        self._next = index + 1
        turn = _as_turn(source(messages) if callable(source) else source)
        step = len(self.requests)
        completion = thinking = 0
        budget = self.max_thinking_tokens
        pace = self._pace
        if turn.raw is not None:
            raw, stopped = _cut(turn.raw, settings.stop)
            parser = StreamParser(id_prefix=f"call_{step}", in_thinking=turn.thinking_opened)
            words = _words(raw)
            while words:
                word = words.pop(0)
                completion += 1
                was_thinking = parser.thinking
                await pace()
                for ev in parser.feed(word):
                    yield ev
                thinking += was_thinking or parser.thinking  # a word with a tag in it is thinking too
                if parser.thinking and budget is not None and thinking >= budget:
                    for ev in parser.close_thinking():
                        yield ev
                    yield ReasoningDelta(text=f"\n\n{STOP_SENTENCE}")
                    rest = "".join(words)  # the model answers from where its thinking ended
                    end = rest.find(THINK_CLOSE)
                    words = _words(rest[end + len(THINK_CLOSE) :].lstrip()) if end >= 0 else []
            for ev in parser.finish():
                yield ev
            has_calls = not stopped and "<tool_call>" in raw
        else:
            text, stopped = _cut(turn.text, settings.stop)
            calls = [] if stopped else turn.tool_calls
            for word in _words(turn.reasoning):
                if budget is not None and thinking >= budget:
                    yield ReasoningDelta(text=f"\n\n{STOP_SENTENCE}")
                    break
                completion += 1
                thinking += 1
                await pace()
                yield ReasoningDelta(text=word)
            for word in _words(text):
                completion += 1
                await pace()
                yield TextDelta(text=word)
            for i, c in enumerate(calls):
                completion += 1 + len(c.arguments)
                for _ in range(1 + len(c.arguments)):
                    await pace()
                yield ToolCallEvent(call=c.model_copy(update={"id": c.id or f"call_{step}_{i}"}))
            has_calls = bool(calls)
        chars = sum(len(m.content) if isinstance(m.content, str) else len(m.text) for m in messages)
        prompt = chars // 4 + 1
        cached = min(turn.cached_tokens, prompt)
        yield UsageEvent(
            usage=Usage(
                prompt_tokens=prompt,
                completion_tokens=completion,
                cached_tokens=cached,
                reasoning_tokens=thinking,
            )
        )
        yield Finish(reason="tool_calls" if has_calls else "stop")

    async def _pace(self) -> None:
        """Wait one token's time (nothing when unpaced)."""
        if self.token_delay_s > 0:
            await asyncio.sleep(self.token_delay_s)
