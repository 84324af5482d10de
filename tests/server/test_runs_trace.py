"""``GET /v1/runs/{id}/trace``: a run's timeline over HTTP, computed by the function that draws
``errand runs show ID --trace`` (`errand.telemetry.timeline`), for the run's owner only. On a
real ``errand serve`` with durable runs and the scripted model, priced."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from errand.config import Settings
from errand.telemetry.timeline import timeline
from tests.cli_process import run_errand
from tests.server.test_serve_cli import errand_serve

PRICES = {"scripted": {"input": 2.0, "output": 8.0}}
SCRIPT = [{"tool": "wallet_balance", "arguments": {}}, "Your wallet balance is listed above."]


def _wait(url: str, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run: dict[str, Any] = httpx.get(f"{url}/v1/runs/{run_id}", headers=headers).json()
        if run["status"] == "succeeded":
            return run
        time.sleep(0.1)
    raise AssertionError(f"{run_id} did not finish")


def test_the_trace_is_the_waterfalls_timeline_for_the_owner_only(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    env = {
        "ERRAND_MODEL_BACKEND": "scripted",
        "ERRAND_SCRIPT_PATH": str(script),
        "ERRAND_PRICES": json.dumps(PRICES),
    }
    home = tmp_path / "home"
    keys = [
        run_errand(home, "keys", "create", "--user", u, env=env).stdout.strip().splitlines()[-1]
        for u in ("dave", "eve")
    ]
    dave, eve = ({"authorization": f"Bearer {k}"} for k in keys)
    with errand_serve(home, env) as (url, _):
        created = httpx.post(f"{url}/v1/runs", headers=dave, json={"input": "How much is in my wallet?"})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        run = _wait(url, dave, run_id)

        r = httpx.get(f"{url}/v1/runs/{run_id}/trace", headers=dave)
        assert r.status_code == 200, r.text
        trace = r.json()
        events = httpx.get(f"{url}/v1/runs/{run_id}/events?stream=false", headers=dave).json()["data"]
        # The events carry their costs, so the settings here only name the currency.
        assert trace == timeline([e["data"] for e in events], Settings()).model_dump(mode="json")

        one, two = trace["steps"]
        assert [(t["name"], t["outcome"]) for t in one["tools"]] == [("wallet_balance", "ok")]
        assert one["model_ms"] > 0 and one["tools"][0]["ms"] > 0 and one["usage"]["prompt_tokens"] > 0
        assert one["tools"][0]["start_ms"] == one["start_ms"] + one["model_ms"]
        assert two["start_ms"] == one["end_ms"] and two["tools"] == []
        assert (trace["outcome"], trace["model"], trace["run_id"]) == ("answered", "scripted", run_id)
        assert trace["usage"]["prompt_tokens"] == run["prompt_tokens"]
        assert trace["usage"]["completion_tokens"] == run["completion_tokens"]
        assert trace["cost"] == pytest.approx(run["cost"]) and trace["currency"] == "USD"
        assert trace["total_ms"] >= trace["other_ms"] >= 0

        # Another user's run is not found, as on every run route; no key, no trace.
        assert httpx.get(f"{url}/v1/runs/{run_id}/trace", headers=eve).status_code == 404
        assert httpx.get(f"{url}/v1/runs/{run_id}/trace").status_code == 401
        assert httpx.get(f"{url}/v1/runs/run_nope/trace", headers=dave).status_code == 404
