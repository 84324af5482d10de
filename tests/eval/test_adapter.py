"""Outside environments in the tau-bench shape: the example library runs without runner changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from errand.eval import adapter
from errand.eval.catalog import load_suite
from errand.eval.runner import RunConfig, reference_model, run_tasks
from errand.llm.scripted import ScriptedModel, call
from tests.eval.conftest import attempt

EXAMPLE = Path(__file__).resolve().parent / "example_env"


def test_the_folder_becomes_an_environment_and_tasks() -> None:
    env, tasks = adapter.load(EXAMPLE)
    assert env.name == "library"
    assert {t.name: t.risk for t in env.registry} == {
        "get_member": "read",
        "search_books": "read",
        "borrow_book": "write",
        "return_book": "write",
    }
    schema = env.registry.get("borrow_book").parameters  # type: ignore[union-attr]
    assert set(schema["properties"]) == {"member_id", "book_id"}  # the database is not an argument
    assert schema["properties"]["book_id"]["description"].startswith("Book id like B1")
    borrow = tasks[0]
    assert (borrow.id, borrow.domain, borrow.user) == ("lib-borrow-dune", "library", "M1")
    assert borrow.checks.state_matches_reference and [f.text for f in borrow.checks.answer] == ["B1"]
    assert [s.call for s in borrow.reference] == ["search_books", "borrow_book", None]
    assert tasks[1].user == "M2" and tasks[3].category == "refuse"


def test_every_reference_solution_passes() -> None:
    suite = load_suite(str(EXAMPLE))
    env = suite.make_env()
    attempts = asyncio.run(run_tasks(suite.tasks, env, reference_model, RunConfig(replay=True)))
    assert [a.task_id for a in attempts if not a.passed] == []
    assert all("database matches the reference's" in [c.name for c in a.checks] for a in attempts)


def test_a_wrong_state_fails_with_where_it_differs() -> None:
    env, tasks = adapter.load(EXAMPLE)
    model = ScriptedModel(
        [
            call("search_books", query="Dune"),
            call("borrow_book", member_id="M1", book_id="B4"),
            "Done: B1 is yours.",
        ]
    )
    a = attempt(tasks[0], env, model)
    assert not a.passed
    (bad,) = a.failed_checks
    assert bad.name == "database matches the reference's"
    assert "$.books.B1.copies: want 0, got 1" in bad.detail
    assert "$.members.M1.loans" in bad.detail


def test_the_reference_state_is_computed_on_a_copy() -> None:
    env, tasks = adapter.load(EXAMPLE)
    after = env.expected(tasks[0])
    assert after["members"]["M1"]["loans"] == ["B1"] and after["books"]["B1"]["copies"] == 0
    assert env.data["members"]["M1"]["loans"] == [] and env.data["books"]["B1"]["copies"] == 1
