"""Stack Exchange data dump (archive.org/details/stackexchange): Users.xml, Posts.xml, Comments.xml,
Votes.xml, as files or inside the site's .7z. Badges.xml, PostHistory.xml, PostLinks.xml and
Tags.xml are accepted and not read: they have no place in the model (the summary says so).

Questions (PostTypeId 1) become threads (`is_question`), answers (2) answers (`accepted` from the
question's AcceptedAnswerId), comments comments. The other post types — orphaned tag wikis (3), tag
wiki excerpts and bodies (4, 5), moderator nominations (6), wiki placeholders (7), privilege wikis
(8) — are not community talk: they are left out with the comments and votes on them, and an answer
whose question is not in the dump with them; the summary counts each. Votes carry no voter: up-votes
(VoteTypeId 2) and down-votes (3) are counted per post and day (`votes`), up-votes being reactions
the post's author received; the other vote types (accepts, bookmarks, close votes, bounties…) are
counted in the summary only. Without Votes.xml, each post's Score stands in: its up-votes (or
down-votes when negative), on the day of the post. Users become members with their CreationDate;
Id -1 (Community) and any other Id ≤ 0 are bots. Posts and comments whose author left (no
OwnerUserId / UserId, or one not in Users.xml) go to one "(deleted user)" member, not counted as a
member.

Files are streamed with iterparse, one <row> at a time, each cleared once read, and handed on in
chunks of CHUNK rows: memory holds one chunk plus, per post, a few integers (its thread, whether it
was accepted), never the XML tree or the whole dump.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from cmcore.ingest.canonical import CHUNK, Part, Rejected, current, cut, note
from cmcore.progress import Progress

FILES = ("Users.xml", "Posts.xml", "Comments.xml", "Votes.xml")
UNREAD = ("Badges.xml", "PostHistory.xml", "PostLinks.xml", "Tags.xml")
UNKNOWN_USER = "deleted"  # posts whose author left: one member stands for them
_QUESTION, _ANSWER = "1", "2"
_UP_VOTE, _DOWN_VOTE = "2", "3"
NOT_TALK = "posts that are not questions or answers (tag wikis, moderator nominations, wiki placeholders…)"
ORPHAN_ANSWERS = "answers whose question is not in the dump"
LEFT_COMMENTS = "comments on posts left out or not in the dump"
LEFT_VOTES = "votes on posts left out or not in the dump"
OTHER_VOTES = "votes other than up- and down-votes (accepts, bookmarks, close votes, bounties…)"
SCORES = "posts whose Score stands in for their votes (no Votes.xml)"
UNREAD_FILES = "files not read: badges, post history, post links and tags have no place in the model"


def _chunks(path: Path, fields: tuple[str, ...]) -> Iterator[pl.DataFrame]:
    """The `fields` of each <row> under the root, CHUNK rows at a time; Rejected if the XML is
    malformed or nests elements inside a row. Each element is cleared once read."""
    columns: list[list] = [[] for _ in fields]

    def frame() -> pl.DataFrame:
        out = pl.DataFrame(dict(zip(fields, columns, strict=True)), schema={f: pl.String for f in fields})
        for column in columns:
            column.clear()
        return out

    depth, row = 0, None
    try:
        rows = ET.iterparse(path, events=("start", "end"))
        _event, root = next(rows)
        for event, elem in rows:
            if event == "start":
                depth += 1
                if depth == 1:
                    row = elem.get("Id")
                else:
                    raise Rejected(path.name, "holds an element <{tag}> inside a row: a dump's rows hold none", row,
                                   unit="row Id", tag=cut(elem.tag, 40))
                continue
            depth -= 1
            if depth == 0:
                if elem.tag == "row":
                    for column, name in zip(columns, fields, strict=True):
                        column.append(elem.get(name))
                root.clear()  # the row and the whitespace before it: nothing read stays in memory
                if len(columns[0]) == CHUNK:
                    yield frame()
    except ET.ParseError as err:
        line, column = err.position
        raise Rejected(path.name, "is not well-formed XML, or is cut short ({reason}, column {column})", line,
                       reason=err.msg.split(":")[0], column=column) from None
    if columns[0]:
        yield frame()


def _all(path: Path, fields: tuple[str, ...], needed: bool = False) -> pl.DataFrame:
    """Every row's `fields`, read whole (the few columns a first pass needs); a file that `needed`
    must have a <row>."""
    chunks = list(_chunks(path, fields))
    if not chunks and needed:
        raise Rejected(path.name, "holds no <row> element: not a Stack Exchange dump file, or an empty one")
    return pl.concat(chunks) if chunks else pl.DataFrame(schema={f: pl.String for f in fields})


def _unpack(path: Path, workdir: Path) -> dict[str, Path]:
    """The dump files inside a .7z, extracted into `workdir` once their size is known to fit."""
    import py7zr
    try:
        with py7zr.SevenZipFile(path) as archive:
            infos = [i for i in archive.list() if Path(i.filename).name in FILES + UNREAD and not i.is_directory]
            wanted = [i for i in infos if Path(i.filename).name in FILES]
            size, most = sum(i.uncompressed for i in wanted), current().limits.archive_bytes(path.stat().st_size)
            if size > most:
                raise Rejected(path.name, "would expand to {size} bytes, more than the {most} an import accepts"
                               " from this archive (Settings)", size=f"{size:,}", most=f"{most:,}")
            archive.extract(workdir, targets=[i.filename for i in wanted])
    except (py7zr.exceptions.ArchiveError, OSError, EOFError) as err:
        raise Rejected(path.name, "is not a readable 7z archive ({reason})", reason=str(err)) from None
    note(UNREAD_FILES, len(infos) - len(wanted))
    return {Path(i.filename).name: workdir / i.filename for i in wanted}


def _files(paths: list[Path], workdir: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in paths:
        if path.suffix.lower() == ".7z":
            found.update(_unpack(path, workdir))
        elif path.name in FILES:
            found[path.name] = path
        elif path.name in UNREAD:
            note(UNREAD_FILES, 1)
        else:
            raise Rejected(path.name, "is not a Stack Exchange dump file (expected {files}, or the .7z)",
                           files=", ".join(FILES))
    for name in FILES[:2]:
        if name not in found:
            raise Rejected(name, "is missing: a Stack Exchange import needs Users.xml and Posts.xml at least")
    return found


def _day(column: str) -> pl.Expr:
    return pl.col(column).str.slice(0, 10)


def convert(paths: list[Path], platform: str, progress: Progress, workdir: Path) -> list[Part]:
    """A first pass reads what later rows need (which posts are talk, each one's thread, the
    accepted answers, the users, whether an author left); the parts then stream the rows."""
    files = _files(paths, workdir)
    progress(0.0, "Users.xml")
    users = _all(files["Users.xml"], ("Id",), needed=True)["Id"]
    progress(0.2, "Posts.xml")
    every = _all(files["Posts.xml"], ("Id", "PostTypeId", "ParentId", "AcceptedAnswerId", "OwnerUserId",
                                      "CreationDate", "Score"), needed=True)
    questions = every.filter(pl.col("PostTypeId") == _QUESTION)
    answers = every.filter(pl.col("PostTypeId") == _ANSWER)
    kept_answers = answers.filter(pl.col("ParentId").is_in(questions["Id"].implode()))
    note(NOT_TALK, every.height - questions.height - answers.height)
    note(ORPHAN_ANSWERS, answers.height - kept_answers.height)
    accepted = questions["AcceptedAnswerId"].drop_nulls().implode()
    posts = pl.concat([questions.with_columns(pl.col("Id").alias("thread")),
                       kept_answers.with_columns(pl.col("ParentId").alias("thread"))]).select(
        "Id", "thread", pl.col("Id").is_in(accepted).alias("accepted"),
        pl.when(pl.col("OwnerUserId").is_in(users.implode())).then("OwnerUserId").alias("author"),
        "CreationDate", "Score")
    if "Votes.xml" in files:
        progress(0.5, "Votes.xml")
        votes = _votes(files["Votes.xml"], posts["Id"])
    else:
        votes = posts.filter(pl.col("Score").cast(pl.Int64, strict=False).fill_null(0) != 0).select(
            pl.col("Id").alias("activity"), _day("CreationDate").alias("day"),
            pl.col("Score").cast(pl.Int64).clip(lower_bound=0).cast(pl.String).alias("up"),
            (-pl.col("Score").cast(pl.Int64)).clip(lower_bound=0).cast(pl.String).alias("down"),
            pl.col("Id").cast(pl.Int64).alias("_line"))
        note(SCORES, votes.height)
    orphans = posts.filter(pl.col("author").is_null())["CreationDate"]
    if "Comments.xml" in files:
        progress(0.8, "Comments.xml")
        comments = _all(files["Comments.xml"], ("PostId", "UserId", "CreationDate"))
        kept = comments.filter(pl.col("PostId").is_in(posts["Id"].implode()))
        orphans = pl.concat([orphans, kept.filter((~pl.col("UserId").is_in(users.implode())).fill_null(True))
                             ["CreationDate"]])
    threads = posts.select("Id", "thread", "accepted", "author")
    parts = [Part("members", "Users.xml", unit="row Id", chunks=lambda: _members(files, platform, orphans)),
             Part("activities", "Posts.xml", unit="row Id", chunks=lambda: _posts(files, platform, threads))]
    if "Comments.xml" in files:
        parts.append(Part("activities", "Comments.xml", unit="row Id",
                          chunks=lambda: _comments(files, platform, threads.select("Id", "thread"), users)))
    if votes.height:
        parts.append(Part("votes", "Votes.xml" if "Votes.xml" in files else "Posts.xml", unit="row Id",
                          frame=votes.with_columns(pl.lit(platform).alias("platform"))))
    return parts


def _votes(path: Path, posts: pl.Series) -> pl.DataFrame:
    """Up- and down-votes per kept post and day (activity, day, up, down, `_line`: the first vote's
    Id); the votes left out counted by reason."""
    per_day = []
    for chunk in _chunks(path, ("Id", "PostId", "VoteTypeId", "CreationDate")):
        counted = chunk.filter(pl.col("VoteTypeId").is_in((_UP_VOTE, _DOWN_VOTE)))
        note(OTHER_VOTES, chunk.height - counted.height)
        on_talk = counted.filter(pl.col("PostId").is_in(posts.implode()))
        note(LEFT_VOTES, counted.height - on_talk.height)
        per_day.append(on_talk.group_by(pl.col("PostId").alias("activity"), _day("CreationDate").alias("day")).agg(
            (pl.col("VoteTypeId") == _UP_VOTE).sum().alias("up"), (pl.col("VoteTypeId") == _DOWN_VOTE).sum().alias("down"),
            pl.col("Id").cast(pl.Int64, strict=False).min().alias("_line")))
    if not per_day:
        return pl.DataFrame(schema={"activity": pl.String, "day": pl.String, "up": pl.String, "down": pl.String,
                                    "_line": pl.Int64})
    return (pl.concat(per_day).group_by("activity", "day").agg(pl.col("up", "down").sum(), pl.col("_line").min())
            .sort("_line").with_columns(pl.col("up", "down").cast(pl.String)))


def _members(files: dict[str, Path], platform: str, orphans: pl.Series) -> Iterator[pl.DataFrame]:
    for chunk in _chunks(files["Users.xml"], ("Id", "DisplayName", "CreationDate")):
        yield chunk.select(pl.lit(platform).alias("platform"), pl.col("Id").alias("external_id"),
                           pl.col("DisplayName").str.strip_chars().replace("", None).fill_null("user " + pl.col("Id"))
                           .alias("display_name"),
                           pl.col("CreationDate").alias("joined_at"),
                           (pl.col("Id").cast(pl.Int64, strict=False) <= 0).cast(pl.String).alias("is_bot"),
                           pl.col("Id").cast(pl.Int64, strict=False).alias("_line"))
    if orphans.len():
        yield pl.DataFrame({"platform": [platform], "external_id": [UNKNOWN_USER], "display_name": ["(deleted user)"],
                            "joined_at": [orphans.min()], "is_bot": ["true"], "_line": [None]},
                           schema={"platform": pl.String, "external_id": pl.String, "display_name": pl.String,
                                   "joined_at": pl.String, "is_bot": pl.String, "_line": pl.Int64})


def _posts(files: dict[str, Path], platform: str, posts: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """Questions and answers kept by the first pass (`posts`: Id, thread, accepted, author)."""
    fields = ("Id", "PostTypeId", "ParentId", "CreationDate", "Title", "Body", "Tags")
    for chunk in _chunks(files["Posts.xml"], fields):
        question = pl.col("PostTypeId") == _QUESTION
        yield (chunk.join(posts, on="Id", how="inner", maintain_order="left").select(
            pl.lit(platform).alias("platform"), pl.col("Id").alias("external_id"),
            pl.col("author").fill_null(UNKNOWN_USER),
            pl.when(question).then(pl.lit("thread")).otherwise(pl.lit("answer")).alias("kind"),
            pl.when(question).then(None).otherwise(pl.col("ParentId")).alias("parent"),
            pl.when(question).then(None).otherwise(pl.col("thread")).alias("thread"),
            pl.col("CreationDate").alias("created_at"), pl.col("Title").alias("title"), pl.col("Body").alias("body"),
            pl.col("Tags").str.extract_all(r"[^<>|]+").list.join(";").alias("tags"),
            question.cast(pl.String).alias("is_question"), pl.col("accepted").cast(pl.String),
            pl.col("Id").cast(pl.Int64, strict=False).alias("_line")))


def _comments(files: dict[str, Path], platform: str, threads: pl.DataFrame, users: pl.Series) -> Iterator[pl.DataFrame]:
    for chunk in _chunks(files["Comments.xml"], ("Id", "PostId", "UserId", "CreationDate", "Text")):
        kept = chunk.join(threads, left_on="PostId", right_on="Id", how="inner", maintain_order="left")
        note(LEFT_COMMENTS, chunk.height - kept.height)
        yield kept.select(
            pl.lit(platform).alias("platform"), ("c" + pl.col("Id")).alias("external_id"),
            pl.when(pl.col("UserId").is_in(users.implode())).then("UserId").otherwise(pl.lit(UNKNOWN_USER))
            .alias("author"), pl.lit("comment").alias("kind"),
            pl.col("PostId").alias("parent"), "thread",
            pl.col("CreationDate").alias("created_at"), pl.col("Text").alias("body"),
            pl.col("Id").cast(pl.Int64, strict=False).alias("_line"))
