"""Key members (KPIS.md, Key members): contribution score, love, reach, gravity, rising and slipping.

Activities are counted into a daily rollup per member, kind, local day and platform (and the
pairs of members who reached each other), once per data version and time zone; a period's
leaderboard only filters, caps and sums that rollup (DESIGN.md section 5).
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
ROLLUP_KIND = pl.Enum(KINDS)  # one byte per row instead of a string
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


def rollups(activity: pl.DataFrame, events: pl.DataFrame, attendance: pl.DataFrame,
            tz: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The two rollups every board is cut from, sorted by local day:

    - per member, kind, day and platform, `n` items that can score: what they wrote, their
      accepted answers, the reactions they gave and received, the events they attended (no platform);
    - `reach`: who replied to or reacted to whom, per day and platform, with `prev_day`, the pair's
      previous row's day on any platform (a window then counts a pair once without a distinct
      count: the rows in it whose previous day falls before it; a pair's second row of a day has
      that day, so rows need not be unique, and making them so cost more than it saved).

    Replies to and reactions to oneself are left out. A reaction counts once a day per pair of
    members on a platform, given and received (a ring reacting to itself gains little).
    """
    where = ["day", "platform_id"]
    acts = (activity.lazy().select("member_id", "kind", "parent_id", "platform_id", "accepted",
                                   local_day("created_at", tz).alias("day"))
            .join(activity.lazy().select(pl.col("id").alias("parent_id"), pl.col("member_id").alias("author")),
                  on="parent_id", how="left")
            .filter(pl.col("author").is_null() | (pl.col("author") != pl.col("member_id"))))
    written = acts.filter(pl.col("kind") != "reaction")
    reactions = acts.filter(pl.col("kind") == "reaction").select("member_id", "author", *where).unique()

    def count(frame: pl.LazyFrame, member: str, kind: str | pl.Expr) -> pl.LazyFrame:
        kind = pl.lit(kind) if isinstance(kind, str) else kind
        return (frame.group_by(pl.col(member).alias("member_id"), kind.cast(ROLLUP_KIND).alias("kind"), *where)
                .agg(pl.len().cast(pl.Int64).alias("n")))

    attended = (attendance.lazy().filter("attended").join(events.lazy(), on="event_id")
                .select("member_id", local_day("starts_at", tz).alias("day"),
                        pl.lit(None, pl.Int16).alias("platform_id")))
    received = reactions.filter(pl.col("author").is_not_null())
    daily = pl.concat([count(written, "member_id", pl.col("kind")), count(written.filter("accepted"), "member_id", "accepted"),
                       count(reactions, "member_id", "reaction_given"), count(received, "author", "reaction_received"),
                       count(attended, "member_id", "event")]).sort("day")
    pairs = pl.concat([frame.select(pl.col("author").alias("member_id"), pl.col("member_id").alias("counterpart"), *where)
                       for frame in (written.filter(pl.col("author").is_not_null()), received)])
    daily, pairs = pl.collect_all([daily, pairs])
    same_pair = pl.all_horizontal(pl.col(c) == pl.col(c).shift(1) for c in ("member_id", "counterpart"))
    reached = (pairs.lazy().sort(_pair_then_day(pairs))
               .with_columns(pl.when(same_pair).then(pl.col("day").shift(1)).alias("prev_day")).sort("day").collect())
    return daily, reached


def _pair_then_day(pairs: pl.DataFrame) -> pl.Expr | list[str]:
    """The sort key (member, counterpart, day) as one Int64 when the ids and days fit in 63 bits
    (sorting on one column is 5× faster), else the three columns."""
    if pairs.is_empty():
        return ["member_id", "counterpart", "day"]
    first_day = pairs["day"].min()
    id_bits = int(max(pairs["member_id"].max(), pairs["counterpart"].max())).bit_length()
    day_bits = (pairs["day"].max() - first_day).days.bit_length()
    if min(pairs["member_id"].min(), pairs["counterpart"].min()) < 0 or 2 * id_bits + day_bits > 63:
        return ["member_id", "counterpart", "day"]
    return ((pl.col("member_id") * 2**id_bits + pl.col("counterpart")) * 2**day_bits
            + (pl.col("day") - first_day).dt.total_days())


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


def wide(rollup: pl.LazyFrame, rules: Scoring) -> pl.DataFrame:
    """Per member and day with points: the points of each kind (items up to the daily cap, times
    the weight) and their total `points`, sorted by day (a period's rows are then one slice)."""
    counts = (rollup.with_columns(pl.when(pl.col("kind") == k).then(pl.col("n")).otherwise(0).alias(k) for k in KINDS)
              .group_by("member_id", "day").agg(pl.col(KINDS).sum()))
    points = (pl.min_horizontal(k, int(rules.caps[k])) * float(rules.weights[k]) for k in KINDS)
    return (counts.with_columns(points).with_columns(pl.sum_horizontal(KINDS).alias("points"))
            .filter(pl.col("points") > 0).sort("day", "member_id").collect())


def monthly(daily: pl.DataFrame) -> pl.DataFrame:
    """The `wide` daily points summed per member and month (column `month`), keeping the month's
    last day with points as `day`."""
    return (daily.lazy().group_by("member_id", pl.col("day").dt.truncate("1mo").alias("month"))
            .agg(*[pl.col(k).sum() for k in (*KINDS, "points")], pl.col("day").max())
            .sort("month", "member_id").collect())


def whole_months(first: date, end: date) -> tuple[date, date] | None:
    """The first and end of the whole calendar months inside [first, end), if there are any."""
    start_month = first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    end_month = end.replace(day=1)
    return (start_month, end_month) if start_month < end_month else None


def in_period(daily: pl.DataFrame, months: pl.DataFrame | None, first: date, end: date) -> pl.LazyFrame:
    """The `wide` points of [first, end): whole months from `months` (fewer rows), the days at the
    edges from `daily`. Same sums as the daily rows alone."""
    inside = whole_months(first, end)
    if months is None or inside is None:
        return _days(daily, first, end)
    start_month, end_month = inside
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
    """The daily and reach `rollups` of the current data version in time zone `tz`."""
    return frames.derived(f"leaderboard_rollups:{tz}", lambda: rollups(
        frames.table("activity"), frames.table("events"), frames.table("attendance"), tz))


def _points(scope: Scope, rules: Scoring) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The `wide` daily points of the scope's platforms, prepared once per data version, time
    zone, scoring and platform set, and their monthly sums when the period holds a whole month."""
    rollup = _rollups(scope.tz)[0]
    platforms = None if scope.platforms is None else sorted(scope.platforms)
    key = f"leaderboard_points:{scope.tz}:{platforms}:{json.dumps(asdict(rules), sort_keys=True)}"
    points = frames.derived(key, lambda: wide(_on(rollup, platforms), rules))
    periods = (scope.period, scope.period.previous())
    if all(whole_months(p.start, p.end) is None for p in periods):
        return points, None
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
