"""An in-memory stand-in with the interface of `errand.runs.Runs`, for the runs routes' tests.

A run whose input mentions "buy" waits for a confirmation (approve: it pays and answers;
reject: it answers that nothing was bought); any other run answers at once. ``hold`` keeps
new runs queued until ``release()`` (to test concurrency limits).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from errand.errors import RunConflict, RunNotFound
from errand.runs import RunRecord, RunStatus, StoredEvent
from errand.runs.request import check_images

FINISHED = {RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled}


class FakeRuns:
    """Runs in memory, executed by a task per run."""

    def __init__(self, *, hold: bool = False) -> None:
        self.records: dict[str, RunRecord] = {}
        self.log: list[StoredEvent] = []
        self._ids = itertools.count(1)
        self._seq: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._decisions: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._options: dict[str, dict[str, Any]] = {}
        self.hold = asyncio.Event()
        if not hold:
            self.hold.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.calls: list[tuple[str, str, str]] = []
        """(method, user, run id) of every call: isolation tests check nothing changed."""

    def release(self) -> None:
        """Let held runs start (from any thread)."""
        if self._loop is None:
            self.hold.set()
        else:
            self._loop.call_soon_threadsafe(self.hold.set)

    async def _emit(self, run_id: str, type_: str, **data: Any) -> None:
        self._seq[run_id] = self._seq.get(run_id, 0) + 1
        ev = StoredEvent(
            id=next(self._ids),
            run_id=run_id,
            type=type_,
            data={"type": type_, "run_id": run_id, "seq": self._seq[run_id], **data},
        )
        async with self._changed:
            self.log.append(ev)
            self._changed.notify_all()

    def _set(self, run_id: str, **fields: Any) -> RunRecord:
        rec = self.records[run_id].model_copy(update={**fields, "updated_at": datetime.now(UTC)})
        self.records[run_id] = rec
        return rec

    async def create(
        self,
        user: str,
        input: str,
        *,
        max_steps: int | None = None,
        images: list[str] | None = None,
        key_id: str | None = None,
        thread_id: str | None = None,
        earlier: list[Any] | None = None,
        approval_secret: str | None = None,
    ) -> RunRecord:
        if thread_id is not None:  # no threads here (tests/runs/test_threads.py has the real ones)
            raise RunNotFound(f"No thread {thread_id} for this user.")
        check_images(images or [])  # the real check on image URLs (reading them is Runs' job)
        now = datetime.now(UTC)
        run_id = "run_" + uuid.uuid4().hex[:16]
        rec = RunRecord(
            id=run_id, user=user, status=RunStatus.queued, input=input, created_at=now, updated_at=now
        )
        self.records[run_id] = rec
        self._options[run_id] = {"approve": "ask", "approval_secret": approval_secret, "earlier": earlier}
        self._decisions[run_id] = asyncio.Queue()
        self.calls.append(("create", user, run_id))
        self._loop = asyncio.get_running_loop()
        asyncio.get_running_loop().create_task(self._execute(run_id))
        return rec

    async def _execute(self, run_id: str) -> None:
        await self.hold.wait()
        if self.records[run_id].status in FINISHED:
            return
        self._set(run_id, status=RunStatus.running)
        rec = self.records[run_id]
        await self._emit(run_id, "run_started", input=rec.input, model="scripted", tools=["buy_product"])
        usage = {"prompt_tokens": 100, "completion_tokens": 20}
        if "buy" in rec.input:
            pending = {
                "type": "confirmation_required",
                "call_id": "call_1_0",
                "name": "buy_product",
                "summary": "Buy 1 kettle for 199.00 CNY from wallet main",
                "amount": 19900,
                "currency": "CNY",
                "arguments": {"variant_id": "V-1"},
            }
            await self._emit(
                run_id,
                "confirmation_required",
                step=1,
                risk="payment",
                **{k: v for k, v in pending.items() if k != "type"},
            )
            self._set(run_id, status=RunStatus.awaiting_confirmation, pending=pending)
            decision = await self._decisions[run_id].get()
            if decision.get("cancel"):
                return
            await self._emit(
                run_id, "confirmation_resolved", step=1, call_id="call_1_0", approved=decision["approved"]
            )
            self._set(run_id, status=RunStatus.running, pending=None)
            if decision["approved"]:
                await self._emit(
                    run_id, "tool_result", step=1, call_id="call_1_0", name="buy_product", ok=True
                )
                answer = "Bought the kettle for 199.00 CNY."
            else:
                answer = "Nothing was bought."
        else:
            answer = f"Done: {rec.input}"
        await self._emit(run_id, "run_finished", answer=answer, steps=1, usage=usage)
        self._set(run_id, status=RunStatus.succeeded, answer=answer)

    def _mine(self, user: str, run_id: str) -> RunRecord:
        rec = self.records.get(run_id)
        if rec is None or rec.user != user:
            raise RunNotFound(f"No run {run_id}.")
        return rec

    async def get(self, user: str, run_id: str) -> RunRecord:
        return self._mine(user, run_id)

    async def options(self, user: str, run_id: str) -> dict[str, Any]:
        self._mine(user, run_id)
        return dict(self._options[run_id])

    async def list(self, user: str, *, limit: int = 50) -> list[RunRecord]:
        mine = [r for r in self.records.values() if r.user == user]
        return sorted(mine, key=lambda r: r.created_at, reverse=True)[:limit]

    async def threads(self, user: str, *, limit: int = 50) -> list[Any]:
        """No threads here: the durable layer's are tested in tests/runs/test_threads.py."""
        return []

    async def thread_runs(self, user: str, thread_id: str) -> list[RunRecord]:
        raise RunNotFound(f"No thread {thread_id} for this user.")

    async def events(self, user: str, run_id: str, *, after: int = 0) -> list[StoredEvent]:
        self._mine(user, run_id)
        return [e for e in self.log if e.run_id == run_id and e.id > after]

    async def follow(self, user: str, run_id: str, *, after: int = 0) -> AsyncIterator[StoredEvent]:
        self._mine(user, run_id)
        while True:
            batch = [e for e in self.log if e.run_id == run_id and e.id > after]
            for ev in batch:
                after = ev.id
                yield ev
                if ev.type in ("run_finished", "run_failed"):
                    return
            if not batch:
                async with self._changed:
                    await self._changed.wait()

    async def _decide(self, user: str, run_id: str, decision: dict[str, Any]) -> RunRecord:
        rec = self._mine(user, run_id)
        if rec.status != RunStatus.awaiting_confirmation:
            raise RunConflict(f"Run {run_id} is {rec.status.value}: nothing waits for a confirmation.")
        self.calls.append(("decide", user, run_id))
        self._set(run_id, status=RunStatus.running)
        await self._decisions[run_id].put(decision)
        return self.records[run_id]

    async def approve(
        self, user: str, run_id: str, note: str = "", arguments: dict[str, Any] | None = None
    ) -> RunRecord:
        return await self._decide(user, run_id, {"approved": True, "note": note, "arguments": arguments})

    async def reject(self, user: str, run_id: str, note: str = "") -> RunRecord:
        return await self._decide(user, run_id, {"approved": False, "note": note})

    async def cancel(self, user: str, run_id: str) -> RunRecord:
        rec = self._mine(user, run_id)
        if rec.status in FINISHED:
            raise RunConflict(f"Run {run_id} already ended ({rec.status.value}).")
        self.calls.append(("cancel", user, run_id))
        await self._decisions[run_id].put({"cancel": True})
        await self._emit(run_id, "run_failed", reason="The run was cancelled.", kind="cancelled")
        return self._set(run_id, status=RunStatus.cancelled, error="The run was cancelled.", pending=None)

    def close(self) -> None:
        pass
