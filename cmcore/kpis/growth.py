"""Growth and activity (KPIS.md, Growth)."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from cmcore.kpis import (CONTRIBUTION_KINDS, between, bots_of, by_people, counted_sorted, day_slice, instant,
                         local_day, counted_after, on_platforms, share)
from cmcore.periods import Period


def member_joins(members: pl.DataFrame, identities: pl.DataFrame,
                 platforms: list[int] | None) -> pl.LazyFrame:
    """One row per member (bots left out) with the time they joined: `member.joined_at`, or, with a
    platform filter, their earliest account on those platforms (a person on two platforms counts
    once)."""
    if platforms is None:
        return members.lazy().filter(~pl.col("is_bot")).select("member_id", "joined_at")
    return (by_people(on_platforms(identities.lazy(), platforms), bots_of(members))
            .group_by("member_id").agg(pl.col("joined_at").min()))


def members(members: pl.DataFrame, identities: pl.DataFrame, end: datetime,
            platforms: list[int] | None = None) -> int:
    """Members: members whose `joined_at` < end."""
    joins = member_joins(members, identities, platforms)
    return joins.filter(pl.col("joined_at") < instant(end)).select(pl.len()).collect().item()


def new_members(members: pl.DataFrame, identities: pl.DataFrame, start: datetime, end: datetime,
                platforms: list[int] | None = None) -> int:
    """New members: members whose `joined_at` falls in [start, end)."""
    joins = member_joins(members, identities, platforms)
    return joins.filter(between("joined_at", start, end)).select(pl.len()).collect().item()


def active_members(activity: pl.DataFrame, start: datetime, end: datetime,
                   platforms: list[int] | None = None, bots: pl.Series | None = None) -> int:
    """Active members: distinct members (not `bots`) with at least one activity of any kind in
    [start, end)."""
    return (by_people(on_platforms(activity.lazy(), platforms), bots).filter(between("created_at", start, end))
            .select(pl.col("member_id").n_unique()).collect().item())


def threads(activity: pl.DataFrame, start: datetime, end: datetime,
            platforms: list[int] | None = None) -> int:
    """Threads: threads (topics, questions, posts) created in [start, end)."""
    return (on_platforms(activity.lazy(), platforms)
            .filter((pl.col("kind") == "thread") & between("created_at", start, end))
            .select(pl.len()).collect().item())


def daily_activity(activity: pl.DataFrame, members_: pl.DataFrame, identities: pl.DataFrame,
                   start: datetime, end: datetime, tz: str, platforms: list[int] | None = None,
                   dau: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per day of the community's time zone: active members (DAU) and new members (bots left out).
    The DAU is counted from `activity`, or taken from an `active_series` of the days (`dau`).

    Every day of the window has a row, with 0 where nothing happened.
    """
    def per_day(frame: pl.LazyFrame, column: str, value: pl.Expr, name: str) -> pl.LazyFrame:
        return (frame.filter(between(column, start, end))
                .group_by(local_day(column, tz).alias("day"))
                .agg(value.alias(name)))

    days = calendar(start, end, tz).lazy()
    active = (per_day(by_people(on_platforms(activity.lazy(), platforms), bots_of(members_)), "created_at",
                      pl.col("member_id").n_unique(), "active_members")
              if dau is None else dau.lazy().select("day", pl.col("dau").alias("active_members")))
    new = per_day(member_joins(members_, identities, platforms), "joined_at", pl.len(), "new_members")
    return (days.join(active, on="day", how="left").join(new, on="day", how="left")
            .with_columns(pl.col("active_members", "new_members").fill_null(0).cast(pl.Int64))
            .sort("day").collect())


def calendar(start: datetime, end: datetime, tz: str) -> pl.DataFrame:
    """Every local day of [start, end) in time zone `tz`, as column `day`."""
    zone = ZoneInfo(tz)
    return pl.DataFrame({"day": pl.date_range(start.astimezone(zone).date(), end.astimezone(zone).date(),
                                              closed="left", eager=True)})


MEMBER_DAY = ["day", "member_id", "platform_id"]
ACTIVE_BEFORE = timedelta(days=29)  # the days before a period whose activity its MAU counts


def member_days(activity: pl.DataFrame, tz: str) -> pl.DataFrame:
    """The daily rollup behind DAU/WAU/MAU: each (local day, member, platform) with an activity,
    and `n`, how many, sorted so: in time order, a period's days are a slice and new activities
    touch only its last rows (an import or sync of the last days rewrites those days, not the
    5M member days of a year at 10M activities)."""
    days = activity.lazy().select(local_day("created_at", tz).alias("day"), "member_id", "platform_id").collect()
    return counted_sorted(days, MEMBER_DAY)


def member_days_after(days: pl.DataFrame, removed: pl.DataFrame, added: pl.DataFrame, tz: str) -> pl.DataFrame:
    """`member_days` after activities were `removed` (as they were) and `added` (as they are)."""
    return counted_after(days, member_days(removed, tz), member_days(added, tz), MEMBER_DAY)


def active_days(days_active: pl.DataFrame, periods: tuple[Period, ...], platforms: list[int] | None = None,
                bots: pl.Series | None = None) -> pl.DataFrame:
    """Each member's active days on the platforms (members who are `bots` left out) that the
    series of `periods` look at (from `ACTIVE_BEFORE` the first's start to the last's end), with the
    member's next active day among them (or null), sorted by member and day. From `member_days`:
    those days are a slice of it, their (member, day) pairs sorted packed (`counted_sorted`), so
    neighbours are compared rather than rows grouped."""
    first, end = min(p.start for p in periods) - ACTIVE_BEFORE, max(p.end for p in periods)
    window = by_people(on_platforms(day_slice(days_active, first, end), platforms), bots).collect()
    member, day = pl.col("member_id"), pl.col("day")
    return (counted_sorted(window, ["member_id", "day"]).select("member_id", "day")
            .with_columns(pl.when(member.shift(-1) == member).then(day.shift(-1)).alias("next_day")))


def active_series(spans: pl.DataFrame, period: Period) -> pl.DataFrame:
    """DAU, WAU and MAU per local day of the period: distinct members with an activity in the 1, 7
    and 30 days ending on that day (Discourse and Discord's definitions), from `active_days` of
    periods that include this one.

    Each active day covers [day, min(day + w, next active day)), so a day is covered by at most
    one interval per member and a running sum counts members, not activities.
    """
    days = pl.DataFrame({"day": pl.date_range(period.start, period.end, closed="left", eager=True)})
    spans_ = spans.lazy().filter((pl.col("day") >= period.start - ACTIVE_BEFORE) & (pl.col("day") < period.end))
    out = days.lazy()
    for name, width in (("dau", 1), ("wau", 7), ("mau", 30)):
        until = pl.min_horizontal(pl.col("day") + timedelta(days=width),
                                  pl.col("next_day").fill_null(pl.col("day") + timedelta(days=width)))
        steps = pl.concat([
            spans_.select("day", pl.lit(1, pl.Int64).alias("step")),
            spans_.select(until.alias("day"), pl.lit(-1, pl.Int64).alias("step")),
        ]).group_by("day").agg(pl.col("step").sum())
        running = (pl.concat([days.lazy().select("day"), steps.select("day")]).unique()
                   .join(steps, on="day", how="left").sort("day")
                   .select("day", pl.col("step").fill_null(0).cum_sum().alias(name)))
        out = out.join(running, on="day", how="left")
    return out.sort("day").collect()


def stickiness(series: pl.DataFrame) -> float | None:
    """Mean over the period's days of DAU / MAU (days with no MAU left out)."""
    ratios = series.filter(pl.col("mau") > 0).select(pl.col("dau") / pl.col("mau")).to_series()
    return ratios.mean() if len(ratios) else None


def contributions(activity: pl.DataFrame, platforms: list[int] | None, bots: pl.Series | None) -> pl.LazyFrame:
    """Activities that are contributions (thread, reply, comment, answer) on the platforms, by
    members who are not `bots`."""
    return by_people(on_platforms(activity.lazy(), platforms), bots).filter(pl.col("kind").is_in(CONTRIBUTION_KINDS))


def contributors(activity: pl.DataFrame, start: datetime, end: datetime,
                 platforms: list[int] | None = None, bots: pl.Series | None = None) -> int:
    """Contributors: distinct members who wrote (thread, reply, comment, answer) in [start, end)."""
    return (contributions(activity, platforms, bots).filter(between("created_at", start, end))
            .select(pl.col("member_id").n_unique()).collect().item())


def participation_rate(activity: pl.DataFrame, members_: pl.DataFrame, identities: pl.DataFrame,
                       start: datetime, end: datetime, platforms: list[int] | None = None) -> float | None:
    """Participation rate: contributors of the period / members at its end."""
    return share(contributors(activity, start, end, platforms, bots_of(members_)),
                 members(members_, identities, end, platforms))


def first_contributions(activity: pl.DataFrame, platforms: list[int] | None = None) -> pl.DataFrame:
    """Each member's first contribution ever on the platforms (`first_contribution`), bots
    included (`new_contributors` leaves them out: a member who becomes a bot changes no activity)."""
    return (contributions(activity, platforms, None).group_by("member_id")
            .agg(pl.col("created_at").min().alias("first_contribution")).collect())


def first_contributions_after(firsts: pl.DataFrame, activity: pl.DataFrame, removed: pl.DataFrame,
                              added: pl.DataFrame, platforms: list[int] | None = None) -> pl.DataFrame:
    """`first_contributions` after activities were `removed` (as they were) and `added` (as they
    are), `activity` being the frame after both: an added contribution can only bring a member's
    first earlier; the members of a removed one (a merge, a correction) are counted again from
    `activity`, only their rows."""
    gone = pl.col("member_id").is_in(
        contributions(removed, platforms, None).select("member_id").unique().collect()["member_id"].implode())
    earlier = pl.concat([firsts, first_contributions(added, platforms)]).filter(~gone)
    return (pl.concat([earlier, first_contributions(activity.filter(gone), platforms)])
            .group_by("member_id").agg(pl.col("first_contribution").min()))


def new_contributors(firsts: pl.DataFrame, start: datetime, end: datetime,
                     bots: pl.Series | None = None) -> pl.DataFrame:
    """New contributors (CHAOSS): members (not `bots`) whose first contribution ever
    (`first_contributions`) falls in [start, end), with its time."""
    return (by_people(firsts.lazy(), bots).filter(between("first_contribution", start, end))
            .sort("first_contribution", "member_id").collect())


def inactive_contributors(activity: pl.DataFrame, start: datetime, end: datetime,
                          platforms: list[int] | None = None, bots: pl.Series | None = None) -> pl.DataFrame:
    """Inactive contributors (CHAOSS): members who contributed in the 90 days before `start` but
    not in [start, end), with their last contribution and their count in those 90 days."""
    acts = contributions(activity, platforms, bots)
    before = (acts.filter(between("created_at", start - timedelta(days=90), start))
              .group_by("member_id").agg(pl.col("created_at").max().alias("last_contribution"),
                                         pl.len().alias("contributions_90d")))
    during = acts.filter(between("created_at", start, end)).select("member_id").unique()
    return (before.join(during, on="member_id", how="anti")
            .sort(["contributions_90d", "member_id"], descending=[True, False]).collect())
