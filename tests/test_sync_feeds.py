"""Mentions from RSS and Atom feeds served by a real HTTP server: scored for language and sentiment
as an imported export's, the cursor keeping what was read, an unreadable feed a fault."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cmcore import connections
from cmcore.access import CLI
from cmcore.connections import sync
from tests.servers import api_server
from tests.test_connections import rows, state

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>#ourcommunity</title><id>tag:social.example,2026:ourcommunity</id><updated>2026-03-02T10:00:00Z</updated>
  {entries}
</feed>"""
ENTRY = """<entry><id>{url}</id><title>{title}</title><link href="{url}"/><author><name>{author}</name></author>
  <published>{published}</published><updated>{updated}</updated><summary type="html">{summary}</summary></entry>"""
RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Reddit search</title><link>https://www.reddit.com</link>
<item><title>Ce forum est nul, une vraie catastrophe</title><link>https://www.reddit.com/r/x/comments/abc/</link>
<pubDate>Mon, 02 Mar 2026 08:30:00 +0000</pubDate><description>&lt;p&gt;Je déteste cette mise à jour.&lt;/p&gt;</description></item>
</channel></rss>"""


class Feeds:
    def __init__(self) -> None:
        self.atom = [dict(url="https://social.example/@ann/1", title="I love this community, great help!",
                          author="ann", published="2026-03-01T09:00:00Z", updated="2026-03-01T09:00:00Z",
                          summary="&lt;p&gt;Thanks &lt;b&gt;everyone&lt;/b&gt;&lt;/p&gt;")]

    def handle(self, path: str, query: dict, headers: dict) -> tuple[int, dict, bytes]:
        if path == "/tags/ourcommunity.atom":
            body = ATOM.format(entries="".join(ENTRY.format(**e) for e in self.atom))
            return 200, {"Content-Type": "application/atom+xml"}, body.encode()
        if path == "/search.rss":
            return 200, {"Content-Type": "application/rss+xml"}, RSS.encode()
        return 200, {"Content-Type": "text/html"}, b"<html><body>Not a feed"


@pytest.fixture
def feeds():
    feeds = Feeds()
    with api_server(feeds.handle) as (api, base):
        yield feeds, api, base


def add(base: str, path: str, name: str) -> int:
    return connections.add(CLI, "feed", name, None, {"url": base + path}, {})


def test_feed_entries_become_mentions_scored_like_an_export(database, feeds):
    _, _, base = feeds
    atom, rss = add(base, "/tags/ourcommunity.atom", "Mastodon tag"), add(base, "/search.rss", "Reddit search")
    assert sync.run(atom).rows == 1 and sync.run(rss).rows == 1
    assert rows("SELECT source, url, author, body, created_at, lang, sentiment, scored_by IS NOT NULL FROM mention"
                " ORDER BY created_at") == [
        ("social.example", "https://social.example/@ann/1", "ann", "I love this community, great help!\nThanks everyone",
         datetime(2026, 3, 1, 9, tzinfo=UTC), "en", 1, True),
        ("reddit", "https://www.reddit.com/r/x/comments/abc/", None,
         "Ce forum est nul, une vraie catastrophe\nJe déteste cette mise à jour.",
         datetime(2026, 3, 2, 8, 30, tzinfo=UTC), "fr", -1, True)]
    assert rows("SELECT source, status FROM import_run ORDER BY id") == [("mentions", "loaded"), ("mentions", "loaded")]
    assert state(atom)[1] == {"updated": int(datetime(2026, 3, 1, 9, tzinfo=UTC).timestamp())}


def test_the_next_sync_reads_new_and_updated_entries_only(database, feeds):
    site, _, base = feeds
    cid = add(base, "/tags/ourcommunity.atom", "Mastodon tag")
    sync.run(cid)
    assert sync.run(cid).rows == 0 and rows("SELECT count(*) FROM import_run") == [(1,)]
    site.atom[0]["title"] = "I love this community, great help! (edited)"
    site.atom[0]["updated"] = "2026-03-03T09:00:00Z"
    site.atom.append(dict(url="https://social.example/@bob/2", title="The app is down again, terrible", author="bob",
                          published="2026-03-03T10:00:00Z", updated="2026-03-03T10:00:00Z", summary=""))
    outcome = sync.run(cid)
    assert (outcome.items, outcome.rows) == (2, 2)
    assert rows("SELECT url, sentiment FROM mention ORDER BY url") == [
        ("https://social.example/@ann/1", 1), ("https://social.example/@bob/2", -1)]
    assert rows("SELECT body FROM mention WHERE url LIKE '%ann%'") == [
        ("I love this community, great help! (edited)\nThanks everyone",)]


def test_an_address_that_is_not_a_feed_fails_and_says_so(database, feeds):
    _, _, base = feeds
    cid = add(base, "/nothing", "Wrong")
    outcome = sync.run(cid)
    assert outcome.state == "failing" and outcome.error.startswith("the feed cannot be read")
    assert rows("SELECT count(*) FROM mention") == [(0,)]
