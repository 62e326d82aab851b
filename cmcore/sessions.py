"""Signed-in sessions the server can revoke.

A sign-in starts a row in `app_session` and hands the browser a signed cookie (an HS256 JWT) that
carries the session's random id, the user and the user's session generation. Every run of the app
checks the cookie's signature and expiry, then the row and the generation in one query: ending one
session (signing out) ends its row, bumping the generation (a password change or reset, a
deactivation, a role change, "sign out everywhere") ends all of a user's sessions at once. A
revoked, expired, forged or malformed cookie is simply no session.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
import sqlalchemy as sa

from cmcore import audit, db, settings
from cmcore.access import Principal

_ALGORITHM = "HS256"
_CLAIMS = ("sub", "sid", "gen", "exp")  # when it started is the database's (app_session)
KEEP_ENDED_DAYS = 30  # ended and expired rows are kept this long (the account page lists live ones)


def subkey(purpose: str) -> bytes:
    """A key of its own for each use of the cookie key (signing cookies, naming login attempts)."""
    return hmac.new(settings.current().cookie_key.encode(), purpose.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Session:
    token: str  # the cookie's value
    principal: Principal
    expires_at: datetime
    must_change_password: bool
    lang: str | None = None  # the language the user chose (None: not chosen)


def _row_id(sid: bytes) -> bytes:
    return hashlib.sha256(sid).digest()


def start(conn: sa.Connection, username: str, lifetime: timedelta) -> str:
    """Open a session for `username` inside the caller's transaction; return its signed token."""
    sid = secrets.token_bytes(32)
    row = conn.execute(sa.text(
        "INSERT INTO app_session (id, username, generation, expires_at)"
        " SELECT :id, username, session_generation, now() + make_interval(secs => :secs)"
        " FROM app_user WHERE username = :u RETURNING generation, expires_at"),
        {"id": _row_id(sid), "u": username, "secs": lifetime.total_seconds()}).one()
    conn.execute(sa.text("DELETE FROM app_session WHERE coalesce(ended_at, expires_at)"
                         " < now() - make_interval(days => :days)"), {"days": KEEP_ENDED_DAYS})
    claims = {"sub": username, "sid": base64.urlsafe_b64encode(sid).decode(), "gen": row.generation,
              "exp": int(row.expires_at.timestamp())}
    return jwt.encode(claims, subkey("session"), algorithm=_ALGORITHM)


def _claims(token: str) -> dict | None:
    """The token's claims if its signature, algorithm, expiry and shape are right, else None."""
    try:
        claims = jwt.decode(token, subkey("session"), algorithms=[_ALGORITHM],
                            options={"require": list(_CLAIMS)})
        sid = base64.urlsafe_b64decode(claims["sid"].encode())
    except (jwt.PyJWTError, AttributeError, TypeError, ValueError):
        return None
    if not (isinstance(claims["sub"], str) and type(claims["gen"]) is int and len(sid) == 32):
        return None
    return {**claims, "sid": sid}


def resume(token: str | None) -> Session | None:
    """The live session `token` names, read afresh (a role change applies at once), or None if the
    token is revoked, expired, forged or malformed, or its user inactive."""
    claims = _claims(token) if token else None
    if claims is None:
        return None
    with db.engine().connect() as conn:
        row = conn.execute(sa.text(
            "SELECT u.username, u.role, u.sponsor_id, u.must_change_password, u.lang, s.expires_at"
            " FROM app_session s JOIN app_user u USING (username)"
            " WHERE s.id = :id AND u.username = :u AND s.generation = :gen AND u.session_generation = :gen"
            "   AND u.active AND s.ended_at IS NULL AND s.expires_at > now()"),
            {"id": _row_id(claims["sid"]), "u": claims["sub"], "gen": claims["gen"]}).first()
    if row is None:
        return None
    return Session(token, Principal(row.username, row.role, row.sponsor_id), row.expires_at,
                   row.must_change_password, row.lang)


def end(token: str | None) -> None:
    """Sign out: the session `token` names is over, whoever holds a copy of the cookie."""
    claims = _claims(token) if token else None
    if claims is not None:
        with db.transaction() as conn:
            ended = conn.execute(sa.text("UPDATE app_session SET ended_at = now()"
                                         " WHERE id = :id AND username = :u AND ended_at IS NULL"),
                                 {"id": _row_id(claims["sid"]), "u": claims["sub"]}).rowcount
            if ended:
                audit.record(conn, claims["sub"], "logout", "app_user", claims["sub"])


def live(username: str) -> list[dict]:
    """The user's sessions still open: when each started and when it expires, newest first."""
    with db.engine().connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT s.started_at, s.expires_at FROM app_session s JOIN app_user u USING (username)"
            " WHERE s.username = :u AND s.generation = u.session_generation AND s.ended_at IS NULL"
            "   AND s.expires_at > now() ORDER BY s.started_at DESC"), {"u": username})
        return [dict(r._mapping) for r in rows]
