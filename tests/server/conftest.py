"""Servers for the tests: the real app on uvicorn, on a free loopback port, in a thread.

The services database is seeded once per session and copied for each server, so every
server starts from the same data in a second or less.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import uvicorn
from fastapi import FastAPI

from errand.config import Settings
from errand.llm.base import ChatModel
from errand.runtime import open_store
from errand.server.app import create_app
from errand.server.keys import KeyStore
from errand.server.state import ServerState
from errand.services.store import ServiceStore


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded services database to copy."""
    home = tmp_path_factory.mktemp("seed")
    store = open_store(Settings(home=home))
    store.close()
    return home / "errand.db"


def free_socket() -> socket.socket:
    """A bound loopback socket on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Served:
    """A running test server."""

    url: str
    app: FastAPI
    server: uvicorn.Server

    @property
    def state(self) -> ServerState:
        state: ServerState = self.app.state.server
        return state

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def key(
        self, user: str = "alice", *, rpm: int = 10_000, max_runs: int = 100, budget: int | None = None
    ) -> str:
        """A new API key for ``user``."""
        _, key = self.state.keys.create(user, rpm=rpm, max_runs=max_runs, budget=budget)
        return key


@contextmanager
def serve_app(app: FastAPI) -> Iterator[Served]:
    """Run ``app`` (with its lifespan) on uvicorn in a thread until the block ends."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, ws="none", http="h11", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield Served(url=f"http://127.0.0.1:{port}", app=app, server=server)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


ServeFactory = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path, seeded_db: Path) -> Iterator[ServeFactory]:
    """``serve(model=..., runs=..., open_runs=False, **settings)``: start a server; all stop when
    the test ends. ``open_runs`` opens the durable runs layer in this process (DBOS: one such
    server at a time), as ``errand serve`` does: ``model: "errand"`` answers with runs."""
    stack: list[Any] = []

    def start(
        model: ChatModel | None = None, runs: Any = None, open_runs: bool = False, **settings: Any
    ) -> Served:
        home = tmp_path / f"home{len(stack)}"
        home.mkdir()
        shutil.copy(seeded_db, home / "errand.db")
        s = Settings(home=home, **settings)
        store = ServiceStore.open(s.resolved_database_url(), seed=False)
        app = create_app(s, model=model, runs=runs, store=store, open_runs=open_runs)
        cm = serve_app(app)
        served = cm.__enter__()
        stack.append((cm, store))
        return served

    yield start
    for cm, store in reversed(stack):
        cm.__exit__(None, None, None)
        store.close()


@pytest.fixture
def client_for() -> Iterator[Callable[..., openai.OpenAI]]:
    """``client_for(served, key=None)``: an official OpenAI client for a test server (no retries)."""
    clients: list[openai.OpenAI] = []

    def make(served: Served, key: str | None = None) -> openai.OpenAI:
        c = openai.OpenAI(base_url=served.v1, api_key=key or served.key(), max_retries=0, timeout=30)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def make_key(store: ServiceStore, user: str, **limits: Any) -> str:
    """A key in ``store`` for ``user``."""
    _, key = KeyStore(store.sessions).create(
        user, rpm=limits.get("rpm", 10_000), max_runs=limits.get("max_runs", 100), budget=limits.get("budget")
    )
    return key
