"""Incremental refresh is exact: random sequences of appends, updates, deletes, merges, undos and
attendance changes applied to a small community, and after each step every page's result from
the refreshed caches equals a cold rebuild's, value for value."""
from __future__ import annotations

import random
from collections import OrderedDict
from datetime import date, timedelta

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from cmcore import db, frames, identities, leaderboard, reports
from cmcore.access import Principal
from cmcore.periods import Period
from cmcore.reports import Scope, overview
from tests.builders import Community, as_owner, utc

MANAGER = Principal("manon", "manager")
NOW = utc(2026, 6, 1)
SCOPES = [Scope(Period(date(2026, 5, 1), date(2026, 6, 1)), None, "Europe/Paris", NOW),
          Scope(Period(date(2026, 1, 1), date(2026, 6, 1)), None, "Europe/Paris", NOW),  # whole months: monthly sums
          Scope(Period(date(2026, 4, 10), date(2026, 5, 20)), [1], "Europe/Paris", NOW),
          Scope(Period(date(2026, 3, 1), date(2026, 6, 1)), None, "UTC", NOW)]


# caps reached at once, and kinds that weigh nothing (their items are still counted, for a later change)
TIGHT = leaderboard.Scoring(weights={**leaderboard.Scoring().weights, "reaction_given": 0, "comment": 0},
                            caps={k: 1 for k in leaderboard.KINDS})


def pages() -> dict[str, object]:
    """What every page that reads activities shows, for a few scopes."""
    out: dict[str, object] = {}
    for i, s in enumerate(SCOPES):
        for name, report in (("growth", reports.growth_report), ("retention", reports.retention_report),
                             ("responsiveness", reports.responsiveness_report), ("content", reports.content_report)):
            r = report(MANAGER, s)
            out[f"{name}{i}"] = ([(m.key, m.value, m.previous) for m in r.metrics], r.frames)
        out[f"board{i}"] = leaderboard.leaderboard(MANAGER, s)
        out[f"tight_board{i}"] = leaderboard.leaderboard(MANAGER, s, TIGHT)
        out[f"headline{i}"] = [(m.key, m.value, m.previous) for m in
                               overview.headline(MANAGER, s.period, s.platforms, s.tz)]
        out[f"daily{i}"] = overview.daily(MANAGER, s.period, s.platforms, s.tz)
        out[f"by_platform{i}"] = overview.by_platform(MANAGER, s.period, s.platforms, s.tz)
    return out


def cold() -> dict[str, object]:
    """`pages()` from nothing cached, leaving the caches as they were."""
    saved = dict(frames._cache), OrderedDict(frames._results), set(frames._stale)
    frames.clear()
    try:
        return pages()
    finally:
        frames.clear()
        frames._cache.update(saved[0]), frames._results.update(saved[1]), frames._stale.update(saved[2])


def same(a: object, b: object, where: str) -> None:
    if isinstance(a, pl.DataFrame):
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9, abs_tol=1e-9), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9), where
    else:
        assert a == b, where


class World:
    """A small community and the writes a sync, a re-import, a merge or an undo make."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.c, self.n = rng, Community(), 0
        self.members = [self.c.member(f"m{i}", utc(2026, 1, 1 + i), ("discord", "forum")[i % 2]) for i in range(12)]
        self.event = self.c.event("Meetup", utc(2026, 5, 10, 18))
        self.merges: list[int] = []

    def when(self) -> object:
        return utc(2026, 1, 1) + timedelta(minutes=self.rng.randrange(150 * 24 * 60))

    def rows(self, sql: str, **params) -> list:
        with db.engine().connect() as conn:
            return conn.execute(sa.text(sql), params).all()

    def append(self) -> str:
        threads = [r[0] for r in self.rows("SELECT id FROM activity WHERE kind = 'thread'")]
        values = []
        for _ in range(self.rng.randrange(1, 12)):
            self.n += 1
            platform = self.c.platform(self.rng.choice(["discord", "forum"]))
            kind = "thread" if not threads or self.rng.random() < 0.3 else self.rng.choice(["reply", "comment", "reaction", "answer"])
            parent = None if kind == "thread" else self.rng.choice(threads)
            values.append({"p": platform, "e": f"s{self.n}", "m": self.rng.choice(self.members), "k": kind,
                           "pa": parent, "t": parent, "at": self.when(), "acc": kind == "answer" and self.rng.random() < 0.3})
        with db.transaction() as conn:
            conn.execute(sa.text("INSERT INTO activity (platform_id, external_id, member_id, kind, parent_id, thread_id,"
                                 " created_at, accepted) VALUES (:p, :e, :m, :k, :pa, :t, :at, :acc)"), values)
        return f"append {len(values)}"

    def update(self) -> str:
        ids = [r[0] for r in self.rows("SELECT id FROM activity ORDER BY id")]
        chosen = self.rng.sample(ids, min(len(ids), self.rng.randrange(1, 6)))
        with db.transaction() as conn:
            for i in chosen:
                conn.execute(sa.text("UPDATE activity SET member_id = :m, created_at = :at WHERE id = :i"),
                             {"m": self.rng.choice(self.members), "at": self.when(), "i": i})
        return f"update {chosen}"

    def delete(self) -> str:
        leaves = [r[0] for r in self.rows("SELECT id FROM activity a WHERE NOT EXISTS"
                                          " (SELECT 1 FROM activity c WHERE c.parent_id = a.id OR c.thread_id = a.id)")]
        chosen = self.rng.sample(leaves, min(len(leaves), self.rng.randrange(1, 4)))
        with as_owner() as conn:  # the application never deletes an activity
            conn.execute(sa.text("DELETE FROM activity WHERE id = ANY(:ids)"), {"ids": chosen})
        return f"delete {chosen}"

    def merge(self) -> str:
        merged = {r[0] for r in self.rows("SELECT member_id FROM member_merge WHERE undone_at IS NULL UNION"
                                          " SELECT into_member_id FROM member_merge WHERE undone_at IS NULL")}
        a = self.rng.choice([m for m in self.members[0::2] if m not in merged])  # Discord into forum: one
        b = self.rng.choice([m for m in self.members[1::2] if m not in merged])  # account each
        self.merges.append(identities.merge(MANAGER, a, b))
        return f"merge {a} into {b}"

    def undo(self) -> str:
        if not self.merges:
            return self.merge()
        merge = self.merges.pop(self.rng.randrange(len(self.merges)))
        identities.undo(MANAGER, merge)
        return f"undo {merge}"

    def vote(self) -> str:
        ids = [r[0] for r in self.rows("SELECT id FROM activity ORDER BY id")]
        chosen, day = self.rng.choice(ids), self.when().date()
        with db.transaction() as conn:
            conn.execute(sa.text("INSERT INTO activity_vote VALUES (:a, :d, :up, 1) ON CONFLICT (activity_id, day)"
                                 " DO UPDATE SET up = activity_vote.up + EXCLUDED.up"),
                         {"a": chosen, "d": day, "up": self.rng.randrange(1, 70)})
        return f"vote {chosen} {day}"

    def bot(self) -> str:
        member = self.rng.choice(self.members)
        with db.transaction() as conn:
            conn.execute(sa.text("UPDATE member SET is_bot = NOT is_bot WHERE id = :m"), {"m": member})
        return f"bot {member}"

    def attend(self) -> str:
        member = self.rng.choice(self.members)
        with db.transaction() as conn:
            conn.execute(sa.text("INSERT INTO event_attendance VALUES (:e, :m, :at, true) ON CONFLICT (event_id, member_id)"
                                 " DO UPDATE SET attended = NOT event_attendance.attended"),
                         {"e": self.event, "m": member, "at": utc(2026, 5, 1)})
        return f"attend {member}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_page_after_random_changes_equals_a_cold_rebuild(database, seed):
    world = World(random.Random(seed))
    for _ in range(3):
        world.append()
    same(pages(), cold(), "start")
    fallbacks = frames.counts["fallback"]
    steps = [world.append] * 5 + [world.update] * 2 + [world.delete, world.merge, world.undo, world.attend, world.vote,
                                                        world.bot]
    for step in range(14):
        done = world.rng.choice(steps)()
        same(pages(), cold(), f"step {step}: {done}")
    assert frames.counts["refreshed"] > 0 and frames.counts["updated"] > 0
    assert frames.counts["fallback"] == fallbacks  # every change was followed, none read or rebuilt whole


def test_a_page_seen_after_many_refreshes_still_follows_them(database):
    """Syncs every few minutes refresh the frames many times between two views of a rarely seen
    board: its rollups are handed the refreshes' rows put together, not read whole again."""
    world = World(random.Random(7))
    for _ in range(3):
        world.append()
    board = lambda: leaderboard.leaderboard(MANAGER, SCOPES[1])  # noqa: E731
    board()
    fallbacks = frames.counts["fallback"]
    for _ in range(3 * frames.DELTAS_KEPT):
        world.append()
        frames.table("activity")  # another page's view refreshes the frame
    same(board(), cold()["board1"], "after many refreshes")
    assert frames.counts["fallback"] == fallbacks


def test_values_made_at_different_times_follow_many_refreshes_without_being_made_again(database):
    """Two values made several refreshes apart (a board, then growth's member days) still follow
    their frames after more refreshes than the frames keep apart: the deltas put together are the
    ones no value was made between."""
    world = World(random.Random(11))
    for _ in range(3):
        world.append()
    leaderboard.leaderboard(MANAGER, SCOPES[1])
    for _ in range(3):
        world.append()
        frames.table("activity")
    reports.growth_report(MANAGER, SCOPES[0])
    fallbacks = frames.counts["fallback"]
    for _ in range(frames.DELTAS_KEPT + 4):
        world.append()
        frames.table("activity")
    same(pages(), cold(), "after many refreshes")
    assert frames.counts["fallback"] == fallbacks
