"""Stack Exchange data dump (archive.org/details/stackexchange): Users.xml, Posts.xml, Comments.xml,
Votes.xml, optionally Badges.xml and PostHistory.xml, as files or inside the site's .7z.

Questions become threads (`is_question`), answers become answers (`accepted` from the question's
AcceptedAnswerId), comments become comments; up-votes carry no voter id, so they are counted on
their post (`anonymous_reactions`), not made into members. Users become members with their
CreationDate; posts whose author left go to one "(deleted user)" member. Badges and post history
have no place in the model and are not read.

Files are streamed with iterparse, one element at a time, and handed on in chunks of CHUNK rows:
memory holds one chunk plus, per post, a few integers (its thread, its up-votes), never the XML
tree or the whole dump.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from cmcore.ingest.canonical import CHUNK, Part, Rejected
from cmcore.progress import Progress

FILES = ("Users.xml", "Posts.xml", "Comments.xml", "Votes.xml")
OPTIONAL = ("Badges.xml", "PostHistory.xml")
UNKNOWN_USER = "deleted"  # posts whose author left: one member stands for them
_UP_VOTE = "2"
_TALK = ("1", "2")  # questions and answers; tag wikis and the like are not talk


def _chunks(path: Path, fields: tuple[str, ...]) -> Iterator[pl.DataFrame]:
    """The `fields` of each <row>, CHUNK rows at a time; Rejected if the XML is malformed."""
    columns: list[list] = [[] for _ in fields]

    def frame() -> pl.DataFrame:
        out = pl.DataFrame(dict(zip(fields, columns)), schema={f: pl.String for f in fields})
        for column in columns:
            column.clear()
        return out

    try:
        rows = ET.iterparse(path, events=("start", "end"))
        _event, root = next(rows)
        for event, elem in rows:
            if event == "end" and elem.tag == "row":
                for column, name in zip(columns, fields):
                    column.append(elem.get(name))
                root.clear()  # the root would otherwise keep every (emptied) row element
                if len(columns[0]) == CHUNK:
                    yield frame()
    except ET.ParseError as err:
        line, column = err.position
        raise Rejected(path.name, "is not well-formed XML, or is cut short ({reason}, column {column})", line,
                       reason=err.msg.split(":")[0], column=column) from None
    if columns[0]:
        yield frame()


def _files(paths: list[Path], workdir: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in paths:
        if path.suffix.lower() == ".7z":
            import py7zr
            try:
                with py7zr.SevenZipFile(path) as archive:
                    wanted = [n for n in archive.getnames() if Path(n).name in FILES]
                    archive.extract(workdir, targets=wanted)
            except py7zr.exceptions.ArchiveError as err:
                raise Rejected(path.name, "is not a readable 7z archive ({reason})", reason=str(err)) from None
            found.update({Path(n).name: workdir / n for n in wanted})
        elif path.name in FILES:
            found[path.name] = path
        elif path.name not in OPTIONAL:
            raise Rejected(path.name, "is not a Stack Exchange dump file (expected {files}, or the .7z)",
                           files=", ".join(FILES))
    for name in FILES[:2]:
        if name not in found:
            raise Rejected(name, "is missing: a Stack Exchange import needs Users.xml and Posts.xml at least")
    return found


def convert(paths: list[Path], platform: str, progress: Progress, workdir: Path) -> list[Part]:
    """A first pass reads what later rows need (each post's thread, the accepted answers, the
    up-votes, whether an author left); the parts then stream the rows."""
    files = _files(paths, workdir)
    progress(0.0, "Posts.xml")
    posts = pl.concat([c.filter(pl.col("PostTypeId").is_in(_TALK)).select(
        pl.col("Id").cast(pl.Int64), pl.when(pl.col("PostTypeId") == "1").then(pl.col("Id"))
        .otherwise(pl.col("ParentId")).cast(pl.Int64).alias("thread"),
        pl.col("AcceptedAnswerId").cast(pl.Int64).alias("accepted_answer"),
        pl.when(pl.col("OwnerUserId").is_null()).then(pl.col("CreationDate")).alias("orphan_at"))
        for c in _chunks(files["Posts.xml"], ("Id", "PostTypeId", "ParentId", "AcceptedAnswerId", "OwnerUserId",
                                               "CreationDate"))])
    orphans = posts["orphan_at"].drop_nulls()
    posts = posts.drop("orphan_at")
    progress(0.5, "Votes.xml")
    ups = pl.DataFrame(schema={"Id": pl.Int64, "ups": pl.UInt32})
    if "Votes.xml" in files:
        ups = pl.concat([c.filter(pl.col("VoteTypeId") == _UP_VOTE).group_by(pl.col("PostId").cast(pl.Int64))
                         .len("ups") for c in _chunks(files["Votes.xml"], ("PostId", "VoteTypeId"))]
                        ).group_by(pl.col("PostId").alias("Id")).agg(pl.col("ups").sum())
    if "Comments.xml" in files:
        progress(0.8, "Comments.xml")
        orphans = pl.concat([orphans, *(c.filter(pl.col("UserId").is_null())["CreationDate"]
                                        for c in _chunks(files["Comments.xml"], ("UserId", "CreationDate")))])
    accepted = posts["accepted_answer"].drop_nulls().implode()
    posts = posts.join(ups, on="Id", how="left").select("Id", "thread", pl.col("Id").is_in(accepted).alias("accepted"),
                                                        pl.col("ups").fill_null(0))
    parts = [Part("members", "Users.xml", unit="row Id", chunks=lambda: _members(files, platform, orphans)),
             Part("activities", "Posts.xml", unit="row Id", chunks=lambda: _posts(files, platform, posts))]
    if "Comments.xml" in files:
        parts.append(Part("activities", "Comments.xml", unit="row Id",
                          chunks=lambda: _comments(files, platform, posts.select("Id", "thread"))))
    return parts


def _members(files: dict[str, Path], platform: str, orphans: pl.Series) -> Iterator[pl.DataFrame]:
    for chunk in _chunks(files["Users.xml"], ("Id", "DisplayName", "CreationDate")):
        yield chunk.select(pl.lit(platform).alias("platform"), pl.col("Id").alias("external_id"),
                           pl.col("DisplayName").str.strip_chars().replace("", None).fill_null("user " + pl.col("Id"))
                           .alias("display_name"),
                           pl.col("CreationDate").alias("joined_at"),
                           pl.col("Id").cast(pl.Int64, strict=False).alias("_line"))
    if orphans.len():
        yield pl.DataFrame({"platform": [platform], "external_id": [UNKNOWN_USER], "display_name": ["(deleted user)"],
                            "joined_at": [orphans.min()], "_line": [None]},
                           schema={"platform": pl.String, "external_id": pl.String, "display_name": pl.String,
                                   "joined_at": pl.String, "_line": pl.Int64})


def _posts(files: dict[str, Path], platform: str, posts: pl.DataFrame) -> Iterator[pl.DataFrame]:
    fields = ("Id", "PostTypeId", "ParentId", "CreationDate", "OwnerUserId", "Title", "Body", "Tags")
    for chunk in _chunks(files["Posts.xml"], fields):
        question = pl.col("PostTypeId") == "1"
        yield (chunk.filter(pl.col("PostTypeId").is_in(_TALK)).with_columns(pl.col("Id").cast(pl.Int64, strict=False))
               .join(posts, on="Id", how="left", maintain_order="left").select(
            pl.lit(platform).alias("platform"), pl.col("Id").cast(pl.String).alias("external_id"),
            pl.col("OwnerUserId").fill_null(UNKNOWN_USER).alias("author"),
            pl.when(question).then(pl.lit("thread")).otherwise(pl.lit("answer")).alias("kind"),
            pl.when(question).then(None).otherwise(pl.col("ParentId")).alias("parent"),
            pl.when(question).then(None).otherwise(pl.col("ParentId")).alias("thread"),
            pl.col("CreationDate").alias("created_at"), pl.col("Title").alias("title"), pl.col("Body").alias("body"),
            pl.col("Tags").str.extract_all(r"[^<>|]+").list.join(";").alias("tags"),
            question.cast(pl.String).alias("is_question"), pl.col("accepted").cast(pl.String),
            pl.col("ups").cast(pl.String).alias("anonymous_reactions"), pl.col("Id").alias("_line")))


def _comments(files: dict[str, Path], platform: str, threads: pl.DataFrame) -> Iterator[pl.DataFrame]:
    for chunk in _chunks(files["Comments.xml"], ("Id", "PostId", "UserId", "CreationDate", "Text")):
        yield (chunk.with_columns(pl.col("PostId").cast(pl.Int64, strict=False).alias("_post"))
               .join(threads, left_on="_post", right_on="Id", how="left", maintain_order="left").select(
            pl.lit(platform).alias("platform"), ("c" + pl.col("Id")).alias("external_id"),
            pl.col("UserId").fill_null(UNKNOWN_USER).alias("author"), pl.lit("comment").alias("kind"),
            pl.col("PostId").alias("parent"), pl.col("thread").cast(pl.String),
            pl.col("CreationDate").alias("created_at"), pl.col("Text").alias("body"),
            pl.col("Id").cast(pl.Int64, strict=False).alias("_line")))
