"""Kill a real `errand worker` with SIGKILL at every point of a paid trip, restart it, and check
that the run finishes exactly once: same answer, one flight, one hotel, two payments, a sound ledger."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbos import DBOS
from sqlalchemy import func, select

from errand.config import Settings
from errand.runs import Runs, RunStatus
from errand.services.travel.models import Booking
from errand.services.wallet.ledger import ledger_problems
from errand.services.wallet.models import LedgerTransaction
from tests.cli_process import errand_env
from tests.pg import postgres_schema
from tests.runs.conftest import TRIP_ANSWER, TRIP_REQUEST, TRIP_SCRIPT, with_receipt, write_script

pytestmark = pytest.mark.slow

CRASH_POINTS = [
    "before_model:1",
    "after_model:1",
    "before_tool:book_flight",
    "after_commit:book_flight",
    "after_tool:book_flight",
    "before_model:2",
    "before_tool:book_hotel",
    "after_commit:book_hotel",
    "after_tool:book_hotel",
    "before_model:3",
    "after_model:3",
]
"""Before, during (committed, not yet checkpointed) and after each paid call, and around each model turn."""

POSTGRES_POINTS = [
    "before_model:1",
    "after_commit:book_flight",
    "after_tool:book_flight",
    "after_commit:book_hotel",
]
"""On PostgreSQL, the points where the database's own commit matters (a payment committed and not
yet checkpointed, then recorded) and one model turn: the rest of the matrix is the same DBOS
replay on either database, and the whole of it runs on SQLite."""


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh errand database: a SQLite file, or a new schema in the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'errand.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL (several machines share a queue only through it)."""
    with postgres_schema() as url:
        yield url


WORKER = "crash-worker"


def _worker(home: Path, env: dict[str, str], log: Path, name: str = WORKER) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "errand", "worker", "--id", name],
            env=errand_env(home, env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _counts(runs: Runs) -> tuple[int, int, int]:
    with runs.store.sessions() as s:
        flights = s.scalar(select(func.count()).select_from(Booking).where(Booking.kind == "flight"))
        hotels = s.scalar(select(func.count()).select_from(Booking).where(Booking.kind == "hotel"))
        payments = s.scalar(
            select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == "payment")
        )
        return int(flights or 0), int(hotels or 0), int(payments or 0)


async def test_a_killed_worker_resumes_the_trip_without_repeating_an_effect(
    database_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {
        "ERRAND_DATABASE_URL": database_url,
        "ERRAND_MODEL_BACKEND": "scripted",
        "ERRAND_SCRIPT_PATH": str(write_script(tmp_path, TRIP_SCRIPT)),
    }
    settings = Settings(home=home, database_url=database_url)
    runs = await Runs.open(settings, execute=False)
    try:
        for point in POSTGRES_POINTS if database_url.startswith("postgresql") else CRASH_POINTS:
            before = _counts(runs)
            rec = await runs.create("dave", TRIP_REQUEST, approve="all")
            log = tmp_path / f"worker-{point.replace(':', '-')}.log"
            doomed = _worker(home, env | {"ERRAND_CRASH_AT": point}, log)
            try:
                code = doomed.wait(timeout=120)
            finally:
                doomed.kill()
            assert code == -signal.SIGKILL, f"{point}: the worker did not reach it: {log.read_text()}"
            worker = _worker(home, env, log)
            try:
                done = await runs.wait("dave", rec.id, timeout_s=120)
            finally:
                worker.terminate()
                worker.wait(timeout=30)
            assert done.status == RunStatus.succeeded, f"{point}: {done.error}"
            flights, hotels, payments = (a - b for a, b in zip(_counts(runs), before, strict=True))
            assert (flights, hotels, payments) == (1, 1, 2), point
            events = await runs.events("dave", rec.id)
            seqs = [e.data["seq"] for e in events]
            assert seqs == list(range(1, len(seqs) + 1)), point
            results = {e.data["name"]: e.data for e in events if e.type == "tool_result"}
            assert set(results) == {"book_flight", "book_hotel"}, point
            booked = [json.loads(results[n]["content"])["booking_id"] for n in ("book_flight", "book_hotel")]
            assert done.answer == with_receipt(TRIP_ANSWER, *booked), point  # this run's bookings, once
            if point.startswith("after_commit:"):  # the call ran again and got its first result back
                assert '"replayed":true' in results[point.split(":")[1]]["content"], point
        with runs.store.sessions() as s:
            assert ledger_problems(s) == []
    finally:
        runs.close()


async def test_a_run_waiting_for_approval_survives_a_worker_restart(
    database_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {
        "ERRAND_DATABASE_URL": database_url,
        "ERRAND_MODEL_BACKEND": "scripted",
        "ERRAND_SCRIPT_PATH": str(write_script(tmp_path, TRIP_SCRIPT)),
    }
    runs = await Runs.open(Settings(home=home, database_url=database_url), execute=False)
    log = tmp_path / "worker.log"
    try:
        before = _counts(runs)
        rec = await runs.create("dave", TRIP_REQUEST)
        worker = _worker(home, env, log)
        try:
            await _until(runs, rec.id, RunStatus.awaiting_confirmation)
        finally:
            worker.kill()
            worker.wait(timeout=30)
        assert _counts(runs) == before
        worker = _worker(home, env, log)  # a new process; this test process approves
        try:
            # Once the new worker has recovered the run, it still waits (was: `running` with the
            # approval pending, and approve answered 409).
            async with asyncio.timeout(60):
                while f"worker {WORKER} ready" not in log.read_text():
                    await asyncio.sleep(0.1)
            for _ in range(60):  # recovery replays the run up to its wait within a few seconds
                assert (await runs.get("dave", rec.id)).status == RunStatus.awaiting_confirmation
                await asyncio.sleep(0.25)
            await runs.approve("dave", rec.id, "yes, that flight")
            await _until(runs, rec.id, RunStatus.awaiting_confirmation)
            await runs.approve("dave", rec.id)
            done = await runs.wait("dave", rec.id, timeout_s=120)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        assert done.status == RunStatus.succeeded and done.answer.startswith(TRIP_ANSWER), log.read_text()
        assert tuple(a - b for a, b in zip(_counts(runs), before, strict=True)) == (1, 1, 2)
    finally:
        runs.close()


async def _until(runs: Runs, run_id: str, status: RunStatus) -> None:
    async with asyncio.timeout(120):
        while (await runs.get("dave", run_id)).status != status:
            await asyncio.sleep(0.1)


async def test_workers_share_one_queue_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    database_url = postgres_url
    home = tmp_path / "home"
    env = {
        "ERRAND_DATABASE_URL": database_url,
        "ERRAND_MODEL_BACKEND": "scripted",
        "ERRAND_SCRIPT_PATH": str(write_script(tmp_path, TRIP_SCRIPT)),
        "ERRAND_WORKER_CONCURRENCY": "1",
        "ERRAND_SCRIPT_TOKEN_DELAY_S": "0.2",
    }
    runs = await Runs.open(Settings(home=home, database_url=database_url), execute=False)
    logs = [tmp_path / f"w{i}.log" for i in (1, 2)]
    workers = [_worker(home, env, log, name=f"machine-{i}") for i, log in enumerate(logs, 1)]
    try:
        async with asyncio.timeout(120):  # both listen before any run is queued
            while not all(log.exists() and "ready" in log.read_text() for log in logs):
                await asyncio.sleep(0.1)
        created = [await runs.create("dave", TRIP_REQUEST, approve="all") for _ in range(4)]
        finished = [await runs.wait("dave", r.id, timeout_s=180) for r in created]
        assert all(r.status == RunStatus.succeeded for r in finished)
        executors = {(await DBOS.get_workflow_status_async(r.id)).executor_id for r in created}  # type: ignore[union-attr]
        assert executors == {"machine-1", "machine-2"}
    finally:
        for w in workers:
            w.terminate()
            w.wait(timeout=30)
        runs.close()


async def test_sigterm_of_the_server_leaves_a_waiting_run_waiting(database_url: str, tmp_path: Path) -> None:
    """`errand serve` stopped by SIGTERM while a run waits for approval: the run is not cancelled
    (it was: "The run was cancelled."); the restarted server carries it on once approved."""
    from tests.server.test_serve_cli import errand_serve

    home = tmp_path / "home"
    env = {
        "ERRAND_DATABASE_URL": database_url,
        "ERRAND_MODEL_BACKEND": "scripted",
        "ERRAND_SCRIPT_PATH": str(write_script(tmp_path, TRIP_SCRIPT)),
    }
    runs = await Runs.open(Settings(home=home, database_url=database_url), execute=False)
    try:
        before = _counts(runs)
        with errand_serve(home, env) as (_, server):
            rec = await runs.create("dave", TRIP_REQUEST)
            await _until(runs, rec.id, RunStatus.awaiting_confirmation)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=60) == 0
        stopped = await runs.get("dave", rec.id)
        assert stopped.status == RunStatus.awaiting_confirmation and stopped.error is None
        with errand_serve(home, env):
            await runs.approve("dave", rec.id)
            await _until(runs, rec.id, RunStatus.awaiting_confirmation)  # the hotel, after the flight
            await runs.approve("dave", rec.id)
            done = await runs.wait("dave", rec.id, timeout_s=120)
        assert done.status == RunStatus.succeeded and done.answer.startswith(TRIP_ANSWER)
        assert tuple(a - b for a, b in zip(_counts(runs), before, strict=True)) == (1, 1, 2)
    finally:
        runs.close()
