"""Per-key limits, checked before any expensive work: requests per minute, work in flight, budget.

Counters live in the `limits` library's storage: memory by default, Redis when
``ERRAND_REDIS_URL`` is set, so every replica behind a load balancer counts the same requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from errand.errors import AdmissionError, QuotaExceeded, RateLimited
from errand.server.errors import error_response
from errand.server.keys import ApiKey

log = logging.getLogger("errand.server")

LEASE_S = 900
"""Seconds an in-flight counter lives without returning to zero: a replica that dies holding
slots frees them after this long."""

MODEL_CALLS = frozenset({("POST", "/v1/chat/completions"), ("POST", "/v1/responses")})
"""Requests answered by a model while they are open (chat completions, responses): each holds
one of the key's in-flight slots and one of the server's."""
WORK = MODEL_CALLS | {("POST", "/v1/runs")}
"""Requests that start model work: only these spend budget or hold a slot."""


STORAGE_TIMEOUT_S = 0.25
"""Longest wait for the limits' storage on one request before it is let through."""
BREAKER_S = 15.0
"""After the storage fails, requests skip the limits this long before it is tried again."""


def storage_for(redis_url: str | None) -> Storage:
    """The counters' storage: shared Redis when a URL is given, else this process's memory."""
    if not redis_url:
        return MemoryStorage()
    uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
    # A hung Redis must cost a request a fraction of a second, not redis-py's default wait.
    return RedisStorage(
        uri,
        implementation="redispy",
        key_prefix="errand",
        socket_timeout=STORAGE_TIMEOUT_S,
        socket_connect_timeout=STORAGE_TIMEOUT_S,
    )


class KeyLimiter:
    """Rate and concurrency limits of API keys, over one `limits` storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._rate = SlidingWindowCounterRateLimiter(storage)
        self._warned = False
        self.skip_until = 0.0
        """Monotonic time until which the storage is not asked (it failed: a circuit breaker)."""

    async def aclose(self) -> None:
        """Close the Redis connections, if any (the `limits` storage has no close of its own)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()

    async def hit(self, key: ApiKey) -> None:
        """Count one request of ``key``; `RateLimited` when it is over its requests per minute."""
        item = RateLimitItemPerMinute(max(1, key.rpm))
        if await self._rate.hit(item, "rpm", key.id):
            return
        stats = await self._rate.get_window_stats(item, "rpm", key.id)
        wait = max(1.0, stats.reset_time - time.time())
        raise RateLimited(
            f"This key allows {key.rpm} requests per minute; retry in {wait:.0f} s or ask for a higher --rpm.",
            retry_after=wait,
        )

    async def enter(self, key: ApiKey) -> None:
        """Take one of ``key``'s in-flight slots; `RateLimited` when all ``max_runs`` are taken."""
        name = f"inflight/{key.id}"
        now = await self.storage.incr(name, LEASE_S, 1)
        if now > key.max_runs:
            await self.leave(key)
            raise RateLimited(
                f"This key has {key.max_runs} requests in flight already; retry when one has finished.",
                retry_after=1,
            )

    async def leave(self, key: ApiKey) -> None:
        """Give back a slot taken by `enter`."""
        name = f"inflight/{key.id}"
        if await self.storage.incr(name, LEASE_S, -1) < 0:
            await self.storage.clear(name)  # the lease expired while slots were held: start again


class KeyLimitsMiddleware:
    """Answers 429 when a key is over its rate, has too much in flight, or has spent its budget.

    Runs after authentication and before anything that tokenises or calls a model, so a refusal
    costs a counter update. Storage failures (Redis down) let requests through: limits protect
    the service, they must not take it down.
    """

    def __init__(self, app: ASGIApp, limiter: KeyLimiter, on_reject: Callable[[str], None]) -> None:
        self.app = app
        self.limiter = limiter
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = scope.get("state", {}).get("api_key") if scope["type"] == "http" else None
        if not isinstance(key, ApiKey):
            await self.app(scope, receive, send)
            return
        request = (scope["method"], scope["path"])
        holds = False
        try:
            if request in WORK and key.budget_spent:
                raise QuotaExceeded(
                    f"This key's budget of {key.budget} tokens is spent ({key.tokens_used} used). "
                    "Ask for a new key or a larger --budget."
                )
            if time.monotonic() >= self.limiter.skip_until:
                async with asyncio.timeout(STORAGE_TIMEOUT_S * 2):
                    await self.limiter.hit(key)
                    if request in MODEL_CALLS:
                        await self.limiter.enter(key)
                        holds = True
        except AdmissionError as exc:
            self.on_reject("budget" if isinstance(exc, QuotaExceeded) else "key_limit")
            await error_response(exc)(scope, receive, send)
            return
        except Exception as exc:  # the limits' storage failed or hung: serve rather than refuse
            self.limiter.skip_until = time.monotonic() + BREAKER_S
            if not self._warned_once():
                log.warning(
                    "rate-limit storage failed (%s); letting requests through, retrying it every %.0f s",
                    type(exc).__name__ if isinstance(exc, TimeoutError) else exc,
                    BREAKER_S,
                )
        try:
            await self.app(scope, receive, send)
        finally:
            if holds:
                try:
                    await self.limiter.leave(key)
                except Exception as exc:
                    log.warning("could not release an in-flight slot: %s", exc)

    def _warned_once(self) -> bool:
        warned = self.limiter._warned
        self.limiter._warned = True
        return warned
