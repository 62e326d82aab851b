"""What every page does first: check that the signed-in role may open it."""
from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from cmcore import access
from cmcore.access import Principal
from ui.filters import Filters
from ui.text import t


def open_page(key: str) -> Principal:
    """The signed-in principal, or stop the page with a refusal if its role may not open it."""
    if PagesManager.uses_pages_directory:
        # A fresh server's first tab opened on a page's address: Streamlit ran this file alone
        # (its legacy pages/ mode, until app.py has called st.navigation once), without the
        # sign-in gate. Leave that mode for good and run again, through app.py.
        PagesManager.uses_pages_directory = False
        st.rerun()
    principal = st.session_state.get("principal")
    if principal is None:
        st.warning(t("Sign in first."))
        st.stop()
    if not access.can_open(principal, key):
        st.error(t("You do not have access to this page."))
        st.stop()
    return principal


def filters() -> Filters:
    return st.session_state["filters"]
