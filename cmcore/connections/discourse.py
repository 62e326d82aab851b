"""Discourse, through its API with an admin's API key: the posts newer than the cursor
(`/posts.json`, newest first, paged with `before`), the page of each topic they belong to (title,
category, tags, solution) and that topic's first post (`/posts/{id}.json`), the users created since
the cursor (`/admin/users/list/new.json`) and the categories (`/categories.json`). They are written
as the API pages the Discourse importer reads (cmcore/ingest/discourse.py)."""
from __future__ import annotations

from cmcore.connections.batch import Batch, listed
from cmcore.connections.http import Client

SOURCE = "discourse"
SETTINGS = ("url", "username")  # the forum's address; the API key's user (Api-Username)
SECRETS = ("api_key",)
DEFAULTS: dict[str, str] = {}


def client(settings: dict, secrets: dict) -> Client:
    return Client(settings["url"], headers={"Api-Key": secrets["api_key"], "Api-Username": settings["username"],
                                            "Accept": "application/json"})


def probe(api: Client, _settings: dict) -> int:
    """The posts on the first page (the connection's test)."""
    return len(listed(api.get("/posts.json"), "latest_posts"))


def fetch(api: Client, _settings: dict, cursor: dict, batch: Batch) -> None:
    """Into `batch`: the posts after `cursor["post"]` (an id), their topics and first posts, the
    users created after `cursor["user"]`, the categories. Nothing when no post is new (the users
    then wait for the next sync: an import holds posts)."""
    since = int(cursor.get("post", 0))
    posts, before = [], None
    while True:
        page = listed(api.get("/posts.json", **({} if before is None else {"before": before})), "latest_posts")
        batch.items += len(page)
        new = [p for p in page if isinstance(p.get("id"), int) and p["id"] > since]
        posts += new
        if not page or len(new) < len(page) or (before is not None and min(p["id"] for p in page) > before):
            break  # the end, the cursor reached, or a server that ignores `before`
        before = min(p["id"] for p in page) - 1
    if not posts:
        return
    batch.write("posts.json", {"latest_posts": posts})
    firsts = {p["topic_id"] for p in posts if p.get("post_number") == 1}
    first_posts = []
    for topic_id in sorted({p["topic_id"] for p in posts}):
        topic = api.get(f"/t/{topic_id}.json")
        stream = (topic.get("post_stream") or {}).get("stream") or []
        batch.write(f"t-{topic_id}.json", {**topic, "post_stream": {"posts": []}})
        if topic_id not in firsts and stream:
            first_posts.append(api.get(f"/posts/{stream[0]}.json"))
    if first_posts:
        batch.write("first-posts.json", first_posts)
    users, newest, number = [], cursor.get("user", ""), 1
    while True:
        page = listed(api.get("/admin/users/list/new.json", page=number))
        fresh = [u for u in page if str(u.get("created_at", "")) > cursor.get("user", "")]
        users += fresh
        if not page or len(fresh) < len(page):
            break
        number += 1
    if users:
        batch.write("users.json", users)
        newest = max(newest, *(str(u["created_at"]) for u in users))
    batch.write("categories.json", api.get("/categories.json"))
    batch.cursor = {"post": max(p["id"] for p in posts), "user": newest}
