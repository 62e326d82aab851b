"""The community manager's console: auth gate, per-role menu, global filters, then the page."""
from __future__ import annotations

import streamlit as st

from cmcore import access, bootstrap, settings
from cmcore.alerts import inbox
from cmcore.cli import print_passwords
from ui import errors, filters, login
from ui.text import plain, refusal, t

PAGES = {  # key → (file, title, icon); who may open which is cmcore.access.PAGES
    "overview": ("pages/overview.py", "Overview", ":material/monitoring:"),
    "growth": ("pages/growth.py", "Growth & engagement", ":material/trending_up:"),
    "retention": ("pages/retention.py", "Retention", ":material/grid_on:"),
    "responsiveness": ("pages/responsiveness.py", "Responsiveness", ":material/timer:"),
    "moderation": ("pages/moderation.py", "Moderation", ":material/gavel:"),
    "reputation": ("pages/reputation.py", "Reputation", ":material/campaign:"),
    "content": ("pages/content.py", "Content & events", ":material/event:"),
    "leaderboard": ("pages/leaderboard.py", "Key members", ":material/military_tech:"),
    "rewards": ("pages/rewards.py", "Rewards", ":material/redeem:"),
    "monetisation": ("pages/monetisation.py", "Monetisation", ":material/payments:"),
    "sponsor_report": ("pages/sponsor_report.py", "Sponsor report", ":material/handshake:"),
    "alerts": ("pages/alerts.py", "Alerts", ":material/notifications:"),
    "settings": ("pages/settings.py", "Settings", ":material/settings:"),
    "data": ("pages/data.py", "Data", ":material/database:"),
    "users": ("pages/users.py", "Users", ":material/group:"),
    "connections": ("pages/connections.py", "Connections", ":material/sync:"),
    "account": ("pages/account.py", "My account", ":material/person:"),
}
UNFILTERED = ("alerts", "rewards", "settings", "data", "users", "connections", "account")  # pages the sidebar's filters do not affect


@st.cache_resource(show_spinner=False)
def start_database() -> None:
    """Once per server process: migrations, then a small demo if the database is empty."""
    print_passwords(bootstrap.prepare())


st.set_page_config(page_title="Community console", page_icon="💬", layout="wide")
try:
    settings.current()
except settings.ConfigError as err:
    st.error(refusal(err))
    st.stop()
registered = False  # st.navigation is called once a run: a failure after it must not call it again


def main() -> None:
    """Sign-in, the role's menu and filters, then the page."""
    global registered
    with st.spinner(t("Starting the database…")):
        try:
            start_database()
        except settings.ConfigError as err:  # the roles or the schema are not as they must be: say what to do
            st.error(refusal(err))
            st.stop()

    session = login.current()
    login.choose_language(session)
    principal = session.principal if session else None
    st.session_state["principal"] = principal
    allowed = access.pages_for(principal) if principal else []
    if session and session.must_change_password:
        allowed = ["account"]  # an administrator's password: its owner replaces it first
    home = allowed[0] if allowed else "overview"
    # Every page is registered on every run (a reloaded URL keeps its page); the menu lists the
    # role's pages only, and each page checks the role again.
    pages = {key: st.Page(path, title=t(title), icon=icon, url_path=key, default=key == home)
             for key, (path, title, icon) in PAGES.items()}
    navigation = st.navigation(list(pages.values()), position="hidden")
    registered = True
    login.language_picker()
    if principal is None:
        login.form()
        st.stop()
    current = next(key for key, page in pages.items() if page is navigation)
    login.go_home_if_needed(current, allowed, pages[home], forced=session.must_change_password)

    with st.sidebar:
        st.caption(t("Signed in as {name} ({role})", name=plain(principal.username), role=t(principal.role)))
        unread = inbox.unread(principal) if "alerts" in allowed else 0
        for key in allowed:
            label = t("{page} ({n} {n|unread|unread})", page=t(PAGES[key][1]), n=unread) if key == "alerts" and unread else None
            st.page_link(pages[key], label=label)
        st.divider()
    # A sponsor sees its report only: no community filter (no platform names). The filters appear on
    # the pages they affect only.
    st.session_state["filters"] = filters.sidebar(platforms=principal.role != "sponsor",
                                                  period=current not in UNFILTERED)
    login.sign_out_button()
    navigation.run()


try:
    main()
except errors.ERRORS as err:
    if not registered:  # the pages exist on every run, or Streamlit would list the pages/ folder to all
        st.navigation([st.Page(path, title=t(title), icon=icon, url_path=key)
                       for key, (path, title, icon) in PAGES.items()], position="hidden")
    errors.show(err)
