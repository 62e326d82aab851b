"""The interface language, chosen in the sidebar and kept in the session."""
from __future__ import annotations

import streamlit as st

from cmcore import i18n
from cmcore.ingest.canonical import Rejected


def lang() -> str:
    return st.session_state.get("lang", i18n.DEFAULT_LANGUAGE)


def t(text: str, **values: object) -> str:
    """`text` translated into the interface language."""
    return i18n.translate(text, lang(), **values)


def rejected(err: Rejected) -> str:
    """An import's rejection in the interface language: file, line, field, then what is wrong."""
    where = [err.file]
    if err.line is not None:
        where.append(t("{unit} {line}", unit=t(err.unit), line=err.line))
    if err.field:
        where.append(t("field {field}", field=err.field))
    values = {k: t(v) if k in Rejected.PHRASES else v for k, v in err.values.items()}
    return ", ".join(where) + t(": ") + t(err.message, **values)
