"""Retention (KPIS.md, Retention): monthly cohorts and Discord's new-member retention."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from cmcore.kpis import between, counted_sorted, instant, counted_after, on_platforms, share
from cmcore.kpis.growth import member_joins
from cmcore.periods import Period


def _month(column: str, tz: str) -> pl.Expr:
    return pl.col(column).dt.convert_time_zone(tz).dt.date().dt.truncate("1mo")


def cohort_span(period: Period, months: int = 12) -> tuple[date, date]:
    """The first and last cohort months of the heat map: `months` months up to the one holding the
    period's last day."""
    last = (period.end - timedelta(days=1)).replace(day=1)
    index = last.year * 12 + last.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1), last


MEMBER_MONTH = ["member_id", "month", "platform_id"]


def member_months(activity: pl.DataFrame, tz: str) -> pl.DataFrame:
    """The monthly rollup behind the cohorts: each (member, local month, platform) with an activity,
    and `n`, how many, sorted so."""
    months = activity.lazy().select("member_id", _month("created_at", tz).alias("month"), "platform_id").collect()
    return counted_sorted(months, MEMBER_MONTH)


def member_months_after(months: pl.DataFrame, removed: pl.DataFrame, added: pl.DataFrame, tz: str) -> pl.DataFrame:
    """`member_months` after activities were `removed` (as they were) and `added` (as they are)."""
    return counted_after(months, member_months(removed, tz), member_months(added, tz), MEMBER_MONTH)


def cohort_retention(members: pl.DataFrame, identities: pl.DataFrame, months_active: pl.DataFrame,
                     first_month: date, last_month: date, tz: str,
                     platforms: list[int] | None = None) -> pl.DataFrame:
    """Cohort retention: cohort = members by month of `joined_at` (local time); cell (cohort, k) =
    share of the cohort with at least one activity in month cohort + k, for the cohorts from
    `first_month` to `last_month` and the months up to `last_month` (whole calendar months: the
    last one counts all its activity so far); `months_active` is `member_months` in the same
    time zone.

    Columns: cohort, k, cohort_size, active, retention.
    """
    joins = (member_joins(members, identities, platforms)
             .select("member_id", _month("joined_at", tz).alias("cohort"))
             .filter(pl.col("cohort").is_between(first_month, last_month)))
    sizes = joins.group_by("cohort").agg(pl.len().alias("cohort_size"))
    active = (on_platforms(months_active.lazy(), platforms).select("member_id", "month").unique()
              .join(joins, on="member_id")
              .filter(pl.col("month").is_between(pl.col("cohort"), pl.lit(last_month)))
              .with_columns(((pl.col("month").dt.year() - pl.col("cohort").dt.year()) * 12
                             + pl.col("month").dt.month() - pl.col("cohort").dt.month()).alias("k"))
              .group_by("cohort", "k").agg(pl.len().alias("active")))
    months = (sizes.with_columns(pl.int_ranges(0, (pl.lit(last_month).dt.year() - pl.col("cohort").dt.year()) * 12
                                               + pl.lit(last_month).dt.month() - pl.col("cohort").dt.month() + 1)
                                 .alias("k")).explode("k").with_columns(pl.col("k").cast(pl.Int32)))
    return (months.join(active.with_columns(pl.col("k").cast(pl.Int32)), on=["cohort", "k"], how="left")
            .with_columns(pl.col("active").fill_null(0).cast(pl.Int64),
                          pl.col("cohort_size").cast(pl.Int64))
            .with_columns((pl.col("active") / pl.col("cohort_size")).alias("retention"))
            .select("cohort", "k", "cohort_size", "active", "retention").sort("cohort", "k").collect())


def new_member_retention(members: pl.DataFrame, identities: pl.DataFrame, activity: pl.DataFrame,
                         start: datetime, end: datetime, now: datetime,
                         platforms: list[int] | None = None) -> tuple[float | None, int]:
    """New-member retention (Discord): of the members who joined in [start, end) and whose second
    week is over by `now`, the share active again in their second week, i.e. in
    [joined_at + 7 days, joined_at + 14 days). Returns (share, members measured)."""
    joined = (member_joins(members, identities, platforms)
              .filter(between("joined_at", start, end)
                      & (pl.col("joined_at") + timedelta(days=14) <= instant(now))))
    again = (on_platforms(activity.lazy(), platforms).select("member_id", "created_at")
             .filter(between("created_at", start + timedelta(days=7), end + timedelta(days=14)))
             .join(joined, on="member_id")
             .filter(between("created_at", pl.col("joined_at") + timedelta(days=7),
                             pl.col("joined_at") + timedelta(days=14)))
             .select(pl.col("member_id").n_unique()))
    measured = joined.select(pl.len()).collect().item()
    return share(again.collect().item(), measured), measured
