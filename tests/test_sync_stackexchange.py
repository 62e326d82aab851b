"""Stack Exchange API 2.3 played by a real HTTP server (its wrapper: items, has_more,
quota_remaining, backoff; its error bodies): the rows loaded as the data dump's would be, the
cursor moving with the activity, the throttles honoured."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cmcore import connections
from cmcore.access import CLI
from cmcore.connections import sync
from tests.servers import answer, api_server
from tests.test_connections import rows, state

T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())


class Site:
    """A site as API 2.3 answers (api.stackexchange.com/docs: /questions, /answers, /comments with
    sort=activity|creation and min, /questions/{ids}, /answers/{ids}, /users/{ids})."""

    def __init__(self) -> None:
        self.users = {u: {"user_id": u, "display_name": f"User {u}", "creation_date": T0 - 86400 * u,
                          "user_type": "registered"} for u in range(1, 6)}
        self.questions: dict[int, dict] = {}
        self.answers: dict[int, dict] = {}
        self.comments: dict[int, dict] = {}
        self.quota = 300
        self.backoff: int | None = None

    def question(self, qid: int, at: int, owner: int, **extra) -> None:
        self.questions[qid] = {"question_id": qid, "title": f"Question {qid}?", "body": f"<p>Body {qid}</p>",
                               "tags": ["python", "polars"], "owner": {"user_id": owner, "user_type": "registered"},
                               "creation_date": at, "last_activity_date": at, "score": 2, **extra}

    def answer_(self, aid: int, qid: int, at: int, owner: int, score: int = 1) -> None:
        self.answers[aid] = {"answer_id": aid, "question_id": qid, "body": f"<p>Answer {aid}</p>",
                             "owner": {"user_id": owner, "user_type": "registered"}, "creation_date": at,
                             "last_activity_date": at, "score": score, "is_accepted": False}
        self.questions[qid]["last_activity_date"] = max(self.questions[qid]["last_activity_date"], at)

    def comment(self, cid: int, post: int, at: int, owner: int | None) -> None:
        self.comments[cid] = {"comment_id": cid, "post_id": post, "body": f"Comment {cid}", "creation_date": at,
                              "score": 0, "owner": {"user_id": owner} if owner else {"user_type": "does_not_exist"}}

    def wrap(self, items: list[dict], page: int, size: int) -> tuple[int, dict, bytes]:
        self.quota -= 1
        chunk = items[(page - 1) * size:page * size]
        doc = {"items": chunk, "has_more": page * size < len(items), "quota_max": 300, "quota_remaining": self.quota}
        if self.backoff:
            doc["backoff"] = self.backoff
        return answer(doc)

    def handle(self, path: str, query: dict, headers: dict) -> tuple[int, dict, bytes]:
        if query.get("site") != "example":
            return answer({"error_id": 400, "error_name": "bad_parameter", "error_message": "site is required"}, 400)
        if query.get("key", "good-key") != "good-key":
            return answer({"error_id": 403, "error_name": "access_denied", "error_message": "key invalid"}, 400)
        page, size = int(query.get("page", 1)), int(query.get("pagesize", 30))
        parts = path.removeprefix("/2.3/").split("/")
        tables = {"questions": self.questions, "answers": self.answers, "comments": self.comments,
                  "users": self.users}
        table = tables[parts[0]]
        if len(parts) == 2:
            wanted = [int(i) for i in parts[1].split(";")]
            return self.wrap([table[i] for i in wanted if i in table], page, size)
        key = "creation_date" if query.get("sort") == "creation" else "last_activity_date"
        items = sorted((i for i in table.values() if i[key] >= int(query.get("min", 0))), key=lambda i: i[key])
        return self.wrap(items, page, size)


@pytest.fixture
def site():
    site = Site()
    for q in range(1, 151):  # two pages of questions
        site.question(q, T0 + 60 * q, 1 + q % 5, **({"accepted_answer_id": 1001} if q == 1 else {}))
    site.answer_(1001, 1, T0 + 100_000, 2, score=5)
    site.answer_(1002, 1, T0 + 100_100, 3, score=-1)
    site.comment(5001, 1001, T0 + 100_200, 4)
    site.comment(5002, 2, T0 + 100_300, None)  # its author's account was deleted
    with api_server(site.handle) as (api, base):
        yield site, api, base


def connect(base: str, key: str = "good-key") -> int:
    return connections.add(CLI, "stackexchange", "Example Q&A", "example-se", {"url": base + "/2.3", "site": "example"},
                           {"key": key})


def test_a_sync_loads_questions_answers_comments_and_scores_as_the_dump_would(database, site):
    _, api, base = site
    cid = connect(base)
    outcome = sync.run(cid)
    assert (outcome.state, outcome.items, outcome.error) == ("ok", 154, None)
    assert [q.get("page") for p, q, _ in api.seen if p == "/2.3/questions"] == ["1", "2"]
    assert all(q["key"] == "good-key" and q["site"] == "example" for _, q, _ in api.seen)
    assert rows("SELECT kind, count(*) FROM activity GROUP BY kind ORDER BY kind") == [
        ("answer", 2), ("comment", 2), ("thread", 150)]
    assert rows("SELECT external_id, accepted, title, tags FROM activity WHERE external_id IN ('1', '1001', '1002')"
                " ORDER BY external_id") == [("1", False, "Question 1?", ["python", "polars"]), ("1001", True, None, []),
                                             ("1002", False, None, [])]
    # scores stand in for votes: up-votes (or down-votes) on the post's day
    assert rows("SELECT a.external_id, v.up, v.down FROM activity_vote v JOIN activity a ON a.id = v.activity_id"
                " WHERE a.external_id IN ('1', '1001', '1002') ORDER BY 1") == [("1", 2, 0), ("1001", 5, 0), ("1002", 0, 1)]
    assert rows("SELECT a.external_id, m.display_name FROM activity a JOIN member m ON m.id = a.member_id"
                " WHERE a.kind = 'comment' ORDER BY 1") == [("c5001", "User 4"), ("c5002", "(deleted user)")]
    assert rows("SELECT i.external_id, m.joined_at FROM member_identity i JOIN member m ON m.id = i.member_id"
                " WHERE i.external_id = '2'") == [("2", datetime.fromtimestamp(T0 - 2 * 86400, UTC))]
    assert rows("SELECT source, status FROM import_run") == [("stackexchange", "loaded")]
    assert state(cid)[1] == {"activity": T0 + 100_100, "posts_seen": ["question_id:1", "answer_id:1002"],
                             "comment": T0 + 100_300, "comments_seen": ["comment_id:5002"]}


def test_the_next_sync_brings_new_answers_with_their_old_question_and_changed_scores(database, site):
    s, api, base = site
    cid = connect(base)
    sync.run(cid)
    assert sync.run(cid).items == 0  # the cursor's own second is not loaded twice
    assert rows("SELECT count(*) FROM import_run") == [(1,)]
    s.answer_(1003, 7, T0 + 200_000, 5)  # a new answer to question 7 (old)
    s.questions[7]["score"] = 9  # voted since: its activity moved with the answer
    api.seen.clear()
    assert sync.run(cid).items == 2  # question 7 (its activity moved) and the answer
    assert rows("SELECT a.external_id, p.external_id FROM activity a JOIN activity p ON p.id = a.parent_id"
                " WHERE a.external_id = '1003'") == [("1003", "7")]
    assert rows("SELECT v.up FROM activity_vote v JOIN activity a ON a.id = v.activity_id WHERE a.external_id = '7'") == [(9,)]
    assert rows("SELECT count(*) FROM activity") == [(155,)]


def test_backoff_is_waited_and_a_spent_quota_or_a_throttle_stops_the_sync(database, site):
    s, api, base = site
    cid = connect(base)
    s.backoff = 2
    waits: list[float] = []
    assert sync.run(cid, sleep=waits.append).state == "ok"
    assert waits and set(waits) == {2.0}
    s.backoff, s.quota = None, 1
    s.answer_(1004, 3, T0 + 300_000, 1)
    for q in range(200, 320):  # more than a page since the cursor
        s.question(q, T0 + 300_000 + q, 1)
    outcome = sync.run(cid)
    assert outcome.state == "failing" and outcome.error == "Stack Exchange: the day's quota of requests is spent"
    retry = rows("SELECT retry_after FROM connection")[0][0]
    assert retry == datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert sync.due(datetime.now(UTC).replace(hour=23, minute=59)) == []  # waits for the quota's day to end
    api.faults["/2.3/questions"] = [answer({"error_id": 502, "error_name": "throttle_violation",
                                            "error_message": "too many requests from this IP, more requests "
                                                             "available in 82700 seconds"}, 400)]
    s.quota = 300
    outcome = sync.run(cid)
    assert outcome.error.startswith("Stack Exchange throttles this address (throttle_violation")
    assert rows("SELECT count(*) FROM activity") == [(154,)]


def test_a_refused_key_is_revoked(database, site):
    _, _, base = site
    cid = connect(base, "bad-key")
    outcome = sync.run(cid)
    assert (outcome.state, outcome.error) == ("revoked", "Stack Exchange refused the key (access_denied: key invalid)")
    assert state(cid)[0] == "revoked"
