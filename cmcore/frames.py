"""Postgres → Arrow (ADBC) → Polars readers, cached until a table they read changes.

A frame is read again only once a table it reads has changed (`db.versions`), so a click never
re-reads unchanged data, a write is seen at once, and a write to one table (a reward's approval,
a setting) leaves the frames of the others cached. A frame of a table whose changed rows the
database names (`activity`, sql/0008) is not read again whole: only the rows written since it
was read are, and they replace their old selves in it; what was derived from it (rollups) is
handed that `Delta` and updates only what the rows touch. A full read remains where the change
log cannot say which rows changed (a TRUNCATE, a statement over 1,000,000 rows, a log pruned past
the frame); `counts` says how often each path ran.

What is built from frames (rollups, a page's result) depends on the tables of the frames it used,
and on every table if it ran a query of its own. Frames are immutable and shared between sessions.
"""
from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

import adbc_driver_postgresql.dbapi as adbc
import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from cmcore import db
from cmcore.kpis import ACTIVITY_KINDS, joined, written_over
from cmcore.version_feed import ANY, Versions


class Source(NamedTuple):
    sql: str
    tables: tuple[str, ...]  # the tables it reads
    key: str | None = None  # the frame's column holding its table's `id`, when the database logs which
    #                         rows of the table change: the frame is then refreshed by those rows (no ORDER BY)
    types: Mapping[str, pl.DataType] | None = None  # columns kept in a narrower type than Arrow's


ACTIVITY_KIND = pl.Enum(ACTIVITY_KINDS)  # one byte per row instead of 16


# The columns the pages need, one projection per frame (narrow reads move fewer bytes).
TABLES: dict[str, Source] = {
    "platforms": Source("SELECT id AS platform_id, slug, name, kind FROM platform ORDER BY id", ("platform",)),
    "members": Source(  # in id order: a table's few names are found by binary search
        "SELECT id AS member_id, display_name, joined_at, is_staff, is_bot FROM member WHERE merged_into IS NULL"
        " ORDER BY id",
        ("member",)),
    "identities": Source("SELECT member_id, platform_id, joined_at FROM member_identity", ("member_identity",)),
    "activity": Source(
        "SELECT id, platform_id, member_id, kind, parent_id, thread_id, created_at,"
        " is_question, accepted FROM activity", ("activity",), key="id", types={"kind": ACTIVITY_KIND}),
    "threads": Source("SELECT id AS thread_id, title, url, tags FROM activity WHERE kind = 'thread'",
                      ("activity",), key="thread_id"),
    "votes": Source("SELECT activity_id, day, up FROM activity_vote WHERE up > 0", ("activity_vote",)),
    "moderation": Source(  # in report order: a period's cases are a slice
        "SELECT c.id, c.platform_id, c.member_id, c.rule_id, r.title AS rule, c.reported_at,"
        " c.first_action_at, c.resolved_at, c.outcome FROM moderation_case c JOIN rule r ON r.id = c.rule_id"
        " ORDER BY c.reported_at, c.id", ("moderation_case", "rule")),
    "mentions": Source(  # in time order: reputation finds its windows by binary search
        "SELECT source, url, author, body, created_at, reach, lang, sentiment, tool_sentiment FROM mention"
        " ORDER BY created_at",
        ("mention",)),
    "events": Source("SELECT id AS event_id, title, format, starts_at FROM event", ("event",)),
    "attendance": Source("SELECT event_id, member_id, registered_at, attended FROM event_attendance",
                         ("event_attendance",)),
}

T = TypeVar("T")
DELTAS_KEPT = 16  # a frame's deltas kept apart; older ones are put together (see `_kept`)
DELTA_ROWS_KEPT = 2_000_000  # the rows they may hold: a value older than what they cover is made again


@dataclass(frozen=True)
class Delta:
    """How a frame changed between two reads: the `removed` rows as they were at the first (a
    row changed in place is in both) and the `added` rows as they are at the second, each row
    (`key`) once. What was counted from the first read can then be taken out exactly, and what the
    second holds put in."""

    removed: pl.DataFrame
    added: pl.DataFrame
    key: str

    @property
    def rows(self) -> pl.DataFrame:
        """Removed and added rows together: what the change touches."""
        return pl.concat([self.removed, self.added])

    def then(self, later: Delta) -> Delta:
        """This change followed by `later`, as one: the rows as they were before this one, and as
        they are after `later` (a row added by this one and changed by `later` was not there before)."""
        key = pl.col(self.key)
        mine, theirs = pl.concat([self.removed[self.key], self.added[self.key]]), later.removed[self.key]
        return Delta(pl.concat([self.removed, later.removed.filter(~key.is_in(mine.implode()))]),
                     pl.concat([self.added.filter(~key.is_in(pl.concat([theirs, later.added[self.key]]).implode())),
                                later.added]), self.key)


@dataclass(frozen=True)
class _Entry:
    """A cached value, built at version number `version` from `tables` (ANY: unknown ones)."""

    version: int
    tables: frozenset[str]
    value: Any
    size: int = 0  # bytes of the Polars frames it holds (results only)
    inputs: Mapping[str, int] = field(default_factory=dict)  # the generation of each frame it was made from
    # frames refreshed by their changed rows:
    snapshot: str | None = None  # the database snapshot whose changes the frame holds
    generation: int = 0  # a new one at each read or refresh
    deltas: tuple[tuple[int, int, Delta], ...] = ()  # refreshes, oldest first: (from generation, to, delta)


class Changes:
    """What a value's update is told: how the frames it was made from changed since."""

    def __init__(self, inputs: Mapping[str, int]) -> None:
        self._inputs = inputs

    def delta(self, name: str) -> Delta | None:
        """How frame `name` changed since the value was made (call `table(name)` first, so that it
        is current); None if it was read whole since, is not one the value was made from, or was
        made between two refreshes whose deltas have since been put together (see `_kept`)."""
        since = self._inputs.get(name)
        entry = _cache.get((db.url(), name))
        if since is None or entry is None:
            return None
        if entry.generation == since:
            frame = entry.value
            return Delta(frame.clear(), frame.clear(), TABLES[name].key or "")
        first = next((i for i, (start, _, _) in enumerate(entry.deltas) if start == since), None)
        if first is None:
            return None
        out = entry.deltas[first][2]
        for _, _, d in entry.deltas[first + 1:]:
            out = out.then(d)
        return out

    def span(self, name: str) -> tuple[int, int] | None:
        """The generations of frame `name` the value was made from and the current one (call
        `table(name)` first): what `delta(name)` spans, to key what is computed from it."""
        since, entry = self._inputs.get(name), _cache.get((db.url(), name))
        return None if since is None or entry is None else (since, entry.generation)

    def unchanged(self, *names: str) -> bool:
        """Whether the frames `names` are as the value was made from (call `table` first)."""
        return all(self._inputs.get(n) == getattr(_cache.get((db.url(), n)), "generation", None) for n in names)


@dataclass
class _Reads:
    """What a build in progress has used: tables, and frames by generation."""

    tables: set[str] = field(default_factory=set)
    inputs: dict[str, int] = field(default_factory=dict)


_cache: dict[tuple[str, str], _Entry] = {}
_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()
_recorders: list[list[tuple[str, Sequence | None]]] = []
_idle: dict[str, list[adbc.Connection]] = {}  # ADBC connections kept between reads, by URL
_results: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
_generations = itertools.count(1)
RESULTS_KEPT = 64
RESULTS_BYTES = 512 * 2**20  # what the kept results may hold (a year's board of 82,000 members: 13 MB)
_building: ContextVar[Versions | None] = ContextVar("building", default=None)  # the versions a build sees
_reading: ContextVar[_Reads | None] = ContextVar("reading", default=None)  # what a build has used
counts: Counter[str] = Counter()  # read: frames read whole; refreshed: by their changed rows; updated,
#                                   rebuilt: derived values; fallback: a refresh or update that could not
#                                   follow a change (read or made whole instead)
started = datetime.now(UTC)  # what `counts` count from: when this process first loaded cmcore.frames
log = logging.getLogger(__name__)


def read(sql: str, params: Sequence | None = None) -> pl.DataFrame:
    """Run one query (parameters $1, $2…) and return its rows as a Polars frame."""
    return pl.from_arrow(fetch(sql, params))


def fetch(sql: str, params: Sequence | None = None) -> pa.Table:
    """Run one query (parameters $1, $2…) and return its rows as an Arrow table."""
    for recorder in _recorders:
        recorder.append((sql, params))
    _used(ANY)  # its tables are not known: what is built from it depends on every table (see `_queried`)
    url = db.url()
    with _guard:  # connections are kept for the database in use only
        others = [conn for other in [u for u in _idle if u != url] for conn in _idle.pop(other)]
        pooled = _idle.get(url)
        conn = pooled.pop() if pooled else None
    for other in others:
        with suppress(adbc.Error):
            other.close()
    try:
        return _fetch(url, conn or adbc.connect(url, autocommit=True), sql, params)
    except adbc.Error:
        if conn is None:
            raise
        return _fetch(url, adbc.connect(url, autocommit=True), sql, params)  # the server dropped it


def _fetch(url: str, conn: adbc.Connection, sql: str, params: Sequence | None) -> pa.Table:
    """The query's rows as an Arrow table; the connection goes back to the pool (a connect
    costs ~25 ms, a third of a small page) or is closed if the query failed."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, parameters=params)
            table = cur.fetch_arrow_table()
    except BaseException:
        with suppress(adbc.Error):
            conn.close()
        raise
    with _guard:
        _idle.setdefault(url, []).append(conn)
    return table


def table(name: str) -> pl.DataFrame:
    """The frame `name` of TABLES as of the latest change of its tables."""
    source = TABLES[name]
    if source.key is None:
        return _cached(name, lambda now, _: _read_whole(now, source), source.tables, keep_stale=False)
    return _cached(name, lambda now, hit: _refreshed(now, hit, name), source.tables)


def arrow(name: str) -> pa.Table:
    """The rows of `name` of TABLES as Arrow, as of the latest change of its tables: for work done
    on a few columns' arrays, where building a Polars frame of a few thousand rows would cost a
    tenth of the read (0.3–0.5 ms for the mentions' eight columns)."""
    source = TABLES[name]
    return derived(f"{name}:arrow", lambda: fetch(source.sql), source.tables)


def derived(name: str, build: Callable[[], T], tables: tuple[str, ...] | None = None,
            update: Callable[[T, Changes], T | None] | None = None) -> T:
    """What `build()` makes (a frame, or what is built from frames), cached until one of `tables`
    changes; by default the tables of what it used (see `_built`). When they have changed and the
    value can follow its frames' changes, `update(old value, changes)` makes the new one from the
    old (None: it cannot, and `build()` runs). Inside a `result`'s build the versions are the ones
    that result is built at: a view's frames agree with one another, and when the feed is silent
    the view catches up once, not once per frame. A build that runs a query of its own names its
    tables to be kept through changes to others."""
    def make(now: Versions, hit: _Entry | None) -> _Entry:
        if hit is not None and update is not None:
            entry = _built(now, lambda: update(hit.value, Changes(hit.inputs)), tables)
            if entry.value is not None:
                counts["updated"] += 1
                return entry
            counts["fallback"] += 1
            log.warning("%s made again whole: it could not follow the change of its tables", name)
        counts["rebuilt"] += 1
        return _built(now, build, tables)
    return _cached(name, make, tables, keep_stale=update is not None)


def _cached(name: str, make: Callable[[Versions, _Entry | None], _Entry], tables: Collection[str] | None,
            keep_stale: bool = True) -> Any:
    """The value cached as `name`, made again by `make(versions, stale entry or None)` once one of
    its tables has changed. Other stale entries of the database are dropped, but those that can
    follow their changes (`keep_stale`): they would never be served again."""
    key = (db.url(), name)
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        now = _building.get() or db.versions()
        hit = _cache.get(key)
        if hit is None or not now.unchanged(hit.version, hit.tables):
            hit = make(now, hit)
            with _guard:
                _cache[key] = hit
                if keep_stale:
                    _stale.add(key)
                for stale in [k for k, e in _cache.items() if k[0] == key[0] and k not in _stale
                              and not now.unchanged(e.version, e.tables)]:
                    del _cache[stale]
    _used(*hit.tables, entry=(name, hit))
    return hit.value


_stale: set[tuple[str, str]] = set()  # entries kept when stale: frames refreshed by rows, values with an update


def _refreshed(now: Versions, hit: _Entry | None, name: str) -> _Entry:
    """Frame `name` at versions `now`: its rows changed since `hit` was read put in place of their
    old selves, or read whole when there is no `hit` or the change log cannot say which changed."""
    source = TABLES[name]
    if hit is not None:
        with _reading_nothing():
            changed = _changed_rows(source, hit.snapshot)
        if changed is not None:
            snapshot, ranges, ids = changed
            if not ranges and not ids:
                return replace(hit, version=now.number, snapshot=snapshot)
            return _with_rows(hit, name, now, snapshot, ranges, ids)
        counts["fallback"] += 1
        log.warning("%s read whole: the change log cannot say which of its rows changed since it was read", name)
        _forget_made_from(name)
    return _read_whole(now, source)


def _forget_made_from(name: str) -> None:
    """Drop the values made from frame `name`, which is read whole again: none can follow that (a
    value follows a frame by its deltas), so each is made again at its next view, and would hold
    its memory till then (the leaderboard's rollups, the member days)."""
    url = db.url()
    with _guard:
        for key in [k for k, e in _cache.items() if k[0] == url and name in e.inputs]:
            del _cache[key]


def _read_whole(now: Versions, source: Source) -> _Entry:
    counts["read"] += 1
    with _reading_nothing():
        frame = read(source.sql).cast(source.types or {}).rechunk()  # one buffer a column, not the driver's batches
    return _Entry(now.number, frozenset(source.tables), frame, snapshot=now.snapshot, generation=next(_generations))


def _with_rows(hit: _Entry, name: str, now: Versions, snapshot: str, ranges: list[tuple[int, int]],
               ids: list[int]) -> _Entry:
    """`hit`'s frame with the rows of `ranges` (first, last id) and `ids` read again: their old
    selves out, their current selves (if any) in."""
    source = TABLES[name]
    where = [f"id BETWEEN {a} AND {b}" for a, b in ranges]
    key = pl.col(source.key)
    touched = [key.is_between(a, b) for a, b in ranges]
    if ids:
        where.append(f"id = ANY('{{{','.join(map(str, ids))}}}'::bigint[])")
        touched.append(key.is_in(pl.Series(ids, dtype=pl.Int64)))
    with _reading_nothing():
        added = read(f"{source.sql} {'AND' if ' WHERE ' in source.sql else 'WHERE'} ({' OR '.join(where)})")
    old: pl.DataFrame = hit.value
    added = added.cast(old.schema)
    top = old[source.key].max()
    if top is None or (not ids and min(a for a, _ in ranges) > top):  # only new rows: none to take out
        removed, frame = old.clear(), joined([old, added])
    else:
        removed, frame = replaced(old, old.select(pl.any_horizontal(touched)).to_series(), added, source.key)
    generation = next(_generations)
    counts["refreshed"] += 1
    return replace(hit, version=now.number, value=frame, snapshot=snapshot, generation=generation,
                   deltas=_kept((*hit.deltas, (hit.generation, generation, Delta(removed, added, source.key))),
                                _made_from(name)))


def replaced(old: pl.DataFrame, mask: pl.Series, added: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of `old` where `mask` is true, and `old` with them replaced by the `added` ones
    (rows unique by `key`). When none of them went (an update), in place: a column none of whose
    values changed is kept as it is, the others' chunks copied once with the new values written
    over (a re-import that moves 10,000 times copies one column, not the frame); new rows go after.
    Else the frame is put together anew."""
    removed = old.filter(mask)
    if not removed[key].is_in(added[key].implode()).all():
        return removed, joined([old.filter(~mask), added])
    now = removed.select(key).join(added, on=key, how="left", maintain_order="left")
    at = mask.arg_true()
    columns = [old[name] if now[name].equals(removed[name], null_equal=True) else written_over(old[name], at, now[name])
               for name in old.columns]
    return removed, joined([pl.DataFrame(columns), added.join(removed.select(key), on=key, how="anti", maintain_order="left")])


def _kept(deltas: tuple[tuple[int, int, Delta], ...], live: set[int]) -> tuple[tuple[int, int, Delta], ...]:
    """A frame's deltas, bounded: beyond DELTAS_KEPT two neighbours become one, the oldest pair
    whose boundary no `live` value was made at (else the oldest pair: a value made between them
    is then made again), and the oldest go once they hold more than DELTA_ROWS_KEPT rows. A page
    seen once a day after syncs every few minutes still follows them."""
    while len(deltas) > DELTAS_KEPT:
        i = next((i for i in range(len(deltas) - 1) if deltas[i][1] not in live), 0)
        (start, _, older), (_, end, newer) = deltas[i], deltas[i + 1]
        deltas = (*deltas[:i], (start, end, older.then(newer)), *deltas[i + 2:])
    while len(deltas) > 1 and sum(d.removed.height + d.added.height for _, _, d in deltas) > DELTA_ROWS_KEPT:
        deltas = deltas[1:]
    return deltas


def _made_from(name: str) -> set[int]:
    """The generations of frame `name` that the values kept to follow their frames were made from."""
    with _guard:
        return {e.inputs[name] for k, e in _cache.items() if k in _stale and name in e.inputs}


_CHANGED_ROWS = """
SELECT pg_current_snapshot()::text,
       coalesce((SELECT pruned_upto >= pg_snapshot_xmin(old.s) FROM change_log_horizon), false),
       c.op, c.first_id, c.last_id, c.ids
FROM (SELECT CAST(%s AS pg_snapshot) AS s) old
LEFT JOIN change_log c ON c.table_name = ANY(%s) AND c.txid >= pg_snapshot_xmin(old.s)
     AND NOT pg_visible_in_snapshot(c.txid, old.s)
"""


def _changed_rows(source: Source, since: str) -> tuple[str, list[tuple[int, int]], list[int]] | None:
    """Which rows of `source`'s table changed since snapshot `since`: the current snapshot, the
    ranges of ids inserted and the ids updated or deleted; None if the change log cannot say (a
    truncate, a statement over its id limit, a log pruned past `since`)."""
    conn = db.engine().raw_connection()
    try:
        with conn.cursor() as cur:
            rows = cur.execute(_CHANGED_ROWS, [since, list(source.tables)]).fetchall()
    finally:
        conn.close()
    snapshot, pruned = rows[0][0], rows[0][1]
    if pruned:
        return None
    ranges: list[tuple[int, int]] = []
    ids: set[int] = set()
    for _, _, op, first, last, changed in rows:
        if op == "insert":
            ranges.append((int(first), int(last)))
        elif op in ("update", "delete") and changed is not None:
            ids.update(int(i) for i in changed)
        elif op is not None:
            return None
    return snapshot, ranges, sorted(ids)


@contextmanager
def _reading_nothing() -> Iterator[None]:
    """Reads in the block are the frame's own business: not what the enclosing build used."""
    token = _reading.set(None)
    try:
        yield
    finally:
        _reading.reset(token)


def result(name: str, build: Callable[[], T]) -> T:
    """What a page shows for one set of filters (`name` says which), cached like frames until a
    table it was built from changes; the most recently used are kept, RESULTS_KEPT at most and
    RESULTS_BYTES of frames (the latest is kept whatever its size)."""
    now = _building.get() or db.versions()
    key = (db.url(), name)
    with _guard:
        hit = _results.get(key)
        if hit is not None and now.unchanged(hit.version, hit.tables):
            _results.move_to_end(key)
        else:
            hit = None
    if hit is None:
        hit = _built(now, build)
        hit = replace(hit, size=_size(hit.value))
        with _guard:
            _results[key] = hit
            _results.move_to_end(key)
            while len(_results) > 1 and (len(_results) > RESULTS_KEPT
                                         or sum(e.size for e in _results.values()) > RESULTS_BYTES):
                _results.popitem(last=False)
    _used(*hit.tables, entry=(name, hit))
    return hit.value


def _built(now: Versions, build: Callable[[], T], tables: Collection[str] | None = None) -> _Entry:
    """`build()` run at versions `now`, with the tables it depends on: `tables` if given; else
    those of the frames it used, and those the enclosing build had used before it (the frames it
    was handed came from there); every table when that is none (it read otherwise). It records
    the generation of the frames it used, directly or through what it used."""
    before = _reading.get()
    pinned, reading = _building.set(now), _reading.set(_Reads())
    try:
        value = build()
        used = _reading.get()
    finally:
        _building.reset(pinned)
        _reading.reset(reading)
    inputs = {**before.inputs, **used.inputs} if before else used.inputs
    if tables is None:
        tables = used.tables | before.tables if before else used.tables
    return _Entry(now.number, frozenset(tables or (ANY,)), value, inputs=inputs)


def _size(value: object) -> int:
    """The bytes of the Polars frames in `value`: a frame, or a dataclass, dict, list or tuple of them."""
    if isinstance(value, pl.DataFrame):
        return value.estimated_size()
    if is_dataclass(value):
        value = [getattr(value, f.name) for f in fields(value)]
    if isinstance(value, dict):
        value = list(value.values())
    return sum(_size(v) for v in value) if isinstance(value, (list, tuple)) else 0


def _used(*tables: str, entry: tuple[str, _Entry] | None = None) -> None:
    """Note that the build in progress, if any, used `tables`, and the cached `entry` (name, entry):
    a frame by its generation, a value by the frames it was made from."""
    if (reading := _reading.get()) is None:
        return
    reading.tables.update(tables)
    if entry is not None:
        name, hit = entry
        reading.inputs.update(hit.inputs)
        if hit.generation:
            reading.inputs[name] = hit.generation


@sa.event.listens_for(sa.Engine, "before_cursor_execute")
def _queried(*_: object) -> None:
    """A SQLAlchemy query run by a build: its tables are not known either."""
    _used(ANY)


@contextmanager
def recording() -> Iterator[list[tuple[str, Sequence | None]]]:
    """Collect the (sql, params) of every read in the block (the benchmark's raw transfers)."""
    reads: list[tuple[str, Sequence | None]] = []
    _recorders.append(reads)
    try:
        yield reads
    finally:
        _recorders.remove(reads)


def forget_results() -> None:
    """Forget the cached results, keeping the frames (the benchmark's first view of new filters)."""
    with _guard:
        _results.clear()


def clear() -> None:
    """Forget every cached frame and result (tests, the benchmark's cold runs)."""
    with _guard:
        _cache.clear()
        _results.clear()
        _stale.clear()
