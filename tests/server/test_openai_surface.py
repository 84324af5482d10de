"""The wider OpenAI surface of ``/v1/chat/completions`` and ``/v1/models``, driven by the official
``openai`` client (its helpers included) against a running server on the scripted model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from errand.llm.scripted import ScriptedModel, ScriptedTurn, call
from errand.server.completions import ARGUMENT_PIECE
from tests.server.conftest import ServeFactory
from tests.server.test_chat import WEATHER

Client = Callable[..., openai.OpenAI]
USER = [{"role": "user", "content": "Weather in Zürich?"}]


class Weather(BaseModel):
    city: str
    temp_c: int


def test_json_schema_response_format_is_parsed_by_the_sdk(serve: ServeFactory, client_for: Client) -> None:
    model = ScriptedModel(["not json"], structured=[{"city": "Oslo", "temp_c": 7}])
    s = serve(model=model)
    r = client_for(s).chat.completions.parse(model="scripted", messages=USER, response_format=Weather)
    assert r.choices[0].message.parsed == Weather(city="Oslo", temp_c=7)
    _, schema = model.structured_requests[0]
    assert schema["properties"].keys() == {"city", "temp_c"} and model.remaining == 1


def test_json_object_and_text_response_formats(serve: ServeFactory, client_for: Client) -> None:
    model = ScriptedModel(["plain text"])
    client = client_for(serve(model=model))
    r = client.chat.completions.create(
        model="scripted", messages=USER, response_format={"type": "json_object"}
    )
    assert json.loads(r.choices[0].message.content or "") == {}
    assert model.structured_requests[0][1] == {"type": "object"}
    r = client.chat.completions.create(model="scripted", messages=USER, response_format={"type": "text"})
    assert r.choices[0].message.content == "plain text"
    assert model.settings[0].response_format is None


def test_response_format_with_tools_or_for_the_agent_is_400(serve: ServeFactory, client_for: Client) -> None:
    """No backend constrains a reply to a schema and to tool calls at once (the embedded grammar
    is one or the other), so the request is refused rather than half honoured."""
    client = client_for(serve(model=ScriptedModel(["never"])))
    fmt: Any = {"type": "json_object"}
    for model, extra in (("scripted", {"tools": [WEATHER]}), ("errand", {})):
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model=model, messages=USER, response_format=fmt, **extra)
        assert (err.value.param, err.value.code) == ("response_format", "invalid_value")
        assert err.value.type == "invalid_request_error"
    # tool_choice "none" offers no tools: the schema alone is fine
    r = client.chat.completions.create(
        model="scripted", messages=USER, response_format=fmt, tools=[WEATHER], tool_choice="none"
    )
    assert json.loads(r.choices[0].message.content or "") == {}


def test_stop_and_top_p_reach_the_model(serve: ServeFactory, client_for: Client) -> None:
    text = "It is sunny. Tomorrow: rain, then snow."
    model = ScriptedModel([text, text, text])
    client = client_for(serve(model=model))
    r = client.chat.completions.create(model="scripted", messages=USER, stop=".", top_p=0.5)
    assert r.choices[0].message.content == "It is sunny"
    assert r.choices[0].finish_reason == "stop"
    assert (model.settings[0].stop, model.settings[0].top_p) == (["."], 0.5)
    chunks = list(
        client.chat.completions.create(model="scripted", messages=USER, stop=["snow", ", then"], stream=True)
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "It is sunny. Tomorrow: rain"
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    r = client.chat.completions.create(model="scripted", messages=USER)
    assert r.choices[0].message.content == text and model.settings[2].stop is None
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="scripted", messages=USER, stop=["a", "b", "c", "d", "e"])
    assert (err.value.param, err.value.code) == ("stop", "invalid_value")


def test_one_model_by_id(serve: ServeFactory, client_for: Client) -> None:
    model = ScriptedModel([])
    model.name = "org/scripted-1"  # remote models' names often hold a slash
    client = client_for(serve(model=model))
    assert client.models.retrieve("errand").owned_by == "errand"
    card = client.models.retrieve("org/scripted-1")
    assert (card.id, card.object) == ("org/scripted-1", "model")
    assert card in client.models.list().data
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("gpt-9")
    with pytest.raises(openai.NotFoundError) as chat:
        client.chat.completions.create(model="gpt-9", messages=USER)
    assert err.value.body == chat.value.body
    assert (err.value.code, err.value.param) == ("model_not_found", "model")


def test_usage_reports_cached_prompt_tokens(serve: ServeFactory, client_for: Client) -> None:
    turn = ScriptedTurn(text="Sunny.", cached_tokens=2)
    client = client_for(serve(model=ScriptedModel([turn, turn, turn]), open_runs=True))
    r = client.chat.completions.create(model="scripted", messages=USER)
    assert r.usage and r.usage.prompt_tokens_details and r.usage.prompt_tokens_details.cached_tokens == 2
    chunks = list(
        client.chat.completions.create(
            model="scripted", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    usage = chunks[-1].usage
    assert usage and usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 2
    r = client.chat.completions.create(model="errand", messages=USER)
    assert r.choices[0].message.content == "Sunny."
    assert r.usage and r.usage.prompt_tokens_details and r.usage.prompt_tokens_details.cached_tokens == 2


def test_streamed_tool_calls_come_in_pieces_as_openai_streams_them(
    serve: ServeFactory, client_for: Client
) -> None:
    calls = [call("get_weather", city="Zürich, Schweiz — 苏黎世"), call("get_weather", city="Oslo")]
    client = client_for(serve(model=ScriptedModel([calls, calls, calls])))
    whole = client.chat.completions.create(model="scripted", messages=USER, tools=[WEATHER])
    expected = [(c.function.name, c.function.arguments) for c in whole.choices[0].message.tool_calls or []]
    assert [json.loads(a)["city"] for _, a in expected] == ["Zürich, Schweiz — 苏黎世", "Oslo"]

    chunks = list(
        client.chat.completions.create(model="scripted", messages=USER, tools=[WEATHER], stream=True)
    )
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    for index, (name, arguments) in enumerate(expected):
        head, *pieces = [d for d in deltas if d.index == index]
        assert head.id and head.type == "function"
        assert head.function and (head.function.name, head.function.arguments) == (name, "")
        assert len(pieces) == -(-len(arguments) // ARGUMENT_PIECE)  # 2 for Zürich, 1 for Oslo
        assert all(p.id is None and p.type is None for p in pieces)
        assert all(p.function and p.function.name is None for p in pieces)
        parts = [p.function.arguments or "" for p in pieces if p.function]
        assert len(parts[0]) == ARGUMENT_PIECE and "".join(parts) == arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    with client.chat.completions.stream(model="scripted", messages=USER, tools=[WEATHER]) as stream:
        done = [(e.name, e.arguments) for e in stream if e.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    assembled = final.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in assembled] == expected == done
    assert all(c.id and c.type == "function" for c in assembled)
    assert final.choices[0].finish_reason == "tool_calls"


def test_bad_requests_to_the_agent_say_invalid_value(serve: ServeFactory, client_for: Client) -> None:
    """docs/server.md promises ``invalid_value`` for an invalid request, whatever the model."""
    client = client_for(serve(model=ScriptedModel([])))
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="errand", messages=USER, tools=[WEATHER])
    assert (err.value.code, err.value.param) == ("invalid_value", "tools")
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="errand", messages=[{"role": "assistant", "content": "hi"}])
    assert (err.value.code, err.value.param) == ("invalid_value", "messages.0")
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="scripted",
            messages=USER,
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "get_time"}},
        )
    assert (err.value.code, err.value.param) == ("invalid_value", "tool_choice")
