"""The global filters in the sidebar (period, platforms), kept in the session across pages."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from cmcore import community, frames, periods
from cmcore.periods import Period
from ui.text import t

PRESETS = {"last_7": "Last 7 days", "last_30": "Last 30 days", "last_90": "Last 90 days",
           "this_week": "This week", "last_week": "Last week", "this_month": "This month",
           "last_month": "Last month", "this_quarter": "This quarter", "last_quarter": "Last quarter",
           "custom": "Custom"}


@dataclass(frozen=True)
class Filters:
    period: Period
    platforms: list[int] | None  # None: every platform
    tz: str


def sidebar(platforms: bool = True) -> Filters:
    """Draw the filters and return their values; without `platforms`, no platform filter (every
    platform, and no platform name shown)."""
    tz = community.timezone()
    today = datetime.now(ZoneInfo(tz)).date()
    bar = st.sidebar
    bar.selectbox(t("Period"), list(PRESETS), key="period_preset", index=1,
                  format_func=lambda k: t(PRESETS[k]))
    custom = None
    if st.session_state.get("period_preset") == "custom":
        custom = bar.date_input(t("From – to (inclusive)"), key="period_custom",
                                value=(today - timedelta(days=29), today - timedelta(days=1)))
    chosen = []
    if platforms:
        listed = frames.table("platforms")
        names = dict(zip(listed["platform_id"], listed["name"], strict=True))
        chosen = bar.multiselect(t("Platforms"), list(names), key="platforms", format_func=names.get,
                                 placeholder=t("All platforms"))
    custom = tuple(custom) if custom and len(custom) == 2 else (today - timedelta(days=29), today)
    period = periods.preset(st.session_state.get("period_preset", "last_30"), today, custom)
    bar.caption(t("{start} to {end} ({tz})", start=period.start,
                  end=period.end - timedelta(days=1), tz=tz))
    return Filters(period, sorted(chosen) or None, tz)
