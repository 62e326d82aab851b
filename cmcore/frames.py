"""Postgres → Arrow (ADBC) → Polars readers, cached per data version.

A frame is read once per data version (the counter every write bumps), so a click never re-reads
unchanged data and a write is seen at once. Frames are immutable and shared between sessions.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any, TypeVar

import adbc_driver_postgresql.dbapi as adbc
import polars as pl
import pyarrow as pa

from cmcore import db

# The columns the pages need, one projection per frame (narrow reads move fewer bytes).
TABLES: dict[str, str] = {
    "platforms": "SELECT id AS platform_id, slug, name, kind FROM platform ORDER BY id",
    "members": (  # in id order: a table's few names are found by binary search
        "SELECT id AS member_id, display_name, joined_at, is_staff FROM member WHERE merged_into IS NULL ORDER BY id"
    ),
    "identities": "SELECT member_id, platform_id, joined_at FROM member_identity",
    "activity": (
        "SELECT id, platform_id, member_id, kind, parent_id, thread_id, created_at,"
        " is_question, accepted FROM activity"
    ),
    "threads": "SELECT id AS thread_id, title, url, tags FROM activity WHERE kind = 'thread'",
    "moderation": (  # in report order: a period's cases are a slice
        "SELECT c.id, c.platform_id, c.member_id, c.rule_id, r.code AS rule, c.reported_at,"
        " c.first_action_at, c.resolved_at, c.outcome FROM moderation_case c JOIN rule r ON r.id = c.rule_id"
        " ORDER BY c.reported_at, c.id"
    ),
    "mentions": (  # in time order: reputation finds its windows by binary search
        "SELECT source, url, author, body, created_at, reach, lang, sentiment FROM mention ORDER BY created_at"
    ),
    "events": "SELECT id AS event_id, title, format, starts_at FROM event",
    "attendance": "SELECT event_id, member_id, registered_at, attended FROM event_attendance",
}

T = TypeVar("T")
_cache: dict[tuple[str, str], tuple[int, Any]] = {}
_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()
_recorders: list[list[tuple[str, Sequence | None]]] = []
_idle: dict[str, list[adbc.Connection]] = {}  # ADBC connections kept between reads, by URL
_results: OrderedDict[tuple[str, int, str], Any] = OrderedDict()
RESULTS_KEPT = 64
_building: ContextVar[int | None] = ContextVar("building", default=None)  # the version a `result` is built at


def read(sql: str, params: Sequence | None = None) -> pl.DataFrame:
    """Run one query (parameters $1, $2…) and return its rows as a Polars frame."""
    return pl.from_arrow(fetch(sql, params))


def fetch(sql: str, params: Sequence | None = None) -> pa.Table:
    """Run one query (parameters $1, $2…) and return its rows as an Arrow table."""
    for recorder in _recorders:
        recorder.append((sql, params))
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
    """The frame `name` of TABLES as of the current data version."""
    return derived(name, lambda: read(TABLES[name]))


def arrow(name: str) -> pa.Table:
    """The rows of `name` of TABLES as Arrow, as of the current data version: for work done on a
    few columns' arrays, where building a Polars frame of a few thousand rows would cost a tenth
    of the read (0.3–0.5 ms for the mentions' eight columns)."""
    return derived(f"{name}:arrow", lambda: fetch(TABLES[name]))


def derived(name: str, build: Callable[[], T]) -> T:
    """What `build()` makes from other frames (a frame, or a tuple of them), cached per data
    version like them. Inside a `result`'s build, the version is the one that result is built
    at: a view's frames agree with one another, and when the version feed is silent the view asks
    the server once, not once per frame (0.2 ms each, a cold small page's margin)."""
    key = (db.url(), name)
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        version = _building.get()
        if version is None:
            version = db.data_version()
        hit = _cache.get(key)
        if hit is None or hit[0] != version:
            hit = (version, build())
            with _guard:
                _cache[key] = hit
                for stale in [k for k, (v, _) in _cache.items() if k[0] == key[0] and v < version]:
                    del _cache[stale]  # older data: would never be served again
        return hit[1]


def result(name: str, build: Callable[[], T]) -> T:
    """What a page shows for one set of filters (`name` says which), cached per data version like
    frames; the RESULTS_KEPT most recently used are kept."""
    version = db.data_version()
    key = (db.url(), version, name)
    with _guard:
        if key in _results:
            _results.move_to_end(key)
            return _results[key]
    token = _building.set(version)
    try:
        value = build()
    finally:
        _building.reset(token)
    with _guard:
        _results[key] = value
        while len(_results) > RESULTS_KEPT:
            _results.popitem(last=False)
    return value


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
