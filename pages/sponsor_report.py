"""Sponsor report: a sponsor's own campaigns (managers choose the sponsor), with downloads."""
import polars as pl
import streamlit as st

from cmcore import money, sponsor_html
from cmcore.reports import Scope
from ui import widgets
from ui.page import filters, open_page
from ui.text import lang, plain, t

principal = open_page("sponsor_report")
f = filters()
chosen = None
if principal.role != "sponsor":
    choices = money.sponsors(principal)
    if widgets.empty(choices, "No sponsor yet: add one on the Monetisation page."):
        st.stop()
    names = dict(zip(choices["sponsor_id"], choices["name"], strict=True))
    chosen = st.selectbox(t("Sponsor"), list(names), format_func=names.get, key="report_sponsor")
report = money.sponsor_report(principal, Scope(f.period, None, f.tz), chosen)
st.title(t("Sponsor report: {sponsor}", sponsor=plain(report.sponsor["name"])))
st.caption(t("Your campaigns running in the period, what they delivered and the audience reached."))
widgets.headline(report.metrics)
st.download_button(t("Download the report (HTML, opens offline)"),
                   sponsor_html.render(report, f.period, lang()).encode("utf-8"),
                   sponsor_html.file_name(f.period), "text/html", key="report_html")
if widgets.empty(report.campaigns, "No campaign of yours ran in this period: choose another period."):
    st.stop()
if not report.daily.is_empty():
    widgets.chart(sponsor_html.delivery_figure(report.daily, lang()), "Delivery over time")
st.subheader(t("Campaigns"))
widgets.table(report.campaigns, "campaigns", {"name": "Campaign", "starts_on": "Starts", "ends_on": "Ends",
                                              "impressions": "Impressions", "clicks": "Clicks", "ctr": "Click-through rate",
                                              "engagements": "Engagements", "deliverables_done": "Deliverables done"},
              percents=("ctr", "deliverables_done"))
st.subheader(t("Deliverables"))
widgets.table(report.deliverables.with_columns((pl.col("delivered") >= pl.col("target")).alias("done")),
              "deliverables", {"done": "Done", "campaign": "Campaign", "label": "Deliverable", "delivered": "Delivered",
                               "target": "Target", "share_delivered": "Share delivered"}, percents=("share_delivered",))
st.subheader(t("Delivery per day"))
widgets.table(report.daily, "delivery", {"day": "Day", "campaign": "Campaign", "impressions": "Impressions",
                                         "clicks": "Clicks", "engagements": "Engagements"})
