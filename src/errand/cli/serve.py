"""``errand serve`` and ``errand keys``: run the HTTP server, manage its API keys.

Graceful shutdown: on SIGTERM (or Ctrl-C) the server stops admitting work (new work and
``/readyz`` answer 503, run streams end so clients reconnect elsewhere), optionally keeps
answering so for ``ERRAND_SERVE_DRAIN_S`` while a load balancer notices, then closes its port,
lets requests in flight finish for up to ``ERRAND_SERVE_SHUTDOWN_TIMEOUT_S``, and stops: runs
in progress are handed back to the durable queue, where an executor with the same id resumes them.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Annotated, Any

import typer

from errand.config import Settings


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``keys`` to the ``errand`` command."""
    keys = typer.Typer(
        help="API keys of the HTTP server (only their hashes are stored).", no_args_is_help=True
    )
    app.add_typer(keys, name="keys")
    app.command("serve")(serve)
    keys.command("create")(keys_create)
    keys.command("list")(keys_list)
    keys.command("revoke")(keys_revoke)
    keys.command("usage")(keys_usage)


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (ERRAND_SERVE_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (ERRAND_SERVE_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Server processes (ERRAND_SERVE_WORKERS).")
    ] = None,
) -> None:
    """Serve errand over HTTP: OpenAI-compatible chat completions and the runs API."""
    from errand.cli.common import load_settings

    overrides = {"serve_host": host, "serve_port": port, "serve_workers": workers}
    settings = load_settings(**overrides)
    for name, value in overrides.items():  # worker processes read their settings from the environment
        if value is not None:
            os.environ[f"ERRAND_{name.upper()}"] = str(value)
    run_server(settings)


def _server_class() -> Any:
    import uvicorn

    from errand.server.health import drain_all

    class DrainingServer(uvicorn.Server):
        """uvicorn, draining first: on the first signal the app stops admitting, and the port
        closes ``drain_s`` seconds later; a second signal exits at once."""

        drain_s = 0.0
        _timer: threading.Timer | None = None

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            drain_all()
            if self.drain_s > 0 and self._timer is None and not self.should_exit:
                self._timer = threading.Timer(self.drain_s, super().handle_exit, (sig, frame))
                self._timer.daemon = True
                self._timer.start()
                return
            super().handle_exit(sig, frame)

    return DrainingServer


def run_server(settings: Settings) -> None:
    """Run uvicorn until a signal: one process serving the app, or ``serve_workers`` processes."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    common: dict[str, Any] = {
        "host": settings.serve_host,
        "port": settings.serve_port,
        "timeout_graceful_shutdown": int(settings.serve_shutdown_timeout_s),
        "log_level": "info",
        "ws": "none",
    }
    server_cls = _server_class()
    server_cls.drain_s = settings.serve_drain_s
    if settings.serve_workers > 1:
        config = uvicorn.Config(
            "errand.server.app:app_from_env", factory=True, workers=settings.serve_workers, **common
        )
        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()  # workers drain via health.watch_signals
        return
    from errand.server.app import create_app

    app = create_app(settings)  # settings or model errors show here, as one line
    # uvicorn raises the signal again once it has shut down; a clean drain then exits 0.
    signal.signal(signal.SIGTERM, _stopped)
    server_cls(uvicorn.Config(app, **common)).run()


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _key_store(settings: Settings) -> tuple[Any, Any]:
    from errand.server.keys import KeyStore
    from errand.services.store import ServiceStore

    store = ServiceStore.open(settings.resolved_database_url(), seed=False)
    return store, KeyStore(store.sessions)


def keys_create(
    user: Annotated[str, typer.Option("--user", help="Who the key is for; they see only their own runs.")],
    rpm: Annotated[int | None, typer.Option("--rpm", min=1, help="Requests per minute.")] = None,
    max_runs: Annotated[
        int | None, typer.Option("--max-runs", min=1, help="Runs and chat completions in flight at once.")
    ] = None,
    budget: Annotated[
        int | None,
        typer.Option("--budget", min=1, help="Most tokens over the key's life (default: no limit)."),
    ] = None,
) -> None:
    """Create an API key; it is printed once, alone on the last line."""
    from errand.cli.common import load_settings

    settings = load_settings()
    store, keys = _key_store(settings)
    try:
        record, key = keys.create(
            user,
            rpm=rpm or settings.serve_default_rpm,
            max_runs=max_runs or settings.serve_default_max_runs,
            budget=budget,
        )
    except ValueError as exc:
        from errand.errors import ConfigError

        raise ConfigError(f"--user: {exc}.") from None
    finally:
        store.close()
    limit = f"{record.budget} tokens" if record.budget is not None else "no token budget"
    sys.stdout.write(
        f"created key {record.id} for {record.user}: {record.rpm} requests/min, "
        f"{record.max_runs} in flight, {limit}\n"
        "Keep it now: only its hash is stored, it cannot be shown again.\n"
        f"{key}\n"
    )


def keys_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's keys.")] = None,
) -> None:
    """Show keys (ids, owners, limits, tokens used), never their secrets."""
    from rich.console import Console
    from rich.table import Table

    from errand.cli.common import load_settings

    store, keys = _key_store(load_settings())
    try:
        rows = keys.list(user)
    finally:
        store.close()
    table = Table("id", "user", "rpm", "max runs", "budget", "used", "created", "revoked")
    for k in rows:
        table.add_row(
            k.id,
            k.user,
            str(k.rpm),
            str(k.max_runs),
            str(k.budget) if k.budget is not None else "-",
            str(k.tokens_used),
            f"{k.created_at:%Y-%m-%d %H:%M}" if k.created_at else "",
            "yes" if k.revoked else "",
        )
    Console().print(table)


def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `errand keys list`).")],
) -> None:
    """Stop a key from working (servers notice within ERRAND_SERVE_KEY_CACHE_S seconds)."""
    from errand.cli.common import load_settings
    from errand.errors import ConfigError

    store, keys = _key_store(load_settings())
    try:
        done = keys.revoke(key_id)
    finally:
        store.close()
    if not done:
        raise ConfigError(f"No active key {key_id!r}; `errand keys list` shows them.")
    sys.stdout.write(f"revoked {key_id}\n")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: a span back from now (``7d``, ``24h``, ``30m``) or a date or time
    (``2026-12-01``, ``2026-12-01T09:00``, UTC unless it names a zone)."""
    from errand.errors import ConfigError

    now = now or datetime.now(UTC)
    value = text.strip()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if value[-1:] in units and value[:-1].isdigit():
        return now - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--since {text!r}: give a span (7d, 24h, 30m) or a date (2026-12-01).") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def keys_usage(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only runs started since: 7d, 24h, 30m, or a date (2026-12-01)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key and user.")] = False,
) -> None:
    """Runs, tokens and cost per key and user (runs started from the command line have no key)."""
    import json

    from rich.console import Console
    from rich.table import Table

    from errand.cli.common import load_settings
    from errand.cli.waterfall import money
    from errand.runs.log import RunLog

    settings = load_settings()
    start = parse_since(since) if since else None
    store, keys = _key_store(settings)
    log = RunLog(settings.resolved_database_url())
    try:
        totals = log.usage(since=start)
        owners = {k.id: k for k in keys.list()}
    finally:
        log.close()
        store.close()
    seen = {t.key_id for t in totals}
    rows = [t.model_dump() for t in totals]
    rows += [  # keys that started no run in the period still have a line
        {"key_id": k.id, "user": k.user, "runs": 0, "prompt_tokens": 0, "cached_tokens": 0}
        | {"completion_tokens": 0, "cost": 0.0, "unpriced": 0}
        for k in owners.values()
        if k.id not in seen
    ]
    for row in rows:
        key = owners.get(row["key_id"] or "")
        row["key_tokens_used"] = key.tokens_used if key is not None else None
        row["currency"] = settings.price_currency
    rows.sort(key=lambda r: (r["user"], r["key_id"] or ""))
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    title = f"since {start:%Y-%m-%d %H:%M} UTC" if start else "all runs"
    table = Table(
        "key", "user", "runs", "tokens in", "cached", "tokens out", "cost", "key total", title=title
    )
    for row in rows:
        cost = money(row["cost"], row["currency"]) + (
            f" + {row['unpriced']} unpriced" if row["unpriced"] else ""
        )
        table.add_row(
            row["key_id"] or "(cli)",
            row["user"],
            str(row["runs"]),
            f"{row['prompt_tokens']:,}",
            f"{row['cached_tokens']:,}",
            f"{row['completion_tokens']:,}",
            cost,
            f"{row['key_tokens_used']:,}" if row["key_tokens_used"] is not None else "-",
        )
    Console().print(table)
    Console().print(
        "[dim]Tokens and cost are those of runs; 'key total' is every token the key spent since it was "
        "made (runs and chat completions), the count its budget is checked against.[/dim]"
    )
