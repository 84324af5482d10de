"""The global gate: a bound on running and waiting work, decided at once."""

from __future__ import annotations

import asyncio

import pytest

from errand.errors import Overloaded
from errand.server.admission import Gate


def refused_without_waiting(gate: Gate) -> None:
    """Step ``gate.enter()`` once: a refusal "at once" raises before the coroutine ever waits,
    which no busy machine can make slower (a timed bound could)."""
    entering = gate.enter()
    try:
        entering.send(None)
    except StopIteration:
        raise AssertionError("the gate let the request in") from None
    entering.close()
    raise AssertionError("the gate made the request wait")


async def test_a_full_queue_refuses_at_once() -> None:
    gate = Gate(slots=1, max_queued=0, max_wait_s=5)
    ticket = await gate.enter()
    with pytest.raises(Overloaded) as err:
        refused_without_waiting(gate)
    assert err.value.retry_after is not None and err.value.retry_after >= 1
    gate.leave(ticket)
    assert gate.running == 0


async def test_a_waiter_takes_over_the_freed_slot_in_order() -> None:
    gate = Gate(slots=1, max_queued=5, max_wait_s=5)
    held = [await gate.enter()]
    order: list[int] = []

    async def wait(i: int) -> None:
        held.append(await gate.enter())
        order.append(i)

    tasks = [asyncio.create_task(wait(i)) for i in range(3)]
    await asyncio.sleep(0.01)
    assert gate.waiting == 3
    for i in range(3):
        gate.leave(held[i])
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2] and gate.running == 1 and gate.waiting == 0


async def test_an_expected_wait_over_the_limit_is_refused_at_once() -> None:
    gate = Gate(slots=1, max_queued=100, max_wait_s=1.0)
    holder = await gate.enter()
    gate.mean_hold_s = 0.6  # the holder has ~0.6 s left: one waiter waits ~0.6 s, a second ~1.2 s
    first = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        refused_without_waiting(gate)
    gate.leave(holder)
    gate.leave(await first)
    assert gate.running == 0


async def test_a_stuck_queue_is_refused_late_and_a_cancelled_waiter_leaves() -> None:
    gate = Gate(slots=1, max_queued=5, max_wait_s=0.05)
    holder = await gate.enter()  # never leaves: a stuck model
    with pytest.raises(Overloaded):
        await gate.enter()  # queued (nothing known yet), then refused after its patience
    assert gate.waiting == 0
    waiter = asyncio.create_task(gate.enter())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.waiting == 0
    gate.leave(holder)
    assert gate.running == 0


async def test_the_wait_is_judged_from_when_holders_started() -> None:
    gate = Gate(slots=2, max_queued=10, max_wait_s=0.3)
    gate.mean_hold_s = 1.0
    a = await gate.enter()
    await asyncio.sleep(0.8)  # a has ~0.2 s left
    b = await gate.enter()  # b has ~1 s left
    assert 0.1 < gate.expected_wait(0) < 0.3
    assert 0.8 < gate.expected_wait(1) < 1.1
    queued = asyncio.create_task(gate.enter())  # admitted: its slot frees in ~0.2 s
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        await gate.enter()  # would wait ~1 s
    gate.leave(a)
    gate.leave(await queued)
    gate.leave(b)
