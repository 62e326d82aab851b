"""The append-only audit log: one row per state change, written in the change's transaction."""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

_INSERT = sa.text(
    "INSERT INTO audit_log (actor, action, entity, entity_id, detail)"
    " VALUES (:actor, :action, :entity, :entity_id, CAST(:detail AS jsonb))"
)


def record(conn: sa.Connection, actor: str, action: str, entity: str, entity_id: Any = None,
           **detail: Any) -> None:
    """Append one audit row inside the caller's transaction `conn`."""
    conn.execute(_INSERT, {
        "actor": actor, "action": action, "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "detail": json.dumps(detail, default=str),
    })
