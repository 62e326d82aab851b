"""The platforms a community lives on (Discord, Discourse…): administrators add and rename them."""
from __future__ import annotations

import re

import polars as pl
import sqlalchemy as sa

from cmcore import audit, db, frames
from cmcore.access import Principal, require
from cmcore.ingest.canonical import PLATFORM_KINDS, SLUG
from cmcore.refusal import Refusal


def listing(actor: Principal) -> pl.DataFrame:
    """Every platform with its members' accounts and activity counted."""
    require(actor, "admin")
    return frames.read(
        "SELECT p.id AS platform_id, p.slug, p.name, p.kind,"
        " (SELECT count(*) FROM member_identity i WHERE i.platform_id = p.id) AS accounts,"
        " (SELECT count(*) FROM activity a WHERE a.platform_id = p.id) AS activities FROM platform p ORDER BY p.id")


@db.retried
def save(actor: Principal, slug: str, name: str, kind: str) -> None:
    """Add the platform `slug`, or rename it / change its kind if it exists."""
    require(actor, "admin")
    slug, name = slug.strip().lower(), name.strip()
    if not re.match(SLUG, slug):
        raise Refusal("{slug} is not a platform slug: lower-case letters, digits, - and _, up to 40", slug=repr(slug))
    if not 1 <= len(name) <= 80:
        raise Refusal("a platform's name has 1 to 80 characters")
    if kind not in PLATFORM_KINDS:
        raise Refusal("{kind} is not one of {kinds}", kind=repr(kind), kinds=", ".join(PLATFORM_KINDS))
    with db.transaction() as conn:
        conn.execute(sa.text("INSERT INTO platform (slug, name, kind) VALUES (:slug, :name, :kind)"
                             " ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind"),
                     {"slug": slug, "name": name, "kind": kind})
        audit.record(conn, actor.username, "platform.save", "platform", slug, name=name, kind=kind)
