"""Tool calls and reasoning out of raw model text, in every shape small models write."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from errand.llm.parsing import StreamParser, parse_output
from errand.llm.types import MalformedToolCall, ReasoningDelta, TextDelta, ToolCallEvent


def calls(events: list[object]) -> list[tuple[str, dict[str, object]]]:
    return [(e.call.name, e.call.arguments) for e in events if isinstance(e, ToolCallEvent)]


def text(events: list[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_hermes_tags() -> None:
    out = parse_output('<tool_call>\n{"name": "search", "arguments": {"city": "杭州", "n": 3}}\n</tool_call>')
    assert calls(out) == [("search", {"city": "杭州", "n": 3})] and text(out) == ""


def test_several_tagged_calls_and_surrounding_text() -> None:
    out = parse_output(
        'Checking both.\n<tool_call>{"name": "a", "arguments": {}}</tool_call>\n'
        '<tool_call>{"name": "b", "arguments": {"x": 1}}</tool_call>'
    )
    assert calls(out) == [("a", {}), ("b", {"x": 1})] and text(out).strip() == "Checking both."


def test_fenced_and_bare_json() -> None:
    assert calls(parse_output('```json\n{"name": "a", "arguments": {"k": "v"}}\n```')) == [("a", {"k": "v"})]
    assert calls(parse_output('{"name": "a", "arguments": "{\\"k\\": 2}"}')) == [("a", {"k": 2})]
    assert calls(parse_output('{"function": {"name": "a", "arguments": {}}}')) == [("a", {})]
    assert calls(parse_output('[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]')) == [
        ("a", {}),
        ("b", {}),
    ]


@pytest.mark.parametrize(
    "raw",
    [
        "```json\n{A}\n{B}\n```",
        "```json\n{A},\n{B}\n```",
        "```json\n[{A}, {B}]\n```",
        "```json\n{A}\n```\n\n```json\n{B}\n```",
        "```\n{A}\n```\n```\n{B}\n```",
        "{A}\n{B}",
        "{A},\n{B}",
        "[{A},\n{B}]",
    ],
)
def test_several_fenced_or_bare_calls(raw: str) -> None:
    """Every shape of several calls the embedded grammar admits, in order, with no text left."""
    a = json.dumps({"name": "get_weather", "arguments": {"city": "Oslo"}})
    b = json.dumps({"name": "get_weather", "arguments": {"city": "Helsinki"}})
    out = parse_output(raw.replace("{A}", a).replace("{B}", b))
    assert calls(out) == [("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Helsinki"})]
    assert text(out).strip() == "" and not [e for e in out if isinstance(e, MalformedToolCall)]
    ids = [e.call.id for e in out if isinstance(e, ToolCallEvent)]
    assert len(set(ids)) == 2


def test_broken_json_is_repaired() -> None:
    out = parse_output("<tool_call>{'name': 'a', 'arguments': {'city': 'Hangzhou', 'n': 3,}</tool_call>")
    assert calls(out) == [("a", {"city": "Hangzhou", "n": 3})]


def test_unusable_tagged_call_says_why() -> None:
    (bad,) = parse_output('<tool_call>{"arguments": {"x": 1}}</tool_call>')
    assert isinstance(bad, MalformedToolCall) and "name" in bad.reason
    (bad2,) = parse_output('<tool_call>{"name": "a", "arguments": [1, 2]}</tool_call>')
    assert isinstance(bad2, MalformedToolCall) and "object" in bad2.reason


def test_code_and_json_answers_stay_text() -> None:
    code = "Here:\n```python\nprint(1)\n```"
    assert text(parse_output(code)) == code and calls(parse_output(code)) == []
    assert text(parse_output('{"answer": 42}')) == '{"answer": 42}'


def test_reasoning_is_separated_from_the_answer() -> None:
    out = parse_output("<think>compare prices</think>\nBuy HZ-1.")
    assert "".join(e.text for e in out if isinstance(e, ReasoningDelta)) == "compare prices"
    assert text(out).strip() == "Buy HZ-1."


def test_text_streams_before_the_end() -> None:
    p = StreamParser()
    first = p.feed("The best value is ")
    assert text(first) == "The best value is "
    held = p.feed("HZ-1 <tool")  # could be the start of a tag: held back
    assert text(held) == "HZ-1 "
    assert text(p.feed("s are great")) == "<tools are great"


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list('<>{}[]":,`\\ \nabc/tool_call think json name arguments 1')),
        max_size=200,
    )
)
def test_parser_never_raises(raw: str) -> None:
    events = parse_output(raw)
    for e in events:
        assert isinstance(e, TextDelta | ReasoningDelta | ToolCallEvent | MalformedToolCall)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises_on_any_unicode(raw: str) -> None:
    parse_output(raw)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(
        [
            'Intro <think>plan</think> text <tool_call>{"name": "a", "arguments": {"q": "x"}}</tool_call>',
            '```json\n{"name": "b", "arguments": {"n": 1}}\n```',
            "Plain answer with numbers 5,800,000 and 580万.",
            '{"name": "c", "arguments": {}}',
        ]
    ),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
)
def test_any_chunking_gives_the_same_result(raw: str, cuts: list[int]) -> None:
    p = StreamParser()
    events: list[object] = []
    pos = 0
    for n in cuts:
        events += p.feed(raw[pos : pos + n])
        pos += n
    events += p.feed(raw[pos:])
    events += p.finish()
    whole = parse_output(raw)
    assert calls(events) == calls(whole)
    assert text(events) == text(whole)
    assert json.dumps([e.text for e in events if isinstance(e, ReasoningDelta)] and "x") == json.dumps(
        [e.text for e in whole if isinstance(e, ReasoningDelta)] and "x"
    )
