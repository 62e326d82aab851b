"""Build small communities by hand, row by row, in the test database."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from cmcore import auth, db, ingest, money, sessions
from cmcore.access import CLI, Principal


def _insert(table: str, returning: str | None = "id", **values) -> int | None:
    cols = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})" + (f" RETURNING {returning}" if returning else "")
    with db.transaction() as conn:
        result = conn.execute(sa.text(sql), values)
        return result.scalar_one() if returning else None


@contextmanager
def as_owner() -> Iterator[sa.Connection]:
    """A transaction as the tables' owner, for what the application role may not do: a test's
    stand-in for what no cmcore function does (a deleted activity), or the database's rules tried
    against the owner's own SQL. This process sees it at its next view, as its own writes."""
    engine = sa.create_engine(db.sqlalchemy_url(db.owner_url()), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()
    with db.transaction():  # counts as this process's write
        pass


def utc(*args: int) -> datetime:
    """A UTC instant: utc(2026, 3, 1, 10) is 1 March 2026, 10:00 UTC."""
    return datetime(*args, tzinfo=UTC)


_serial = iter(range(1, 10**9))


def _next() -> int:
    return next(_serial)


class Community:
    """A tiny community: `c.member("ann", at, "discord")`, `c.act(ann, "thread", at)`…"""

    def __init__(self) -> None:
        self.platforms: dict[str, int] = {}
        self._platform_of: dict[int, int] = {}

    def platform(self, slug: str, kind: str = "other") -> int:
        if slug not in self.platforms:
            self.platforms[slug] = _insert("platform", slug=slug, name=slug.title(), kind=kind)
        return self.platforms[slug]

    def member(self, name: str, joined: datetime, *platforms: str, staff: bool = False, bot: bool = False,
               platform_joined: dict[str, datetime] | None = None) -> int:
        member_id = _insert("member", display_name=name, joined_at=joined, is_staff=staff, is_bot=bot)
        for slug in platforms or ("discord",):
            _insert("member_identity", returning=None, platform_id=self.platform(slug),
                    external_id=f"{name}@{slug}", handle=name, member_id=member_id,
                    original_member_id=member_id,
                    joined_at=(platform_joined or {}).get(slug, joined))
        return member_id

    def act(self, member: int, kind: str, at: datetime, platform: str = "discord",
            parent: int | None = None, **extra) -> int:
        thread = None
        if parent is not None:
            with db.engine().connect() as conn:
                thread = conn.execute(sa.text("SELECT coalesce(thread_id, id) FROM activity WHERE id = :p"),
                                      {"p": parent}).scalar_one()
        n = len(self._platform_of) + 1
        act_id = _insert("activity", platform_id=self.platform(platform), external_id=f"a{n}",
                         member_id=member, kind=kind, parent_id=parent, thread_id=thread,
                         created_at=at, **extra)
        self._platform_of[act_id] = n
        return act_id

    def vote(self, activity: int, day: date, up: int = 0, down: int = 0) -> None:
        """Anonymous votes `activity` received on `day` (up-votes are reactions its author received)."""
        _insert("activity_vote", returning=None, activity_id=activity, day=day, up=up, down=down)

    def revenue(self, stream: str, amount_minor: int, currency: str, booked: date,
                received: date | None = None, **extra) -> int:
        return _insert("revenue", stream=stream, amount_minor=amount_minor, currency=currency,
                       booked_on=booked, received_on=received, **extra)

    def sponsor(self, name: str) -> int:
        return _insert("sponsor", name=name)

    def case(self, member: int, rule: str, reported: datetime, platform: str = "discord",
             acted: datetime | None = None, resolved: datetime | None = None,
             outcome: str | None = None) -> int:
        with db.engine().connect() as conn:
            rule_id = conn.execute(sa.text("SELECT id FROM rule WHERE code = :c"), {"c": rule}).scalar()
        if rule_id is None:
            rule_id = _insert("rule", code=rule, title=rule.title())
        n = _insert("moderation_case", platform_id=self.platform(platform), external_id=f"c{reported.isoformat()}{member}",
                    member_id=member, rule_id=rule_id, reported_at=reported, first_action_at=acted,
                    resolved_at=resolved, outcome=outcome)
        return n

    def mention(self, at: datetime, sentiment: int | None, reach: int = 100, source: str = "x", body: str = "…") -> int:
        return _insert("mention", source=source, url=f"https://{source}.example/{at.isoformat()}/{_next()}",
                       author="@someone", body=body, created_at=at, reach=reach, lang="fr", sentiment=sentiment)

    def event(self, title: str, starts: datetime, fmt: str = "online") -> int:
        return _insert("event", title=title, format=fmt, starts_at=starts)

    def register(self, event: int, member: int, registered: datetime, attended: bool) -> None:
        _insert("event_attendance", returning=None, event_id=event, member_id=member,
                registered_at=registered, attended=attended)


def user(username: str, role: str, password: str = "correct horse battery", sponsor_id: int | None = None):
    """A user who has already replaced the password an administrator gave them by `password`."""
    added = auth.add_user(CLI, username, username.title(), role, password, sponsor_id=sponsor_id)
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE app_user SET must_change_password = false WHERE username = :u"),
                     {"u": added.username})
    return auth.get_user(added.username)


# The town: a small community imported as canonical files, like any import. On the forum, Ann
# (staff) answers Bob's question of 2 March (accepted, 1.5 h later); Cat's thread of 3 March is
# unanswered; one spam case against Cat (acted on in 1 h, resolved in 3 h, upheld); one meetup on
# 5 March (Ann came, Bob registered and did not); one positive mention (reach 100). The chat
# platform has no one yet. Everyone joined before March.
TOWN = {
    "platforms.csv": "slug,name,kind\nforum,Forum,discourse\nchat,Chat,discord\n",
    "members.csv": "platform,external_id,display_name,handle,joined_at,is_staff\n"
                   "forum,u1,Ann,ann,2026-01-05T09:00:00Z,true\n"
                   "forum,u2,Bob,bob,2026-01-10T09:00:00Z,false\n"
                   "forum,u3,Cat,cat,2026-02-01T09:00:00Z,false\n",
    "activities.csv": "platform,external_id,author,kind,parent,created_at,title,is_question,accepted\n"
                      "forum,t1,u2,thread,,2026-03-02T10:00:00Z,Reset password?,true,\n"
                      "forum,p1,u1,answer,t1,2026-03-02T11:30:00Z,,,true\n"
                      "forum,t2,u3,thread,,2026-03-03T09:00:00Z,Unanswered,,\n",
    "moderation_cases.csv": "platform,external_id,member,rule,reported_at,first_action_at,resolved_at,outcome\n"
                            "forum,f1,u3,spam,2026-03-02T13:00:00Z,2026-03-02T14:00:00Z,2026-03-02T16:00:00Z,upheld\n",
    "events.csv": "external_id,platform,title,format,starts_at\nev1,forum,Meetup,online,2026-03-05T18:00:00Z\n",
    "attendance.csv": "event,platform,member,registered_at,attended\n"
                      "ev1,forum,u1,2026-03-01T10:00:00Z,true\nev1,forum,u2,2026-03-01T11:00:00Z,false\n",
    "mentions.csv": "url,source,author,body,created_at,reach,lang,sentiment\n"
                    "https://x.example/1,x,@alice,Great help,2026-03-02T08:00:00Z,100,en,1\n",
}
TOWN_MANAGER = Principal("manon", "manager")


def import_files(folder: Path, **files: str) -> None:
    """Import canonical files (name → text) as an administrator."""
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text)
        paths.append(folder / name)
    ingest.run("canonical", paths, CLI)


def town(folder: Path) -> dict:
    """Load the town, its manager `manon` and its sponsor: Acme, whose campaign Spring (1–31 March,
    1,000 EUR, 1 of 4 posts delivered) showed 2,000 impressions (20 clicks, 5 engagements) on 1 March
    and 1,000 (10, 5) on 2 March, invoiced 1,000 EUR on 2 March, not paid yet."""
    import_files(folder, **TOWN)
    user(TOWN_MANAGER.username, TOWN_MANAGER.role)
    acme = money.add_sponsor(TOWN_MANAGER, "Acme")
    spring = money.add_campaign(TOWN_MANAGER, acme, "Spring", date(2026, 3, 1), date(2026, 3, 31), "1000", "EUR",
                                [{"kind": "post", "label": "Posts", "target": 4, "delivered": 1}])
    money.record_delivery(TOWN_MANAGER, spring, date(2026, 3, 1), 2000, 20, 5)
    money.record_delivery(TOWN_MANAGER, spring, date(2026, 3, 2), 1000, 10, 5)
    money.add_revenue(TOWN_MANAGER, "sponsorship", "1000", "EUR", date(2026, 3, 2), campaign_id=spring)
    return {"tmp": folder, "acme": acme, "spring": spring, "sponsor": Principal("acme", "sponsor", acme)}


def session(username: str, hours: float = 1) -> sessions.Session:
    """A live session of `username`, as signing in opens one (AppTest cannot carry the cookie)."""
    with db.transaction() as conn:
        token = sessions.start(conn, username, timedelta(hours=hours))
    return sessions.resume(token)


def a_minute_passes() -> None:
    """Every sign-in attempt so far is more than a minute old: the rate limits no longer count them."""
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE login_attempt SET at = at - interval '61 seconds'"))
