"""The managers' overview: headline numbers of the community over a period and platforms."""
from __future__ import annotations

from datetime import timedelta

import polars as pl

from cmcore import community, frames, money
from cmcore.access import Principal, require
from cmcore.kpis import Metric, growth, monetisation, responsiveness
from cmcore.periods import Period

READERS = ("admin", "manager")


def headline(principal: Principal, period: Period, platforms: list[int] | None = None,
             tz: str | None = None) -> list[Metric]:
    """Members, active members, new members, threads, time to first response (median) and the
    revenue of the month holding the period's last day, each beside the previous period's."""
    require(principal, *READERS)
    tz = tz or community.timezone()
    members, identities = frames.table("members"), frames.table("identities")
    activity, revenue = frames.table("activity"), money.revenue_lines(principal)
    now, before = period.bounds(tz), period.previous().bounds(tz)

    def pair(fn, *args) -> tuple:
        return fn(*args, *now, platforms), fn(*args, *before, platforms)

    out = [
        Metric("members", "Members", growth.members(members, identities, now[1], platforms),
               growth.members(members, identities, before[1], platforms), "count",
               definition="Members who joined before the end of the period."),
        Metric("active_members", "Active members", *pair(growth.active_members, activity), "count",
               definition="Distinct members with at least one activity in the period."),
        Metric("new_members", "New members", *pair(growth.new_members, members, identities), "count",
               definition="Members who joined in the period."),
        Metric("threads", "Threads", *pair(growth.threads, activity), "count",
               definition="Threads, topics and questions created in the period."),
        Metric("ttfr_median", "Time to first response (median)",
               *pair(responsiveness.time_to_first_response_median, activity), "hours",
               higher_is_better=False,
               definition="Median time from a thread's creation to the first response by "
                          "another member, over the threads of the period that got one."),
    ]
    month = period.month_of_last_day()
    month_before = Period(month.start - timedelta(days=1), month.start).month_of_last_day()
    this, last = (monetisation.revenue_booked(revenue, m.start, m.end) for m in (month, month_before))
    for currency in sorted(set(this) | set(last)):
        out.append(Metric(f"revenue_{currency}", "Revenue this month", this.get(currency, 0),
                          last.get(currency, 0), "money", currency=currency,
                          definition="Revenue booked in the calendar month of the period's last "
                                     "day, against the month before (all platforms)."))
    return out


def daily(principal: Principal, period: Period, platforms: list[int] | None = None,
          tz: str | None = None) -> pl.DataFrame:
    """Active and new members per day of the period."""
    require(principal, *READERS)
    tz = tz or community.timezone()
    return growth.daily_activity(frames.table("activity"), frames.table("members"),
                                 frames.table("identities"), *period.bounds(tz), tz, platforms)


def by_platform(principal: Principal, period: Period, platforms: list[int] | None = None,
                tz: str | None = None) -> pl.DataFrame:
    """The headline numbers per platform (a member on two platforms counts on each)."""
    require(principal, *READERS)
    tz = tz or community.timezone()
    start, end = period.bounds(tz)
    members, identities = frames.table("members"), frames.table("identities")
    activity = frames.table("activity")
    chosen = frames.table("platforms")
    if platforms is not None:
        chosen = chosen.filter(pl.col("platform_id").is_in(platforms))
    rows = [{
        "platform": p["name"],
        "members": growth.members(members, identities, end, [p["platform_id"]]),
        "active_members": growth.active_members(activity, start, end, [p["platform_id"]]),
        "new_members": growth.new_members(members, identities, start, end, [p["platform_id"]]),
        "threads": growth.threads(activity, start, end, [p["platform_id"]]),
        "ttfr_median_hours": responsiveness.time_to_first_response_median(
            activity, start, end, [p["platform_id"]]),
    } for p in chosen.iter_rows(named=True)]
    return pl.DataFrame(rows, schema={"platform": pl.String, "members": pl.Int64,
                                      "active_members": pl.Int64, "new_members": pl.Int64,
                                      "threads": pl.Int64, "ttfr_median_hours": pl.Float64})
