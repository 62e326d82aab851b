"""Community settings managers change in the app, stored in `app_setting` (with defaults)."""
from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa

from cmcore import audit, db, frames
from cmcore.access import Principal, require
from cmcore.refusal import Refusal

DEFAULTS: dict[str, object] = {
    "timezone": "Europe/Paris",
    "response_sla_hours": 24,
    "moderation_sla_hours": 2,
    "languages": ["fr", "en"],  # the languages the community writes (ISO 639-1): mentions in others are "other"
    # what one import may hold (cmcore.ingest.canonical.Limits), changed by administrators
    "import_archive_gb": 20,
    "import_archive_ratio": 50,
    "import_columns": 500,
    "import_field_chars": 10_000,
    "import_body_chars": 100_000,
}
# the import limits' ranges: (smallest, largest)
IMPORT_LIMITS: dict[str, tuple[float, float]] = {
    "import_archive_gb": (0.001, 1000), "import_archive_ratio": (1, 1000), "import_columns": (10, 100_000),
    "import_field_chars": (200, 10_000_000), "import_body_chars": (1000, 100_000_000),
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


def languages() -> tuple[str, ...]:
    """The languages the community writes, whose mentions get their language and sentiment scored."""
    return tuple(get_settings()["languages"])


def _check_languages(value: object) -> None:
    from cmcore.ingest import text  # its models are loaded only where a setting or a text needs them
    if not isinstance(value, list) or not value or len(set(value)) != len(value):
        raise Refusal("the community's languages are a list of distinct language codes, at least one")
    unknown = [code for code in value if code not in text.known()]
    if unknown:
        raise Refusal("{codes}: not languages the language model knows (ISO 639-1 codes such as fr)",
                      codes=", ".join(map(repr, unknown)))


def today() -> date:
    """The community's today: the date in its time zone (not the server's)."""
    return datetime.now(ZoneInfo(timezone())).date()


@db.retried
def set_setting(actor: Principal, key: str, value: object) -> None:
    """Change one setting (managers and admins; the import limits, admins), audited."""
    require(actor, *(("admin",) if key in IMPORT_LIMITS else ("admin", "manager")))
    if key not in DEFAULTS:
        raise Refusal("unknown setting {key}", key=repr(key))
    if key in IMPORT_LIMITS:
        low, high = IMPORT_LIMITS[key]
        if not (isinstance(value, int | float) and low <= value <= high):
            raise Refusal("{key} is a number between {low} and {high}", key=key, low=f"{low:g}", high=f"{high:g}")
    if key == "timezone" and value not in available_timezones():
        raise Refusal("unknown time zone {zone}", zone=repr(value))
    if key == "languages":
        _check_languages(value)
    if key.endswith("_hours") and not (isinstance(value, int | float) and 0 < value <= 24 * 90):
        raise Refusal("a threshold is a number of hours between 0 and 2160")
    with db.transaction() as conn:
        store(conn, key, value)
        audit.record(conn, actor.username, "setting.set", "app_setting", key, value=value)
