"""Every state change is audited, in its own transaction: each write function of cmcore runs in turn
on a small community, and what it changed in every table is compared with the audit rows it
wrote: the same transaction (xmin), an entity that covers the table, and the changed row's key."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from cmcore import (audit, auth, community, connections, db, demo, identities, ingest, leaderboard, money,
                    platforms, rewards, sessions)
from cmcore.access import CLI, Principal
from cmcore.alerts import inbox, schedule
from cmcore.alerts import rules as alerts_rules
from cmcore.ingest import rescore
from cmcore.ingest.canonical import Rejected
from tests.test_role_first import CALLS, SPONSOR_MAY

MANAGER = Principal("manager", "manager")
ANNA, BEN = Principal("anna", "staff"), Principal("ben", "staff")
HOUR = timedelta(hours=1)
BOOKKEEPING = {"audit_log", "audit_head", "change_log", "change_log_horizon", "bulk_load", "currency",
               "_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock",
               "login_attempt"}  # the rate limits' counters: what they count is audited (login, login.failed)
COMMUNITY = {"platform", "member", "member_identity", "activity", "rule", "moderation_case", "event",
             "event_attendance", "mention", "sponsor", "campaign", "campaign_delivery", "revenue"}
# The tables an audited entity's change may touch beyond its own.
ALSO = {
    "app_user": {"app_session"},  # a sign-in opens a session, a sign-out ends it
    "campaign": {"campaign_delivery"},  # a day of delivery is recorded on its campaign
    "member": {"member_identity", "activity", "moderation_case", "event_attendance", "member_merge"},  # (un)merge
    "import_run": COMMUNITY,
    "community": COMMUNITY,  # the demo
    "notification": {"delivery_attempt"},  # a test sent now is tried in its own transaction
}
# How an audit row names the row it changed, where it names one row of its own table.
KEYS = {"reward": "id", "reward_rule": "id", "reward_budget": "period || ':' || currency", "sponsor": "id",
        "campaign": "id", "revenue": "id", "app_user": "username", "app_setting": "key", "platform": "slug",
        "import_run": "id", "alert_rule": "id", "connection": "id",
        "report_pref": "recipient || ':' || report"}
# The functions given a principal that change nothing (the others are in WRITES below).
READS = {"connections.listing", "connections.try_now", "alerts.rules.listing", "alerts.rules.recipients", "alerts.inbox.notifications", "alerts.inbox.unread",
         "alerts.inbox.deliveries", "alerts.inbox.failing", "alerts.schedule.subscriptions",
         "alerts.schedule.sponsor_subscriptions", "auth.list_users", "identities.people", "identities.candidates", "identities.merges", "ingest.history", "ingest.kept_up",
         "leaderboard.leaderboard", "leaderboard.activity_sparklines", "leaderboard.explain",
         "leaderboard.anonymous_platforms",
         "money.sponsor_in_scope", "money.campaigns", "money.delivery", "money.revenue_lines", "money.sponsors",
         "money.monetisation_report", "money.sponsor_report", "platforms.listing", "rewards.candidates",
         "rewards.payout_csv", "rewards.rewards", "rewards.budgets", "rewards.trail", "rewards.rules",
         "reports.growth_report", "reports.retention_report", "reports.responsiveness_report",
         "reports.moderation_report", "reports.reputation_report", "reports.content_report",
         "reports.overview.headline", "reports.overview.daily", "reports.overview.by_platform"}


def snapshot() -> dict[str, set[tuple[str, str, str]]]:
    """Per table (bookkeeping aside), its rows as (transaction that wrote them, key, content)."""
    with db.engine().connect() as conn:
        tables = set(conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        return {t: set(conn.execute(sa.text(f"SELECT xmin::text, ({KEYS.get(t, 'NULL')})::text, to_jsonb(x)::text"
                                            f" FROM {t} x")).all())
                for t in sorted(tables - BOOKKEEPING)}


def audited_since(seq: int) -> list[sa.Row]:
    with db.engine().connect() as conn:
        return conn.execute(sa.text("SELECT seq, xmin::text AS tx, action, entity, entity_id FROM audit_log"
                                    " WHERE seq > :s ORDER BY seq"), {"s": seq}).all()


def head() -> int:
    with db.engine().connect() as conn:
        return conn.execute(sa.text("SELECT seq FROM audit_head")).scalar_one()


def check(name: str, write: Callable[[], object]) -> list[sa.Row]:
    """Run `write`; every row it wrote, changed or deleted is covered by an audit row of its transaction."""
    before, seq = snapshot(), head()
    try:
        write()
    except Rejected:
        pass  # a rejected import is recorded (and audited) all the same
    after, log = snapshot(), audited_since(seq)
    assert log, f"{name} wrote no audit row"
    transactions = {row.tx for row in log}
    for table in after:
        written, gone = after[table] - before[table], before[table] - after[table]
        if not written and not gone:
            continue
        covering = {row.entity for row in log if table == row.entity or table in ALSO.get(row.entity, ())}
        assert covering, f"{name} changed {table} without an audit row that covers it: {log}"
        outside = {tx for tx, _, _ in written} - transactions
        assert not outside, f"{name} wrote {table} in a transaction it did not audit"
        if table in covering and table in KEYS:
            keys = {key for _, key, _ in written | gone}
            assert keys <= {row.entity_id for row in log if row.entity == table}, (name, table, keys, log)
    return log


def test_every_write_is_audited_in_its_own_transaction_and_names_what_it_changed(database, tmp_path):
    members = tmp_path / "members.csv"
    members.write_text("platform,external_id,display_name,joined_at\ndiscord,new1,Newcomer,2026-01-02\n")
    bad = tmp_path / "revenue.csv"
    bad.write_text("external_id,stream,amount_minor,currency,booked_on\nr1,ads,5,XXX,2026-01-02\n")
    state: dict[str, int] = {}

    def merge() -> None:
        with db.engine().connect() as conn:  # two members of one account each, on two platforms
            one, other = conn.execute(sa.text(
                "SELECT min(member_id) FILTER (WHERE platform_id = 1), min(member_id) FILTER (WHERE platform_id = 2)"
                " FROM member_identity WHERE member_id IN (SELECT member_id FROM member_identity GROUP BY member_id"
                " HAVING count(*) = 1)")).one()
        state["merge"] = identities.merge(ANNA, one, other)

    def rule() -> None:
        state["rule"] = rewards.add_rule(MANAGER, "top2", "Top 2", "top_n", {"n": 2}, "money", "25", "EUR")

    def proposals() -> None:
        state["rewards"] = [rewards.propose(ANNA, 1, "2026-03", "money", amount, "EUR", "Thanks")
                            for amount in ("10", "20", "30")]

    def sponsor() -> None:
        state["sponsor"] = money.add_sponsor(MANAGER, "Acme", "a@acme.example")

    def campaign() -> None:
        state["campaign"] = money.add_campaign(MANAGER, state["sponsor"], "Spring", date(2026, 3, 1),
                                               date(2026, 3, 31), "1000", "EUR", [{"label": "Posts", "target": 4}])

    def revenue() -> None:
        state["revenue"] = money.add_revenue(MANAGER, "sponsorship", "500", "EUR", date(2026, 3, 2),
                                             campaign_id=state["campaign"])

    writes: dict[str, Callable[[], object]] = {
        "demo.load": lambda: demo.load(demo.DemoSpec(members=40, days=40, seed=3), CLI),
        "auth.add_user": lambda: [auth.add_user(CLI, n, n.title(), "staff", "correct horse battery")
                                  for n in ("anna", "ben")],  # beside the demo's admin, manager, staff…
        "auth.set_password": lambda: auth.set_password(CLI, "ben", "another long password"),
        "auth.change_own_password": lambda: auth.change_own_password(BEN, "another long password",
                                                                     "yet another long one"),
        "auth.set_role": lambda: auth.set_role(CLI, "staff2", "manager"),
        "auth.set_active": lambda: auth.set_active(CLI, "staff2", False),
        "auth.sign_in (refused)": lambda: pytest.raises(auth.SignInRefused, auth.sign_in, "ben", "wrong", HOUR),
        "auth.unlock": lambda: auth.unlock(CLI, "ben"),
        "auth.set_language": lambda: auth.set_language(BEN, "en"),
        "auth.sign_in": lambda: auth.sign_in("ben", "yet another long one", HOUR),
        "sessions.end": lambda: sessions.end(auth.sign_in("anna", "correct horse battery", HOUR).token),
        "auth.sign_out_everywhere": lambda: auth.sign_out_everywhere(BEN, "yet another long one"),
        "auth.end_sessions": lambda: auth.end_sessions(CLI, "anna"),
        "community.set_setting": lambda: community.set_setting(MANAGER, "timezone", "UTC"),
        "leaderboard.save_scoring": lambda: leaderboard.save_scoring(MANAGER, leaderboard.Scoring(half_life_days=10)),
        "platforms.save": lambda: platforms.save(CLI, "forum", "The forum", "discourse"),
        "identities.merge": merge,
        "identities.undo": lambda: identities.undo(ANNA, state["merge"]),
        "ingest.run": lambda: (ingest.run("canonical", [members], CLI), ingest.run("canonical", [bad], CLI)),
        "ingest.rescore.rescore": lambda: rescore.rescore(CLI, every=True),
        "money.add_sponsor": sponsor,
        "money.add_campaign": campaign,
        "money.record_delivery": lambda: money.record_delivery(MANAGER, state["campaign"], date(2026, 3, 2), 100, 9, 4),
        "money.add_revenue": revenue,
        "money.mark_received": lambda: money.mark_received(MANAGER, state["revenue"], date(2026, 3, 20)),
        "money.update_sponsor": lambda: money.update_sponsor(MANAGER, state["sponsor"], "Acme Inc", None),
        "money.update_campaign": lambda: money.update_campaign(MANAGER, state["campaign"], "Spring", date(2026, 3, 1),
                                                               date(2026, 3, 30), "1200", []),
        "money.update_revenue": lambda: money.update_revenue(MANAGER, state["revenue"], "600", date(2026, 3, 2),
                                                             date(2026, 3, 21), "Invoice 7"),
        "rewards.add_rule": rule,
        "rewards.set_rule_active": lambda: rewards.set_rule_active(MANAGER, state["rule"], False),
        "rewards.set_budget": lambda: rewards.set_budget(MANAGER, "2026-03", "EUR", "100"),
        "rewards.propose": proposals,
        "rewards.propose_from_rules": lambda: (rewards.set_rule_active(MANAGER, state["rule"], True),
                                               rewards.propose_from_rules(ANNA, "2026-03")),
        "rewards.approve": lambda: [rewards.approve(BEN, r) for r in state["rewards"][:2]],
        "rewards.reject": lambda: rewards.reject(BEN, state["rewards"][2], "Not this month"),
        "rewards.cancel": lambda: rewards.cancel(ANNA, state["rewards"][1], "Twice"),
        "rewards.pay": lambda: rewards.pay(BEN, state["rewards"][:1]),
        "alerts.rules.save": lambda: (
            alerts_rules.save(MANAGER, alerts_rules.Rule("import_failed", "Imports", 24, "email", ("anna", "ben"))),
            alerts_rules.save(MANAGER, alerts_rules.Rule("platform_stale", "Quiet", 48, "webhook",
                                                         webhook_url="https://hooks.example/x", webhook_format="slack")),
            alerts_rules.save(MANAGER, alerts_rules.Rule("platform_stale", "Quiet", 72, "app", ("anna",)), 2)),
        "alerts.inbox.mark_read": lambda: inbox.mark_read(ANNA),
        "alerts.schedule.subscribe": lambda: (schedule.subscribe(ANNA, "approvals", False),
                                              schedule.subscribe(MANAGER, "sponsor_monthly", False, state["sponsor"])),
        "alerts.schedule.send_test": lambda: schedule.send_test(ANNA, "approvals"),
        "connections.add": lambda: connections.add(CLI, "discourse", "Forum", "forum", {
            "url": "https://forum.example", "username": "system"}, {"api_key": "k"}),
        "connections.set_schedule": lambda: connections.set_schedule(CLI, 1, 30),
        "connections.set_paused": lambda: connections.set_paused(CLI, 1, True),
        "connections.request_sync": lambda: connections.request_sync(CLI, 1),
        "connections.remove": lambda: connections.remove(CLI, 1),
    }
    assert set(writes) - {"auth.sign_in (refused)", "auth.sign_in", "sessions.end"} == (
        set(CALLS) | set(SPONSOR_MAY)) - READS
    with db.transaction() as conn:  # one for Anna to read (the worker writes them: not audited, like a KPI)
        conn.execute(sa.text("INSERT INTO notification (kind, channel, recipient, period, link, status, sent_at)"
                             " VALUES ('import_failed', 'app', 'anna', 'import:1', 'data', 'sent', now())"))
    logs = {name: check(name, write) for name, write in writes.items()}
    assert [r.action for r in logs["ingest.run"]] == ["import.load", "import.reject"]
    assert [(r.action, r.entity_id) for r in logs["rewards.approve"]] == [
        ("reward.approve", str(i)) for i in state["rewards"][:2]]
    assert len({r.tx for r in logs["rewards.approve"]}) == 2  # one transaction each

    before, seq = snapshot(), head()
    with pytest.raises(rewards.RewardError):  # refused: nothing changes, nothing is audited
        rewards.approve(ANNA, state["rewards"][0])
    assert snapshot() == before and audited_since(seq) == []
    assert audit.verify().intact
