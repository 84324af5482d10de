"""Editable approvals in the terminal: ``e`` at the prompt of ``errand run`` (durable and
``--in-memory``), and ``errand runs approve --set`` from another terminal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_process import errand_env, run_errand

REQUEST = "Book flight CA1101 on 2027-01-15 for Dave Chen and Ann Li."
TWO = {"flight_id": "CA1101", "passengers": ["Dave Chen", "Ann Li"], "date": "2027-01-15"}


def _env(home: Path) -> dict[str, str]:
    path = home / "script.json"
    path.write_text(
        json.dumps([{"tool": "book_flight", "arguments": TWO}, "Booked flight CA1101 for Dave Chen."])
    )
    return {"ERRAND_MODEL_BACKEND": "scripted", "ERRAND_SCRIPT_PATH": str(path)}


def _paid_one_seat(home: Path) -> None:
    shown = run_errand(home, "services", "show", "--user", "local")
    assert shown.returncode == 0, shown.stderr
    assert "-800.00 CNY" in shown.stdout and "economy x1" in shown.stdout  # one seat, at its price
    assert "-1,600.00 CNY" not in shown.stdout


@pytest.mark.parametrize("durable", [True, False])
def test_changing_two_passengers_to_one_at_the_prompt_books_one_seat(tmp_path: Path, durable: bool) -> None:
    args = ["run", REQUEST] if durable else ["run", "--in-memory", REQUEST]
    # e: change; the passengers, typed as at the prompt; then y to the call priced again.
    proc = run_errand(tmp_path, *args, env=_env(tmp_path), stdin="e\nDave Chen\ny\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert "(e: change passengers)" in out
    assert "for Dave Chen, Ann Li (2 x 800.00 CNY)" in out
    assert 'changed passengers=["Dave Chen"]' in out
    assert "for Dave Chen (1 x 800.00 CNY): pay 800.00 CNY" in out  # asked again, at the new price
    _paid_one_seat(tmp_path)


def test_runs_approve_set_changes_the_call_and_a_fixed_argument_is_one_line(tmp_path: Path) -> None:
    env = _env(tmp_path)
    waiting = subprocess.Popen(
        [sys.executable, "-m", "errand", "run", "--json", REQUEST],
        env=errand_env(tmp_path, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stdout is not None
        lines = iter(waiting.stdout)
        asked = next(e for line in lines if (e := json.loads(line))["type"] == "confirmation_required")
        run_id = asked["run_id"]

        fixed = run_errand(tmp_path, "runs", "approve", run_id, "--set", "flight_id=CA1102")
        assert fixed.returncode == 1 and "Traceback" not in fixed.stderr
        assert "flight_id cannot be changed at this confirmation (editable: passengers)" in fixed.stderr

        changed = run_errand(tmp_path, "runs", "approve", run_id, "--set", "passengers=Dave Chen")
        assert changed.returncode == 0, changed.stderr
        again = next(e for line in lines if (e := json.loads(line))["type"] == "confirmation_required")
        assert again["arguments"]["passengers"] == ["Dave Chen"] and again["amount"] == 800_00

        assert run_errand(tmp_path, "runs", "approve", run_id).returncode == 0
        rest = [json.loads(line) for line in lines]
    finally:
        waiting.kill()
        waiting.communicate(timeout=30)
    assert rest[-1]["type"] == "run_finished", rest[-1]
    _paid_one_seat(tmp_path)
