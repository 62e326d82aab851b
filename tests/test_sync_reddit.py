"""Reddit's OAuth API played by a real HTTP server (the client credentials grant; Listings newest
first with `after`; /api/info): posts and comments loaded as canonical rows, replies to older
comments kept with their chain, refused credentials said."""
from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from cmcore import connections
from cmcore.access import CLI
from cmcore.connections import sync
from tests.servers import answer, api_server
from tests.test_connections import rows, state

T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
APP = ("app-id", "app-secret")


class Subreddit:
    """r/ourcommunity as Reddit's API answers (Listing: data.children[].data, data.after)."""

    def __init__(self) -> None:
        self.things: dict[str, dict] = {}

    def post(self, n: int, at: int, author: str | None, title: str, score: int = 1) -> str:
        name = f"t3_p{n}"
        self.things[name] = {"kind": "t3", "data": {
            "name": name, "id": f"p{n}", "title": title, "selftext": f"Text {n}", "created_utc": float(at),
            "author": author or "[deleted]", **({"author_fullname": f"t2_{author}"} if author else {}),
            "score": score, "permalink": f"/r/ourcommunity/comments/p{n}/x/", "subreddit": "ourcommunity"}}
        return name

    def comment(self, n: int, at: int, author: str, parent: str, link: str, score: int = 1) -> str:
        name = f"t1_c{n}"
        self.things[name] = {"kind": "t1", "data": {
            "name": name, "id": f"c{n}", "body": f"Comment {n}", "created_utc": float(at), "author": author,
            "author_fullname": f"t2_{author}", "parent_id": parent, "link_id": link, "score": score,
            "permalink": f"/r/ourcommunity/comments/{link[3:]}/x/c{n}/"}}
        return name

    def listing(self, kind: str, query: dict) -> tuple[int, dict, bytes]:
        items = sorted((t for t in self.things.values() if t["kind"] == kind),
                       key=lambda t: -t["data"]["created_utc"])
        if query.get("after"):
            items = items[[t["data"]["name"] for t in items].index(query["after"]) + 1:]
        page = items[:int(query.get("limit", 25))]
        more = len(items) > len(page)
        return answer({"kind": "Listing", "data": {"after": page[-1]["data"]["name"] if more else None,
                                                   "before": None, "children": page}})

    def handle(self, path: str, query: dict, headers: dict) -> tuple[int, dict, bytes]:
        if path == "/api/v1/access_token":
            good = "Basic " + base64.b64encode(":".join(APP).encode()).decode()
            if headers.get("Authorization") != good or query.get("grant_type") != "client_credentials":
                return answer({"message": "Unauthorized", "error": 401}, 401)
            return answer({"access_token": "app-token", "token_type": "bearer", "expires_in": 86400, "scope": "*"})
        if headers.get("Authorization") != "bearer app-token" or "community-console" not in headers.get("User-Agent"):
            return answer({"message": "Unauthorized", "error": 401}, 401)
        if path == "/r/ourcommunity/new":
            return self.listing("t3", query)
        if path == "/r/ourcommunity/comments":
            return self.listing("t1", query)
        if path == "/api/info":
            return answer({"kind": "Listing", "data": {"after": None, "children": [
                self.things[n] for n in query["id"].split(",") if n in self.things]}})
        return answer({"message": "Not Found", "error": 404}, 404)


@pytest.fixture
def reddit():
    sub = Subreddit()
    for n in range(1, 131):  # two pages of posts
        sub.post(n, T0 + 60 * n, f"u{n % 4}", f"Post {n}?" if n % 2 else f"Post {n}", score=n % 5)
    first = sub.comment(1, T0 + 10_000, "u1", "t3_p1", "t3_p1", score=4)
    sub.comment(2, T0 + 10_100, "u2", first, "t3_p1")
    sub.post(131, T0 + 20_000, None, "From a deleted account")
    with api_server(sub.handle) as (api, base):
        yield sub, api, base


def connect(base: str, app: tuple[str, str] = APP) -> int:
    return connections.add(CLI, "reddit", "r/ourcommunity", "reddit", {
        "url": base, "token_url": base + "/api/v1/access_token", "subreddit": "ourcommunity"},
        {"client_id": app[0], "client_secret": app[1]})


def test_a_sync_loads_posts_comments_and_their_authors(database, reddit):
    _, api, base = reddit
    cid = connect(base)
    outcome = sync.run(cid)
    assert (outcome.state, outcome.items, outcome.error) == ("ok", 133, None)
    assert [q.get("after") for p, q, _ in api.seen if p == "/r/ourcommunity/new"] == [None, "t3_p32"]
    assert rows("SELECT kind, count(*) FROM activity GROUP BY kind ORDER BY kind") == [("reply", 2), ("thread", 131)]
    assert rows("SELECT a.external_id, p.external_id, t.external_id FROM activity a JOIN activity p ON p.id = a.parent_id"
                " JOIN activity t ON t.id = a.thread_id ORDER BY 1") == [("t1_c1", "t3_p1", "t3_p1"),
                                                                        ("t1_c2", "t1_c1", "t3_p1")]
    assert rows("SELECT is_question, url FROM activity WHERE external_id = 't3_p1'") == [
        (True, "https://www.reddit.com/r/ourcommunity/comments/p1/x/")]
    assert rows("SELECT v.up FROM activity_vote v JOIN activity a ON a.id = v.activity_id WHERE a.external_id = 't1_c1'"
                ) == [(4,)]
    assert rows("SELECT m.display_name, m.is_bot FROM activity a JOIN member m ON m.id = a.member_id"
                " WHERE a.external_id = 't3_p131'") == [("(deleted user)", True)]
    assert rows("SELECT slug, kind FROM platform") == [("reddit", "reddit")]
    assert state(cid)[1] == {"post": T0 + 20_000, "comment": T0 + 10_100}


def test_a_reply_to_an_older_comment_brings_its_chain_and_changes_nothing_else(database, reddit):
    sub, api, base = reddit
    cid = connect(base)
    sync.run(cid)
    before = rows("SELECT external_id, kind, parent_id, body FROM activity ORDER BY id")
    reply = sub.comment(3, T0 + 30_000, "u3", "t1_c2", "t3_p1")
    api.seen.clear()
    assert sync.run(cid).items == 1
    assert [q["id"] for p, q, _ in api.seen if p == "/api/info"] == ["t1_c2,t3_p1", "t1_c1"]
    assert rows("SELECT external_id, kind, parent_id, body FROM activity ORDER BY id")[:-1] == before
    assert rows("SELECT p.external_id FROM activity a JOIN activity p ON p.id = a.parent_id WHERE a.external_id = :r",
                r=reply) == [("t1_c2",)]


def test_refused_credentials_are_said(database, reddit):
    _, _, base = reddit
    outcome = sync.run(connect(base, ("app-id", "wrong")))
    assert outcome.state == "revoked"
    assert outcome.error.endswith("HTTP 401, the app's credentials were refused")
    assert "wrong" not in outcome.error
