"""Every signed-in user: who they are, and changing their own password."""
import streamlit as st

from cmcore import auth
from ui.page import open_page
from ui.text import t

principal = open_page("account")
st.title(t("My account"))
user = auth.get_user(principal.username)
st.write(t("Name: {name}", name=user.display_name))
st.write(t("Role: {role}", role=t(user.role)))

with st.form("change_password", clear_on_submit=True):
    st.subheader(t("Change my password"))
    current = st.text_input(t("Current password"), type="password")
    new = st.text_input(t("New password (10 characters or more)"), type="password")
    again = st.text_input(t("New password again"), type="password")
    if st.form_submit_button(t("Change my password")):
        if new != again:
            st.error(t("The two new passwords differ."))
        else:
            try:
                auth.change_own_password(principal, current, new)
            except auth.UserError as err:
                st.error(t("Refused: {reason}", reason=str(err)))
            else:
                st.success(t("Your password has been changed."))
