"""The audit log: one row per state change, written in the change's transaction, and the check
that nobody changed it since.

The database stamps each row (id, time, login role) and chains it when its transaction commits
(sql/0012): row n carries seq = n and hash = sha256(hash of row n-1 || its text), the first row
chaining to GENESIS; `audit_head` holds the last seq and hash. `verify` recomputes the chain here,
with Python's own sha256, so a row edited, deleted or inserted out of place shows even when the
database's functions were replaced; a superuser who rewrote the whole chain from some row on is
caught by an anchor: a (seq, hash) an earlier `verify` printed and someone kept outside the
database.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy as sa

from cmcore import db

GENESIS = hashlib.sha256(b"").digest()  # what the first row chains to
_INSERT = sa.text(
    "INSERT INTO audit_log (actor, action, entity, entity_id, detail)"
    " VALUES (:actor, :action, :entity, :entity_id, CAST(:detail AS jsonb))"
)
_ROWS = ("SELECT id, seq, at, db_user, actor, action, entity, entity_id, detail::text, hash FROM audit_log"
         " ORDER BY seq NULLS FIRST, id")


def record(conn: sa.Connection, actor: str, action: str, entity: str, entity_id: Any = None,
           **detail: Any) -> None:
    """Append one audit row inside the caller's transaction `conn`."""
    conn.execute(_INSERT, {
        "actor": actor, "action": action, "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "detail": json.dumps(detail, default=str),
    })


def row_text(seq: int, at: datetime, db_user: str | None, actor: str, action: str, entity: str,
             entity_id: str | None, detail: str) -> str:
    """What a row's hash covers, as sql/0012's audit_row_text writes it: each field as
    "<length>:<text>;" ("-;" for NULL), the time in UTC to the microsecond, the detail as
    PostgreSQL writes jsonb."""
    fields = (str(seq), at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), db_user, actor, action, entity,
              entity_id, detail)
    return "".join("-;" if f is None else f"{len(f)}:{f};" for f in fields)


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: the rows chained, the last one's seq and hash, and the first break."""

    rows: int
    seq: int
    hash: str  # hex
    problem: str | None = None  # None: the chain holds

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify(anchor: tuple[int, str] | None = None, url: str | None = None) -> Verdict:
    """Recompute the chain of the audit log (of `url`, default the app's database) and say where it
    first breaks, if it does; `anchor` (seq, hex hash) is a row an earlier verify saw."""
    seq, previous, rows = 0, GENESIS, 0
    with psycopg.connect(url or db.url()) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # one snapshot of the log and its head
        head = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
        kept = None
        with conn.cursor(name="audit_rows") as rows_cursor:
            rows_cursor.itersize = 10_000
            rows_cursor.execute(_ROWS)
            for row_id, row_seq, at, db_user, actor, action, entity, entity_id, detail, stored in rows_cursor:
                rows += 1
                if row_seq is None:
                    return _broken(rows - 1, seq, previous, f"row id {row_id} is outside the chain: it was inserted"
                                                           " with the database's triggers off")
                if row_seq != seq + 1:
                    return _broken(rows - 1, seq, previous, f"row seq {seq + 1} is missing: it was deleted")
                expected = hashlib.sha256(previous + row_text(row_seq, at, db_user, actor, action, entity, entity_id,
                                                              detail).encode()).digest()
                if stored is None or bytes(stored) != expected:
                    return _broken(rows - 1, seq, previous, f"row seq {row_seq} (id {row_id}) is not the row that"
                                                           " was chained there: it was changed or put in its place")
                seq, previous = row_seq, expected
                if anchor and seq == anchor[0]:
                    kept = previous.hex()
    if head is None or head[0] != seq or bytes(head[1]) != previous:
        last = "none" if head is None else f"seq {head[0]}"
        return _broken(rows, seq, previous, f"the chain ends at row seq {seq}, its head says {last}: rows at its end"
                                            " were deleted, or the head was changed")
    if anchor and kept != anchor[1].lower():
        return _broken(rows, seq, previous, f"row seq {anchor[0]} is not the one the anchor saw: the chain was"
                                            " rewritten from there on")
    return Verdict(rows, seq, previous.hex())


def _broken(rows: int, seq: int, previous: bytes, problem: str) -> Verdict:
    return Verdict(rows, seq, previous.hex(), problem)
