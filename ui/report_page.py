"""The frame every KPI page shares: role check, title, report for the sidebar's filters,
headline numbers."""
from __future__ import annotations

import streamlit as st

from cmcore.reports import Report, Scope
from ui import widgets
from ui.page import filters, open_page
from ui.text import t


def open_report(page: str, title: str, build) -> tuple[Report, Scope]:
    """Check the role, draw the title, build the page's report for the filters, show its headline."""
    principal = open_page(page)
    st.title(t(title))
    f = filters()
    scope = Scope(f.period, f.platforms, f.tz).resolved()
    report = build(principal, scope)
    widgets.headline(report.metrics)
    return report, scope
