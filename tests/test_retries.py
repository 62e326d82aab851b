"""Transient database errors: a deadlock's victim is run again and succeeds, a refusal is not
repeated, a connection lost while committing is never repeated blindly, and a page whose database
is down or refuses says so instead of showing a traceback."""
import importlib
import threading

import psycopg
import pytest
import sqlalchemy as sa

from cmcore import db
from tests.builders import Community


def test_a_deadlock_victim_is_run_again_and_both_transactions_succeed(database):
    c = Community()
    first, second = c.platform("discord"), c.platform("forum")
    meet = threading.Barrier(2)
    calls: list[str] = []

    @db.retried
    def rename(one: int, other: int, name: str) -> None:
        calls.append(name)
        with db.transaction() as conn:
            conn.execute(sa.text("UPDATE platform SET name = :n WHERE id = :i"), {"n": name, "i": one})
            if calls.count(name) == 1:  # the first attempts meet, locking in opposite orders
                meet.wait(timeout=5)
            conn.execute(sa.text("UPDATE platform SET name = :n WHERE id = :i"), {"n": name, "i": other})

    before = db.retries["test_a_deadlock_victim_is_run_again_and_both_transactions_succeed.<locals>.rename"]
    threads = [threading.Thread(target=rename, args=(first, second, "A")),
               threading.Thread(target=rename, args=(second, first, "B"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(calls) == ["A", "A", "B"] or sorted(calls) == ["A", "B", "B"]  # one ran twice
    assert db.retries["test_a_deadlock_victim_is_run_again_and_both_transactions_succeed.<locals>.rename"] == before + 1
    with db.engine().connect() as conn:
        names = conn.execute(sa.text("SELECT DISTINCT name FROM platform")).scalars().all()
    assert len(names) == 1  # the later transaction renamed both


def test_a_refusal_is_not_repeated(database):
    calls = []

    @db.retried
    def twice() -> None:
        calls.append(1)
        with db.transaction() as conn:
            conn.execute(sa.text("INSERT INTO platform (slug, name, kind) VALUES ('x', 'X', 'nope')"))

    with pytest.raises(sa.exc.IntegrityError):
        twice()
    assert calls == [1]


def test_a_connection_lost_while_committing_is_not_repeated(database):
    calls = []

    @db.retried
    def lost() -> None:
        calls.append(1)
        with db.transaction() as conn:
            conn.execute(sa.text("INSERT INTO sponsor (name) VALUES ('Acme')"))
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            with psycopg.connect(database, autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [pid])

    with pytest.raises(db.CommitUnknown):
        lost()
    assert calls == [1]


def test_a_page_whose_database_is_down_says_so_and_no_traceback(app, database):
    db.use("postgresql://postgres@127.0.0.1:1/nowhere")
    try:
        at = app.run()
    finally:
        db.use(database)
    assert not at.exception
    assert [w.value for w in at.warning] == ["La base de données est indisponible ; nouvel essai toutes les 3 s…"]


def test_every_write_service_runs_again_after_a_transient_error():
    """Every write that a person's click makes (tests/test_role_first's services less the reads
    test_audited lists) is `db.retried`, but imports and the demo (one long transaction each,
    whose failure is a run in the import history) and the sign-in (its attempts are counted); a
    payout retries its transaction, not the reading of its CSV; a report's test, sent inside its
    transaction, is not sent again by a retry."""
    from cmcore import rewards
    from tests.test_audited import READS
    from tests.test_role_first import CALLS, SPONSOR_MAY
    writes = (set(CALLS) | set(SPONSOR_MAY)) - READS - {"ingest.run", "demo.load", "rewards.pay",
                                                         "alerts.schedule.send_test"}
    retried = db.retried(lambda: None).__code__
    wrapped = {name: getattr(importlib.import_module(f"cmcore.{name.rpartition('.')[0]}"),
                             name.rpartition(".")[2]).__code__ is retried
               for name in writes}
    assert {name for name, yes in wrapped.items() if not yes} == set()
    assert len(writes) == 39
    assert rewards._paid.__code__ is retried  # pay's one transaction (its CSV is read after it)
