"""The ``errand`` command, end to end in a subprocess, on the scripted model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli_process import errand_env, run_errand
from tests.images import text_image

HEADLINE = (
    "Find 3-bedroom homes in Hangzhou under 6 million yuan near a school rated 9 or better, "
    "and recommend the best value"
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("errand-home")


def errand(
    home: Path, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return run_errand(home, *args, env=env, stdin=stdin)


def script(home: Path, name: str, turns: list[Any]) -> dict[str, str]:
    path = home / f"{name}.json"
    path.write_text(json.dumps(turns), encoding="utf-8")
    return {"ERRAND_MODEL_BACKEND": "scripted", "ERRAND_SCRIPT_PATH": str(path)}


ANALYZE = {
    "tool": "analyze_listings",
    "arguments": {"city": "Hangzhou", "bedrooms": 3, "max_price": 6_000_000, "min_school_rating": 9},
}


def test_run_json_streams_events_and_saves_a_chart(home: Path) -> None:
    env = script(home, "headline", [ANALYZE, "The best value is the top-ranked listing, HZ-00446."])
    proc = errand(home, "run", "--json", HEADLINE, env=env)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all("type" in e for e in events)
    assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_finished"
    result = next(e for e in events if e["type"] == "tool_result")
    assert result["ok"], result["content"]
    (chart,) = result["artifacts"]
    assert Path(chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(chart).is_relative_to(home)
    assert events[-1]["artifacts"] == [chart]


def test_run_renders_steps_and_answer(home: Path) -> None:
    env = script(home, "render", [ANALYZE, "**Buy the first one, HZ-00446.**"])
    proc = errand(home, "run", HEADLINE, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "→ analyze_listings" in proc.stdout and "Buy the first one, HZ-00446." in proc.stdout
    assert "**" not in proc.stdout  # Markdown rendered, not printed raw
    assert "prompt tokens" in proc.stdout and "chart:" in proc.stdout


def test_confirmation_is_asked_at_the_prompt(home: Path) -> None:
    viewing = {
        "tool": "request_viewing",
        "arguments": {"listing_id": "HZ-00001", "date": "2099-01-05", "name": "Li Wei"},
    }
    env = script(home, "approve", [viewing, "Booked."])
    approved = errand(home, "run", "book a viewing of home HZ-00001 for Li Wei", env=env, stdin="y\n")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert "needs your approval" in approved.stdout and "HZ-00001" in approved.stdout
    assert "approved" in approved.stdout


def _waiting_run(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """``errand run --json`` of a viewing, once it waits for approval: the process and what it asked."""
    waiting = subprocess.Popen(
        [sys.executable, "-m", "errand", "run", "--json", "book a viewing of home HZ-00001 for Li Wei"],
        env=errand_env(home, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiting.stdout is not None
    asked = next(e for line in waiting.stdout if (e := json.loads(line))["type"] == "confirmation_required")
    return waiting, asked


def test_a_waiting_run_is_answered_from_another_terminal(home: Path) -> None:
    viewing = {
        "tool": "request_viewing",
        "arguments": {"listing_id": "HZ-00001", "date": "2099-01-06", "name": "Li Wei"},
    }
    env = script(home, "reject", [viewing, "Not booked."])
    waiting, asked = _waiting_run(home, env)
    try:
        wrong = errand(home, "runs", "approve", asked["run_id"], "--user", "mallory")
        assert wrong.returncode == 1 and "No run" in wrong.stderr
        answered = errand(home, "runs", "reject", asked["run_id"], "--note", "not that day")
        assert answered.returncode == 0, answered.stderr
        out, _ = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    events = [json.loads(line) for line in out.splitlines()]
    (result,) = [e for e in events if e["type"] == "tool_result"]
    assert not result["ok"] and "not that day" in result["content"]
    assert events[-1]["type"] == "run_finished" and waiting.returncode == 0
    shown = errand(home, "runs", "show", asked["run_id"])
    assert "succeeded" in shown.stdout and "Not booked." in shown.stdout


def test_an_answer_to_a_run_nobody_executes_says_how_to_carry_it_on(home: Path) -> None:
    viewing = {
        "tool": "request_viewing",
        "arguments": {"listing_id": "HZ-00001", "date": "2099-01-07", "name": "Li Wei"},
    }
    env = script(home, "orphan", [viewing, "Booked."])
    waiting, asked = _waiting_run(home, env)
    waiting.kill()  # the terminal that ran it is gone: nothing executes the run now
    waiting.communicate(timeout=30)
    run_id = asked["run_id"]
    approved = errand(home, "runs", "approve", run_id, env=env)
    assert approved.returncode == 0, approved.stderr
    assert f"errand runs resume {run_id}" in approved.stdout  # was: "goes on", and nothing did
    resumed = errand(home, "runs", "resume", run_id, "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1])["answer"].startswith("Booked.")


def test_a_long_request_is_read_from_standard_input(home: Path) -> None:
    env = script(home, "stdin", ["Read it all."])
    email = "Forwarded message:\n" + "Please find a 3-bedroom flat in Hangzhou. " * 200
    proc = errand(home, "run", "-", "--json", env=env, stdin=email)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[0]["input"] == email.strip() and events[-1]["answer"] == "Read it all."
    empty = errand(home, "run", "-", env=env, stdin="  \n")
    assert empty.returncode == 2 and "No request on standard input" in empty.stderr
    assert "Traceback" not in empty.stderr


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "in-memory"])
def test_an_image_s_text_reaches_the_model(home: Path, durable: bool) -> None:
    env = script(home, f"image-{durable}", ["The total is 128.50 CNY."])
    receipt = home / "receipt.png"
    receipt.write_bytes(text_image(["Receipt FO-000123", "Total: 128.50 CNY", "Date: 2026-12-07"]))
    memory = [] if durable else ["--in-memory"]
    proc = errand(home, "run", "--json", *memory, "--image", str(receipt), "what is the total?", env=env)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[0]["input"] == (
        "what is the total?\n\n"
        "[Image 1, text read by OCR:\nReceipt FO-000123\nTotal: 128.50 CNY\nDate: 2026-12-07\n]"
    )
    assert events[-1]["answer"] == "The total is 128.50 CNY."


def test_an_image_that_is_missing_or_not_an_image_is_one_line(home: Path) -> None:
    env = script(home, "no-image", ["Never asked."])
    (home / "notes.txt").write_text("not a picture")
    for path, says in [(home / "nope.png", "cannot read it"), (home / "notes.txt", "not an image file")]:
        proc = errand(home, "run", "--image", str(path), "what is the total?", env=env)
        assert proc.returncode == 2, proc.stderr
        assert f"--image {path}: {says}" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "run_" not in proc.stderr  # refused before a run was made


def test_chat_takes_an_image_with_its_first_message(home: Path) -> None:
    env = script(home, "chat-image", ["It says FO-000123.", "You are welcome."])
    receipt = home / "order.png"
    receipt.write_bytes(text_image(["Order FO-000123"]))
    proc = errand(home, "chat", "--image", str(receipt), env=env, stdin="what does it say?\nthanks\n\n")
    assert proc.returncode == 0, proc.stderr
    assert "It says FO-000123." in proc.stdout and "You are welcome." in proc.stdout


def test_bad_setting_is_one_clear_line(home: Path) -> None:
    proc = errand(home, "run", "x", env={"ERRAND_MAX_STEPS": "many"})
    assert proc.returncode == 2
    assert "ERRAND_MAX_STEPS" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_missing_model_file_is_one_clear_line(home: Path) -> None:
    proc = errand(home, "run", "--model", str(home / "nope.gguf"), "x")
    assert proc.returncode == 1
    assert "nope.gguf" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_unreachable_model_server_fails_the_run_clearly(home: Path) -> None:
    proc = errand(
        home,
        "run",
        "--json",
        "hello",
        env={"ERRAND_MODEL_URL": "http://127.0.0.1:9/v1", "ERRAND_MAX_WALL_S": "30"},
    )
    last = json.loads(proc.stdout.splitlines()[-1])
    assert proc.returncode == 1 and last["type"] == "run_failed" and last["kind"] == "model_error"
    assert "127.0.0.1:9" in last["reason"]


def test_unknown_model_name_without_server(home: Path) -> None:
    proc = errand(home, "run", "--model", "gpt-9", "x")
    assert proc.returncode == 2 and "ERRAND_MODEL_URL" in proc.stderr


def test_models_lists_the_bundled_models(home: Path) -> None:
    proc = errand(home, "models")
    assert proc.returncode == 0, proc.stderr
    assert "qwen2.5-coder-1.5b" in proc.stdout and "qwen2.5-coder-0.5b" in proc.stdout


def test_services_seed_and_reset(home: Path) -> None:
    seed = errand(home, "services", "seed")
    assert seed.returncode == 0 and "seeded" in seed.stdout
    reset = errand(home, "services", "reset", "--yes")
    assert reset.returncode == 0 and "reset" in reset.stdout


def test_chat_keeps_the_conversation(home: Path) -> None:
    env = script(home, "chat", [ANALYZE, "First answer: HZ-00446.", "Second answer."])
    proc = errand(home, "chat", env=env, stdin=f"{HEADLINE}\nand the second best home?\n\n")
    assert proc.returncode == 0, proc.stderr
    assert "First answer: HZ-00446." in proc.stdout and "Second answer." in proc.stdout
    assert proc.stdout.count("→ analyze_listings") == 1


def test_tools_list_shows_origin_risk_and_schema(home: Path) -> None:
    proc = errand(home, "tools", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    tools = {t["name"]: t for t in json.loads(proc.stdout)}
    assert tools["request_viewing"]["risk"] == "write" and tools["get_listing"]["risk"] == "read"
    assert tools["get_listing"]["origin"] == "builtin"
    assert tools["get_listing"]["parameters"]["required"] == ["listing_id"]


def test_tools_call_asks_before_a_write(home: Path) -> None:
    args = json.dumps({"listing_id": "HZ-00002", "date": "2099-02-01", "name": "Ann Lee"})
    refused = errand(home, "tools", "call", "request_viewing", "--args", args, stdin="n\n")
    assert refused.returncode == 1 and "nothing was done" in refused.stderr
    done = errand(home, "tools", "call", "request_viewing", "--args", args, "--yes")
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    again = json.loads(errand(home, "tools", "call", "request_viewing", "--args", args, "--yes").stdout)
    assert first["replayed"] is False and again["replayed"] is True  # same call, same key: booked once
    assert again["viewing_id"] == first["viewing_id"]


def test_tools_call_bad_input_is_one_line(home: Path) -> None:
    bad_json = errand(home, "tools", "call", "get_listing", "--args", "{nope")
    assert bad_json.returncode == 2 and "--args is not valid JSON" in bad_json.stderr
    bad_args = errand(home, "tools", "call", "get_listing", "--args", '{"listing": 1}')
    assert bad_args.returncode == 1 and "listing_id" in bad_args.stderr
    assert "Traceback" not in bad_json.stderr + bad_args.stderr


def test_services_show_lists_balances_and_bookings(home: Path) -> None:
    booking = {
        "tool": "book_train",
        "arguments": {"train_id": "G16-20270320-second", "passengers": ["Li Wei"]},
    }
    env = script(home, "train", [booking, "Booked."])
    ran = errand(home, "run", "--yes", "book the train G16-20270320-second for Li Wei", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    proc = errand(home, "services", "show")
    assert proc.returncode == 0, proc.stderr
    assert "Balances" in proc.stdout and "CNY" in proc.stdout
    assert "Travel bookings" in proc.stdout and "G16" in proc.stdout


def test_auto_approve_policy_must_be_an_amount(home: Path) -> None:
    proc = errand(home, "run", "x", env={"ERRAND_AUTO_APPROVE_BELOW": "fifty"})
    assert proc.returncode == 2 and "ERRAND_AUTO_APPROVE_BELOW" in proc.stderr and "50 CNY" in proc.stderr


def test_auto_approve_policy_pays_small_amounts_without_asking(home: Path) -> None:
    booking = {
        "tool": "book_train",
        "arguments": {"train_id": "G16-20270321-second", "passengers": ["Li Wei"]},
    }
    plan = {"structured": {"topic": "a train", "tools": ["book_train"], "verb": "book"}}
    env = script(home, "policy", [plan, booking, "Booked."]) | {"ERRAND_AUTO_APPROVE_BELOW": "500 CNY"}
    proc = errand(home, "run", "book the train G16-20270321-second for Li Wei", env=env, stdin="")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "auto-approved" in proc.stdout and "BK-" not in proc.stderr


def test_tools_call_shows_the_price_before_a_payment(home: Path) -> None:
    args = json.dumps({"train_id": "G16-20270322-second", "passengers": ["Li Wei"]})
    refused = errand(home, "tools", "call", "book_train", "--args", args, stdin="n\n")
    assert refused.returncode == 1 and "nothing was done" in refused.stderr
    assert "pay " in refused.stdout and "CNY from local's" in refused.stdout, refused.stdout


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--version"], 0, "errand 0."),
        (["nosuchcmd"], 2, "No such command 'nosuchcmd'"),
        (["run"], 2, "Missing argument"),
        (["run", "--max-steps", "x", "hi"], 2, "Invalid value"),
    ],
)
def test_usage_errors_are_a_few_lines_not_a_traceback(
    home: Path, args: list[str], code: int, says: str
) -> None:
    proc = errand(home, *args)
    assert proc.returncode == code, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert says in out and "Traceback" not in out
    assert len(out.strip().splitlines()) <= 8


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"ERRAND_DATABASE_URL": "garbage"}, "is not a database URL"),
        ({"ERRAND_DATABASE_URL": "mysql://x/y"}, "SQLite or PostgreSQL, not 'mysql'"),
        ({"ERRAND_DATABASE_URL": "sqlite:////proc/errand-test/x.db"}, "Cannot"),
        ({"ERRAND_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test"}, "Cannot open the database"),
        ({"ERRAND_AUTO_APPROVE_BELOW": "Infinity CNY"}, "positive, finite"),
        ({"ERRAND_MAX_STEPS": "0"}, "ERRAND_MAX_STEPS"),
    ],
)
def test_bad_settings_are_one_clear_error_not_a_traceback(home: Path, env: dict[str, str], says: str) -> None:
    for args in (["services", "show"], ["keys", "create", "--user", "x"]):
        proc = errand(home, *args, env=env)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2, out
        assert says in " ".join(out.split()) and "Traceback" not in out
        assert len(out.strip().splitlines()) <= 6


def test_errand_home_that_is_a_file_is_a_clear_error(home: Path) -> None:
    a_file = home / "not-a-folder"
    a_file.write_text("x")
    proc = errand(home, "services", "show", env={"ERRAND_HOME": str(a_file)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "ERRAND_HOME" in proc.stderr
