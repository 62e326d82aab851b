"""The session's language everywhere: kept with the user's account across reloads, never looked up
from Polars' threads (words, amounts and statuses built in expressions), and cmcore's refusals
shown translated with their amounts formatted for the reader."""
import json
from datetime import date, timedelta

import sqlalchemy as sa
from pandas.api.types import is_string_dtype

from cmcore import auth, db, rewards
from cmcore.access import Principal
from tests.builders import user
from tests.pages import as_user, choose_period
from tests.test_app import everything_shown, texts
from ui.text import plain

MARCH = (date(2026, 3, 1), date(2026, 3, 10))


def in_english(at):
    at.sidebar.selectbox(key="lang").set_value("en")
    return at.run()


def test_the_language_chosen_is_kept_with_the_account_and_comes_back_on_a_new_tab(app, town):
    at = as_user(app, "manon")
    assert at.title[0].value == "Vue d'ensemble"  # no choice yet, no browser locale: French
    at = in_english(at)
    assert at.title[0].value == "Overview"
    with db.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT lang FROM app_user WHERE username = 'manon'")).scalar_one() == "en"
    assert auth.get_user("manon").lang == "en"
    fresh = as_user(type(app).from_file(app._script_path, default_timeout=60), "manon")  # a reload: a new tab
    assert fresh.title[0].value == "Overview"
    assert fresh.sidebar.selectbox(key="lang").value == "en"


def test_an_english_monetisation_page_shows_english_words_and_amounts_only(app, town):
    at = as_user(app, "manon")
    at.switch_page("pages/monetisation.py").run()
    at = in_english(choose_period(at, *MARCH))
    assert not at.exception
    shown = everything_shown(at)
    assert "Sponsorship" in shown and "€1,000.00" in shown  # the chart's legend, the table's amounts
    assert "Sponsoring" not in shown and "1\u202f000,00" not in shown


def test_reward_statuses_amounts_and_refusals_follow_the_language(app, town):
    user("staff", "staff")
    staff = Principal("staff", "staff")
    rewards.set_budget(Principal("manon", "manager"), "2026-03", "EUR", "30")
    mine = rewards.propose(staff, 1, "2026-03", "money", "40", "EUR", "Thanks")
    other = rewards.propose(Principal("manon", "manager"), 1, "2026-03", "money", "10", "EUR", "Thanks")
    rewards.approve(staff, other)

    at = as_user(app, "staff")
    at.switch_page("pages/rewards.py").run()
    at.selectbox(key="rewards_month").set_value("2026-03").run()
    history = [t for t in at.dataframe if "Statut" in t.value.columns][-1].value
    assert set(history["Statut"]) == {"Proposée", "Approuvée"} and "10,00\u00a0€" in set(history["Montant"])
    assert texts(at.caption)[0] == "Utilisé 10,00\u00a0€ sur 30,00\u00a0€ (approuvé 10,00\u00a0€, payé 0,00\u00a0€)"

    def approve_mine(at):
        at.multiselect(key="queue_choice").set_value([mine])
        at.checkbox(key="queue_confirm").check()
        at.run()
        at.button(key="approve_chosen").click()
        return at.run()

    at = approve_mine(at)
    assert texts(at.error) == [f"Refusé : récompense {mine} : proposée par vous, donc approuvée par quelqu'un d'autre"]
    at = in_english(as_user(type(app).from_file(app._script_path, default_timeout=60), "staff"))  # a new tab
    at.switch_page("pages/rewards.py").run()
    at.selectbox(key="rewards_month").set_value("2026-03").run()
    history = [t for t in at.dataframe if "Status" in t.value.columns][-1].value
    assert set(history["Status"]) == {"Proposed", "Approved"} and "€10.00" in set(history["Amount"])
    at = approve_mine(at)
    assert texts(at.error) == [f"Refused: reward {mine}: proposed by you, so approved by someone else"]


def test_a_refusal_with_amounts_reads_in_the_readers_language(app, town):
    """The budget refusal quotes two amounts: each formatted for the reader, the words translated."""
    user("staff", "staff")
    user("staff2", "staff")
    rewards.set_budget(Principal("manon", "manager"), "2026-03", "EUR", "1000")
    big = rewards.propose(Principal("staff", "staff"), 1, "2026-03", "money", "1500", "EUR", "Thanks")
    at = as_user(app, "staff2")
    at.switch_page("pages/rewards.py").run()
    at.selectbox(key="rewards_month").set_value("2026-03").run()
    at.multiselect(key="queue_choice").set_value([big])
    at.checkbox(key="queue_confirm").check()
    at.run()
    at.button(key="approve_chosen").click()
    at.run()
    assert texts(at.error) == ["Refusé : récompense {} : {} dépasserait le budget de {} ; il reste {}".format(
        big, plain("1\u202f500,00\u00a0€"), plain("2026-03"), plain("1\u202f000,00\u00a0€"))]


def test_the_reasons_the_rules_write_read_in_the_readers_language(app, town):
    """Ann's accepted answer of 2 March: the rule's reason stored once, read in each language."""
    user("staff", "staff")
    rewards.add_rule(Principal("manon", "manager"), "answers", "Réponses acceptées", "accepted_answer", {}, "points", "10")
    assert rewards.propose_from_rules(Principal("staff", "staff"), "2026-03") == 1
    for lang, status, rule, reason in (("fr", "Statut", "Règle", "Motif"), ("en", "Status", "Rule", "Reason")):
        at = as_user(type(app).from_file(app._script_path, default_timeout=60), "staff")
        at.sidebar.selectbox(key="lang").set_value(lang).run()
        at.switch_page("pages/rewards.py").run()
        at.selectbox(key="rewards_month").set_value("2026-03").run()
        history = [t for t in at.dataframe if status in t.value.columns][-1].value
        assert history[[rule, reason]].values.tolist() == [
            ["Réponses acceptées", {"fr": "Réponses acceptées : 1", "en": "Accepted answers: 1"}[lang]]]


def test_charts_write_their_dates_and_numbers_as_the_reader_s_language_does(app, town):
    """The overview's daily chart for 1–10 March: its day ticks written by Babel (Plotly's own are
    English), the language's separators, numbers in full (no English '50k')."""
    for lang, ticks, separators in (("fr", ["1 mars", "3 mars", "5 mars", "7 mars", "9 mars"], ",\u202f"),
                                    ("en", ["Mar 1", "Mar 3", "Mar 5", "Mar 7", "Mar 9"], ".,")):
        at = as_user(type(app).from_file(app._script_path, default_timeout=60), "manon")
        at.sidebar.selectbox(key="lang").set_value(lang).run()
        at = choose_period(at, *MARCH)
        layout = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
        assert layout["xaxis"]["ticktext"] == ticks and layout["separators"] == separators
        assert layout["yaxis"]["exponentformat"] == "none" and layout["yaxis"]["tickformat"] == ",d"  # counts


def test_a_year_long_date_axis_is_ticked_by_month_in_the_reader_s_words():
    from cmcore import figures

    assert figures.date_ticks(date(2025, 12, 2), date(2026, 11, 30), "fr") == (
        ["2026-01-01", "2026-03-01", "2026-05-01", "2026-07-01", "2026-09-01", "2026-11-01"],
        ["janv. 2026", "mars 2026", "mai 2026", "juil. 2026", "sept. 2026", "nov. 2026"])
    assert figures.date_ticks(date(2026, 11, 1), date(2026, 11, 30), "en")[1] == [
        "Nov 2", "Nov 9", "Nov 16", "Nov 23", "Nov 30"]  # a month: its Mondays


# Codes a table must never show in a cell (its words instead): languages and sentiments of
# mentions, activity, event, reward and import kinds and statuses, deliverables' kinds.
CELL_CODES = {"other", "fr", "en", "reaction_given", "reaction_received", "accepted_answer", "reply",
              "thread", "comment", "answer", "in_person", "online", "hybrid", "proposed", "approved", "paid", "rejected",
              "cancelled", "points", "money", "gift", "badge", "top_n", "events_attended", "post", "loaded", "failed",
              "running", "canonical", "listening", "sponsorship", "donation", "membership", "merch", "ads"}
# Columns that hold data as typed (names, tags, sources), counts, or the import format's own names.
AS_TYPED = {"Source", "Étiquette", "Tag", "Table", "Colonne", "Column", "Type", "Identifiant", "Username", "Slug"}


def test_no_table_of_any_page_shows_a_code_in_either_language(app, database):
    """Every page an administrator opens on the demo, in French and English: no table cell holds
    a code; the reputation page's mentions of alert days say their language and the tool's
    sentiment in words ('Autre' for a language the community does not write)."""
    from cmcore import access, demo
    from cmcore.access import CLI

    end = date.today() + timedelta(days=1)
    demo.load(demo.DemoSpec(members=150, days=60, seed=11, end=end), CLI, with_users=False)
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE mention SET lang = 'other', tool_sentiment = -1 WHERE sentiment = -1 AND id % 3 = 0"))
        conn.execute(sa.text("UPDATE mention SET tool_sentiment = 0 WHERE sentiment = -1 AND id % 3 = 1"))
    user("admin", "admin")
    at = choose_period(as_user(app, "admin"), end - timedelta(days=60), end - timedelta(days=1))
    pages = {key: f"pages/{key}.py" for key in access.PAGES}
    shown = {}
    for lang in ("fr", "en"):
        at.sidebar.selectbox(key="lang").set_value(lang).run()
        for key, path in pages.items():
            at.switch_page(path).run()
            assert not at.exception, (lang, key)
            for table in at.dataframe:
                frame = getattr(table.value, "data", table.value)
                for column in frame.columns:
                    if column in AS_TYPED or column.islower() or not is_string_dtype(frame[column]):
                        continue  # (lower case: an editor's hidden column)
                    cells = {str(v) for v in frame[column].dropna().astype(str).unique()}
                    if column in ("Langue", "Language", "Tonalité selon l'outil", "Tool's sentiment"):
                        shown[(lang, column)] = cells
                    assert not cells & CELL_CODES, (lang, key, column, sorted(cells & CELL_CODES))
    assert shown[("fr", "Langue")] == {"Autre", "anglais (en)", "français (fr)"}
    assert shown[("en", "Language")] == {"Other", "English (en)", "French (fr)"}
    assert shown[("fr", "Tonalité selon l'outil")] == {"négatif", "neutre", ""}  # blank: the file gave none
    assert shown[("en", "Tool's sentiment")] == {"negative", "neutral", ""}
