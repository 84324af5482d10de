"""Deciding a gateway turn's calls first (``errand.llm.decision``), with no model: the decision's
grammar and reading, the grammar of the turn it plans, and the embedded backend asking first only
where the gateway allows several calls (llama.cpp played by the stand-in of ``test_thinking``)."""

from __future__ import annotations

import json

import pytest

from errand.llm.base import collect
from errand.llm.decision import decision_grammar, decision_messages, read_decision, wants_decision
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
    assert g["start"] == '"{\\"calls\\": [" (entry (", " entry){0,2})? "]}"'
    assert g["entry"] == '"{\\"tool\\": " name ", \\"for\\": \\"" FOR "\\"}"'
    assert g["name"] == '"\\"get_weather\\"" | "\\"get_time\\""'  # not the tool that cannot be called yet
    assert g["FOR"] == r'/[^"\\\n]{1,40}/'  # a few words, no quote to end the string early
    assert rules(decision_grammar([WEATHER], 1))["start"] == '"{\\"calls\\": [" (entry)? "]}"'


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


def chat_model(server: FakeServer):  # type: ignore[no-untyped-def]
    model = embedded_model(server, "", thinks=False)
    model.render_prompt = lambda messages, tools=(): "|".join(m.text for m in messages) + "|>"  # type: ignore[method-assign]
    return model


async def test_the_gateway_decides_then_makes_exactly_the_decided_calls() -> None:
    server = FakeServer(
        lambda body: [
            '{"calls": [',
            '{"tool": "get_weather", "for": "Oslo"}',
            ", ",
            '{"tool": "get_weather"',
            ', "for": "Rome"}',
            "]}",
        ],
        lambda body: [CALL.format("Oslo"), "\n", CALL.format("Rome")],
    )
    ask = [Message(role="user", content="Weather in Oslo and Rome?")]
    response = await collect(chat_model(server).stream(ask, [WEATHER, TIME], GATEWAY))
    decision, reply = server.bodies
    assert decision["prompt"].startswith("Weather in Oslo and Rome?|Before you reply")
    assert reply["prompt"] == "Weather in Oslo and Rome?|>"  # the turn's own prompt, unchanged
    assert rules(decision["grammar"])["start"].startswith('"{\\"calls\\": ["')
    assert rules(reply["grammar"])["group"].startswith('call_0 "\\n" call_0 |')
    assert [c.arguments["city"] for c in response.tool_calls] == ["Oslo", "Rome"]
    assert response.usage.completion_tokens == 6 + 3  # both generations are counted


async def test_no_tool_fits_then_the_reply_is_text() -> None:
    server = FakeServer(lambda body: ['{"calls": [', "]}"], lambda body: ["Romeo and Juliet die."])
    ask = [Message(role="user", content="The plot of Romeo and Juliet?")]
    response = await collect(chat_model(server).stream(ask, [WEATHER], GATEWAY))
    assert rules(server.bodies[1]["grammar"])["start"] == "text"
    assert response.text == "Romeo and Juliet die." and not response.tool_calls


async def test_an_unread_decision_leaves_the_usual_grammar() -> None:
    server = FakeServer(lambda body: ['{"calls": [{"tool": "get_wea'], lambda body: ["Sunny."])
    ask = [Message(role="user", content="Oslo?")]
    await collect(chat_model(server).stream(ask, [WEATHER], GATEWAY))
    assert rules(server.bodies[1]["grammar"])["start"] == "tagged | fenced | bare | text"


async def test_the_agent_and_forced_choices_do_not_decide() -> None:
    for settings in (ModelSettings(), ModelSettings(max_tool_calls=4, tool_choice="required")):
        server = FakeServer(lambda body: [CALL.format("Oslo")])
        await collect(chat_model(server).stream([Message(role="user", content="Oslo?")], [WEATHER], settings))
        assert len(server.bodies) == 1 and '\\"calls\\"' not in server.bodies[0]["grammar"]
