"""Mentions from any RSS or Atom feed (an alerts service, a Mastodon tag, a blog, a Reddit search),
read with feedparser: the entries published or updated since the cursor become a mentions export
(date, url, text, author) that the mentions importer reads and scores for language and sentiment
like any export (cmcore/ingest/listening.py); the source is the link's site."""
from __future__ import annotations

import calendar
import csv
import html
import io
import re

import feedparser

from cmcore.connections.batch import Batch
from cmcore.connections.http import Client, Fault

SOURCE = "mentions"
SETTINGS = ("url",)  # the feed's address
SECRETS: tuple[str, ...] = ()
DEFAULTS: dict[str, str] = {}
_TAG = re.compile(r"<[^>]+>")


def client(settings: dict, _secrets: dict) -> Client:
    return Client(settings["url"], headers={"Accept": "application/atom+xml, application/rss+xml, application/xml"})


def _entries(api: Client) -> list[feedparser.FeedParserDict]:
    parsed = feedparser.parse(api.fetch(api.base).content)
    if parsed.bozo and not parsed.entries:
        raise Fault(f"the feed cannot be read ({type(parsed.bozo_exception).__name__}: {parsed.bozo_exception})")
    return parsed.entries


def probe(api: Client, _settings: dict) -> int:
    """The feed's entries (the connection's test)."""
    return len(_entries(api))


def _when(entry: feedparser.FeedParserDict) -> int | None:
    """An entry's last change (updated, else published) in Unix seconds."""
    moment = entry.get("updated_parsed") or entry.get("published_parsed")
    return calendar.timegm(moment) if moment else None


def _plain(value: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", value or "")).split())


def fetch(api: Client, _settings: dict, cursor: dict, batch: Batch) -> None:
    """Into `batch`: the entries changed after `cursor["updated"]` (Unix seconds) that have a link
    and a date, as a mentions CSV."""
    since = int(cursor.get("updated", 0))
    entries = [e for e in _entries(api) if e.get("link") and _when(e) is not None]
    batch.items = len(entries)
    new = [e for e in entries if _when(e) > since]
    if not new:
        return
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "url", "text", "author"])
    for entry in new:
        published = entry.get("published_parsed") or entry.get("updated_parsed")
        text = "\n".join(t for t in (_plain(entry.get("title", "")), _plain(entry.get("summary", ""))) if t)
        writer.writerow([f"{calendar.timegm(published)}", entry["link"], text or entry["link"], entry.get("author")])
    path = batch.folder / "feed.csv"
    path.write_text(out.getvalue())
    batch.files.append(path)
    batch.cursor = {"updated": max(_when(e) for e in new)}
