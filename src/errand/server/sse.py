"""A run's stored events as Server-Sent Events, resumable with ``Last-Event-ID``.

Each event carries its global id (``id:``), its type (``event:``) and the agent event as JSON
(``data:``). The stream ends after the run's last event, or when the server drains: a client
then reconnects (to any replica) with ``Last-Event-ID`` and misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import ServerSentEvent

from errand.server.health import Health

RECONNECT_MS = 1000
"""How soon a browser's EventSource reconnects when a stream ends early."""


async def run_events(
    runs: Any, user: str, run_id: str, after: int, health: Health
) -> AsyncIterator[ServerSentEvent]:
    """The run's events after ``after``, as they are written, until its last one or a drain."""
    follow: AsyncIterator[Any] = runs.follow(user, run_id, after=after)
    drained = asyncio.ensure_future(health.drained.wait())
    step: asyncio.Future[Any] | None = None
    first = True
    try:
        while True:
            step = asyncio.ensure_future(anext(follow))
            await asyncio.wait({step, drained}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                yield ServerSentEvent(
                    comment="server draining: reconnect with Last-Event-ID", retry=RECONNECT_MS
                )
                return
            try:
                ev = step.result()
            except StopAsyncIteration:
                return
            yield ServerSentEvent(
                id=str(ev.id),
                event=ev.type,
                data=json.dumps(ev.data, ensure_ascii=False, default=str),
                retry=RECONNECT_MS if first else None,
            )
            first = False
    finally:
        drained.cancel()
        if step is not None and not step.done():
            step.cancel()
            with contextlib.suppress(BaseException):
                await step
        close = getattr(follow, "aclose", None)
        if close is not None:
            await close()
