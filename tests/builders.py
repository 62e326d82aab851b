"""Build small communities by hand, row by row, in the test database."""
from __future__ import annotations

from datetime import date, datetime

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


def user(username: str, role: str, password: str = "correct horse battery", sponsor_id: int | None = None):
    return auth.add_user(CLI, username, username.title(), role, password, sponsor_id=sponsor_id)
