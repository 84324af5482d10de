"""The crash matrix: runs held at every state of a paid trip in one real `errand worker` or
`errand serve`, the process stopped by SIGKILL or SIGTERM, then restarted. After the restart no
run is lost or stuck, nothing is paid twice, and every run finishes with the answer and events
of a run that never crashed. The points are injected by `tests.runs.crashpoints`, outside errand."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from sqlalchemy import func, select

from errand.config import Settings
from errand.runs import Runs, RunStatus
from errand.runs.log import FINISHED, RunRecord
from errand.services.travel.models import Booking
from errand.services.wallet.ledger import ledger_problems
from errand.services.wallet.models import LedgerTransaction
from tests.cli_process import errand_env
from tests.pg import postgres_schema
from tests.runs import crashpoints
from tests.runs.conftest import TRIP_ANSWER, TRIP_REQUEST, TRIP_SCRIPT, with_receipt, write_script

REPO = Path(__file__).resolve().parents[2]

CRASH_SCRIPT: list[object] = [{"tool": "wallet_balance", "arguments": {}}, *TRIP_SCRIPT]
"""A read (step 1), two payments that each need a confirmation (steps 2 and 3), the answer (4)."""

STATES = [
    "in_model:1",  # running a model step
    "in_tool:wallet_balance",  # running a read tool
    "awaiting:book_flight",  # waiting for approval
    "in_tool:book_flight",  # running a payment, not yet committed
    "after_commit:book_flight",  # the payment committed, its step not yet checkpointed
    "finishing",  # the answer recorded, the workflow not yet done
]
"""One point per state a run can be in when its process stops; a run still in the queue is
added to every case (the process is kept too busy to take it)."""

EVERY_POINT = [
    "start",  # taken from the queue, not yet started
    *STATES,
    "before_model:1",
    "after_model:1",
    "before_tool:book_flight",
    "after_tool:book_flight",
    "before_model:3",
    "after_commit:book_hotel",
    "after_tool:book_hotel",
    "after_model:4",
]
"""SIGKILL, the worst a process can meet, at every step boundary too: before, inside and after
each model turn and each paid call. (``start`` holds a worker thread, which a graceful stop
would wait for, so only SIGKILL meets it.)"""


async def _workflow_ended(run_id: str, timeout_s: float = 30) -> Any:
    """DBOS's status of the run's workflow once it has left PENDING: the run log records the
    answer (and a cancel the run's status) a moment before the workflow's last checkpoint."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = await DBOS.get_workflow_status_async(run_id)
        if status is None or status.status != "PENDING" or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class Case:
    database: str
    process: str
    """``worker`` or ``serve``: both execute runs from the queue; each stops its own way."""
    sig: signal.Signals
    points: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.database}-{self.process}-{self.sig.name}"


CASES = [
    Case("sqlite", "worker", signal.SIGKILL, tuple(EVERY_POINT)),
    Case("sqlite", "worker", signal.SIGTERM, tuple(STATES)),
    Case("sqlite", "serve", signal.SIGTERM, tuple(STATES)),
    # On PostgreSQL every state (the service's commits and DBOS's checkpoints are PostgreSQL's
    # there), the start and the second payment's commit; the boundaries between are the same
    # DBOS replay as on SQLite.
    Case("postgres", "worker", signal.SIGKILL, ("start", *STATES, "after_commit:book_hotel")),
    Case("postgres", "serve", signal.SIGTERM, tuple(STATES)),
]

STILL_WAITING_S = 6.0
"""How long, after the restart, a run recovered while it waited for approval must still wait
(a recovered wait once turned `running` after about 4 s, and approving it answered 409)."""


@pytest.fixture
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


def _start(
    process: str, home: Path, env: dict[str, str], log: Path, *, points: bool = False
) -> subprocess.Popen[bytes]:
    """``errand worker`` or ``errand serve``; with ``points``, through `tests.runs.crashpoints`."""
    command = [sys.executable, "-m", "tests.runs.crashpoints" if points else "errand"]
    if process == "serve":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command += ["worker"]
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command, env=errand_env(home, env | {"PYTHONPATH": path}), stdout=out, stderr=subprocess.STDOUT
        )


def _counts(runs: Runs) -> tuple[int, int, int]:
    with runs.store.sessions() as s:
        flights = s.scalar(select(func.count()).select_from(Booking).where(Booking.kind == "flight"))
        hotels = s.scalar(select(func.count()).select_from(Booking).where(Booking.kind == "hotel"))
        payments = s.scalar(
            select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == "payment")
        )
        return int(flights or 0), int(hotels or 0), int(payments or 0)


def _held_status(point: str) -> RunStatus:
    """The status a run held at ``point`` has on record (``queued``: the one left in the queue)."""
    if point.startswith("awaiting:"):
        return RunStatus.awaiting_confirmation
    return {"start": RunStatus.queued, "queued": RunStatus.queued, "finishing": RunStatus.succeeded}.get(
        point, RunStatus.running
    )


async def _statuses(runs: Runs, ids: list[str]) -> dict[str, RunRecord]:
    return {i: await runs.get("dave", i) for i in ids}


@pytest.mark.parametrize(
    ("case", "database_url"),
    [pytest.param(c, c.database, id=str(c)) for c in CASES],
    indirect=["database_url"],
)
async def test_a_stopped_process_loses_no_run_and_repeats_no_effect(
    case: Case, database_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {
        "ERRAND_DATABASE_URL": database_url,
        "ERRAND_MODEL_BACKEND": "scripted",
        "ERRAND_SCRIPT_PATH": str(write_script(tmp_path, CRASH_SCRIPT)),
        "ERRAND_WORKER_ID": f"crash-{tmp_path.name}",  # recovers only this test's runs
    }
    log = tmp_path / "process.log"
    runs = await Runs.open(Settings(home=home, database_url=database_url), execute=False)
    try:
        before = _counts(runs)
        at: dict[str, str] = {}  # run id -> point
        for point in case.points:
            rec = await runs.create(
                "dave", TRIP_REQUEST, approve="ask" if point.startswith("awaiting:") else "all"
            )
            at[rec.id] = point
        answers = {i: "approve" for i, p in at.items() if p.startswith("awaiting:")}
        for answer in ("reject", "cancel"):  # two more waits, answered otherwise after the restart
            rec = await runs.create("dave", TRIP_REQUEST, approve="ask")
            at[rec.id], answers[rec.id] = "awaiting:book_flight", answer
        queued = (await runs.create("dave", TRIP_REQUEST, approve="all")).id
        plan = crashpoints.write_plan(tmp_path / "plan.json", at)

        # Every run held at its point, in one process that can take no more.
        doomed = _start(
            case.process, home, env | plan | {"ERRAND_WORKER_CONCURRENCY": str(len(at))}, log, points=True
        )
        try:
            # Held means reached and recorded: the run log is written off the run's path, so a
            # run held after its approval may still read `awaiting_confirmation` for a moment.
            async with asyncio.timeout(120):
                while crashpoints.reached(plan) != at or any(
                    r.status != _held_status(at[i]) for i, r in (await _statuses(runs, list(at))).items()
                ):
                    assert doomed.poll() is None, log.read_text()
                    await asyncio.sleep(0.1)
            held = await _statuses(runs, [*at, queued])
            doomed.send_signal(case.sig)
            code = doomed.wait(timeout=60)
        finally:
            doomed.kill()
        assert code == (-signal.SIGKILL if case.sig == signal.SIGKILL else 0), log.read_text()

        # Nothing lost: every run is where it was, with no error (none cancelled by a stop).
        stopped = await _statuses(runs, [*at, queued])
        for run_id, rec in stopped.items():
            point = at.get(run_id, "queued")
            assert rec.status == held[run_id].status and rec.error is None, (point, rec)
            assert rec.status == _held_status(point), (point, rec.status)
            assert bool(rec.pending) == point.startswith("awaiting:"), (point, rec.pending)

        # Restarted, it carries every run on; a run that waited for approval still waits.
        again = _start(case.process, home, env | {"ERRAND_WORKER_CONCURRENCY": str(len(at) + 1)}, log)
        try:
            done = await _finish(runs, answers, [*at, queued], again, log)
            # Read while the process lives: a cancel settles the record at once, and the run log
            # says succeeded a moment before the last checkpoint (CI killed it in between).
            workflows = {run_id: await _workflow_ended(run_id) for run_id in done}
        finally:
            again.kill()
            again.wait(timeout=30)

        reference = [e.type for e in await runs.events("dave", queued)]  # a run that never crashed
        booked: list[str] = []
        for run_id, rec in done.items():
            point, answer = at.get(run_id, "queued"), answers.get(run_id, "approve")
            events = await runs.events("dave", run_id)
            assert [e.data["seq"] for e in events] == list(range(1, len(events) + 1)), point
            results = {e.data["name"]: e.data for e in events if e.type == "tool_result"}
            status = workflows[run_id]
            assert status is not None and status.status == "SUCCESS", point  # nothing left to recover
            if answer == "cancel":  # cancelled while it waited: it ends there, nothing charged
                assert rec.status == RunStatus.cancelled and events[-1].type == "run_failed", rec
                assert "book_flight" not in results, results
                continue
            assert rec.status == RunStatus.succeeded, (point, rec.error, log.read_text()[-3000:])
            if answer == "reject":  # both payments refused: nothing booked, the model was told
                assert not results["book_flight"]["ok"] and not results["book_hotel"]["ok"], results
                assert "Reference" not in (rec.answer or ""), rec.answer
                continue
            assert [e.type for e in events] == reference, point  # nothing twice, nothing missing
            assert set(results) == {"wallet_balance", "book_flight", "book_hotel"}, point
            refs = [json.loads(results[n]["content"])["booking_id"] for n in ("book_flight", "book_hotel")]
            assert rec.answer == with_receipt(TRIP_ANSWER, *refs), point
            booked += refs
            if point.startswith("after_commit:"):  # the call ran again and got its first result back
                assert '"replayed":true' in results[point.split(":")[1]]["content"], point
        n = len(done) - 2  # the rejected and the cancelled run booked nothing
        assert len(set(booked)) == 2 * n  # each run booked its own flight and hotel, once
        assert tuple(a - b for a, b in zip(_counts(runs), before, strict=True)) == (n, n, 2 * n)
        with runs.store.sessions() as s:
            assert ledger_problems(s) == []
    finally:
        runs.close()


async def _finish(
    runs: Runs, answers: dict[str, str], ids: list[str], process: subprocess.Popen[bytes], log: Path
) -> dict[str, RunRecord]:
    """Drive every run to its end. The runs that waited for approval when the process stopped
    must still wait, until the others are done and `STILL_WAITING_S` has passed; then each is
    answered as ``answers`` says (approve, reject, cancel), at every confirmation it asks."""
    recovered = set(answers)  # not yet answered since the restart
    since = time.monotonic()
    async with asyncio.timeout(180):
        while True:
            assert process.poll() is None, log.read_text()
            recs = await _statuses(runs, ids)
            if all(r.status in FINISHED for r in recs.values()):
                return recs
            others_done = all(r.status in FINISHED for i, r in recs.items() if i not in answers)
            for run_id, answer in answers.items():
                rec = recs[run_id]
                if run_id in recovered:  # replayed up to its wait, it waits (approve would 409)
                    assert rec.status == RunStatus.awaiting_confirmation and rec.pending, rec
                    assert rec.pending["name"] == "book_flight", rec
                    if not (others_done and time.monotonic() - since > STILL_WAITING_S):
                        continue
                elif rec.status != RunStatus.awaiting_confirmation:
                    continue
                recovered.discard(run_id)
                if answer == "approve":
                    await runs.approve("dave", run_id)
                elif answer == "reject":
                    await runs.reject("dave", run_id, "not this one")
                else:
                    await runs.cancel("dave", run_id)
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
    workers = [
        _start("worker", home, env | {"ERRAND_WORKER_ID": f"machine-{i}"}, log)
        for i, log in enumerate(logs, 1)
    ]
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
