"""A small set of real-estate errands on the embedded model, checked against the database.

Each errand runs through the real agent (routing, grammar, grounding) on a fresh
seeded SQLite database, in one process with the model loaded once. Each check
computes the right answer with the tools themselves and looks for it in the
agent's answer, so a fluent but wrong answer fails. Where the errand asks for a
recommendation, the home the answer recommends (the first listing id it names)
must be the best value the tools compute: rank 1 of ``analyze_listings`` for the
errand's own filters, or ``compare_listings``' ``best_value``. The headline errand's wall
time is also measured the way a user meets it: a new `errand run` process
(model load and prefix restore included), next to the model's own compute time
in the same run (ratio = errand's wall time ÷ time llama.cpp spent on the tokens).

    python bench/bench_errands.py [--model 1.5b|0.5b] [--headline-reps 2]

Prints a Markdown table; writes ``bench/results/errands.json``, with the environment
block of ``bench/environment.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from environment import Environment

from errand.agent import approve_all
from errand.agent.events import RunFailed, RunFinished, ToolCallStarted
from errand.config import Settings
from errand.llm import make_model
from errand.runtime import build_agent, open_store
from errand.services.realestate import tools as re_tools
from errand.services.store import ServiceStore
from errand.tools import ToolContext

RESULTS = Path(__file__).resolve().parent / "results" / "errands.json"
MODELS = {"1.5b": "qwen2.5-coder-1.5b", "0.5b": "qwen2.5-coder-0.5b"}
HEADLINE = (
    "Find 3-bedroom homes in Hangzhou under 6 million yuan near a school rated 9 or better, "
    "and recommend the best value"
)
IDS = re.compile(r"\b[A-Z]{2}-\d{5}\b")


def call(store: ServiceStore, fn: Any, **args: Any) -> Any:
    """The right answer, from the tool itself."""
    with store.sessions() as s:
        return fn.fn(ctx=ToolContext(session=s, artifacts_dir=Path(tempfile.gettempdir())), **args)


def has_number(answer: str, value: float) -> bool:
    digits = re.sub(r"(?<=\d),(?=\d{3})", "", answer)
    return any(
        abs(float(n) - value) <= max(abs(value) * 0.005, 0.051) for n in re.findall(r"\d+(?:\.\d+)?", digits)
    )


def recommended(answer: str) -> str | None:
    """The listing the answer recommends: the first id it names (None when it names none)."""
    named = IDS.findall(answer)
    return named[0] if named else None


HEADLINE_FILTERS: dict[str, Any] = {
    "city": "Hangzhou",
    "bedrooms": 3,
    "max_price": 6_000_000,
    "min_school_rating": 9,
}
"""The headline errand's filters, as its request states them (both languages)."""


def homes_ok(store: ServiceStore, answer: str) -> bool:
    """Every id named is a match, and the one recommended is the analysis's best value."""
    named = set(IDS.findall(answer))
    top = call(store, re_tools.analyze_listings, **HEADLINE_FILTERS, limit=50)
    allowed = {h["id"] for h in top["top"]}
    best = top["top"][0]["id"]
    return bool(named) and named <= allowed and recommended(answer) == best


@dataclass
class Errand:
    name: str
    task: str
    check: Callable[[ServiceStore, RunFinished, list[Any]], bool]


def _mortgage(store: ServiceStore, fin: RunFinished, _: list[Any]) -> bool:
    right = call(store, re_tools.mortgage_estimate, listing_id="HZ-00446", down_payment_pct=30, years=30)
    return has_number(fin.answer, right["monthly_payment"])


def _trend(store: ServiceStore, fin: RunFinished, _: list[Any]) -> bool:
    right = call(store, re_tools.price_trend, city="Shanghai", neighbourhood="Pudong", months=12)
    return has_number(fin.answer, abs(right["change_pct"]))


def _cheapest_mortgage(store: ServiceStore, fin: RunFinished, _: list[Any]) -> bool:
    found = call(
        store,
        re_tools.search_listings,
        city="Chengdu",
        bedrooms=2,
        max_price=2_000_000,
        sort_by="price",
        limit=1,
    )
    right = call(store, re_tools.mortgage_estimate, listing_id=found["results"][0]["id"])
    return has_number(fin.answer, right["monthly_payment"])


def _cheapest_area(store: ServiceStore, fin: RunFinished, _: list[Any]) -> bool:
    stats = call(store, re_tools.neighbourhood_stats, city="Shenzhen")
    cheapest = min((r for r in stats["neighbourhoods"] if r["avg_per_m2"]), key=lambda r: r["avg_per_m2"])
    return cheapest["neighbourhood"].lower() in fin.answer.lower()


def _compare(store: ServiceStore, fin: RunFinished, _: list[Any]) -> bool:
    pair = ["HZ-00446", "HZ-00331"]
    best = call(store, re_tools.compare_listings, listing_ids=pair)["best_value"]
    return (
        set(pair) <= set(IDS.findall(fin.answer))
        and recommended(fin.answer) == best
        and not fin.unverified_numbers
    )


def _small_talk(store: ServiceStore, fin: RunFinished, events: list[Any]) -> bool:
    return not any(isinstance(e, ToolCallStarted) for e in events) and len(fin.answer) > 10


ERRANDS = [
    Errand("headline", HEADLINE, lambda s, f, e: homes_ok(s, f.answer) and not f.unverified_numbers),
    Errand(
        "headline (Chinese)",
        "帮我在杭州找三居室，预算600万以内，附近有9分以上的学校，推荐性价比最高的",
        lambda s, f, e: homes_ok(s, f.answer),
    ),
    Errand(
        "mortgage of a listing",
        "What's the monthly mortgage on HZ-00446 with 30% down over 30 years?",
        _mortgage,
    ),
    Errand("price trend", "How have home prices in Pudong, Shanghai changed over the last year?", _trend),
    Errand(
        "cheapest area",
        "Which neighbourhood in Shenzhen has the lowest home price per square metre?",
        _cheapest_area,
    ),
    Errand("compare two", "Compare homes HZ-00446 and HZ-00331: which is the better value?", _compare),
    Errand(
        "two steps: search then mortgage",
        "Find 2-bedroom flats in Chengdu under 2 million yuan, then tell me the monthly mortgage payment for the cheapest one",
        _cheapest_mortgage,
    ),
    Errand("small talk", "Hi! What can you help me with?", _small_talk),
]


async def run_errands(model_name: str) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp), bundled_model=model_name)  # type: ignore[arg-type]
        store = open_store(settings)
        model = make_model(settings)
        model.load()  # type: ignore[attr-defined]
        agent = build_agent(settings, model, store, approver=approve_all)
        for errand in ERRANDS:
            events = [e async for e in agent.stream(errand.task)]
            final = events[-1]
            ok = isinstance(final, RunFinished) and errand.check(store, final, events)
            rows.append(
                {
                    "errand": errand.name,
                    "passed": ok,
                    "steps": final.steps,
                    "tools": [e.name for e in events if isinstance(e, ToolCallStarted)],
                    "wall_s": round(final.duration_ms / 1000, 1),
                    "answer": final.answer if isinstance(final, RunFinished) else final.reason,
                    "unverified": final.unverified_numbers if isinstance(final, RunFinished) else [],
                    "failed": isinstance(final, RunFailed),
                }
            )
            print(f"{errand.name}: {'pass' if ok else 'FAIL'} ({rows[-1]['wall_s']} s)", file=sys.stderr)
        await model.aclose()
        store.close()
    return rows


def headline_wall(model_name: str, reps: int) -> list[dict[str, float]]:
    """`errand run --json HEADLINE` in a new process, as a user runs it."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ERRAND_HOME": tmp, "ERRAND_BUNDLED_MODEL": model_name}
        for _ in range(reps):
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "errand", "run", "--json", HEADLINE],
                env=env,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - start
            final = json.loads(proc.stdout.splitlines()[-1])
            usage = final.get("usage", {})
            compute = (usage.get("prompt_ms", 0) + usage.get("completion_ms", 0)) / 1000
            out.append(
                {
                    "wall_s": round(wall, 1),
                    "model_compute_s": round(compute, 1),
                    "wall_over_compute": round(wall / compute, 2) if compute else 0.0,
                    "ok": final["type"] == "run_finished",
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="1.5b")
    parser.add_argument("--headline-reps", type=int, default=2)
    opts = parser.parse_args()
    env = Environment.capture()
    name = MODELS[opts.model]
    rows = asyncio.run(run_errands(name))
    walls = headline_wall(name, opts.headline_reps)
    passed = sum(r["passed"] for r in rows)
    print(f"model {name}: {passed}/{len(rows)} errands pass\n")
    print("| errand | pass | steps | tools | wall (s) |")
    print("|---|---|---:|---|---:|")
    for r in rows:
        print(
            f"| {r['errand']} | {'yes' if r['passed'] else 'no'} | {r['steps']} | {', '.join(r['tools'])} | {r['wall_s']} |"
        )
    print("\nheadline errand, new process each time:")
    for w in walls:
        print(
            f"- wall {w['wall_s']} s, model compute {w['model_compute_s']} s, ratio {w['wall_over_compute']}"
        )
    median = statistics.median(w["wall_s"] for w in walls)
    print(f"- median wall {median} s (target <= 60 s)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "model": name,
                "passed": passed,
                "errands": rows,
                "headline": walls,
                "headline_median_wall_s": median,
                "environment": env.finish(),
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
