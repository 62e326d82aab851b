"""Page services: one report per KPI page (the role check, headline metrics against the previous
period, the frames its charts and tables show), cached per change of its tables and scope; the
transforms they call are `cmcore.kpis`. Pages only lay these out."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from cmcore import community, frames
from cmcore.access import Principal, require
from cmcore.kpis import (Metric, bots_of, content, growth, moderation, reputation, responsiveness,
                         retention)
from cmcore.periods import Period

MANAGERS = ("admin", "manager")
MANAGERS_AND_STAFF = ("admin", "manager", "staff")
T = TypeVar("T")


@dataclass(frozen=True)
class Scope:
    """What a report covers: the period, the platforms (None: all), the time zone, and "now"."""

    period: Period
    platforms: list[int] | None = None
    tz: str | None = None
    now: datetime | None = None

    def resolved(self) -> Scope:
        """The community's time zone if none is given; "now" to the minute if none is given
        (reports of the same minute are the same, and cached)."""
        return Scope(self.period, self.platforms, self.tz or community.timezone(),
                     self.now or datetime.now(UTC).replace(second=0, microsecond=0))

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return self.period.bounds(self.tz)

    @property
    def previous(self) -> tuple[datetime, datetime]:
        return self.period.previous().bounds(self.tz)


@dataclass
class Report:
    metrics: list[Metric]
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)


def cached(*roles: str) -> Callable[[Callable[..., Report]], Callable[..., Report]]:
    """Make `build(scope, **options)`, a report that depends only on its scope, into the report
    `(principal, scope, **options)` for `roles`: the role is checked on every call, the report is
    computed once per change of its tables, resolved scope and options (Streamlit reruns a page on every
    click; a rerun then costs a lookup)."""
    def wrap(build: Callable[..., Report]) -> Callable[..., Report]:
        @functools.wraps(build)
        def report(principal: Principal, scope: Scope, **options: object) -> Report:
            require(principal, *roles)
            s = scope.resolved()
            key = f"{build.__qualname__}:{s!r}:{sorted(options.items())!r}"
            return frames.result(key, lambda: build(s, **options))
        return report
    return wrap


def _after(changes: frames.Changes, update: Callable[[T, pl.DataFrame, pl.DataFrame], T], old: T) -> T | None:
    """`update(old, removed, added)` for how activity changed since `old` was made (None when
    that is not known: `old` is then made again)."""
    frames.table("activity")
    delta = changes.delta("activity")
    return None if delta is None else update(old, delta.removed, delta.added)


def thread_responses() -> pl.DataFrame:
    """Every thread's first response (`responsiveness.thread_responses`), made once and followed
    through changes of the activity: a period's first responses are then a slice of it."""
    activity = frames.table("activity")
    return frames.derived("thread_responses", lambda: responsiveness.thread_responses(activity), tables=("activity",),
                          update=lambda old, changes: _after(changes, lambda o, removed, added: (
                              responsiveness.thread_responses_after(o, activity, removed, added)), old))


def _both(fn, scope: Scope, *args):
    """fn(*args, start, end, platforms) for the period and for the previous one."""
    return (fn(*args, *scope.bounds, scope.platforms), fn(*args, *scope.previous, scope.platforms))


@cached(*MANAGERS)
def growth_report(s: Scope) -> Report:
    """Growth & engagement: members, new members, DAU/WAU/MAU, stickiness, participation,
    new and inactive contributors."""
    members, identities, activity = frames.table("members"), frames.table("identities"), frames.table("activity")
    bots = bots_of(members)
    days_active = frames.derived(f"member_days:{s.tz}", lambda: growth.member_days(activity, s.tz),
                                 update=lambda old, changes: _after(changes, functools.partial(growth.member_days_after,
                                                                                               tz=s.tz), old))
    periods = (s.period, s.period.previous())
    spans = growth.active_days(days_active, periods, s.platforms, bots)
    series, before = (growth.active_series(spans, p) for p in periods)
    firsts = frames.derived(f"first_contributions:{s.platforms}",  # the same for every period
                            lambda: growth.first_contributions(activity, s.platforms), tables=("activity",),
                            update=lambda old, changes: _after(changes, lambda o, removed, added: (
                                growth.first_contributions_after(o, activity, removed, added, s.platforms)), old))
    new_c, new_c_before = (growth.new_contributors(firsts, *b, bots) for b in (s.bounds, s.previous))
    gone, gone_before = (growth.inactive_contributors(activity, *b, s.platforms, bots)
                         for b in (s.bounds, s.previous))

    def last(frame: pl.DataFrame, col: str) -> int | None:
        return frame[col][-1] if frame.height else None

    def mean(frame: pl.DataFrame, col: str) -> float | None:
        return frame[col].mean() if frame.height else None

    metrics = [
        Metric("members", "Members", growth.members(members, identities, s.bounds[1], s.platforms),
               growth.members(members, identities, s.previous[1], s.platforms), "count",
               definition="Members who joined before the end of the period."),
        Metric("new_members", "New members", *_both(growth.new_members, s, members, identities), "count",
               definition="Members who joined in the period."),
        Metric("dau", "Daily active members (mean)", mean(series, "dau"), mean(before, "dau"), "count",
               definition="Mean over the period's days of the members active that day."),
        Metric("wau", "Weekly active members", last(series, "wau"), last(before, "wau"), "count",
               definition="Members active in the 7 days ending on the period's last day."),
        Metric("mau", "Monthly active members", last(series, "mau"), last(before, "mau"), "count",
               definition="Members active in the 30 days ending on the period's last day."),
        Metric("stickiness", "Stickiness (DAU/MAU)", growth.stickiness(series), growth.stickiness(before),
               "ratio", definition="Mean over the period's days of DAU / MAU."),
        Metric("participation", "Participation rate",
               *_both(growth.participation_rate, s, activity, members, identities), "ratio",
               definition="Members who wrote (thread, reply, comment, answer) in the period, over "
                          "the members at its end."),
        Metric("new_contributors", "New contributors", new_c.height, new_c_before.height, "count",
               definition="Members whose first contribution ever falls in the period."),
        Metric("inactive_contributors", "Inactive contributors", gone.height, gone_before.height, "count",
               higher_is_better=False,
               definition="Members who contributed in the 90 days before the period but not in it."),
    ]
    named = members.select("member_id", pl.col("display_name").alias("member"))
    return Report(metrics, {
        "active": series,
        "daily": growth.daily_activity(activity, members, identities, *s.bounds, s.tz, s.platforms, series),
        "new_contributors": new_c.join(named, on="member_id", how="left", maintain_order="left")
                                 .select("member_id", "member", "first_contribution"),
        "inactive_contributors": gone.join(named, on="member_id", how="left", maintain_order="left")
                                     .select("member_id", "member", "last_contribution", "contributions_90d"),
    })


@cached(*MANAGERS)
def retention_report(s: Scope, months: int = 12) -> Report:
    """Retention: the cohort heat map of the `months` months up to the period's end, and the
    new-member retention of the period."""
    members, identities, activity = frames.table("members"), frames.table("identities"), frames.table("activity")
    first_month, last_month = retention.cohort_span(s.period, months)
    (now_share, now_n), (before_share, _) = (
        retention.new_member_retention(members, identities, activity, *b, s.now, s.platforms)
        for b in (s.bounds, s.previous))
    months_active = frames.derived(f"member_months:{s.tz}", lambda: retention.member_months(activity, s.tz),
                                   update=lambda old, changes: _after(changes, functools.partial(
                                       retention.member_months_after, tz=s.tz), old))
    cohorts = retention.cohort_retention(members, identities, months_active, first_month, last_month, s.tz,
                                         s.platforms)
    return Report([
        Metric("new_member_retention", "New-member retention", now_share, before_share, "ratio",
               definition="Share of the members who joined in the period (and whose second week "
                          "is over) who were active again 7 to 14 days after joining."),
        Metric("measured", "New members measured", now_n, None, "count",
               definition="Members who joined in the period and whose second week is over."),
    ], {"cohorts": cohorts})


@cached(*MANAGERS_AND_STAFF)
def responsiveness_report(s: Scope) -> Report:
    """Responsiveness: time to first response (median, p90), share within the SLA, unanswered
    backlog, and who responds first (staff or community)."""
    sla = float(community.get_settings()["response_sla_hours"])
    members, threads = frames.table("members"), thread_responses()
    firsts, before = (responsiveness.first_responses(threads, *b, s.platforms) for b in (s.bounds, s.previous))
    now, prev = responsiveness.summary(firsts, sla, s.now), responsiveness.summary(before, sla, s.now)
    metrics = [
        Metric("ttfr_median", "Time to first response (median)", now["ttfr"], prev["ttfr"], "hours",
               higher_is_better=False,
               definition="Median time from a thread's creation to the first response by another "
                          "member, over the threads of the period that got one."),
        Metric("ttfr_p90", "Time to first response (90th percentile)", now["ttfr_p90"], prev["ttfr_p90"], "hours",
               higher_is_better=False, definition="90 % of the answered threads got their first "
                                                  "response within this time."),
        Metric("within_sla", "Answered within the SLA", now["within_sla"], prev["within_sla"], "ratio",
               definition="Threads answered within the SLA over the threads old enough to have "
                          "passed it; unanswered ones count as missed."),
        Metric("unanswered", "Unanswered threads", now["unanswered"], prev["unanswered"], "count",
               higher_is_better=False, definition="Threads of the period with no response by "
                                                  "another member yet."),
    ]
    return Report(metrics, {
        "weekly": responsiveness.weekly(firsts, s.tz),
        "backlog": responsiveness.backlog(firsts, frames.table("threads"), members, frames.table("platforms"), s.now),
        "responders": responsiveness.responders(firsts, members),
    })


@cached(*MANAGERS_AND_STAFF)
def moderation_report(s: Scope) -> Report:
    """Moderation: reports per rule and platform, time to action and to resolution, open cases,
    repeat offenders."""
    sla = float(community.get_settings()["moderation_sla_hours"])
    mod, members = frames.table("moderation"), frames.table("members")
    now, prev = (moderation.cases(mod, *b, s.platforms) for b in (s.bounds, s.previous))
    a, b = (moderation.figures(c, sla, s.now) for c in (now, prev))
    metrics = [
        Metric("reports", "Reports", a["reports"], b["reports"], "count", higher_is_better=False,
               definition="Moderation cases opened in the period."),
        Metric("time_to_action", "Time to action (median)", a["action"], b["action"], "hours",
               higher_is_better=False, definition="Median time from a report to the first action."),
        Metric("time_to_action_p90", "Time to action (90th percentile)", a["action_p90"], b["action_p90"],
               "hours", higher_is_better=False, definition="90 % of the reports got a first action "
                                                           "within this time."),
        Metric("action_within_sla", "Acted on within the SLA", a["within_sla"], b["within_sla"], "ratio",
               definition="Reports acted on within the SLA over the reports old enough to have "
                          "passed it."),
        Metric("time_to_resolution", "Time to resolution (median)", a["resolution"], b["resolution"], "hours",
               higher_is_better=False, definition="Median time from a report to its resolution."),
        Metric("open_cases", "Open cases", a["open"], b["open"], "count", higher_is_better=False,
               definition="Cases of the period not resolved yet."),
    ]
    return Report(metrics, {
        "by_rule_platform": moderation.reports_by_rule_and_platform(now, frames.table("platforms")),
        "open": moderation.open_cases(now, members, s.now),
        "repeat_offenders": moderation.repeat_offenders(mod, members, s.bounds[1], s.platforms),
    })


@cached(*MANAGERS)
def reputation_report(s: Scope) -> Report:
    """Reputation: mentions and reach, sentiment, net sentiment, crisis alerts (all sources)."""
    mentions = reputation.Mentions.of(frames.arrow("mentions"))
    now, before = reputation.tallies(mentions, s.bounds, s.previous)
    days = reputation.days_of(mentions, *s.bounds, s.tz)
    alerts = reputation.crisis_alerts(mentions, days)
    metrics = [
        Metric("mentions", "Mentions", now["mentions"], before["mentions"], "count",
               definition="Mentions of the community outside it, in the period."),
        Metric("reach", "Reach", now["reach"], before["reach"], "count",
               definition="Sum of the audience of the mentions."),
        Metric("positive", "Positive", now["positive"], before["positive"], "ratio",
               definition="Share of the mentions scored positive."),
        Metric("negative", "Negative", now["negative"], before["negative"], "ratio",
               higher_is_better=False, definition="Share of the mentions scored negative."),
        Metric("net_sentiment", "Net sentiment", now["net"], before["net"], "ratio",
               definition="(positive − negative) / all mentions."),
        Metric("alerts", "Crisis alerts", alerts.height, None, "count", higher_is_better=False,
               definition="Days whose negative mentions exceed the mean of the 28 days before by "
                          "3 standard deviations, and number at least 5."),
    ]
    return Report(metrics, {"daily": reputation.daily_volume(mentions, days), "alerts": alerts,
                            "alert_mentions": reputation.alert_mentions(mentions, days, alerts)})


@cached(*MANAGERS)
def content_report(s: Scope) -> Report:
    """Content & events: engagement by tag, platform, author type and hour of week; event
    attendance and lift."""
    activity, members, threads = frames.table("activity"), frames.table("members"), frames.table("threads")
    events, registrations, votes = frames.table("events"), frames.table("attendance"), frames.table("votes")
    eng, eng_before = (content.thread_engagement(activity, threads, members, *b, s.tz, s.platforms, votes)
                       for b in (s.bounds, s.previous))
    per_event, before_events = (content.attendance(events, registrations, *b) for b in (s.bounds, s.previous))
    lifts = content.event_lifts(activity, per_event, registrations, s.now)
    platforms = frames.table("platforms").select("platform_id", pl.col("name").alias("platform"))
    metrics = [
        Metric("engagement", "Engagement per thread (mean)", eng["engagement"].mean(),
               eng_before["engagement"].mean(), "number",
               definition="Replies, comments, answers and reactions from other members (anonymous "
                          "votes and likes included) within 7 days of a thread's creation, per thread of "
                          "the period."),
        Metric("threads", "Threads", eng.height, eng_before.height, "count",
               definition="Threads, topics and questions created in the period."),
        Metric("events", "Events", per_event.height, before_events.height, "count",
               definition="Events starting in the period."),
        Metric("attendance_rate", "Attendance rate", content.overall_attendance_rate(per_event),
               content.overall_attendance_rate(before_events), "ratio",
               definition="Attended over registered, for the events of the period."),
        Metric("lift", "Event lift (mean)", lifts["lift"].mean() if lifts.height else None, None, "number",
               definition="Change in activities per attendee in the 30 days after an event against "
                          "the 30 before, minus the same for comparable non-attendees."),
    ]
    return Report(metrics, {
        "by_tag": content.engagement_by(eng, "tag"),
        "by_platform": content.engagement_by(eng, "platform_id").join(platforms, on="platform_id", how="left",
                                                                       maintain_order="left")
                              .select("platform", "threads", "mean_engagement"),
        "by_author_type": content.engagement_by(eng, "author_type"),
        "hour_of_week": content.hour_of_week(eng),
        "anonymous_platforms": content.anonymous_platforms(votes, activity, frames.table("platforms"), s.platforms),
        "events": per_event.join(lifts.select("event_id", "lift"), on="event_id", how="left", maintain_order="left"),
    })
