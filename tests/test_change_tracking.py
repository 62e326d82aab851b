"""Which tables changed: every writing statement is logged in its own transaction, no writer waits
for another, the app hears of others' writes without asking and of its own at once, and caches
stay exact when transactions commit out of order."""
import time
from datetime import date

import polars as pl
import psycopg
import pytest
import sqlalchemy as sa

from cmcore import db, frames, ingest
from cmcore.access import AccessDenied, Principal
from cmcore import reports
from cmcore.periods import Period
from cmcore.version_feed import ANY, Versions
from tests.builders import Community, as_owner, utc

MANAGER = Principal("manon", "manager")
ADMIN = Principal("ada", "admin")
MARCH = reports.Scope(Period(date(2026, 3, 1), date(2026, 3, 11)), None, "UTC", utc(2026, 3, 12))


@pytest.fixture
def catch_ups(database, monkeypatch) -> list[int]:
    """The catch-ups this process runs itself (not the feed's polls), once the feed polls."""
    assert db.follow_changes(), "the feed never polled"
    calls: list[int] = []
    real = db._feed.catch_up
    monkeypatch.setattr(db._feed, "catch_up", lambda conn, polled=False: (polled or calls.append(1)) and None or real(conn, polled))
    return calls


def heard(table: str, since: int, seconds: float = 2.0) -> Versions:
    """Wait until the app has heard of a change to `table` after number `since`."""
    deadline = time.monotonic() + seconds
    while (now := db.versions()).unchanged(since, {table}):
        assert time.monotonic() < deadline, f"no change to {table} heard"
        time.sleep(0.005)
    return now


def test_another_process_write_reaches_the_app_without_it_asking(database, catch_ups):
    before = db.versions().number
    with psycopg.connect(database) as other:  # another process's transaction, committed on exit
        other.execute("INSERT INTO platform (slug, name, kind) VALUES ('reddit', 'Reddit', 'reddit')")
    now = heard("platform", before)
    assert catch_ups == []
    assert now.unchanged(before, {"mention", "activity"}) and not now.unchanged(before, {ANY})


def test_this_process_sees_its_own_write_at_the_next_view(database, catch_ups):
    before = db.versions().number
    Community().platform("discord")  # committed: the next view catches up, whatever the feed heard
    assert not db.versions().unchanged(before, {"platform"})
    assert catch_ups == [1]
    db.versions()
    assert catch_ups == [1]


def test_a_silent_feed_is_not_trusted(database, catch_ups):
    before = db.versions().number
    db._feed.stop()  # as if its connection had gone quiet
    with psycopg.connect(database) as other:
        other.execute("INSERT INTO platform (slug, name, kind) VALUES ('reddit', 'Reddit', 'reddit')")
    assert not db.versions().unchanged(before, {"platform"})
    assert catch_ups == [1]


def test_a_feed_the_server_dropped_comes_back(database, catch_ups):
    with psycopg.connect(database, autocommit=True) as admin:
        dropped = admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE datname = current_database() AND pid <> pg_backend_pid()) t").fetchone()[0]
    assert dropped >= 2  # the feed's connection and the one kept for catch-ups
    before = db.versions().number
    Community().platform("discord")
    assert not db.versions().unchanged(before, {"platform"})  # the kept connection is replaced too
    assert db.follow_changes(), "the feed never polled again"
    before = db.versions().number
    with psycopg.connect(database) as other:
        other.execute("INSERT INTO sponsor (name) VALUES ('Acme')")
    heard("sponsor", before)


def test_every_writing_statement_is_logged_in_its_own_transaction(database):
    def logged() -> list[tuple]:
        with db.engine().connect() as conn:
            return conn.execute(sa.text("SELECT table_name, op, first_id, last_id, ids, row_count FROM change_log"
                                        " ORDER BY id")).all()
    c = Community()
    ann = c.member("ann", utc(2026, 1, 10))
    first = c.act(ann, "thread", utc(2026, 3, 2, 9))
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as conn:  # rolled back: nothing logged
        conn.execute(sa.text("UPDATE activity SET title = 'x'"))
        conn.execute(sa.text("INSERT INTO platform (slug, name, kind) VALUES ('discord', 'D', 'other')"))
    with as_owner() as conn:  # the application never deletes an activity
        conn.execute(sa.text("UPDATE activity SET title = 'Hello' WHERE id = :i"), {"i": first})
        conn.execute(sa.text("UPDATE activity SET title = 'none' WHERE false"))  # no row: nothing logged
        conn.execute(sa.text("DELETE FROM activity WHERE id = :i"), {"i": first})
    rows = logged()
    assert [r[:2] for r in rows] == [("member", "insert"), ("platform", "insert"), ("member_identity", "insert"),
                                     ("activity", "insert"), ("activity", "update"), ("activity", "delete")]
    assert rows[3][2:] == (first, first, None, 1)
    assert rows[4][2:] == (None, None, [first], 1) and rows[5][2:] == (None, None, [first], 1)


def test_a_temporary_change_log_of_the_application_role_does_not_catch_its_writes(database):
    """The log's definer functions search pg_temp last (sql/0018): a session's own temporary
    `change_log` cannot hide its writes from every cache."""
    with psycopg.connect(database) as conn:  # the application role, as the app connects
        conn.execute("CREATE TEMP TABLE change_log (table_name text, op text, first_id bigint, last_id bigint,"
                     " ids bigint[], row_count bigint)")
        conn.execute("INSERT INTO platform (slug, name, kind) VALUES ('hidden', 'Hidden', 'other')")
        assert conn.execute("SELECT count(*) FROM pg_temp.change_log").fetchone() == (0,)
        conn.commit()
    with db.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT table_name, op, row_count FROM public.change_log")).all() == [
            ("platform", "insert", None)]


def test_no_writer_waits_for_another_tables_writer_nor_for_an_insert_into_its_own(database):
    """A long import holds its transaction open: an approval, a setting or another insert into
    activity go through at once (the single row every write used to update made them all wait)."""
    c = Community()
    ann = c.member("ann", utc(2026, 1, 10))
    platform = c.platform("discord")
    with psycopg.connect(database) as importing:
        importing.execute("INSERT INTO activity (platform_id, external_id, member_id, kind, created_at)"
                          " VALUES (%s, 'long', %s, 'thread', now())", [platform, ann])
        started = time.monotonic()
        with psycopg.connect(database) as other:
            other.execute("SET lock_timeout = '2s'")
            other.execute("INSERT INTO app_setting VALUES ('timezone', '\"UTC\"')")
            other.execute("INSERT INTO activity (platform_id, external_id, member_id, kind, created_at)"
                          " VALUES (%s, 'short', %s, 'thread', now())", [platform, ann])
            other.commit()
        assert time.monotonic() - started < 1
        importing.commit()


def test_a_transaction_that_commits_after_a_later_one_is_still_seen(database):
    """T1 writes first and commits last: a view between the two commits sees T2's write only, and
    the next view sees T1's too, although T1's change came first in every order but its commit's."""
    c = Community()
    ann = c.member("ann", utc(2026, 1, 10))
    platform = c.platform("discord")
    insert = ("INSERT INTO activity (platform_id, external_id, member_id, kind, created_at)"
              " VALUES (%s, %s, %s, 'thread', %s)")
    assert reports.growth_report(MANAGER, MARCH).metrics[2].value == 0  # cached before both
    fallbacks = frames.counts["fallback"]
    with psycopg.connect(database) as t1, psycopg.connect(database) as t2:
        t1.execute(insert, [platform, "t1", ann, utc(2026, 3, 2, 9)])
        t2.execute(insert, [platform, "t2", ann, utc(2026, 3, 3, 9)])
        t2.commit()
        db._writes += 1  # as if this process had committed it: the next view catches up at once
        dau = reports.growth_report(MANAGER, MARCH).frames["active"]["dau"]
        assert dau.sum() == 1
        t1.commit()
    db._writes += 1
    assert reports.growth_report(MANAGER, MARCH).frames["active"]["dau"].sum() == 2
    assert frames.table("activity").height == 2 and frames.counts["fallback"] == fallbacks


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


def test_new_activities_are_read_by_themselves_and_changed_ones_replace_their_old_selves(database):
    c = Community()
    ann, bob = c.member("ann", utc(2026, 1, 10)), c.member("bob", utc(2026, 1, 11))
    first = c.act(ann, "thread", utc(2026, 3, 2, 9))
    assert frames.table("activity").height == 1
    reads = dict(frames.counts)
    reply = c.act(bob, "reply", utc(2026, 3, 2, 10), parent=first)
    with frames.recording() as sent:
        frame = frames.table("activity")
    assert sorted(frame["id"].to_list()) == [first, reply]
    assert frame.schema["kind"] == frames.ACTIVITY_KIND and frame.sort("id")["kind"].to_list() == ["thread", "reply"]
    assert [sql for sql, _ in sent] == [frames.TABLES["activity"].sql + f" WHERE (id BETWEEN {reply} AND {reply})"]
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE activity SET member_id = :m WHERE id = :i"), {"m": ann, "i": reply})
    frame = frames.table("activity")
    assert frame.sort("id")["member_id"].to_list() == [ann, ann]
    with as_owner() as conn:  # the application never deletes an activity
        conn.execute(sa.text("DELETE FROM activity WHERE id = :i"), {"i": reply})
    assert frames.table("activity")["id"].to_list() == [first]
    assert frames.counts["refreshed"] - reads.get("refreshed", 0) == 3
    assert frames.counts["read"] == reads["read"] and frames.counts["fallback"] == reads.get("fallback", 0)


def test_an_update_copies_only_the_chunks_of_the_columns_it_changed_and_leaves_the_old_frame_as_it_was(database):
    """A re-import that moves times rewrites the chunks it touches of one column of the frame; the
    other chunks and columns stay shared, and the columns chunked alike."""
    c = Community()
    ann, bob = c.member("ann", utc(2026, 1, 10)), c.member("bob", utc(2026, 1, 11))
    ids = [c.act(ann, "thread", utc(2026, 3, day, 9)) for day in (2, 3, 4)]
    frames.table("activity")
    later = c.act(bob, "thread", utc(2026, 3, 5, 9))
    before = frames.table("activity")  # two chunks: the first read and the new row
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE activity SET created_at = created_at + interval '1 minute' WHERE id = :i"),
                     {"i": ids[1]})
    newest = c.act(bob, "reply", utc(2026, 3, 6, 9), parent=ids[0])
    after = frames.table("activity")
    assert after.sort("id").select("id", "member_id", "created_at").rows() == [
        (ids[0], ann, utc(2026, 3, 2, 9)), (ids[1], ann, utc(2026, 3, 3, 9, 1)), (ids[2], ann, utc(2026, 3, 4, 9)),
        (later, bob, utc(2026, 3, 5, 9)), (newest, bob, utc(2026, 3, 6, 9))]
    assert before.sort("id")["created_at"].to_list() == [utc(2026, 3, day, 9) for day in (2, 3, 4, 5)]
    assert {tuple(s.len() for s in after[n].get_chunks()) for n in after.columns} == {(3, 1, 1)}

    def addresses(frame: pl.DataFrame, column: str) -> list[int]:
        return [s.to_arrow().buffers()[1].address for s in frame[column].get_chunks()[:2]]

    same = {n: [a == b for a, b in zip(addresses(after, n), addresses(before, n))]
            for n in ("id", "member_id", "kind", "created_at")}
    assert same == {"id": [True, True], "member_id": [True, True], "kind": [True, True], "created_at": [False, True]}


def test_a_change_the_log_cannot_name_row_by_row_reads_the_frame_again_and_is_counted(database, caplog):
    c = Community()
    ann = c.member("ann", utc(2026, 1, 10))
    c.act(ann, "thread", utc(2026, 3, 2, 9))
    follows = lambda: frames.derived("follows activity", lambda: frames.table("activity").height,  # noqa: E731
                                     update=lambda old, changes: old + changes.delta("activity").added.height
                                     if changes.delta("activity") else None)
    assert follows() == 1
    with as_owner() as conn:  # only the owner's triggers write the log
        conn.execute(sa.text("UPDATE activity SET title = 'x'"))
        conn.execute(sa.text("UPDATE change_log SET ids = NULL WHERE op = 'update'"))  # as past 1,000,000 rows
    fallback = frames.counts["fallback"]
    assert frames.table("activity")["id"].len() == 1
    assert frames.counts["fallback"] == fallback + 1
    assert (db.url(), "follows activity") not in frames._cache  # it could not follow: let go, not kept till its view
    rebuilt = frames.counts["rebuilt"]
    assert follows() == 1 and frames.counts["rebuilt"] == rebuilt + 1
    c.act(ann, "thread", utc(2026, 3, 3, 9))
    with db.engine().begin() as conn:  # the insert's row pruned before the frame saw it
        assert conn.execute(sa.text("SELECT prune_change_log('0 s')")).scalar() >= 1
    assert frames.table("activity")["id"].len() == 2
    assert frames.counts["fallback"] == fallback + 2
    gives_up = lambda: frames.derived("gives up", lambda: frames.table("activity").height,  # noqa: E731
                                      update=lambda old, changes: None)
    assert gives_up() == 2
    c.act(ann, "thread", utc(2026, 3, 4, 9))
    assert gives_up() == 3 and frames.counts["fallback"] == fallback + 3
    assert [r.getMessage() for r in caplog.records if r.name == "cmcore.frames"] == [
        "activity read whole: the change log cannot say which of its rows changed since it was read"] * 2 + [
        "gives up made again whole: it could not follow the change of its tables"]


def test_administrators_see_how_the_pages_kept_up_with_changes_and_no_one_else(database):
    c = Community()
    ann = c.member("ann", utc(2026, 1, 10))
    c.act(ann, "thread", utc(2026, 3, 2, 9))
    frames.table("activity")
    before = dict(ingest.kept_up(ADMIN)[1].iter_rows())
    c.act(ann, "thread", utc(2026, 3, 2, 10))
    assert frames.table("activity").height == 2
    since, done = ingest.kept_up(ADMIN)
    assert since == frames.started and done["what"].to_list() == ["read", "refreshed", "updated", "rebuilt", "fallback"]
    assert {k: n - before[k] for k, n in done.iter_rows()} == {
        "read": 0, "refreshed": 1, "updated": 0, "rebuilt": 0, "fallback": 0}  # the new row read by itself
    for someone in (MANAGER, Principal("sam", "staff"), Principal("sue", "sponsor", sponsor_id=1)):
        with pytest.raises(AccessDenied):
            ingest.kept_up(someone)


def test_a_merge_of_a_member_with_150000_activities_is_read_back_by_its_rows(database):
    """Merging moves all of a member's activities in one statement: the busiest members of a 10M
    community have 100,000 to 270,000, and the change log names them (up to 1,000,000), so the
    frame reads those rows back instead of the whole table."""
    c = Community()
    ann, bob = c.member("ann", utc(2026, 1, 10)), c.member("bob", utc(2026, 1, 10))
    platform = c.platform("discord")
    with psycopg.connect(database) as conn:
        conn.execute("INSERT INTO activity (platform_id, external_id, member_id, kind, created_at)"
                     " SELECT %s, 'a' || i, %s, 'thread', '2026-03-02'::timestamptz + i * interval '1 s'"
                     " FROM generate_series(1, 150000) i", [platform, bob])
    db._writes += 1
    assert frames.table("activity")["member_id"].unique().to_list() == [bob]
    fallbacks, refreshed = frames.counts["fallback"], frames.counts["refreshed"]
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE activity SET member_id = %s WHERE member_id = %s", [ann, bob])
    db._writes += 1
    moved = frames.table("activity")
    assert (moved.height, moved["member_id"].unique().to_list()) == (150_000, [ann])
    assert (frames.counts["fallback"], frames.counts["refreshed"]) == (fallbacks, refreshed + 1)


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


def test_deltas_put_together_hold_each_row_as_it_was_first_and_as_it_is_last():
    """Two refreshes' deltas as one: what the first read held of each row (to be taken out of what
    was counted from it) and what the last holds (to be put in), each row once."""
    row = lambda i, v: {"id": i, "v": v}  # noqa: E731
    frame = lambda *rows: pl.DataFrame(list(rows), schema={"id": pl.Int64, "v": pl.Utf8})  # noqa: E731
    first = frames.Delta(frame(row(1, "a0"), row(3, "c0")), frame(row(1, "a1"), row(2, "b1")), "id")  # 3 deleted
    later = frames.Delta(frame(row(1, "a1"), row(2, "b1"), row(4, "d0")),  # 1 changed again, 2 deleted, 4 changed
                         frame(row(1, "a2"), row(4, "d1"), row(5, "e1")), "id")
    both = first.then(later)
    assert sorted(both.removed.rows()) == [(1, "a0"), (3, "c0"), (4, "d0")]
    assert sorted(both.added.rows()) == [(1, "a2"), (4, "d1"), (5, "e1")]
