"""Amounts and currencies: integer minor units, read and written exactly (no floats)."""

from __future__ import annotations

import re

from errand.services.wallet.errors import WalletError

MINOR_DIGITS = {"CNY": 2, "USD": 2, "SGD": 2, "EUR": 2, "GBP": 2, "HKD": 2, "JPY": 0, "KRW": 0, "THB": 2}
"""Digits after the point per currency (2 for fen and cents)."""


def money_text(amount: int, currency: str) -> str:
    """Minor units as people read them: ``128000, "CNY"`` → ``"1,280.00 CNY"``."""
    digits = MINOR_DIGITS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**digits)
    text = f"{whole:,}" + (f".{frac:0{digits}d}" if digits else "")
    return f"{sign}{text} {currency}"


def to_minor(units: int | float | str, currency: str) -> int:
    """Whole units (``1280`` or ``"1280.50"``) to minor units, exactly (no float rounding)."""
    from decimal import Decimal, InvalidOperation

    try:
        d = Decimal(str(units))
    except InvalidOperation:
        raise ValueError(f"Not an amount: {units!r}") from None
    minor = d * (10 ** MINOR_DIGITS.get(currency, 2))
    if minor != minor.to_integral_value():
        raise ValueError(f"{units} {currency} has more decimals than the currency allows.")
    return int(minor)


def _currency(code: str) -> str:
    c = code.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", c):
        raise WalletError(f"Bad currency {code!r}: use a 3-letter code such as CNY, USD or SGD.")
    return c


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise WalletError(f"Amounts are whole minor units (int), got {amount!r}.")
    if amount <= 0:
        raise WalletError(f"The amount must be positive, got {amount}.")


CURRENCY_WORDS = {
    "CNY": ("rmb", "yuan", "renminbi", "人民币", "块钱"),
    "SGD": ("singapore dollar", "s$", "新加坡元", "新元", "新币"),
    "USD": ("us dollar", "dollar", "us$", "美元", "美金"),
    "EUR": ("euro", "欧元"),
    "JPY": ("yen", "日元"),
    "HKD": ("hong kong dollar", "港币", "港元"),
}
"""What people call a currency, beside its code (not a bare 元, which every price in Chinese has)."""
