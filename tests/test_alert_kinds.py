"""What each kind of alert finds, on small communities where a person can count it."""
from __future__ import annotations

from datetime import date, timedelta

from cmcore import money, rewards
from cmcore.access import Principal
from cmcore.alerts import kinds, rules
from tests.builders import Community, user, utc

NOW = utc(2026, 3, 10, 12)


def test_a_platform_without_new_data_for_the_threshold_is_found_once_per_stall(database):
    c = Community()
    ann = c.member("ann", utc(2026, 1, 1), "discord", "forum")
    c.act(ann, "thread", NOW - timedelta(hours=3), platform="discord")
    c.act(ann, "thread", NOW - timedelta(hours=50), platform="forum")
    c.act(ann, "thread", NOW - timedelta(hours=80), platform="forum")
    found = rules.findings("platform_stale", 48, NOW)
    last = (NOW - timedelta(hours=50)).isoformat()
    assert found == [kinds.Finding(f"forum:{last}", {"platform": "Forum", "hours": 50},
                                   "overview?from=2026-03-02&to=2026-03-10&platform=forum")]
    assert rules.findings("platform_stale", 51, NOW) == []
    assert [f.facts["platform"] for f in rules.findings("platform_stale", 2, NOW)] == ["Discord", "Forum"]
    c.act(ann, "thread", NOW - timedelta(hours=1), platform="forum")  # data again: the stall is over
    assert rules.findings("platform_stale", 48, NOW) == []
    later = NOW + timedelta(hours=60)  # a new stall is a new episode
    assert [f.period for f in rules.findings("platform_stale", 48, later)] == [
        f"discord:{(NOW - timedelta(hours=3)).isoformat()}", f"forum:{(NOW - timedelta(hours=1)).isoformat()}"]


def test_a_reputation_crisis_is_the_reputation_pages_detector_over_the_last_7_days(database):
    c = Community()
    for day in (20, 27):  # two negative mentions in the 28 days before 9 March
        c.mention(utc(2026, 2, day, 10), -1)
    for hour in range(6):  # six on 9 March (Paris)
        c.mention(utc(2026, 3, 9, 8 + hour), -1)
    c.mention(utc(2026, 3, 9, 15), 1)
    found = rules.findings("crisis", 5, NOW)
    assert found == [kinds.Finding("crisis:2026-03-09", {"day": "2026-03-09", "negative": 6, "usual": 0.1},
                                   "reputation?from=2026-03-09&to=2026-03-09")]
    assert rules.findings("crisis", 7, NOW) == []  # fewer than 7 negative mentions that day
    assert rules.findings("crisis", 5, NOW + timedelta(days=7)) == []  # out of the last 7 days


def test_unanswered_threads_past_the_response_sla(database):
    c = Community()
    ann, bob = c.member("ann", utc(2026, 1, 1)), c.member("bob", utc(2026, 1, 1))
    c.act(ann, "thread", NOW - timedelta(hours=30))  # late: 30 h > 24 h
    c.act(ann, "thread", NOW - timedelta(hours=10))  # not yet
    answered = c.act(ann, "thread", NOW - timedelta(hours=50))
    c.act(bob, "reply", NOW - timedelta(hours=48), parent=answered)
    c.act(ann, "thread", NOW - timedelta(days=95))  # before the 90 days watched
    assert rules.findings("unanswered", 1, NOW) == [kinds.Finding(
        "unanswered:2026-03-10", {"count": 1, "sla": "24", "oldest": 30},
        "responsiveness?from=2025-12-11&to=2026-03-10")]
    assert rules.findings("unanswered", 2, NOW) == []


def test_moderation_cases_past_the_sla_without_action(database):
    c = Community()
    cat = c.member("cat", utc(2026, 1, 1))
    c.case(cat, "spam", NOW - timedelta(hours=5))  # late: 5 h > 2 h, no action
    c.case(cat, "spam", NOW - timedelta(hours=1))  # not yet
    c.case(cat, "abuse", NOW - timedelta(hours=6), acted=NOW - timedelta(hours=5))  # acted on
    c.case(cat, "abuse", NOW - timedelta(hours=9), acted=NOW - timedelta(hours=8), resolved=NOW - timedelta(hours=7),
           outcome="upheld")
    assert rules.findings("moderation", 1, NOW) == [kinds.Finding(
        "moderation:2026-03-10", {"count": 1, "sla": "2", "oldest": 5}, "moderation?from=2025-12-11&to=2026-03-10")]
    assert rules.findings("moderation", 2, NOW) == []


def test_a_key_member_slipping_out_of_the_top(database):
    c = Community()
    ann, bob, cat = (c.member(n, utc(2026, 1, 1)) for n in ("ann", "bob", "cat"))
    dan = c.member("dan", utc(2026, 1, 1), staff=True)
    for day in (24, 25, 26):  # the week before: Ann 15 points, Dan (staff) 10, Bob 5
        c.act(ann, "thread", utc(2026, 2, day, 12))
    c.act(dan, "thread", utc(2026, 2, 24, 13))
    c.act(dan, "thread", utc(2026, 2, 25, 13))
    c.act(bob, "thread", utc(2026, 2, 27, 12))
    for day in (4, 5):  # the last 7 days (3 to 9 March): Bob 10, Cat 5, Ann and Dan nothing
        c.act(bob, "thread", utc(2026, 3, day, 12))
    c.act(cat, "thread", utc(2026, 3, 6, 12))
    link = "leaderboard?from=2026-03-03&to=2026-03-09"
    assert rules.findings("member_slipping", 1, NOW) == [kinds.Finding(
        f"{ann}:2026-W11", {"member": "ann", "before": 1, "now": "–", "top": 1}, link)]
    assert [f.facts["member"] for f in rules.findings("member_slipping", 3, NOW)] == ["ann"]  # not Dan (staff)
    assert rules.findings("member_slipping", 0, NOW) == []


def test_a_reward_budget_spent_past_a_share(database):
    ann = Community().member("ann", utc(2026, 1, 1))
    for name, role in (("manon", "manager"), ("sam", "staff"), ("tess", "staff")):
        user(name, role)
    sam = Principal("sam", "staff")
    rewards.set_budget(Principal("manon", "manager"), "2026-03", "EUR", "100")
    reward = rewards.propose(sam, ann, "2026-03", "money", "85", "EUR", "Thanks")
    rewards.propose(sam, ann, "2026-03", "money", "10", "EUR", "Proposed only")  # not counted until approved
    rewards.approve(Principal("tess", "staff"), reward)
    assert rules.findings("budget", 80, NOW) == [kinds.Finding(
        "2026-03:EUR", {"month": "2026-03", "currency": "EUR", "share": 85}, "rewards")]
    assert rules.findings("budget", 90, NOW) == []


def test_a_campaign_behind_its_linear_pace(database):
    user("manon", "manager")
    manager = Principal("manon", "manager")
    acme = money.add_sponsor(manager, "Acme")
    spring = money.add_campaign(manager, acme, "Spring", date(2026, 3, 1), date(2026, 3, 20), "1000", "EUR",
                                [{"label": "Posts", "target": 8, "delivered": 2}, {"label": "Videos", "target": 2}])
    money.add_campaign(manager, acme, "Winter", date(2026, 1, 1), date(2026, 2, 1), "1000", "EUR",
                       [{"label": "Posts", "target": 8}])  # over
    # 10 of 20 days: a linear pace is at 50 %; 2 of 10 deliverables: 20 %, 30 points behind
    assert rules.findings("campaign_pace", 20, NOW) == [kinds.Finding(
        f"{spring}:2026-W11", {"campaign": "Spring", "done": 20, "pace": 50}, "monetisation?from=2026-03-01&to=2026-03-10")]
    assert rules.findings("campaign_pace", 31, NOW) == []
