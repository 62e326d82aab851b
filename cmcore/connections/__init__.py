"""Connections to the platforms' APIs (docs/connections.md): administrators add, test, schedule,
pause and remove them, and ask for a sync now; the worker syncs each when it is due (`sync`).
Secrets are sealed at once (`vault`) and never read back to a page, an audit row or a log."""
from __future__ import annotations

import json
import re
from types import ModuleType

import polars as pl
import sqlalchemy as sa

from cmcore import audit, db, frames
from cmcore.access import Principal, require
from cmcore.connections import discord, discourse, feed, reddit, stackexchange, vault
from cmcore.ingest.canonical import SLUG
from cmcore.refusal import Refusal

ADMINS = ("admin",)
# kind → its connector: SOURCE (the importer), SETTINGS and SECRETS (what an admin enters), DEFAULTS
# (of the settings), client(settings, secrets), probe(client, settings) and fetch(client, settings, cursor, batch)
CONNECTORS: dict[str, ModuleType] = {"discourse": discourse, "stackexchange": stackexchange, "discord": discord,
                                     "reddit": reddit, "feed": feed}
OPTIONAL = {"key"}  # secrets that may be left empty (Stack Exchange's key)
MINUTES = (5, 10080)  # the shortest and longest schedule


def listing(actor: Principal) -> pl.DataFrame:
    """The connections not removed, with their state: last success, rows it added, lag (minutes
    since the last success), last error. No secret."""
    require(actor, *ADMINS)
    return frames.read(
        "SELECT id, kind, name, platform, settings::text AS settings, every_minutes, paused, state, requested_at,"
        " last_attempt_at, last_success_at, last_rows, last_import,"
        " round(extract(epoch FROM now() - last_success_at) / 60)::bigint AS lag_minutes, last_error, retry_after"
        " FROM connection WHERE removed_at IS NULL ORDER BY id")


def _check(kind: str, name: str, platform: str | None, settings: dict[str, str], secrets: dict[str, str],
           every_minutes: int) -> None:
    if kind not in CONNECTORS:
        raise Refusal("{kind} is not one of {kinds}", kind=repr(kind), kinds=", ".join(CONNECTORS))
    if not 1 <= len(name) <= 80:
        raise Refusal("a connection's name has 1 to 80 characters")
    if kind != "feed" and not re.match(SLUG, platform or ""):
        raise Refusal("{slug} is not a platform slug: lower-case letters, digits, - and _, up to 40",
                      slug=repr(platform))
    connector = CONNECTORS[kind]
    for key in connector.SETTINGS:
        if not settings.get(key):
            raise Refusal("{field} is required", field=key)
    for key in connector.SECRETS:
        if not secrets.get(key) and key not in OPTIONAL:
            raise Refusal("{field} is required", field=key)
    for key, pattern in getattr(connector, "PATTERNS", {}).items():
        if not re.fullmatch(pattern, settings[key]):
            raise Refusal("{value} is not a valid {field}", value=repr(settings[key]), field=key)
    if (url := settings.get("url")) is not None and not re.match(r"^https?://[^\s/]+", url):
        raise Refusal("{url} is not a web address (http:// or https://)", url=repr(url))
    if not MINUTES[0] <= every_minutes <= MINUTES[1]:
        raise Refusal("a sync runs every 5 minutes to every 7 days (10,080 minutes)")


@db.retried
def add(actor: Principal, kind: str, name: str, platform: str | None, settings: dict[str, str],
        secrets: dict[str, str], every_minutes: int = 60) -> int:
    """A new connection (its secrets sealed); its id. The worker syncs it at its next minute."""
    require(actor, *ADMINS)
    name, settings = name.strip(), {k: str(v).strip() for k, v in settings.items()}
    secrets = {k: str(v).strip() for k, v in secrets.items() if str(v).strip()}
    platform = platform.strip().lower() if platform else None
    _check(kind, name, platform, settings, secrets, every_minutes)
    sealed = vault.seal(secrets)
    with db.transaction() as conn:
        if conn.execute(sa.text("SELECT 1 FROM connection WHERE lower(name) = lower(:n) AND removed_at IS NULL"),
                        {"n": name}).first():
            raise Refusal("a connection named {name} exists already", name=repr(name))
        new = conn.execute(sa.text(
            "INSERT INTO connection (kind, name, platform, settings, secret, every_minutes, created_by)"
            " VALUES (:kind, :name, :platform, CAST(:settings AS jsonb), :secret, :every, :by) RETURNING id"),
            {"kind": kind, "name": name, "platform": platform, "settings": json.dumps(settings), "secret": sealed,
             "every": every_minutes, "by": actor.username}).scalar_one()
        audit.record(conn, actor.username, "connection.add", "connection", new, kind=kind, name=name,
                     platform=platform, settings=settings, every_minutes=every_minutes, secrets=sorted(secrets))
    return new


def _change(actor: Principal, connection_id: int, action: str, sql: str, **values: object) -> None:
    """One change of a live connection, audited; a removed or unknown one is refused."""
    with db.transaction() as conn:
        done = conn.execute(sa.text(f"UPDATE connection SET {sql} WHERE id = :id AND removed_at IS NULL"),
                            {"id": connection_id, **values}).rowcount
        if not done:
            raise Refusal("there is no connection #{id}", id=connection_id)
        audit.record(conn, actor.username, action, "connection", connection_id, **values)


@db.retried
def set_paused(actor: Principal, connection_id: int, paused: bool) -> None:
    """Pause a connection (the worker leaves it alone) or resume it."""
    require(actor, *ADMINS)
    _change(actor, connection_id, "connection.pause" if paused else "connection.resume", "paused = :paused",
            paused=paused)


@db.retried
def set_schedule(actor: Principal, connection_id: int, every_minutes: int) -> None:
    """Sync every `every_minutes` minutes (5 to 10,080)."""
    require(actor, *ADMINS)
    if not MINUTES[0] <= every_minutes <= MINUTES[1]:
        raise Refusal("a sync runs every 5 minutes to every 7 days (10,080 minutes)")
    _change(actor, connection_id, "connection.schedule", "every_minutes = :every", every=every_minutes)


@db.retried
def request_sync(actor: Principal, connection_id: int) -> None:
    """Sync at the worker's next minute, whatever the schedule (paused or not)."""
    require(actor, *ADMINS)
    _change(actor, connection_id, "connection.sync_now", "requested_at = now()")


@db.retried
def remove(actor: Principal, connection_id: int) -> None:
    """Stop syncing and forget the secrets; what was imported stays, and so does the history."""
    require(actor, *ADMINS)
    _change(actor, connection_id, "connection.remove", "removed_at = now(), secret = NULL")


def try_now(actor: Principal, connection_id: int) -> int:
    """Fetch the first page now (nothing written): the items on it. Raises http.Fault (Revoked:
    the credentials were refused) saying what went wrong."""
    require(actor, *ADMINS)
    with db.engine().connect() as conn:
        row = conn.execute(sa.text("SELECT kind, settings, secret FROM connection WHERE id = :id"
                                   " AND removed_at IS NULL"), {"id": connection_id}).first()
    if row is None:
        raise Refusal("there is no connection #{id}", id=connection_id)
    connector = CONNECTORS[row.kind]
    return connector.probe(connector.client(row.settings, vault.unseal(row.secret)), row.settings)
