"""`errand runs show ID --trace` and `errand keys usage`: a run's waterfall from its stored events,
and runs, tokens and cost per key and user."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from errand.cli.serve import parse_since
from errand.cli.waterfall import money, render_waterfall
from errand.config import Settings
from errand.telemetry.timeline import timeline
from tests.cli_process import json_events, run_errand

USAGE = {"prompt_tokens": 1200, "cached_tokens": 200, "completion_tokens": 300}
EVENTS: list[dict[str, Any]] = [
    {"type": "run_started", "run_id": "run_1", "model": "gpt-4o", "input": "x", "tools": []},
    {"type": "step_finished", "step": 1, "usage": USAGE, "duration_ms": 1200.0, "cost": 0.00575},
    {
        "type": "tool_call",
        "step": 1,
        "call_id": "c1",
        "name": "search_flights",
        "arguments": {},
        "risk": "read",
    },
    {
        "type": "tool_call",
        "step": 1,
        "call_id": "c2",
        "name": "book_flight",
        "arguments": {},
        "risk": "payment",
    },
    {"type": "confirmation_resolved", "step": 1, "call_id": "c2", "approved": True},
    {
        "type": "tool_result",
        "step": 1,
        "call_id": "c1",
        "name": "search_flights",
        "ok": True,
        "duration_ms": 300.0,
    },
    {
        "type": "tool_result",
        "step": 1,
        "call_id": "c2",
        "name": "book_flight",
        "ok": False,
        "duration_ms": 500.0,
    },
    {"type": "step_finished", "step": 2, "usage": USAGE, "duration_ms": 800.0, "cost": 0.00575},
    {
        "type": "run_finished",
        "answer": "done",
        "steps": 2,
        "usage": USAGE,
        "duration_ms": 4000.0,
        "cost": 0.0115,
    },
]


def test_the_timeline_lays_steps_end_to_end_and_calls_side_by_side() -> None:
    line = timeline(EVENTS, Settings())
    one, two = line.steps
    assert (one.start_ms, one.model_ms, one.end_ms) == (0.0, 1200.0, 1700.0)  # the slower call ends it
    assert [(t.name, t.start_ms, t.ms, t.outcome) for t in one.tools] == [
        ("search_flights", 1200.0, 300.0, "ok"),
        ("book_flight", 1200.0, 500.0, "error"),
    ]
    assert one.tools[1].confirmation == "approved"
    assert two.start_ms == 1700.0 and two.end_ms == 2500.0
    assert line.other_ms == 1500.0  # 4,000 ms less 1,200 + 500 + 800
    assert (line.cost, one.cost, line.model) == (0.0115, 0.00575, "gpt-4o")


def test_the_waterfall_shows_times_tokens_and_cost() -> None:
    console = Console(record=True, width=160)
    render_waterfall(timeline(EVENTS, Settings()), console)
    text = console.export_text()
    for expected in ("step 1", "step 2", "model", "search_flights ✓", "book_flight ✗", "(asked: approved)"):
        assert expected in text
    assert "1.20 s" in text and "500 ms" in text and "4.00 s" in text
    assert "1,200 (200 cached) → 300" in text and "0.00575 USD" in text and "0.0115 USD" in text
    assert "other 1.50 s" in text


def test_costs_read_as_money() -> None:
    assert money(0.00575, "USD") == "0.00575 USD"
    assert money(1234.5, "USD") == "1,234.50 USD"
    assert money(0.0, "USD") == "0 USD" and money(None, "USD") == "-"


def test_since_reads_spans_and_dates() -> None:
    now = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC)


def test_runs_show_trace_and_keys_usage_from_the_command_line(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps([{"tool": "wallet_balance", "arguments": {}}, "Your wallet balance is listed above."])
    )
    env = {
        "ERRAND_MODEL_BACKEND": "scripted",
        "ERRAND_SCRIPT_PATH": str(script),
        "ERRAND_PRICES": json.dumps({"scripted": {"input": 2.0, "output": 8.0}}),
    }
    ran = run_errand(tmp_path, "run", "--json", "how much is in my wallet?", env=env)
    assert ran.returncode == 0, ran.stderr
    events = json_events(ran)
    run_id, usage = events[-1]["run_id"], events[-1]["usage"]
    cost = (usage["prompt_tokens"] * 2.0 + usage["completion_tokens"] * 8.0) / 1_000_000
    key = run_errand(tmp_path, "keys", "create", "--user", "erin", env=env)
    assert key.returncode == 0, key.stderr
    shown = run_errand(tmp_path, "runs", "show", run_id, "--trace", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "step 1" in shown.stdout and "wallet_balance ✓" in shown.stdout
    assert money(cost, "USD") in shown.stdout
    used = run_errand(tmp_path, "keys", "usage", "--since", "1d", "--json", env=env)
    assert used.returncode == 0, used.stderr
    rows = {(r["key_id"], r["user"]): r for r in map(json.loads, used.stdout.splitlines())}
    cli = rows[(None, "local")]
    assert (cli["runs"], cli["prompt_tokens"], cli["completion_tokens"]) == (
        1,
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert cli["cost"] == pytest.approx(cost)
    (erin,) = [r for (k, u), r in rows.items() if u == "erin"]
    assert erin["runs"] == 0 and erin["key_tokens_used"] == 0
    table = run_errand(tmp_path, "keys", "usage", env=env)
    assert table.returncode == 0, table.stderr
    assert "(cli)" in table.stdout and "erin" in table.stdout
