"""Deterministic seed: funded wallets for ``local`` and a few named users, with months of history.

Every user starts with one opening top-up from the funding account, then pays merchants
(and gets a few refunds) between `HISTORY_START` and `HISTORY_END`; the opening amount
is chosen so each wallet ends at its target balance. The ledger sums to zero per currency.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from errand.services.wallet.ledger import FUNDING
from errand.services.wallet.models import Account, Entry, LedgerTransaction, PaymentMethod, SpendingLimit

SEED = 20261201
"""Seed of the generator; change it and every history changes."""
HISTORY_START = datetime(2026, 9, 1, 8, 0)
"""Opening top-ups happen here; history runs from then on."""
HISTORY_END = datetime(2026, 11, 20, 22, 0)
"""Last seeded transaction (before the seed's base date, 2026-12-01)."""


@dataclass(frozen=True)
class _User:
    name: str
    balances: dict[str, int]
    """Target balance per currency, whole units."""
    limits: dict[str, int]
    """Daily spending limit per currency, whole units."""
    card: str
    payments: int
    """Seeded past payments."""


USERS: tuple[_User, ...] = (
    _User("local", {"CNY": 50_000, "USD": 2_000, "SGD": 3_000}, {"CNY": 20_000}, "Visa ending 4242", 400),
    _User("alice", {"CNY": 8_000, "USD": 300}, {"CNY": 5_000}, "UnionPay ending 8831", 250),
    _User("bob", {"CNY": 120, "USD": 15}, {"CNY": 2_000}, "Mastercard ending 1077", 200),
    _User("carol", {"SGD": 12_000, "USD": 500}, {"SGD": 3_000}, "Visa ending 5519", 200),
    _User("dave", {"CNY": 200_000, "USD": 10_000}, {}, "Amex ending 3005", 250),
    _User("erin", {"CNY": 0, "SGD": 40}, {"SGD": 500}, "DBS Visa ending 6612", 120),
)
"""The seeded users; ``bob`` and ``erin`` are nearly empty, for insufficient-funds errands."""

_MERCHANTS: dict[str, tuple[tuple[str, str, int, int], ...]] = {
    "CNY": (
        ("food:delivery", "Food order: {x}", 25, 180),
        ("shop:orders", "Shop order: {x}", 39, 1_200),
        ("travel:trains", "High-speed train ticket", 120, 900),
        ("travel:flights", "Flight ticket", 450, 2_800),
        ("travel:hotels", "Hotel stay", 320, 1_600),
        ("utilities:power", "Electricity bill", 90, 420),
        ("transport:rides", "Ride", 12, 95),
    ),
    "USD": (
        ("shop:orders", "Shop order: {x}", 9, 240),
        ("subscriptions", "Subscription: {x}", 5, 25),
        ("travel:hotels", "Hotel stay", 110, 480),
    ),
    "SGD": (
        ("food:delivery", "Food order: {x}", 12, 80),
        ("transport:rides", "Ride", 8, 40),
        ("shop:orders", "Shop order: {x}", 15, 300),
        ("utilities:power", "SP utilities bill", 60, 220),
    ),
}
_THINGS = (
    "noodles",
    "dumplings",
    "hotpot",
    "bubble tea",
    "rice bowls",
    "headphones",
    "running shoes",
    "books",
    "phone case",
    "groceries",
    "music",
    "cloud storage",
    "video",
)


def build_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Accounts (with final balances) and transactions (with their legs), the same on every call.

    Each transaction row carries ``_legs``: (owner, kind, signed minor units) pairs.
    """
    rng = random.Random(SEED)
    txns: list[dict[str, Any]] = []
    span = (HISTORY_END - HISTORY_START).total_seconds()
    for u in USERS:
        currencies = list(u.balances)
        spent: dict[str, int] = dict.fromkeys(currencies, 0)
        for _ in range(u.payments):
            cur = rng.choice(currencies)
            merchant, memo, lo, hi = rng.choice(_MERCHANTS[cur])
            amount = rng.randint(lo * 100, hi * 100)
            when = HISTORY_START + timedelta(seconds=rng.uniform(3600, span))
            t: dict[str, Any] = {
                "kind": "payment",
                "user": u.name,
                "counterparty": merchant,
                "amount": amount,
                "currency": cur,
                "memo": memo.format(x=rng.choice(_THINGS)),
                "refunded": 0,
                "created_at": when.replace(microsecond=0),
            }
            txns.append(t)
            spent[cur] += amount
            if rng.random() < 0.05:  # an occasional (partial) refund a few days later
                back = amount if rng.random() < 0.5 else amount // 2
                t["refunded"] = back
                spent[cur] -= back
                txns.append(
                    {
                        "kind": "refund",
                        "user": u.name,
                        "counterparty": merchant,
                        "amount": back,
                        "currency": cur,
                        "memo": f"Refund: {t['memo']}",
                        "refunded": 0,
                        "created_at": min(when + timedelta(days=rng.randint(1, 5)), HISTORY_END),
                        "_original": t,
                    }
                )
        for cur in currencies:
            opening = u.balances[cur] * 100 + spent[cur]
            if opening > 0:
                txns.append(
                    {
                        "kind": "topup",
                        "user": u.name,
                        "counterparty": FUNDING,
                        "amount": opening,
                        "currency": cur,
                        "memo": f"Opening balance from {u.card}",
                        "refunded": 0,
                        "created_at": HISTORY_START,
                    }
                )
    txns.sort(key=lambda t: (t["created_at"], t["kind"] != "topup", t["user"], t["amount"]))
    balances: dict[tuple[str, str, str], int] = {}
    for t in txns:
        a, cur = t["amount"], t["currency"]
        user = (t["user"], "user", cur)
        other = (t["counterparty"], "system" if t["kind"] == "topup" else "merchant", cur)
        sign = -1 if t["kind"] == "payment" else 1
        t["_legs"] = [(user, sign * a), (other, -sign * a)]
        for key, amt in t["_legs"]:
            balances[key] = balances.get(key, 0) + amt
    accounts = [
        {"owner": o, "kind": k, "currency": c, "balance": b} for (o, k, c), b in sorted(balances.items())
    ]
    return accounts, txns


def seed(session: Session) -> None:
    """Insert the seed rows with a few bulk inserts."""
    accounts, txns = build_rows()
    ids = session.scalars(insert(Account).returning(Account.id, sort_by_parameter_order=True), accounts).all()
    account_id = {(a["owner"], a["kind"], a["currency"]): i for a, i in zip(accounts, ids, strict=True)}
    plain = ("kind", "user", "counterparty", "amount", "currency", "memo", "refunded", "created_at")
    tids = session.scalars(
        insert(LedgerTransaction).returning(LedgerTransaction.id, sort_by_parameter_order=True),
        [{k: t[k] for k in plain} for t in txns],
    ).all()
    for t, tid in zip(txns, tids, strict=True):
        t["_id"] = tid
    session.execute(
        update(LedgerTransaction),
        [{"id": t["_id"], "original_id": t["_original"]["_id"]} for t in txns if t["kind"] == "refund"],
    )
    session.execute(
        insert(Entry),
        [
            {"transaction_id": t["_id"], "account_id": account_id[key], "amount": amt, "currency": key[2]}
            for t in txns
            for key, amt in t["_legs"]
        ],
    )
    session.execute(
        insert(SpendingLimit),
        [
            {"user": u.name, "currency": c, "daily_limit": lim * 100, "day": None, "spent": 0}
            for u in USERS
            for c, lim in u.limits.items()
        ],
    )
    session.execute(
        insert(PaymentMethod),
        [
            row
            for u in USERS
            for row in (
                {"user": u.name, "kind": "balance", "label": "Wallet balance", "is_default": True},
                {"user": u.name, "kind": "card", "label": u.card, "is_default": False},
            )
        ],
    )


def is_seeded(session: Session) -> bool:
    """Whether the wallet already has accounts."""
    return session.scalar(select(Account.id).limit(1)) is not None
