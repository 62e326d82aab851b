"""Every signed-in user: who they are, their open sessions, changing their own password, and
signing out everywhere."""
import polars as pl
import streamlit as st

from cmcore import auth, passwords, sessions
from ui import login, widgets
from ui.page import open_page
from ui.text import plain, refusal, t

principal = open_page("account")
st.title(t("My account"))
user = auth.get_user(principal.username)
if user.must_change_password:
    st.warning(t("Choose your own password before going on: the one you were given was seen by an administrator."))
st.write(t("Name: {name}", name=plain(user.display_name)))
st.write(t("Role: {role}", role=t(user.role)))

with st.form("change_password", clear_on_submit=True):
    st.subheader(t("Change my password"))
    current = st.text_input(t("Current password"), type="password", autocomplete="current-password")
    new = st.text_input(t("New password ({min} characters or more)", min=passwords.MIN_LENGTH), type="password",
                        autocomplete="new-password",
                        help=t("Any characters, spaces and emoji included. A few unrelated words make a good one."))
    again = st.text_input(t("New password again"), type="password", autocomplete="new-password")
    if st.form_submit_button(t("Change my password")):
        if new != again:
            st.error(t("The two new passwords differ."))
        else:
            try:
                auth.change_own_password(principal, current, new)
            except auth.UserError as err:
                st.error(t("Refused: {reason}", reason=refusal(err)))
            else:
                login.end_now(t("Your password has been changed: sign in with the new one."))

st.subheader(t("My sessions"))
st.caption(t("Each sign-in opens a session until it expires or you sign out. Signing out everywhere "
             "ends them all, on every device, this one too."))
widgets.table(pl.DataFrame(sessions.live(principal.username),
                           schema={"started_at": pl.Datetime("us", "UTC"), "expires_at": pl.Datetime("us", "UTC")}),
              "sessions", {"started_at": "Signed in", "expires_at": "Expires"})
with st.form("sign_out_everywhere", clear_on_submit=True):
    password = st.text_input(t("Password"), type="password", autocomplete="current-password")
    if st.form_submit_button(t("Sign out everywhere")):
        try:
            auth.sign_out_everywhere(principal, password)
        except auth.UserError as err:
            st.error(t("Refused: {reason}", reason=refusal(err)))
        else:
            login.end_now(t("You are signed out everywhere."))
