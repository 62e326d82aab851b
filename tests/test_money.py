"""Money's bounds and exact sums: ISO 4217 currencies only, the same list in the forms, the importer
and the database; amounts from 1 to 10^13 minor units, refused beyond with a clear message (never
a database error); totals exact at the bound and beyond what an Int64 holds."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
import sqlalchemy as sa

from cmcore import currencies, db, i18n, ingest, money, rewards
from cmcore.access import CLI, Principal
from cmcore.currencies import MAX_MINOR
from cmcore.ingest.canonical import MAX_COUNT, Rejected
from cmcore.kpis import monetisation
from cmcore.periods import Period
from cmcore.reports import Scope
from tests.builders import Community, user
from tests.test_app import as_user, texts
from ui.text import plain

MANAGER = Principal("manager", "manager")
INT64_MAX = 2**63 - 1


def test_the_currencies_are_isos_and_the_database_holds_the_same():
    assert len(currencies.CURRENCIES) == 165
    assert (currencies.CURRENCIES["EUR"], currencies.CURRENCIES["JPY"], currencies.CURRENCIES["KWD"]) == (2, 0, 3)
    assert not {"XXX", "XTS", "XAU", "XDR", "PTS"} & set(currencies.CURRENCIES)


def test_the_database_currency_table_is_the_packages_list(database):
    with db.engine().connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT code, minor_unit FROM currency ORDER BY code")).all())
    assert stored == currencies.CURRENCIES


@pytest.mark.parametrize("text, currency, message", [
    ("100000000000.01", "EUR", r"amount: at most 100000000000.00 EUR"),
    ("10000000000001", "JPY", r"amount: at most 10000000000000 JPY"),
    ("1" + "0" * 40, "EUR", r"amount: at most 100000000000.00 EUR"),
    ("9" * 5000, "EUR", r"amount: at most"),  # int() alone would refuse it with a ValueError
    ("10", "XXX", r"currency: XXX is not an ISO 4217 currency code"),
    ("10", "XTS", r"currency: XTS is not an ISO 4217 currency code"),
])
def test_amounts_beyond_the_bound_and_made_up_currencies_are_refused(text, currency, message):
    with pytest.raises(money.MoneyError, match=message):
        money.parse_amount(text, currency)


def test_the_bound_itself_is_an_amount():
    assert money.parse_amount("100 000 000 000,00", "EUR") == MAX_MINOR == money.parse_amount("10000000000000", "JPY")


@pytest.mark.parametrize("lang, text, plain", [
    ("fr", "0,001", "0.001"), ("fr", "1 000,5", "1000.5"), ("fr", "1\u202f000,5", "1000.5"), ("fr", "1000,5", "1000.5"),
    ("fr", "1\u00a0234", "1234"), ("fr", "12", "12"), ("en", "0.001", "0.001"), ("en", "1,000.5", "1000.5"),
    ("en", "1000.5", "1000.5"), ("en", "", ""),
])
def test_an_amount_typed_in_the_interface_is_read_in_its_language(lang, text, plain):
    assert money.typed(text, lang) == plain


@pytest.mark.parametrize("lang, text", [("fr", "1,000.5"), ("fr", "1.000,5"), ("en", "0,001"), ("en", "1 000.5"),
                                        ("en", "25,50"), ("fr", "abc")])
def test_an_amount_in_the_other_languages_way_is_refused_not_misread(lang, text):
    with pytest.raises(money.MoneyError, match="is not an amount"):
        money.typed(text, lang)


def test_a_french_thousandth_of_a_dinar_is_one_fils_and_an_english_thousand_a_thousand_dinars():
    assert money.parse_amount(money.typed("0,001", "fr"), "KWD") == 1
    assert money.parse_amount(money.typed("1,000", "en"), "KWD") == 1_000_000
    assert money.parse_amount(money.typed("1 000,5", "fr"), "EUR") == 100_050
    assert money.parse_amount("0,001", "KWD") == 1  # untyped (the command line): a leading 0 groups nothing


def test_a_french_manager_records_a_thousandth_of_a_dinar(app, database):
    user("manager", "manager")
    at = as_user(app, "manager")
    at.switch_page("pages/monetisation.py").run()
    [box for box in at.text_input if box.label == "Montant (ex. 1234,56)"][0].set_value("0,001")
    [box for box in at.selectbox if box.label == "Devise"][0].set_value("KWD")
    [b for b in at.button if b.label == "Enregistrer le revenu"][0].click()
    at.run()
    assert not at.error
    with db.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT amount_minor, currency FROM revenue")).one() == (1, "KWD")


def test_forms_refuse_what_the_database_would_with_a_clear_message(database):
    c = Community()
    sponsor, member = c.sponsor("Acme"), c.member("ann", datetime(2026, 1, 1).astimezone())
    user("manager", "manager")
    user("anna", "staff")
    campaign = money.add_campaign(MANAGER, sponsor, "Spring", date(2026, 3, 1), date(2026, 3, 31), "100000000000",
                                  "EUR", [])
    too_big = "1" + "0" * 20
    refused = [
        (money.MoneyError, "amount: at most", lambda: money.add_revenue(MANAGER, "ads", too_big, "EUR", date(2026, 3, 1))),
        (money.MoneyError, "amount: at most", lambda: money.update_campaign(MANAGER, campaign, "Spring", date(2026, 3, 1),
                                                                           date(2026, 3, 31), too_big, [])),
        (money.MoneyError, f"counts are whole numbers from 0 to {MAX_COUNT}",
         lambda: money.record_delivery(MANAGER, campaign, date(2026, 3, 2), 10**20, 1, 1)),
        (money.MoneyError, "deliverable 1: target is a whole number from 1 to",
         lambda: money.update_campaign(MANAGER, campaign, "Spring", date(2026, 3, 1), date(2026, 3, 31), "1",
                                       [{"label": "Posts", "target": 10**20}])),
        (rewards.RewardError, "amount: at most", lambda: rewards.propose(Principal("anna", "staff"), member, "2026-03",
                                                                        "money", too_big, "EUR", "Thanks")),
        (rewards.RewardError, f"amount: at most {MAX_MINOR} points",
         lambda: rewards.propose(Principal("anna", "staff"), member, "2026-03", "points", too_big, "", "Thanks")),
        (rewards.RewardError, "amount: at most", lambda: rewards.set_budget(MANAGER, "2026-03", "EUR", too_big)),
        (rewards.RewardError, f"amount: at most {MAX_MINOR} points",
         lambda: rewards.set_budget(MANAGER, "2026-03", "PTS", too_big)),
        (rewards.RewardError, "currency: XXX is not an ISO 4217 currency code",
         lambda: rewards.add_rule(MANAGER, "r", "R", "top_n", {"n": 1}, "money", "1", "XXX")),
    ]
    for error, message, call in refused:
        with pytest.raises(error, match=message):
            call()
    rewards.set_budget(MANAGER, "2026-03", "EUR", "100000000000")  # the bound is a budget
    with db.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT amount_minor FROM reward_budget")).scalar_one() == MAX_MINOR


@pytest.mark.parametrize("line, message", [
    ("r1,ads,10000000000001,EUR", "revenue.csv, line 2, field amount_minor: 10000000000001 is above 10000000000000"),
    ("r1,ads,99999999999999999999,EUR",
     "revenue.csv, line 2, field amount_minor: 99999999999999999999 is above 10000000000000"),
    ("r1,ads,0,EUR", "revenue.csv, line 2, field amount_minor: 0 is below 1"),
    ("r1,ads,5,XXX", "revenue.csv, line 2, field currency: 'XXX' is not an ISO 4217 code such as EUR"),
    ("r1,ads,5,eur", "revenue.csv, line 2, field currency: 'eur' is not an ISO 4217 code such as EUR"),
])
def test_imports_refuse_amounts_beyond_the_bound_and_made_up_currencies(database, tmp_path, line, message):
    path = tmp_path / "revenue.csv"
    path.write_text(f"external_id,stream,amount_minor,currency,booked_on\n{line},2026-03-01\n")
    with pytest.raises(Rejected) as rejected:
        ingest.run("canonical", [path], CLI)
    assert str(rejected.value) == message


def test_two_lines_of_the_largest_amount_sum_exactly(database, tmp_path):
    path = tmp_path / "revenue.csv"
    path.write_text("external_id,stream,amount_minor,currency,booked_on,received_on\n"
                    "r1,ads,10000000000000,EUR,2026-03-01,2026-03-02\nr2,merch,10000000000000,EUR,2026-03-02,\n")
    ingest.run("canonical", [path], CLI)
    report = money.monetisation_report(MANAGER, Scope(Period(date(2026, 3, 1), date(2026, 4, 1)), None, "UTC"))
    values = {m.key: m.value for m in report.metrics}
    assert (values["booked_EUR"], values["received_EUR"], values["outstanding_EUR"]) == (2 * MAX_MINOR, MAX_MINOR,
                                                                                           MAX_MINOR)
    assert i18n.money(values["booked_EUR"], "EUR", "en") == "€200,000,000,000.00"


def test_totals_are_exact_past_what_an_int64_holds():
    """The sums themselves never wrap: two lines of the largest Int64 (which the database refuses
    now, and Polars summed to -2) add up to 2^64 - 2."""
    lines = pl.DataFrame({"currency": ["EUR", "EUR"], "amount_minor": [INT64_MAX, INT64_MAX],
                          "booked_on": [date(2026, 3, 1)] * 2, "received_on": [None, date(2026, 3, 2)],
                          "stream": ["ads", "ads"], "recurring": [False, False]})
    assert monetisation.revenue_booked(lines, date(2026, 3, 1), date(2026, 4, 1)) == {"EUR": 2 * INT64_MAX}
    monthly = monetisation.monthly_by_stream(lines, date(2026, 3, 1), date(2026, 4, 1))
    assert monthly.select("booked", "received", "outstanding").row(0) == (2 * INT64_MAX, INT64_MAX, INT64_MAX)
    assert i18n.money(2 * INT64_MAX, "EUR", "fr") == "184\u202f467\u202f440\u202f737\u202f095\u202f516,14\u00a0€"


def test_the_monetisation_page_shows_the_largest_total_and_refuses_a_larger_amount(app, database, tmp_path):
    user("manager", "manager")
    today = date.today()
    path = tmp_path / "revenue.csv"
    path.write_text("external_id,stream,amount_minor,currency,booked_on\n"
                    f"r1,ads,10000000000000,EUR,{today - timedelta(days=2)}\n"
                    f"r2,ads,10000000000000,EUR,{today - timedelta(days=3)}\n")
    ingest.run("canonical", [path], CLI)
    at = as_user(app, "manager")
    at.switch_page("pages/monetisation.py").run()
    assert not at.exception
    booked = [m.value for m in at.metric if m.label.startswith("Revenus comptabilisés")]
    assert booked == ["200\u202f000\u202f000\u202f000,00\u00a0€"]
    [w for w in at.text_input if w.label == "Montant (ex. 1234,56)"][0].input("100000000000,01")
    [b for b in at.button if b.label == "Enregistrer le revenu"][0].click()
    at.run()
    assert not at.exception
    # translated, the amount as a French reader writes it
    assert texts(at.error) == ["Refusé : montant : au plus " + plain("100\u202f000\u202f000\u202f000,00\u00a0€")]
