"""Postgres → Arrow (ADBC) → Polars readers, cached per data version of the tables they read.

A frame is read again only once a table it reads has been written (each write bumps the data
version and records it as that table's, `db.versions`), so a click never re-reads unchanged data,
a write is seen at once, and a write to one table (a reward's approval, a setting) leaves the
frames of the others cached: the KPI pages do not read 10 M activities again for it. What is
built from frames (rollups, a page's result) depends on the tables of the frames it used, and on
every table if it ran a query of its own. Frames are immutable and shared between sessions.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, NamedTuple, TypeVar

import adbc_driver_postgresql.dbapi as adbc
import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from cmcore import db
from cmcore.version_feed import ANY, Versions


class Source(NamedTuple):
    sql: str
    tables: tuple[str, ...]  # the tables it reads


# The columns the pages need, one projection per frame (narrow reads move fewer bytes).
TABLES: dict[str, Source] = {
    "platforms": Source("SELECT id AS platform_id, slug, name, kind FROM platform ORDER BY id", ("platform",)),
    "members": Source(  # in id order: a table's few names are found by binary search
        "SELECT id AS member_id, display_name, joined_at, is_staff FROM member WHERE merged_into IS NULL ORDER BY id",
        ("member",)),
    "identities": Source("SELECT member_id, platform_id, joined_at FROM member_identity", ("member_identity",)),
    "activity": Source(
        "SELECT id, platform_id, member_id, kind, parent_id, thread_id, created_at,"
        " is_question, accepted FROM activity", ("activity",)),
    "threads": Source("SELECT id AS thread_id, title, url, tags FROM activity WHERE kind = 'thread'", ("activity",)),
    "moderation": Source(  # in report order: a period's cases are a slice
        "SELECT c.id, c.platform_id, c.member_id, c.rule_id, r.code AS rule, c.reported_at,"
        " c.first_action_at, c.resolved_at, c.outcome FROM moderation_case c JOIN rule r ON r.id = c.rule_id"
        " ORDER BY c.reported_at, c.id", ("moderation_case", "rule")),
    "mentions": Source(  # in time order: reputation finds its windows by binary search
        "SELECT source, url, author, body, created_at, reach, lang, sentiment FROM mention ORDER BY created_at",
        ("mention",)),
    "events": Source("SELECT id AS event_id, title, format, starts_at FROM event", ("event",)),
    "attendance": Source("SELECT event_id, member_id, registered_at, attended FROM event_attendance",
                         ("event_attendance",)),
}

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry:
    """A cached value, built at data version `version` from `tables` (ANY: unknown ones)."""

    version: int
    tables: frozenset[str]
    value: Any
    size: int = 0  # bytes of the Polars frames it holds (results only)


_cache: dict[tuple[str, str], _Entry] = {}
_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()
_recorders: list[list[tuple[str, Sequence | None]]] = []
_idle: dict[str, list[adbc.Connection]] = {}  # ADBC connections kept between reads, by URL
_results: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
RESULTS_KEPT = 64
RESULTS_BYTES = 512 * 2**20  # what the kept results may hold (a year's board of 82,000 members: 13 MB)
_building: ContextVar[Versions | None] = ContextVar("building", default=None)  # the versions a build sees
_reading: ContextVar[set[str] | None] = ContextVar("reading", default=None)  # the tables a build has used


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
    """The frame `name` of TABLES as of the latest write of its tables."""
    sql, tables = TABLES[name]
    return derived(name, lambda: read(sql), tables)


def arrow(name: str) -> pa.Table:
    """The rows of `name` of TABLES as Arrow, as of the latest write of its tables: for work done
    on a few columns' arrays, where building a Polars frame of a few thousand rows would cost a
    tenth of the read (0.3–0.5 ms for the mentions' eight columns)."""
    sql, tables = TABLES[name]
    return derived(f"{name}:arrow", lambda: fetch(sql), tables)


def derived(name: str, build: Callable[[], T], tables: tuple[str, ...] | None = None) -> T:
    """What `build()` makes (a frame, or what is built from frames), cached until one of `tables`
    is written; by default the tables of what it used (see `_built`). Inside a `result`'s build the
    versions are the ones that result is built at: a view's frames agree with one another, and
    when the version feed is silent the view asks the server once, not once per frame (0.2 ms
    each, a cold small page's margin). A build that runs a query of its own names its tables to be
    kept through writes to others."""
    key = (db.url(), name)
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        now = _building.get() or db.versions()
        hit = _cache.get(key)
        if hit is None or not now.unchanged(hit.version, hit.tables):
            hit = _built(now, build, tables)
            with _guard:
                _cache[key] = hit
                for stale in [k for k, e in _cache.items()
                              if k[0] == key[0] and not now.unchanged(e.version, e.tables)]:
                    del _cache[stale]  # a table of theirs was written: they would never be served again
    _used(*hit.tables)
    return hit.value


def result(name: str, build: Callable[[], T]) -> T:
    """What a page shows for one set of filters (`name` says which), cached like frames until a
    table it was built from is written; the most recently used are kept, RESULTS_KEPT at most and
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
    _used(*hit.tables)
    return hit.value


def _built(now: Versions, build: Callable[[], T], tables: Collection[str] | None = None) -> _Entry:
    """`build()` run at versions `now`, with the tables it depends on: `tables` if given; else
    those of the frames it used, and those the enclosing build had used before it (the frames it
    was handed came from there); every table when that is none (it read otherwise)."""
    before = _reading.get()
    pinned, reading = _building.set(now), _reading.set(set())
    try:
        value = build()
        used = _reading.get()
    finally:
        _building.reset(pinned)
        _reading.reset(reading)
    if tables is None:
        tables = used | before if before else used
    return _Entry(now.number, frozenset(tables or (ANY,)), value)


def _size(value: object) -> int:
    """The bytes of the Polars frames in `value`: a frame, or a dataclass, dict, list or tuple of them."""
    if isinstance(value, pl.DataFrame):
        return value.estimated_size()
    if is_dataclass(value):
        value = [getattr(value, f.name) for f in fields(value)]
    if isinstance(value, dict):
        value = list(value.values())
    return sum(_size(v) for v in value) if isinstance(value, (list, tuple)) else 0


def _used(*tables: str) -> None:
    """Note that the build in progress, if any, used `tables`."""
    if (reading := _reading.get()) is not None:
        reading.update(tables)


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
