"""Reputation (KPIS.md): mentions, reach, sentiment and crisis alerts. Mentions are outside talk:
they belong to no platform of the community, so the platform filter does not apply.

The report is a handful of Polars queries, not one per number: on a few thousand mentions each
query costs more than its rows, and a cold page had paid thirty of them for a 2.5 ms read."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from cmcore.kpis import between, local_day
from cmcore.kpis.growth import calendar

SENTIMENTS = {1: "positive", 0: "neutral", -1: "negative"}
TRAILING_DAYS = 28
ALERT_SIGMAS = 3.0
ALERT_FLOOR = 5
SMALL = "in-memory"  # Polars' engine for frames of a few thousand rows: "auto" streams, at 0.25 ms a query


def tallies(mentions: pl.DataFrame, *windows: tuple[datetime, datetime]) -> list[dict[str, float | None]]:
    """Per window [start, end): mentions, reach, the shares of positive, neutral and negative
    mentions, and net sentiment = (positive − negative) / all (shares None without mentions)."""
    exprs = []
    for i, (start, end) in enumerate(windows):
        inside = between("created_at", start, end)
        exprs += [inside.sum().alias(f"{i}:mentions"), pl.col("reach").filter(inside).sum().alias(f"{i}:reach"),
                  *((inside & (pl.col("sentiment") == k)).sum().alias(f"{i}:{name}") for k, name in SENTIMENTS.items())]
    row = mentions.select(exprs).row(0, named=True)
    out = []
    for i in range(len(windows)):
        total, counts = row[f"{i}:mentions"], {name: row[f"{i}:{name}"] for name in SENTIMENTS.values()}
        shares = {name: n / total if total else None for name, n in counts.items()}
        net = (counts["positive"] - counts["negative"]) / total if total else None
        out.append({"mentions": total, "reach": row[f"{i}:reach"], **shares, "net": net})
    return out


def _first_day(start: datetime, tz: str) -> date:
    """The local day a window starting at `start` begins on."""
    return start.astimezone(ZoneInfo(tz)).date()


def _trailing_start(start: datetime, tz: str) -> datetime:
    """Local midnight TRAILING_DAYS days before a window's first day: where its first day's
    trailing window begins, counted in local days (a clock change makes one 23 or 25 hours)."""
    return datetime.combine(_first_day(start, tz) - timedelta(days=TRAILING_DAYS), time(), ZoneInfo(tz))


def per_day(mentions: pl.DataFrame, start: datetime, end: datetime, tz: str) -> pl.DataFrame:
    """Per local day and source, from TRAILING_DAYS days before [start, end) to its end: mentions,
    reach and negative mentions (what the daily charts and the crisis alerts are cut from)."""
    return (mentions.lazy().filter(between("created_at", _trailing_start(start, tz), end))
            .group_by(local_day("created_at", tz).alias("day"), "source")
            .agg(pl.len().alias("mentions"), pl.col("reach").sum(), (pl.col("sentiment") == -1).sum().alias("negative"))
            .collect(engine=SMALL))


def daily_volume(days: pl.DataFrame, start: datetime, tz: str) -> pl.LazyFrame:
    """Mentions and reach per local day and source from `start` on, from `per_day` (which ends
    with the window)."""
    return (days.lazy().filter(pl.col("day") >= _first_day(start, tz))
            .select("day", "source", "mentions", "reach").sort("day", "source"))


def crisis_alerts(days: pl.DataFrame, start: datetime, end: datetime, tz: str,
                  sigmas: float = ALERT_SIGMAS, floor: int = ALERT_FLOOR) -> pl.LazyFrame:
    """Crisis alerts, from `per_day`: local days of [start, end) whose negative mentions exceed the
    mean of the 28 days before by `sigmas` standard deviations (sample std, days without mentions
    counted as 0) and number at least `floor`. Columns: day, negative, trailing_mean,
    trailing_std, threshold."""
    negative = days.lazy().group_by("day").agg(pl.col("negative").sum())
    trailing = pl.col("negative").shift(1)
    return (calendar(_trailing_start(start, tz), end, tz).lazy()
            .join(negative, on="day", how="left", maintain_order="left")
            .with_columns(pl.col("negative").fill_null(0).cast(pl.Int64))
            .with_columns(trailing.rolling_mean(TRAILING_DAYS).alias("trailing_mean"),
                          trailing.rolling_std(TRAILING_DAYS).alias("trailing_std"))
            .with_columns((pl.col("trailing_mean") + sigmas * pl.col("trailing_std")).alias("threshold"))
            .filter((pl.col("day") >= _first_day(start, tz)) & (pl.col("negative") > pl.col("threshold"))
                    & (pl.col("negative") >= floor)))


def alert_mentions(mentions: pl.DataFrame, alerts: pl.DataFrame, start: datetime, end: datetime,
                   tz: str) -> pl.DataFrame:
    """The negative mentions of [start, end) behind the alerts, most reach first."""
    return (mentions.lazy().filter((pl.col("sentiment") == -1) & between("created_at", start, end))
            .with_columns(local_day("created_at", tz).alias("day"))
            .filter(pl.col("day").is_in(alerts["day"].implode()))
            .sort(["day", "reach"], descending=[False, True])
            .select("day", "created_at", "source", "author", "body", "reach", "lang", "url").collect(engine=SMALL))
