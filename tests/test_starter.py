"""A fresh start: the starter demo, its alert rules and recent events fire every kind of alert,
and the worker's first run e-mails them to the demo manager (written to the data folder when no
SMTP server is set: the mailbox `./dev app` tells of)."""
from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from cmcore import bootstrap, db, settings
from cmcore.alerts import delivery, rules
from cmcore.alerts.kinds import KINDS


def test_a_fresh_start_fires_every_kind_of_alert_into_the_local_mailbox(database, tmp_path, monkeypatch):
    monkeypatch.setenv("CM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CM_DEMO_ON_EMPTY", "1")
    settings.current.cache_clear()
    assert set(bootstrap.prepare()) == {"admin", "manager", "staff", "staff2", "sponsor"}  # the demo, its rules, events
    now = datetime.now(UTC).replace(second=0, microsecond=0)  # after the load, which may last over a minute
    # The README's starter: 801 members (800 over eight months, and Odile, of the old forum whose
    # silence an alert finds), three sponsors.
    with db.engine().connect() as conn:
        shape = conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM member), (SELECT array_agg(name ORDER BY id) FROM sponsor),"
            " (SELECT s.name FROM app_user u JOIN sponsor s ON s.id = u.sponsor_id WHERE u.username = 'sponsor'),"
            " (SELECT max(created_at) - min(created_at) FROM activity)")).one()
    assert shape[:3] == (801, ["Nordlys Cloud", "Atelier Quantique", "Bytefolk Labs"], "Nordlys Cloud")
    assert timedelta(days=230) < shape[3] <= timedelta(days=240)
    rules.evaluate(now + timedelta(minutes=1))  # the worker's next minute
    with db.engine().connect() as conn:
        fired = dict(conn.execute(sa.text("SELECT kind, count(*) FROM notification GROUP BY kind")).all())
    assert set(fired) == set(KINDS), f"no alert of {set(KINDS) - set(fired)}"
    assert fired["import_failed"] == 1 and fired["budget"] == 1 and fired["campaign_pace"] == 1
    sent = delivery.send_due()
    assert sent == {"sent": sum(fired.values())}
    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in sorted((tmp_path / "mail").glob("*.eml"))]
    settings.current.cache_clear()
    assert len(mails) == sum(fired.values()) and {m["To"] for m in mails} == {"manager@example.org"}
    assert any(m["Subject"] == "[Console de communauté] Une crise de réputation" for m in mails)
