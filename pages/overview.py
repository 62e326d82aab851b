"""Overview for managers: the community's headline numbers over the chosen period and platforms."""
import plotly.express as px
import streamlit as st

from cmcore import access
from cmcore.reports import overview
from ui import widgets
from ui.page import filters, open_page
from ui.text import t

principal = open_page("overview")
f = filters()
st.title(t("Overview"))
metrics = overview.headline(principal, f.period, f.platforms, f.tz)
if metrics[0].value == 0:
    st.info(t("No community data yet. Import your platforms' exports on the Data page (administrators),"
              " or fill a demo community with: python -m cmcore demo"))
    if access.can_open(principal, "data"):
        st.page_link("pages/data.py", label=t("Data"), icon=":material/database:")
    st.stop()
widgets.headline(metrics)

daily = overview.daily(principal, f.period, f.platforms, f.tz)
chart = px.line(daily.rename({"day": t("Day"), "active_members": t("Active members"),
                              "new_members": t("New members")}),
                x=t("Day"), y=[t("Active members"), t("New members")], markers=True)
widgets.chart(chart.update_layout(yaxis_title="", xaxis_title=""), "Active and new members per day", counts=True)

st.subheader(t("By platform"))
st.caption(t("A member counts once in the numbers above and once on each platform here: someone active on two "
             "platforms is in two rows, and a member who joins another platform is new on it. The rows can add "
             "up to more than the numbers above."))
widgets.table(overview.by_platform(principal, f.period, f.platforms, f.tz), "overview_by_platform",
              {"platform": "Platform", "members": "Members", "active_members": "Active members",
               "new_members": "New members", "threads": "Threads",
               "ttfr_median_hours": "Time to first response (median)"}, hours=("ttfr_median_hours",))
