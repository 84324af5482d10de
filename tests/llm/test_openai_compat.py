"""The OpenAI-compatible backend: against llama.cpp's real server (slow) and canned streams (fast)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from errand.errors import ModelResponseError, ModelUnavailableError
from errand.llm.base import collect
from errand.llm.embedded import EmbeddedModel
from errand.llm.openai_compat import OpenAICompatModel
from errand.llm.thinking import STOP_SENTENCE, STOP_THINKING
from errand.llm.types import (
    Finish,
    MalformedToolCall,
    Message,
    ModelSettings,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    UsageEvent,
)
from tests.llm.conftest import WEATHER

SETTINGS = ModelSettings(temperature=0.0, max_tokens=48)


# -- fast: canned server ------------------------------------------------------


class _Canned(BaseHTTPRequestHandler):
    """Answers each chat completion with the next of the server's ``replies``, then with its
    ``reply``: chunks to stream, or a status and an error body."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.server.requests.append(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
        replies = self.server.replies  # type: ignore[attr-defined]
        status, payload = replies.pop(0) if replies else self.server.reply  # type: ignore[attr-defined]
        if status != 200:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for chunk in payload:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):  # the client closed the stream early
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def canned() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.requests = []  # type: ignore[attr-defined]
    server.replies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def usage_chunk() -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 9,
            "total_tokens": 129,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }


def model_for(server: ThreadingHTTPServer) -> OpenAICompatModel:
    return OpenAICompatModel(f"http://127.0.0.1:{server.server_address[1]}/v1", "m", max_retries=0)


async def test_native_tool_calls_reasoning_and_usage(canned: Any) -> None:
    canned.reply = (
        200,
        [
            chunk({"role": "assistant", "reasoning_content": "The user wants weather."}),
            chunk({"reasoning": " Call the tool."}),
            chunk(
                {
                    "tool_calls": [
                        {"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": ""}}
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Par'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'is"'}}]}),  # never closed: repaired
            chunk(
                {
                    "tool_calls": [
                        {"index": 1, "id": "c2", "function": {"name": "get_weather", "arguments": "[1]"}}
                    ]
                }
            ),
            chunk({}, "tool_calls"),
            usage_chunk(),
        ],
    )
    model = model_for(canned)
    events = [
        ev async for ev in model.stream([Message(role="user", content="Weather?")], [WEATHER], SETTINGS)
    ]
    await model.aclose()
    reasoning = "".join(ev.text for ev in events if isinstance(ev, ReasoningDelta))
    assert reasoning == "The user wants weather. Call the tool."
    calls = [ev.call for ev in events if isinstance(ev, ToolCallEvent)]
    assert calls == [ToolCall(id="c1", name="get_weather", arguments={"city": "Paris"})]
    assert next(ev for ev in events if isinstance(ev, MalformedToolCall)).reason.startswith("the arguments")
    usage = next(ev.usage for ev in events if isinstance(ev, UsageEvent))
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (120, 9, 100)
    assert events[-1] == Finish(reason="tool_calls")
    sent = canned.requests[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["tools"][0]["function"]["name"] == "get_weather"


async def test_text_tool_calls_are_parsed_and_think_is_reasoning(canned: Any) -> None:
    canned.reply = (
        200,
        [
            chunk({"content": "<think>need the tool</think>"}),
            chunk({"content": '```json\n{"name": "get_weather", '}),
            chunk({"content": '"arguments": {"city": "Rome"}}\n```'}),
            chunk({}, "stop"),
        ],
    )
    model = model_for(canned)
    response = await collect(model.stream([Message(role="user", content="Rome?")], [WEATHER], SETTINGS))
    await model.aclose()
    assert response.reasoning == "need the tool"
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("get_weather", {"city": "Rome"})]
    assert response.text == "" and response.finish_reason == "tool_calls"


async def test_length_finish_and_history_without_reasoning(canned: Any) -> None:
    canned.reply = (200, [chunk({"content": "Hello there"}), chunk({}, "length")])
    model = model_for(canned)
    history = [
        Message(role="user", content="Weather?"),
        Message(
            role="assistant", tool_calls=[ToolCall(id="c1", name="get_weather", arguments={"city": "Oslo"})]
        ),
        Message(role="tool", tool_call_id="c1", name="get_weather", content="cold"),
    ]
    response = await collect(model.stream(history, [], SETTINGS))
    await model.aclose()
    assert response.text == "Hello there" and response.finish_reason == "length"
    sent = canned.requests[0]
    assert "tools" not in sent
    assert sent["messages"][1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
    }
    assert all("reasoning" not in m and "reasoning_content" not in m for m in sent["messages"])


async def test_stop_top_p_and_the_reply_schema_are_sent(canned: Any) -> None:
    canned.reply = (200, [chunk({"content": '{"ok": true}'}), chunk({}, "stop")])
    model = model_for(canned)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    settings = SETTINGS.model_copy(update={"stop": ["END"], "top_p": 0.25, "response_format": schema})
    response = await collect(model.stream([Message(role="user", content="ok?")], [], settings))
    await collect(model.stream([Message(role="user", content="ok?")], [], SETTINGS))
    await model.aclose()
    assert response.text == '{"ok": true}'
    sent, plain = canned.requests
    assert (sent["stop"], sent["top_p"]) == (["END"], 0.25)
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == schema
    assert not {"stop", "top_p", "response_format"} & set(plain)


async def test_status_error_is_a_model_response_error(canned: Any) -> None:
    canned.reply = (400, {"error": {"message": "context too long", "type": "invalid_request_error"}})
    model = model_for(canned)
    with pytest.raises(ModelResponseError, match="HTTP 400"):
        await collect(model.stream([Message(role="user", content="x")], [], SETTINGS))
    await model.aclose()


async def test_unreachable_server_is_model_unavailable() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = OpenAICompatModel(f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=5)
    with pytest.raises(ModelUnavailableError, match=r"Cannot reach the model server at .*ERRAND_MODEL_URL"):
        await collect(model.stream([Message(role="user", content="hi")], [], SETTINGS))
    await model.aclose()


# -- fast: reasoning in each shape, its budget, the off switch ------------------


def thinking_model(server: ThreadingHTTPServer, **kwargs: Any) -> OpenAICompatModel:
    return OpenAICompatModel(f"http://127.0.0.1:{server.server_address[1]}/v1", "m", max_retries=0, **kwargs)


def pieces(text: str) -> list[str]:
    """``text`` in streamed pieces of one word each, as a server sends about one token a chunk."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


async def events_for(model: OpenAICompatModel, settings: ModelSettings = SETTINGS) -> list[Any]:
    return [ev async for ev in model.stream([Message(role="user", content="Rome?")], [WEATHER], settings)]


def thought(events: list[Any]) -> str:
    return "".join(ev.text for ev in events if isinstance(ev, ReasoningDelta))


def answer(events: list[Any]) -> str:
    return "".join(ev.text for ev in events if isinstance(ev, TextDelta))


def usage_of(events: list[Any]) -> Any:
    return next(ev.usage for ev in events if isinstance(ev, UsageEvent))


async def test_reasoning_content_is_thinking_and_the_servers_count_is_kept(canned: Any) -> None:
    """vLLM and DeepSeek: thinking in its own field, the answer in ``content``."""
    usage = usage_chunk()
    usage["usage"]["completion_tokens_details"] = {"reasoning_tokens": 7}
    canned.reply = (
        200,
        [chunk({"reasoning_content": p}) for p in pieces("Rome is in Italy, sunny today.")]
        + [chunk({"content": p}) for p in pieces("It is sunny in Rome.")]
        + [chunk({}, "stop"), usage],
    )
    model = thinking_model(canned)
    events = await events_for(model)
    await model.aclose()
    assert thought(events) == "Rome is in Italy, sunny today."
    assert answer(events) == "It is sunny in Rome."
    assert len([ev for ev in events if isinstance(ev, TextDelta)]) > 1  # the answer streams
    assert usage_of(events).reasoning_tokens == 7  # the server's own count


async def test_think_tags_in_text_are_thinking_and_counted(canned: Any) -> None:
    canned.reply = (
        200,
        [chunk({"content": p}) for p in pieces("<think> Rome is warm today. </think> It is sunny.")]
        + [chunk({}, "stop"), usage_chunk()],
    )
    model = thinking_model(canned)
    events = await events_for(model)
    await model.aclose()
    assert thought(events).strip() == "Rome is warm today."
    assert answer(events) == "It is sunny."
    # one token a piece: "<think> ", four words, "</think> "
    assert usage_of(events).reasoning_tokens == 6
    assert usage_of(events).answer_tokens == 9 - 6


async def test_thinking_without_its_opening_tag_is_held_then_learnt(canned: Any) -> None:
    """A template that opens ``<think>`` in the prompt (QwQ, DeepSeek-R1) on a server with no
    reasoning parser: the text starts inside the thinking, and only ``</think>`` says so."""
    canned.replies = [
        (
            200,
            [chunk({"content": p}) for p in pieces("Rome is warm. </think>\n\nIt is sunny.")]
            + [chunk({}, "stop")],
        ),
        (
            200,
            [chunk({"content": p}) for p in pieces("Still warm. </think>\n\nSunny again.")]
            + [chunk({}, "stop")],
        ),
    ]
    model = thinking_model(canned)
    first = await events_for(model)
    second = await events_for(model)
    await model.aclose()
    assert (thought(first).strip(), answer(first)) == ("Rome is warm.", "It is sunny.")
    assert (thought(second).strip(), answer(second)) == ("Still warm.", "Sunny again.")
    # Learnt from the first answer: the second's thinking streams as it comes, piece by piece.
    assert len([ev for ev in second if isinstance(ev, ReasoningDelta)]) >= 2
    assert len([ev for ev in first if isinstance(ev, ReasoningDelta)]) == 1


async def test_a_model_that_does_not_think_streams_once_known(canned: Any) -> None:
    canned.reply = (
        200,
        [chunk({"content": p}) for p in pieces("It is sunny in Rome.")] + [chunk({}, "stop")],
    )
    model = thinking_model(canned)
    first, second = await events_for(model), await events_for(model)
    await model.aclose()
    assert answer(first) == answer(second) == "It is sunny in Rome." and thought(first) == ""
    assert len([ev for ev in second if isinstance(ev, TextDelta)]) == 5
    assert usage_of(second).reasoning_tokens == 0


async def test_thinking_past_its_budget_is_closed_and_the_turn_asked_again(canned: Any) -> None:
    long_thought = " ".join(f"w{i}" for i in range(50))
    canned.replies = [
        (200, [chunk({"reasoning_content": p}) for p in pieces(long_thought)] + [chunk({}, "stop")]),
        # vLLM's reasoning parser never sees the </think> errand wrote: it calls the answer reasoning.
        (
            200,
            [chunk({"reasoning_content": p}) for p in pieces("It is sunny.")]
            + [chunk({}, "stop"), usage_chunk()],
        ),
    ]
    model = thinking_model(canned, max_thinking_tokens=10)
    events = await events_for(model)
    await model.aclose()
    first, again = canned.requests
    assert first["max_tokens"] == SETTINGS.max_tokens + 10  # the answer does not pay for the thinking
    assert "continue_final_message" not in first
    prefill = again["messages"][-1]
    assert prefill["role"] == "assistant"
    assert prefill["content"] == "<think>\n" + " ".join(f"w{i}" for i in range(10)) + STOP_THINKING
    assert again["continue_final_message"] is True and again["add_generation_prompt"] is False
    assert again["max_tokens"] == SETTINGS.max_tokens and again["messages"][:-1] == first["messages"]
    assert thought(events) == " ".join(f"w{i}" for i in range(10)) + " \n\n" + STOP_SENTENCE
    assert answer(events) == "It is sunny."
    usage = usage_of(events)
    assert usage.reasoning_tokens == 10 and usage.completion_tokens == 9 + 10
    assert usage.prompt_tokens == 120 - 10  # the thinking read back is counted once, as written
    assert events[-1] == Finish(reason="stop")


async def test_think_text_past_its_budget_is_closed_then_a_tool_is_called(canned: Any) -> None:
    long_thought = " ".join(f"w{i}" for i in range(50))
    call_text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>'
    canned.replies = [
        (200, [chunk({"content": p}) for p in pieces("<think> " + long_thought)] + [chunk({}, "length")]),
        (200, [chunk({"content": call_text}), chunk({}, "stop")]),
    ]
    model = thinking_model(canned, max_thinking_tokens=4)
    response = await collect(model.stream([Message(role="user", content="Rome?")], [WEATHER], SETTINGS))
    await model.aclose()
    # four tokens of thinking: "<think> " and three words
    assert response.reasoning.strip().startswith("w0 w1 w2") and "w3" not in response.reasoning
    assert response.reasoning.endswith(STOP_SENTENCE)
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("get_weather", {"city": "Rome"})]
    assert response.text == "" and response.finish_reason == "tool_calls"
    assert response.usage.reasoning_tokens == 4
    assert canned.requests[1]["messages"][-1]["content"] == "<think>\nw0 w1 w2" + STOP_THINKING


async def test_a_refused_continuation_says_what_to_do(canned: Any) -> None:
    canned.replies = [
        (200, [chunk({"reasoning_content": p}) for p in pieces("a b c d e f")]),
        (400, {"error": {"message": "continue_final_message is set but the final message does not appear"}}),
    ]
    model = thinking_model(canned, max_thinking_tokens=2)
    with pytest.raises(ModelResponseError, match="ERRAND_MAX_THINKING_TOKENS"):
        await events_for(model)
    await model.aclose()


async def test_thinking_is_switched_on_or_off_for_qwen3_templates(canned: Any) -> None:
    canned.reply = (200, [chunk({"content": "Sunny."}), chunk({}, "stop")])
    system = Message(role="system", content="You run errands.")
    for thinking in ("auto", "on", "off"):
        model = thinking_model(canned, thinking=thinking, max_thinking_tokens=100)
        await collect(model.stream([system, Message(role="user", content="Rome?")], [], SETTINGS))
        await collect(model.stream([Message(role="user", content="Rome?")], [], SETTINGS))
        await model.aclose()
    auto, _, on, _, off, off_alone = canned.requests
    assert "chat_template_kwargs" not in auto and auto["messages"][0]["content"] == "You run errands."
    assert on["chat_template_kwargs"] == {"enable_thinking": True}
    assert off["chat_template_kwargs"] == {"enable_thinking": False}
    assert off["messages"][0]["content"] == "You run errands.\n/no_think"  # Qwen3's soft switch too
    assert off_alone["messages"][0] == {"role": "system", "content": "/no_think"}
    assert (auto["max_tokens"], on["max_tokens"], off["max_tokens"]) == (48 + 100, 48 + 100, 48)


# -- slow: llama.cpp's own OpenAI-compatible server on loopback ---------------


@pytest.fixture
async def llama_server(embedded: EmbeddedModel) -> Any:
    model = OpenAICompatModel(embedded.listening_address + "/v1", "test", api_key=embedded.api_key)
    yield model
    await model.aclose()


@pytest.mark.slow
async def test_streams_text_and_usage_from_llama_cpp(llama_server: OpenAICompatModel) -> None:
    ask = [Message(role="user", content="Count from one to ten in words.")]
    first = await collect(llama_server.stream(ask, [], SETTINGS))  # held: it might have been thinking
    events = [ev async for ev in llama_server.stream(ask, [], SETTINGS)]
    # Known now to write no think block, the model's text streams as it comes.
    assert len([ev for ev in events if isinstance(ev, TextDelta)]) >= 5
    assert first.text and first.reasoning == "" and first.usage.reasoning_tokens == 0
    usage = next(ev.usage for ev in events if isinstance(ev, UsageEvent))
    assert usage.prompt_tokens > 5 and 0 < usage.completion_tokens <= SETTINGS.max_tokens
    assert isinstance(events[-1], Finish) and events[-1].reason in ("stop", "length")


@pytest.mark.slow
async def test_tool_call_from_llama_cpp(llama_server: OpenAICompatModel) -> None:
    response = await collect(
        llama_server.stream(
            [Message(role="user", content="What's the weather in Paris?")], [WEATHER], SETTINGS
        )
    )
    assert [c.name for c in response.tool_calls] == ["get_weather"]
    assert "paris" in str(response.tool_calls[0].arguments.get("city", "")).lower()
    assert response.finish_reason == "tool_calls"


@pytest.mark.slow
async def test_wrong_key_is_a_response_error(embedded: EmbeddedModel) -> None:
    model = OpenAICompatModel(embedded.listening_address + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(ModelResponseError, match="401"):
        await collect(model.stream([Message(role="user", content="hi")], [], SETTINGS))
    await model.aclose()


def test_tools_shown_but_none_callable_are_sent_with_tool_choice_none(canned: Any) -> None:
    """The agent's answer step keeps its tools in the prompt (a cached prefix) and may call none."""
    model = model_for(canned)
    tool = ToolSpec(name="find", description="Find.", parameters={"type": "object", "properties": {}})
    ask = [Message(role="user", content="x")]
    assert model.request(ask, [tool], SETTINGS)["tool_choice"] == "auto"
    shown = model.request(ask, [tool.model_copy(update={"callable": False})], SETTINGS)
    assert shown["tool_choice"] == "none" and shown["tools"][0]["function"]["name"] == "find"
