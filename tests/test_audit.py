"""The audit log is tamper-evident: the database stamps and chains each row at commit, concurrent
writers chain in commit order without waiting for each other's transactions, and `audit verify`
names the first row where someone, even a superuser with the triggers off, broke the chain."""
from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import psycopg
import pytest
import sqlalchemy as sa

from cmcore import audit, cli, community, db
from cmcore.access import Principal

MANAGER = Principal("manager", "manager")


def superuser(pg_server: str, database: str) -> psycopg.Connection:
    """A superuser's connection to the test's database, the session's triggers off."""
    conn = psycopg.connect(db.with_database(pg_server, urlsplit(database).path.lstrip("/")), autocommit=True)
    conn.execute("SET session_replication_role = replica")
    return conn


def chain() -> list[tuple]:
    with db.engine().connect() as conn:
        return conn.execute(sa.text("SELECT seq, id, actor, action, hash FROM audit_log ORDER BY seq")).all()


def settings_changed(times: int) -> None:
    for n in range(times):
        community.set_setting(MANAGER, "response_sla_hours", n + 1)


def test_the_database_stamps_each_row_and_chains_it_at_commit(database):
    before = datetime.now(UTC)
    with db.transaction() as conn:
        conn.execute(sa.text(
            "INSERT INTO audit_log (id, at, actor, action, entity, detail, db_user, seq, hash) VALUES"
            " (999, '2000-01-01', 'anna', 'reward.approve', 'reward', '{\"why\": \"été\"}', 'postgres', 77, '\\x00')"))
        unsealed = conn.execute(sa.text("SELECT seq, hash FROM audit_log")).one()
    assert tuple(unsealed) == (None, None)  # chained when the transaction commits
    with db.engine().connect() as conn:
        row = conn.execute(sa.text("SELECT id, at, db_user, seq, hash, detail::text FROM audit_log")).one()
        head = conn.execute(sa.text("SELECT seq, hash FROM audit_head")).one()
    assert row.id == 1 and row.seq == 1 and row.db_user == "cm_app"  # not what the INSERT said
    assert before <= row.at <= datetime.now(UTC)
    text = audit.row_text(1, row.at, "cm_app", "anna", "reward.approve", "reward", None, '{"why": "été"}')
    assert row.detail == '{"why": "été"}'
    assert bytes(row.hash) == hashlib.sha256(audit.GENESIS + text.encode()).digest() == bytes(head.hash)
    assert head.seq == 1
    assert audit.verify() == audit.Verdict(1, 1, bytes(row.hash).hex())


def test_a_writer_does_not_wait_for_another_writers_transaction_and_rows_chain_in_commit_order(database):
    slow = db.engine().connect()
    slow_tx = slow.begin()
    audit.record(slow, "slow", "import.load", "import_run", 1)  # its row waits for its commit
    writer = threading.Thread(target=settings_changed, args=(3,))  # three audited writes meanwhile
    started = time.perf_counter()
    writer.start()
    writer.join(timeout=10)
    waited = time.perf_counter() - started
    slow_tx.commit()
    slow.close()
    writer.join()
    assert waited < 1.0  # they did not wait for the open transaction to end
    assert [(seq, actor) for seq, _, actor, _, _ in chain()] == [(1, "manager"), (2, "manager"), (3, "manager"),
                                                                  (4, "slow")]
    assert [r[1] for r in chain()] == [2, 3, 4, 1]  # ids say insertion order, seq commit order
    assert audit.verify().intact


def test_concurrent_writers_make_one_unbroken_chain(database):
    errors: list[Exception] = []

    def write() -> None:
        try:
            settings_changed(15)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert [r[0] for r in chain()] == list(range(1, 8 * 15 + 1))
    assert audit.verify().rows == 120 and audit.verify().intact


@pytest.mark.parametrize("tamper, problem", [
    ("UPDATE audit_log SET detail = '{\"value\": 99}' WHERE seq = 3",
     "row seq 3 (id 3) is not the row that was chained there: it was changed or put in its place"),
    ("UPDATE audit_log SET at = at - interval '1 day' WHERE seq = 2",
     "row seq 2 (id 2) is not the row that was chained there"),
    ("DELETE FROM audit_log WHERE seq = 2", "row seq 2 is missing: it was deleted"),
    ("DELETE FROM audit_log WHERE seq = 5",
     "the chain ends at row seq 4, its head says seq 5: rows at its end were deleted, or the head was changed"),
    ("INSERT INTO audit_log (id, at, actor, action, entity, detail) VALUES (100, now(), 'x', 'y', 'z', '{}')",
     "row id 100 is outside the chain: it was inserted with the database's triggers off"),
    ("UPDATE audit_log SET seq = seq + 10 WHERE seq = 4; INSERT INTO audit_log (id, at, actor, action, entity, detail,"
     " seq, hash) SELECT 100, at, actor, 'setting.forged', entity, detail, 4, hash FROM audit_log WHERE seq = 14",
     "row seq 4 (id 100) is not the row that was chained there"),
    ("UPDATE audit_head SET seq = 6", "the chain ends at row seq 5, its head says seq 6"),
])
def test_verify_names_the_first_row_where_a_superuser_broke_the_chain(database, pg_server, capsys, tamper, problem):
    settings_changed(5)
    assert cli.main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("audit log intact: 5 rows; keep this anchor outside the database: 5:")
    with superuser(pg_server, database) as conn:
        conn.execute(tamper)
    verdict = audit.verify()
    assert not verdict.intact and verdict.problem.startswith(problem)
    assert cli.main(["audit", "verify"]) == 1
    assert problem in capsys.readouterr().out


def test_a_chain_rewritten_from_some_row_on_is_caught_by_an_anchor_kept_outside(database, pg_server, capsys):
    """A superuser can recompute every hash after the row it changed: the chain then holds, but
    the row an earlier verify saw is no longer the same."""
    settings_changed(4)
    anchor = audit.verify()
    with superuser(pg_server, database) as conn:
        conn.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2")
        previous = bytes(conn.execute("SELECT hash FROM audit_log WHERE seq = 1").fetchone()[0])
        for row in conn.execute("SELECT id, seq, at, db_user, actor, action, entity, entity_id, detail::text"
                                " FROM audit_log WHERE seq >= 2 ORDER BY seq").fetchall():
            previous = hashlib.sha256(previous + audit.row_text(*row[1:]).encode()).digest()
            conn.execute("UPDATE audit_log SET hash = %s WHERE id = %s", [previous, row[0]])
        conn.execute("UPDATE audit_head SET hash = %s", [previous])
    assert audit.verify().intact  # the chain alone cannot tell
    assert cli.main(["audit", "verify", "--anchor", f"{anchor.seq}:{anchor.hash}"]) == 1
    assert "row seq 4 is not the one the anchor saw: the chain was rewritten from there on" in capsys.readouterr().out
    assert cli.main(["audit", "verify", "--anchor", "4:abc"]) == 2


def test_the_application_role_can_only_append(database):
    settings_changed(1)
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                      "UPDATE audit_head SET seq = 0", "INSERT INTO audit_head VALUES (false, 0, '\\x00')",
                      "SELECT setval('audit_log_id_seq', 1)"):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), db.transaction() as conn:
            conn.execute(sa.text(statement))
    assert audit.verify() == audit.Verdict(1, 1, chain()[0][4].hex())
    assert datetime.now(UTC) - timedelta(minutes=1) < audit_times()[0]


def audit_times() -> list[datetime]:
    with db.engine().connect() as conn:
        return conn.execute(sa.text("SELECT at FROM audit_log ORDER BY seq")).scalars().all()
