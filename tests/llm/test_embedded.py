"""The embedded backend on the real 0.5B test model (slow), plus its fast edges."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from errand.errors import ConfigError, ModelFileError, ModelResponseError
from errand.llm.base import collect
from errand.llm.embedded import EmbeddedModel
from errand.llm.grammar import call_schema, tool_call_grammar
from errand.llm.llamacpp import physical_cores
from errand.llm.parsing import parse_output
from errand.llm.thinking import STOP_SENTENCE
from errand.llm.types import (
    Finish,
    ImagePart,
    Message,
    ModelEvent,
    ModelSettings,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    UsageEvent,
)
from tests.llm.conftest import WEATHER

SETTINGS = ModelSettings(temperature=0.0, max_tokens=48)

NESTED = ToolSpec(
    name="search_homes",
    description="Search homes for sale.",
    parameters={
        "type": "object",
        "properties": {
            "where": {"$ref": "#/$defs/Area"},
            "bedrooms": {"type": "integer"},
            "max_price": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
        },
        "required": ["where", "bedrooms"],
        "$defs": {
            "Area": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        },
    },
)
"""A pydantic-shaped schema: ``$defs`` and ``$ref`` must survive the wrapping into a call schema."""


async def events_of(model: EmbeddedModel, messages: list[Message], tools: list[ToolSpec]) -> list[ModelEvent]:
    return [ev async for ev in model.stream(messages, tools, SETTINGS)]


# -- fast: no model needed ----------------------------------------------------


def test_physical_cores_is_positive() -> None:
    assert physical_cores() >= 1


def test_call_schema_hoists_defs_and_keeps_refs_resolvable() -> None:
    schema = call_schema(NESTED)
    assert schema["properties"]["name"] == {"const": "search_homes"}
    assert schema["$defs"]["Area"]["required"] == ["city"]
    assert schema["properties"]["arguments"]["properties"]["where"] == {"$ref": "#/$defs/Area"}
    assert "$defs" not in schema["properties"]["arguments"]
    assert NESTED.parameters["$defs"], "the tool's own schema is not modified"


def test_grammar_offers_each_tool_or_text() -> None:
    grammar = tool_call_grammar([WEATHER, NESTED])
    assert grammar.startswith("%llguidance {}\nstart: tagged | fenced | bare | text\n")
    assert 'tag: "<tool_call>\\n" call "\\n</tool_call>"\ncall: call_0 | call_1\n' in grammar
    assert grammar.count("%json ") == 2
    with pytest.raises(ValueError):
        tool_call_grammar([])


def test_missing_file_is_a_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        EmbeddedModel(tmp_path / "nope.gguf").load()


def test_non_gguf_file_is_a_model_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_text("this is not a model")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        EmbeddedModel(bad).load()


def test_broken_gguf_is_a_model_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    model = EmbeddedModel(bad)
    with pytest.raises(ModelFileError, match="could not load"):
        model.load()
    assert not model.loaded


def test_images_need_a_multimodal_model() -> None:
    model = EmbeddedModel(Path("/nonexistent.gguf"))  # fails before loading anything
    msg = Message(
        role="user", content=[TextPart(text="what is this?"), ImagePart(url="data:image/png;base64,AA")]
    )
    with pytest.raises(ConfigError, match="Images are not supported by EmbeddedModel"):
        model.render_prompt([msg])


def test_completion_request_carries_stop_top_p_and_the_reply_schema() -> None:
    """The gateway's ``stop``, ``top_p`` and ``response_format`` reach llama.cpp's completion body."""
    model = EmbeddedModel(Path("/nonexistent.gguf"))  # nothing is loaded
    plain = model.completion_request("p", [WEATHER], ModelSettings())
    assert "stop" not in plain and "top_p" not in plain
    settings = ModelSettings(stop=["\n\n", "END"], top_p=0.9, response_format={"type": "object"})
    body = model.completion_request("p", [], settings)
    assert (body["stop"], body["top_p"]) == (["\n\n", "END"], 0.9)
    assert body["grammar"].startswith('%llguidance {}\nstart: reply\nreply: %json {"type": "object"')


# -- slow: the real model -----------------------------------------------------


@pytest.mark.slow
async def test_text_answer_streams_several_deltas(embedded: EmbeddedModel) -> None:
    events = await events_of(embedded, [Message(role="user", content="Count from one to ten in words.")], [])
    deltas = [ev for ev in events if isinstance(ev, TextDelta)]
    assert len(deltas) >= 5
    assert "".join(d.text for d in deltas).strip()
    assert isinstance(events[-2], UsageEvent) and isinstance(events[-1], Finish)
    assert events[-1].reason in ("stop", "length")


@pytest.mark.slow
async def test_tool_call_matches_the_schema(embedded: EmbeddedModel) -> None:
    response = await collect(
        embedded.stream([Message(role="user", content="What's the weather in Paris?")], [WEATHER], SETTINGS)
    )
    assert response.finish_reason == "tool_calls"
    assert len(response.tool_calls) == 1
    call = response.tool_calls[0]
    assert call.name == "get_weather"
    assert set(call.arguments) == {"city"} and isinstance(call.arguments["city"], str)
    assert "paris" in call.arguments["city"].lower()


@pytest.mark.slow
def test_grammar_is_enforced_for_pydantic_schemas(embedded: EmbeddedModel) -> None:
    """llama.cpp silently drops an llguidance grammar that fails to compile; check it did not."""
    messages = [Message(role="user", content="Find 3-bedroom homes in Hangzhou under 5000000.")]
    prompt = embedded.render_prompt(messages, [NESTED])
    body = embedded.completion_request(prompt, [NESTED], ModelSettings(max_tokens=60))
    body["stream"] = False
    request = urllib.request.Request(
        embedded.listening_address + "/completion",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {embedded.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=120) as res:
        content = json.loads(res.read())["content"]
    # Unconstrained, this model writes pretty-printed JSON, often with extra keys; the grammar
    # admits a call only as compact JSON of the schema (in a tag, a fence or bare), or text.
    assert content and content[0] not in " \n"
    calls = [ev.call for ev in parse_output(content) if isinstance(ev, ToolCallEvent)]
    if calls:
        assert '{"name": "search_homes", "arguments": {' in content  # compact: the grammar was used
        assert calls[0].name == "search_homes" and isinstance(calls[0].arguments["where"], dict)
    else:
        assert "{" not in content and "`" not in content


@pytest.mark.slow
async def test_usage_numbers_are_sane(embedded: EmbeddedModel) -> None:
    events = await events_of(embedded, [Message(role="user", content="Say hello.")], [])
    usage = next(ev.usage for ev in events if isinstance(ev, UsageEvent))
    assert usage.prompt_tokens > 5
    assert 0 <= usage.cached_tokens <= usage.prompt_tokens
    assert 0 < usage.completion_tokens <= SETTINGS.max_tokens
    assert usage.completion_ms > 0
    assert usage.prompt_ms > 0 or usage.cached_tokens == usage.prompt_tokens - 1


def conversation() -> list[list[Message]]:
    """Three steps of one agent run, each the previous one plus what happened."""
    step1 = [
        Message(role="system", content="You help with the weather."),
        Message(role="user", content="What's the weather in Paris?"),
    ]
    call = ToolCall(id="call_0", name="get_weather", arguments={"city": "Paris"})
    step2 = [
        *step1,
        Message(role="assistant", tool_calls=[call]),
        Message(
            role="tool", tool_call_id="call_0", name="get_weather", content='{"temp_c": 14, "sky": "rain"}'
        ),
    ]
    step3 = [
        *step2,
        Message(role="assistant", content="It is 14°C and raining in Paris."),
        Message(role="user", content="And in Rome?"),
    ]
    return [step1, step2, step3]


@pytest.mark.slow
def test_rendered_prompt_is_append_only(embedded: EmbeddedModel) -> None:
    prompts = [embedded.render_prompt(step, [WEATHER]) for step in conversation()]
    for before, after in itertools.pairwise(prompts):
        assert after.startswith(before), "history must only be appended, or the prompt cache misses"
    assert "<tool_response>" in prompts[1] and '"name": "get_weather"' in prompts[1]


@pytest.mark.slow
async def test_second_step_reuses_the_prompt_cache(embedded: EmbeddedModel) -> None:
    step1, step2, _ = conversation()
    first = await collect(embedded.stream(step1, [WEATHER], SETTINGS))
    second = await collect(embedded.stream(step2, [WEATHER], SETTINGS))
    assert second.usage.cached_tokens > 0
    assert second.usage.cached_tokens >= first.usage.prompt_tokens * 0.9
    assert second.usage.prompt_tokens > first.usage.prompt_tokens


@pytest.mark.slow
async def test_stopping_early_stops_generation(embedded: EmbeddedModel) -> None:
    stream = embedded.stream(
        [Message(role="user", content="Write a long story about a lighthouse keeper.")],
        [],
        ModelSettings(max_tokens=400),
    )
    seen = 0
    async for ev in stream:
        seen += isinstance(ev, TextDelta)
        if seen == 3:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    # Counted in tokens, not seconds, so a busy machine cannot fail it: had the story kept
    # going, the slot would be seen decoding on towards its 400 tokens.
    decoded = _decoded_until_idle(embedded)
    assert decoded < 100
    response = await collect(embedded.stream([Message(role="user", content="Say hi.")], [], SETTINGS))
    assert response.text


def _decoded_until_idle(model: EmbeddedModel) -> int:
    """The most tokens the slot was seen to have decoded before it went idle."""
    most = 0
    for _ in range(6000):  # polled every 0.05 s: five minutes at most
        slot = _slots(model)[0]
        if not slot.get("is_processing"):
            return most
        most = max([most, *(t.get("n_decoded", 0) for t in slot.get("next_token") or [])])
        time.sleep(0.05)
    raise AssertionError("the slot never went idle")


def _slots(model: EmbeddedModel) -> Any:
    request = urllib.request.Request(
        model.listening_address + "/slots", headers={"Authorization": f"Bearer {model.api_key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as res:
        return json.loads(res.read())


@pytest.mark.slow
def test_http_server_needs_the_api_key(embedded: EmbeddedModel) -> None:
    assert all(not slot.get("is_processing") for slot in _slots(embedded))
    request = urllib.request.Request(embedded.listening_address + "/slots")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    info.value.close()
    assert info.value.code == 401


@pytest.mark.slow
async def test_prompt_over_the_context_is_a_response_error(embedded: EmbeddedModel) -> None:
    too_long = Message(role="user", content="word " * (embedded.n_ctx + 500))
    with pytest.raises(ModelResponseError, match="context"):
        await collect(embedded.stream([too_long], [], SETTINGS))
    assert (await collect(embedded.stream([Message(role="user", content="Hi")], [], SETTINGS))).text


@pytest.mark.slow
async def test_saved_prefix_is_reused_by_a_new_process(test_model_path: Path, tmp_path: Path) -> None:
    """The system prompt and tool schemas are evaluated once, then restored from disk."""
    step1 = conversation()[0]
    first = EmbeddedModel(test_model_path, n_ctx=4096, prefix_cache_dir=tmp_path)
    cold = await collect(first.stream(step1, [WEATHER], SETTINGS))
    first.close()
    (saved,) = tmp_path.glob("prefix-*.bin")
    assert saved.stat().st_size > 1_000_000
    second = EmbeddedModel(test_model_path, n_ctx=4096, prefix_cache_dir=tmp_path)  # like a new process
    warm = await collect(second.stream(step1, [WEATHER], SETTINGS))
    second.close()
    assert warm.usage.cached_tokens > 0 and warm.usage.cached_tokens >= cold.usage.cached_tokens
    assert warm.text == cold.text and warm.tool_calls == cold.tool_calls  # same answer from restored state
    assert [p.name for p in tmp_path.iterdir()] == [saved.name]  # no temporary files left


def test_grammar_can_require_a_call_and_limit_calls() -> None:
    required = tool_call_grammar([WEATHER], required=True)
    assert "start: tagged\n" in required and "text:" not in required
    assert 'tagged: tag ("\\n" tag){0,2}\n' in tool_call_grammar([WEATHER], max_calls=3)
    schema = call_schema(WEATHER)
    assert schema["properties"]["arguments"]["additionalProperties"] is False


@pytest.mark.slow
def test_the_think_grammar_compiles_and_is_enforced(embedded: EmbeddedModel) -> None:
    """A grammar that admits a think block first is one llama.cpp compiles (it would drop it
    silently otherwise): shown no tools, this model answers in prose, but held to a call it
    writes the think block or a compact call."""
    messages = [Message(role="user", content="What's the weather in Paris?")]
    prompt = embedded.render_prompt(messages)
    settings = ModelSettings(max_tokens=40, tool_choice="required")
    body = embedded.completion_request(prompt, [WEATHER], settings, think="optional")
    body["stream"] = False
    request = urllib.request.Request(
        embedded.listening_address + "/completion",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {embedded.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=120) as res:
        content = json.loads(res.read())["content"]
    assert content.startswith("<think>") or content.startswith(
        '<tool_call>\n{"name": "get_weather", "arguments": {'
    )


@pytest.mark.slow
async def test_thinking_opened_by_the_prompt_is_cut_at_its_budget_then_answered(
    embedded: EmbeddedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template that opens ``<think>`` (QwQ's, DeepSeek-R1's), on the real model: it thinks for
    the budget's tokens, the thinking is closed, and it calls the tool or answers from there."""
    render = embedded.render_prompt
    monkeypatch.setattr(embedded, "render_prompt", lambda m, t=(): render(m, t) + "<think>\n")
    monkeypatch.setattr(embedded, "thinking", "on")
    monkeypatch.setattr(embedded, "max_thinking_tokens", 8)
    response = await collect(
        embedded.stream([Message(role="user", content="What's the weather in Paris?")], [WEATHER], SETTINGS)
    )
    # this model never closes a think block by itself: the budget does
    assert response.usage.reasoning_tokens == 8 and response.reasoning.endswith(STOP_SENTENCE)
    assert response.tool_calls or response.text
    assert (
        "think>" not in response.text and response.usage.completion_tokens > response.usage.reasoning_tokens
    )
