"""Reputation (KPIS.md): mentions, reach, sentiment and crisis alerts. Mentions are outside talk:
they belong to no platform of the community, so the platform filter does not apply."""
from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from cmcore.kpis import between, local_day
from cmcore.kpis.growth import calendar

SENTIMENTS = {1: "positive", 0: "neutral", -1: "negative"}
TRAILING_DAYS = 28
ALERT_SIGMAS = 3.0
ALERT_FLOOR = 5


def mentions_in(mentions: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    return mentions.filter(between("created_at", start, end))


def daily_volume(mentions: pl.DataFrame, start: datetime, end: datetime, tz: str) -> pl.DataFrame:
    """Mentions and reach per local day and source."""
    return (mentions_in(mentions, start, end).group_by(local_day("created_at", tz).alias("day"), "source")
            .agg(pl.len().alias("mentions"), pl.col("reach").sum().alias("reach")).sort("day", "source"))


def sentiment_shares(mentions: pl.DataFrame, start: datetime, end: datetime) -> dict[str, float | None]:
    """Shares of positive, neutral and negative mentions, and net sentiment = (pos − neg) / all."""
    period = mentions_in(mentions, start, end)
    total = period.height
    counts = {SENTIMENTS[k]: (period["sentiment"] == k).sum() for k in SENTIMENTS}
    if not total:
        return {**{k: None for k in counts}, "net": None}
    return {**{k: v / total for k, v in counts.items()},
            "net": (counts["positive"] - counts["negative"]) / total}


def crisis_alerts(mentions: pl.DataFrame, start: datetime, end: datetime, tz: str,
                  sigmas: float = ALERT_SIGMAS, floor: int = ALERT_FLOOR) -> pl.DataFrame:
    """Crisis alerts: local days of [start, end) whose negative mentions exceed the mean of the 28
    days before by `sigmas` standard deviations (sample std, days without mentions counted as 0)
    and number at least `floor`. Columns: day, negative, trailing_mean, trailing_std, threshold."""
    days = calendar(start - timedelta(days=TRAILING_DAYS), end, tz)
    negative = (mentions.filter((pl.col("sentiment") == -1)
                                & between("created_at", start - timedelta(days=TRAILING_DAYS + 1), end))
                .group_by(local_day("created_at", tz).alias("day")).agg(pl.len().alias("negative")))
    series = (days.join(negative, on="day", how="left")
              .with_columns(pl.col("negative").fill_null(0).cast(pl.Int64)).sort("day")
              .with_columns(pl.col("negative").shift(1).rolling_mean(TRAILING_DAYS).alias("trailing_mean"),
                            pl.col("negative").shift(1).rolling_std(TRAILING_DAYS).alias("trailing_std"))
              .with_columns((pl.col("trailing_mean") + sigmas * pl.col("trailing_std")).alias("threshold")))
    first_day = days["day"][TRAILING_DAYS] if days.height > TRAILING_DAYS else None
    return series.filter((pl.col("day") >= first_day) & (pl.col("negative") > pl.col("threshold"))
                         & (pl.col("negative") >= floor))


def alert_mentions(mentions: pl.DataFrame, alerts: pl.DataFrame, tz: str) -> pl.DataFrame:
    """The negative mentions behind the alerts, most reach first."""
    return (mentions.filter(pl.col("sentiment") == -1)
            .with_columns(local_day("created_at", tz).alias("day"))
            .filter(pl.col("day").is_in(alerts["day"].implode()))
            .sort(["day", "reach"], descending=[False, True])
            .select("day", "created_at", "source", "author", "body", "reach", "lang", "url"))
