"""Admission control: a bound on work running and waiting in this process, decided at once.

At most ``slots`` requests use the model at a time; a few more wait in a short queue. A request
is refused (503, ``Retry-After``) the moment it arrives if the queue is full or its expected wait
(its place in the queue times the measured time a slot is held) is over the limit: refusing
early keeps the latency of admitted work and answers refusals in microseconds, instead of
letting everyone wait and time out.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from errand.errors import Overloaded
from errand.server.errors import error_response
from errand.server.health import Health
from errand.server.ratelimit import MODEL_CALLS, WORK


class Gate:
    """``slots`` holders at a time, a bounded queue behind them, and a bound on the wait.

    A request joins the queue only if the slot it would get is expected to free within
    ``max_wait_s`` (from when each holder started and the average time a slot is held);
    otherwise it is refused on arrival. Once queued it is served: only a request still
    waiting after ``patience_s`` (a stuck model) is refused late.
    """

    def __init__(self, slots: int, max_queued: int, max_wait_s: float) -> None:
        self.slots = max(1, slots)
        self.max_queued = max(0, max_queued)
        self.max_wait_s = max_wait_s
        self.patience_s = 4 * max_wait_s + 1.0
        self._holders: dict[int, float] = {}
        """Ticket -> when it took its slot (monotonic)."""
        self._queue: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._tickets = itertools.count()
        self.mean_hold_s: float | None = None
        """Moving average of how long a slot is held (the service time)."""

    @property
    def running(self) -> int:
        """Requests holding a slot."""
        return len(self._holders)

    @property
    def waiting(self) -> int:
        """Requests in the queue."""
        return len(self._queue)

    def expected_wait(self, position: int) -> float:
        """Seconds until the request at ``position`` in the queue (0 first) gets a slot."""
        mean = self.mean_hold_s
        if mean is None or len(self._holders) < self.slots:
            return 0.0
        now = time.monotonic()
        left = sorted(max(0.0, mean - (now - started)) for started in self._holders.values())
        rounds, index = divmod(position, self.slots)
        return left[index] + rounds * mean

    def retry_after(self) -> float:
        """A fair ``Retry-After``: how long until the queue as it is now would have drained."""
        return max(1.0, self.expected_wait(self.waiting))

    async def enter(self) -> int:
        """Take a slot (its ticket, for `leave`), waiting if admitted to the queue; `Overloaded` when refused."""
        ticket = next(self._tickets)
        if len(self._holders) < self.slots and not self._queue:
            self._holders[ticket] = time.monotonic()
            return ticket
        position = len(self._queue)
        if position >= self.max_queued or self.expected_wait(position) > self.max_wait_s:
            raise Overloaded(
                f"The server is full ({self.running} running, {position} waiting); retry shortly.",
                retry_after=self.retry_after(),
            )
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((ticket, turn))
        try:
            async with asyncio.timeout(self.patience_s):
                await turn
        except (TimeoutError, asyncio.CancelledError) as exc:
            if turn.done() and not turn.cancelled():
                if isinstance(exc, TimeoutError):
                    return ticket  # the slot came just as the wait ended: keep it
                self.leave(ticket)
                raise
            if (ticket, turn) in self._queue:
                self._queue.remove((ticket, turn))
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise Overloaded(
                f"The server stayed full for {self.patience_s:.1f} s; retry shortly.",
                retry_after=self.retry_after(),
            ) from None
        return ticket

    def leave(self, ticket: int) -> None:
        """Give back ``ticket``'s slot; the first waiter, if any, takes it over."""
        now = time.monotonic()
        started = self._holders.pop(ticket, None)
        if started is not None:
            held = now - started
            self.mean_hold_s = held if self.mean_hold_s is None else 0.9 * self.mean_hold_s + 0.1 * held
        while self._queue:
            waiter, turn = self._queue.popleft()
            if not turn.done():
                self._holders[waiter] = now
                turn.set_result(None)
                return


class AdmissionMiddleware:
    """Refuses new work while the model loads or the server drains, and bounds chat completions
    and responses by the `Gate` (503 with ``Retry-After``)."""

    def __init__(self, app: ASGIApp, gate: Gate, health: Health, on_reject: Callable[[str], None]) -> None:
        self.app = app
        self.gate = gate
        self.health = health
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = (scope.get("method"), scope.get("path")) if scope["type"] == "http" else None
        if request not in WORK:
            await self.app(scope, receive, send)
            return
        try:
            if self.health.draining:
                self.on_reject("draining")
                raise Overloaded(
                    "The server is shutting down; retry (another replica will answer).", retry_after=1
                )
            if request not in MODEL_CALLS:
                await self.app(scope, receive, send)
                return
            if self.health.loading:
                self.on_reject("model_loading")
                raise Overloaded(
                    "The model is still loading; retry shortly.", retry_after=5, code="model_loading"
                )
            arrived = time.perf_counter()
            try:
                ticket = await self.gate.enter()
            except Overloaded:
                self.on_reject("overloaded" if time.perf_counter() - arrived < 0.01 else "queue_timeout")
                raise
        except Overloaded as exc:
            await error_response(exc)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave(ticket)
