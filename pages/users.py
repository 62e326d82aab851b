"""Administrators manage the app's users: add, reset a password, unlock, end sessions, change role,
deactivate."""
import polars as pl
import streamlit as st

from cmcore import auth, money, passwords
from cmcore.access import ROLES
from ui import widgets
from ui.page import open_page
from ui.text import plain, refusal, t, words

principal = open_page("users")
st.title(t("Users"))
sponsors = money.sponsors(principal)
sponsor_names = dict(zip(sponsors["sponsor_id"], sponsors["name"], strict=True))


def show_password_once(username: str, password: str) -> None:
    st.success(t("Password of {user}, shown once: copy it now. They choose their own at the first sign-in.",
                 user=plain(username)))
    st.code(password, language=None)


users = auth.list_users(principal)
frame = pl.DataFrame(
    [{"username": u.username, "display_name": u.display_name, "email": u.email, "role": t(u.role),
      "sponsor": sponsor_names.get(u.sponsor_id), "active": u.active,
      "failed_logins": u.failed_logins, "locked_until": u.locked_until,
      "must_change_password": u.must_change_password} for u in users],
    schema={"username": pl.String, "display_name": pl.String, "email": pl.String, "role": pl.String,
            "sponsor": pl.String, "active": pl.Boolean, "failed_logins": pl.Int64,
            "locked_until": pl.Datetime("us", "UTC"), "must_change_password": pl.Boolean})
widgets.table(frame, "users", {"username": "Username", "display_name": "Name", "email": "Email",
                               "role": "Role", "sponsor": "Sponsor", "active": "Active",
                               "failed_logins": "Failed logins", "locked_until": "Locked until",
                               "must_change_password": "Password to change"})

add, manage = st.tabs([t("Add a user"), t("Manage a user")])
with add, st.form("add_user", clear_on_submit=True):
    username = st.text_input(t("Username"))
    name = st.text_input(t("Name"))
    email = st.text_input(t("Email"))
    role = st.selectbox(t("Role"), ROLES, format_func=words(dict(zip(ROLES, ROLES))).get)
    sponsor = st.selectbox(t("Sponsor (sponsor role only)"), [None, *sponsor_names],
                           format_func=lambda s: "—" if s is None else sponsor_names[s])
    if st.form_submit_button(t("Add")):
        password = passwords.new_password()
        try:
            auth.add_user(principal, username, name, role, password,
                          sponsor_id=sponsor if role == "sponsor" else None, email=email)
        except auth.UserError as err:
            st.error(t("Not added: {reason}", reason=refusal(err)))
        else:
            show_password_once(username.strip().lower(), password)

with manage:
    target = st.selectbox(t("User"), [u.username for u in users], key="manage_user")
    chosen = next((u for u in users if u.username == target), None)
    if chosen is not None:
        cols = st.columns(4)
        try:
            if cols[0].button(t("Reset the password"), key="reset_pw"):
                password = passwords.new_password()
                auth.set_password(principal, target, password)
                show_password_once(target, password)
            if chosen.locked_until and cols[1].button(t("Unlock"), key="unlock"):
                auth.unlock(principal, target)
                st.rerun()
            if cols[2].button(t("End their sessions"), key="end_sessions",
                              help=t("Signs them out on every device (a lost laptop, a shared screen).")):
                auth.end_sessions(principal, target)
                st.success(t("Every session of {user} has ended.", user=plain(target)))
            label = t("Deactivate") if chosen.active else t("Reactivate")
            if cols[3].button(label, key="toggle_active"):
                auth.set_active(principal, target, not chosen.active)
                st.rerun()
            with st.form("role_form"):
                new_role = st.selectbox(t("Role"), ROLES, index=ROLES.index(chosen.role), format_func=words(dict(zip(ROLES, ROLES))).get)
                new_sponsor = st.selectbox(
                    t("Sponsor (sponsor role only)"), [None, *sponsor_names],
                    index=([None, *sponsor_names].index(chosen.sponsor_id)
                           if chosen.sponsor_id in sponsor_names else 0),
                    format_func=lambda s: "—" if s is None else sponsor_names[s])
                if st.form_submit_button(t("Change the role")):
                    auth.set_role(principal, target, new_role,
                                  new_sponsor if new_role == "sponsor" else None)
                    st.rerun()
        except auth.UserError as err:
            st.error(t("Refused: {reason}", reason=refusal(err)))
