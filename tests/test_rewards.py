"""The rewards programme: life cycle, the four-eyes rule, budgets, paying once, idempotent
proposals, an audit trail the database keeps, and 20 threads racing on 100 rewards."""
import re
import threading
from datetime import date

import polars as pl
import pytest
import sqlalchemy as sa

from cmcore import db, rewards
from cmcore.access import AccessDenied, Principal
from tests.builders import Community, user, utc

MANAGER = Principal("manager", "manager")
ANNA = Principal("anna", "staff")
BEN = Principal("ben", "staff")



@pytest.fixture
def programme(database):
    c = Community()
    members = [c.member(f"m{i}", utc(2026, 1, 1)) for i in range(4)]
    for name, role in (("manager", "manager"), ("anna", "staff"), ("ben", "staff")):
        user(name, role)
    rewards.set_budget(MANAGER, "2026-03", "EUR", "100")
    return c, members


def statuses(*ids) -> list[str]:
    with db.engine().connect() as conn:
        return conn.execute(sa.text("SELECT status FROM reward WHERE id = ANY(:ids) ORDER BY id"),
                            {"ids": list(ids)}).scalars().all()


def actions(reward_id: int) -> list[tuple[str, str]]:
    return [(r["actor"], r["action"]) for r in rewards.trail(ANNA, reward_id).iter_rows(named=True)]


def test_the_whole_life_cycle_with_its_audit_trail(programme):
    _, members = programme
    reward = rewards.propose(ANNA, members[0], "2026-03", "money", "40", "EUR", "Answered 30 questions")
    rewards.approve(BEN, reward)
    batch, csv = rewards.pay(BEN, [reward])
    assert statuses(reward) == ["paid"]
    assert actions(reward) == [("anna", "reward.propose"), ("ben", "reward.approve"), ("ben", "reward.pay")]
    lines = csv.decode("utf-8-sig").splitlines()
    assert lines[0] == "batch,reward_id,member_id,member,kind,currency,reason,amount"
    assert lines[1] == f"{batch},{reward},{members[0]},m0,money,EUR,Answered 30 questions,40.00"
    with pytest.raises(sa.exc.DBAPIError, match="permission denied"), db.transaction() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'someone else' WHERE entity = 'reward'"))


def test_the_proposer_never_approves(programme):
    _, members = programme
    reward = rewards.propose(ANNA, members[0], "2026-03", "money", "10", "EUR", "Thanks")
    with pytest.raises(rewards.RewardError, match="proposed by you"):
        rewards.approve(ANNA, reward)
    assert statuses(reward) == ["proposed"]


def test_an_approval_past_the_budget_is_refused_with_what_remains(programme):
    _, members = programme
    first = rewards.propose(ANNA, members[0], "2026-03", "money", "70", "EUR", "Thanks")
    second = rewards.propose(ANNA, members[1], "2026-03", "money", "40", "EUR", "Thanks")
    rewards.approve(BEN, first)
    with pytest.raises(rewards.RewardError, match=r"40.00 EUR would exceed the budget of 2026-03; 30.00 EUR remain"):
        rewards.approve(BEN, second)
    rewards.cancel(ANNA, first, "Duplicate")  # frees the budget
    rewards.approve(BEN, second)
    assert statuses(first, second) == ["cancelled", "approved"]
    budget = rewards.budgets(ANNA, "2026-03").row(0, named=True)
    assert (budget["budget"], budget["approved"], budget["used"], budget["remaining"]) == (10_000, 4_000, 4_000, 6_000)
    with pytest.raises(rewards.RewardError, match="no budget set for 2026-03 in USD"):
        rewards.approve(BEN, rewards.propose(ANNA, members[2], "2026-03", "money", "5", "USD", "Thanks"))
    with pytest.raises(rewards.RewardError, match="40.00 EUR is already approved"):
        rewards.set_budget(MANAGER, "2026-03", "EUR", "30")


def test_nothing_is_paid_twice(programme):
    _, members = programme
    reward = rewards.propose(ANNA, members[0], "2026-03", "money", "10", "EUR", "Thanks")
    other = rewards.propose(ANNA, members[1], "2026-03", "money", "10", "EUR", "Thanks")
    rewards.approve(BEN, reward)
    rewards.approve(BEN, other)
    batch, _ = rewards.pay(BEN, [reward])
    assert re.fullmatch(r"PAY-\d{8}-\d{6}-[0-9a-f]{6}", batch)  # the day, the time and 3 random bytes
    with pytest.raises(rewards.RewardError, match=rf"nothing paid: {reward} \(paid\)"):
        rewards.pay(ANNA, [reward, other])  # all or nothing
    with pytest.raises(rewards.RewardError) as refused:
        rewards.pay(ANNA, [other, other + 1000])
    assert str(refused.value) == f"batch: not approved, nothing paid: {other + 1000} (missing)"
    assert statuses(reward, other) == ["paid", "approved"]
    with pytest.raises(rewards.RewardError, match="it is paid"):
        rewards.cancel(ANNA, reward, "Too late")


def test_rejection_and_roles(programme):
    _, members = programme
    reward = rewards.propose(ANNA, members[0], "2026-03", "points", 50, "", "Great talk")
    with pytest.raises(rewards.RewardError, match="reason"):
        rewards.reject(BEN, reward, " ")
    rewards.reject(BEN, reward, "Not this month")
    with pytest.raises(rewards.RewardError, match="it is rejected, not proposed"):
        rewards.approve(BEN, reward)
    sponsor = Principal("acme", "sponsor", Community().sponsor("Acme"))
    for call in (lambda: rewards.propose(sponsor, members[0], "2026-03", "points", 1, "", "x"),
                 lambda: rewards.rewards(sponsor), lambda: rewards.approve(sponsor, reward),
                 lambda: rewards.set_budget(ANNA, "2026-03", "EUR", "1000"),
                 lambda: rewards.add_rule(ANNA, "x", "x", "top_n", {"n": 1}, "points", 1)):
        with pytest.raises(AccessDenied):
            call()


def test_amounts_of_points_gifts_and_badges(programme):
    """Points are whole numbers from 1 to 10^13 (the bound itself included); a gift or a badge
    may be worth nothing; an administrator manages like a manager; a missing rule is named."""
    _, members = programme
    admin = Principal("root", "admin")
    rewards.set_budget(admin, "2026-03", "PTS", 10**13)
    largest = rewards.propose(ANNA, members[0], "2026-03", "points", "0010000000000000", "", "The most")
    free = [rewards.propose(ANNA, members[1], "2026-03", kind, amount, "", "Thanks")
            for kind, amount in (("gift", ""), ("badge", "0"), ("gift", " 0 "))]
    with db.engine().connect() as conn:
        amounts = conn.execute(sa.text("SELECT amount_minor FROM reward WHERE id = ANY(:ids) ORDER BY id"),
                               {"ids": [largest, *free]}).scalars().all()
    assert amounts == [10**13, 0, 0, 0]
    april = rewards.propose(ANNA, members[1], "2026-04", "badge", "", "", "Spring")
    assert rewards.rewards(ANNA)["id"].to_list() == [april, *reversed(free), largest]  # newest first
    assert april not in rewards.rewards(ANNA, "2026-03")["id"].to_list()
    for amount, message in ((10**13 + 1, "amount: at most 10000000000000 points"), ("X5", "amount: a whole number of points"),
                            ("0", "amount: a whole number of points above zero"), ("5.5", "amount: a whole number of points")):
        with pytest.raises(rewards.RewardError) as refused:
            rewards.propose(ANNA, members[2], "2026-03", "points", amount, "", "x")
        assert str(refused.value) == message
    with pytest.raises(rewards.RewardError) as refused:
        rewards.propose(ANNA, members[2], "2026-03", "points", 5, "", " ")
    assert str(refused.value) == "reason: say why this member is thanked"
    with db.engine().connect() as conn:
        budget = conn.execute(sa.text("SELECT actor, entity, entity_id, detail FROM audit_log"
                                      " WHERE action = 'reward_budget.set' AND actor = 'root'")).one()
    assert tuple(budget) == ("root", "reward_budget", "2026-03:PTS", {"amount_minor": 10**13})
    rule = rewards.add_rule(admin, "first", "First answer", "accepted_answer", {}, "points", 5)
    rewards.set_rule_active(admin, rule, False)
    with pytest.raises(rewards.RewardError) as refused:
        rewards.set_rule_active(admin, rule + 1, True)
    assert str(refused.value) == f"rule {rule + 1}: no such rule"


def test_rules_propose_once_per_member_rule_and_month(programme):
    c, members = programme
    question = c.act(members[3], "thread", utc(2026, 3, 2), "stackexchange", is_question=True)
    for k, m in enumerate(members[:3]):
        for n in range(k + 1):  # m0 one accepted answer, m1 two, m2 three
            c.act(m, "answer", utc(2026, 3, 3 + n, 10 + k), "stackexchange", parent=question, accepted=True)
    meetup = c.event("Meetup", utc(2026, 3, 20))
    c.register(meetup, members[3], utc(2026, 3, 1), True)
    rewards.add_rule(MANAGER, "top2", "Top 2 of the month", "top_n", {"n": 2}, "money", "25", "EUR")
    rewards.add_rule(MANAGER, "accepted", "Accepted answers", "accepted_answer", {}, "points", 10)
    rewards.add_rule(MANAGER, "meetups", "One event", "events_attended", {"count": 1}, "badge", 0)
    meetups = rewards.rules(ANNA).filter(pl.col("code") == "meetups")["id"][0]
    rewards.set_rule_active(MANAGER, meetups, False)
    with pytest.raises(AccessDenied):
        rewards.set_rule_active(ANNA, meetups, True)
    assert rewards.propose_from_rules(ANNA, "2026-03") == 2 + 3  # the switched-off rule proposes nothing
    rewards.set_rule_active(MANAGER, meetups, True)
    assert rewards.propose_from_rules(ANNA, "2026-03") == 1
    assert rewards.propose_from_rules(BEN, "2026-03") == 0  # idempotent
    made = rewards.rewards(ANNA, "2026-03").sort("rule", "member")
    assert made.select("member", "rule", "amount_minor", "currency", "reason").rows() == [
        ("m0", "Accepted answers", 10, "PTS", "Accepted answers: 1"),
        ("m1", "Accepted answers", 20, "PTS", "Accepted answers: 2"),
        ("m2", "Accepted answers", 30, "PTS", "Accepted answers: 3"), ("m3", "One event", 0, "PTS", "Events attended: 1"),
        ("m1", "Top 2 of the month", 2_500, "EUR", "Top 2 of the month (rank 2)"),  # 3 × 18 > 2 × 18 > 18 points
        ("m2", "Top 2 of the month", 2_500, "EUR", "Top 2 of the month (rank 1)"),
    ]
    assert [rewards.reason(r, "fr") for r in made["reason"]] == [
        "Réponses acceptées : 1", "Réponses acceptées : 2", "Réponses acceptées : 3", "Événements suivis : 1",
        "Top 2 du mois (rang 2)", "Top 2 du mois (rang 1)"]
    assert rewards.reason("Top 2 of the month (rank 1) — merci !", "fr") == "Top 2 of the month (rank 1) — merci !"
    with db.engine().connect() as conn:
        switched = conn.execute(sa.text("SELECT action FROM audit_log WHERE entity = 'reward_rule' AND entity_id = :r"
                                        " ORDER BY id"), {"r": str(meetups)}).scalars().all()
    assert switched == ["reward_rule.add", "reward_rule.deactivate", "reward_rule.activate"]


def test_twenty_threads_racing_on_a_hundred_rewards_pay_each_once_within_budget(programme):
    _, members = programme
    staff = [Principal(f"s{i:02d}", "staff") for i in range(20)]
    for p in staff:
        user(p.username, "staff")
    ids = [rewards.propose(ANNA, members[i % 4], "2026-03", "money", "1.50", "EUR", f"#{i}") for i in range(100)]
    # The budget of 100 EUR holds 66 rewards of 1.50 EUR: 34 must be refused.
    errors: list[Exception] = []
    start = threading.Barrier(len(staff))
    # The only refusals a race may give: approved or paid by someone else first, or the budget spent.
    expected = re.compile(r"reward \d+: it is (approved|paid), not proposed"
                          r"|reward \d+: 1\.50 EUR would exceed the budget of 2026-03; [01]\.[05]0 EUR remain"
                          r"|batch: not approved, nothing paid: \d+ \((proposed|paid)\)")

    def race(who: Principal) -> None:
        start.wait()
        order = ids if int(who.username[1:]) % 2 else ids[::-1]
        for reward_id in order:
            for step in (lambda: rewards.approve(who, reward_id), lambda: rewards.pay(who, [reward_id])):
                try:
                    step()
                except Exception as err:  # anything else is a bug
                    if not (isinstance(err, rewards.RewardError) and expected.fullmatch(str(err))):
                        errors.append(err)

    threads = [threading.Thread(target=race, args=(p,)) for p in staff]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    done = rewards.rewards(ANNA, "2026-03")
    assert done["status"].value_counts().sort("status").rows() == [("paid", 66), ("proposed", 34)]
    assert done.filter(pl.col("status") == "paid")["amount_minor"].sum() == 9_900 <= 10_000
    with db.engine().connect() as conn:
        pays = conn.execute(sa.text("SELECT entity_id, count(*) FROM audit_log WHERE action = 'reward.pay'"
                                    " GROUP BY entity_id")).all()
        approvals = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'reward.approve'")).scalar_one()
    assert len(pays) == 66 and {n for _, n in pays} == {1} and approvals == 66


def test_twenty_concurrent_approvals_against_a_budget_for_one_approve_exactly_one(programme):
    """Twenty staff members each approve a different 5 EUR reward at the same instant, against a
    budget of 5 EUR: one approval goes through, the nineteen others are refused for the budget."""
    _, members = programme
    rewards.set_budget(MANAGER, "2026-04", "EUR", "5")
    staff = [Principal(f"a{i:02d}", "staff") for i in range(20)]
    for p in staff:
        user(p.username, "staff")
    ids = [rewards.propose(ANNA, members[i % 4], "2026-04", "money", "5", "EUR", f"#{i}") for i in range(20)]
    outcome: dict[int, str] = {}
    start = threading.Barrier(len(staff))

    def approve(who: Principal, reward_id: int) -> None:
        start.wait()
        try:
            rewards.approve(who, reward_id)
            outcome[reward_id] = "approved"
        except Exception as err:  # noqa: BLE001 — every outcome is checked below
            outcome[reward_id] = f"{type(err).__name__}: {err}"

    threads = [threading.Thread(target=approve, args=pair) for pair in zip(staff, ids, strict=True)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    approved = [r for r, said in outcome.items() if said == "approved"]
    assert len(approved) == 1
    assert sorted(said for r, said in outcome.items() if r not in approved) == sorted(
        f"RewardError: reward {r}: 5.00 EUR would exceed the budget of 2026-04; 0.00 EUR remain"
        for r in ids if r not in approved)
    assert statuses(*ids).count("approved") == 1
    budget = rewards.budgets(ANNA, "2026-04").row(0, named=True)
    assert (budget["budget"], budget["approved"], budget["remaining"]) == (500, 500, 0)


def test_recent_months():
    assert rewards.recent_months(date(2026, 2, 10), 4) == ["2026-02", "2026-01", "2025-12", "2025-11"]
    assert rewards.month_period("2026-02").end == date(2026, 3, 1)
    with pytest.raises(rewards.RewardError):
        rewards.month_period("2026-13")
