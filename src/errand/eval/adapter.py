"""Outside tool environments, tau-bench style: a JSON database, a module of tool functions, tasks.

A folder holds::

    db.json      the initial state, any JSON object
    tools.py     functions ``def get_order(data, order_id: str) -> ...``: the first parameter
                 is the database (a dict the function may change), the rest are the model's
                 arguments, typed and documented (Google-style docstring) like errand's tools
    tasks.json   (or tasks.yaml) tasks with reference actions:
                 ``{"id", "instruction", "actions": [{"name", "kwargs"}], "outputs": [...]}``
    env.yaml     optional: name, description, user, and ``risk: {tool: read|write|payment}``

A task passes when the database ends equal to the database after its reference actions,
and the answer states every output. Tasks written in errand's own format (with
``checks:`` and ``reference:``) work here too. Nothing in the runner knows which kind it runs.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, get_type_hints

import yaml

from errand.agent import CallInfo
from errand.errors import ConfigError
from errand.eval.checks import CheckResult
from errand.eval.clock import Frozen
from errand.eval.environment import Environment, World
from errand.eval.tasks import AnswerFact, Checks, RefStep, Task, check_unique, parse_tasks
from errand.tools import Tool, ToolContext, ToolRegistry
from errand.tools.base import Risk

_READ_PREFIXES = ("get_", "list_", "find_", "search_", "lookup_", "calculate", "check_", "think")
"""Tool names that only read, unless env.yaml says otherwise."""


@dataclass
class Manifest:
    """What env.yaml says (every field optional)."""

    name: str
    description: str = ""
    """One line saying what the environment's tools are for (the catalogue the model chooses from)."""
    user: str = "user"
    risk: dict[str, Risk] = field(default_factory=dict)
    db: str = "db.json"
    tools: str = "tools.py"
    tasks: str = ""


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"errand_eval_env_{name}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"Cannot import the tool module {path}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # typing.get_type_hints resolves names through the module
    spec.loader.exec_module(module)
    return module


def tool_functions(module: ModuleType) -> list[Callable[..., Any]]:
    """The module's ``TOOLS`` list, or else every public function it defines, in source order."""
    listed = getattr(module, "TOOLS", None)
    if listed is not None:
        return list(listed)
    found = [
        f
        for n, f in vars(module).items()
        if inspect.isfunction(f) and not n.startswith("_") and f.__module__ == module.__name__
    ]
    return sorted(found, key=lambda f: f.__code__.co_firstlineno)


def wrap(fn: Callable[..., Any], *, domain: str, risk: Risk) -> Tool:
    """An errand `Tool` for ``fn(data, **arguments)``: the database comes from the tool context."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if not params:
        raise ConfigError(f"{fn.__name__} must take the database as its first parameter.")
    hints = get_type_hints(fn)
    hints.pop(params[0].name, None)

    def call(ctx: ToolContext, **arguments: Any) -> Any:
        return fn(ctx.session, **arguments)

    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ToolContext)
    rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[1:]]
    call.__signature__ = sig.replace(parameters=[ctx_param, *rest])  # type: ignore[attr-defined]
    call.__annotations__ = {**hints, "ctx": ToolContext}
    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    return Tool(call, risk=risk, domain=domain)


class ExternalEnvironment(Environment):
    """Tools over an in-memory JSON database; each attempt gets a deep copy."""

    def __init__(self, manifest: Manifest, data: dict[str, Any], module: ModuleType) -> None:
        self.name = manifest.name
        self.manifest = manifest
        self.data = data
        self.functions = {f.__name__: f for f in tool_functions(module)}
        self.registry = ToolRegistry(
            wrap(f, domain=manifest.name, risk=manifest.risk.get(n) or _guess_risk(n))
            for n, f in self.functions.items()
        )
        self.descriptions = {manifest.name: manifest.description}
        self._expected: dict[str, dict[str, Any]] = {}

    def open(self, task: Task, workdir: Path, clock: Callable[[], datetime]) -> DataWorld:
        """A private deep copy of the database."""
        workdir.mkdir(parents=True, exist_ok=True)
        return DataWorld(self, task, workdir, copy.deepcopy(self.data), clock)

    def expected(self, task: Task) -> dict[str, Any]:
        """The database after the task's patch and reference calls, run directly (no agent)."""
        if task.id not in self._expected:
            world = DataWorld(self, task, Path("."), copy.deepcopy(self.data), Frozen())
            world.setup()
            for step in task.reference:
                if step.call is not None:
                    fn = self.functions.get(step.call)
                    if fn is None:
                        raise ConfigError(
                            f"task {task.id}: the reference calls {step.call!r}, which is no tool"
                        )
                    with contextlib.suppress(Exception):  # a reference call may fail on purpose
                        fn(world.data, **step.args)
            self._expected[task.id] = world.data
        return self._expected[task.id]


def _guess_risk(name: str) -> Risk:
    return "read" if name.startswith(_READ_PREFIXES) else "write"


class DataWorld(World):
    """One attempt's copy of the JSON database."""

    env: ExternalEnvironment

    def __init__(
        self,
        env: ExternalEnvironment,
        task: Task,
        workdir: Path,
        data: dict[str, Any],
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(env, task, workdir, clock)
        self.data = data

    def context(
        self, info: CallInfo, now: Callable[[], datetime] | None = None
    ) -> AbstractContextManager[ToolContext]:
        """The database is the context's ``session``; the clock is the attempt's (or ``now``)."""

        @contextmanager
        def opened() -> Iterator[ToolContext]:
            yield ToolContext(
                user=info.user,
                run_id=info.run_id,
                idempotency_key=info.idempotency_key,
                session=self.data,
                artifacts_dir=self.workdir,
                now=now or self.clock,
            )

        return opened()

    def snapshot(self) -> None:
        """Nothing to remember: the reference state is computed from the seed."""

    def state_checks(self) -> list[CheckResult]:
        """The database against the reference's; row and balance checks need the built-in services."""
        c = self.task.checks
        out = []
        if c.rows or c.balances or c.money_moved is not None:
            out.append(CheckResult("row, balance and money checks", False, "need the built-in services"))
        if c.state_matches_reference:
            want = self.env.expected(self.task)
            diffs = _diff(want, self.data)
            detail = "; ".join(diffs[:3]) + (f" (+{len(diffs) - 3} more)" if len(diffs) > 3 else "")
            out.append(CheckResult("database matches the reference's", not diffs, detail))
        return out


def _diff(want: Any, got: Any, path: str = "$") -> list[str]:
    """Where two JSON values differ, as paths (``$.orders.O1.status: 'pending' != 'cancelled'``)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(want) | set(got), key=str):
            if key not in got:
                out.append(f"{path}.{key} missing")
            elif key not in want:
                out.append(f"{path}.{key} unexpected")
            else:
                out += _diff(want[key], got[key], f"{path}.{key}")
        return out
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [
            d for i, (a, b) in enumerate(zip(want, got, strict=True)) for d in _diff(a, b, f"{path}[{i}]")
        ]
    return [] if want == got else [f"{path}: want {want!r}, got {got!r}"]


def _task_from_item(item: dict[str, Any], n: int, manifest: Manifest) -> dict[str, Any]:
    """An errand task (as data) from a tau-bench style item; errand-format items pass through."""
    base = {"domain": manifest.name, "user": manifest.user, "difficulty": "medium", "category": "errand"}
    if "checks" in item or "reference" in item:
        return base | item
    outputs = [str(o) for o in item.get("outputs", [])]
    actions = item.get("actions", [])
    reference = [
        RefStep(call=a["name"], args=a.get("kwargs", a.get("arguments", {}))).model_dump(
            exclude_defaults=True
        )
        for a in actions
    ]
    answer = item.get("answer") or ("Done. " + "; ".join(outputs)).strip()
    known = {"id", "instruction", "request", "actions", "outputs", "answer", "user_id", "annotator"}
    extra = {k: v for k, v in item.items() if k not in known}
    return (
        base
        | {"user": item.get("user_id", manifest.user)}
        | extra
        | {
            "id": str(item.get("id", f"{manifest.name}-{n}")),
            "request": item.get("request") or item.get("instruction") or "",
            "checks": Checks(
                answer=[AnswerFact(text=o) for o in outputs], state_matches_reference=True
            ).model_dump(exclude_defaults=True),
            "reference": [*reference, {"answer": answer}],
        }
    )


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from None


def is_environment(path: Path) -> bool:
    """Whether ``path`` is a folder in this adapter's shape."""
    return path.is_dir() and ((path / "env.yaml").exists() or (path / "tools.py").exists())


def load(path: Path) -> tuple[ExternalEnvironment, list[Task]]:
    """The environment in folder ``path`` and its tasks."""
    raw = _read(path / "env.yaml") if (path / "env.yaml").exists() else {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path / 'env.yaml'} must be a mapping.")
    fields: dict[str, Any] = {"name": path.name} | raw
    try:
        manifest = Manifest(**fields)
    except TypeError as exc:
        raise ConfigError(f"{path / 'env.yaml'}: {exc}") from None
    data = _read(path / manifest.db)
    if not isinstance(data, dict):
        raise ConfigError(f"{path / manifest.db} must hold a JSON object.")
    env = ExternalEnvironment(manifest, data, _load_module(path / manifest.tools, manifest.name))
    tasks_file = (
        path / manifest.tasks
        if manifest.tasks
        else next((p for p in (path / "tasks.json", path / "tasks.yaml") if p.exists()), path / "tasks.json")
    )
    items = _read(tasks_file)
    if isinstance(items, dict):
        items = items.get("tasks")
    if not isinstance(items, list):
        raise ConfigError(f"{tasks_file} must hold a list of tasks.")
    tasks = parse_tasks([_task_from_item(it, n, manifest) for n, it in enumerate(items)], str(tasks_file))
    return env, check_unique(tasks)
