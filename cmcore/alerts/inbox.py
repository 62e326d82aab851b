"""What a user reads of the alerts: their notifications (the in-app list, its unread count); and,
for managers, the delivery log. Messages are written in the recipient's interface language
(app_user.lang, chosen in the sidebar)."""
from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from cmcore import audit, db, frames
from cmcore.access import Principal, require

READERS = ("admin", "manager", "staff")
MANAGERS = ("admin", "manager")


def notifications(actor: Principal, limit: int = 200) -> pl.DataFrame:
    """The user's newest notifications, whatever their channel: kind, rule, facts (JSON text),
    link to the evidence, when, whether read."""
    require(actor, *READERS)
    return frames.read(
        "SELECT n.id, n.kind, r.name AS rule, n.channel, n.facts::text AS facts, n.link, n.created_at,"
        " n.read_at IS NOT NULL AS read FROM notification n LEFT JOIN alert_rule r ON r.id = n.rule_id"
        " WHERE n.recipient = $1 ORDER BY n.created_at DESC, n.id DESC LIMIT $2", [actor.username, limit])


def unread(actor: Principal) -> int:
    """How many of the user's notifications are unread (the sidebar's count)."""
    require(actor, *READERS)
    with db.engine().connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM notification WHERE recipient = :u AND read_at IS NULL"),
                            {"u": actor.username}).scalar_one()


@db.retried
def mark_read(actor: Principal, ids: list[int] | None = None) -> int:
    """Mark the user's notifications `ids` (None: all) read; return how many were unread."""
    require(actor, *READERS)
    with db.transaction() as conn:
        marked = conn.execute(sa.text(
            "UPDATE notification SET read_at = now() WHERE recipient = :u AND read_at IS NULL"
            " AND (CAST(:ids AS bigint[]) IS NULL OR id = ANY(CAST(:ids AS bigint[]))) RETURNING id"),
            {"u": actor.username, "ids": ids}).scalars().all()
        if marked:
            audit.record(conn, actor.username, "notification.read", "notification", None, ids=sorted(marked))
    return len(marked)


def deliveries(actor: Principal, limit: int = 500) -> pl.DataFrame:
    """The delivery log, newest first: each try at sending a message by e-mail or webhook (sent, or
    failed with the reason: retried later, or for good) with its rule, channel and recipient."""
    require(actor, *MANAGERS)
    return frames.read(
        "SELECT a.at, r.name AS rule, n.kind, n.channel, n.recipient, a.error,"
        " CASE WHEN a.ok THEN 'sent' WHEN n.status = 'failed' AND a.id = (SELECT max(id) FROM delivery_attempt b"
        "  WHERE b.notification_id = n.id) THEN 'failed' ELSE 'retried' END AS outcome, n.id AS notification"
        " FROM delivery_attempt a JOIN notification n ON n.id = a.notification_id"
        " LEFT JOIN alert_rule r ON r.id = n.rule_id ORDER BY a.id DESC LIMIT $1", [limit])


def failing(actor: Principal) -> pl.DataFrame:
    """Messages waiting to be tried again or failed for good, with their last error (a channel in
    trouble shows here first)."""
    require(actor, *MANAGERS)
    return frames.read(
        "SELECT n.id, r.name AS rule, n.channel, n.recipient, n.status, n.attempts, n.last_error, n.next_attempt_at"
        " FROM notification n LEFT JOIN alert_rule r ON r.id = n.rule_id"
        " WHERE n.status = 'failed' OR (n.status = 'pending' AND n.attempts > 0) ORDER BY n.id DESC LIMIT 100")
