"""The sign-in gate: the form, the session cookie, signing out. What is checked is cmcore's
(auth.sign_in, sessions.resume); this module draws the form and carries the cookie.

A Streamlit app sends no response of its own to set a cookie: the cookie is written by a script
in a zero-height iframe of the page (so it cannot be HttpOnly), read from the browser's request
when a page opens (`st.context.cookies`), and the session it names is checked again on every run.
The iframe is drawn on every run at the same place, so that a rerun or a page switch right after
signing in never drops it before its script ran.
"""
from __future__ import annotations

import json
from datetime import UTC, timedelta

import streamlit as st

from cmcore import auth, i18n, sessions, settings
from cmcore.sessions import Session
from ui.text import refusal, t

COOKIE = "cm_session"
_KEPT = ("lang",)  # what a session's end leaves in the browser tab's state
# The choice widgets whose options are shown in words of the interface language (by key, or the
# start of a key: the alert rule form's widgets are named after the rule they edit).
WORDED_CHOICES = ("period_preset", "history_status", "edit_what", "edit_line", "rule_kind", "trigger", "rewards_month",
                  "rule_chosen", "kind_", "channel_", "fmt_")


def _https() -> bool:
    return (st.context.url or "").startswith("https://")


def _cookie_name() -> str:
    """Over HTTPS the `__Host-` prefix makes the browser refuse the cookie unless it is Secure,
    host-only and for path /."""
    return f"__Host-{COOKIE}" if _https() else COOKIE


def _cookie_script() -> str | None:
    """The script that writes the browser's cookie for this tab's state, if any."""
    op = st.session_state.get("cookie")
    if op is None:
        return None
    flags = "; Path=/; SameSite=Strict" + ("; Secure" if _https() else "")
    if op == "delete":
        value = f"{_cookie_name()}=; Max-Age=0{flags}"
    else:
        token, expires = op
        value = f"{_cookie_name()}={token}; Expires={expires.astimezone(UTC):%a, %d %b %Y %H:%M:%S} GMT{flags}"
    return f"<script>document.cookie = {json.dumps(value)};</script>"


def _begin(session: Session) -> None:
    st.session_state["session"] = session
    st.session_state["cookie"] = (session.token, session.expires_at)
    st.session_state["just_signed_in"] = True


def _end(notice: str) -> None:
    """Forget everything this tab held for the session (its pages' state too), delete the cookie,
    and say why on the sign-in form (`notice`, translated)."""
    for key in [k for k in st.session_state if k not in _KEPT]:
        del st.session_state[key]
    st.session_state.update(session=None, cookie="delete", notice=notice)


def _current() -> Session | None:
    """The tab's session, checked again now: from the cookie the first time, then from the state."""
    state = st.session_state
    if "session" not in state:  # the tab's first run: the cookie the browser sent, if any
        state["session"] = None
        token = st.context.cookies.get(_cookie_name())
        if token:
            found = sessions.resume(token)
            if found is None:
                _end(t("Your session has ended: sign in again."))
            else:
                _begin(found)
        return state["session"]
    if state["session"] is not None:
        fresh = sessions.resume(state["session"].token)
        if fresh is None:
            _end(t("Your session has ended: sign in again."))
        else:
            state["session"] = fresh
    return state["session"]


def form() -> None:
    """The sign-in form; a sign-in reruns the app signed in. Drawn after `st.navigation`: a widget
    drawn before it in a tab's first run gets another identity than in the next runs, and the
    first click on it would be lost."""
    with st.form("sign_in"):
        st.subheader(t("Sign in"))
        if notice := st.session_state.get("notice"):
            st.info(notice)
        username = st.text_input(t("Username"), autocomplete="username", max_chars=40, key="sign_in_username")
        password = st.text_input(t("Password"), type="password", autocomplete="current-password",
                                 max_chars=256, key="sign_in_password")
        submitted = st.form_submit_button(t("Sign in"), key="sign_in_submit")
    if submitted:
        try:
            session = auth.sign_in(username, password, timedelta(hours=settings.current().session_hours))
        except auth.SignInRefused as err:
            st.error(refusal(err))
        else:
            st.session_state.pop("notice", None)
            _begin(session)
            st.rerun()
    st.caption(t("First run? The demo users and their passwords were printed once in the "
                 "terminal that started the app."))


def current() -> Session | None:
    """The tab's live session, checked now (None: the sign-in form follows), and the browser's
    cookie written to match."""
    session = _current()
    if script := _cookie_script():
        with st.sidebar:
            st.iframe(script, height="content", alt=t("Session cookie"))
    return session


def go_home_if_needed(current: str, allowed: list[str], home: st.Page, forced: bool) -> None:
    """On a page the role does not open (the page in the address bar), go to the role's home page:
    right after signing in (by the form or the cookie), or always when `forced`."""
    just_signed_in = st.session_state.pop("just_signed_in", False)
    if current not in allowed and (just_signed_in or forced):
        st.switch_page(home)


def sign_out_button() -> None:
    if st.sidebar.button(t("Sign out"), key="sign_out"):
        sessions.end(st.session_state["session"].token)
        _end(t("You are signed out."))
        st.rerun()


def end_now(notice: str) -> None:
    """This tab's session is over (its password changed, say): back to the sign-in form, which
    shows `notice` (translated)."""
    _end(notice)
    st.rerun()


def choose_language(session: Session | None) -> None:
    """The tab's language, settled before anything is drawn in it. A new tab starts in the
    signed-in user's language (kept with the account), else in the browser's when it is French or
    English, else in French; the language a user first signs in with, and every change, is kept
    with the account (their e-mails are written in it)."""
    state = st.session_state
    if "lang" not in state:
        state["lang"] = i18n.language_of(st.context.locale) or i18n.DEFAULT_LANGUAGE
    user = session.principal.username if session else None
    if user and state.get("lang_of") != user:  # just signed in, or the tab's first run signed in
        state["lang_of"] = user
        if session.lang:
            state["lang"] = session.lang
        else:
            auth.set_language(session.principal, state["lang"])


def language_picker() -> None:
    """The FR/EN switch, drawn after `st.navigation`: a widget's identity includes its page, which
    a tab's first run only knows from there (drawn before it, the switch became another widget on
    the next run, back at French, and the sign-in click it relabelled was lost)."""
    st.sidebar.selectbox(t("Language"), list(i18n.LANGUAGES), key="lang", format_func=i18n.LANGUAGES.get,
                         on_change=_keep_language)


def _keep_language() -> None:
    """Keep the language just chosen with the signed-in user's account, and have every choice
    widget show its choice again in it: the browser keeps a choice as the text it showed, which
    the new language's options no longer hold (the period box would stay in the old language)."""
    state = st.session_state
    session = state.get("session")
    if session is not None:
        auth.set_language(session.principal, state["lang"])
    for key in [k for k in state if isinstance(k, str) and k.startswith(WORDED_CHOICES)]:
        state[key] = state[key]  # sent to the browser again, shown in the new language
