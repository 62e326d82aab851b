"""Connections synced from a platform's API played by a real HTTP server on this machine (the
documented shapes of its answers, its pagination and its faults): rows checked as a file import's,
the cursor kept on a fault, the secrets sealed."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cmcore import connections, db, settings
from cmcore.access import CLI, AccessDenied, Principal
from cmcore.alerts import rules
from cmcore.connections import http, sync
from cmcore.settings import ConfigError
from tests.pages import as_user
from tests.servers import answer, api_server
from tests.builders import user

KEY = "d1sc0urse-api-key-0123456789abcdef"
DENIED = {"errors": ["You are not permitted to view the requested resource. The API username or key is invalid."],
          "error_type": "invalid_access"}


class Forum:
    """A Discourse forum as its API answers (discourse/discourse: PostsController#latest pages 50
    posts newest first, `before` an id; TopicsController#show; Admin::UsersController#index)."""

    PAGE = 50

    def __init__(self) -> None:
        self.key = KEY
        self.users = [{"id": i, "username": f"user{i}", "name": f"User {i}", "admin": i == 1, "moderator": False,
                       "created_at": f"2026-01-{i:02d}T10:00:00.000Z"} for i in range(1, 7)]
        self.posts: list[dict] = []
        self.topics: dict[int, dict] = {}

    def topic(self, topic_id: int, title: str, replies: int, day: int, solved: int | None = None) -> None:
        self.topics[topic_id] = {"id": topic_id, "title": title, "created_at": f"2026-02-{day:02d}T09:00:00.000Z",
                                 "category_id": 5, "tags": ["help", "api"], "archetype": "regular",
                                 "details": {"created_by": {"id": 1 + topic_id % 6, "username": f"user{1 + topic_id % 6}"}}}
        for number in range(1, replies + 2):
            self.post(topic_id, number, day, accepted=number == solved)

    def post(self, topic_id: int, number: int, day: int, accepted: bool = False) -> dict:
        author = 1 + (topic_id + number - 1) % 6 if number > 1 else self.topics[topic_id]["details"]["created_by"]["id"]
        post = {"id": len(self.posts) + 1, "topic_id": topic_id, "post_number": number, "post_type": 1,
                "user_id": author, "username": f"user{author}", "name": f"User {author}",
                "created_at": f"2026-02-{day:02d}T{9 + number // 60:02d}:{number % 60:02d}:00.000Z",
                "raw": f"Post {number} of topic {topic_id}", "cooked": f"<p>Post {number} of topic {topic_id}</p>",
                "reply_to_post_number": number - 1 if number > 2 and number % 3 == 0 else None,
                "topic_title": self.topics[topic_id]["title"], "accepted_answer": accepted, "deleted_at": None}
        self.posts.append(post)
        return post

    def handle(self, path: str, query: dict, headers: dict) -> tuple[int, dict, bytes]:
        if headers.get("Api-Key") != self.key or headers.get("Api-Username") != "system":
            return answer(DENIED, 403)
        if path == "/posts.json":
            before = int(query.get("before", 10 ** 9))
            page = sorted((p for p in self.posts if p["id"] <= before), key=lambda p: -p["id"])[:self.PAGE]
            return answer({"latest_posts": page})
        if path.startswith("/t/"):
            topic = self.topics[int(path[3:].removesuffix(".json"))]
            stream = [p["id"] for p in self.posts if p["topic_id"] == topic["id"]]
            return answer({**topic, "post_stream": {"posts": [{k: v for k, v in p.items() if k != "raw"}
                                                              for p in self.posts if p["id"] in stream[:20]],
                                                    "stream": stream}})
        if path.startswith("/posts/"):
            return answer(self.posts[int(path[7:].removesuffix(".json")) - 1])
        if path == "/admin/users/list/new.json":
            number = int(query.get("page", 1))
            users = sorted(self.users, key=lambda u: u["created_at"], reverse=True)
            return answer(users[(number - 1) * 4:number * 4])  # a short page size: the paging is tried too
        if path == "/categories.json":
            return answer({"category_list": {"categories": [{"id": 5, "name": "Support", "slug": "support"}]}})
        return answer({"errors": ["not found"]}, 404)


def rows(sql: str, **params) -> list[tuple]:
    with db.engine().connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def connect(base: str, name: str = "Our forum") -> int:
    return connections.add(CLI, "discourse", name, "forum", {"url": base, "username": "system"}, {"api_key": KEY})


def state(connection_id: int) -> tuple:
    return rows("SELECT state, cursor, last_rows, last_error FROM connection WHERE id = :i", i=connection_id)[0]


@pytest.fixture
def forum():
    forum = Forum()
    forum.topic(1, "How do I rotate a key?", 60, 1, solved=4)
    forum.topic(2, "Release notes", 30, 2)
    with api_server(forum.handle) as (api, base):
        yield forum, api, base


def test_a_first_sync_pages_to_the_end_and_loads_what_a_file_import_would(database, forum):
    site, api, base = forum
    cid = connect(base)
    outcome = sync.run(cid)
    assert (outcome.state, outcome.items) == ("ok", 92)  # 92 posts on /posts.json's pages: 50, 42, none
    assert [q for p, q, _ in api.seen if p == "/posts.json"] == [{}, {"before": "42"}, {"before": "0"}]
    assert rows("SELECT kind, count(*) FROM activity GROUP BY kind ORDER BY kind") == [
        ("answer", 1), ("reply", 89), ("thread", 2)]
    assert rows("SELECT external_id, title, tags, is_question FROM activity WHERE kind = 'thread' ORDER BY 1") == [
        ("topic-1", "How do I rotate a key?", ["help", "api", "Support"], True),
        ("topic-2", "Release notes", ["help", "api", "Support"], False)]
    # post 6 of topic 1 (id 6) replies to post 5 (id 5); post 4 (id 4) is the solution
    assert rows("SELECT a.external_id, p.external_id FROM activity a JOIN activity p ON p.id = a.parent_id"
                " WHERE a.external_id IN ('4', '6') ORDER BY 1") == [("4", "topic-1"), ("6", "5")]
    assert rows("SELECT accepted FROM activity WHERE external_id = '4'") == [(True,)]
    # six users, from the paged admin list, joined at their accounts' creation; user 1 is an admin
    assert rows("SELECT i.external_id, m.joined_at, m.is_staff FROM member_identity i JOIN member m ON m.id = i.member_id"
                " ORDER BY i.external_id") == [(str(i), datetime(2026, 1, i, 10, tzinfo=UTC), i == 1) for i in range(1, 7)]
    assert api.paths().count("/admin/users/list/new.json") == 3  # 4 + 2, then an empty page
    run = rows("SELECT actor, source, status, counts->'activities'->>'inserted', counts->'members'->>'inserted'"
               " FROM import_run")
    assert run == [(f"connection-{cid}", "discourse", "loaded", "92", "6")]
    assert state(cid) == ("ok", {"post": 92, "user": "2026-01-06T10:00:00.000Z"}, 98, None)


def test_the_next_sync_reads_only_what_is_new_and_changes_nothing_else(database, forum):
    site, api, base = forum
    cid = connect(base)
    sync.run(cid)
    before = rows("SELECT id, external_id, body, parent_id, xmin::text FROM activity ORDER BY id")
    assert sync.run(cid).rows == 0  # nothing new: no import at all
    assert rows("SELECT count(*) FROM import_run") == [(1,)]
    site.post(1, 62, 3)  # a reply to the old topic (id 93)
    site.users.append({"id": 7, "username": "user7", "name": "Newcomer", "admin": False, "moderator": False,
                       "created_at": "2026-02-03T08:00:00.000Z"})
    api.seen.clear()
    outcome = sync.run(cid)
    assert outcome.items == 50  # the first page, where the cursor's post is: no second page
    assert "/posts/1.json" in api.paths()  # the topic's first post, so its thread stays as it was
    assert rows("SELECT id, external_id, body, parent_id, xmin::text FROM activity ORDER BY id")[:-1] == before
    assert rows("SELECT external_id, kind, body FROM activity WHERE external_id = '93'") == [
        ("93", "reply", "Post 62 of topic 1")]
    assert rows("SELECT counts->'activities' FROM import_run ORDER BY id DESC LIMIT 1") == [
        ({"inserted": 1, "updated": 0, "skipped": 1},)]
    assert rows("SELECT m.joined_at FROM member_identity i JOIN member m ON m.id = i.member_id"
                " WHERE i.external_id = '7'") == [(datetime(2026, 2, 3, 8, tzinfo=UTC),)]
    assert state(cid)[1] == {"post": 93, "user": "2026-02-03T08:00:00.000Z"}


def test_429_waits_as_asked_and_5xx_is_tried_again_with_backoff(database, forum):
    site, api, base = forum
    cid = connect(base)
    api.faults["/posts.json"] = [answer({"errors": ["slow down"]}, 429, **{"Retry-After": "1"}),
                                 answer({}, 502), answer({}, 503)]
    waits: list[float] = []
    outcome = sync.run(cid, sleep=waits.append, backoff=0.5)
    assert outcome.state == "ok" and outcome.items == 92
    assert waits == [1.0, 1.0, 2.0]  # Retry-After, then 0.5 × 2 and 0.5 × 4: bounded and doubling
    assert rows("SELECT count(*) FROM activity") == [(92,)]


def test_a_partial_failure_leaves_the_cursor_and_the_next_sync_loads_everything_once(database, forum):
    site, api, base = forum
    cid = connect(base)
    api.faults["/t/2.json"] = [answer({}, 500)] * 5  # every try of one topic page fails
    outcome = sync.run(cid, sleep=lambda _s: None)
    assert outcome.state == "failing"
    assert outcome.error == "GET /t/2.json: HTTP 500 after 5 tries"
    assert state(cid) == ("failing", {}, None, "GET /t/2.json: HTTP 500 after 5 tries")
    assert rows("SELECT count(*) FROM activity") == [(0,)] and rows("SELECT count(*) FROM import_run") == [(0,)]
    assert sync.run(cid).state == "ok"
    assert rows("SELECT count(*) FROM activity") == [(92,)]
    assert rows("SELECT failing_since, last_error FROM connection") == [(None, None)]


def test_bad_json_is_a_fault_and_a_refused_key_says_so_and_alerts(database, forum):
    site, api, base = forum
    cid = connect(base)
    api.faults["/posts.json"] = [(200, {"Content-Type": "text/html"}, b"<html>Maintenance</html>")]
    assert sync.run(cid).error == "GET /posts.json: the answer is not JSON (text/html)"
    site.key = "rotated"
    outcome = sync.run(cid)
    assert outcome.state == "revoked"
    assert outcome.error == ("GET /posts.json: HTTP 403, the credentials were refused (revoked, expired or"
                             " missing a scope)")
    with pytest.raises(http.Revoked):
        connections.try_now(CLI, cid)
    since = rows("SELECT failing_since FROM connection")[0][0]
    found = rules.findings("connection_failing", 0, since + timedelta(minutes=1))
    assert [(f.period, f.facts["connection"], f.link) for f in found] == [
        (f"connection:{cid}:{since.isoformat()}", "Our forum", "connections")]
    assert rules.findings("connection_failing", 1, since + timedelta(minutes=1)) == []  # not an hour yet
    connections.set_paused(CLI, cid, True)
    assert rules.findings("connection_failing", 0, since + timedelta(minutes=1)) == []


def test_secrets_are_sealed_never_listed_nor_audited_and_production_needs_the_key(database, forum, monkeypatch):
    _, _, base = forum
    cid = connect(base)
    stored = rows("SELECT secret FROM connection")[0][0]
    assert KEY.encode() not in bytes(stored)
    assert not [c for c in connections.listing(CLI).columns if "secret" in c]
    assert KEY not in str(rows("SELECT detail FROM audit_log"))
    assert rows("SELECT detail->'secrets' FROM audit_log WHERE action = 'connection.add'") == [(["api_key"],)]
    production = dataclasses.replace(settings.current(), env="production", connection_key=None)
    monkeypatch.setattr(settings, "current", lambda: production)
    with pytest.raises(ConfigError, match="production mode needs CM_CONNECTION_KEY"):
        connect(base, "Another")
    assert sync.run(cid).error.startswith("production mode needs CM_CONNECTION_KEY")


def test_what_is_due_follows_the_schedule_pause_and_sync_now(database, forum):
    _, _, base = forum
    first, second = connect(base), connect(base, "Second")
    now = datetime.now(UTC)
    assert sync.due(now) == [first, second]  # never synced
    sync.run(first, now), sync.run(second, now)
    assert sync.due(now + timedelta(minutes=59)) == []
    connections.set_schedule(CLI, second, 30)
    connections.set_paused(CLI, first, True)
    assert sync.due(now + timedelta(minutes=60)) == [second]
    connections.request_sync(CLI, first)  # asked: paused or not
    assert sync.due(now + timedelta(minutes=1)) == [first]
    connections.remove(CLI, second)
    assert rows("SELECT id, secret IS NULL, removed_at IS NOT NULL FROM connection ORDER BY id") == [
        (first, False, False), (second, True, True)]
    assert sync.run(second) is None


def test_the_services_are_for_administrators_only(database):
    manager = Principal("manager", "manager")
    for call in (lambda: connections.listing(manager), lambda: connections.remove(manager, 1),
                 lambda: connections.add(manager, "discourse", "x", "x", {}, {})):
        with pytest.raises(AccessDenied):
            call()


def test_the_connections_page_adds_one_and_shows_its_state_in_french(app, database, forum):
    _, _, base = forum
    user("admin", "admin")
    user("manager", "manager")
    at = as_user(app, "admin")
    at.switch_page("pages/connections.py").run()
    assert not at.exception
    assert [i.value for i in at.info] == ["Aucune connexion pour l’instant : ajoutez-en une ci-dessous, et le"
                                          " worker fait arriver les données de sa plateforme."]
    inputs = {w.label: w for w in at.text_input}
    inputs["Nom"].input("Le forum")
    inputs["Adresse (https://…)"].input(base)
    inputs["Utilisateur de l’API (Api-Username)"].input("system")
    inputs["Clé d’API"].input(KEY)
    [b for b in at.button if b.label == "Ajouter"][0].click()
    at.run()
    assert not at.exception
    assert rows("SELECT name, platform, settings, created_by FROM connection") == [
        ("Le forum", "discourse", {"url": base, "username": "system"}, "admin")]
    assert KEY not in str([w.value for w in at.text_input])  # the key is not shown again
    [b for b in at.button if b.label == "Tester : lire une page maintenant"][0].click()
    at.run()
    assert [s.value for s in at.success] == ["L’API a répondu : 50 éléments sur la première page."]
    sync.run(1)
    at.run()
    table = at.dataframe[0].value
    assert list(table["État"]) == ["fonctionne"] and list(table["Lignes ajoutées"]) == [98]
    manager = as_user(app, "manager")
    manager.switch_page("pages/connections.py").run()
    assert [e.value for e in manager.error] == ["Vous n'avez pas accès à cette page."]


def test_the_worker_queues_and_runs_the_due_sync(database, forum):
    """A real worker process: its minute's `connections` task queues the sync, which loads the forum."""
    import contextlib
    import time

    import procrastinate

    from cmcore import worker
    from tests.test_worker import _worker
    _, _, base = forum
    cid = connect(base)
    process = _worker(database, db.owner_url(), 1)
    try:
        with worker.connected(database) as queue, queue.open(), contextlib.suppress(
                procrastinate.exceptions.AlreadyEnqueued):
            worker.due_syncs.defer(timestamp=int(datetime.now(UTC).timestamp()))
        deadline = time.monotonic() + 120
        while state(cid)[0] != "ok":
            assert time.monotonic() < deadline and process.poll() is None, state(cid)
            time.sleep(0.2)
        process.send_signal(2)
        assert process.wait(40) == 0
    finally:
        process.kill()
    assert rows("SELECT count(*) FROM activity") == [(92,)]
    assert rows("SELECT actor, status FROM import_run") == [(f"connection-{cid}", "loaded")]
