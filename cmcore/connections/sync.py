"""One sync of a connection, as the worker runs it: fetch everything after the cursor (every page),
import it through the importer (one transaction, the import history), then move the cursor. A fault
anywhere before the import's commit leaves the cursor where it was: the next sync fetches the same
items again, and importing them again changes nothing."""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from cmcore import db, ingest, platforms
from cmcore.access import Principal
from cmcore.connections import CONNECTORS, http, vault
from cmcore.connections.batch import Batch
from cmcore.ingest.canonical import Rejected
from cmcore.settings import ConfigError

log = logging.getLogger("cmcore.connections")
_DUE = ("SELECT id FROM connection WHERE removed_at IS NULL AND (requested_at IS NOT NULL OR (NOT paused"
        " AND (retry_after IS NULL OR retry_after <= :now) AND (last_attempt_at IS NULL"
        " OR last_attempt_at + make_interval(mins => every_minutes) <= :now))) ORDER BY id")


@dataclass(frozen=True)
class Outcome:
    """What a sync did: its state after it, the API items read, rows added or changed, the error."""

    state: str
    items: int = 0
    rows: int = 0
    error: str | None = None
    run_id: int | None = None


def due(now: datetime) -> list[int]:
    """The connections to sync at `now`: asked for, or their schedule come (not paused, not asked
    by the platform to wait)."""
    with db.engine().connect() as conn:
        return list(conn.execute(sa.text(_DUE), {"now": now}).scalars())


@db.retried
def _save(connection_id: int, **values: object) -> None:
    sets = ", ".join(f"{k} = :{k}" if k != "cursor" else "cursor = CAST(:cursor AS jsonb)" for k in values)
    with db.transaction() as conn:
        conn.execute(sa.text(f"UPDATE connection SET {sets} WHERE id = :id"), {"id": connection_id, **values})


@db.retried
def failed(connection_id: int, state: str, error: str, now: datetime, **values: object) -> Outcome:
    log.warning("connection #%d: %s", connection_id, error)
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE connection SET state = :state, last_error = :error,"
                             " failing_since = coalesce(failing_since, :now)" + "".join(f", {k} = :{k}" for k in values)
                             + " WHERE id = :id"),
                     {"id": connection_id, "state": state, "error": error, "now": now, **values})
    return Outcome(state, error=error)


@db.retried
def _claim(connection_id: int, now: datetime) -> sa.Row | None:
    with db.transaction() as conn:
        return conn.execute(sa.text(
            "UPDATE connection SET last_attempt_at = :now, requested_at = NULL WHERE id = :id AND removed_at IS NULL"
            " RETURNING id, kind, platform, settings, secret, cursor"), {"id": connection_id, "now": now}).first()


def _platform(actor: Principal, slug: str, kind: str) -> None:
    """The platform canonical files name, added if missing (its name is then the admins')."""
    with db.engine().connect() as conn:
        if conn.execute(sa.text("SELECT 1 FROM platform WHERE slug = :s"), {"s": slug}).first() is None:
            platforms.save(actor, slug, slug.title(), kind)


def run(connection_id: int, now: datetime | None = None, **client: object) -> Outcome | None:
    """Sync the connection now (None: it was removed). `client` overrides the HTTP client's
    waits (the tests' and the benchmark's)."""
    now = now or datetime.now(UTC)
    row = _claim(connection_id, now)
    if row is None:
        return None
    connector = CONNECTORS[row.kind]
    actor = Principal(f"connection-{connection_id}", "admin")
    with tempfile.TemporaryDirectory(prefix="cm-sync-") as folder:
        batch = Batch(Path(folder), dict(row.cursor), platform=row.platform)
        try:
            api = connector.client(row.settings, vault.unseal(row.secret))
            for key, value in client.items():
                setattr(api, key, value)
            connector.fetch(api, row.settings, dict(row.cursor), batch)
            if batch.files and connector.SOURCE == "canonical":
                _platform(actor, row.platform, row.kind)
            result = ingest.run(connector.SOURCE, batch.files, actor, platform=row.platform) if batch.files else None
        except http.Revoked as err:
            return failed(connection_id, "revoked", str(err), now)
        except http.Throttled as err:
            return failed(connection_id, "failing", str(err), now, retry_after=err.until)
        except (http.Fault, ConfigError, Rejected, ingest.ImportFailed) as err:
            return failed(connection_id, "failing", str(err), now)
        except Exception as err:  # an answer of a shape the connector did not expect
            log.exception("connection #%d: the sync failed", connection_id)
            return failed(connection_id, "failing", f"the sync failed: {type(err).__name__}: {err}"[:500], now)
    rows = sum(c.get("inserted", 0) + c.get("updated", 0) for c in result.counts.values()) if result else 0
    _save(connection_id, cursor=json.dumps(batch.cursor), state="ok", last_success_at=now, last_rows=rows,
          last_import=result.run_id if result else None, last_error=None, failing_since=None, retry_after=None)
    log.info("connection #%d: %d item(s) read, %d row(s) added or changed", connection_id, batch.items, rows)
    return Outcome("ok", batch.items, rows, run_id=result.run_id if result else None)
