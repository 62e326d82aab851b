"""Retention: monthly cohorts as a heat map, and new-member retention."""
from datetime import timedelta

import plotly.express as px
import polars as pl
import streamlit as st

from cmcore import i18n
from cmcore.reports import retention_report
from ui import widgets
from ui.report_page import open_report
from ui.text import lang, t

report, scope = open_report("retention", "Retention", retention_report)
cohorts = report.frames["cohorts"]
if not widgets.empty(cohorts, "No member joined in the twelve months up to the period's end."):
    language = lang()
    last_day = scope.period.end - timedelta(days=1)
    last_month = last_day.replace(day=1)
    # the period stops before its last month is over, or that month is still going on
    partial = (last_day + timedelta(days=1)).day != 1 or last_day >= scope.now.date()
    cells = cohorts.with_columns(
        ((pl.col("cohort").dt.offset_by(pl.format("{}mo", pl.col("k"))) == last_month) & partial).alias("partial"))
    names = {c: i18n.month(c, language) for c in cells["cohort"].unique()}
    grid = (cells.with_columns(pl.when(~pl.col("partial")).then(pl.col("retention")).alias("retention"))
            .pivot("k", index="cohort", values="retention").sort("cohort"))
    months = [c for c in grid.columns if c != "cohort"]
    figure = px.imshow(grid.select(months).to_numpy().astype(float) * 100, x=months,
                       y=[names[c] for c in grid["cohort"]], color_continuous_scale="Blues", zmin=0, zmax=100,
                       aspect="auto", text_auto=".0f",
                       labels={"x": t("Months after joining"), "y": t("Cohort (month joined)"), "color": "%"})
    widgets.chart(figure.update_yaxes(type="category").update_xaxes(type="category"),
                  "Share of each cohort active k months after joining (%)")
    st.caption(t("Cohort retention: members grouped by the month they joined; each cell is the share "
                 "of the cohort active in that month."))
    if partial:
        note = t("{month} is not over at the period's end: its cells are left out of the heat map (the table "
                 "marks them as partial).", month=i18n.month(last_month, language))
        st.caption(note[:1].upper() + note[1:])  # 'déc. 2026' opens the sentence
    widgets.table(cells.with_columns(pl.col("cohort").replace_strict(names, return_dtype=pl.String)), "cohorts",
                  {"cohort": "Cohort", "k": "Months after joining", "cohort_size": "Cohort size", "active": "Active",
                   "retention": "Retention", "partial": "Month in progress"}, percents=("retention",))
