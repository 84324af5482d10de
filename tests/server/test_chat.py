"""The OpenAI-compatible API, driven by the official ``openai`` client against a running server."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import httpx2 as httpx
import openai
import pytest

from errand.llm.embedded import EmbeddedModel
from errand.llm.ocr import data_url
from errand.llm.scripted import ScriptedModel, ScriptedTurn, call
from errand.llm.weights import DEFAULT_MODEL
from errand.server.completions import GATEWAY_MAX_CALLS
from tests.images import text_image
from tests.server.conftest import Served, ServeFactory
from tests.server.models import SlowModel

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_chat_completion_from_a_script_file(serve: ServeFactory, client_for, tmp_path: Path) -> None:
    """ERRAND_MODEL_BACKEND=scripted + ERRAND_SCRIPT_PATH: the backend's name is a gateway model."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["Hello from the script."]))
    s = serve(model_backend="scripted", script_path=script)
    client = client_for(s)
    assert {m.id for m in client.models.list()} == {"errand", "scripted"}
    r = client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello from the script."
    assert r.choices[0].finish_reason == "stop"
    assert (
        r.usage is not None and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0
    )
    assert r.model == "scripted" and r.object == "chat.completion"


def test_streaming_with_include_usage(serve: ServeFactory, client_for) -> None:
    s = serve(model=ScriptedModel(["one two three four"]))
    stream = client_for(s).chat.completions.create(
        model="scripted",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens == 4
    assert all(c.usage is None for c in chunks[:-1])


def test_streaming_without_usage_sends_no_usage_chunk(serve: ServeFactory) -> None:
    s = serve(model=ScriptedModel(["hi"]))
    with httpx.stream(
        "POST",
        s.v1 + "/chat/completions",
        headers={"authorization": f"Bearer {s.key()}"},
        json={"model": "scripted", "messages": [{"role": "user", "content": "x"}], "stream": True},
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert all("usage" not in json.loads(line[6:]) for line in lines[:-1])


def test_tools_supplied_by_the_client_pass_through(serve: ServeFactory, client_for) -> None:
    model = ScriptedModel([call("get_weather", city="Paris"), "It is sunny in Paris."])
    s = serve(model=model)
    client = client_for(s)
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="scripted", messages=messages, tools=[WEATHER])
    msg = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls and msg.tool_calls[0].function.name == "get_weather"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert [t.name for t in model.requests[0][1]] == ["get_weather"]
    messages += [
        msg.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": '{"sky": "sunny"}'},
    ]
    second = client.chat.completions.create(model="scripted", messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == "It is sunny in Paris."
    seen = model.requests[1][0]
    assert seen[-1].role == "tool" and seen[-1].content == '{"sky": "sunny"}'
    assert seen[-2].tool_calls[0].arguments == {"city": "Paris"}


def test_streamed_tool_calls_and_tool_choice(serve: ServeFactory, client_for) -> None:
    model = ScriptedModel([call("get_weather", city="Oslo"), "plain"])
    s = serve(model=model)
    client = client_for(s)
    chunks = list(
        client.chat.completions.create(
            model="scripted",
            messages=[{"role": "user", "content": "Oslo?"}],
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].function.name == "get_weather" and calls[0].index == 0
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert model.settings[0].tool_choice == "required"
    client.chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "x"}], tools=[WEATHER], tool_choice="none"
    )
    assert model.requests[1][1] == []


def test_the_agent_model_runs_errand_tools(serve: ServeFactory, client_for) -> None:
    model = ScriptedModel([call("wallet_balance"), "Your wallet balances are shown above."])
    s = serve(model=model, open_runs=True)
    r = client_for(s, s.key("bob")).chat.completions.create(
        model="errand", messages=[{"role": "user", "content": "How much money do I have?"}]
    )
    assert r.choices[0].message.content == "Your wallet balances are shown above."
    assert r.model == "errand"
    tool_messages = [m for m in model.requests[1][0] if m.role == "tool"]
    assert tool_messages and tool_messages[0].name == "wallet_balance"
    # Counted by the server that started the run, as it follows the run to its end.
    deadline = time.monotonic() + 10
    while 'errand_tool_calls_total{outcome="ok"} 1.0' not in (
        httpx.get(s.url + "/metrics", headers={"authorization": f"Bearer {s.key()}"}).text
    ):
        assert time.monotonic() < deadline, "the run's tool call was not counted"
        time.sleep(0.05)


def test_the_agent_model_reads_the_text_of_image_parts(serve: ServeFactory, client_for) -> None:
    model = ScriptedModel(["It is order FO-000123.", "It was 128.50 CNY."], per_conversation=True)
    s = serve(model=model, open_runs=True)
    client = client_for(s)
    order = data_url(text_image(["Order FO-000123", "Total: 128.50 CNY"]))
    first = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this order?"},
            {"type": "image_url", "image_url": {"url": order}},
        ],
    }
    r = client.chat.completions.create(model="errand", messages=[first])
    assert r.choices[0].message.content == "It is order FO-000123."
    read = "[Image 1, text read by OCR:\nOrder FO-000123\nTotal: 128.50 CNY\n]"
    (user,) = [m for m in model.requests[0][0] if m.role == "user"]
    assert isinstance(user.content, str) and user.content.startswith(f"What is this order?\n\n{read}\n")
    # The client sends the turn again with the next one: its image is read as part of history.
    follow_up = [first, {"role": "assistant", "content": "It is order FO-000123."}]
    follow_up.append({"role": "user", "content": "How much was it?"})
    client.chat.completions.create(model="errand", messages=follow_up)
    assert read in next(m for m in model.requests[-1][0] if m.role == "user").text
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="errand",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
                }
            ],
        )
    assert err.value.body is not None and "Image 1 cannot be read" in str(err.value.body)


def test_the_agent_streams_only_standard_chunks(serve: ServeFactory, client_for) -> None:
    s = serve(model=ScriptedModel(["Hello! How can I help with an errand today?"]), open_runs=True)
    chunks = list(
        client_for(s).chat.completions.create(
            model="errand", messages=[{"role": "user", "content": "hello"}], stream=True
        )
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks)
        == "Hello! How can I help with an errand today?"
    )


def test_an_unknown_model_is_404(serve: ServeFactory, client_for) -> None:
    s = serve(model=ScriptedModel([]))
    with pytest.raises(openai.NotFoundError) as err:
        client_for(s).chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert err.value.code == "model_not_found"


def test_context_length_is_400_with_the_numbers(serve: ServeFactory, client_for) -> None:
    s = serve(model=ScriptedModel([]), n_ctx=512)
    with pytest.raises(openai.BadRequestError) as err:
        client_for(s).chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "word " * 400}], max_tokens=100
        )
    assert err.value.code == "context_length_exceeded"
    assert err.value.param == "messages"
    assert "512" in err.value.message and "100 in the completion" in err.value.message
    assert err.value.response.headers["x-should-retry"] == "false"


def test_validation_errors_are_400_with_the_numbers(serve: ServeFactory, client_for) -> None:
    s = serve(model=ScriptedModel([]))
    client = client_for(s)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "x"}], temperature=5
        )
    assert err.value.param == "temperature"
    assert "2" in err.value.message and "5" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="scripted", messages=[])
    assert err.value.param == "messages"
    bad = {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}],
    }
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}, bad])
    assert err.value.param == "messages.1.tool_calls.0.function.arguments"
    r = httpx.post(
        s.v1 + "/chat/completions", headers={"authorization": f"Bearer {s.key()}"}, content=b"{not json"
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_a_bad_key_is_401(serve: ServeFactory, client_for) -> None:
    s = serve(model=ScriptedModel([]))
    with pytest.raises(openai.AuthenticationError) as err:
        client_for(s, "errand-nothing-here").models.list()
    assert err.value.code == "invalid_api_key"
    assert httpx.get(s.v1 + "/models").status_code == 401
    assert httpx.get(s.url + "/healthz").status_code == 200


def test_rate_limit_is_429_with_retry_after(serve: ServeFactory, client_for) -> None:
    s = serve(model=ScriptedModel(["a", "b", "c"]))
    client = client_for(s, s.key(rpm=2))
    for _ in range(2):
        client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}])
    assert err.value.code == "rate_limit_exceeded"
    assert int(err.value.response.headers["retry-after"]) >= 1


def test_a_spent_budget_is_429_insufficient_quota(serve: ServeFactory, client_for) -> None:
    s = serve(model=ScriptedModel(["one two three", "never"]))
    client = client_for(s, s.key(budget=3))
    client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}])
    assert err.value.code == "insufficient_quota"
    assert err.value.response.headers["x-should-retry"] == "false"
    assert "retry-after" not in err.value.response.headers
    client.models.list()  # reading is still allowed


def _hold_a_slot(s: Served, key: str) -> threading.Thread:
    def stream() -> None:
        with httpx.stream(
            "POST",
            s.v1 + "/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "slow", "messages": [{"role": "user", "content": "x"}], "stream": True},
            timeout=30,
        ) as r:
            for _ in r.iter_lines():
                pass

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    return t


def test_a_full_server_is_503_with_retry_after(serve: ServeFactory, client_for) -> None:
    model = SlowModel(words=10, delay_s=0.1)
    s = serve(model=model, serve_max_running=1, serve_max_queued=0)
    key = s.key()
    holder = _hold_a_slot(s, key)
    assert model.started.wait(10)
    with pytest.raises(openai.APIStatusError) as err:
        client_for(s, key).chat.completions.create(model="slow", messages=[{"role": "user", "content": "x"}])
    assert model.finished == 0, "refused at once, not after waiting for the held slot"
    assert err.value.status_code == 503 and err.value.code == "server_overloaded"
    assert int(err.value.response.headers["retry-after"]) >= 1
    holder.join(10)
    metrics = httpx.get(s.url + "/metrics", headers={"authorization": f"Bearer {key}"}).text
    assert 'errand_rejections_total{reason="overloaded"} 1.0' in metrics
    assert (
        'errand_http_requests_total{method="POST",route="/v1/chat/completions",status="503"} 1.0' in metrics
    )


def test_per_key_concurrency_is_429(serve: ServeFactory, client_for) -> None:
    model = SlowModel(words=10, delay_s=0.1)
    s = serve(model=model)
    key = s.key(max_runs=1)
    holder = _hold_a_slot(s, key)
    assert model.started.wait(10)
    with pytest.raises(openai.RateLimitError) as err:
        client_for(s, key).chat.completions.create(model="slow", messages=[{"role": "user", "content": "x"}])
    assert err.value.code == "rate_limit_exceeded"
    holder.join(10)
    r = client_for(s, key).chat.completions.create(model="slow", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content


def test_a_waiting_request_is_served_when_a_slot_frees(serve: ServeFactory, client_for) -> None:
    model = SlowModel(words=5, delay_s=0.05)
    s = serve(model=model, serve_max_running=1, serve_max_queued=4, serve_max_queue_wait_s=5)
    key = s.key()
    holder = _hold_a_slot(s, key)
    assert model.started.wait(10)
    r = client_for(s, key).chat.completions.create(model="slow", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content == "w0 w1 w2 w3 w4 "
    holder.join(10)


def test_a_backend_that_does_not_answer_in_time_is_504(serve: ServeFactory, client_for) -> None:
    s = serve(model=SlowModel(words=5, delay_s=1.0), request_timeout_s=0.3)
    with pytest.raises(openai.APIStatusError) as err:
        client_for(s).chat.completions.create(model="slow", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 504 and err.value.code == "model_timeout"


def test_the_gateway_allows_parallel_calls_unless_the_client_says_no(serve: ServeFactory, client_for) -> None:
    model = ScriptedModel(["a", "b", "c", "d"])
    s = serve(model=model)
    client = client_for(s)
    user = [{"role": "user", "content": "x"}]
    client.chat.completions.create(model="scripted", messages=user, tools=[WEATHER])
    client.chat.completions.create(
        model="scripted", messages=user, tools=[WEATHER], parallel_tool_calls=False
    )
    client.chat.completions.create(
        model="scripted",
        messages=user,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    client.chat.completions.create(model="scripted", messages=user)
    assert [m.max_tool_calls for m in model.settings] == [GATEWAY_MAX_CALLS, 1, 1, None]
    assert GATEWAY_MAX_CALLS > 1


@pytest.mark.parametrize(
    "raw",
    [
        "```json\n{A}\n```\n```json\n{B}\n```",
        "{A}\n{B}",
        "[{A}, {B}]",
        "<tool_call>\n{A}\n</tool_call>\n<tool_call>\n{B}\n</tool_call>",
    ],
    ids=["fences", "bare-lines", "bare-list", "tags"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_several_calls_in_any_shape_come_back_in_tool_calls(
    serve: ServeFactory, client_for, raw: str, stream: bool
) -> None:
    """The shapes the embedded grammar admits (and small models write) reach the client as
    OpenAI ``tool_calls``, never as text."""
    a = json.dumps({"name": "get_weather", "arguments": {"city": "Oslo"}})
    b = json.dumps({"name": "get_weather", "arguments": {"city": "Helsinki"}})
    s = serve(model=ScriptedModel([ScriptedTurn(raw=raw.replace("{A}", a).replace("{B}", b))]))
    client = client_for(s)
    messages = [{"role": "user", "content": "Weather in Oslo and Helsinki?"}]
    if stream:
        chunks = list(
            client.chat.completions.create(model="scripted", messages=messages, tools=[WEATHER], stream=True)
        )
        deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
        joined: dict[int, tuple[str, str]] = {}  # index -> (name, arguments), as clients join pieces
        for d in deltas:
            name, args = joined.get(d.index, ("", ""))
            joined[d.index] = (name + (d.function.name or ""), args + (d.function.arguments or ""))
        calls = [(i, name, args) for i, (name, args) in sorted(joined.items())]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = chunks[-1].choices[0].finish_reason
    else:
        r = client.chat.completions.create(model="scripted", messages=messages, tools=[WEATHER])
        tool_calls = r.choices[0].message.tool_calls or []
        calls = [(i, c.function.name, c.function.arguments) for i, c in enumerate(tool_calls)]
        text = r.choices[0].message.content or ""
        finish = r.choices[0].finish_reason
        assert len({c.id for c in tool_calls}) == 2
    assert [(i, name, json.loads(args)) for i, name, args in calls] == [
        (0, "get_weather", {"city": "Oslo"}),
        (1, "get_weather", {"city": "Helsinki"}),
    ]
    assert text.strip() == ""
    if raw.startswith(
        "<tool_call>"
    ):  # ScriptedModel says tool_calls only for tags; the embedded model always
        assert finish == "tool_calls"


@pytest.mark.slow
def test_the_bundled_model_calls_client_tools_under_auto(serve: ServeFactory) -> None:
    """The 1.5B through the gateway, ``tool_choice: auto``: requests that plainly need a tool come
    back in ``tool_calls`` (a grammar that admitted only ``<tool_call>`` tags or text answered
    the first two in prose, and could not make two calls)."""
    cache = os.environ.get("ERRAND_TEST_MODEL_CACHE")
    model = EmbeddedModel(bundled=DEFAULT_MODEL, cache_dir=Path(cache) if cache else None, n_ctx=4096)
    model.load()
    try:
        s = serve(model=model)
        quadratic = {
            "type": "function",
            "function": {
                "name": "solve_quadratic",
                "description": "Real roots of the quadratic equation a*x^2 + b*x + c = 0.",
                "parameters": {
                    "type": "object",
                    "properties": {k: {"type": "number"} for k in "abc"},
                    "required": ["a", "b", "c"],
                },
            },
        }
        stock = {
            "type": "function",
            "function": {
                "name": "get_stock_price",
                "description": "Latest trading price of a listed company's shares.",
                "parameters": {
                    "type": "object",
                    "properties": {"symbol": {"type": "string"}},
                    "required": ["symbol"],
                },
            },
        }
        with openai.OpenAI(base_url=s.v1, api_key=s.key(), max_retries=0, timeout=120) as client:

            def calls(prompt: str, tools: list[dict[str, object]]) -> list[tuple[str, object]]:
                r = client.chat.completions.create(
                    model=model.name,
                    messages=[{"role": "user", "content": prompt}],
                    tools=tools,
                    tool_choice="auto",
                    max_tokens=96,
                )
                made = r.choices[0].message.tool_calls or []
                assert made, f"answered in text: {r.choices[0].message.content!r}"
                assert r.choices[0].finish_reason == "tool_calls"
                return [(c.function.name, json.loads(c.function.arguments)) for c in made]

            assert calls("Find the roots of 3x^2 - 7x + 2 = 0.", [quadratic]) == [
                ("solve_quadratic", {"a": 3, "b": -7, "c": 2})
            ]
            assert calls("What are Apple shares (AAPL) trading at?", [quadratic, stock, WEATHER]) == [
                ("get_stock_price", {"symbol": "AAPL"})
            ]
            both = calls("What's the weather in Oslo and in Helsinki?", [WEATHER])
            assert sorted(args["city"] for _, args in both) == ["Helsinki", "Oslo"]
    finally:
        model.close()
