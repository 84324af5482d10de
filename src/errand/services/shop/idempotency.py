"""Every shop write is stored under the call's idempotency key (`Action`), so a repeat answers
with the first result instead of acting twice."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.shop.common import _session
from errand.services.shop.models import Action
from errand.tools import ToolContext


def _args_json(args: dict[str, Any]) -> str:
    return json.dumps(args, sort_keys=True, ensure_ascii=False)


def _replay(session: Session, key: str, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """The stored result of an earlier call with this key, or None; a different call is refused."""
    done = session.scalar(select(Action).where(Action.idempotency_key == key))
    if done is None:
        return None
    if done.tool != name or done.arguments != _args_json(args):
        raise ToolError(
            f"This call's idempotency key was already used for {done.tool} with other arguments "
            f"({done.arguments}); not doing it again."
        )
    result: dict[str, Any] = json.loads(done.result)
    return result | {"replayed": True}


def _claim(session: Session, key: str, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Store the key before acting; if a concurrent call already holds it, its result.

    ``INSERT ... ON CONFLICT DO NOTHING`` waits for a racing transaction with the same
    key to finish, then inserts nothing, so exactly one of them acts.
    """
    dialect = session.get_bind().dialect.name
    make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {"idempotency_key": key, "tool": name, "arguments": _args_json(args), "result": ""}
    stmt = make_insert(Action).values(values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    if (
        session.execute(stmt.returning(Action.id)).first() is not None
    ):  # RETURNING, not rowcount: psycopg reports -1 here
        return None
    replayed = _replay(session, key, name, args)
    if replayed is None:  # pragma: no cover - the conflicting row vanished: a bug, not a race
        raise ToolError("Could not record this call's idempotency key; try again.")
    return replayed


def _record(session: Session, key: str, result: dict[str, Any]) -> dict[str, Any]:
    """Save the first result under the key and return it."""
    if key:
        session.execute(update(Action).where(Action.idempotency_key == key).values(result=_args_json(result)))
    return result | {"replayed": False}


def _idempotent(
    ctx: ToolContext, name: str, args: dict[str, Any], act: Callable[[Session, str], dict[str, Any]]
) -> dict[str, Any]:
    """Run ``act(session, key)`` once per idempotency key; repeats get the stored result."""
    session = _session(ctx)
    key = ctx.idempotency_key
    if key:
        done = _replay(session, key, name, args)
        if done is not None:
            return done
        claimed = _claim(session, key, name, args)
        if claimed is not None:
            return claimed
    return _record(session, key, act(session, key or f"shop:{uuid.uuid4().hex}"))
