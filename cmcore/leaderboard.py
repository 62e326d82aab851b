"""Key members (KPIS.md, Key members): contribution score, love, reach, gravity, rising and slipping.

Activities are rolled up once per change of their tables and time zone (what members wrote, their reactions
once a day per pair, the events they attended, who reached whom), then counted per member and
local day for a set of platforms; a period's leaderboard only slices, caps and sums those counts
(DESIGN.md section 5).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import NamedTuple
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import polars as pl

from cmcore import audit, community, db, frames
from cmcore.access import Principal, require
from cmcore.kpis import (COUNT, between, bots_of, by_people, content, count_change, counted_after, counted_with,
                         day_slice, instant, local_day, local_days, merged, on_platforms, regrouped, rekeyed, rows_of)
from cmcore.reports import Scope
from cmcore.periods import Period
from cmcore.refusal import Refusal

READERS = ("admin", "manager", "staff")
EDITORS = ("admin", "manager")
# Kinds in the order the page shows them.
KINDS = ("thread", "answer", "reply", "comment", "accepted", "reaction_received", "reaction_given", "event")
WRITTEN = KINDS[:4]
WRITTEN_KIND = pl.Enum(WRITTEN)  # one byte per row instead of a string
SETTING = "leaderboard_scoring"
LOVE_HORIZON_HALF_LIVES = 6  # older items weigh under 1.6 % and are left out of love
RISING_JOINED_DAYS = 90
REACTION = ["day", "author", "member_id", "platform_id"]  # a row of `Rollups.reactions`, and its order (new days last)
REACHED = ["member_id", "counterpart", "day", "platform_id"]  # a row of `Rollups.reached`, and its order
MEMBER_ID = pl.Int32  # member ids in the rollups: half the bytes of Int64 (an id past 2**31 is refused)
DAY_BITS = 20  # a day in a (member, day) key: ±1,400 years around 1970
MONTHLY_FROM = 2  # whole months in a period from which monthly sums keep its board under 300 ms (measured)


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
            raise Refusal("weights and caps are needed for each of {kinds}", kinds=", ".join(KINDS))
        if any(not 0 <= w <= 1000 for w in self.weights.values()):
            raise Refusal("a weight is between 0 and 1000")
        if any(int(c) != c or not 1 <= c <= 10_000 for c in self.caps.values()):
            raise Refusal("a daily cap is a whole number between 1 and 10000")
        if not 1 <= self.half_life_days <= 3650:
            raise Refusal("the half-life is between 1 and 3650 days")

    @property
    def key(self) -> str:
        """The scoring as a cache key: equal scorings, whatever their dicts' order, give one key."""
        return json.dumps(asdict(self), sort_keys=True)


def scoring() -> Scoring:
    """The scoring managers saved, or the defaults of KPIS.md."""
    saved = community.stored().get(SETTING)
    return Scoring(**saved) if saved else Scoring()


@db.retried
def save_scoring(actor: Principal, new: Scoring) -> None:
    """Managers change the weights, caps and half-life; audited with the old and new values."""
    require(actor, *EDITORS)
    old = scoring()
    with db.transaction() as conn:
        community.store(conn, SETTING, asdict(new))
        audit.record(conn, actor.username, "leaderboard.scoring", "app_setting", SETTING,
                     old=asdict(old), new=asdict(new))


# ------------------------------------------------------------------ pure transforms


@dataclass(frozen=True)
class Codes:
    """Members, days and platforms as small non-negative integers, so that (author, member, day,
    platform, a flag) packs into one Int64: sorting or grouping one integer column is 3-7× faster
    than five columns. When the codes need more than 63 bits (an id span over a few million members),
    keys are structs of the columns instead: slower, same results. A null author is code 0."""

    first_member: int
    last_member: int
    first_day: int  # days since 1970-01-01
    last_day: int
    last_platform: int

    @classmethod
    def of(cls, members: list[pl.Series], days: list[pl.Series], platforms: pl.Series,
           within: Codes | None = None) -> Codes:
        """The codes of the member ids in `members`, the days in `days` and the platform ids, and
        of what `within` codes (codes that grow with new rows without reading the old ones)."""
        if within is not None:
            members = [*members, pl.Series([within.first_member, within.last_member])]
            days = [*days, pl.Series([within.first_day, within.last_day])]
            platforms = pl.concat([platforms.cast(pl.Int64), pl.Series([within.last_platform])])

        def span(series: list[pl.Series]) -> tuple[int, int]:
            ends = [(int(s.min()), int(s.max())) for s in series if s.null_count() < s.len()]
            return min((lo for lo, _ in ends), default=0), max((hi for _, hi in ends), default=0)
        (first_member, last_member), (first_day, last_day) = span(members), span([d.cast(pl.Int32) for d in days])
        return cls(first_member, last_member, first_day, last_day, int(platforms.max() or 0))

    @property
    def member_bits(self) -> int:
        return (self.last_member - self.first_member + 1).bit_length()

    @property
    def day_bits(self) -> int:
        return (self.last_day - self.first_day).bit_length()

    @property
    def platform_bits(self) -> int:
        return self.last_platform.bit_length()

    @property
    def packed(self) -> bool:
        return (2 * self.member_bits + self.day_bits + self.platform_bits + 1 <= 63
                and self.member_bits + self.day_bits + 3 <= 63)

    def _member(self, column: str) -> pl.Expr:
        return (pl.col(column).cast(pl.Int64) - (self.first_member - 1)).fill_null(0)

    def _day(self) -> pl.Expr:
        return pl.col("day").cast(pl.Int32).cast(pl.Int64) - self.first_day

    def key(self, flag: pl.Expr) -> pl.Expr:
        """(author, member_id, day, platform_id, flag) as one value that sorts in that order."""
        if not self.packed:
            return pl.struct("author", "member_id", "day", "platform_id", flag.alias("flag")).alias("key")
        tail = self.day_bits + self.platform_bits + 1
        return ((self._member("author") * 2**self.member_bits + self._member("member_id")) * 2**tail
                + (self._day() * 2**self.platform_bits + pl.col("platform_id")) * 2 + flag.cast(pl.Int64)).alias("key")

    def unkey(self) -> list[pl.Expr]:
        """The columns of `key`."""
        if not self.packed:
            return [pl.col("key").struct.field(c) for c in ("author", "member_id", "day", "platform_id", "flag")]
        key, tail = pl.col("key"), self.day_bits + self.platform_bits + 1
        author = key // 2 ** (self.member_bits + tail)
        return [pl.when(author > 0).then(author + (self.first_member - 1)).cast(MEMBER_ID).alias("author"),
                ((key // 2**tail) % 2**self.member_bits + (self.first_member - 1)).cast(MEMBER_ID).alias("member_id"),
                self._date(key // 2 ** (self.platform_bits + 1) % 2**self.day_bits),
                (key // 2 % 2**self.platform_bits).cast(pl.Int16).alias("platform_id"),
                (key % 2 == 1).alias("flag")]

    def item(self, member: str, kind: int | pl.Expr) -> pl.Expr:
        """(day, member, kind's place in KINDS) as one value that sorts in that order."""
        kind = (pl.lit(kind) if isinstance(kind, int) else kind).cast(pl.Int64)
        if not self.packed:
            return pl.struct("day", pl.col(member).alias("member_id"), kind.alias("kind")).alias("item")
        return ((self._day() * 2**self.member_bits + self._member(member)) * 8 + kind).alias("item")

    def un_item(self) -> list[pl.Expr]:
        """The day, member_id and kind of `item`."""
        if not self.packed:
            return [pl.col("item").struct.field(c) for c in ("day", "member_id", "kind")]
        item = pl.col("item")
        return [self._date(item // 2 ** (self.member_bits + 3)),
                (item // 8 % 2**self.member_bits + (self.first_member - 1)).cast(MEMBER_ID).alias("member_id"),
                (item % 8).alias("kind")]

    def _date(self, code: pl.Expr) -> pl.Expr:
        return (code + self.first_day).cast(pl.Int32).cast(pl.Date).alias("day")


PAIR = ["member_id", "counterpart"]
PIECES = 16  # who reached whom is made again this many slices of members at a time


@dataclass(frozen=True)
class Reached:
    """Who reached whom (`reached` of `Rollups`), followed through changes without being written
    again: `base` as it was made, and the pairs changed since (`touched`) with their rows as `base`
    has them (`old`) and as they are (`new`), each sorted by pair then day with previous days.
    Pairs are disjoint, so a window's reach is the base's, less the old rows', plus the new rows';
    `base` is made again once the touched rows pass a quarter of it."""

    base: pl.DataFrame
    old: pl.DataFrame
    new: pl.DataFrame
    touched: pl.DataFrame  # PAIR

    @classmethod
    def of(cls, rows: pl.DataFrame) -> Reached:
        return cls(rows, rows.clear(), rows.clear(), rows.select(PAIR).clear())

    @property
    def rows(self) -> pl.DataFrame:
        """Every pair's rows as they are now: the base's untouched pairs merged with the new rows
        (a pair's rows are all in one or the other, so their previous days hold), made a slice of
        members at a time into new buffers: beside the base and the result, only a slice's work is
        alive (made whole, it peaked 0.4 GB higher at 10M activities)."""
        if self.touched.is_empty():
            return self.base
        members = self.base["member_id"]
        cuts = [None, *members.gather_every(members.len() // PIECES + 1).unique().sort(), None]
        touched = self.touched.sort(PAIR)
        return pl.concat([
            merged(_members(self.base, lo, hi).join(_members(touched, lo, hi), on=PAIR, how="anti",
                                                    maintain_order="left"),  # a join copies, where a filter may not
                   _members(self.new, lo, hi), REACHED)
            for lo, hi in zip(cuts, cuts[1:])])

    def after(self, removed: pl.DataFrame, added: pl.DataFrame) -> Reached:
        """After the rows `removed` went and `added` came (`reached` of `_met`, as they were and are):
        only the pairs whose counts they change are touched (10,000 activities moved by a minute
        change a few dozen, where they belong to some 7,000 pairs with half a million rows), and
        only their rows are made again (`regrouped`), however many pairs were touched before."""
        removed, added = removed.drop("prev_day"), added.drop("prev_day")
        changed = count_change(removed, added, REACHED)
        pairs = changed.select(PAIR).unique()
        if pairs.is_empty():
            return self
        fresh = pairs.join(self.touched, on=PAIR, how="anti")
        from_base = rows_of(self.base, PAIR, fresh)

        def counted(held: pl.DataFrame) -> pl.DataFrame:  # the pairs' rows (those touched before in `held`) as they are
            now = merged(held.drop("prev_day"), from_base.drop("prev_day"), REACHED)  # both sorted: no sort again
            return _with_prev_day(counted_with(now, changed, REACHED))
        new = regrouped(self.new, PAIR, pairs, counted)
        out = Reached(self.base, pl.concat([self.old, from_base]), new, pl.concat([self.touched, fresh]))
        return Reached.of(out.rows) if out.old.height + out.new.height > self.base.height // 4 else out


def _members(frame: pl.DataFrame, lo: int | None, hi: int | None) -> pl.DataFrame:
    """The rows of `frame`, sorted by member, whose member is from `lo` (inclusive) to `hi`
    (exclusive), None meaning no bound: a slice."""
    member = frame["member_id"]
    start = 0 if lo is None else int(member.search_sorted(lo, "left"))
    end = frame.height if hi is None else int(member.search_sorted(hi, "left"))
    return frame.slice(start, end - start)


@dataclass(frozen=True)
class Rollups:
    """What every board is cut from, once per change of activity, events or attendance and time zone (local days):

    - `written`: threads, answers, replies and comments (id, member_id, kind, platform_id,
      accepted, day, author: whom it replies to);
    - `reactions`: who reacted to whom, each once a day per pair of members and platform, with
      `n`, how many reactions that row stands for (sorted by day, author, member and platform: an
      append rewrites only its days);
    - `attended`: who attended an event, on its day (events belong to no platform);
    - `reached`: who was reached by whom (`member_id` by `counterpart`), once per pair, day and
      platform with `n`, how many items, sorted by pair then day, with `prev_day`, the pair's previous row's day on any
      platform (a window then counts a pair once without a distinct count: the rows in it
      whose previous day falls before it), followed through changes as a `Reached`;
    - `anonymous`: the up-votes and likes whose givers the source does not name, received per
      author (`member_id`), day of the vote and platform (`up`): reactions received with no giver,
      so no reach.

    Replies and reactions to oneself are left out, and so are bots: what they did does not score,
    and their reactions are no one's. The counts `n` let a change take out exactly what its rows
    counted as they were and put in what they count as they are.
    """

    written: pl.DataFrame
    reactions: pl.DataFrame
    attended: pl.DataFrame
    reached: Reached
    codes: Codes
    anonymous: pl.DataFrame

    def about(self, member_id: int) -> Rollups:
        """The rows that count for one member's score."""
        mine = pl.col("member_id") == member_id
        return replace(self, written=self.written.filter(mine), attended=self.attended.filter(mine),
                       reactions=self.reactions.filter(mine | (pl.col("author") == member_id)),
                       anonymous=self.anonymous.filter(mine))


def day_key(member: str | pl.Expr = "member_id", day: str | pl.Expr = "day") -> pl.Expr:
    """(member, day) as one Int64 (`is_in` on a struct column is ten times slower)."""
    member, day = (pl.col(c) if isinstance(c, str) else c for c in (member, day))
    return (member.cast(pl.Int64) * 2**DAY_BITS + day.cast(pl.Int32).cast(pl.Int64) + 2 ** (DAY_BITS - 1)).alias("key")


def unkey(keys: pl.Series) -> pl.DataFrame:
    """The member_id and day of each of `keys`."""
    return keys.to_frame("key").select(
        (pl.col("key") // 2**DAY_BITS).cast(MEMBER_ID).alias("member_id"),
        (pl.col("key") % 2**DAY_BITS - 2 ** (DAY_BITS - 1)).cast(pl.Int32).cast(pl.Date).alias("day"))


def _parent_authors(rows: pl.DataFrame, activity: pl.DataFrame) -> pl.Series:
    """The author of the parent of each of `rows` (`author`), looked up in `activity`: for all of
    them, gathered from an array indexed by id when ids are dense, as a sequence leaves them (5×
    faster than a join), else joined; for a few, joined with the parents picked out first."""
    ids = activity["id"]
    lo, hi = ids.min(), ids.max()
    if rows.height < activity.height // 8:
        wanted = rows["parent_id"].drop_nulls().unique()
        activity = activity.filter(pl.col("id").is_in(wanted.implode()))
    elif lo is not None and hi - lo < 2 * activity.height:
        by_id = pl.repeat(None, hi - lo + 1, dtype=pl.Int64, eager=True).scatter(ids - lo, activity["member_id"])
        return by_id.gather(rows["parent_id"] - lo).alias("author")
    parents = activity.select(pl.col("id").alias("parent_id"), pl.col("member_id").alias("author"))
    return rows.select("parent_id").join(parents, on="parent_id", how="left", maintain_order="left")["author"]


def _acts(rows: pl.DataFrame, activity: pl.DataFrame, tz: str, bots: pl.Series | None) -> pl.DataFrame:
    """`rows` of `activity` with their local day and their parent's author, replies and reactions
    to oneself and what `bots` did left out."""
    acts = rows.select("id", "member_id", "kind", "platform_id", "accepted").with_columns(  # eager: 0.3 s less at 10M
        local_days(rows["created_at"], tz).alias("day"), _parent_authors(rows, activity))
    return by_people(acts.lazy().filter(pl.col("author").is_null() | (pl.col("author") != pl.col("member_id"))),
                     bots).with_columns(pl.col("member_id", "author").cast(MEMBER_ID)).collect()


def _attended(events: pl.DataFrame, attendance: pl.DataFrame, tz: str, bots: pl.Series | None) -> pl.DataFrame:
    return by_people(attendance.lazy().filter("attended").join(events.lazy(), on="event_id")
                     .select(pl.col("member_id").cast(MEMBER_ID), local_day("starts_at", tz).alias("day")), bots).collect()


def _anonymous(activity: pl.DataFrame, votes: pl.DataFrame | None, bots: pl.Series | None) -> pl.DataFrame:
    """The `anonymous` of `Rollups`: `votes` (activity_id, day, up) by their activity's author and
    platform (votes name no giver, and their day is the source's: no time zone)."""
    schema = {"member_id": MEMBER_ID, "day": pl.Date, "platform_id": pl.Int16, "up": pl.Int64}
    if votes is None or votes.is_empty():
        return pl.DataFrame(schema=schema)
    authors = activity.lazy().filter(pl.col("id").is_in(votes["activity_id"].implode())).select(
        pl.col("id").alias("activity_id"), "member_id", "platform_id")
    return by_people(votes.lazy().join(authors, on="activity_id").group_by("member_id", "day", "platform_id")
                     .agg(pl.col("up").sum().cast(pl.Int64)), bots).collect().cast(schema)


def _codes(written: pl.DataFrame, reactions: pl.DataFrame, attended: pl.DataFrame, within: Codes | None = None) -> Codes:
    return Codes.of([written["member_id"], written["author"], reactions["member_id"], reactions["author"],
                     attended["member_id"]], [written["day"], reactions["day"], attended["day"]],
                    pl.concat([written["platform_id"], reactions["platform_id"]]), within)


def _met(acts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """From `_acts`: the written items, the reactions once a day per pair of members and platform,
    and who reached whom (`reached` of `Rollups`), with their counts."""
    written = acts.filter(pl.col("kind") != "reaction").with_columns(pl.col("kind").cast(WRITTEN_KIND))
    codes = Codes.of([acts["member_id"], acts["author"]], [acts["day"]], acts["platform_id"])
    # one sort: each (author, member, day, platform) once per flag "written" (else a reaction), and how many;
    # pairs side by side for who reached whom, the reactions (fewer rows) then sorted by day alone, stably
    runs = (acts.filter(pl.col("author").is_not_null() | (pl.col("kind") == "reaction"))
            .select(codes.key(pl.col("kind") != "reaction")).to_series().sort().rle().struct.unnest())
    del acts  # the caller's only reference (0.3 GB at 10M): let go before the rows below are made
    met = runs.select(pl.col("value").alias("key"), pl.col("len").cast(COUNT).alias("n")).select(*codes.unkey(), "n")
    del runs
    reactions = met.filter(~pl.col("flag")).select(*REACTION, "n")
    reactions = reactions.sort("day", maintain_order=True)  # in (author, member, day, platform) order: REACTION's
    same = lambda by: pl.all_horizontal(pl.col(c) == pl.col(c).shift(by) for c in REACTION).fill_null(False)  # noqa: E731
    reached = (met.filter(pl.col("author").is_not_null())
               .with_columns(pl.col("n") + pl.when(same(-1)).then(pl.col("n").shift(-1)).otherwise(0)).filter(~same(1))
               .select(pl.col("author").alias("member_id"), pl.col("member_id").alias("counterpart"), "day",
                       "platform_id", "n"))
    return written, reactions, _with_prev_day(reached)


def _with_prev_day(reached: pl.DataFrame) -> pl.DataFrame:
    """`reached` rows sorted by pair, day and platform, with the pair's previous row's day."""
    same_pair = (pl.col("member_id") == pl.col("member_id").shift(1)) & (
        pl.col("counterpart") == pl.col("counterpart").shift(1))
    return reached.with_columns(pl.when(same_pair).then(pl.col("day").shift(1)).alias("prev_day"))


def rollups(activity: pl.DataFrame, events: pl.DataFrame, attendance: pl.DataFrame, tz: str,
            bots: pl.Series | None = None, votes: pl.DataFrame | None = None) -> Rollups:
    """The `Rollups` of the activity, events, attendance and anonymous `votes` (activity_id, day,
    up) in time zone `tz`, members who are `bots` left out."""
    written, reactions, reached = _met(_acts(activity, activity, tz, bots))
    attended = _attended(events, attendance, tz, bots)
    return Rollups(written, reactions, attended, Reached.of(reached), _codes(written, reactions, attended),
                   _anonymous(activity, votes, bots))


def changed_acts(activity: pl.DataFrame, delta: frames.Delta, tz: str,
                 bots: pl.Series | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The `_acts` a change of activity (`delta`, activity as it is now) replaces, and those that
    replace them: of the rows it changed, as they were and as they are, and of the replies and
    reactions to a changed one, under their parent's author as it was and as it is."""
    removed, added = delta.removed, delta.added
    changed = pl.concat([removed["id"], added["id"]]).unique().implode()
    children = activity.clear() if removed.is_empty() else activity.filter(
        pl.col("parent_id").is_in(removed["id"].implode())).filter(~pl.col("id").is_in(changed))
    before, after = pl.concat([removed, children]), pl.concat([added, children])
    wanted = pl.concat([before["parent_id"], after["parent_id"]]).drop_nulls().unique().implode()
    parents = activity.filter(pl.col("id").is_in(wanted))  # one pass over the frame for both
    was = pl.concat([removed.filter(pl.col("id").is_in(wanted)), parents.filter(~pl.col("id").is_in(changed))])
    return _acts(before, was, tz, bots), _acts(after, parents, tz, bots)


def touched_keys(before: pl.DataFrame, after: pl.DataFrame) -> pl.Series:
    """The (member, local day) keys (`day_key`) whose counts the `changed_acts` change: their
    members' and their parents' authors' (who received them)."""
    return pl.concat([acts.select(day_key(who)) for acts in (before, after) for who in ("member_id", "author")]
                     ).to_series().drop_nulls().unique()


def rollups_after(rolled: Rollups, activity: pl.DataFrame, events: pl.DataFrame, attendance: pl.DataFrame,
                  before: pl.DataFrame, after: pl.DataFrame, tz: str, bots: pl.Series | None = None,
                  votes: pl.DataFrame | None = None) -> Rollups:
    """`rolled` (made with the same `bots`) with the `changed_acts` `before` taken out and `after`
    put in, and the attendance and anonymous votes from `events`, `attendance` and `votes`. Who
    reached whom keeps the previous day of each pair from the counts."""
    attended, anonymous = _attended(events, attendance, tz, bots), _anonymous(activity, votes, bots)
    if before.is_empty() and after.is_empty():
        return replace(rolled, attended=attended, codes=_codes(*(f.clear() for f in (rolled.written, rolled.reactions)),
                                                                attended, rolled.codes), anonymous=anonymous)
    (_, old_reactions, old_reached), (fresh_written, fresh_reactions, fresh_reached) = _met(before), _met(after)
    _, written = frames.replaced(rolled.written, rolled.written["id"].is_in(before["id"].implode()), fresh_written, "id")
    reactions = counted_after(rolled.reactions, old_reactions, fresh_reactions, REACTION)
    return Rollups(written, reactions, attended, rolled.reached.after(old_reached, fresh_reached),
                   _codes(fresh_written, fresh_reactions, attended, rolled.codes), anonymous)


def _on(frame: pl.DataFrame | pl.LazyFrame, platforms: list[int] | None) -> pl.LazyFrame:
    """Rows of the platforms (all when None)."""
    lf = frame.lazy()
    return lf if platforms is None else lf.filter(pl.col("platform_id").is_in(platforms))


def day_counts(rolled: Rollups, platforms: list[int] | None = None) -> pl.DataFrame:
    """Per member and day with items, sorted by day then member: the items of each kind (KINDS
    columns, Int32) that can score on the platforms (all when None), events included. Each item becomes
    one sortable value (`Codes.item`); after one sort, the runs of equal values are the counts,
    put in place by one numpy scatter (a frame per kind and Int64 zeros held 0.5 GB more at 10M)."""
    codes, reactions = rolled.codes, _on(rolled.reactions, platforms)
    written = _on(rolled.written, platforms)
    items = pl.concat([written.select(codes.item("member_id", pl.col("kind").to_physical())),
                       written.filter("accepted").select(codes.item("member_id", KINDS.index("accepted"))),
                       reactions.filter(pl.col("author").is_not_null())
                       .select(codes.item("author", KINDS.index("reaction_received"))),
                       reactions.select(codes.item("member_id", KINDS.index("reaction_given"))),
                       rolled.attended.lazy().select(codes.item("member_id", KINDS.index("event")))]).collect()
    runs = items.to_series().sort().rle().struct.unnest().rename({"value": "item"}).select(*codes.un_item(), "len")
    del items
    starts = pl.any_horizontal(pl.col(c).ne_missing(pl.col(c).shift(1)) for c in ("day", "member_id"))
    runs = runs.with_columns((starts.cum_sum() - 1).alias("row"))
    slots = runs.filter(starts).select("member_id", "day")
    counts = np.zeros((len(KINDS), slots.height), np.int32)  # a kind's counts, one contiguous row each
    counts[runs["kind"].to_numpy(), runs["row"].to_numpy()] = runs["len"].to_numpy()
    del runs
    out = slots.with_columns(pl.Series(k, counts[i]) for i, k in enumerate(KINDS))
    anonymous = _on(rolled.anonymous, platforms).group_by("member_id", "day").agg(pl.col("up").sum()).collect()
    if anonymous.is_empty():
        return out
    return (out.join(anonymous, on=["day", "member_id"], how="full", coalesce=True)
            .with_columns(pl.col(KINDS).fill_null(0))
            .with_columns((pl.col("reaction_received") + pl.col("up").fill_null(0)).alias("reaction_received"))
            .drop("up").sort("day", "member_id"))


def wide(counts: pl.DataFrame, rules: Scoring) -> pl.DataFrame:
    """Per member and day with items, from the `day_counts`: the items of each kind as counted (a
    change adds to them or takes from them) and the day's `points` (each kind's items up to its
    daily cap, times its weight), sorted by day like the counts (a period's rows are then one slice)."""
    return (counts.lazy().with_columns(pl.col(KINDS).cast(pl.Int32))
            .with_columns(pl.sum_horizontal(_scored(rules)).alias("points")).collect())


def _scored(rules: Scoring) -> list[pl.Expr]:
    """Each kind's items of a day as the points they score: up to the daily cap, times the weight."""
    return [pl.min_horizontal(k, int(rules.caps[k])) * float(rules.weights[k]) for k in KINDS]


def scored(daily: pl.LazyFrame, rules: Scoring) -> pl.LazyFrame:
    """`wide` daily rows with points, each kind's items as the points they score."""
    return daily.filter(pl.col("points") > 0).with_columns(_scored(rules))


def monthly(daily: pl.DataFrame, rules: Scoring) -> pl.DataFrame:
    """The `wide` daily points summed per member and month (column `month`), each kind's too,
    keeping the month's last day with points as `day`; sorted by month then member. The days are sorted, so
    each month is a slice grouped on its own (twice as fast as one group_by on member and month)."""
    days = daily["day"]
    empty = scored(daily.lazy(), rules).select("member_id", pl.col("day").alias("month"), *KINDS, "points", "day")
    if days.is_empty():
        return empty.collect()
    starts = pl.date_range(days[0].replace(day=1), days[-1], "1mo", eager=True).to_list()
    return pl.concat([empty.clear().collect(), *pl.collect_all(_month_sums(daily, first, rules) for first in starts)])


def _month_sums(daily: pl.DataFrame, month: date, rules: Scoring, members: pl.Series | None = None) -> pl.LazyFrame:
    """The `monthly` rows of one month (of `members`, else of all): its days are a slice of `daily`."""
    rows = day_slice(daily, month, (month + timedelta(days=32)).replace(day=1))
    if members is not None:
        rows = rows.filter(pl.col("member_id").is_in(members.implode()))
    return (scored(rows, rules).group_by("member_id")
            .agg(pl.lit(month).alias("month"), *[pl.col(k).sum() for k in (*KINDS, "points")], pl.col("day").max())
            .sort("member_id"))


def item_changes(rolled: Rollups, before: pl.DataFrame, after: pl.DataFrame, attended: pl.DataFrame,
                 anonymous: pl.DataFrame, platforms: list[int] | None = None) -> pl.DataFrame:
    """Per member and day, how many items of each kind (KINDS columns) on the platforms (all when
    None) the `changed_acts` `before` → `after` add (or take away), with the reactions they made
    or unmade once a day per pair (by the counts of `rolled`, made after them), and the change
    from `attended` and `anonymous` (what was counted before) to `rolled`'s."""
    parts = []
    for sign, acts in ((-1, before), (1, after)):
        written = _on(acts, platforms).filter(pl.col("kind") != "reaction")
        parts += [written.select("member_id", "day", pl.col("kind").cast(pl.Utf8).alias("what"), pl.lit(sign).alias("d")),
                  written.filter("accepted").select("member_id", "day", pl.lit("accepted").alias("what"),
                                                    pl.lit(sign).alias("d"))]
    reacted = pl.concat([_on(acts, platforms).filter(pl.col("kind") == "reaction").select(*REACTION, pl.lit(sign).alias("d"))
                         for sign, acts in ((-1, before), (1, after))]).group_by(REACTION).agg(pl.col("d").sum()).collect()
    days = reacted["day"]  # the reactions are sorted by day: only those of the changed days are looked at
    near = rolled.reactions.lazy().clear() if days.is_empty() else day_slice(rolled.reactions, days.min(),
                                                                              days.max() + timedelta(days=1))
    flips = (reacted.lazy().join(near.select(*REACTION, "n"), on=REACTION, how="left", nulls_equal=True)
             .with_columns(pl.col("n").fill_null(0))
             .select(*REACTION, ((pl.col("n") > 0).cast(pl.Int64) - (pl.col("n") - pl.col("d") > 0).cast(pl.Int64))
                     .alias("d")).filter(pl.col("d") != 0))
    parts += [flips.select("member_id", "day", pl.lit("reaction_given").alias("what"), "d"),
              flips.filter(pl.col("author").is_not_null()).select(
                  pl.col("author").alias("member_id"), "day", pl.lit("reaction_received").alias("what"), "d")]
    for old, now, what, d in ((anonymous, rolled.anonymous, "reaction_received", pl.col("up")),
                              (attended, rolled.attended, "event", pl.lit(1))):
        for sign, rows in zip((-1, 1), _moved(old, now), strict=True):
            rows = rows if "platform_id" not in old.columns else _on(rows, platforms)
            parts.append(rows.lazy().select("member_id", "day", pl.lit(what).alias("what"), (d * sign).alias("d")))
    return (pl.concat([p.with_columns(pl.col("d").cast(pl.Int64)) for p in parts]).group_by("member_id", "day")
            .agg(pl.col("d").filter(pl.col("what") == k).sum().alias(k) for k in KINDS)
            .filter(pl.any_horizontal(pl.col(KINDS) != 0)).collect())


def points_after(points: pl.DataFrame, changes: pl.DataFrame, rules: Scoring) -> pl.DataFrame:
    """The `wide` points with the `item_changes` added to their members' days' items, and those
    days' points counted again (`rekeyed`: the other days are kept as they are)."""
    if changes.is_empty():
        return points

    def recounted(held: pl.DataFrame) -> pl.DataFrame:
        items = (pl.concat([held.select("member_id", "day", *KINDS).cast({k: pl.Int64 for k in KINDS}),
                            changes.select("member_id", "day", *KINDS)])
                 .group_by("member_id", "day").agg(pl.col(KINDS).sum()).filter(pl.any_horizontal(pl.col(KINDS) > 0)))
        return wide(items, rules)
    return rekeyed(points, ["day", "member_id"], changes.select("day", "member_id"), recounted)


def monthly_after(months: pl.DataFrame, points: pl.DataFrame, keys: pl.Series, rules: Scoring) -> pl.DataFrame:
    """The `monthly` sums of `points`, as they were in `months`, with the members' months of the
    (member, day) `keys` summed again (`rekeyed`)."""
    if keys.is_empty():
        return months
    hit = unkey(keys).select(pl.col("day").dt.truncate("1mo").alias("month"), "member_id").unique()

    def summed(_: pl.DataFrame) -> pl.DataFrame:
        return pl.concat(pl.collect_all(_month_sums(points, month, rules, part["member_id"])
                                        for (month,), part in hit.partition_by("month", as_dict=True).items()))
    return rekeyed(months, ["month", "member_id"], hit, summed)


def whole_months(first: date, end: date) -> tuple[date, date] | None:
    """The first and end of the whole calendar months inside [first, end), if there are any."""
    start_month = first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    end_month = end.replace(day=1)
    return (start_month, end_month) if start_month < end_month else None


def _month_count(months: tuple[date, date] | None) -> int:
    return 0 if months is None else (months[1].year - months[0].year) * 12 + months[1].month - months[0].month


def in_period(daily: pl.DataFrame, months: pl.DataFrame | None, first: date, end: date,
              rules: Scoring) -> pl.LazyFrame:
    """The points of [first, end), each kind's too (`scored`): whole months from `months` (fewer
    rows), the days at the edges from the `wide` `daily`. Same sums as the daily rows alone."""
    inside = whole_months(first, end)
    if months is None or inside is None:
        return scored(day_slice(daily, first, end), rules)
    start_month, end_month = inside
    columns = ["member_id", "day", *KINDS, "points"]
    return pl.concat([day_slice(months, start_month, end_month, "month").select(columns),
                      *(scored(day_slice(daily, a, b), rules).select(columns) for a, b in ((first, start_month),
                                                                                            (end_month, end)))])


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
    return (day_slice(points, love_horizon(end, rules), end).group_by("member_id")
            .agg((pl.col("points") * (0.5 ** (age_days / rules.half_life_days))).sum().alias("love")))


def reach(who_reached: Reached, first: date, end: date, platforms: list[int] | None = None) -> pl.LazyFrame:
    """Reach: distinct members who replied to or reacted to the member in [first, end)."""
    if who_reached.touched.is_empty():
        return _reach(who_reached.base, first, end, platforms)
    return (pl.concat([_reach(who_reached.base, first, end, platforms),
                       _reach(who_reached.old, first, end, platforms).with_columns(-pl.col("reach")),
                       _reach(who_reached.new, first, end, platforms)])
            .group_by("member_id").agg(pl.col("reach").sum()).filter(pl.col("reach") != 0))


def _reach(who_reached: pl.DataFrame, first: date, end: date, platforms: list[int] | None) -> pl.LazyFrame:
    """`reach` of rows sorted by pair then day, with previous days."""
    rows = who_reached.lazy().filter(pl.col("day").is_between(first, end, "left"))
    if platforms is None:  # each pair once: its first row in the window
        return (rows.filter(pl.col("prev_day").is_null() | (pl.col("prev_day") < first))
                .group_by("member_id").agg(pl.len().cast(pl.Int64).alias("reach")))
    return (_on(rows, platforms).group_by("member_id")
            .agg(pl.col("counterpart").n_unique().cast(pl.Int64).alias("reach")))


def board(points: pl.DataFrame, who_reached: Reached, members: pl.DataFrame, period: Period,
          rules: Scoring, platforms: list[int] | None = None, months: pl.DataFrame | None = None) -> pl.DataFrame:
    """The ranked leaderboard of the period from the `wide` daily points, with the previous
    period's rank and score, love, reach, gravity = love × reach, and the rising / slipping flags.
    `months`, the `monthly` sums of `points`, only makes long periods faster."""
    previous = period.previous()
    now, before, loved, reached = (f.with_columns(pl.col("member_id").cast(pl.Int64)) for f in pl.collect_all([
        scores(in_period(points, months, period.start, period.end, rules)),
        scores(in_period(points, months, previous.start, previous.end, rules)),
        love(points, period.end, rules), reach(who_reached, period.start, period.end, platforms)]))
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
                          & (pl.col("joined_at") >= instant(joined_since))).alias("rising"),
                         ((pl.col("previous_rank") <= top_before)
                          & (pl.col("score") <= 0.5 * pl.col("previous_score"))).fill_null(False).alias("slipping")))
    return out.sort(pl.col("rank").is_null(), "rank", "previous_rank").select(
        "rank", "previous_rank", "rank_change", "member_id", "display_name", "is_staff", "score", "previous_score",
        *KINDS, "love", "reach", "gravity", "rising", "slipping", "reached_on")


def sparklines(points: pl.DataFrame, member_ids: list[int], period: Period) -> pl.DataFrame:
    """Each member's points per day of the period, as a list (for a sparkline column)."""
    days = pl.DataFrame({"day": pl.date_range(period.start, period.end, closed="left", eager=True)})
    daily = (day_slice(points, period.start, period.end).filter(pl.col("member_id").is_in(member_ids))
             .group_by("member_id", "day").agg(pl.col("points").sum())
             .with_columns(pl.col("member_id").cast(pl.Int64)).collect())
    grid = pl.DataFrame({"member_id": member_ids}).join(days, how="cross")
    return (grid.join(daily, on=["member_id", "day"], how="left").sort("member_id", "day")
            .group_by("member_id", maintain_order=True).agg(pl.col("points").fill_null(0.0).alias("activity")))


def explanation(rolled: Rollups, member_id: int, period: Period, rules: Scoring,
                platforms: list[int] | None = None) -> pl.DataFrame:
    """A member's score line by line: per kind the items done in the period (reactions once a day
    per member), those counted under the daily cap, the weight, and the points."""
    days = day_counts(rolled.about(member_id), platforms).filter(
        (pl.col("member_id") == member_id) & pl.col("day").is_between(period.start, period.end, "left"))
    caps = [int(rules.caps[k]) for k in KINDS]
    weights = [float(rules.weights[k]) for k in KINDS]
    counted = [int(days[k].clip(upper_bound=cap).sum()) for k, cap in zip(KINDS, caps, strict=True)]
    return pl.DataFrame({"kind": list(KINDS), "items": [int(days[k].sum()) for k in KINDS], "counted": counted,
                         "weight": weights, "daily_cap": caps,
                         "points": [c * w for c, w in zip(counted, weights, strict=True)]})


# ------------------------------------------------------------------ services


def _bots() -> tuple[pl.Series, str]:
    """The members who are bots, and a short key naming that set: what is rolled up without them is
    kept per set, so a member who becomes a bot is left out of every day again."""
    bots = bots_of(frames.table("members")).sort()
    return bots, hashlib.sha1(bots.to_numpy().tobytes()).hexdigest()[:12] if bots.len() else "none"


def _rollups(tz: str) -> Rollups:
    """The `rollups` of the current activity, events, attendance and votes in time zone `tz`, bots
    left out, made again only for the members' days a change of activity touches."""
    bots, key = _bots()

    def after(rolled: Rollups, changes: frames.Changes) -> Rollups | None:
        acts = _changed_acts(changes, tz, bots, key)
        return None if acts is None else rollups_after(
            rolled, frames.table("activity"), frames.table("events"), frames.table("attendance"), *acts, tz, bots,
            frames.table("votes"))
    return frames.derived(f"leaderboard_rollups:{tz}:{key}", lambda: rollups(
        frames.table("activity"), frames.table("events"), frames.table("attendance"), tz, bots,
        frames.table("votes")), update=after)


def _moved(before: pl.DataFrame, now: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of `before` that `now` lacks, and those of `now` that `before` lacked."""
    on = before.columns
    return before.join(now, on=on, how="anti"), now.join(before, on=on, how="anti")


_acts_made: dict[tuple[str, str, str], tuple[tuple[int, int], tuple[pl.DataFrame, pl.DataFrame] | None]] = {}


def _changed_acts(changes: frames.Changes, tz: str, bots: pl.Series,
                  bots_key: str) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """The `changed_acts` of a change of activity since `changes`' value was made (None: unknown),
    found once per span of the activity frame's generations: a view's rollups, points and monthly
    sums, made at the same time, are each handed the same change (the latest span is kept per
    database, time zone and set of bots)."""
    activity = frames.table("activity")
    span = changes.span("activity")
    key = (db.url(), tz, bots_key)
    made = _acts_made.get(key)
    if span is not None and made is not None and made[0] == span:
        return made[1]
    delta = changes.delta("activity")
    acts = None if delta is None else changed_acts(activity, delta, tz, bots)
    if span is not None:
        _acts_made[key] = (span, acts)
    return acts


class _Counted(NamedTuple):
    """Points (daily or monthly) and the attendance and anonymous votes they counted: a later
    change of either is found by comparing it with the current one."""

    frame: pl.DataFrame
    attended: pl.DataFrame
    anonymous: pl.DataFrame

    @classmethod
    def of(cls, frame: pl.DataFrame, rolled: Rollups) -> _Counted:
        return cls(frame, rolled.attended, rolled.anonymous)


def _changed_keys(changes: frames.Changes, counted: _Counted, rolled: Rollups, tz: str,
                  bots: pl.Series, bots_key: str) -> pl.Series | None:
    """The (member, local day) keys whose points may differ from what `counted` was made from: those
    a change of activity touches, and those whose attendance or anonymous votes changed since
    (None: unknown, make everything again)."""
    acts = _changed_acts(changes, tz, bots, bots_key)
    if acts is None:
        return None
    moved = [*_moved(counted.attended, rolled.attended), *_moved(counted.anonymous, rolled.anonymous)]
    return pl.concat([touched_keys(*acts), *(rows.select(day_key()).to_series() for rows in moved)]).unique()


def _points(scope: Scope, rules: Scoring) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The `wide` daily points of the scope's platforms, prepared once per change of their tables,
    time zone, scoring and platform set (after a change, the items it adds or takes away counted in
    their members' days), and their monthly sums when the period or the previous one holds
    MONTHLY_FROM whole months."""
    rolled = _rollups(scope.tz)
    platforms = None if scope.platforms is None else sorted(scope.platforms)
    bots, bots_key = _bots()
    key = f"leaderboard_points:{scope.tz}:{platforms}:{rules.key}:{bots_key}"

    def points_after_change(points: _Counted, changes: frames.Changes) -> _Counted | None:
        acts = _changed_acts(changes, scope.tz, bots, bots_key)
        return None if acts is None else _Counted.of(points_after(points.frame, item_changes(
            rolled, *acts, points.attended, points.anonymous, platforms), rules), rolled)

    points = frames.derived(key, lambda: _Counted.of(wide(day_counts(rolled, platforms), rules), rolled),
                            update=points_after_change).frame
    periods = (scope.period, scope.period.previous())
    if all(_month_count(whole_months(p.start, p.end)) < MONTHLY_FROM for p in periods):
        return points, None

    def months_after_change(months: _Counted, changes: frames.Changes) -> _Counted | None:
        keys = _changed_keys(changes, months, rolled, scope.tz, bots, bots_key)
        return None if keys is None else _Counted.of(monthly_after(months.frame, points, keys, rules), rolled)

    return points, frames.derived(f"{key}:months", lambda: _Counted.of(monthly(points, rules), rolled),
                                  update=months_after_change).frame


def leaderboard(principal: Principal, scope: Scope, rules: Scoring | None = None) -> pl.DataFrame:
    """The period's leaderboard (managers, admins, staff), computed once per change of its tables, scope
    and scoring (Streamlit reruns the page on every click; a rerun is then a lookup)."""
    require(principal, *READERS)
    scope = scope.resolved()
    rules = rules or scoring()
    return frames.result(f"leaderboard:{scope!r}:{rules.key}", lambda: _ranked(scope, rules))


def _ranked(scope: Scope, rules: Scoring) -> pl.DataFrame:
    points, months = _points(scope, rules)
    ranked = board(points, _rollups(scope.tz).reached, frames.table("members"), scope.period, rules, scope.platforms, months)
    linked = frames.derived("accounts", lambda: accounts(frames.table("identities"), frames.table("platforms")),
                            ("member_identity", "platform"))  # its own tables, not the board's: kept through new activity
    return ranked.join(linked, on="member_id", how="left", maintain_order="left")


def anonymous_platforms(principal: Principal, scope: Scope) -> list[str]:
    """The names of the scope's platforms whose reactions (votes, likes) come without their givers:
    they count as reactions received by the author, with no giver and no reach."""
    require(principal, *READERS)
    return frames.result(f"anonymous_platforms:{scope.platforms!r}", lambda: content.anonymous_platforms(
        frames.table("votes"), frames.table("activity"), frames.table("platforms"), scope.platforms)
        ["platform"].to_list())


def accounts(identities: pl.DataFrame, platforms: pl.DataFrame) -> pl.DataFrame:
    """Each member's platforms, by name, from their accounts (merged identities included)."""
    return (identities.join(platforms.select("platform_id", "name"), on="platform_id")
            .group_by("member_id").agg(pl.col("name").unique().sort().str.join(", ").alias("platforms")))


def activity_sparklines(principal: Principal, scope: Scope, member_ids: list[int]) -> pl.DataFrame:
    require(principal, *READERS)
    scope = scope.resolved()
    return sparklines(_points(scope, scoring())[0], member_ids, scope.period)


def explain(principal: Principal, scope: Scope, member_id: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A member's score explained, and their 20 latest activities of the period (with the title
    of the thread each belongs to)."""
    require(principal, *READERS)
    scope = scope.resolved()
    start, end = scope.bounds
    recent = (on_platforms(frames.table("activity").lazy(), scope.platforms)
              .filter((pl.col("member_id") == member_id) & between("created_at", start, end))
              .sort("created_at", descending=True).head(20)
              .join(frames.table("platforms").lazy().select("platform_id", pl.col("name").alias("platform")),
                    on="platform_id", how="left", maintain_order="left")
              .join(frames.table("threads").lazy().select("thread_id", pl.col("title").alias("thread")),
                    on="thread_id", how="left", maintain_order="left")
              .select("created_at", pl.col("kind").cast(pl.String), "platform", "thread_id", "thread", "id").collect())
    rules = scoring()
    return explanation(_rollups(scope.tz), member_id, scope.period, rules, scope.platforms), recent
