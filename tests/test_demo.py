"""The demo community: deterministic, and shaped like a real one."""
from datetime import date, timedelta
from urllib.parse import urlsplit

import polars as pl
import psycopg
import pytest
import sqlalchemy as sa

from cmcore import auth, cli, db, demo, frames, migrate, rewards
from cmcore.access import CLI, Principal

SPEC = demo.DemoSpec(members=600, days=200, seed=7, end=date(2026, 6, 1))


@pytest.fixture(scope="module")
def tables():
    return demo.generate(SPEC)


def test_same_seed_same_rows_other_seed_other_rows(tables):
    again = demo.generate(SPEC)
    assert all(tables[name].equals(again[name]) for name in demo.LOAD_ORDER)
    other = demo.generate(demo.DemoSpec(members=600, days=200, seed=8, end=date(2026, 6, 1)))
    assert not tables["activity"].equals(other["activity"])


def digests() -> dict[str, str]:
    """Each demo table's rows as one md5, in id order (or the whole row's order where there is no id)."""
    with db.engine().connect() as conn:
        return {name: conn.execute(sa.text(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {name} t")).scalar_one()
            for name in demo.LOAD_ORDER}


def test_loaded_rows_are_deterministic(database, pg_server, capsys):
    """The same seed loads the same rows, table by table, into two databases; the rows loaded are
    the ones generated, value by value; another seed loads other rows."""
    assert cli.main(["demo", "--members", "300", "--days", "60", "--seed", "3", "--end", "2026-06-01"]) == 0
    assert "Demo users" in capsys.readouterr().out
    first = digests()
    generated = demo.generate(demo.DemoSpec(members=300, days=60, seed=3, end=date(2026, 6, 1)))["activity"]
    columns = ["id", "member_id", "kind", "parent_id", "thread_id", "created_at"]
    loaded = frames.read(f"SELECT {', '.join(columns)} FROM activity ORDER BY id")
    assert loaded.equals(generated.select(columns).sort("id").cast(loaded.schema))
    # A second load into the same database is refused, and changes nothing.
    with pytest.raises(ValueError, match="already holds a community"):
        demo.load(SPEC, CLI)
    assert digests() == first
    home = db.urls()
    for seed, same in ((3, True), (4, False)):
        other = f"{urlsplit(database).path.lstrip('/')}_seed{seed}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{other}" OWNER {db.OWNER_ROLE}')
        try:
            server = db.with_database(pg_server, other)
            db.use(db.with_user(server, db.APP_ROLE), db.with_user(server, db.OWNER_ROLE))
            migrate.apply()
            demo.load(demo.DemoSpec(members=300, days=60, seed=seed, end=date(2026, 6, 1)), CLI, with_users=False)
            again = digests()
        finally:
            db.use(*home)
            with psycopg.connect(pg_server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
        assert (again == first) is same
        assert (again["activity"] == first["activity"]) is same


def test_demo_users_one_per_role_with_working_passwords(database):
    passwords = demo.load(demo.DemoSpec(members=50, days=30, seed=1, end=date(2026, 6, 1)), CLI)
    signed_in = {u: auth.sign_in(u, password, timedelta(hours=1)) for u, password in passwords.items()}
    assert {s.principal.role for s in signed_in.values()} == {"admin", "manager", "staff", "sponsor"}
    assert signed_in["sponsor"].principal.sponsor_id == 1
    assert all(s.must_change_password for s in signed_in.values())  # printed in a terminal: replaced first
    # A first visit to Rewards shows the whole flow: the demo's last month has rules, budgets and
    # rewards in every state, each step by the right person.
    staff = Principal("staff", "staff")
    month = rewards.rewards(staff, "2026-05")
    assert set(month["status"]) == {"proposed", "approved", "paid", "rejected", "cancelled"}
    assert set(month["proposed_by"]) == {"staff"} and set(month["approved_by"].drop_nulls()) == {"staff2"}
    assert set(rewards.rules(staff)["code"]) == {"top3", "answers"}
    assert set(rewards.budgets(staff, "2026-05")["currency"]) == {"PTS"}


def test_platforms_members_and_growth(tables):
    assert tables["platform"].height >= 5
    members = tables["member"]
    assert members.height == SPEC.members
    start = members["joined_at"].min()
    day = (members["joined_at"] - start).dt.total_days()
    assert (day < 7).mean() > 0.2  # the launch week
    thirds = [(day // (SPEC.days / 3) == k).sum() for k in range(3)]
    assert thirds[0] > thirds[1] > thirds[2]  # growth slows to a plateau
    assert 3 <= members["is_staff"].sum() <= 15
    assert tables["member_identity"]["member_id"].n_unique() == SPEC.members  # everyone has an account


def test_power_law_activity_and_threads(tables):
    acts = tables["activity"]
    assert 0.7 * 25 * SPEC.members < acts.height < 1.3 * 25 * SPEC.members
    per_member = acts.group_by("member_id").len().sort("len", descending=True)["len"]
    assert per_member.head(SPEC.members // 10).sum() / acts.height > 0.5  # top 10% do most
    assert set(acts["kind"].unique()) == {"thread", "reply", "answer", "comment", "reaction"}
    threads = acts.filter(pl.col("kind") == "thread")
    responded = acts.filter(pl.col("kind").is_in(["reply", "answer"]))["thread_id"].unique()
    unanswered = 1 - threads["id"].is_in(responded.implode()).mean()
    assert 0.1 < unanswered < 0.3  # some never answered
    assert acts.filter(pl.col("kind") == "answer")["accepted"].sum() > 0
    assert threads["is_question"].sum() > 0
    first = (acts.filter(pl.col("kind").is_in(["reply", "answer"])).group_by("thread_id")
             .agg(pl.col("created_at").min()).join(threads.select(pl.col("id").alias("thread_id"),
                                                                  pl.col("created_at").alias("t")),
                                                   on="thread_id"))
    delay_h = ((first["created_at"] - first["t"]).dt.total_seconds() / 3600).median()
    assert 1 < delay_h < 8  # realistic delays
    # Every child points at a parent of the same thread, created before it.
    kids = acts.filter(pl.col("parent_id").is_not_null()).join(
        acts.select(pl.col("id").alias("parent_id"), pl.col("created_at").alias("parent_at")), on="parent_id")
    assert kids.height == acts.height - threads.height
    assert (kids["created_at"] > kids["parent_at"]).all()


def test_moderation_events_mentions_and_money(tables):
    cases = tables["moderation_case"]
    assert set(cases["rule_id"]) == {1, 2, 3, 4, 5}
    assert 0 < cases["resolved_at"].null_count() < 0.1 * cases.height  # a few cases still open
    assert (cases["outcome"].is_null() == cases["resolved_at"].is_null()).all()
    repeat = cases.filter(pl.col("outcome") == "upheld").group_by("member_id").len()
    assert (repeat["len"] >= 2).any()  # repeat offenders
    att = tables["event_attendance"]
    assert att.height > 0 and 0 < att["attended"].mean() < 1
    mentions = tables["mention"]
    assert set(mentions["lang"]) == {"fr", "en"}
    negative = (mentions.filter(pl.col("sentiment") == -1)
                .group_by(pl.col("created_at").dt.date()).len()["len"])
    assert negative.max() > negative.mean() + 3 * negative.std()  # the crisis spike
    assert tables["sponsor"].height >= 2 and tables["campaign"].height >= 2
    assert tables["campaign_delivery"].height > 0
    revenue = tables["revenue"]
    assert set(revenue["stream"]) >= {"ads", "sponsorship", "membership", "donation", "merch"}
    assert revenue["received_on"].null_count() > 0  # something outstanding
