"""Imported exports give the figures a person counts by hand from the files: bots and the
deleted-user placeholder are not members, anonymous votes are reactions received (daily cap
included), and every page that counts people or reactions agrees."""
from datetime import date

import pytest

from cmcore import ingest, leaderboard
from cmcore.access import CLI, Principal
from cmcore.reports import overview
from cmcore.reports import Scope, content_report, growth_report, responsiveness_report
from cmcore.periods import Period
from tests.builders import Community, user, utc
from tests.pages import as_user
from tests.test_app import texts
from tests.test_ingest import FIXTURES, fixture

MANAGER = Principal("manon", "manager")
APRIL = Period(date(2025, 4, 1), date(2025, 5, 1))  # previous period: 2 March – 31 March


def values(report) -> dict:
    return {m.key: m.value for m in report.metrics}


def board(scope: Scope) -> dict:
    return {r["display_name"]: (r["rank"], r["score"], r["reaction_received"], r["reach"])
            for r in leaderboard.leaderboard(MANAGER, scope).iter_rows(named=True)}


def test_a_stack_exchange_dump_gives_the_figures_counted_from_its_files(database):
    """Counted by hand from tests/fixtures/stackexchange: people are users 1-4 (Community and the
    deleted-user placeholder are not); Dana joined in April; threads are questions 10, 13 and 21
    (Community's and the deleted user's count); up-votes per author from Votes.xml."""
    ingest.run("stackexchange", fixture("stackexchange"), CLI)
    april = Scope(APRIL, tz="UTC", now=utc(2025, 6, 1))
    growth = values(growth_report(MANAGER, april))
    assert (growth["members"], growth["new_members"], growth["participation"], growth["new_contributors"]) == (
        4, 1, 1.0, 4)
    assert {m.key: (m.value, m.previous) for m in overview.headline(MANAGER, APRIL, None, "UTC")
            if m.key in ("members", "active_members", "new_members", "threads")} == {
        "members": (4, 3), "active_members": (4, 0), "new_members": (1, 1), "threads": (3, 0)}  # Chen joined 4 March
    responsiveness = responsiveness_report(MANAGER, april)
    # 10: Amélie's comment 10 minutes after; 13: Dana's answer 69 h after (the deleted user's own
    # comment is not a response); 21: unanswered
    assert values(responsiveness)["ttfr_median"] == pytest.approx((1 / 6 + 69) / 2)
    assert values(responsiveness)["unanswered"] == 1
    assert responsiveness.frames["responders"].rows() == [("staff", 0, 0.0), ("community", 2, 1.0)]
    # 10: four answers and comments by others + 2 up-votes on it + 3 on answer 12; 13: Dana's
    # answer + one up-vote on 13 and one on 22; 21: nothing
    assert values(content_report(MANAGER, april))["engagement"] == pytest.approx((9 + 3 + 0) / 3)
    assert board(april) == {
        "Amélie": (1, 22.0, 3.0, 1),  # answer 3 + accepted 15 + comment 1 + 3 up-votes; Bruno commented
        "Bruno": (2, 8.0, 2.0, 2),  # question 5 + comment 1 + 2 up-votes; Amélie and Chen answered
        "Dana": (3, 5.0, 1.0, 0),  # answer 3 + comment 1 + 1 up-vote
        "Chen": (4, 3.0, 0.0, 1)}  # answer 3; a down-vote is not a reaction; Dana commented
    assert leaderboard.anonymous_platforms(MANAGER, april) == ["Stackexchange"]


def test_bots_are_content_but_not_members_and_anonymous_votes_meet_the_daily_cap(database):
    c = Community()
    ann = c.member("ann", utc(2026, 1, 1))
    bot = c.member("helper-bot", utc(2026, 1, 1), bot=True)
    staff = c.member("sam", utc(2026, 1, 1), staff=True)
    thread = c.act(ann, "thread", utc(2026, 3, 2, 9))
    c.act(bot, "reply", utc(2026, 3, 2, 9, 1), parent=thread)  # the bot answers in a minute
    c.act(bot, "reaction", utc(2026, 3, 2, 9, 2), parent=thread)  # and reacts: no one's reaction
    c.act(staff, "reply", utc(2026, 3, 2, 10), parent=thread)
    c.act(bot, "thread", utc(2026, 3, 3, 8))  # a bot's announcement is a thread
    c.vote(thread, date(2026, 3, 2), up=60, down=4)  # 60 up-votes in a day: 50 count
    c.vote(thread, date(2026, 3, 3), up=2)
    march = Scope(Period(date(2026, 3, 1), date(2026, 3, 11)), tz="UTC", now=utc(2026, 4, 1))
    growth = values(growth_report(MANAGER, march))
    assert (growth["members"], growth["participation"], growth["new_contributors"]) == (2, 1.0, 2)
    assert {m.key: m.value for m in overview.headline(MANAGER, march.period, None, "UTC")
            if m.key in ("members", "active_members", "threads")} == {"members": 2, "active_members": 2, "threads": 2}
    responsiveness = responsiveness_report(MANAGER, march)
    assert values(responsiveness)["ttfr_median"] == pytest.approx(1 / 60)  # any other account's reply answers
    assert responsiveness.frames["responders"].rows() == [("staff", 0, None), ("community", 0, None)]
    assert board(march) == {"ann": (1, 57.0, 52.0, 1), "sam": (2, 3.0, 0.0, 0)}  # 5 + 50 + 2; sam replied
    explained, _recent = leaderboard.explain(MANAGER, march, ann)
    assert explained.filter(explained["kind"] == "reaction_received").row(0) == (
        "reaction_received", 62, 52, 1.0, 50, 52.0)
    # ann's thread: the bot's reply and reaction, sam's reply, 62 up-votes; the bot's thread: nothing
    assert values(content_report(MANAGER, march))["engagement"] == pytest.approx((3 + 62 + 0) / 2)


def test_the_pages_say_where_reactions_are_anonymous(app):
    ingest.run("stackexchange", fixture("stackexchange"), CLI)
    ingest.run("discourse", [FIXTURES / "discourse/t-50.json"], CLI)
    user("manager", "manager")
    at = as_user(app, "manager")
    for page in ("leaderboard", "content"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
        assert ("Sur Discourse, Stackexchange, les réactions sont anonymes (votes, « j'aime », réactions dont l'export"
                " ne donne pas les auteurs) : elles comptent comme réactions reçues par l'auteur, sans donneur ni"
                " portée.") in texts(at.caption)
