"""The Alerts page under streamlit.testing: a manager sets a rule (audited), a user reads their
notifications (the sidebar's unread count, marked read, the link to the evidence opens the page on
its filters), the delivery log; staff see their notifications only."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from cmcore import db
from cmcore.alerts import rules
from cmcore.access import Principal
from tests.builders import Community, user
from tests.pages import as_user

PASSWORD = "correct horse battery"


def people() -> None:
    Community().platform("forum")
    for name, role in (("manager", "manager"), ("staff", "staff")):
        user(name, role, PASSWORD)


def notify(recipient: str, kind: str, facts: str, link: str, period: str = "p1") -> None:
    with db.transaction() as conn:
        conn.execute(sa.text(
            "INSERT INTO notification (kind, channel, recipient, period, facts, link, status, sent_at, created_at)"
            " VALUES (:k, 'app', :r, :p, CAST(:f AS jsonb), :l, 'sent', now(), now())"),
            {"k": kind, "r": recipient, "p": period, "f": facts, "l": link})


def rows(sql: str) -> list[tuple]:
    with db.engine().connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_a_manager_sets_a_rule_and_it_is_audited(app, database):
    people()
    at = as_user(app, "manager")
    at.switch_page("pages/alerts.py").run()
    assert not at.exception
    at.selectbox(key="kind_None").set_value("budget").run()
    assert at.number_input(key="threshold_None_budget").value == 80.0
    at.number_input(key="threshold_None_budget").set_value(90.0)
    at.text_input(key="name_None_budget").input("Budgets à 90 %")
    at.multiselect(key="people_None").set_value(["manager", "staff"])
    [b for b in at.button if b.label == "Enregistrer la règle"][0].click()
    at.run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Règle n° 1 enregistrée : le worker l’évalue dans la minute."]
    assert rows("SELECT kind, name, threshold::float8, channel, recipients, created_by FROM alert_rule") == [
        ("budget", "Budgets à 90 %", 90.0, "email", ["manager", "staff"], "manager")]
    assert rows("SELECT actor, action, entity, entity_id FROM audit_log WHERE entity = 'alert_rule'") == [
        ("manager", "alert_rule.add", "alert_rule", "1")]
    # a webhook without an address is refused, with the reason in French
    at.run()
    at.selectbox(key="rule_chosen").set_value(1).run()
    at.radio(key="channel_1").set_value("webhook").run()
    [b for b in at.button if b.label == "Enregistrer la règle"][0].click()
    at.run()
    assert at.error[0].value == ("l'adresse d'un webhook commence par https:// (ou http://) et ne contient pas"
                                 " d'espace")  # cmcore's refusal, in the reader's language
    assert rows("SELECT channel FROM alert_rule") == [("email",)]


def test_notifications_the_unread_count_marking_read_and_the_link_to_the_evidence(app, database):
    people()
    notify("staff", "crisis", '{"day": "2026-03-09", "negative": 6, "usual": 0.1}',
           "reputation?from=2026-03-09&to=2026-03-09")
    notify("staff", "platform_stale", '{"platform": "Forum", "hours": 50}',
           "overview?from=2026-03-02&to=2026-03-10&platform=forum", "p2")
    at = as_user(app, "staff")
    assert [link.label for link in at.sidebar.get("page_link")][4] == "Alertes (2 non lues)"
    at.switch_page("pages/alerts.py").run()
    assert not at.exception
    assert not at.tabs  # staff: their notifications only
    assert [m.value for m in at.markdown if m.value.startswith(("🔵", "**"))] == [
        "🔵 **Une plateforme n’a plus de nouvelles données**", "🔵 **Une crise de réputation**"]
    said = [m.value for m in at.markdown]
    assert "Forum n’a pas de nouvelles données depuis 50 heures (un import ou une synchronisation bloqués ?)" in said
    assert "6 mentions négatives le 9 mars 2026, contre 0\\,1 par jour d’habitude : une crise ?" in said
    assert [(link.proto.page, link.proto.query_string) for link in at.get("page_link")
            if link.label == "Voir les preuves"] == [
        ("overview", "from=2026-03-02&to=2026-03-10&platform=forum"), ("reputation", "from=2026-03-09&to=2026-03-09")]
    [b for b in at.button if b.label == "Marquer comme lu"][0].click()
    at.run()
    assert rows("SELECT kind FROM notification WHERE read_at IS NULL") == [("crisis",)]
    assert [link.label for link in at.sidebar.get("page_link")][4] == "Alertes (1 non lue)"
    [b for b in at.button if b.label == "Tout marquer comme lu"][0].click()
    at.run()
    assert [link.label for link in at.sidebar.get("page_link")][4] == "Alertes"
    assert rows("SELECT count(*) FROM audit_log WHERE action = 'notification.read'") == [(2,)]


def test_the_evidence_links_filters_open_the_page_on_them(app, database):
    people()
    at = as_user(app, "manager")
    at.query_params["from"], at.query_params["to"], at.query_params["platform"] = "2026-03-02", "2026-03-10", "forum"
    at.switch_page("pages/overview.py").run()
    assert not at.exception
    filters = at.session_state["filters"]
    assert (filters.period.start, filters.period.end, filters.platforms) == (date(2026, 3, 2), date(2026, 3, 11), [1])
    at.sidebar.selectbox(key="period_preset").set_value("last_7").run()  # the person changes them: they stay changed
    assert at.session_state["filters"].period.days == 7 and at.session_state["filters"].platforms == [1]


def test_the_delivery_log_says_sent_retried_and_failed(app, database):
    people()
    rules.save(Principal("manager", "manager"), rules.Rule("import_failed", "Imports", 24, "email", ("manager",)))
    with db.transaction() as conn:
        conn.execute(sa.text(
            "INSERT INTO notification (rule_id, kind, channel, recipient, period, link, status, attempts, last_error)"
            " VALUES (1, 'import_failed', 'email', 'manager', 'import:1', 'data', 'failed', 2, 'SMTP down')"))
        conn.execute(sa.text("INSERT INTO delivery_attempt (notification_id, ok, error) VALUES"
                             " (1, false, 'SMTP busy'), (1, false, 'SMTP down')"))
    at = as_user(app, "manager")
    at.switch_page("pages/alerts.py").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["« Imports » n’a pas pu être envoyée par E-mail à manager : SMTP down"]
    log = at.dataframe[-1].value
    assert list(log["Résultat"]) == ["échec définitif", "échec, nouvel essai"]
    assert list(log["Motif"]) == ["SMTP down", "SMTP busy"]


def test_scheduled_reports_are_switched_off_and_tested_from_the_page(app, database, monkeypatch):
    from cmcore import settings
    from tests.servers import smtp_server
    people()
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE app_user SET email = 'staff@example.org' WHERE username = 'staff'"))
    at = as_user(app, "staff")
    at.switch_page("pages/alerts.py").run()
    assert [w.label for w in at.toggle] == ["Récompenses à approuver (chaque jour, 9 h, s’il y en a)"]
    at.toggle(key="report_approvals").set_value(False).run()
    assert rows("SELECT recipient, report, subscribed FROM report_pref") == [("staff", "approvals", False)]
    with smtp_server() as (box, port):
        for name, value in (("CM_SMTP_HOST", "127.0.0.1"), ("CM_SMTP_PORT", str(port)), ("CM_SMTP_TLS", "none")):
            monkeypatch.setenv(name, value)
        settings.current.cache_clear()
        at.button(key="test_approvals").click().run()
        mail, = box.wait_for(1)
    settings.current.cache_clear()
    assert [s.value for s in at.success] == ["Envoyé à vous-même."]
    assert mail["To"] == "staff@example.org" and mail["Subject"] == (
        "[Console de communauté] Des récompenses attendent votre approbation")
