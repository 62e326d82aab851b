"""Mentions from a social-listening tool's CSV export: one row per mention with its date, source,
url, author, text and reach. Column names are matched without case and with the usual synonyms;
other columns the tool adds are left out. Language and sentiment are scored at import (`text`)."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from cmcore.ingest.canonical import Part, Rejected, read_csv
from cmcore.progress import Progress

COLUMNS = {
    "created_at": ("date", "created_at", "published", "published_at", "datetime", "time"),
    "source": ("source", "network", "site", "platform", "media"),
    "url": ("url", "link", "permalink"),
    "author": ("author", "user", "username", "handle", "screen_name"),
    "body": ("text", "content", "body", "mention", "message", "snippet"),
    "reach": ("reach", "audience", "followers", "impressions", "views"),
}
REQUIRED = ("created_at", "source", "url", "body")


def convert(paths: list[Path], _platform: str, progress: Progress,
            _workdir: Path) -> list[Part]:
    parts = []
    for number, path in enumerate(paths):
        progress(number / len(paths), path.name)
        frame = read_csv(path.name, path.read_bytes())
        lower = {c.strip().lower(): c for c in frame.columns}
        found = {name: next((lower[s] for s in synonyms if s in lower), None) for name, synonyms in COLUMNS.items()}
        for name in REQUIRED:
            if found[name] is None:
                raise Rejected(path.name, "missing column {column} (or one of {synonyms})",
                               column=repr(COLUMNS[name][0]), synonyms=", ".join(COLUMNS[name][1:]))
        parts.append(Part("mentions", path.name, frame.select(
            [pl.col(column).alias(name) for name, column in found.items() if column] + ["_line"])))
    return parts
