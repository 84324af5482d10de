"""The embedded model's tool-call grammar, as text (fast: no model).

What the grammar admits on the real model is checked by the slow tests in ``test_embedded.py``
and ``tests/server/test_chat.py``; these pin the shapes and bounds it is built with.
"""

from __future__ import annotations

import re
from pathlib import Path

from errand.llm.embedded import EmbeddedModel
from errand.llm.grammar import TEXT_RULE, tool_call_grammar
from errand.llm.types import ModelSettings, ToolSpec
from tests.llm.conftest import WEATHER

TIME = ToolSpec(
    name="get_time",
    description="Local time in a time zone.",
    parameters={"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
)


def rules(grammar: str) -> dict[str, str]:
    """Rule name -> body, for every ``name: body`` line of a grammar."""
    out = {}
    for line in grammar.splitlines():
        name, sep, body = line.partition(": ")
        if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            out[name] = body
    return out


def test_auto_admits_tags_fences_bare_json_or_text() -> None:
    g = rules(tool_call_grammar([WEATHER, TIME]))
    assert g["start"] == "tagged | fenced | bare | text"
    assert g["tag"] == '"<tool_call>\\n" call "\\n</tool_call>"'
    assert g["FENCE"] == r"/```(json)?\n/"
    assert g["fenced"] == 'FENCE group "\\n```"'
    assert g["bare"] == "group"
    assert g["call"] == "call_0 | call_1"
    assert g["call_0"].startswith('%json {"type": "object"') and '"const": "get_weather"' in g["call_0"]
    assert '"const": "get_time"' in g["call_1"]
    # the answer: no call can hide in it, and nothing but a call starts with <, { or a backtick
    assert g["text"] == TEXT_RULE


def test_one_call_by_default() -> None:
    g = rules(tool_call_grammar([WEATHER]))
    assert g["tagged"] == "tag" and g["group"] == "call"
    assert "{0," not in tool_call_grammar([WEATHER])


def test_several_calls_are_bounded_in_every_shape() -> None:
    g = rules(tool_call_grammar([WEATHER, TIME], max_calls=3))
    assert g["tagged"] == 'tag ("\\n" tag){0,2}'
    assert g["group"] == 'call ("\\n" call){0,2} | "[" call (", " call){0,2} "]"'
    assert g["fenced"] == 'FENCE group "\\n```" | fence (SEP fence){1,2}'
    assert g["fence"] == 'FENCE call "\\n```"'


def test_required_admits_only_tagged_calls() -> None:
    grammar = tool_call_grammar([WEATHER], required=True, max_calls=2)
    g = rules(grammar)
    assert g["start"] == "tagged"
    assert g["tagged"] == 'tag ("\\n" tag){0,1}'
    assert not {"text", "fenced", "bare", "FENCE"} & set(g)


def test_the_request_bounds_calls_else_the_models_default() -> None:
    model = EmbeddedModel(Path("/nonexistent.gguf"), max_calls_per_step=1)  # nothing is loaded
    agent_step = model.completion_request("p", [WEATHER], ModelSettings())["grammar"]
    assert rules(agent_step)["tagged"] == "tag"
    gateway = model.completion_request("p", [WEATHER], ModelSettings(max_tool_calls=4))["grammar"]
    assert rules(gateway)["tagged"] == 'tag ("\\n" tag){0,3}'
    forced = model.completion_request("p", [WEATHER], ModelSettings(tool_choice="required"))["grammar"]
    assert rules(forced)["start"] == "tagged" and rules(forced)["tagged"] == "tag"
    # the cached grammar follows the request, not the last one built
    assert model.completion_request("p", [WEATHER], ModelSettings())["grammar"] == agent_step
