"""``errand keys`` and ``errand serve`` as a user runs them, and graceful shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import openai
import pytest
import uvicorn

from errand.cli.serve import _server_class
from errand.config import Settings
from errand.server.app import create_app
from errand.services.store import ServiceStore
from tests.cli_process import run_errand
from tests.server.conftest import free_socket
from tests.server.models import SlowModel


def test_keys_create_prints_the_key_once_and_stores_its_hash(tmp_path: Path) -> None:
    proc = run_errand(
        tmp_path, "keys", "create", "--user", "alice", "--rpm", "7", "--max-runs", "2", "--budget", "900"
    )
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip().splitlines()[-1]
    assert key.startswith("errand-") and " " not in key and len(key) > 40
    assert "7 requests/min" in proc.stdout and "900 tokens" in proc.stdout
    assert key.encode() not in (tmp_path / "errand.db").read_bytes()
    listed = run_errand(tmp_path, "keys", "list")
    assert "alice" in listed.stdout and key not in listed.stdout
    key_id = key.split("-")[1]
    assert run_errand(tmp_path, "keys", "revoke", key_id).returncode == 0
    assert run_errand(tmp_path, "keys", "revoke", "nope").returncode == 2


@contextmanager
def errand_serve(home: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``errand serve`` in a subprocess on a free port."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    full = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    full.update({"ERRAND_HOME": str(home), **env})
    proc = subprocess.Popen(
        [sys.executable, "-m", "errand", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def test_errand_serve_with_a_script_drains_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["Served by errand serve."]))
    env = {
        "ERRAND_MODEL_BACKEND": "scripted",
        "ERRAND_SCRIPT_PATH": str(script),
        "ERRAND_SERVE_DRAIN_S": "1.5",
    }
    key = run_errand(tmp_path, "keys", "create", "--user", "alice").stdout.strip().splitlines()[-1]
    with errand_serve(tmp_path, env) as (url, proc):
        with openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0) as client:
            r = client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "hi"}])
            assert r.choices[0].message.content == "Served by errand serve."
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            assert httpx.get(url + "/readyz").status_code == 503
            with pytest.raises(openai.APIStatusError) as err:
                client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}])
            assert err.value.status_code == 503
        assert proc.wait(30) == 0


def test_in_flight_streams_finish_after_sigterm(tmp_path: Path, seeded_db: Path) -> None:
    """The first signal stops admitting, closes the port and lets streams in flight end whole."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "errand.db").write_bytes(seeded_db.read_bytes())
    settings = Settings(home=home)
    store = ServiceStore.open(settings.resolved_database_url(), seed=False)
    model = SlowModel(words=15, delay_s=0.05)
    app = create_app(settings, model=model, store=store, open_runs=False, runs=None)
    _, key = app.state.server.keys.create("alice", rpm=100, max_runs=10)
    sock = free_socket()
    port = sock.getsockname()[1]
    server = _server_class()(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    lines: list[str] = []

    def stream() -> None:
        with httpx.stream(
            "POST",
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "slow", "messages": [{"role": "user", "content": "x"}], "stream": True},
            timeout=30,
        ) as r:
            lines.extend(r.iter_lines())

    client = threading.Thread(target=stream)
    client.start()
    assert model.started.wait(10)
    server.handle_exit(signal.SIGTERM, None)
    assert app.state.server.health.draining
    client.join(30)
    thread.join(30)
    sock.close()
    store.close()
    assert lines[-2:] == ["data: [DONE]", ""] or lines[-1] == "data: [DONE]"
    assert model.finished == 1 and not model.stopped_early.is_set()


def test_serve_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    proc = run_errand(tmp_path, "serve", "--port", "1", env={"ERRAND_MODEL_BACKEND": "scripted"})
    assert proc.returncode == 2
    assert "ERRAND_SCRIPT_PATH" in proc.stderr and "Traceback" not in proc.stderr


def test_the_runs_routes_on_the_durable_runs_layer(tmp_path: Path) -> None:
    """``errand serve`` on SQLite with the real runs layer: a paid trip waits for two approvals,
    streams its events, and no other user can read or act on it."""
    from tests.server.test_replicas import REQUEST, SCRIPT, wait_for

    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    env = {"ERRAND_MODEL_BACKEND": "scripted", "ERRAND_SCRIPT_PATH": str(script)}
    key = run_errand(tmp_path, "keys", "create", "--user", "dave").stdout.strip().splitlines()[-1]
    other = run_errand(tmp_path, "keys", "create", "--user", "mallory").stdout.strip().splitlines()[-1]
    mine, theirs = {"authorization": f"Bearer {key}"}, {"authorization": f"Bearer {other}"}
    with errand_serve(tmp_path, env) as (url, _):
        run = httpx.post(f"{url}/v1/runs", headers=mine, json={"input": REQUEST}).json()
        pending = wait_for(url, key, run["id"], "awaiting_confirmation")
        for method, path in [
            ("GET", ""),
            ("GET", "/events?stream=false"),
            ("POST", "/approve"),
            ("POST", "/reject"),
            ("POST", "/cancel"),
        ]:
            r = httpx.request(method, f"{url}/v1/runs/{run['id']}{path}", headers=theirs)
            assert r.status_code == 404, (method, path, r.text)
        assert wait_for(url, key, run["id"], "awaiting_confirmation") == pending
        assert httpx.get(f"{url}/v1/runs", headers=theirs).json()["data"] == []
        for _ in range(2):
            waiting = wait_for(url, key, run["id"], "awaiting_confirmation")
            assert httpx.post(f"{url}/v1/runs/{run['id']}/approve", headers=mine).status_code == 200
            deadline = time.monotonic() + 30
            while (
                httpx.get(f"{url}/v1/runs/{run['id']}", headers=mine).json()["pending"] == waiting["pending"]
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert "CA1101" in wait_for(url, key, run["id"], "succeeded")["answer"]
        with httpx.stream("GET", f"{url}/v1/runs/{run['id']}/events", headers=mine, timeout=30) as r:
            lines = [line for line in r.iter_lines() if line.startswith(("id:", "event:"))]
        events = [line.split(":", 1)[1].strip() for line in lines if line.startswith("event:")]
        ids = [int(line.split(":", 1)[1]) for line in lines if line.startswith("id:")]
        assert events[0] == "run_started" and events[-1] == "run_finished"
        assert events.count("confirmation_required") == events.count("confirmation_resolved") == 2
        with httpx.stream(
            "GET",
            f"{url}/v1/runs/{run['id']}/events",
            headers={**mine, "Last-Event-ID": str(ids[-3])},
            timeout=30,
        ) as r:
            rest = [int(line.split(":", 1)[1]) for line in r.iter_lines() if line.startswith("id:")]
        assert rest == ids[-2:]
