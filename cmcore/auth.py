"""Users of the app: roles, bcrypt hashes in `app_user`, and signing in.

Signing in checks the password (cmcore.passwords), the lockout (five failures in a row lock an
account for 15 minutes) and two rate limits (per username, whatever it is, and for the whole
console), then opens a session (cmcore.sessions). Every refusal costs the same bcrypt check and
says the same thing, so neither the time nor the message tells whether a username exists.
The form that calls it is ui/login.py.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from cmcore import audit, db, i18n, passwords, sessions
from cmcore.access import ROLES, Principal, require
from cmcore.refusal import Refusal

MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15
# Failed attempts a minute: per typed username (known or not), and for the whole console. A
# refused attempt is not counted, so a flood is slowed, not turned into a lockout of everyone.
MAX_FAILURES_PER_USERNAME_PER_MINUTE = 3
MAX_FAILURES_PER_MINUTE = 30
ANONYMOUS = "anonymous"  # the audit log's actor of a failed sign-in under an unknown username
# What a refused sign-in says (templates the form translates).
WRONG = "Wrong username or password. After {max} failed attempts in a row an account is locked for {minutes} minutes."
SLOWED_USERNAME = "Too many attempts for this username: wait {seconds} s and try again."
SLOWED_CONSOLE = "Too many sign-in attempts on the console right now: wait {seconds} s and try again."


class UserError(Refusal):
    """A user operation was refused (shown translated: cmcore.refusal)."""


class SignInRefused(UserError):
    """A sign-in was refused: wrong password, unknown, locked or inactive user, or too many tries."""


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
    must_change_password: bool
    lang: str | None = None  # the interface language chosen (None: the browser's)


def _hashed(password: str, *context: str) -> str:
    try:
        return passwords.hashed(password, *context)
    except passwords.PasswordRefused as err:
        raise UserError(err.message, **err.values) from None


_USER_COLUMNS = ("username, display_name, email, role, sponsor_id, active, failed_logins, locked_until,"
                 " must_change_password, lang")


def get_user(username: str) -> User | None:
    with db.engine().connect() as conn:
        row = conn.execute(sa.text(f"SELECT {_USER_COLUMNS} FROM app_user WHERE username = :u"),
                           {"u": username.lower()}).first()
    return User(**row._mapping) if row else None


def list_users(actor: Principal) -> list[User]:
    require(actor, "admin")
    with db.engine().connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {_USER_COLUMNS} FROM app_user ORDER BY username"))
        return [User(**r._mapping) for r in rows]


@db.retried
def add_user(actor: Principal, username: str, display_name: str, role: str, password: str,
             sponsor_id: int | None = None, email: str | None = None) -> User:
    """Create a user (admins only); the password is stored as a bcrypt hash, and its owner changes
    it at the first sign-in (an administrator has seen it)."""
    require(actor, "admin")
    username = username.strip().lower()
    if role not in ROLES:
        raise UserError("role must be one of {roles}", roles=", ".join(ROLES))
    if (role == "sponsor") != (sponsor_id is not None):
        raise UserError("a sponsor user needs its sponsor; other roles take none")
    display_name = display_name.strip() or username
    params = {"u": username, "n": display_name, "e": email or None,
              "h": _hashed(password, username, display_name), "r": role, "s": sponsor_id}
    try:
        with db.transaction() as conn:
            conn.execute(sa.text(
                "INSERT INTO app_user (username, display_name, email, password_hash, role, sponsor_id,"
                " must_change_password) VALUES (:u, :n, :e, :h, :r, :s, true)"), params)
            audit.record(conn, actor.username, "user.add", "app_user", username, role=role,
                         sponsor_id=sponsor_id)
    except sa.exc.IntegrityError as err:
        constraint = err.orig.diag.constraint_name
        if constraint == "app_user_pkey":
            raise UserError("user {user} already exists", user=username) from None
        if constraint == "app_user_sponsor_id_fkey":
            raise UserError("sponsor {sponsor} does not exist", sponsor=sponsor_id) from None
        if constraint == "app_user_username_check":
            raise UserError("a username is 3 to 40 characters: lower-case letters, digits, . _ -") from None
        raise
    return get_user(username)


def _update(actor: Principal, username: str, action: str, sets: str, end_sessions: bool, **params) -> None:
    """One audited change of a user (`sets`: the SET clause); `end_sessions` also bumps the user's
    session generation, which ends every session they have open."""
    sets = ", ".join(filter(None, (sets, "session_generation = session_generation + 1" * end_sessions)))
    with db.transaction() as conn:
        done = conn.execute(sa.text(f"UPDATE app_user SET {sets} WHERE username = :u"), {"u": username, **params})
        if done.rowcount != 1:
            raise UserError("no user {user}", user=username)
        audit.record(conn, actor.username, action, "app_user", username,
                     **{k: v for k, v in params.items() if k != "h"})


def _names(username: str) -> tuple[str, str]:
    user = get_user(username)
    return (username, user.display_name) if user else (username, "")


@db.retried
def set_password(actor: Principal, username: str, password: str) -> None:
    """An administrator sets someone's password: it unlocks the account, ends its sessions, and its
    owner changes it at the next sign-in."""
    require(actor, "admin")
    _update(actor, username, "user.password", "password_hash = :h, failed_logins = 0,"
            " locked_until = NULL, must_change_password = true", True,
            h=_hashed(password, *_names(username)))


@db.retried
def change_own_password(actor: Principal, current: str, new: str) -> None:
    """Any signed-in user changes their own password, proving the current one first. Every session
    of theirs ends, this one too: they sign in again with the new password."""
    require(actor, *ROLES)
    with db.engine().connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM app_user WHERE username = :u"),
                              {"u": actor.username}).scalar()
    if not passwords.matches(current, stored):
        raise UserError("the current password is wrong")
    if new == current:
        raise UserError("the new password must differ from the current one")
    _update(actor, actor.username, "user.password", "password_hash = :h, must_change_password = false", True, h=_hashed(new, *_names(actor.username)))


@db.retried
def sign_out_everywhere(actor: Principal, password: str) -> None:
    """End every session of the signed-in user, on every device, once the password is proved."""
    require(actor, *ROLES)
    with db.engine().connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM app_user WHERE username = :u"),
                              {"u": actor.username}).scalar()
    if not passwords.matches(password, stored):
        raise UserError("the current password is wrong")
    _update(actor, actor.username, "user.sessions_ended", "", True)


@db.retried
def end_sessions(actor: Principal, username: str) -> None:
    """An administrator ends every session of a user (a lost laptop, a shared screen)."""
    require(actor, "admin")
    _update(actor, username, "user.sessions_ended", "", True)


@db.retried
def set_role(actor: Principal, username: str, role: str, sponsor_id: int | None = None) -> None:
    require(actor, "admin")
    if actor.username == username:
        raise UserError("an administrator cannot change their own role")
    if role not in ROLES or (role == "sponsor") != (sponsor_id is not None):
        raise UserError("choose a role, and a sponsor for the sponsor role only")
    _update(actor, username, "user.role", "role = :r, sponsor_id = :s", True,
            r=role, s=sponsor_id)


@db.retried
def set_active(actor: Principal, username: str, active: bool) -> None:
    require(actor, "admin")
    if actor.username == username:
        raise UserError("an administrator cannot deactivate their own account")
    _update(actor, username, "user.activate" if active else "user.deactivate",
            "active = :a", not active, a=active)


@db.retried
def unlock(actor: Principal, username: str) -> None:
    require(actor, "admin")
    _update(actor, username, "user.unlock", "failed_logins = 0, locked_until = NULL", False)


@db.retried
def set_language(actor: Principal, lang: str) -> None:
    """Any signed-in user keeps their interface language with their account (it follows them
    across reloads and devices)."""
    require(actor, *ROLES)
    if lang not in i18n.LANGUAGES:
        raise UserError("{lang} is not one of the interface languages ({languages})", lang=repr(lang),
                        languages=", ".join(i18n.LANGUAGES))
    _update(actor, actor.username, "user.language", "lang = :lang", False, lang=lang)


# ------------------------------------------------------------------ signing in


def _attempt_key(username: str) -> bytes:
    return hmac.new(sessions.subkey("login-attempt"), username.encode(), hashlib.sha256).digest()


def _reserve_attempt(who: bytes) -> int:
    """Count this attempt as a failure until it succeeds, then apply the rate limits: over either,
    the attempt is withdrawn (not counted) and refused with the wait in seconds."""
    with db.transaction() as conn:
        attempt = conn.execute(sa.text("INSERT INTO login_attempt (who, succeeded) VALUES (:w, false)"
                                       " RETURNING id"), {"w": who}).scalar_one()
        conn.execute(sa.text("DELETE FROM login_attempt WHERE at < now() - interval '1 day'"))
    with db.engine().connect() as conn:
        row = conn.execute(sa.text(
            "SELECT count(*) FILTER (WHERE who = :w) AS mine, count(*) AS everyone,"
            "  ceil(extract(epoch FROM min(at) FILTER (WHERE who = :w) + interval '1 minute' - clock_timestamp()))"
            "    AS mine_wait,"
            "  ceil(extract(epoch FROM min(at) + interval '1 minute' - clock_timestamp())) AS everyone_wait"
            " FROM login_attempt WHERE NOT succeeded AND at > clock_timestamp() - interval '1 minute'"),
            {"w": who}).one()
    refusal = None
    if row.mine > MAX_FAILURES_PER_USERNAME_PER_MINUTE:
        refusal = (SLOWED_USERNAME, row.mine_wait)
    elif row.everyone > MAX_FAILURES_PER_MINUTE:
        refusal = (SLOWED_CONSOLE, row.everyone_wait)
    if refusal:
        with db.transaction() as conn:
            conn.execute(sa.text("DELETE FROM login_attempt WHERE id = :id"), {"id": attempt})
        raise SignInRefused(refusal[0], seconds=max(1, int(refusal[1] or 1)))
    return attempt


def sign_in(username: str, password: str, lifetime: timedelta) -> sessions.Session:
    """Check a typed username and password (the password exactly as typed) and open a session.

    Refused with SignInRefused: over a rate limit (the wait is said), or with one message for a
    wrong password, an unknown, locked or inactive user, which all cost one bcrypt check and one
    small write (a locked account's attempts do not extend its lock).
    """
    username = username.strip().lower()
    attempt = _reserve_attempt(_attempt_key(username))
    with db.engine().connect() as conn:
        user = conn.execute(sa.text(
            "SELECT password_hash, active, coalesce(locked_until > now(), false) AS locked"
            " FROM app_user WHERE username = :u"), {"u": username}).first()
    right = passwords.matches(password, user.password_hash if user else None)
    with db.transaction() as conn:
        if user is not None and right and user.active and not user.locked:
            conn.execute(sa.text("UPDATE login_attempt SET succeeded = true WHERE id = :id"), {"id": attempt})
            conn.execute(sa.text("UPDATE app_user SET failed_logins = 0, locked_until = NULL WHERE username = :u"),
                         {"u": username})
            audit.record(conn, username, "login", "app_user", username)
            token = sessions.start(conn, username, lifetime)
        else:
            failed = conn.execute(sa.text(
                "UPDATE app_user SET"
                "  failed_logins = CASE WHEN locked_until > now() THEN failed_logins ELSE failed_logins + 1 END,"
                "  locked_until = CASE WHEN locked_until > now() THEN locked_until"
                "    WHEN failed_logins + 1 >= :max THEN now() + make_interval(mins => :mins) END"
                " WHERE username = :u RETURNING failed_logins, locked_until"),
                {"u": username, "max": MAX_FAILED_LOGINS, "mins": LOCK_MINUTES}).first()
            if failed is None:
                audit.record(conn, ANONYMOUS, "login.failed", "app_user", None)
            else:
                audit.record(conn, username, "login.failed", "app_user", username,
                             failed_logins=failed.failed_logins, locked=failed.locked_until is not None)
            token = None
    if token is None:
        raise SignInRefused(WRONG, max=MAX_FAILED_LOGINS, minutes=LOCK_MINUTES)
    return sessions.resume(token)
