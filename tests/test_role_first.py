"""Role first: every cmcore function that takes a principal checks it before it reads or validates
anything, and its refusal says nothing of the data. Each is called by nobody and by the user of
sponsor Acme with the ids of sponsor Globex (inputs made to fail validation too): refused, no
query sent, and not a word of Globex's dates, currency, amounts or names in the message."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import psycopg
import pytest
import sqlalchemy as sa

import cmcore
from cmcore import (auth, community, connections, demo, frames, identities, ingest, leaderboard, money, platforms,
                    reports, rewards)
from cmcore.access import AccessDenied, Principal
from cmcore.alerts import inbox, schedule
from cmcore.alerts import rules as alerts_rules
from cmcore.ingest import rescore
from cmcore.periods import Period
from cmcore.reports import Scope, overview
from tests.builders import Community, user, utc

MANAGER = Principal("manager", "manager")
STAFF = Principal("staff", "staff")
JULY = Period(date(2025, 7, 1), date(2025, 8, 1))
SCOPE = Scope(JULY)
# What Acme's user must never read of Globex.
SECRETS = ("Globex", "globex.example", "Nightjar", "2025-07-04", "2025-08-09", "2025-05-06", "2025-05-17", "JPY",
           "7777777", "123457")


@dataclass(frozen=True)
class Ids:
    """Globex's rows, and the user of Acme."""

    acme: Principal
    sponsor: int
    campaign: int
    revenue: int
    member: int
    other_member: int
    merge: int
    reward: int
    rule: int
    import_file: object


@pytest.fixture
def globex(database, tmp_path) -> Ids:
    c = Community()
    acme = c.sponsor("Acme")
    user("manager", "manager")
    user("staff", "staff")
    user("staff2", "staff")
    globex = money.add_sponsor(MANAGER, "Globex Secret Labs", "cfo@globex.example")
    user("acme", "sponsor", sponsor_id=acme)
    user("globex", "sponsor", sponsor_id=globex)
    campaign = money.add_campaign(MANAGER, globex, "Project Nightjar", date(2025, 7, 4), date(2025, 8, 9), "7777777",
                                  "JPY", [{"label": "Posts", "target": 4}])
    money.record_delivery(MANAGER, campaign, date(2025, 7, 5), 123457, 10, 5)
    revenue = money.add_revenue(MANAGER, "sponsorship", "7777777", "JPY", date(2025, 5, 6), date(2025, 5, 17),
                                campaign_id=campaign)
    ann, bob = c.member("ann", utc(2025, 1, 1), "discord"), c.member("ann2", utc(2025, 1, 2), "forum")
    rewards.set_budget(MANAGER, "2025-07", "JPY", "7777777")
    reward = rewards.propose(STAFF, ann, "2025-07", "money", "7777777", "JPY", "Globex's ambassador")
    rule = rewards.add_rule(MANAGER, "nightjar", "Nightjar", "top_n", {"n": 1}, "money", "7777777", "JPY")
    merge = identities.merge(STAFF, bob, ann)
    path = tmp_path / "revenue.csv"
    path.write_text("external_id,stream,amount_minor,currency,booked_on\nr1,ads,7777777,XXX,2025-05-06\n")
    return Ids(Principal("acme", "sponsor", acme), globex, campaign, revenue, ann, bob, merge, reward, rule, path)


# Every function given a principal, called as it must refuse `p` with Globex's ids in `x`.
CALLS: dict[str, Callable[[Principal | None, Ids], object]] = {
    "alerts.rules.listing": lambda p, x: alerts_rules.listing(p),
    "alerts.rules.recipients": lambda p, x: alerts_rules.recipients(p),
    "alerts.inbox.notifications": lambda p, x: inbox.notifications(p),
    "alerts.inbox.unread": lambda p, x: inbox.unread(p),
    "alerts.inbox.mark_read": lambda p, x: inbox.mark_read(p, [1]),
    "alerts.inbox.deliveries": lambda p, x: inbox.deliveries(p),
    "alerts.inbox.failing": lambda p, x: inbox.failing(p),
    "alerts.schedule.subscriptions": lambda p, x: schedule.subscriptions(p),
    "alerts.schedule.sponsor_subscriptions": lambda p, x: schedule.sponsor_subscriptions(p),
    "alerts.schedule.subscribe": lambda p, x: schedule.subscribe(p, "sponsor_monthly", False, x.sponsor),
    "alerts.schedule.send_test": lambda p, x: schedule.send_test(p, "sponsor_monthly", x.sponsor),
    "alerts.rules.save": lambda p, x: alerts_rules.save(p, alerts_rules.Rule("import_failed", "Globex", 1, "app",
                                                                             ("globex",))),
    "auth.list_users": lambda p, x: auth.list_users(p),
    "connections.listing": lambda p, x: connections.listing(p),
    "connections.add": lambda p, x: connections.add(p, "discourse", "Globex", "globex", {}, {}),
    "connections.set_paused": lambda p, x: connections.set_paused(p, 1, True),
    "connections.set_schedule": lambda p, x: connections.set_schedule(p, 1, 1),
    "connections.request_sync": lambda p, x: connections.request_sync(p, 1),
    "connections.remove": lambda p, x: connections.remove(p, 1),
    "connections.try_now": lambda p, x: connections.try_now(p, 1),
    "auth.add_user": lambda p, x: auth.add_user(p, "globex", "G", "sponsor", "short", sponsor_id=x.sponsor),
    "auth.set_password": lambda p, x: auth.set_password(p, "globex", "short"),
    "auth.set_role": lambda p, x: auth.set_role(p, "globex", "admin"),
    "auth.set_active": lambda p, x: auth.set_active(p, "globex", False),
    "auth.unlock": lambda p, x: auth.unlock(p, "globex"),
    "auth.end_sessions": lambda p, x: auth.end_sessions(p, "globex"),
    "community.set_setting": lambda p, x: community.set_setting(p, "timezone", "Globex/HQ"),
    "demo.load": lambda p, x: demo.load(demo.DemoSpec(members=5, days=5), p),
    "identities.merge": lambda p, x: identities.merge(p, x.other_member, x.member),
    "identities.undo": lambda p, x: identities.undo(p, x.merge),
    "identities.people": lambda p, x: identities.people(p, "ann"),
    "identities.candidates": lambda p, x: identities.candidates(p),
    "identities.merges": lambda p, x: identities.merges(p),
    "ingest.run": lambda p, x: ingest.run("canonical", [x.import_file], p),
    "ingest.history": lambda p, x: ingest.history(p),
    "ingest.kept_up": lambda p, x: ingest.kept_up(p),
    "ingest.rescore.rescore": lambda p, x: rescore.rescore(p),
    "leaderboard.save_scoring": lambda p, x: leaderboard.save_scoring(p, leaderboard.Scoring()),
    "leaderboard.leaderboard": lambda p, x: leaderboard.leaderboard(p, SCOPE),
    "leaderboard.activity_sparklines": lambda p, x: leaderboard.activity_sparklines(p, SCOPE, [x.member]),
    "leaderboard.explain": lambda p, x: leaderboard.explain(p, SCOPE, x.member),
    "leaderboard.anonymous_platforms": lambda p, x: leaderboard.anonymous_platforms(p, SCOPE),
    "money.sponsor_in_scope": lambda p, x: money.sponsor_in_scope(p, x.sponsor),
    "money.campaigns": lambda p, x: money.campaigns(p, x.sponsor),
    "money.delivery": lambda p, x: money.delivery(p, x.sponsor),
    "money.revenue_lines": lambda p, x: money.revenue_lines(p, x.sponsor),
    "money.monetisation_report": lambda p, x: money.monetisation_report(p, SCOPE),
    "money.sponsor_report": lambda p, x: money.sponsor_report(p, SCOPE, x.sponsor),
    "money.add_sponsor": lambda p, x: money.add_sponsor(p, "Globex Secret Labs"),
    "money.add_campaign": lambda p, x: money.add_campaign(p, x.sponsor, "Project Nightjar", date(2025, 7, 4),
                                                          date(2025, 8, 9), "1.5", "JPY", []),
    "money.record_delivery": lambda p, x: money.record_delivery(p, x.campaign, date(2024, 1, 1), 1, 2, 3),
    "money.add_revenue": lambda p, x: money.add_revenue(p, "ads", "1", "EUR", date(2025, 1, 1),
                                                        campaign_id=x.campaign),
    "money.mark_received": lambda p, x: money.mark_received(p, x.revenue, date(2025, 1, 1)),
    "money.update_sponsor": lambda p, x: money.update_sponsor(p, x.sponsor, "Acme's now", None),
    "money.update_campaign": lambda p, x: money.update_campaign(p, x.campaign, "N", date(2025, 7, 4), date(2025, 8, 9),
                                                                "1.5", []),
    "money.update_revenue": lambda p, x: money.update_revenue(p, x.revenue, "1.5", date(2025, 5, 6), None, ""),
    "platforms.listing": lambda p, x: platforms.listing(p),
    "platforms.save": lambda p, x: platforms.save(p, "globex", "Globex", "other"),
    "reports.growth_report": lambda p, x: reports.growth_report(p, SCOPE),
    "reports.retention_report": lambda p, x: reports.retention_report(p, SCOPE),
    "reports.responsiveness_report": lambda p, x: reports.responsiveness_report(p, SCOPE),
    "reports.moderation_report": lambda p, x: reports.moderation_report(p, SCOPE),
    "reports.reputation_report": lambda p, x: reports.reputation_report(p, SCOPE),
    "reports.content_report": lambda p, x: reports.content_report(p, SCOPE),
    "reports.overview.headline": lambda p, x: overview.headline(p, JULY),
    "reports.overview.daily": lambda p, x: overview.daily(p, JULY),
    "reports.overview.by_platform": lambda p, x: overview.by_platform(p, JULY),
    "rewards.add_rule": lambda p, x: rewards.add_rule(p, "nightjar", "N", "top_n", {"n": 1}, "money", "1.5", "JPY"),
    "rewards.set_rule_active": lambda p, x: rewards.set_rule_active(p, x.rule, False),
    "rewards.set_budget": lambda p, x: rewards.set_budget(p, "2025-07", "JPY", "1"),
    "rewards.propose": lambda p, x: rewards.propose(p, x.member, "2025-07", "money", "1.5", "JPY", "x"),
    "rewards.candidates": lambda p, x: rewards.candidates(p, {"trigger": "accepted_answer", "params": {},
                                                             "amount_minor": 1}, JULY),
    "rewards.propose_from_rules": lambda p, x: rewards.propose_from_rules(p, "2025-07"),
    "rewards.approve": lambda p, x: rewards.approve(p, x.reward),
    "rewards.reject": lambda p, x: rewards.reject(p, x.reward, ""),
    "rewards.cancel": lambda p, x: rewards.cancel(p, x.reward, ""),
    "rewards.pay": lambda p, x: rewards.pay(p, [x.reward]),
    "rewards.payout_csv": lambda p, x: rewards.payout_csv(p, "PAY-1"),
    "rewards.rewards": lambda p, x: rewards.rewards(p),
    "rewards.budgets": lambda p, x: rewards.budgets(p, "2025-07"),
    "rewards.trail": lambda p, x: rewards.trail(p, x.reward),
    "rewards.rules": lambda p, x: rewards.rules(p),
}
# What a sponsor's user may call (nobody may not): it gets its own rows, or a refusal about its own.
SPONSOR_MAY: dict[str, Callable[[Principal | None, Ids], object]] = {
    "auth.change_own_password": lambda p, x: auth.change_own_password(p, "not my password", "a new long password"),
    "auth.sign_out_everywhere": lambda p, x: auth.sign_out_everywhere(p, "not my password"),
    "auth.set_language": lambda p, x: auth.set_language(p, "en"),
    "money.sponsors": lambda p, x: money.sponsors(p),
}
HELPERS = {"access.require", "access.can_open", "access.pages_for"}  # the check itself


def principal_functions() -> set[str]:
    """Every public cmcore function that takes a principal (outside the benchmark)."""
    found = set()
    for info in pkgutil.walk_packages(cmcore.__path__, "cmcore."):
        if ".bench" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, fn in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != module.__name__:
                continue
            for params in (inspect.signature(fn).parameters, inspect.signature(fn, follow_wrapped=False).parameters):
                if "principal" in params or any(str(p.annotation) in ("Principal", "Principal | None")
                                                for p in params.values()):  # a wrapper's or what it wraps
                    found.add(f"{module.__name__.removeprefix('cmcore.')}.{name}")
    return found - HELPERS


def test_every_function_given_a_principal_is_tried_here():
    assert principal_functions() == set(CALLS) | set(SPONSOR_MAY), "add the new function to CALLS or SPONSOR_MAY"


@contextmanager
def no_query(monkeypatch) -> Iterator[list[str]]:
    """The statements, reads and connections the block makes (through SQLAlchemy, ADBC or psycopg)."""
    made: list[str] = []
    connect = psycopg.connect

    def statement(_conn, _cursor, sql, *_):
        made.append(sql)

    monkeypatch.setattr(psycopg, "connect", lambda *a, **k: made.append("connect") or connect(*a, **k))
    sa.event.listen(sa.Engine, "before_cursor_execute", statement)
    try:
        with frames.recording() as reads:
            yield made
            made.extend(sql for sql, _ in reads)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", statement)
        monkeypatch.setattr(psycopg, "connect", connect)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_sponsor_with_another_sponsors_ids_is_refused_before_anything_is_read(globex, monkeypatch, name):
    frames.clear()
    for who in (None, globex.acme):
        with no_query(monkeypatch) as made, pytest.raises(AccessDenied) as refused:
            CALLS[name](who, globex)
        assert made == [], f"{name} ran {made} before checking the role"
        assert not [s for s in SECRETS if s in str(refused.value)], str(refused.value)


@pytest.mark.parametrize("name", sorted(SPONSOR_MAY))
def test_what_a_sponsor_may_call_refuses_nobody_and_shows_the_sponsor_its_own_only(globex, monkeypatch, name):
    with no_query(monkeypatch) as made, pytest.raises(AccessDenied):
        SPONSOR_MAY[name](None, globex)
    assert made == []
    try:
        shown = repr(SPONSOR_MAY[name](globex.acme, globex))
    except auth.UserError as err:
        shown = str(err)
    assert shown and not [s for s in SECRETS if s in shown], shown


def test_the_same_calls_by_a_manager_reach_the_data(globex):
    """The refusals above come from the role: a manager's calls get past it (and may then be
    refused for what they ask, saying what a manager may read)."""
    with pytest.raises(money.MoneyError, match=r"day: 2024-01-01 is outside the campaign \(2025-07-04 – 2025-08-09\)"):
        money.record_delivery(MANAGER, globex.campaign, date(2024, 1, 1), 3, 2, 1)
    with pytest.raises(money.MoneyError, match="currency: the campaign is in JPY"):
        CALLS["money.add_revenue"](MANAGER, globex)
    with pytest.raises(money.MoneyError, match="was received on 2025-05-17"):
        CALLS["money.mark_received"](MANAGER, globex)
