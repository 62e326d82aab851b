"""Monetisation for managers: revenue, cash, outstanding, MRR, pipeline, campaigns, and the forms
to record revenue, payments, sponsors, campaigns and delivery."""
import plotly.express as px
import polars as pl
import streamlit as st

from cmcore import community, currencies, i18n, money
from cmcore.reports import Scope
from ui import widgets
from ui.page import filters, open_page
from ui.text import lang, refusal, t, words

STREAMS = {"ads": "Ads", "sponsorship": "Sponsorship", "membership": "Membership", "donation": "Donation",
           "merch": "Merch", "other": "Other"}

principal = open_page("monetisation")
st.title(t("Monetisation"))
f = filters()
report = money.monetisation_report(principal, Scope(f.period, f.platforms, f.tz))
st.caption(t("Amounts per currency, never added across currencies. Revenue per active member uses the "
             "platform filter; the rest is the whole community's."))
widgets.headline(report.metrics)


def with_money(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Minor units → formatted amounts in each row's currency (the language read here, on the
    script's thread)."""
    language = lang()
    return frame.with_columns(
        pl.struct(c, "currency").map_elements(lambda r, c=c: i18n.money(r[c], r["currency"], language)
                                              if r[c] is not None else None, return_dtype=pl.String).alias(c)
        for c in columns)


monthly = report.frames["monthly"]
if not widgets.empty(monthly, "No revenue booked in this period."):
    language = lang()
    months = sorted(monthly["month"].unique())  # months as categories: one bar per month, however few
    chart = px.bar(monthly.sort("month").with_columns(
        currencies.major_expr("booked").alias("amount"), pl.col("stream").replace(words(STREAMS)),
        pl.col("month").replace_strict({m: i18n.month(m, language) for m in months}, return_dtype=pl.String)),
        x="month", y="amount", color="stream", facet_col="currency", facet_col_spacing=0.08,
        category_orders={"month": [i18n.month(m, language) for m in months]},
        labels={"month": "", "amount": t("Booked"), "stream": t("Stream")})
    widgets.chart(chart.update_yaxes(matches=None, showticklabels=True).update_xaxes(type="category"),
                  "Revenue booked per month and stream")
    widgets.table(with_money(monthly.with_columns(pl.col("stream").replace(words(STREAMS))),
                             "booked", "received", "outstanding"), "revenue_by_stream",
                  {"month": "Month", "stream": "Stream", "currency": "Currency", "booked": "Booked",
                   "received": "Received", "outstanding": "Outstanding"}, months=("month",))
st.subheader(t("Sponsorship pipeline"))
widgets.table(with_money(report.frames["pipeline"], "contracted", "delivered", "invoiced", "received"), "pipeline",
              {"currency": "Currency", "contracted": "Contracted", "delivered": "Delivered", "invoiced": "Invoiced",
               "received": "Received"})
st.subheader(t("Campaigns"))
widgets.table(with_money(report.frames["campaigns"], "amount_minor", "ecpm_minor"), "campaigns",
              {"sponsor": "Sponsor", "name": "Campaign", "starts_on": "Starts", "ends_on": "Ends",
               "amount_minor": "Amount", "impressions": "Impressions", "clicks": "Clicks", "ctr": "Click-through rate",
               "engagements": "Engagements", "ecpm_minor": "eCPM", "deliverables_done": "Deliverables done"},
              percents=("ctr", "deliverables_done"))

st.subheader(t("Record"))
sponsors = money.sponsors(principal)
sponsor_names = dict(zip(sponsors["sponsor_id"], sponsors["name"], strict=True))
camps = money.campaigns(principal)
camp_names = dict(zip(camps["id"], camps["name"], strict=True))
lines = report.frames["lines"]
today = community.today()  # the forms' first date: the community's today, not the server's
tabs = st.tabs([t("Revenue"), t("Payment received"), t("Sponsor"), t("Campaign"), t("Delivery"), t("Edit")])


def typing(minor: int, currency: str) -> str:
    """An amount as the reader types it ('1 234,56' in French), for a form to correct."""
    return i18n.number(currencies.major(minor, currency), lang(), currencies.decimals(currency))


def attempt(action, success: str) -> None:
    try:
        action()
    except money.MoneyError as err:
        st.error(t("Refused: {reason}", reason=refusal(err)))
    else:
        st.success(success)


with tabs[0], st.form("add_revenue", clear_on_submit=True):
    stream = st.selectbox(t("Stream"), list(STREAMS), format_func=words(STREAMS).get)
    amount = st.text_input(t("Amount (e.g. 1234.56)"))
    currency = widgets.currency(t("Currency"))
    booked = st.date_input(t("Booked on"), value=today)
    received = st.date_input(t("Received on (empty if not yet)"), value=None)
    sponsor = st.selectbox(t("Sponsor"), [None, *sponsor_names], format_func=lambda s: sponsor_names.get(s, "—"))
    campaign = st.selectbox(t("Campaign"), [None, *camp_names], format_func=lambda c: camp_names.get(c, "—"))
    recurring = st.checkbox(t("Monthly membership (counts in MRR)"))
    description = st.text_input(t("Description"))
    if st.form_submit_button(t("Record the revenue")):
        attempt(lambda: money.add_revenue(principal, stream, money.typed(amount, lang()), currency, booked, received, sponsor, campaign,
                                          recurring, description), t("Recorded."))

with tabs[1]:
    unpaid = lines.filter(pl.col("received_on").is_null())
    if not widgets.empty(unpaid, "Every revenue line has been received."):
        labels = {r["id"]: f"#{r['id']} {i18n.day(r['booked_on'], lang())} {i18n.money(r['amount_minor'], r['currency'], lang())} "
                           f"({t(STREAMS[r['stream']])})" for r in unpaid.iter_rows(named=True)}
        with st.form("mark_received"):
            line = st.selectbox(t("Revenue line"), list(labels), format_func=labels.get)
            paid_on = st.date_input(t("Received on"), value=today)
            if st.form_submit_button(t("Mark as received")):
                attempt(lambda: money.mark_received(principal, line, paid_on), t("Recorded."))

with tabs[2], st.form("add_sponsor", clear_on_submit=True):
    name = st.text_input(t("Name"))
    email = st.text_input(t("Contact email"))
    if st.form_submit_button(t("Add the sponsor")):
        attempt(lambda: money.add_sponsor(principal, name, email), t("Recorded."))

with tabs[3], st.form("add_campaign", clear_on_submit=True):
    sponsor = st.selectbox(t("Sponsor"), list(sponsor_names), format_func=sponsor_names.get)
    name = st.text_input(t("Name"))
    span = st.date_input(t("From – to (inclusive)"), value=(today, today))
    amount = st.text_input(t("Amount (e.g. 1234.56)"))
    currency = widgets.currency(t("Currency"))
    items = st.data_editor(pl.DataFrame({"label": [t("Sponsored posts")], "target": [4], "delivered": [0]}),
                           num_rows="dynamic", key="deliverables_editor",
                           column_config={"label": t("Deliverable"), "target": t("Target"), "delivered": t("Delivered")})
    if st.form_submit_button(t("Add the campaign")):
        rows = [r for r in pl.DataFrame(items).iter_rows(named=True) if r["label"]]
        start, end = (tuple(span) + (None,))[:2] if span else (None, None)
        attempt(lambda: money.add_campaign(principal, sponsor, name, start, end or start, money.typed(amount, lang()), currency,
                                           [{**r, "target": int(r["target"] or 0), "delivered": int(r["delivered"] or 0)}
                                            for r in rows]), t("Recorded."))

with tabs[4], st.form("record_delivery", clear_on_submit=True):
    campaign = st.selectbox(t("Campaign"), list(camp_names), format_func=camp_names.get)
    day = st.date_input(t("Day"), value=today)
    impressions = st.number_input(t("Impressions"), min_value=0, step=1)
    clicks = st.number_input(t("Clicks"), min_value=0, step=1)
    engagements = st.number_input(t("Engagements"), min_value=0, step=1)
    if st.form_submit_button(t("Record the day")):
        attempt(lambda: money.record_delivery(principal, campaign, day, int(impressions), int(clicks), int(engagements)),
                t("Recorded."))

with tabs[5]:
    what = st.radio(t("Edit"), ["revenue", "campaign", "sponsor"], horizontal=True, key="edit_what",
                    format_func=words({"revenue": "Revenue line", "campaign": "Campaign", "sponsor": "Sponsor"}).get)
    if what == "revenue" and not widgets.empty(lines, "No revenue line yet."):
        labels = {r["id"]: f"#{r['id']} {i18n.day(r['booked_on'], lang())} {i18n.money(r['amount_minor'], r['currency'], lang())}"
                  for r in lines.iter_rows(named=True)}
        chosen = st.selectbox(t("Revenue line"), list(labels), format_func=labels.get, key="edit_line")
        line = lines.filter(pl.col("id") == chosen).row(0, named=True)
        with st.form(f"edit_revenue_{chosen}"):
            amount = st.text_input(t("Amount (e.g. 1234.56)"), typing(line["amount_minor"], line["currency"]))
            booked = st.date_input(t("Booked on"), value=line["booked_on"])
            received = st.date_input(t("Received on (empty if not yet)"), value=line["received_on"])
            description = st.text_input(t("Description"), line["description"] or "")
            if st.form_submit_button(t("Save")):
                attempt(lambda: money.update_revenue(principal, chosen, money.typed(amount, lang()), booked, received, description),
                        t("Recorded."))
    if what == "campaign" and not widgets.empty(camps, "No campaign yet."):
        chosen = st.selectbox(t("Campaign"), list(camp_names), format_func=camp_names.get, key="edit_campaign")
        camp = camps.filter(pl.col("id") == chosen).row(0, named=True)
        with st.form(f"edit_campaign_{chosen}"):
            name = st.text_input(t("Name"), camp["name"])
            span = st.date_input(t("From – to (inclusive)"), value=(camp["starts_on"], camp["ends_on"]))
            amount = st.text_input(t("Amount (e.g. 1234.56)"), typing(camp["amount_minor"], camp["currency"]))
            items = st.data_editor(pl.DataFrame(camp["deliverables"] or [], schema={
                "kind": pl.String, "label": pl.String, "target": pl.Int64, "delivered": pl.Int64}),
                num_rows="dynamic", key=f"edit_deliverables_{chosen}", column_order=("label", "target", "delivered"),
                column_config={"label": t("Deliverable"), "target": t("Target"), "delivered": t("Delivered")})
            if st.form_submit_button(t("Save")):
                start, end = (tuple(span) + (None,))[:2] if span else (None, None)
                rows = [{**r, "target": int(r["target"] or 0), "delivered": int(r["delivered"] or 0)}
                        for r in pl.DataFrame(items).iter_rows(named=True) if r["label"]]
                attempt(lambda: money.update_campaign(principal, chosen, name, start, end or start, money.typed(amount, lang()), rows),
                        t("Recorded."))
    if what == "sponsor" and not widgets.empty(sponsors, "No sponsor yet: add one on the Monetisation page."):
        chosen = st.selectbox(t("Sponsor"), list(sponsor_names), format_func=sponsor_names.get, key="edit_sponsor")
        row = sponsors.filter(pl.col("sponsor_id") == chosen).row(0, named=True)
        with st.form(f"edit_sponsor_{chosen}"):
            name = st.text_input(t("Name"), row["name"])
            email = st.text_input(t("Contact email"), row["contact_email"] or "")
            if st.form_submit_button(t("Save")):
                attempt(lambda: money.update_sponsor(principal, chosen, name, email), t("Recorded."))
