"""Reporting periods: half-open date ranges [start, end) in the community's time zone."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a period ends after it starts")

    @classmethod
    def last_days(cls, days: int, today: date) -> Period:
        """The `days` days up to and including `today`."""
        return cls(today - timedelta(days=days - 1), today + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        """The period of equal length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start)

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        """The UTC instants of the period's start and end midnights in time zone `tz`."""
        zone = ZoneInfo(tz)
        return tuple(datetime.combine(d, time(), zone).astimezone(UTC) for d in (self.start, self.end))

    def month_of_last_day(self) -> Period:
        """The calendar month holding the period's last day."""
        last = self.end - timedelta(days=1)
        first = last.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return Period(first, nxt)


PRESETS = ("last_7", "last_30", "last_90", "this_week", "last_week", "this_month", "last_month",
           "this_quarter", "last_quarter", "custom")


def preset(name: str, today: date, custom: tuple[date, date] | None = None) -> Period:
    """The period a sidebar preset means on `today`: "last N days" are the N complete days up to
    yesterday; weeks start on Monday; "this" week/month/quarter runs up to today included;
    "custom" is the inclusive (first, last) pair."""
    tomorrow = today + timedelta(days=1)
    if name in ("last_7", "last_30", "last_90"):
        return Period.last_days(int(name.split("_")[1]), today - timedelta(days=1))
    if name.endswith("week"):
        monday = today - timedelta(days=today.weekday())
        return Period(monday, tomorrow) if name == "this_week" else Period(monday - timedelta(days=7), monday)
    if name.endswith("month"):
        first = today.replace(day=1)
        return Period(first, tomorrow) if name == "this_month" else Period(first - timedelta(days=1), first).month_of_last_day()
    if name.endswith("quarter"):
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        if name == "this_quarter":
            return Period(first, tomorrow)
        before = (first - timedelta(days=1)).replace(day=1)
        return Period(date(before.year, 3 * ((before.month - 1) // 3) + 1, 1), first)
    if name == "custom" and custom:
        return Period(custom[0], custom[1] + timedelta(days=1))
    raise ValueError(f"unknown period {name!r}")
