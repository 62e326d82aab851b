"""The data versions the server pushes: views read them from memory, still see every write, and
keep what a write to other tables does not change."""
import time
from datetime import date

import polars as pl
import psycopg
import pytest
import sqlalchemy as sa

from cmcore import db, frames
from cmcore.access import Principal
from cmcore.kpis import reports
from cmcore.periods import Period
from cmcore.version_feed import ANY, Versions, announced
from tests.builders import Community, utc


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


def test_a_write_is_announced_with_its_table(database, server_reads):
    before = db.versions()
    with psycopg.connect(database) as other:
        other.execute("INSERT INTO platform (slug, name, kind) VALUES ('reddit', 'Reddit', 'reddit')")
        other.execute("INSERT INTO sponsor (name) VALUES ('Acme')")
    pushed(before.number + 2)
    now = db.versions()
    assert (now.tables["platform"], now.tables["sponsor"]) == (before.number + 1, before.number + 2)
    assert server_reads == []
    assert now.unchanged(before.number, {"mention", "activity"})
    assert not now.unchanged(before.number, {"mention", "platform"})
    assert not now.unchanged(before.number + 1, {ANY})


def test_what_a_notification_announces():
    assert announced("12 mention") == Versions(12, {"mention": 12})
    assert announced("12") is None and announced("twelve mention") is None  # anyone may NOTIFY
    old = Versions(10, {"mention": 4, "platform": 10})
    assert old.merged(Versions(12, {"mention": 12})) == Versions(12, {"mention": 12, "platform": 10})
    assert old.merged(Versions(8, {"mention": 3})) is old  # versions only grow


MANAGER = Principal("manon", "manager")
MARCH = reports.Scope(Period(date(2026, 3, 1), date(2026, 3, 11)), None, "UTC", utc(2026, 3, 12))


def test_a_write_to_one_table_leaves_the_pages_of_others_cached(database):
    """A sponsor added (or a reward approved) does not make reputation read its mentions again,
    nor growth its members and activities; a write to what a page reads is seen at its next view."""
    c = Community()
    ann = c.member("ann", utc(2026, 1, 10))
    c.act(ann, "thread", utc(2026, 3, 2, 9))
    c.mention(utc(2026, 3, 4, 12), 1, 100)
    reputation, growth = reports.reputation_report(MANAGER, MARCH), reports.growth_report(MANAGER, MARCH)
    c.sponsor("Acme")
    with frames.recording() as sent:
        assert reports.reputation_report(MANAGER, MARCH) is reputation
        assert reports.growth_report(MANAGER, MARCH) is growth  # its rollups too: built from its frames
    assert sent == []
    c.mention(utc(2026, 3, 5, 12), -1, 50)
    with frames.recording() as sent:
        assert reports.reputation_report(MANAGER, MARCH).metrics[1].value == 150  # reach
        assert reports.growth_report(MANAGER, MARCH) is growth
    assert [sql for sql, _ in sent] == [frames.TABLES["mentions"].sql]
    c.member("bob", utc(2026, 3, 3))
    assert reports.growth_report(MANAGER, MARCH).metrics[1].value == 1  # new members


def test_what_is_built_from_a_query_of_its_own_depends_on_every_table(database):
    c = Community()
    c.platform("discord")
    built = []

    def count() -> int:
        built.append(1)
        return frames.read("SELECT count(*) AS n FROM platform")["n"][0]

    assert frames.derived("platforms_counted", count) == 1
    assert frames.derived("platforms_counted", count) == 1 and len(built) == 1
    c.sponsor("Acme")  # another table: a query of its own may read any
    assert frames.derived("platforms_counted", count) == 1 and len(built) == 2

    def platforms_and_sponsors() -> tuple[int, int]:  # a frame, and a SQLAlchemy query of its own
        with db.engine().connect() as conn:
            return frames.table("platforms").height, conn.execute(sa.text("SELECT count(*) FROM sponsor")).scalar()

    assert frames.derived("platforms_and_sponsors", platforms_and_sponsors) == (1, 1)
    c.sponsor("Bolt")
    assert frames.derived("platforms_and_sponsors", platforms_and_sponsors) == (1, 2)
    assert frames.derived("members_named", lambda: ["ann"], ("member",)) == ["ann"]
    c.sponsor("Cole")
    assert frames.derived("members_named", lambda: ["changed"], ("member",)) == ["ann"]  # named: its tables only


def test_kept_results_are_bounded_by_the_bytes_of_their_frames(database, monkeypatch):
    """A long-lived app keeps the results its users last saw, not every board ever asked for."""
    monkeypatch.setattr(frames, "RESULTS_BYTES", 20_000)
    built = []

    def frame(name: str) -> pl.DataFrame:
        return frames.result(name, lambda: built.append(name) or pl.DataFrame({"x": range(1_000)}))  # 8,000 B

    for name in ("a", "b", "a", "c"):  # "a" seen again: "b" is now the least recently used
        frame(name)
    assert built == ["a", "b", "c"]
    frame("a"), frame("c")
    frame("b")  # evicted by "c": 24,000 B would have been kept
    assert built == ["a", "b", "c", "b"]
    assert frames._size(reports.Report([], {"one": pl.DataFrame({"x": range(1_000)})})) == 8_000
