"""Discourse, from its API's JSON pages or a Data Explorer CSV export.

Posts come from `/posts.json` (`latest_posts`), `/t/{id}.json` (`post_stream.posts`) or a Data
Explorer CSV with the columns id (or post_id), topic_id, post_number, user_id, username,
created_at, and optionally topic_title, reply_to_post_number, raw, accepted_answer. Users come from
`/directory_items.json`, `/admin/users/list/all.json` (a list) or a CSV with id, username, name and
created_at. A topic's first post is its thread (`topic-<id>`); a post replying to another post of
the import is a reply to it, any other a reply to the thread; a post marked as the solution
(`accepted_answer`) is an accepted answer and makes its topic a question, as does a title ending
in "?". Authors missing from the users joined at their first post of the import.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from cmcore.ingest.canonical import Part, Rejected, read_csv, read_json
from cmcore.progress import Progress

_POST_FIELDS = ("id", "topic_id", "post_number", "user_id", "username", "created_at", "topic_title",
                "reply_to_post_number", "raw", "accepted_answer")
_USER_FIELDS = ("id", "username", "name", "created_at")


def _json_rows(path: Path) -> tuple[str, list[dict]]:
    doc = read_json(path)
    if isinstance(doc, dict) and "latest_posts" in doc:
        return "posts", doc["latest_posts"]
    if isinstance(doc, dict) and "post_stream" in doc:
        return "posts", [{"topic_title": doc.get("title"), **p} for p in doc["post_stream"].get("posts", [])]
    if isinstance(doc, dict) and "directory_items" in doc:
        return "users", [item["user"] for item in doc["directory_items"]]
    if isinstance(doc, dict) and "users" in doc:
        return "users", doc["users"]
    if isinstance(doc, list):
        return "users", doc
    raise Rejected(path.name, "is not a Discourse export: expected latest_posts, post_stream, users or"
                   " directory_items")


def _frame(rows: list[dict], fields: tuple[str, ...], lines: list[int]) -> pl.DataFrame:
    columns = {f: pl.Series(f, [None if r.get(f) is None else str(r[f]) for r in rows], pl.String) for f in fields}
    return pl.DataFrame({**columns, "_line": pl.Series(lines, dtype=pl.Int64)})


def _read(path: Path) -> tuple[str, pl.DataFrame, str]:
    if path.suffix.lower() == ".csv":
        frame = read_csv(path.name, path.read_bytes()).rename(lambda c: "id" if c == "post_id" else c)
        kind = "posts" if "topic_id" in frame.columns else "users"
        fields = _POST_FIELDS if kind == "posts" else _USER_FIELDS
        missing = [f for f in fields[:6 if kind == "posts" else 4] if f not in frame.columns and f != "name"]
        if missing:
            raise Rejected(path.name, "missing column {column} of a Data Explorer {kind} export",
                           column=repr(missing[0]), kind=kind)
        return kind, frame.select([pl.col(f) if f in frame.columns else pl.lit(None, pl.String).alias(f)
                                   for f in fields] + ["_line"]), "line"
    kind, rows = _json_rows(path)
    fields = _POST_FIELDS if kind == "posts" else _USER_FIELDS
    return kind, _frame(rows, fields, list(range(1, len(rows) + 1))), "item"


def convert(paths: list[Path], platform: str, progress: Progress,
            _workdir: Path) -> list[Part]:
    posts, users = [], []
    for number, path in enumerate(paths):
        progress(number / len(paths), path.name)
        kind, frame, unit = _read(path)
        (posts if kind == "posts" else users).append((path.name, frame, unit))
    if not posts:
        raise Rejected(paths[0].name if paths else "discourse", "holds no posts: add /posts.json pages,"
                       " topic pages or a Data Explorer posts CSV")
    return _parts(platform, posts, users)


def _parts(platform: str, posts: list, users: list) -> list[Part]:
    every = pl.concat([f for _, f, _ in posts]).unique(["id"], keep="first")
    numbers = every.select("topic_id", pl.col("post_number").alias("reply_to_post_number"),
                           pl.col("id").alias("_parent_post"), (pl.col("post_number") == "1").alias("_parent_first"))
    solved = every.filter(pl.col("accepted_answer").str.to_lowercase() == "true")["topic_id"].unique()
    parts, seen = [], set()
    for file, frame, unit in posts:
        first = pl.col("post_number") == "1"
        accepted = pl.col("accepted_answer").str.to_lowercase().fill_null("false") == "true"
        thread_id = "topic-" + pl.col("topic_id")
        out = (frame.join(numbers, on=["topic_id", "reply_to_post_number"], how="left", maintain_order="left")
               .select(pl.lit(platform).alias("platform"),
                       pl.when(first).then(thread_id).otherwise(pl.col("id")).alias("external_id"),
                       pl.coalesce("user_id", "username").alias("author"),
                       pl.when(first).then(pl.lit("thread")).when(accepted).then(pl.lit("answer"))
                       .otherwise(pl.lit("reply")).alias("kind"),
                       pl.when(first).then(None).when(pl.col("_parent_post").is_null() | pl.col("_parent_first"))
                       .then(thread_id).otherwise(pl.col("_parent_post")).alias("parent"),
                       pl.when(first).then(None).otherwise(thread_id).alias("thread"),
                       "created_at", pl.when(first).then(pl.col("topic_title")).alias("title"),
                       pl.col("raw").alias("body"),
                       (first & (pl.col("topic_id").is_in(solved.implode())
                                 | pl.col("topic_title").str.strip_chars().str.ends_with("?").fill_null(False)))
                       .cast(pl.String).alias("is_question"),
                       accepted.cast(pl.String).alias("accepted"), "_line")
               .filter(pl.col("external_id").is_in(list(seen)).not_()))
        seen.update(out["external_id"].to_list())
        if out.height:  # a page already read in full adds nothing
            parts.append(Part("activities", file, out, unit=unit))
    authors = pl.concat([p.frame.select("author", "created_at") for p in parts]).sort("created_at")
    members, seen = [], set()
    for file, frame, unit in users:
        out = frame.select(
            pl.lit(platform).alias("platform"), pl.col("id").alias("external_id"),
            pl.coalesce(pl.col("name").str.strip_chars().replace("", None), "username").alias("display_name"),
            pl.col("username").alias("handle"), pl.col("created_at").alias("joined_at"), "_line").filter(~pl.col("external_id").is_in(list(seen)))
        seen.update(out["external_id"].to_list())
        if out.height:
            members.append(Part("members", file, out, unit=unit))
    listed = pl.concat([p.frame["external_id"] for p in members]) if members else pl.Series([], dtype=pl.String)
    names = every.select(pl.coalesce("user_id", "username").alias("author"), "username").unique("author")
    unlisted = (authors.filter(~pl.col("author").is_in(listed.implode())).group_by("author", maintain_order=True)
                .agg(pl.col("created_at").first()).join(names, on="author", how="left", maintain_order="left"))
    if unlisted.height:
        members.append(Part("members", posts[0][0], unlisted.select(
            pl.lit(platform).alias("platform"), pl.col("author").alias("external_id"),
            pl.coalesce("username", "author").alias("display_name"), pl.col("username").alias("handle"),
            pl.col("created_at").alias("joined_at"), pl.lit(None, pl.Int64).alias("_line")), unit="line"))
    return members + parts
