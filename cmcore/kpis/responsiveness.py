"""Responsiveness (KPIS.md, Responsiveness): CHAOSS time to first response."""
from __future__ import annotations

from datetime import datetime

import polars as pl

from cmcore.kpis import between, on_platforms

RESPONSE_KINDS = ("reply", "answer", "comment")


def first_responses(activity: pl.DataFrame, start: datetime, end: datetime,
                    platforms: list[int] | None = None) -> pl.DataFrame:
    """One row per thread created in [start, end): its author, when it was created and the first
    reply/answer/comment by another member (null while unanswered), and the hours in between."""
    acts = activity.lazy()
    threads = (on_platforms(acts, platforms)
               .filter((pl.col("kind") == "thread") & between("created_at", start, end))
               .select(pl.col("id").alias("thread_id"), "platform_id",
                       pl.col("member_id").alias("author_id"), "created_at"))
    responses = (acts.filter(pl.col("kind").is_in(RESPONSE_KINDS))
                 .select("thread_id", pl.col("member_id").alias("responder_id"),
                         pl.col("created_at").alias("responded_at")))
    first = (threads.join(responses, on="thread_id", how="inner")
             .filter(pl.col("responder_id") != pl.col("author_id"))
             .sort("responded_at")
             .group_by("thread_id").agg(pl.col("responded_at", "responder_id").first()))
    return (threads.join(first, on="thread_id", how="left")
            .with_columns(((pl.col("responded_at") - pl.col("created_at")).dt.total_seconds()
                           / 3600).alias("hours"))
            .sort("created_at", "thread_id").collect())


def time_to_first_response_median(activity: pl.DataFrame, start: datetime, end: datetime,
                                  platforms: list[int] | None = None) -> float | None:
    """Median hours from a thread's creation to its first response by someone else, over the
    threads created in [start, end) that have one (None when none has)."""
    return first_responses(activity, start, end, platforms)["hours"].median()
