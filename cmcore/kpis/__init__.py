"""Metrics: pure transforms (frames in, numbers or frames out), one per KPIS.md definition, in Polars
(reputation's few thousand mentions in numpy, see its docstring)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

MAX_CHUNKS = 64  # a frame updated by pieces this many times is made contiguous again
SLICES = 32  # up to this many rows put in or taken out, a frame is cut around them (`rekeyed`), not copied
QUARTER_HOUR_US = 15 * 60 * 1_000_000  # every UTC offset and transition in use is a multiple
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COUNT = pl.Int32  # the type of `n`, how many rows a counted rollup's row stands for (half an Int64)


@dataclass(frozen=True)
class Metric:
    """A headline number with the previous period's value, in the manner of Discourse's reports."""

    key: str
    label: str  # English; the interface translates it
    value: float | None
    previous: float | None
    unit: str  # "count", "number", "ratio" (0–1), "hours" or "money" (minor units of `currency`)
    higher_is_better: bool = True
    currency: str | None = None
    definition: str = ""

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def bots_of(members: pl.DataFrame) -> pl.Series:
    """The ids of the members who are not people: bots, system accounts, the deleted-user
    placeholder (`is_bot`). They are never counted as members, active members, contributors,
    responders or key members; their activities still count as content (threads, responses)."""
    return members.filter("is_bot")["member_id"]


def by_people(frame: pl.LazyFrame, bots: pl.Series | None, column: str = "member_id") -> pl.LazyFrame:
    """The rows of `frame` whose `column` is a person, not one of `bots` (all when there is none)."""
    return frame if bots is None or bots.is_empty() else frame.filter(~pl.col(column).is_in(bots.implode()))


def on_platforms(frame: pl.LazyFrame, platforms: list[int] | None) -> pl.LazyFrame:
    """Keep the rows of the chosen platforms (all when `platforms` is None)."""
    return frame if platforms is None else frame.filter(pl.col("platform_id").is_in(platforms))


def micros(moment: datetime) -> int:
    """An aware datetime as microseconds since the epoch (the physical value of a UTC column)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def instant(moment: datetime | pl.Expr) -> pl.Expr:
    """An aware datetime as a UTC literal (an expression is kept): built from its microseconds, in
    16 µs where `pl.lit` of an aware datetime takes 235 µs, which a small page paid dozens of times."""
    if isinstance(moment, pl.Expr):
        return moment
    return pl.lit(micros(moment), pl.Int64).cast(pl.Datetime("us", "UTC"))


def between(column: str, start: datetime | pl.Expr, end: datetime | pl.Expr) -> pl.Expr:
    """`column` in the half-open window [start, end)."""
    return (pl.col(column) >= instant(start)) & (pl.col(column) < instant(end))


def hours(start: str | pl.Expr, end: str | pl.Expr) -> pl.Expr:
    """Hours from `start` to `end` (columns or expressions), to the microsecond."""
    as_expr = lambda x: pl.col(x) if isinstance(x, str) else x  # noqa: E731
    return (as_expr(end) - as_expr(start)).dt.total_microseconds() / 3_600_000_000


CONTRIBUTION_KINDS = ("thread", "reply", "comment", "answer")
ACTIVITY_KINDS = (*CONTRIBUTION_KINDS, "reaction")  # activity.kind's CHECK (sql/0001)


def local_day(column: str, tz: str) -> pl.Expr:
    """The calendar day of a UTC timestamp column in time zone `tz`."""
    return pl.col(column).map_batches(lambda s: local_days(s, tz), return_dtype=pl.Date, is_elementwise=True)


def local_days(utc: pl.Series, tz: str) -> pl.Series:
    """The calendar days in `tz` of UTC timestamps: the day of each quarter hour of their span is
    converted once and looked up (15× faster than converting every timestamp); the plain
    conversion when a quarter hour would straddle two days (an offset that is not a multiple of
    15 minutes) or when there are fewer timestamps than quarter hours."""
    converted = lambda: utc.dt.convert_time_zone(tz).dt.date()  # noqa: E731
    us = utc.dt.epoch("us")
    lo, hi = us.min(), us.max()
    if lo is None or (hi - lo) // QUARTER_HOUR_US >= utc.len():
        return converted()
    first = lo // QUARTER_HOUR_US
    starts = (pl.int_range(first, hi // QUARTER_HOUR_US + 1, dtype=pl.Int64, eager=True)
              * QUARTER_HOUR_US).cast(pl.Datetime("us", "UTC"))
    day = starts.dt.convert_time_zone(tz).dt.date()
    last_day = (starts + timedelta(microseconds=QUARTER_HOUR_US - 1)).dt.convert_time_zone(tz).dt.date()
    if not (day == last_day).all():
        return converted()
    return day.gather(us // QUARTER_HOUR_US - first).alias(utc.name)


def day_slice(frame: pl.DataFrame, first: date, end: date, column: str = "day") -> pl.LazyFrame:
    """The rows of [first, end) of a frame sorted by `column`: a slice found by binary search."""
    days = frame[column]
    lo, hi = (int(days.search_sorted(d, "left")) for d in (first, end))
    return frame.slice(lo, max(hi - lo, 0)).lazy()


def counted_sorted(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """The distinct rows of `frame`'s integer or date `columns`, sorted by them, with `n`, how many
    rows of `frame` each stands for (`COUNT`). Without nulls, and while their spans fit in 62 bits,
    the columns are packed into one Int64 whose sort and run lengths replace a group_by and a sort
    of the columns (growth's member days of 9.5M activities, local days included: 1.8 s → 0.55 s)."""
    rows = frame.select(columns)
    packing = _packing([rows], columns)
    if packing is None:
        return rows.group_by(columns).agg(pl.len().cast(COUNT).alias("n")).sort(columns)
    runs = _packed(rows, packing).sort().rle().struct.unnest()
    return _unpacked(runs["value"], rows.schema, packing).with_columns(runs["len"].cast(COUNT).alias("n"))


def count_change(removed: pl.DataFrame, added: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """By how much the `added` rows (as they are) and the `removed` ones (as they were), both
    `counted_sorted` by `columns`, change each count (`n`): those they leave as they were left out
    (an activity moved by a minute changes no day's count)."""
    return (pl.concat([removed.with_columns(-pl.col("n")), added]).group_by(columns).agg(pl.col("n").sum())
            .filter(pl.col("n") != 0))


def counted_after(counted: pl.DataFrame, removed: pl.DataFrame, added: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`counted` (a `counted_sorted` of rows) after the `removed` rows (as they were) went and the
    `added` ones (as they are) came, both `counted_sorted` by the same `columns`: the counts of the
    rows they touch changed, those that reach 0 left out, the others as they were."""
    return counted_with(counted, count_change(removed, added, columns), columns)


def counted_with(counted: pl.DataFrame, change: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`counted` with a `count_change` added to its counts (`rekeyed`), rows that reach 0 left out."""
    if change.is_empty():
        return counted

    def recounted(held: pl.DataFrame) -> pl.DataFrame:
        return (pl.concat([held, change.cast(held.schema)]).group_by(columns).agg(pl.col("n").sum())
                .filter(pl.col("n") > 0))
    return rekeyed(counted, columns, change.select(columns), recounted)


def rekeyed(frame: pl.DataFrame, columns: list[str], keys: pl.DataFrame,
            update: Callable[[pl.DataFrame], pl.DataFrame]) -> pl.DataFrame:
    """`frame`, sorted by its unique integer or date `columns`, with the rows of `keys` (those
    columns) made again: `update` is given the rows of `keys` that `frame` holds and returns those
    keys' rows as they are to be (a key it leaves out goes, a new one comes in its place; any
    other key is an error). The rows are found by binary search (`_bounds`) and written over in
    place: only the columns whose values change are copied, chunk by chunk (`written_over`); rows that come or go
    cut the frame around them (`_with_rows_moved`). A change spread over the whole history costs
    a pass over the keys and what changes, not a sort or merge of the frame (the leaderboard's
    reactions at 10M activities, after 10,000 changed: 260 → 50 ms); only the rows from the first
    key's first column on are looked at (`spliced`: new days cost only themselves)."""
    first, wanted = frame[columns[0]], keys[columns[0]]
    cut = 0 if first.null_count() or wanted.null_count() else int(first.search_sorted(wanted.min(), "left"))
    return spliced(frame, cut, lambda rows: _rekeyed(rows, columns, keys, update))


def _rekeyed(frame: pl.DataFrame, columns: list[str], keys: pl.DataFrame,
             update: Callable[[pl.DataFrame], pl.DataFrame]) -> pl.DataFrame:
    if not _searchable([frame, keys], columns):
        held = frame.join(keys, on=columns, how="semi", nulls_equal=True)
        return pl.concat([frame.join(keys, on=columns, how="anti", nulls_equal=True),
                          update(held).select(frame.columns).cast(frame.schema)]).sort(columns)
    keys, at, end = _sought(frame, columns, keys)
    found = at < end
    keys = keys.with_columns(pl.Series("at", at), pl.Series("found", found))
    new = update(frame.gather(at[found])).select(frame.columns).cast(frame.schema).sort(columns)
    placed = _placed(new, keys, columns)
    kept = placed["found"]
    gone = keys.filter("found").join(new, on=columns, how="anti")["at"]
    return _with_rows_moved(frame, new.filter(~kept), placed["at"].filter(~kept).to_numpy(), gone.to_numpy(),
                            new.filter(kept), placed["at"].filter(kept))


def rows_of(frame: pl.DataFrame, columns: list[str], keys: pl.DataFrame) -> pl.DataFrame:
    """The rows of `frame`, sorted by the integer or date `columns` (then by others), whose
    `columns` are one of `keys`, in that order: found by binary search (`_bounds`), so a few keys
    cost their rows, not a join."""
    if not _searchable([frame, keys], columns):
        return frame.join(keys.unique(), on=columns, how="semi", maintain_order="left", nulls_equal=True)
    _, lo, hi = _sought(frame, columns, keys)
    return frame.gather(_ranges(lo, hi))


def regrouped(frame: pl.DataFrame, columns: list[str], keys: pl.DataFrame,
              update: Callable[[pl.DataFrame], pl.DataFrame]) -> pl.DataFrame:
    """`frame`, sorted by the integer or date `columns` (then by others), with the rows of `keys`
    (those columns) made again: `update` is given the rows of `keys` that `frame` holds and returns
    every row of `keys` as it is to be, sorted alike (rows of other keys are an error). The rows
    are found by binary search (`_bounds`) and the new ones put in their place (`_with_rows_moved`):
    a few keys cost their rows, not a merge or sort of the frame."""
    if not _searchable([frame, keys], columns):
        raise ValueError(f"{columns} must be integers or dates without nulls")
    keys, lo, hi = _sought(frame, columns, keys)
    held = _ranges(lo, hi)
    rows = update(frame.gather(held)).select(frame.columns).cast(frame.schema)
    at = _placed(rows, keys.with_columns(pl.Series("at", lo)), columns)["at"]
    return _with_rows_moved(frame, rows, at.to_numpy(), held.to_numpy())


def _sought(frame: pl.DataFrame, columns: list[str], keys: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """The distinct `keys` of `frame`'s `columns`, of its types and sorted, with their `_bounds`."""
    keys = keys.select(columns).cast(frame.select(columns).schema).unique().sort(columns)
    return keys, *_bounds(frame, columns, keys)


def _placed(rows: pl.DataFrame, keys: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`keys` (with where each is in the frame: `at`) joined to each of `rows`, in their order: an
    update's rows must all be of the keys it was given."""
    placed = rows.select(columns).join(keys, on=columns, how="left", maintain_order="left")
    if placed["at"].null_count():
        raise ValueError("update returned rows of keys it was not given")
    return placed


def _ranges(lo: np.ndarray, hi: np.ndarray) -> pl.Series:
    """The positions from each `lo` to its `hi` (excluded), in order."""
    return pl.DataFrame({"lo": lo, "hi": hi}).select(pl.int_ranges("lo", "hi").explode().drop_nulls()).to_series()


def _searchable(frames: list[pl.DataFrame], columns: list[str]) -> bool:
    """Whether the `columns` of `frames` can be searched by value: integers or dates, none null."""
    return all((f[c].dtype.is_integer() or f[c].dtype.is_temporal()) and not f[c].null_count()
               for f in frames for c in columns)


def _bounds(frame: pl.DataFrame, columns: list[str], keys: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `keys`, the first row of `frame` (sorted by the `_searchable` `columns`)
    with its `columns`, or where it would go, and the row past its last: one binary search per
    column within the bounds the previous column left, all keys at once. No key is built for the
    frame's rows (packing who reached whom's 7.4M rows to find 7,000 pairs took 50 ms)."""
    first, *rest = ((frame[c].to_physical().to_numpy(), keys[c].cast(frame.schema[c]).to_physical().to_numpy())
                    for c in columns)  # of one type: numpy would copy the frame's column to search it
    lo, hi = np.searchsorted(*first, "left"), np.searchsorted(*first, "right")
    for values, wanted in rest:
        lo = _bisect(values, wanted, lo, hi, right=False)
        hi = _bisect(values, wanted, lo, hi, right=True)
    return lo, hi


def _bisect(values: np.ndarray, wanted: np.ndarray, lo: np.ndarray, hi: np.ndarray, right: bool) -> np.ndarray:
    """Where each of `wanted` goes in its own [lo, hi) of the sorted `values` (numpy's
    `searchsorted` with a range per value): before its equals, or after them if `right`."""
    lo, hi = lo.copy(), hi.copy()
    open_ = np.flatnonzero(lo < hi)
    while open_.size:
        low, high = lo[open_], hi[open_]
        mid = (low + high) // 2
        after = values[mid] <= wanted[open_] if right else values[mid] < wanted[open_]
        lo[open_], hi[open_] = np.where(after, mid + 1, low), np.where(after, high, mid)
        open_ = open_[lo[open_] < hi[open_]]
    return lo


def _with_rows_moved(frame: pl.DataFrame, put: pl.DataFrame, put_at: np.ndarray, gone: np.ndarray,
                     written: pl.DataFrame | None = None, over: pl.Series | None = None) -> pl.DataFrame:
    """`frame` with the rows `written` written over the positions `over` (ascending), the rows
    `put` in before the positions `put_at` (ascending) and those at `gone` taken out. Up to SLICES
    rows put or gone, the columns whose values change are copied chunk by chunk with the new values
    (`written_over`) and the frame is cut around the rows, not copied (`joined`: made contiguous
    past MAX_CHUNKS pieces); past that, each column is copied once with numpy's delete and insert,
    the new values written into that copy (a copy written over, then copied again, held the points
    of a year's board three times at once), or where a value is null or not a number, the rows
    are gathered (7.4M rows with 9,000 put in: 80 ms with numpy, 125 ms sliced and made
    contiguous, 220 ms gathered)."""
    written = frame.clear() if written is None else written
    over = pl.Series(dtype=pl.Int64) if over is None else over
    into = put_at - np.searchsorted(gone, put_at)  # where each goes once the gone rows are out
    copied = put.height + gone.size > SLICES and all(
        f[c].to_physical().dtype.is_numeric() and not f[c].null_count() for f in (frame, put, written) for c in frame.columns)
    if copied:
        over_now = over.to_numpy() - np.searchsorted(gone, over.to_numpy())

        def moved(column: pl.Series) -> pl.Series:
            values = np.delete(column.to_physical().to_numpy(), gone)  # a copy, even of none
            values[over_now] = written[column.name].to_physical().to_numpy()
            values = np.insert(values, into, put[column.name].to_physical().to_numpy()) if put.height else values
            return pl.Series(column.name, values).cast(column.dtype)
        return pl.DataFrame([moved(c) for c in frame.iter_columns()])
    if written.height:
        frame = pl.DataFrame([column if column.gather(over).equals(written[column.name], null_equal=True)
                              else written_over(column, over, written[column.name]) for column in frame.iter_columns()])
    if put.is_empty() and not gone.size:
        return frame
    if put.height + gone.size <= SLICES:
        events = sorted([(int(p), 0, i) for i, p in enumerate(put_at)] + [(int(p), 1, -1) for p in gone])
        pieces, start = [], 0
        for position, is_gone, row in events:
            pieces.append(frame.slice(start, position - start))
            if is_gone:
                start = position + 1
            else:
                pieces.append(put.slice(row, 1))
                start = position
        return joined([*pieces, frame.slice(start)])
    kept = np.delete(np.arange(frame.height), gone)
    order = np.insert(kept, into, frame.height + np.arange(put.height))
    return pl.concat([frame, put]).gather(order)


def spliced(frame: pl.DataFrame, cut: int, update: Callable[[pl.DataFrame], pl.DataFrame]) -> pl.DataFrame:
    """`frame` with its rows from `cut` on replaced by `update(those rows)`. The rows before are
    kept as a slice of `frame` only when they are most of it (a slice keeps its whole buffer alive:
    a small one would hold every older version of the frame); the pieces are made contiguous again
    past MAX_CHUNKS (`joined`)."""
    if 2 * cut < frame.height:
        return update(frame)
    return joined([frame.slice(0, cut), update(frame.slice(cut))])


def joined(pieces: list[pl.DataFrame]) -> pl.DataFrame:
    """The `pieces` as one frame, without copying them, unless it then has more than MAX_CHUNKS
    chunks: it is then made contiguous (a frame updated by pieces stays quick to scan)."""
    out = pl.concat(pieces)
    return out.rechunk() if out.n_chunks() > MAX_CHUNKS else out


def written_over(column: pl.Series, at: pl.Series, values: pl.Series) -> pl.Series:
    """`column` with `values` written at the ascending positions `at`, chunk by chunk: the chunks
    they miss are kept, and the frame's columns stay chunked alike (else its next query makes the
    whole frame contiguous again)."""
    pieces, start = [], 0
    for chunk in column.get_chunks():
        lo, hi = (int(at.search_sorted(p, "left")) for p in (start, start + chunk.len()))
        if hi > lo:
            chunk = chunk.clone()
            chunk.scatter(at.slice(lo, hi - lo) - start, values.slice(lo, hi - lo))
        pieces.append(chunk)
        start += chunk.len()
    return pl.concat(pieces, rechunk=False)


def merged(first: pl.DataFrame, second: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`first` and `second`, each sorted by the integer or date `columns`, as one frame sorted by
    them: merged through one packed key, not sorted again."""
    packing = _packing([first, second], columns)
    if packing is None:
        return pl.concat([first, second]).sort(columns, maintain_order=True)
    key = _packed_expr(packing).alias("key")
    return first.with_columns(key).merge_sorted(second.with_columns(key), "key").drop("key")


class _Packing(NamedTuple):
    columns: list[str]
    lows: list[int]
    bits: list[int]


def _packing(frames: list[pl.DataFrame], columns: list[str]) -> _Packing | None:
    """How to pack the integer or date `columns` of `frames` into one Int64 that sorts like them;
    None if some are null or their spans need more than 62 bits. Read off each column's bounds
    (no copy: 0.25 s less per update of a frame of 9M rows)."""
    rows = [f for f in frames if not f.is_empty()]
    if not rows or any(f[c].null_count() for f in rows for c in columns):
        return None
    lows, bits = [], []
    for c in columns:
        physical = [f[c].to_physical() for f in rows]
        low = min(int(s.min()) for s in physical)
        lows.append(low)
        bits.append((max(int(s.max()) for s in physical) - low).bit_length())
    return _Packing(columns, lows, bits) if sum(bits) <= 62 else None


def _packed_expr(packing: _Packing) -> pl.Expr:
    key = pl.lit(0, pl.Int64)
    for c, lo, b in zip(*packing, strict=True):
        key = key * 2**b + (pl.col(c).to_physical().cast(pl.Int64) - lo)
    return key


def _packed(rows: pl.DataFrame, packing: _Packing) -> pl.Series:
    return rows.lazy().select(_packed_expr(packing).alias("key")).collect().to_series()  # lazy: 0.15 s less than eager


def _unpacked(keys: pl.Series, schema: pl.Schema, packing: _Packing) -> pl.DataFrame:
    columns, lows, bits = packing
    tails = [sum(bits[i + 1:]) for i in range(len(columns))]
    return keys.to_frame("key").lazy().select(
        (pl.col("key") // 2**tail % 2**b + lo).cast(pl.Series(dtype=schema[c]).to_physical().dtype).cast(schema[c]).alias(c)
        for c, lo, b, tail in zip(columns, lows, bits, tails, strict=True)).collect()


def median_p90(column: str, name: str) -> list[pl.Expr]:
    """Median and 90th percentile (linear interpolation) of a column's non-null values, as
    aggregations named `name` and `name_p90` (null when there is none)."""
    return [pl.col(column).median().alias(name), pl.col(column).quantile(0.9, "linear").alias(f"{name}_p90")]


def within_sla(created: str, waited: str, sla_hours: float, now: datetime) -> pl.Expr:
    """The share handled within the SLA (`waited` hours at most), over the items old enough to have
    passed it (`created` at least `sla_hours` before `now`); an item still waiting (null) counts as
    not within. An aggregation, null when no item is old enough."""
    old_enough = pl.col(created) <= instant(now - timedelta(hours=sla_hours))
    within = (old_enough & (pl.col(waited) <= sla_hours)).sum()
    return pl.when(old_enough.any()).then(within / old_enough.sum())


def share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None
