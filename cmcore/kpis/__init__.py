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
    unit: str  # "count", "hours" or "money" (minor units of `currency`)
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


def between(column: str, start: datetime, end: datetime) -> pl.Expr:
    """`column` in the half-open window [start, end)."""
    return (pl.col(column) >= start) & (pl.col(column) < end)
