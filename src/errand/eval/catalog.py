"""Find a suite by name or path: the built-in one, YAML tasks on the built-in services, or an outside
environment folder (`errand.eval.adapter`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import yaml

from errand.errors import ConfigError
from errand.eval import adapter
from errand.eval.builtin import BuiltinEnvironment
from errand.eval.environment import Environment
from errand.eval.tasks import Task, check_unique, load_task_file, parse_tasks

BUILTIN = "builtin"
ORDER = ("realestate", "travel", "food", "shop", "wallet")
"""The built-in suite's files in the order `errand.services.builtin_domains` lists the domains."""


@dataclass
class Suite:
    """Tasks and the environment they run in."""

    name: str
    tasks: list[Task]
    make_env: Callable[[], Environment]


def builtin_tasks() -> list[Task]:
    """The built-in suite, from the YAML files shipped in ``errand/eval/suites/builtin``."""
    folder = files("errand.eval") / "suites" / BUILTIN
    tasks: list[Task] = []
    found = [p for p in folder.iterdir() if p.name.endswith(".yaml")]
    rank = {name: i for i, name in enumerate(ORDER)}
    for f in sorted(found, key=lambda p: (rank.get(p.name.removesuffix(".yaml"), len(ORDER)), p.name)):
        tasks += parse_tasks(yaml.safe_load(f.read_text(encoding="utf-8")), f"{BUILTIN}/{f.name}")
    return check_unique(tasks)


def load_suite(spec: str) -> Suite:
    """``builtin``, a YAML task file or folder of them (built-in services), or an environment folder."""
    if spec == BUILTIN:
        return Suite(BUILTIN, builtin_tasks(), BuiltinEnvironment)
    path = Path(spec)
    if adapter.is_environment(path):
        env, tasks = adapter.load(path)
        return Suite(env.name, tasks, lambda: env)
    if path.is_dir():
        found = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
        if not found:
            raise ConfigError(f"{path} holds no *.yaml task files and is no environment (tools.py, db.json).")
        return Suite(path.name, check_unique(t for f in found for t in load_task_file(f)), BuiltinEnvironment)
    if path.is_file():
        return Suite(path.stem, check_unique(load_task_file(path)), BuiltinEnvironment)
    raise ConfigError(
        f"No suite {spec!r}: use 'builtin', a YAML task file, a folder of them, or an environment folder."
    )
