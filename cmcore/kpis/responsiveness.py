"""Responsiveness (KPIS.md, Responsiveness): CHAOSS time to first response, SLA, backlog."""
from __future__ import annotations

from datetime import datetime

import polars as pl

from cmcore.kpis import day_slice, hours, instant, median_p90, on_platforms, rekeyed, within_sla

RESPONSE_KINDS = ("reply", "answer", "comment")
KEY = ["created_at", "thread_id"]  # the order of `thread_responses`
THREAD = ["thread_id", "platform_id", "author_id", "created_at"]


def thread_responses(activity: pl.DataFrame) -> pl.DataFrame:
    """Every thread of `activity`: its platform, author, creation, and its first reply, answer or
    comment by another member (the earliest, then the first written; null while unanswered),
    sorted by creation then thread: a period's threads are a slice (`first_responses`)."""
    acts = activity.lazy()
    return _answered(_threads(acts), _responses(acts)).collect()


def thread_responses_after(threads: pl.DataFrame, activity: pl.DataFrame, removed: pl.DataFrame,
                           added: pl.DataFrame) -> pl.DataFrame:
    """`thread_responses` after activities were `removed` (as they were) and `added` (as they are),
    `activity` being the frame after both. A thread that only gained rows keeps its first response
    unless an added one came earlier (no pass over the frame: an import or a sync); one that lost
    or changed a row is made again from its rows. The others are kept as they are (`rekeyed`)."""
    thread = pl.coalesce("thread_id", "id").alias("thread_id")  # a thread's row has no thread but its own
    gone = removed.select(thread).to_series().unique()
    grown = added.select(thread).filter(~pl.col("thread_id").is_in(gone.implode())).to_series().unique()
    if gone.is_empty() and grown.is_empty():
        return threads
    was = threads.filter(pl.col("thread_id").is_in(grown.implode()))
    gained = added.lazy().filter(thread.is_in(grown.implode()))
    so_far = was.lazy().filter(pl.col("responded_at").is_not_null()).select(  # wins a tie: it was written first
        "thread_id", pl.lit(0).alias("id"), "responder_id", "responded_at")
    fresh = [_answered(pl.concat([was.lazy().select(THREAD), _threads(gained)]),
                       pl.concat([so_far, _responses(gained)], how="vertical_relaxed"))]
    if not gone.is_empty():
        fresh.append(_answered(*(part(activity.lazy().filter(thread.is_in(gone.implode())))
                                 for part in (_threads, _responses))))
    fresh = pl.concat(pl.collect_all(fresh)).sort(KEY)
    held = threads.filter(pl.col("thread_id").is_in(gone.implode())).select(KEY)
    return rekeyed(threads, KEY, pl.concat([held, was.select(KEY), fresh.select(KEY)]), lambda _: fresh)


def _threads(acts: pl.LazyFrame) -> pl.LazyFrame:
    return (acts.filter(pl.col("kind") == "thread")
            .select(pl.col("id").alias("thread_id"), "platform_id", pl.col("member_id").alias("author_id"), "created_at"))


def _responses(acts: pl.LazyFrame) -> pl.LazyFrame:
    return (acts.filter(pl.col("kind").is_in(RESPONSE_KINDS))
            .select("thread_id", "id", pl.col("member_id").alias("responder_id"), pl.col("created_at").alias("responded_at")))


def _answered(threads: pl.LazyFrame, responses: pl.LazyFrame) -> pl.LazyFrame:
    """`threads` (`_threads`) with each one's first of `responses` (`_responses`) by someone else
    than its author: the earliest, then the first written."""
    first = (threads.join(responses, on="thread_id", how="inner")
             .filter(pl.col("responder_id") != pl.col("author_id"))
             .sort("responded_at", "id")
             .group_by("thread_id").agg(pl.col("responded_at", "responder_id").first()))
    return threads.join(first, on="thread_id", how="left").sort(KEY)


def first_responses(threads: pl.DataFrame, start: datetime, end: datetime,
                    platforms: list[int] | None = None) -> pl.DataFrame:
    """One row per thread created in [start, end), of the `thread_responses` (a slice): its
    author, when it was created and the first response by another member (null while unanswered),
    and the hours in between."""
    return (on_platforms(day_slice(threads, start, end, "created_at"), platforms)
            .with_columns(hours("created_at", "responded_at").alias("hours")).collect())


def time_to_first_response_median(threads: pl.DataFrame, start: datetime, end: datetime,
                                  platforms: list[int] | None = None) -> float | None:
    """Median hours from a thread's creation to its first response by someone else, over the
    threads created in [start, end) that have one (None when none has)."""
    return first_responses(threads, start, end, platforms)["hours"].median()


def summary(firsts: pl.DataFrame, sla_hours: float, now: datetime) -> dict[str, float | int | None]:
    """Median (`ttfr`) and p90 (`ttfr_p90`) hours to first response, the share within the SLA, and
    the unanswered count."""
    return firsts.select(*median_p90("hours", "ttfr"),
                         within_sla("created_at", "hours", sla_hours, now).alias("within_sla"),
                         pl.col("responded_at").null_count().alias("unanswered")).row(0, named=True)


def weekly(firsts: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Per week of creation (local Monday): threads, median and p90 hours to first response."""
    return (firsts.with_columns(pl.col("created_at").dt.convert_time_zone(tz).dt.date()
                                .dt.truncate("1w").alias("week"))
            .group_by("week").agg(pl.len().alias("threads"), pl.col("hours").median().alias("median"),
                                  pl.col("hours").quantile(0.9, "linear").alias("p90"))
            .sort("week"))


def backlog(firsts: pl.DataFrame, threads: pl.DataFrame, members: pl.DataFrame,
            platforms: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """The unanswered threads, oldest first: title, platform, author, age in hours, link."""
    return (firsts.filter(pl.col("responded_at").is_null())
            .join(threads, on="thread_id", how="left")
            .join(members.select(pl.col("member_id").alias("author_id"), pl.col("display_name").alias("author")),
                  on="author_id", how="left")
            .join(platforms.select("platform_id", pl.col("name").alias("platform")), on="platform_id", how="left")
            .with_columns(hours("created_at", instant(now)).alias("age_hours"))
            .sort("created_at", "thread_id")
            .select("thread_id", "title", "platform", "author", "created_at", "age_hours", "url"))


def responders(firsts: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """Who gave the first responses: staff or community, with counts and shares. The first
    responses of bots and of the deleted-user placeholder count in the time to first response but
    are no one's: they are left out here."""
    answered = firsts.filter(pl.col("responder_id").is_not_null()).join(
        members.select(pl.col("member_id").alias("responder_id"), "is_staff", "is_bot"), on="responder_id",
        how="left").filter(~pl.col("is_bot").fill_null(False))
    counts = (answered.group_by(pl.when(pl.col("is_staff")).then(pl.lit("staff"))
                                .otherwise(pl.lit("community")).alias("responder"))
              .agg(pl.len().alias("first_responses")))
    return (pl.DataFrame({"responder": ["staff", "community"]})
            .join(counts, on="responder", how="left", maintain_order="left")
            .with_columns(pl.col("first_responses").fill_null(0).cast(pl.Int64))
            .with_columns((pl.col("first_responses") / pl.col("first_responses").sum()).fill_nan(None)
                          .alias("share")))
