"""Growth & engagement: members, active members, stickiness, participation, contributors."""
import plotly.express as px
import streamlit as st

from cmcore.reports import growth_report
from ui import widgets
from ui.report_page import open_report
from ui.text import t

report, _ = open_report("growth", "Growth & engagement", growth_report)
active, daily = report.frames["active"], report.frames["daily"]
LABELS = {"dau": "Active members that day", "wau": "Weekly active members", "mau": "Monthly active members"}
names = {code: t(label) for code, label in LABELS.items()}
widgets.chart(px.line(active.rename({"day": t("Day"), **names}),
                      x=t("Day"), y=list(names.values())).update_layout(yaxis_title="", xaxis_title=""),
              "Active members per day, over 7 and over 30 days", counts=True)
widgets.chart(px.bar(daily.rename({"day": t("Day"), "new_members": t("New members")}), x=t("Day"),
                     y=t("New members")).update_layout(xaxis_title=""), "New members per day", counts=True)
new_tab, gone_tab = st.tabs([t("New contributors"), t("Inactive contributors")])
with new_tab:
    if not widgets.empty(report.frames["new_contributors"]):
        widgets.table(report.frames["new_contributors"], "new_contributors",
                      {"member_id": "Member id", "member": "Member", "first_contribution": "First contribution"})
with gone_tab:
    st.caption(t("Contributed in the 90 days before the period, not in it: people to reach out to."))
    if not widgets.empty(report.frames["inactive_contributors"]):
        widgets.table(report.frames["inactive_contributors"], "inactive_contributors",
                      {"member_id": "Member id", "member": "Member", "last_contribution": "Last contribution",
                       "contributions_90d": "Contributions in the 90 days before"})
