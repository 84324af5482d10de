"""Reports: the summary rows, the Markdown with failures and transcripts, the JSON, the chart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from errand.eval import report
from errand.eval.checks import CheckResult
from errand.eval.runner import Attempt


def _attempts() -> list[Attempt]:
    out = []
    for i, ok in enumerate([True, True, False]):  # task a: 2 of 3
        checks = [] if ok else [CheckResult("1 row(s) in tr_bookings where item_id=G16", False, "found 0")]
        out.append(
            Attempt(
                "a",
                "travel",
                "easy",
                "lookup",
                i,
                passed=ok,
                checks=checks,
                steps=2,
                prompt_tokens=100,
                wall_s=1.0,
            )
        )
    for i in range(3):  # task b: 3 of 3
        out.append(
            Attempt(
                "b", "travel", "hard", "errand", i, passed=True, steps=4, completion_tokens=50, wall_s=3.0
            )
        )
    for i in range(3):  # task c: 0 of 3
        out.append(
            Attempt(
                "c",
                "food",
                "easy",
                "refuse",
                i,
                failure="timed out after 5 s" if i == 0 else None,
                checks=[CheckResult("answer states id 'FO-000001'", False, "not in the answer")],
                transcript=[
                    {"user": "Order lunch"},
                    {"call": "get_menu", "args": {"restaurant_id": "SZ-R023"}},
                    {"answer": "Done."},
                ],
            )
        )
    return out


def _row(rows: list[report.Row], domain: str, difficulty: str) -> report.Row:
    return next(r for r in rows if (r.domain, r.difficulty) == (domain, difficulty))


def test_rows_give_pass_hat_1_and_k_per_group() -> None:
    rows = report.summarize(_attempts(), k=2)
    everything = rows[-1]
    assert (everything.domain, everything.difficulty, everything.tasks, everything.attempts) == (
        "all",
        "all",
        3,
        9,
    )
    assert everything.pass1 == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert everything.passk == pytest.approx((1 / 3 + 1 + 0) / 3)  # C(2,2)/C(3,2) = 1/3 for task a
    travel_easy = _row(rows, "travel", "easy")
    assert travel_easy.pass1 == pytest.approx(2 / 3)
    assert travel_easy.passk == pytest.approx(1 / 3)
    assert travel_easy.steps == 2.0
    assert _row(rows, "all", "easy").tasks == 2
    assert _row(rows, "food", "all").pass1 == 0.0
    assert _row(rows, "travel", "all").tokens == pytest.approx(75.0)
    assert (
        report.summarize(_attempts(), k=4)[-1].passk != report.summarize(_attempts(), k=4)[-1].passk
    )  # NaN: n < k


def test_a_reasoning_models_tokens_per_step_are_split_into_thinking_and_answer(tmp_path: Path) -> None:
    thinking = [
        Attempt(
            "t",
            "travel",
            "easy",
            "lookup",
            i,
            passed=True,
            steps=2,
            completion_tokens=500,
            reasoning_tokens=400,
        )
        for i in range(2)
    ]
    rows = report.summarize(thinking, k=1)
    assert (rows[-1].thinking, rows[-1].answer) == (200.0, 50.0)  # per step: 400/2 and (500-400)/2
    meta = report.Meta("builtin", "qwq", 1, 2, False, "2026-11-29T12:00:00+08:00", 1.0, 1, 300.0, 1)
    md = report.markdown(meta, rows, thinking, None)
    assert "| thinking/step | answer/step |" in md and "| 200 | 50 |" in md
    assert json.loads(json.dumps(report.to_json(meta, rows, thinking)))["summary"][-1]["thinking"] == 200.0
    assert [c.header for c in report.table(rows, 1).columns][-2:] == ["thinking/step", "answer/step"]
    # A model that does not think: no columns of zeros.
    plain = report.summarize(_attempts(), k=2)
    assert "thinking/step" not in report.markdown(meta, plain, _attempts(), None)
    assert "thinking/step" not in [c.header for c in report.table(plain, 2).columns]


def test_failure_causes_are_counted() -> None:
    assert report.causes(_attempts()) == [
        ("answer misses a fact", 2),
        ("wrong rows (booking/order not made, or made wrongly)", 1),
        ("timed out", 1),
    ]


def test_written_reports_show_failures_with_transcripts(tmp_path: Path) -> None:
    meta = report.Meta("builtin", "scripted", 2, 3, False, "2026-11-29T12:00:00+08:00", 12.0, 1, 300.0, 3)
    paths = report.write(meta, _attempts(), tmp_path / "out")
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| **all** | **all** | 3 |" in md and "pass^2" in md
    assert "### c (attempt 1; food, easy)" in md
    assert "- **timed out after 5 s**" in md
    assert "- failed: answer states id 'FO-000001' — not in the answer" in md
    assert '→ get_menu {"restaurant_id": "SZ-R023"}' in md and "= Done." in md
    assert "### a (attempt 3; travel, easy)" in md and "### b (" not in md
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["meta"]["k"] == 2 and len(data["attempts"]) == 9
    assert data["summary"][-1]["pass1"] == pytest.approx(5 / 9)
    assert paths["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_kinds_and_the_answers_language_are_reported() -> None:
    def attempt(task: str, kind: str, ok: bool, request: str, answer: str) -> Attempt:
        return Attempt(
            task, "food", "easy", kind, 0, passed=ok, answers=[answer], transcript=[{"user": request}]
        )

    attempts = [
        attempt("a", "lookup", True, "最便宜的川菜馆？", "最便宜的是 SH-R013。"),
        attempt("b", "lookup", False, "cheapest sichuan place?", "SH-R013 is the cheapest."),
        attempt("c", "errand", True, "帮我点外卖", "Ordered FO-000001."),  # English answer to Chinese
    ]
    kinds = {r.difficulty: r.pass1 for r in report.by_kind(attempts, 1)}
    assert kinds == {"lookup": 0.5, "errand": 1.0}
    assert report.language_matches(attempts) == (2, 3)
