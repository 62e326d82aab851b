"""Growth and activity (KPIS.md, Growth)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

from cmcore.kpis import between, on_platforms


def member_joins(members: pl.DataFrame, identities: pl.DataFrame,
                 platforms: list[int] | None) -> pl.LazyFrame:
    """One row per member with the time they joined: `member.joined_at`, or, with a platform
    filter, their earliest account on those platforms (a person on two platforms counts once)."""
    if platforms is None:
        return members.lazy().select("member_id", "joined_at")
    return (on_platforms(identities.lazy(), platforms)
            .group_by("member_id").agg(pl.col("joined_at").min()))


def members(members: pl.DataFrame, identities: pl.DataFrame, end: datetime,
            platforms: list[int] | None = None) -> int:
    """Members: members whose `joined_at` < end."""
    joins = member_joins(members, identities, platforms)
    return joins.filter(pl.col("joined_at") < end).select(pl.len()).collect().item()


def new_members(members: pl.DataFrame, identities: pl.DataFrame, start: datetime, end: datetime,
                platforms: list[int] | None = None) -> int:
    """New members: members whose `joined_at` falls in [start, end)."""
    joins = member_joins(members, identities, platforms)
    return joins.filter(between("joined_at", start, end)).select(pl.len()).collect().item()


def active_members(activity: pl.DataFrame, start: datetime, end: datetime,
                   platforms: list[int] | None = None) -> int:
    """Active members: distinct members with at least one activity of any kind in [start, end)."""
    return (on_platforms(activity.lazy(), platforms).filter(between("created_at", start, end))
            .select(pl.col("member_id").n_unique()).collect().item())


def threads(activity: pl.DataFrame, start: datetime, end: datetime,
            platforms: list[int] | None = None) -> int:
    """Threads: threads (topics, questions, posts) created in [start, end)."""
    return (on_platforms(activity.lazy(), platforms)
            .filter((pl.col("kind") == "thread") & between("created_at", start, end))
            .select(pl.len()).collect().item())


def daily_activity(activity: pl.DataFrame, members_: pl.DataFrame, identities: pl.DataFrame,
                   start: datetime, end: datetime, tz: str,
                   platforms: list[int] | None = None) -> pl.DataFrame:
    """Per day of the community's time zone: active members (DAU) and new members.

    Every day of the window has a row, with 0 where nothing happened.
    """
    def per_day(frame: pl.LazyFrame, column: str, value: pl.Expr, name: str) -> pl.LazyFrame:
        return (frame.filter(between(column, start, end))
                .group_by(pl.col(column).dt.convert_time_zone(tz).dt.date().alias("day"))
                .agg(value.alias(name)))

    days = pl.LazyFrame({"day": pl.date_range(start.astimezone(ZoneInfo(tz)).date(),
                                              end.astimezone(ZoneInfo(tz)).date(), closed="left",
                                              eager=True)})
    dau = per_day(on_platforms(activity.lazy(), platforms), "created_at",
                  pl.col("member_id").n_unique(), "active_members")
    new = per_day(member_joins(members_, identities, platforms), "joined_at", pl.len(), "new_members")
    return (days.join(dau, on="day", how="left").join(new, on="day", how="left")
            .with_columns(pl.col("active_members", "new_members").fill_null(0).cast(pl.Int64))
            .sort("day").collect())

