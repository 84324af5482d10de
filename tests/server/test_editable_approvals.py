"""Editable approvals over the runs API, on ``errand serve`` with the durable runs layer: an
approval that changes the passengers is priced again, confirmed again, and books what changed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.cli_process import run_errand
from tests.server.test_serve_cli import errand_serve

REQUEST = "Book flight CA1101 on 2027-01-15 for Dave Chen and Ann Li."
TWO = {"flight_id": "CA1101", "passengers": ["Dave Chen", "Ann Li"], "date": "2027-01-15"}
SCRIPT = [{"tool": "book_flight", "arguments": TWO}, "Booked flight CA1101 for Dave Chen."]


def _pending(url: str, headers: dict[str, str], run_id: str, other_than: Any = None) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = httpx.get(f"{url}/v1/runs/{run_id}", headers=headers).json()
        if run["status"] == "awaiting_confirmation" and run["pending"] != other_than:
            return dict(run["pending"])
        time.sleep(0.05)
    raise AssertionError(f"{run_id} waits for no new confirmation: {run}")


def test_an_approval_edited_from_two_passengers_to_one_books_one_seat_at_the_new_price(
    tmp_path: Path,
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    env = {"ERRAND_MODEL_BACKEND": "scripted", "ERRAND_SCRIPT_PATH": str(script)}
    key = run_errand(tmp_path, "keys", "create", "--user", "dave").stdout.strip().splitlines()[-1]
    mine = {"authorization": f"Bearer {key}"}
    with errand_serve(tmp_path, env) as (url, _):
        run = httpx.post(f"{url}/v1/runs", headers=mine, json={"input": REQUEST}).json()
        approve = f"{url}/v1/runs/{run['id']}/approve"
        first = _pending(url, mine, run["id"])
        assert first["editable"]["passengers"]["type"] == "array"

        # The form sent back whole, with a fixed field changed: refused in one line, still waiting.
        refused = httpx.post(approve, headers=mine, json={"arguments": {**TWO, "flight_id": "CA1102"}})
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["code"] == "invalid_input" and "\n" not in error["message"]
        assert error["message"].startswith("flight_id cannot be changed at this confirmation")
        assert _pending(url, mine, run["id"]) == first

        changed = httpx.post(
            approve, headers=mine, json={"arguments": {**TWO, "passengers": ["Dave Chen"]}, "note": "just me"}
        )
        assert changed.status_code == 200, changed.text
        second = _pending(url, mine, run["id"], other_than=first)
        assert second["arguments"]["passengers"] == ["Dave Chen"]
        assert second["amount"] * 2 == first["amount"]

        assert httpx.post(approve, headers=mine).status_code == 200
        deadline = time.monotonic() + 60
        while (done := httpx.get(f"{url}/v1/runs/{run['id']}", headers=mine).json())["status"] != "succeeded":
            assert time.monotonic() < deadline and done["status"] != "failed", done
            time.sleep(0.05)
        events = httpx.get(f"{url}/v1/runs/{run['id']}/events?stream=false", headers=mine).json()["data"]
    resolved = [e["data"] for e in events if e["type"] == "confirmation_resolved"]
    assert [(r["edited"], r["by"], r["note"]) for r in resolved] == [
        ({"passengers": ["Dave Chen"]}, "dave", "just me"),
        ({}, "dave", ""),
    ]
    (result,) = [json.loads(e["data"]["content"]) for e in events if e["type"] == "tool_result"]
    assert result["passengers"] == ["Dave Chen"] and result["total"] * 100 == second["amount"]
