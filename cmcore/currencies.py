"""Money's units: the ISO 4217 currencies with the decimals of their minor unit, the bounds of one
amount, and the one conversion from minor units to the amounts people read (exact: never a float).

The currencies are ISO's own list, from the `iso4217` package (its `exponent` is ISO's minor
unit); those without a minor unit (funds, gold, the SDR, XTS for tests, XXX for "no currency")
are no money the app records. The database holds the same list (sql/0010, checked equal by
tests/test_money.py), so forms, imports and the database accept the same codes.
"""
from __future__ import annotations

from decimal import Decimal

import polars as pl
from iso4217 import Currency

CURRENCIES: dict[str, int] = dict(sorted((c.code, c.exponent) for c in Currency if c.exponent is not None))
POINTS = "PTS"  # the rewards programme's own unit for points, gifts and badges: whole numbers
MAX_MINOR = 10**13  # the largest amount, in minor units (100 billion EUR, 10 trillion JPY; sql/0010)


def decimals(currency: str) -> int:
    """Decimals of the currency's minor unit (0 for points)."""
    return 0 if currency == POINTS else CURRENCIES[currency]


def major(minor: int | float | Decimal, currency: str) -> Decimal:
    """5000 EUR minor units → Decimal('50.00'): exact, whatever the size (a float would drop
    cents beyond 2^53 minor units)."""
    return Decimal(minor).scaleb(-decimals(currency))


def major_expr(amount: str, currency: str = "currency") -> pl.Expr:
    """Amounts in major units as floats, for charts: `amount` in minor units of the row's `currency`."""
    units = {c: 10 ** d for c, d in CURRENCIES.items()} | {POINTS: 1}
    return pl.col(amount).cast(pl.Float64) / pl.col(currency).replace_strict(units, return_dtype=pl.Int64)


def text(minor: int, currency: str) -> str:
    """Minor units as a plain amount with the currency's decimals: 5000, 'EUR' → '50.00'."""
    return f"{major(minor, currency):.{decimals(currency)}f}"
