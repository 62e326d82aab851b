"""Key members (KPIS.md, Key members): contribution score, love, reach, gravity, rising and slipping.

Every activity is turned into *scoring items* (one per thing a member did or received), then
into a daily rollup per member, kind, local day and platform, once per data version and time
zone; a period's leaderboard only filters, caps and sums that rollup (DESIGN.md section 5).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
import sqlalchemy as sa

from cmcore import audit, db, frames
from cmcore.access import Principal, require
from cmcore.kpis import between, local_day, on_platforms
from cmcore.kpis.reports import Scope
from cmcore.periods import Period

READERS = ("admin", "manager", "staff")
EDITORS = ("admin", "manager")
# Kinds in the order the page shows them.
KINDS = ("thread", "answer", "reply", "comment", "accepted", "reaction_received", "reaction_given", "event")
PAIRWISE = ("reaction_received", "reaction_given")  # once a day per pair of members
ITEM_KIND = pl.Enum([*KINDS, "replied_to"])  # one byte per item instead of a string
SETTING = "leaderboard_scoring"
LOVE_HORIZON_HALF_LIVES = 6  # older items weigh under 1.6 % and are left out of love
RISING_JOINED_DAYS = 90


@dataclass(frozen=True)
class Scoring:
    """Points per kind, the daily cap of counted items per kind, and love's half-life."""

    weights: dict[str, float] = field(default_factory=lambda: {
        "thread": 5, "answer": 3, "reply": 3, "comment": 1, "accepted": 15,
        "reaction_received": 1, "reaction_given": 0.2, "event": 10})
    caps: dict[str, int] = field(default_factory=lambda: {
        "thread": 5, "answer": 20, "reply": 20, "comment": 20, "accepted": 10,
        "reaction_received": 50, "reaction_given": 30, "event": 3})
    half_life_days: float = 30.0

    def __post_init__(self) -> None:
        if set(self.weights) != set(KINDS) or set(self.caps) != set(KINDS):
            raise ValueError(f"weights and caps are needed for each of {', '.join(KINDS)}")
        if any(not 0 <= w <= 1000 for w in self.weights.values()):
            raise ValueError("a weight is between 0 and 1000")
        if any(int(c) != c or not 1 <= c <= 10_000 for c in self.caps.values()):
            raise ValueError("a daily cap is a whole number between 1 and 10000")
        if not 1 <= self.half_life_days <= 3650:
            raise ValueError("the half-life is between 1 and 3650 days")


def scoring() -> Scoring:
    """The scoring managers saved, or the defaults of KPIS.md."""
    with db.engine().connect() as conn:
        saved = conn.execute(sa.text("SELECT value FROM app_setting WHERE key = :k"), {"k": SETTING}).scalar()
    return Scoring(**saved) if saved else Scoring()


def save_scoring(actor: Principal, new: Scoring) -> None:
    """Managers change the weights, caps and half-life; audited with the old and new values."""
    require(actor, *EDITORS)
    old = scoring()
    with db.transaction() as conn:
        conn.execute(sa.text("INSERT INTO app_setting (key, value) VALUES (:k, CAST(:v AS jsonb))"
                             " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"),
                     {"k": SETTING, "v": json.dumps(asdict(new))})
        audit.record(conn, actor.username, "leaderboard.scoring", "app_setting", SETTING,
                     old=asdict(old), new=asdict(new))


# ------------------------------------------------------------------ pure transforms


def scoring_items(activity: pl.DataFrame, events: pl.DataFrame, attendance: pl.DataFrame) -> pl.DataFrame:
    """One row per scorable thing: member_id, kind, created_at, platform_id, counterpart (the
    other member, for reactions and replies), ref (the activity or event id, for a stable order).

    Self-replies (to one's own post) and self-reactions are dropped. `replied_to` rows (a reply
    received) score nothing but count in reach.
    """
    acts = activity.lazy().select("id", "member_id", "kind", "parent_id", "created_at", "platform_id", "accepted")
    parent = activity.lazy().select(pl.col("id").alias("parent_id"), pl.col("member_id").alias("parent_member"))
    with_parent = acts.join(parent, on="parent_id", how="left").filter(
        pl.col("parent_member").is_null() | (pl.col("parent_member") != pl.col("member_id")))
    common = ["created_at", "platform_id", pl.col("id").alias("ref")]
    written = with_parent.filter(pl.col("kind") != "reaction")
    reactions = with_parent.filter(pl.col("kind") == "reaction")
    replies = written.filter(pl.col("parent_member").is_not_null())
    parts = [
        written.select("member_id", "kind", *common, pl.col("parent_member").alias("counterpart")),
        written.filter(pl.col("accepted")).select("member_id", pl.lit("accepted").alias("kind"), *common,
                                                  pl.col("parent_member").alias("counterpart")),
        reactions.select("member_id", pl.lit("reaction_given").alias("kind"), *common,
                         pl.col("parent_member").alias("counterpart")),
        reactions.select(pl.col("parent_member").alias("member_id"), pl.lit("reaction_received").alias("kind"),
                         *common, pl.col("member_id").alias("counterpart")),
        replies.select(pl.col("parent_member").alias("member_id"), pl.lit("replied_to").alias("kind"), *common,
                       pl.col("member_id").alias("counterpart")),
        attendance.lazy().filter("attended").join(events.lazy(), on="event_id").select(
            "member_id", pl.lit("event").alias("kind"), pl.col("starts_at").alias("created_at"),
            pl.lit(None, pl.Int64).alias("platform_id"), pl.col("event_id").alias("ref"),
            pl.lit(None, pl.Int64).alias("counterpart")),
    ]
    return pl.concat([p.with_columns(pl.col("kind").cast(ITEM_KIND), pl.col("platform_id").cast(pl.Int64),
                                     pl.col("counterpart").cast(pl.Int64), pl.col("ref").cast(pl.Int64))
                      for p in parts]).collect()


def daily_rollup(items: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Per member, kind, local day and platform: the number of items that can score. Reactions
    count once a day per pair of members on a platform (a ring reacting to itself gains little)."""
    lf = items.lazy().filter(pl.col("kind").is_in(KINDS)).with_columns(local_day("created_at", tz).alias("day"))
    pairwise = pl.col("kind").is_in(PAIRWISE)
    once = lf.filter(pairwise).unique(["member_id", "kind", "counterpart", "day", "platform_id"])
    return (pl.concat([lf.filter(~pairwise), once]).group_by("member_id", "kind", "day", "platform_id")
            .agg(pl.len().cast(pl.Int64).alias("n")).sort("day").collect())


def reach_rollup(items: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Who replied to or reacted to whom, per local day and platform (once), sorted by day, with
    `prev_day`: the pair's previous day on any platform (so a window counts a pair once without a
    distinct count: the rows in it whose previous day falls before it)."""
    pair = ["member_id", "counterpart"]
    same_pair = pl.all_horizontal(pl.col(c) == pl.col(c).shift(1) for c in pair)
    return (items.lazy().filter(pl.col("kind").is_in(["replied_to", "reaction_received"]))
            .select(*pair, local_day("created_at", tz).alias("day"), "platform_id")
            .unique().sort(*pair, "day", "platform_id")
            .with_columns(pl.when(same_pair).then(pl.col("day").shift(1)).alias("prev_day"))
            .sort("day").collect())


def _on(frame: pl.DataFrame | pl.LazyFrame, platforms: list[int] | None) -> pl.LazyFrame:
    """Rows of the platforms; events belong to no platform and always count."""
    lf = frame.lazy()
    return lf if platforms is None else lf.filter(pl.col("platform_id").is_in(platforms) | pl.col("platform_id").is_null())


def _days(frame: pl.DataFrame, first: date, end: date, column: str = "day") -> pl.LazyFrame:
    """The rows of [first, end) of a frame sorted by `column`: a slice found by binary search."""
    days = frame[column]
    lo, hi = (int(days.search_sorted(d, "left")) for d in (first, end))
    return frame.slice(lo, max(hi - lo, 0)).lazy()


def daily_points(rollup: pl.LazyFrame, rules: Scoring) -> pl.LazyFrame:
    """Per member, kind and day: items done, items counted (at most the daily cap) and their points."""
    caps = {k: int(v) for k, v in rules.caps.items()}
    weights = {k: float(v) for k, v in rules.weights.items()}
    return (rollup.group_by(pl.col("kind").cast(pl.String), "member_id", "day").agg(pl.col("n").sum().alias("items"))
            .with_columns(pl.min_horizontal("items", pl.col("kind").replace_strict(caps, return_dtype=pl.Int64))
                          .alias("counted"))
            .with_columns((pl.col("counted") * pl.col("kind").replace_strict(weights, return_dtype=pl.Float64))
                          .alias("points")))


def wide(points: pl.LazyFrame) -> pl.DataFrame:
    """Per member and day with points: the points of each kind and their total `points`, sorted by
    day (a period's rows are then one slice)."""
    return (points.filter(pl.col("points") > 0).group_by("member_id", "day")
            .agg(*[pl.col("points").filter(pl.col("kind") == k).sum().alias(k) for k in KINDS],
                 pl.col("points").sum())
            .sort("day", "member_id").collect())


def monthly(daily: pl.DataFrame) -> pl.DataFrame:
    """The `wide` daily points summed per member and month (column `month`), keeping the month's
    last day with points as `day`."""
    return (daily.lazy().group_by("member_id", pl.col("day").dt.truncate("1mo").alias("month"))
            .agg(*[pl.col(k).sum() for k in (*KINDS, "points")], pl.col("day").max())
            .sort("month", "member_id").collect())


def in_period(daily: pl.DataFrame, months: pl.DataFrame | None, first: date, end: date) -> pl.LazyFrame:
    """The `wide` points of [first, end): whole months from `months` (fewer rows), the days at the
    edges from `daily`. Same sums as the daily rows alone."""
    if months is None:
        return _days(daily, first, end)
    start_month = first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    end_month = end.replace(day=1)
    if start_month >= end_month:
        return _days(daily, first, end)
    columns = ["member_id", "day", *KINDS, "points"]
    return pl.concat([_days(months, start_month, end_month, "month").select(columns),
                      _days(daily, first, start_month).select(columns), _days(daily, end_month, end).select(columns)])


def scores(points: pl.LazyFrame) -> pl.LazyFrame:
    """Per member: score, the points of each kind, and the day the score was reached (its last day
    with points); ranked by score, then earliest reaching it, then member id."""
    return (points.group_by("member_id")
            .agg(pl.col("points").sum().round(6).alias("score"), pl.col("day").max().alias("reached_on"),
                 *[pl.col(k).sum().round(6) for k in KINDS])
            .sort(["score", "reached_on", "member_id"], descending=[True, False, False])
            .with_row_index("rank", 1).with_columns(pl.col("rank").cast(pl.Int64)))


def love_horizon(end: date, rules: Scoring) -> date:
    return end - timedelta(days=math.ceil(rules.half_life_days * LOVE_HORIZON_HALF_LIVES))


def love(points: pl.DataFrame, end: date, rules: Scoring) -> pl.LazyFrame:
    """Love (Orbit): the `wide` points of each day before `end`, halved every half-life of age
    (counted from the day's noon)."""
    age_days = (pl.lit(end) - pl.col("day")).dt.total_days() - 0.5
    return (_days(points, love_horizon(end, rules), end).group_by("member_id")
            .agg((pl.col("points") * (0.5 ** (age_days / rules.half_life_days))).sum().alias("love")))


def reach(who_reached: pl.DataFrame, first: date, end: date, platforms: list[int] | None = None) -> pl.LazyFrame:
    """Reach: distinct members who replied to or reacted to the member in [first, end)."""
    rows = _days(who_reached, first, end)
    if platforms is None:  # each pair once: its first row in the window
        return (rows.filter(pl.col("prev_day").is_null() | (pl.col("prev_day") < first))
                .group_by("member_id").agg(pl.len().cast(pl.Int64).alias("reach")))
    return (_on(rows, platforms).group_by("member_id")
            .agg(pl.col("counterpart").n_unique().cast(pl.Int64).alias("reach")))


def board(points: pl.DataFrame, who_reached: pl.DataFrame, members: pl.DataFrame, period: Period,
          rules: Scoring, platforms: list[int] | None = None, months: pl.DataFrame | None = None) -> pl.DataFrame:
    """The ranked leaderboard of the period from the `wide` daily points, with the previous
    period's rank and score, love, reach, gravity = love × reach, and the rising / slipping flags.
    `months`, the `monthly` sums of `points`, only makes long periods faster."""
    previous = period.previous()
    now, before, loved, reached = pl.collect_all([
        scores(in_period(points, months, period.start, period.end)),
        scores(in_period(points, months, previous.start, previous.end)),
        love(points, period.end, rules), reach(who_reached, period.start, period.end, platforms)])
    top_before = math.ceil(0.1 * before.height)
    joined_since = datetime.combine(period.end - timedelta(days=RISING_JOINED_DAYS), time(), UTC)
    out = (now.join(before.select("member_id", pl.col("rank").alias("previous_rank"),
                                  pl.col("score").alias("previous_score")), on="member_id", how="full", coalesce=True)
           .join(loved, on="member_id", how="left")
           .join(reached, on="member_id", how="left")
           .join(members.select("member_id", "display_name", "joined_at", "is_staff"), on="member_id", how="left")
           .with_columns(pl.col("score", "previous_score", *KINDS, "love").fill_null(0.0),
                         pl.col("reach").fill_null(0))
           .with_columns((pl.col("love") * pl.col("reach")).alias("gravity"),
                         (pl.col("previous_rank") - pl.col("rank")).alias("rank_change"),
                         ((pl.col("score") > 0) & (pl.col("score") >= 2 * pl.col("previous_score"))
                          & (pl.col("joined_at") >= joined_since)).alias("rising"),
                         ((pl.col("previous_rank") <= top_before)
                          & (pl.col("score") <= 0.5 * pl.col("previous_score"))).fill_null(False).alias("slipping")))
    return out.sort(pl.col("rank").is_null(), "rank", "previous_rank").select(
        "rank", "previous_rank", "rank_change", "member_id", "display_name", "is_staff", "score", "previous_score",
        *KINDS, "love", "reach", "gravity", "rising", "slipping", "reached_on")


def sparklines(points: pl.DataFrame, member_ids: list[int], period: Period) -> pl.DataFrame:
    """Each member's points per day of the period, as a list (for a sparkline column)."""
    days = pl.DataFrame({"day": pl.date_range(period.start, period.end, closed="left", eager=True)})
    daily = (_days(points, period.start, period.end).filter(pl.col("member_id").is_in(member_ids))
             .group_by("member_id", "day").agg(pl.col("points").sum()).collect())
    grid = pl.DataFrame({"member_id": member_ids}).join(days, how="cross")
    return (grid.join(daily, on=["member_id", "day"], how="left").sort("member_id", "day")
            .group_by("member_id", maintain_order=True).agg(pl.col("points").fill_null(0.0).alias("activity")))


def explanation(rollup: pl.DataFrame, member_id: int, period: Period, rules: Scoring,
                platforms: list[int] | None = None) -> pl.DataFrame:
    """A member's score line by line, from the daily rollup: per kind the items done (reactions
    once a day per member), those counted under the daily cap, the weight, and the points."""
    mine = (daily_points(_on(_days(rollup, period.start, period.end), platforms)
                         .filter(pl.col("member_id") == member_id), rules)
            .group_by("kind").agg(pl.col("items", "counted").sum(), pl.col("points").sum()).collect())
    return (pl.DataFrame({"kind": list(KINDS), "weight": [float(rules.weights[k]) for k in KINDS],
                          "daily_cap": [int(rules.caps[k]) for k in KINDS]})
            .join(mine, on="kind", how="left", maintain_order="left")
            .with_columns(pl.col("items", "counted").fill_null(0).cast(pl.Int64), pl.col("points").fill_null(0.0))
            .select("kind", "items", "counted", "weight", "daily_cap", "points"))


# ------------------------------------------------------------------ services


def _rollups(tz: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The scoring and reach rollups of the current data version in time zone `tz`, built once
    from the scoring items (which are not kept)."""
    def build() -> tuple[pl.DataFrame, pl.DataFrame]:
        items = scoring_items(frames.table("activity"), frames.table("events"), frames.table("attendance"))
        return daily_rollup(items, tz), reach_rollup(items, tz)
    return frames.derived(f"leaderboard_rollups:{tz}", build)


def _points(scope: Scope, rules: Scoring) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The `wide` daily points of the scope's platforms and their monthly sums, prepared once per
    data version, time zone, scoring and platform set."""
    rollup = _rollups(scope.tz)[0]
    platforms = None if scope.platforms is None else sorted(scope.platforms)
    key = f"leaderboard_points:{scope.tz}:{platforms}:{json.dumps(asdict(rules), sort_keys=True)}"
    points = frames.derived(key, lambda: wide(daily_points(_on(rollup, platforms), rules)))
    return points, frames.derived(f"{key}:months", lambda: monthly(points))


def leaderboard(principal: Principal, scope: Scope, rules: Scoring | None = None) -> pl.DataFrame:
    """The period's leaderboard (managers, admins, staff)."""
    require(principal, *READERS)
    scope = scope.resolved()
    rules = rules or scoring()
    points, months = _points(scope, rules)
    ranked = board(points, _rollups(scope.tz)[1], frames.table("members"), scope.period, rules, scope.platforms, months)
    linked = frames.derived("accounts", lambda: accounts(frames.table("identities"), frames.table("platforms")))
    return ranked.join(linked, on="member_id", how="left", maintain_order="left")


def accounts(identities: pl.DataFrame, platforms: pl.DataFrame) -> pl.DataFrame:
    """Each member's platforms, by name, from their accounts (merged identities included)."""
    return (identities.join(platforms.select("platform_id", "name"), on="platform_id")
            .group_by("member_id").agg(pl.col("name").unique().sort().str.join(", ").alias("platforms")))


def activity_sparklines(principal: Principal, scope: Scope, member_ids: list[int]) -> pl.DataFrame:
    require(principal, *READERS)
    scope = scope.resolved()
    return sparklines(_points(scope, scoring())[0], member_ids, scope.period)


def explain(principal: Principal, scope: Scope, member_id: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A member's score explained, and their 20 latest activities of the period."""
    require(principal, *READERS)
    scope = scope.resolved()
    start, end = scope.bounds
    recent = (on_platforms(frames.table("activity").lazy(), scope.platforms)
              .filter((pl.col("member_id") == member_id) & between("created_at", start, end))
              .sort("created_at", descending=True).head(20)
              .join(frames.table("platforms").lazy().select("platform_id", pl.col("name").alias("platform")),
                    on="platform_id", how="left", maintain_order="left")
              .select("created_at", "kind", "platform", "thread_id", "id").collect())
    rules = scoring()
    return explanation(_rollups(scope.tz)[0], member_id, scope.period, rules, scope.platforms), recent
