"""Agent-loop overhead per step on a scripted model: errand against smolagents and pydantic-ai.

Every framework replays the same 8-step transcript: seven steps that each call the
trivial tool ``lookup(city, n)`` and a final answer. The tool does no work, so the
time measured is each framework's own bookkeeping (messages, schemas, validation,
events). Frameworks run in one process, interleaved in rounds in a shuffled order,
and each run is timed with ``time.perf_counter_ns``.

The headline rows register ``lookup`` as a plain function. errand and pydantic-ai run
such a function in a worker thread, smolagents calls it inline; so errand and
pydantic-ai are also timed with an ``async def`` twin, which both run inline.

    python bench/bench_loop_overhead.py [--runs N] [--warmup N] [--out PATH]

Prints a Markdown table and writes ``bench/results/loop_overhead.json``, with the
environment block of ``bench/environment.py``. A peer that cannot be imported or run is
reported as missing; errand always runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from environment import Environment

TASK = "Look up the seven cities and tell me when you are done."
CITIES = ["Hangzhou", "Chengdu", "Suzhou", "Xiamen", "Qingdao", "Kunming", "Dalian"]
"""One tool step per city; arguments differ each step so no framework sees a repeated call."""
ANSWER = "Done: all seven cities looked up."
STEPS = len(CITIES) + 1
"""Model calls per run: one per tool call, then the answer."""
RESULTS = Path(__file__).resolve().parent / "results" / "loop_overhead.json"

_calls: list[int] = []
"""Every ``lookup`` call appends its ``n``; checked after warm-up, cleared between runs."""


def lookup(city: str, n: int) -> dict[str, object]:
    """Look up a city.

    Args:
        city: City name.
        n: Sequence number of the lookup.
    """
    _calls.append(n)
    return {"city": city, "n": n, "ok": True}


async def alookup(city: str, n: int) -> dict[str, object]:
    """Look up a city.

    Args:
        city: City name.
        n: Sequence number of the lookup.
    """
    _calls.append(n)
    return {"city": city, "n": n, "ok": True}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


class Framework:
    """One framework driven through the shared transcript."""

    name = ""
    dist = ""
    how = ""
    """How the framework is driven, for the report."""

    def __init__(self, async_tool: bool = False) -> None:
        self.async_tool = async_tool
        self.label = f"{self.name} (async tool)" if async_tool else self.name
        self.tool_fn: Callable[..., Any] = alookup if async_tool else lookup

    def prepare(self) -> Callable[[], Any]:
        """Build what one run needs (untimed) and return the thunk to time."""
        raise NotImplementedError

    def answer_of(self, result: Any) -> str:
        """The final answer text in what a run returned."""
        raise NotImplementedError


class Errand(Framework):
    name, dist = "errand", "errand"
    how = (
        "`Agent(ScriptedModel(turns), ToolRegistry([tool(lookup)]), budget=Budget(max_steps=20))`, "
        "`await agent.run(task)`; a fresh model and agent per run"
    )

    def __init__(self, async_tool: bool = False) -> None:
        super().__init__(async_tool)
        from errand import Agent, Budget, ScriptedModel, ToolRegistry, call, tool

        self._agent, self._model, self._call = Agent, ScriptedModel, call
        self._budget = Budget(max_steps=20)
        self._tools = ToolRegistry([tool(name="lookup")(self.tool_fn)])

    def prepare(self) -> Callable[[], Any]:
        turns: list[Any] = [self._call("lookup", city=c, n=i) for i, c in enumerate(CITIES)]
        agent = self._agent(self._model([*turns, ANSWER]), self._tools, budget=self._budget)
        return lambda: agent.run(TASK)

    def answer_of(self, result: Any) -> str:
        return str(getattr(result, "answer", result))


class PydanticAI(Framework):
    name, dist = "pydantic-ai", "pydantic-ai-slim"
    how = (
        "`Agent(tools=[Tool(lookup)])` built once; `await agent.run(task, model=FunctionModel(replay))` "
        "where `replay` is an async function returning the next prebuilt `ModelResponse` "
        "(`ToolCallPart` or `TextPart`); a fresh model per run"
    )

    def __init__(self, async_tool: bool = False) -> None:
        super().__init__(async_tool)
        from pydantic_ai import Agent, Tool
        from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
        from pydantic_ai.models.function import FunctionModel

        self._function_model, self._response = FunctionModel, ModelResponse
        self._text, self._tool_call = TextPart, ToolCallPart
        self._agent: Any = Agent(tools=[Tool(self.tool_fn, name="lookup")])

    def prepare(self) -> Callable[[], Any]:
        replies = [
            self._response(parts=[self._tool_call("lookup", {"city": c, "n": i}, tool_call_id=f"call_{i}")])
            for i, c in enumerate(CITIES)
        ]
        replies.append(self._response(parts=[self._text(ANSWER)]))
        script = iter(replies)

        async def replay(messages: list[Any], info: Any) -> Any:
            return next(script)

        model = self._function_model(replay, model_name="replay")
        return lambda: self._agent.run(TASK, model=model)

    def answer_of(self, result: Any) -> str:
        return str(result.output)


class Smolagents(Framework):
    name, dist = "smolagents", "smolagents"
    how = (
        "`ToolCallingAgent(tools=[tool(lookup)], model=Replay(...), max_steps=20, "
        "verbosity_level=LogLevel.OFF)` built once; `Replay(Model).generate` returns the next prebuilt "
        "`ChatMessage` with a `ChatMessageToolCall`; the answer is a `final_answer` tool call (the "
        "agent's only way to answer); `agent.run(task)` with a fresh model per run; the tool runs "
        "inline (smolagents is synchronous)"
    )

    def __init__(self, async_tool: bool = False) -> None:
        if async_tool:
            raise ValueError("smolagents tools are synchronous")
        super().__init__(async_tool)
        from smolagents import ToolCallingAgent, tool  # type: ignore[import-untyped]
        from smolagents.models import (  # type: ignore[import-untyped]
            ChatMessage,
            ChatMessageToolCall,
            ChatMessageToolCallFunction,
            MessageRole,
            Model,
        )
        from smolagents.monitoring import LogLevel  # type: ignore[import-untyped]

        class Replay(Model):  # type: ignore[misc]
            def __init__(self, replies: list[Any]) -> None:
                super().__init__(model_id="replay")
                self._replies = iter(replies)

            def generate(self, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
                return next(self._replies)

        def reply(i: int, name: str, arguments: dict[str, Any]) -> Any:
            function = ChatMessageToolCallFunction(name=name, arguments=arguments)
            call = ChatMessageToolCall(function=function, id=f"call_{i}", type="function")
            return ChatMessage(role=MessageRole.ASSISTANT, content="", tool_calls=[call])

        self._replay, self._reply = Replay, reply
        self._agent = ToolCallingAgent(
            tools=[tool(lookup)], model=Replay([]), max_steps=20, verbosity_level=LogLevel.OFF
        )

    def prepare(self) -> Callable[[], Any]:
        replies = [self._reply(i, "lookup", {"city": c, "n": i}) for i, c in enumerate(CITIES)]
        replies.append(self._reply(len(CITIES), "final_answer", {"answer": ANSWER}))
        self._agent.model = self._replay(replies)
        return lambda: self._agent.run(TASK)

    def answer_of(self, result: Any) -> str:
        return str(result)


@dataclass
class Entry:
    """One framework's place in the benchmark: loaded and checked, or missing and why."""

    label: str
    version: str
    tool: str
    """``sync`` or ``async``: the kind of ``lookup`` function registered."""
    framework: Framework | None = None
    missing: str | None = None
    run_ns: list[int] = field(default_factory=list)


def _once(runner: asyncio.Runner, fw: Framework) -> tuple[int, Any]:
    """Time one run; coroutines are timed inside the event loop so loop start-up is not counted."""
    thunk = fw.prepare()
    _calls.clear()

    async def timed() -> tuple[int, Any]:
        t0 = time.perf_counter_ns()
        result = await thunk()
        return time.perf_counter_ns() - t0, result

    if isinstance(fw, Smolagents):
        t0 = time.perf_counter_ns()
        result = thunk()
        return time.perf_counter_ns() - t0, result
    return runner.run(timed())


def _check(runner: asyncio.Runner, fw: Framework) -> None:
    """Run once and insist the transcript was replayed in full."""
    _, result = _once(runner, fw)
    answer = fw.answer_of(result)
    if answer != ANSWER or _calls != list(range(len(CITIES))):
        raise RuntimeError(f"transcript not replayed: answer={answer!r}, tool calls={_calls}")


def _load(cls: type[Framework], async_tool: bool, runner: asyncio.Runner) -> Entry:
    label = f"{cls.name} (async tool)" if async_tool else cls.name
    entry = Entry(label, _version(cls.dist), "async" if async_tool else "sync")
    try:
        fw = cls(async_tool)
        _check(runner, fw)
    except Exception as exc:  # a missing or broken peer is reported, never fatal
        if cls is Errand:
            raise
        entry.missing = f"{type(exc).__name__}: {exc}"
        return entry
    entry.framework = fw
    return entry


def _p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10, method="inclusive")[-1] if len(xs) > 1 else xs[0]


def _row(e: Entry) -> dict[str, Any]:
    row: dict[str, Any] = {"version": e.version, "tool": e.tool}
    if e.framework is None:
        return row | {"missing": e.missing}
    us = [n / 1000 / STEPS for n in e.run_ns]
    return row | {
        "driven_by": e.framework.how,
        "runs": len(us),
        "median_us_per_step": round(statistics.median(us), 1),
        "p90_us_per_step": round(_p90(us), 1),
        "min_us_per_step": round(min(us), 1),
        "median_us_per_run": round(statistics.median(us) * STEPS, 1),
    }


def _targets(errand_us: float, peers: list[dict[str, Any]]) -> dict[str, Any]:
    lighter = min((p["median_us_per_step"] for p in peers), default=None)
    return {
        "errand_us_per_step": errand_us,
        "lighter_peer_us_per_step": lighter,
        "under_1ms_per_step": errand_us < 1000,
        "at_most_half_of_lighter_peer": None if lighter is None else errand_us <= 0.5 * lighter,
    }


def measure(runs: int, warmup: int, seed: int = 0) -> dict[str, Any]:
    """Warm up, then time ``runs`` runs per framework in shuffled interleaved rounds."""
    rng = random.Random(seed)
    plan = [(Errand, False), (PydanticAI, False), (Smolagents, False), (Errand, True), (PydanticAI, True)]
    with asyncio.Runner() as runner:
        entries = [_load(cls, async_tool, runner) for cls, async_tool in plan]
        live = [e for e in entries if e.framework is not None]
        for _ in range(warmup):
            for e in live:
                assert e.framework is not None
                _once(runner, e.framework)
        for _ in range(runs):
            gc.collect()
            rng.shuffle(live)
            for e in live:
                assert e.framework is not None
                ns, _ = _once(runner, e.framework)
                e.run_ns.append(ns)
        for e in live:  # still replaying correctly after all the runs
            assert e.framework is not None
            _check(runner, e.framework)

    rows = {e.label: _row(e) for e in entries}
    errand = {
        kind: rows[label]["median_us_per_step"]
        for kind, label in [("sync", "errand"), ("async", "errand (async tool)")]
    }
    for label, row in rows.items():
        if "median_us_per_step" in row and not label.startswith("errand"):
            row["errand_ratio"] = round(errand[row["tool"]] / row["median_us_per_step"], 3)
    peers = {n: r for n, r in rows.items() if not n.startswith("errand") and "missing" not in r}
    sync_peers = [r for r in peers.values() if r["tool"] == "sync"]
    # smolagents runs its sync tool inline, as errand runs an async tool: compare those too.
    inline_peers = [r for n, r in peers.items() if r["tool"] == "async" or n == "smolagents"]
    return {
        "benchmark": "agent-loop overhead per step, scripted model",
        "transcript": {"steps": STEPS, "tool_steps": len(CITIES), "task": TASK, "answer": ANSWER},
        "runs": runs,
        "warmup": warmup,
        "frameworks": rows,
        "target": _targets(errand["sync"], sync_peers),
        "target_async_tool": _targets(errand["async"], inline_peers),
    }


def table(report: dict[str, Any]) -> str:
    """The report as a Markdown table, missing peers listed under it."""
    lines = [
        "| framework | version | tool | median µs/step | p90 µs/step | errand ÷ framework |",
        "|---|---|---|---:|---:|---:|",
    ]
    notes = []
    for label, row in report["frameworks"].items():
        if "missing" in row:
            lines.append(f"| {label} | {row['version']} | {row['tool']} | missing | | |")
            notes.append(f"- {label} did not run: {row['missing']}")
            continue
        ratio = f"{row['errand_ratio']:.2f}" if "errand_ratio" in row else "1.00"
        lines.append(
            f"| {label} | {row['version']} | {row['tool']} | {row['median_us_per_step']:.1f} "
            f"| {row['p90_us_per_step']:.1f} | {ratio} |"
        )
    env = report["environment"]
    notes.append(
        f"- {report['runs']} timed runs per row, {report['transcript']['steps']} steps each, "
        f"Python {env['python']}, {env['cpus']} CPUs, load average {env['load_average_start']} at the start "
        f"and {env['load_average_end']} at the end, commit {env['commit']}{' (dirty)' if env['dirty'] else ''}; "
        "errand ÷ framework compares errand with the same kind of tool function."
    )
    for key, what in [("target", "sync tool"), ("target_async_tool", "async tool vs peers' inline tools")]:
        t = report[key]
        notes.append(
            f"- Target ({what}): errand {t['errand_us_per_step']:.1f} µs/step; under 1 ms: "
            f"{t['under_1ms_per_step']}; at most half of the lighter peer ({t['lighter_peer_us_per_step']}): "
            f"{t['at_most_half_of_lighter_peer']}"
        )
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the table and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="timed runs per row (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs per row first (default 20)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON report path (default {RESULTS})")
    args = parser.parse_args(argv)
    env = Environment.capture()
    report = measure(max(args.runs, 2), max(args.warmup, 0))
    report["environment"] = env.finish()
    print(table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
