"""``POST /v1/responses``, driven by the official ``openai`` client (``client.responses``) against a
running server on the scripted model: text, function calls out and their outputs back in,
structured output, the agent, and the streamed events, whole and through the SDK's helper."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx2 as httpx
import openai
import pytest
from pydantic import BaseModel

from errand.errors import ModelResponseError
from errand.llm.base import ChatModel
from errand.llm.scripted import ScriptedModel, ScriptedTurn, call
from errand.llm.types import (
    Finish,
    Message,
    ModelEvent,
    ModelSettings,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
    UsageEvent,
)
from errand.server.completions import ARGUMENT_PIECE
from tests.server.conftest import ServeFactory
from tests.server.models import SlowModel

Client = Callable[..., openai.OpenAI]
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ASK = [{"role": "user", "content": "Weather in Zürich?"}]
ANSWER = "It is 7 °C and sunny in Zürich."


def test_text_in_text_out(serve: ServeFactory, client_for: Client) -> None:
    model = ScriptedModel([ANSWER])
    client = client_for(serve(model=model))
    r = client.responses.create(model="scripted", input="Weather in Zürich?", instructions="Be brief.")
    assert (r.object, r.status, r.model) == ("response", "completed", "scripted")
    assert r.id.startswith("resp_") and r.output_text == ANSWER
    (message,) = r.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert r.usage and r.usage.output_tokens == len(ANSWER.split())
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens > r.usage.output_tokens
    sent, _ = model.requests[0]
    assert [(m.role, m.content) for m in sent] == [("system", "Be brief."), ("user", "Weather in Zürich?")]


def test_streamed_text_comes_as_typed_events_in_order(serve: ServeFactory, client_for: Client) -> None:
    client = client_for(serve(model=ScriptedModel([ANSWER, ANSWER])))
    events = list(client.responses.create(model="scripted", input=ASK, stream=True))
    kinds = [e.type for e in events]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[4 : 4 + len(deltas)] == ["response.output_text.delta"] * len(deltas) and len(deltas) > 3
    assert kinds[4 + len(deltas) :] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(d.delta for d in deltas) == ANSWER
    created, completed = events[0], events[-1]
    assert created.type == "response.created" and created.response.status == "in_progress"
    assert completed.type == "response.completed" and completed.response.id == created.response.id
    assert completed.response.output_text == ANSWER and completed.response.usage is not None
    item_ids = {e.item_id for e in deltas}
    assert item_ids == {completed.response.output[0].id}
    # The SDK's own accumulator (it checks ids, indexes and order) agrees.
    with client.responses.stream(model="scripted", input=ASK) as stream:
        final = stream.get_final_response()
    assert final.output_text == ANSWER and final.status == "completed"


def test_a_function_call_goes_out_and_its_output_comes_back(serve: ServeFactory, client_for: Client) -> None:
    turn = ScriptedTurn(
        text="Let me look.", tool_calls=[call("get_weather", city="Zürich"), call("get_weather", city="Oslo")]
    )
    model = ScriptedModel([turn, ANSWER])
    client = client_for(serve(model=model))
    first = client.responses.create(model="scripted", input=ASK, tools=[WEATHER])
    said, *calls = first.output
    assert said.type == "message" and first.output_text == "Let me look."
    assert [(c.type, c.name, c.status) for c in calls] == [("function_call", "get_weather", "completed")] * 2
    assert [json.loads(c.arguments) for c in calls] == [{"city": "Zürich"}, {"city": "Oslo"}]
    assert len({c.call_id for c in calls}) == 2
    _, offered = model.requests[0]
    assert [t.name for t in offered] == ["get_weather"]
    assert offered[0].parameters == WEATHER["parameters"]

    # As the SDK's docs do it: the earlier output items, then each function's output.
    outputs = [
        {"type": "function_call_output", "call_id": c.call_id, "output": f"{t} °C"}
        for c, t in zip(calls, (7, 2), strict=True)
    ]
    done = client.responses.create(model="scripted", input=[*ASK, *first.output, *outputs], tools=[WEATHER])
    assert done.output_text == ANSWER
    sent, _ = model.requests[1]
    # The text and both calls are one assistant turn, as the model wrote them.
    assert [m.role for m in sent] == ["user", "assistant", "tool", "tool"]
    assert sent[1].content == "Let me look."
    assert sent[1].tool_calls == [
        ToolCall(id=c.call_id, name="get_weather", arguments=json.loads(c.arguments)) for c in calls
    ]
    assert [(m.content, m.tool_call_id, m.name) for m in sent[2:]] == [
        ("7 °C", calls[0].call_id, "get_weather"),
        ("2 °C", calls[1].call_id, "get_weather"),
    ]


def test_function_call_arguments_stream_in_pieces(serve: ServeFactory, client_for: Client) -> None:
    calls = [call("get_weather", city="Zürich, Schweiz — 苏黎世"), call("get_weather", city="Oslo")]
    client = client_for(serve(model=ScriptedModel([calls, calls, calls])))
    whole = client.responses.create(model="scripted", input=ASK, tools=[WEATHER])
    expected = [(o.name, o.arguments) for o in whole.output if o.type == "function_call"]
    assert [json.loads(a)["city"] for _, a in expected] == ["Zürich, Schweiz — 苏黎世", "Oslo"]

    events = list(client.responses.create(model="scripted", input=ASK, tools=[WEATHER], stream=True))
    for index, (name, arguments) in enumerate(expected):
        added = [e for e in events if e.type == "response.output_item.added" and e.output_index == index]
        assert len(added) == 1 and added[0].item.type == "function_call"
        assert (added[0].item.name, added[0].item.arguments) == (name, "")
        pieces = [
            e.delta
            for e in events
            if e.type == "response.function_call_arguments.delta" and e.output_index == index
        ]
        assert "".join(pieces) == arguments
        assert len(pieces) == -(-len(arguments) // ARGUMENT_PIECE)  # 2 for Zürich, 1 for Oslo
        (done,) = [
            e for e in events if e.type == "response.function_call_arguments.done" and e.output_index == index
        ]
        assert done.arguments == arguments and done.item_id == added[0].item.id
    with client.responses.stream(model="scripted", input=ASK, tools=[WEATHER]) as stream:
        final = stream.get_final_response()
    assert [(o.name, o.arguments) for o in final.output if o.type == "function_call"] == expected


class Weather(BaseModel):
    city: str
    temp_c: int


def test_text_format_json_schema_is_parsed_by_the_sdk(serve: ServeFactory, client_for: Client) -> None:
    model = ScriptedModel(["not json"], structured=[{"city": "Oslo", "temp_c": 7}])
    client = client_for(serve(model=model))
    r = client.responses.parse(model="scripted", input=ASK, text_format=Weather)
    assert r.output_parsed == Weather(city="Oslo", temp_c=7)
    _, schema = model.structured_requests[0]
    assert schema["properties"].keys() == {"city", "temp_c"} and model.remaining == 1
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(
            model="scripted", input=ASK, tools=[WEATHER], text={"format": {"type": "json_object"}}
        )
    assert (err.value.param, err.value.code) == ("text.format", "invalid_value")


def test_reasoning_comes_as_its_own_item(serve: ServeFactory, client_for: Client) -> None:
    turn = ScriptedTurn(reasoning="Zürich is in Switzerland.", text="Sunny.")
    client = client_for(serve(model=ScriptedModel([turn, turn])))
    r = client.responses.create(model="scripted", input=ASK)
    reasoning, message = r.output
    assert reasoning.type == "reasoning" and reasoning.content and message.type == "message"
    assert reasoning.content[0].text == "Zürich is in Switzerland." and r.output_text == "Sunny."
    events = list(client.responses.create(model="scripted", input=ASK, stream=True))
    thought = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    assert thought == "Zürich is in Switzerland."
    added = [e.item.type for e in events if e.type == "response.output_item.added"]
    assert added == ["reasoning", "message"]


def test_the_agent_answers_as_errand(serve: ServeFactory, client_for: Client) -> None:
    client = client_for(serve(model=ScriptedModel(["Sunny.", "Sunny."]), open_runs=True))
    r = client.responses.create(model="errand", input="Weather in Zürich?")
    assert r.output_text == "Sunny." and r.model == "errand"
    events = list(client.responses.create(model="errand", input=ASK, stream=True))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Sunny."
    assert events[-1].type == "response.completed"
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="errand", input=ASK, tools=[WEATHER])
    assert (err.value.param, err.value.code) == ("tools", "invalid_value")


def test_what_is_not_supported_is_a_clear_400(serve: ServeFactory, client_for: Client) -> None:
    client = client_for(serve(model=ScriptedModel([])))
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="scripted", input=ASK, previous_response_id="resp_123")
    assert (err.value.param, err.value.code) == ("previous_response_id", "invalid_value")
    assert "stores no responses" in str(err.value)
    bad_call = {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{nope"}
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="scripted", input=[*ASK, bad_call])
    assert err.value.param == "input.1.arguments"
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(
            model="scripted",
            input=[{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}],
        )
    assert err.value.param == "input.0.content.0.image_url"
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="gpt-9", input=ASK)
    assert (missing.value.code, missing.value.param) == ("model_not_found", "model")


class Cut(ChatModel):
    """Writes a word, then either stops at its token limit or fails."""

    name = "cut"

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
    ) -> AsyncIterator[ModelEvent]:
        yield TextDelta(text="It is")
        if self.fail:
            raise ModelResponseError("The backend hung up.")
        yield UsageEvent(usage=Usage(prompt_tokens=5, completion_tokens=2))
        yield Finish(reason="length")


def test_a_cut_reply_is_incomplete_and_a_failure_mid_stream_is_an_error_event(
    serve: ServeFactory, client_for: Client
) -> None:
    r = client_for(serve(model=Cut(fail=False))).responses.create(model="cut", input=ASK, max_output_tokens=2)
    assert (
        r.status == "incomplete"
        and r.incomplete_details
        and r.incomplete_details.reason == "max_output_tokens"
    )
    assert r.output_text == "It is"
    events = list(
        client_for(serve(model=Cut(fail=True))).responses.create(model="cut", input=ASK, stream=True)
    )
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
    error, failed = events[-2:]
    assert error.type == "error" and error.code == "model_error" and "hung up" in error.message
    assert failed.type == "response.failed" and failed.response.status == "failed"


def test_an_idempotency_key_replays_the_response(serve: ServeFactory) -> None:
    model = ScriptedModel([ANSWER, "A second answer."])
    s = serve(model=model)
    headers = {"authorization": f"Bearer {s.key()}", "Idempotency-Key": "weather-1"}
    body = {"model": "scripted", "input": "Weather in Zürich?"}
    first = httpx.post(s.v1 + "/responses", json=body, headers=headers, timeout=30)
    again = httpx.post(s.v1 + "/responses", json=body, headers=headers, timeout=30)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true" and again.json() == first.json()
    assert model.remaining == 1  # the model answered once


def test_a_response_holds_a_slot_of_the_key_and_of_the_server(
    serve: ServeFactory, client_for: Client
) -> None:
    """The limits that bound chat completions bound responses too (a key's in-flight slots, the
    server's gate), whichever API holds the slot."""
    model = SlowModel(words=20, delay_s=0.1)
    s = serve(model=model, serve_max_running=1, serve_max_queued=0)
    key = s.key(max_runs=1)
    holder = threading.Thread(
        target=lambda: list(client_for(s, key).responses.create(model="slow", input="x", stream=True)),
        daemon=True,
    )
    holder.start()
    assert model.started.wait(10)
    with pytest.raises(openai.RateLimitError) as limited:
        client_for(s, key).chat.completions.create(model="slow", messages=[{"role": "user", "content": "x"}])
    assert limited.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError):
        client_for(s, key).responses.create(model="slow", input="x")
    with pytest.raises(openai.InternalServerError) as full:  # another key: the server is full
        client_for(s).responses.create(model="slow", input="x")
    assert full.value.status_code == 503 and full.value.code == "server_overloaded"
    holder.join(10)
    assert client_for(s, key).responses.create(model="slow", input="x").output_text.startswith("w0 w1")


def test_image_parts_reach_the_model_as_images(serve: ServeFactory, client_for: Client) -> None:
    model = ScriptedModel(["A receipt."])
    client = client_for(serve(model=model))
    image = "data:image/png;base64,iVBORw0KGgo="
    parts: Any = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": image},
    ]
    r = client.responses.create(model="scripted", input=[{"role": "user", "content": parts}])
    assert r.output_text == "A receipt."
    (sent,), _ = model.requests[0]
    assert sent.text == "What is this?"
    assert isinstance(sent.content, list) and [getattr(p, "url", None) for p in sent.content] == [None, image]
