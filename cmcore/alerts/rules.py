"""Alert rules: managers set them (audited); the worker evaluates the active ones and writes one
notification per finding and recipient, once (the table's unique key)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

import polars as pl
import sqlalchemy as sa

from cmcore import audit, db, frames
from cmcore.access import Principal, require
from cmcore.alerts.kinds import KINDS, Finding
from cmcore.refusal import Refusal

CHANNELS = ("email", "webhook", "app")
WEBHOOK_FORMATS = ("slack", "discord", "json")
WEBHOOK = "webhook"  # a webhook rule's one recipient
MANAGERS = ("admin", "manager")


@dataclass(frozen=True)
class Rule:
    """What a manager sets: a kind, its threshold, a channel and recipients (or a webhook)."""

    kind: str
    name: str
    threshold: float
    channel: str
    recipients: tuple[str, ...] = ()
    webhook_url: str | None = None
    webhook_format: str | None = None
    active: bool = True


def listing(actor: Principal) -> pl.DataFrame:
    """Every rule, newest first, with how many messages it made and when it last fired."""
    require(actor, *MANAGERS)
    return frames.read(
        "SELECT r.id, r.kind, r.name, r.threshold::float8 AS threshold, r.channel, r.recipients, r.webhook_url,"
        " r.webhook_format, r.active, r.created_by, r.created_at,"
        " (SELECT count(*) FROM notification n WHERE n.rule_id = r.id) AS messages,"
        " (SELECT max(created_at) FROM notification n WHERE n.rule_id = r.id) AS last_fired"
        " FROM alert_rule r ORDER BY r.id DESC")


def _checked(rule: Rule, conn: sa.Connection) -> Rule:
    """`rule` with its text trimmed, or ValueError saying what is wrong."""
    if rule.kind not in KINDS:
        raise Refusal("{kind} is not a kind of alert: {kinds}", kind=repr(rule.kind), kinds=", ".join(KINDS))
    name = rule.name.strip()
    if not 1 <= len(name) <= 120:
        raise Refusal("a rule's name has 1 to 120 characters")
    if not 0 <= rule.threshold <= 1e9:
        raise Refusal("the threshold is a number from 0 to 1,000,000,000")
    if rule.channel not in CHANNELS:
        raise Refusal("{channel} is not a channel: {channels}", channel=repr(rule.channel), channels=", ".join(CHANNELS))
    if rule.channel == WEBHOOK:
        url = (rule.webhook_url or "").strip()
        if not re.fullmatch(r"https?://\S+", url) or len(url) > 2000:
            raise Refusal("a webhook's address starts with https:// (or http://) and has no spaces")
        if rule.webhook_format not in WEBHOOK_FORMATS:
            raise Refusal("a webhook's format is one of {formats}", formats=", ".join(WEBHOOK_FORMATS))
        return Rule(rule.kind, name, rule.threshold, rule.channel, (), url, rule.webhook_format, rule.active)
    recipients = tuple(sorted({r.strip() for r in rule.recipients if r.strip()}))
    if not 1 <= len(recipients) <= 50:
        raise Refusal("choose 1 to 50 recipients")
    known = set(conn.execute(sa.text("SELECT username FROM app_user WHERE active AND role <> 'sponsor'"
                                     " AND username = ANY(:names)"), {"names": list(recipients)}).scalars())
    if unknown := [r for r in recipients if r not in known]:
        raise Refusal("not an active user of the console: {users}", users=", ".join(unknown))
    return Rule(rule.kind, name, rule.threshold, rule.channel, recipients, None, None, rule.active)


@db.retried
def save(actor: Principal, rule: Rule, rule_id: int | None = None) -> int:
    """Add a rule (`rule_id` None) or change rule `rule_id`; return its id."""
    require(actor, *MANAGERS)
    values = lambda r: {"kind": r.kind, "name": r.name, "threshold": r.threshold, "channel": r.channel,  # noqa: E731
                        "recipients": list(r.recipients), "url": r.webhook_url, "fmt": r.webhook_format,
                        "active": r.active, "by": actor.username, "id": rule_id}
    with db.transaction() as conn:
        rule = _checked(rule, conn)
        if rule_id is None:
            rule_id = conn.execute(sa.text(
                "INSERT INTO alert_rule (kind, name, threshold, channel, recipients, webhook_url, webhook_format,"
                " active, created_by) VALUES (:kind, :name, :threshold, :channel, :recipients, :url, :fmt, :active,"
                " :by) RETURNING id"), values(rule)).scalar_one()
            action = "alert_rule.add"
        else:
            if conn.execute(sa.text(
                    "UPDATE alert_rule SET kind = :kind, name = :name, threshold = :threshold, channel = :channel,"
                    " recipients = :recipients, webhook_url = :url, webhook_format = :fmt, active = :active"
                    " WHERE id = :id"), values(rule)).rowcount != 1:
                raise Refusal("there is no alert rule {rule}", rule=rule_id)
            action = "alert_rule.change"
        audit.record(conn, actor.username, action, "alert_rule", rule_id, kind=rule.kind, name=rule.name,
                     threshold=rule.threshold, channel=rule.channel, recipients=list(rule.recipients),
                     webhook=rule.webhook_url and f"{rule.webhook_format} {rule.webhook_url.split('?')[0]}",
                     active=rule.active)
    return rule_id


def findings(kind: str, threshold: float, now: datetime) -> list[Finding]:
    """What a rule of `kind` with `threshold` finds at `now`."""
    return KINDS[kind].find(threshold, now)


_NOTIFY = sa.text(
    "INSERT INTO notification (rule_id, kind, channel, recipient, period, facts, link, status, sent_at)"
    " SELECT :rule, :kind, :channel, :recipient, :period, CAST(:facts AS jsonb), :link,"
    "        CASE WHEN :channel = 'app' THEN 'sent' ELSE 'pending' END,"
    "        CASE WHEN :channel = 'app' THEN now() END"
    " ON CONFLICT (rule_id, kind, recipient, period) DO NOTHING")


@db.retried
def evaluate(now: datetime) -> int:
    """Evaluate every active rule at `now` and write the notifications of new findings (in-app ones
    are delivered as they are written); return how many were new."""
    with db.engine().connect() as conn:
        rules = conn.execute(sa.text("SELECT id, kind, threshold::float8 AS threshold, channel, recipients"
                                     " FROM alert_rule WHERE active ORDER BY id")).all()
    rows = [{"rule": r.id, "kind": r.kind, "channel": r.channel, "recipient": recipient, "period": f.period,
             "facts": json.dumps(f.facts), "link": f.link}
            for r in rules if r.kind in KINDS for f in findings(r.kind, r.threshold, now)
            for recipient in (r.recipients if r.channel != WEBHOOK else [WEBHOOK])]
    if not rows:
        return 0
    with db.transaction() as conn:
        return conn.execute(_NOTIFY, rows).rowcount


def recipients(actor: Principal) -> list[str]:
    """The users a rule may write to: the console's active users, sponsors' aside."""
    require(actor, *MANAGERS)
    with db.engine().connect() as conn:
        return list(conn.execute(sa.text("SELECT username FROM app_user WHERE active AND role <> 'sponsor'"
                                         " ORDER BY username")).scalars())
