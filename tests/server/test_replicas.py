"""Two ``errand serve`` replicas sharing PostgreSQL (state, durable runs) and Redis (limits):
a run created on one is streamed and approved on the other, and a key's rate is counted once."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.cli_process import run_errand
from tests.pg import postgres_schema
from tests.server.test_serve_cli import errand_serve

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REQUEST = "Book flight CA1101 on 2027-01-15 for Dave Chen, then 2 nights at hotel H-SY04 from 2027-01-15 for Dave Chen."
SCRIPT = [
    {
        "tool": "book_flight",
        "arguments": {"flight_id": "CA1101", "passengers": ["Dave Chen"], "date": "2027-01-15"},
    },
    {
        "tool": "book_hotel",
        "arguments": {"hotel_id": "H-SY04", "guests": ["Dave Chen"], "check_in": "2027-01-15", "nights": 2},
    },
    "Done: flight CA1101 and hotel H-SY04 are booked and paid for Dave Chen.",
]


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for replicas: a fresh PostgreSQL schema, the test Redis, the trip script."""
    redis = os.environ.get("ERRAND_TEST_REDIS_URL")
    if not redis:
        pytest.skip("needs ERRAND_TEST_REDIS_URL")
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    with postgres_schema() as url:
        yield {
            "ERRAND_DATABASE_URL": url,
            "ERRAND_REDIS_URL": redis,
            "ERRAND_MODEL_BACKEND": "scripted",
            "ERRAND_SCRIPT_PATH": str(script),
        }


def status(url: str, key: str, run_id: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/v1/runs/{run_id}", headers={"authorization": f"Bearer {key}"})
    r.raise_for_status()
    return dict(r.json())


def wait_for(url: str, key: str, run_id: str, wanted: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = status(url, key, run_id)
        if run["status"] == wanted:
            return run
        time.sleep(0.1)
    raise AssertionError(f"{run_id} did not reach {wanted}: {status(url, key, run_id)}")


def test_two_replicas_share_runs_and_limits(tmp_path: Path, shared: dict[str, str]) -> None:
    key = run_errand(tmp_path, "keys", "create", "--user", "dave", env=shared).stdout.strip().splitlines()[-1]
    slow = run_errand(tmp_path, "keys", "create", "--user", "erin", "--rpm", "3", env=shared)
    limited = slow.stdout.strip().splitlines()[-1]
    headers = {"authorization": f"Bearer {key}"}
    with (
        errand_serve(tmp_path / "a", {**shared, "ERRAND_WORKER_ID": "replica-a"}) as (a, _),
        errand_serve(tmp_path / "b", {**shared, "ERRAND_WORKER_ID": "replica-b"}) as (b, _),
    ):
        run = httpx.post(f"{a}/v1/runs", headers=headers, json={"input": REQUEST}).json()
        events: list[str] = []

        def follow() -> None:
            with httpx.stream("GET", f"{b}/v1/runs/{run['id']}/events", headers=headers, timeout=120) as r:
                events.extend(
                    line.split(":", 1)[1].strip() for line in r.iter_lines() if line.startswith("event:")
                )

        watcher = threading.Thread(target=follow)
        watcher.start()
        for _ in range(2):
            pending = wait_for(a, key, run["id"], "awaiting_confirmation")["pending"]
            assert pending["name"] in ("book_flight", "book_hotel")
            r = httpx.post(f"{b}/v1/runs/{run['id']}/approve", headers=headers, json={"note": "yes"})
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + 30
            while status(a, key, run["id"])["pending"] == pending and time.monotonic() < deadline:
                time.sleep(0.05)
        done = wait_for(a, key, run["id"], "succeeded")
        assert "CA1101" in (done["answer"] or "")
        watcher.join(60)
        assert events[0] == "run_started" and events[-1] == "run_finished"
        assert events.count("confirmation_required") == 2
        # a second user sees nothing of it, on either replica
        other = (
            run_errand(tmp_path, "keys", "create", "--user", "mallory", env=shared)
            .stdout.strip()
            .splitlines()[-1]
        )
        for url in (a, b):
            assert (
                httpx.get(
                    f"{url}/v1/runs/{run['id']}", headers={"authorization": f"Bearer {other}"}
                ).status_code
                == 404
            )
        # the rate of one key is counted across replicas
        answers = [
            httpx.get(f"{url}/v1/models", headers={"authorization": f"Bearer {limited}"}).status_code
            for url in (a, b, a, b)
        ]
        assert answers == [200, 200, 200, 429]
