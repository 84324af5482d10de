"""The built-in services as an eval environment: one seeded SQLite template, copied per attempt.

Seeding takes seconds; copying the seeded file takes milliseconds, so each attempt
starts from exactly the seed (plus its task's patch) without paying for it.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from sqlalchemy import update

from errand.agent import CallInfo
from errand.config import Settings
from errand.db.engine import make_engine, session_factory
from errand.errors import ConfigError
from errand.eval import checks
from errand.eval.checks import CheckResult
from errand.eval.environment import Environment, World
from errand.eval.tasks import PatchOp, SetBalance, SetLimit, Task, UpdateRows
from errand.runtime import tool_context
from errand.services import builtin_domains, builtin_registry
from errand.services.store import ServiceStore
from errand.services.wallet import ledger
from errand.tools import ToolContext

WITHDRAWAL = "wallet:withdrawal"
"""Merchant a setup withdrawal pays, so lowering a balance stays a sound ledger entry."""


class BuiltinEnvironment(Environment):
    """Real estate, travel, food, shop and wallet, as `errand run` has them."""

    name = "builtin"

    def __init__(self, root: Path | None = None) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="errand-eval-")) if root is None else root
        self.registry = builtin_registry()
        self.descriptions = {d.name: d.description for d in builtin_domains()}
        self._template: Path | None = None
        self._lock = threading.Lock()

    def template(self) -> Path:
        """The seeded database every attempt copies (built on first use, once)."""
        with self._lock:
            if self._template is None:
                path = self.root / "template.db"
                store = ServiceStore.open(f"sqlite:///{path}")
                store.close()
                con = sqlite3.connect(path)  # fold the write-ahead log in: the copy is one file
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                con.execute("PRAGMA journal_mode=DELETE")
                con.close()
                self._template = path
            return self._template

    def open(self, task: Task, workdir: Path, clock: Callable[[], datetime]) -> ServicesWorld:
        """A private copy of the seeded database for one attempt."""
        workdir.mkdir(parents=True, exist_ok=True)
        db = workdir / "services.db"
        shutil.copyfile(self.template(), db)
        return ServicesWorld(self, task, workdir, db, clock)

    def close(self) -> None:
        """Delete the template (and the attempts' folders) when this environment made the folder."""
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)


class ServicesWorld(World):
    """One attempt's services database."""

    def __init__(
        self, env: BuiltinEnvironment, task: Task, workdir: Path, db: Path, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(env, task, workdir, clock)
        # The copy is of a migrated, seeded template: no migration check or seeding to run again.
        engine = make_engine(f"sqlite:///{db}")
        self.store = ServiceStore(engine=engine, sessions=session_factory(engine))
        # Only the charts folder is read from these; built without the environment's ERRAND_* values.
        self.settings = Settings.model_construct(home=workdir, database_url=f"sqlite:///{db}")
        self._balances: dict[tuple[str, str], int] = {}
        self._ids: dict[str, int] = {}
        self._transactions = 0

    def context(
        self, info: CallInfo, now: Callable[[], datetime] | None = None
    ) -> AbstractContextManager[ToolContext]:
        """The same per-call transaction `errand run` gives a tool, under the attempt's clock."""
        return tool_context(
            self.store,
            self.settings,
            user=info.user,
            run_id=info.run_id,
            idempotency_key=info.idempotency_key,
            now=now or self.clock,
        )

    def apply(self, n: int, op: PatchOp) -> None:
        """Balances, limits and row updates here; setup calls in the base class."""
        if op.balance is not None:
            self._set_balance(n, op.balance)
        elif op.limit is not None:
            self._set_limit(op.limit)
        elif op.update is not None:
            self._update(op.update)
        else:
            super().apply(n, op)

    def _set_balance(self, n: int, op: SetBalance) -> None:
        cur = op.currency.upper()
        want = checks.minor(op.amount, cur)
        at = self.clock()
        with self.store.sessions() as s, s.begin():
            diff = want - ledger.balance(s, op.user, cur)
            if diff > 0:
                ledger.top_up(s, user=op.user, amount=diff, currency=cur, memo="Top-up from card", at=at)
            elif diff < 0:
                # A withdrawal is a payment to the bank; lift the daily limit for it, then put it back.
                limit = ledger.daily_limits(s, op.user, at=at).get(cur)
                ledger.set_daily_limit(s, user=op.user, currency=cur, amount=None)
                ledger.pay(
                    s,
                    user=op.user,
                    amount=-diff,
                    currency=cur,
                    merchant=WITHDRAWAL,
                    memo="Withdrawal to card",
                    idempotency_key=f"setup:{self.task.id}:{n}",
                    at=at,
                )
                if limit is not None:
                    ledger.set_daily_limit(s, user=op.user, currency=cur, amount=limit[0])

    def _set_limit(self, op: SetLimit) -> None:
        cur = op.currency.upper()
        amount = None if op.amount is None else checks.minor(op.amount, cur)
        with self.store.sessions() as s, s.begin():
            ledger.set_daily_limit(s, user=op.user, currency=cur, amount=amount)

    def _update(self, op: UpdateRows) -> None:
        t = checks.table(op.table)
        values = {k: checks.coerce(t, k, v) for k, v in op.values.items()}
        for k in values:
            if k not in t.c:
                raise KeyError(f"table {t.name} has no column {k!r}")
        with self.store.sessions() as s, s.begin():
            res = s.execute(update(t).where(*checks.conditions(t, op.where)).values(values))
            if not res.rowcount:  # type: ignore[attr-defined]
                raise ConfigError(f"the update of {op.table} where {op.where} matched no row")

    def snapshot(self) -> None:
        """Balances the balance checks compare against, ledger size, and the newest row ids."""
        c = self.task.checks
        with self.store.sessions() as s:
            for b in c.balances:
                user, cur = b.user or self.task.user, b.currency.upper()
                self._balances[(user, cur)] = ledger.balance(s, user, cur)
            for r in c.rows:
                if r.new:
                    self._ids[r.table] = checks.max_id(s, r.table)
            self._transactions = checks.transaction_count(s)

    def state_checks(self) -> list[CheckResult]:
        """Rows, balances, money moved, and the ledger's soundness."""
        c = self.task.checks
        out: list[CheckResult] = []
        if c.state_matches_reference:
            out.append(
                CheckResult("state matches the reference", False, "not supported on built-in services")
            )
        with self.store.sessions() as s:
            for r in c.rows:
                out.append(checks.row_check(s, r, self._ids.get(r.table) if r.new else None))
            for b in c.balances:
                user = b.user or self.task.user
                out.append(checks.balance_check(s, b, user, self._balances[(user, b.currency.upper())]))
            if c.money_moved is not None:
                out.append(checks.money_check(s, c.money_moved, self._transactions))
            out.append(checks.ledger_check(s))
        return out

    def close(self) -> None:
        """Release the connection pool."""
        self.store.close()
