"""Reasoning and tool calls out of raw model text.

Small open models write tool calls in many shapes: Qwen/Hermes
``<tool_call>{...}</tool_call>`` tags, a fenced ```json block, or a bare JSON
object; reasoning models wrap their thinking in ``<think>...</think>``, or write only the
closing tag when their chat template opened the block in the prompt (QwQ,
DeepSeek-R1, Qwen3's thinking models). The `StreamParser` turns a stream of raw
text into typed events: reasoning and answer text as they arrive, tool calls
once complete. It never raises, whatever the text: output it cannot use becomes
a `MalformedToolCall` that tells the model what was wrong.
"""

from __future__ import annotations

import json
import re
from typing import Any

import json_repair

from errand.llm.types import (
    MalformedToolCall,
    ModelEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallEvent,
)

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
FENCE = "```"
_TEXT_MARKERS = (THINK_OPEN, THINK_CLOSE, CALL_OPEN, FENCE)
_TAGGED = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"```[ \t]*(?:json|JSON|tool_call|tool)?[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)


def _partial_suffix(text: str, markers: tuple[str, ...]) -> int:
    """Length of the longest end of ``text`` that could be the start of a marker."""
    best = 0
    for m in markers:
        for n in range(min(len(m) - 1, len(text)), 0, -1):
            if text.endswith(m[:n]):
                best = max(best, n)
                break
    return best


def _load_json(raw: str) -> Any:
    """Parse JSON, repairing what small models break (quotes, commas, brackets)."""
    try:
        return json.loads(raw)
    except ValueError:
        return json_repair.loads(raw)


def _as_call(obj: Any, call_id: str) -> ToolCall | str:
    """A `ToolCall` from a decoded object, or a sentence saying why it is not one."""
    if not isinstance(obj, dict):
        return f"expected a JSON object with 'name' and 'arguments', got {type(obj).__name__}"
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name = obj.get("name") or obj.get("tool") or obj.get("tool_name")
    if not isinstance(name, str) or not name.strip():
        return "the tool call has no 'name' string"
    args: Any = obj.get("arguments", obj.get("parameters", obj.get("args", {})))
    if isinstance(args, str):
        try:
            args = _load_json(args) if args.strip() else {}
        except Exception:
            return f"the arguments of {name} are not valid JSON"
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return f"the arguments of {name} must be a JSON object"
    return ToolCall(id=call_id, name=name.strip(), arguments=args)


def _decode_objects(body: str) -> list[Any]:
    """One or more JSON values from a block: an object, a list of them, or one per line."""
    body = body.strip()
    if not body:
        return []
    try:
        value = json.loads(body)
        return value if isinstance(value, list) else [value]
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    values: list[Any] = []
    pos = 0
    while pos < len(body):
        while pos < len(body) and body[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(body):
            break
        try:
            value, pos = decoder.raw_decode(body, pos)
        except ValueError:
            values.append(json_repair.loads(body[pos:]))
            break
        values.append(value)
    if len(values) == 1 and isinstance(values[0], list):
        return values[0]
    return values


class StreamParser:
    """Turns raw model text, fed in chunks, into reasoning, text and tool-call events.

    ``in_thinking`` says where the output starts: False, in the answer (a ``<think>`` block
    may open it); True, inside a think block the prompt opened (a leading ``<think>`` is
    dropped); None, not known: the text is held until a ``</think>`` says it was thinking, or
    an opening ``<think>`` or the end says it was not (a remote model seen for the first time).
    """

    def __init__(self, id_prefix: str = "call", *, in_thinking: bool | None = False) -> None:
        self._id_prefix = id_prefix
        self._buffer = ""
        self._reasoning = bool(in_thinking)
        self._leading_open = bool(in_thinking)
        """A ``<think>`` at the very start of a block the prompt opened is the model repeating it."""
        self._held: str | None = "" if in_thinking is None else None
        self.opened_by_prompt: bool | None = in_thinking
        """Whether the output began inside thinking (a ``</think>`` with no ``<think>`` before
        it); None while held text has not said."""
        self._saw_open = False
        self._capture: str | None = None
        self._emitted_text = False
        self._calls = 0

    @property
    def thinking(self) -> bool:
        """Whether the text fed now is thinking (inside a think block)."""
        return self._reasoning

    @property
    def undecided(self) -> bool:
        """Whether text is being held, not yet known to be thinking or the answer."""
        return self._held is not None

    def close_thinking(self) -> list[ModelEvent]:
        """End the thinking here (its budget is spent): what is buffered or held is thinking,
        and whatever is fed next is the answer."""
        events: list[ModelEvent] = []
        if self._held is not None:
            self._buffer, self._held = self._held + self._buffer, None
            self._reasoning = True
            self.opened_by_prompt = True
        if self._reasoning:
            self._emit_reasoning(events, self._buffer)
            self._buffer = ""
            self._reasoning = self._leading_open = False
        return events

    def _decide(self, events: list[ModelEvent]) -> bool:
        """Look at the held text; True once it is known what it was (and it is in the buffer)."""
        assert self._held is not None
        held = self._held
        head = held.lstrip()
        if head.startswith(THINK_OPEN):  # the model opens its own block: the usual path reads it
            self._buffer, self._held, self.opened_by_prompt = held, None, False
            return True
        end = held.find(THINK_CLOSE)
        if end >= 0:  # it was thinking all along: the prompt had opened the block
            self._emit_reasoning(events, held[:end])
            self._buffer, self._held, self.opened_by_prompt = held[end + len(THINK_CLOSE) :], None, True
            return True
        return False

    def feed(self, chunk: str) -> list[ModelEvent]:
        """Take the next piece of raw text; return the events it completes."""
        events: list[ModelEvent] = []
        if self._capture is not None:
            self._capture += chunk
            return events
        if self._held is not None:
            self._held += chunk
            if not self._decide(events):
                return events
        else:
            self._buffer += chunk
        while self._buffer:
            if self._reasoning:
                if self._leading_open:
                    head = self._buffer.lstrip()
                    if THINK_OPEN.startswith(head):
                        break  # nothing yet, or the start of a repeated <think>: wait
                    self._leading_open = False
                    if head.startswith(THINK_OPEN):
                        self._buffer = head[len(THINK_OPEN) :]
                        continue
                end = self._buffer.find(THINK_CLOSE)
                if end >= 0:
                    self._emit_reasoning(events, self._buffer[:end])
                    self._buffer = self._buffer[end + len(THINK_CLOSE) :]
                    self._reasoning = False
                    continue
                keep = _partial_suffix(self._buffer, (THINK_CLOSE,))
                self._emit_reasoning(events, self._buffer[: len(self._buffer) - keep])
                self._buffer = self._buffer[len(self._buffer) - keep :]
                break
            if not self._emitted_text:
                head = self._buffer.lstrip()
                if head[:1] in ("{", "["):
                    self._capture, self._buffer = self._buffer, ""
                    break
                if not head:
                    break
            hits = [(i, m) for m in _TEXT_MARKERS if (i := self._buffer.find(m)) >= 0]
            if hits:
                i, marker = min(hits)
                self._emit_text(events, self._buffer[:i])
                if marker == THINK_OPEN:
                    self._buffer = self._buffer[i + len(THINK_OPEN) :]
                    self._reasoning = self._saw_open = True
                    continue
                if marker == THINK_CLOSE:  # a closing tag never shows in an answer
                    self._buffer = self._buffer[i + len(THINK_CLOSE) :]
                    if not self._saw_open:  # the prompt opened the block: the text was thinking
                        self.opened_by_prompt = True
                    continue
                self._capture, self._buffer = self._buffer[i:], ""
                break
            keep = _partial_suffix(self._buffer, _TEXT_MARKERS)
            self._emit_text(events, self._buffer[: len(self._buffer) - keep])
            self._buffer = self._buffer[len(self._buffer) - keep :]
            break
        return events

    def finish(self) -> list[ModelEvent]:
        """End of output: flush text and return the tool calls found."""
        events: list[ModelEvent] = []
        if self._held is not None:  # no </think> came: the held text was the answer
            held, self._held, self.opened_by_prompt = self._held, None, False
            events += self.feed(held)
        if self._reasoning:  # cut off while thinking: still thinking, never the answer
            self._emit_reasoning(events, self._buffer)
            self._buffer = ""
        rest = (self._capture or "") + self._buffer
        self._capture, self._buffer = None, ""
        if rest:
            try:
                events.extend(self._parse_calls(rest))
            except Exception as exc:  # the parser must never raise; tell the model instead
                events.append(
                    MalformedToolCall(raw=rest[:500], reason=f"could not read the tool call ({exc})")
                )
        return events

    def _parse_calls(self, text: str) -> list[ModelEvent]:
        if CALL_OPEN in text:
            return self._from_blocks(text, _TAGGED, strict=True)
        if FENCE in text:
            return self._from_blocks(text, _FENCED, strict=False)
        stripped = text.strip()
        if stripped[:1] in ("{", "["):
            found = self._calls_from(stripped, strict=False)
            if found is not None:
                return found
        return [TextDelta(text=text)] if text.strip() or self._emitted_text else []

    def _from_blocks(self, text: str, pattern: re.Pattern[str], *, strict: bool) -> list[ModelEvent]:
        """Calls from every tagged or fenced block; text outside the blocks stays text."""
        events: list[ModelEvent] = []
        outside: list[str] = []
        pos = 0
        for m in pattern.finditer(text):
            found = self._calls_from(m.group(1), strict=strict)
            if found is None:
                continue
            outside.append(text[pos : m.start()])
            pos = m.end()
            events.extend(found)
        outside.append(text[pos:])
        leftover = "".join(outside)
        if not events:
            return [TextDelta(text=text)]
        if leftover.strip():
            events.insert(0, TextDelta(text=leftover))
        return events

    def _calls_from(self, body: str, *, strict: bool) -> list[ModelEvent] | None:
        """Events for one block; None when a lenient block is not a tool call at all."""
        try:
            objects = _decode_objects(body)
        except Exception:
            objects = []
        if not objects:
            if strict:
                return [MalformedToolCall(raw=body[:500], reason="the tool call is empty or not JSON")]
            return None
        events: list[ModelEvent] = []
        for obj in objects:
            result = _as_call(obj, f"{self._id_prefix}_{self._calls}")
            if isinstance(result, ToolCall):
                self._calls += 1
                events.append(ToolCallEvent(call=result))
            elif strict:
                events.append(MalformedToolCall(raw=body.strip()[:500], reason=result))
            else:
                return None
        return events

    def _emit_text(self, events: list[ModelEvent], text: str) -> None:
        if text:
            if not self._emitted_text:
                text = text.lstrip()
                if not text:
                    return
            self._emitted_text = True
            events.append(TextDelta(text=text))

    @staticmethod
    def _emit_reasoning(events: list[ModelEvent], text: str) -> None:
        if text:
            events.append(ReasoningDelta(text=text))


def parse_output(text: str, id_prefix: str = "call") -> list[ModelEvent]:
    """Parse a whole model output at once (non-streaming backends, tests)."""
    parser = StreamParser(id_prefix)
    return parser.feed(text) + parser.finish()
