"""Reputation: mentions, reach, sentiment, crisis alerts."""
import plotly.express as px
import streamlit as st

from cmcore import i18n
from cmcore.reports import reputation_report
from ui import widgets
from ui.report_page import open_report
from ui.text import lang, mention_words, t

report, _ = open_report("reputation", "Reputation", reputation_report)
st.caption(t("Mentions are what is said outside the community: the platform filter does not apply."))
daily, alerts = report.frames["daily"], report.frames["alerts"]
if not widgets.empty(daily):
    labels = {"day": t("Day"), "source": t("Source"), "mentions": t("Mentions"), "reach": t("Reach")}
    widgets.chart(px.bar(daily.rename(labels), x=t("Day"), y=t("Mentions"), color=t("Source")),
                  "Mentions per day and source", counts=True)
    widgets.chart(px.bar(daily.rename(labels), x=t("Day"), y=t("Reach"), color=t("Source")), "Reach per day", counts=True)
st.subheader(t("Crisis alerts"))
if alerts.is_empty():
    st.success(t("No crisis alert in this period."))
else:
    for row in alerts.iter_rows(named=True):
        st.error(t("{day}: {count} negative {count|mention|mentions} (usual: {mean} ± {std} a day).", day=i18n.day(row["day"], lang()),
                   count=i18n.number(row["negative"], lang()), mean=i18n.number(row["trailing_mean"], lang(), 1),
                   std=i18n.number(row["trailing_std"], lang(), 1)))
    widgets.table(mention_words(report.frames["alert_mentions"]), "alert_mentions",
                  {"created_at": "Date", "source": "Source", "author": "Author", "body": "Text", "reach": "Reach",
                   "lang": "Language", "tool_sentiment": "Tool's sentiment", "url": "Link"}, links=("url",))
