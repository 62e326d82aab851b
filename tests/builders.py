"""Build small communities by hand, row by row, in the test database."""
from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from cmcore import auth, db
from cmcore.access import CLI


def _insert(table: str, returning: str | None = "id", **values) -> int | None:
    cols = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})" + (f" RETURNING {returning}" if returning else "")
    with db.transaction() as conn:
        result = conn.execute(sa.text(sql), values)
        return result.scalar_one() if returning else None


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

    def member(self, name: str, joined: datetime, *platforms: str, staff: bool = False,
               platform_joined: dict[str, datetime] | None = None) -> int:
        member_id = _insert("member", display_name=name, joined_at=joined, is_staff=staff)
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

    def mention(self, at: datetime, sentiment: int, reach: int = 100, source: str = "x", body: str = "…") -> int:
        return _insert("mention", source=source, url=f"https://{source}.example/{at.isoformat()}/{_next()}",
                       author="@someone", body=body, created_at=at, reach=reach, lang="fr", sentiment=sentiment)

    def event(self, title: str, starts: datetime, fmt: str = "online") -> int:
        return _insert("event", title=title, format=fmt, starts_at=starts)

    def register(self, event: int, member: int, registered: datetime, attended: bool) -> None:
        _insert("event_attendance", returning=None, event_id=event, member_id=member,
                registered_at=registered, attended=attended)


def user(username: str, role: str, password: str = "correct horse battery", sponsor_id: int | None = None):
    return auth.add_user(CLI, username, username.title(), role, password, sponsor_id=sponsor_id)
