"""``errand chat`` is a thread of durable runs: the agent asks, the next message answers, and the
conversation goes on after the process ends (``--thread``)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_process import run_errand
from tests.runs.test_threads import ASK_THEN_BOOK, BOOKED


def test_chat_answers_the_agents_question_in_its_thread_and_books_once(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([*ASK_THEN_BOOK, "You are welcome."]), encoding="utf-8")
    env = {"ERRAND_MODEL_BACKEND": "scripted", "ERRAND_SCRIPT_PATH": str(script)}
    home = tmp_path / "home"
    first = run_errand(home, "chat", env=env, stdin="Book flight CA1101 on 2027-01-15.\nDave Chen\ny\n\n")
    assert first.returncode == 0, first.stderr
    assert "Who is flying?" in first.stdout and BOOKED in first.stdout
    assert first.stdout.count("BK-000001") >= 1 and "BK-000002" not in first.stdout
    thread = next(line.split()[1] for line in first.stderr.splitlines() if line.startswith("thread "))
    listed = run_errand(home, "runs", "list", env=env).stdout
    assert listed.count("succeeded") == 2
    # A later process goes on with the same conversation: the script's next turn is played.
    again = run_errand(home, "chat", "--thread", thread, env=env, stdin="thanks\n\n")
    assert again.returncode == 0, again.stderr
    assert "You are welcome." in again.stdout and "thread " not in again.stderr
    missing = run_errand(home, "chat", "--thread", "thr_nosuchthread", env=env, stdin="hi\n\n")
    assert missing.returncode != 0 and "No thread thr_nosuchthread" in missing.stderr
