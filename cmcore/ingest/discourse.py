"""Discourse, as an admin exports it: the API's JSON pages, or Data Explorer CSVs.

Each file is recognised by its shape:
- posts: `/posts.json` (`latest_posts`), `/t/{id}.json` and `/t/{id}/posts.json` (`post_stream.posts`,
  with the topic's title, category and tags), or a Data Explorer CSV with the columns id (or
  post_id), topic_id, post_number, user_id, username, created_at, and optionally topic_title,
  reply_to_post_number, raw, accepted_answer, post_type, user_created_at, like_count, category;
- topics: topic lists (`/latest.json`, `/top.json`, a category's `/c/{slug}/{id}.json`:
  `topic_list.topics`), for each topic's title, category, tags and first poster;
- users: `/directory_items.json`, `/admin/users/list/{flag}.json` (a list), `/u/{username}.json`,
  or a Data Explorer CSV with id (or user_id), username, name, created_at;
- categories: `/categories.json` (`category_list.categories`) or `/site.json`, for their names;
- files that carry nothing to import (`/tags.json`, a list of tags, `/about.json`…) are accepted
  and counted in the summary as ignored; any other file is refused.

A topic's first post is its thread (`topic-<id>`), tagged with the topic's tags and its category's
name (`category-<id>` when no categories file names it); a question when it is solved or its title
ends with "?"; a post's body is its raw text, else its cooked HTML. Only regular posts (post_type 1)
are replies: small actions (pinned, closed…),
moderator actions and whispers are left out, as are deleted posts and private messages, each
counted in the summary. A post replying to another post of the topic is a reply to it, any other
a reply to the thread; the solution (`accepted_answer`) is an accepted answer. A topic whose first
post is not among the files gets its thread from its topic page or topic list when one describes
it; its posts are left out otherwise (counted). Likes (`actions_summary` id 2, or `like_count`)
are anonymous reactions the post's author received, on the post's day. Members are the users and
the authors, joined at their account's creation (`created_at` of a users file, else the posts'
`user_created_at`), else at their first post; negative ids (system, discobot) and the names
system and discobot are bots; admins and moderators are staff. Posts whose author was deleted go to
one "(deleted user)" member (a placeholder: not counted as a member).
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from cmcore.ingest.canonical import Part, Rejected, note, read_csv, read_json
from cmcore.progress import Progress

BOT_NAMES = ("system", "discobot")
UNKNOWN_USER = "deleted"  # posts whose author was deleted (no user_id, no username): one member stands for them
_LIKE = 2  # PostActionType like
MODERATOR_ACTIONS = "moderator actions (post type 2)"
SMALL_ACTIONS = "small actions: pinned, closed… (post type 3)"
WHISPERS = "whispers (post type 4)"
IGNORED = "files with nothing to import (tag lists, site settings…)"
DELETED = "deleted posts"
PRIVATE = "private messages"
REPEATED = "posts found in more than one file (counted once)"
NO_TOPIC = "posts whose topic is not in the files (add its /t/{id}.json page)"
UNDATED = "users with no date of joining and no post (a users file without created_at)"
_POST_FIELDS = ("id", "topic_id", "post_number", "user_id", "username", "name", "created_at", "topic_title",
                "reply_to_post_number", "raw", "cooked", "accepted_answer", "post_type", "user_created_at", "likes",
                "staff", "deleted_at", "category_id", "category_name", "archetype")
_USER_FIELDS = ("id", "username", "name", "created_at", "staff")
_TOPIC_FIELDS = ("topic_id", "title", "created_at", "user_id", "category_id", "tags", "archetype", "solved")


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _frame(rows: list[dict], fields: tuple[str, ...]) -> pl.DataFrame:
    """Rows gathered from JSON files (with their `_file` and `_line`) as text columns: one frame for
    all the files (a frame per file would cost more than reading them)."""
    columns = {f: pl.Series(f, [_text(r.get(f)) for r in rows], pl.String) for f in fields}
    return pl.DataFrame({**columns, "_file": pl.Series([r["_file"] for r in rows], dtype=pl.String),
                         "_line": pl.Series([r["_line"] for r in rows], dtype=pl.Int64)})


def _located(rows: list[dict], file: str) -> list[dict]:
    """`rows` of `file`, each with its file and its place in the file's list."""
    return [{**row, "_file": file, "_line": line} for line, row in enumerate(rows, start=1)]


def _tags(tags: object) -> str | None:
    """Discourse tags as the canonical list: names, or objects with a name (newer versions)."""
    if not isinstance(tags, list):
        return None
    names = [t.get("name") if isinstance(t, dict) else t for t in tags]
    return ";".join(n for n in names if isinstance(n, str) and n) or None


def _likes(post: dict) -> object:
    if "like_count" in post:
        return post["like_count"]
    return next((a.get("count") for a in post.get("actions_summary") or [] if isinstance(a, dict)
                 and a.get("id") == _LIKE), None)


def _post(post: dict, topic: dict) -> dict:
    return {**topic, **post, "likes": _likes(post),
            "staff": post.get("staff") or post.get("admin") or post.get("moderator"),
            "topic_title": post.get("topic_title") or topic.get("topic_title")}


def _user(user: dict) -> dict:
    return {**user, "staff": user.get("staff") or user.get("admin") or user.get("moderator")}


def _dicts(items: object, name: str, what: str) -> list[dict]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Rejected(name, "is not a Discourse export: its {what} are not a list of objects", what=what)
    return items


class _Files:
    """What the files hold, gathered by kind: rows of posts, topics and users (frames of CSV files,
    row dicts of JSON files); category names."""

    def __init__(self) -> None:
        self.frames: dict[str, list[pl.DataFrame]] = {"posts": [], "users": []}
        self.rows: dict[str, list[dict]] = {"posts": [], "topics": [], "users": []}
        self.categories: dict[str, str] = {}

    def table(self, kind: str) -> pl.DataFrame | None:
        """Every row of `kind` (posts, topics, users), or None when no file has one."""
        fields = {"posts": _POST_FIELDS, "topics": _TOPIC_FIELDS, "users": _USER_FIELDS}[kind]
        frames = self.frames.get(kind, []) + ([_frame(self.rows[kind], fields)] if self.rows[kind] else [])
        return pl.concat(frames) if frames else None

    def read(self, path: Path) -> None:
        if path.suffix.lower() == ".csv":
            self._csv(path)
        else:
            self._json(path.name, read_json(path))

    def _csv(self, path: Path) -> None:
        frame = read_csv(path.name, path.read_bytes())
        frame = frame.rename({c: c.strip().lower() for c in frame.columns})
        kind, fields = ("posts", _POST_FIELDS) if "topic_id" in frame.columns else ("users", _USER_FIELDS)
        own_id = "post_id" if kind == "posts" else "user_id"
        if "id" not in frame.columns and own_id in frame.columns:
            frame = frame.rename({own_id: "id"})
        frame = frame.rename({"like_count": "likes", "category": "category_name"}, strict=False)
        needed = ("id", "topic_id", "post_number", "username", "created_at") if kind == "posts" else (
            "id", "username", "created_at")
        if missing := [f for f in needed if f not in frame.columns]:
            raise Rejected(path.name, "missing column {column} of a Data Explorer {kind} export",
                           column=repr(missing[0]), kind=kind)
        if kind == "users" and "staff" not in frame.columns:
            staff = [c for c in ("admin", "moderator") if c in frame.columns]
            frame = frame.with_columns(pl.any_horizontal(pl.col(c).str.to_lowercase().is_in(("true", "t", "1"))
                                                         for c in staff).cast(pl.String).alias("staff")
                                       if staff else pl.lit(None, pl.String).alias("staff"))
        out = frame.select([pl.col(f) if f in frame.columns else pl.lit(None, pl.String).alias(f) for f in fields]
                           + [pl.lit(path.name).alias("_file"), "_line"])
        self.frames[kind].append(out)

    def _json(self, name: str, doc: object) -> None:
        if isinstance(doc, list) and all(isinstance(i, str) for i in doc):
            note(IGNORED, 1)  # a list of tags
        elif isinstance(doc, list) and all(isinstance(i, dict) and "post_number" in i for i in doc):
            self.rows["posts"] += _located([_post(p, {}) for p in doc], name)
        elif isinstance(doc, list):
            self.rows["users"] += _located([_user(u) for u in _dicts(doc, name, "items")], name)
        elif not isinstance(doc, dict):
            raise Rejected(name, "is not a Discourse export: a JSON object or list was expected")
        elif "latest_posts" in doc:
            self.rows["posts"] += _located([_post(p, {}) for p in _dicts(doc["latest_posts"], name, "posts")], name)
        elif "post_stream" in doc:
            topic = {"topic_id": doc.get("id"), "topic_title": doc.get("title"), "category_id": doc.get("category_id"),
                     "archetype": doc.get("archetype")}
            posts = _dicts((doc["post_stream"] or {}).get("posts"), name, "posts")
            self.rows["posts"] += _located([_post(p, topic) for p in posts], name)
            if doc.get("created_at"):
                creator = ((doc.get("details") or {}).get("created_by") or {}).get("id", doc.get("user_id"))
                self.rows["topics"] += _located([{
                    "topic_id": doc.get("id"), "title": doc.get("title"), "created_at": doc["created_at"],
                    "user_id": creator, "category_id": doc.get("category_id"), "tags": _tags(doc.get("tags")),
                    "archetype": doc.get("archetype"), "solved": doc.get("accepted_answer") is not None or None}], name)
        elif "topic_list" in doc:
            topics = _dicts((doc["topic_list"] or {}).get("topics"), name, "topics")
            self.rows["topics"] += _located([{
                "topic_id": t.get("id"), "title": t.get("title"), "created_at": t.get("created_at"),
                "user_id": next((p.get("user_id") for p in t.get("posters") or []
                                 if "Original Poster" in (p.get("description") or "")), None),
                "category_id": t.get("category_id"), "tags": _tags(t.get("tags")), "archetype": t.get("archetype"),
                "solved": t.get("has_accepted_answer")} for t in topics], name)
        elif "directory_items" in doc:
            items = _dicts(doc["directory_items"], name, "directory items")
            self.rows["users"] += _located([_user(i.get("user") or {}) for i in items], name)
        elif isinstance(doc.get("user"), dict):
            self.rows["users"] += _located([_user(doc["user"])], name)
        elif "users" in doc and isinstance(doc["users"], list):
            self.rows["users"] += _located([_user(u) for u in _dicts(doc["users"], name, "users")], name)
        elif isinstance((doc.get("category_list") or {}).get("categories"), list) or isinstance(
                doc.get("categories"), list):
            listed = _dicts((doc.get("category_list") or doc)["categories"], name, "categories")
            self.categories.update({str(c["id"]): str(c["name"]) for c in listed if "id" in c and c.get("name")})
        elif {"tags", "about", "extras"} & set(doc):
            note(IGNORED, 1)
        else:
            raise Rejected(name, "is not a Discourse export we know: expected posts (latest_posts, post_stream),"
                           " topics (topic_list), users (directory_items, user, users) or categories")


def convert(paths: list[Path], platform: str, progress: Progress, _workdir: Path) -> list[Part]:
    files = _Files()
    for number, path in enumerate(paths):
        progress(number / len(paths), path.name)
        files.read(path)
    posts = files.table("posts")
    if posts is None or posts.is_empty():
        raise Rejected(paths[0].name if paths else "discourse", "holds no posts: add /posts.json pages,"
                       " topic pages or a Data Explorer posts CSV")
    return _parts(platform, files, posts)


def _kept_posts(posts: pl.DataFrame, topics: pl.DataFrame) -> pl.DataFrame:
    """The posts that are community talk, each once; the others counted by reason."""
    every = posts.height
    posts = posts.unique("id", keep="first", maintain_order=True)
    note(REPEATED, every - posts.height)
    posts = posts.join(topics.select("topic_id", pl.col("archetype").alias("_archetype")), on="topic_id", how="left")
    note(MODERATOR_ACTIONS, (posts["post_type"] == "2").sum())
    note(SMALL_ACTIONS, (posts["post_type"] == "3").sum())
    note(WHISPERS, (posts["post_type"] == "4").sum())
    posts = posts.filter(pl.col("post_type").is_null() | (pl.col("post_type") == "1"))
    private = pl.coalesce("archetype", "_archetype") == "private_message"
    note(PRIVATE, posts.filter(private).height)
    note(DELETED, posts.filter(~private.fill_null(False) & pl.col("deleted_at").is_not_null()).height)
    return posts.filter(~private.fill_null(False) & pl.col("deleted_at").is_null()).drop("_archetype")


def _parts(platform: str, files: _Files, posts: pl.DataFrame) -> list[Part]:
    posts = posts.with_columns(pl.coalesce("user_id", "username", pl.lit(UNKNOWN_USER)).alias("user_id"))
    topics = files.table("topics")
    topics = (topics.unique("topic_id", keep="first", maintain_order=True) if topics is not None
              else pl.DataFrame(schema={**{f: pl.String for f in _TOPIC_FIELDS}, "_file": pl.String, "_line": pl.Int64}))
    posts = _kept_posts(posts, topics)
    first = pl.col("post_number") == "1"
    # a topic whose first post is missing gets its thread from its topic page or list
    described = topics.filter(pl.col("created_at").is_not_null() & pl.col("user_id").is_not_null()
                              & ~pl.col("topic_id").is_in(posts.filter(first)["topic_id"].implode())
                              & pl.col("topic_id").is_in(posts["topic_id"].implode())
                              & (pl.col("archetype").fill_null("") != "private_message"))
    posts = pl.concat([posts, described.select(
        pl.lit(None, pl.String).alias("id"), "topic_id", pl.lit("1").alias("post_number"), "user_id",
        pl.col("title").alias("topic_title"), "created_at", "_file", "_line")], how="diagonal")
    threads = posts.filter(first)["topic_id"]
    note(NO_TOPIC, posts.filter(~pl.col("topic_id").is_in(threads.implode())).height)
    posts = posts.filter(pl.col("topic_id").is_in(threads.implode()))
    numbers = posts.filter(~first).select("topic_id", pl.col("post_number").alias("reply_to_post_number"),
                                          pl.col("id").alias("_parent_post"))
    solved = pl.concat([posts.filter(pl.col("accepted_answer").str.to_lowercase() == "true")["topic_id"],
                        topics.filter(pl.col("solved") == "true")["topic_id"]]).implode()
    info = topics.select("topic_id", pl.col("title").alias("_title"), pl.col("category_id").alias("_category"),
                         pl.col("tags").alias("_tags"))
    named = pl.DataFrame({"_category_id": list(files.categories), "_category_name": list(files.categories.values())},
                         schema={"_category_id": pl.String, "_category_name": pl.String})
    accepted = pl.col("accepted_answer").str.to_lowercase().fill_null("false") == "true"
    thread_id = "topic-" + pl.col("topic_id")
    title = pl.coalesce("topic_title", "_title")
    category = pl.coalesce("category_id", "_category")
    activities = (posts.join(numbers, on=["topic_id", "reply_to_post_number"], how="left", maintain_order="left")
                  .join(info, on="topic_id", how="left", maintain_order="left")
                  .join(named, left_on=category, right_on="_category_id", how="left", maintain_order="left")
                  .select(
        pl.lit(platform).alias("platform"),
        pl.when(first).then(thread_id).otherwise(pl.col("id")).alias("external_id"),
        pl.col("user_id").alias("author"),
        pl.when(first).then(pl.lit("thread")).when(accepted).then(pl.lit("answer")).otherwise(pl.lit("reply"))
        .alias("kind"),
        pl.when(first).then(None).otherwise(pl.coalesce("_parent_post", thread_id)).alias("parent"),
        pl.when(first).then(None).otherwise(thread_id).alias("thread"),
        "created_at", pl.when(first).then(title).alias("title"), pl.coalesce("raw", "cooked").alias("body"),
        pl.when(first).then(pl.concat_str(pl.col("_tags"), pl.coalesce(
            "_category_name", "category_name", "category-" + category), separator=";", ignore_nulls=True)).alias("tags"),
        (first & (pl.col("topic_id").is_in(solved) | title.str.strip_chars().str.ends_with("?").fill_null(False)))
        .cast(pl.String).alias("is_question"),
        accepted.cast(pl.String).alias("accepted"), pl.col("likes").alias("anonymous_reactions"), "_file", "_line"))
    return [Part(table, name, frame.filter(pl.col("_file").str.to_lowercase().str.ends_with(".csv") == csv),
                 unit="line" if csv else "item")
            for table, name, frame in (("members", "users", _members(platform, posts, files.table("users"))),
                                       ("activities", "posts", activities))
            for csv in (False, True)
            if frame.filter(pl.col("_file").str.to_lowercase().str.ends_with(".csv") == csv).height]


def _members(platform: str, posts: pl.DataFrame, users: pl.DataFrame | None) -> pl.DataFrame:
    """The users of the users files, then the authors they do not list, each once: joined at their
    account's creation, else at their first post; bots by id or name; staff by flag."""
    authors = (posts.with_columns(pl.col("user_id").alias("id"))
               .sort("created_at").group_by("id", maintain_order=True)
               .agg(pl.col("username", "name").drop_nulls().first(), pl.col("user_created_at").drop_nulls().first(),
                    pl.col("created_at").first().alias("_first"), (pl.col("staff") == "true").any().alias("_staff"),
                    pl.col("_file", "_line").first()))
    listed = (users.unique("id", keep="first", maintain_order=True) if users is not None
              else pl.DataFrame(schema={**{f: pl.String for f in _USER_FIELDS}, "_file": pl.String, "_line": pl.Int64}))
    everyone = pl.concat([
        listed.join(authors.select("id", "user_created_at", "_first", "_staff"), on="id", how="left"),
        authors.filter(~pl.col("id").is_in(listed["id"].implode())).with_columns(pl.lit(None, pl.String).alias("staff"))
    ], how="diagonal")
    name = pl.col("name").str.strip_chars().replace("", None)
    joined = pl.coalesce("created_at", "user_created_at", "_first")
    note(UNDATED, everyone.filter(joined.is_null()).height)
    return everyone.filter(joined.is_not_null()).select(
        pl.lit(platform).alias("platform"), pl.col("id").alias("external_id"),
        pl.when(pl.col("id") == UNKNOWN_USER).then(pl.lit("(deleted user)")).otherwise(pl.coalesce(name, "username", "id"))
        .alias("display_name"), pl.col("username").alias("handle"),
        joined.alias("joined_at"),
        ((pl.col("staff") == "true") | pl.col("_staff")).fill_null(False).cast(pl.String).alias("is_staff"),
        ((pl.col("id").cast(pl.Int64, strict=False) < 0) | pl.col("username").is_in(BOT_NAMES)
         | (pl.col("id") == UNKNOWN_USER)).fill_null(False).cast(pl.String).alias("is_bot"), "_file", "_line")
