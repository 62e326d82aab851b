"""People and their platform accounts: staff merge two members who are one person, and can undo it.

A merge moves the accounts, activity, moderation cases and event registrations of one member to
another; the merged member is kept (no longer counted) so the merge can be undone. Only members
whose accounts are on different platforms merge: each row then belongs to one account by its
platform, which is what makes an undo exact, imports made since included.
"""
from __future__ import annotations

import json

import polars as pl
import sqlalchemy as sa

from cmcore import audit, db, frames
from cmcore.access import Principal, require
from cmcore.refusal import Refusal

MERGERS = ("admin", "manager", "staff")


class MergeError(Refusal):
    """A merge or an undo that cannot be done, and why."""


def joined_at(conn: sa.Connection, members: str, **params: object) -> None:
    """A member joined when the first of their accounts did: set it for the members the SQL
    `members` selects (imports, merges and undos change who owns which account)."""
    conn.execute(sa.text(
        "UPDATE member m SET joined_at = x.first FROM (SELECT member_id, min(joined_at) AS first"
        f" FROM member_identity WHERE member_id IN ({members}) GROUP BY member_id) x"
        " WHERE m.id = x.member_id AND m.joined_at <> x.first"), params)


def _moved_rows(conn: sa.Connection, source: int, target: int, platforms: list[int]) -> None:
    for table in ("activity", "moderation_case"):
        conn.execute(sa.text(f"UPDATE {table} SET member_id = :target WHERE member_id = :source"
                             " AND platform_id = ANY(:platforms)"),
                     {"source": source, "target": target, "platforms": platforms})


@db.retried
def merge(actor: Principal, member_id: int, into_member_id: int) -> int:
    """Merge member `member_id` into `into_member_id`; returns the merge's id."""
    require(actor, *MERGERS)
    if member_id == into_member_id:
        raise MergeError("a member cannot be merged into itself")
    with db.transaction() as conn:
        found = conn.execute(sa.text(
            "SELECT id, display_name, merged_into FROM member WHERE id IN (:a, :b) ORDER BY id FOR UPDATE"),
            {"a": member_id, "b": into_member_id}).mappings().all()
        by_id = {r["id"]: r for r in found}
        for mid in (member_id, into_member_id):
            if mid not in by_id:
                raise MergeError("no member {member}", member=mid)
            if by_id[mid]["merged_into"] is not None:
                raise MergeError("{name} is already merged into member {into}", name=by_id[mid]["display_name"],
                                 into=by_id[mid]["merged_into"])
        accounts = conn.execute(sa.text(
            "SELECT i.member_id, i.platform_id, i.external_id, p.slug FROM member_identity i"
            " JOIN platform p ON p.id = i.platform_id WHERE i.member_id IN (:a, :b)"),
            {"a": member_id, "b": into_member_id}).mappings().all()
        moving = [a for a in accounts if a["member_id"] == member_id]
        shared = {a["slug"] for a in moving} & {a["slug"] for a in accounts if a["member_id"] == into_member_id}
        if shared:
            raise MergeError("both members have an account on {platforms}: only accounts on different platforms"
                             " can be merged", platforms=", ".join(sorted(shared)))
        platforms = sorted({a["platform_id"] for a in moving})
        conn.execute(sa.text("UPDATE member_identity SET member_id = :b WHERE member_id = :a"),
                     {"a": member_id, "b": into_member_id})
        _moved_rows(conn, member_id, into_member_id, platforms)
        attendance = conn.execute(sa.text(
            "SELECT a.event_id, a.registered_at, a.attended, t.event_id IS NOT NULL AS clash"
            " FROM event_attendance a LEFT JOIN event_attendance t ON t.event_id = a.event_id"
            " AND t.member_id = :b WHERE a.member_id = :a"), {"a": member_id, "b": into_member_id}).mappings().all()
        conn.execute(sa.text(
            "UPDATE event_attendance SET member_id = :b WHERE member_id = :a AND event_id NOT IN"
            " (SELECT event_id FROM event_attendance WHERE member_id = :b)"), {"a": member_id, "b": into_member_id})
        conn.execute(sa.text("DELETE FROM event_attendance WHERE member_id = :a"), {"a": member_id})
        conn.execute(sa.text("UPDATE member SET merged_into = :b WHERE id = :a"), {"a": member_id, "b": into_member_id})
        joined_at(conn, ":b", b=into_member_id)
        merge_id = conn.execute(sa.text(
            "INSERT INTO member_merge (member_id, into_member_id, merged_by, identities, attendance)"
            " VALUES (:a, :b, :by, CAST(:ids AS jsonb), CAST(:att AS jsonb)) RETURNING id"),
            {"a": member_id, "b": into_member_id, "by": actor.username,
             "ids": json.dumps([[a["platform_id"], a["external_id"]] for a in moving]),
             "att": json.dumps([dict(r) for r in attendance], default=str)}).scalar_one()
        audit.record(conn, actor.username, "member.merge", "member", member_id, into=into_member_id,
                     merge_id=merge_id, accounts=[f"{a['slug']}:{a['external_id']}" for a in moving])
    return merge_id


@db.retried
def undo(actor: Principal, merge_id: int) -> None:
    """Give the merged member back their accounts and, platform by platform, their rows."""
    require(actor, *MERGERS)
    with db.transaction() as conn:
        row = conn.execute(sa.text("SELECT * FROM member_merge WHERE id = :id FOR UPDATE"),
                           {"id": merge_id}).mappings().first()
        if row is None:
            raise MergeError("no merge {merge}", merge=merge_id)
        if row["undone_at"] is not None:
            raise MergeError("merge {merge} was already undone", merge=merge_id)
        source = row["member_id"]
        keys = [tuple(k) for k in row["identities"]]
        moved = "SELECT (k->>0)::smallint, k->>1 FROM jsonb_array_elements(CAST(:keys AS jsonb)) k"
        owner = conn.execute(sa.text(  # the merge target, or whom it was merged into since: they move together
            f"SELECT DISTINCT member_id FROM member_identity WHERE (platform_id, external_id) IN ({moved})"),
            {"keys": json.dumps(keys)}).scalar_one()
        platforms = sorted({k[0] for k in keys})
        other = conn.execute(sa.text(
            "SELECT p.slug, i.external_id FROM member_identity i JOIN platform p ON p.id = i.platform_id"
            f" WHERE i.member_id = :o AND i.platform_id = ANY(:ps) AND (i.platform_id, i.external_id) NOT IN ({moved})"),
            {"o": owner, "ps": platforms, "keys": json.dumps(keys)}).first()
        if other is not None:
            raise MergeError("member {member} has had another account on {platform} since the merge ({account}):"
                             " the two accounts' rows can no longer be told apart", member=owner, platform=other[0],
                             account=other[1])
        conn.execute(sa.text(f"UPDATE member_identity SET member_id = :a WHERE (platform_id, external_id) IN ({moved})"),
                     {"a": source, "keys": json.dumps(keys)})
        _moved_rows(conn, owner, source, platforms)
        for reg in row["attendance"]:
            if reg["clash"]:
                conn.execute(sa.text("INSERT INTO event_attendance (event_id, member_id, registered_at, attended)"
                                     " VALUES (:e, :a, :r, :att) ON CONFLICT DO NOTHING"),
                             {"e": reg["event_id"], "a": source, "r": reg["registered_at"], "att": reg["attended"]})
            else:
                conn.execute(sa.text("UPDATE event_attendance SET member_id = :a WHERE event_id = :e"
                                     " AND member_id = :o"), {"a": source, "e": reg["event_id"], "o": owner})
        conn.execute(sa.text("UPDATE member SET merged_into = NULL WHERE id = :a"), {"a": source})
        joined_at(conn, ":a, :o", a=source, o=owner)
        conn.execute(sa.text("UPDATE member_merge SET undone_by = :by, undone_at = now() WHERE id = :id"),
                     {"by": actor.username, "id": merge_id})
        audit.record(conn, actor.username, "member.unmerge", "member", source, merge_id=merge_id, owner=owner)


def people(actor: Principal, search: str = "", limit: int = 50) -> pl.DataFrame:
    """Members still counted whose name or a handle contains `search` (ignoring case), with their
    accounts ("platform: handle"), at most `limit` of them."""
    require(actor, *MERGERS)
    pattern = "%" + search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return frames.read(
        "SELECT m.id AS member_id, m.display_name, m.joined_at,"
        " string_agg(p.slug || ': ' || i.handle, ', ' ORDER BY p.slug) AS accounts"
        " FROM member m LEFT JOIN member_identity i ON i.member_id = m.id LEFT JOIN platform p ON p.id = i.platform_id"
        " WHERE m.merged_into IS NULL GROUP BY m.id"
        " HAVING lower(m.display_name) LIKE $1 OR bool_or(lower(i.handle) LIKE $1)"
        " ORDER BY lower(m.display_name), m.id LIMIT $2", [pattern, limit])


def candidates(actor: Principal, limit: int = 200) -> pl.DataFrame:
    """Pairs of members that may be one person: the same name or handle (ignoring case) on
    different platforms, not merged yet."""
    require(actor, *MERGERS)
    return frames.read(
        "WITH names AS (SELECT DISTINCT m.id, m.display_name, lower(n) AS name FROM member m"
        " JOIN member_identity i ON i.member_id = m.id, LATERAL (VALUES (m.display_name), (i.handle)) v(n)"
        " WHERE m.merged_into IS NULL),"
        " plats AS (SELECT member_id, array_agg(platform_id) AS ps FROM member_identity GROUP BY member_id)"
        " SELECT DISTINCT a.id AS member_id, a.display_name, b.id AS into_member_id,"
        " b.display_name AS into_display_name, a.name AS shared_name"
        " FROM names a JOIN names b ON a.name = b.name AND a.id > b.id"
        " JOIN plats pa ON pa.member_id = a.id JOIN plats pb ON pb.member_id = b.id"
        " WHERE NOT pa.ps && pb.ps ORDER BY into_member_id, member_id LIMIT $1",
        [limit])


def merges(actor: Principal) -> pl.DataFrame:
    """Every merge, newest first, with who did and undid it."""
    require(actor, *MERGERS)
    return frames.read(
        "SELECT g.id AS merge_id, g.member_id, m.display_name, g.into_member_id, t.display_name AS into_display_name,"
        " g.merged_by, g.merged_at, g.undone_by, g.undone_at FROM member_merge g JOIN member m ON m.id = g.member_id"
        " JOIN member t ON t.id = g.into_member_id ORDER BY g.id DESC")
