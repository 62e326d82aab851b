"""Content and events (KPIS.md): what brings engagement, and what events change."""
from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from cmcore.kpis import between, instant, on_platforms, share

ENGAGEMENT_WINDOW = timedelta(days=7)
LIFT_WINDOW = timedelta(days=30)


def thread_engagement(activity: pl.DataFrame, threads: pl.DataFrame, members: pl.DataFrame,
                      start: datetime, end: datetime, tz: str,
                      platforms: list[int] | None = None, votes: pl.DataFrame | None = None) -> pl.DataFrame:
    """Engagement per thread created in [start, end): replies, comments, answers and reactions
    received from other members within 7 days of creation, and the anonymous up-votes (`votes`:
    activity_id, day, up) its activities received on the days in that window; with its tags,
    platform, author type (staff/member) and local weekday (1 = Monday) and hour of creation."""
    acts = activity.lazy()
    made = (on_platforms(acts, platforms).filter((pl.col("kind") == "thread") & between("created_at", start, end))
            .select(pl.col("id").alias("thread_id"), "platform_id", pl.col("member_id").alias("author_id"),
                    "created_at"))
    within = pl.col("at") < pl.col("created_at") + ENGAGEMENT_WINDOW
    written = (acts.filter(pl.col("thread_id").is_not_null())
               .select("thread_id", "member_id", pl.col("created_at").alias("at"))
               .join(made, on="thread_id")
               .filter((pl.col("member_id") != pl.col("author_id")) & within)
               .select("thread_id", pl.lit(1, pl.Int64).alias("n")))
    received = written
    if votes is not None and votes.height:
        in_thread = acts.select("id", pl.coalesce("thread_id", "id").alias("thread_id"))
        voted = (votes.lazy().join(in_thread, left_on="activity_id", right_on="id")
                 .join(made, on="thread_id")
                 .filter(pl.col("day").cast(pl.Datetime("us", "UTC")) < pl.col("created_at") + ENGAGEMENT_WINDOW)
                 .select("thread_id", pl.col("up").cast(pl.Int64).alias("n")))
        received = pl.concat([written, voted])
    received = received.group_by("thread_id").agg(pl.col("n").sum().alias("engagement"))
    local = pl.col("created_at").dt.convert_time_zone(tz)
    return (made.join(received, on="thread_id", how="left")
            .join(threads.lazy().select("thread_id", "tags"), on="thread_id", how="left")
            .join(members.lazy().select(pl.col("member_id").alias("author_id"), "is_staff"), on="author_id",
                  how="left")
            .with_columns(pl.col("engagement").fill_null(0).cast(pl.Int64),
                          pl.when(pl.col("is_staff")).then(pl.lit("staff")).otherwise(pl.lit("member"))
                          .alias("author_type"),
                          local.dt.weekday().alias("weekday"), local.dt.hour().alias("hour"))
            .drop("is_staff").sort("created_at", "thread_id").collect())


def anonymous_platforms(votes: pl.DataFrame, activity: pl.DataFrame, platforms: pl.DataFrame,
                        chosen: list[int] | None = None) -> pl.DataFrame:
    """The platforms (of `chosen`, all when None) whose activities received anonymous up-votes or
    likes (`votes`): their reactions come without givers. Column `platform`, by name."""
    if votes.is_empty():
        return pl.DataFrame(schema={"platform": pl.String})
    voted = activity.lazy().filter(pl.col("id").is_in(votes["activity_id"].unique().implode())).select("platform_id")
    ids = on_platforms(voted, chosen).unique().collect()["platform_id"]
    return (platforms.filter(pl.col("platform_id").is_in(ids.implode())).select(pl.col("name").alias("platform"))
            .sort("platform"))


def engagement_by(engagement: pl.DataFrame, by: str) -> pl.DataFrame:
    """Threads and mean engagement per thread, per `by` (tag, platform_id, author_type, …);
    a thread with several tags counts under each, an untagged one under a null tag."""
    frame = (engagement.explode("tags", empty_as_null=True).rename({"tags": "tag"}) if by == "tag"
             else engagement)
    return (frame.group_by(by).agg(pl.len().alias("threads"), pl.col("engagement").mean().alias("mean_engagement"))
            .sort(["mean_engagement", by], descending=[True, False], nulls_last=True))


def hour_of_week(engagement: pl.DataFrame) -> pl.DataFrame:
    """Mean engagement per local weekday × hour (the best time to post), with thread counts."""
    return (engagement.group_by("weekday", "hour")
            .agg(pl.len().alias("threads"), pl.col("engagement").mean().alias("mean_engagement"))
            .sort("weekday", "hour"))


def attendance(events: pl.DataFrame, registrations: pl.DataFrame, start: datetime,
               end: datetime) -> pl.DataFrame:
    """Per event starting in [start, end): registered, attended, attendance rate = attended /
    registered."""
    counts = registrations.group_by("event_id").agg(pl.len().alias("registered"),
                                                   pl.col("attended").sum().cast(pl.Int64).alias("attended"))
    return (events.filter(between("starts_at", start, end)).join(counts, on="event_id", how="left")
            .with_columns(pl.col("registered", "attended").fill_null(0).cast(pl.Int64))
            .with_columns((pl.col("attended") / pl.col("registered")).fill_nan(None).alias("attendance_rate"))
            .sort("starts_at", "event_id"))


def overall_attendance_rate(per_event: pl.DataFrame) -> float | None:
    return share(int(per_event["attended"].sum()), int(per_event["registered"].sum()))


def event_lift(activity: pl.DataFrame, event: dict, registrations: pl.DataFrame) -> dict:
    """Event lift for one event: mean activities per attendee in the 30 days after it minus the 30
    days before, against the same for comparable non-attendees (members active in the 30 days
    before who did not attend). None where a group is empty."""
    at = event["starts_at"]
    went = registrations.filter((pl.col("event_id") == event["event_id"]) & pl.col("attended"))["member_id"]
    window = activity.lazy().filter(between("created_at", at - LIFT_WINDOW, at + LIFT_WINDOW))
    per_member = (window.group_by("member_id")
                  .agg((pl.col("created_at") < at).sum().cast(pl.Int64).alias("before"),
                       (pl.col("created_at") >= at).sum().cast(pl.Int64).alias("after")).collect())
    attendees = pl.DataFrame({"member_id": went}).join(per_member, on="member_id", how="left").fill_null(0)
    control = per_member.filter((pl.col("before") > 0) & ~pl.col("member_id").is_in(went.implode()))

    def change(group: pl.DataFrame) -> float | None:
        return (group["after"] - group["before"]).mean() if group.height else None

    a, c = change(attendees), change(control)
    return {"event_id": event["event_id"], "attendees": attendees.height, "comparable": control.height,
            "attendee_change": a, "comparable_change": c,
            "lift": None if a is None or c is None else a - c}


def event_lifts(activity: pl.DataFrame, per_event: pl.DataFrame, registrations: pl.DataFrame,
                now: datetime) -> pl.DataFrame:
    """Event lift for each event whose 30 days after are over by `now`."""
    done = per_event.filter(pl.col("starts_at") + LIFT_WINDOW <= instant(now))
    rows = [event_lift(activity, e, registrations) for e in done.iter_rows(named=True)]
    schema = {"event_id": pl.Int64, "attendees": pl.Int64, "comparable": pl.Int64,
              "attendee_change": pl.Float64, "comparable_change": pl.Float64, "lift": pl.Float64}
    return done.select("event_id", "title").join(pl.DataFrame(rows, schema=schema), on="event_id",
                                                  maintain_order="left")
