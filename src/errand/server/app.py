"""The FastAPI application: routes, the middleware stack, and what it opens and closes.

Requests pass, outermost first: metrics (every answer counted) -> authentication (401) ->
per-key limits (429) -> idempotency (replay, 409, 422) -> admission (503) -> the route.
Everything that refuses comes before anything that tokenises or calls a model.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Security
from fastapi.security import HTTPBearer
from sse_starlette.sse import AppStatus
from starlette.middleware import Middleware

import errand
from errand import web
from errand.config import Settings
from errand.llm.base import ChatModel
from errand.runtime import open_store
from errand.server import chat, errors, health, metrics, responses, runs_api
from errand.server.admission import AdmissionMiddleware, Gate
from errand.server.auth import AuthMiddleware
from errand.server.bodylimit import BodyLimitMiddleware
from errand.server.health import Health, watch_signals
from errand.server.idempotency import IdempotencyMiddleware, IdempotencyStore
from errand.server.keys import KeyStore
from errand.server.metrics import Metrics, MetricsMiddleware
from errand.server.ratelimit import KeyLimiter, KeyLimitsMiddleware, storage_for
from errand.server.state import ServerState
from errand.server.watch import RunWatcher
from errand.services.store import ServiceStore

log = logging.getLogger("errand.server")

# Run streams end on drain by themselves (health.drained) and chat streams must finish, so
# sse-starlette must not cut every stream the moment SIGTERM arrives.
AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]


async def _load(model: ChatModel, health: Health) -> None:
    """Load the weights in a thread; ``/readyz`` turns ready when they are in."""
    load = getattr(model, "load", None)
    try:
        if callable(load):
            await asyncio.to_thread(load)
        health.loading = False
    except Exception:
        log.exception("the model failed to load; the server stays not ready")


async def _open_runs(settings: Settings, model: ChatModel) -> Any:
    from errand.runs import Runs

    return await Runs.open(settings, execute=True, model=model)


def create_app(
    settings: Settings,
    *,
    runs: Any = None,
    model: ChatModel | None = None,
    store: ServiceStore | None = None,
    open_runs: bool = True,
) -> FastAPI:
    """The server for ``settings``.

    ``model``, ``store`` and ``runs`` (anything with the interface of `errand.runs.Runs`) are
    used as given and left open; what the app opens itself it closes on shutdown. Without
    ``runs`` the app opens the durable runs layer at start-up, unless ``open_runs`` is false.
    """
    from errand.llm import make_model

    owned_store, owned_model = store is None, model is None
    store = store or open_store(settings)
    model = model or make_model(settings)
    keys = KeyStore(store.sessions, cache_s=settings.serve_key_cache_s)
    metrics_ = Metrics()
    health_ = Health()
    health_.loading = callable(getattr(model, "load", None)) and not getattr(model, "loaded", True)
    gate = Gate(settings.serve_max_running, settings.serve_max_queued, settings.serve_max_queue_wait_s)
    state = ServerState(
        settings=settings,
        store=store,
        model=model,
        keys=keys,
        idempotency=IdempotencyStore(store.sessions, ttl_s=settings.idempotency_ttl_s),
        limiter=KeyLimiter(storage_for(settings.redis_url)),
        gate=gate,
        health=health_,
        metrics=metrics_,
        runs=runs,
    )
    metrics_.watch(
        queue_depth=lambda: gate.waiting,
        running=lambda: gate.running,
        runs=lambda: state.watcher.active if state.watcher else 0,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        health_.bind(asyncio.get_running_loop())
        loading = asyncio.create_task(_load(model, health_)) if health_.loading else None
        signals = asyncio.create_task(watch_signals(health_))
        await asyncio.to_thread(state.idempotency.purge)
        opened = False
        if state.runs is None and open_runs:
            state.runs = await _open_runs(settings, model)
            opened = True
        if state.runs is not None:
            state.watcher = RunWatcher(state.runs, keys, metrics_)
        try:
            yield
        finally:
            health_.start_draining()
            signals.cancel()
            if loading is not None:
                loading.cancel()
            if state.watcher is not None:
                await state.watcher.close()
            await state.limiter.aclose()
            if opened:
                await state.runs.aclose()
            if owned_model:
                await model.aclose()
            if owned_store:
                store.close()

    app = FastAPI(
        title="errand",
        version=errand.__version__ if hasattr(errand, "__version__") else "0",
        summary="An open agent for real-world errands: OpenAI-compatible chat, durable runs.",
        lifespan=lifespan,
        docs_url="/docs" if settings.serve_docs else None,
        redoc_url="/redoc" if settings.serve_docs else None,
        middleware=[
            Middleware(MetricsMiddleware, metrics=metrics_),
            Middleware(BodyLimitMiddleware, max_bytes=settings.serve_max_body_bytes),
            Middleware(AuthMiddleware, keys=keys),
            Middleware(KeyLimitsMiddleware, limiter=state.limiter, on_reject=metrics_.reject),
            Middleware(IdempotencyMiddleware, store=state.idempotency),
            Middleware(AdmissionMiddleware, gate=gate, health=health_, on_reject=metrics_.reject),
        ],
    )
    app.state.server = state
    errors.install(app)
    bearer = [Security(HTTPBearer(auto_error=False, description="An API key from `errand keys create`."))]
    app.include_router(health.router)
    app.include_router(metrics.router, dependencies=bearer)
    app.include_router(chat.router, dependencies=bearer)
    app.include_router(responses.router, dependencies=bearer)
    app.include_router(runs_api.router, dependencies=bearer)
    app.include_router(runs_api.threads_router, dependencies=bearer)
    web.install(app)  # the web page at /, its files under /web/ (docs/web.md)
    return app


def app_from_env() -> FastAPI:
    """The app for ``uvicorn --factory errand.server.app:app_from_env`` (one per worker process).

    Each worker process executes runs under its own executor id (``ERRAND_WORKER_ID`` plus
    its pid): two processes must never claim the same id. Runs a dead worker had in flight
    are resumed with ``errand runs resume``.
    """
    settings = Settings()
    if settings.serve_workers > 1:
        settings = settings.model_copy(update={"worker_id": f"{settings.worker_id}-{os.getpid()}"})
    return create_app(settings)
