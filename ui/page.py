"""What every page does first: check that the signed-in role may open it."""
from __future__ import annotations

import streamlit as st

from cmcore import access
from cmcore.access import Principal
from ui.filters import Filters
from ui.text import t


def open_page(key: str) -> Principal:
    """The signed-in principal, or stop the page with a refusal if its role may not open it."""
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
