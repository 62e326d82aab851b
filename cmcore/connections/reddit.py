"""Reddit, through its OAuth API with a script or web app's credentials (application-only: the
client credentials grant, public data only): the posts (`/r/{sub}/new`) and comments
(`/r/{sub}/comments`) of a subreddit newer than the cursor, newest first, paged with `after`, and
the older posts and comments they answer (`/api/info`), up their chains. They are written as the
canonical activities and members files (a post a thread, a comment a reply; its score stands in
for anonymous up-votes on its day) and imported by the canonical importer."""
from __future__ import annotations

from datetime import UTC, datetime

from cmcore.connections.batch import Batch, listed
from cmcore.connections.http import Client, Fault, Revoked

SOURCE = "canonical"
SETTINGS = ("url", "token_url", "subreddit")
SECRETS = ("client_id", "client_secret")
DEFAULTS = {"url": "https://oauth.reddit.com", "token_url": "https://www.reddit.com/api/v1/access_token"}
PATTERNS = {"subreddit": r"[A-Za-z0-9_]{2,21}"}
AGENT = "community-console/1.0 (connector)"  # Reddit asks every client for a descriptive User-Agent
PAGE = 100
DELETED = "deleted"  # authors whose account is gone: one member stands for them
MOST_PARENTS = 1000


def client(settings: dict, secrets: dict) -> Client:
    """The API with an application-only token, asked for now."""
    api = Client(settings["url"], headers={"User-Agent": AGENT})
    answer = api.session.post(settings["token_url"], data={"grant_type": "client_credentials"},
                              auth=(secrets["client_id"], secrets["client_secret"]), headers={"User-Agent": AGENT},
                              timeout=30)
    if answer.status_code in (400, 401, 403):
        raise Revoked(f"POST {settings['token_url'].split('?')[0]}: HTTP {answer.status_code}, the app's credentials"
                      " were refused")
    try:
        token = answer.json()["access_token"]
    except (ValueError, KeyError, TypeError):
        raise Fault(f"POST {settings['token_url'].split('?')[0]}: HTTP {answer.status_code}, no access token") from None
    api.headers["Authorization"] = f"bearer {token}"
    return api


def _things(doc: object) -> list[dict]:
    """The items of a Listing (`data.children[].data`, with their kind)."""
    return [{**c["data"], "_kind": c.get("kind")} for c in listed(doc, "data", "children") if "data" in c]


def probe(api: Client, settings: dict) -> int:
    """The newest posts' first page (the connection's test)."""
    return len(_things(api.get(f"/r/{settings['subreddit']}/new", limit=PAGE)))


def _since(api: Client, path: str, since: float) -> list[dict]:
    """The listing's items created after `since`, page after page until an older one."""
    found, after = [], None
    while True:
        doc = api.get(path, limit=PAGE, raw_json=1, **({"after": after} if after else {}))
        page = _things(doc)
        new = [t for t in page if float(t["created_utc"]) > since]
        found += new
        after = (doc.get("data") or {}).get("after")
        if not after or len(new) < len(page):
            return found


def _author(thing: dict) -> str:
    return thing.get("author_fullname") or DELETED


def fetch(api: Client, settings: dict, cursor: dict, batch: Batch) -> None:
    """Into `batch`: the posts and comments after `cursor["post"]` and `cursor["comment"]` (Unix
    seconds), with the older ones they answer."""
    sub = settings["subreddit"]
    posts = _since(api, f"/r/{sub}/new", float(cursor.get("post", 0)))
    comments = _since(api, f"/r/{sub}/comments", float(cursor.get("comment", 0)))
    batch.items = len(posts) + len(comments)
    if not batch.items:
        return
    things = {t["name"]: t for t in (*posts, *comments)}
    wanted = {n for t in comments for n in (t["parent_id"], t["link_id"])} - set(things)
    while wanted:  # older posts and comments answered: as they are now, up their chains
        if len(things) - batch.items > MOST_PARENTS:
            raise Fault(f"more than {MOST_PARENTS} older posts and comments answered in one sync")
        names = sorted(wanted)[:PAGE]
        found = _things(api.get("/api/info", id=",".join(names), raw_json=1))
        things.update({t["name"]: t for t in found})
        wanted = ({n for t in found if t["_kind"] == "t1" for n in (t["parent_id"], t["link_id"])}
                  | (wanted - set(names))) - set(things)
    kept = [t for t in things.values() if t["_kind"] == "t3" or t.get("link_id") in things]
    day = lambda t: datetime.fromtimestamp(float(t["created_utc"]), UTC).isoformat()  # noqa: E731
    slug = batch.platform
    first: dict[str, str] = {}
    for t in sorted(kept, key=lambda t: float(t["created_utc"])):
        first.setdefault(_author(t), day(t))
    batch.write_lines("members.jsonl", [
        {"platform": slug, "external_id": a, "display_name": "(deleted user)" if a == DELETED else next(
            t["author"] for t in kept if _author(t) == a), "joined_at": at, "is_bot": a == DELETED}
        for a, at in first.items()])
    batch.write_lines("activities.jsonl", [
        {"platform": slug, "external_id": t["name"], "author": _author(t),
         "kind": "thread" if t["_kind"] == "t3" else "reply", "created_at": day(t),
         "parent": None if t["_kind"] == "t3" else (t["parent_id"] if t["parent_id"] in things else t["link_id"]),
         "thread": None if t["_kind"] == "t3" else t["link_id"],
         "title": t.get("title") if t["_kind"] == "t3" else None,
         "body": (t.get("selftext") if t["_kind"] == "t3" else t.get("body")) or None,
         "is_question": t["_kind"] == "t3" and str(t.get("title", "")).rstrip().endswith("?"),
         "anonymous_reactions": max(0, int(t.get("score") or 0)),
         "url": f"https://www.reddit.com{t['permalink']}" if t.get("permalink") else None}
        for t in kept])
    batch.cursor = {"post": max([float(cursor.get("post", 0)), *(float(t["created_utc"]) for t in posts)]),
                    "comment": max([float(cursor.get("comment", 0)), *(float(t["created_utc"]) for t in comments)])}

