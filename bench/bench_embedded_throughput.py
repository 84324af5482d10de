"""Embedded backend throughput: errand's `EmbeddedModel.stream` ÷ the same call made directly.

Both sides share one loaded ``xllamacpp.Server`` and send the same request: the
prompt errand renders with the model's chat template, the same ``n_predict``,
temperature 0 and ``cache_prompt: false`` (so every run evaluates the whole
prompt and prefill is measured, not the cache). Runs are interleaved, A/B then
B/A, after one untimed warm-up of each.

- **errand**: ``async for ev in model.stream(messages, [], settings)``, which
  renders the prompt (``/apply-template`` over loopback HTTP), runs the completion
  in a worker thread, bridges chunks to the event loop and parses them.
- **direct**: ``server.handle_completions(body, callback)`` with the already
  rendered prompt, in the calling thread, the callback only noting times.

Measured at the client, so errand's own overhead counts: prefill tokens/s =
prompt tokens ÷ time to the first streamed token; decode tokens/s = (completion
tokens - 1) ÷ (last token time - first token time). llama.cpp's own timings
(``prompt_per_second``, ``predicted_per_second``) are reported beside them.

    python bench/bench_embedded_throughput.py [--model 1.5b|0.5b] [--reps 3] [--n-predict 64]

Prints a Markdown table and writes ``bench/results/embedded_throughput.json``, with the
environment block of ``bench/environment.py``.
Target: both ratios >= 0.95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from environment import Environment

from errand.config import Settings
from errand.llm.embedded import EmbeddedModel
from errand.llm.types import Message, ModelSettings, TextDelta, UsageEvent
from errand.llm.weights import ensure_model

RESULTS = Path(__file__).resolve().parent / "results" / "embedded_throughput.json"
MODELS = {"1.5b": "qwen2.5-coder-1.5b", "0.5b": "qwen2.5-coder-0.5b"}
TARGET = 0.95

SYSTEM = (
    "You are errand, an assistant that gets real-world errands done. You plan the work, call "
    "tools on real services, ask before anything that spends money, and answer with what you did "
    "and why. Every number in an answer must come from a tool result. Keep answers short and "
    "concrete: name the listing, the price in yuan, the size in square metres, the school rating "
    "and the commute. When several options fit, rank them by value and say how you ranked them."
)
USER = (
    "I am moving to Hangzhou with my family next spring. We need three bedrooms, a good primary "
    "school nearby (rated 9 or better), at most 40 minutes to Xixi by metro, and we can spend up "
    "to 6 million yuan. Before we look at listings, write a detailed guide to the districts of "
    "Hangzhou for a family like ours: for each district say what living there is like, typical "
    "prices per square metre, schools, parks and commute, and what to watch out for."
)


@dataclass
class Run:
    """One timed request."""

    side: str
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float
    decode_s: float
    server_prefill_tps: float
    server_decode_tps: float

    @property
    def prefill_tps(self) -> float:
        return self.prompt_tokens / self.ttft_s

    @property
    def decode_tps(self) -> float:
        return (self.completion_tokens - 1) / self.decode_s


async def run_errand(model: EmbeddedModel, messages: list[Message], settings: ModelSettings) -> Run:
    start = time.perf_counter()
    first = last = 0.0
    usage = None
    async for ev in model.stream(messages, [], settings):
        now = time.perf_counter()
        if isinstance(ev, TextDelta):
            first = first or now
            last = now
        elif isinstance(ev, UsageEvent):
            usage = ev.usage
    assert usage is not None and first
    return Run(
        side="errand",
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        ttft_s=first - start,
        decode_s=last - first,
        server_prefill_tps=usage.prompt_tokens / (usage.prompt_ms / 1000),
        server_decode_tps=usage.completion_tokens / (usage.completion_ms / 1000),
    )


def run_direct(server: Any, body: dict[str, Any]) -> Run:
    start = time.perf_counter()
    times: list[float] = []
    final: dict[str, Any] = {}

    def on_chunk(chunk: dict[str, Any]) -> bool:
        now = time.perf_counter()
        choices = chunk.get("choices") or [{}]
        if choices[0].get("text"):
            times.append(now)
        if "timings" in chunk:
            final.update(chunk)
        return False

    server.handle_completions(body, on_chunk)
    timings = final["timings"]
    return Run(
        side="direct",
        prompt_tokens=final["usage"]["prompt_tokens"],
        completion_tokens=final["usage"]["completion_tokens"],
        ttft_s=times[0] - start,
        decode_s=times[-1] - times[0],
        server_prefill_tps=timings["prompt_per_second"],
        server_decode_tps=timings["predicted_per_second"],
    )


def median(runs: list[Run], side: str, attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs if r.side == side)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="1.5b")
    parser.add_argument("--reps", type=int, default=3, help="timed runs of each side (>= 3)")
    parser.add_argument("--n-predict", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    env = Environment.capture()

    settings = Settings()
    name = MODELS[args.model]
    path = ensure_model(name, settings.resolved_model_cache_dir())
    model = EmbeddedModel(path, n_ctx=4096, n_threads=settings.n_threads)
    model.cache_prompt = False  # every run evaluates the whole prompt
    started = time.perf_counter()
    model.load()
    load_s = time.perf_counter() - started
    server = model.server  # the same loaded xllamacpp.Server, called directly

    messages = [Message(role="system", content=SYSTEM), Message(role="user", content=USER)]
    mset = ModelSettings(temperature=0.0, max_tokens=args.n_predict, seed=0)
    prompt = model.render_prompt(messages, [])
    body = model.completion_request(prompt, [], mset)

    await run_errand(model, messages, mset)  # untimed warm-up of both paths
    await asyncio.to_thread(run_direct, server, body)
    runs: list[Run] = []
    for rep in range(args.reps):
        order = ("errand", "direct") if rep % 2 == 0 else ("direct", "errand")
        for side in order:
            if side == "errand":
                runs.append(await run_errand(model, messages, mset))
            else:
                runs.append(await asyncio.to_thread(run_direct, server, body))
            r = runs[-1]
            print(
                f"  rep {rep + 1} {side:6}: prefill {r.prefill_tps:6.1f} tok/s, "
                f"decode {r.decode_tps:5.1f} tok/s ({r.prompt_tokens} + {r.completion_tokens} tokens)",
                flush=True,
            )
    await model.aclose()

    rows = []
    for metric, attr in (
        ("prefill tok/s (client)", "prefill_tps"),
        ("decode tok/s (client)", "decode_tps"),
        ("prefill tok/s (llama.cpp timings)", "server_prefill_tps"),
        ("decode tok/s (llama.cpp timings)", "server_decode_tps"),
    ):
        e, d = median(runs, "errand", attr), median(runs, "direct", attr)
        rows.append({"metric": metric, "errand": e, "direct": d, "ratio": e / d})
    ok = all(row["ratio"] >= TARGET for row in rows[:2])

    print(f"\nmodel {name}, {model.n_threads} threads, {args.reps} interleaved runs per side, medians\n")
    print("| metric | errand | direct xllamacpp | errand ÷ direct |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['metric']} | {row['errand']:.1f} | {row['direct']:.1f} | {row['ratio']:.3f} |")
    print(f"\ntarget: both client ratios >= {TARGET}: {'met' if ok else 'NOT met'}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "model": name,
        "model_load_s": load_s,
        "n_threads": model.n_threads,
        "n_predict": args.n_predict,
        "reps": args.reps,
        "rows": rows,
        "target": TARGET,
        "target_met": ok,
        "runs": [asdict(r) | {"prefill_tps": r.prefill_tps, "decode_tps": r.decode_tps} for r in runs],
        "xllamacpp": metadata.version("xllamacpp"),
        "environment": env.finish(),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
