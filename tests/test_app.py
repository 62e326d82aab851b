"""The app under streamlit.testing: login, lockout, the menu per role, the pages' refusals, and
the overview's numbers equal to cmcore's."""
from datetime import date, timedelta

import bcrypt
import polars as pl
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from cmcore import auth, db, demo, i18n, ingest, leaderboard, money, rewards
from cmcore.access import CLI, Principal
from cmcore.community import get_settings as community_settings
from cmcore.reports import overview
from cmcore import reports
from tests.builders import Community, user
from tests.pages import as_user

PASSWORD = "correct horse battery"


@pytest.fixture
def community(database):
    """A small demo community ending today, with one user per role (known passwords)."""
    demo.load(demo.DemoSpec(members=120, days=60, seed=5, end=date.today() + timedelta(days=1)),
              CLI, with_users=False)
    for name, role in (("admin", "admin"), ("manager", "manager"), ("staff", "staff")):
        user(name, role, PASSWORD)
    user("sponsor", "sponsor", PASSWORD, sponsor_id=1)


def sign_in(at, username, password=PASSWORD):
    at.run()
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click()
    return at.run()


def texts(elements):
    return [e.value for e in elements]


def test_the_login_form_signs_a_manager_in_with_the_right_password(app, community):
    at = sign_in(app, "manager")
    assert not at.exception
    assert texts(at.title) == ["Vue d'ensemble"]
    assert at.session_state["principal"] == Principal("manager", "manager")


def test_a_wrong_password_is_refused_and_counted(app, community):
    at = sign_in(app, "manager", "not the password")
    assert texts(at.error) == ["Identifiant ou mot de passe incorrect."]
    assert not at.title
    assert auth.get_user("manager").failed_logins == 1


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(app, community):
    for _ in range(4):
        sign_in(app, "manager", "not the password")
    at = sign_in(app, "manager", "not the password")
    assert "bloqué" in texts(at.error)[0]
    at = sign_in(app, "manager")  # the right password, while locked
    assert "bloqué" in texts(at.error)[0] and not at.title
    assert auth.locked_until("manager") is not None


def test_the_overview_shows_cmcore_numbers(app, community):
    at = as_user(app, "manager")
    assert not at.exception
    f = at.session_state["filters"]
    expected = overview.headline(Principal("manager", "manager"), f.period, f.platforms, f.tz)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Membres"] == i18n.number(expected[0].value, "fr")
    assert shown["Membres actifs"] == i18n.number(expected[1].value, "fr")
    assert shown["Nouveaux membres"] == i18n.number(expected[2].value, "fr")
    assert shown["Discussions"] == i18n.number(expected[3].value, "fr")
    assert shown["Délai de première réponse (médiane)"] == i18n.hours(expected[4].value, "fr")
    assert expected[1].value > 0 and len(at.get("plotly_chart")) == 1
    assert len(at.dataframe) == 1 and at.dataframe[0].value.shape[0] == 6  # one row per platform


def test_the_platform_filter_persists_and_changes_the_numbers(app, community):
    at = as_user(app, "manager")
    at.sidebar.multiselect[0].select(1)  # Discord only
    at.run()
    f = at.session_state["filters"]
    assert f.platforms == [1]
    expected = overview.headline(Principal("manager", "manager"), f.period, [1], f.tz)
    assert {m.label: m.value for m in at.metric}["Membres"] == i18n.number(expected[0].value, "fr")
    at.switch_page("pages/account.py").run()
    assert at.session_state["filters"].platforms == [1]  # kept across pages


def test_english_interface(app, community):
    at = as_user(app, "manager")
    at.sidebar.selectbox[0].set_value("en").run()
    assert texts(at.title) == ["Overview"]
    assert "Members" in [m.label for m in at.metric]


@pytest.mark.parametrize("username, menu", [
    ("admin", ["Vue d'ensemble", "Croissance et engagement", "Rétention", "Réactivité", "Modération",
               "Réputation", "Contenus et événements", "Membres clés", "Récompenses", "Monétisation",
               "Rapport sponsor", "Réglages", "Données", "Utilisateurs", "Mon compte"]),
    ("manager", ["Vue d'ensemble", "Croissance et engagement", "Rétention", "Réactivité", "Modération",
                 "Réputation", "Contenus et événements", "Membres clés", "Récompenses", "Monétisation",
                 "Rapport sponsor", "Réglages", "Données", "Mon compte"]),
    ("staff", ["Réactivité", "Modération", "Membres clés", "Récompenses", "Données", "Mon compte"]),
    ("sponsor", ["Rapport sponsor", "Mon compte"]),
])
def test_each_role_sees_its_pages_only(app, community, username, menu):
    at = as_user(app, username)
    assert not at.exception
    assert [link.label for link in at.sidebar.get("page_link")] == menu


@pytest.mark.parametrize("username, page", [
    ("sponsor", "pages/overview.py"), ("staff", "pages/overview.py"),
    ("sponsor", "pages/users.py"), ("manager", "pages/users.py"),
])
def test_a_page_refuses_a_role_that_may_not_open_it(app, community, username, page):
    at = as_user(app, username)
    at.switch_page(page).run()
    assert texts(at.error) == ["Vous n'avez pas accès à cette page."]
    assert not at.metric and not at.dataframe


def test_an_admin_adds_a_user_and_sees_the_password_once(app, community):
    at = as_user(app, "admin")
    at.switch_page("pages/users.py").run()
    assert at.dataframe[0].value.shape[0] == 4
    form = [w for w in at.text_input if w.label == "Identifiant"][0]
    form.input("nadia")
    [w for w in at.text_input if w.label == "Nom"][0].input("Nadia")
    [w for w in at.selectbox if w.label == "Rôle"][0].set_value("staff")
    [b for b in at.button if b.label == "Ajouter"][0].click()
    at.run()
    assert not at.exception
    message = texts(at.success)[0]
    assert message.startswith("Mot de passe de nadia : ")
    password = message.split(" : ")[1].split(" — ")[0]
    assert auth.principal("nadia") == Principal("nadia", "staff")
    assert bcrypt.checkpw(password.encode(), auth.credentials()["usernames"]["nadia"]["password"].encode())


def test_a_user_changes_their_password_on_the_account_page(app, community):
    at = as_user(app, "staff")
    at.switch_page("pages/account.py").run()
    fields = {w.label: w for w in at.text_input}
    fields["Mot de passe actuel"].input(PASSWORD)
    fields["Nouveau mot de passe (10 caractères ou plus)"].input("a whole new secret")
    fields["Nouveau mot de passe, à nouveau"].input("a whole new secret")
    [b for b in at.button if b.label == "Changer mon mot de passe"][0].click()
    at.run()
    assert texts(at.success) == ["Votre mot de passe a été changé."]
    with db.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'user.password'"
                                    " AND actor = 'staff'")).scalar_one() == 1


def test_an_empty_database_gets_a_helpful_empty_state(app, database):
    user("manager", "manager", PASSWORD)
    Community().platform("discord")
    at = as_user(app, "manager")
    assert "python -m cmcore demo" in texts(at.info)[0] and "page Données" in texts(at.info)[0]
    assert not at.metric


def test_production_without_a_cookie_key_refuses_to_start(app, database, monkeypatch):
    from cmcore import settings
    monkeypatch.setenv("CM_ENV", "production")
    monkeypatch.delenv("CM_COOKIE_KEY", raising=False)
    settings.current.cache_clear()
    try:
        at = app.run()
        assert "CM_COOKIE_KEY" in texts(at.error)[0]
        assert not at.text_input  # no login form
    finally:
        monkeypatch.delenv("CM_ENV")
        settings.current.cache_clear()


KPI_PAGES = {  # page → (report, roles that open it)
    "growth": (reports.growth_report, {"admin", "manager"}),
    "retention": (reports.retention_report, {"admin", "manager"}),
    "responsiveness": (reports.responsiveness_report, {"admin", "manager", "staff"}),
    "moderation": (reports.moderation_report, {"admin", "manager", "staff"}),
    "reputation": (reports.reputation_report, {"admin", "manager"}),
    "content": (reports.content_report, {"admin", "manager"}),
}


@pytest.mark.parametrize("page", KPI_PAGES)
def test_kpi_pages_show_cmcore_numbers(app, community, page):
    build, _ = KPI_PAGES[page]
    at = as_user(app, "manager")
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    f = at.session_state["filters"]
    expected = build(Principal("manager", "manager"), reports.Scope(f.period, f.platforms, f.tz))
    shown = [m.value for m in at.metric]
    assert shown == [i18n.metric_value(m.value, m.unit, "fr", m.currency) for m in expected.metrics]
    assert at.get("plotly_chart") or page == "reputation"


@pytest.mark.parametrize("page", KPI_PAGES)
@pytest.mark.parametrize("username", ["staff", "sponsor"])
def test_kpi_pages_refuse_the_roles_they_are_not_for(app, community, page, username):
    at = as_user(app, username)
    at.switch_page(f"pages/{page}.py").run()
    if username in KPI_PAGES[page][1]:
        assert not at.exception and not at.error and at.metric
    else:
        assert texts(at.error) == ["Vous n'avez pas accès à cette page."] and not at.metric


def test_a_manager_changes_the_response_sla_in_settings(app, community):
    at = as_user(app, "manager")
    at.switch_page("pages/settings.py").run()
    [w for w in at.number_input if w.label == "Délai cible de réponse (heures)"][0].set_value(12.0)
    [b for b in at.button if b.label == "Enregistrer"][0].click()
    at.run()
    assert texts(at.success) == ["Enregistré."]
    assert community_settings()["response_sla_hours"] == 12.0
    with db.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'setting.set'")).scalars().all() == ["manager"]


def test_an_administrator_sets_the_import_limits_and_a_manager_does_not_see_them(app, community):
    at = as_user(app, "manager")
    at.switch_page("pages/settings.py").run()
    assert "Imports" not in texts(at.subheader)
    at = as_user(app, "admin")
    at.switch_page("pages/settings.py").run()
    assert texts(at.subheader) == ["Imports"]
    [w for w in at.number_input if w.label == "Colonnes d'un fichier CSV"][0].set_value(40)
    [b for b in at.button if b.label == "Enregistrer"][1].click()
    at.run()
    assert community_settings()["import_columns"] == 40
    assert ingest.limits().columns == 40


def test_staff_read_the_leaderboard_with_each_score_explained(app, community):
    at = as_user(app, "staff")
    at.switch_page("pages/leaderboard.py").run()
    assert not at.exception and not at.error
    f = at.session_state["filters"]
    board = leaderboard.leaderboard(Principal("staff", "staff"), reports.Scope(f.period, f.platforms, f.tz))
    top = at.dataframe[0].value
    assert top["Membre"].iloc[0] == board["display_name"][0]
    assert top["Score"].iloc[0] == pytest.approx(round(board["score"][0], 1))
    explained = at.dataframe[3].value  # after the three tabs: top, rising, slipping
    assert explained["Points"].sum() == pytest.approx(board["score"][0])
    assert not at.get("data_editor") and "Barème (responsables)" not in [e.label for e in at.expander]


def test_a_manager_changes_the_scoring_on_the_leaderboard(app, community):
    at = as_user(app, "manager")
    at.switch_page("pages/leaderboard.py").run()
    assert [e.label for e in at.expander] == ["Barème (responsables)"]
    [w for w in at.number_input if w.label == "Demi-vie de l'affection (jours)"][0].set_value(10.0)
    [b for b in at.button if b.label == "Enregistrer le barème"][0].click()
    at.run()
    assert not at.exception
    assert leaderboard.scoring().half_life_days == 10.0


def test_sponsors_are_refused_the_leaderboard(app, community):
    at = as_user(app, "sponsor")
    at.switch_page("pages/leaderboard.py").run()
    assert texts(at.error) == ["Vous n'avez pas accès à cette page."] and not at.dataframe


def test_the_monetisation_page_shows_cmcore_numbers_and_records_revenue(app, community):
    at = as_user(app, "manager")
    at.switch_page("pages/monetisation.py").run()
    assert not at.exception
    f = at.session_state["filters"]
    expected = money.monetisation_report(Principal("manager", "manager"), reports.Scope(f.period, f.platforms, f.tz))
    assert [m.value for m in at.metric] == [i18n.metric_value(m.value, m.unit, "fr", m.currency) for m in expected.metrics]
    [w for w in at.text_input if w.label == "Montant (ex. 1234,56)"][0].input("1 500,25")
    [w for w in at.text_input if w.label == "Description"][0].input("Conference tickets")
    [b for b in at.button if b.label == "Enregistrer le revenu"][0].click()
    at.run()
    assert texts(at.success) == ["Enregistré."]
    with db.engine().connect() as conn:
        row = conn.execute(sa.text("SELECT stream, amount_minor, currency FROM revenue WHERE description ="
                                   " 'Conference tickets'")).one()
    assert tuple(row) == ("ads", 150_025, "EUR")


def test_a_sponsor_sees_its_own_report_whatever_it_tries(app, community):
    at = app
    at.query_params["sponsor"] = "2"
    at.session_state["report_sponsor"] = 2
    at = as_user(at, "sponsor")
    assert not at.exception
    assert texts(at.title) == ["Rapport sponsor : Nordlys Cloud"]
    assert not [w for w in at.selectbox if w.label == "Sponsor"]
    f = at.session_state["filters"]
    mine = money.sponsor_report(Principal("sponsor", "sponsor", 1), reports.Scope(f.period, None, f.tz))
    assert [m.value for m in at.metric] == [i18n.metric_value(m.value, m.unit, "fr") for m in mine.metrics]
    campaigns = at.dataframe[0].value["Campagne"].tolist()
    assert campaigns and all(name.startswith("Nordlys Cloud") for name in campaigns)


def test_a_manager_chooses_the_sponsor_of_the_report(app, community):
    at = as_user(app, "manager")
    at.switch_page("pages/sponsor_report.py").run()
    picker = [w for w in at.selectbox if w.label == "Sponsor"][0]
    picker.set_value(3).run()
    assert texts(at.title) == ["Rapport sponsor : Bytefolk Labs"]


@pytest.mark.parametrize("username, page", [("sponsor", "pages/monetisation.py"), ("staff", "pages/monetisation.py"),
                                            ("staff", "pages/sponsor_report.py")])
def test_money_pages_refuse_other_roles(app, community, username, page):
    at = as_user(app, username)
    at.switch_page(page).run()
    assert texts(at.error) == ["Vous n'avez pas accès à cette page."] and not at.metric


def test_staff_propose_and_another_staff_member_approves_on_the_rewards_page(app, community):
    user("staff2", "staff", PASSWORD)
    with db.transaction() as conn:  # a budget for this month, set by a manager
        conn.execute(sa.text("INSERT INTO reward_budget VALUES (to_char(now(), 'YYYY-MM'), 'EUR', 10000)"))
    at = as_user(app, "staff")
    at.switch_page("pages/rewards.py").run()
    assert not at.exception
    [w for w in at.selectbox if w.label == "Type"][0].set_value("money")
    [w for w in at.text_input if w.label == "Montant (points, ou argent ex. 25,00)"][0].input("25")
    [w for w in at.text_input if w.label == "Motif"][0].input("Welcomed every newcomer")
    [b for b in at.button if b.label == "Proposer"][0].click()
    at.run()
    assert texts(at.success) == ["Proposée : un autre membre de l'équipe l'approuve."]
    reward = rewards.rewards(Principal("staff", "staff"))["id"][0]
    # The proposer may not approve: the approval is refused in cmcore, whatever the page shows.
    [w for w in at.multiselect if w.label == "Récompenses"][0].select(reward)
    [w for w in at.checkbox if w.label == "J'ai vérifié ces récompenses"][0].check()
    at.run()  # the button is enabled once a reward is chosen and the check is ticked
    [b for b in at.button if b.label == "Approuver"][0].click()
    at.run()
    assert "proposed by you" in texts(at.error)[0]
    other = as_user(AppTest.from_file(at._script_path, default_timeout=60), "staff2")
    other.switch_page("pages/rewards.py").run()
    [w for w in other.multiselect if w.label == "Récompenses"][0].select(reward)
    [w for w in other.checkbox if w.label == "J'ai vérifié ces récompenses"][0].check()
    other.run()
    [b for b in other.button if b.label == "Approuver"][0].click()
    other.run()
    assert texts(other.success) == [f"Récompense {reward} approuvée."]
    assert rewards.rewards(Principal("staff", "staff"))["approved_by"][0] == "staff2"


def test_sponsors_are_refused_the_rewards_page(app, community):
    at = as_user(app, "sponsor")
    at.switch_page("pages/rewards.py").run()
    assert texts(at.error) == ["Vous n'avez pas accès à cette page."] and not at.dataframe


def test_a_manager_renames_a_sponsor_on_the_monetisation_page(app, community):
    at = as_user(app, "manager")
    at.switch_page("pages/monetisation.py").run()
    [w for w in at.radio if w.label == "Modifier"][0].set_value("sponsor").run()
    [w for w in at.selectbox if w.key == "edit_sponsor"][0].set_value(2).run()
    name = [w for w in at.text_input if w.label == "Nom" and w.value == "Atelier Quantique"][0]
    name.input("Atelier Quantique SAS")
    [b for b in at.button if b.label == "Enregistrer" and "edit_sponsor" in str(b.form_id)][0].click()
    at.run()
    assert not at.exception and texts(at.success) == ["Enregistré."]
    assert money.sponsors(Principal("manager", "manager")).filter(pl.col("sponsor_id") == 2)["name"][0] == "Atelier Quantique SAS"
