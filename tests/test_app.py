"""The app under streamlit.testing: signing in, lockout, sessions ended from elsewhere, the menu
per role, the pages' refusals, user text shown as typed, and each report page's numbers on the
town (tests/builders.py), counted by hand."""
import json
import re
from datetime import date, timedelta

import polars as pl
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from cmcore import auth, db, demo, ingest, leaderboard, money, platforms, rewards, sessions
from cmcore.access import CLI, Principal
from cmcore.community import get_settings as community_settings
from tests.builders import TOWN_MANAGER, Community, a_minute_passes, import_files, user
from tests.pages import as_user, choose_period
from ui.text import plain

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


WRONG = ("Identifiant ou mot de passe incorrect. Après 5 échecs de suite, un compte est bloqué"
         " pendant 15 minutes.")


def texts(elements):
    return [e.value for e in elements]


def change_password(at, new: str):
    """On the account page, change the password from PASSWORD to `new`."""
    at.switch_page("pages/account.py").run()
    fields = {w.label: w for w in at.text_input}
    fields["Mot de passe actuel"].input(PASSWORD)
    fields["Nouveau mot de passe (12 caractères ou plus)"].input(new)
    fields["Nouveau mot de passe, à nouveau"].input(new)
    [b for b in at.button if b.label == "Changer mon mot de passe"][0].click()
    return at.run()


def everything_shown(at) -> str:
    """The text of every element of the page and the sidebar: tables' cells, charts' data, labels."""
    parts = []

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            walk(child)
        if getattr(node, "type", None) == "arrow_data_frame":
            parts.append(node.value.to_string())
        elif hasattr(node, "proto"):
            parts.append(str(node.proto))
    walk(at._tree)
    return "\n".join(parts)


def test_the_login_form_signs_a_manager_in_with_the_right_password(app, community):
    at = sign_in(app, "manager")
    assert not at.exception
    assert texts(at.title) == ["Vue d'ensemble"]
    assert at.session_state["principal"] == Principal("manager", "manager")


def test_a_wrong_password_is_refused_and_counted(app, community):
    at = sign_in(app, "manager", "not the password")
    assert texts(at.error) == [WRONG]
    assert not at.title
    assert auth.get_user("manager").failed_logins == 1


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(app, community):
    for _ in range(5):
        at = sign_in(app, "manager", "not the password")
        a_minute_passes()
    assert texts(at.error) == [WRONG]
    at = sign_in(app, "manager")  # the right password, while locked: the same words
    assert texts(at.error) == [WRONG] and not at.title
    assert auth.get_user("manager").locked_until is not None


def test_a_fourth_try_within_a_minute_is_slowed(app, community):
    for _ in range(3):
        sign_in(app, "nobody", "not the password")
    at = sign_in(app, "nobody", "not the password")
    assert texts(at.error)[0].startswith("Trop d'essais pour cet identifiant : attendez ")


def test_a_session_ended_elsewhere_sends_back_to_the_sign_in_form(app, community):
    at = as_user(app, "manager")
    assert texts(at.title) == ["Vue d'ensemble"]
    auth.set_password(CLI, "manager", "a fresh password, reset")  # by an administrator, elsewhere
    at.run()
    assert not at.exception and not at.title and not at.metric
    assert texts(at.info) == ["Votre session a pris fin : reconnectez-vous."]
    assert [w.label for w in at.text_input] == ["Identifiant", "Mot de passe"]
    assert at.session_state["cookie"] == "delete" and "filters" not in at.session_state


def test_signing_out_ends_the_session_and_forgets_the_pages_state(app, community):
    at = as_user(app, "manager")
    token = at.session_state["session"].token
    at.session_state["last_batch"] = ("PAY-1", b"csv")  # what a page kept
    [b for b in at.sidebar.button if b.label == "Se déconnecter"][0].click()
    at.run()
    assert texts(at.info) == ["Vous êtes déconnecté."] and not at.title
    assert sessions.resume(token) is None and "last_batch" not in at.session_state
    assert at.session_state["lang"] == "fr"


def test_an_administrators_password_is_replaced_before_anything_else(app, community):
    auth.add_user(CLI, "nadia", "Nadia", "manager", PASSWORD)
    at = as_user(app, "nadia")
    assert texts(at.title) == ["Mon compte"]
    assert [link.label for link in at.sidebar.get("page_link")] == ["Mon compte"]
    assert "mot de passe" in texts(at.warning)[0]
    at.switch_page("pages/overview.py").run()
    assert texts(at.title) == ["Mon compte"] and not at.metric
    at = change_password(at, "my own chosen secret")  # on the account page, where the browser now is
    assert texts(at.info) == ["Votre mot de passe a été changé : connectez-vous avec le nouveau."]
    at = sign_in(AppTest.from_file(at._script_path, default_timeout=60), "nadia", "my own chosen secret")
    assert texts(at.title) == ["Vue d'ensemble"]


MARCH_SHOWN = {  # the town in 1–10 March, in French (tests/builders.py)
    "overview": {"Membres": "3", "Membres actifs": "3", "Nouveaux membres": "0", "Discussions": "2",
                 "Délai de première réponse (médiane)": "1 h 30 min",  # Bob's question answered by Ann in 1.5 h
                 "Revenus comptabilisés (EUR)": "1\u202f000,00\u00a0€"},  # Acme's 1,000 EUR of 2 March
    "growth": {"Membres": "3", "Nouveaux membres": "0",
               "Membres actifs par jour (moyenne)": "0",  # (2 on 2 March + 1 on 3 March) / 10 days = 0.3
               "Membres actifs sur 7 jours": "0",  # no one active 4–10 March
               "Membres actifs sur 30 jours": "3",
               "Fidélité (jour/mois)": "14,8\u00a0%",  # (2/2 + 1/3 + 7 × 0/3) / 9 days with a MAU
               "Taux de participation": "100,0\u00a0%", "Nouveaux contributeurs": "3",
               "Contributeurs devenus inactifs": "0"},
    "retention": {"Rétention des nouveaux membres": "–", "Nouveaux membres mesurés": "0"},  # no one joined
    "responsiveness": {"Délai de première réponse (médiane)": "1 h 30 min", "Délai de première réponse (90e centile)": "1 h 30 min",
                       "Réponses dans le délai cible": "50,0\u00a0%",  # Bob's in 1.5 h of 24; Cat's never
                       "Discussions sans réponse": "1"},
    "moderation": {"Signalements": "1", "Délai d'action (médiane)": "1 h", "Délai d'action (90e centile)": "1 h",
                   "Traités dans le délai cible": "100,0\u00a0%", "Délai de résolution (médiane)": "3 h",
                   "Cas ouverts": "0"},
    "reputation": {"Mentions": "1", "Audience": "100", "Positives": "100,0\u00a0%", "Négatives": "0,0\u00a0%",
                   "Sentiment net": "100,0\u00a0%", "Alertes de crise": "0"},
    "content": {"Engagement par discussion (moyenne)": "0,5",  # Bob's thread 1 answer, Cat's none
                "Discussions": "2", "Événements": "1", "Taux de présence": "50,0\u00a0%",  # Ann came, Bob did not
                "Effet des événements (moyenne)": "0,0"},  # Ann 1 → 0 activities, Bob and Cat too: −1 − (−1)
    "monetisation": {"Revenus comptabilisés (EUR)": "1\u202f000,00\u00a0€", "Restant dû (EUR)": "1\u202f000,00\u00a0€",
                     "Revenu par membre actif (EUR)": "333,33\u00a0€"},  # 1,000 EUR over 3 active members
}


def in_march(app, username: str, page: str = "overview"):
    """`username`'s view of `page` for 1–10 March."""
    at = as_user(app, username)
    at.switch_page(f"pages/{page}.py").run()
    return choose_period(at, date(2026, 3, 1), date(2026, 3, 10))


@pytest.mark.parametrize("page", MARCH_SHOWN)
def test_each_report_page_shows_the_town_s_numbers(app, town, page):
    at = in_march(app, "manon", page)
    assert not at.exception
    assert {m.label: m.value for m in at.metric} == MARCH_SHOWN[page]
    assert at.get("plotly_chart") or page in ("reputation", "retention")


def test_the_moderation_page_names_each_rule_by_its_title_not_its_code(app, town):
    with db.engine().begin() as conn:
        conn.execute(sa.text("UPDATE rule SET title = 'Pas de spam' WHERE code = 'spam'"))
    at = in_march(app, "manon", "moderation")
    table = at.dataframe[0].value
    assert table["Règle"].tolist() == ["Pas de spam"]
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [list(trace["x"]) for trace in chart["data"]] == [["Pas de spam"]]


def test_the_overview_per_platform_and_the_platform_filter_kept_across_pages(app, town):
    import_files(town["tmp"], **{  # Dan joins the chat on 4 March and opens a thread there
        "members.csv": "platform,external_id,display_name,joined_at\nchat,d5,Dan,2026-03-04T09:00:00Z\n",
        "activities.csv": "platform,external_id,author,kind,created_at\nchat,c1,d5,thread,2026-03-05T09:00:00Z\n"})
    at = in_march(app, "manon")
    table = at.dataframe[0].value  # platform, members, active, new, threads
    assert table.iloc[:, :5].values.tolist() == [["Forum", 3, 3, 0, 2], ["Chat", 1, 1, 1, 1]]
    chat = dict(zip(platforms.listing(CLI)["slug"], platforms.listing(CLI)["platform_id"], strict=True))["chat"]
    at.sidebar.multiselect[0].select(chat)
    at.run()
    assert at.session_state["filters"].platforms == [chat]
    shown = {m.label: m.value for m in at.metric}
    assert [shown[k] for k in ("Membres", "Membres actifs", "Nouveaux membres", "Discussions")] == ["1", "1", "1", "1"]
    at.switch_page("pages/account.py").run()  # a page without the filters: they are not shown…
    assert not at.sidebar.multiselect and not [s for s in at.sidebar.selectbox if s.key == "period_preset"]
    at.switch_page("pages/growth.py").run()
    assert at.session_state["filters"].platforms == [chat]  # …and kept for the pages that use them


def test_english_interface(app, community):
    at = as_user(app, "manager")
    at.sidebar.selectbox[0].set_value("en").run()
    assert texts(at.title) == ["Overview"]
    assert "Members" in [m.label for m in at.metric]


@pytest.mark.parametrize("username, menu", [
    ("admin", ["Vue d'ensemble", "Croissance et engagement", "Rétention", "Réactivité", "Modération",
               "Réputation", "Contenus et événements", "Membres clés", "Récompenses", "Monétisation",
               "Rapport sponsor", "Alertes", "Réglages", "Données", "Utilisateurs", "Connexions", "Mon compte"]),
    ("manager", ["Vue d'ensemble", "Croissance et engagement", "Rétention", "Réactivité", "Modération",
                 "Réputation", "Contenus et événements", "Membres clés", "Récompenses", "Monétisation",
                 "Rapport sponsor", "Alertes", "Réglages", "Données", "Mon compte"]),
    ("staff", ["Réactivité", "Modération", "Membres clés", "Récompenses", "Alertes", "Données", "Mon compte"]),
    ("sponsor", ["Rapport sponsor", "Mon compte"]),
])
def test_each_role_sees_its_pages_only(app, community, username, menu):
    at = as_user(app, username)
    assert not at.exception
    assert [link.label for link in at.sidebar.get("page_link")] == menu


@pytest.mark.parametrize("username, page", [
    ("sponsor", "pages/overview.py"), ("staff", "pages/overview.py"),
    ("sponsor", "pages/users.py"), ("manager", "pages/users.py"), ("manager", "pages/connections.py"),
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
    assert texts(at.success)[0].startswith("Mot de passe de nadia, affiché une seule fois")
    password = at.code[0].value
    assert auth.sign_in("nadia", password, timedelta(hours=1)).principal == Principal("nadia", "staff")


def test_a_user_changes_their_password_on_the_account_page(app, community):
    at = change_password(as_user(app, "staff"), "a whole new secret")
    assert texts(at.info) == ["Votre mot de passe a été changé : connectez-vous avec le nouveau."]
    assert not at.title  # every session of theirs ended, this one too
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
        assert texts(at.error) == ["le mode production exige CM_COOKIE_KEY (ou cookie_key dans .streamlit/secrets.toml)"
                                   " : un secret aléatoire d'au moins 128 bits ; `./dev cli secret` en affiche un"]
        assert not at.text_input  # no login form
        english = type(app).from_file(app._script_path, default_timeout=60)
        english.session_state["lang"] = "en"  # the session's language, before anyone signs in
        assert texts(english.run().error)[0].startswith("production mode needs CM_COOKIE_KEY")
    finally:
        monkeypatch.delenv("CM_ENV")
        settings.current.cache_clear()


def test_a_service_s_access_refusal_reads_in_the_session_s_language():
    """A service refusing the role (a check behind the page's own) is told, translated, not traced back."""
    from streamlit.testing.v1 import AppTest

    def page():
        from cmcore.access import Principal, require
        from ui import errors

        try:
            require(Principal("sam", "staff"), "admin", "manager")
        except errors.ERRORS as err:
            errors.show(err)

    for lang, said in (("fr", "Refusé : le rôle équipe ne permet pas de faire ceci (il faut l'un de ces rôles :"
                               " administrateur, responsable)"),
                       ("en", "Refused: the role staff may not do this (it needs one of: admin, manager)")):
        at = AppTest.from_function(page)
        at.session_state["lang"] = lang
        at.run()
        assert not at.exception and texts(at.error) == [said]


KPI_PAGES = {  # page → roles that open it
    "growth": {"admin", "manager"},
    "retention": {"admin", "manager"},
    "responsiveness": {"admin", "manager", "staff"},
    "moderation": {"admin", "manager", "staff"},
    "reputation": {"admin", "manager"},
    "content": {"admin", "manager"},
}


@pytest.mark.parametrize("page", KPI_PAGES)
@pytest.mark.parametrize("username", ["staff", "sponsor"])
def test_kpi_pages_refuse_the_roles_they_are_not_for(app, community, page, username):
    at = as_user(app, username)
    at.switch_page(f"pages/{page}.py").run()
    if username in KPI_PAGES[page]:
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


def test_a_manager_declares_the_communitys_languages_in_settings(app, community):
    at = as_user(app, "manager")
    at.switch_page("pages/settings.py").run()
    [languages] = at.multiselect
    assert languages.label == "Langues de la communauté" and languages.value == ["fr", "en"]
    assert languages.format_func("es") == "espagnol (es)"
    languages.set_value([])
    [b for b in at.button if b.label == "Enregistrer"][0].click()
    at.run()
    assert texts(at.error) == ["les langues de la communauté sont une liste de codes de langue distincts, au moins un"]
    at.multiselect[0].set_value(["fr", "en", "es"])
    [b for b in at.button if b.label == "Enregistrer"][0].click()
    at.run()
    assert texts(at.success) == ["Enregistré."] and not at.error
    assert community_settings()["languages"] == ["fr", "en", "es"]


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


def test_staff_read_the_leaderboard_with_each_score_explained(app, town):
    user("sami", "staff")
    at = in_march(app, "sami", "leaderboard")
    assert not at.exception and not at.error
    top = at.dataframe[0].value
    assert top[["Membre", "Score"]].values.tolist() == [["Ann", 28.0], ["Bob", 5.0], ["Cat", 5.0]]
    explained = next(d.value for d in at.dataframe if "Plafond par jour" in d.value.columns)  # Ann's score
    assert {k: p for k, p in explained[["Type", "Points"]].values.tolist() if p} == {
        "Réponses (Q&R)": 3.0, "Réponses acceptées": 15.0, "Événements suivis": 10.0}
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


def test_the_monetisation_page_records_revenue(app, community):
    at = as_user(app, "manager")
    at.switch_page("pages/monetisation.py").run()
    assert not at.exception
    [w for w in at.text_input if w.label == "Montant (ex. 1234,56)"][0].input("1 500,25")
    [w for w in at.text_input if w.label == "Description"][0].input("Conference tickets")
    [b for b in at.button if b.label == "Enregistrer le revenu"][0].click()
    at.run()
    assert texts(at.success) == ["Enregistré."]
    with db.engine().connect() as conn:
        row = conn.execute(sa.text("SELECT stream, amount_minor, currency FROM revenue WHERE description ="
                                   " 'Conference tickets'")).one()
    assert tuple(row) == ("ads", 150_025, "EUR")


def test_a_sponsor_sees_its_own_report_whatever_it_tries(app, town):
    bolt = money.add_sponsor(TOWN_MANAGER, "Bolt")
    user("acme", "sponsor", sponsor_id=town["acme"])
    at = app
    at.query_params["sponsor"] = str(bolt)
    at.session_state["report_sponsor"] = bolt
    at = choose_period(as_user(at, "acme"), date(2026, 3, 1), date(2026, 3, 10))
    assert not at.exception
    assert texts(at.title) == ["Rapport sponsor : Acme"]
    assert not [w for w in at.selectbox if w.label == "Sponsor"]
    # 2,000 + 1,000 impressions, 20 + 10 clicks (1 %), 5 + 5 engagements, one campaign
    assert [m.value for m in at.metric] == ["3\u202f000", "30", "1,0\u00a0%", "10", "1"]
    assert at.dataframe[0].value["Campagne"].tolist() == ["Spring"]


def test_a_sponsor_sees_nothing_of_the_community(app, community):
    at = as_user(app, "sponsor")
    assert not at.exception and not at.sidebar.multiselect  # no platform filter
    shown = everything_shown(at)
    with db.engine().connect() as conn:
        platforms = conn.execute(sa.text("SELECT name FROM platform")).scalars().all()
        others = conn.execute(sa.text("SELECT name FROM sponsor WHERE id <> 1")).scalars().all()
    assert platforms and not [name for name in platforms + others
                              if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", shown)]
    assert "Nordlys Cloud" in shown


def test_user_text_is_shown_as_typed_in_titles(app, community):
    name = "**Nordlys** _Cloud_ ![i](http://127.0.0.1:9/pixel.png) <b>x</b> :red[y] $z$"
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE sponsor SET name = :n WHERE id = 1"), {"n": name})
    at = as_user(app, "sponsor")
    assert texts(at.title) == ["Rapport sponsor : " + plain(name)]
    assert "\\*\\*Nordlys\\*\\*" in at.title[0].value and "\\!\\[i\\]" in at.title[0].value


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
    assert "proposée par vous" in texts(at.error)[0]
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
