"""Deciding a turn's calls before writing them: one short generation under a grammar.

A small model offered tools starts a call on requests no tool can serve as readily as on those
one can, and writes the first of several calls it was asked for and stops. Asked first, in a
question of its own, which of the tools the request needs, it answers both better: the answer is
a JSON object with one entry per call, the tool (a name from an enum, repeats allowed) and a few
words on what the call is for (``{"calls": [{"tool": "get_weather", "for": "Oslo"}, {"tool":
"get_weather", "for": "Rome"}]}``; ``[]`` when no tool fits), and the turn is then generated
under `errand.llm.grammar.planned_call_grammar`: exactly those calls, or text.

Naming what each call is for is what makes the count right: asked for tool names alone, the
1.5B appended a second, unrelated tool to one it needed (5 of 10 requests needing calls right,
against 9 of 10 with ``for``, on prompts written for this, not the benchmark's).

The question is a user message after the conversation, so its prompt shares the conversation's
prefix with the turn's own prompt and llama.cpp's prompt cache evaluates that prefix once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from errand.llm.types import Message, ModelSettings, ToolSpec

QUESTION = (
    "Before you reply, decide which tool calls my last message needs.\n\n"
    "Tools:\n{tools}\n\n"
    "Answer with JSON: one entry per call to make, its tool and the thing it is for (one call per "
    "city, item or number I asked about). "
    'Answer {{"calls": []}} if none of these tools can do what I asked.'
)
"""The decision's question; ``{tools}`` is one line per offered tool, its name and description."""


def wants_decision(tools: Sequence[ToolSpec], settings: ModelSettings) -> bool:
    """Whether a turn decides its calls first: ``auto`` with several calls allowed (the gateway's
    requests; the agent leaves ``max_tool_calls`` unset and is not changed), tools to call, and
    no structured reply."""
    return (
        settings.tool_choice == "auto"
        and (settings.max_tool_calls or 1) > 1
        and settings.response_format is None
        and any(t.callable for t in tools)
    )


def _line(tool: ToolSpec) -> str:
    first = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
    return f"- {tool.name}: {first}" if first else f"- {tool.name}"


def decision_messages(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[Message]:
    """The conversation with the decision's question after it (callable tools only)."""
    listed = "\n".join(_line(t) for t in tools if t.callable)
    return [*messages, Message(role="user", content=QUESTION.format(tools=listed))]


def decision_grammar(tools: Sequence[ToolSpec], max_calls: int) -> str:
    """An llguidance grammar for the decision: ``{"calls": [...]}`` with up to ``max_calls``
    entries, each a callable tool's name (repeats allowed) and a few words on what the call is
    for, in the JSON style calls are written in."""
    names = [t.name for t in tools if t.callable]
    if not names:
        raise ValueError("a decision needs at least one callable tool")
    more = max(1, max_calls) - 1
    name = " | ".join(json.dumps(json.dumps(n, ensure_ascii=False), ensure_ascii=False) for n in names)
    entries = "entry" + (f' (", " entry){{0,{more}}}' if more else "")
    return "\n".join(
        [
            "%llguidance {}",
            f'start: "{{\\"calls\\": [" ({entries})? "]}}"',
            r'entry: "{\"tool\": " name ", \"for\": \"" FOR "\"}"',
            f"name: {name}",
            r'FOR: /[^"\\\n]{1,40}/',
            "",
        ]
    )


def decision_tokens(max_calls: int) -> int:
    """New tokens for a decision: per entry a name (rarely over 12 tokens), a few words of
    ``for`` and the punctuation. A decision cut short is not read (the turn's usual grammar
    applies)."""
    return 8 + 40 * max(1, max_calls)


def read_decision(text: str, tools: Sequence[ToolSpec]) -> list[str] | None:
    """The calls a decision names, in order; None when it is not a whole decision (cut short)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    calls = data.get("calls") if isinstance(data, dict) else None
    names = {t.name for t in tools if t.callable}
    if not isinstance(calls, list):
        return None
    tools_named = [c.get("tool") if isinstance(c, dict) else c for c in calls]
    if not all(isinstance(n, str) and n in names for n in tools_named):
        return None
    return [str(n) for n in tools_named]
