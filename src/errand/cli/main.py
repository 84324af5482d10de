"""The ``errand`` command: run an errand, chat, inspect models and services."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
import typer
from rich.markup import escape
from rich.prompt import Confirm, Prompt
from rich.table import Table

from errand.agent import Agent, Conversation, approve_all
from errand.agent.events import RunFailed
from errand.cli.common import (
    cli_approver,
    console,
    err_console,
    image_urls,
    load_model,
    load_settings,
    settings_for_model,
    with_policy,
)
from errand.cli.console import RunRenderer, show
from errand.errors import ConfigError, ErrandError
from errand.tools.calls import to_jsonable

if TYPE_CHECKING:
    from errand.config import Settings
    from errand.llm.base import ChatModel
    from errand.toolbox import Toolbox

app = typer.Typer(
    name="errand",
    help="An open agent that gets real-world errands done.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        import importlib.metadata

        console.print(f"errand {importlib.metadata.version('errand')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """An open agent that gets real-world errands done."""


services_app = typer.Typer(help="The built-in services' database.", no_args_is_help=True)
app.add_typer(services_app, name="services")
tools_app = typer.Typer(help="Every tool errand can use: built-in, MCP and OpenAPI.", no_args_is_help=True)
app.add_typer(tools_app, name="tools")
mcp_app = typer.Typer(help="errand's tools as an MCP server.", no_args_is_help=True)
app.add_typer(mcp_app, name="mcp")


async def _run_once(agent: Agent, task: str, *, as_json: bool, renderer: RunRenderer, **kw: Any) -> bool:
    ok = True
    async for ev in agent.stream(task, **kw):
        show(ev, as_json=as_json, renderer=renderer)
        if isinstance(ev, RunFailed):
            ok = False
    return ok


ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="A .gguf file, a bundled model (1.5b, 0.5b), or a server's model name."
    ),
]
MaxStepsOpt = Annotated[
    int | None, typer.Option("--max-steps", min=1, max=1000, help="Most model steps in the run.")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Approve every write and payment without asking.")]
ImageOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--image",
        metavar="PATH",
        help="An image to go with the request (a receipt, a screenshot); repeat for more. "
        "Its text is read by OCR unless the model reads images.",
    ),
]


@app.command()
def run(
    task: Annotated[
        str,
        typer.Argument(help="What you want done, in plain words; - reads it from standard input."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the event stream as JSON lines.")] = False,
    model: ModelOpt = None,
    max_steps: MaxStepsOpt = None,
    yes: YesOpt = False,
    in_memory: Annotated[
        bool,
        typer.Option(
            "--in-memory", help="Run without checkpoints: nothing to resume after a crash, no waiting."
        ),
    ] = False,
    image: ImageOpt = None,
) -> None:
    """Run one errand and show each step live; durable unless --in-memory (prints the run id)."""
    from errand.cli.runs import run_durably
    from errand.runs.request import build_request
    from errand.runtime import build_agent, open_store
    from errand.toolbox import open_toolbox
    from errand.tools.config import load_tools_config

    from_stdin = task == "-"  # a long request, a pasted email: `errand run - < request.txt`
    if from_stdin:
        task = sys.stdin.read().strip()
        if not task:
            raise ConfigError(
                "No request on standard input. Pipe one in (errand run - < request.txt) or give it as an argument."
            )
    images = image_urls(image)
    settings = settings_for_model(model, max_steps=max_steps)
    tools_config = load_tools_config()
    store = open_store(settings)
    chat_model = load_model(settings)
    renderer = RunRenderer(console)
    # With the request on standard input there is no terminal to answer a prompt.
    asks = not as_json and not from_stdin
    approver = with_policy(settings, approve_all if yes else (cli_approver(renderer) if asks else None))

    async def main() -> bool:
        try:
            async with open_toolbox(tools_config) as toolbox:
                if not in_memory:
                    return await run_durably(
                        settings,
                        chat_model,
                        toolbox,
                        task,
                        as_json=as_json,
                        yes=yes,
                        renderer=renderer,
                        console=console,
                        interactive=asks,
                        images=images,
                    )
                request = await asyncio.to_thread(build_request, settings, task, images)
                agent = build_agent(settings, chat_model, store, approver=approver, toolbox=toolbox)
                return await _run_once(
                    agent,
                    request.text,
                    as_json=as_json,
                    renderer=renderer,
                    images=request.images,
                    attachments=request.attachments,
                )
        finally:
            await chat_model.aclose()

    try:
        ok = asyncio.run(main())
    finally:
        store.close()
    if not ok:
        raise typer.Exit(1)


@app.command()
def chat(
    model: ModelOpt = None,
    max_steps: MaxStepsOpt = None,
    yes: YesOpt = False,
    image: ImageOpt = None,
    thread: Annotated[
        str | None,
        typer.Option("--thread", help="Go on with a conversation (its id, printed when a chat starts)."),
    ] = None,
    in_memory: Annotated[
        bool,
        typer.Option("--in-memory", help="Chat without checkpoints: no thread to go on with, no waiting."),
    ] = False,
) -> None:
    """A multi-turn conversation; an empty line or Ctrl-D ends it. ``--image`` goes with the first message.

    Durable unless --in-memory: the chat is a thread of runs (``thread thr_…`` on stderr), each
    message a run that starts from the earlier turns, so a question the agent asked is answered
    by the next message, and ``--thread`` goes on with the conversation after a restart."""
    from errand.runs.request import build_request
    from errand.runtime import build_agent, open_store
    from errand.toolbox import open_toolbox
    from errand.tools.config import load_tools_config

    if in_memory and thread:
        raise ConfigError("--thread goes on with a durable chat; leave out --in-memory.")
    images = image_urls(image)
    settings = settings_for_model(model, max_steps=max_steps)
    tools_config = load_tools_config()
    store = open_store(settings)
    chat_model = load_model(settings)
    renderer = RunRenderer(console)
    conversation = Conversation()

    async def next_line() -> str | None:
        try:
            line = await anyio.to_thread.run_sync(lambda: Prompt.ask("[bold]you[/bold]", default=""))
        except (EOFError, KeyboardInterrupt):
            return None
        return line if line.strip() else None

    async def main() -> None:
        pending = images
        try:
            async with open_toolbox(tools_config) as toolbox:
                if not in_memory:
                    await _chat_thread(
                        settings, chat_model, toolbox, renderer, next_line, thread, yes, images
                    )
                    return
                agent = build_agent(
                    settings,
                    chat_model,
                    store,
                    approver=with_policy(settings, approve_all if yes else cli_approver(renderer)),
                    toolbox=toolbox,
                )
                while (line := await next_line()) is not None:
                    request = await asyncio.to_thread(build_request, settings, line, pending)
                    pending = []  # the images go with the first message only
                    await _run_once(
                        agent,
                        request.text,
                        as_json=False,
                        renderer=renderer,
                        conversation=conversation,
                        images=request.images,
                        attachments=request.attachments,
                    )
        finally:
            await chat_model.aclose()

    try:
        asyncio.run(main())
    finally:
        store.close()


async def _chat_thread(
    settings: Settings,
    chat_model: ChatModel,
    toolbox: Toolbox,
    renderer: RunRenderer,
    next_line: Callable[[], Awaitable[str | None]],
    thread: str | None,
    yes: bool,
    images: list[str],
) -> None:
    """Each message a durable run in one thread, run here and shown to its end (as ``errand run``)."""
    from errand.cli.runs import follow
    from errand.runs import Runs

    runs = await Runs.open(settings, execute=False, model=chat_model, toolbox=toolbox)
    try:
        if thread is not None:
            await runs.thread_runs("local", thread)  # not found: say so before the first message
        pending = images
        while (line := await next_line()) is not None:
            rec = await runs.create(
                "local", line, approve="all" if yes else "ask", here=True, images=pending, thread_id=thread
            )
            pending = []  # the images go with the first message only
            if thread is None:
                print(f"thread {rec.thread_id}", file=sys.stderr, flush=True)
            thread = rec.thread_id
            await follow(
                runs, "local", rec.id, as_json=False, renderer=renderer, console=console, interactive=True
            )
    finally:
        runs.close()


@app.command()
def models() -> None:
    """Show the model backends and the bundled models (path, size, verified)."""
    from errand.llm.weights import BUNDLED, model_info

    settings = load_settings()
    backend = settings.resolved_model_backend()
    console.print(f"backend in use: [bold]{backend}[/bold]")
    if settings.model_url:
        console.print(f"server: {settings.model_url} (model {settings.model})")
    if settings.model_path:
        console.print(f"model file: {settings.model_path}")
    table = Table("bundled model", "path", "size", "assembled", "verified", "default")
    for name in BUNDLED:
        info = model_info(name, settings.resolved_model_cache_dir())
        table.add_row(
            name,
            str(info.path),
            f"{info.size:,} bytes",
            "yes" if info.assembled else "no",
            "yes" if info.verified else "no",
            "yes" if name == settings.bundled_model else "",
        )
    console.print(table)
    console.print(
        "[dim]backends: embedded (llama.cpp in process), openai (any OpenAI-compatible server), scripted (tests)[/dim]"
    )


@services_app.command("seed")
def services_seed() -> None:
    """Create the tables and seed any empty domain."""
    from errand.services.store import ServiceStore

    settings = load_settings()
    store = ServiceStore.open(settings.resolved_database_url(), seed=False)
    seeded = store.seed()
    console.print(
        f"seeded: {', '.join(seeded) or 'nothing (already seeded)'} · {settings.resolved_database_url()}"
    )
    store.close()


@services_app.command("show")
def services_show(
    user: Annotated[str, typer.Option("--user", help="Whose data to show.")] = "local",
) -> None:
    """A user's balances, ledger, bookings and orders, as tables."""
    from sqlalchemy import select

    from errand.runtime import open_store
    from errand.services import builtin_registry
    from errand.services.food.models import Order as FoodOrder
    from errand.services.shop.models import Order as ShopOrder
    from errand.tools import ToolContext

    settings = load_settings()
    store = open_store(settings)
    registry = builtin_registry()
    sections: list[tuple[str, list[dict[str, Any]]]] = []
    with store.sessions() as session:
        ctx = ToolContext(user=user, session=session, artifacts_dir=settings.charts_dir())
        for title, name, key in (
            ("Balances", "wallet_balance", "balances"),
            ("Ledger (latest)", "transaction_history", "transactions"),
            ("Travel bookings", "list_my_bookings", "latest"),
        ):
            t = registry.get(name)
            if t is not None:
                value = to_jsonable(t.fn(**t.bind(t.validate({}), ctx)))
                rows = value.get(key) if isinstance(value, dict) else None
                sections.append((title, [r for r in rows or [] if isinstance(r, dict)]))
        food = session.scalars(select(FoodOrder).where(FoodOrder.user == user).order_by(FoodOrder.id)).all()
        sections.append(
            (
                "Food orders",
                [
                    {
                        "order": o.id,
                        "restaurant": o.restaurant_id,
                        "placed": str(o.placed_at),
                        "total": o.total / 100,
                    }
                    for o in food
                ],
            )
        )
        shop = session.scalars(select(ShopOrder).where(ShopOrder.user == user).order_by(ShopOrder.id)).all()
        sections.append(
            (
                "Shop orders",
                [
                    {"order": o.id, "variant": o.variant_id, "quantity": o.quantity, "state": o.state}
                    for o in shop
                ],
            )
        )
    store.close()
    console.print(f"[bold]{user}[/bold] · {settings.resolved_database_url()}")
    for title, rows in sections:
        if not rows:
            console.print(f"[dim]{title}: none[/dim]")
            continue
        table = Table(*rows[0].keys(), title=title, title_justify="left")
        for r in rows:
            table.add_row(
                *(
                    json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)
                    for v in r.values()
                )
            )
        console.print(table)


@services_app.command("reset")
def services_reset(yes: YesOpt = False) -> None:
    """Drop every service table and seed again (bookings and viewings are lost)."""
    from errand.services.store import ServiceStore

    settings = load_settings()
    if not yes and not Confirm.ask(f"Erase all service data in {settings.resolved_database_url()}?"):
        raise typer.Exit(1)
    store = ServiceStore.open(settings.resolved_database_url(), seed=False)
    store.reset()
    console.print(f"reset and seeded · {settings.resolved_database_url()}")
    store.close()


@tools_app.command("list")
def tools_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the tools with their schemas as JSON.")
    ] = False,
) -> None:
    """Show every tool with its origin, risk and schema."""
    from errand.toolbox import open_toolbox
    from errand.tools.config import load_tools_config

    config = load_tools_config()

    async def main() -> None:
        async with open_toolbox(config) as box:
            rows: list[dict[str, Any]] = [
                {
                    "name": t.name,
                    "origin": t.origin if t.origin != "python" else "builtin",
                    "domain": t.domain,
                    "risk": t.risk,
                    "description": t.description,
                    "parameters": t.parameters,
                }
                for t in box.registry
            ]
        if as_json:
            sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
            return
        table = Table("tool", "origin", "risk", "parameters", "description")
        for r in rows:
            params = ", ".join(
                f"{k}{'*' if k in r['parameters'].get('required', ()) else ''}"
                for k in r["parameters"].get("properties", {})
            )
            table.add_row(r["name"], r["origin"], r["risk"], params, r["description"])
        console.print(table)
        console.print("[dim]* required[/dim]")

    asyncio.run(main())


@tools_app.command("call")
def tools_call(
    name: Annotated[str, typer.Argument(help="The tool's name (see `errand tools list`).")],
    args: Annotated[str, typer.Option("--args", help="Arguments as a JSON object.")] = "{}",
    yes: YesOpt = False,
) -> None:
    """Call one tool by hand, asking for confirmation where its risk says so."""
    from errand.errors import ToolError
    from errand.runtime import open_store, tool_context
    from errand.toolbox import open_toolbox
    from errand.tools import ToolContext
    from errand.tools.calls import describe_call, run_call
    from errand.tools.config import load_tools_config

    try:
        arguments = json.loads(args)
    except ValueError as exc:
        raise ConfigError(
            f'--args is not valid JSON ({exc}); give an object like \'{{"city": "Hangzhou"}}\'.'
        ) from None
    if not isinstance(arguments, dict):
        raise ConfigError('--args must be a JSON object, e.g. \'{"city": "Hangzhou"}\'.')
    settings = load_settings()
    config = load_tools_config()
    store = open_store(settings)

    async def main() -> int:
        async with open_toolbox(config) as box:
            t = box.registry.get(name)
            if t is None:
                raise ConfigError(f"No tool named {name!r}. `errand tools list` shows them all.")
            validated = t.validate(arguments)
            key = f"cli:{name}:{json.dumps(validated, sort_keys=True, default=str)}"

            def call_context() -> AbstractContextManager[ToolContext]:
                return tool_context(store, settings, user="local", run_id="cli", idempotency_key=key)

            if t.risk != "read" and not yes:  # the description may look up the price and account
                summary, _ = await describe_call(t, validated, call_context)
                if not Confirm.ask(f"Approve {t.risk} action: {escape(summary)}?", default=False):
                    err_console.print("not approved: nothing was done")
                    return 1
            done = await run_call(t, validated, call_context)
            if not done.ok:
                raise ToolError(f"{t.name}: {done.value}")
            sys.stdout.write(json.dumps(done.value, ensure_ascii=False, indent=2, default=str) + "\n")
            return 0

    try:
        code = asyncio.run(main())
    finally:
        store.close()
    if code:
        raise typer.Exit(code)


@mcp_app.command("serve")
def mcp_serve(
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")] = False,
    host: Annotated[str, typer.Option("--host", help="Address to listen on with --http.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on with --http.")] = 8765,
) -> None:
    """Expose the built-in services' tools as an MCP server (stdio by default)."""
    from errand.server import mcp as mcp_server

    settings = load_settings()
    if http:
        mcp_server.run_http(settings, host, port, token=settings.mcp_token)
    else:
        mcp_server.run_stdio(settings)


# ---- errand eval: the evaluation harness (cli/eval.py) ----
from errand.cli.eval import eval_command  # noqa: E402 - light module; the runner loads when the command runs

app.command("eval")(eval_command)


# ---- durable runs: errand runs ..., errand worker (cli/runs.py) ----
from errand.cli.runs import runs_app, worker_command  # noqa: E402 - DBOS loads when a command runs

app.add_typer(runs_app, name="runs")
app.command("worker")(worker_command)


# ---- the HTTP server: errand serve, errand keys ... (cli/serve.py) ----
from errand.cli.serve import register as register_server  # noqa: E402 - FastAPI loads when serve runs

register_server(app)


def main() -> None:
    """Entry point: errors errand knows about print one clear line, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except ErrandError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(2 if isinstance(exc, ConfigError) else 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        sys.exit(130)
    except typer.Abort:
        err_console.print("[red]aborted[/red]")
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: typer's own click (not `click`'s classes)
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    sys.exit(code if isinstance(code, int) else 0)
