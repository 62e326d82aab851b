"""What a page shows when the database fails it: never a traceback. Unreachable (down, restarting):
a "database unavailable, retrying" notice that reloads the page by itself once it answers again;
any other refusal: a short message with the database's error code, the traceback in the log. A
service's access refusal (cmcore.access) is told in the reader's language."""
from __future__ import annotations

import logging

import adbc_driver_manager
import psycopg
import sqlalchemy as sa
import streamlit as st

from cmcore import db
from cmcore.access import AccessDenied
from ui.text import refusal, t

ERRORS = (sa.exc.DBAPIError, psycopg.Error, adbc_driver_manager.Error, db.CommitUnknown, AccessDenied)
RETRY_S = 3
log = logging.getLogger("cmcore.app")


def show(err: BaseException) -> None:
    """Tell the user what happened to their page, then stop it."""
    if isinstance(err, AccessDenied):
        log.warning("a service refused a page: %s", err)
        st.error(t("Refused: {reason}", reason=refusal(err)))
        st.stop()
    log.error("the database failed a page", exc_info=err)
    if isinstance(err, db.CommitUnknown):
        st.error(t("The connection to the database was lost while saving: reload the page to see whether "
                   "the change was made before doing it again."))
    elif db.unreachable(err):
        st.warning(t("The database is unavailable; retrying every {seconds} s…", seconds=RETRY_S))
        _until_back()
    else:
        st.error(t("The database could not do this (error {code}); nothing was changed. Try again, or tell "
                   "an administrator if it goes on.", code=db.error_code(err) or "?"))
    st.stop()


@st.fragment(run_every=RETRY_S)
def _until_back() -> None:
    try:
        db.versions()
    except ERRORS:
        return
    st.rerun(scope="app")
