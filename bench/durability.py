"""Per-step cost of durable runs against in-memory runs, on the scripted model.

The same errand runs both ways: ``n - 1`` steps that each call the cheap read tool
``get_listing`` on a listing the request names, then an answer. In memory it is the plain
agent loop; durably it is a DBOS workflow whose every model turn is a checkpointed step
(a read-only call takes a step number but no checkpoint: see `errand.runs.durable`), with
every event written to the run log. Every run must have made its ``n - 1`` calls. Each mode runs with n = 1 and n = 21 steps; the
difference between the two cancels what a run costs once (queueing, the first and last
writes), leaving the cost per step:

    overhead per step = ((durable(21) - durable(1)) - (memory(21) - memory(1))) / 20

Modes alternate in each round, so machine noise hits both alike.

    python bench/durability.py [--rounds N] [--postgres URL] [--out PATH]

Prints a Markdown table and writes ``bench/results/durability.json``, with the environment
block of ``bench/environment.py`` and every round's seconds (``times_s``, so runs of two
versions can be pooled). Target: at most 5 ms added per step on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from environment import Environment

from errand.agent.events import RunFinished, ToolResultEvent
from errand.config import Settings
from errand.llm.scripted import ScriptedModel, Turn, call
from errand.llm.types import Message
from errand.runs import Runs
from errand.runtime import build_agent, open_store

RESULTS = Path(__file__).resolve().parent / "results" / "durability.json"
LONG, SHORT = 21, 1
TASK = "Look at {n} listings: {ids}; then say done."
"""The request names every listing it asks about: `get_listing` runs only on an id the user or a
tool result gave (before 2026-12-06 the bench named only the first, and the other calls were
refused without running, so "durable" measured model turns alone)."""


def task(n: int) -> str:
    """The request of an ``n``-step run: ``n - 1`` listings to look at."""
    return TASK.format(n=n, ids=", ".join(f"HZ-{i:05d}" for i in range(1, n)) or "none")


def _script(max_steps: int) -> ScriptedModel:
    """Turn i calls get_listing until the request's step count is reached, then answers."""

    def turn(i: int) -> Any:
        def play(messages: Sequence[Message]) -> Turn:
            wanted = int(next(m for m in messages if m.role == "user").text.split()[2].rstrip(":"))
            if i + 1 >= wanted:
                return "Done."
            return call("get_listing", listing_id=f"HZ-{i + 1:05d}")

        return play

    return ScriptedModel([turn(i) for i in range(max_steps)], per_conversation=True)


async def _memory(settings: Settings, n: int) -> float:
    store = open_store(settings)
    ran, last = 0, None
    try:
        agent = build_agent(settings, _script(LONG), store)
        started = time.perf_counter()
        async for last in agent.stream(task(n)):
            ran += isinstance(last, ToolResultEvent) and last.ok
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    assert isinstance(last, RunFinished) and last.steps == n, last
    assert ran == n - 1, f"{ran} of {n - 1} calls ran"
    return elapsed


async def _durable(runs: Runs, n: int) -> float:
    started = time.perf_counter()
    rec = await runs.create("bench", task(n))
    done = await runs.wait("bench", rec.id, timeout_s=120)
    elapsed = time.perf_counter() - started
    assert done.status == "succeeded", done.error
    ran = sum(e.type == "tool_result" and bool(e.data["ok"]) for e in await runs.events("bench", rec.id))
    assert ran == n - 1, f"{ran} of {n - 1} calls ran"
    return elapsed


async def measure(settings: Settings, rounds: int) -> dict[str, Any]:
    """Median seconds per mode and length, and the overhead per step in ms."""
    runs = await Runs.open(settings.model_copy(update={"max_steps": LONG + 1}), model=_script(LONG))
    runs.poll_s = 0.002
    times: dict[str, list[float]] = {k: [] for k in ("memory_1", "memory_21", "durable_1", "durable_21")}
    try:
        await _durable(runs, SHORT)  # warm up both paths once
        await _memory(settings, SHORT)
        for _ in range(rounds):
            for n in (SHORT, LONG):
                times[f"durable_{n}"].append(await _durable(runs, n))
                times[f"memory_{n}"].append(
                    await _memory(settings.model_copy(update={"max_steps": LONG + 1}), n)
                )
    finally:
        runs.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    per_step_ms = ((med["durable_21"] - med["durable_1"]) - (med["memory_21"] - med["memory_1"])) / (
        LONG - SHORT
    )
    return {
        "median_s": med,
        "memory_ms_per_step": (med["memory_21"] - med["memory_1"]) / (LONG - SHORT) * 1000,
        "durable_ms_per_step": (med["durable_21"] - med["durable_1"]) / (LONG - SHORT) * 1000,
        "overhead_ms_per_step": per_step_ms * 1000,
        "ratio_21_steps": med["durable_21"] / med["memory_21"],
        "rounds": rounds,
        "times_s": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL URL")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    env = Environment.capture()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        backends = {"sqlite": Settings(home=Path(tmp) / "home")}
        if args.postgres:
            backends["postgres"] = Settings(home=Path(tmp) / "pg", database_url=args.postgres)
        for name, settings in backends.items():
            results[name] = asyncio.run(measure(settings, args.rounds))
    results["environment"] = env.finish()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(
        "| database | in memory, ms/step | durable, ms/step | added per step, ms | durable / memory (21 steps) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name in ("sqlite", "postgres"):
        if name in results:
            r = results[name]
            print(
                f"| {name} | {r['memory_ms_per_step']:.2f} | {r['durable_ms_per_step']:.2f} | "
                f"{r['overhead_ms_per_step']:.2f} | {r['ratio_21_steps']:.2f} |"
            )


if __name__ == "__main__":
    main()
