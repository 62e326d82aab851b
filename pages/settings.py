"""Community settings managers change: time zone, SLA thresholds and the community's languages;
administrators also set what one import may hold (audited)."""
from zoneinfo import available_timezones

import streamlit as st

from cmcore import community, i18n
from cmcore.ingest import text
from cmcore.refusal import Refusal
from ui.page import open_page
from ui.text import lang, refusal, t

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
    language = lang()
    languages = st.multiselect(
        t("Languages of the community"), text.known(), default=current["languages"],
        format_func=lambda code: i18n.language_name(code, language),
        help=t("Outside mentions in these languages get their language; those in another are \"other\". "
               "Mentions already imported keep theirs until an administrator runs `./dev cli rescore`."))
    if st.form_submit_button(t("Save")):
        changes = {"timezone": tz, "response_sla_hours": response, "moderation_sla_hours": moderation,
                   "languages": languages}
        try:
            for key, value in changes.items():
                if value != current[key]:
                    community.set_setting(principal, key, value)
        except Refusal as err:
            st.error(refusal(err))
        else:
            st.success(t("Saved."))

if principal.role == "admin":
    st.subheader(t("Imports"))
    with st.form("import_limits"):
        st.caption(t("What one import may hold: a file beyond these limits is refused with a message, and "
                     "nothing is written."))
        limits = {
            "import_archive_gb": st.number_input(
                t("Archive: largest uncompressed size (GB)"), 0.001, 1000.0, float(current["import_archive_gb"]),
                help=t("An archive whose files would expand beyond this, or beyond the ratio below times "
                       "its own size, is refused before it is opened.")),
            "import_archive_ratio": st.number_input(
                t("Archive: largest expansion (times its size)"), 1.0, 1000.0, float(current["import_archive_ratio"])),
            "import_columns": st.number_input(t("Columns of a CSV file"), 10, 100_000, int(current["import_columns"])),
            "import_field_chars": st.number_input(
                t("Characters of one value (bodies excepted)"), 200, 10_000_000, int(current["import_field_chars"]),
                help=t("A longer value is refused.")),
            "import_body_chars": st.number_input(
                t("Characters of one body"), 1000, 100_000_000, int(current["import_body_chars"]),
                help=t("A longer body is shortened to this and counted in the import's summary.")),
        }
        if st.form_submit_button(t("Save")):
            for key, value in limits.items():
                if value != current[key]:
                    community.set_setting(principal, key, value)
            st.success(t("Saved."))
