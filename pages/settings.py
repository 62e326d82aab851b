"""Community settings managers change: time zone and SLA thresholds (audited)."""
from zoneinfo import available_timezones

import streamlit as st

from cmcore import community
from ui.page import open_page
from ui.text import t

principal = open_page("settings")
st.title(t("Settings"))
current = community.get_settings()
zones = sorted(available_timezones())
with st.form("community_settings"):
    tz = st.selectbox(t("Community time zone"), zones, index=zones.index(current["timezone"]),
                      help=t("Days, weeks and months of every page are cut in this time zone."))
    response = st.number_input(t("Response SLA (hours)"), min_value=0.5, max_value=2160.0, step=0.5,
                               value=float(current["response_sla_hours"]))
    moderation = st.number_input(t("Moderation SLA (hours)"), min_value=0.25, max_value=2160.0, step=0.25,
                                 value=float(current["moderation_sla_hours"]))
    if st.form_submit_button(t("Save")):
        changes = {"timezone": tz, "response_sla_hours": response, "moderation_sla_hours": moderation}
        for key, value in changes.items():
            if value != current[key]:
                community.set_setting(principal, key, value)
        st.success(t("Saved."))
