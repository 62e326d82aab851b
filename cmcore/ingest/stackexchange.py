"""Stack Exchange data dump (archive.org/details/stackexchange): Users.xml, Posts.xml, Comments.xml,
Votes.xml, optionally Badges.xml and PostHistory.xml, as files or inside the site's .7z.

Questions become threads (`is_question`), answers become answers (`accepted` from the question's
AcceptedAnswerId), comments become comments; up-votes carry no voter id, so they are counted on
their post (`anonymous_reactions`), not made into members. Users become members with their
CreationDate. Badges and post history have no place in the model and are not read. Files are read
with iterparse, one element at a time, so memory holds the rows kept, never the XML tree.
"""
from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from cmcore.ingest.canonical import Part, Rejected

FILES = ("Users.xml", "Posts.xml", "Comments.xml", "Votes.xml")
OPTIONAL = ("Badges.xml", "PostHistory.xml")
UNKNOWN_USER = "deleted"  # posts whose author left: one member stands for them
_UP_VOTE = "2"


def _rows(path: Path, fields: tuple[str, ...]) -> Iterator[tuple[str | None, ...]]:
    """The `fields` of each <row> of a dump file, streamed; Rejected if the XML is malformed."""
    try:
        for _event, elem in ET.iterparse(path, events=("end",)):
            if elem.tag == "row":
                yield tuple(elem.get(f) for f in fields)
                elem.clear()
    except ET.ParseError as err:
        line, column = err.position
        raise Rejected(path.name, f"is not well-formed XML, or is cut short ({err.msg.split(':')[0]},"
                       f" column {column})", line) from None


def _frame(path: Path, fields: tuple[str, ...]) -> pl.DataFrame:
    columns: list[list] = [[] for _ in fields]
    for row in _rows(path, fields):
        for column, value in zip(columns, row):
            column.append(value)
    frame = pl.DataFrame(dict(zip(fields, columns)), schema={f: pl.String for f in fields})
    if frame.height == 0 and path.stat().st_size == 0:
        raise Rejected(path.name, "the file is empty (0 bytes)")
    return frame


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
                raise Rejected(path.name, f"is not a readable 7z archive ({err})") from None
            found.update({Path(n).name: workdir / n for n in wanted})
        elif path.name in FILES:
            found[path.name] = path
        elif path.name not in OPTIONAL:
            raise Rejected(path.name, f"is not a Stack Exchange dump file (expected {', '.join(FILES)}, or the .7z)")
    for name in FILES[:2]:
        if name not in found:
            raise Rejected(name, "is missing: a Stack Exchange import needs Users.xml and Posts.xml at least")
    return found


def convert(paths: list[Path], platform: str, progress: Callable[[float, str], None]) -> list[Part]:
    with tempfile.TemporaryDirectory(prefix="cm-se-") as tmp:
        files = _files(paths, Path(tmp))
        progress(0.0, "Users.xml")
        users = _frame(files["Users.xml"], ("Id", "DisplayName", "CreationDate"))
        progress(0.1, "Posts.xml")
        posts = _frame(files["Posts.xml"], ("Id", "PostTypeId", "ParentId", "AcceptedAnswerId", "CreationDate",
                                            "OwnerUserId", "Title", "Body", "Tags"))
        progress(0.5, "Comments.xml")
        comments = (_frame(files["Comments.xml"], ("Id", "PostId", "UserId", "CreationDate", "Text"))
                    if "Comments.xml" in files else None)
        progress(0.7, "Votes.xml")
        votes = (_frame(files["Votes.xml"], ("PostId", "VoteTypeId")) if "Votes.xml" in files else None)
    return _parts(platform, users, posts, comments, votes)


def _parts(platform: str, users: pl.DataFrame, posts: pl.DataFrame, comments: pl.DataFrame | None,
           votes: pl.DataFrame | None) -> list[Part]:
    posts = posts.filter(pl.col("PostTypeId").is_in(["1", "2"]))  # wiki and tag posts are not talk
    ups = (votes.filter(pl.col("VoteTypeId") == _UP_VOTE).group_by("PostId").len("ups")
           if votes is not None else pl.DataFrame(schema={"PostId": pl.String, "ups": pl.UInt32}))
    accepted = posts["AcceptedAnswerId"].drop_nulls()
    question = pl.col("PostTypeId") == "1"
    author = pl.col("OwnerUserId").fill_null(UNKNOWN_USER)
    activities = (posts.join(ups, left_on="Id", right_on="PostId", how="left", maintain_order="left").select(
        pl.lit(platform).alias("platform"), pl.col("Id").alias("external_id"), author.alias("author"),
        pl.when(question).then(pl.lit("thread")).otherwise(pl.lit("answer")).alias("kind"),
        pl.when(question).then(None).otherwise(pl.col("ParentId")).alias("parent"),
        pl.when(question).then(None).otherwise(pl.col("ParentId")).alias("thread"),
        pl.col("CreationDate").alias("created_at"), pl.col("Title").alias("title"), pl.col("Body").alias("body"),
        pl.col("Tags").str.extract_all(r"[^<>|]+").list.join(";").alias("tags"),
        question.cast(pl.String).alias("is_question"),
        pl.col("Id").is_in(accepted.implode()).cast(pl.String).alias("accepted"),
        pl.col("ups").fill_null(0).cast(pl.String).alias("anonymous_reactions"),
        pl.col("Id").cast(pl.Int64).alias("_line")))
    parts = [Part("activities", "Posts.xml", activities, unit="row Id")]
    if comments is not None:
        thread_of = posts.select(pl.col("Id").alias("PostId"),
                                 pl.when(question).then(pl.col("Id")).otherwise(pl.col("ParentId")).alias("thread"))
        parts.append(Part("activities", "Comments.xml", comments.join(
            thread_of, on="PostId", how="left", maintain_order="left").select(
            pl.lit(platform).alias("platform"), ("c" + pl.col("Id")).alias("external_id"),
            pl.col("UserId").fill_null(UNKNOWN_USER).alias("author"), pl.lit("comment").alias("kind"),
            pl.col("PostId").alias("parent"), "thread", pl.col("CreationDate").alias("created_at"),
            pl.col("Text").alias("body"), pl.col("Id").cast(pl.Int64).alias("_line")), unit="row Id"))
    members = users.select(
        pl.lit(platform).alias("platform"), pl.col("Id").alias("external_id"),
        pl.col("DisplayName").fill_null("user " + pl.col("Id")).alias("display_name"),
        pl.col("CreationDate").alias("joined_at"), pl.col("Id").cast(pl.Int64, strict=False).alias("_line"))
    authors = pl.concat([p.frame.select("author", "created_at") for p in parts])
    if (authors["author"] == UNKNOWN_USER).any():
        members = pl.concat([members, pl.DataFrame({
            "platform": [platform], "external_id": [UNKNOWN_USER], "display_name": ["(deleted user)"],
            "joined_at": [authors.filter(pl.col("author") == UNKNOWN_USER)["created_at"].min()], "_line": [None]},
            schema=members.schema)])
    return [Part("members", "Users.xml", members, unit="row Id"), *parts]
