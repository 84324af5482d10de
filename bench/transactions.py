"""Bookings per second under concurrency, on SQLite and PostgreSQL, with an anomaly audit.

Each client books one economy seat at a time through the real `book_flight` tool (seat
update, wallet payment and booking row in one transaction, a unique idempotency key
each), in its own session, for a fixed time. Clients run as threads in several worker
processes (``--processes``, default one per CPU), so client-side Python is not one
interpreter lock; each process keeps a pool of ``--pool`` PostgreSQL connections (default
one per client). Each client is one user, and each booking picks one of ``--fares`` fares
at random (real traffic spreads over many flights, and two clients sometimes want the
same one; ``--fares 1`` measures a single hot seat row). Then the database is audited:
seats sold + seats left = seats at the start, one booking row per successful booking,
the ledger sums to zero and has no problems. Any difference is an anomaly (must be zero).

Besides bookings/s and latency, each row has the CPU time one booking costs: the client
processes' own, and (PostgreSQL on this machine) the server backends serving them, read
from /proc. Their sum bounds what the machine could do with every core free:
cores x 1000 / (client + server) bookings/s, whatever else runs on it during the bench.

    python bench/transactions.py [--seconds 5] [--clients 1 8 32] [--processes N]
        [--pool N] [--fares 64] [--postgres URL] [--no-sqlite] [--baseline FILE] [--out FILE]

PostgreSQL: ``--postgres`` or ``ERRAND_TEST_POSTGRES_URL`` (a fresh schema is used and
dropped). ``--baseline`` names the JSON of an earlier run (say, of older code run through
this same script with ``PYTHONPATH`` pointing at it) to print ratios against and keep next
to the new rows. Prints a Markdown table; writes ``bench/results/transactions.json``, with
the environment block of ``bench/environment.py``.
Target: >= 1,000 bookings/s on PostgreSQL with 32 clients on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from environment import Environment
from sqlalchemy import create_engine, func, select, text, update

from errand.db.engine import make_engine, session_factory
from errand.errors import ErrandError
from errand.services.store import ServiceStore
from errand.services.travel import tools as travel
from errand.services.travel.models import Booking, Fare
from errand.services.wallet import ledger
from errand.tools import ToolContext, utc_now

RESULTS = Path(__file__).resolve().parent / "results" / "transactions.json"
USER = "bench"
SEATS = 10_000_000
MAX_CLIENTS = 64


def prepare(store: ServiceStore, fares: int) -> list[str]:
    """``fares`` economy fares with (practically) endless seats and a rich user per client.

    Returns the fares' option ids.
    """
    options = []
    with store.sessions() as s, s.begin():
        rows = s.scalars(
            select(Fare).where(Fare.cabin == "economy").order_by(Fare.day.desc(), Fare.id).limit(fares)
        ).all()
        for fare in rows:
            s.execute(update(Fare).where(Fare.id == fare.id).values(seats_left=SEATS))
            options.append(f"{fare.service_id}-{fare.day:%Y%m%d}-{fare.cabin}")
        for i in range(MAX_CLIENTS):
            user = f"{USER}{i}"  # one traveller per client, as in real traffic
            ledger.top_up(
                s, user=user, amount=10**14, currency="CNY", idempotency_key=f"funds-{user}", at=utc_now()
            )
            ledger.set_daily_limit(s, user=user, currency="CNY", amount=None)
    return options


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (None where /proc cannot tell)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _worker(
    url: str,
    options: list[str],
    clients: list[int],
    seconds: float,
    tag: str,
    pool: int,
    gate: Any,
    results: Any,
) -> None:
    """One process: a thread per client, each booking until ``seconds`` after the gate opens.

    Reports its bookings, their latencies, errors, its own CPU time and that of the PostgreSQL
    backends serving it (its pool is opened in full before the clock starts, and never grows).
    """
    postgres = url.startswith("postgres")
    pool = pool or len(clients)
    backends: list[int] = []
    try:
        if postgres:  # a pool of exactly ``pool`` connections (psycopg 3, as `make_engine` picks)
            engine = create_engine(
                "postgresql+psycopg://" + url.split("://", 1)[1], pool_size=pool, max_overflow=0
            )
            conns = [engine.connect() for _ in range(pool)]
            backends = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in conns]
            for c in conns:
                c.close()
        else:
            engine = make_engine(url)
    except Exception:
        gate.abort()  # the other processes and the parent stop waiting for this one
        raise
    sessions = session_factory(engine)
    done = dict.fromkeys(clients, 0)
    latencies: list[float] = []
    errors: list[str] = []
    ready = threading.Barrier(len(clients) + 1)
    start = [0.0]

    def client(i: int) -> None:
        rng = random.Random(f"{tag}-{i}")
        ready.wait()
        stop = start[0] + seconds
        while (began := time.perf_counter()) < stop:
            key = f"bench-{tag}-{i}-{done[i]}-{uuid.uuid4().hex[:6]}"
            try:
                with sessions() as s, s.begin():
                    travel.book_flight.fn(
                        ctx=ToolContext(user=f"{USER}{i}", run_id="bench", idempotency_key=key, session=s),
                        flight_id=rng.choice(options),
                        passengers=["Bench Passenger"],
                    )
                done[i] += 1
                latencies.append(time.perf_counter() - began)
            except ErrandError as exc:
                errors.append(str(exc)[:200])

    threads = [threading.Thread(target=client, args=(i,)) for i in clients]
    for t in threads:
        t.start()
    gate.wait(timeout=600)  # every process ready
    server0 = [_cpu_seconds(pid) for pid in backends]
    client0 = time.process_time()
    start[0] = time.perf_counter()
    ready.wait()
    for t in threads:
        t.join()
    client_cpu = time.process_time() - client0
    server1 = [_cpu_seconds(pid) for pid in backends]
    spent = [b - a for a, b in zip(server0, server1, strict=True) if a is not None and b is not None]
    server_cpu = sum(spent) if backends and len(spent) == len(backends) else None
    engine.dispose()
    results.put((sum(done.values()), latencies, errors, client_cpu, server_cpu))


def run(
    url: str, options: list[str], clients: int, processes: int, seconds: float, pool: int = 0
) -> dict[str, Any]:
    """``clients`` clients spread over ``processes`` worker processes, for ``seconds``.

    Each process has a pool of ``pool`` PostgreSQL connections (0: one per client), which its
    clients share; fewer connections than clients queue the clients in the process.
    """
    processes = max(1, min(processes, clients))
    ctx = mp.get_context("fork")
    gate = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    tag = uuid.uuid4().hex[:6]
    groups = [list(range(clients))[p::processes] for p in range(processes)]
    workers = [
        ctx.Process(target=_worker, args=(url, options, g, seconds, tag, pool, gate, results)) for g in groups
    ]
    for w in workers:
        w.start()
    gate.wait(timeout=600)  # a worker that dies before the gate breaks it instead of hanging the run
    started = time.perf_counter()
    got = [results.get(timeout=seconds + 600) for _ in workers]
    wall = time.perf_counter() - started
    for w in workers:
        w.join()
    booked = sum(g[0] for g in got)
    latencies = sorted(x for g in got for x in g[1])
    errors = [e for g in got for e in g[2]]
    client_cpu = sum(g[3] for g in got)
    server_cpu = None if any(g[4] is None for g in got) else sum(g[4] for g in got)
    per = max(booked, 1)

    def pct(q: float) -> float:
        return (
            round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else 0.0
        )

    return {
        "clients": clients,
        "processes": processes,
        "connections": sum(min(pool or len(g), len(g)) for g in groups),
        "bookings": booked,
        "seconds": round(wall, 2),
        "per_second": round(booked / wall, 1),
        "latency_ms_p50": pct(0.5),
        "latency_ms_p99": pct(0.99),
        "latency_ms_mean": round(1000 * statistics.fmean(latencies), 1) if latencies else 0.0,
        "client_cpu_ms_per_booking": round(1000 * client_cpu / per, 3),
        "server_cpu_ms_per_booking": None if server_cpu is None else round(1000 * server_cpu / per, 3),
        "errors": len(errors),
        "first_error": errors[:1],
    }


def audit(store: ServiceStore, options: list[str], booked: int) -> list[str]:
    """Everything that does not add up (empty when the database is consistent)."""
    with store.sessions() as s:
        sold = 0
        for option in options:
            service, day, cabin = option.rsplit("-", 2)
            left = s.scalar(
                select(Fare.seats_left).where(
                    Fare.service_id == service,
                    Fare.cabin == cabin,
                    Fare.day == datetime.strptime(day, "%Y%m%d").date(),
                )
            )
            sold += SEATS - (left or 0)
        rows = s.scalar(select(func.count(Booking.id)).where(Booking.user.like(f"{USER}%"))) or 0
        problems = list(ledger.ledger_problems(s))
        sums = {c: v for c, v in ledger.ledger_sum(s).items() if v}
    anomalies = [f"ledger: {p}" for p in problems] + [f"ledger sum {c} = {v}" for c, v in sums.items()]
    if rows != booked:
        anomalies.append(f"{rows} booking rows for {booked} successful bookings")
    if sold != booked:
        anomalies.append(f"seats sold {sold} != bookings {booked}")
    return anomalies


def bench(
    url: str, label: str, clients: list[int], processes: int, fares: int, seconds: float, pool: int = 0
) -> list[dict[str, Any]]:
    store = ServiceStore.open(url)
    options = prepare(store, fares)
    store.engine.dispose()  # no pooled connection crosses a fork
    rows = []
    total = 0
    for n in clients:
        r = run(url, options, n, processes, seconds, pool)
        total += r["bookings"]
        r["database"] = label
        r["anomalies"] = audit(store, options, total)
        store.engine.dispose()
        rows.append(r)
        print(
            f"{label} {n} clients in {r['processes']} processes: {r['per_second']} bookings/s, "
            f"p50 {r['latency_ms_p50']} ms, p99 {r['latency_ms_p99']} ms, anomalies {len(r['anomalies'])}",
            flush=True,
        )
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="worker processes (default: one per CPU)"
    )
    parser.add_argument("--fares", type=int, default=64, help="fares the bookings spread over")
    parser.add_argument(
        "--pool", type=int, default=0, help="PostgreSQL connections per process (0: one per client)"
    )
    parser.add_argument("--postgres", default=os.environ.get("ERRAND_TEST_POSTGRES_URL"))
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--baseline", type=Path, help="JSON of an earlier run to compare with")
    parser.add_argument("--out", type=Path, default=RESULTS)
    opts = parser.parse_args()
    if max(opts.clients) > MAX_CLIENTS:
        parser.error(f"at most {MAX_CLIENTS} clients")
    env = Environment.capture()
    rows: list[dict[str, Any]] = []
    if not opts.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            rows += bench(
                f"sqlite:///{tmp}/bench.db", "sqlite", opts.clients, opts.processes, opts.fares, opts.seconds
            )
    if opts.postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(opts.postgres)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            sep = "&" if "?" in opts.postgres else "?"
            rows += bench(
                f"{opts.postgres}{sep}options=-csearch_path%3D{schema}",
                "postgresql",
                opts.clients,
                opts.processes,
                opts.fares,
                opts.seconds,
                opts.pool,
            )
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    before = {}
    if opts.baseline:
        before = {(r["database"], r["clients"]): r for r in json.loads(opts.baseline.read_text())["rows"]}
    print(
        "\n| database | clients | processes | bookings/s | p50 ms | p99 ms | CPU ms/booking "
        "(client + server) | errors | anomalies | vs baseline |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        old = before.get((r["database"], r["clients"]))
        ratio = f"{r['per_second'] / old['per_second']:.1f}x" if old and old["per_second"] else "-"
        server = r["server_cpu_ms_per_booking"]
        cpu = f"{r['client_cpu_ms_per_booking']}" + (f" + {server}" if server is not None else "")
        print(
            f"| {r['database']} | {r['clients']} | {r['processes']} | {r['per_second']} | {r['latency_ms_p50']} "
            f"| {r['latency_ms_p99']} | {cpu} | {r['errors']} | {len(r['anomalies'])} | {ratio} |"
        )
    out: dict[str, Any] = {
        "config": {
            "seconds": opts.seconds,
            "processes": opts.processes,
            "fares": opts.fares,
            "pool": opts.pool,
        },
        "rows": rows,
        "environment": env.finish(),
    }
    if before:
        out["baseline"] = list(before.values())
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
