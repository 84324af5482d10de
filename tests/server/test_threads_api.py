"""Threads on the runs API, on a real ``errand serve`` with durable runs: the agent asks for the
passenger's name, the user answers in the same thread, and the flight is booked once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.cli_process import run_errand
from tests.runs.test_threads import ASK_THEN_BOOK, BOOKED
from tests.server.test_serve_cli import errand_serve


def _wait(url: str, key: str, run_id: str, wanted: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = httpx.get(f"{url}/v1/runs/{run_id}", headers={"authorization": f"Bearer {key}"}).json()
        if run["status"] == wanted:
            return run
        time.sleep(0.1)
    raise AssertionError(f"{run_id} did not reach {wanted}: {run}")


def test_a_follow_up_message_answers_the_agents_question_in_its_thread(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(ASK_THEN_BOOK))
    env = {"ERRAND_MODEL_BACKEND": "scripted", "ERRAND_SCRIPT_PATH": str(script)}
    home = tmp_path / "home"
    keys = [
        run_errand(home, "keys", "create", "--user", u, env=env).stdout.strip().splitlines()[-1]
        for u in ("dave", "eve")
    ]
    dave, eve = ({"authorization": f"Bearer {k}"} for k in keys)
    with errand_serve(home, env) as (url, _):
        first = httpx.post(
            f"{url}/v1/runs", headers=dave, json={"input": "Book flight CA1101 on 2027-01-15."}
        )
        assert first.status_code == 201, first.text
        thread = first.json()["thread_id"]
        asked = _wait(url, keys[0], first.json()["id"], "succeeded")
        assert asked["answer"] == "Who is flying?" and asked["thread_id"] == thread

        body = {"input": "Dave Chen", "thread_id": thread}
        assert httpx.post(f"{url}/v1/runs", headers=eve, json=body).status_code == 404
        second = httpx.post(f"{url}/v1/runs", headers=dave, json=body)
        assert second.status_code == 201 and second.json()["thread_id"] == thread
        run_id = second.json()["id"]
        waiting = _wait(url, keys[0], run_id, "awaiting_confirmation")
        assert waiting["pending"]["arguments"]["passengers"] == ["Dave Chen"]
        busy = httpx.post(f"{url}/v1/runs", headers=dave, json={"input": "and a hotel", "thread_id": thread})
        assert busy.status_code == 409, busy.text
        assert httpx.post(f"{url}/v1/runs/{run_id}/approve", headers=dave).status_code == 200
        done = _wait(url, keys[0], run_id, "succeeded")
        assert done["answer"].startswith(BOOKED) and "BK-000001" in done["answer"]

        events = httpx.get(f"{url}/v1/runs/{run_id}/events?stream=false", headers=dave).json()["data"]
        booked = [e for e in events if e["type"] == "tool_result" and e["data"]["name"] == "book_flight"]
        assert len(booked) == 1 and booked[0]["data"]["ok"]
        threads = httpx.get(f"{url}/v1/threads", headers=dave).json()["data"]
        assert [(t["id"], t["runs"], t["last_status"]) for t in threads] == [(thread, 2, "succeeded")]
        assert httpx.get(f"{url}/v1/threads", headers=eve).json()["data"] == []
        turns = httpx.get(f"{url}/v1/threads/{thread}/runs", headers=dave).json()["data"]
        assert [(r["input"], r["answer"].split("\n")[0]) for r in turns] == [
            ("Book flight CA1101 on 2027-01-15.", "Who is flying?"),
            ("Dave Chen", BOOKED),
        ]
        assert httpx.get(f"{url}/v1/threads/{thread}/runs", headers=eve).status_code == 404
