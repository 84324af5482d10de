"""The task format: what the user asks, the world they ask it in, and how the outcome is graded.

A task file is YAML: either a list of tasks, or a mapping with defaults for every task
(``domain``, ``difficulty``, ``category``, ``user``) and ``tasks:``. The fields are
described in ``docs/eval.md``; pydantic refuses unknown ones, so a typo in a check is
an error when the suite loads, not a check that silently never runs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from errand.errors import ConfigError

Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")
Category = Literal["lookup", "recommend", "errand", "change", "refuse", "ask"]
"""What kind of errand: a single lookup, a ranked recommendation, a multi-step errand, a change
to something done before (cancel, exchange, refund), or a case where the right move is to
refuse or to ask."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exactly_one(model: BaseModel, names: Sequence[str]) -> None:
    given = [n for n in names if getattr(model, n) not in (None, False)]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(names)} (got {', '.join(given) or 'none'})")


# ---- initial state ---------------------------------------------------------------------------


class SetBalance(_Strict):
    """Set a wallet balance exactly (a top-up or a withdrawal, so the ledger stays sound)."""

    user: str
    currency: str
    amount: Decimal
    """Whole units: ``200`` or ``12.50``."""


class SetLimit(_Strict):
    """Set (or with null remove) a daily spending limit."""

    user: str
    currency: str
    amount: Decimal | None


class UpdateRows(_Strict):
    """Change columns of existing rows: ``{table: sh_variants, where: {id: V-000123}, values: {stock: 0}}``.

    Matching no row is an error: a patch that changes nothing is a broken task."""

    table: str
    where: dict[str, Any]
    values: dict[str, Any]


class SetupCall(_Strict):
    """Run a real tool before the task starts (a booking made last week), as ``user`` at time ``at``."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    user: str | None = None
    """Whose call it is; the task's user by default."""
    at: datetime | None = None
    """The clock during the call (``2026-11-20T10:00:00+08:00``); the eval's now by default."""


class PatchOp(_Strict):
    """One change to the seeded state; exactly one field is set."""

    balance: SetBalance | None = None
    limit: SetLimit | None = None
    update: UpdateRows | None = None
    call: SetupCall | None = None

    @model_validator(mode="after")
    def _one(self) -> PatchOp:
        _exactly_one(self, ("balance", "limit", "update", "call"))
        return self


class InitialState(_Strict):
    """The environment's seed data plus a patch applied in order."""

    patch: list[PatchOp] = Field(default_factory=list)


# ---- confirmation policy ---------------------------------------------------------------------


class AutoApprove(_Strict):
    """Approve payments under an amount; anything else goes to ``otherwise``."""

    auto_approve_below: str
    """An amount like ``50 CNY``."""
    otherwise: Literal["approve", "reject"] = "reject"


Policy = Literal["approve", "reject", "none"] | AutoApprove
"""``approve`` all, ``reject`` all, ``none`` (no one to ask: the run stops at a confirmation),
or ``{auto_approve_below: "50 CNY"}``."""


# ---- checks ----------------------------------------------------------------------------------


class AnswerFact(_Strict):
    """Something the answer must state; exactly one of the fact fields is set."""

    text: str | None = None
    """Words that must appear (case and spacing ignored)."""
    name: str | None = None
    """A name that must appear (a hotel, a dish, a flight), matched like ``text``."""
    id: str | None = None
    """An identifier that must appear (``BK-000001``), matched like ``text``."""
    any: list[str] | None = None
    """At least one of these must appear (for refusals: "sold out", "no seats")."""
    number: float | None = None
    """A number that must appear, within ``tolerance`` (``1,234.00 CNY``, ``1234``, ``12.3万`` all read)."""
    tolerance: float = 0.01
    asks: bool = False
    """Some answer asks the user a question (``?``): for ambiguous requests."""
    computed: bool = False
    """The fact is worked out from tool results (a count, a sum), not quoted from one: a replay
    does not look for it in the results."""

    @model_validator(mode="after")
    def _one(self) -> AnswerFact:
        _exactly_one(self, ("text", "name", "id", "any", "number", "asks"))
        return self

    @property
    def kind(self) -> str:
        """Which fact field is set."""
        for k in ("text", "name", "id", "any", "number"):
            if getattr(self, k) is not None:
                return k
        return "asks"


class RowCheck(_Strict):
    """Rows that must (or must not) exist afterwards: ``count: 0`` means none may."""

    table: str
    where: dict[str, Any] = Field(default_factory=dict)
    """Column equals value; or ``{gt|gte|lt|lte|ne|in|like: value}``."""
    count: int | None = None
    """Exactly this many rows."""
    min_count: int | None = None
    """At least this many rows."""
    new: bool = False
    """Count only rows added during the attempt (tables with an integer ``id``)."""

    @model_validator(mode="after")
    def _one(self) -> RowCheck:
        if (self.count is None) == (self.min_count is None):
            raise ValueError("give exactly one of count, min_count")
        return self


class BalanceCheck(_Strict):
    """A wallet balance afterwards: changed by ``change``, or equal to ``equals`` (whole units)."""

    user: str | None = None
    """The task's user by default."""
    currency: str
    change: Decimal | None = None
    equals: Decimal | None = None

    @model_validator(mode="after")
    def _one(self) -> BalanceCheck:
        if (self.change is None) == (self.equals is None):
            raise ValueError("give exactly one of change, equals")
        return self


class Checks(_Strict):
    """Everything that must be true when the attempt ends; the attempt passes only if all are."""

    answer: list[AnswerFact] = Field(default_factory=list)
    rows: list[RowCheck] = Field(default_factory=list)
    balances: list[BalanceCheck] = Field(default_factory=list)
    not_called: list[str] = Field(default_factory=list)
    """Tools that must not be called at all (even if a call would have failed)."""
    money_moved: bool | None = None
    """``false``: no payment, refund or top-up may be recorded."""
    state_matches_reference: bool = False
    """The final state equals the state after the reference calls (external environments)."""


# ---- the reference solution ------------------------------------------------------------------


class RefStep(_Strict):
    """One step of the reference solution: a tool call, or an answer to the user."""

    call: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    answer: str | None = None

    @model_validator(mode="after")
    def _one(self) -> RefStep:
        _exactly_one(self, ("call", "answer"))
        return self


# ---- pictures sent with the request ----------------------------------------------------------


class Picture(_Strict):
    """A picture the user sends with the request (a receipt, a menu, a screenshot, a label),
    drawn at load time by `errand.eval.pictures` from these lines of text, so the suite holds
    no binary file and a reader sees what the picture says."""

    kind: Literal["receipt", "menu", "screenshot", "label"] = "screenshot"
    """How it is drawn: a narrow till roll, a menu card, an app screen or a product tag."""
    title: str
    """The first line, drawn larger (a merchant, a restaurant, an app's header)."""
    lines: list[str] = Field(min_length=1)
    """The text, top to bottom, copied from the seeded record it shows."""
    angle: float = 0.0
    """Degrees it is turned, as a photo taken askew (counter-clockwise)."""
    noise: float = Field(default=0.0, ge=0.0, le=0.2)
    """Share of pixels speckled, as a poor photo; the speckle is seeded by the text, so the
    same picture is drawn every time."""
    shows: list[str] = Field(min_length=1)
    """What the errand needs from the picture (an id, an amount, a dish): a replay fails
    unless the text read from the picture holds each one."""


# ---- the task --------------------------------------------------------------------------------


class Task(_Strict):
    """One errand to grade."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    split: Literal["dev", "test"] | None = None
    """Which half of a suite: ``dev`` is looked at and tuned on, ``test`` only reported
    (dealt once by ``scripts/split_suite.py`` and committed)."""
    domain: str
    difficulty: Difficulty
    category: Category = "lookup"
    user: str = "local"
    """Whose wallet, bookings and orders these are."""
    request: str
    """The user's first message."""
    images: list[Picture] = Field(default_factory=list)
    """Pictures sent with the first message; they reach the model as every front end sends
    them (`errand.runs.request.build_request`: text read by OCR unless the model sees images)."""
    replies: list[str] = Field(default_factory=list)
    """The user's scripted answers, sent one per agent answer, in order (multi-turn tasks)."""
    state: InitialState = Field(default_factory=InitialState)
    confirm: Policy = "approve"
    checks: Checks
    reference: list[RefStep]
    """Tool calls that solve the task, and the answer to each user message."""
    notes: str = ""
    """Why the task is shaped as it is (for people reading the suite)."""

    @model_validator(mode="after")
    def _reference(self) -> Task:
        answers = sum(1 for s in self.reference if s.answer is not None)
        if not self.reference or self.reference[-1].answer is None:
            raise ValueError("the reference must end with an answer")
        if answers != 1 + len(self.replies):
            raise ValueError(
                f"the reference answers {answers} times but the user speaks {1 + len(self.replies)} times"
            )
        return self

    @property
    def messages(self) -> list[str]:
        """What the user says, in order."""
        return [self.request, *self.replies]


def parse_tasks(data: Any, source: str) -> list[Task]:
    """Tasks from parsed YAML: a list, or ``{defaults..., tasks: [...]}``."""
    defaults: dict[str, Any] = {}
    items = data
    if isinstance(data, dict):
        defaults = {k: v for k, v in data.items() if k != "tasks"}
        items = data.get("tasks")
    if not isinstance(items, list):
        raise ConfigError(f"{source}: expected a list of tasks or a mapping with 'tasks:'.")
    out = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: task {n} is not a mapping.")
        try:
            out.append(Task.model_validate(defaults | item))
        except ValidationError as exc:
            name = item.get("id", f"#{n}")
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{source}: task {name}: {problems}") from None
    return out


def load_task_file(path: Path) -> list[Task]:
    """Every task in one YAML file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read the task file {path}: {exc}") from None
    return parse_tasks(data, str(path))


def check_unique(tasks: Iterable[Task]) -> list[Task]:
    """The tasks, refusing two with one id (reports and filters key on it)."""
    seen: set[str] = set()
    out = []
    for t in tasks:
        if t.id in seen:
            raise ConfigError(f"Two tasks have the id {t.id!r}; ids must be unique in a suite.")
        seen.add(t.id)
        out.append(t)
    return out


def select(tasks: Sequence[Task], pattern: str | None) -> list[Task]:
    """Tasks matching ``pattern``: comma-separated globs on the id, or a domain, difficulty,
    category or split (``dev``, ``test``); ``test+travel`` needs both."""
    if not pattern:
        return list(tasks)
    parts = [p.strip() for p in pattern.split(",") if p.strip()]

    def matches(t: Task, part: str) -> bool:
        return all(
            fnmatch.fnmatchcase(t.id, p) or p in (t.domain, t.difficulty, t.category, t.split)
            for p in part.split("+")
        )

    return [t for t in tasks if any(matches(t, p) for p in parts)]


def stratified(tasks: Sequence[Task], n: int) -> list[Task]:
    """About ``n`` tasks spread like the suite over domain x difficulty (at least one of each), and
    over kinds of errand as evenly as the groups allow, so a subset measures what the whole would."""
    groups: dict[tuple[str, str], list[Task]] = {}
    for t in tasks:
        groups.setdefault((t.domain, t.difficulty), []).append(t)
    share = n / max(len(tasks), 1)
    total = {c: sum(t.category == c for t in tasks) for c in {t.category for t in tasks}}
    taken = dict.fromkeys(total, 0)
    chosen: set[str] = set()
    for members in groups.values():
        left = list(members)
        for _ in range(min(len(members), max(1, round(len(members) * share)))):
            # the kind of errand least represented so far, first in file order on ties
            pick = min(left, key=lambda t: taken[t.category] / total[t.category])
            left.remove(pick)
            taken[pick.category] += 1
            chosen.add(pick.id)
    return [t for t in tasks if t.id in chosen]
