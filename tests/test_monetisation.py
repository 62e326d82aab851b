"""Monetisation on a hand-built set of sponsors, campaigns, delivery and revenue lines (EUR and
USD), the validation of the forms, and the isolation of each sponsor's data.

Period 1–10 March 2026 (UTC), previous period 19–28 February, "now" 20 March 2026."""
import json
import re
from datetime import UTC, date, datetime

import polars as pl
import pytest
import sqlalchemy as sa

from cmcore import db, frames, money, sponsor_html
from cmcore.access import AccessDenied, Principal
from cmcore.reports import Scope
from cmcore.periods import Period
from tests.builders import Community, _insert, user
from tests.pages import as_user, choose_period, csv_rows, download, excel_rows

MANAGER = Principal("manon", "manager")
MARCH = Period(date(2026, 3, 1), date(2026, 3, 11))
NOW = datetime(2026, 3, 20, tzinfo=UTC)


def scope(period: Period = MARCH) -> Scope:
    return Scope(period, None, "UTC", NOW)


def campaign(sponsor: int, name: str, start: date, end: date, amount: int, currency: str, deliverables: list) -> int:
    return _insert("campaign", sponsor_id=sponsor, name=name, starts_on=start, ends_on=end, amount_minor=amount,
                   currency=currency, deliverables=json.dumps(deliverables))


def deliver(campaign_id: int, day: date, impressions: int, clicks: int, engagements: int) -> None:
    _insert("campaign_delivery", returning=None, campaign_id=campaign_id, day=day, impressions=impressions,
            clicks=clicks, engagements=engagements)


@pytest.fixture
def books(database):
    c = Community()
    a, b = c.sponsor("Alpha"), c.sponsor("Beta")
    a1 = campaign(a, "Alpha spring", date(2026, 2, 20), date(2026, 3, 5), 100_000, "EUR",
                  [{"kind": "post", "label": "Posts", "target": 4, "delivered": 2},
                   {"kind": "event", "label": "Talk", "target": 1, "delivered": 1}])
    b1 = campaign(b, "Beta launch", date(2026, 3, 2), date(2026, 3, 20), 50_000, "USD",
                  [{"kind": "post", "label": "Posts", "target": 2, "delivered": 2}])
    deliver(a1, date(2026, 2, 28), 1000, 10, 30)  # before the period
    deliver(a1, date(2026, 3, 1), 2000, 30, 50)
    deliver(a1, date(2026, 3, 2), 1000, 20, 10)
    deliver(b1, date(2026, 3, 3), 5000, 50, 100)
    c.revenue("sponsorship", 100_000, "EUR", date(2026, 3, 1), date(2026, 3, 8), sponsor_id=a, campaign_id=a1)
    c.revenue("sponsorship", 50_000, "USD", date(2026, 3, 2), sponsor_id=b, campaign_id=b1)  # not received
    c.revenue("membership", 20_000, "EUR", date(2026, 3, 1), date(2026, 3, 1), recurring=True)
    c.revenue("ads", 30_000, "EUR", date(2026, 2, 25), date(2026, 3, 3))  # booked before, paid during
    c.revenue("merch", 7_000, "EUR", date(2026, 3, 9))  # not received
    c.revenue("donation", 5_000, "EUR", date(2026, 3, 15))  # after the period
    members = [c.member(f"m{i}", datetime(2026, 1, 1, tzinfo=UTC)) for i in range(4)]
    thread = c.act(members[0], "thread", datetime(2026, 2, 20, tzinfo=UTC))
    c.act(members[1], "reply", datetime(2026, 2, 21, tzinfo=UTC), parent=thread)  # MAU on 28 Feb: 2
    for m in members[2:]:
        c.act(m, "reply", datetime(2026, 3, 5, tzinfo=UTC), parent=thread)  # MAU on 10 March: 4
    return {"a": a, "b": b, "a1": a1, "b1": b1}


def values(report) -> dict:
    return {m.key: (m.value, m.previous) for m in report.metrics}


def test_revenue_cash_outstanding_mrr_and_per_member(books):
    assert values(money.monetisation_report(MANAGER, scope())) == {
        "booked_EUR": (127_000, 30_000), "booked_USD": (50_000, 0),
        "received_EUR": (150_000, 0),  # paid in the period, whenever booked
        "outstanding_EUR": (7_000, 30_000), "outstanding_USD": (50_000, 0),
        "mrr_EUR": (20_000, 0),
        "per_member_EUR": (127_000 / 4, 30_000 / 2), "per_member_USD": (50_000 / 4, 0.0),
    }


def test_revenue_per_active_member_counts_the_30_days_up_to_the_period_s_last_day(database):
    """MARCH ends on 10 March: its MAU counts the members active from 9 February 00:00 on (30
    days), not one active on 8 February."""
    c = Community()
    c.revenue("ads", 30_000, "EUR", date(2026, 3, 5))
    for name, at in (("in", datetime(2026, 3, 10, 23, 59, tzinfo=UTC)), ("first", datetime(2026, 2, 9, tzinfo=UTC)),
                     ("out", datetime(2026, 2, 8, 23, 59, tzinfo=UTC))):
        c.act(c.member(name, datetime(2026, 1, 1, tzinfo=UTC)), "thread", at)
    assert values(money.monetisation_report(MANAGER, scope()))["per_member_EUR"] == (15_000.0, 0)  # in, first


def test_a_rerun_is_a_lookup_and_a_write_is_seen_at_once(books):
    first = money.monetisation_report(MANAGER, scope())
    with frames.recording() as sent:
        assert money.monetisation_report(Principal("ada", "admin"), scope()) is first and sent == []
    Community().revenue("ads", 3_000, "EUR", date(2026, 3, 10))
    assert values(money.monetisation_report(MANAGER, scope()))["booked_EUR"] == (130_000, 30_000)


def test_revenue_per_stream_and_month(books):
    monthly = money.monetisation_report(MANAGER, scope()).frames["monthly"]
    assert monthly.select("stream", "currency", "booked", "received", "outstanding").rows() == [
        ("membership", "EUR", 20_000, 20_000, 0), ("merch", "EUR", 7_000, 0, 7_000),
        ("sponsorship", "EUR", 100_000, 100_000, 0), ("sponsorship", "USD", 50_000, 0, 50_000)]


def test_pipeline_and_campaign_delivery(books):
    report = money.monetisation_report(MANAGER, scope())
    assert report.frames["pipeline"].rows() == [
        ("EUR", 100_000, 60_000, 100_000, 100_000),  # 3 of 5 deliverables done
        ("USD", 50_000, 50_000, 50_000, 0)]
    delivery = report.frames["campaigns"].select("name", "impressions", "clicks", "engagements", "ctr", "ecpm_minor",
                                                 "deliverables_done", "sponsor")
    assert delivery.rows() == [
        # Alpha spring started before the period: only 1–2 March count; eCPM over its lifetime.
        ("Alpha spring", 3000, 50, 60, pytest.approx(50 / 3000), 25_000.0, 0.6, "Alpha"),
        ("Beta launch", 5000, 50, 100, 0.01, 10_000.0, 1.0, "Beta"),
    ]
    # Alpha spring's last day (5 March, included) opens a period: it is still running then.
    from_its_last_day = money.monetisation_report(MANAGER, scope(Period(date(2026, 3, 5), date(2026, 3, 11))))
    assert [row[0] for row in from_its_last_day.frames["pipeline"].rows()] == ["EUR", "USD"]


def test_a_sponsor_report(books):
    alpha = Principal("alpha", "sponsor", books["a"])
    report = money.sponsor_report(alpha, scope())
    assert report.sponsor["name"] == "Alpha"
    assert values(report) == {"impressions": (3000, 1000), "clicks": (50, 10),
                              "ctr": (pytest.approx(50 / 3000), 0.01), "engagements": (60, 30), "campaigns": (1, None)}
    assert report.daily.rows() == [(date(2026, 3, 1), "Alpha spring", 2000, 30, 50),
                                   (date(2026, 3, 2), "Alpha spring", 1000, 20, 10)]
    assert report.deliverables.select("label", "target", "delivered", "share_delivered").rows() == [
        ("Posts", 4, 2, 0.5), ("Talk", 1, 1, 1.0)]
    html = sponsor_html.render(report, MARCH, "fr")
    assert "Rapport sponsor : Alpha" in html and "Alpha spring" in html and "plotly" in html.lower()


# What each sponsor's report holds, counted by hand from `books` (period 1–10 March, previous 19–28 Feb).
SEEN = {
    "a": {"name": "Alpha", "other": "Beta", "campaigns": ["Alpha spring"],
          "metrics": {"impressions": (3000, 1000), "clicks": (50, 10), "ctr": (pytest.approx(50 / 3000), 0.01),
                      "engagements": (60, 30), "campaigns": (1, None)},
          "daily": [(date(2026, 3, 1), "Alpha spring", 2000, 30, 50), (date(2026, 3, 2), "Alpha spring", 1000, 20, 10)],
          "deliverables": [("Alpha spring", "Posts", 4, 2), ("Alpha spring", "Talk", 1, 1)],
          "delivery_days": [(date(2026, 2, 28), 1000), (date(2026, 3, 1), 2000), (date(2026, 3, 2), 1000)],
          "revenue": [("sponsorship", 100_000, "EUR")]},
    "b": {"name": "Beta", "other": "Alpha", "campaigns": ["Beta launch"],
          "metrics": {"impressions": (5000, 0), "clicks": (50, 0), "ctr": (0.01, None),
                      "engagements": (100, 0), "campaigns": (1, None)},
          "daily": [(date(2026, 3, 3), "Beta launch", 5000, 50, 100)],
          "deliverables": [("Beta launch", "Posts", 2, 2)],
          "delivery_days": [(date(2026, 3, 3), 5000)],
          "revenue": [("sponsorship", 50_000, "USD")]},
}
OTHER = {"a": "b", "b": "a"}


def viewers(books, which: str) -> list[tuple[Principal, int | None]]:
    """Who reads sponsor `which`'s rows: its own user (asking for nothing, or for itself), and a
    manager choosing it."""
    own = Principal(f"user{which}", "sponsor", books[which])
    return [(own, None), (own, books[which]), (MANAGER, books[which])]


@pytest.mark.parametrize("which", ["a", "b"])
def test_each_sponsor_sees_only_its_own_rows_whoever_asks(books, which):
    seen = SEEN[which]
    for viewer, chosen in viewers(books, which):
        report = money.sponsor_report(viewer, scope(), chosen)
        assert report.sponsor["name"] == seen["name"]
        assert values(report) == seen["metrics"]
        assert report.campaigns["name"].to_list() == seen["campaigns"]
        assert report.daily.rows() == seen["daily"]
        assert report.deliverables.select("campaign", "label", "target", "delivered").rows() == seen["deliverables"]
        assert money.campaigns(viewer, chosen)["name"].to_list() == seen["campaigns"]
        assert money.delivery(viewer, chosen).sort("day").select("day", "impressions").rows() == seen["delivery_days"]
        assert money.revenue_lines(viewer, chosen).select("stream", "amount_minor", "currency").rows() == seen["revenue"]
        html = sponsor_html.render(report, MARCH, "en")
        text = re.sub(r"<script.*?</script>", "", html, flags=re.S)  # plotly.js itself says "Alpha"
        assert f"Sponsor report: {seen['name']}" in text and seen["other"] not in text
        assert all(name not in html for name in SEEN[OTHER[which]]["campaigns"])  # the chart's data too
    own = viewers(books, which)[0][0]
    assert money.sponsors(own).select("sponsor_id", "name").rows() == [(books[which], seen["name"])]
    other = books[OTHER[which]]
    for call in (lambda: money.sponsor_report(own, scope(), other), lambda: money.campaigns(own, other),
                 lambda: money.delivery(own, other), lambda: money.revenue_lines(own, other),
                 lambda: money.monetisation_report(own, scope())):
        with pytest.raises(AccessDenied, match="its own campaigns only|may not do this"):
            call()


def test_a_manager_reads_every_sponsor_when_choosing_none(books):
    assert money.sponsors(MANAGER)["name"].to_list() == ["Alpha", "Beta"]
    assert sorted(money.campaigns(MANAGER)["name"].to_list()) == ["Alpha spring", "Beta launch"]
    assert money.delivery(MANAGER)["impressions"].sum() == 1000 + 2000 + 1000 + 5000
    with pytest.raises(money.MoneyError, match="sponsor: choose one"):
        money.sponsor_report(MANAGER, scope())
    for role in ("staff", None):
        with pytest.raises(AccessDenied):
            money.campaigns(Principal("s", role) if role else None)


def test_deliverables_are_checked_and_stored_as_a_person_typed_them(books):
    """A label trimmed, the kind "other" unless given, nothing delivered yet is allowed (0); a
    target from 1 to MAX_COUNT, a delivered count from 0 to it, a label always."""
    made = money.add_campaign(MANAGER, books["a"], "Autumn", date(2026, 9, 1), date(2026, 9, 30), "10", "EUR",
                              [{"label": " Posts ", "target": 3}, {"kind": "event", "label": "Talk", "target": 1,
                                                                   "delivered": money.MAX_COUNT}])
    autumn = money.campaigns(MANAGER).filter(pl.col("id") == made).row(0, named=True)
    assert autumn["deliverables"] == [{"kind": "other", "label": "Posts", "target": 3, "delivered": 0},
                                      {"kind": "event", "label": "Talk", "target": 1, "delivered": money.MAX_COUNT}]
    bounds = f"target is a whole number from 1 to {money.MAX_COUNT}, delivered from 0"
    refusals = [("deliverable 1: a label is needed", [{"label": "  ", "target": 1}]),
                (f"deliverable 2: {bounds}", [{"label": "a", "target": 1}, {"label": "b", "target": 1, "delivered": -1}])]
    refusals += [(f"deliverable 1: {bounds}", [{"label": "a", **bad}])
                 for bad in ({"target": 0}, {"target": money.MAX_COUNT + 1}, {"target": 2.5},
                             {"target": 1, "delivered": 1.5}, {"target": 1, "delivered": money.MAX_COUNT + 1})]
    for message, items in refusals:
        with pytest.raises(money.MoneyError) as refused:
            money.add_campaign(MANAGER, books["a"], "Bad", date(2026, 9, 1), date(2026, 9, 2), "10", "EUR", items)
        assert str(refused.value) == message


def test_a_campaign_s_deliverables_are_read_back_whole(books):
    """The correction form starts from what is read: each deliverable's kind, label, target and
    progress come back as they were written (a kind lost here would be saved back as "other")."""
    alpha = money.campaigns(MANAGER).filter(pl.col("id") == books["a1"]).row(0, named=True)
    assert alpha["deliverables"] == [{"kind": "post", "label": "Posts", "target": 4, "delivered": 2},
                                     {"kind": "event", "label": "Talk", "target": 1, "delivered": 1}]


@pytest.mark.parametrize("text, currency, minor", [
    ("1234.56", "EUR", 123_456), ("1 234,56", "EUR", 123_456), ("1,234.56", "USD", 123_456),
    ("12", "eur", 1_200), ("0,5", "EUR", 50), ("5000", "JPY", 5_000),
    # as people paste them: Swiss apostrophes, the narrow and the plain no-break spaces of French
    ("1'234.56", "CHF", 123_456), ("1\u202f234,56", "EUR", 123_456), ("1\u00a0234,56", "EUR", 123_456),
    # the smallest amount of each: one minor unit
    ("0.01", "EUR", 1), ("0.001", "KWD", 1), ("1", "JPY", 1)])
def test_amounts_in_minor_units(text, currency, minor):
    assert money.parse_amount(text, currency) == minor


@pytest.mark.parametrize("text, currency, message", [
    ("12.345", "EUR", "EUR has 2 decimal"), ("10.5", "JPY", "JPY has 0"), ("-5", "EUR", "not an amount"),
    ("abc", "EUR", "not an amount"), ("0", "EUR", "more than zero"), ("10", "", r"currency: \(empty\)"),
    ("10", "XYZ", "currency: XYZ")])
def test_bad_amounts_are_refused_with_the_field(text, currency, message):
    with pytest.raises(money.MoneyError, match=message):
        money.parse_amount(text, currency)


def test_forms_are_validated_and_audited(books):
    with pytest.raises(money.MoneyError, match="ends_on"):
        money.add_campaign(MANAGER, books["a"], "Backwards", date(2026, 3, 5), date(2026, 3, 1), "10", "EUR", [])
    with pytest.raises(money.MoneyError, match="deliverable 1"):
        money.add_campaign(MANAGER, books["a"], "Bad", date(2026, 3, 1), date(2026, 3, 5), "10", "EUR",
                           [{"label": "Posts", "target": 0}])
    with pytest.raises(money.MoneyError, match="received_on"):
        money.add_revenue(MANAGER, "ads", "10", "EUR", date(2026, 3, 5), date(2026, 3, 1))
    with pytest.raises(money.MoneyError, match="the campaign is in EUR"):
        money.add_revenue(MANAGER, "sponsorship", "10", "USD", date(2026, 3, 5), campaign_id=books["a1"])
    with pytest.raises(money.MoneyError, match="not a campaign of this sponsor"):
        money.add_revenue(MANAGER, "sponsorship", "10", "EUR", date(2026, 3, 5), sponsor_id=books["b"],
                          campaign_id=books["a1"])
    with pytest.raises(money.MoneyError, match="only membership"):
        money.add_revenue(MANAGER, "ads", "10", "EUR", date(2026, 3, 5), recurring=True)
    with pytest.raises(money.MoneyError, match="exists already"):
        money.add_sponsor(MANAGER, "alpha")
    with pytest.raises(money.MoneyError, match="outside the campaign"):
        money.record_delivery(MANAGER, books["a1"], date(2026, 4, 1), 10, 1, 1)
    with pytest.raises(AccessDenied):
        money.add_sponsor(Principal("alpha", "sponsor", books["a"]), "Gamma")
    line = money.add_revenue(MANAGER, "sponsorship", "250,00", "EUR", date(2026, 3, 5), campaign_id=books["a1"])
    money.mark_received(MANAGER, line, date(2026, 3, 6))
    with pytest.raises(money.MoneyError, match="was received on 2026-03-06"):
        money.mark_received(MANAGER, line, date(2026, 3, 7))
    money.record_delivery(MANAGER, books["a1"], date(2026, 3, 2), 1500, 25, 12)  # corrects the day
    with db.engine().connect() as conn:
        row = conn.execute(sa.text("SELECT sponsor_id, amount_minor, received_on FROM revenue WHERE id = :i"),
                           {"i": line}).one()
        actions = conn.execute(sa.text("SELECT action FROM audit_log WHERE actor = 'manon' ORDER BY id")).scalars().all()
        impressions = conn.execute(sa.text("SELECT impressions FROM campaign_delivery WHERE campaign_id = :c"
                                           " AND day = '2026-03-02'"), {"c": books["a1"]}).scalar_one()
    assert tuple(row) == (books["a"], 25_000, date(2026, 3, 6))  # the campaign's sponsor was filled in
    assert actions == ["revenue.add", "revenue.received", "campaign.delivery"]
    assert impressions == 1500


def test_a_write_s_audit_row_holds_what_it_wrote_and_a_payment_may_come_the_day_it_is_booked(books):
    gamma = money.add_sponsor(MANAGER, " Gamma ", "ops@gamma.example")
    same_day = money.add_revenue(MANAGER, "ads", "10", "EUR", date(2026, 3, 5), date(2026, 3, 5))
    with db.engine().connect() as conn:
        audited = conn.execute(sa.text("SELECT action, entity, entity_id, detail FROM audit_log WHERE actor = 'manon'"
                                       " ORDER BY id")).all()
    assert [(a, e, i) for a, e, i, _ in audited] == [("sponsor.add", "sponsor", str(gamma)),
                                                     ("revenue.add", "revenue", str(same_day))]
    assert audited[0][3] == {"n": "Gamma", "e": "ops@gamma.example"}  # jsonb
    for booked, received in ((date(2026, 3, 5), date(2026, 3, 4)), (date(2026, 3, 5), date(2999, 1, 1))):
        with pytest.raises(money.MoneyError) as refused:
            money.add_revenue(MANAGER, "ads", "10", "EUR", booked, received)
        assert str(refused.value) == "received_on: between the booking date and today"


def test_a_payment_is_recorded_once_and_audited_on_its_line(books):
    line = money.add_revenue(MANAGER, "ads", "10", "EUR", date(2026, 3, 5))
    money.mark_received(MANAGER, line, date(2026, 3, 6))
    with pytest.raises(money.MoneyError) as refused:
        money.mark_received(MANAGER, line, date(2026, 3, 7))
    assert str(refused.value) == f"revenue: line {line} was received on 2026-03-06"
    with pytest.raises(money.MoneyError) as refused:
        money.update_revenue(MANAGER, line + 1000, "10", date(2026, 3, 5), None, "")
    assert str(refused.value) == f"revenue: no line {line + 1000}"
    with db.engine().connect() as conn:
        audited = conn.execute(sa.text("SELECT entity, entity_id, detail FROM audit_log WHERE action = 'revenue.received'")).one()
    assert tuple(audited) == ("revenue", str(line), {"r": "2026-03-06"})


def test_a_row_the_database_refuses_is_a_refusal_naming_its_rule(books):
    with pytest.raises(money.MoneyError) as refused:  # a sponsor's campaigns have distinct names
        money.add_campaign(MANAGER, books["a"], "Alpha spring", date(2026, 9, 1), date(2026, 9, 2), "10", "EUR", [])
    assert str(refused.value) == "refused by the database (campaign_sponsor_id_name_key)"


def test_a_sponsor_s_daily_delivery_stops_at_the_period_s_end(books):
    deliver(books["b1"], date(2026, 3, 11), 700, 7, 7)  # MARCH ends before 11 March
    beta = money.sponsor_report(Principal("beta", "sponsor", books["b"]), scope())
    assert beta.daily.rows() == [(date(2026, 3, 3), "Beta launch", 5000, 50, 100)]


def test_managers_correct_lines_campaigns_and_sponsors(books):
    line = money.add_revenue(MANAGER, "ads", "10", "EUR", date(2026, 3, 5))
    money.update_revenue(MANAGER, line, "12,50", date(2026, 3, 4), date(2026, 3, 6), "Corrected")
    with pytest.raises(money.MoneyError, match="received_on"):
        money.update_revenue(MANAGER, line, "12,50", date(2026, 3, 7), date(2026, 3, 6), "")
    money.update_campaign(MANAGER, books["a1"], "Alpha spring (extended)", date(2026, 2, 20), date(2026, 3, 10), "1200",
                          [{"kind": "post", "label": "Posts", "target": 4, "delivered": 4}])
    with pytest.raises(money.MoneyError, match="ends_on"):
        money.update_campaign(MANAGER, books["a1"], "x", date(2026, 3, 10), date(2026, 3, 1), "1", [])
    money.update_sponsor(MANAGER, books["b"], "Beta Labs", "hello@beta.example")
    with pytest.raises(AccessDenied):
        money.update_sponsor(Principal("alpha", "sponsor", books["a"]), books["a"], "Mine now", None)
    with db.engine().connect() as conn:
        assert tuple(conn.execute(sa.text("SELECT amount_minor, booked_on, received_on, description FROM revenue"
                                          " WHERE id = :i"), {"i": line}).one()) == (
            1_250, date(2026, 3, 4), date(2026, 3, 6), "Corrected")
        edits = conn.execute(sa.text("SELECT action FROM audit_log WHERE action LIKE '%.edit' ORDER BY id")).scalars().all()
    assert edits == ["revenue.edit", "campaign.edit", "sponsor.edit"]
    report = money.monetisation_report(MANAGER, scope())
    alpha = report.frames["campaigns"].filter(pl.col("campaign_id") == books["a1"]).row(0, named=True)
    assert (alpha["name"], alpha["amount_minor"], alpha["deliverables_done"]) == ("Alpha spring (extended)", 120_000, 1.0)
    assert money.sponsors(MANAGER)["name"].to_list() == ["Alpha", "Beta Labs"]


def test_money_never_mixes_currencies(books, app):
    """Each currency is summed on its own: a USD line moves only the USD figures, a JPY line (no
    decimals) gets figures of its own, and the page shows each in its currency."""
    c = Community()
    c.revenue("ads", 2_500, "USD", date(2026, 3, 4), date(2026, 3, 6))
    c.revenue("donation", 5_000, "JPY", date(2026, 3, 5))
    assert values(money.monetisation_report(MANAGER, scope())) == {
        "booked_EUR": (127_000, 30_000), "booked_JPY": (5_000, 0), "booked_USD": (52_500, 0),
        "received_EUR": (150_000, 0), "received_USD": (2_500, 0),
        "outstanding_EUR": (7_000, 30_000), "outstanding_JPY": (5_000, 0), "outstanding_USD": (50_000, 0),
        "mrr_EUR": (20_000, 0),
        "per_member_EUR": (127_000 / 4, 30_000 / 2), "per_member_JPY": (5_000 / 4, 0.0),
        "per_member_USD": (52_500 / 4, 0.0),
    }
    report = money.monetisation_report(MANAGER, scope())
    assert report.frames["monthly"].filter(pl.col("currency") != "EUR").rows() == [
        (date(2026, 3, 1), "ads", "USD", 2_500, 2_500, 0), (date(2026, 3, 1), "donation", "JPY", 5_000, 0, 5_000),
        (date(2026, 3, 1), "sponsorship", "USD", 50_000, 0, 50_000)]
    user("manon", "manager")
    at = as_user(app, "manon")
    at.switch_page("pages/monetisation.py").run()
    at = choose_period(at, date(2026, 3, 1), date(2026, 3, 10))
    shown = {m.label: m.value for m in at.metric}
    assert {k: v for k, v in shown.items() if k.startswith("Revenus comptabilisés")} == {
        "Revenus comptabilisés (EUR)": "1\u202f270,00\u00a0€", "Revenus comptabilisés (JPY)": "5\u202f000\u00a0JPY",
        "Revenus comptabilisés (USD)": "525,00\u00a0$US"}


SHOWN = {  # the sponsor report page in French, per sponsor: headline, then each download's rows
    "a": {"metrics": ["3\u202f000", "50", "1,7\u00a0%", "60", "1"],
          "campaigns": [["Alpha spring", "2026-02-20", "2026-03-05", "3000", "50", "0.016666666666666666", "60", "0.6"]],
          "deliverables": [["false", "Alpha spring", "Posts", "2", "4", "0.5"], ["true", "Alpha spring", "Talk", "1", "1", "1.0"]],
          "delivery": [["2026-03-01", "Alpha spring", "2000", "30", "50"], ["2026-03-02", "Alpha spring", "1000", "20", "10"]]},
    "b": {"metrics": ["5\u202f000", "50", "1,0\u00a0%", "100", "1"],
          "campaigns": [["Beta launch", "2026-03-02", "2026-03-20", "5000", "50", "0.01", "100", "1.0"]],
          "deliverables": [["true", "Beta launch", "Posts", "2", "2", "1.0"]],
          "delivery": [["2026-03-03", "Beta launch", "5000", "50", "100"]]},
}


def as_written(cell: object, text: str) -> object:
    """The CSV cell `text` as the Excel cell `cell` holds it (days, flags, numbers)."""
    if isinstance(cell, datetime):
        return datetime.fromisoformat(text)
    if isinstance(cell, bool):
        return text == "true"
    if isinstance(cell, int | float):
        return pytest.approx(float(text))
    return text


@pytest.mark.parametrize("which", ["a", "b"])
@pytest.mark.parametrize("who", ["sponsor", "manager"])
def test_the_sponsor_report_page_and_its_downloads_hold_one_sponsor(app, books, which, who):
    user("manon", "manager")
    user("alpha", "sponsor", sponsor_id=books["a"])
    user("beta", "sponsor", sponsor_id=books["b"])
    at = as_user(app, {"a": "alpha", "b": "beta"}[which] if who == "sponsor" else "manon")
    if who == "manager":
        at.switch_page("pages/sponsor_report.py").run()
        at.selectbox(key="report_sponsor").set_value(books[which]).run()
    at = choose_period(at, date(2026, 3, 1), date(2026, 3, 10))
    assert not at.exception
    seen, shown = SEEN[which], SHOWN[which]
    assert [e.value for e in at.title] == [f"Rapport sponsor : {seen['name']}"]
    assert [m.value for m in at.metric] == shown["metrics"]
    for table in ("campaigns", "deliverables", "delivery"):
        rows = csv_rows(download(at, f"{table}_csv"))
        assert rows[1:] == shown[table], table
        sheet = excel_rows(download(at, f"{table}_xlsx"))
        assert sheet == [[as_written(c, v) for c, v in zip(r, row, strict=True)] for r, row in zip(sheet, rows, strict=True)]
        assert len(sheet) == len(rows), table
    html = download(at, "report_html").decode()
    text = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert f"Rapport sponsor : {seen['name']}" in text and seen["other"] not in text
    assert all(name not in html for name in SEEN[OTHER[which]]["campaigns"])


def a_zone_on_another_day() -> str:
    """A time zone whose date is not the server's now (UTC-11 before 11:00 UTC, else UTC+14)."""
    return "Pacific/Pago_Pago" if datetime.now(UTC).hour < 11 else "Pacific/Kiritimati"


def test_the_forms_dates_start_on_the_community_s_today_not_the_server_s(books, app):
    from zoneinfo import ZoneInfo

    from cmcore import community

    zone = a_zone_on_another_day()
    community.set_setting(MANAGER, "timezone", zone)
    theirs = datetime.now(ZoneInfo(zone)).date()
    assert theirs != date.today()  # else the test could not tell the two apart
    user("manon", "manager")
    at = as_user(app, "manon")
    at.switch_page("pages/monetisation.py").run()
    assert not at.exception
    dated = {}
    for d in at.date_input:  # the first of each label (the Edit tab's show the chosen line's own dates)
        dated.setdefault(d.label, d.value)
    assert dated["Comptabilisé le"] == dated["Encaissé le"] == dated["Jour"] == theirs
    assert dated["Du – au (inclus)"] == (theirs, theirs)
