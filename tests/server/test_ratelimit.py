"""Per-key limits over the `limits` library: memory, and Redis shared by replicas."""

from __future__ import annotations

import os
import uuid

import pytest

from errand.errors import RateLimited
from errand.server.keys import ApiKey
from errand.server.ratelimit import KeyLimiter, storage_for


def key(rpm: int = 3, max_runs: int = 2) -> ApiKey:
    return ApiKey(id=uuid.uuid4().hex[:8], user="u", rpm=rpm, max_runs=max_runs, budget=None, tokens_used=0)


async def check(limiter: KeyLimiter, other: KeyLimiter) -> None:
    k = key()
    for _ in range(2):
        await limiter.hit(k)
    await other.hit(k)
    with pytest.raises(RateLimited) as err:
        await limiter.hit(k)
    assert err.value.retry_after is not None and 1 <= err.value.retry_after <= 60
    await limiter.enter(k)
    await other.enter(k)
    with pytest.raises(RateLimited):
        await limiter.enter(k)
    await other.leave(k)
    await limiter.enter(k)


async def test_memory_limits() -> None:
    limiter = KeyLimiter(storage_for(None))
    await check(limiter, limiter)


@pytest.mark.redis
async def test_redis_limits_are_shared() -> None:
    url = os.environ.get("ERRAND_TEST_REDIS_URL")
    if not url:
        pytest.skip("ERRAND_TEST_REDIS_URL is not set")
    one, two = KeyLimiter(storage_for(url)), KeyLimiter(storage_for(url))
    try:
        await check(one, two)
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_hung_storage_costs_one_request_a_moment_then_is_skipped() -> None:
    """A hung Redis added 5 s to every request; now the first waits at most half a second, the
    next ones skip the limits while the breaker is open, and the warning is logged once."""
    import asyncio
    import time

    from starlette.types import Receive, Scope, Send

    from errand.server.ratelimit import KeyLimitsMiddleware

    limiter = KeyLimiter(storage_for(None))
    asked: list[int] = []

    async def hangs(k: ApiKey) -> None:
        asked.append(1)
        await asyncio.sleep(30)

    limiter.hit = hangs  # type: ignore[method-assign]
    served: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        served.append(1)

    middleware = KeyLimitsMiddleware(app, limiter, on_reject=lambda reason: None)
    scope: Scope = {"type": "http", "method": "GET", "path": "/v1/models", "state": {"api_key": key()}}

    async def nothing() -> dict[str, object]:
        return {"type": "http.request"}

    async def ignore(message: object) -> None:
        return None

    started = time.perf_counter()
    await middleware(scope, nothing, ignore)
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(5):
        await middleware(scope, nothing, ignore)
    rest = time.perf_counter() - started
    assert served == [1] * 6 and asked == [1]
    # The hang is 30 s: the first request gave up on it, and the rest never asked (``asked``).
    assert first < 10 and rest < 10
