"""Metrics: pure Polars transforms (frames in, numbers or frames out), one per KPIS.md definition."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl


@dataclass(frozen=True)
class Metric:
    """A headline number with the previous period's value, in the manner of Discourse's reports."""

    key: str
    label: str  # English; the interface translates it
    value: float | None
    previous: float | None
    unit: str  # "count", "number", "ratio" (0–1), "hours" or "money" (minor units of `currency`)
    higher_is_better: bool = True
    currency: str | None = None
    definition: str = ""

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def on_platforms(frame: pl.LazyFrame, platforms: list[int] | None) -> pl.LazyFrame:
    """Keep the rows of the chosen platforms (all when `platforms` is None)."""
    return frame if platforms is None else frame.filter(pl.col("platform_id").is_in(platforms))


def between(column: str, start: datetime | pl.Expr, end: datetime | pl.Expr) -> pl.Expr:
    """`column` in the half-open window [start, end)."""
    return (pl.col(column) >= start) & (pl.col(column) < end)


CONTRIBUTION_KINDS = ("thread", "reply", "comment", "answer")


def hours(start: str | pl.Expr, end: str | pl.Expr) -> pl.Expr:
    """Hours from `start` to `end` (columns or expressions), to the microsecond."""
    as_expr = lambda x: pl.col(x) if isinstance(x, str) else x  # noqa: E731
    return (as_expr(end) - as_expr(start)).dt.total_microseconds() / 3_600_000_000


def local_day(column: str, tz: str) -> pl.Expr:
    """The calendar day of a UTC timestamp column in time zone `tz`."""
    return pl.col(column).dt.convert_time_zone(tz).dt.date()


def median_p90(values: pl.Series) -> tuple[float | None, float | None]:
    """Median and 90th percentile (linear interpolation) of the non-null values."""
    values = values.drop_nulls()
    if values.is_empty():
        return None, None
    return values.median(), values.quantile(0.9, "linear")


def share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None
