"""One way to run a tool call, for every front end (the agent, ``errand tools call``, the MCP
server, the eval's setup): describe it for a confirmation, then run it in its own transaction,
a blocking tool in a thread, its result as plain JSON data and a tool's error as an outcome,
never an exception. What each front end adds is only how it asks the person."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from errand.errors import ErrandError
from errand.tools.base import Tool, ToolContext

OpenContext = Callable[[], AbstractContextManager[ToolContext]]
"""A fresh context for one call: its user, idempotency key, and one database transaction."""

_ARTIFACT_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".csv", ".html")


@dataclass(frozen=True)
class CallOutcome:
    """What one call came to."""

    ok: bool
    value: Any
    """The result as plain JSON data; on failure, what went wrong, in words."""
    ms: float = 0.0
    files: list[str] = field(default_factory=list)
    """Files the call saved for the user, inside its own artifacts folder."""
    bug: bool = False
    """The tool raised something other than an `ErrandError`: a bug, worth a log line."""


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from a tool's return value (pydantic models included)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def artifacts_in(value: Any, folder: Path) -> list[str]:
    """Paths of files (charts, exports) a plain-data result points to that exist inside
    ``folder`` (the call's own artifacts folder). Any other path, a CSV elsewhere on the
    server that a result happens to name, is not an artifact and is never served."""
    root = folder.resolve()
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str) and v.lower().endswith(_ARTIFACT_SUFFIXES):
            path = Path(v).resolve()
            if path.is_relative_to(root) and path.is_file():
                found.append(str(path))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(value)
    return list(dict.fromkeys(found))


async def describe_call(
    t: Tool, args: dict[str, Any], open_context: OpenContext | None
) -> tuple[str, tuple[int, str] | None]:
    """What a confirmation shows, and the amount (minor units, currency) when the tool priced it.

    A tool that looks prices up gets a context, in a thread. A broken description must not
    hide what is asked: the call itself is shown instead."""
    if not t.confirm_needs_context or open_context is None:
        return t.describe_call(args), None

    def look_up() -> tuple[str, tuple[int, str] | None]:
        with open_context() as ctx:
            return t.describe_call(args, ctx), ctx.quote

    try:
        return await asyncio.get_running_loop().run_in_executor(None, look_up)
    except Exception as exc:
        return f"{t.name}({args}) [could not describe: {exc}]", None


def _failure(exc: Exception, started: float) -> CallOutcome:
    ms = (time.perf_counter() - started) * 1000
    if isinstance(exc, ErrandError):
        return CallOutcome(False, str(exc), ms)
    # a bug in a tool must not crash its caller; the caller is told
    return CallOutcome(False, f"{type(exc).__name__}: {exc}", ms, bug=True)


def _success(value: Any, folder: Path, started: float) -> CallOutcome:
    data = to_jsonable(value)
    return CallOutcome(True, data, (time.perf_counter() - started) * 1000, artifacts_in(data, folder))


def run_call_sync(t: Tool, args: dict[str, Any], open_context: OpenContext) -> CallOutcome:
    """`run_call` for a caller that is not on an event loop (a synchronous tool only)."""
    started = time.perf_counter()
    try:
        with open_context() as ctx:
            value = t.fn(**t.bind(args, ctx))
            folder = ctx.artifacts_dir
    except Exception as exc:
        return _failure(exc, started)
    return _success(value, folder, started)


async def run_call(t: Tool, args: dict[str, Any], open_context: OpenContext) -> CallOutcome:
    """Run one validated call in its own transaction: a failed call leaves nothing half-written.

    A blocking tool (database, files) runs in the loop's default executor, so it never stalls
    the loop, at about half the cost of anyio's thread hop."""
    if not t.is_async:
        return await asyncio.get_running_loop().run_in_executor(None, run_call_sync, t, args, open_context)
    started = time.perf_counter()
    try:
        with open_context() as ctx:
            value = await t.fn(**t.bind(args, ctx))
            folder = ctx.artifacts_dir
    except Exception as exc:
        return _failure(exc, started)
    return _success(value, folder, started)
