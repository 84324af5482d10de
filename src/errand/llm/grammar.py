"""The grammars the embedded backend decodes under: tool calls, plain text, a think block.

llama.cpp runs them through llguidance (Lark syntax, with ``%json`` for a JSON schema). A call
is JSON of one offered tool's schema; see `tool_call_grammar` for the shapes it may take.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any, Literal

from errand.llm.types import ToolSpec

JSON_STYLE = {
    # The separators ``json.dumps`` and the chat template's ``tojson`` use, so a
    # generated call is byte-identical to the same call rendered back in history.
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
    # Ignore schema keywords llguidance does not implement instead of failing:
    # a grammar that fails to compile is silently dropped by llama.cpp.
    "lenient": True,
}
TEXT_RULE = r"/[^<`{\s][^`{]*/"
"""A plain answer: never starts with ``<``, ``{``, a backtick or a space, and holds no
``{`` or backtick, so the model cannot slip a half-formed call into its answer."""


def _rebase_refs(node: Any, moved: frozenset[str]) -> Any:
    """Point local ``$ref``s of a parameters schema at their new home under ``arguments``."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                head = value[1:].split("/")[1] if value.startswith("#/") else ""
                out[key] = value if head in moved else "#/properties/arguments" + value[1:]
            else:
                out[key] = _rebase_refs(value, moved)
        return out
    if isinstance(node, list):
        return [_rebase_refs(v, moved) for v in node]
    return node


def call_schema(tool: ToolSpec) -> dict[str, Any]:
    """The JSON schema of one call of ``tool``: ``{"name": const, "arguments": parameters}``.

    ``$defs``/``definitions`` move to the top so pydantic's ``#/$defs/...`` refs
    still resolve; other local refs are rewritten to point inside ``arguments``.
    """
    params = copy.deepcopy(tool.decode_parameters or tool.parameters) or {"type": "object"}
    defs = {k: params.pop(k) for k in ("$defs", "definitions") if k in params}
    params = _rebase_refs(params, frozenset(defs))
    if params.get("type") == "object" and "properties" in params:
        # Only the tool's own arguments: without this a small model invents extra keys
        # and can run on until the token limit. (Prompts omit it to stay short.)
        params.setdefault("additionalProperties", False)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"name": {"const": tool.name}, "arguments": params},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }
    schema.update(_rebase_refs(defs, frozenset(defs)))
    schema["x-guidance"] = JSON_STYLE
    return schema


ThinkMode = Literal["none", "open", "optional"]
"""Where a think block may stand in the output: ``none``, nowhere (the model does not think, or
its prompt closed the block); ``open``, the prompt opened it, so the output starts inside it
(QwQ, DeepSeek-R1); ``optional``, the model may open one first (Qwen3)."""

_THOUGHT = r"thought[lazy]: /(.|\n)*<\/think>/"
"""The thinking, up to and with the first ``</think>`` (lazy: it ends there)."""


def thinking_first(start: str, think: ThinkMode) -> list[str]:
    """The grammar's ``start`` rule: ``start`` alone, or after the think block ``think`` admits
    (closed by ``</think>`` and a blank line, as Qwen's and DeepSeek's templates write it)."""
    if think == "none":
        return [f"start: {start}"]
    block = r'thought "\n\n" answer'
    first = block if think == "open" else f'"<think>" {block} | answer'
    return [f"start: {first}", f"answer: {start}", _THOUGHT]


def tool_call_grammar(
    tools: Sequence[ToolSpec], *, required: bool = False, max_calls: int = 1, think: ThinkMode = "none"
) -> str:
    """An llguidance (Lark) grammar for one turn: up to ``max_calls`` tool calls, or (unless
    ``required``) a text answer; first a think block where ``think`` admits one.

    Every call is JSON matching exactly one offered tool. ``required`` admits only
    ``<tool_call>`` blocks joined by a newline, the way the Qwen/Hermes chat templates render
    calls (a generated call is then byte-identical to the history the next step renders).
    Otherwise the calls may also take the shapes small models write by habit, which a
    tags-only grammar turns into a prose answer instead (the bundled Qwen Coder models write
    fenced ```json far more often than tags): a fenced block, or bare JSON at the very
    start. Several calls share one shape: tag after tag, one fence holding one call per line
    or a JSON list, one fence per call, or bare calls one per line or in a list.
    `StreamParser` reads all of these.
    """
    if not tools:
        raise ValueError("a tool-call grammar needs at least one tool")
    more = max(1, max_calls) - 1

    def several(item: str, sep: str) -> str:
        """``item``, then up to ``more`` more of it, each after ``sep``."""
        return item + (f" ({sep} {item}){{0,{more}}}" if more else "")

    names = " | ".join(f"call_{i}" for i in range(len(tools)))
    lines = ["%llguidance {}"]
    if required:
        lines += thinking_first("tagged", think)
    else:
        group = several("call", r'"\n"')
        fenced = r'FENCE group "\n```"'
        if more:
            group += f' | "[" {several("call", chr(34) + ", " + chr(34))} "]"'  # the JSON style's separator
            fenced += f" | fence (SEP fence){{1,{more}}}"
        lines += thinking_first("tagged | fenced | bare | text", think)
        lines += [
            f"fenced: {fenced}",
            r'fence: FENCE call "\n```"',
            "bare: group",
            f"group: {group}",
            r"FENCE: /```(json)?\n/",
            r"SEP: /\n\n?/",
            f"text: {TEXT_RULE}",
        ]
    lines += [
        "tagged: " + several("tag", r'"\n"'),
        r'tag: "<tool_call>\n" call "\n</tool_call>"',
        f"call: {names}",
    ]
    lines += [
        f"call_{i}: %json {json.dumps(call_schema(t), ensure_ascii=False)}" for i, t in enumerate(tools)
    ]
    return "\n".join(lines) + "\n"


def text_grammar(think: ThinkMode = "none") -> str:
    """A grammar for a plain-text answer (`TEXT_RULE`), after the think block ``think`` admits."""
    return "\n".join(["%llguidance {}", *thinking_first("text", think), f"text: {TEXT_RULE}", ""])


def planned_call_grammar(tools: Sequence[ToolSpec], plan: Sequence[str], *, think: ThinkMode = "none") -> str:
    """A grammar for a turn whose calls were decided before it: exactly the calls of ``plan``
    (tool names, one per call, repeats allowed), in that order, each JSON of its tool's schema;
    a text answer when ``plan`` is empty.

    The calls take any shape `tool_call_grammar` admits under ``auto`` (tags, one fence, one
    fence per call, bare JSON), but no text: the decision said a call is needed.
    """
    if not plan:
        return text_grammar(think)
    index = {t.name: i for i, t in enumerate(tools)}
    unknown = [name for name in plan if name not in index]
    if unknown:
        raise ValueError(f"planned calls of tools not offered: {', '.join(unknown)}")
    calls = [f"call_{index[name]}" for name in plan]

    def joined(item: str, sep: str) -> str:
        """``item`` (with ``{}`` standing for a call) for each planned call, joined by ``sep``."""
        return f" {sep} ".join(item.format(c) for c in calls)

    group = joined("{}", r'"\n"')
    fenced = r'FENCE group "\n```"'
    if len(calls) > 1:
        group += f' | "[" {joined("{}", chr(34) + ", " + chr(34))} "]"'  # the JSON style's separator
        fenced += " | " + joined(r'FENCE {} "\n```"', "SEP")
    lines = ["%llguidance {}", *thinking_first("tagged | fenced | bare", think)]
    lines += [
        "tagged: " + joined(r'"<tool_call>\n" {} "\n</tool_call>"', r'"\n"'),
        f"fenced: {fenced}",
        "bare: group",
        f"group: {group}",
        r"FENCE: /```(json)?\n/",
        r"SEP: /\n\n?/",
    ]
    lines += [
        f"call_{i}: %json {json.dumps(call_schema(t), ensure_ascii=False)}"
        for i, t in enumerate(tools)
        if f"call_{i}" in calls
    ]
    return "\n".join(lines) + "\n"
