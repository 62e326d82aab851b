"""The worker and its deliveries, against real servers on this machine: an SMTP server (aiosmtpd)
and an HTTP server receive what it sends; the queue runs on the test PostgreSQL; a real worker
process is killed while it sends, and the messages still arrive once each."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import procrastinate
import pytest
import sqlalchemy as sa

from cmcore import auth, db, settings
from cmcore.access import CLI, Principal
from cmcore.alerts import delivery, rules, schedule
from cmcore.alerts.channels import SIGNATURE_HEADER
from cmcore.alerts.rules import Rule
from tests.builders import utc
from tests.servers import http_server, smtp_server

MANAGER = Principal("manon", "manager")
NOW = utc(2026, 3, 10, 12)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def people() -> None:
    """A manager reading the console in French and a staff member reading it in English, both with
    an address."""
    for name, role, lang in (("manon", "manager", "fr"), ("sam", "staff", "en")):
        auth.add_user(CLI, name, name.title(), role, "correct horse battery", email=f"{name}@example.org")
        auth.set_language(Principal(name, role), lang)


def failed_imports(*hours_ago: float) -> list[int]:
    """Rejected imports that ended `hours_ago` hours before NOW."""
    with db.transaction() as conn:
        return [conn.execute(sa.text(
            "INSERT INTO import_run (at, actor, source, files, status, error) VALUES"
            " (:at, 'admin', 'canonical', '{members.csv}', 'rejected', :e) RETURNING id"),
            {"at": NOW - timedelta(hours=h), "e": f"members.csv line {i + 2}: joined_at is not a date"}).scalar_one()
            for i, h in enumerate(hours_ago)]


def rows(sql: str) -> list[tuple]:
    with db.engine().connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


@pytest.fixture
def smtp(monkeypatch):
    with smtp_server() as (box, port):
        monkeypatch.setenv("CM_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CM_SMTP_PORT", str(port))
        monkeypatch.setenv("CM_SMTP_TLS", "none")
        settings.current.cache_clear()
        yield box
    settings.current.cache_clear()


def test_an_email_alert_is_sent_once_per_recipient_and_episode_in_their_language(database, smtp):
    people()
    first, second, old = failed_imports(1, 2, 30)
    rules.save(MANAGER, Rule("import_failed", "Imports", 24, "email", ("manon", "sam")))
    assert rules.evaluate(NOW) == 4  # two failed imports within 24 h, two recipients; not the 30 h old one
    assert rules.evaluate(NOW) == 0  # the same episodes again: nothing new
    assert delivery.send_due() == {"sent": 4}
    assert delivery.send_due() == {}
    mails = smtp.wait_for(4)
    assert sorted((m["To"], m["Message-ID"]) for m in mails) == sorted(
        (f"{who}@example.org", f"<notification-{n}@community-console>") for n, who in enumerate(
            ["manon", "sam", "manon", "sam"], start=1))
    by_to = {m["To"]: m for m in mails if m["Message-ID"] in ("<notification-1@community-console>",
                                                                "<notification-2@community-console>")}
    french, english = by_to["manon@example.org"], by_to["sam@example.org"]
    assert french["Subject"] == "[Console de communauté] Un import a échoué — Imports"
    assert french.get_body(("plain",)).get_content().replace("\r\n", "\n") == (
        f"L’import n° {first} (canonical) par admin a échoué : members.csv line 2: joined_at is not a date\n\n"
        "Voir les preuves : http://localhost:8501/data\n")
    assert english["Subject"] == "[Community console] An import failed — Imports"
    assert english.get_body(("html",)).get_content().strip().replace("\r\n", "\n") == (
        f"<html><body><p>The import #{first} (canonical) by admin failed: members.csv line 2: joined_at is not a"
        ' date</p><p><a href="http://localhost:8501/data">See the evidence</a></p></body></html>')
    assert rows("SELECT status, attempts, count(*) FROM notification GROUP BY 1, 2") == [("sent", 1, 4)]
    assert rows("SELECT ok, count(*) FROM delivery_attempt GROUP BY 1") == [(True, 4)]
    assert second and old


def test_the_e_mails_follow_the_language_the_recipient_chose_in_the_console(app, smtp):
    """Sam reads the console in English, then switches it to French in the sidebar: his next
    e-mail is in French. Manon never chose one: her browser's (English) is kept with her account
    when she signs in, and her e-mails follow it."""
    from tests.pages import as_user

    people()
    auth.add_user(CLI, "nina", "Nina", "manager", "correct horse battery", email="nina@example.org")
    at = as_user(app, "sam")
    at.sidebar.selectbox(key="lang").set_value("fr").run()
    english_tab = type(app).from_file(app._script_path, default_timeout=60)
    english_tab.session_state["lang"] = "en"  # as the browser's language sets it
    as_user(english_tab, "nina")
    failed_imports(1)
    rules.save(MANAGER, Rule("import_failed", "Imports", 24, "email", ("sam", "nina")))
    assert rules.evaluate(NOW) == 2 and delivery.send_due() == {"sent": 2}
    subjects = {m["To"]: m["Subject"] for m in smtp.wait_for(2)}
    assert subjects == {"sam@example.org": "[Console de communauté] Un import a échoué — Imports",
                        "nina@example.org": "[Community console] An import failed — Imports"}


def test_webhooks_in_slack_discord_and_signed_json(database):
    people()
    run, = failed_imports(1)
    with http_server() as (hooks, base):
        for fmt in ("slack", "discord", "json"):
            rules.save(MANAGER, Rule("import_failed", fmt.title(), 24, "webhook", webhook_url=f"{base}/{fmt}",
                                     webhook_format=fmt))
        assert rules.evaluate(NOW) == 3
        assert delivery.send_due() == {"sent": 3}
    received = {path: (headers, body) for path, headers, body in hooks.received}
    link = "http://localhost:8501/data"
    said = f"The import #{run} (canonical) by admin failed: members.csv line 2: joined_at is not a date"
    import json
    slack, discord, generic = (json.loads(received[f"/{f}"][1]) for f in ("slack", "discord", "json"))
    assert slack == {"text": f"*[Console de communauté] Un import a échoué — Slack*\n"
                             f"L’import n° {run} (canonical) par admin a échoué : members.csv line 2: joined_at is"
                             f" not a date\n<{link}|{link}>"}
    assert discord["embeds"][0]["url"] == link and discord["content"].endswith("— Discord")
    headers, body = received["/json"]
    key = settings.current().webhook_key.encode()
    assert headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    assert generic["kind"] == "import_failed" and generic["period"] == f"import:{run}"
    assert generic["facts"]["run"] == run and generic["url"] == link
    assert said  # the English sentence is what a user who chose English gets (first test)


def test_a_failing_channel_is_retried_with_backoff_then_alerts_its_author_in_the_app(database):
    people()
    failed_imports(1)
    with http_server() as (hooks, base):
        hooks.status = 500
        rules.save(MANAGER, Rule("import_failed", "Broken hook", 24, "webhook", webhook_url=f"{base}/x",
                                 webhook_format="json"))
        rules.evaluate(NOW)
        outcomes = []
        for _ in range(delivery.MAX_ATTEMPTS):
            outcomes.append(dict(delivery.send_due()))
            assert delivery.send_due() == {}  # not due yet: it waits
            waits = rows("SELECT round(extract(epoch FROM next_attempt_at - now()) / 60) FROM notification"
                         " WHERE kind = 'import_failed'")
            with db.transaction() as conn:
                conn.execute(sa.text("UPDATE notification SET next_attempt_at = now()"))
            outcomes[-1]["wait"] = waits[0][0]
    assert outcomes == [{"retried": 1, "wait": 1}, {"retried": 1, "wait": 2}, {"retried": 1, "wait": 4},
                        {"retried": 1, "wait": 8}, {"failed": 1, "wait": 16}]
    assert len(hooks.received) == 5
    assert rows("SELECT kind, channel, recipient, status, facts->>'error' FROM notification ORDER BY id") == [
        ("import_failed", "webhook", "webhook", "failed", "members.csv line 2: joined_at is not a date"),
        ("channel_failed", "app", "manon", "sent", f"{base}/x: HTTP 500 Internal Server Error")]
    assert rows("SELECT ok, error FROM delivery_attempt")[0] == (False, f"{base}/x: HTTP 500 Internal Server Error")


def _worker(url: str, owner: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_OWNER_URL": owner, "CM_SMTP_HOST": "127.0.0.1",
           "CM_SMTP_PORT": str(port), "CM_SMTP_TLS": "none", "PYTHONPATH": ROOT}
    return subprocess.Popen([sys.executable, "-m", "cmcore", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _run_alerts(url: str) -> None:
    """Ask the worker for a run now (the periodic one may already be queued: that does as well)."""
    from cmcore import worker
    with worker.connected(url) as queue, queue.open(), contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):
        worker.alerts.defer(timestamp=int(NOW.timestamp()))


def test_a_worker_killed_while_sending_sends_each_message_once_after_a_restart(database):
    people()
    schedule.subscribe(MANAGER, "weekly_digest", False)  # the worker's own minute would write last week's digest
    failed_imports(1, 2, 3)
    rules.save(MANAGER, Rule("import_failed", "Imports", 24, "email", ("manon", "sam")))
    with smtp_server(delay=0.5) as (box, port):
        worker = _worker(database, db.owner_url(), port)
        try:
            _run_alerts(database)
            deadline = time.monotonic() + 90
            while box.started < 3:  # two acknowledged, the third in the server's hands
                assert time.monotonic() < deadline and worker.poll() is None, worker.stdout.read()
                time.sleep(0.01)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        finally:
            worker.kill()
        time.sleep(0.6)  # the third DATA ends: its client is gone, so it is refused
        assert len(box.messages) == 2
        assert rows("SELECT status, count(*) FROM notification GROUP BY 1 ORDER BY 1") == [("pending", 4), ("sent", 2)]

        worker = _worker(database, db.owner_url(), port)
        try:
            _run_alerts(database)
            box.wait_for(6, timeout=90)
            time.sleep(1)  # nothing more comes
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(40) == 0  # a clean stop
        finally:
            worker.kill()
        log = worker.stdout.read()
    ids = [m["Message-ID"] for m in box.messages]
    assert len(ids) == 6 and sorted(ids) == sorted(f"<notification-{n}@community-console>" for n in range(1, 7))
    assert rows("SELECT status, count(*) FROM notification GROUP BY 1") == [("sent", 6)]
    assert rows("SELECT count(*) FROM delivery_attempt WHERE ok") == [(6,)]
    assert "stopped" in log


def test_dev_app_starts_the_worker_beside_the_app_and_ctrl_c_stops_both(database, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database, "DATABASE_OWNER_URL": db.owner_url(), "CM_DEMO_ON_EMPTY": "0",
           "CM_DATA_DIR": str(tmp_path)}
    dev = subprocess.Popen([os.path.join(ROOT, "dev"), "app", "--server.port", str(port), "--server.address",
                            "127.0.0.1", "--server.headless", "true"], cwd=ROOT, env=env, start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            workers = rows("SELECT count(*) FROM procrastinate_workers")[0][0]
            with contextlib.suppress(OSError):
                if workers and urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                    break
            assert time.monotonic() < deadline and dev.poll() is None, "./dev app did not start both"
            time.sleep(0.3)
        os.killpg(dev.pid, signal.SIGINT)  # Ctrl-C in its terminal
        assert dev.wait(60) == 130
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dev.pid, signal.SIGKILL)
    output = dev.stdout.read()
    deadline = time.monotonic() + 10
    while True:  # every process of the group has exited
        try:
            os.killpg(dev.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "a process of ./dev app outlived it"
        time.sleep(0.1)
    assert f"e-mail is written to {tmp_path}/mail/" in output and "worker INFO stopped" in output
    assert rows("SELECT count(*) FROM procrastinate_workers") == [(0,)]  # it unregistered: a clean stop
