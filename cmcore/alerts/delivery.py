"""Sending the notifications that are due, each at most once.

Each message is sent inside a transaction that holds its row locked (`FOR UPDATE SKIP LOCKED`: two
workers never take the same one) and that marks it sent: a worker killed while sending leaves the
transaction to roll back, the message still pending, and the next run sends it. The one message a
kill can make twice is one whose server acknowledged it in the instant before the commit; its
fixed Message-ID (or webhook Idempotency-Key) lets the receiver see it is the same. A failure is
tried again after 1, 2, 4 then 8 minutes; after MAX_ATTEMPTS it is failed, and the rule's author
gets an in-app alert that the channel is failing.
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from cmcore import db, i18n
from cmcore.alerts import channels, messages
from cmcore.alerts.channels import ChannelError

MAX_ATTEMPTS = 5
FIRST_RETRY = timedelta(minutes=1)

_ROW = (
    "SELECT n.id, n.rule_id, n.kind, n.channel, n.recipient, n.period, n.facts, n.link, n.attempts,"
    " r.name AS rule, r.created_by, r.webhook_url, r.webhook_format, coalesce(u.email, s.contact_email) AS email,"
    # the recipient's interface language; a sponsor's contact: its sponsor's users' (the first who chose one)
    " coalesce(u.lang, (SELECT su.lang FROM app_user su WHERE su.sponsor_id = s.id AND su.lang IS NOT NULL"
    "  ORDER BY su.username LIMIT 1)) AS lang"
    " FROM notification n LEFT JOIN alert_rule r ON r.id = n.rule_id"
    " LEFT JOIN app_user u ON u.username = n.recipient LEFT JOIN sponsor s ON n.recipient = 'sponsor:' || s.id")
_DUE = sa.text(f"{_ROW} WHERE n.status = 'pending' AND n.next_attempt_at <= now() ORDER BY n.id LIMIT 1"
               " FOR UPDATE OF n SKIP LOCKED")
_ONE = sa.text(f"{_ROW} WHERE n.id = :id AND n.status = 'pending' FOR UPDATE OF n")


def message_id(notification: int) -> str:
    """The fixed Message-ID of a notification's e-mail."""
    return f"<notification-{notification}@community-console>"


def _send(row: sa.Row) -> None:
    """Send one notification by its channel, or raise ChannelError."""
    lang = row.lang or i18n.DEFAULT_LANGUAGE
    message = messages.render(row.kind, row.rule, row.facts, row.link, lang)
    if row.channel == "email":
        if not row.email:
            raise ChannelError(f"{row.recipient} has no e-mail address")
        channels.email(message, row.email, message_id(row.id), messages.attachments(row.kind, row.facts, lang))
    elif row.channel == "webhook":
        meta = {"id": row.id, "kind": row.kind, "rule": row.rule, "period": row.period, "facts": row.facts}
        channels.webhook(row.webhook_url, row.webhook_format, message, meta)


def retry_after(attempts: int) -> timedelta:
    """The wait before the next try, after `attempts` failed ones: 1, 2, 4, 8 minutes."""
    return FIRST_RETRY * 2 ** (attempts - 1)


def _failed(conn: sa.Connection, row: sa.Row, error: str) -> str:
    """Record a failed try; the last one fails the message and alerts the rule's author in the app."""
    attempts = row.attempts + 1
    final = attempts >= MAX_ATTEMPTS
    conn.execute(sa.text(
        "UPDATE notification SET attempts = :a, last_error = :e, status = :s, next_attempt_at = now() + :wait"
        " WHERE id = :id"), {"a": attempts, "e": error[:1000], "s": "failed" if final else "pending",
                             "wait": retry_after(attempts), "id": row.id})
    if final and row.created_by:
        conn.execute(sa.text(
            "INSERT INTO notification (rule_id, kind, channel, recipient, period, facts, link, status, sent_at)"
            " SELECT NULL, 'channel_failed', 'app', username, :period, CAST(:facts AS jsonb), 'alerts', 'sent', now()"
            " FROM app_user WHERE username = :who ON CONFLICT DO NOTHING"),
            {"who": row.created_by, "period": f"notification:{row.id}", "facts": json.dumps({
                "rule": row.rule, "channel": row.channel, "recipient": row.recipient, "attempts": attempts,
                "error": error[:300]})})
    return "failed" if final else "retried"


def deliver(conn: sa.Connection, row: sa.Row) -> str:
    """Send the notification `row` (locked in `conn`'s transaction) and record the try: sent,
    retried (failed, to be tried again) or failed (for good)."""
    try:
        _send(row)
    except ChannelError as err:
        outcome, error = _failed(conn, row, str(err)), str(err)
    else:
        conn.execute(sa.text("UPDATE notification SET status = 'sent', sent_at = now(), attempts = attempts + 1,"
                             " last_error = NULL WHERE id = :id"), {"id": row.id})
        outcome, error = "sent", None
    conn.execute(sa.text("INSERT INTO delivery_attempt (notification_id, ok, error) VALUES (:id, :ok, :e)"),
                 {"id": row.id, "ok": error is None, "e": error and error[:1000]})
    return outcome


def locked(conn: sa.Connection, notification: int) -> sa.Row:
    """The pending notification `notification`, locked until `conn`'s transaction ends."""
    return conn.execute(_ONE, {"id": notification}).one()


def send_due(limit: int = 1000) -> Counter[str]:
    """Send the pending notifications that are due (at most `limit`), each in its own transaction;
    count them by outcome."""
    outcomes: Counter[str] = Counter()
    for _ in range(limit):
        with db.transaction() as conn:
            row = conn.execute(_DUE).one_or_none()
            if row is None:
                break
            outcomes[deliver(conn, row)] += 1
    return outcomes
