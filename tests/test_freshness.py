"""Every cached read shows a write at the next view. For each cached frame, money read, setting
and report: a view, a write through cmcore's own door (an import, a merge, a form's service) to a
table it reads, and the next view's exact new value, counted by hand on the town community
(tests/builders.py). Nothing here looks at the caches themselves: whatever keeps them, a view after
a write shows the write. Period 1–10 March 2026, in UTC."""
from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from cmcore import community, identities, leaderboard, money, platforms, reports, rewards, sponsor_html
from cmcore.access import CLI, Principal
from cmcore.reports import Scope, overview
from cmcore.periods import Period
from tests.builders import TOWN_MANAGER as MANAGER, import_files, user

MARCH = Period(date(2026, 3, 1), date(2026, 3, 11))
NOW = datetime(2026, 3, 20, tzinfo=UTC)
SCOPE = Scope(MARCH, None, "UTC", NOW)


def metric(report, key: str):
    return {m.key: m.value for m in (report.metrics if hasattr(report, "metrics") else report)}[key]


def board(column: str, scope: Scope = SCOPE) -> dict[str, object]:
    return dict(leaderboard.leaderboard(MANAGER, scope).select("display_name", column).iter_rows())


# ------------------------------------------------------------------ community tables (frames.TABLES)


def test_a_platform_renamed_shows_in_the_overview_and_the_leaderboard(town):
    assert overview.by_platform(MANAGER, MARCH, None, "UTC")["platform"].to_list() == ["Forum", "Chat"]
    assert board("platforms")["Ann"] == "Forum"
    platforms.save(CLI, "forum", "Community forum", "discourse")
    assert overview.by_platform(MANAGER, MARCH, None, "UTC")["platform"].to_list() == ["Community forum", "Chat"]
    assert board("platforms")["Ann"] == "Community forum"


def test_a_member_imported_or_renamed_shows_at_once(town):
    assert metric(reports.growth_report(MANAGER, SCOPE), "new_members") == 0  # all joined before March
    assert board("score") == {"Ann": 3 + 15 + 10, "Bob": 5, "Cat": 5}
    import_files(town["tmp"], **{"members.csv": "platform,external_id,display_name,joined_at\n"
                                        "forum,u2,Bob Leroy,2026-01-10T09:00:00Z\n"
                                        "forum,u4,Dan,2026-03-04T09:00:00Z\n"})
    assert metric(reports.growth_report(MANAGER, SCOPE), "new_members") == 1
    assert metric(overview.headline(MANAGER, MARCH, None, "UTC"), "members") == 4
    assert board("score") == {"Ann": 28, "Bob Leroy": 5, "Cat": 5}


def test_an_account_linked_on_another_platform_shows_at_once(town):
    chat = overview.by_platform(MANAGER, MARCH, None, "UTC").filter(pl.col("platform") == "Chat")
    assert chat.select("members", "new_members").row(0) == (0, 0)
    import_files(town["tmp"], **{"identities.csv": "platform,external_id,handle,joined_at,member_platform,member_external_id\n"
                                           "chat,d2,bob_chat,2026-03-04T09:00:00Z,forum,u2\n"})
    chat = overview.by_platform(MANAGER, MARCH, None, "UTC").filter(pl.col("platform") == "Chat")
    assert chat.select("members", "new_members").row(0) == (1, 1)
    assert board("platforms")["Bob"] == "Chat, Forum"


def test_an_activity_imported_shows_in_every_report_that_counts_it(town):
    growth = reports.growth_report(MANAGER, SCOPE)
    assert (metric(growth, "new_contributors"), metric(growth, "dau")) == (3, (2 + 1) / 10)  # 2 and 3 March
    assert cohorts() == {(date(2026, 1, 1), 1): 0, (date(2026, 1, 1), 2): 2, (date(2026, 2, 1), 1): 1}
    assert metric(overview.headline(MANAGER, MARCH, None, "UTC"), "threads") == 2
    assert metric(reports.responsiveness_report(MANAGER, SCOPE), "unanswered") == 1
    assert metric(reports.content_report(MANAGER, SCOPE), "threads") == 2
    assert board("score")["Cat"] == 5
    assert sparkline("Cat") == [0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
    import_files(town["tmp"], **{"activities.csv": "platform,external_id,author,kind,parent,created_at,title\n"
                                           "forum,t0,u1,thread,,2026-02-10T09:00:00Z,Old\n"
                                           "forum,r1,u1,reply,t2,2026-03-03T10:00:00Z,\n"
                                           "forum,t3,u3,thread,,2026-03-06T09:00:00Z,Another\n"})
    growth = reports.growth_report(MANAGER, SCOPE)
    assert (metric(growth, "new_contributors"), metric(growth, "dau")) == (2, (2 + 2 + 1) / 10)  # Ann began in Feb
    assert cohorts() == {(date(2026, 1, 1), 1): 1, (date(2026, 1, 1), 2): 2, (date(2026, 2, 1), 1): 1}
    assert metric(overview.headline(MANAGER, MARCH, None, "UTC"), "threads") == 3
    assert metric(reports.responsiveness_report(MANAGER, SCOPE), "unanswered") == 1  # t2 answered, t3 not
    assert metric(reports.content_report(MANAGER, SCOPE), "threads") == 3
    assert board("score") == {"Ann": 28 + 3, "Bob": 5, "Cat": 10}
    assert sparkline("Cat") == [0, 0, 5, 0, 0, 5, 0, 0, 0, 0]
    explained, recent = leaderboard.explain(MANAGER, SCOPE, _id("Cat"))
    assert explained.filter(pl.col("kind") == "thread")["items"].to_list() == [2]
    assert recent["kind"].to_list() == ["thread", "thread"]


def test_a_thread_retitled_shows_in_the_backlog(town):
    backlog = reports.responsiveness_report(MANAGER, SCOPE).frames["backlog"]
    assert backlog.select("title", "author").rows() == [("Unanswered", "Cat")]
    import_files(town["tmp"], **{"activities.csv": "platform,external_id,author,kind,created_at,title\n"
                                           "forum,t2,u3,thread,2026-03-03T09:00:00Z,Still unanswered\n"})
    backlog = reports.responsiveness_report(MANAGER, SCOPE).frames["backlog"]
    assert backlog.select("title", "author").rows() == [("Still unanswered", "Cat")]


def test_a_moderation_case_imported_shows_at_once(town):
    assert metric(reports.moderation_report(MANAGER, SCOPE), "reports") == 1
    import_files(town["tmp"], **{"moderation_cases.csv": "platform,external_id,member,rule,reported_at\n"
                                                 "forum,f2,u2,spam,2026-03-04T08:00:00Z\n"})  # a known rule
    report = reports.moderation_report(MANAGER, SCOPE)
    assert (metric(report, "reports"), metric(report, "open_cases")) == (2, 1)
    import_files(town["tmp"], **{"moderation_cases.csv": "platform,external_id,member,rule,reported_at\n"
                                                 "forum,f3,u2,off-topic,2026-03-05T08:00:00Z\n"})  # a new one
    report = reports.moderation_report(MANAGER, SCOPE)
    assert (metric(report, "reports"), metric(report, "open_cases")) == (3, 2)
    assert report.frames["by_rule_platform"].select("rule", "reports").sort("rule").rows() == [
        ("off-topic", 1), ("spam", 2)]


def test_a_merge_and_its_undo_show_at_once(town):
    """Bobby on the chat is Cat: a thread and an upheld spam case each; merged, Cat is one repeat
    offender with both cases and 10 points; undone, two members again."""
    import_files(town["tmp"], **{
        "members.csv": "platform,external_id,display_name,joined_at\nchat,d9,Bobby,2026-02-01T09:00:00Z\n",
        "activities.csv": "platform,external_id,author,kind,created_at,title\n"
                          "chat,c1,d9,thread,2026-03-04T09:00:00Z,Hello\n",
        "moderation_cases.csv": "platform,external_id,member,rule,reported_at,first_action_at,resolved_at,outcome\n"
                                "chat,k1,d9,spam,2026-03-04T10:00:00Z,2026-03-04T10:30:00Z,"
                                "2026-03-04T11:00:00Z,upheld\n"})
    offenders = lambda: reports.moderation_report(MANAGER, SCOPE).frames["repeat_offenders"]  # noqa: E731
    members = lambda: metric(overview.headline(MANAGER, MARCH, None, "UTC"), "members")  # noqa: E731
    assert offenders().is_empty() and members() == 4
    assert board("score") == {"Ann": 28, "Bob": 5, "Cat": 5, "Bobby": 5}
    merge = identities.merge(MANAGER, _id("Bobby"), _id("Cat"))
    assert offenders().select("member", "upheld_cases").rows() == [("Cat", 2)]
    assert members() == 3
    assert board("score") == {"Ann": 28, "Bob": 5, "Cat": 10}
    assert board("platforms")["Cat"] == "Chat, Forum"
    identities.undo(MANAGER, merge)
    assert offenders().is_empty() and members() == 4
    assert board("score") == {"Ann": 28, "Bob": 5, "Cat": 5, "Bobby": 5}


def test_a_mention_imported_shows_at_once(town):
    assert metric(reports.reputation_report(MANAGER, SCOPE), "mentions") == 1
    import_files(town["tmp"], **{"mentions.csv": "url,source,author,body,created_at,reach,lang,sentiment\n"
                                         "https://x.example/2,x,@bob,So slow,2026-03-03T08:00:00Z,50,en,-1\n"})
    report = reports.reputation_report(MANAGER, SCOPE)
    assert (metric(report, "mentions"), metric(report, "reach"), metric(report, "net_sentiment")) == (2, 150, 0.0)


def test_an_event_and_its_attendance_imported_show_at_once(town):
    report = reports.content_report(MANAGER, SCOPE)
    assert (metric(report, "events"), metric(report, "attendance_rate")) == (1, 0.5)
    assert board("event") == {"Ann": 10.0, "Bob": 0.0, "Cat": 0.0}
    import_files(town["tmp"], **{"events.csv": "external_id,platform,title,format,starts_at\n"
                                       "ev1,forum,March meetup,online,2026-03-05T18:00:00Z\n"
                                       "ev2,forum,Workshop,online,2026-03-08T18:00:00Z\n"})
    report = reports.content_report(MANAGER, SCOPE)
    assert report.frames["events"]["title"].to_list() == ["March meetup", "Workshop"]
    assert (metric(report, "events"), metric(report, "attendance_rate")) == (2, 0.5)
    import_files(town["tmp"], **{"attendance.csv": "event,platform,member,registered_at,attended\n"
                                           "ev1,forum,u2,2026-03-01T11:00:00Z,true\n"})
    assert metric(reports.content_report(MANAGER, SCOPE), "attendance_rate") == 1.0
    assert board("event") == {"Ann": 10.0, "Bob": 10.0, "Cat": 0.0}


def sparkline(name: str) -> list[float]:
    return leaderboard.activity_sparklines(MANAGER, SCOPE, [_id(name)])["activity"][0].to_list()


def cohorts() -> dict[tuple[date, int], int]:
    """(cohort month, months after) → active members, from one month after joining on."""
    frame = reports.retention_report(MANAGER, SCOPE).frames["cohorts"].filter(pl.col("k") > 0)
    return {(c, k): n for c, k, n in frame.select("cohort", "k", "active").iter_rows()}


def _id(name: str) -> int:
    members = leaderboard.leaderboard(MANAGER, SCOPE)
    return members.filter(pl.col("display_name") == name)["member_id"][0]


# ------------------------------------------------------------------ money (money's reads)


def test_a_delivery_recorded_shows_in_the_sponsor_report_and_the_monetisation(town):
    sponsor, spring = town["sponsor"], town["spring"]
    for viewer, chosen in ((sponsor, None), (MANAGER, town["acme"])):
        assert metric(money.sponsor_report(viewer, SCOPE, chosen), "impressions") == 3000
    campaigns = money.monetisation_report(MANAGER, SCOPE).frames["campaigns"]
    assert campaigns.select("impressions", "clicks").row(0) == (3000, 30)
    money.record_delivery(MANAGER, spring, date(2026, 3, 3), 700, 7, 1)
    for viewer, chosen in ((sponsor, None), (MANAGER, town["acme"])):
        report = money.sponsor_report(viewer, SCOPE, chosen)
        assert (metric(report, "impressions"), metric(report, "clicks")) == (3700, 37)
        assert report.daily.select("day", "impressions").rows()[-1] == (date(2026, 3, 3), 700)
    campaigns = money.monetisation_report(MANAGER, SCOPE).frames["campaigns"]
    assert campaigns.select("impressions", "clicks", "ecpm_minor").row(0) == (3700, 37, 100_000 / 3700 * 1000)
    money.record_delivery(MANAGER, spring, date(2026, 3, 3), 900, 9, 1)  # a day corrected
    assert metric(money.sponsor_report(sponsor, SCOPE), "impressions") == 3900


def test_a_campaign_added_or_corrected_shows_at_once(town):
    acme, sponsor = town["acme"], town["sponsor"]
    assert money.sponsor_report(sponsor, SCOPE).campaigns["name"].to_list() == ["Spring"]
    assert money.monetisation_report(MANAGER, SCOPE).frames["pipeline"].rows() == [("EUR", 100_000, 25_000, 100_000, 0)]
    money.update_campaign(MANAGER, town["spring"], "Spring sale", date(2026, 3, 1), date(2026, 3, 31), "1000",
                          [{"kind": "post", "label": "Posts", "target": 4, "delivered": 2}])
    money.add_campaign(MANAGER, acme, "Summer", date(2026, 3, 9), date(2026, 6, 30), "500", "EUR", [])
    assert money.sponsor_report(sponsor, SCOPE).campaigns["name"].to_list() == ["Spring sale", "Summer"]
    assert money.campaigns(MANAGER)["name"].to_list() == ["Spring sale", "Summer"]
    assert money.monetisation_report(MANAGER, SCOPE).frames["pipeline"].rows() == [("EUR", 150_000, 50_000, 100_000, 0)]


def test_a_revenue_line_added_received_or_corrected_shows_at_once(town):
    report = money.monetisation_report(MANAGER, SCOPE)
    assert (metric(report, "booked_EUR"), metric(report, "outstanding_EUR")) == (100_000, 100_000)
    assert metric(overview.headline(MANAGER, MARCH, None, "UTC"), "revenue_EUR") == 100_000
    line = money.add_revenue(MANAGER, "donation", "50", "EUR", date(2026, 3, 4))
    report = money.monetisation_report(MANAGER, SCOPE)
    assert (metric(report, "booked_EUR"), metric(report, "outstanding_EUR")) == (105_000, 105_000)
    assert metric(overview.headline(MANAGER, MARCH, None, "UTC"), "revenue_EUR") == 105_000
    money.mark_received(MANAGER, line, date(2026, 3, 5))
    assert metric(money.monetisation_report(MANAGER, SCOPE), "received_EUR") == 5_000
    money.update_revenue(MANAGER, line, "80", date(2026, 3, 4), date(2026, 3, 5), "")
    assert metric(money.monetisation_report(MANAGER, SCOPE), "booked_EUR") == 108_000
    assert money.revenue_lines(town["sponsor"])["amount_minor"].to_list() == [100_000]


def test_a_sponsor_renamed_or_added_shows_at_once(town):
    assert money.sponsor_report(town["sponsor"], SCOPE).sponsor["name"] == "Acme"
    assert money.monetisation_report(MANAGER, SCOPE).frames["campaigns"]["sponsor"].to_list() == ["Acme"]
    money.update_sponsor(MANAGER, town["acme"], "Acme Corp", None)
    money.add_sponsor(MANAGER, "Bolt")
    assert money.sponsor_report(town["sponsor"], SCOPE).sponsor["name"] == "Acme Corp"
    assert money.sponsors(town["sponsor"])["name"].to_list() == ["Acme Corp"]
    assert money.sponsors(MANAGER)["name"].to_list() == ["Acme Corp", "Bolt"]
    assert money.monetisation_report(MANAGER, SCOPE).frames["campaigns"]["sponsor"].to_list() == ["Acme Corp"]
    html = sponsor_html.render(money.sponsor_report(town["sponsor"], SCOPE), MARCH, "en")
    assert "Sponsor report: Acme Corp" in html


# ------------------------------------------------------------------ settings and scoring (app_setting)


def test_the_slas_and_the_time_zone_set_show_at_once(town):
    assert metric(reports.responsiveness_report(MANAGER, SCOPE), "within_sla") == 0.5  # t1 in 1.5 h; t2 never
    assert metric(reports.moderation_report(MANAGER, SCOPE), "action_within_sla") == 1.0  # acted on in 1 h
    community.set_setting(MANAGER, "response_sla_hours", 1)
    community.set_setting(MANAGER, "moderation_sla_hours", 0.5)
    assert metric(reports.responsiveness_report(MANAGER, SCOPE), "within_sla") == 0.0
    assert metric(reports.moderation_report(MANAGER, SCOPE), "action_within_sla") == 0.0
    # Cat's thread of 3 March 09:00 UTC is on 3 March anywhere from UTC−9 to UTC+14; a day of
    # Kiritimati (UTC+14) that ends at 10:00 UTC on 2 March leaves Bob's 10:00 thread in the next.
    day = Scope(Period(date(2026, 3, 2), date(2026, 3, 3)), None, None, NOW)
    assert community.timezone() == "Europe/Paris"
    assert metric(reports.growth_report(MANAGER, day), "participation") == pytest.approx(2 / 3)  # Bob, Ann
    community.set_setting(MANAGER, "timezone", "Pacific/Kiritimati")
    assert community.timezone() == "Pacific/Kiritimati"
    assert metric(reports.growth_report(MANAGER, day), "participation") == 0.0  # both on 3 March there
    assert board("score", day) == {}


def test_a_scoring_saved_shows_at_once(town):
    assert board("score") == {"Ann": 28, "Bob": 5, "Cat": 5}
    rules = leaderboard.Scoring()
    leaderboard.save_scoring(MANAGER, leaderboard.Scoring({**rules.weights, "thread": 7, "accepted": 1}, rules.caps))
    assert leaderboard.scoring().weights["thread"] == 7
    assert board("score") == {"Ann": 3 + 1 + 10, "Bob": 7, "Cat": 7}


# ------------------------------------------------------------------ what is built from them


def test_a_rule_proposes_from_the_activity_imported_just_before(town):
    user("anna", "staff")
    anna = Principal("anna", "staff")
    rewards.add_rule(MANAGER, "accepted", "Accepted answers", "accepted_answer", {}, "points", 10)
    assert rewards.propose_from_rules(anna, "2026-03") == 1  # Ann's answer
    import_files(town["tmp"], **{"activities.csv": "platform,external_id,author,kind,parent,created_at,accepted\n"
                                           "forum,p2,u3,answer,t1,2026-03-04T10:00:00Z,true\n"})
    assert rewards.propose_from_rules(anna, "2026-03") == 1  # Cat's, once
    assert rewards.rewards(anna, "2026-03").select("member", "amount_minor").sort("member").rows() == [
        ("Ann", 10), ("Cat", 10)]
