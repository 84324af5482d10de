"""``errand eval`` as a user runs it: the exit status, the table and the reports."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_process import run_errand

EXAMPLE = Path(__file__).resolve().parent / "example_env"

BROKEN = """
domain: travel
tasks:
  - id: wrong-price
    difficulty: easy
    request: What is the cheapest economy flight from Beijing to Sanya on 2026-12-20?
    checks: {answer: [{number: 1999}]}
    reference:
      - {call: search_flights, args: {origin: Beijing, destination: Sanya, date: '2026-12-20'}}
      - {answer: 'CA1113 at 2,080.00 CNY.'}
"""


def test_a_replay_that_passes_exits_0_and_writes_reports(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = run_errand(tmp_path, "eval", "--suite", str(EXAMPLE), "--replay", "--k", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pass^2" in proc.stdout and "library" in proc.stdout
    (folder,) = out.iterdir()
    assert {p.name for p in folder.iterdir()} == {"report.md", "report.json", "chart.png", "attempts.jsonl"}
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert data["meta"]["n"] == 2 and len(data["attempts"]) == 8
    # each attempt was written as it ended, so a stopped eval keeps what it measured
    lines = (folder / "attempts.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["task_id"] for line in lines) == sorted(
        a["task_id"] for a in data["attempts"]
    )
    assert data["summary"][-1]["passk"] == 1.0


def test_a_replay_that_fails_exits_1_and_shows_why(tmp_path: Path) -> None:
    suite = tmp_path / "broken.yaml"
    suite.write_text(BROKEN)
    proc = run_errand(tmp_path, "eval", "--suite", str(suite), "--replay", "--out", str(tmp_path / "r"))
    assert proc.returncode == 1
    assert "answer states 1999" in proc.stdout
    assert "search_flights" in proc.stdout  # the transcript
    assert "replay failed on 1 attempt(s)" in proc.stderr


def test_k_above_n_is_one_clear_line(tmp_path: Path) -> None:
    proc = run_errand(tmp_path, "eval", "--suite", str(EXAMPLE), "--replay", "--k", "3", "--n", "2")
    assert proc.returncode == 2
    assert "pass^k needs n >= k" in proc.stderr
