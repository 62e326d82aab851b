"""Import throughput: files of each format generated with N activities, imported into a fresh
database, timed end to end (reading, validation, COPY, upserts), then imported again (nothing to
change); for the canonical format, the write floor (`write_floor`) beside it; `sync-discourse`: a
connection's sync of N posts from a forum served on this machine (cmcore/bench/sync.py), items/s.
`python -m cmcore bench-imports --activities 1000000`."""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import polars as pl
import psycopg

from cmcore import db, frames, ingest, migrate
from cmcore.access import CLI
from cmcore.bench import sync

START = datetime(2025, 1, 1, tzinfo=UTC)
WORDS = ("merci", "great", "question", "bug", "release", "help", "super", "slow", "thanks", "config")


def _plan(members: int, activities: int, seed: int = 7) -> pl.DataFrame:
    """Activities as (n, author, is_thread, parent n, second): a fifth open threads, the rest reply
    to an earlier thread; times go forward one second at a time."""
    rng = np.random.default_rng(seed)
    n = np.arange(activities)
    thread = (n % 5 == 0)
    earlier_thread = (rng.integers(0, np.maximum(n // 5, 1)) * 5).astype(np.int64)
    return pl.DataFrame({"n": n, "author": rng.integers(0, members, activities), "is_thread": thread,
                         "parent": np.where(thread, -1, earlier_thread), "second": n * 1 + 3600})


def _iso(seconds: pl.Expr) -> pl.Expr:
    return (pl.lit(START) + pl.duration(seconds=seconds)).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_canonical(folder: Path, members: int, activities: int, fmt: str = "csv") -> list[Path]:
    """platforms.csv, members.<fmt> and activities.<fmt> (fmt: csv, jsonl or parquet)."""
    plan = _plan(members, activities)
    (folder / "platforms.csv").write_text("slug,name,kind\nforum,Forum,discourse\n")
    people = pl.DataFrame({"i": np.arange(members)}).select(
        pl.lit("forum").alias("platform"), ("u" + pl.col("i").cast(pl.String)).alias("external_id"),
        ("Member " + pl.col("i").cast(pl.String)).alias("display_name"), _iso(pl.col("i")).alias("joined_at"))
    acts = plan.select(
        pl.lit("forum").alias("platform"), ("a" + pl.col("n").cast(pl.String)).alias("external_id"),
        ("u" + pl.col("author").cast(pl.String)).alias("author"),
        pl.when("is_thread").then(pl.lit("thread")).otherwise(pl.lit("reply")).alias("kind"),
        pl.when("is_thread").then(None).otherwise("a" + pl.col("parent").cast(pl.String)).alias("parent"),
        pl.when("is_thread").then(None).otherwise("a" + pl.col("parent").cast(pl.String)).alias("thread"),
        _iso(pl.col("second")).alias("created_at"),
        pl.when("is_thread").then("Topic " + pl.col("n").cast(pl.String)).alias("title"),
        pl.lit(" ".join(WORDS)).alias("body"))
    paths = [folder / "platforms.csv"]
    for name, frame in (("members", people), ("activities", acts)):
        path = folder / f"{name}.{fmt}"
        {"csv": frame.write_csv, "jsonl": frame.write_ndjson, "parquet": frame.write_parquet}[fmt](path)
        paths.append(path)
    return paths


def write_stackexchange(folder: Path, members: int, activities: int) -> list[Path]:
    """Users.xml, Posts.xml (a fifth questions, the rest answers), Comments.xml, Votes.xml."""
    plan = _plan(members, activities)
    posts = plan.filter(pl.col("is_thread") | (pl.col("n") % 5 < 3))  # 60 % posts, 40 % comments
    comments = plan.filter(~pl.col("is_thread") & (pl.col("n") % 5 >= 3))
    stamp = "%Y-%m-%dT%H:%M:%S.000"

    def write(name: str, tag: str, lines: pl.Series) -> Path:
        path = folder / name
        with path.open("w", encoding="utf-8") as out:
            out.write(f'<?xml version="1.0" encoding="utf-8"?>\n<{tag}>\n')
            out.write("\n".join(lines.to_list()))
            out.write(f"\n</{tag}>\n")
        return path

    users = pl.DataFrame({"i": np.arange(members)}).select(pl.format(
        '  <row Id="{}" CreationDate="{}" DisplayName="Member {}" />', "i",
        (pl.lit(START) + pl.duration(seconds="i")).dt.strftime(stamp), "i")).to_series()
    body = quoteattr(" ".join(WORDS))
    post_lines = posts.select(pl.when("is_thread").then(pl.format(
        f'  <row Id="{{}}" PostTypeId="1" CreationDate="{{}}" OwnerUserId="{{}}" Title="Topic {{}}" Body={body}'
        ' Tags="&lt;help&gt;" />', "n", (pl.lit(START) + pl.duration(seconds="second")).dt.strftime(stamp),
        "author", "n")).otherwise(pl.format(
        f'  <row Id="{{}}" PostTypeId="2" ParentId="{{}}" CreationDate="{{}}" OwnerUserId="{{}}" Body={body} />',
        "n", "parent", (pl.lit(START) + pl.duration(seconds="second")).dt.strftime(stamp), "author"))).to_series()
    comment_lines = comments.select(pl.format(
        f'  <row Id="{{}}" PostId="{{}}" CreationDate="{{}}" UserId="{{}}" Text={body} />', "n", "parent",
        (pl.lit(START) + pl.duration(seconds="second")).dt.strftime(stamp), "author")).to_series()
    vote_lines = posts.filter(pl.col("n") % 2 == 0).select(pl.format(
        '  <row Id="{}" PostId="{}" VoteTypeId="2" CreationDate="2025-01-01T00:00:00.000" />', "n", "n")).to_series()
    return [write("Users.xml", "users", users), write("Posts.xml", "posts", post_lines),
            write("Comments.xml", "comments", comment_lines), write("Votes.xml", "votes", vote_lines)]


def write_discord(folder: Path, members: int, activities: int) -> list[Path]:
    """One DiscordChatExporter channel: threads are messages, replies reference their thread."""
    plan = _plan(members, activities)
    messages = [{"id": str(n), "type": "Default" if thread else "Reply",
                 "timestamp": (START + timedelta(seconds=int(second))).isoformat(), "content": " ".join(WORDS),
                 "author": {"id": str(author), "name": f"member{author}", "nickname": None, "isBot": False},
                 "reactions": [], **({} if thread else {"reference": {"messageId": str(parent)}})}
                for n, author, thread, parent, second in plan.iter_rows()]
    path = folder / "general.json"
    path.write_text(json.dumps({"guild": {"id": "1", "name": "Bench"}, "channel": {"id": "2", "name": "general"},
                                "messages": messages}))
    return [path]


def write_discourse(folder: Path, members: int, activities: int) -> list[Path]:
    """A Data Explorer posts CSV: each thread is a topic's first post, replies follow."""
    plan = _plan(members, activities)
    path = folder / "posts.csv"
    plan.select(pl.col("n").alias("id"), pl.when("is_thread").then("n").otherwise("parent").alias("topic_id"),
                pl.when("is_thread").then(1).otherwise(pl.col("n") + 2).alias("post_number"),
                pl.col("author").alias("user_id"), ("member" + pl.col("author").cast(pl.String)).alias("username"),
                _iso(pl.col("second")).alias("created_at"), pl.lit("Topic").alias("topic_title"),
                pl.lit(" ".join(WORDS)).alias("raw")).write_csv(path)
    return [path]


PAGES = 10_000  # Discourse topic pages, whatever the activities asked


def write_discourse_pages(folder: Path, members: int, pages: int = PAGES, posts: int = 5) -> list[Path]:
    """`pages` topic pages as `/t/{id}.json` returns them (every field of a post, cooked HTML
    included), `posts` posts each: the first opens the topic, the others reply, some to a post."""
    rng = np.random.default_rng(11)
    authors = rng.integers(1, members + 1, pages * posts)
    paths = []
    for topic in range(1, pages + 1):
        at = START + timedelta(minutes=topic)
        stream = []
        for n in range(1, posts + 1):
            author = int(authors[(topic - 1) * posts + n - 1])
            stamp = (at + timedelta(minutes=n)).isoformat().replace("+00:00", ".000Z")
            stream.append({
                "id": topic * 100 + n, "name": f"Member {author}", "username": f"member{author}",
                "avatar_template": f"/user_avatar/forum.example.org/member{author}/{{size}}/{author}_2.png",
                "created_at": stamp, "cooked": f"<p>{' '.join(WORDS)}</p>", "post_number": n, "post_type": 1,
                "updated_at": stamp, "reply_count": 0, "reply_to_post_number": n - 1 if n > 2 and n % 2 else None,
                "quote_count": 0, "incoming_link_count": 0, "reads": 3, "readers_count": 2, "score": 0.4,
                "yours": False, "topic_id": topic, "topic_slug": f"topic-{topic}", "display_username": f"Member {author}",
                "primary_group_name": None, "flair_name": None, "version": 1, "can_edit": False, "can_delete": False,
                "can_recover": False, "can_wiki": False, "read": True, "user_title": None, "bookmarked": False,
                "raw": " ".join(WORDS), "actions_summary": [{"id": 2, "count": n % 3}] if n % 3 else [],
                "moderator": False, "admin": False, "staff": False, "user_id": author, "hidden": False,
                "trust_level": 1, "deleted_at": None, "user_deleted": False, "edit_reason": None,
                "can_view_edit_history": True, "wiki": False, "user_created_at": START.isoformat()})
        path = folder / f"t-{topic}.json"
        path.write_text(json.dumps({
            "post_stream": {"posts": stream, "stream": [p["id"] for p in stream]}, "id": topic,
            "title": f"Topic {topic}", "fancy_title": f"Topic {topic}", "posts_count": posts,
            "created_at": stream[0]["created_at"], "views": 10, "reply_count": posts - 1, "like_count": 0,
            "archetype": "regular", "slug": f"topic-{topic}", "category_id": 1 + topic % 4, "tags": ["help"],
            "user_id": stream[0]["user_id"], "details": {"created_by": {"id": stream[0]["user_id"]}}}))
        paths.append(path)
    return paths


def write_mentions(folder: Path, _members: int, rows: int) -> list[Path]:
    """A social-listening export of `rows` mentions in French and English."""
    rng = np.random.default_rng(3)
    texts = ["Super communauté, merci pour votre aide !", "The new release is broken and support is slow",
             "Meeting at 5pm", "Great help from the forum, thanks"]
    path = folder / "mentions.csv"
    pl.DataFrame({"n": np.arange(rows), "t": rng.integers(0, len(texts), rows)}).select(
        _iso(pl.col("n")).alias("Date"), pl.lit("x").alias("Source"),
        ("https://x.com/s/" + pl.col("n").cast(pl.String)).alias("URL"), pl.lit("@someone").alias("Author"),
        pl.col("t").replace_strict(list(range(len(texts))), texts).alias("Text"), pl.lit(100).alias("Reach"),
    ).write_csv(path)
    return [path]


WRITERS: dict[str, Callable[[Path, int, int], list[Path]]] = {
    "canonical-csv": lambda f, m, a: write_canonical(f, m, a, "csv"),
    "canonical-parquet": lambda f, m, a: write_canonical(f, m, a, "parquet"),
    "canonical-jsonl": lambda f, m, a: write_canonical(f, m, a, "jsonl"),
    "stackexchange": write_stackexchange,
    "discourse": write_discourse,
    "discourse-pages": lambda f, m, _a: write_discourse_pages(f, m),
    "discord": write_discord,
    "mentions": write_mentions,
}


def write_floor() -> float:
    """Seconds PostgreSQL alone needs to write the activities now in the database into the schema,
    as a first import does: the rows, already resolved, inserted from the server's own copy into an
    empty table like `activity`, then its primary key, unique key, indexes and foreign keys built.
    No file is read, nothing is validated or resolved: no import of these rows can be faster. Rolled
    back. As the owner: it creates a table."""
    with psycopg.connect(db.owner_url()) as conn:
        keys = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                            " WHERE conrelid = 'activity'::regclass AND contype IN ('p', 'u', 'f')"
                            " ORDER BY contype DESC").fetchall()  # unique, primary, then foreign
        indexes = conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'activity' AND indexname NOT IN"
                               " (SELECT conname FROM pg_constraint WHERE conrelid = 'activity'::regclass)").fetchall()
        started = time.perf_counter()
        conn.execute("CREATE TABLE floor_activity (LIKE activity INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        conn.execute("INSERT INTO floor_activity SELECT * FROM activity")
        for (definition,) in indexes:
            conn.execute(definition.replace("CREATE INDEX ", "CREATE INDEX floor_").replace(
                " ON public.activity ", " ON floor_activity "))
        for (definition,) in keys:
            conn.execute("ALTER TABLE floor_activity ADD " + definition.replace(
                "REFERENCES activity(", "REFERENCES floor_activity("))
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds


def fresh(name: str) -> None:
    """Database `name`, made anew by the owner, migrated, and used."""
    target = db.urls(name)
    with psycopg.connect(db.owner_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    db.use(*target)
    migrate.apply()
    frames.clear()


def drop(name: str, server: tuple[str, str | None]) -> None:
    """Use `server` (`db.urls()` before `fresh`) again and drop scratch database `name`."""
    db.use(*server)
    with psycopg.connect(db.owner_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(formats: list[str], members: int, activities: int, database: str, say: Callable[[str], None],
        runs: int = 1) -> dict:
    """Per format: rows, the median seconds and rows/s of a first import into an empty database,
    and of the same import again (every row unchanged)."""
    server = db.urls()
    report: dict = {"members": members, "activities": activities, "formats": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="cm-import-bench-") as tmp:
            for fmt in formats:
                if fmt == "sync-discourse":  # a connection's sync: items/s, through a local server
                    times = []
                    for _ in range(runs):
                        db.use(*server)
                        fresh(database)
                        say(f"{fmt}: syncing {activities:,} posts")
                        times.append(sync.run(activities, members, START))
                    report["formats"][fmt] = sorted(times, key=lambda r: r["first_s"])[len(times) // 2]
                    say(f"{fmt}: {report['formats'][fmt]['first_rows_per_s']:,.0f} items/s")
                    continue
                folder = Path(tmp) / fmt
                folder.mkdir()
                say(f"{fmt}: writing {activities:,} rows")
                paths = WRITERS[fmt](folder, members, activities)
                size = sum(p.stat().st_size for p in paths)
                source = fmt.split("-")[0]
                first, again, floor = [], [], []
                for _ in range(runs):
                    db.use(*server)
                    fresh(database)
                    say(f"{fmt}: importing {size / 1e6:,.0f} MB")
                    started = time.perf_counter()
                    result = ingest.run(source, paths, CLI)
                    first.append(time.perf_counter() - started)
                    if source == "canonical":
                        floor.append(write_floor())
                    started = time.perf_counter()
                    ingest.run(source, paths, CLI)
                    again.append(time.perf_counter() - started)
                rows = result.rows
                report["formats"][fmt] = {
                    "rows": rows, "megabytes": size / 1e6, "counts": result.counts,
                    "first_s": statistics.median(first), "first_rows_per_s": rows / statistics.median(first),
                    "again_s": statistics.median(again), "again_rows_per_s": rows / statistics.median(again)}
                if floor:
                    activities_in = result.counts["activities"]["inserted"]
                    report["formats"][fmt] |= {"write_floor_s": statistics.median(floor),
                                               "write_floor_rows_per_s": activities_in / statistics.median(floor)}
                say(f"{fmt}: {rows:,} rows, {rows / statistics.median(first):,.0f} rows/s first,"
                    f" {rows / statistics.median(again):,.0f} rows/s again")
    finally:
        drop(database, server)
    return report


def table(report: dict) -> str:
    lines = ["| format | rows | MB | first import s | rows/s | again s | rows/s | write floor rows/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for fmt, r in report["formats"].items():
        floor = f"{r['write_floor_rows_per_s']:,.0f}" if "write_floor_rows_per_s" in r else ""
        lines.append(f"| {fmt} | {r['rows']:,} | {r['megabytes']:,.0f} | {r['first_s']:.1f} |"
                     f" {r['first_rows_per_s']:,.0f} | {r['again_s']:.1f} | {r['again_rows_per_s']:,.0f} | {floor} |")
    return "\n".join(lines)
