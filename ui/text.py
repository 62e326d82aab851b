"""The interface language, chosen in the sidebar and kept in the session."""
from __future__ import annotations

import streamlit as st

from cmcore import i18n


def lang() -> str:
    return st.session_state.get("lang", i18n.DEFAULT_LANGUAGE)


def t(text: str, **values: object) -> str:
    """`text` translated into the interface language."""
    return i18n.translate(text, lang(), **values)
