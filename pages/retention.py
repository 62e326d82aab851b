"""Retention: monthly cohorts as a heat map, and new-member retention."""
import plotly.express as px
import polars as pl
import streamlit as st

from cmcore.reports import retention_report
from ui import widgets
from ui.report_page import open_report
from ui.text import t

report, _ = open_report("retention", "Retention", retention_report)
cohorts = report.frames["cohorts"]
if not widgets.empty(cohorts, "No member joined in the twelve months up to the period's end."):
    grid = (cohorts.with_columns(pl.col("cohort").dt.strftime("%Y-%m"))
            .pivot("k", index="cohort", values="retention").sort("cohort"))
    months = [c for c in grid.columns if c != "cohort"]
    figure = px.imshow(grid.select(months).to_numpy() * 100, x=months, y=grid["cohort"].to_list(),
                       color_continuous_scale="Blues", zmin=0, zmax=100, aspect="auto", text_auto=".0f",
                       labels={"x": t("Months after joining"), "y": t("Cohort (month joined)"),
                               "color": "%"})
    widgets.chart(figure.update_yaxes(type="category"), "Share of each cohort active k months after joining (%)")
    st.caption(t("Cohort retention: members grouped by the month they joined; each cell is the share "
                 "of the cohort active in that month."))
    widgets.table(cohorts.with_columns(pl.col("cohort").dt.strftime("%Y-%m")), "cohorts",
                  {"cohort": "Cohort", "k": "Months after joining", "cohort_size": "Cohort size", "active": "Active",
                   "retention": "Retention"}, percents=("retention",))
