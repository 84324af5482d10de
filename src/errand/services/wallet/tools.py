"""Wallet tools: the user's balances and recent transactions (read only).

Paying happens inside the booking and order tools of other domains, through
`errand.services.wallet.ledger`; these tools let the model answer "how much do I
have" and "what did I pay". Money is shown as text such as ``"1,280.00 CNY"``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from sqlalchemy.orm import Session

from errand.errors import ToolError
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


def _session(ctx: ToolContext) -> Session:
    if ctx.session is None:
        raise ToolError("The wallet service has no database session; this is a setup error.")
    session: Session = ctx.session
    return session


@tool(domain="wallet")
def wallet_balance(ctx: ToolContext, currency: Currency = None) -> dict[str, Any]:
    """The user's wallet balance, per currency, and today's spending limit.

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
) -> dict[str, Any]:
    """The user's latest payments, refunds and top-ups, newest first.

    Args:
        limit: How many to return (1-20).
        kind: Only payments, refunds or top-ups, if the user asked about one kind.
        currency: Only this 3-letter currency, if the user named one.
        service: Only those with food delivery, the shop or travel, if the user named one.
    """
    session = _session(ctx)
    limit = min(max(limit, 1), MAX_HISTORY)
    items = ledger.history(session, ctx.user, limit, kind=kind, currency=currency, counterparty=service)
    rows = []
    for h in items:
        row: dict[str, Any] = {
            "id": h.id,
            "date": h.created_at.date().isoformat(),
            "kind": h.kind,
            "amount_text": ledger.money_text(h.amount, h.currency),
            "to" if h.kind == "payment" else "from": h.counterparty,
            "memo": h.memo,
        }
        if h.refunded:
            row["refunded_text"] = ledger.money_text(h.refunded, h.currency)
        rows.append(row)
    return {"user": ctx.user, "count": len(rows), "transactions": rows}


TOOLS = (wallet_balance, transaction_history)
"""The domain's tools in their fixed order."""
