"""The migrations build the canonical model, and the database itself enforces its rules, even on
the owner's SQL (tests/test_privileges.py: what the application role may not even try)."""
from datetime import UTC, date, datetime

import psycopg
import pytest
import sqlalchemy as sa

from cmcore import db, frames, migrate
from tests.builders import Community, user

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TABLES = {"platform", "member", "member_identity", "activity", "rule", "moderation_case", "event",
          "event_attendance", "mention", "sponsor", "campaign", "campaign_delivery", "revenue",
          "app_user", "reward_rule", "reward_budget", "reward", "audit_log", "app_setting",
          "change_log", "change_log_horizon", "activity_vote"}


def sql(statement: str, **params):
    """Run `statement` in a transaction of its own, as the application role."""
    with db.transaction() as conn:
        return conn.execute(sa.text(statement), params)


def owner_sql(statement: str, **params) -> None:
    """Run `statement` in a transaction of its own, as the owner of the tables."""
    engine = sa.create_engine(db.sqlalchemy_url(db.owner_url()), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement), params)
    finally:
        engine.dispose()


def test_migrations_build_every_table_on_an_empty_database(pg_server):
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS cmt_empty WITH (FORCE)")
        conn.execute(f"CREATE DATABASE cmt_empty OWNER {db.OWNER_ROLE}")
    url = db.with_user(db.with_database(pg_server, "cmt_empty"), db.OWNER_ROLE)
    try:
        assert migrate.apply(url) == ["0001_schema", "0002_activity_url", "0003_imports", "0004_version_notify",
                                      "0005_table_versions", "0008_change_log", "0006_real_exports",
                                      "0009_app_role"]
        assert migrate.apply(url) == []  # idempotent
        with psycopg.connect(url) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert TABLES <= tables
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute("DROP DATABASE cmt_empty WITH (FORCE)")


def test_audit_log_is_append_only(database):
    sql("INSERT INTO audit_log (actor, action, entity) VALUES ('a', 'b', 'c')")
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log",
                      "TRUNCATE audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            owner_sql(statement)
    assert sql("SELECT actor FROM audit_log").scalars().all() == ["a"]


def test_reward_states_move_one_step_at_a_time(database):
    c = Community()
    ann = c.member("ann", T0)
    user("staff1", "staff")
    user("staff2", "staff")
    insert = ("INSERT INTO reward (member_id, period, reward_kind, amount_minor, currency, reason,"
              " proposed_by, idempotency_key, status) VALUES (:m, '2026-03', 'money', 500, 'EUR',"
              " 'thanks', 'staff1', :k, :s) RETURNING id")
    with pytest.raises(sa.exc.DBAPIError, match="must be created as proposed"):
        sql(insert, m=ann, k="k0", s="paid")
    rid = sql(insert, m=ann, k="k1", s="proposed").scalar_one()
    with pytest.raises(sa.exc.DBAPIError, match="cannot go from proposed to paid"):
        sql("UPDATE reward SET status = 'paid', paid_by = 'staff2', paid_at = now(),"
            " payout_batch = 'b' WHERE id = :id", id=rid)
    with pytest.raises(sa.exc.IntegrityError, match="reward_check"):  # approver = proposer
        sql("UPDATE reward SET status = 'approved', approved_by = 'staff1', approved_at = now()"
            " WHERE id = :id", id=rid)
    sql("UPDATE reward SET status = 'approved', approved_by = 'staff2', approved_at = now() WHERE id = :id", id=rid)
    with pytest.raises(sa.exc.DBAPIError, match="fixed once proposed"):
        sql("UPDATE reward SET status = 'paid', amount_minor = 9999, paid_by = 'staff2', paid_at = now(),"
            " payout_batch = 'b' WHERE id = :id", id=rid)
    sql("UPDATE reward SET status = 'paid', paid_by = 'staff2', paid_at = now(), payout_batch = 'b1'"
        " WHERE id = :id", id=rid)
    with pytest.raises(sa.exc.DBAPIError, match="cannot go from paid to paid"):
        sql("UPDATE reward SET payout_batch = 'b2' WHERE id = :id", id=rid)
    with pytest.raises(sa.exc.DBAPIError, match="never deleted"):
        owner_sql("DELETE FROM reward")
    with pytest.raises(sa.exc.IntegrityError, match="reward_idempotency_key_key"):
        sql(insert, m=ann, k="k1", s="proposed")


@pytest.mark.parametrize("statement, constraint", [
    ("INSERT INTO revenue (stream, amount_minor, currency, booked_on) VALUES ('ads', 100, 'euro', '2026-01-01')",
     "currency_code_check"),
    ("INSERT INTO revenue (stream, amount_minor, currency, booked_on) VALUES ('ads', 0, 'EUR', '2026-01-01')",
     "revenue_amount_minor_check"),
    ("INSERT INTO revenue (stream, amount_minor, currency, booked_on) VALUES ('tips', 1, 'EUR', '2026-01-01')",
     "revenue_stream_check"),
    ("INSERT INTO member (display_name, joined_at) VALUES ('', now())", "member_display_name_check"),
    ("INSERT INTO app_user (username, display_name, password_hash, role) VALUES"
     " ('bob', 'Bob', 'plaintext-password', 'admin')", "app_user_password_hash_check"),
    ("INSERT INTO app_user (username, display_name, password_hash, role) VALUES ('bob', 'Bob',"
     " '$2b$12$abcdefghijklmnopqrstuuKq3Ea6b3dT7m0l1h1yx1xk8G6Yb2wGq', 'sponsor')", "app_user_check"),
])
def test_constraints_refuse_bad_rows(database, statement, constraint):
    with pytest.raises(sa.exc.IntegrityError, match=constraint):
        sql(statement)


def test_reads_survive_the_server_dropping_their_kept_connections(database):
    """Reads and catch-ups keep their connections open for the next call; one the server closed
    meanwhile (a restart, an idle timeout) is replaced, and the call still answers."""
    Community().platform("discord")
    assert frames.read("SELECT slug FROM platform")["slug"].to_list() == ["discord"]
    db.versions()
    db._feed.stop()  # catch-ups by this process's own connection
    version = db.versions()
    with psycopg.connect(database, autocommit=True) as admin:
        killed = admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND pid <> pg_backend_pid()) t").fetchone()[0]
    assert killed >= 2  # the kept connections
    assert frames.read("SELECT slug FROM platform")["slug"].to_list() == ["discord"]
    assert db.versions().number == version.number


def test_the_versions_of_an_unreachable_server_are_a_connection_error(database):
    db.use("postgresql://postgres@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(psycopg.OperationalError):
            db.versions()
    finally:
        db.use(database)
    assert db.versions().snapshot
