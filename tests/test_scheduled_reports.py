"""Scheduled reports, received by a real SMTP server: the weekly digest of the town (counted by
hand), the daily note when rewards await approval, the sponsor's monthly report with its HTML
report attached; each once, after its hour; opt-outs; "send a test now"."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from cmcore import db, rewards, settings
from cmcore.access import Principal
from cmcore.alerts import delivery, schedule
from tests.builders import TOWN_MANAGER, Community, user, utc
from tests.servers import smtp_server

MONDAY = utc(2026, 3, 9, 8, 30)  # 09:30 in Paris, the Monday after the town's week (2–8 March)


def rows(sql: str) -> list[tuple]:
    with db.engine().connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def emails(*names: str) -> None:
    with db.transaction() as conn:
        for name in names:
            conn.execute(sa.text("UPDATE app_user SET email = :u || '@example.org' WHERE username = :u"), {"u": name})


def bodies(mails) -> dict[str, str]:
    return {m["To"]: m.get_body(("plain",)).get_content().replace("\r\n", "\n") for m in mails}


def smtp(monkeypatch, port: int) -> None:
    for name, value in (("CM_SMTP_HOST", "127.0.0.1"), ("CM_SMTP_PORT", str(port)), ("CM_SMTP_TLS", "none")):
        monkeypatch.setenv(name, value)
    settings.current.cache_clear()


def test_the_weekly_digest_of_the_town_once_per_manager_after_8_on_monday(town, monkeypatch):
    user("staff1", "staff")
    emails("manon", "staff1")
    sunday = utc(2026, 3, 8, 20)
    assert schedule.evaluate(utc(2026, 3, 9, 6, 30)) == 0  # 07:30 in Paris: not yet
    assert rows("SELECT count(*) FROM notification") == [(0,)]
    assert schedule.evaluate(MONDAY) == 1  # manon (staff get no digest; no reward waits)
    assert schedule.evaluate(MONDAY) == 0
    with smtp_server() as (box, port):
        smtp(monkeypatch, port)
        assert delivery.send_due() == {"sent": 1}
        mail, = box.wait_for(1)
    settings.current.cache_clear()
    assert mail["Subject"] == "[Console de communauté] Votre résumé de la semaine"
    assert bodies([mail])["manon@example.org"] == (
        "La semaine du 2 mars 2026 – 8 mars 2026 : ce qui a changé, qui a bougé, ce qui vous attend.\n"
        "\nChiffres clés (contre la semaine d'avant)\n"
        "- Membres : 3 (avant : 3)\n"
        "- Membres actifs : 3 (avant : 0)\n"
        "- Nouveaux membres : 0 (avant : 0)\n"
        "- Discussions : 2 (avant : 0)\n"
        "- Délai de première réponse (médiane) : 1 h 30 min (avant : –)\n"
        "- Revenus comptabilisés : 1\u202f000,00\u00a0€ (avant : 0,00\u00a0€)\n"
        "\nPlus grands mouvements parmi les membres clés\n- Rien.\n"
        "\nDiscussions sans réponse les plus anciennes (1 en tout)\n- Unanswered (Forum), en attente depuis 6 j\n"
        "\nModération\n- Aucun cas ouvert.\n"
        "\nRéputation\n- 1 mention, sentiment net 100,0\u00a0%, 0 jour de crise\n"
        "\nVoir les preuves : http://localhost:8501/overview?from=2026-03-02&to=2026-03-08\n")
    assert sunday < MONDAY


def test_a_sponsor_s_contact_gets_its_report_in_the_language_its_users_read_the_console_in(town, monkeypatch):
    from cmcore import auth

    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE sponsor SET contact_email = 'partners@acme.example'"))
    user("acme_user", "sponsor", sponsor_id=town["acme"])
    auth.set_language(Principal("acme_user", "sponsor", town["acme"]), "en")
    with smtp_server() as (box, port):
        smtp(monkeypatch, port)
        schedule.evaluate(utc(2026, 4, 1, 6, 30))  # Acme's report; manon's digest (she has no address)
        assert delivery.send_due()["sent"] == 1
        mail, = box.wait_for(1)
    settings.current.cache_clear()
    assert mail["To"] == "partners@acme.example" and mail["Subject"] == "[Community console] Your monthly report"


def test_staff_get_a_daily_note_when_rewards_await_approval(database, monkeypatch):
    ann = Community().member("ann", utc(2026, 1, 1))
    for name, role in (("manon", "manager"), ("sam", "staff"), ("tess", "staff")):
        user(name, role)
    emails("sam", "tess")
    schedule.subscribe(Principal("manon", "manager"), "weekly_digest", False)  # the manager opted out
    assert schedule.evaluate(utc(2026, 3, 10, 9)) == 0  # no reward waits
    for amount in ("10", "20"):
        rewards.propose(Principal("sam", "staff"), ann, "2026-03", "money", amount, "EUR", "Thanks")
    assert schedule.evaluate(utc(2026, 3, 10, 7, 30)) == 0  # 08:30 in Paris: before 09:00
    assert schedule.evaluate(utc(2026, 3, 10, 9)) == 2
    schedule.subscribe(Principal("tess", "staff"), "approvals", False)
    assert schedule.evaluate(utc(2026, 3, 11, 9)) == 1  # the next day: Sam only
    with smtp_server() as (box, port):
        smtp(monkeypatch, port)
        assert delivery.send_due() == {"sent": 3}
        box.wait_for(3)
    settings.current.cache_clear()
    assert sorted(m["To"] for m in box.messages) == ["sam@example.org", "sam@example.org", "tess@example.org"]
    assert bodies(box.messages[:1])["sam@example.org"].startswith("2 récompenses proposées attendent une approbation"
                                                                   " (mars 2026).")
    assert rows("SELECT recipient, report, subscribed FROM report_pref ORDER BY 1") == [
        ("manon", "weekly_digest", False), ("tess", "approvals", False)]


def test_each_sponsor_gets_its_monthly_report_attached_and_a_test_can_be_sent_now(town, monkeypatch):
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE sponsor SET contact_email = 'partners@acme.example'"))
    emails("manon")
    first_of_april = utc(2026, 4, 1, 6, 30)  # 08:30 in Paris
    with smtp_server() as (box, port):
        smtp(monkeypatch, port)
        assert schedule.evaluate(first_of_april) == 2  # Acme's contact; and manon's weekly digest
        assert delivery.send_due() == {"sent": 2}
        assert schedule.send_test(TOWN_MANAGER, "sponsor_monthly", town["acme"]) == "sent"
        box.wait_for(3)
    settings.current.cache_clear()
    sponsor = next(m for m in box.messages if m["To"] == "partners@acme.example")
    assert sponsor["Subject"] == "[Console de communauté] Votre rapport mensuel"  # no one of Acme chose a language
    report, = [part for part in sponsor.iter_attachments()]
    assert report.get_filename() == "report-2026-03.html"
    assert "Spring" in report.get_content() and "Acme" in report.get_content()
    test = box.messages[-1]
    month = schedule.last_month(date.today()).start  # a test is the report as it would be now
    assert test["To"] == "manon@example.org" and next(test.iter_attachments()).get_filename() == f"report-{month:%Y-%m}.html"
    assert rows("SELECT action, entity FROM audit_log WHERE action = 'report.test'") == [("report.test", "notification")]
