"""Reporting periods: presets, previous periods, bounds in a time zone."""
from datetime import UTC, date, datetime

import pytest

from cmcore.periods import PRESETS, Period, preset
from ui.filters import PRESETS as SIDEBAR_PRESETS

WEDNESDAY = date(2026, 11, 25)


@pytest.mark.parametrize("name, start, end", [
    ("last_7", date(2026, 11, 18), date(2026, 11, 25)),  # complete days up to yesterday
    ("last_30", date(2026, 10, 26), date(2026, 11, 25)),
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
    assert preset("custom", WEDNESDAY, (date(2026, 1, 5), date(2026, 1, 5))) == Period(date(2026, 1, 5), date(2026, 1, 6))
    with pytest.raises(ValueError):
        preset("fortnight", WEDNESDAY)
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
