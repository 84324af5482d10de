"""The wallet: a double-entry ledger where money never appears, disappears or is charged twice.

Every test that takes `wallet` runs on SQLite and, with ERRAND_TEST_POSTGRES_URL set, on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services import builtin_domains
from errand.services.clock import LOCAL
from errand.services.store import ServiceStore
from errand.services.wallet import DOMAIN, ledger, tools
from errand.services.wallet.ledger import (
    IdempotencyConflict,
    InsufficientFunds,
    RefundNotAllowed,
    SpendingLimitExceeded,
    balance,
    ledger_problems,
    ledger_sum,
    pay,
    refund,
    top_up,
)
from errand.services.wallet.models import Account, Entry, LedgerTransaction
from errand.services.wallet.seed import build_rows
from errand.tools import ToolContext

CNY = 100
"""Minor units in one yuan."""
AT = datetime(2026, 12, 20, 12, 0, tzinfo=LOCAL)
"""When the tests' payments, refunds and top-ups happen (the wallet dates each by its ``at``)."""
DAY_ONE = datetime(2026, 12, 21, 0, 30, tzinfo=LOCAL)
"""Just after midnight in the cities, still the day before in UTC: daily limits count by the cities' date."""


@pytest.fixture
def wallet(make_store: Callable[..., ServiceStore]) -> ServiceStore:
    """A fresh store with only the wallet seeded (fast), on the backend under test."""
    st_ = make_store(seed=False)
    assert st_.seed([DOMAIN]) == ["wallet"]
    return st_


def _snapshot(s: Session) -> tuple[int, int, int, list[tuple[str, str, int]]]:
    """Row counts and every balance: equal snapshots mean nothing changed."""
    balances = s.execute(
        select(Account.owner, Account.currency, Account.balance).order_by(Account.owner, Account.currency)
    ).all()
    return (
        int(s.scalar(select(func.count(LedgerTransaction.id))) or 0),
        int(s.scalar(select(func.count(Entry.id))) or 0),
        int(s.scalar(select(func.sum(LedgerTransaction.refunded))) or 0),
        [(str(o), str(c), int(b)) for o, c, b in balances],
    )


def _sound(s: Session) -> None:
    assert ledger_problems(s) == []
    assert set(ledger_sum(s).values()) == {0}


def _run_threads(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` in ``n`` threads started together; results (or raised exceptions) by index."""
    results: list[Any] = [None] * n
    start = threading.Barrier(n)

    def worker(i: int) -> None:
        start.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


# ---- seed and domain --------------------------------------------------------------------------


def test_seed_is_deterministic_funded_and_sums_to_zero(wallet: ServiceStore) -> None:
    accounts, txns = build_rows()
    again = build_rows()
    assert [t["amount"] for t in txns] == [t["amount"] for t in again[1]] and accounts == again[0]
    assert len(txns) > 1000
    with wallet.sessions() as s:
        assert balance(s, "local", "CNY") == 50_000 * CNY
        assert balance(s, "local", "USD") == 2_000 * 100
        assert balance(s, "local", "SGD") == 3_000 * 100
        assert balance(s, "bob", "CNY") == 120 * CNY
        assert ledger.daily_limits(s, "local", at=AT)["CNY"] == (20_000 * CNY, 0)
        _sound(s)
        funding = s.scalar(
            select(Account.balance).where(Account.owner == ledger.FUNDING, Account.currency == "CNY")
        )
        assert funding is not None and funding < 0


def test_seed_is_fast(tmp_path: Path) -> None:
    st_ = ServiceStore.open(f"sqlite:///{tmp_path}/w.db", seed=False)
    t0 = time.perf_counter()
    st_.seed([DOMAIN])
    assert time.perf_counter() - t0 < 3
    st_.close()


def test_domain_is_registered() -> None:
    assert DOMAIN in builtin_domains()
    assert {t.name for t in DOMAIN.tools} == {"wallet_balance", "transaction_history"}
    assert all(t.domain == "wallet" and t.risk == "read" for t in DOMAIN.tools)
    assert DOMAIN.description


def test_money_text() -> None:
    assert ledger.money_text(128_000, "CNY") == "1,280.00 CNY"
    assert ledger.money_text(-5, "USD") == "-0.05 USD"
    assert ledger.money_text(1200, "JPY") == "1,200 JPY"
    assert ledger.to_minor("1280.5", "CNY") == 128_050
    with pytest.raises(ValueError):
        ledger.to_minor("1.005", "CNY")


# ---- pay and refund ---------------------------------------------------------------------------


def test_pay_and_refund_move_money_both_ways(wallet: ServiceStore) -> None:
    with wallet.sessions() as s, s.begin():
        p = pay(
            s,
            user="local",
            amount=1_280 * CNY,
            currency="CNY",
            merchant="travel:flights",
            memo="Flight MU5101",
            idempotency_key="k-pay",
            at=AT,
        )
    assert p.id.startswith("PAY-") and p.amount == 128_000 and not p.replayed
    with wallet.sessions() as s:
        assert balance(s, "local", "CNY") == 48_720 * CNY
        assert ledger.history(s, "local", 1)[0].id == p.id
        _sound(s)
    with wallet.sessions() as s, s.begin():
        r1 = refund(s, payment_id=p.id, amount=280 * CNY, memo="partial", idempotency_key="k-r1", at=AT)
        r2 = refund(s, payment_id=p.id, amount=None, memo="the rest", idempotency_key="k-r2", at=AT)
    assert (r1.amount, r2.amount) == (28_000, 100_000) and r2.payment_id == p.id
    with wallet.sessions() as s:
        assert balance(s, "local", "CNY") == 50_000 * CNY
        assert ledger.history(s, "local", 3)[2].refunded == 128_000
        # a refund says what it gives back for (dev wl-refund-credited: "cancel BK-000001" was
        # not read as the flight the user asked about)
        assert ledger.history(s, "local", 1)[0].memo == "the rest (Flight MU5101)"
        _sound(s)
    with pytest.raises(RefundNotAllowed, match="nothing is left"), wallet.sessions() as s, s.begin():
        refund(s, payment_id=p.id, amount=None, memo="again", idempotency_key="k-r3", at=AT)
    with pytest.raises(RefundNotAllowed, match="PAY-"), wallet.sessions() as s, s.begin():
        refund(s, payment_id="PAY-999999", amount=1, memo="x", idempotency_key="k-r4", at=AT)


def test_refund_never_exceeds_the_payment_and_is_idempotent(wallet: ServiceStore) -> None:
    with wallet.sessions() as s, s.begin():
        p = pay(
            s,
            user="alice",
            amount=500 * CNY,
            currency="CNY",
            merchant="shop:orders",
            memo="shoes",
            idempotency_key="p",
            at=AT,
        )
        r = refund(s, payment_id=p.id, amount=300 * CNY, memo="part", idempotency_key="r", at=AT)
        again = refund(s, payment_id=p.id, amount=300 * CNY, memo="part", idempotency_key="r", at=AT)
        assert again == ledger.Refund(
            id=r.id, amount=r.amount, currency="CNY", replayed=True, payment_id=p.id
        )
        before = _snapshot(s)
        with pytest.raises(RefundNotAllowed, match=r"at most 200\.00 CNY"):
            refund(s, payment_id=p.id, amount=201 * CNY, memo="too much", idempotency_key="r2", at=AT)
        with pytest.raises(IdempotencyConflict):
            refund(s, payment_id=p.id, amount=100 * CNY, memo="other amount", idempotency_key="r", at=AT)
        assert _snapshot(s) == before


def test_insufficient_funds_changes_nothing(wallet: ServiceStore) -> None:
    with wallet.sessions() as s, s.begin():
        before = _snapshot(s)
        with pytest.raises(InsufficientFunds, match=r"balance is 120\.00 CNY.*short by 380\.00 CNY"):
            pay(
                s,
                user="bob",
                amount=500 * CNY,
                currency="CNY",
                merchant="food:delivery",
                memo="x",
                idempotency_key="a",
                at=AT,
            )
        with pytest.raises(InsufficientFunds, match="no EUR balance"):
            pay(
                s,
                user="bob",
                amount=1,
                currency="EUR",
                merchant="food:delivery",
                memo="x",
                idempotency_key="b",
                at=AT,
            )
        assert _snapshot(s) == before
    # Caught and committed by the caller: still nothing, and the key is free for a real payment.
    with wallet.sessions() as s:
        assert _snapshot(s) == before
        s.rollback()
        with s.begin():
            ok = pay(
                s,
                user="bob",
                amount=100 * CNY,
                currency="CNY",
                merchant="food:delivery",
                memo="x",
                idempotency_key="a",
                at=AT,
            )
        assert not ok.replayed and balance(s, "bob", "CNY") == 20 * CNY


def test_spending_limit_is_per_day_and_changes_nothing(wallet: ServiceStore) -> None:
    with wallet.sessions() as s, s.begin():
        pay(
            s,
            user="local",
            amount=15_000 * CNY,
            currency="CNY",
            merchant="shop:orders",
            memo="tv",
            idempotency_key="1",
            at=DAY_ONE,
        )
        before = _snapshot(s)
        with pytest.raises(SpendingLimitExceeded, match=r"5,000\.00 CNY is left"):
            pay(
                s,
                user="local",
                amount=6_000 * CNY,
                currency="CNY",
                merchant="shop:orders",
                memo="x",
                idempotency_key="2",
                at=DAY_ONE,
            )
        assert _snapshot(s) == before
        assert ledger.daily_limits(s, "local", at=DAY_ONE)["CNY"] == (20_000 * CNY, 15_000 * CNY)
        an_hour_before = DAY_ONE - timedelta(hours=1)  # the same UTC day, the day before in the cities
        assert ledger.daily_limits(s, "local", at=an_hour_before)["CNY"] == (20_000 * CNY, 0)
        # Other currencies have no limit for local; a refund does not give the limit back.
        pay(
            s,
            user="local",
            amount=1_900 * 100,
            currency="USD",
            merchant="shop:orders",
            memo="x",
            idempotency_key="3",
            at=DAY_ONE,
        )
    # The next day (in the cities' time zone) the limit starts again.
    with wallet.sessions() as s, s.begin():
        pay(
            s,
            user="local",
            amount=6_000 * CNY,
            currency="CNY",
            merchant="shop:orders",
            memo="x",
            idempotency_key="4",
            at=DAY_ONE + timedelta(days=1),
        )
        ledger.set_daily_limit(s, user="local", currency="CNY", amount=7_000 * CNY)
        with pytest.raises(SpendingLimitExceeded):
            pay(
                s,
                user="local",
                amount=1_001 * CNY,
                currency="CNY",
                merchant="shop:orders",
                memo="x",
                idempotency_key="5",
                at=DAY_ONE + timedelta(days=1),
            )
        _sound(s)


def test_bad_amounts_and_key_reuse_are_refused(wallet: ServiceStore) -> None:
    with wallet.sessions() as s, s.begin():
        for bad in (0, -5):
            with pytest.raises(ledger.WalletError, match="positive"):
                pay(
                    s,
                    user="local",
                    amount=bad,
                    currency="CNY",
                    merchant="m",
                    memo="x",
                    idempotency_key="z",
                    at=AT,
                )
        with pytest.raises(ledger.WalletError, match="3-letter"):
            pay(
                s, user="local", amount=1, currency="yuan", merchant="m", memo="x", idempotency_key="z", at=AT
            )
        first = pay(
            s, user="local", amount=100, currency="CNY", merchant="m", memo="x", idempotency_key="z", at=AT
        )
        with pytest.raises(IdempotencyConflict, match=first.id):
            pay(
                s,
                user="local",
                amount=200,
                currency="CNY",
                merchant="m",
                memo="x",
                idempotency_key="z",
                at=AT,
            )


def test_pay_inside_the_callers_savepoint(wallet: ServiceStore) -> None:
    """``savepoint=False``: a replay writes nothing; an error is undone by the caller's savepoint."""
    call = dict(user="local", amount=100 * CNY, currency="CNY", merchant="travel:trains", memo="x")
    with wallet.sessions() as s, s.begin():
        first = pay(s, **call, idempotency_key="outer", savepoint=False, at=AT)
        before = _snapshot(s)
        with s.begin_nested():
            again = pay(s, **call, idempotency_key="outer", savepoint=False, at=AT)
        assert again.replayed and again.id == first.id and _snapshot(s) == before
        with pytest.raises(InsufficientFunds), s.begin_nested():
            pay(s, **(call | {"amount": 10**9}), idempotency_key="big", savepoint=False, at=AT)
        with pytest.raises(IdempotencyConflict), s.begin_nested():
            pay(s, **(call | {"amount": 7}), idempotency_key="outer", savepoint=False, at=AT)
        assert _snapshot(s) == before
        _sound(s)


def test_a_failure_after_the_debit_rolls_everything_back(wallet: ServiceStore) -> None:
    with wallet.sessions() as s:
        before = _snapshot(s)
    with pytest.raises(RuntimeError, match="booking failed"), wallet.sessions() as s, s.begin():
        top_up(s, user="local", amount=10 * CNY, currency="CNY", idempotency_key="t", at=AT)
        pay(
            s,
            user="local",
            amount=999 * CNY,
            currency="CNY",
            merchant="travel:hotels",
            memo="x",
            idempotency_key="p",
            at=AT,
        )
        assert balance(s, "local", "CNY") == (50_000 + 10 - 999) * CNY
        raise RuntimeError("booking failed after the payment")
    with wallet.sessions() as s:
        assert _snapshot(s) == before
        _sound(s)


# ---- concurrency ------------------------------------------------------------------------------


def test_same_key_twenty_times_concurrently_pays_once(wallet: ServiceStore) -> None:
    def attempt(_: int) -> ledger.Payment:
        with wallet.sessions() as s, s.begin():
            return pay(
                s,
                user="alice",
                amount=77 * CNY,
                currency="CNY",
                merchant="food:delivery",
                memo="noodles",
                idempotency_key="same",
                at=AT,
            )

    results = _run_threads(20, attempt)
    assert all(isinstance(r, ledger.Payment) for r in results), results
    assert len({r.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    with wallet.sessions() as s:
        assert balance(s, "alice", "CNY") == (8_000 - 77) * CNY
        pid = results[0].id

    def undo(_: int) -> ledger.Refund:
        with wallet.sessions() as s, s.begin():
            return refund(s, payment_id=pid, amount=None, memo="cancel", idempotency_key="undo", at=AT)

    refunds = _run_threads(20, undo)
    assert all(isinstance(r, ledger.Refund) for r in refunds), refunds
    assert len({r.id for r in refunds}) == 1 and sum(not r.replayed for r in refunds) == 1
    with wallet.sessions() as s:
        assert balance(s, "alice", "CNY") == 8_000 * CNY
        _sound(s)


def test_fifty_concurrent_payments_against_ten_payments_of_balance(wallet: ServiceStore) -> None:
    with wallet.sessions() as s, s.begin():
        top_up(s, user="frank", amount=1_000 * CNY, currency="CNY", idempotency_key="fund-frank", at=AT)

    def attempt(i: int) -> ledger.Payment:
        with wallet.sessions() as s, s.begin():
            return pay(
                s,
                user="frank",
                amount=100 * CNY,
                currency="CNY",
                merchant="travel:trains",
                memo=f"seat {i}",
                idempotency_key=f"pay-{i}",
                at=AT,
            )

    results = _run_threads(50, attempt)
    paid = [r for r in results if isinstance(r, ledger.Payment)]
    short = [r for r in results if isinstance(r, InsufficientFunds)]
    assert (len(paid), len(short)) == (10, 40), [
        r for r in results if not isinstance(r, (ledger.Payment, InsufficientFunds))
    ]
    assert "Top up" in str(short[0])
    with wallet.sessions() as s:
        assert balance(s, "frank", "CNY") == 0
        _sound(s)


# ---- property test ----------------------------------------------------------------------------

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.sampled_from(["bob", "erin", "alice"]), st.integers(1, 60_000)),
        st.tuples(st.just("refund"), st.integers(0, 30), st.integers(0, 60_000)),
        st.tuples(st.just("topup"), st.sampled_from(["bob", "erin", "alice"]), st.integers(1, 20_000)),
        st.tuples(st.just("replay"), st.integers(0, 30), st.just(0)),
    ),
    max_size=25,
)


def test_random_sequences_keep_the_ledger_sound(wallet: ServiceStore) -> None:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=_OPS)
    def check(ops: list[tuple[str, Any, int]]) -> None:
        with wallet.sessions() as s:
            s.begin()
            payments: list[ledger.Payment] = []
            calls: list[dict[str, Any]] = []
            try:
                for n, (op, who, amount) in enumerate(ops):
                    key = f"op-{n}"
                    try:
                        if op == "pay":
                            call = dict(
                                user=who,
                                amount=amount,
                                currency="CNY",
                                merchant="shop:orders",
                                memo="x",
                                idempotency_key=key,
                            )
                            payments.append(pay(s, **call, at=AT))
                            calls.append(call)
                        elif op == "refund" and payments:
                            p = payments[who % len(payments)]
                            refund(
                                s,
                                payment_id=p.id,
                                amount=amount or None,
                                memo="r",
                                idempotency_key=key,
                                at=AT,
                            )
                        elif op == "topup":
                            top_up(s, user=who, amount=amount, currency="CNY", idempotency_key=key, at=AT)
                        elif op == "replay" and calls:
                            again = pay(s, **calls[who % len(calls)], at=AT)
                            assert again.replayed
                    except (InsufficientFunds, SpendingLimitExceeded, RefundNotAllowed):
                        pass
                    lowest = s.scalar(select(func.min(Account.balance)).where(Account.kind == "user"))
                    assert lowest is not None and lowest >= 0
                    assert set(ledger_sum(s).values()) == {0}
                    over = select(func.count(LedgerTransaction.id)).where(
                        LedgerTransaction.refunded > LedgerTransaction.amount
                    )
                    assert s.scalar(over) == 0
                _sound(s)  # also: balances equal their entries, refunds of each payment sum to its `refunded`
            finally:
                s.rollback()

    check()


# ---- tools ------------------------------------------------------------------------------------


@pytest.fixture
def local_ctx(wallet: ServiceStore, tmp_path: Path) -> Iterator[ToolContext]:
    with wallet.sessions() as s:
        yield ToolContext(user="local", run_id="run-test", session=s, artifacts_dir=tmp_path, now=lambda: AT)


def test_wallet_balance_tool(local_ctx: ToolContext) -> None:
    out = tools.wallet_balance(local_ctx)
    assert out["payment_method"] == "Wallet balance"
    cny = next(b for b in out["balances"] if b["currency"] == "CNY")
    assert cny == {
        "currency": "CNY",
        "balance_text": "50,000.00 CNY",
        "daily_limit_text": "20,000.00 CNY",
        "left_today_text": "20,000.00 CNY",
    }
    only = tools.wallet_balance(local_ctx, currency="usd")
    assert only["balances"] == [
        {
            "currency": "USD",
            "balance_text": "2,000.00 USD",
            "daily_limit": "no daily spending limit on USD",
        }
    ]
    with pytest.raises(ToolError, match="Currencies held: CNY, SGD, USD"):
        tools.wallet_balance(local_ctx, currency="EUR")


def test_transaction_history_tool(local_ctx: ToolContext) -> None:
    s = local_ctx.session
    with s.begin():
        p = pay(
            s,
            user="local",
            amount=25_00,
            currency="CNY",
            merchant="food:delivery",
            memo="dumplings",
            idempotency_key="h",
            at=AT,
        )
        refund(s, payment_id=p.id, amount=5_00, memo="missing sauce", idempotency_key="h-r", at=AT)
    out = tools.transaction_history(local_ctx, limit=3)
    assert out["count"] == 3
    first, second = out["transactions"][:2]
    assert (
        first["kind"] == "refund" and first["amount_text"] == "5.00 CNY" and first["from"] == "food:delivery"
    )
    assert second == {
        "id": p.id,
        "date": "2026-12-20",  # the day of its ``at``
        "kind": "payment",
        "amount_text": "-25.00 CNY",
        "to": "food:delivery",
        "memo": "dumplings",
        "refunded_text": "5.00 CNY",
    }
    assert tools.transaction_history(local_ctx, limit=500)["count"] == 20


def test_transaction_history_narrows_to_a_kind_currency_or_service(local_ctx: ToolContext) -> None:
    """dev wl-u-last-sgd-zh: "我最近一笔新加坡元消费" was read off the latest row, a CNY flight.
    The history narrows to what the user asked about; a filter they did not give is dropped
    before the call (`FromUser`), in either language."""
    from errand.agent.grounding import unsaid_filters

    t = tools.transaction_history
    sgd = t(local_ctx, kind="payment", currency="SGD")["transactions"]
    assert sgd and all(r["kind"] == "payment" and r["amount_text"].endswith(" SGD") for r in sgd)
    food = t(local_ctx, service="food", limit=20)["transactions"]
    assert food and all(r.get("to", r.get("from", "")).startswith("food:") for r in food)
    refunds = t(local_ctx, kind="refund", limit=20)["transactions"]
    assert refunds and all(r["kind"] == "refund" for r in refunds)
    filled = {"limit": 10, "kind": "payment", "currency": "CNY", "service": "travel"}
    for said, kept in (
        ("我最近一笔新加坡元消费是什么", {"limit": 10, "kind": "payment"}),
        ("what did i spend on flights in rmb", filled),
        ("show my wallet history", {"limit": 10}),
    ):
        assert unsaid_filters(filled, t.parameters, t.provenance, [said])[0] == kept, said


def test_a_period_sums_what_was_spent_net_of_refunds_and_names_the_largest(local_ctx: ToolContext) -> None:
    """dev wl-u-food-last-7-days, wl-u-priciest-food-week-zh: asked what was spent on food in a
    week, the 1.5B read the ten latest rows and added them up wrong, or named a payment from the
    week before. A period is counted by the ledger in the cities' calendar (weeks start on
    Monday), net of refunds, with its largest payment; the word for it is the user's."""
    from errand.agent.grounding import unsaid_filters

    s = local_ctx.session
    paid = []
    with s.begin():  # AT is Sunday 2026-12-20
        for n, (amount, when, merchant) in enumerate(
            [
                (50_00, datetime(2026, 12, 13, 23, 0, tzinfo=LOCAL), "food:SH-R001"),  # last week's Sunday
                (30_00, datetime(2026, 12, 14, 0, 30, tzinfo=LOCAL), "food:SH-R002"),  # Monday, 12-13 in UTC
                (80_00, datetime(2026, 12, 18, 19, 0, tzinfo=LOCAL), "food:SH-R003"),
                (999_00, datetime(2026, 12, 19, 10, 0, tzinfo=LOCAL), "shop"),
                (20_00, datetime(2026, 12, 20, 11, 0, tzinfo=LOCAL), "food:SH-R004"),
            ]
        ):
            p = pay(s, user="local", amount=amount, currency="CNY", merchant=merchant, memo=f"order {n}",
                    idempotency_key=f"p{n}", at=when)  # fmt: skip
            paid.append(p.id)
        refund(s, payment_id=paid[2], amount=80_00, memo="cancelled", idempotency_key="r2",
               at=datetime(2026, 12, 18, 19, 5, tzinfo=LOCAL))  # fmt: skip
    t = tools.transaction_history
    week = t(local_ctx, service="food", period="this_week")
    assert week["period"] == "2026-12-14 to 2026-12-20"
    assert week["spent_text"] == "50.00 CNY"  # 30 + 80 - 80 refunded + 20
    assert week["largest_payment"]["id"] == paid[1]  # the refunded 80 spent nothing
    assert [r["date"] for r in week["transactions"] if r["kind"] == "payment"][-1] == "2026-12-14"
    last = t(local_ctx, service="food", period="last_week")
    assert last["spent_text"] == "50.00 CNY" and last["largest_payment"]["id"] == paid[0]
    assert t(local_ctx, period="last_7_days")["spent_text"] == "1,099.00 CNY"  # from 12-13
    assert t(local_ctx, period="today", kind="refund").get("spent_text") is None
    assert "spent_text" not in t(local_ctx)
    filled = {"period": "this_week", "service": "food"}
    for said, kept in (("这周外卖花了多少", filled), ("how much on food?", {"service": "food"})):
        assert unsaid_filters(filled, t.parameters, t.provenance, [said])[0] == kept, said
