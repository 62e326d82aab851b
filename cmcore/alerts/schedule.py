"""Scheduled reports: the weekly digest to each manager (Mondays from 08:00, about the week before),
the daily note to staff when rewards await approval (from 09:00), and the monthly report to each
sponsor's contact (from the 1st, 08:00, about the month before, its HTML report attached). Times are
the community's. Each is one notification per (report, recipient, period): written once however
often the worker looks, sent once. Everyone may opt out of each type; "send a test now" sends one
to oneself at once."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa

from cmcore import audit, community, db, leaderboard
from cmcore.access import Principal, require
from cmcore.alerts import delivery
from cmcore.alerts.kinds import WORKER, link
from cmcore.periods import Period
from cmcore.reports import Scope, moderation_report, overview, reputation_report, responsiveness_report

REPORTS = {  # report → who gets it (roles; sponsor: its contact's address)
    "weekly_digest": ("admin", "manager"),
    "approvals": ("staff",),
    "sponsor_monthly": ("sponsor",),
}
MANAGERS = ("admin", "manager")
READERS = ("admin", "manager", "staff")
SEND_FROM = {"weekly_digest": 8, "approvals": 9, "sponsor_monthly": 8}  # local hour
TOP = 5  # rows of each list in a digest


def _local(now: datetime) -> datetime:
    return now.astimezone(ZoneInfo(community.timezone()))


def last_week(today: date) -> Period:
    """The whole Monday-to-Sunday week before `today`'s."""
    monday = today - timedelta(days=today.weekday())
    return Period(monday - timedelta(days=7), monday)


def last_month(today: date) -> Period:
    """The calendar month before `today`'s."""
    return Period(today.replace(day=1) - timedelta(days=1), today.replace(day=1)).month_of_last_day()


def weekly_facts(now: datetime) -> dict:
    """The digest of the week before `now`'s: headline KPIs against the week before it, the
    biggest movers of the key members' board, the oldest unanswered threads, the open moderation
    cases, the reputation summary."""
    tz, today = community.timezone(), _local(now).date()
    week = last_week(today)
    at = now.replace(second=0, microsecond=0)
    headline = [{"label": m.label, "value": m.value, "previous": m.previous, "unit": m.unit, "currency": m.currency}
                for m in overview.headline(WORKER, week, None, tz)]
    board = leaderboard.leaderboard(WORKER, Scope(week, None, tz, at)).filter(
        pl.col("rank_change").is_not_null() & (pl.col("rank_change") != 0))
    movers = [{"member": r["display_name"], "before": r["previous_rank"], "now": r["rank"]}
              for r in pl.concat([board.sort("rank_change", descending=True).head(TOP // 2 + 1),
                                  board.sort("rank_change").head(TOP // 2)]).unique("member_id", maintain_order=True)
              .iter_rows(named=True)]
    recent = Scope(Period.last_days(90, today), None, tz, at)
    backlog = responsiveness_report(WORKER, recent).frames["backlog"]
    threads = [{"title": r["title"] or "", "platform": r["platform"], "hours": round(r["age_hours"]), "url": r["url"]}
               for r in backlog.head(TOP).iter_rows(named=True)]
    cases = moderation_report(WORKER, recent).frames["open"]
    reputation = {m.key: m.value for m in reputation_report(WORKER, Scope(week, None, tz, at)).metrics}
    return {"week": f"{week.start} – {week.end - timedelta(days=1)}", "headline": headline, "movers": movers,
            "unanswered": backlog.height, "threads": threads, "open_cases": cases.height,
            "oldest_case": round(cases["age_hours"].max()) if cases.height else None,
            "mentions": reputation["mentions"], "net": reputation["net_sentiment"], "crises": reputation["alerts"]}


def approvals_facts() -> dict | None:
    """Rewards proposed and awaiting approval: how many, in which months (None: none wait)."""
    with db.engine().connect() as conn:
        waiting = conn.execute(sa.text("SELECT period, count(*) FROM reward WHERE status = 'proposed'"
                                       " GROUP BY period ORDER BY period")).all()
    if not waiting:
        return None
    return {"count": sum(n for _, n in waiting), "months": ", ".join(p for p, _ in waiting)}


def _recipients(conn: sa.Connection, report: str) -> list[str]:
    """Who gets `report` and has not opted out."""
    if report == "sponsor_monthly":
        sql = ("SELECT 'sponsor:' || s.id FROM sponsor s WHERE s.contact_email IS NOT NULL"
               " AND EXISTS (SELECT 1 FROM campaign c WHERE c.sponsor_id = s.id)")
    else:
        sql = "SELECT username FROM app_user WHERE active AND role = ANY(:roles)"
    everyone = conn.execute(sa.text(sql), {"roles": list(REPORTS[report])}).scalars().all()
    out = set(conn.execute(sa.text("SELECT recipient FROM report_pref WHERE report = :r AND NOT subscribed"),
                           {"r": report}).scalars())
    return sorted(r for r in everyone if r not in out)


_INSERT = sa.text(
    "INSERT INTO notification (rule_id, kind, channel, recipient, period, facts, link)"
    " VALUES (NULL, :kind, 'email', :recipient, :period, CAST(:facts AS jsonb), :link)"
    " ON CONFLICT (rule_id, kind, recipient, period) DO NOTHING RETURNING id")


def report_due(report: str, now: datetime) -> tuple[str, dict, str] | None:
    """The (period, facts, link) of `report` due at `now`, or None."""
    local = _local(now)
    if local.hour < SEND_FROM[report]:
        return None
    if report == "weekly_digest":
        week = last_week(local.date())
        return f"{week.start:%G-W%V}", weekly_facts(now), link("overview", week.start, week.end - timedelta(days=1))
    if report == "approvals":
        facts = approvals_facts()
        return None if facts is None else (str(local.date()), facts, link("rewards"))
    month = last_month(local.date())
    return f"{month.start:%Y-%m}", {"month": f"{month.start:%Y-%m}"}, link("sponsor_report")


@db.retried
def evaluate(now: datetime) -> int:
    """Write the reports due at `now` that are not written yet; return how many are new."""
    new = 0
    for report in REPORTS:
        with db.engine().connect() as conn:
            recipients = _recipients(conn, report)
            done = set(conn.execute(sa.text("SELECT recipient FROM notification WHERE kind = :k AND rule_id IS NULL"
                                            " AND period = :p"), {"k": report, "p": _period(report, now)}).scalars())
        if not set(recipients) - done or (due := report_due(report, now)) is None:
            continue
        period, facts, address = due
        with db.transaction() as conn:
            for recipient in recipients:
                extra = {"sponsor": int(recipient.split(":")[1])} if report == "sponsor_monthly" else {}
                new += conn.execute(_INSERT, {"kind": report, "recipient": recipient, "period": period,
                                              "facts": json.dumps(facts | extra), "link": address}).rowcount
    return new


def _period(report: str, now: datetime) -> str:
    """The period key `report` would have at `now` (cheap: no facts computed)."""
    today = _local(now).date()
    if report == "weekly_digest":
        return f"{last_week(today).start:%G-W%V}"
    return str(today) if report == "approvals" else f"{last_month(today).start:%Y-%m}"


def subscriptions(actor: Principal) -> dict[str, bool]:
    """The reports the user's role gets, and whether they get them."""
    require(actor, *READERS)
    mine = [r for r, roles in REPORTS.items() if actor.role in roles]
    with db.engine().connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT report, subscribed FROM report_pref WHERE recipient = :u"),
                                   {"u": actor.username}).all())
    return {r: stored.get(r, True) for r in mine}


def sponsor_subscriptions(actor: Principal) -> pl.DataFrame:
    """Each sponsor with a contact: whether its contact gets the monthly report."""
    require(actor, *MANAGERS)
    with db.engine().connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT s.id, s.name, s.contact_email, coalesce(p.subscribed, true) FROM sponsor s"
            " LEFT JOIN report_pref p ON p.recipient = 'sponsor:' || s.id AND p.report = 'sponsor_monthly'"
            " WHERE s.contact_email IS NOT NULL ORDER BY s.name")).all()
    return pl.DataFrame(rows, schema=["sponsor_id", "name", "contact_email", "subscribed"], orient="row")


@db.retried
def subscribe(actor: Principal, report: str, on: bool, sponsor_id: int | None = None) -> None:
    """Opt in (`on`) or out of `report`: the user for themselves, or a manager for a sponsor's contact."""
    require(actor, *(MANAGERS if sponsor_id is not None else READERS))
    recipient = actor.username if sponsor_id is None else f"sponsor:{int(sponsor_id)}"
    if report not in REPORTS or (sponsor_id is None) == (report == "sponsor_monthly"):
        raise ValueError(f"{report!r} is not a report {'a sponsor' if sponsor_id is not None else 'you'} may get")
    with db.transaction() as conn:
        conn.execute(sa.text("INSERT INTO report_pref VALUES (:r, :k, :on) ON CONFLICT (recipient, report)"
                             " DO UPDATE SET subscribed = EXCLUDED.subscribed"), {"r": recipient, "k": report, "on": on})
        audit.record(conn, actor.username, "report_pref.set", "report_pref", f"{recipient}:{report}", subscribed=on)


def send_test(actor: Principal, report: str, sponsor_id: int | None = None) -> str:
    """Send `report` as it would be now to the user themselves, at once (a sponsor's: the user
    gets what sponsor `sponsor_id`'s contact would); return how it went: sent, or the error."""
    require(actor, *MANAGERS if report == "sponsor_monthly" else READERS)
    now = datetime.now().astimezone()
    if report == "weekly_digest":
        week = last_week(_local(now).date())
        facts, address = weekly_facts(now), link("overview", week.start, week.end - timedelta(days=1))
    elif report == "approvals":
        facts, address = approvals_facts() or {"count": 0, "months": "–"}, link("rewards")
    elif report == "sponsor_monthly" and sponsor_id is not None:
        facts, address = {"month": f"{last_month(_local(now).date()).start:%Y-%m}", "sponsor": int(sponsor_id)}, \
            link("sponsor_report")
    else:
        raise ValueError(f"{report!r} is not a report to test")
    with db.transaction() as conn:
        notification = conn.execute(_INSERT, {"kind": report, "recipient": actor.username, "facts": json.dumps(facts),
                                              "period": f"test:{now.isoformat()}", "link": address}).scalar_one()
        outcome = delivery.deliver(conn, delivery.locked(conn, notification))
        audit.record(conn, actor.username, "report.test", "notification", notification, report=report, outcome=outcome)
    return outcome
