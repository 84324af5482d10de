"""The run table and event log: what people read about runs, from any process.

Every write here is safe to repeat: a workflow replayed after a crash writes the
same events again and they are ignored (``(run_id, seq)`` is unique).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from errand.db.engine import make_engine, session_factory
from errand.errors import RunConflict, RunNotFound
from errand.llm.types import Message
from errand.runs.models import RunEventRow, RunRow, utcnow
from errand.runs.thread import PastRun, earlier_turns, thread_history


class RunStatus(StrEnum):
    """Where a run stands."""

    queued = "queued"
    running = "running"
    awaiting_confirmation = "awaiting_confirmation"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINISHED = frozenset({RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled})
"""States a run never leaves."""

TERMINAL_EVENTS = frozenset({"run_finished", "run_failed"})

USAGE_FIELDS = ("model", "prompt_tokens", "cached_tokens", "completion_tokens", "cost")
"""Fields of a run's use, written with its last event even when a person's cancel ended it first."""


class RunRecord(BaseModel):
    """A run as its owner sees it."""

    id: str
    user: str
    status: RunStatus
    input: str
    answer: str | None = None
    error: str | None = None
    pending: dict[str, Any] | None = None
    """The ``confirmation_required`` event the run waits on, while it waits."""
    created_at: datetime
    updated_at: datetime
    model: str | None = None
    """The model that ran it (known once it started)."""
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    """What its tokens cost in ``ERRAND_PRICE_CURRENCY``, once it ended (None: the model has no price)."""
    thread_id: str | None = None
    """The conversation the run is a turn of (None: a run from before threads)."""


class ThreadRecord(BaseModel):
    """A conversation as its owner sees it: what it started with and where its last turn stands."""

    id: str
    user: str
    title: str
    """The first request of the thread (cut to 200 characters)."""
    runs: int
    """How many turns (runs) it has."""
    last_run_id: str
    last_status: RunStatus
    """The last turn's state: a new message may follow only once it has ended."""
    created_at: datetime
    updated_at: datetime


HISTORY_EVENTS = ("text_delta", "tool_call", "tool_result", "run_finished")
"""The events a thread's conversation is rebuilt from (see `errand.runs.thread`)."""


class UsageTotal(BaseModel):
    """The runs of one key and user over a period, and what they used."""

    key_id: str | None
    """None: runs started from the command line, with no key."""
    user: str
    runs: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost: float
    """The priced runs' cost."""
    unpriced: int
    """Ended runs that used tokens of a model with no price (their cost is unknown, not zero)."""


class StoredEvent(BaseModel):
    """One persisted event of a run."""

    id: int
    """Its number in its run (1, 2, 3, ... without gaps): the SSE event id, and the cursor of
    ``after``. Not the table's global id, which would tell one user how busy everyone else is."""
    run_id: str
    type: str
    data: dict[str, Any]
    """The agent event as JSON (see `errand.agent.events`), with its ``type`` and ``seq``."""


def _record(row: RunRow) -> RunRecord:
    return RunRecord(
        id=row.id,
        user=row.user,
        status=RunStatus(row.status),
        input=row.input,
        answer=row.answer,
        error=row.error,
        pending=row.pending,
        created_at=row.created_at,
        updated_at=row.updated_at,
        model=row.model,
        prompt_tokens=row.prompt_tokens or 0,
        cached_tokens=row.cached_tokens or 0,
        completion_tokens=row.completion_tokens or 0,
        cost=row.cost,
        thread_id=row.thread_id,
    )


class RunLog:
    """Reads and writes runs and their events in errand's database.

    Its connections commit without waiting for the disk: an event lost to a power cut is
    at worst missing from the log, while DBOS's checkpoint and the services' own rows
    stay the record of what happened."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, synchronous_commit=False)
        self.sessions = session_factory(self.engine)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def create(
        self,
        run_id: str,
        user: str,
        input: str,
        options: dict[str, Any],
        *,
        key_id: str | None = None,
        thread_id: str | None = None,
    ) -> RunRecord:
        """A new queued run (started with the API key ``key_id``, if any), a turn of ``thread_id``.

        `RunConflict` when the thread already has a run that has not ended: the database's
        unique index on a thread's open run decides, so of two messages posted to one thread
        at the same moment exactly one gets in, whatever either read before."""
        row = RunRow(
            thread_id=thread_id,
            id=run_id,
            user=user,
            status=RunStatus.queued.value,
            input=input,
            options=options,
            pending=None,
            key_id=key_id,
            prompt_tokens=0,
            cached_tokens=0,
            completion_tokens=0,
        )
        try:
            with self.sessions() as s, s.begin():
                s.add(row)
        except IntegrityError:
            if thread_id is None:  # run ids are random: only the thread's index can refuse one
                raise
            raise RunConflict(self._busy(thread_id)) from None
        return _record(row)

    def _busy(self, thread_id: str) -> str:
        """Why the thread takes no message now, naming its run that has not ended."""
        with self.sessions() as s:
            busy = s.scalars(
                select(RunRow).where(
                    RunRow.thread_id == thread_id,
                    RunRow.status.not_in([f.value for f in FINISHED]),
                )
            ).first()
        what = f"run {busy.id} still {busy.status}" if busy else "another message just sent"
        return f"Thread {thread_id} has {what}: answer, wait for or cancel it before the next message."

    def load(self, run_id: str) -> dict[str, Any]:
        """What a workflow needs to (re)start a run: owner, request and options."""
        with self.sessions() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise RunNotFound(f"No run {run_id}.")
            info: dict[str, Any] = {"user": row.user, "input": row.input, "options": dict(row.options or {})}
            if row.thread_id is not None:
                history = self._history(s, row.user, row.thread_id, before=row.created_at)
                history += earlier_turns(info["options"])  # right before its own request
                info["history"] = [m.model_dump(mode="json") for m in history]
            return info

    def history(self, user: str, thread_id: str) -> builtins.list[Message]:
        """The conversation of the thread's runs so far: what its next run starts from."""
        with self.sessions() as s:
            return self._history(s, user, thread_id)

    @staticmethod
    def _history(
        s: Any, user: str, thread_id: str, *, before: datetime | None = None
    ) -> builtins.list[Message]:
        query = select(RunRow).where(RunRow.thread_id == thread_id, RunRow.user == user)
        if before is not None:
            query = query.where(RunRow.created_at < before)
        past = []
        for r in s.scalars(query.order_by(RunRow.created_at)).all():
            events = s.scalars(
                select(RunEventRow.data)
                .where(RunEventRow.run_id == r.id, RunEventRow.type.in_(HISTORY_EVENTS))
                .order_by(RunEventRow.seq)
            )
            past.append(PastRun(r.input, dict(r.options or {}), [dict(d) for d in events]))
        return thread_history(past)

    def thread_runs(self, user: str, thread_id: str) -> builtins.list[RunRecord]:
        """The thread's runs, oldest first, if ``user`` owns it (`RunNotFound` otherwise)."""
        with self.sessions() as s:
            rows = s.scalars(
                select(RunRow)
                .where(RunRow.thread_id == thread_id, RunRow.user == user)
                .order_by(RunRow.created_at)
            ).all()
            if not rows:
                raise RunNotFound(f"No thread {thread_id} for this user.")
            return [_record(r) for r in rows]

    def threads(self, user: str, *, limit: int = 50) -> builtins.list[ThreadRecord]:
        """The user's conversations, the one with the newest turn first."""
        newest = func.max(RunRow.created_at)
        with self.sessions() as s:
            ids = [
                t
                for (t,) in s.execute(
                    select(RunRow.thread_id)
                    .where(RunRow.user == user, RunRow.thread_id.is_not(None))
                    .group_by(RunRow.thread_id)
                    .order_by(newest.desc())
                    .limit(limit)
                )
            ]
            rows = s.scalars(
                select(RunRow)
                .where(RunRow.thread_id.in_(ids), RunRow.user == user)
                .order_by(RunRow.created_at)
            ).all()
        by_thread: dict[str, builtins.list[RunRow]] = {}
        for r in rows:
            by_thread.setdefault(str(r.thread_id), []).append(r)
        out = []
        for t in ids:
            turns = by_thread[str(t)]
            first, last = turns[0], turns[-1]
            out.append(
                ThreadRecord(
                    id=str(t),
                    user=user,
                    title=first.input[:200],
                    runs=len(turns),
                    last_run_id=last.id,
                    last_status=RunStatus(last.status),
                    created_at=first.created_at,
                    updated_at=max(r.updated_at for r in turns),
                )
            )
        return out

    def status(self, run_id: str) -> RunStatus | None:
        """Where the run stands (None if there is no such run)."""
        with self.sessions() as s:
            row = s.get(RunRow, run_id)
            return None if row is None else RunStatus(row.status)

    def get(self, user: str, run_id: str) -> RunRecord:
        """The run, if ``user`` owns it; another user's run does not exist for them."""
        with self.sessions() as s:
            row = s.get(RunRow, run_id)
            if row is None or row.user != user:
                raise RunNotFound(f"No run {run_id} for this user. List yours with `errand runs list`.")
            return _record(row)

    def list(self, user: str, *, limit: int = 50) -> list[RunRecord]:
        """The user's newest runs first."""
        with self.sessions() as s:
            rows = s.scalars(
                select(RunRow).where(RunRow.user == user).order_by(RunRow.created_at.desc()).limit(limit)
            )
            return [_record(r) for r in rows]

    def usage(self, *, since: datetime | None = None) -> builtins.list[UsageTotal]:
        """Runs, tokens and cost per key and user, of the runs created since ``since`` (all when None)."""
        cost = func.coalesce(func.sum(RunRow.cost), 0.0)
        ended = RunRow.status.in_([f.value for f in FINISHED])
        used = (RunRow.prompt_tokens + RunRow.completion_tokens) > 0
        unpriced = func.sum(case((and_(ended, used, RunRow.cost.is_(None)), 1), else_=0))
        query = select(
            RunRow.key_id,
            RunRow.user,
            func.count(),
            func.coalesce(func.sum(RunRow.prompt_tokens), 0),
            func.coalesce(func.sum(RunRow.cached_tokens), 0),
            func.coalesce(func.sum(RunRow.completion_tokens), 0),
            cost,
            unpriced,
        ).group_by(RunRow.key_id, RunRow.user)
        if since is not None:
            query = query.where(RunRow.created_at >= since)
        with self.sessions() as s:
            return [
                UsageTotal(
                    key_id=k,
                    user=u,
                    runs=n,
                    prompt_tokens=int(p),
                    cached_tokens=int(c),
                    completion_tokens=int(o),
                    cost=float(v),
                    unpriced=int(x or 0),
                )
                for k, u, n, p, c, o, v, x in s.execute(query.order_by(RunRow.user, RunRow.key_id))
            ]

    def set_status(self, run_id: str, status: RunStatus, **fields: Any) -> None:
        """Move a run to ``status`` (a finished run stays finished)."""
        self.append(run_id, [], {"status": status, **fields})

    def start(self, run_id: str) -> None:
        """Move a queued run to running. A run recovered after a crash keeps its state: one that
        waited for approval still waits (its replayed ``confirmation_required`` is not recorded
        again, so nothing else would put it back, and approve/reject would find no wait)."""
        with self.sessions() as s, s.begin():
            s.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == RunStatus.queued.value)
                .values(status=RunStatus.running.value, updated_at=utcnow())
            )

    def claim_decision(self, user: str, run_id: str) -> bool:
        """Take the run's pending confirmation for one answer; False when none waits (or another
        answer took it first)."""
        with self.sessions() as s, s.begin():
            done = s.execute(
                update(RunRow)
                .where(
                    RunRow.id == run_id,
                    RunRow.user == user,
                    RunRow.status == RunStatus.awaiting_confirmation.value,
                )
                .values(status=RunStatus.running.value, pending=None, updated_at=utcnow())
            )
            return bool(getattr(done, "rowcount", 0))

    def append(
        self, run_id: str, events: builtins.list[dict[str, Any]], status: dict[str, Any] | None = None
    ) -> None:
        """Record events of the run (each with its ``seq``) and, in the same commit, a new state
        (``status`` plus fields). An event already recorded is kept as first written: a workflow
        replayed after a crash writes its events again, and then its state is not applied either:
        it was applied with those events, and may have moved on since (an approval taken while
        the replayed run had not yet reached its wait must not put it back to waiting)."""
        with self.sessions() as s, s.begin():
            new = True
            if events:
                dialect = s.get_bind().dialect.name
                ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RunEventRow)
                written = s.execute(
                    ins.on_conflict_do_nothing(index_elements=["run_id", "seq"]).returning(RunEventRow.seq),
                    [{"run_id": run_id, "seq": d["seq"], "type": str(d["type"]), "data": d} for d in events],
                )
                new = bool(written.all())
            if status is not None and new:  # a finished run stays finished
                fields = dict(status)
                used = {k: fields.pop(k) for k in USAGE_FIELDS if k in fields}
                if used:  # what it used is counted however it ended
                    s.execute(update(RunRow).where(RunRow.id == run_id).values(**used))
                s.execute(
                    update(RunRow)
                    .where(RunRow.id == run_id, RunRow.status.notin_([f.value for f in FINISHED]))
                    .values(status=RunStatus(fields.pop("status")).value, updated_at=utcnow(), **fields)
                )

    def truncate_after(self, run_id: str, seq: int) -> None:
        """Drop events after ``seq``: pieces of a model turn that a crash cut short, about to be redone."""
        with self.sessions() as s, s.begin():
            s.execute(delete(RunEventRow).where(RunEventRow.run_id == run_id, RunEventRow.seq > seq))

    def last_seq(self, run_id: str) -> int:
        """The number of the run's last recorded event (0 when none)."""
        with self.sessions() as s:
            seqs = s.scalars(
                select(RunEventRow.seq).where(RunEventRow.run_id == run_id).order_by(RunEventRow.seq.desc())
            )
            return next(iter(seqs), 0)

    def events(self, run_id: str, *, after: int = 0, limit: int = 1000) -> builtins.list[StoredEvent]:
        """The run's events numbered after ``after``, oldest first."""
        with self.sessions() as s:
            rows = s.scalars(
                select(RunEventRow)
                .where(RunEventRow.run_id == run_id, RunEventRow.seq > after)
                .order_by(RunEventRow.seq)
                .limit(limit)
            )
            return [StoredEvent(id=r.seq, run_id=r.run_id, type=r.type, data=r.data) for r in rows]
