"""Every KPI page's metrics on small communities built by hand, against the numbers a person
counts. Time zone UTC unless a test says otherwise; the period is 1–10 March 2026."""
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from cmcore import community, kpis
from cmcore.access import AccessDenied, CLI, Principal
from cmcore.kpis import (MAX_CHUNKS, between, content, counted_after, counted_sorted, growth, merged, micros,
                         moderation, rekeyed, reputation, responsiveness, retention)
from cmcore import reports
from cmcore.reports import overview
from cmcore.periods import Period
from tests.builders import Community, utc

MANAGER = Principal("manon", "manager")
STAFF = Principal("sami", "staff")
SPONSOR = Principal("acme", "sponsor", 1)
MARCH = Period(date(2026, 3, 1), date(2026, 3, 11))



def scope(now: datetime, period: Period = MARCH, platforms=None) -> reports.Scope:
    return reports.Scope(period, platforms, "UTC", now)


def metrics(report) -> dict:
    return {m.key: m.value for m in report.metrics}


# ------------------------------------------------------------------ growth & engagement


@pytest.fixture
def growth_community(database):
    c = Community()
    ann = c.member("ann", utc(2026, 1, 10))
    bob = c.member("bob", utc(2026, 1, 12))
    cat = c.member("cat", utc(2026, 1, 15))
    c.member("dan", utc(2026, 3, 8))  # joined in the period, never active
    eve = c.member("eve", utc(2026, 1, 20))
    old = c.act(eve, "thread", utc(2026, 1, 25))  # eve contributed before the period, not in it
    t0 = c.act(bob, "thread", utc(2026, 2, 5, 12))
    c.act(cat, "reaction", utc(2026, 2, 28, 9), parent=t0)  # cat only ever reacts
    t1 = c.act(ann, "thread", utc(2026, 3, 1, 8))  # ann's first contribution ever
    c.act(ann, "reply", utc(2026, 3, 5, 9), parent=t1)
    c.act(ann, "reply", utc(2026, 3, 5, 17), parent=old)
    c.act(bob, "comment", utc(2026, 3, 9, 20), parent=t1)
    return c


def test_dau_wau_mau_and_stickiness(growth_community):
    report = reports.growth_report(MANAGER, scope(utc(2026, 3, 12)))
    active = report.frames["active"]
    assert active["day"].to_list() == [date(2026, 3, d) for d in range(1, 11)]
    assert active["dau"].to_list() == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0]
    # 7 days: cat's reaction of 28 Feb counts until 6 March; ann from 1 March, bob from 9 March.
    assert active["wau"].to_list() == [2, 2, 2, 2, 2, 2, 1, 1, 2, 2]
    # 30 days: bob's thread of 5 Feb counts until 6 March.
    assert active["mau"].to_list() == [3, 3, 3, 3, 3, 3, 2, 2, 3, 3]
    got = metrics(report)
    assert got["stickiness"] == pytest.approx((1 / 3 + 1 / 3 + 1 / 3) / 10)
    assert got["dau"] == pytest.approx(0.3)
    assert (got["wau"], got["mau"]) == (2, 3)
    # the daily chart: its active members from the series, its new members (dan, 8 March) joined
    daily = [(date(2026, 3, d), int(d in (1, 5, 9)), int(d == 8)) for d in range(1, 11)]
    assert report.frames["daily"].rows() == daily
    assert overview.daily(MANAGER, MARCH, None, "UTC").rows() == daily  # counted from the activities


def test_participation_new_and_inactive_contributors(growth_community):
    report = reports.growth_report(MANAGER, scope(utc(2026, 3, 12)))
    got = metrics(report)
    assert got["members"] == 5 and got["new_members"] == 1  # dan
    assert got["participation"] == pytest.approx(2 / 5)  # ann and bob wrote; cat only reacted
    assert report.frames["new_contributors"]["member"].to_list() == ["ann"]  # bob first wrote in Feb
    gone = report.frames["inactive_contributors"]
    assert gone["member"].to_list() == ["eve"] and gone["contributions_90d"].to_list() == [1]
    assert got["new_contributors"] == 1 and got["inactive_contributors"] == 1


def test_first_contributions_follow_an_append_and_a_merge_from_the_rows_they_touch():
    """A new contribution can only bring a member's first earlier; a member whose rows went (merged
    into another) is counted again from the activity as it is, reactions never counted."""
    def acts(*rows) -> pl.DataFrame:
        return pl.DataFrame(rows, schema={"id": pl.Int64, "member_id": pl.Int64, "platform_id": pl.Int64,
                                          "kind": pl.String, "created_at": pl.Datetime("us", "UTC")}, orient="row")
    before = acts((1, 1, 1, "thread", utc(2026, 3, 5)), (2, 2, 2, "reply", utc(2026, 3, 3)),
                  (3, 2, 2, "comment", utc(2026, 3, 7)), (4, 3, 1, "reaction", utc(2026, 3, 1)))
    firsts = growth.first_contributions(before)
    assert sorted(firsts.rows()) == [(1, utc(2026, 3, 5)), (2, utc(2026, 3, 3))]  # 3 only reacted
    added = acts((5, 1, 1, "reply", utc(2026, 3, 2)), (6, 3, 1, "reaction", utc(2026, 2, 1)))
    after = growth.first_contributions_after(firsts, pl.concat([before, added]), before.clear(), added)
    assert sorted(after.rows()) == [(1, utc(2026, 3, 2)), (2, utc(2026, 3, 3))]
    moved = acts((2, 1, 2, "reply", utc(2026, 3, 3)))  # member 2's first reply merged into member 1
    now = pl.concat([before, added]).with_columns(pl.when(pl.col("id") == 2).then(1).otherwise(pl.col("member_id"))
                                                  .alias("member_id"))
    merged_ = growth.first_contributions_after(after, now, before.filter(pl.col("id") == 2), moved)
    assert sorted(merged_.rows()) == [(1, utc(2026, 3, 2)), (2, utc(2026, 3, 7))]
    assert sorted(merged_.rows()) == sorted(growth.first_contributions(now).rows())
    assert sorted(growth.first_contributions(now, [2]).rows()) == [(1, utc(2026, 3, 3)), (2, utc(2026, 3, 7))]


def test_growth_on_an_empty_period(growth_community):
    got = metrics(reports.growth_report(MANAGER, scope(utc(2026, 3, 12), Period(date(2025, 1, 1), date(2025, 1, 8)))))
    assert got == {"members": 0, "new_members": 0, "dau": 0, "wau": 0, "mau": 0, "stickiness": None,
                   "participation": None, "new_contributors": 0, "inactive_contributors": 0}


def test_two_sorted_frames_are_merged_in_order_packed_or_not():
    cols = ["member_id", "day"]
    first = pl.DataFrame({"member_id": [1, 3, 3], "day": [date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 4)], "n": [1, 2, 3]})
    second = pl.DataFrame({"member_id": [2, 3, 9], "day": [date(2026, 3, 9), date(2026, 3, 2), date(2026, 1, 1)], "n": [4, 5, 6]})
    assert merged(first, second, cols)["n"].to_list() == [1, 4, 2, 5, 3, 6]
    wide = [f.with_columns(pl.col("member_id") * 2**59) for f in (first, second)]  # too wide to pack: sorted
    assert merged(*wide, cols)["n"].to_list() == [1, 4, 2, 5, 3, 6]
    assert merged(first, second.clear(), cols).equals(first)


def test_member_days_are_distinct_sorted_and_counted_packed_or_not_and_active_days_walk_them():
    cols = ["member_id", "day", "platform_id"]
    rows = pl.DataFrame({"member_id": [7, 3, 7, 3, 7], "day": [date(2026, 3, 2), date(2026, 3, 1), date(2026, 3, 2),
                                                              date(2026, 3, 1), date(2026, 2, 27)],
                         "platform_id": [2, 1, 2, 3, 1]}, schema_overrides={"platform_id": pl.Int16})
    expected = [(3, date(2026, 3, 1), 1, 1), (3, date(2026, 3, 1), 3, 1), (7, date(2026, 2, 27), 1, 1),
                (7, date(2026, 3, 2), 2, 2)]
    days = counted_sorted(rows, cols)  # packed into one Int64
    assert days.rows() == expected and days.schema == rows.schema | {"n": pl.Int32}
    wide = rows.with_columns(pl.col("member_id") * 2**60)  # a 63-bit span of members: too wide to pack
    assert counted_sorted(wide, cols).rows() == [(m * 2**60, d, p, n) for m, d, p, n in expected]
    assert counted_sorted(rows.clear(), cols).is_empty()
    days = counted_sorted(rows, growth.MEMBER_DAY)  # in time order: a period's days are a slice
    assert days.rows() == [(date(2026, 2, 27), 7, 1, 1), (date(2026, 3, 1), 3, 1, 1), (date(2026, 3, 1), 3, 3, 1),
                           (date(2026, 3, 2), 7, 2, 2)]
    march = (Period(date(2026, 3, 1), date(2026, 4, 1)),)  # its series look from 29 days before
    assert growth.active_days(days, march).rows() == [(3, date(2026, 3, 1), None),
                                                      (7, date(2026, 2, 27), date(2026, 3, 2)), (7, date(2026, 3, 2), None)]
    assert growth.active_days(days, march, [1]).rows() == [(3, date(2026, 3, 1), None), (7, date(2026, 2, 27), None)]
    late_march = (Period(date(2026, 3, 29), date(2026, 4, 1)),)  # from 28 February: the 27th is out
    assert growth.active_days(days, late_march).rows() == [(3, date(2026, 3, 1), None), (7, date(2026, 3, 2), None)]
    assert growth.active_days(days, late_march, None, pl.Series([3])).rows() == [(7, date(2026, 3, 2), None)]


# ------------------------------------------------------------------ retention


@pytest.fixture
def retention_community(growth_community):
    c = growth_community
    fay = c.member("fay", utc(2026, 3, 2))
    gus = c.member("gus", utc(2026, 3, 3))
    hal = c.member("hal", utc(2026, 3, 1))
    thread = c.act(fay, "thread", utc(2026, 3, 10))  # day 8 after joining: retained
    c.act(gus, "reply", utc(2026, 3, 4), parent=thread)  # only in the first week
    c.act(hal, "reply", utc(2026, 3, 15), parent=thread)  # exactly 14 days later: outside
    return c


def test_new_member_retention(retention_community):
    got = metrics(reports.retention_report(MANAGER, scope(utc(2026, 3, 20))))
    # dan (8 March) is not measured: his second week ends on 22 March, after "now".
    assert got == {"new_member_retention": pytest.approx(1 / 3), "measured": 3}


def test_cohort_retention(retention_community):
    cohorts = reports.retention_report(MANAGER, scope(utc(2026, 3, 20)), months=3).frames["cohorts"]
    rows = {(r["cohort"], r["k"]): (r["cohort_size"], r["active"]) for r in cohorts.iter_rows(named=True)}
    assert rows == {
        # January: ann, bob, cat, eve. eve active in Jan; bob and cat in Feb; ann and bob in Mar.
        (date(2026, 1, 1), 0): (4, 1), (date(2026, 1, 1), 1): (4, 2), (date(2026, 1, 1), 2): (4, 2),
        # March: dan, fay, gus, hal; fay, gus and hal active in March.
        (date(2026, 3, 1), 0): (4, 3),
    }
    assert cohorts.filter(cohorts["k"] == 1)["retention"].to_list() == [0.5]
    # The heat map's months by default: the 12 up to the one holding the period's last day.
    assert retention.cohort_span(Period(date(2026, 3, 1), date(2026, 4, 1))) == (date(2025, 4, 1), date(2026, 3, 1))
    assert retention.cohort_span(Period(date(2026, 1, 1), date(2026, 2, 1)), 3) == (date(2025, 11, 1), date(2026, 1, 1))


# ------------------------------------------------------------------ responsiveness


@pytest.fixture
def responsiveness_community(database):
    c = Community()
    author = c.member("author", utc(2026, 1, 1))
    staff = c.member("staff", utc(2026, 1, 1), staff=True)
    helper = c.member("helper", utc(2026, 1, 1))
    t1 = c.act(author, "thread", utc(2026, 3, 1, 10), url="https://forum.example/t/1", title="One")
    c.act(author, "reply", utc(2026, 3, 1, 10, 30), parent=t1)  # the author's own: not a response
    c.act(staff, "reply", utc(2026, 3, 1, 12), parent=t1)  # 2 h
    t2 = c.act(author, "thread", utc(2026, 3, 2, 10), title="Two")
    c.act(helper, "comment", utc(2026, 3, 3, 10), parent=t2)  # 24 h
    t3 = c.act(author, "thread", utc(2026, 3, 3, 10), title="Three")
    c.act(helper, "answer", utc(2026, 3, 5, 10), parent=t3)  # 48 h
    c.act(helper, "reaction", utc(2026, 3, 9, 11), parent=c.act(author, "thread", utc(2026, 3, 9, 10),
                                                             title="Four", url="https://forum.example/t/4"))
    return c


def test_time_to_first_response_sla_and_backlog(responsiveness_community):
    report = reports.responsiveness_report(STAFF, scope(utc(2026, 3, 10, 12)))
    got = metrics(report)
    assert got["ttfr_median"] == 24.0
    assert got["ttfr_p90"] == pytest.approx(24 + 0.8 * (48 - 24))  # linear between 24 h and 48 h
    # All four threads are 24 h old by now; two were answered within 24 h, "Four" not at all.
    assert got["within_sla"] == 0.5
    assert got["unanswered"] == 1
    backlog = report.frames["backlog"]
    assert backlog.select("title", "author", "age_hours", "url").rows() == [
        ("Four", "author", 26.0, "https://forum.example/t/4")]
    responders = {r["responder"]: (r["first_responses"], r["share"]) for r in report.frames["responders"].iter_rows(named=True)}
    assert responders == {"staff": (1, pytest.approx(1 / 3)), "community": (2, pytest.approx(2 / 3))}
    weekly = report.frames["weekly"]  # 1 March 2026 is a Sunday
    assert weekly["week"].to_list() == [date(2026, 2, 23), date(2026, 3, 2), date(2026, 3, 9)]
    assert weekly["threads"].to_list() == [1, 2, 1]
    assert weekly["median"].to_list() == [2.0, 36.0, None]


def test_first_responses_follow_a_change_from_the_threads_it_touches():
    """A thread whose first response went falls back on the next by someone else (not its author's
    own reply), one moved an hour earlier and answered earlier by a new row takes both; of threads
    that only gained rows, one answered earlier takes the new first response, one answered at the
    same time keeps its own, one unanswered gets its first; a new thread comes in unanswered; and
    what was followed equals what is made from the activity as it is. A period is a slice."""
    def acts(*rows) -> pl.DataFrame:
        return pl.DataFrame([(i, p, m, k, t, utc(2026, 3, d, h)) for i, p, m, k, t, d, h in rows], orient="row",
                            schema=["id", "platform_id", "member_id", "kind", "thread_id", "created_at"])
    before = acts((1, 1, 1, "thread", None, 1, 10), (2, 1, 2, "reply", 1, 1, 12), (3, 1, 1, "reply", 1, 1, 11),
                  (4, 2, 2, "thread", None, 2, 10), (5, 2, 3, "comment", 4, 3, 10), (6, 1, 3, "thread", None, 4, 10),
                  (11, 1, 1, "thread", None, 6, 9), (12, 1, 2, "reply", 11, 6, 12),
                  (13, 1, 1, "thread", None, 7, 9), (14, 1, 2, "reply", 13, 7, 12))
    added = acts((4, 2, 2, "thread", None, 2, 9), (7, 2, 3, "answer", 4, 2, 11), (8, 1, 1, "thread", None, 5, 9),
                 (9, 1, 2, "reply", 6, 4, 12), (10, 1, 3, "reply", 6, 4, 11), (15, 1, 3, "answer", 11, 6, 11),
                 (16, 1, 3, "answer", 13, 7, 12))
    removed = before.filter(pl.col("id").is_in([2, 4]))
    now = pl.concat([before.filter(~pl.col("id").is_in([2, 4])), added])
    threads = responsiveness.thread_responses_after(responsiveness.thread_responses(before), now, removed, added)
    assert threads.select("thread_id", "author_id", "responder_id", "responded_at").rows() == [
        (1, 1, None, None), (4, 2, 3, utc(2026, 3, 2, 11)), (6, 3, 2, utc(2026, 3, 4, 12)), (8, 1, None, None),
        (11, 1, 3, utc(2026, 3, 6, 11)), (13, 1, 2, utc(2026, 3, 7, 12))]
    assert threads.equals(responsiveness.thread_responses(now))
    period = responsiveness.first_responses(threads, utc(2026, 3, 2), utc(2026, 3, 5), [2])
    assert period.select("thread_id", "created_at", "hours").rows() == [(4, utc(2026, 3, 2, 9), 2.0)]


def test_hours_keep_fractions_of_a_second(database):
    """Timestamps carry microseconds; a duration is not cut to whole seconds (the benchmark's
    SQL and pandas ways found this)."""
    c = Community()
    author, helper = c.member("author", utc(2026, 1, 1)), c.member("helper", utc(2026, 1, 1))
    thread = c.act(author, "thread", utc(2026, 3, 2, 9))
    c.act(helper, "reply", utc(2026, 3, 2, 10) + timedelta(microseconds=900_000), parent=thread)
    got = metrics(reports.responsiveness_report(STAFF, scope(utc(2026, 3, 10, 12))))
    assert got["ttfr_median"] == 1 + 0.9 / 3600


def test_the_sla_is_a_setting(responsiveness_community):
    assert community.get_settings()["response_sla_hours"] == 24  # the default, now cached
    community.set_setting(MANAGER, "response_sla_hours", 48)
    assert community.get_settings()["response_sla_hours"] == 48  # the write is seen at once
    # Only the first three threads are 48 h old by now, and all three were answered within 48 h.
    assert metrics(reports.responsiveness_report(STAFF, scope(utc(2026, 3, 10, 12))))["within_sla"] == 1.0
    with pytest.raises(ValueError):
        community.set_setting(MANAGER, "response_sla_hours", -1)
    with pytest.raises(AccessDenied):
        community.set_setting(STAFF, "response_sla_hours", 12)


# ------------------------------------------------------------------ moderation


@pytest.fixture
def moderation_community(database):
    c = Community()
    troll = c.member("troll", utc(2026, 1, 1))
    once = c.member("once", utc(2026, 1, 1))
    c.case(troll, "spam", utc(2026, 3, 1, 10), acted=utc(2026, 3, 1, 10, 30), resolved=utc(2026, 3, 1, 12),
           outcome="upheld")
    c.case(troll, "spam", utc(2026, 3, 2, 10), "forum", acted=utc(2026, 3, 2, 13), resolved=utc(2026, 3, 3, 10),
           outcome="upheld")
    c.case(once, "respect", utc(2026, 3, 9, 11))  # still open, nobody acted
    c.case(troll, "respect", utc(2026, 2, 25), acted=utc(2026, 2, 25, 1), resolved=utc(2026, 2, 25, 2),
           outcome="upheld")
    c.case(once, "spam", utc(2026, 2, 26), acted=utc(2026, 2, 26, 1), resolved=utc(2026, 2, 26, 2),
           outcome="upheld")
    c.case(once, "spam", utc(2025, 10, 1), acted=utc(2025, 10, 1, 1), resolved=utc(2025, 10, 1, 2),
           outcome="upheld")  # more than 90 days before the end: not a repeat
    return c


def test_moderation_figures(moderation_community):
    report = reports.moderation_report(STAFF, scope(utc(2026, 3, 10, 12)))
    got = metrics(report)
    assert got["reports"] == 3
    assert got["time_to_action"] == 1.75  # median of 0.5 h and 3 h
    assert got["time_to_action_p90"] == pytest.approx(0.5 + 0.9 * 2.5)
    assert got["action_within_sla"] == pytest.approx(1 / 3)  # 2 h SLA: only the first; the open one missed
    assert got["time_to_resolution"] == 13.0  # median of 2 h and 24 h
    assert got["open_cases"] == 1
    assert report.frames["by_rule_platform"].rows() == [("Respect", "Discord", 1), ("Spam", "Discord", 1),
                                                       ("Spam", "Forum", 1)]  # each rule by its title
    assert report.frames["open"].select("member", "age_hours", "acted").rows() == [("once", 25.0, False)]
    offenders = report.frames["repeat_offenders"]
    assert offenders.select("member", "upheld_cases", "rules").rows() == [("troll", 3, "Respect, Spam")]


def test_moderation_on_one_platform_and_at_the_period_bounds(moderation_community):
    c = moderation_community
    late = c.member("late", utc(2026, 1, 1))
    c.case(late, "spam", utc(2026, 3, 11), "forum")  # the first instant after the period
    c.case(late, "spam", utc(2026, 3, 1), "forum", acted=utc(2026, 3, 1, 1))  # its first instant; open
    report = reports.moderation_report(STAFF, scope(utc(2026, 3, 12), platforms=[c.platforms["forum"]]))
    assert metrics(report) == {"reports": 2, "time_to_action": 2.0, "time_to_action_p90": pytest.approx(2.8),
                               "action_within_sla": 0.5, "time_to_resolution": 24.0, "open_cases": 1}
    assert {m.key: m.previous for m in report.metrics} == {  # nothing on the forum in the previous period
        "reports": 0, "time_to_action": None, "time_to_action_p90": None, "action_within_sla": None,
        "time_to_resolution": None, "open_cases": 0}
    assert report.frames["by_rule_platform"].rows() == [("Spam", "Forum", 2)]
    assert report.frames["open"].select("member", "age_hours", "acted").rows() == [("late", 264.0, True)]
    assert report.frames["repeat_offenders"].is_empty()  # troll's one upheld case on the forum


def test_member_names_finds_the_known_ids_once():
    members = pl.DataFrame({"member_id": [2, 5, 9], "display_name": ["Ana", "Bo", "Cy"],
                            "joined_at": [None] * 3, "is_staff": [False] * 3})
    got = moderation.member_names(members, pl.Series([9, 3, 2, 2, 10]))
    assert got.rows() == [(2, "Ana"), (9, "Cy")]
    assert moderation.member_names(members.clear(), pl.Series([1], dtype=pl.Int64)).is_empty()


# ------------------------------------------------------------------ reputation


def test_sentiment_shares_and_net_sentiment(database):
    c = Community()
    for sentiment, reach in ((1, 100), (1, 50), (0, 10), (-1, 40)):
        c.mention(utc(2026, 3, 4, 12), sentiment, reach)
    c.mention(utc(2026, 2, 27), -1, 5)  # previous period
    got = metrics(reports.reputation_report(MANAGER, scope(utc(2026, 3, 12))))
    assert got == {"mentions": 4, "reach": 200, "positive": 0.5, "negative": 0.25, "net_sentiment": 0.25,
                   "alerts": 0}


def test_an_unscored_mention_counts_among_all_and_in_no_share(database):
    c = Community()
    for sentiment in (1, 0, -1, None):  # None: a language without a sentiment model
        c.mention(utc(2026, 3, 4, 12), sentiment)
    got = metrics(reports.reputation_report(MANAGER, scope(utc(2026, 3, 12))))
    assert (got["mentions"], got["positive"], got["negative"], got["net_sentiment"]) == (4, 0.25, 0.25, 0.0)


def test_a_report_is_computed_once_per_change_and_scope_and_the_role_checked_each_time(database):
    c = Community()
    c.mention(utc(2026, 3, 4, 12), 1, 100)
    first = reports.reputation_report(MANAGER, scope(utc(2026, 3, 12)))
    assert reports.reputation_report(MANAGER, scope(utc(2026, 3, 12))) is first  # a rerun: the same report
    assert metrics(reports.reputation_report(MANAGER, scope(utc(2026, 3, 12), Period(date(2026, 3, 5), date(2026, 3, 11)))))[
        "mentions"] == 0  # another scope: its own report
    with pytest.raises(AccessDenied):
        reports.reputation_report(SPONSOR, scope(utc(2026, 3, 12)))  # cached, still refused
    c.mention(utc(2026, 3, 6, 12), -1, 50)  # a write: the next view sees it
    assert metrics(reports.reputation_report(MANAGER, scope(utc(2026, 3, 12))))["reach"] == 150
    now = reports.Scope(MARCH, None, "UTC").resolved().now  # "now" to the minute: a minute's reruns hit
    assert (now.second, now.microsecond) == (0, 0) and datetime.now(now.tzinfo) - now < timedelta(minutes=1)


def test_a_view_asks_for_the_versions_once(growth_community, monkeypatch):
    """A cold growth report reads three tables and two rollups: each checked against the versions its
    report is built at, not one more catch-up apiece; a write is still seen at the next view."""
    from cmcore import db, frames
    asked = []
    real = db.versions
    monkeypatch.setattr(db, "versions", lambda: asked.append(1) or real())
    frames.clear()
    before = metrics(reports.growth_report(MANAGER, scope(utc(2026, 3, 12))))
    assert len(asked) == 1
    growth_community.member("fay", utc(2026, 3, 2))
    after = metrics(reports.growth_report(MANAGER, scope(utc(2026, 3, 12))))
    assert (len(asked), after["new_members"]) == (2, before["new_members"] + 1)


def test_a_crisis_day_raises_an_alert_with_its_mentions(database):
    c = Community()
    for day in range(1, 29):  # one negative mention a day through February…
        c.mention(utc(2026, 2, day, 12), -1)
    for day in range(1, 11):
        if day != 5:
            c.mention(utc(2026, 3, day, 12), -1)
    for k in range(8):  # …and eight on 5 March
        c.mention(utc(2026, 3, 5, 8 + k), -1, reach=1000 + k, body=f"panne {k}")
    report = reports.reputation_report(MANAGER, scope(utc(2026, 3, 12)))
    alerts = report.frames["alerts"]
    assert alerts.select("day", "negative", "trailing_mean", "trailing_std").rows() == [(date(2026, 3, 5), 8, 1.0, 0.0)]
    behind = report.frames["alert_mentions"]
    assert behind.height == 8 and behind["reach"].to_list() == list(range(1007, 999, -1))


def test_alerts_and_daily_volume_keep_to_the_local_days_of_the_period_across_a_clock_change(database):
    c = Community()
    for k in range(6):  # Sunday 29 March 2026, the day Paris moves to summer time: before the period
        c.mention(utc(2026, 3, 29, 10 + k), -1)
    for k in range(7):  # Tuesday 31 March, 00:30–06:30 in Paris
        c.mention(utc(2026, 3, 30, 22, 30) + timedelta(hours=k), -1, reach=10 + k)
    week = Period(date(2026, 3, 30), date(2026, 4, 6))
    report = reports.reputation_report(MANAGER, reports.Scope(week, None, "Europe/Paris", utc(2026, 4, 6)))
    alerts = report.frames["alerts"]  # 28 trailing days of [6, 0 × 27]: mean 6/28, sample std 6/√28
    assert alerts.select("day", "negative").rows() == [(date(2026, 3, 31), 7)]
    assert alerts["trailing_mean"][0] == pytest.approx(6 / 28) and alerts["trailing_std"][0] == pytest.approx(6 / 28**0.5)
    assert report.frames["daily"].rows() == [(date(2026, 3, 31), "x", 7, 91)]
    assert report.frames["alert_mentions"]["reach"].to_list() == list(range(16, 9, -1))
    assert metrics(report)["mentions"] == 7


def test_no_alert_below_the_floor(database):
    c = Community()
    for k in range(4):  # four negatives after a silent month: above 3 sigma, under the floor of 5
        c.mention(utc(2026, 3, 5, 8 + k), -1)
    assert metrics(reports.reputation_report(MANAGER, scope(utc(2026, 3, 12))))["alerts"] == 0


def test_an_alert_at_the_floor_itself(database):
    c = Community()
    for k in range(4):  # 5 March: four, under the floor
        c.mention(utc(2026, 3, 5, 8 + k), -1)
    for k in range(5):  # 8 March: five, the floor itself; the 28 days before: mean 4/28, std 0.756, 3 sigma 2.41
        c.mention(utc(2026, 3, 8, 8 + k), -1)
    alerts = reports.reputation_report(MANAGER, scope(utc(2026, 3, 12))).frames["alerts"]
    assert alerts.select("day", "negative").rows() == [(date(2026, 3, 8), 5)]


def test_daily_volume_is_per_day_and_source_and_alert_mentions_go_by_day_then_reach(database):
    c = Community()
    for day in (3, 4):  # eight negatives on each of 3 and 4 March, after a silent February
        for k in range(8):
            c.mention(utc(2026, 3, day, 8 + k), -1, reach=10 * day + k, source="x" if k % 2 else "a")
    c.mention(utc(2026, 3, 4, 20), 1, reach=5, source="b")
    c.mention(utc(2026, 3, 11), -1)  # the period's end: outside
    report = reports.reputation_report(MANAGER, scope(utc(2026, 3, 12)))
    d3, d4 = date(2026, 3, 3), date(2026, 3, 4)
    assert report.frames["daily"].rows() == [(d3, "a", 4, 30 + 32 + 34 + 36), (d3, "x", 4, 31 + 33 + 35 + 37),
                                             (d4, "a", 4, 40 + 42 + 44 + 46), (d4, "b", 1, 5),
                                             (d4, "x", 4, 41 + 43 + 45 + 47)]
    # 4 March's trailing 28 days hold 3 March's eight: mean 8/28, sample std 8/√28, threshold ≈ 4.82
    assert report.frames["alerts"].select("day", "negative").rows() == [(d3, 8), (d4, 8)]
    assert report.frames["alert_mentions"]["reach"].to_list() == [*range(37, 29, -1), *range(47, 39, -1)]
    behind = report.frames["alert_mentions"]
    assert behind.schema == {"created_at": pl.Datetime("us", "UTC"), "source": pl.String, "author": pl.String,
                             "body": pl.String, "reach": pl.Int64, "lang": pl.String, "url": pl.String,
                             "tool_sentiment": pl.Int16}
    at, source, author, body, reach, lang, url, tool_sentiment = behind.row(0)
    assert tool_sentiment is None
    assert (at, source, author, body, reach, lang) == (utc(2026, 3, 3, 15), "x", "@someone", "…", 37, "fr")
    assert url.startswith("https://x.example/2026-03-03T15:00:00+00:00/")


def test_reputation_without_mentions(database):
    Community()
    report = reports.reputation_report(MANAGER, scope(utc(2026, 3, 12)))
    assert metrics(report) == {"mentions": 0, "reach": 0, "positive": None, "negative": None, "net_sentiment": None,
                               "alerts": 0}
    assert [report.frames[f].height for f in ("daily", "alerts", "alert_mentions")] == [0, 0, 0]
    assert report.frames["daily"].columns == ["day", "source", "mentions", "reach"]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/Santiago", "Asia/Beirut", "Australia/Lord_Howe"])
def test_local_midnights_are_the_period_bounds_through_clock_changes(tz):
    """Santiago and Beirut change their clocks at midnight (a skipped or doubled midnight), Lord Howe by 30 min."""
    first = date(2025, 1, 1)
    got = reputation.midnights(first, 800, tz).tolist()
    assert got == [micros(Period(first + timedelta(days=k), first + timedelta(days=k + 1)).bounds(tz)[0])
                   for k in range(800)]
    if tz == "Europe/Paris":  # 29 March 2026: the first midnight of summer time is 22:00 UTC the day before
        k = (date(2026, 3, 29) - first).days
        assert got[k:k + 2] == [micros(utc(2026, 3, 28, 23)), micros(utc(2026, 3, 29, 22))]


# ------------------------------------------------------------------ content & events


@pytest.fixture
def content_community(database):
    c = Community()
    staff = c.member("staff", utc(2026, 1, 1), staff=True)
    ann = c.member("ann", utc(2026, 1, 1))
    bob = c.member("bob", utc(2026, 1, 1))
    t1 = c.act(staff, "thread", utc(2026, 3, 2, 9))  # Monday 9:00, no tag
    r1 = c.act(ann, "reply", utc(2026, 3, 2, 10), parent=t1)
    c.act(bob, "reply", utc(2026, 3, 8, 8), parent=t1)  # within 7 days
    c.act(bob, "reaction", utc(2026, 3, 2, 11), parent=r1)
    c.act(staff, "reply", utc(2026, 3, 3), parent=t1)  # the author's own: not engagement
    c.act(ann, "reply", utc(2026, 3, 10), parent=t1)  # after 7 days
    t2 = c.act(ann, "thread", utc(2026, 3, 3, 14), tags=["api", "install"])  # Tuesday 14:00
    c.act(bob, "reaction", utc(2026, 3, 3, 15), parent=t2)
    c.act(bob, "thread", utc(2026, 3, 3, 14, 30), tags=["api"])
    return c


def test_engagement_by_tag_author_and_hour_of_week(content_community):
    report = reports.content_report(MANAGER, scope(utc(2026, 3, 20)))
    got = metrics(report)
    assert got["engagement"] == pytest.approx(4 / 3)  # 3, 1 and 0
    assert got["threads"] == 3
    assert {r["tag"]: (r["threads"], r["mean_engagement"]) for r in report.frames["by_tag"].iter_rows(named=True)} == {
        None: (1, 3.0), "install": (1, 1.0), "api": (2, 0.5)}
    assert report.frames["by_author_type"].rows() == [("staff", 1, 3.0), ("member", 2, 0.5)]
    assert report.frames["hour_of_week"].select("weekday", "hour", "threads", "mean_engagement").rows() == [
        (1, 9, 1, 3.0), (2, 14, 2, 0.5)]


def test_anonymous_up_votes_within_the_week_are_engagement(database):
    """Up-votes on a thread or on a reply in it count for the thread (down-votes do not), on the
    days before the thread is a week old."""
    c = Community()
    ann, bob = c.member("ann", utc(2026, 1, 1)), c.member("bob", utc(2026, 1, 1))
    thread = c.act(ann, "thread", utc(2026, 3, 2, 9), "stackexchange", is_question=True)
    answer = c.act(bob, "answer", utc(2026, 3, 2, 10), "stackexchange", parent=thread)  # 1
    c.vote(thread, date(2026, 3, 3), up=2, down=3)  # 2
    c.vote(answer, date(2026, 3, 4), up=1)  # 1: in the thread
    c.vote(thread, date(2026, 3, 9), up=4)  # 4: 9 March began before the week's end (9 March, 9:00)
    c.vote(thread, date(2026, 3, 10), up=8)  # too late
    assert metrics(reports.content_report(MANAGER, scope(utc(2026, 3, 20))))["engagement"] == 8


def test_groups_of_equal_engagement_go_by_name():
    engagement = pl.DataFrame({"platform_id": [2, 1, 3, 1], "engagement": [1, 1, 5, 1]})
    assert content.engagement_by(engagement, "platform_id").rows() == [(3, 1, 5.0), (1, 2, 1.0), (2, 1, 1.0)]


def test_engagement_follows_the_time_zone(content_community):
    report = reports.content_report(MANAGER, reports.Scope(MARCH, None, "America/New_York", utc(2026, 3, 20)))
    assert report.frames["hour_of_week"].select("weekday", "hour").rows() == [(1, 4), (2, 9)]


def test_event_attendance_and_lift(database):
    c = Community()
    ann, bob, cat, dan = (c.member(n, utc(2025, 12, 1)) for n in ("ann", "bob", "cat", "dan"))
    meetup = c.event("Meetup", utc(2026, 2, 1, 18), "in_person")
    for who, came in ((ann, True), (bob, True), (cat, False)):
        c.register(meetup, who, utc(2026, 1, 20), came)
    t = c.act(dan, "thread", utc(2026, 1, 10))  # dan: 1 before, 0 after
    c.act(ann, "reply", utc(2026, 1, 15), parent=t)  # ann: 1 before, 3 after
    for day in (2, 3, 4):
        c.act(ann, "reply", utc(2026, 2, day), parent=t)
    c.act(bob, "reply", utc(2026, 2, 10), parent=t)  # bob: 0 before, 2 after
    c.act(bob, "reply", utc(2026, 2, 1, 18), parent=t)  # at the event's start: after
    c.act(cat, "reply", utc(2026, 1, 12), parent=t)  # cat (registered, absent): 2 before, 1 after
    c.act(cat, "reply", utc(2026, 1, 13), parent=t)
    c.act(cat, "reply", utc(2026, 2, 20), parent=t)
    report = reports.content_report(MANAGER, scope(utc(2026, 3, 10), Period(date(2026, 2, 1), date(2026, 2, 8))))
    events = report.frames["events"]
    assert events.select("title", "registered", "attended", "attendance_rate").rows() == [
        ("Meetup", 3, 2, pytest.approx(2 / 3))]
    # attendees: (+2 +2) / 2 = 2; comparable non-attendees (cat, dan): (−1 −1) / 2 = −1.
    assert events["lift"].to_list() == [3.0]
    assert metrics(report)["lift"] == 3.0


# ------------------------------------------------------------------ access


@pytest.mark.parametrize("build, allowed", [
    (reports.growth_report, {"admin", "manager"}), (reports.retention_report, {"admin", "manager"}),
    (reports.responsiveness_report, {"admin", "manager", "staff"}),
    (reports.moderation_report, {"admin", "manager", "staff"}),
    (reports.reputation_report, {"admin", "manager"}), (reports.content_report, {"admin", "manager"}),
])
def test_each_report_checks_the_role(database, build, allowed):
    for who in (CLI, MANAGER, STAFF, SPONSOR):
        if who.role in allowed:
            build(who, scope(utc(2026, 3, 12)))
        else:
            with pytest.raises(AccessDenied):
                build(who, scope(utc(2026, 3, 12)))


def test_window_bounds_are_exact_to_the_microsecond_in_any_time_zone():
    """`between` builds its bounds from microseconds: the same instants as Polars' own UTC
    literals, from a datetime in any time zone (Polars cannot compare a Paris literal to UTC)."""
    paris = datetime(2026, 3, 29, 3, 0, 0, 1, tzinfo=ZoneInfo("Europe/Paris"))  # just after the DST change
    moments = pl.DataFrame({"t": [paris - timedelta(microseconds=1), paris, paris + timedelta(hours=1)]},
                           schema={"t": pl.Datetime("us", "UTC")})
    assert moments.filter(between("t", paris, paris + timedelta(hours=1)))["t"].to_list() == [paris]
    assert moments.filter(between("t", paris, paris + timedelta(hours=1))).equals(
        moments.filter(pl.col("t").is_between(*(pl.lit(m.astimezone(UTC)) for m in (paris, paris + timedelta(hours=1))),
                                              "left")))


def test_microseconds_are_exact_integers_to_the_last_representable_instant():
    last = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)  # past what a float holds exactly (2^53)
    assert micros(last) == 253_402_300_799_999_999 and isinstance(micros(last), int)
    assert micros(datetime(1970, 1, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))) == 0


@pytest.mark.parametrize("wide", [False, True])
def test_a_counted_rollup_after_a_change_equals_the_rollup_of_the_activities_as_they_are(wide):
    """What the incremental refresh does to member days: the removed rows' counts taken out and the
    added rows' put in (a member day whose last activity went is gone, one that kept another stays)
    gives the rollup of the activities as they now are, packed or not (a 63-bit span of members)."""
    scale = 2**61 if wide else 1
    before = pl.DataFrame({"id": [1, 2, 3, 4, 6], "member_id": [1, 1, 2, 3, 3],
                           "day": [date(2026, 3, d) for d in (1, 2, 1, 3, 3)]}).with_columns(pl.col("member_id") * scale)
    removed = before.filter(pl.col("id").is_in([2, 4]))  # 1 on the 2nd: gone; 3 on the 3rd: one left
    added = pl.DataFrame({"id": [5, 4], "member_id": [2, 1],
                          "day": [date(2026, 3, 4), date(2026, 3, 1)]}).with_columns(pl.col("member_id") * scale)
    now = pl.concat([before.filter(~pl.col("id").is_in([2, 4])), added])
    rollup = lambda rows: counted_sorted(rows, ["member_id", "day"])  # noqa: E731
    got = counted_after(rollup(before), rollup(removed), rollup(added), ["member_id", "day"])
    assert got.rows() == rollup(now).rows() == [
        (1 * scale, date(2026, 3, 1), 2), (2 * scale, date(2026, 3, 1), 1), (2 * scale, date(2026, 3, 4), 1),
        (3 * scale, date(2026, 3, 3), 1)]


@pytest.mark.parametrize("seed", range(8))
def test_a_sorted_frame_rekeyed_holds_what_its_rows_made_again_hold(seed, monkeypatch):
    """Rows written over, put in and taken out, few (the frame cut into slices) or many (each
    column copied, or with nulls gathered), at the end or anywhere, with null values or null keys
    (not packable): each step gives the frame sorted and made from scratch."""
    monkeypatch.setattr(kpis, "SLICES", 32 if seed % 2 else 4)
    rng = random.Random(seed)
    truth = {(date(2026, 1, 1) + timedelta(days=rng.randrange(60)), rng.randrange(1, 50)): (rng.randrange(1, 9), "a")
             for _ in range(300)}
    if seed % 4 == 3:
        truth[(date(2026, 1, 1), None)] = (1, "none")

    def made(rows: dict) -> pl.DataFrame:  # with text (not a number) or not
        frame = pl.DataFrame([(d, m, v, t) for (d, m), (v, t) in rows.items()],
                             schema={"day": pl.Date, "member_id": pl.Int64, "v": pl.Int64, "t": pl.String},
                             orient="row").sort("day", "member_id")
        return frame if seed % 4 >= 2 else frame.drop("t")
    frame = made(truth)
    for step in range(12):
        many, late = step % 3 == 0, step % 2 == 0
        days = range(50, 62) if late else range(62)
        keys = {(date(2026, 1, 1) + timedelta(days=rng.choice(days)), rng.randrange(1, 60))
                for _ in range(rng.randrange(20, 90) if many else rng.randrange(1, 4))}
        if seed % 4 == 3:
            keys.add((date(2026, 1, 1), None))
        gone = {k for k in keys if k in truth and rng.random() < 0.3}
        now = {k: (rng.randrange(-1, 9), rng.choice(["a", "b", None])) for k in keys - gone}
        seen = []

        def update(held: pl.DataFrame) -> pl.DataFrame:
            seen.append(sorted(held.rows(), key=str))
            return made(now)
        frame = rekeyed(frame, ["day", "member_id"], made({k: (0, "") for k in keys}).select("day", "member_id"), update)
        assert seen == [sorted(made({k: truth[k] for k in keys if k in truth}).rows(), key=str)]
        truth = {k: v for k, v in truth.items() if k not in gone} | now
        assert frame.rows() == made(truth).rows()
        assert frame.n_chunks() <= MAX_CHUNKS


def test_values_written_over_copy_only_their_columns():
    """A change of values alone leaves the key columns shared with the frame it was made from."""
    frame = pl.DataFrame({"day": [date(2026, 1, d) for d in range(1, 11)], "member_id": list(range(10)),
                          "n": [1] * 10})
    after = rekeyed(frame, ["day", "member_id"], frame.slice(4, 2).select("day", "member_id"),
                    lambda held: held.with_columns(pl.col("n") + 1))
    assert after["n"].to_list() == [1, 1, 1, 1, 2, 2, 1, 1, 1, 1]
    address = lambda f, c: f[c].to_arrow().buffers()[1].address  # noqa: E731
    assert [address(after, c) == address(frame, c) for c in frame.columns] == [True, True, False]


@pytest.mark.parametrize("scale", [1, 2**61])
def test_the_rows_of_some_keys_are_found_in_a_sorted_frame_whatever_their_span(scale):
    """Every row of each key, in the frame's order; a key the frame lacks finds nothing."""
    frame = pl.DataFrame({"member_id": [1, 1, 1, 2, 2, 3], "counterpart": [2, 2, 5, 1, 3, 1],
                          "day": [date(2026, 3, d) for d in (1, 4, 2, 2, 1, 9)], "n": [1, 2, 3, 4, 5, 6]}
                         ).with_columns(pl.col("member_id") * scale)
    keys = pl.DataFrame({"member_id": [3, 1, 2, 1, 0], "counterpart": [1, 2, 2, 2, 1]}  # no member 0
                        ).with_columns(pl.col("member_id") * scale)
    assert kpis.rows_of(frame, ["member_id", "counterpart"], keys)["n"].to_list() == [1, 2, 6]


@pytest.mark.parametrize("seed", range(6))
def test_each_keys_rows_are_bounded_as_a_scan_of_the_frame_finds_them(seed):
    """`_bounds` against a count by hand: keys before, between and after the frame's, keys of a
    first column it holds with a second it lacks, an empty frame; one chunk or several."""
    rng = random.Random(seed)
    rows = sorted((rng.randrange(0, 30), rng.randrange(-5, 5), rng.randrange(3)) for _ in range(rng.choice([0, 5, 400])))
    frame = pl.DataFrame(rows, schema={"a": pl.Int32, "b": pl.Int16, "c": pl.Int64}, orient="row")
    if seed % 2 and frame.height:
        frame = pl.concat([frame.slice(0, frame.height // 3), frame.slice(frame.height // 3)], rechunk=False)
    keys = sorted({(rng.randrange(-2, 33), rng.randrange(-7, 7)) for _ in range(60)})
    lo, hi = kpis._bounds(frame, ["a", "b"], pl.DataFrame(keys, schema={"a": pl.Int64, "b": pl.Int64}, orient="row"))
    for (a, b), first, end in zip(keys, lo, hi, strict=True):
        assert first == sum(r[:2] < (a, b) for r in rows) and end == sum(r[:2] <= (a, b) for r in rows)


@pytest.mark.parametrize("seed", range(6))
def test_a_frame_regrouped_holds_each_groups_rows_as_they_were_made_again(seed, monkeypatch):
    """Groups of rows (a pair's days) replaced by more, fewer or none, new groups put in, few at
    a time (the frame cut into slices) or many (each column copied, or gathered where a value is
    null): each step gives the frame sorted and made from scratch, and `update` is handed exactly
    the rows of its keys the frame held."""
    monkeypatch.setattr(kpis, "SLICES", 32 if seed % 2 else 4)
    rng = random.Random(seed)

    def days(n: int) -> list[tuple[int, int | None]]:  # a group's rows: one a day, its value null or not
        return sorted({rng.randrange(60): rng.choice([None, 1, 2]) if seed % 3 == 2 else 1 for _ in range(n)}.items())
    truth = {(rng.randrange(1, 40), rng.randrange(1, 40)): days(rng.randrange(1, 5)) for _ in range(150)}

    def made(groups: dict) -> pl.DataFrame:
        return pl.DataFrame([(m, c, d, v) for (m, c), rows in groups.items() for d, v in rows],
                            schema={"member_id": pl.Int32, "counterpart": pl.Int32, "day": pl.Int32, "v": pl.Int64},
                            orient="row").sort("member_id", "counterpart", "day")
    frame = made(truth)
    for step in range(10):
        keys = {(rng.randrange(1, 45), rng.randrange(1, 45)) for _ in range(rng.randrange(1, 60 if step % 3 else 4))}
        now = {k: days(rng.randrange(0, 6)) for k in keys}
        seen = []

        def update(held: pl.DataFrame) -> pl.DataFrame:
            seen.append(held.rows())
            return made(now)
        frame = kpis.regrouped(frame, ["member_id", "counterpart"], pl.DataFrame(sorted(keys), orient="row",
                               schema=["member_id", "counterpart"]), update)
        assert seen == [made({k: truth[k] for k in sorted(keys) if k in truth}).rows()]
        truth = {k: v for k, v in truth.items() if k not in keys} | {k: v for k, v in now.items() if v}
        assert frame.rows() == made(truth).rows()
        assert frame.n_chunks() <= MAX_CHUNKS
