"""Test fixtures: a real PostgreSQL (embedded by default, TEST_DATABASE_URL to use another server)
with the owner and application roles, a template database migrated by the owner, and a fresh copy
of it for every test that asks for `database`, which cmcore uses as the application role."""
from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

os.environ["CM_DEMO_ON_EMPTY"] = "0"  # the app under test never seeds by itself
os.environ["CM_BCRYPT_ROUNDS"] = "4"  # fast hashes in tests (production: 12)
os.environ.pop("DATABASE_URL", None)  # tests never touch a deployment's database

import psycopg  # noqa: E402
import pytest  # noqa: E402

from cmcore import db, frames, migrate  # noqa: E402
from tests import builders  # noqa: E402

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The libpq URL of the server's maintenance database, as a superuser."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        db.ensure_roles(url)
        yield url
        return
    tmp = Path(tempfile.mkdtemp(prefix="cmt-"))
    try:
        url = db.start_embedded(tmp / "pg", cleanup_mode="delete")
        db.ensure_roles(url)
        yield url
    finally:
        for server in db._servers:
            server.cleanup()
        db._servers.clear()
        shutil.rmtree(tmp, ignore_errors=True)


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def template_db(pg_server: str) -> Iterator[str]:
    if name := os.environ.get("TEST_TEMPLATE_DATABASE"):  # migrated once for many runs (./dev mutate)
        yield name
        return
    name = f"cmt_template_{os.getpid()}"
    _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}"')
    _admin(pg_server, f'CREATE DATABASE "{name}" OWNER {db.OWNER_ROLE}')
    migrate.apply(db.with_user(db.with_database(pg_server, name), db.OWNER_ROLE))
    yield name
    _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(pg_server: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated, empty database that cmcore uses for the length of one test, as the
    application role: its URL (`db.owner_url()` is the owner's)."""
    name = f"cmt_{os.getpid()}_{next(_counter)}"
    _admin(pg_server, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}" OWNER {db.OWNER_ROLE}')
    server = db.with_database(pg_server, name)
    url = db.with_user(server, db.APP_ROLE)
    db.use(url, db.with_user(server, db.OWNER_ROLE))
    frames.clear()
    yield url
    db.use(pg_server)
    frames.clear()
    _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def town(database, tmp_path) -> dict:
    """The town community of tests/builders.py, in a fresh database."""
    return builders.town(tmp_path)


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    """AppTest runs share the process: no cached data or resource leaks from one test to the next
    (a process that never imported Streamlit has none, and is spared its import)."""
    if st := sys.modules.get("streamlit"):
        st.cache_data.clear()
        st.cache_resource.clear()
    yield


@pytest.fixture
def app(database, monkeypatch):
    """An AppTest of app.py on the test database (a fresh one per test)."""
    import streamlit.testing.v1.app_test as app_test_module  # Streamlit only where a test runs the app

    from tests import pages
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    class NavigationPages(PagesManager):
        """AppTest re-detects the `pages/` folder on each run and would then run a page file on
        its own (Streamlit's legacy multipage mode); app.py always calls st.navigation, so pin v2."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test_module, "PagesManager", NavigationPages)
    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", pages.RecordedStorage)
    pages.STORES.clear()
    return AppTest.from_file(str(Path(__file__).parent.parent / "app.py"), default_timeout=60)
