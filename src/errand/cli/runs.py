"""`errand run` (durable), `errand runs ...` and `errand worker`: runs from the terminal.

A run started here executes in this process, durably: if the process dies, `errand
runs resume ID` (or a worker) carries it on from its last finished step. A run that
waits for a confirmation asks at the prompt and can also be answered from another
terminal with `errand runs approve ID`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from errand.agent.events import ConfirmationRequired, Event, RunFailed
from errand.cli.console import RunRenderer, show
from errand.config import Settings
from errand.errors import EditRefused, RunConflict
from errand.llm.base import ChatModel
from errand.runs.log import RunRecord, StoredEvent
from errand.runs.service import Runs
from errand.telemetry.timeline import Timeline, read_timeline
from errand.toolbox import Toolbox

EVENT: TypeAdapter[Event] = TypeAdapter(Event)

UserOpt = Annotated[str, typer.Option("--user", help="Whose runs (the CLI's own are 'local').")]


def _money(ev: ConfirmationRequired) -> str:
    if ev.amount is None or ev.currency is None:
        return ""
    return f" ({ev.amount / 100:,.2f} {ev.currency})"


async def _ask(
    runs: Runs, user: str, ev: ConfirmationRequired, renderer: RunRenderer, console: Console
) -> None:
    """Ask at the prompt; an answer given meanwhile from another terminal wins."""
    renderer.pause()

    from errand.cli.common import ask_approval

    def prompt() -> tuple[bool, str, dict[str, Any]] | None:
        question = f"Approve {ev.risk}{_money(ev)}: {escape(ev.summary)}?"
        try:
            return ask_approval(console, question, ev.arguments, ev.editable)
        except EOFError:
            return None

    answer = await asyncio.to_thread(prompt)
    if answer is None:
        console.print(
            f"[dim]waiting for `errand runs approve {ev.run_id}` (or reject) from another terminal[/dim]"
        )
        return
    ok, note, changes = answer
    try:
        if ok:
            await runs.approve(user, ev.run_id, note, changes or None)
        else:
            await runs.reject(user, ev.run_id, note)
    except RunConflict:
        console.print("[dim]already answered from elsewhere[/dim]")
    except EditRefused as exc:  # the run moved on to another confirmation meanwhile
        console.print(f"[red]{escape(str(exc))}[/red]")


async def follow(
    runs: Runs,
    user: str,
    run_id: str,
    *,
    as_json: bool,
    renderer: RunRenderer,
    console: Console,
    interactive: bool,
    after: int = 0,
) -> bool:
    """Show the run's events until it ends; True when it ended with an answer."""
    ok = True
    asks: set[asyncio.Task[None]] = set()
    async for stored in runs.follow(user, run_id, after=after):
        ev = EVENT.validate_python(stored.data)
        show(ev, as_json=as_json, renderer=renderer)
        if isinstance(ev, ConfirmationRequired):
            if interactive:
                task = asyncio.create_task(_ask(runs, user, ev, renderer, console))
                asks.add(task)
                task.add_done_callback(asks.discard)
            else:
                print(f"waiting for approval: errand runs approve {run_id}", file=sys.stderr, flush=True)
        if isinstance(ev, RunFailed):
            ok = False
    return ok


async def run_durably(
    settings: Settings,
    model: ChatModel,
    toolbox: Toolbox | None,
    task: str,
    *,
    as_json: bool,
    yes: bool,
    renderer: RunRenderer,
    console: Console,
    max_steps: int | None = None,
    interactive: bool = True,
    images: list[str] | None = None,
) -> bool:
    """Start a durable run in this process and show it to the end; without ``interactive``
    (JSON output, or a request read from standard input) approvals come from
    ``errand runs approve``, not a prompt."""
    runs = await Runs.open(settings, execute=False, model=model, toolbox=toolbox)
    run_id = ""
    try:
        rec = await runs.create(
            "local", task, max_steps=max_steps, approve="all" if yes else "ask", here=True, images=images
        )
        run_id = rec.id
        print(f"run {rec.id}", file=sys.stderr, flush=True)
        return await follow(
            runs,
            "local",
            rec.id,
            as_json=as_json,
            renderer=renderer,
            console=console,
            interactive=interactive and not as_json,
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        if run_id:
            print(f"stopped; carry on with: errand runs resume {run_id}", file=sys.stderr, flush=True)
        raise
    finally:
        runs.close()


runs_app = typer.Typer(help="Durable runs: list, inspect, approve, cancel, resume.", no_args_is_help=True)


def _changes(sets: list[str], editable: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``--set NAME=VALUE`` options as changed arguments, each read as its schema's type."""
    from errand.cli.common import typed_value

    out: dict[str, Any] = {}
    for item in sets:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise EditRefused(f"--set takes NAME=VALUE (e.g. passengers='Dave Chen'), not {item!r}.")
        schema = editable.get(name.strip())
        out[name.strip()] = text if schema is None else typed_value(name.strip(), text, schema)
    return out


def _runs_call(
    settings: Settings, act: str, user: str, run_id: str = "", note: str = "", sets: list[str] | None = None
) -> list[RunRecord]:
    async def main() -> list[RunRecord]:
        runs = await Runs.open(settings, execute=False)
        try:
            if act == "list":
                return await runs.list(user)
            method = {
                "show": runs.get,
                "cancel": runs.cancel,
            }.get(act)
            if method is not None:
                return [await method(user, run_id)]
            seen = await asyncio.to_thread(runs.log.last_seq, run_id)
            if act == "approve":
                pending = (await runs.get(user, run_id)).pending or {}
                changes = _changes(sets or [], pending.get("editable", {}))
                decided = await runs.approve(user, run_id, note, changes or None)
            else:
                decided = await runs.reject(user, run_id, note)
            return [decided] if await _moves_on(runs, run_id, seen) else []
        finally:
            runs.close()

    return asyncio.run(main())


async def _moves_on(runs: Runs, run_id: str, seen: int, wait_s: float = 5.0) -> bool:
    """Whether a process takes the run up after an answer (an event after the ``seen``-th
    comes): a run whose process stopped waits for `errand runs resume` instead."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while asyncio.get_running_loop().time() < deadline:
        if await asyncio.to_thread(runs.log.last_seq, run_id) > seen:
            return True
        await asyncio.sleep(0.1)
    return False


def _decided(verb: str, run_id: str, taken_up: bool) -> str:
    if taken_up:
        return f"{verb}: {run_id} goes on"
    return (
        f"{verb}: no process is executing {run_id} (no worker, server or terminal took it up). "
        f"Carry it on here with: errand runs resume {run_id}"
    )


def _load() -> Settings:
    from errand.cli.common import load_settings

    return load_settings()


@runs_app.command("list")
def runs_list(user: UserOpt = "local") -> None:
    """Your runs, newest first."""
    table = Table("run", "status", "request", "created")
    for r in _runs_call(_load(), "list", user):
        table.add_row(r.id, r.status.value, r.input[:60], f"{r.created_at:%Y-%m-%d %H:%M}")
    Console().print(table)


def _record_and_trace(settings: Settings, user: str, run_id: str) -> tuple[RunRecord, Timeline]:
    async def main() -> tuple[RunRecord, Timeline]:
        runs = await Runs.open(settings, execute=False)
        try:
            record = await runs.get(user, run_id)

            async def events_after(after: int) -> list[StoredEvent]:
                return await runs.events(user, run_id, after=after)

            return record, await read_timeline(events_after, settings)
        finally:
            runs.close()

    return asyncio.run(main())


@runs_app.command("show")
def runs_show(
    run_id: str,
    user: UserOpt = "local",
    trace: Annotated[
        bool,
        typer.Option(
            "--trace", help="Draw the run as a waterfall: steps, model and tool times, tokens, cost."
        ),
    ] = False,
) -> None:
    """A run's state, what it waits for, its answer, and what it used."""
    from errand.cli.waterfall import money, render_waterfall

    settings = _load()
    r, line = _record_and_trace(settings, user, run_id)
    c = Console()
    c.print(f"[bold]{r.id}[/bold] · {r.status.value} · {escape(r.input)}")
    if r.pending:
        c.print(f"waits for approval: {escape(str(r.pending.get('summary')))}")
    if r.answer:
        c.print(escape(r.answer))
    if r.error:
        c.print(f"[red]{escape(r.error)}[/red]")
    if r.prompt_tokens or r.completion_tokens:
        cached = f" ({r.cached_tokens:,} cached)" if r.cached_tokens else ""
        c.print(
            f"[dim]{r.model} · tokens {r.prompt_tokens:,} in{cached}, {r.completion_tokens:,} out · "
            f"cost {money(r.cost, settings.price_currency)}[/dim]"
        )
    if trace:
        render_waterfall(line, c)


@runs_app.command("approve")
def runs_approve(
    run_id: str,
    note: Annotated[str, typer.Option(help="Words for the agent.")] = "",
    user: UserOpt = "local",
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Change an editable argument first, NAME=VALUE (a list of names as 'A, B'); "
            "the run prices the changed call and asks again.",
        ),
    ] = None,
) -> None:
    """Approve what the run waits for (from any terminal), as it is or with --set changes."""
    taken_up = bool(_runs_call(_load(), "approve", user, run_id, note, set_))
    Console().print(_decided("changed" if set_ else "approved", run_id, taken_up))


@runs_app.command("reject")
def runs_reject(
    run_id: str,
    note: Annotated[str, typer.Option(help="Why not; the agent sees it.")] = "",
    user: UserOpt = "local",
) -> None:
    """Reject what the run waits for; nothing is charged and the agent is told."""
    Console().print(_decided("rejected", run_id, bool(_runs_call(_load(), "reject", user, run_id, note))))


@runs_app.command("cancel")
def runs_cancel(run_id: str, user: UserOpt = "local") -> None:
    """Stop the run before its next step."""
    (r,) = _runs_call(_load(), "cancel", user, run_id)
    Console().print(f"{r.id}: {r.status.value}")


@runs_app.command("resume")
def runs_resume(
    run_id: str,
    user: UserOpt = "local",
    as_json: Annotated[bool, typer.Option("--json", help="Print the events as JSON lines.")] = False,
) -> None:
    """Carry on a run whose process stopped, here, from its last finished step."""
    from errand.cli.common import load_model

    settings = _load()
    model = load_model(settings)
    console = Console()

    async def main() -> bool:
        runs = await Runs.open(settings, execute=True, executor_id=f"resume-{run_id}", model=model)
        try:
            await runs.resume(user, run_id)
            events = await runs.events(user, run_id)
            after = events[-1].id if events else 0
            return await follow(
                runs,
                user,
                run_id,
                as_json=as_json,
                renderer=RunRenderer(console),
                console=console,
                interactive=not as_json,
                after=after,
            )
        finally:
            await runs.aclose()
            await model.aclose()

    if not asyncio.run(main()):
        raise typer.Exit(1)


def worker_command(
    worker_id: Annotated[
        str | None, typer.Option("--id", help="This worker's name (resumes its own runs).")
    ] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Most runs at once.")] = None,
) -> None:
    """Execute queued runs until stopped; with PostgreSQL, workers on many machines share the queue."""
    from errand.cli.common import load_model, load_settings

    overrides = {k: v for k, v in {"worker_id": worker_id, "worker_concurrency": concurrency}.items() if v}
    settings = load_settings(**overrides)
    model = load_model(settings)

    async def main() -> None:
        runs = await Runs.open(settings, execute=True, model=model)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"worker {settings.worker_id} ready", flush=True)
        try:
            await stop.wait()
        finally:
            await runs.aclose()
            with contextlib.suppress(Exception):
                await model.aclose()

    asyncio.run(main())
