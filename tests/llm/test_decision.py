"""Deciding a gateway turn's calls first (``errand.llm.decision``), with no model: the decision's
grammar and reading, the no-call probability and its threshold, the grammar of the turn it plans,
and the embedded backend asking first only where the gateway allows several calls (llama.cpp
played by the stand-in of ``test_thinking``, which here also answers ``n_probs``)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from errand.llm.base import collect
from errand.llm.decision import (
    NO_CALL_THRESHOLD,
    OPEN,
    decision_grammar,
    decision_messages,
    no_call_probability,
    read_decision,
    top_logprobs,
    wants_decision,
)
from errand.llm.grammar import TEXT_RULE, planned_call_grammar
from errand.llm.types import Message, ModelSettings, ToolSpec
from tests.llm.conftest import WEATHER
from tests.llm.test_grammar import TIME, rules
from tests.llm.test_thinking import FakeServer, embedded_model

LOCKED = ToolSpec(
    name="get_listing", description="One listing.", parameters={"type": "object"}, callable=False
)
GATEWAY = ModelSettings(max_tool_calls=4)


def test_the_decision_names_callable_tools_repeats_allowed_up_to_the_bound() -> None:
    g = rules(decision_grammar([WEATHER, TIME, LOCKED], 3))
    assert g["start"] == '" [" (entry (", " entry){0,2})? "]}"'  # after OPEN, which the prompt ends with
    assert g["entry"] == '"{\\"tool\\": " name ", \\"for\\": \\"" FOR "\\"}"'
    assert g["name"] == '"\\"get_weather\\"" | "\\"get_time\\""'  # not the tool that cannot be called yet
    assert g["FOR"] == r'/[^"\\\n]{1,40}/'  # a few words, no quote to end the string early
    assert rules(decision_grammar([WEATHER], 1))["start"] == '" [" (entry)? "]}"'
    calls = rules(decision_grammar([WEATHER], 3, empty=False))["start"]
    assert calls == '" [" (entry (", " entry){0,2}) "]}"'  # below the threshold: at least one call


def test_the_no_call_probability_is_the_empty_list_among_what_the_grammar_admits() -> None:
    top = [(' [{"', 0.5), (" []", 0.2), (" [\n", 0.2), (" [", 0.05), (" [{", 0.05), ("```", 0.3)]
    # " [\n" and "```" cannot follow OPEN under the grammar; " [" may still become either.
    assert no_call_probability([(t, math.log(p)) for t, p in top]) == pytest.approx(0.2 / 0.8)
    assert no_call_probability([(" []}", 0.0)]) == 1.0
    assert no_call_probability([("```", -0.1), (" [\n", -2.0)]) is None  # nothing to read


def test_top_logprobs_are_read_from_llama_cpp_chunks() -> None:
    chunk = {"choices": [{"text": " [", "logprobs": {"content": [{"token": " [", "top_logprobs": TOP}]}}]}
    assert top_logprobs(chunk) == [(" []", -1.0), (' [{"', -0.5)]
    assert top_logprobs({"choices": [{"text": "x", "finish_reason": None}]}) == []


TOP = [{"id": 1, "token": " []", "logprob": -1.0}, {"id": 2, "token": ' [{"', "logprob": -0.5}]


def test_a_decision_is_read_only_when_whole_and_of_offered_tools() -> None:
    tools = [WEATHER, TIME]
    two = '{"calls": [{"tool": "get_weather", "for": "Oslo"}, {"tool": "get_weather", "for": "Rome"}]}'
    assert read_decision(two, tools) == ["get_weather", "get_weather"]
    assert read_decision('{"calls": []}', tools) == []
    assert read_decision('{"calls": [{"tool": "get_weather", "for": "Oslo"}, {"tool": "get_ti', tools) is None
    assert read_decision('{"calls": [{"tool": "send_email", "for": "Bob"}]}', tools) is None


def test_the_question_follows_the_conversation_and_lists_the_tools() -> None:
    chat = [Message(role="system", content="Be brief."), Message(role="user", content="Weather in Oslo?")]
    asked = decision_messages(chat, [WEATHER, LOCKED])
    assert asked[:2] == chat and asked[2].role == "user"  # the conversation's prefix is kept
    assert (
        "- get_weather: Current weather for a city." in asked[2].text and "get_listing" not in asked[2].text
    )
    assert '{"calls": []}' in asked[2].text


def test_only_auto_with_several_calls_decides_first() -> None:
    assert wants_decision([WEATHER], GATEWAY)
    assert not wants_decision([WEATHER], ModelSettings())  # the agent's steps
    assert not wants_decision([WEATHER], ModelSettings(max_tool_calls=1))  # parallel_tool_calls: false
    assert not wants_decision([WEATHER], ModelSettings(max_tool_calls=4, tool_choice="required"))
    assert not wants_decision([LOCKED], GATEWAY)
    assert not wants_decision([WEATHER], ModelSettings(max_tool_calls=4, response_format={"type": "object"}))


def test_a_plan_admits_exactly_its_calls_in_every_shape_and_no_text() -> None:
    g = rules(planned_call_grammar([WEATHER, TIME], ["get_weather", "get_weather", "get_time"]))
    assert g["start"] == "tagged | fenced | bare"
    tag = '"<tool_call>\\n" {} "\\n</tool_call>"'
    assert g["tagged"] == ' "\\n" '.join(tag.format(c) for c in ("call_0", "call_0", "call_1"))
    assert g["group"] == 'call_0 "\\n" call_0 "\\n" call_1 | "[" call_0 ", " call_0 ", " call_1 "]"'
    assert g["fenced"].endswith('| FENCE call_0 "\\n```" SEP FENCE call_0 "\\n```" SEP FENCE call_1 "\\n```"')
    assert "text" not in g and "{0," not in json.dumps(g)
    one = rules(planned_call_grammar([WEATHER, TIME], ["get_time"]))
    assert one["group"] == "call_1" and "call_0" not in one  # only the planned tool's schema
    with pytest.raises(ValueError):
        planned_call_grammar([WEATHER], ["send_email"])


def test_an_empty_plan_admits_only_text() -> None:
    g = rules(planned_call_grammar([WEATHER], []))
    assert g["start"] == "text" and g["text"] == TEXT_RULE


CALL = '```json\n{{"name": "get_weather", "arguments": {{"city": "{}"}}}}\n```'


class ProbedServer(FakeServer):
    """`FakeServer` that also answers the decision's probe (one token with ``n_probs``): ``p_none``
    on ``" []"``, the rest on ``" [{\""``, both among the top tokens, or no admitted token at all
    when None."""

    def __init__(self, p_none: float | None, *replies: Callable[[dict[str, Any]], list[str]]) -> None:
        super().__init__(*replies)
        self.p_none = p_none

    def handle_completions(self, body: dict[str, Any], on_chunk: Callable[[dict[str, Any]], bool]) -> None:
        if "n_probs" not in body:
            super().handle_completions(body, on_chunk)
            return
        self.bodies.append(body)
        p = self.p_none
        top = (
            [{"token": "```", "logprob": math.log(0.9)}]
            if p is None
            else [
                {"token": ' [{"', "logprob": math.log(1 - p)},
                {"token": " []", "logprob": math.log(p)},
                {"token": "```", "logprob": math.log(0.01)},
            ]
        )
        logprobs = {"content": [{**top[0], "top_logprobs": top}]}
        on_chunk({"choices": [{"text": top[0]["token"], "logprobs": logprobs, "finish_reason": None}]})
        on_chunk(
            {
                "choices": [{"text": "", "finish_reason": "length"}],
                "timings": {"prompt_n": 30, "cache_n": 0, "predicted_n": 1},
            }
        )


def chat_model(server: FakeServer):  # type: ignore[no-untyped-def]
    model = embedded_model(server, "", thinks=False)
    model.render_prompt = lambda messages, tools=(): "|".join(m.text for m in messages) + "|>"  # type: ignore[method-assign]
    return model


BELOW = NO_CALL_THRESHOLD - 0.05
ABOVE = NO_CALL_THRESHOLD + 0.05


async def test_the_gateway_decides_then_makes_exactly_the_decided_calls() -> None:
    server = ProbedServer(
        BELOW,
        lambda body: [
            ' [{"tool": "get_weather", "for": "Oslo"}',
            ", ",
            '{"tool": "get_weather"',
            ', "for": "Rome"}]}',
        ],
        lambda body: [CALL.format("Oslo"), "\n", CALL.format("Rome")],
    )
    ask = [Message(role="user", content="Weather in Oslo and Rome?")]
    response = await collect(chat_model(server).stream(ask, [WEATHER, TIME], GATEWAY))
    probe, decision, reply = server.bodies
    assert probe["prompt"].startswith("Weather in Oslo and Rome?|Before you reply")
    assert probe["prompt"].endswith("|>" + OPEN) and probe["n_predict"] == 1 and probe["n_probs"] > 0
    assert "grammar" not in probe  # the probabilities are the raw logits' anyway
    assert decision["prompt"] == probe["prompt"] and "n_probs" not in decision  # the cache holds it
    assert rules(decision["grammar"])["start"] == '" [" (entry (", " entry){0,3}) "]}"'  # a call
    assert reply["prompt"] == "Weather in Oslo and Rome?|>"  # the turn's own prompt, unchanged
    assert rules(reply["grammar"])["group"].startswith('call_0 "\\n" call_0 |')
    assert [c.arguments["city"] for c in response.tool_calls] == ["Oslo", "Rome"]
    assert response.usage.completion_tokens == 1 + 4 + 3  # every generation is counted


async def test_at_or_above_the_threshold_no_call_is_made_and_the_reply_is_text() -> None:
    server = ProbedServer(ABOVE, lambda body: ["Romeo and Juliet die."])
    ask = [Message(role="user", content="The plot of Romeo and Juliet?")]
    response = await collect(chat_model(server).stream(ask, [WEATHER], GATEWAY))
    probe, reply = server.bodies  # nothing generated after the probe
    assert "n_probs" in probe and rules(reply["grammar"])["start"] == "text"
    assert response.text == "Romeo and Juliet die." and not response.tool_calls


@pytest.mark.parametrize(
    ("p_none", "calls"), [(BELOW, ["get_weather"]), (ABOVE, []), (NO_CALL_THRESHOLD, [])]
)
async def test_the_threshold_not_the_argmax_chooses_between_no_call_and_calls(
    p_none: float, calls: list[str]
) -> None:
    server = ProbedServer(p_none, lambda body: [' [{"tool": "get_weather", "for": "Oslo"}]}'])
    ask = [Message(role="user", content="Oslo?")]
    decision = await chat_model(server).decide(ask, [WEATHER], GATEWAY)
    assert decision.calls == calls and decision.no_call_probability == pytest.approx(p_none)
    # The same probability against another threshold: the other way.
    server = ProbedServer(p_none, lambda body: [' [{"tool": "get_weather", "for": "Oslo"}]}'])
    other = 0.99 if calls == [] else 0.01
    assert (await chat_model(server).decide(ask, [WEATHER], GATEWAY, threshold=other)).calls == (
        ["get_weather"] if calls == [] else []
    )


async def test_an_unread_probability_leaves_the_choice_to_the_decision() -> None:
    server = ProbedServer(None, lambda body: [" []}"], lambda body: ["I cannot tell."])
    ask = [Message(role="user", content="Oslo?")]
    response = await collect(chat_model(server).stream(ask, [WEATHER], GATEWAY))
    assert rules(server.bodies[1]["grammar"])["start"] == '" [" (entry (", " entry){0,3})? "]}"'
    assert rules(server.bodies[2]["grammar"])["start"] == "text" and response.text == "I cannot tell."


async def test_an_unread_decision_leaves_the_usual_grammar() -> None:
    server = ProbedServer(BELOW, lambda body: [' [{"tool": "get_wea'], lambda body: ["Sunny."])
    ask = [Message(role="user", content="Oslo?")]
    await collect(chat_model(server).stream(ask, [WEATHER], GATEWAY))
    assert rules(server.bodies[2]["grammar"])["start"] == "tagged | fenced | bare | text"


async def test_the_agent_and_forced_choices_do_not_decide() -> None:
    for settings in (ModelSettings(), ModelSettings(max_tool_calls=4, tool_choice="required")):
        server = FakeServer(lambda body: [CALL.format("Oslo")])
        await collect(chat_model(server).stream([Message(role="user", content="Oslo?")], [WEATHER], settings))
        assert len(server.bodies) == 1 and '\\"calls\\"' not in server.bodies[0]["grammar"]
