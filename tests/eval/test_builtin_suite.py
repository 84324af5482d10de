"""The built-in suite: big enough, spread over every domain and kind of errand, and every task
solvable, with every check right: its reference solution passes through the real tools."""

from __future__ import annotations

import asyncio
import tomllib
from collections import Counter
from pathlib import Path

from errand.eval.builtin import BuiltinEnvironment
from errand.eval.catalog import builtin_tasks
from errand.eval.runner import RunConfig, reference_model, run_tasks
from errand.eval.tasks import DIFFICULTIES
from errand.services import builtin_domains

ROOT = Path(__file__).resolve().parents[2]


def test_the_suite_covers_every_domain_difficulty_and_kind() -> None:
    tasks = builtin_tasks()
    assert len(tasks) >= 80
    domains = Counter(t.domain for t in tasks)
    assert set(domains) == {d.name for d in builtin_domains()}
    assert min(domains.values()) >= 12
    assert set(Counter(t.difficulty for t in tasks)) == set(DIFFICULTIES)
    kinds = Counter(t.category for t in tasks)
    assert set(kinds) == {"lookup", "recommend", "errand", "change", "refuse", "ask"}
    assert kinds["refuse"] + kinds["ask"] >= 15
    assert any(t.replies for t in tasks), "no multi-turn task"
    assert any(t.state.patch for t in tasks), "no task with a patched initial state"
    assert {str(t.confirm) for t in tasks} >= {"approve", "reject"}


def test_the_suite_ships_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "eval/suites/builtin/*.yaml" in config["tool"]["setuptools"]["package-data"]["errand"]


def test_every_reference_solution_passes(env: BuiltinEnvironment) -> None:
    tasks = builtin_tasks()
    attempts = asyncio.run(run_tasks(tasks, env, reference_model, RunConfig(replay=True, jobs=2)))
    failed = {
        a.task_id: a.failure or "; ".join(f"{c.name}: {c.detail}" for c in a.failed_checks)
        for a in attempts
        if not a.passed
    }
    assert not failed
    assert len(attempts) == len(tasks)
