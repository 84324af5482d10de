"""Fixtures for the eval harness: one seeded template for the session, and small task builders."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from errand.eval.builtin import BuiltinEnvironment
from errand.eval.environment import Environment
from errand.eval.runner import Attempt, RunConfig, run_tasks
from errand.eval.tasks import Task
from errand.llm.base import ChatModel


@pytest.fixture(scope="session")
def env() -> Iterator[BuiltinEnvironment]:
    """The built-in services, seeded once; every attempt copies the template."""
    e = BuiltinEnvironment()
    e.template()
    yield e
    e.close()


def make_task(**fields: Any) -> Task:
    """A valid task with the fields given (the rest are harmless defaults)."""
    base: dict[str, Any] = {
        "id": "t",
        "domain": "travel",
        "difficulty": "easy",
        "request": "Which trains run from Shanghai to Hangzhou on 2026-12-05?",
        "checks": {},
        "reference": [{"answer": "G16."}],
    }
    return Task.model_validate(base | fields)


def attempt(task: Task, env: Environment, model: ChatModel, **config: Any) -> Attempt:
    """One graded attempt through the real runner (frozen clock, fresh world)."""
    (out,) = asyncio.run(run_tasks([task], env, lambda _t: model, RunConfig(**config)))
    return out
