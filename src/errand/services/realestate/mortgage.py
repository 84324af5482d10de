"""`mortgage_estimate`: a fixed-rate loan's monthly payment and total interest (`annuity`)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from errand.errors import ToolError
from errand.services.realestate.common import _listing, _session, _units
from errand.tools import FromResults, ToolContext, tool


@tool(domain="realestate")
def mortgage_estimate(
    ctx: ToolContext,
    listing_id: Annotated[str | None, FromResults("id", "listing_id", shape=r"[A-Z]{2}-\d{5}")] = None,
    price: int | None = None,
    down_payment_pct: float = 30,
    annual_rate_pct: float = 3.5,
    years: int = 30,
) -> dict[str, Any]:
    """Monthly repayment and total interest of a fixed-rate mortgage.

    Args:
        listing_id: The listing, e.g. HZ-00042 (its price is used).
        price: Or a home price in whole yuan/SGD.
        down_payment_pct: Down payment, % of price.
        annual_rate_pct: Yearly interest rate, %.
        years: Loan term in years.
    """
    currency: str | None = None
    if listing_id is not None:
        home = _listing(_session(ctx), listing_id)
        currency = home.currency
        if price is None:
            price = _units(home.price, home.currency)
    if price is None:
        raise ToolError("Give price (whole yuan/SGD) or listing_id.")
    if price <= 0:
        raise ToolError("price must be positive, in whole units (6 million is 6000000).")
    if not 0 <= down_payment_pct < 100:
        raise ToolError("down_payment_pct must be at least 0 and under 100.")
    if not 0 <= annual_rate_pct <= 30:
        raise ToolError("annual_rate_pct must be between 0 and 30.")
    if not 1 <= years <= 40:
        raise ToolError("years must be between 1 and 40.")
    m = annuity(price, down_payment_pct, annual_rate_pct, years)
    unit = f" {currency}" if currency else ""
    out: dict[str, Any] = {"currency": currency} if currency else {}
    return out | m | {"monthly_text": f"{m['monthly_payment']:,}{unit}/month for {years} years"}


def annuity(price: int, down_payment_pct: float, annual_rate_pct: float, years: int) -> dict[str, int]:
    """Down payment, loan, monthly payment, total interest (whole units) of an annuity loan.

    Computed in Decimal on minor units (cents), rounded half-up to whole units at the end:
    monthly = loan * r / (1 - (1 + r) ** -n), with r the monthly rate and n the months.
    """
    cents = Decimal(price) * 100
    down = (cents * Decimal(str(down_payment_pct)) / 100).quantize(Decimal(1), ROUND_HALF_UP)
    loan = cents - down
    n = years * 12
    r = Decimal(str(annual_rate_pct)) / 1200
    monthly = loan / n if r == 0 else loan * r / (1 - (1 + r) ** -n)
    monthly = monthly.quantize(Decimal(1), ROUND_HALF_UP)

    def whole(x: Decimal) -> int:
        return int((x / 100).quantize(Decimal(1), ROUND_HALF_UP))

    return {
        "price": price,
        "down_payment": whole(down),
        "loan": whole(loan),
        "monthly_payment": whole(monthly),
        "total_interest": whole(monthly * n - loan),
    }
