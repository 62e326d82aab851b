"""Users of the app: bcrypt hashes in `app_user`, roles, lockout after failed logins.

The login form itself is streamlit-authenticator's (see ui/login.py); this module is the source of
truth it is fed from and reports back to, so the widget can be swapped without touching the rules.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime

import bcrypt
import sqlalchemy as sa

from cmcore import audit, db
from cmcore.access import ROLES, Principal, require

MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 10
# bcrypt's work factor; the test suite lowers it (CM_BCRYPT_ROUNDS=4) to stay fast.
BCRYPT_ROUNDS = max(4, int(os.environ.get("CM_BCRYPT_ROUNDS", "12")))
# Shown to the login widget in place of a locked user's hash: no password matches it.
_LOCKED_HASH = bcrypt.hashpw(secrets.token_bytes(32), bcrypt.gensalt(rounds=4)).decode()


class UserError(ValueError):
    """A user operation was refused; the message says why."""


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    email: str | None
    role: str
    sponsor_id: int | None
    active: bool
    failed_logins: int
    locked_until: datetime | None


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def new_password() -> str:
    """A random password to hand out once."""
    return secrets.token_urlsafe(12)


def _row_to_user(row: sa.Row) -> User:
    return User(**row._mapping)


_USER_COLUMNS = "username, display_name, email, role, sponsor_id, active, failed_logins, locked_until"


def get_user(username: str) -> User | None:
    with db.engine().connect() as conn:
        row = conn.execute(sa.text(f"SELECT {_USER_COLUMNS} FROM app_user WHERE username = :u"),
                           {"u": username.lower()}).first()
    return _row_to_user(row) if row else None


def list_users(actor: Principal) -> list[User]:
    require(actor, "admin")
    with db.engine().connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {_USER_COLUMNS} FROM app_user ORDER BY username"))
        return [_row_to_user(r) for r in rows]


def add_user(actor: Principal, username: str, display_name: str, role: str, password: str,
             sponsor_id: int | None = None, email: str | None = None) -> User:
    """Create a user (admins only); the password is stored as a bcrypt hash."""
    require(actor, "admin")
    username = username.strip().lower()
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if (role == "sponsor") != (sponsor_id is not None):
        raise UserError("a sponsor user needs its sponsor; other roles take none")
    params = {"u": username, "n": display_name.strip() or username, "e": email or None,
              "h": hash_password(password), "r": role, "s": sponsor_id}
    try:
        with db.transaction() as conn:
            conn.execute(sa.text(
                "INSERT INTO app_user (username, display_name, email, password_hash, role, sponsor_id)"
                " VALUES (:u, :n, :e, :h, :r, :s)"), params)
            audit.record(conn, actor.username, "user.add", "app_user", username, role=role,
                         sponsor_id=sponsor_id)
    except sa.exc.IntegrityError as err:
        constraint = err.orig.diag.constraint_name
        if constraint == "app_user_pkey":
            raise UserError(f"user {username!r} already exists") from None
        if constraint == "app_user_sponsor_id_fkey":
            raise UserError(f"sponsor {sponsor_id} does not exist") from None
        if constraint == "app_user_username_check":
            raise UserError("a username is 3 to 40 characters: lower-case letters, digits, . _ -") from None
        raise
    return get_user(username)


def _update(actor: Principal, username: str, action: str, sql: str, **params) -> None:
    with db.transaction() as conn:
        done = conn.execute(sa.text(sql + " WHERE username = :u"), {"u": username, **params})
        if done.rowcount != 1:
            raise UserError(f"no user {username!r}")
        audit.record(conn, actor.username, action, "app_user", username,
                     **{k: v for k, v in params.items() if k != "h"})


def set_password(actor: Principal, username: str, password: str) -> None:
    """An administrator sets someone's password (and so unlocks the account)."""
    require(actor, "admin")
    _update(actor, username, "user.password", "UPDATE app_user SET password_hash = :h,"
            " failed_logins = 0, locked_until = NULL", h=hash_password(password))


def change_own_password(actor: Principal, current: str, new: str) -> None:
    """Any signed-in user changes their own password, proving the current one first."""
    require(actor, *ROLES)
    with db.engine().connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM app_user WHERE username = :u"),
                              {"u": actor.username}).scalar()
    if stored is None or not bcrypt.checkpw(current.encode(), stored.encode()):
        raise UserError("the current password is wrong")
    _update(actor, actor.username, "user.password", "UPDATE app_user SET password_hash = :h",
            h=hash_password(new))


def set_role(actor: Principal, username: str, role: str, sponsor_id: int | None = None) -> None:
    require(actor, "admin")
    if actor.username == username:
        raise UserError("an administrator cannot change their own role")
    if role not in ROLES or (role == "sponsor") != (sponsor_id is not None):
        raise UserError("choose a role, and a sponsor for the sponsor role only")
    _update(actor, username, "user.role", "UPDATE app_user SET role = :r, sponsor_id = :s",
            r=role, s=sponsor_id)


def set_active(actor: Principal, username: str, active: bool) -> None:
    require(actor, "admin")
    if actor.username == username:
        raise UserError("an administrator cannot deactivate their own account")
    _update(actor, username, "user.activate" if active else "user.deactivate",
            "UPDATE app_user SET active = :a", a=active)


def unlock(actor: Principal, username: str) -> None:
    require(actor, "admin")
    _update(actor, username, "user.unlock",
            "UPDATE app_user SET failed_logins = 0, locked_until = NULL")


# ------------------------------------------------------------------ login bookkeeping


def credentials() -> dict:
    """The credentials dict streamlit-authenticator checks logins against (a fresh copy).

    Inactive users are left out; a locked user's hash is replaced by one no password matches.
    """
    with db.engine().connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT username, display_name, email, password_hash, role,"
            " coalesce(locked_until > now(), false) AS locked FROM app_user WHERE active"))
        return {"usernames": {
            r.username: {"name": r.display_name, "email": r.email or "", "roles": [r.role],
                         "password": _LOCKED_HASH if r.locked else r.password_hash,
                         "failed_login_attempts": 0, "logged_in": False}
            for r in rows}}


def locked_until(username: str) -> datetime | None:
    """When the account's lock ends, if it is locked now."""
    with db.engine().connect() as conn:
        return conn.execute(sa.text(
            "SELECT locked_until FROM app_user WHERE username = :u AND locked_until > now()"),
            {"u": username.lower()}).scalar()


def record_failed_login(username: str) -> datetime | None:
    """Count a wrong password; the 5th in a row locks the account for 15 minutes.

    One UPDATE, so concurrent attempts are all counted. Returns the lock's end if locked.
    A locked account's attempts do not extend the lock.
    """
    with db.transaction() as conn:
        row = conn.execute(sa.text(
            "UPDATE app_user SET"
            "  failed_logins = CASE WHEN locked_until > now() THEN failed_logins ELSE failed_logins + 1 END,"
            "  locked_until = CASE WHEN locked_until > now() THEN locked_until"
            "    WHEN failed_logins + 1 >= :max THEN now() + make_interval(mins => :mins) END"
            " WHERE username = :u RETURNING failed_logins, locked_until"),
            {"u": username.lower(), "max": MAX_FAILED_LOGINS, "mins": LOCK_MINUTES}).first()
        if row is None:
            return None
        audit.record(conn, username.lower(), "login.failed", "app_user", username.lower(),
                     failed_logins=row.failed_logins)
        return row.locked_until


def record_login(username: str) -> Principal | None:
    """A successful sign-in: reset the failure count, audit it, return the principal."""
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE app_user SET failed_logins = 0, locked_until = NULL"
                             " WHERE username = :u AND active"), {"u": username})
        audit.record(conn, username, "login", "app_user", username)
    return principal(username)


def principal(username: str) -> Principal | None:
    """The principal of an active user, read afresh (a role or sponsor change applies at once)."""
    user = get_user(username)
    if user is None or not user.active:
        return None
    return Principal(user.username, user.role, user.sponsor_id)
