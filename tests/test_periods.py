"""Reporting periods: presets, previous periods, bounds in a time zone."""
import dataclasses
from datetime import UTC, date, datetime

import pytest
import time_machine

from cmcore import community
from cmcore.access import Principal
from cmcore.periods import PRESETS, Period, preset
from tests.builders import user
from tests.pages import as_user
from ui.filters import PRESETS as SIDEBAR_PRESETS

WEDNESDAY = date(2026, 11, 25)


@pytest.mark.parametrize("name, start, end", [
    ("last_7", date(2026, 11, 18), date(2026, 11, 25)),  # complete days up to yesterday
    ("last_30", date(2026, 10, 26), date(2026, 11, 25)),
    ("last_90", date(2026, 8, 27), date(2026, 11, 25)),  # 5 + 30 + 31 + 24 days
    ("this_week", date(2026, 11, 23), date(2026, 11, 26)),  # Monday up to today included
    ("last_week", date(2026, 11, 16), date(2026, 11, 23)),
    ("this_month", date(2026, 11, 1), date(2026, 11, 26)),
    ("last_month", date(2026, 10, 1), date(2026, 11, 1)),
    ("this_quarter", date(2026, 10, 1), date(2026, 11, 26)),
    ("last_quarter", date(2026, 7, 1), date(2026, 10, 1)),
])
def test_presets(name, start, end):
    assert preset(name, WEDNESDAY) == Period(start, end)


def test_last_quarter_across_a_year_and_custom():
    assert preset("last_quarter", date(2026, 2, 10)) == Period(date(2025, 10, 1), date(2026, 1, 1))
    # A quarter's first month opens it: 2 April is in the second quarter, 1 January in the first.
    assert preset("this_quarter", date(2026, 4, 2)) == Period(date(2026, 4, 1), date(2026, 4, 3))
    assert preset("last_quarter", date(2026, 4, 2)) == Period(date(2026, 1, 1), date(2026, 4, 1))
    assert preset("this_quarter", date(2026, 1, 1)) == Period(date(2026, 1, 1), date(2026, 1, 2))
    assert preset("this_quarter", date(2026, 12, 31)) == Period(date(2026, 10, 1), date(2027, 1, 1))
    assert preset("custom", WEDNESDAY, (date(2026, 1, 5), date(2026, 1, 5))) == Period(date(2026, 1, 5), date(2026, 1, 6))
    assert preset("custom", WEDNESDAY, (date(2026, 1, 5), date(2026, 1, 9))) == Period(date(2026, 1, 5), date(2026, 1, 10))
    for name, custom in (("fortnight", None), ("fortnight", (date(2026, 1, 5), date(2026, 1, 9))), ("custom", None)):
        with pytest.raises(ValueError, match=f"^unknown period '{name}'$"):
            preset(name, WEDNESDAY, custom)  # a custom pair means nothing to another preset
    assert list(SIDEBAR_PRESETS) == list(PRESETS)


def test_previous_period_and_bounds():
    period = Period(date(2026, 3, 1), date(2026, 3, 11))
    assert period.previous() == Period(date(2026, 2, 19), date(2026, 3, 1))
    assert period.bounds("Europe/Paris") == (datetime(2026, 2, 28, 23, tzinfo=UTC), datetime(2026, 3, 10, 23, tzinfo=UTC))
    # Summer time starts on 29 March 2026 in Paris: that day has 23 hours.
    assert Period(date(2026, 3, 29), date(2026, 3, 30)).bounds("Europe/Paris") == (
        datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC))
    with pytest.raises(ValueError):
        Period(date(2026, 3, 2), date(2026, 3, 1))


def test_an_empty_or_backward_period_is_refused():
    day = date(2026, 3, 1)
    for end in (day, date(2026, 2, 28)):
        with pytest.raises(ValueError) as refused:
            Period(day, end)
        assert str(refused.value) == "a period ends after it starts"
    assert Period(day, date(2026, 3, 2)).days == 1


def test_a_period_is_a_value_a_cache_can_key_on():
    """Reports are cached by period: equal periods are one key, and a period never changes."""
    period = Period(date(2026, 3, 1), date(2026, 3, 11))
    assert {period: "march"}[Period(date(2026, 3, 1), date(2026, 3, 11))] == "march"
    with pytest.raises(dataclasses.FrozenInstanceError):
        period.end = date(2026, 3, 12)


@pytest.mark.parametrize("start, end, month", [
    (date(2026, 2, 20), date(2026, 3, 2), (date(2026, 3, 1), date(2026, 4, 1))),  # last day 1 March
    (date(2026, 2, 20), date(2026, 3, 1), (date(2026, 2, 1), date(2026, 3, 1))),  # last day 28 February
    (date(2025, 12, 31), date(2026, 1, 1), (date(2025, 12, 1), date(2026, 1, 1))),
])
def test_the_month_of_a_period_s_last_day(start, end, month):
    assert Period(start, end).month_of_last_day() == Period(*month)


@pytest.mark.parametrize("tz, instant, caption, period", [
    # 23:30 UTC on 1 March is 00:30 on 2 March in Paris: yesterday there is 1 March.
    (None, datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "du 31 janv. 2026 au 1 mars 2026 (Europe/Paris)",
     Period(date(2026, 1, 31), date(2026, 3, 2))),
    # 03:00 UTC on 2 March is 22:00 on 1 March in New York: yesterday there is 28 February.
    ("America/New_York", datetime(2026, 3, 2, 3, tzinfo=UTC), "du 30 janv. 2026 au 28 févr. 2026 (America/New_York)",
     Period(date(2026, 1, 30), date(2026, 3, 1))),
])
def test_the_sidebar_s_today_is_the_community_s(app, database, tz, instant, caption, period):
    """The last 30 days end yesterday in the community's time zone (Europe/Paris unless set),
    whatever the date is in UTC or on the server."""
    user("manager", "manager")
    if tz:
        community.set_setting(Principal("manager", "manager"), "timezone", tz)
    with time_machine.travel(instant):
        at = as_user(app, "manager")
    assert not at.exception
    assert caption in [c.value for c in at.sidebar.caption]
    assert at.session_state["filters"].period == period
