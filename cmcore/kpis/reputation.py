"""Reputation (KPIS.md): mentions, reach, sentiment and crisis alerts. Mentions are outside talk:
they belong to no platform of the community, so the platform filter does not apply.

A community's mentions are a few thousand rows, read as Arrow in time order (`frames.arrow`).
On so few rows a Polars query costs more than the rows (50–400 µs of planning and thread wake-ups
on this 2-core machine, against a 3 ms read), and so does building a Polars frame of the eight
columns (0.3–0.5 ms). So the windows and days are binary searches over the times, the counts
numpy sums over the columns' arrays, and only what the page shows becomes Polars frames: the
page's work after the read went from 6 ms to about 0.6 ms (cm_b10, 1,938 mentions)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from cmcore.kpis import micros

TRAILING_DAYS = 28
ALERT_SIGMAS = 3.0
ALERT_FLOOR = 5
DAY_US = 86_400_000_000
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
UNSCORED = 2


@dataclass(frozen=True)
class Mentions:
    """The mentions (an Arrow table sorted by `created_at`) and the arrays of the columns counted."""

    table: pa.Table
    times: np.ndarray  # created_at, µs since the epoch
    reach: np.ndarray
    sentiment: np.ndarray  # -1, 0, 1, and UNSCORED for a mention in a language without a sentiment model

    @classmethod
    def of(cls, table: pa.Table) -> Mentions:
        created = table["created_at"]
        if created.type != pa.timestamp("us", "UTC"):
            created = created.cast(pa.timestamp("us", "UTC"))
        times = created.to_numpy().view(np.int64)
        sentiment = pc.fill_null(table["sentiment"], UNSCORED).to_numpy()
        return cls(table, times, table["reach"].to_numpy(), sentiment)

    def first_at(self, *moments: datetime) -> list[int]:
        """The index of the first mention at or after each moment."""
        return np.searchsorted(self.times, [micros(m) for m in moments]).tolist()


def tallies(mentions: Mentions, *windows: tuple[datetime, datetime]) -> list[dict[str, float | None]]:
    """Per window [start, end): mentions, reach, the shares of positive, neutral and negative
    mentions, and net sentiment = (positive − negative) / all (shares None without mentions). A
    mention left unscored (a language without a sentiment model) counts among all, in no share."""
    bounds = mentions.first_at(*(moment for window in windows for moment in window))
    out = []
    for lo, hi in zip(bounds[::2], bounds[1::2], strict=True):
        total = hi - lo
        negative, neutral, positive, _unscored = np.bincount(mentions.sentiment[lo:hi] + 1, minlength=4).tolist()
        shares = {name: n / total if total else None
                  for name, n in (("positive", positive), ("neutral", neutral), ("negative", negative))}
        net = (positive - negative) / total if total else None
        out.append({"mentions": total, "reach": int(mentions.reach[lo:hi].sum()), **shares, "net": net})
    return out


def midnights(first: date, days: int, tz: str) -> np.ndarray:
    """The UTC instants (µs) of the local midnights of `days` days from `first`; a midnight a clock
    change skips is its day's first instant, as in `Period.bounds`."""
    zone, naive, one, offsets = ZoneInfo(tz), datetime.combine(first, time()), timedelta(days=1), []
    for _ in range(days):
        offset = zone.utcoffset(naive)
        offsets.append(offset.days * 86_400 + offset.seconds)
        naive += one
    return ((first.toordinal() - EPOCH_ORDINAL + np.arange(days, dtype=np.int64)) * DAY_US
            - np.array(offsets, dtype=np.int64) * 1_000_000)


@dataclass(frozen=True)
class Days:
    """The local days from TRAILING_DAYS days before a window's first day to its end, and where
    each begins among the time-sorted mentions: day k's mentions are rows[k]:rows[k + 1]. The
    window's own days are those from TRAILING_DAYS on."""

    first: date
    rows: np.ndarray

    @property
    def count(self) -> int:
        return len(self.rows) - 1

    def dates(self, ks: np.ndarray) -> pl.Series:
        """The dates of days `ks`."""
        return pl.Series("day", (ks + (self.first.toordinal() - EPOCH_ORDINAL)).astype(np.int32)).cast(pl.Date)


def days_of(mentions: Mentions, start: datetime, end: datetime, tz: str) -> Days:
    """The `Days` of the window [start, end) (local midnights in `tz`)."""
    zone = ZoneInfo(tz)
    first = start.astimezone(zone).date() - timedelta(days=TRAILING_DAYS)
    count = (end.astimezone(zone).date() - first).days
    bounds = np.append(midnights(first, count, tz), micros(end))
    return Days(first, np.searchsorted(mentions.times, bounds))


def daily_volume(mentions: Mentions, days: Days) -> pl.DataFrame:
    """Mentions and reach per day of the window and source, by day then source."""
    lo, hi = days.rows[TRAILING_DAYS], days.rows[-1]
    sources = mentions.table["source"].slice(lo, hi - lo).to_pylist()
    names = sorted(set(sources))
    index, width = {name: i for i, name in enumerate(names)}, max(len(names), 1)
    day = np.repeat(np.arange(TRAILING_DAYS, days.count), np.diff(days.rows[TRAILING_DAYS:]))
    cell = day * width + np.array([index[s] for s in sources], dtype=np.int64)
    count = np.bincount(cell, minlength=days.count * width)
    reach = np.bincount(cell, weights=mentions.reach[lo:hi], minlength=days.count * width)  # exact below 2⁵³
    kept = np.flatnonzero(count)
    return pl.DataFrame([days.dates(kept // width), pl.Series("source", [names[i] for i in kept % width], pl.String),
                         pl.Series("mentions", count[kept]), pl.Series("reach", reach[kept].round().astype(np.int64))])


def _running_sums(values: np.ndarray) -> np.ndarray:
    """0, then the sum of the first 1, 2, … values: the sum of values[i:j] is the difference at j and i."""
    return np.concatenate(([0], np.cumsum(values)))


def crisis_alerts(mentions: Mentions, days: Days, sigmas: float = ALERT_SIGMAS,
                  floor: int = ALERT_FLOOR) -> pl.DataFrame:
    """Crisis alerts: the window's days whose negative mentions exceed the mean of the 28 days
    before by `sigmas` standard deviations (sample std, days without mentions counted as 0) and
    number at least `floor`. Columns: day, negative, trailing_mean, trailing_std, threshold.
    The trailing sums are exact integers until the division."""
    negative = np.diff(_running_sums(mentions.sentiment == -1)[days.rows])
    sums, squares, n = _running_sums(negative), _running_sums(negative * negative), days.count
    total = sums[TRAILING_DAYS:n] - sums[:n - TRAILING_DAYS]  # of the 28 days before each of the window's
    total_sq = squares[TRAILING_DAYS:n] - squares[:n - TRAILING_DAYS]
    mean = total / TRAILING_DAYS
    std = np.sqrt((TRAILING_DAYS * total_sq - total * total) / (TRAILING_DAYS * (TRAILING_DAYS - 1)))
    threshold = mean + sigmas * std
    own = negative[TRAILING_DAYS:]
    hit = np.flatnonzero((own > threshold) & (own >= floor))
    return pl.DataFrame([days.dates(hit + TRAILING_DAYS), pl.Series("negative", own[hit]),
                         pl.Series("trailing_mean", mean[hit]), pl.Series("trailing_std", std[hit]),
                         pl.Series("threshold", threshold[hit])])


def alert_mentions(mentions: Mentions, days: Days, alerts: pl.DataFrame) -> pl.DataFrame:
    """The negative mentions of the alert days, by day, most reach first: created_at, source,
    author, body, reach, lang, url, and the sentiment the exporting tool gave (`tool_sentiment`)."""
    ks = [(d - days.first).days for d in alerts["day"].to_list()]
    rows = np.concatenate([np.arange(days.rows[k], days.rows[k + 1]) for k in ks] or [np.zeros(0, np.int64)])
    rows = rows[mentions.sentiment[rows] == -1]  # still by day: the alert days are in order
    rows = rows[np.lexsort((-mentions.reach[rows], np.searchsorted(days.rows, rows, side="right")))]
    at = rows.tolist()
    return pl.DataFrame([pl.Series("created_at", mentions.times[rows]).cast(pl.Datetime("us", "UTC")),
                         *(_texts(mentions.table, c, at) for c in ("source", "author", "body")),
                         pl.Series("reach", mentions.reach[rows]), _texts(mentions.table, "lang", at),
                         _texts(mentions.table, "url", at),
                         pl.Series("tool_sentiment", [mentions.table["tool_sentiment"][i].as_py() for i in at],
                                   pl.Int16)])


def _texts(table: pa.Table, column: str, rows: list[int]) -> pl.Series:
    """The text column's values at `rows`, read one by one: for the few dozen rows of alert days,
    half the cost of an Arrow take of the rows and its conversion to Polars."""
    values = table[column]
    return pl.Series(column, [values[i].as_py() for i in rows], pl.String)
