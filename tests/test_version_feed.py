"""The data version the server pushes: views read it from memory, and still see every write."""
import time

import psycopg
import pytest

from cmcore import db
from tests.builders import Community


@pytest.fixture
def server_reads(database, monkeypatch) -> list[int]:
    """The data version reads sent to the server (not the feed's own), from when the feed listens."""
    assert db.listen_for_versions(), "the feed never heard from the server"
    reads: list[int] = []
    real = db._read_version
    monkeypatch.setattr(db, "_read_version", lambda where: reads.append(1) or real(where))
    return reads


def pushed(version: int) -> None:
    """Wait (2 s at most) until the app's data version is `version`."""
    deadline = time.monotonic() + 2
    while db.data_version() != version:
        assert time.monotonic() < deadline, f"version {version} was not pushed"
        time.sleep(0.005)


def test_another_process_write_reaches_the_app_without_it_asking(database, server_reads):
    before = db.data_version()
    with psycopg.connect(database) as other:  # another process's transaction, committed on exit
        other.execute("INSERT INTO platform (slug, name, kind) VALUES ('reddit', 'Reddit', 'reddit')")
        other.execute("UPDATE platform SET name = 'Reddit!' WHERE slug = 'reddit'")
    pushed(before + 2)
    assert server_reads == []


def test_this_process_sees_its_own_write_at_the_next_view(database, server_reads):
    before = db.data_version()
    assert server_reads == []
    Community().platform("discord")  # committed: the next read asks the server, whatever the feed heard
    assert db.data_version() == before + 1
    assert server_reads == [1]
    assert db.data_version() == before + 1
    assert server_reads == [1]


def test_a_silent_feed_is_not_trusted(database, server_reads):
    db._feed.stop()  # as if its connection had gone quiet
    with psycopg.connect(database) as other:
        other.execute("INSERT INTO platform (slug, name, kind) VALUES ('reddit', 'Reddit', 'reddit')")
    assert db.data_version() == 2
    assert server_reads == [1]


def test_a_listener_the_server_dropped_comes_back(database, server_reads):
    with psycopg.connect(database, autocommit=True) as admin:
        dropped = admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                                " AND (query LIKE 'LISTEN%' OR query LIKE 'SELECT version%')) t").fetchone()[0]
    assert dropped == 2  # the feed's connection and the one kept for reads
    Community().platform("discord")
    assert db.data_version() == 2  # the kept connection is replaced too
    assert db.listen_for_versions(), "the feed never heard from the server"
    with psycopg.connect(database) as other:
        other.execute("INSERT INTO platform (slug, name, kind) VALUES ('reddit', 'Reddit', 'reddit')")
    pushed(3)
