"""What every route and middleware of one app shares: settings, model, stores, limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from errand.config import Settings
from errand.errors import Overloaded
from errand.llm.base import ChatModel
from errand.server.admission import Gate
from errand.server.health import Health
from errand.server.idempotency import IdempotencyStore
from errand.server.keys import KeyStore
from errand.server.metrics import Metrics
from errand.server.ratelimit import KeyLimiter
from errand.services.store import ServiceStore

if TYPE_CHECKING:
    from errand.server.watch import RunWatcher


@dataclass
class ServerState:
    """One app's shared parts (``app.state.server``)."""

    settings: Settings
    store: ServiceStore
    model: ChatModel
    keys: KeyStore
    idempotency: IdempotencyStore
    limiter: KeyLimiter
    gate: Gate
    health: Health
    metrics: Metrics
    runs: Any = None
    """The runs layer (`errand.runs.Runs` or a test double with its interface); None until opened."""
    watcher: RunWatcher | None = None
    run_admission: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held from counting a key's and the server's active runs to recording the new one, so
    50 concurrent POSTs cannot all pass a limit of 2 before any of them is counted."""

    @property
    def context_window(self) -> int:
        """Tokens the served model reads and writes in one request."""
        return self.settings.serve_context_window or self.settings.n_ctx

    def require_runs(self) -> Any:
        """The runs layer, or 503 while it is not open."""
        if self.runs is None:
            raise Overloaded("Runs are not available on this server yet; retry shortly.", retry_after=5)
        return self.runs


def server_state(request: Request) -> ServerState:
    """The state of the app serving ``request``."""
    state: ServerState = request.app.state.server
    return state
