"""Moderation and conflicts (KPIS.md): reports, time to action and to resolution, open cases,
repeat offenders."""
from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from cmcore.kpis import between, hours, instant, on_platforms

REPEAT_WINDOW = timedelta(days=90)


def cases(moderation: pl.DataFrame, start: datetime, end: datetime,
          platforms: list[int] | None = None) -> pl.DataFrame:
    """Cases reported in [start, end), with hours to first action and to resolution (null while
    pending)."""
    return (on_platforms(moderation.lazy(), platforms).filter(between("reported_at", start, end))
            .with_columns(hours("reported_at", "first_action_at").alias("action_hours"),
                          hours("reported_at", "resolved_at").alias("resolution_hours"))
            .sort("reported_at", "id").collect())


def reports_by_rule_and_platform(period_cases: pl.DataFrame, platforms: pl.DataFrame) -> pl.DataFrame:
    """Reports: cases opened in the period, per rule and platform."""
    return (period_cases.join(platforms.select("platform_id", pl.col("name").alias("platform")),
                              on="platform_id", how="left")
            .group_by("rule", "platform").agg(pl.len().alias("reports")).sort("rule", "platform"))


def open_cases(period_cases: pl.DataFrame, members: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Cases not yet resolved, oldest first, with their age in hours and whether anyone acted."""
    return (period_cases.filter(pl.col("resolved_at").is_null())
            .join(members.select("member_id", pl.col("display_name").alias("member")), on="member_id",
                  how="left", maintain_order="left")
            .with_columns(hours("reported_at", instant(now)).alias("age_hours"),
                          pl.col("first_action_at").is_not_null().alias("acted"))
            .select("id", "rule", "member", "reported_at", "age_hours", "acted"))


def repeat_offenders(moderation: pl.DataFrame, members: pl.DataFrame, end: datetime,
                     platforms: list[int] | None = None) -> pl.DataFrame:
    """Repeat offenders: members with 2 or more upheld cases reported in the 90 days before `end`."""
    return (on_platforms(moderation.lazy(), platforms)
            .filter((pl.col("outcome") == "upheld") & between("reported_at", end - REPEAT_WINDOW, end))
            .group_by("member_id").agg(pl.len().alias("upheld_cases"),
                                       pl.col("rule").unique().sort().str.join(", ").alias("rules"),
                                       pl.col("reported_at").max().alias("last_reported"))
            .filter(pl.col("upheld_cases") >= 2)
            .join(members.lazy().select("member_id", pl.col("display_name").alias("member")),
                  on="member_id", how="left")
            .sort(["upheld_cases", "member_id"], descending=[True, False])
            .select("member_id", "member", "upheld_cases", "rules", "last_reported").collect())
