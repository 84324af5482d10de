"""Reasoning models: thinking in each shape, its budget, the off switch, on the embedded backend
(with a stand-in for llama.cpp) and the scripted model. The OpenAI-compatible backend's shapes
are tested against a fake server in ``test_openai_compat.py``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from errand.llm.base import collect
from errand.llm.embedded import EmbeddedModel
from errand.llm.grammar import tool_call_grammar
from errand.llm.parsing import StreamParser, parse_output
from errand.llm.scripted import ScriptedModel, ScriptedTurn
from errand.llm.thinking import CLOSED_THINK, STOP_SENTENCE, STOP_THINKING
from errand.llm.types import (
    Message,
    ModelEvent,
    ModelSettings,
    ReasoningDelta,
    TextDelta,
    ToolCallEvent,
    ToolSpec,
    Usage,
)
from tests.llm.conftest import WEATHER
from tests.llm.test_grammar import rules

CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def thought(events: Sequence[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def answer(events: Sequence[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def fed(parser: StreamParser, text: str, size: int = 3) -> list[ModelEvent]:
    """``text`` fed in pieces of ``size`` characters, then the end."""
    out: list[ModelEvent] = []
    for i in range(0, len(text), size):
        out += parser.feed(text[i : i + size])
    return out + parser.finish()


# -- the parser: every shape of thinking in text -------------------------------


def test_thinking_opened_by_the_prompt_ends_at_its_closing_tag() -> None:
    out = fed(StreamParser(in_thinking=True), "compare prices\n</think>\n\nBuy HZ-1.")
    assert thought(out) == "compare prices\n" and answer(out) == "Buy HZ-1."
    repeated = fed(StreamParser(in_thinking=True), "<think>\ncompare</think>\n\nBuy.")
    assert thought(repeated) == "\ncompare" and answer(repeated) == "Buy."  # the repeated tag is dropped


def test_held_text_is_thinking_when_a_closing_tag_comes_else_the_answer() -> None:
    parser = StreamParser(in_thinking=None)
    assert parser.feed("compare ") == [] and parser.undecided  # nothing shown while it may be either
    out = fed(parser, "prices</think>\n\nBuy HZ-1.")
    assert thought(out) == "compare prices" and answer(out) == "Buy HZ-1." and parser.opened_by_prompt
    plain = StreamParser(in_thinking=None)
    out = fed(plain, "Buy HZ-1, it is cheaper.")
    assert answer(out) == "Buy HZ-1, it is cheaper." and plain.opened_by_prompt is False
    tagged = StreamParser(in_thinking=None)
    out = tagged.feed("<think>compare")  # a model that opens its own block decides at once
    assert thought(out) == "compare" and tagged.opened_by_prompt is False


def test_a_closing_tag_never_shows_in_an_answer() -> None:
    parser = StreamParser()
    out = fed(parser, "compare</think>\n\nBuy HZ-1.")
    assert "</think>" not in answer(out) and answer(out).endswith("Buy HZ-1.")
    assert parser.opened_by_prompt  # what the backend learns: next time, start inside the thinking


def test_thinking_cut_off_is_still_thinking_and_a_call_after_it_is_parsed() -> None:
    out = fed(StreamParser(in_thinking=True), "compare prices of HZ-1 and")
    assert thought(out) == "compare prices of HZ-1 and" and answer(out) == ""
    out = fed(StreamParser(in_thinking=True), "weather needed</think>\n\n" + CALL)
    assert [e.call.name for e in out if isinstance(e, ToolCallEvent)] == ["get_weather"]


def test_closing_the_thinking_makes_what_follows_the_answer() -> None:
    parser = StreamParser(in_thinking=None)
    held = parser.feed("still thinking about </th")
    closed = parser.close_thinking()
    assert held == [] and thought(closed) == "still thinking about </th" and parser.opened_by_prompt
    rest = parser.feed("It is sunny.") + parser.finish()
    assert answer(rest) == "It is sunny." and thought(rest) == ""


# -- usage ------------------------------------------------------------------------


def test_usage_adds_up_and_splits_thinking_from_answer() -> None:
    step = Usage(prompt_tokens=100, completion_tokens=40, reasoning_tokens=30)
    both = step + Usage(prompt_tokens=10, completion_tokens=5, cached_tokens=3)
    assert (both.prompt_tokens, both.completion_tokens, both.cached_tokens, both.reasoning_tokens) == (
        110,
        45,
        3,
        30,
    )
    assert step.answer_tokens == 10 and both.answer_tokens == 15


# -- the embedded backend, with a stand-in for llama.cpp's completion handler ---------------


class FakeServer:
    """Plays llama.cpp's ``handle_completions``: streams each reply one piece a chunk until the
    consumer says stop, then a last chunk with timings; records every body."""

    def __init__(self, *replies: Callable[[dict[str, Any]], list[str]]) -> None:
        self.replies = list(replies)
        self.bodies: list[dict[str, Any]] = []
        self.sent: list[int] = []
        """Pieces each request streamed before it ended or was stopped."""

    def handle_completions(self, body: dict[str, Any], on_chunk: Callable[[dict[str, Any]], bool]) -> None:
        self.bodies.append(body)
        pieces = self.replies.pop(0)(body)
        sent = 0
        for piece in pieces:
            sent += 1
            time.sleep(0.01)  # a token's time, so a stop can arrive before the end
            if on_chunk({"choices": [{"text": piece, "finish_reason": None}]}):
                self.sent.append(sent)
                return
        self.sent.append(sent)
        on_chunk(
            {
                "choices": [{"text": "", "finish_reason": "stop"}],
                "timings": {"prompt_n": 20, "cache_n": len(body["prompt"]) - 20, "predicted_n": len(pieces)},
            }
        )


def embedded_model(server: FakeServer, template: str, *, thinks: bool = True, **kwargs: Any) -> EmbeddedModel:
    """An embedded model whose llama.cpp is ``server`` and whose template renders ``template``
    (``{}`` marks where the conversation goes) and writes ``<think>`` somewhere if ``thinks``;
    nothing is loaded."""
    model = EmbeddedModel(Path("/nonexistent.gguf"), **kwargs)
    model._server = server  # `load` sees a loaded model
    model._template_thinks = thinks
    model.render_prompt = lambda messages, tools=(): template.format(messages[-1].text)  # type: ignore[method-assign]
    return model


def words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p + " " for p in parts[:-1]] + [parts[-1]]


async def test_embedded_thinking_past_its_budget_is_closed_and_the_model_calls_a_tool() -> None:
    server = FakeServer(lambda body: words(" ".join(f"w{i}" for i in range(100))), lambda body: [CALL])
    model = embedded_model(server, "<|user|>{}<|assistant|><think>\n", max_thinking_tokens=5)
    settings = ModelSettings(max_tokens=64)
    response = await collect(model.stream([Message(role="user", content="Paris?")], [WEATHER], settings))
    first, again = server.bodies
    assert server.sent[0] < 20  # generation stopped at the budget (give or take a token), not at the end
    assert first["n_predict"] == 64 + 5  # the answer does not pay for the thinking
    # The output starts inside the block the template opened: the grammar admits the thinking first.
    assert rules(first["grammar"])["start"] == 'thought "\\n\\n" answer'
    assert again["prompt"] == "<|user|>Paris?<|assistant|><think>\nw0 w1 w2 w3 w4 " + STOP_THINKING
    assert again["n_predict"] == 64 and rules(again["grammar"])["start"] == "tagged | fenced | bare | text"
    assert response.reasoning == "w0 w1 w2 w3 w4 \n\n" + STOP_SENTENCE
    assert [c.name for c in response.tool_calls] == ["get_weather"] and response.text == ""
    assert response.usage.reasoning_tokens == 5 and response.usage.completion_tokens == 5 + 1
    assert response.finish_reason == "tool_calls"


async def test_embedded_thinking_within_budget_is_counted_and_never_the_answer() -> None:
    server = FakeServer(lambda body: ["<think>", "\n", "sunny", " there", "</think>", "\n\n", "It is sunny."])
    model = embedded_model(server, "<|user|>{}<|assistant|>", max_thinking_tokens=50)  # Qwen3 opens none
    response = await collect(
        model.stream([Message(role="user", content="Paris?")], [WEATHER], ModelSettings())
    )
    assert response.reasoning == "\nsunny there" and response.text == "It is sunny."
    assert response.usage.reasoning_tokens == 4 and len(server.bodies) == 1
    assert rules(server.bodies[0]["grammar"])["start"] == '"<think>" thought "\\n\\n" answer | answer'


async def test_embedded_model_that_does_not_think_gets_the_plain_grammar() -> None:
    server = FakeServer(lambda body: ["It is sunny."])
    model = embedded_model(server, "<|user|>{}<|assistant|>", thinks=False, max_thinking_tokens=50)
    response = await collect(
        model.stream([Message(role="user", content="Paris?")], [WEATHER], ModelSettings())
    )
    body = server.bodies[0]
    assert (
        rules(body["grammar"])["start"] == "tagged | fenced | bare | text"
        and "thought" not in body["grammar"]
    )
    assert body["n_predict"] == ModelSettings().max_tokens and response.usage.reasoning_tokens == 0


@pytest.mark.parametrize(
    ("template", "closed"),
    [
        ("<|assistant|><think>\n", "<|assistant|>" + CLOSED_THINK),  # QwQ: the template opened it
        ("<|assistant|>", "<|assistant|>" + CLOSED_THINK),  # Qwen3: as enable_thinking false writes it
    ],
)
def test_thinking_off_closes_the_block_in_the_prompt(template: str, closed: str) -> None:
    model = embedded_model(FakeServer(), template + "{}", thinking="off")
    assert model.shape_prompt(template) == (closed, "none")
    on = embedded_model(FakeServer(), template + "{}")
    assert on.shape_prompt(template)[1] in ("open", "optional")
    assert on.shape_prompt(template, structured=True) == (closed, "none")  # a reply held to a schema


def test_thinking_on_admits_a_block_whatever_the_template_says() -> None:
    model = embedded_model(FakeServer(), "<|assistant|>{}", thinks=False, thinking="on")
    assert model.shape_prompt("<|assistant|>") == ("<|assistant|>", "optional")


def test_every_grammar_admits_the_thinking_first_where_it_may_stand() -> None:
    for think, start in (
        ("open", 'thought "\\n\\n" answer'),
        ("optional", '"<think>" thought "\\n\\n" answer | answer'),
    ):
        for required, body in ((False, "tagged | fenced | bare | text"), (True, "tagged")):
            g = rules(tool_call_grammar([WEATHER], required=required, think=think))  # type: ignore[arg-type]
            assert (g["start"], g["answer"]) == (start, body)
    lines = tool_call_grammar([WEATHER], think="open").splitlines()
    # lazy: the thinking ends at the first </think>, and cannot run past it
    assert r"thought[lazy]: /(.|\n)*<\/think>/" in lines
    model = EmbeddedModel(Path("/nonexistent.gguf"))
    nothing_callable = ToolSpec(name="x", description="x", parameters={"type": "object"}, callable=False)
    text_only = model.completion_request("p", [nothing_callable], ModelSettings(), think="open")["grammar"]
    assert rules(text_only)["start"] == 'thought "\\n\\n" answer' and rules(text_only)["answer"] == "text"


# -- the scripted model ---------------------------------------------------------------


async def test_scripted_thinking_is_counted_and_cut_at_its_budget() -> None:
    model = ScriptedModel(
        [
            ScriptedTurn(reasoning="one two three four five six", text="Sunny."),
            ScriptedTurn(raw="<think>one two three four five six</think>\n\nSunny again."),
            ScriptedTurn(raw="one two three four five six</think>\n\nStill sunny.", thinking_opened=True),
        ],
        max_thinking_tokens=3,
    )
    for expected in ("Sunny.", "Sunny again.", "Still sunny."):
        response = await collect(model.stream([Message(role="user", content="Paris?")], [], ModelSettings()))
        assert (
            response.reasoning.replace(" ", "").startswith("onetwothree") and "four" not in response.reasoning
        )
        assert response.reasoning.endswith(STOP_SENTENCE)
        assert response.text == expected and response.usage.reasoning_tokens == 3


def test_no_thinking_parses_as_before() -> None:
    out = parse_output("Buy HZ-1.")
    assert answer(out) == "Buy HZ-1." and thought(out) == ""
