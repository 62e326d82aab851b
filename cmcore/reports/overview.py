"""The managers' overview: headline numbers of the community over a period and platforms."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import polars as pl

from cmcore import community, frames, money
from cmcore.access import Principal, require
from cmcore.kpis import (Metric, between, bots_of, by_people, growth, instant, monetisation, on_platforms,
                         responsiveness)
from cmcore.periods import Period
from cmcore.reports import thread_responses

READERS = ("admin", "manager")
T = TypeVar("T")


def view(build: Callable[[Principal, Period, list[int] | None, str], T]) -> Callable[..., T]:
    """Make `build(principal, period, platforms, tz)` into the overview's reader: the role is
    checked on every call, and what it shows is computed once per change of its tables, period, platforms
    and time zone (Streamlit reruns the page on every click; a rerun is then a lookup). Its
    readers, managers and admins, all see the same data."""
    @functools.wraps(build)
    def read(principal: Principal, period: Period, platforms: list[int] | None = None,
             tz: str | None = None) -> T:
        require(principal, *READERS)
        tz = tz or community.timezone()
        key = f"overview.{build.__name__}:{period!r}:{platforms!r}:{tz}"
        return frames.result(key, lambda: build(principal, period, platforms, tz))
    return read


@view
def headline(principal: Principal, period: Period, platforms: list[int] | None, tz: str) -> list[Metric]:
    """Members, active members, new members, threads, time to first response (median) and the
    revenue booked, all over the period (the one the sidebar shows), each beside the previous period's."""
    members, identities = frames.table("members"), frames.table("identities")
    activity, revenue = frames.table("activity"), money.revenue_lines(principal)
    now, before = period.bounds(tz), period.previous().bounds(tz)

    def pair(fn, *args) -> tuple:
        return fn(*args, *now, platforms), fn(*args, *before, platforms)

    out = [
        Metric("members", "Members", growth.members(members, identities, now[1], platforms),
               growth.members(members, identities, before[1], platforms), "count",
               definition="Members who joined before the end of the period."),
        Metric("active_members", "Active members",
               *(growth.active_members(activity, *b, platforms, bots_of(members)) for b in (now, before)), "count",
               definition="Distinct members with at least one activity in the period."),
        Metric("new_members", "New members", *pair(growth.new_members, members, identities), "count",
               definition="Members who joined in the period."),
        Metric("threads", "Threads", *pair(growth.threads, activity), "count",
               definition="Threads, topics and questions created in the period."),
        Metric("ttfr_median", "Time to first response (median)",
               *pair(responsiveness.time_to_first_response_median, thread_responses()), "hours",
               higher_is_better=False,
               definition="Median time from a thread's creation to the first response by "
                          "another member, over the threads of the period that got one."),
    ]
    this, last = (monetisation.revenue_booked(revenue, p.start, p.end) for p in (period, period.previous()))
    return out + money.per_currency("revenue", "Revenue booked", this, last,
                                    definition="Revenue booked in the period, against the period of the same "
                                               "length before it (all platforms).")


@view
def daily(_principal: Principal, period: Period, platforms: list[int] | None, tz: str) -> pl.DataFrame:
    """Active and new members per day of the period."""
    return growth.daily_activity(frames.table("activity"), frames.table("members"),
                                 frames.table("identities"), *period.bounds(tz), tz, platforms)


@view
def by_platform(_principal: Principal, period: Period, platforms: list[int] | None, tz: str) -> pl.DataFrame:
    """The headline numbers per platform (a member on two platforms counts on each, a bot on none),
    one group-by per number over the frames read once."""
    start, end = period.bounds(tz)
    bots = bots_of(frames.table("members"))
    activity = on_platforms(frames.table("activity").lazy(), platforms)
    joins = (by_people(on_platforms(frames.table("identities").lazy(), platforms), bots)
             .group_by("platform_id", "member_id").agg(pl.col("joined_at").min()))
    in_period = activity.filter(between("created_at", start, end))
    counts = pl.collect_all([
        joins.filter(pl.col("joined_at") < instant(end)).group_by("platform_id").agg(pl.len().alias("members")),
        by_people(in_period, bots).group_by("platform_id").agg(pl.col("member_id").n_unique().alias("active_members")),
        joins.filter(between("joined_at", start, end)).group_by("platform_id").agg(pl.len().alias("new_members")),
        in_period.filter(pl.col("kind") == "thread").group_by("platform_id").agg(pl.len().alias("threads")),
        responsiveness.first_responses(thread_responses(), start, end, platforms).lazy()
        .group_by("platform_id").agg(pl.col("hours").median().alias("ttfr_median_hours")),
    ])
    table = on_platforms(frames.table("platforms").lazy(), platforms).select("platform_id", pl.col("name").alias("platform"))
    for frame in counts:
        table = table.join(frame.lazy(), on="platform_id", how="left", maintain_order="left")
    return (table.with_columns(pl.col("members", "active_members", "new_members", "threads").fill_null(0).cast(pl.Int64),
                               pl.col("ttfr_median_hours").cast(pl.Float64))
            .select("platform", "members", "active_members", "new_members", "threads", "ttfr_median_hours").collect())
