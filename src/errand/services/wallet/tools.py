"""Wallet tools: the user's balances and recent transactions (read only).

Paying happens inside the booking and order tools of other domains, through
`errand.services.wallet.ledger`; these tools let the model answer "how much do I
have" and "what did I pay". Money is shown as text such as ``"1,280.00 CNY"``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from sqlalchemy.orm import Session

from errand.errors import ToolError
from errand.services.clock import LOCAL, local_day
from errand.services.wallet import ledger
from errand.services.wallet.money import CURRENCY_WORDS
from errand.tools import FromUser, ToolContext, said_from, tool

MAX_HISTORY = 20
"""Most transactions `transaction_history` returns."""

Currency = Annotated[str | None, FromUser("the currency", said_as=said_from(CURRENCY_WORDS))]
"""A filter only the user sets: a currency they named, in any of its names."""

_KIND_WORDS = {
    "payment": (
        "payment",
        "paid",
        "pay",
        "spent",
        "spend",
        "charge",
        "charged",
        "消费",
        "支付",
        "付款",
        "扣",
        "花",
    ),
    "refund": ("refund", "refunded", "money back", "退款", "退"),
    "topup": ("top up", "top-up", "topup", "topped up", "充值"),
}
_SERVICE_WORDS = {
    "food": (
        "food",
        "delivery",
        "takeaway",
        "takeout",
        "restaurant",
        "meal",
        "lunch",
        "dinner",
        "外卖",
        "餐",
    ),
    "shop": ("shop", "shopping", "bought", "purchase", "购物", "网购", "买"),
    "travel": ("travel", "trip", "flight", "train", "hotel", "机票", "火车", "高铁", "酒店", "旅行", "出行"),
}
"""How people name a kind of transaction and the service it went to (the ledger's own names first)."""

_PERIOD_WORDS = {
    "today": ("today", "今天", "今日"),
    "this_week": ("this week", "这周", "本周", "这个星期", "这星期", "这礼拜"),
    "last_week": ("last week", "上周", "上个星期", "上星期", "上礼拜"),
    "last_7_days": (
        "last 7 days",
        "past 7 days",
        "last seven days",
        "past week",
        "7 days",
        "7天",
        "七天",
        "一周",
    ),
    "this_month": ("this month", "本月", "这个月", "这月"),
    "last_month": ("last month", "上个月", "上月"),
    "last_30_days": ("last 30 days", "past 30 days", "past month", "30 days", "30天", "三十天", "一个月"),
}
"""How people name a stretch of time, per period the history takes."""

Period = Literal["today", "this_week", "last_week", "last_7_days", "this_month", "last_month", "last_30_days"]


def period_bounds(period: str, today: date) -> tuple[date, date]:
    """The first day of ``period`` and the day after its last, in the services' calendar
    (weeks start on Monday): "this week" on a Sunday is the six days before it and the day."""
    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    start, end = {
        "today": (today, today),
        "this_week": (monday, today),
        "last_week": (monday - timedelta(days=7), monday - timedelta(days=1)),
        "last_7_days": (today - timedelta(days=7), today),
        "this_month": (first, today),
        "last_month": ((first - timedelta(days=1)).replace(day=1), first - timedelta(days=1)),
        "last_30_days": (today - timedelta(days=30), today),
    }[period]
    return start, end + timedelta(days=1)


def _utc(day: date) -> datetime:
    """The start of ``day`` in the services' cities, as the ledger stores times (UTC, no zone)."""
    return datetime.combine(day, time(), LOCAL).astimezone(UTC).replace(tzinfo=None)


def _session(ctx: ToolContext) -> Session:
    if ctx.session is None:
        raise ToolError("The wallet service has no database session; this is a setup error.")
    session: Session = ctx.session
    return session


@tool(domain="wallet")
def wallet_balance(ctx: ToolContext, currency: Currency = None) -> dict[str, Any]:
    """The money in the user's wallet now, per currency, and today's spending limit and what is left of it (not what was spent).

    Args:
        currency: A 3-letter code, only if the user named one.
    """
    session = _session(ctx)
    have = ledger.balances(session, ctx.user)
    limits = ledger.daily_limits(session, ctx.user, at=ctx.now())
    if currency is not None:
        code = currency.strip().upper()
        if code not in have:
            held = ", ".join(have) or "none"
            raise ToolError(f"{ctx.user} has no {code} balance. Currencies held: {held}.")
        have = {code: have[code]}
    out: list[dict[str, Any]] = []
    for cur, amount in have.items():
        row: dict[str, Any] = {"currency": cur, "balance_text": ledger.money_text(amount, cur)}
        if cur in limits:
            lim, spent = limits[cur]
            row["daily_limit_text"] = ledger.money_text(lim, cur)
            row["left_today_text"] = ledger.money_text(max(lim - spent, 0), cur)
        else:  # said, not left out: the 1.5B read a missing limit as the balance (dev wl-no-limit-dave)
            row["daily_limit"] = f"no daily spending limit on {cur}"  # not money: no *_text key
        out.append(row)
    return {"user": ctx.user, "payment_method": ledger.payment_method(session, ctx.user), "balances": out}


@tool(domain="wallet")
def transaction_history(
    ctx: ToolContext,
    limit: int = 10,
    kind: Annotated[
        Literal["payment", "refund", "topup"] | None,
        FromUser("which kind", said_as=said_from(_KIND_WORDS)),
    ] = None,
    currency: Currency = None,
    service: Annotated[
        Literal["food", "shop", "travel"] | None,
        FromUser("which service", said_as=said_from(_SERVICE_WORDS)),
    ] = None,
    period: Annotated[Period | None, FromUser("the period", said_as=said_from(_PERIOD_WORDS))] = None,
) -> dict[str, Any]:
    """What the user spent, paid, got refunded or topped up, newest first; with a period, the total spent in it and the largest payment.

    Args:
        limit: How many to return (1-20).
        kind: Only payments, refunds or top-ups, if the user asked about one kind.
        currency: Only this 3-letter currency, if the user named one.
        service: Only those with food delivery, the shop or travel, if the user named one.
        period: Only this stretch of time, if the user named one (weeks start on Monday).
    """
    session = _session(ctx)
    limit = min(max(limit, 1), MAX_HISTORY)
    window: dict[str, Any] = {}
    if period is not None:
        start, end = period_bounds(period, local_day(ctx.now()))
        window = {"since": _utc(start), "until": _utc(end)}
        limit = MAX_HISTORY  # every transaction of the period, not the first few
    items = ledger.history(
        session, ctx.user, limit, kind=kind, currency=currency, counterparty=service, **window
    )
    rows = []
    for h in items:
        row: dict[str, Any] = {
            "id": h.id,
            "date": local_day(h.created_at.replace(tzinfo=UTC)).isoformat(),  # the user's day, not UTC's
            "kind": h.kind,
            "amount_text": ledger.money_text(h.amount, h.currency),
            "to" if h.kind == "payment" else "from": h.counterparty,
            "memo": h.memo,
        }
        if h.refunded:
            row["refunded_text"] = ledger.money_text(h.refunded, h.currency)
        rows.append(row)
    out: dict[str, Any] = {"user": ctx.user}
    if period is not None:  # what a small model cannot add up itself: the sum and the largest
        out |= _spent(session, ctx.user, kind, currency, service, window, items)
        out["period"] = f"{start.isoformat()} to {(end - timedelta(days=1)).isoformat()}"
    return out | {"count": len(rows), "transactions": rows}


def _spent(
    session: Session,
    user: str,
    kind: str | None,
    currency: str | None,
    service: str | None,
    window: dict[str, Any],
    listed: list[Any],
) -> dict[str, Any]:
    """Payments of the period net of what was refunded on them, per currency, and its largest
    payment (refunds and top-ups asked for alone spend nothing)."""
    if kind not in (None, "payment"):
        return {}
    every = listed
    if len(listed) >= MAX_HISTORY:  # more than one page: sum them all
        every = ledger.history(
            session, user, 10_000, kind="payment", currency=currency, counterparty=service, **window
        )
    payments = [h for h in every if h.kind == "payment"]
    totals: dict[str, int] = {}
    for h in payments:
        totals[h.currency] = totals.get(h.currency, 0) + (-h.amount - h.refunded)
    out: dict[str, Any] = {
        "spent_text": "; ".join(ledger.money_text(v, c) for c, v in totals.items()) or "nothing spent",
        "payments": len(payments),
    }
    if payments:
        top = max(payments, key=lambda h: (-h.amount - h.refunded, h.created_at))
        out["largest_payment"] = {
            "id": top.id,
            "amount_text": ledger.money_text(-top.amount, top.currency),
            "memo": top.memo,
            **({"refunded_text": ledger.money_text(top.refunded, top.currency)} if top.refunded else {}),
        }
    return out


TOOLS = (wallet_balance, transaction_history)
"""The domain's tools in their fixed order."""
