"""Content & events: what brings engagement, when to post, what events change."""
import plotly.express as px
import polars as pl
import streamlit as st

from cmcore.reports import content_report
from ui import widgets
from ui.report_page import open_report
from ui.text import t, words

FORMATS = {"in_person": "In person", "online": "Online"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
report, _ = open_report("content", "Content & events", content_report)
LABELS = {"tag": "Tag", "platform": "Platform", "author_type": "Author", "threads": "Threads",
          "mean_engagement": "Engagement per thread"}
by_tag, by_platform = report.frames["by_tag"], report.frames["by_platform"]
widgets.anonymous_reactions(report.frames["anonymous_platforms"]["platform"].to_list())
if not widgets.empty(by_tag):
    left, right = st.columns(2)
    with left:
        widgets.chart(px.bar(by_tag.drop_nulls("tag").rename({"tag": t("Tag"), "mean_engagement": t("Engagement per thread")}),
                             x=t("Tag"), y=t("Engagement per thread")), "Engagement by tag")
    with right:
        widgets.chart(px.bar(by_platform.rename({"platform": t("Platform"),
                                                 "mean_engagement": t("Engagement per thread")}),
                             x=t("Platform"), y=t("Engagement per thread")), "Engagement by platform")
    week = report.frames["hour_of_week"].pivot("hour", index="weekday", values="mean_engagement").sort("weekday")
    hours_ = sorted(int(c) for c in week.columns if c != "weekday")
    grid = pl.DataFrame({"weekday": range(1, 8)}).join(week, on="weekday", how="left")
    widgets.chart(px.imshow(grid.select([str(h) for h in hours_]).to_numpy(), x=hours_,
                            y=[t(WEEKDAYS[d - 1]) for d in grid["weekday"]], aspect="auto",
                            color_continuous_scale="Greens",
                            labels={"x": t("Hour"), "y": "", "color": t("Engagement per thread")}),
                  "Best time to post: engagement by hour of the week")
    by_author = report.frames["by_author_type"].with_columns(
        pl.col("author_type").replace({"staff": t("Staff"), "member": t("Member")}))
    tabs = st.tabs([t("By tag"), t("By platform"), t("By author type")])
    for tab, (key, frame) in zip(tabs, [("by_tag", by_tag), ("by_platform", by_platform),
                                        ("by_author_type", by_author)], strict=True):
        with tab:
            widgets.table(frame, f"engagement_{key}", LABELS)
st.subheader(t("Events"))
if not widgets.empty(report.frames["events"], "No event in this period."):
    widgets.table(report.frames["events"].with_columns(pl.col("format").replace(words(FORMATS))), "events",
                  {"title": "Event", "format": "Format", "starts_at": "Starts", "registered": "Registered",
                   "attended": "Attended", "attendance_rate": "Attendance rate", "lift": "Lift"},
                  percents=("attendance_rate",))
    st.caption(t("Lift is shown once the 30 days after an event are over."))
