"""Monetisation (KPIS.md, Monetisation). Amounts stay in minor units, one total per currency."""
from __future__ import annotations

from datetime import date

import polars as pl


def revenue_booked(revenue: pl.DataFrame, start: date, end: date) -> dict[str, int]:
    """Revenue: sum of `amount_minor` booked in [start, end), per currency (never mixed)."""
    totals = (revenue.lazy().filter((pl.col("booked_on") >= start) & (pl.col("booked_on") < end))
              .group_by("currency").agg(pl.col("amount_minor").sum()).sort("currency").collect())
    return dict(totals.iter_rows())
