"""`Runs`: create, read, follow, confirm and cancel durable runs, from any process.

One DBOS instance per process. A process opened with ``execute=True`` also executes
runs from the shared queue (a worker, the server, the CLI); with ``execute=False`` it
only manages them (``errand runs approve`` from another terminal).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from dbos import DBOS, SetWorkflowID

from errand.agent.confirm import edits
from errand.agent.dates import now_text
from errand.config import Settings
from errand.errors import RunConflict, RunInputError
from errand.llm.base import ChatModel
from errand.llm.context import RUN_HINT, check_context, estimate_tokens
from errand.llm.types import Message
from errand.runs.durable import DECISION_TOPIC
from errand.runs.log import (
    FINISHED,
    TERMINAL_EVENTS,
    RunLog,
    RunRecord,
    RunStatus,
    StoredEvent,
    ThreadRecord,
)
from errand.runs.recorder import record
from errand.runs.request import build_request
from errand.runs.workflow import ProcessRuntime, install, run_workflow
from errand.runtime import open_store
from errand.services.store import ServiceStore
from errand.telemetry.trace import QuietDbosTelemetry, dbos_tracing
from errand.toolbox import Toolbox, open_toolbox
from errand.tools.config import load_tools_config

QUEUE = "errand-runs"
APP_VERSION = "errand-runs-1"
"""DBOS recovers only workflows of its own application version; a fixed one means a code
change never orphans the runs that were pending when it was deployed."""

Approval = Literal["ask", "all"] | str
"""``ask``, ``all`` or ``below:50 CNY``."""


def system_database_url(settings: Settings) -> str:
    """Where DBOS keeps its checkpoints: the same PostgreSQL database (schema ``dbos``), or a
    SQLite file next to errand's."""
    url = settings.resolved_database_url()
    if url.startswith(("postgresql", "postgres://")):
        return "postgresql://" + url.split("://", 1)[1]
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    if not path or path.startswith(":memory:"):
        return f"sqlite:///{settings.home / 'runs.sqlite'}"
    p = Path(path)
    return f"sqlite:///{p.with_name(p.stem + '-runs.sqlite')}"


def system_schema(settings: Settings) -> str:
    """The PostgreSQL schema of DBOS's tables: ``dbos``, or ``<schema>_dbos`` where the database
    URL puts errand in a schema of its own (``options=-csearch_path=<schema>``).

    DBOS's queue lives in those tables, so two errand deployments sharing one database in two
    schemas must not share them: each would take and run the other's queued runs."""
    options = sa.engine.make_url(settings.resolved_database_url()).query.get("options", "")
    text = " ".join(options) if isinstance(options, tuple) else options
    found = re.search(r"-c\s*search_path\s*=\s*([^,\s]+)", text)
    schema = found.group(1).strip('"') if found else ""
    return f"{schema}_dbos" if schema and schema not in ("public", "$user") else "dbos"


def _system_engine(url: str) -> sa.Engine | None:
    """DBOS's SQLite engine, set as DBOS sets it but in WAL mode without waiting for the disk.

    A checkpoint lost to a power cut only makes a step run again, and every effect a step
    has is guarded by its idempotency key. On PostgreSQL DBOS makes its engine, with
    ``synchronous_commit`` off for the same reason."""
    if not url.startswith("sqlite"):
        return None
    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = "IMMEDIATE"
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    return engine


class Runs:
    """Durable agent runs owned by users."""

    def __init__(
        self,
        settings: Settings,
        store: ServiceStore,
        log: RunLog,
        *,
        executing: bool,
        toolbox: Toolbox | None = None,
        owned: AsyncExitStack | None = None,
    ) -> None:
        self.settings = settings
        self.toolbox = toolbox
        """The tools this process's runs use: built-in plus errand.toml's MCP and OpenAPI tools."""
        self._owned = owned
        self.store = store
        """The services database the runs act on."""
        self.log = log
        self.executing = executing
        self.poll_s = 0.05
        """How often `follow` looks for new events."""

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        execute: bool = True,
        executor_id: str | None = None,
        model: ChatModel | None = None,
        toolbox: Toolbox | None = None,
    ) -> Runs:
        """Launch DBOS in this process; with ``execute`` this process also runs queued runs and,
        first, resumes those its executor (``worker_id``) had in flight when it stopped.

        ``model`` is the model already loaded (else it loads on the first run). ``toolbox`` is
        the tools runs use; without one an executing process opens the configured toolbox
        (errand.toml's MCP servers and OpenAPI specs beside the built-in services) until
        `aclose`, so a worker, the server and ``runs resume`` offer what ``errand run`` does.
        DBOS runs workflows on the loop that opened it, where those MCP sessions live."""
        owned: AsyncExitStack | None = None
        if toolbox is None and execute:
            owned = AsyncExitStack()
            toolbox = await owned.enter_async_context(open_toolbox(load_tools_config()))
        store = open_store(settings)
        log = RunLog(settings.resolved_database_url())
        install(ProcessRuntime(settings=settings, store=store, log=log, toolbox=toolbox, _model=model))
        dbos_log = logging.getLogger("dbos")
        dbos_log.setLevel(logging.WARNING)
        # DBOS's workflow and step spans, inside each run's trace (errand.telemetry.trace).
        dbos_spans = settings.trace_dbos and dbos_tracing()
        if dbos_spans and not any(isinstance(f, QuietDbosTelemetry) for f in dbos_log.filters):
            dbos_log.addFilter(QuietDbosTelemetry())
        sys_url = system_database_url(settings)
        DBOS(
            config={
                "name": "errand",
                "system_database_url": sys_url,
                "system_database_engine": _system_engine(sys_url),
                "dbos_system_schema": system_schema(settings),
                # The same trade on PostgreSQL: a lost checkpoint only makes a step run again.
                "db_engine_kwargs": {"connect_args": {"options": "-c synchronous_commit=off"}},
                "application_version": APP_VERSION,
                "executor_id": executor_id
                or (settings.worker_id if execute else f"client-{uuid.uuid4().hex}"),
                "log_level": "WARNING",
                "notification_listener_polling_interval_sec": 0.05,
                "enable_otlp": dbos_spans,
            }
        )
        if not execute:
            DBOS.listen_queues([])
        DBOS.launch()
        await DBOS.register_queue_async(
            QUEUE, worker_concurrency=settings.worker_concurrency, polling_interval_sec=0.05
        )
        return cls(settings, store, log, executing=execute, toolbox=toolbox, owned=owned)

    async def aclose(self) -> None:
        """`close`, then disconnect the tool sources `open` connected (in the task that opened them)."""
        await asyncio.to_thread(self.close)  # DBOS may wait for its threads: not on the loop
        # DBOS made its thread pool the loop's default executor, and has just shut it down.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
        if self._owned is not None:
            await self._owned.aclose()

    def close(self) -> None:
        """Stop DBOS in this process (runs in flight resume when an executor with the same id starts).
        A process that executed runs calls `aclose` instead, which also closes its tool sources."""
        install(None)
        DBOS.destroy(destroy_registry=False)
        # DBOS made its thread pool the loop's default executor, and has just shut it down.
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to restore
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
        self.log.close()
        self.store.close()

    async def create(
        self,
        user: str,
        input: str,
        *,
        max_steps: int | None = None,
        approve: Approval = "ask",
        here: bool = False,
        images: builtins.list[str] | None = None,
        key_id: str | None = None,
        thread_id: str | None = None,
        earlier: builtins.list[Message] | None = None,
        approval_secret: str | None = None,
    ) -> RunRecord:
        """Queue a run of ``input`` for ``user``; any executing process picks it up. With ``here``
        this process runs it at once instead (the CLI), still durably. ``images`` go to a model
        that reads images; for any other model their text, read by OCR, is appended to
        ``input`` (see `errand.runs.request`). ``key_id`` is the API key it is counted against
        (`errand keys usage`).

        ``thread_id`` makes the run the next message of that conversation of ``user``'s (it
        starts from the earlier runs' turns, and answers a question the last one asked); once
        the last run has ended (`RunConflict` while it goes on: approve, reject or cancel it
        first). Without one the run starts a new thread; its id is on the record.

        ``earlier`` is the conversation before ``input`` as a client holds it (a chat
        completion's earlier messages): the run starts from it, after its thread's turns, and
        so do the thread's later runs. ``approval_secret`` is kept with the run, never shown: the
        server signs the approval tokens it puts in a chat with it (`errand.server.chat_runs`)."""
        if not input.strip() and not images:
            raise RunInputError("A run needs a request: say what you want done.")
        history: builtins.list[Message] = []
        if thread_id is not None:
            turns = await asyncio.to_thread(self.log.thread_runs, user, thread_id)
            last = turns[-1]
            if last.status not in FINISHED:
                raise RunConflict(
                    f"Thread {thread_id} has run {last.id} still {last.status.value}: "
                    "answer, wait for or cancel it before the next message."
                )
            history = await asyncio.to_thread(self.log.history, user, thread_id)
        else:
            thread_id = "thr_" + uuid.uuid4().hex[:16]
        # Images are read here, once: the stored request holds their text (or the run's
        # options their URLs, for a model that reads images), so a resumed run reads nothing;
        # the options keep the images read as attachments, which read_image may read again.
        request = await asyncio.to_thread(build_request, self.settings, input, images or [])
        input = request.text  # what the model will read, image text included, must fit its window
        tokens = estimate_tokens([*history, *(earlier or ()), Message(role="user", content=input)])
        check_context(tokens, None, self.settings.resolved_context_window(), RUN_HINT)
        run_id = "run_" + uuid.uuid4().hex[:16]
        if approve == "ask" and self.settings.auto_approve_below:
            approve = f"below:{self.settings.auto_approve_below}"
        options: dict[str, Any] = {
            "today": now_text(),
            "approve": approve,
            "max_steps": max_steps,
            "images": list(request.images),
        }
        if request.attachments:  # the images read by OCR, for read_image, kept for a resumed run too
            options["attachments"] = list(request.attachments)
        if earlier:
            options["earlier"] = [m.model_dump(mode="json", exclude_defaults=True) for m in earlier]
        if approval_secret is not None:
            options["approval_secret"] = approval_secret
        rec = await asyncio.to_thread(
            self.log.create, run_id, user, input, options, key_id=key_id, thread_id=thread_id
        )
        with SetWorkflowID(run_id):
            if here:
                await DBOS.start_workflow_async(run_workflow, run_id)
            else:
                await DBOS.enqueue_workflow_async(QUEUE, run_workflow, run_id)
        return rec

    async def get(self, user: str, run_id: str) -> RunRecord:
        """The run, if ``user`` owns it (`RunNotFound` otherwise)."""
        return await asyncio.to_thread(self.log.get, user, run_id)

    async def options(self, user: str, run_id: str) -> dict[str, Any]:
        """What the run was started with (``today``, ``approve``, ...), if ``user`` owns it."""
        await self.get(user, run_id)
        info = await asyncio.to_thread(self.log.load, run_id)
        return dict(info["options"])

    async def list(self, user: str, *, limit: int = 50) -> list[RunRecord]:
        """The user's newest runs."""
        return await asyncio.to_thread(self.log.list, user, limit=limit)

    async def threads(self, user: str, *, limit: int = 50) -> builtins.list[ThreadRecord]:
        """The user's conversations, the one with the newest message first."""
        return await asyncio.to_thread(self.log.threads, user, limit=limit)

    async def thread_runs(self, user: str, thread_id: str) -> builtins.list[RunRecord]:
        """The thread's runs (its messages and answers), oldest first (`RunNotFound` if not ``user``'s)."""
        return await asyncio.to_thread(self.log.thread_runs, user, thread_id)

    async def events(self, user: str, run_id: str, *, after: int = 0) -> builtins.list[StoredEvent]:
        """The run's events after event id ``after``."""
        await self.get(user, run_id)
        return await asyncio.to_thread(self.log.events, run_id, after=after)

    async def follow(self, user: str, run_id: str, *, after: int = 0) -> AsyncIterator[StoredEvent]:
        """The run's events as they are written, until its last one."""
        await self.get(user, run_id)
        while True:
            batch = await asyncio.to_thread(self.log.events, run_id, after=after)
            for ev in batch:
                after = ev.id
                yield ev
                if ev.type in TERMINAL_EVENTS:
                    return
            if not batch:
                rec = await self.get(user, run_id)
                if rec.status in FINISHED:
                    for ev in await asyncio.to_thread(self.log.events, run_id, after=after):
                        yield ev
                    return
                await asyncio.sleep(self.poll_s)

    async def approve(
        self, user: str, run_id: str, note: str = "", arguments: dict[str, Any] | None = None
    ) -> RunRecord:
        """Approve what the run waits for, or, with ``arguments``, the call with those changed:
        the run then prices the changed call and waits for another answer. Changes are checked
        here, before the run hears of them (`EditRefused` names what may not change)."""
        decision: dict[str, Any] = {"approved": True, "note": note, "by": user}
        if arguments:
            pending = (await self.get(user, run_id)).pending
            if pending is None:
                raise RunConflict(f"Run {run_id} waits for no confirmation, so there is nothing to change.")
            changes = edits(pending.get("arguments", {}), pending.get("editable", {}), arguments)
            if changes:
                decision["arguments"] = changes
        return await self._decide(user, run_id, decision)

    async def reject(self, user: str, run_id: str, note: str = "") -> RunRecord:
        """Reject what the run waits for; the model is told, with ``note``."""
        return await self._decide(user, run_id, {"approved": False, "note": note, "by": user})

    async def _decide(self, user: str, run_id: str, decision: dict[str, Any]) -> RunRecord:
        rec = await self.get(user, run_id)
        if not await asyncio.to_thread(self.log.claim_decision, user, run_id):
            rec = await self.get(user, run_id)
            raise RunConflict(f"Run {run_id} is {rec.status.value}: nothing waits for a confirmation.")
        await DBOS.send_async(run_id, decision, DECISION_TOPIC)
        return await self.get(user, run_id)

    async def cancel(self, user: str, run_id: str) -> RunRecord:
        """Stop the run before its next step; a tool call already committing finishes first."""
        rec = await self.get(user, run_id)
        if rec.status in FINISHED:
            raise RunConflict(f"Run {run_id} already ended ({rec.status.value}).")
        if rec.status == RunStatus.awaiting_confirmation and await asyncio.to_thread(
            self.log.claim_decision, user, run_id
        ):
            await DBOS.send_async(run_id, {"cancel": True}, DECISION_TOPIC)  # wakes the wait
        else:
            await DBOS.cancel_workflow_async(run_id)
            if rec.status == RunStatus.queued:
                from errand.agent.events import RunFailed

                final = RunFailed(run_id=run_id, seq=1, reason="The run was cancelled.", kind="cancelled")
                await asyncio.to_thread(record, self.log, run_id, final)
        # Settled now even if no process executes the run; one that does still writes its last event.
        await asyncio.to_thread(
            self.log.set_status, run_id, RunStatus.cancelled, error="The run was cancelled.", pending=None
        )
        return await self.get(user, run_id)

    async def resume(self, user: str, run_id: str) -> RunRecord:
        """Put a run whose process died back on the queue; it goes on from its last finished step."""
        rec = await self.get(user, run_id)
        if rec.status in FINISHED:
            raise RunConflict(f"Run {run_id} already ended ({rec.status.value}); start a new one.")
        await DBOS.resume_workflow_async(run_id, queue_name=QUEUE)
        return rec

    async def wait(self, user: str, run_id: str, *, timeout_s: float = 300.0) -> RunRecord:
        """The run once it has ended (polling), for scripts and tests."""
        async with asyncio.timeout(timeout_s):
            while True:
                rec = await self.get(user, run_id)
                if rec.status in FINISHED:
                    return rec
                await asyncio.sleep(self.poll_s)
