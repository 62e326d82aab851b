"""The leaderboard on hand-built communities: exact scores, anti-gaming, ties, period boundaries,
merged identities, rising and slipping, the scoring managers edit, and the page."""
import json
from datetime import date, timedelta

import polars as pl
import pytest
import sqlalchemy as sa

from cmcore import db, demo, frames, leaderboard
from cmcore.access import AccessDenied, Principal
from cmcore.reports import Scope
from cmcore.periods import Period
from tests.builders import Community, utc

MANAGER = Principal("manon", "manager")
STAFF = Principal("sami", "staff")
MARCH = Period(date(2026, 3, 1), date(2026, 3, 11))  # previous period: 19 Feb – 28 Feb



def scope(period: Period = MARCH, platforms=None, tz: str = "UTC") -> Scope:
    return Scope(period, platforms, tz, utc(2026, 3, 20))


def rows(board: pl.DataFrame, *columns: str) -> dict:
    return {r["display_name"]: tuple(r[c] for c in columns) for r in board.iter_rows(named=True)}


@pytest.fixture
def small(database):
    c = Community()
    ann = c.member("ann", utc(2025, 1, 1))
    bob = c.member("bob", utc(2025, 1, 1))
    cat = c.member("cat", utc(2025, 1, 1))
    t1 = c.act(ann, "thread", utc(2026, 3, 1, 9))  # ann 5
    t2 = c.act(bob, "thread", utc(2026, 3, 2, 10), "stackexchange", is_question=True)  # bob 5
    answer = c.act(ann, "answer", utc(2026, 3, 2, 11), "stackexchange", parent=t2, accepted=True)  # ann 3 + 15
    c.act(ann, "comment", utc(2026, 3, 2, 12), "stackexchange", parent=t2)  # ann 1
    c.act(bob, "reaction", utc(2026, 3, 3, 12), "stackexchange", parent=answer)  # bob 0.2, ann 1
    c.act(bob, "reaction", utc(2026, 3, 3, 13), "stackexchange", parent=answer)  # same pair, same day: nothing
    c.act(bob, "reaction", utc(2026, 3, 3, 14), "stackexchange", parent=t2)  # self-reaction: nothing
    c.act(bob, "reply", utc(2026, 3, 3, 15), "stackexchange", parent=t2)  # self-reply: nothing
    c.act(cat, "reaction", utc(2026, 3, 4, 9), parent=t1)  # cat 0.2, ann 1
    c.act(cat, "reply", utc(2026, 3, 4, 10), parent=t1)  # cat 3
    meetup = c.event("Meetup", utc(2026, 3, 5, 18))
    c.register(meetup, ann, utc(2026, 3, 1), True)  # ann 10
    c.register(meetup, bob, utc(2026, 3, 1), False)
    return c


def test_exact_scores_and_their_breakdown(small):
    board = leaderboard.leaderboard(MANAGER, scope())
    assert rows(board, "rank", "score", "reach") == {
        "ann": (1, pytest.approx(36.0), 2),  # bob and cat reacted or replied to her
        "bob": (2, pytest.approx(5.2), 1),  # ann answered him
        "cat": (3, pytest.approx(3.2), 0),
    }
    ann = board.row(0, named=True)
    assert {k: ann[k] for k in leaderboard.KINDS} == {
        "thread": 5.0, "answer": 3.0, "reply": 0.0, "comment": 1.0, "accepted": 15.0,
        "reaction_received": 2.0, "reaction_given": 0.0, "event": 10.0}
    explained, recent = leaderboard.explain(MANAGER, scope(), ann["member_id"])
    assert explained["points"].sum() == pytest.approx(ann["score"])
    bob = board.row(1, named=True)
    bob_lines = leaderboard.explain(MANAGER, scope(), bob["member_id"])[0]
    assert bob_lines.filter(pl.col("kind") == "reaction_given").select("items", "counted", "points").row(0) == (
        1, 1, pytest.approx(0.2))  # the same-day repeat and the self-reaction count for nothing
    assert recent["kind"].to_list() == ["comment", "answer", "thread"]  # latest first
    assert explained.rows() == [  # kind, items, counted, weight, daily cap, points
        ("thread", 1, 1, 5.0, 5, 5.0), ("answer", 1, 1, 3.0, 20, 3.0), ("reply", 0, 0, 3.0, 20, 0.0),
        ("comment", 1, 1, 1.0, 20, 1.0), ("accepted", 1, 1, 15.0, 10, 15.0), ("reaction_received", 2, 2, 1.0, 50, 2.0),
        ("reaction_given", 0, 0, 0.2, 30, 0.0), ("event", 1, 1, 10.0, 3, 10.0)]
    assert explained.columns == ["kind", "items", "counted", "weight", "daily_cap", "points"]


def test_love_reach_and_gravity(small):
    board = leaderboard.leaderboard(MANAGER, scope())
    bob = board.filter(pl.col("display_name") == "bob").row(0, named=True)
    # Ages from each day's noon to the end of the period (11 March): 8.5 and 7.5 days.
    expected = 5 * 0.5 ** (8.5 / 30) + 0.2 * 0.5 ** (7.5 / 30)
    assert bob["love"] == pytest.approx(expected)
    assert bob["gravity"] == pytest.approx(expected * 1)


def test_a_spammer_and_a_reaction_ring_do_not_outrank_a_steady_helper(database):
    c = Community()
    helper = c.member("helper", utc(2025, 1, 1))
    spammer = c.member("spammer", utc(2025, 1, 1))
    ring = [c.member(f"ring{i}", utc(2025, 1, 1)) for i in range(3)]
    askers = [c.member(f"asker{i}", utc(2025, 1, 1)) for i in range(30)]
    for day, asker in enumerate(askers):  # one answered question a day, four accepted
        question = c.act(asker, "thread", utc(2026, 3, 1, 8) + timedelta(days=day % 10))
        answer = c.act(helper, "answer", utc(2026, 3, 1, 9) + timedelta(days=day % 10), parent=question,
                       accepted=day < 4)
        c.act(asker, "reaction", utc(2026, 3, 1, 10) + timedelta(days=day % 10), parent=answer)
    posts = [c.act(member, "thread", utc(2026, 3, 1, 7)) for member in ring]
    victim = c.act(helper, "thread", utc(2026, 3, 1, 6))
    bulk = []
    for day in range(10):  # each ring member reacts 100 times a day to the two others' posts
        for i, member in enumerate(ring):
            for k in range(100):
                target = posts[(i + 1 + k % 2) % 3]
                bulk.append((member, "reaction", target, target, utc(2026, 3, 1 + day, 12, 0, k % 60)))
    bulk += [(spammer, "comment", victim, victim, utc(2026, 3, 5, 10, k // 60, k % 60)) for k in range(500)]
    frame = pl.DataFrame(bulk, orient="row", schema=["member_id", "kind", "parent_id", "thread_id", "created_at"],
                         ).with_columns(pl.lit(c.platform("discord")).alias("platform_id"),
                                        pl.format("bulk{}", pl.int_range(pl.len())).alias("external_id"))
    with db.transaction() as conn:
        demo.copy_frame(conn, "activity", frame)
    board = leaderboard.leaderboard(MANAGER, scope())
    scores = rows(board, "score")
    assert scores["helper"][0] == pytest.approx(30 * 3 + 4 * 15 + 30 * 1 + 5 + 1 * 0)  # 185: answers, accepted, thanks, a thread
    assert scores["spammer"][0] == pytest.approx(20)  # 500 comments in a day, capped at 20
    assert scores["ring0"][0] == pytest.approx(5 + 10 * (2 * 1 + 2 * 0.2))  # 29: once a day per pair of members
    assert board["display_name"][0] == "helper"


def test_ties_go_to_who_reached_the_score_first_then_to_the_lower_id(database):
    """Reaching is counted in days: the score is reached on its last day with points."""
    c = Community()
    late = c.member("late", utc(2025, 1, 1))
    early = c.member("early", utc(2025, 1, 1))
    same1 = c.member("same1", utc(2025, 1, 1))
    same2 = c.member("same2", utc(2025, 1, 1))
    c.act(late, "thread", utc(2026, 3, 5))
    c.act(early, "thread", utc(2026, 3, 4))
    c.act(same2, "thread", utc(2026, 3, 6))
    c.act(same1, "thread", utc(2026, 3, 6))
    board = leaderboard.leaderboard(MANAGER, scope())
    assert board["display_name"].to_list() == ["early", "late", "same1", "same2"]
    assert board["rank"].to_list() == [1, 2, 3, 4]


def test_period_boundaries_in_the_community_time_zone(database):
    c = Community()
    ann = c.member("ann", utc(2025, 1, 1))
    c.act(ann, "thread", utc(2026, 2, 28, 23, 30))  # 1 March 00:30 in Paris: in; in UTC: before
    c.act(ann, "thread", utc(2026, 3, 10, 23, 30))  # 11 March in Paris: after; in UTC: in
    c.act(ann, "thread", utc(2026, 3, 11))  # the end itself is outside
    assert rows(leaderboard.leaderboard(MANAGER, scope(tz="Europe/Paris")), "score") == {"ann": (5.0,)}
    assert rows(leaderboard.leaderboard(MANAGER, scope(tz="UTC")), "score") == {"ann": (5.0,)}
    paris = leaderboard.leaderboard(MANAGER, scope(tz="Europe/Paris")).row(0, named=True)
    assert paris["reached_on"] == date(2026, 3, 1)


def test_a_member_on_two_platforms_is_one_row(database):
    c = Community()
    ann = c.member("ann", utc(2025, 1, 1), "discord", "forum")
    c.act(ann, "thread", utc(2026, 3, 2), "discord")
    c.act(ann, "thread", utc(2026, 3, 3), "forum")
    board = leaderboard.leaderboard(MANAGER, scope())
    assert rows(board, "score", "platforms") == {"ann": (10.0, "Discord, Forum")}
    forum = c.platforms["forum"]
    assert rows(leaderboard.leaderboard(MANAGER, scope(platforms=[forum])), "score") == {"ann": (5.0,)}


def test_rising_and_slipping(database):
    c = Community()
    newbie = c.member("newbie", utc(2026, 2, 1))
    veteran = c.member("veteran", utc(2024, 1, 1))
    steady = c.member("steady", utc(2024, 1, 1))
    for day in range(20, 29):  # previous period: veteran 9 threads (45), newbie 1 (5), steady 1 (5)
        c.act(veteran, "thread", utc(2026, 2, day))
    c.act(newbie, "thread", utc(2026, 2, 25))
    c.act(steady, "thread", utc(2026, 2, 25))
    for day in (2, 3):  # this period: newbie 10, veteran 20, steady 5
        c.act(newbie, "thread", utc(2026, 3, day))
    for day in range(4, 8):
        c.act(veteran, "thread", utc(2026, 3, day))
    c.act(steady, "thread", utc(2026, 3, 2))
    board = leaderboard.leaderboard(MANAGER, scope())
    assert rows(board, "rank", "previous_rank", "rank_change", "rising", "slipping") == {
        "veteran": (1, 1, 0, False, True),  # was the top 10 % (1 of 3), fell from 45 to 20
        "newbie": (2, 2, 0, True, False),  # 5 → 10 and joined within 90 days
        "steady": (3, 3, 0, False, False),
    }


def test_rising_needs_a_recent_joiner_who_doubled_and_slipping_a_top_member_who_halved(database):
    """Previous period (19–28 Feb): veteran 45, gone 20, middling 10, newbie, fresh and oldtimer 5 each
    (ranked in that order: same score, earlier day first); the top 10 % of 6 is one member. This
    period: veteran 20, newbie and oldtimer 10, middling and fresh 5, gone nothing."""
    c = Community()
    joined = {"veteran": utc(2024, 1, 1), "gone": utc(2024, 1, 1), "middling": utc(2024, 1, 1),
              "newbie": utc(2026, 2, 1), "fresh": utc(2026, 2, 1), "oldtimer": utc(2024, 1, 1)}
    ids = {name: c.member(name, at) for name, at in joined.items()}
    threads = {"veteran": [(2, d) for d in range(20, 29)] + [(3, d) for d in range(4, 8)],
               "gone": [(2, d) for d in range(20, 24)], "middling": [(2, 24), (2, 25), (3, 5)],
               "newbie": [(2, 25), (3, 2), (3, 3)], "fresh": [(2, 26), (3, 6)],
               "oldtimer": [(2, 27), (3, 2), (3, 4)]}
    for name, days in threads.items():
        for month, day in days:
            c.act(ids[name], "thread", utc(2026, month, day, 9))
    board = leaderboard.leaderboard(MANAGER, scope())
    assert board["display_name"].to_list() == ["veteran", "newbie", "oldtimer", "middling", "fresh", "gone"]
    assert rows(board, "rank", "previous_rank", "rank_change", "score", "previous_score", "rising", "slipping") == {
        "veteran": (1, 1, 0, 20.0, 45.0, False, True),  # the top one, fallen to less than half
        "newbie": (2, 4, 2, 10.0, 5.0, True, False),  # joined within 90 days and doubled
        "oldtimer": (3, 6, 3, 10.0, 5.0, False, False),  # doubled, but a member for years
        "middling": (4, 3, -1, 5.0, 10.0, False, False),  # halved, but not in the top 10 %
        "fresh": (5, 5, 0, 5.0, 5.0, False, False),  # joined within 90 days, did not double
        "gone": (None, 2, None, 0.0, 20.0, False, False),  # no points this period: no rank, still listed
    }
    assert rows(board, "member_id")["gone"] == (ids["gone"],)


def test_the_scoring_s_bounds_are_inclusive_and_each_refusal_says_which(small):
    rules = leaderboard.Scoring()

    def refused(**change) -> str:
        with pytest.raises(ValueError) as caught:
            leaderboard.Scoring(**{"weights": rules.weights, "caps": rules.caps, "half_life_days": 30.0, **change})
        return str(caught.value)

    for weight in (0, 1000):
        leaderboard.Scoring({**rules.weights, "thread": weight}, rules.caps)
    for cap in (1, 10_000):
        leaderboard.Scoring(rules.weights, {**rules.caps, "thread": cap})
    for half_life in (1, 3650):
        leaderboard.Scoring(rules.weights, rules.caps, half_life)
    assert {refused(weights={**rules.weights, "thread": w}) for w in (-0.1, 1000.5)} == {
        "a weight is between 0 and 1000"}
    assert {refused(caps={**rules.caps, "event": c}) for c in (0, 10_001, 2.5)} == {
        "a daily cap is a whole number between 1 and 10000"}
    assert {refused(half_life_days=h) for h in (0.5, 3651)} == {"the half-life is between 1 and 3650 days"}
    assert refused(caps={"thread": 5}) == ("weights and caps are needed for each of thread, answer, reply, comment,"
                                           " accepted, reaction_received, reaction_given, event")
    # A kind weighted 0 scores nothing: bob's and cat's reactions given (0.2 each) no longer count.
    silent = leaderboard.Scoring({**rules.weights, "reaction_given": 0}, rules.caps)
    assert rows(leaderboard.leaderboard(MANAGER, scope(), silent), "score") == {
        "ann": (pytest.approx(36.0),), "bob": (pytest.approx(5.0),), "cat": (pytest.approx(3.0),)}


def test_equal_scorings_are_one_cache_key_whatever_their_order():
    rules = leaderboard.Scoring()
    backwards = leaderboard.Scoring(dict(reversed(rules.weights.items())), dict(reversed(rules.caps.items())))
    assert backwards.key == rules.key and json.loads(rules.key) == {
        "weights": rules.weights, "caps": rules.caps, "half_life_days": 30.0}
    assert leaderboard.Scoring(half_life_days=15).key != rules.key


def test_the_whole_months_inside_a_period():
    months = {(date(2026, 1, 15), date(2026, 4, 3)): (date(2026, 2, 1), date(2026, 4, 1)),
              (date(2026, 1, 1), date(2026, 3, 1)): (date(2026, 1, 1), date(2026, 3, 1)),
              (date(2026, 1, 31), date(2026, 3, 1)): (date(2026, 2, 1), date(2026, 3, 1)),
              (date(2025, 12, 31), date(2026, 2, 1)): (date(2026, 1, 1), date(2026, 2, 1)),
              (date(2026, 3, 1), date(2026, 3, 31)): None,  # March without its last day
              (date(2026, 2, 10), date(2026, 3, 20)): None}
    assert {span: leaderboard.whole_months(*span) for span in months} == months


def test_an_empty_community_has_an_empty_board_over_several_months(database):
    board = leaderboard.leaderboard(MANAGER, scope(Period(date(2026, 1, 1), date(2026, 4, 1))))
    assert board.height == 0 and board.columns[:4] == ["rank", "previous_rank", "rank_change", "member_id"]


def test_reach_on_chosen_platforms_counts_who_replied_or_reacted_there(database):
    c = Community()
    star, fan, other = (c.member(n, utc(2025, 1, 1), "discord", "forum") for n in ("star", "fan", "other"))
    on_discord = c.act(star, "thread", utc(2026, 3, 2, 9), "discord")
    on_forum = c.act(star, "thread", utc(2026, 3, 3, 9), "forum")
    c.act(fan, "reaction", utc(2026, 3, 2, 10), "discord", parent=on_discord)
    c.act(other, "reply", utc(2026, 3, 3, 10), "forum", parent=on_forum)
    c.act(fan, "reply", utc(2026, 3, 4, 10), "forum", parent=on_forum)
    discord, forum = c.platforms["discord"], c.platforms["forum"]
    for platforms, reach in ((None, 2), ([discord, forum], 2), ([discord], 1), ([forum], 2)):
        assert rows(leaderboard.leaderboard(MANAGER, scope(platforms=platforms)), "reach")["star"] == (reach,), platforms
    c.act(other, "reaction", utc(2026, 3, 5, 10), "discord", parent=on_discord)
    assert rows(leaderboard.leaderboard(MANAGER, scope(platforms=[discord])), "reach")["star"] == (2,)


def test_managers_edit_the_scoring_and_it_is_audited(small):
    rules = leaderboard.Scoring()
    heavier = leaderboard.Scoring({**rules.weights, "event": 50}, rules.caps, 15)
    with pytest.raises(AccessDenied):
        leaderboard.save_scoring(STAFF, heavier)
    with pytest.raises(ValueError, match="weight"):
        leaderboard.Scoring({**rules.weights, "thread": -1}, rules.caps)
    with pytest.raises(ValueError, match="needed for each"):
        leaderboard.Scoring({"thread": 1}, rules.caps)
    assert rows(leaderboard.leaderboard(MANAGER, scope()), "score")["ann"] == (pytest.approx(36.0),)  # cached
    leaderboard.save_scoring(MANAGER, heavier)
    assert leaderboard.scoring() == heavier
    assert rows(leaderboard.leaderboard(MANAGER, scope()), "score")["ann"] == (pytest.approx(76.0),)
    with db.engine().connect() as conn:
        detail = conn.execute(sa.text("SELECT detail FROM audit_log WHERE action = 'leaderboard.scoring'")).scalar_one()
    assert detail["old"]["weights"]["event"] == 10 and detail["new"]["weights"]["event"] == 50


def test_a_rerun_is_a_lookup_and_a_write_is_seen_at_once(small):
    first = leaderboard.leaderboard(MANAGER, scope())
    with frames.recording() as sent:
        assert leaderboard.leaderboard(STAFF, scope()) is first and sent == []  # nothing read, nothing computed
    small.act(small.member("dan", utc(2025, 1, 1)), "thread", utc(2026, 3, 6, 9))
    assert rows(leaderboard.leaderboard(MANAGER, scope()), "rank", "score")["dan"] == (3, pytest.approx(5.0))


def test_sponsors_cannot_read_the_leaderboard(small):
    for call in (lambda: leaderboard.leaderboard(Principal("p", "sponsor", 1), scope()),
                 lambda: leaderboard.explain(Principal("p", "sponsor", 1), scope(), 1)):
        with pytest.raises(AccessDenied):
            call()


def test_monthly_sums_give_the_same_board_as_the_days(database):
    c = Community()
    people = [c.member(f"p{i}", utc(2025, 1, 1)) for i in range(5)]
    thread = c.act(people[0], "thread", utc(2025, 12, 30))
    for k in range(60):  # activity from late December to early April, across month edges
        at = utc(2025, 12, 28) + timedelta(days=k * 1.7)
        c.act(people[k % 5], "reply" if k % 3 else "comment", at, parent=thread)
        c.act(people[(k + 2) % 5], "reaction", at + timedelta(hours=1), parent=thread)
    tz, rules = "UTC", leaderboard.Scoring()
    rolled = leaderboard.rollups(*(frames.table(n) for n in ("activity", "events", "attendance")), tz)
    points, who = leaderboard.wide(leaderboard.day_counts(rolled), rules), rolled.reached
    members = frames.table("members")
    for period in (Period(date(2026, 1, 15), date(2026, 4, 3)), Period(date(2026, 1, 1), date(2026, 3, 1)),
                   Period(date(2026, 2, 10), date(2026, 2, 20))):
        by_day = leaderboard.board(points, who, members, period, rules)
        by_month = leaderboard.board(points, who, members, period, rules, months=leaderboard.monthly(points, rules))
        for a, b in zip(by_month.to_dicts(), by_day.to_dicts(), strict=True):  # same rows, same order
            assert a == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in b.items()}
        assert by_day["score"].sum() > 0


def test_reach_counts_each_pair_once_across_days_and_platforms(database):
    """The all-platform reach (first row of each pair in the window) equals a distinct count."""
    c = Community()
    star, fan, other = (c.member(n, utc(2025, 1, 1), "discord", "forum") for n in ("star", "fan", "other"))
    for day, platform in ((2, "discord"), (2, "forum"), (5, "discord"), (9, "forum")):
        post = c.act(star, "thread", utc(2026, 3, day, 9), platform)
        c.act(fan, "reaction", utc(2026, 3, day, 10), platform, parent=post)
    c.act(other, "reply", utc(2026, 3, 9, 11), "forum", parent=post)
    c.act(fan, "reply", utc(2026, 3, 9, 12), "forum", parent=post)  # fan reached star twice that day there
    who = leaderboard.rollups(*(frames.table(n) for n in ("activity", "events", "attendance")), "UTC").reached
    every = sorted(frames.table("platforms")["platform_id"].to_list())
    for first, end, expected in ((1, 20, 2), (3, 20, 2), (3, 6, 1), (6, 9, 0), (9, 10, 2), (2, 3, 1)):
        window = (date(2026, 3, first), date(2026, 3, end))
        fast, distinct = (dict(leaderboard.reach(who, *window, p).collect().iter_rows()) for p in (None, every))
        assert fast == distinct and fast.get(star, 0) == expected, window


def test_reach_followed_through_changes_equals_reach_made_again():
    """Who reached whom, followed through changes as base, old and new rows (no rewrite of the
    base), gives every window's reach, on all platforms and on some, as if made again."""
    import numpy as np
    rng = np.random.default_rng(7)

    def acts(n: int, start: int) -> pl.DataFrame:
        return pl.DataFrame({
            "id": np.arange(start, start + n), "member_id": rng.integers(1, 25, n),
            "kind": rng.choice(["reply", "reaction"], n), "platform_id": rng.integers(1, 4, n).astype("int16"),
            "accepted": np.zeros(n, bool), "day": (np.datetime64("2026-03-01") + rng.integers(0, 40, n)).astype("datetime64[D]"),
            "author": rng.integers(1, 80, n)}).filter(pl.col("author") != pl.col("member_id"))

    now = acts(8000, 0)
    reached = leaderboard.Reached.of(leaderboard._met(now)[2])
    overlaid = 0
    for step in range(6):
        gone = now.sample(40, seed=step)
        came = pl.concat([gone.head(20).with_columns(pl.col("day") + pl.duration(days=3), pl.col("author").reverse()),
                          acts(30, 10_000 * (step + 1))])
        now = pl.concat([now.join(gone, on="id", how="anti"), came])
        reached = reached.after(leaderboard._met(gone)[2], leaderboard._met(came)[2])
        overlaid += not reached.touched.is_empty()
        again = leaderboard.Reached.of(leaderboard._met(now)[2])
        assert reached.rows.equals(again.rows)
        for first, end in ((1, 41), (5, 12), (20, 21), (30, 45)):
            for platforms in (None, [1, 3]):
                window = (date(2026, 3, first), date(2026, 3, 1) + timedelta(days=end - 1))
                got, want = (dict(leaderboard.reach(r, *window, platforms).collect().iter_rows())
                             for r in (reached, again))
                assert got == want and want, (step, window, platforms)
    assert overlaid >= 3  # the base was followed, not made again, after several steps


def test_who_reached_whom_is_made_again_once_the_changed_rows_pass_a_quarter_of_it():
    """A change's rows are kept apart from the base while they are a quarter of it at most, and the
    base is made again past that; rows and reach are the same either way."""
    def replies(*members: int) -> pl.DataFrame:  # each a reply to member 1 on 2 March
        n = len(members)
        return pl.DataFrame({"id": list(members), "member_id": list(members), "kind": ["reply"] * n,
                             "platform_id": pl.Series([1] * n, dtype=pl.Int16), "accepted": [False] * n,
                             "day": [date(2026, 3, 2)] * n, "author": [1] * n})

    now = replies(*range(2, 10))
    reached = leaderboard.Reached.of(leaderboard._met(now)[2])  # 8 rows: a quarter is 2
    for came, apart, base in ((replies(10, 11), 2, 8), (replies(12), 0, 11)):  # 2 rows kept apart, then 3: made again
        added = leaderboard._met(came)[2]
        reached = reached.after(added.clear(), added)
        now = pl.concat([now, came])
        assert (reached.touched.height, reached.base.height) == (apart, base)
        assert reached.rows.equals(leaderboard.Reached.of(leaderboard._met(now)[2]).rows)
        assert leaderboard.reach(reached, date(2026, 3, 1), date(2026, 4, 1)).collect().rows() == [(1, now.height)]


def test_who_reached_whom_touches_only_the_pairs_whose_counts_a_change_moves():
    """Replies moved within their day change no count: no pair is set apart; one moved to the next
    day sets its pair apart, and reach follows it."""
    def replies(days: list[int]) -> pl.DataFrame:  # members 2.. reply to member 1, in March
        n = len(days)
        return pl.DataFrame({"id": list(range(2, n + 2)), "member_id": list(range(2, n + 2)), "kind": ["reply"] * n,
                             "platform_id": pl.Series([1] * n, dtype=pl.Int16), "accepted": [False] * n,
                             "day": [date(2026, 3, d) for d in days], "author": [1] * n})

    before = replies([2, 2, 3, 3, 5, 5, 6, 6, 7, 7, 8, 8])  # 12 rows: 2 touched are kept apart
    reached = leaderboard.Reached.of(leaderboard._met(before)[2])
    same = reached.after(leaderboard._met(before)[2], leaderboard._met(before)[2])
    assert same is reached
    after = before.with_columns(pl.when(pl.col("id") == 2).then(date(2026, 3, 4)).otherwise("day").alias("day"))
    moved = reached.after(leaderboard._met(before.filter(pl.col("id") == 2))[2],
                          leaderboard._met(after.filter(pl.col("id") == 2))[2])
    assert moved.touched.rows() == [(1, 2)]
    assert moved.rows.equals(leaderboard.Reached.of(leaderboard._met(after)[2]).rows)
    assert leaderboard.reach(moved, date(2026, 3, 1), date(2026, 3, 3)).collect().rows() == [(1, 1)]


def test_who_reached_whom_made_again_keeps_nothing_of_the_old_base():
    """The base made again is made of new buffers, slice of members by slice, even where a slice
    holds no touched pair: a slice of the old base kept in it would keep the whole old base alive."""
    def replies(members: range) -> pl.DataFrame:  # member 1 replies to each on 2 and 3 March
        n = len(members)
        return pl.DataFrame({"id": [*members, *(m + 10_000 for m in members)], "member_id": [1] * 2 * n,
                             "kind": ["reply"] * 2 * n, "platform_id": pl.Series([1] * 2 * n, dtype=pl.Int16),
                             "accepted": [False] * 2 * n, "day": [date(2026, 3, 2)] * n + [date(2026, 3, 3)] * n,
                             "author": [*members, *members]})

    now = replies(range(2, 2002))
    old = leaderboard.Reached.of(leaderboard._met(now)[2])
    came = replies(range(5000, 5600))  # members past every old one: one slice touched
    again = old.after(leaderboard._met(came)[2].clear(), leaderboard._met(came)[2])
    assert again.touched.is_empty() and again.base.height == 5200 and again.base.n_chunks() > 8
    assert again.base.equals(leaderboard.Reached.of(leaderboard._met(pl.concat([now, came]))[2]).base)

    def spans(frame: pl.DataFrame) -> list[tuple[int, int]]:
        return [(b.address, b.address + b.size) for s in frame.iter_columns() for chunk in s.get_chunks()
                for b in chunk.to_arrow().buffers() if b is not None]

    kept = spans(old.base)
    assert not [a for a, _ in spans(again.base) if any(lo <= a < hi for lo, hi in kept)]


def test_a_member_seen_only_at_an_event_scores_its_points(small):
    """The newest member's id lies past every author's: the packed codes must still hold it."""
    dan = small.member("dan", utc(2026, 3, 1))
    for k in range(40):  # more new members, so that dan's id needs more bits than the authors' span
        small.member(f"n{k}", utc(2026, 3, 1))
    last = small.member("eve", utc(2026, 3, 1))
    small.register(small.event("Workshop", utc(2026, 3, 6, 18)), last, utc(2026, 3, 2), True)
    small.register(small.event("Talk", utc(2026, 3, 7, 18)), dan, utc(2026, 3, 2), True)
    board = leaderboard.leaderboard(MANAGER, scope())
    assert rows(board, "score", "event") == {"ann": (36.0, 10.0), "bob": (5.2, 0.0), "cat": (3.2, 0.0),
                                             "dan": (10.0, 10.0), "eve": (10.0, 10.0)}


def test_rollups_without_packing_or_dense_ids_give_the_same_counts(small):
    """Member ids too far apart to pack in one Int64 are keyed by structs, and sparse activity ids
    find parents by a join: the day counts and reach are the same as on the fast paths."""
    activity, events, attendance = (frames.table(n) for n in ("activity", "events", "attendance"))
    fast = leaderboard.rollups(activity, events, attendance, "UTC")
    spread = 2**28  # ids stay under 2**31 (the rollups' Int32) and still cannot be packed
    slow = leaderboard.rollups(activity.with_columns(pl.col("member_id") * spread, pl.col("id", "parent_id") * 3),
                               events, attendance.with_columns(pl.col("member_id") * spread), "UTC")
    assert fast.codes.packed and not slow.codes.packed
    back = pl.col("member_id") // spread
    assert leaderboard.day_counts(slow).with_columns(back).equals(leaderboard.day_counts(fast))
    assert (slow.reached.rows.with_columns(back, pl.col("counterpart") // spread).sort("member_id", "counterpart", "day")
            .equals(fast.reached.rows.sort("member_id", "counterpart", "day")))
    ids = dict(frames.table("members").select("display_name", "member_id").iter_rows())
    ann, bob, cat = ids["ann"], ids["bob"], ids["cat"]
    # day, member, then thread, answer, reply, comment, accepted, reaction received, given, event
    assert leaderboard.day_counts(fast).rows() == [
        (ann, date(2026, 3, 1), 1, 0, 0, 0, 0, 0, 0, 0), (ann, date(2026, 3, 2), 0, 1, 0, 1, 1, 0, 0, 0),
        (bob, date(2026, 3, 2), 1, 0, 0, 0, 0, 0, 0, 0), (ann, date(2026, 3, 3), 0, 0, 0, 0, 0, 1, 0, 0),
        (bob, date(2026, 3, 3), 0, 0, 0, 0, 0, 0, 1, 0), (ann, date(2026, 3, 4), 0, 0, 0, 0, 0, 1, 0, 0),
        (cat, date(2026, 3, 4), 0, 0, 1, 0, 0, 0, 1, 0), (ann, date(2026, 3, 5), 0, 0, 0, 0, 0, 0, 0, 1)]


def capped(kind: str) -> tuple[int, int]:
    """A day over the default cap of `kind` (cap + 1 items) and a day at it (cap items)."""
    cap = leaderboard.Scoring().caps[kind]
    return cap + 1, cap


@pytest.mark.parametrize("kind, points", [
    ("thread", 2 * 5 * 5),  # 6 threads on 2 March, 5 on 3 March: 5 + 5 counted, 5 points each
    ("answer", 2 * 20 * 3),  # 21 + 20 answers: 40 counted, 3 points each
    ("reply", 2 * 20 * 3),
    ("comment", 2 * 20 * 1),
])
def test_each_written_kind_is_capped_per_day(database, kind, points):
    c = Community()
    star, host = c.member("star", utc(2025, 1, 1)), c.member("host", utc(2025, 1, 1))
    question = c.act(host, "thread", utc(2026, 3, 1, 8))
    for day, count in zip((2, 3), capped(kind), strict=True):
        for k in range(count):
            c.act(star, kind, utc(2026, 3, day, 9, k), parent=None if kind == "thread" else question)
    board = leaderboard.leaderboard(MANAGER, scope())
    assert rows(board, "score", kind)["star"] == (points, points)
    lines = leaderboard.explain(MANAGER, scope(), rows(board, "member_id")["star"][0])[0]
    cap = leaderboard.Scoring().caps[kind]
    assert lines.filter(pl.col("kind") == kind).select("items", "counted", "daily_cap").row(0) == (2 * cap + 1, 2 * cap, cap)


def test_accepted_answers_are_capped_per_day(database):
    c = Community()
    star, host = c.member("star", utc(2025, 1, 1)), c.member("host", utc(2025, 1, 1))
    question = c.act(host, "thread", utc(2026, 3, 1, 8), is_question=True)
    for day, count in zip((2, 3), capped("accepted"), strict=True):  # 11 accepted answers, then 10
        for k in range(count):
            c.act(star, "answer", utc(2026, 3, day, 9, k), parent=question, accepted=True)
    star_row = leaderboard.leaderboard(MANAGER, scope()).filter(pl.col("display_name") == "star").row(0, named=True)
    # 21 answers (under the cap of 20 a day) × 3, and 10 + 10 of the 21 accepted × 15
    assert (star_row["answer"], star_row["accepted"], star_row["score"]) == (63, 300, 363)


def test_reactions_received_are_capped_per_day(database):
    c = Community()
    star = c.member("star", utc(2025, 1, 1))
    fans = [c.member(f"fan{i}", utc(2025, 1, 1)) for i in range(51)]
    post = c.act(star, "thread", utc(2026, 3, 1, 8))
    for day, count in zip((2, 3), capped("reaction_received"), strict=True):  # 51 fans, then 50
        for fan in fans[:count]:
            c.act(fan, "reaction", utc(2026, 3, day, 9), parent=post)
    star_row = leaderboard.leaderboard(MANAGER, scope()).filter(pl.col("display_name") == "star").row(0, named=True)
    assert (star_row["reaction_received"], star_row["score"]) == (100, 100 + 5)  # 50 + 50, and the thread
    assert rows(leaderboard.leaderboard(MANAGER, scope()), "score")["fan0"] == (pytest.approx(0.4),)  # 2 × 0.2


def test_reactions_given_are_capped_per_day(database):
    c = Community()
    star = c.member("star", utc(2025, 1, 1))
    authors = [c.member(f"author{i}", utc(2025, 1, 1)) for i in range(31)]
    posts = [c.act(a, "thread", utc(2026, 2, 1)) for a in authors]  # before both periods
    for day, count in zip((2, 3), capped("reaction_given"), strict=True):  # 31 authors thanked, then 30
        for post in posts[:count]:
            c.act(star, "reaction", utc(2026, 3, day, 9), parent=post)
    star_row = leaderboard.leaderboard(MANAGER, scope()).filter(pl.col("display_name") == "star").row(0, named=True)
    assert (star_row["reaction_given"], star_row["score"]) == (pytest.approx(12.0), pytest.approx(12.0))  # 60 × 0.2


def test_events_are_capped_per_day(database):
    c = Community()
    star = c.member("star", utc(2025, 1, 1))
    for day, count in zip((5, 6), capped("event"), strict=True):  # 4 events attended, then 3
        for k in range(count):
            c.register(c.event(f"Event {day}.{k}", utc(2026, 3, day, 9 + k)), star, utc(2026, 3, 1), True)
    assert rows(leaderboard.leaderboard(MANAGER, scope()), "event", "score") == {"star": (60.0, 60.0)}


def test_a_cap_saved_by_a_manager_is_the_one_applied(database):
    c = Community()
    star = c.member("star", utc(2025, 1, 1))
    for k in range(4):
        c.act(star, "thread", utc(2026, 3, 2, 9, k))
    assert rows(leaderboard.leaderboard(MANAGER, scope()), "score") == {"star": (20.0,)}  # 4 threads × 5
    rules = leaderboard.Scoring()
    leaderboard.save_scoring(MANAGER, leaderboard.Scoring(rules.weights, {**rules.caps, "thread": 2}))
    assert rows(leaderboard.leaderboard(MANAGER, scope()), "score") == {"star": (10.0,)}  # 2 counted
    with pytest.raises(ValueError, match="daily cap"):
        leaderboard.Scoring(rules.weights, {**rules.caps, "thread": 0})
