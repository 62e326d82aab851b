"""Responsiveness: time to first response, SLA, unanswered backlog, who answers first."""
import plotly.express as px
import polars as pl
import streamlit as st

from cmcore import community
from cmcore.reports import responsiveness_report
from ui import widgets
from ui.report_page import open_report
from ui.text import t

report, _ = open_report("responsiveness", "Responsiveness", responsiveness_report)
st.caption(t("SLA: a first response within {hours} h (a setting).",
             hours=community.get_settings()["response_sla_hours"]))
weekly, responders = report.frames["weekly"], report.frames["responders"]
if not widgets.empty(weekly):
    widgets.chart(px.line(weekly.rename({"week": t("Week"), "median": t("Median"), "p90": t("90th percentile")}),
                          x=t("Week"), y=[t("Median"), t("90th percentile")], markers=True)
                  .update_layout(yaxis_title=t("Hours"), xaxis_title=""),
                  "Time to first response per week of creation")
    names = {"staff": t("Staff"), "community": t("Community")}
    widgets.chart(px.pie(responders.with_columns(pl.col("responder").replace(names)),
                         names="responder", values="first_responses", hole=0.5),
                  "Who gave the first responses")
st.subheader(t("Unanswered backlog"))
if not widgets.empty(report.frames["backlog"], "No unanswered thread in this period."):
    widgets.table(report.frames["backlog"], "unanswered_backlog",
                  {"title": "Title", "platform": "Platform", "author": "Author", "created_at": "Created",
                   "age_hours": "Age", "url": "Link"}, links=("url",), hours=("age_hours",))
