"""Moderation and conflicts (KPIS.md): reports, time to action and to resolution, open cases,
repeat offenders.

The `moderation` frame is in report order (as `frames` reads it): a period's cases are a slice
found by two binary searches, and each function is one or two small Polars queries (on a few
thousand cases a query's fixed cost, not its rows, is what a page pays)."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from cmcore.kpis import hours, instant, median_p90, micros, on_platforms, within_sla

REPEAT_WINDOW = timedelta(days=90)


def reported_in(moderation: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """The cases reported in [start, end): a slice of the frame, in report order."""
    times = moderation["reported_at"].to_physical().to_numpy()
    lo, hi = np.searchsorted(times, [micros(start), micros(end)]).tolist()
    return moderation.slice(lo, hi - lo)


def cases(moderation: pl.DataFrame, start: datetime, end: datetime,
          platforms: list[int] | None = None) -> pl.DataFrame:
    """Cases reported in [start, end), with hours to first action and to resolution (null while
    pending)."""
    return (on_platforms(reported_in(moderation, start, end).lazy(), platforms)
            .with_columns(hours("reported_at", "first_action_at").alias("action_hours"),
                          hours("reported_at", "resolved_at").alias("resolution_hours"))
            .collect())


def figures(period_cases: pl.DataFrame, sla_hours: float, now: datetime) -> dict[str, float | int | None]:
    """Reports; median and p90 hours to first action; the share acted on within the SLA; median
    hours to resolution; cases still open. One query."""
    return period_cases.select(
        pl.len().alias("reports"),
        *median_p90("action_hours", "action"),
        within_sla("reported_at", "action_hours", sla_hours, now).alias("within_sla"),
        pl.col("resolution_hours").median().alias("resolution"),
        pl.col("resolved_at").null_count().alias("open"),
    ).row(0, named=True)


def reports_by_rule_and_platform(period_cases: pl.DataFrame, platforms: pl.DataFrame) -> pl.DataFrame:
    """Reports: cases opened in the period, per rule and platform."""
    return (period_cases.lazy().group_by("rule", "platform_id").agg(pl.len().alias("reports"))
            .join(platforms.lazy().select("platform_id", pl.col("name").alias("platform")),
                  on="platform_id", how="left")
            .select("rule", "platform", "reports").sort("rule", "platform").collect())


def member_names(members: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """(member_id, member) of the members `ids`, found by binary search in `members` (in id order,
    as `frames` reads them) rather than by hashing the whole community for a few rows."""
    known, wanted = members["member_id"].to_numpy(), np.unique(ids.to_numpy())
    at = np.searchsorted(known, wanted)
    inside = at < known.size
    at = at[inside][known[at[inside]] == wanted[inside]]
    return members.select(pl.col("member_id").gather(at), pl.col("display_name").gather(at).alias("member"))


def open_cases(period_cases: pl.DataFrame, members: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Cases not yet resolved, oldest first, with their age in hours and whether anyone acted."""
    pending = period_cases.filter(pl.col("resolved_at").is_null())
    return (pending.lazy()
            .join(member_names(members, pending["member_id"]).lazy(), on="member_id", how="left",
                  maintain_order="left")
            .select("id", "rule", "member", "reported_at",
                    hours("reported_at", instant(now)).alias("age_hours"),
                    pl.col("first_action_at").is_not_null().alias("acted")).collect())


def repeat_offenders(moderation: pl.DataFrame, members: pl.DataFrame, end: datetime,
                     platforms: list[int] | None = None) -> pl.DataFrame:
    """Repeat offenders: members with 2 or more upheld cases reported in the 90 days before `end`."""
    offenders = (on_platforms(reported_in(moderation, end - REPEAT_WINDOW, end).lazy(), platforms)
                 .filter(pl.col("outcome") == "upheld")
                 .group_by("member_id").agg(pl.len().alias("upheld_cases"),
                                            pl.col("rule").unique().sort().str.join(", ").alias("rules"),
                                            pl.col("reported_at").max().alias("last_reported"))
                 .filter(pl.col("upheld_cases") >= 2).collect())
    return (offenders.lazy()
            .join(member_names(members, offenders["member_id"]).lazy(), on="member_id", how="left")
            .sort(["upheld_cases", "member_id"], descending=[True, False])
            .select("member_id", "member", "upheld_cases", "rules", "last_reported").collect())
