"""Which tables changed, as this process has heard: a thread polls the database's change log
(sql/0008: each writing statement appends a row, taking no lock any other writer waits for) and
keeps `Versions` in memory, so a view knows whether its caches are current without a round trip.

The log is read by snapshot, not by number: the changes a poll reports are the rows of
`change_log` its previous snapshot did not see and the current one does, so a transaction that
commits after a later one is still reported, whatever the order of their ids. Each report bumps
a counter local to this process; a cache records the counter it was built at, and is current
while none of its tables was bumped since.

Another process's write is heard within POLL_S of its commit; this process's own writes are
`db.versions`'s business (it catches up at once after them), and so is a silent feed: when it
has not polled for TRUSTED_S, `current()` is None and callers catch up themselves.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import psycopg

POLL_S = 0.25
TRUSTED_S = 5.0
RETRY_S = 1.0
PRUNE_S = 3600.0  # how often the thread prunes the log of what every cache has long caught up with
ANY = "*"  # what a cache built from a query of unknown tables depends on; in `Versions`: every table

# Changes since snapshot %s (or since ever, when it is None, which reports nothing): the current
# snapshot, whether the log was pruned past the old one (then anything may have changed), and the
# tables written by the transactions the old snapshot did not see.
CHANGED = """
SELECT pg_current_snapshot()::text,
       coalesce((SELECT pruned_upto >= pg_snapshot_xmin(s) FROM change_log_horizon), false),
       array(SELECT DISTINCT table_name FROM change_log
             WHERE txid >= pg_snapshot_xmin(s) AND NOT pg_visible_in_snapshot(txid, s))
FROM (SELECT coalesce(CAST(%s AS pg_snapshot), pg_current_snapshot()) AS s) old
"""

_counter = itertools.count(1)  # one sequence for the whole process: a new feed's numbers never repeat an old one's


@dataclass(frozen=True)
class Versions:
    """What this process has heard: `number` rises at each change heard, `tables` holds each
    table's number at its latest change (ANY: every table's), and `snapshot` is the database
    snapshot up to which changes are counted. Never modified: a newer one replaces it."""

    number: int = 0
    tables: Mapping[str, int] = field(default_factory=dict)
    snapshot: str | None = None

    def unchanged(self, since: int, tables: Collection[str]) -> bool:
        """Whether no table of `tables` (ANY: any table) changed after number `since`."""
        if self.tables.get(ANY, 0) > since:
            return False
        if ANY in tables:
            return self.number <= since
        return all(self.tables.get(t, 0) <= since for t in tables)

    def bumped(self, tables: Collection[str], snapshot: str) -> Versions:
        """These versions after changes to `tables` (ANY: to every table), counted up to `snapshot`."""
        if not tables:
            return Versions(self.number, self.tables, snapshot)
        number = next(_counter)
        return Versions(number, {**self.tables, **{t: number for t in tables}}, snapshot)


class VersionFeed:
    """The versions of the database at `url`, polled by a thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        start = next(_counter)  # whatever was cached before this feed is stale to it
        self._versions = Versions(start, {ANY: start})
        self._polled = float("-inf")  # time.monotonic() of the thread's last poll
        self._lock = threading.Lock()  # one catch-up at a time: each starts from the last one's snapshot
        self._stopped = threading.Event()
        threading.Thread(target=self._poll, name="change-log-feed", daemon=True).start()

    def current(self) -> Versions | None:
        """The latest versions, or None if the thread has not polled lately."""
        with self._lock:
            return self._versions if time.monotonic() - self._polled < TRUSTED_S else None

    def catch_up(self, conn: psycopg.Connection, polled: bool = False) -> Versions:
        """Count the changes the database has since the last catch-up, on `conn`; return the
        versions. `polled`: it is the thread's poll, which is therefore alive."""
        with self._lock:
            snapshot, pruned, tables = conn.execute(CHANGED, [self._versions.snapshot]).fetchone()
            if pruned and self._versions.snapshot is not None:
                tables = [ANY]
            self._versions = self._versions.bumped(tables, snapshot)
            if polled and not self._stopped.is_set():
                self._polled = time.monotonic()
            return self._versions

    def stop(self) -> None:
        """Stop polling (within POLL_S); `current()` is None from now on."""
        self._stopped.set()
        with self._lock:
            self._polled = float("-inf")

    def _poll(self) -> None:
        while not self._stopped.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    pruned = time.monotonic()
                    while not self._stopped.is_set():
                        self.catch_up(conn, polled=True)
                        if time.monotonic() - pruned > PRUNE_S:
                            conn.execute("SELECT prune_change_log()")
                            pruned = time.monotonic()
                        self._stopped.wait(POLL_S)
            except psycopg.Error:
                with self._lock:
                    self._polled = float("-inf")
                self._stopped.wait(RETRY_S)
