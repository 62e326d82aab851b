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
