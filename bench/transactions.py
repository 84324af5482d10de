"""Bookings per second under concurrency, on SQLite and PostgreSQL, with an anomaly audit.

Each client is a thread with its own session that books one economy seat at a time
through the real `book_flight` tool (booking row + conditional seat update + wallet
payment, one transaction per booking, a unique idempotency key each), for a fixed
time. Then the database is audited: seats sold + seats left = seats at the start,
one booking per key, the ledger sums to zero and has no problems. Any difference is
an anomaly (must be zero).

    python bench/transactions.py [--seconds 5] [--clients 1 8 32] [--postgres URL]

PostgreSQL: ``--postgres`` or ``ERRAND_TEST_POSTGRES_URL`` (a fresh schema is used and
dropped). Prints a Markdown table; writes ``bench/results/transactions.json``. Target:
>= 1,000 bookings/s on PostgreSQL with 32 clients on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update

from errand.errors import ErrandError
from errand.services.db import make_engine
from errand.services.store import ServiceStore
from errand.services.travel import tools as travel
from errand.services.travel.models import Booking, Fare
from errand.services.wallet import ledger
from errand.tools import ToolContext

RESULTS = Path(__file__).resolve().parent / "results" / "transactions.json"
USER = "bench"
SEATS = 10_000_000
MAX_CLIENTS = 64


def prepare(store: ServiceStore) -> list[str]:
    """Economy fares with (practically) endless seats, one per client, and a rich user per client.

    Real traffic spreads over many trains and flights; one shared fare would measure a single
    hot row. Returns the option ids.
    """
    options = []
    with store.sessions() as s, s.begin():
        fares = s.scalars(
            select(Fare).where(Fare.cabin == "economy").order_by(Fare.day.desc(), Fare.id).limit(MAX_CLIENTS)
        ).all()
        for i, fare in enumerate(fares):
            s.execute(update(Fare).where(Fare.id == fare.id).values(seats_left=SEATS))
            user = f"{USER}{i}"  # one traveller per client, as in real traffic
            ledger.top_up(
                s, user=user, amount=10**14, currency=fare.currency, idempotency_key=f"funds-{user}"
            )
            ledger.set_daily_limit(s, user=user, currency=fare.currency, amount=None)
            options.append(f"{fare.service_id}-{fare.day:%Y%m%d}-{fare.cabin}")
    return options


def run(store: ServiceStore, options: list[str], clients: int, seconds: float) -> dict[str, Any]:
    done = [0] * clients
    errors: list[str] = []
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(clients)

    def client(i: int) -> None:
        barrier.wait()
        while time.perf_counter() < stop:
            key = f"bench-{clients}-{i}-{done[i]}-{uuid.uuid4().hex[:6]}"
            try:
                with store.sessions() as s, s.begin():
                    travel.book_flight.fn(
                        ctx=ToolContext(user=f"{USER}{i}", run_id="bench", idempotency_key=key, session=s),
                        flight_id=options[i],
                        passengers=["Bench Passenger"],
                    )
                done[i] += 1
            except ErrandError as exc:
                errors.append(str(exc)[:200])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {
        "clients": clients,
        "bookings": sum(done),
        "seconds": round(wall, 2),
        "per_second": round(sum(done) / wall, 1),
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


def bench(url: str, label: str, clients: list[int], seconds: float) -> list[dict[str, Any]]:
    store = ServiceStore.open(url)
    options = prepare(store)
    rows = []
    total = 0
    for n in clients:
        r = run(store, options, n, seconds)
        total += r["bookings"]
        r["database"] = label
        r["anomalies"] = audit(store, options, total)
        rows.append(r)
        print(
            f"{label} {n} clients: {r['per_second']} bookings/s, anomalies {len(r['anomalies'])}", flush=True
        )
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--postgres", default=os.environ.get("ERRAND_TEST_POSTGRES_URL"))
    opts = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += bench(f"sqlite:///{tmp}/bench.db", "sqlite", opts.clients, opts.seconds)
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
                opts.seconds,
            )
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    print("\n| database | clients | bookings/s | bookings | errors | anomalies |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['database']} | {r['clients']} | {r['per_second']} | {r['bookings']} | {r['errors']} | {len(r['anomalies'])} |"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
