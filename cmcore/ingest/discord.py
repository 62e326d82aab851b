"""Discord, from the JSON that DiscordChatExporter writes (one file per channel or thread).

A message that replies to another message of the import is a reply to it; any other message
opens a thread (a question when it asks one: it contains "?"). Reactions whose users the export
lists become reactions of those members; the rest are anonymous reactions received on the
message's day. Members are the authors and reacting users (bots, `isBot`, marked so: they are not
counted as members, their messages are still content); a member joined at their join message, or
else at their first message or reaction in the import. System messages (pins, calls…) are not talk.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from cmcore.ingest.canonical import Part, Rejected, read_json, to_datetime
from cmcore.progress import Progress

_TALK = ("Default", "Reply", "ThreadStarterMessage")
_JOIN = "GuildMemberJoin"


def _load(path: Path) -> dict:
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        raise Rejected(path.name, "is not a DiscordChatExporter JSON export (no \"messages\" list)")
    return doc


def convert(paths: list[Path], platform: str, progress: Progress,
            _workdir: Path) -> list[Part]:
    messages, reactions, people = [], [], []
    for number, path in enumerate(paths):
        progress(number / len(paths), path.name)
        for index, msg in enumerate(_load(path)["messages"], start=1):
            try:
                author, kind, at = msg["author"], msg.get("type", "Default"), msg["timestamp"]
                people.append((author["id"], author.get("nickname") or author["name"], author["name"],
                               bool(author.get("isBot")), at, path.name, index))
                if kind not in _TALK:
                    continue
                parent = (msg.get("reference") or {}).get("messageId")
                counted = 0
                for reaction in msg.get("reactions") or []:
                    emoji = reaction["emoji"].get("id") or reaction["emoji"]["name"]
                    users = reaction.get("users") or []
                    for user in users:
                        people.append((user["id"], user.get("nickname") or user["name"], user["name"],
                                       bool(user.get("isBot")), at, path.name, index))
                        reactions.append((f"{msg['id']}/{emoji}/{user['id']}", user["id"], msg["id"], at, index,
                                          path.name))
                    counted += max(0, int(reaction.get("count", 0)) - len(reaction.get("users") or []))
                messages.append((msg["id"], author["id"], parent, at, msg.get("content") or None, counted, index,
                                 path.name))
            except (KeyError, TypeError, AttributeError) as err:
                raise Rejected(path.name, "lacks {what}: not a DiscordChatExporter message", index,
                               unit="message", what=str(err)) from None
    if not messages and not people:
        raise Rejected(paths[0].name if paths else "discord", "holds no messages")
    return _parts(platform, messages, reactions, people)


def _parts(platform: str, messages: list, reactions: list, people: list) -> list[Part]:
    msgs = pl.DataFrame(messages, orient="row", schema={
        "external_id": pl.String, "author": pl.String, "reference": pl.String, "created_at": pl.String,
        "body": pl.String, "anonymous_reactions": pl.Int64, "_line": pl.Int64, "_file": pl.String})
    replying = pl.col("reference").is_in(msgs["external_id"].implode()).fill_null(False)
    msgs = msgs.with_columns(
        pl.lit(platform).alias("platform"),
        pl.when(replying).then(pl.lit("reply")).otherwise(pl.lit("thread")).alias("kind"),
        pl.when(replying).then(pl.col("reference")).alias("parent"),
        (~replying & pl.col("body").str.contains("?", literal=True).fill_null(False)).alias("is_question"),
    ).drop("reference")
    reacts = pl.DataFrame(reactions, orient="row", schema={
        "external_id": pl.String, "author": pl.String, "parent": pl.String, "created_at": pl.String,
        "_line": pl.Int64, "_file": pl.String}).with_columns(pl.lit(platform).alias("platform"),
                                                            pl.lit("reaction").alias("kind"))
    who = pl.DataFrame(people, orient="row", schema={
        "external_id": pl.String, "display_name": pl.String, "handle": pl.String, "is_bot": pl.Boolean,
        "joined_at": pl.String, "_file": pl.String, "_line": pl.Int64})
    members = (who.with_columns(to_datetime(who["joined_at"]).alias("_at"))
               .sort("_at").group_by("external_id", maintain_order=True)
               .agg(pl.col("display_name").last(), pl.col("handle").last(), pl.col("is_bot").any().cast(pl.String),
                    pl.col("joined_at").first(), pl.col("_file").first(), pl.col("_line").first())
               .with_columns(pl.lit(platform).alias("platform")))
    parts = [Part("members", file, members.filter(pl.col("_file") == file).drop("_file"), unit="message")
             for file in members["_file"].unique(maintain_order=True)]
    for table, frame in (("activities", msgs), ("activities", reacts)):
        parts += [Part(table, file, frame.filter(pl.col("_file") == file).drop("_file"), unit="message")
                  for file in frame["_file"].unique(maintain_order=True)]
    return parts
