"""Moderation: reports per rule and platform, time to action and resolution, open cases,
repeat offenders."""
import plotly.express as px
import streamlit as st

from cmcore import community
from cmcore.reports import moderation_report
from ui import widgets
from ui.report_page import open_report
from ui.text import t

report, _ = open_report("moderation", "Moderation", moderation_report)
st.caption(t("SLA: a first action within {hours} h (a setting).",
             hours=community.get_settings()["moderation_sla_hours"]))
by_rule = report.frames["by_rule_platform"]
if not widgets.empty(by_rule):
    widgets.chart(px.bar(by_rule.rename({"rule": t("Rule"), "platform": t("Platform"), "reports": t("Reports")}),
                         x=t("Rule"), y=t("Reports"), color=t("Platform")), "Reports per rule and platform",
                  counts=True)
    widgets.table(by_rule, "reports_by_rule", {"rule": "Rule", "platform": "Platform", "reports": "Reports"})
st.subheader(t("Open cases"))
if not widgets.empty(report.frames["open"], "No open case in this period."):
    widgets.table(report.frames["open"], "open_cases", {"id": "Case", "rule": "Rule", "member": "Member",
                                                       "reported_at": "Reported", "age_hours": "Age",
                                                       "acted": "Acted on"}, hours=("age_hours",))
st.subheader(t("Repeat offenders"))
st.caption(t("Members with 2 or more upheld cases in the 90 days up to the period's end."))
if not widgets.empty(report.frames["repeat_offenders"], "No repeat offender."):
    widgets.table(report.frames["repeat_offenders"], "repeat_offenders",
                  {"member": "Member", "upheld_cases": "Upheld cases", "rules": "Rules",
                   "last_reported": "Last reported"})
