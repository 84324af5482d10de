"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (send it work).

``/readyz`` says 503 while the model loads or the server drains, so a load balancer sends
traffic elsewhere before the port closes.
"""

from __future__ import annotations

import asyncio
import signal
import weakref
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from errand.errors import Overloaded
from errand.server.errors import error_response, error_responses


class Health:
    """Whether this process is loading its model, serving, or draining."""

    def __init__(self) -> None:
        self.loading = False
        self.draining = False
        self.drained = asyncio.Event()
        """Set when draining starts: long streams (runs) end so their clients reconnect elsewhere."""
        self._loop: asyncio.AbstractEventLoop | None = None
        _ALL.add(self)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop serving the app: `start_draining` may be called from a signal handler or
        another thread, and wakes the streams through it."""
        self._loop = loop

    def start_draining(self) -> None:
        """Stop admitting work: new work gets 503, ``/readyz`` says 503, run streams end."""
        self.draining = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.drained.set)
        else:
            self.drained.set()


_ALL: weakref.WeakSet[Health] = weakref.WeakSet()


async def watch_signals(health: Health, every_s: float = 0.25) -> None:
    """Start draining when the uvicorn server running this app begins to exit.

    uvicorn has no hook between a signal and closing its port; its SIGTERM handler is a bound
    method of the server, whose ``should_exit`` flag this polls (as sse-starlette does). This
    covers worker processes and plain ``uvicorn --factory errand.server.app:app_from_env``.
    """
    while not health.draining:
        handler = signal.getsignal(signal.SIGTERM)
        server = getattr(handler, "__self__", None)
        if getattr(server, "should_exit", False):
            health.start_draining()
            return
        await asyncio.sleep(every_s)


def drain_all() -> None:
    """Start draining every app of this process (called from the SIGTERM handler)."""
    for health in list(_ALL):
        health.start_draining()


class Status(BaseModel):
    """A probe's answer."""

    status: Literal["ok", "ready"]


router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status, summary="Liveness: the process answers")
async def healthz() -> Status:
    """Always ``ok`` while the process serves HTTP."""
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    summary="Readiness: the server takes work",
    responses=error_responses(503),
)
async def readyz(request: Request) -> Response:
    """``ready``, or 503 while the model loads or the server drains."""
    health: Health = request.app.state.server.health
    if health.draining:
        return error_response(Overloaded("The server is draining.", retry_after=1))
    if health.loading:
        return error_response(Overloaded("The model is loading.", retry_after=5, code="model_loading"))
    return JSONResponse({"status": "ready"})
