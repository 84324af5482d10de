"""The task format: what loads, what is refused with a clear message, and how tasks are picked."""

from __future__ import annotations

from pathlib import Path

import pytest

from errand.errors import ConfigError
from errand.eval.catalog import load_suite
from errand.eval.tasks import load_task_file, parse_tasks, select
from tests.eval.conftest import make_task

GOOD = """
domain: travel
difficulty: easy
tasks:
  - id: a
    request: Cheapest flight from Beijing to Sanya on 2026-12-20?
    checks: {answer: [{id: CA1113}], not_called: [book_flight]}
    reference:
      - {call: search_flights, args: {origin: Beijing, destination: Sanya, date: '2026-12-20'}}
      - {answer: CA1113.}
  - id: b
    difficulty: hard
    category: ask
    request: Book me a flight.
    replies: [From Beijing.]
    checks: {answer: [{asks: true}]}
    reference: [{answer: 'From where?'}, {answer: 'Which day?'}]
"""


def test_a_file_with_defaults_loads(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(GOOD)
    a, b = load_task_file(f)
    assert (a.domain, a.difficulty, a.category) == ("travel", "easy", "lookup")
    assert (b.difficulty, b.category, b.messages) == ("hard", "ask", ["Book me a flight.", "From Beijing."])
    assert a.checks.answer[0].kind == "id" and a.checks.not_called == ["book_flight"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"checks": {"answer": [{"idd": "x"}]}}, "Extra inputs are not permitted"),
        ({"checks": {"answer": [{"id": "x", "number": 3}]}}, "exactly one of"),
        ({"checks": {"rows": [{"table": "tr_bookings"}]}}, "exactly one of count, min_count"),
        ({"reference": [{"call": "search_flights"}]}, "must end with an answer"),
        ({"replies": ["yes"]}, "answers 1 times but the user speaks 2 times"),
        ({"id": "Bad Id"}, "String should match pattern"),
        ({"confirm": "maybe"}, "confirm"),
    ],
)
def test_mistakes_are_refused_with_the_task_named(change: dict[str, object], message: str) -> None:
    item = {
        "id": "x",
        "domain": "d",
        "difficulty": "easy",
        "request": "r",
        "checks": {},
        "reference": [{"answer": "a"}],
    }
    with pytest.raises(ConfigError, match=message) as err:
        parse_tasks([item | change], "f.yaml")
    assert "f.yaml: task" in str(err.value)


def test_duplicate_ids_and_unknown_suites_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "dup.yaml"
    f.write_text(GOOD.replace("id: b", "id: a"))
    with pytest.raises(ConfigError, match="Two tasks have the id 'a'"):
        load_suite(str(f))
    with pytest.raises(ConfigError, match="No suite"):
        load_suite(str(tmp_path / "nothing-here"))


def test_select_by_glob_domain_difficulty_or_category() -> None:
    tasks = [
        make_task(id="tr-one"),
        make_task(id="tr-two", difficulty="hard"),
        make_task(id="fd-one", domain="food", category="refuse"),
    ]

    def ids(pattern: str | None) -> list[str]:
        return [t.id for t in select(tasks, pattern)]

    assert ids(None) == ["tr-one", "tr-two", "fd-one"]
    assert ids("tr-*") == ["tr-one", "tr-two"]
    assert ids("food") == ["fd-one"]
    assert ids("hard, refuse") == ["tr-two", "fd-one"]
    assert ids("nope") == []


def test_a_stratified_sample_keeps_every_group_and_kind() -> None:
    from errand.eval.catalog import builtin_tasks
    from errand.eval.tasks import stratified

    tasks = builtin_tasks()
    sample = stratified(tasks, 20)
    assert 15 <= len(sample) <= 25
    assert {(t.domain, t.difficulty) for t in sample} == {(t.domain, t.difficulty) for t in tasks}
    assert {t.category for t in sample} == {t.category for t in tasks}
    assert [t.id for t in sample] == [t.id for t in tasks if t in sample]  # suite order kept
    assert stratified(tasks, len(tasks)) == tasks
