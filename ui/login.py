"""The login gate: streamlit-authenticator's form and cookie, fed from and reporting to cmcore.auth.

One Authenticate object per session; its credentials dict is refreshed from `app_user` on every
run (the package mutates it, so the database stays the source of truth). Failed attempts are
counted in the database, which locks an account after five in a row. The package's 0.7 s pause
before drawing the form is turned off: the cookie component's first message arrived during it
and overtook the run that carried the submitted form, so a first login silently did nothing.
"""
from __future__ import annotations

import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from cmcore import auth, i18n, settings
from cmcore.access import Principal
from ui.text import t

COOKIE_NAME = "cm_session"


def _authenticator() -> stauth.Authenticate:
    fresh = auth.credentials()
    if "authenticator" not in st.session_state:
        conf = settings.current()
        st.session_state["credentials"] = fresh
        st.session_state["authenticator"] = stauth.Authenticate(
            fresh, cookie_name=COOKIE_NAME, cookie_key=conf.cookie_key,
            cookie_expiry_days=conf.cookie_expiry_days, auto_hash=False, login_sleep_time=0)
    else:
        st.session_state["credentials"]["usernames"] = fresh["usernames"]
    return st.session_state["authenticator"]


def gate() -> Principal | None:
    """Show the login form until someone signs in; return the signed-in principal."""
    authenticator = _authenticator()
    was_signed_in = st.session_state.get("authentication_status") is True
    try:
        authenticator.login(fields={"Form name": t("Sign in"), "Username": t("Username"),
                                    "Password": t("Password"), "Login": t("Sign in")},
                            callback=lambda _: st.session_state.update(signed_in_by_form=True))
    except LoginError:
        authenticator.logout(location="unrendered")
        st.error(t("Your session has ended: sign in again."))
        return None
    users = st.session_state["credentials"]["usernames"]
    for username in [u for u, c in users.items() if c.get("failed_login_attempts")]:
        users[username]["failed_login_attempts"] = 0
        until = auth.record_failed_login(username)
        if until is not None:
            st.error(t("Too many failed attempts: this account is locked until {time} (UTC).",
                       time=f"{until:%H:%M}"))
            return None
    status = st.session_state.get("authentication_status")
    if status is False:
        st.error(t("Wrong username or password."))
    if status is not True:
        st.caption(t("First run? The demo users and their passwords were printed once in the "
                     "terminal that started the app."))
        return None
    username = st.session_state["username"]
    if was_signed_in:
        principal = auth.principal(username)
    else:
        principal = auth.record_login(username)
        st.session_state["just_signed_in"] = True
    if principal is None:  # deactivated since signing in
        authenticator.logout(location="unrendered")
        return None
    return principal


def go_home_if_needed(current: str, allowed: list[str], home: st.Page) -> None:
    """After signing in on a page the role does not open (the page in the address bar), go to the
    role's home page. A form login's run is what stores the login cookie, and switching page in it
    would drop that component: then the switch waits for the next run, which the cookie component
    itself triggers (with a link meanwhile)."""
    if current in allowed:
        st.session_state.pop("just_signed_in", None)
        st.session_state.pop("signed_in_by_form", None)
        return
    if st.session_state.pop("signed_in_by_form", False):
        st.page_link(home, label=t("Continue"))
        st.stop()
    if st.session_state.pop("just_signed_in", False):
        st.switch_page(home)


def logout_button() -> None:
    st.session_state["authenticator"].logout(t("Sign out"), location="sidebar")


def language_picker() -> None:
    """The FR/EN switch (kept in the session across pages)."""
    st.session_state.setdefault("lang", i18n.DEFAULT_LANGUAGE)
    st.sidebar.selectbox(t("Language"), list(i18n.LANGUAGES), key="lang",
                         format_func=i18n.LANGUAGES.get)
