"""Community settings managers change in the app, stored in `app_setting` (with defaults)."""
from __future__ import annotations

import json
from zoneinfo import available_timezones

import sqlalchemy as sa

from cmcore import audit, db, frames
from cmcore.access import Principal, require

DEFAULTS: dict[str, object] = {
    "timezone": "Europe/Paris",
    "response_sla_hours": 24,
    "moderation_sla_hours": 2,
}


def stored() -> dict[str, object]:
    """Every row of `app_setting` (these settings, the leaderboard's scoring), read again only after
    a write to it, like the frames: every page asks for the time zone. Not to be changed in place."""
    return frames.derived("app_setting", _read_stored, ("app_setting",))


def _read_stored() -> dict[str, object]:
    with db.engine().connect() as conn:
        return dict(conn.execute(sa.text("SELECT key, value FROM app_setting")).all())


def store(conn: sa.Connection, key: str, value: object) -> None:
    """Write one `app_setting` row in the caller's transaction (which audits it)."""
    conn.execute(sa.text("INSERT INTO app_setting (key, value) VALUES (:k, CAST(:v AS jsonb))"
                         " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"),
                 {"k": key, "v": json.dumps(value)})


def get_settings() -> dict[str, object]:
    """The settings, their defaults where none is stored."""
    return {**DEFAULTS, **{k: v for k, v in stored().items() if k in DEFAULTS}}


def timezone() -> str:
    return str(get_settings()["timezone"])


def set_setting(actor: Principal, key: str, value: object) -> None:
    """Change one setting (managers and admins), audited."""
    require(actor, "admin", "manager")
    if key not in DEFAULTS:
        raise ValueError(f"unknown setting {key!r}")
    if key == "timezone" and value not in available_timezones():
        raise ValueError(f"unknown time zone {value!r}")
    if key.endswith("_hours") and not (isinstance(value, int | float) and 0 < value <= 24 * 90):
        raise ValueError("a threshold is a number of hours between 0 and 2160")
    with db.transaction() as conn:
        store(conn, key, value)
        audit.record(conn, actor.username, "setting.set", "app_setting", key, value=value)
