"""A sync's throughput end to end: a Discourse forum of N posts played by an HTTP server on this
machine (the API's shapes: /posts.json 50 a page, topic pages, first posts, users, categories),
synced by a connection into a fresh database — every request, the files written, the import —
then synced again (nothing new: one page asked). `python -m cmcore bench-imports --formats
sync-discourse --activities 100000`."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from cmcore import connections
from cmcore.access import CLI
from cmcore.connections import sync

KEY = "bench-key"
REPLIES = 19  # a topic: its first post and 19 replies
PAGE = 50


class Forum:
    """`posts` posts by `members` users, in topics of 20, generated as the API asks for them."""

    def __init__(self, posts: int, members: int, start) -> None:
        self.posts, self.members, self.start = posts, members, start

    def post(self, n: int) -> dict:
        """Post id `n` (1…posts): topic n // 20 + 1, number n % 20 + 1 within it."""
        topic, number = (n - 1) // (REPLIES + 1) + 1, (n - 1) % (REPLIES + 1) + 1
        author = 1 + n % self.members
        return {"id": n, "topic_id": topic, "post_number": number, "post_type": 1, "user_id": author,
                "username": f"member{author}", "name": f"Member {author}",
                "created_at": (self.start + timedelta(seconds=60 * n)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "raw": f"Post {n}: thanks for the help with the release config",
                "reply_to_post_number": number - 1 if number > 2 else None, "topic_title": f"Topic {topic}?",
                "accepted_answer": number == 2, "deleted_at": None, "like_count": n % 3}

    def answer(self, path: str, query: dict) -> object:
        if path == "/posts.json":
            last = min(int(query.get("before", self.posts)), self.posts)
            return {"latest_posts": [self.post(n) for n in range(last, max(last - PAGE, 0), -1)]}
        if path.startswith("/t/"):
            topic = int(path[3:].removesuffix(".json"))
            first = (topic - 1) * (REPLIES + 1) + 1
            return {"id": topic, "title": f"Topic {topic}?", "created_at": self.post(first)["created_at"],
                    "category_id": 1 + topic % 5, "tags": ["release"], "archetype": "regular",
                    "details": {"created_by": {"id": self.post(first)["user_id"]}},
                    "post_stream": {"posts": [], "stream": list(range(first, min(first + REPLIES + 1, self.posts + 1)))}}
        if path.startswith("/posts/"):
            return self.post(int(path[7:].removesuffix(".json")))
        if path == "/admin/users/list/new.json":
            page = int(query.get("page", 1))
            ids = range(self.members - (page - 1) * 100, max(self.members - page * 100, 0), -1)
            return [{"id": u, "username": f"member{u}", "name": f"Member {u}", "admin": u == 1,
                     "created_at": (self.start - timedelta(days=u % 300)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
                    for u in ids]
        return {"category_list": {"categories": [{"id": c, "name": f"Category {c}"} for c in range(1, 6)]}}


@contextmanager
def serving(forum: Forum) -> Iterator[tuple[str, list[int]]]:
    """The forum on 127.0.0.1: its base URL and the bytes it sent (one number, added to)."""
    sent = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: no delayed-ACK wait between

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path, _, query = self.path.partition("?")
            body = json.dumps(forum.answer(path, dict(parse_qsl(query)))).encode()
            sent[0] += len(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sent
    finally:
        server.shutdown()
        server.server_close()


def run(posts: int, members: int, start) -> dict:
    """One first sync of `posts` posts into the current (fresh) database, then a sync with nothing new."""
    with serving(Forum(posts, members, start)) as (base, sent):
        cid = connections.add(CLI, "discourse", "Bench forum", "discourse", {"url": base, "username": "system"},
                              {"api_key": KEY})
        started = time.perf_counter()
        first = sync.run(cid)
        first_s = time.perf_counter() - started
        if first.state != "ok":
            raise RuntimeError(f"the bench's sync failed: {first.error}")
        megabytes = sent[0] / 1e6
        started = time.perf_counter()
        sync.run(cid)
        again_s = time.perf_counter() - started
    return {"rows": first.items, "megabytes": megabytes, "counts": {"rows added or changed": first.rows},
            "first_s": first_s, "first_rows_per_s": first.items / first_s,
            "again_s": again_s, "again_rows_per_s": first.items / again_s}
