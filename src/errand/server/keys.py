"""API keys: created once, stored as a hash, each owned by one user with its own limits.

A key is ``errand-<id>-<secret>``: the id names it in listings, the secret is 32 random
bytes. Only the SHA-256 of the whole key is stored: the secret is random and long, so a
slow password hash would add nothing but latency to every request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from errand.db.engine import transaction
from errand.runs.models import utcnow
from errand.server.models import ApiKeyRow

PREFIX = "errand-"


@dataclass(frozen=True)
class ApiKey:
    """What a request's key allows (the secret itself is never kept)."""

    id: str
    user: str
    rpm: int
    """Requests per minute."""
    max_runs: int
    """Runs and chat completions in flight at once."""
    budget: int | None
    """Most tokens over the key's life; None: unlimited."""
    tokens_used: int
    created_at: datetime | None = None
    revoked: bool = False

    @property
    def budget_spent(self) -> bool:
        """Whether the token budget is used up."""
        return self.budget is not None and self.tokens_used >= self.budget


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def _from_row(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        user=row.user,
        rpm=row.rpm,
        max_runs=row.max_runs,
        budget=row.budget,
        tokens_used=row.tokens_used,
        created_at=row.created_at,
        revoked=row.revoked_at is not None,
    )


class KeyStore:
    """API keys in errand's database, with a short per-process cache of lookups.

    The cache keeps a request's key check off the database (answers to refused requests
    must be fast); a revoked key or spent budget is seen within ``cache_s`` seconds.
    """

    def __init__(self, sessions: sessionmaker[Session], *, cache_s: float = 5.0) -> None:
        self._sessions = sessions
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    def create(self, user: str, *, rpm: int, max_runs: int, budget: int | None = None) -> tuple[ApiKey, str]:
        """A new key for ``user``: its record and the key itself, which is not stored and never shown again."""
        if not user.strip() or len(user) > 64:
            raise ValueError("a user name is 1 to 64 characters")
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}{key_id}-{secrets.token_urlsafe(32)}"
        row = ApiKeyRow(
            id=key_id,
            user=user,
            secret_hash=hash_key(key),
            rpm=rpm,
            max_runs=max_runs,
            budget=budget,
            tokens_used=0,
            created_at=utcnow(),
        )
        with transaction(self._sessions) as s:
            s.add(row)
        return _from_row(row), key

    def list(self, user: str | None = None) -> list[ApiKey]:
        """Every key (of ``user``), oldest first."""
        with self._sessions() as s:
            query = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
            if user is not None:
                query = query.where(ApiKeyRow.user == user)
            return [_from_row(r) for r in s.scalars(query)]

    def revoke(self, key_id: str) -> bool:
        """Stop a key from working; False when there is no such key."""
        with transaction(self._sessions) as s:
            done = s.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        self._cache.clear()
        return bool(getattr(done, "rowcount", 0))

    def lookup(self, key: str) -> ApiKey | None:
        """The key's record if it is valid (blocking: a database read unless cached)."""
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self._sessions() as s:
            row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.secret_hash == digest))
            found = _from_row(row) if row is not None and row.revoked_at is None else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._cache_s, found)
        return found

    def cached(self, key: str) -> ApiKey | bool | None:
        """The cached answer for ``key`` without touching the database; False when not cached."""
        hit = self._cache.get(hash_key(key))
        if hit is None or hit[0] <= time.monotonic():
            return False
        return hit[1]

    def charge(self, key_id: str, tokens: int) -> None:
        """Add ``tokens`` to the key's use (blocking), and to cached copies at once."""
        if tokens <= 0:
            return
        with transaction(self._sessions) as s:
            s.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id)
                .values(tokens_used=ApiKeyRow.tokens_used + tokens)
            )
        for digest, (expires, found) in list(self._cache.items()):
            if found is not None and found.id == key_id:
                self._cache[digest] = (expires, replace(found, tokens_used=found.tokens_used + tokens))
