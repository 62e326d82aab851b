"""The global filters in the sidebar (period, platforms), kept in the session across pages."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
import streamlit as st

from cmcore import community, frames, i18n, periods
from cmcore.periods import Period
from ui.text import lang, t, words

PRESETS = {"last_7": "Last 7 days", "last_30": "Last 30 days", "last_90": "Last 90 days",
           "this_week": "This week", "last_week": "Last week", "this_month": "This month",
           "last_month": "Last month", "this_quarter": "This quarter", "last_quarter": "Last quarter",
           "custom": "Custom"}


@dataclass(frozen=True)
class Filters:
    period: Period
    platforms: list[int] | None  # None: every platform
    tz: str


def _default(key: str, **value: object) -> dict[str, object]:
    """A widget's default, unless the session already holds its value (set from the address)."""
    return {} if key in st.session_state else value


def _from_address(listed: pl.DataFrame | None) -> None:
    """Filters in the page's address (`?from=YYYY-MM-DD&to=YYYY-MM-DD&platform=slug`, as an alert's
    link to its evidence has them) replace the session's, once per address."""
    wanted = tuple(st.query_params.get(k) for k in ("from", "to", "platform"))
    if not any(wanted) or st.session_state.get("filters_address") == wanted:
        return
    st.session_state["filters_address"] = wanted
    try:
        first, last = (date.fromisoformat(d) for d in wanted[:2])
    except (TypeError, ValueError):
        return
    if first <= last:
        st.session_state["period_preset"], st.session_state["period_custom"] = "custom", (first, last)
    slugs = {} if listed is None else dict(zip(listed["slug"], listed["platform_id"], strict=True))
    if wanted[2] in slugs:
        st.session_state["platforms"] = [slugs[wanted[2]]]


def sidebar(platforms: bool = True, period: bool = True) -> Filters:
    """Draw the filters and return their values; without `platforms`, no platform filter (every
    platform, and no platform name shown); without `period`, no period box (a page that does not
    use it: the period kept in the session still applies when the reader comes back to one that does)."""
    tz = community.timezone()
    today = community.today()
    listed = frames.table("platforms") if platforms else None
    _from_address(listed)
    bar = st.sidebar
    if not period:  # the choices are kept (a widget not drawn would forget its own) for the pages that use them
        for key in ("period_preset", "period_custom", "platforms"):
            if key in st.session_state:
                st.session_state[key] = st.session_state[key]
        return Filters(periods.preset("last_30", today, (today, today)), None, tz)
    bar.selectbox(t("Period"), list(PRESETS), key="period_preset", format_func=words(PRESETS).get,
                  **_default("period_preset", index=1))
    custom = None
    if st.session_state.get("period_preset") == "custom":
        custom = bar.date_input(t("From – to (inclusive)"), key="period_custom",
                                **_default("period_custom", value=(today - timedelta(days=29), today - timedelta(days=1))))
    chosen = []
    if platforms:
        names = dict(zip(listed["platform_id"], listed["name"], strict=True))
        chosen = bar.multiselect(t("Platforms"), list(names), key="platforms", format_func=names.get,
                                 placeholder=t("All platforms"))
    custom = tuple(custom) if custom and len(custom) == 2 else (today - timedelta(days=29), today)
    period = periods.preset(st.session_state.get("period_preset", "last_30"), today, custom)
    bar.caption(t("{start} to {end} ({tz})", start=i18n.day(period.start, lang()),
                  end=i18n.day(period.end - timedelta(days=1), lang()), tz=tz))
    return Filters(period, sorted(chosen) or None, tz)
