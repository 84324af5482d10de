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

Whether to call at all is not the model's argmax but a threshold on a probability. The answer is
started as ``{"calls":`` in the prompt and the model's next-token probabilities are read there
(llama.cpp's ``n_probs``: softmax of the raw logits): the share of ``" []"`` among the tokens the
decision's grammar admits at that position (``" []"``, ``" [{\""``, ``" [{"``, ``" ["``) is
`no_call_probability`. At or above `NO_CALL_THRESHOLD` the turn makes no call; below it the
decision goes on with the empty list excluded. The 1.5B's argmax names a tool for "can u cancel
my flight to paris on friday" with a flight search offered (``" [{\""`` 0.44, ``" []"`` 0.23),
but on the dev cases (``bench/function_calling_dev.yaml``) requests that need a tool score 0.04
to 0.31 (one 0.49) and those no tool serves 0.24 to 0.64: a threshold separates more of them
than the argmax does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from errand.llm.types import Message, ModelSettings, ToolSpec, Usage

OPEN = '{"calls":'
"""What the decision's answer starts with, written into its prompt; the choice of no call or
calls is the next token's."""
LIST = " ["
"""What follows `OPEN` in every decision; ``]`` or ``{`` after it is the choice."""
NO_CALL_THRESHOLD = 0.34
"""`no_call_probability` at or above which a turn makes no call: chosen on the 45 dev cases
(``bench/function_calling_scores.py``) among the thresholds that get the most of them right with
0.02 to spare either side, midway between the nearest two dev scores (0.321 and 0.359); every dev
single case still calls (docs/benchmarks.md)."""
TOP_TOKENS = 20
"""Next-token probabilities asked of llama.cpp at the choice (``n_probs``)."""

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


def decision_grammar(tools: Sequence[ToolSpec], max_calls: int, *, empty: bool = True) -> str:
    """An llguidance grammar for the decision after `OPEN` (which the prompt ends with): ``
    [...]}`` with up to ``max_calls`` entries, each a callable tool's name (repeats allowed) and
    a few words on what the call is for, in the JSON style calls are written in; at least one
    entry unless ``empty``."""
    names = [t.name for t in tools if t.callable]
    if not names:
        raise ValueError("a decision needs at least one callable tool")
    more = max(1, max_calls) - 1
    name = " | ".join(json.dumps(json.dumps(n, ensure_ascii=False), ensure_ascii=False) for n in names)
    entries = "entry" + (f' (", " entry){{0,{more}}}' if more else "")
    return "\n".join(
        [
            "%llguidance {}",
            f'start: " [" ({entries}){"?" if empty else ""} "]}}"',
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


def no_call_probability(top: Sequence[tuple[str, float]]) -> float | None:
    """The probability that a decision makes no call, from the next tokens after `OPEN` and
    their log-probabilities (llama.cpp's ``top_logprobs``): the mass of ``" []..."`` over that of
    every token the grammar admits there (``" [" then "]"``, ``"{"`` or nothing yet); None when
    none of them is among ``top``."""
    empty = admitted = 0.0
    for token, logprob in top:
        if not token.startswith(LIST):
            continue
        rest = token[len(LIST) :]
        if rest[:1] in ("", "]", "{"):
            admitted += math.exp(logprob)
            if rest.startswith("]"):
                empty += math.exp(logprob)
    return empty / admitted if admitted > 0 else None


def top_logprobs(chunk: dict[str, Any]) -> list[tuple[str, float]]:
    """The most likely tokens at a streamed chunk's token and their log-probabilities (llama.cpp's
    answer to ``n_probs``: softmax of the raw logits, before any grammar); [] where it has none."""
    choices = chunk.get("choices") or [{}]
    content = (choices[0].get("logprobs") or {}).get("content") or [{}]
    return [
        (str(t.get("token", "")), float(t["logprob"]))
        for t in content[0].get("top_logprobs") or []
        if isinstance(t, dict) and isinstance(t.get("logprob"), (int, float))
    ]


@dataclass
class Decision:
    """What a turn decided before it was written."""

    calls: list[str] | None
    """One tool name per call ([]: no call), or None when the model gave no whole answer."""
    no_call_probability: float | None = None
    """`no_call_probability` at the choice (None: not read)."""
    usage: Usage = field(default_factory=Usage)
    """What deciding used (counted in the turn's usage)."""


def read_decision(text: str, tools: Sequence[ToolSpec]) -> list[str] | None:
    """The calls a decision names, in order; None when it is not a whole decision (cut short).
    ``text`` is the whole answer, `OPEN` included."""
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
