"""The migrations build the canonical model, and the database itself enforces its rules, even on
the owner's SQL (tests/test_privileges.py: what the application role may not even try)."""
from datetime import UTC, date, datetime

import psycopg
import pytest
import sqlalchemy as sa

from cmcore import db, frames, migrate, money, rewards
from cmcore.access import Principal
from tests.builders import Community, as_owner, user

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MANAGER = Principal("manager", "manager")
TABLES = {"platform", "member", "member_identity", "activity", "rule", "moderation_case", "event",
          "event_attendance", "mention", "sponsor", "campaign", "campaign_delivery", "revenue",
          "app_user", "reward_rule", "reward_budget", "reward", "audit_log", "app_setting",
          "change_log", "change_log_horizon", "activity_vote", "currency", "audit_head", "bulk_load",
          "app_session", "login_attempt"}


def sql(statement: str, **params):
    """Run `statement` in a transaction of its own, as the application role."""
    with db.transaction() as conn:
        return conn.execute(sa.text(statement), params)


def owner_sql(statement: str, **params) -> list[sa.Row]:
    """Run `statement` in a transaction of its own, as the owner of the tables; its rows."""
    with as_owner() as conn:
        result = conn.execute(sa.text(statement), params)
        return result.all() if result.returns_rows else []


def test_migrations_build_every_table_on_an_empty_database(pg_server):
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS cmt_empty WITH (FORCE)")
        conn.execute(f"CREATE DATABASE cmt_empty OWNER {db.OWNER_ROLE}")
    url = db.with_user(db.with_database(pg_server, "cmt_empty"), db.OWNER_ROLE)
    try:
        assert migrate.apply(url) == ["0001_schema", "0002_activity_url", "0003_imports", "0004_version_notify",
                                      "0005_table_versions", "0008_change_log", "0006_real_exports",
                                      "0009_app_role", "0010_money", "0011_ledger", "0012_audit_chain",
                                      "0013_sessions", "0018_change_log_search_path", "0014_worker_alerts",
                                      "0007_mention_models", "0015_scheduled_reports", "0019_user_language",
                                      "0020_connections", "0022_mention_other_language",
                                      "0023_message_language", "0024_change_log_more_ids",
                                      "0025_foreign_key_indexes"]
        assert migrate.apply(url) == []  # idempotent
        with psycopg.connect(url) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert TABLES <= tables
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute("DROP DATABASE cmt_empty WITH (FORCE)")


def test_every_foreign_key_to_activities_and_members_has_an_index(database):
    """What an undo, an erasure or a merge deletes or re-points is checked against each table that
    refers to it; without an index on the referring column, every row deleted scans that table."""
    unindexed = sql(
        "SELECT c.conrelid::regclass::text || '.' || c.conname FROM pg_constraint c"
        " WHERE c.contype = 'f' AND c.confrelid IN ('activity'::regclass, 'member'::regclass)"
        " AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid"
        " AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey) ORDER BY 1").scalars().all()
    assert unindexed == []


def test_audit_log_is_append_only(database):
    sql("INSERT INTO audit_log (actor, action, entity) VALUES ('a', 'b', 'c')")
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log",
                      "TRUNCATE audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            owner_sql(statement)
    assert sql("SELECT actor FROM audit_log").scalars().all() == ["a"]


def test_reward_states_move_one_step_at_a_time_and_a_step_changes_its_own_columns_only(database):
    """The reward's guard, tried as the owner: the rules hold against its SQL too."""
    c = Community()
    ann = c.member("ann", T0)
    for name, role in (("staff1", "staff"), ("staff2", "staff"), ("gone", "manager"), ("acme", "sponsor")):
        user(name, role, sponsor_id=c.sponsor("Acme") if role == "sponsor" else None)
    sql("UPDATE app_user SET active = false WHERE username = 'gone'")
    insert = ("INSERT INTO reward (member_id, period, reward_kind, amount_minor, currency, reason,"
              " proposed_by, idempotency_key, status, proposed_at) VALUES (:m, '2026-03', 'money', 500, 'EUR',"
              " 'thanks', :by, :k, :s, '2000-01-01') RETURNING id")
    with pytest.raises(sa.exc.DBAPIError, match="must be created as proposed"):
        owner_sql(insert, m=ann, by="staff1", k="k0", s="paid")
    with pytest.raises(sa.exc.DBAPIError, match="proposer of a reward is an active staff, manager or admin user"):
        owner_sql(insert, m=ann, by="acme", k="k0", s="proposed")
    rid = owner_sql(insert, m=ann, by="staff1", k="k1", s="proposed")[0].id
    step = "UPDATE reward SET status = :s, approved_by = :by, approved_at = '2000-01-01' WHERE id = :id"
    refused = [
        ("UPDATE reward SET status = 'paid', paid_by = 'staff2', paid_at = now(), payout_batch = 'b' WHERE id = :id",
         {}, "cannot go from proposed to paid"),
        (step, {"s": "approved", "by": "staff1"}, "reward_check"),  # the proposer
        (step, {"s": "approved", "by": "acme"}, "approver of a reward is an active staff"),  # a sponsor
        (step, {"s": "approved", "by": "gone"}, "approver of a reward is an active staff"),  # deactivated
        ("UPDATE reward SET status = 'approved', approved_by = 'staff2', reason = 'more' WHERE id = :id", {},
         "a reward going approved changes its status and approved_by, approved_at only"),
        ("UPDATE reward SET status = 'approved', approved_by = 'staff2', reward_kind = 'gift', currency = 'PTS'"
         " WHERE id = :id", {}, "changes its status and approved_by, approved_at only"),
        ("UPDATE reward SET status = 'rejected', rule_id = NULL, member_id = member_id + 0, amount_minor = 1"
         " WHERE id = :id", {}, "a reward going rejected changes its status and closed_at only"),
        ("UPDATE reward SET reason = 'edited' WHERE id = :id", {}, "cannot go from proposed to proposed"),
    ]
    for statement, params, message in refused:
        with pytest.raises(sa.exc.DBAPIError, match=message):
            owner_sql(statement, id=rid, **params)
    owner_sql(step, s="approved", by="staff2", id=rid)
    with pytest.raises(sa.exc.DBAPIError, match="paid_by, paid_at, payout_batch only"):
        owner_sql("UPDATE reward SET status = 'paid', amount_minor = 9999, paid_by = 'staff2', payout_batch = 'b'"
                  " WHERE id = :id", id=rid)
    with pytest.raises(sa.exc.DBAPIError, match="payer of a reward is an active staff"):
        owner_sql("UPDATE reward SET status = 'paid', paid_by = 'acme', payout_batch = 'b' WHERE id = :id", id=rid)
    owner_sql("UPDATE reward SET status = 'paid', paid_by = 'staff1', paid_at = '2000-01-01', payout_batch = 'b1'"
              " WHERE id = :id", id=rid)
    with pytest.raises(sa.exc.DBAPIError, match="cannot go from paid to paid"):
        owner_sql("UPDATE reward SET payout_batch = 'b2' WHERE id = :id", id=rid)
    (row,) = owner_sql("SELECT status, amount_minor, reason, approved_by, paid_by, payout_batch,"
                       " least(proposed_at, approved_at, paid_at) > now() - interval '1 minute' AS times_are_the_db_s"
                       " FROM reward")
    assert tuple(row) == ("paid", 500, "thanks", "staff2", "staff1", "b1", True)  # backdated times were not taken
    with pytest.raises(sa.exc.IntegrityError, match="reward_idempotency_key_key"):
        owner_sql(insert, m=ann, by="staff1", k="k1", s="proposed")


def test_money_rows_are_never_deleted_nor_truncated_even_by_the_owner(database):
    c = Community()
    sponsor = c.sponsor("Acme")
    campaign = money.add_campaign(MANAGER, sponsor, "Spring", date(2026, 3, 1), date(2026, 3, 31), "100", "EUR", [])
    money.add_revenue(MANAGER, "sponsorship", "100", "EUR", date(2026, 3, 1), campaign_id=campaign)
    rewards.add_rule(MANAGER, "top1", "Top 1", "top_n", {"n": 1}, "points", 10)
    rewards.set_budget(MANAGER, "2026-03", "EUR", "100")
    user("staff", "staff")
    rewards.propose(Principal("staff", "staff"), c.member("ann", T0), "2026-03", "money", "5", "EUR", "Thanks")
    assert money_tables() == {"reward", "reward_rule", "reward_budget", "revenue", "campaign"}
    for table in money_tables():
        for statement in (f"DELETE FROM {table}", f"TRUNCATE {table} CASCADE"):
            with pytest.raises(sa.exc.DBAPIError, match=f"{table} rows are never deleted"):
                owner_sql(statement)
        assert sql(f"SELECT count(*) FROM {table}").scalar_one() == 1


def money_tables() -> set[str]:
    """The tables with an amount of money (amount_minor)."""
    return set(sql("SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
                   " AND column_name = 'amount_minor'").scalars())


@pytest.mark.parametrize("statement, constraint", [
    ("INSERT INTO revenue (stream, amount_minor, currency, booked_on) VALUES ('ads', 100, 'euro', '2026-01-01')",
     "currency_code_check"),
    ("INSERT INTO revenue (stream, amount_minor, currency, booked_on) VALUES ('ads', 0, 'EUR', '2026-01-01')",
     "revenue_amount_minor_check"),
    ("INSERT INTO revenue (stream, amount_minor, currency, booked_on) VALUES ('ads', 10000000000001, 'EUR',"
     " '2026-01-01')", "revenue_amount_minor_check"),
    *[(f"INSERT INTO revenue (stream, amount_minor, currency, booked_on) VALUES ('ads', 1, '{code}', '2026-01-01')",
       "revenue_currency_fkey") for code in ("XXX", "XTS", "XAU", "ABC", "PTS")],
    ("INSERT INTO sponsor (id, name) VALUES (1, 'A'); INSERT INTO campaign (sponsor_id, name, starts_on, ends_on,"
     " amount_minor, currency) VALUES (1, 'c', '2026-01-01', '2026-01-02', 10000000000001, 'EUR')",
     "campaign_amount_minor_check"),
    ("INSERT INTO sponsor (id, name) VALUES (1, 'A'); INSERT INTO campaign (sponsor_id, name, starts_on, ends_on,"
     " amount_minor, currency) VALUES (1, 'c', '2026-01-01', '2026-01-02', 1, 'XXX')", "campaign_currency_fkey"),
    ("INSERT INTO reward_budget VALUES ('2026-03', 'XTS', 1)", "reward_budget_money_currency_fkey"),
    ("INSERT INTO reward_budget VALUES ('2026-03', 'EUR', 10000000000001)", "reward_budget_amount_minor_check"),
    ("INSERT INTO reward_rule (code, title, trigger, reward_kind, amount_minor, currency) VALUES"
     " ('r', 'R', 'top_n', 'money', 100, 'PTS')", "reward_rule_unit_check"),
    ("INSERT INTO reward_rule (code, title, trigger, reward_kind, amount_minor, currency) VALUES"
     " ('r', 'R', 'top_n', 'points', 100, 'EUR')", "reward_rule_unit_check"),
    ("INSERT INTO reward_rule (code, title, trigger, reward_kind, amount_minor, currency) VALUES"
     " ('r', 'R', 'top_n', 'points', 0, 'PTS')", "reward_rule_amount_minor_check"),
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
