"""Least privilege: the application's role owns nothing and holds only the grants of the
migrations, so the database's rules hold against it. Each statement it could use to get round
them is tried here, as that role, and refused."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import psycopg
import pytest
from yoyo import get_backend, read_migrations

from cmcore import bootstrap, db, migrate
from cmcore.settings import ConfigError
from tests.builders import Community, as_owner, utc

MONEY = {"reward", "reward_rule", "reward_budget", "revenue", "campaign"}
# What the application role may do, where it is not SELECT, INSERT and UPDATE (the default).
EXCEPTIONS = {
    "audit_log": {"SELECT", "INSERT"},
    "audit_head": {"SELECT"},
    "currency": {"SELECT"},
    "change_log": {"SELECT"},
    "change_log_horizon": {"SELECT"},
    "bulk_load": set(),
    "event_attendance": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "app_session": {"SELECT", "INSERT", "UPDATE", "DELETE"},  # old sessions' rows
    "login_attempt": {"SELECT", "INSERT", "UPDATE", "DELETE"},  # old attempts
    # the worker's queue (sql/0014): finished jobs deleted, stopped or stalled workers removed
    **{t: {"SELECT", "INSERT", "UPDATE", "DELETE"} for t in ("procrastinate_jobs", "procrastinate_workers",
                                                         "procrastinate_periodic_defers", "procrastinate_events")},
    "_yoyo_migration": {"SELECT"}, "_yoyo_log": {"SELECT"}, "_yoyo_version": {"SELECT"}, "yoyo_lock": {"SELECT"},
}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def as_app(statement: str) -> None:
    with psycopg.connect(db.url()) as conn:
        conn.execute(statement)


@pytest.mark.parametrize("statement, refusal", [
    ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change", "must be owner of table audit_log"),
    ("ALTER TABLE reward DISABLE TRIGGER ALL", "must be owner of table reward"),
    ("DROP TRIGGER reward_transition ON reward", "must be owner of relation reward"),
    ("DROP FUNCTION audit_log_append_only() CASCADE", "must be owner of function audit_log_append_only"),
    ("CREATE OR REPLACE FUNCTION reward_transition_guard() RETURNS trigger LANGUAGE plpgsql AS"
     " 'BEGIN RETURN NEW; END'", "permission denied for schema public"),
    ("CREATE FUNCTION public.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'", "permission denied for schema public"),
    ("CREATE TRIGGER mine BEFORE UPDATE ON reward FOR EACH ROW EXECUTE FUNCTION ledger_keep()",
     "permission denied for table reward"),
    *[(f"TRUNCATE {table}", f"permission denied for table {table}") for table in sorted(MONEY | {"audit_log"})],
    *[(f"DELETE FROM {table}", f"permission denied for table {table}") for table in sorted(MONEY | {"audit_log"})],
    ("UPDATE audit_log SET actor = 'x'", "permission denied for table audit_log"),
    ("UPDATE audit_head SET seq = 0", "permission denied for table audit_head"),
    ("INSERT INTO change_log (table_name, op) VALUES ('reward', 'update')", "permission denied for table change_log"),
    ("INSERT INTO currency VALUES ('XXY', 999, 2, 'Mine')", "permission denied for table currency"),
    ("SET session_replication_role = replica", 'permission denied to set parameter "session_replication_role"'),
    ("SET ROLE cm_owner", 'permission denied to set role "cm_owner"'),
    ("ALTER ROLE cm_app SUPERUSER", "permission denied to alter role"),
    ("CREATE TABLE mine (x int)", "permission denied for schema public"),
    ("ALTER TABLE member ADD COLUMN mine int", "must be owner of table member"),
    ("CREATE INDEX mine ON activity (title)", "must be owner of table activity"),
    ("DROP TABLE reward", "must be owner of table reward"),
    ("SELECT bulk_load_begin('reward')", "bulk loads are for activity only, not reward"),
    ("INSERT INTO bulk_load VALUES ('reward', '{}')", "permission denied for table bulk_load"),
    ("SELECT setval('audit_log_id_seq', 1)", "permission denied for sequence audit_log_id_seq"),
    ("COPY reward TO PROGRAM 'cat'", "permission denied to COPY to or from an external program"),
    ("CREATE EXTENSION dblink", 'permission denied to create extension "dblink"'),
])
def test_the_application_role_cannot_get_round_the_rules(database, statement, refusal):
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=refusal):
        as_app(statement)


def test_the_application_role_holds_only_its_grants_and_owns_nothing(database):
    with psycopg.connect(db.url()) as conn:
        owners = conn.execute("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class"
                              " WHERE relnamespace = 'public'::regnamespace").fetchall()
        granted = {table: {p for p in PRIVILEGES if conn.execute("SELECT has_table_privilege(%s, %s)",
                                                                    [table, p]).fetchone()[0]}
                   for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert owners == [("cm_owner",)]
    assert {t: p for t, p in granted.items() if p != {"SELECT", "INSERT", "UPDATE"}} == EXCEPTIONS
    assert db.app_role_problems() == []
    assert db.app_role_problems(db.owner_url()) == ["owns (or is a member of the owner of) the tables",
                                                    "may create objects in the schema"]


def test_a_table_a_later_migration_creates_gets_the_default_grants(database):
    """The convention of sql/0009: SELECT, INSERT and UPDATE by default; DELETE when granted."""
    with as_owner() as conn:
        conn.exec_driver_sql("CREATE TABLE later (id serial PRIMARY KEY, note text)")
    as_app("INSERT INTO later (note) VALUES ('a'); UPDATE later SET note = 'b'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table later"):
        as_app("DELETE FROM later")


def test_the_app_refuses_to_serve_as_a_superuser_or_the_owner(database, pg_server):
    name = urlsplit(database).path.lstrip("/")
    for url, problem in ((db.with_database(pg_server, name), "is a superuser"),
                         (db.owner_url(), "owns (or is a member of the owner of) the tables")):
        db.use(url, db.owner_url())
        with pytest.raises(ConfigError, match=re.escape(f"the application's database role {problem}")):
            bootstrap.prepare()
    db.use(database)  # no owner's URL: nothing to migrate, nothing pending, the role is right
    assert bootstrap.prepare() == {}
    with pytest.raises(ConfigError, match="migrations run as the database's owner: set DATABASE_OWNER_URL"):
        migrate.apply()
    with pytest.raises(ConfigError, match="migrations run as the database's owner, not as cm_app"):
        migrate.apply(database)


def test_an_import_cannot_leave_activitys_keys_dropped(database):
    def keys_and_indexes(conn: psycopg.Connection) -> tuple:
        return conn.execute("SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'activity'::regclass),"
                            " (SELECT count(*) FROM pg_indexes WHERE tablename = 'activity')").fetchone()

    with psycopg.connect(db.url()) as conn:
        before = keys_and_indexes(conn)
        conn.execute("SELECT bulk_load_begin('activity')")
        assert keys_and_indexes(conn) < before
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="did not rebuild its indexes and keys"):
            conn.commit()
        assert keys_and_indexes(conn) == before


def test_an_older_database_the_superuser_migrated_is_handed_to_the_owner(pg_server):
    """A data folder from before the two roles: its tables belong to the superuser. Starting the
    app gives them to the owner, which then runs the newer migrations."""
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS cmt_older WITH (FORCE)")
        conn.execute("CREATE DATABASE cmt_older")
    older = db.with_database(pg_server, "cmt_older")
    try:
        with get_backend(db.sqlalchemy_url(older)) as backend, backend.lock():
            backend.apply_migrations(backend.to_apply(
                read_migrations(str(migrate.SQL_DIR)).filter(lambda m: m.id < "0009")))
        db.ensure_database(pg_server, "cmt_older")
        owner, app = db.with_user(older, db.OWNER_ROLE), db.with_user(older, db.APP_ROLE)
        assert migrate.apply(owner)[0] == "0009_app_role"
        db.use(app, owner)
        Community().member("ann", utc(2026, 1, 1))
        assert db.app_role_problems() == []
    finally:
        db.use(pg_server)
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute("DROP DATABASE cmt_older WITH (FORCE)")
