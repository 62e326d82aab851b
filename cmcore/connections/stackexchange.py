"""Stack Exchange, through API 2.3 (a site, an optional app key): the questions and answers active
since the cursor (`sort=activity`: new, edited or answered, with their current score), the comments
created since, the questions of answers and comments that are older, and their authors
(`/users/{ids}`). They are written as the data dump's Users.xml, Posts.xml and Comments.xml that
the Stack Exchange importer reads (cmcore/ingest/stackexchange.py), each post's score standing in
for its votes. A `backoff` in an answer is waited before the next request; a quota spent stops the
sync until the quota's day ends (midnight UTC); a throttle violation waits as long as it says."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from cmcore.connections.batch import Batch, listed
from cmcore.connections.http import Client, Fault, Revoked, Throttled

SOURCE = "stackexchange"
SETTINGS = ("url", "site")  # the API's address; the site (stackoverflow, superuser…)
SECRETS = ("key",)  # an app key (optional: it raises the daily quota from 300 to 10,000 requests)
DEFAULTS = {"url": "https://api.stackexchange.com/2.3"}
PAGE = 100  # the API's largest page
_REFUSED = {401, 402, 403, 405, 406}  # access token required, invalid, denied, key required, compromised
_THROTTLED = 502  # throttle_violation: "… more requests available in N seconds"
_INVALID_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _errors(status: int, body: Any) -> None:
    """Stack Exchange's error bodies (error_id, error_name, error_message), whatever the status."""
    if not isinstance(body, dict) or "error_id" not in body:
        return
    what = f"{body.get('error_name')}: {body.get('error_message')}"
    if body["error_id"] in _REFUSED:
        raise Revoked(f"Stack Exchange refused the key ({what})")
    if body["error_id"] == _THROTTLED:
        wait = re.search(r"(\d+) seconds", str(body.get("error_message")))
        raise Throttled(f"Stack Exchange throttles this address ({what})",
                        datetime.now(UTC) + timedelta(seconds=int(wait.group(1)) if wait else 3600))
    if status < 500:
        raise Fault(f"Stack Exchange answered HTTP {status} ({what})")


def client(settings: dict, secrets: dict) -> Client:
    return Client(settings["url"], params={"site": settings["site"], **({"key": secrets["key"]} if secrets.get("key")
                                                                          else {})}, errors=_errors)


def _get(api: Client, path: str, **params: Any) -> tuple[list[dict], bool]:
    """One page: its items and whether more follow; waits the `backoff` asked for, and stops on a
    quota spent."""
    doc = api.get(path, **params)
    items = listed(doc, "items")
    if doc.get("backoff"):
        api.sleep(float(doc["backoff"]))
    more = bool(doc.get("has_more"))
    if more and doc.get("quota_remaining") == 0:
        tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        raise Throttled("Stack Exchange: the day's quota of requests is spent", tomorrow)
    return items, more


def _every(api: Client, path: str, **params: Any) -> list[dict]:
    """Every page of a listing."""
    found, page = [], 1
    while True:
        items, more = _get(api, path, page=page, pagesize=PAGE, **params)
        found += items
        if not more:
            return found
        page += 1


def _by_ids(api: Client, what: str, ids: Iterable[int], **params: Any) -> list[dict]:
    """The items of `/what/{ids}`, 100 ids a request."""
    ids = sorted(set(ids))
    return [item for start in range(0, len(ids), PAGE)
            for item in _every(api, f"/{what}/{';'.join(map(str, ids[start:start + PAGE]))}", **params)]


def probe(api: Client, _settings: dict) -> int:
    """The questions on the first page (the connection's test)."""
    return len(_get(api, "/questions", pagesize=PAGE)[0])


def _date(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000")


def _text(value: object) -> str:
    return _INVALID_XML.sub("", str(value))


def _xml(batch: Batch, name: str, rows: list[dict[str, object]]) -> None:
    root = ET.Element(name.removesuffix(".xml").lower())
    for row in rows:
        ET.SubElement(root, "row", {k: _text(v) for k, v in row.items() if v is not None})
    path = batch.folder / name
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    batch.files.append(path)


def _owner(item: dict) -> object:
    return (item.get("owner") or {}).get("user_id")


def _since(items: list[dict], key: str, ids: tuple[str, ...], at: int, seen: list[str]) -> list[dict]:
    """`items` but those the cursor's second (`at`, inclusive in the API) already loaded (`seen`)."""
    return [i for i in items if not (i[key] == at and _id(i, ids) in seen)]


def _id(item: dict, ids: tuple[str, ...]) -> str:
    return next(f"{k}:{item[k]}" for k in ids if k in item)


def _mark(items: list[dict], key: str, ids: tuple[str, ...], at: int, seen: list[str]) -> tuple[int, list[str]]:
    """The cursor after `items`: the newest second, and the items of that second."""
    newest = max([at, *(i[key] for i in items)])
    return newest, [_id(i, ids) for i in items if i[key] == newest] + (seen if newest == at else [])


def fetch(api: Client, _settings: dict, cursor: dict, batch: Batch) -> None:
    """Into `batch`: the questions and answers active since `cursor["activity"]` (Unix seconds),
    the comments created since `cursor["comment"]`, the posts they hang on, their authors."""
    active, commented = int(cursor.get("activity", 0)), int(cursor.get("comment", 0))
    posts_seen, comments_seen = cursor.get("posts_seen", []), cursor.get("comments_seen", [])
    listed_posts = _since([*_every(api, "/questions", sort="activity", order="asc", min=active, filter="withbody"),
                           *_every(api, "/answers", sort="activity", order="asc", min=active, filter="withbody")],
                          "last_activity_date", ("answer_id", "question_id"), active, posts_seen)
    comments = _since(_every(api, "/comments", sort="creation", order="asc", min=commented, filter="withbody"),
                      "creation_date", ("comment_id",), commented, comments_seen)
    batch.items = len(listed_posts) + len(comments)
    if not batch.items:
        return
    questions = [p for p in listed_posts if "answer_id" not in p]
    answers = [p for p in listed_posts if "answer_id" in p]
    known = {q["question_id"] for q in questions} | {a["answer_id"] for a in answers}
    hung_on = {c["post_id"] for c in comments} - known
    if hung_on:  # older posts with new comments: as they are now
        questions += _by_ids(api, "questions", hung_on, filter="withbody")
        answers += _by_ids(api, "answers", hung_on - {q["question_id"] for q in questions}, filter="withbody")
    missing = {a["question_id"] for a in answers} - {q["question_id"] for q in questions}
    if missing:  # older questions with new answers: the importer keeps an answer with its question
        questions += _by_ids(api, "questions", missing, filter="withbody")
    activity, posts_seen = _mark(listed_posts, "last_activity_date", ("answer_id", "question_id"), active, posts_seen)
    comment, comments_seen = _mark(comments, "creation_date", ("comment_id",), commented, comments_seen)
    batch.cursor = {"activity": activity, "posts_seen": posts_seen, "comment": comment, "comments_seen": comments_seen}
    if not questions:
        return  # comments on posts gone: nothing the importer would keep
    authors = {_owner(i) for i in (*questions, *answers, *comments)} - {None}
    users = _by_ids(api, "users", authors) if authors else []
    _xml(batch, "Users.xml", [{"Id": u["user_id"], "DisplayName": u.get("display_name"),
                               "CreationDate": _date(u["creation_date"])} for u in users])
    _xml(batch, "Posts.xml", [
        *({"Id": q["question_id"], "PostTypeId": 1, "AcceptedAnswerId": q.get("accepted_answer_id"),
           "CreationDate": _date(q["creation_date"]), "Score": q.get("score", 0), "Body": q.get("body", ""),
           "OwnerUserId": _owner(q), "Title": q.get("title"), "Tags": "".join(f"<{t}>" for t in q.get("tags", []))}
          for q in {q["question_id"]: q for q in questions}.values()),
        *({"Id": a["answer_id"], "PostTypeId": 2, "ParentId": a["question_id"],
           "CreationDate": _date(a["creation_date"]), "Score": a.get("score", 0), "Body": a.get("body", ""),
           "OwnerUserId": _owner(a)} for a in {a["answer_id"]: a for a in answers}.values())])
    if comments:
        _xml(batch, "Comments.xml", [{"Id": c["comment_id"], "PostId": c["post_id"], "Score": c.get("score", 0),
                                      "Text": c.get("body", ""), "CreationDate": _date(c["creation_date"]),
                                      "UserId": _owner(c)} for c in comments])
