"""Load on ``errand serve``: goodput, latency of admitted work and speed of refusals under overload.

The server runs in its own process on loopback with a scripted model that writes a fixed
number of words at a fixed delay each (so a request's service time is known and the model
never is the bottleneck). An async open-loop generator (Poisson arrivals, fixed seed) sends
``POST /v1/chat/completions`` at 0.5x, 1x, 2x and 10x the server's measured capacity:

1. unloaded: requests one at a time -> the unloaded p50/p99 latency;
2. capacity: closed loop with one client per model slot -> completions per second;
3. each offered load for ``--seconds``; every request is answered (200, 429 or 503) or counted lost.

Refusal times are measured twice: at the client (on this shared 2-core machine that includes
the generator's own scheduling delays) and by the server itself (its latency histogram,
from the first byte of the request to the refusal).

Reported per load: goodput (complete answers per second), p50/p99 latency of admitted
requests, the slowest refusal and whether each carried ``Retry-After``, counts by status.

A 503 here is a refusal by design, not a failure: admission control turns away work it
cannot start within the queue-wait bound, at once and with ``Retry-After``, so that admitted
work stays fast (the body's error code, ``server_overloaded``, is counted too). 429 is the
key's own rate limit. Both are refusals. Any other 5xx is an error and is counted apart
(``errors_5xx_other``), as is any other 4xx (``errors_4xx_other``).

    python bench/serve_load.py [--seconds 8] [--slots 4] [--words 25] [--delay 0.02]

Writes ``bench/results/serve_load.json``, with the environment block of
``bench/environment.py``. Targets at 10x: goodput >= 95% of capacity, p99 of admitted
requests <= 1.5x the unloaded p99, every refusal within 20 ms with ``Retry-After``, no 5xx
other than 503, nothing lost. The queue-wait bound is set from the service time
(``ERRAND_SERVE_MAX_QUEUE_WAIT_S`` = 0.3 x words x delay), as a deployment would tune it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
from environment import Environment

RESULTS = Path(__file__).resolve().parent / "results" / "serve_load.json"
STATUS_MEANING = {
    "200": "answered; counted in goodput when the whole scripted answer came",
    "429": "refused by the key's rate limit, with Retry-After (a refusal, not a failure)",
    "503": "refused by admission control, by design: work that could not start within the "
    "queue-wait bound is turned away at once with Retry-After, so admitted work stays fast "
    "(a refusal, not a failure; see refusals_503_by_code)",
    "other 5xx": "a server error (errors_5xx_other; the target is zero)",
    "other 4xx": "a request the server rejected (errors_4xx_other; expected zero)",
    "none": "no answer at all, or a 200 without the whole answer (lost; the target is zero)",
}
"""What each status means in this benchmark; written into the JSON beside the counts."""


# -- the server process --------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Run the server (in its own process) until killed."""
    import uvicorn

    from errand.config import Settings
    from errand.llm.scripted import ScriptedModel
    from errand.llm.types import Message, ModelEvent, ModelSettings, TextDelta, ToolSpec
    from errand.server.app import create_app

    class PacedScript(ScriptedModel):
        """The scripted model, each word ``delay`` seconds after the last (a model's decode speed)."""

        def __init__(self, words: int, delay: float) -> None:
            super().__init__([" ".join(f"w{i}" for i in range(words))] * 1_000_000)
            self.delay = delay

        async def stream(
            self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings
        ) -> AsyncIterator[ModelEvent]:
            self.requests.clear()  # keep memory flat over a long run
            self.settings.clear()
            async for ev in super().stream(messages, tools, settings):
                if isinstance(ev, TextDelta):
                    await asyncio.sleep(self.delay)
                yield ev

    settings = Settings(
        home=Path(args.home),
        serve_max_running=args.slots,
        serve_max_queued=args.slots * 4,
        serve_max_queue_wait_s=0.3 * args.words * args.delay,
    )
    app = create_app(settings, model=PacedScript(args.words, args.delay), open_runs=False)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, ws="none")


# -- the load generator ------------------------------------------------------------------


@dataclass
class Result:
    status: int | None
    """HTTP status, or None when no answer came (lost)."""
    latency_s: float
    retry_after: bool = False
    complete: bool = False
    """A 200 with the whole scripted answer."""
    code: str | None = None
    """The error code in the body of a non-200 answer (``server_overloaded`` for admission control)."""


@dataclass
class Phase:
    name: str
    offered_rps: float
    seconds: float
    results: list[Result] = field(default_factory=list)

    def summary(self, words: int) -> dict[str, Any]:
        ok = [r for r in self.results if r.status == 200 and r.complete]
        refused = [r for r in self.results if r.status in (429, 503)]
        by_code = Counter(str(r.code) for r in self.results if r.status == 503)
        lat = sorted(r.latency_s for r in ok)
        ref = sorted(r.latency_s for r in refused)
        return {
            "phase": self.name,
            "offered_rps": round(self.offered_rps, 2),
            "sent": len(self.results),
            "goodput_rps": round(len(ok) / self.seconds, 2),
            "admitted_p50_ms": round(1000 * _pct(lat, 50), 1) if lat else None,
            "admitted_p99_ms": round(1000 * _pct(lat, 99), 1) if lat else None,
            "refusal_p50_ms": round(1000 * _pct(ref, 50), 2) if ref else None,
            "refusal_p99_ms": round(1000 * _pct(ref, 99), 2) if ref else None,
            "refusal_max_ms": round(1000 * ref[-1], 2) if ref else None,
            "refusals_with_retry_after": sum(r.retry_after for r in refused),
            "refusals_503": sum(1 for r in self.results if r.status == 503),
            "refusals_503_by_code": dict(sorted(by_code.items())),
            "refusals_429": sum(1 for r in self.results if r.status == 429),
            "errors_5xx_other": sum(
                1 for r in self.results if r.status and r.status >= 500 and r.status != 503
            ),
            "errors_4xx_other": sum(
                1 for r in self.results if r.status and 400 <= r.status < 500 and r.status != 429
            ),
            "by_status": dict(sorted(Counter(str(r.status) for r in self.results).items())),
            "lost": sum(1 for r in self.results if r.status is None or (r.status == 200 and not r.complete)),
        }


def _pct(values: list[float], p: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, int(p) - 1))]


async def one(client: httpx.AsyncClient, url: str, key: str, words: int) -> Result:
    body = {"model": "scripted", "messages": [{"role": "user", "content": "go"}]}
    started = time.perf_counter()
    try:
        r = await client.post(url, json=body, headers={"authorization": f"Bearer {key}"})
    except httpx.HTTPError:
        return Result(None, time.perf_counter() - started)
    took = time.perf_counter() - started
    complete = False
    code = None
    if r.status_code == 200:
        content = r.json()["choices"][0]["message"]["content"] or ""
        complete = content.split() == [f"w{i}" for i in range(words)]
    else:
        try:
            code = r.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
    return Result(r.status_code, took, retry_after="retry-after" in r.headers, complete=complete, code=code)


async def open_loop(
    client: httpx.AsyncClient, url: str, key: str, phase: Phase, words: int, seed: int
) -> None:
    """Poisson arrivals at ``phase.offered_rps`` for ``phase.seconds``; waits for every answer."""
    rng = random.Random(seed)
    tasks: list[asyncio.Task[Result]] = []
    start = time.perf_counter()
    next_at = 0.0
    while next_at < phase.seconds:
        delay = start + next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(client, url, key, words)))
        next_at += rng.expovariate(phase.offered_rps)
    phase.results = list(await asyncio.gather(*tasks))


async def closed_loop(
    client: httpx.AsyncClient, url: str, key: str, clients: int, seconds: float, words: int
) -> float:
    """Completions per second with ``clients`` always waiting for their answer."""
    done = 0
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < end:
            r = await one(client, url, key, words)
            if r.status == 200 and r.complete:
                done += 1
            elif r.status in (429, 503):
                await asyncio.sleep(0.005)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def refusal_buckets(client: httpx.AsyncClient, base: str, key: str) -> Counter[str]:
    """The server's own histogram of refusals (429, 503): cumulative count per bucket bound."""
    from prometheus_client.parser import text_string_to_metric_families

    text = (await client.get(base + "/metrics", headers={"authorization": f"Bearer {key}"})).text
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name == "errand_http_request_seconds":
            for s in family.samples:
                if s.name.endswith("_bucket") and s.labels.get("status") in ("429", "503"):
                    out[s.labels["le"]] += int(s.value)
    return out


async def drive(args: argparse.Namespace, base: str, key: str) -> dict[str, Any]:
    url = base + "/v1/chat/completions"
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=500)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        for _ in range(5):  # warm-up
            await one(client, url, key, args.words)
        unloaded = Phase("unloaded (one at a time)", 0, 0)
        for _ in range(args.unloaded):
            unloaded.results.append(await one(client, url, key, args.words))
        base_lat = sorted(r.latency_s for r in unloaded.results if r.complete)
        capacity = await closed_loop(client, url, key, args.slots, args.seconds, args.words)
        phases = []
        server_side = []
        for i, factor in enumerate((0.5, 1, 2, 10)):
            phase = Phase(f"{factor}x capacity", factor * capacity, args.seconds)
            before = await refusal_buckets(client, base, key)
            await open_loop(client, url, key, phase, args.words, seed=i)
            after = await refusal_buckets(client, base, key)
            server_side.append({le: after[le] - before[le] for le in ("0.005", "0.01", "0.02", "+Inf")})
            phases.append(phase)
            await asyncio.sleep(1)
    unloaded_p99 = _pct(base_lat, 99)
    rows = [p.summary(args.words) for p in phases]
    for row, counts in zip(rows, server_side, strict=True):
        row["server_refusals"] = counts["+Inf"]
        row["server_refusals_within_5ms"] = counts["0.005"]
        row["server_refusals_within_20ms"] = counts["0.02"]
    ten = rows[-1]
    refusals = sum(v for k, v in ten["by_status"].items() if k in ("429", "503"))
    targets = {
        "goodput_at_10x_over_capacity": round(ten["goodput_rps"] / capacity, 3),
        "goodput_at_10x_ok": ten["goodput_rps"] >= 0.95 * capacity,
        "p99_at_10x_over_unloaded_p99": round(ten["admitted_p99_ms"] / (1000 * unloaded_p99), 3),
        "p99_at_10x_ok": ten["admitted_p99_ms"] <= 1.5 * 1000 * unloaded_p99,
        "refusals_within_20ms_ok": all(
            (r["refusal_max_ms"] or 0) <= 20
            and r["refusals_with_retry_after"]
            == sum(v for k, v in r["by_status"].items() if k in ("429", "503"))
            for r in rows
        ),
        "refusals_at_10x": refusals,
        "server_side_refusals_within_20ms_ok": all(
            r["server_refusals_within_20ms"] == r["server_refusals"] for r in rows
        ),
        "no_5xx_other_than_503_ok": all(r["errors_5xx_other"] == 0 for r in rows),
        "nothing_lost_ok": all(r["lost"] == 0 for r in rows),
    }
    return {
        "config": {
            "slots": args.slots,
            "words": args.words,
            "delay_s": args.delay,
            "service_time_s": args.words * args.delay,
            "max_queue_wait_s": 0.3 * args.words * args.delay,
            "seconds_per_load": args.seconds,
        },
        "unloaded": {
            "p50_ms": round(1000 * _pct(base_lat, 50), 1),
            "p99_ms": round(1000 * unloaded_p99, 1),
            "n": len(base_lat),
        },
        "capacity_rps": round(capacity, 2),
        "status_meaning": STATUS_MEANING,
        "loads": rows,
        "targets": targets,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="Seconds of each offered load.")
    parser.add_argument("--slots", type=int, default=4, help="ERRAND_SERVE_MAX_RUNNING.")
    parser.add_argument("--words", type=int, default=25, help="Words (tokens) per answer.")
    parser.add_argument("--delay", type=float, default=0.02, help="Seconds per word.")
    parser.add_argument("--unloaded", type=int, default=30, help="Requests in the unloaded phase.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return

    from errand.config import Settings
    from errand.runtime import open_store
    from errand.server.keys import KeyStore

    env = Environment.capture()
    home = Path(tempfile.mkdtemp(prefix="serve-load-"))
    store = open_store(Settings(home=home))
    _, key = KeyStore(store.sessions).create("bench", rpm=10_000_000, max_runs=1_000_000)
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--home",
            str(home),
            "--port",
            str(port),
            "--slots",
            str(args.slots),
            "--words",
            str(args.words),
            "--delay",
            str(args.delay),
        ],
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        try:
            import uvloop

            report = uvloop.run(drive(args, base, key))
        except ImportError:
            report = asyncio.run(drive(args, base, key))
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(home, ignore_errors=True)
    report["environment"] = env.finish()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    u = report["unloaded"]
    print(
        f"service time {report['config']['service_time_s'] * 1000:.0f} ms, {args.slots} slots; "
        f"unloaded p50 {u['p50_ms']} ms, p99 {u['p99_ms']} ms; capacity {report['capacity_rps']} req/s"
    )
    print(
        "| load | offered req/s | goodput req/s | admitted p50 ms | admitted p99 ms | refusal p50 / p99 / max ms "
        "| refused 503 (admission control, by design) | refused 429 | 5xx other than 503 (errors) "
        "| other 4xx | by status | lost |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for r in report["loads"]:
        print(
            f"| {r['phase']} | {r['offered_rps']} | {r['goodput_rps']} | {r['admitted_p50_ms']} | "
            f"{r['admitted_p99_ms']} | {r['refusal_p50_ms']} / {r['refusal_p99_ms']} / {r['refusal_max_ms']} | "
            f"{r['refusals_503']} | {r['refusals_429']} | {r['errors_5xx_other']} | {r['errors_4xx_other']} | "
            f"{', '.join(f'{k}: {v}' for k, v in r['by_status'].items())} | {r['lost']} |"
        )
    print(
        "\n503 is admission control refusing, by design, work it could not start within the queue-wait "
        "bound (at once, with Retry-After): a refusal, not a failure. 5xx other than 503 are errors."
    )
    for r in report["loads"]:
        print(
            f"{r['phase']}: server-side refusals {r['server_refusals']}, within 5 ms "
            f"{r['server_refusals_within_5ms']}, within 20 ms {r['server_refusals_within_20ms']}"
        )
    print(json.dumps(report["targets"], indent=2))


if __name__ == "__main__":
    main()
