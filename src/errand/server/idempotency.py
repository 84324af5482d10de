"""``Idempotency-Key`` on requests that cause effects, with Stripe's meaning.

The first request with a key runs and its response is stored; a repeat with the same key and
body gets that response again (``Idempotent-Replayed: true``), a repeat while the first still
runs gets 409, and the same key with another body gets 422. Keys belong to a user (two users
may use the same key) and are kept ``ERRAND_IDEMPOTENCY_TTL_S`` seconds. Only completed
answers are stored: a request refused for capacity (503), cut by a disconnect or failed by the
server (5xx) leaves the key free to try again.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from errand.db.engine import transaction
from errand.errors import IdempotencyInFlight, IdempotencyMismatch, RequestError
from errand.runs.models import utcnow
from errand.server.errors import error_response
from errand.server.keys import ApiKey
from errand.server.models import IdempotencyRow

IN_FLIGHT_LEASE_S = 900.0
"""A first request still marked running after this long died with its process: its key is free."""

IDEMPOTENCY_KEY = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
"""1 to 255 printable ASCII characters, no space at either end (Stripe allows 255)."""

PATHS = frozenset({"/v1/runs", "/v1/chat/completions", "/v1/responses"})
"""POST routes that honour ``Idempotency-Key``."""


@dataclass(frozen=True)
class Stored:
    """A response kept for replay."""

    status: int
    content_type: str
    body: bytes


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone


class IdempotencyStore:
    """Idempotency records in errand's database (blocking methods: call them in a thread)."""

    def __init__(self, sessions: sessionmaker[Session], *, ttl_s: float) -> None:
        self._sessions = sessions
        self._ttl = timedelta(seconds=ttl_s)

    def begin(self, user: str, key: str, fingerprint: str) -> Stored | None:
        """Claim ``key`` for a first request (None), or return what a repeat should get.

        Raises `IdempotencyInFlight` or `IdempotencyMismatch`.
        """
        for _ in range(3):
            try:
                with transaction(self._sessions) as s:
                    s.add(IdempotencyRow(user=user, key=key, fingerprint=fingerprint, created_at=utcnow()))
                return None
            except IntegrityError:
                pass
            with transaction(self._sessions) as s:
                row = s.scalar(
                    select(IdempotencyRow).where(IdempotencyRow.user == user, IdempotencyRow.key == key)
                )
                if row is None:
                    continue  # deleted in between: claim it again
                age = utcnow() - _aware(row.created_at)
                stale = age > self._ttl or (row.status is None and age.total_seconds() > IN_FLIGHT_LEASE_S)
                if stale:
                    s.delete(row)
                    continue
                if row.fingerprint != fingerprint:
                    raise IdempotencyMismatch(
                        f"The Idempotency-Key {key!r} was used with another request; use a new key for a new request."
                    )
                if row.status is None:
                    raise IdempotencyInFlight(
                        f"A request with Idempotency-Key {key!r} is still running; retry when it has finished."
                    )
                return Stored(row.status, row.content_type or "application/json", row.body or b"")
        raise IdempotencyInFlight(f"The Idempotency-Key {key!r} is busy; retry.")

    def finish(self, user: str, key: str, stored: Stored) -> None:
        """Keep the first request's response."""
        with transaction(self._sessions) as s:
            row = s.scalar(
                select(IdempotencyRow).where(IdempotencyRow.user == user, IdempotencyRow.key == key)
            )
            if row is not None:
                row.status, row.content_type, row.body = stored.status, stored.content_type, stored.body

    def abandon(self, user: str, key: str) -> None:
        """Free ``key``: the first request did not complete."""
        with transaction(self._sessions) as s:
            s.execute(
                delete(IdempotencyRow).where(
                    IdempotencyRow.user == user, IdempotencyRow.key == key, IdempotencyRow.status.is_(None)
                )
            )

    def purge(self) -> int:
        """Delete records past their time to live; returns how many."""
        with transaction(self._sessions) as s:
            done = s.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at < utcnow() - self._ttl))
        return int(getattr(done, "rowcount", 0) or 0)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body, and whether the client left while it was read."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


class IdempotencyMiddleware:
    """Replays, refuses or records POSTs that carry an ``Idempotency-Key``."""

    def __init__(self, app: ASGIApp, store: IdempotencyStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
        owner = scope.get("state", {}).get("api_key")
        if (
            key is None
            or scope["method"] != "POST"
            or scope["path"] not in PATHS
            or not isinstance(owner, ApiKey)
        ):
            await self.app(scope, receive, send)
            return
        if not re.fullmatch(IDEMPOTENCY_KEY, key):
            exc = RequestError(
                "Idempotency-Key must be 1 to 255 printable ASCII characters (a UUID is a good choice).",
                param="Idempotency-Key",
            )
            await error_response(exc)(scope, receive, send)
            return
        body, gone = await _read_body(receive)
        if gone:
            return
        fingerprint = hashlib.sha256(
            b"%s %s\n%s" % (scope["method"].encode(), scope["path"].encode(), body)
        ).hexdigest()
        try:
            stored = await asyncio.to_thread(self.store.begin, owner.user, key, fingerprint)
        except (IdempotencyInFlight, IdempotencyMismatch) as exc:
            await error_response(exc)(scope, receive, send)
            return
        if stored is not None:
            replay = Response(
                stored.body,
                status_code=stored.status,
                media_type=stored.content_type,
                headers={"Idempotent-Replayed": "true"},
            )
            await replay(scope, receive, send)
            return
        await self._first(scope, receive, send, body, owner.user, key)

    async def _first(
        self, scope: Scope, receive: Receive, send: Send, body: bytes, user: str, key: str
    ) -> None:
        """Run the first request with ``key`` and keep its answer."""
        replayed = False

        async def replay_body() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status, content_type, chunks = 500, "application/json", list[bytes]()

        async def capture(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        completed = False
        try:
            await self.app(scope, replay_body, capture)
            completed = True
        finally:
            keep = completed and status < 500 and status not in (409, 429)
            loop = asyncio.get_running_loop()
            if keep:
                job = loop.run_in_executor(
                    None, self.store.finish, user, key, Stored(status, content_type, b"".join(chunks))
                )
            else:
                job = loop.run_in_executor(None, self.store.abandon, user, key)
            if completed:
                await job
