"""The evaluation harness: tasks in YAML, a runner over the real agent, pass^k reports.

`errand eval --suite builtin --k 3` runs the built-in suite; ``--replay`` runs each task's
reference solution instead of a model, which proves every task solvable and every check
right. See ``docs/eval.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Attempt": "errand.eval.runner",
    "RunConfig": "errand.eval.runner",
    "reference_model": "errand.eval.runner",
    "run_attempt": "errand.eval.runner",
    "run_tasks": "errand.eval.runner",
    "Suite": "errand.eval.catalog",
    "builtin_tasks": "errand.eval.catalog",
    "load_suite": "errand.eval.catalog",
    "Task": "errand.eval.tasks",
    "pass_hat_k": "errand.eval.passk",
    "task_pass_hat_k": "errand.eval.passk",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load on first use: ``errand`` imports the eval command with every call, the runner only for eval."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
