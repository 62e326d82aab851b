"""What a fresh start adds to the starter demo so that every kind of alert has something to say:
one rule per kind (to the demo manager, by e-mail, at the kind's default threshold), and a few
recent events, brought in through the services and the importer like any data: a burst of
negative mentions today, a forum whose last post is three days old, a case reported five hours
ago and not acted on, an import that failed, this month's budget 84 % spent, a campaign behind
its pace, a forum's connection whose key was refused. The demo's own data supplies unanswered threads and key members slipping."""
from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from cmcore import connections, i18n, ingest, money, rewards
from cmcore.access import CLI, Principal
from cmcore.alerts import rules
from cmcore.alerts.kinds import KINDS
from cmcore.connections import sync
from cmcore.ingest.canonical import Rejected

MANAGER = Principal("manager", "manager")  # the demo's users (cmcore.demo.DEMO_USERS)
STAFF, STAFF2 = Principal("staff", "staff"), Principal("staff2", "staff")


def _files(folder: Path, now: datetime) -> dict[str, list[Path]]:
    """The importer's files of the recent events, by what they show."""
    at = lambda **ago: (now - timedelta(**ago)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    files = {
        "platforms.csv": "slug,name,kind\noldforum,Old forum,discourse\n",
        "members.csv": "platform,external_id,display_name,joined_at\noldforum,o1,Odile,2025-01-01T00:00:00Z\n",
        "activities.csv": "platform,external_id,author,kind,created_at,title\n"
                          + "".join(f"oldforum,ot{d},o1,thread,{at(days=d)},Last news {d}\n" for d in (3, 4, 5)),
        "moderation_cases.csv": "platform,external_id,member,rule,reported_at\n"
                                f"oldforum,oc1,o1,spam,{at(hours=5)}\n",
        "mentions.csv": "url,source,author,body,created_at,reach,lang,sentiment\n"
                        + "".join(f"https://x.example/outage/{i},x,@user{i},The service is down again,"
                                  f"{at(minutes=10 + 5 * i)},{300 + i},en,-1\n" for i in range(30)),
        "bad/activities.csv": "platform,external_id,author,kind,created_at\noldforum,ob1,o1,thread,yesterday\n",
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(text)
    return {"recent": [folder / n for n in files if "/" not in n], "bad": [folder / "bad/activities.csv"]}


def seed(now: datetime) -> None:
    """Add the rules and the recent events (imported by the command line's administrator)."""
    for kind, k in KINDS.items():
        name = i18n.translate(k.title, i18n.DEFAULT_LANGUAGE)
        rules.save(MANAGER, rules.Rule(kind, name, k.default, "email", ("manager",)))
    with tempfile.TemporaryDirectory() as tmp:
        files = _files(Path(tmp), now)
        ingest.run("canonical", files["recent"], CLI)
        try:
            ingest.run("canonical", files["bad"], CLI)
        except Rejected:
            pass  # recorded as a failed import: what the rule watches
    forum = connections.add(CLI, "discourse", "Old forum", "oldforum", {"url": "https://oldforum.invalid",
                                                                        "username": "system"},
                            {"api_key": "revoked-demo-key"}, every_minutes=10080)
    sync.failed(forum, "revoked", "GET /posts.json: HTTP 403, the credentials were refused (revoked, expired or"
                " missing a scope)", now, last_attempt_at=now)
    month = f"{now:%Y-%m}"
    rewards.set_budget(MANAGER, month, "EUR", "500")
    for amount in ("300", "120"):
        rewards.approve(STAFF2, rewards.propose(STAFF, 1, month, "money", amount, "EUR", "Thanks for the help"))
    sponsor = money.sponsors(MANAGER)["sponsor_id"][0]
    money.add_campaign(MANAGER, sponsor, "Launch week videos", (now - timedelta(days=20)).date(),
                       (now + timedelta(days=10)).date(), "3000", "EUR",
                       [{"kind": "video", "label": "Videos", "target": 10, "delivered": 1}])
