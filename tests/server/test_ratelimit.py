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
