"""Prompt tokens evaluated per step over an 8-step agent run, prompt cache on vs off.

The embedded model answers 8 steps of one growing conversation: the headline
errand's request, then after each step a real tool call and its real result (the
real-estate tools on a seeded SQLite database) appended exactly as the agent
appends them. Each step generates one token, so its wall time is its time to
first token (TTFT). The same transcript runs twice on one loaded model: with
llama.cpp's prompt cache (errand's default) and with it off.

- evaluated ÷ new tokens per step (steps 2-8; new = this step's prompt minus the
  last one's): target <= 1.1 with the cache;
- step-8 TTFT ÷ step-1 TTFT: target <= 1.3 with the cache.

The on-disk prefix cache is off here, so step 1 evaluates the whole system prompt
and tool schemas; its effect is measured separately as a third run, step 1 only.

    python bench/bench_prompt_cache.py [--model 1.5b|0.5b]

Prints a Markdown table; writes ``bench/results/prompt_cache.json``, with the environment
block of ``bench/environment.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from environment import Environment

from errand.agent.observations import observation
from errand.agent.prompts import AFTER_RESULT, SYSTEM_PROMPT, dated_task
from errand.config import Settings
from errand.llm.embedded import EmbeddedModel
from errand.llm.types import Message, ModelSettings, ToolCall, Usage, UsageEvent
from errand.llm.weights import ensure_model
from errand.services import builtin_registry
from errand.services.store import ServiceStore
from errand.tools import ToolContext
from errand.tools.calls import to_jsonable

RESULTS = Path(__file__).resolve().parent / "results" / "prompt_cache.json"
MODELS = {"1.5b": "qwen2.5-coder-1.5b", "0.5b": "qwen2.5-coder-0.5b"}
TASK = (
    "Find 3-bedroom homes in Hangzhou under 6 million yuan near a school rated 9 or better, "
    "and recommend the best value"
)
CALLS = [
    (
        "analyze_listings",
        {"city": "Hangzhou", "bedrooms": 3, "max_price": 6000000, "min_school_rating": 9, "limit": 3},
    ),
    ("get_listing", {"listing_id": "HZ-00446"}),
    ("compare_listings", {"listing_ids": ["HZ-00446", "HZ-00331"]}),
    ("neighbourhood_stats", {"city": "Hangzhou", "neighbourhood": "Gongshu"}),
    ("price_trend", {"city": "Hangzhou", "neighbourhood": "Gongshu", "months": 6}),
    ("mortgage_estimate", {"listing_id": "HZ-00446"}),
    ("search_listings", {"city": "Hangzhou", "bedrooms": 3, "max_price": 6000000, "limit": 3}),
]


def transcript(store: ServiceStore, charts: Path) -> list[list[Message]]:
    """The messages of steps 1..8: each step appends one call and its real result."""
    registry = builtin_registry()
    messages = [
        Message(role="system", content=SYSTEM_PROMPT),
        Message(role="user", content=dated_task(TASK, "2026-11-28")),
    ]
    steps = [list(messages)]
    for i, (name, args) in enumerate(CALLS):
        tool = registry.get(name)
        assert tool is not None
        with store.sessions() as s:
            value = tool.fn(**tool.bind(tool.validate(args), ToolContext(session=s, artifacts_dir=charts)))
        call = ToolCall(id=f"call_{i + 1}_0", name=name, arguments=args)
        messages.append(Message(role="assistant", tool_calls=[call]))
        messages.append(
            Message(
                role="tool",
                tool_call_id=call.id,
                name=name,
                content=observation(to_jsonable(value)) + AFTER_RESULT,
            )
        )
        steps.append(list(messages))
    return steps


async def one_step(model: EmbeddedModel, messages: list[Message], specs: Any) -> tuple[float, Usage]:
    """Wall time of a one-token step (its TTFT) and its usage."""
    usage = Usage()
    start = time.perf_counter()
    async for ev in model.stream(messages, specs, ModelSettings(max_tokens=1)):
        if isinstance(ev, UsageEvent):
            usage = ev.usage
    return time.perf_counter() - start, usage


async def run(
    model: EmbeddedModel, steps: list[list[Message]], specs: Any, cache: bool
) -> list[dict[str, Any]]:
    model.cache_prompt = cache
    rows: list[dict[str, Any]] = []
    previous = 0
    for i, messages in enumerate(steps, start=1):
        ttft, usage = await one_step(model, messages, specs)
        new = usage.prompt_tokens - previous
        previous = usage.prompt_tokens
        evaluated = usage.prompt_tokens - usage.cached_tokens
        rows.append(
            {
                "step": i,
                "prompt_tokens": usage.prompt_tokens,
                "new_tokens": new,
                "evaluated_tokens": evaluated,
                "evaluated_per_new": round(evaluated / new, 3) if new else None,
                "ttft_s": round(ttft, 3),
            }
        )
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="1.5b")
    opts = parser.parse_args()
    env = Environment.capture()
    settings = Settings()
    path = ensure_model(MODELS[opts.model], settings.resolved_model_cache_dir())
    with tempfile.TemporaryDirectory() as tmp:
        store = ServiceStore.open(f"sqlite:///{tmp}/bench.db")
        steps = transcript(store, Path(tmp))
        specs = builtin_registry().specs()
        model = EmbeddedModel(path, n_ctx=8192)
        model.load()
        await one_step(model, [*steps[0][:1], Message(role="user", content="warm up")], [])
        on = await run(model, steps, specs, cache=True)
        model.close()
        model = EmbeddedModel(path, n_ctx=8192)  # a fresh process's state: nothing cached
        model.load()
        off = await run(model, steps, specs, cache=False)
        model.close()
        prefix_dir = Path(tmp) / "prefix"
        disk = []
        for _ in range(2):  # first builds the saved prefix, second restores it like a new process
            m = EmbeddedModel(path, n_ctx=8192, prefix_cache_dir=prefix_dir)
            m.load()
            disk.append((await one_step(m, steps[0], specs))[0])
            m.close()
        store.close()

    later = [r["evaluated_per_new"] for r in on[1:]]
    summary = {
        "model": MODELS[opts.model],
        "max_evaluated_per_new_cache_on": max(later),
        "step8_over_step1_ttft_cache_on": round(on[-1]["ttft_s"] / on[0]["ttft_s"], 3),
        "step8_over_step1_ttft_cache_off": round(off[-1]["ttft_s"] / off[0]["ttft_s"], 3),
        "total_evaluated_on_over_off": round(
            sum(r["evaluated_tokens"] for r in on) / sum(r["evaluated_tokens"] for r in off), 3
        ),
        "step1_ttft_with_saved_prefix_s": round(disk[1], 3),
        "step1_ttft_without_saved_prefix_s": on[0]["ttft_s"],
        "step1_saved_prefix_over_cold": round(disk[1] / on[0]["ttft_s"], 3),
    }
    print(f"model {summary['model']}\n")
    print(
        "| step | prompt | new | evaluated (cache on) | evaluated ÷ new | TTFT on (s) | evaluated (off) | TTFT off (s) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for a, b in zip(on, off, strict=True):
        print(
            f"| {a['step']} | {a['prompt_tokens']} | {a['new_tokens']} | {a['evaluated_tokens']} | "
            f"{a['evaluated_per_new']} | {a['ttft_s']} | {b['evaluated_tokens']} | {b['ttft_s']} |"
        )
    print()
    for k, v in summary.items():
        print(f"- {k}: {v}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {"summary": summary, "cache_on": on, "cache_off": off, "environment": env.finish()}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
