"""Writing validated canonical tables: staged with COPY into temporary tables, references checked
there (a missing one is reported by file, line and field), then upserted by natural key. The
caller's transaction holds it all, so a failure anywhere leaves the database as it was."""
from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import polars as pl
import sqlalchemy as sa

from cmcore import db, identities
from cmcore.ingest.canonical import LOAD_ORDER, TABLES, Rejected, shown
from cmcore.progress import Progress

Counts = dict[str, int]
_PG = {"text": "text", "int": "bigint", "real": "double precision", "bool": "boolean", "datetime": "timestamptz",
       "date": "date", "tags": "text", "json": "text"}
_TAG_JOIN = "\x1f"


def begin(conn: sa.Connection) -> None:
    """Start an import in the caller's transaction: one import at a time, joins hashed in memory."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('cmcore.import'))"))
    conn.execute(sa.text("SET LOCAL work_mem = '128MB'"))


def stage(conn: sa.Connection, table: str, frame: pl.DataFrame) -> None:
    """COPY validated rows (plus _file and _line) into the temporary table s_<table>."""
    spec = TABLES[table]
    columns = ", ".join(f"{c.name} {_PG[c.type]}" for c in spec.columns)
    conn.execute(sa.text(f"CREATE TEMP TABLE IF NOT EXISTS s_{table} (_file text, _line bigint, {columns})"
                         " ON COMMIT DROP"))
    out = frame.select("_file", "_line", *[
        pl.col(c.name).list.join(_TAG_JOIN) if c.type == "tags" else pl.col(c.name) for c in spec.columns])
    with db.raw(conn).cursor().copy(f"COPY s_{table} FROM STDIN WITH (FORMAT csv)") as copy:
        for offset in range(0, out.height, 200_000):
            buf = io.BytesIO()
            out.slice(offset, 200_000).write_csv(buf, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.f%z")
            copy.write(buf.getvalue())


def unique(conn: sa.Connection, table: str, units: dict[str, str]) -> None:
    """Reject the first staged row whose key an earlier row (this file or another) already has."""
    key = TABLES[table].key
    cols = ", ".join(key)
    if not conn.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM s_{table} GROUP BY {cols} HAVING count(*) > 1)")
                        ).scalar():
        return
    row = conn.execute(sa.text(
        f"SELECT * FROM (SELECT _file, _line, {cols}, first_value(_file) OVER w AS first_file,"
        f" first_value(_line) OVER w AS first_line, row_number() OVER w AS n FROM s_{table}"
        f" WINDOW w AS (PARTITION BY {cols} ORDER BY _file, _line)) x WHERE n > 1 ORDER BY _file, _line LIMIT 1"
    )).mappings().one()
    unit = units.get(row["_file"], "line")
    keys = ", ".join(f"{k} {shown(row[k])}" for k in key)
    if row["first_file"] == row["_file"]:
        raise Rejected(row["_file"], "duplicate row: {keys} is already on {unit_name} {first}", row["_line"], key[-1],
                       unit, keys=keys, unit_name=unit, first=row["first_line"])
    raise Rejected(row["_file"], "duplicate row: {keys} is already in {other} ({unit_name} {first})", row["_line"],
                   key[-1], unit, keys=keys, other=row["first_file"], unit_name=unit, first=row["first_line"])


def _first_missing(conn: sa.Connection, sql: str, field: str, message: str, units: dict[str, str]) -> None:
    """Reject at the first staged row `sql` returns (columns _file, _line, and those `message` names)."""
    row = conn.execute(sa.text(sql + " ORDER BY _file, _line LIMIT 1")).mappings().first()
    if row is not None:
        values = {k: repr(v) for k, v in row.items() if not k.startswith("_")}
        raise Rejected(row["_file"], message, row["_line"], field, units.get(row["_file"], "line"), **values)


def _platforms_exist(conn: sa.Connection, table: str, units: dict[str, str], column: str = "platform") -> None:
    _first_missing(conn, f"SELECT s._file, s._line, s.{column} AS value FROM s_{table} s"
                   f" LEFT JOIN platform p ON p.slug = s.{column} WHERE s.{column} IS NOT NULL AND p.id IS NULL",
                   column, "unknown platform {value}: add it on the Data page, or import a platforms file first",
                   units)


def _upsert(conn: sa.Connection, table: str, columns: list[str], select: str, key: str,
            update: list[str]) -> tuple[int, int]:
    """INSERT … ON CONFLICT DO UPDATE of the rows that changed: (inserted, updated)."""
    old = ", ".join(f"{table}.{c}" for c in update)
    new = ", ".join(f"EXCLUDED.{c}" for c in update)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in update)
    sql = (f"WITH up AS (INSERT INTO {table} ({', '.join(columns)}) {select}"
           f" ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE ({old}) IS DISTINCT FROM ({new})"
           f" RETURNING xmax = 0 AS inserted)"
           f" SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up")
    inserted, updated = conn.execute(sa.text(sql)).one()
    return inserted, updated


def _platforms(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    return _upsert(conn, "platform", ["slug", "name", "kind"], "SELECT slug, name, kind FROM s_platforms",
                   "slug", ["name", "kind"])


def _identity_upsert(conn: sa.Connection, source: str) -> None:
    """Accounts from `source` (platform_id, external_id, handle, member_id, joined_at): a new one
    is added, an existing one keeps its member (moving it is a merge) and its earliest joined_at."""
    conn.execute(sa.text(
        "INSERT INTO member_identity (platform_id, external_id, handle, member_id, original_member_id, joined_at)"
        f" SELECT platform_id, external_id, handle, member_id, member_id, joined_at FROM {source}"
        " ON CONFLICT (platform_id, external_id) DO UPDATE SET handle = EXCLUDED.handle,"
        " joined_at = least(member_identity.joined_at, EXCLUDED.joined_at)"
        " WHERE (member_identity.handle, least(member_identity.joined_at, EXCLUDED.joined_at))"
        " IS DISTINCT FROM (EXCLUDED.handle, member_identity.joined_at)"))
    identities.joined_at(conn, f"SELECT i.member_id FROM member_identity i JOIN {source} r"
                     " ON (i.platform_id, i.external_id) = (r.platform_id, r.external_id)")


def _members(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    _platforms_exist(conn, "members", units)
    conn.execute(sa.text(
        "CREATE TEMP TABLE r_members ON COMMIT DROP AS"
        " SELECT s.external_id, coalesce(s.handle, s.display_name) AS handle, s.display_name, s.joined_at,"
        " coalesce(s.is_staff, false) AS is_staff, p.id AS platform_id, i.original_member_id AS member_id,"
        " i.platform_id IS NULL AS new, i.handle AS old_handle, i.joined_at AS old_joined,"
        " m.display_name AS old_name, m.is_staff AS old_staff"
        " FROM s_members s JOIN platform p ON p.slug = s.platform"
        " LEFT JOIN member_identity i ON (i.platform_id, i.external_id) = (p.id, s.external_id)"
        " LEFT JOIN member m ON m.id = i.original_member_id"))
    inserted, updated = conn.execute(sa.text(
        "SELECT count(*) FILTER (WHERE new), count(*) FILTER (WHERE NOT new AND"
        " (old_handle, least(old_joined, joined_at), old_name, old_staff)"
        " IS DISTINCT FROM (handle, old_joined, display_name, is_staff)) FROM r_members")).one()
    conn.execute(sa.text("UPDATE r_members SET member_id = nextval(pg_get_serial_sequence('member', 'id'))"
                         " WHERE new"))
    conn.execute(sa.text(
        "INSERT INTO member (id, display_name, joined_at, is_staff)"
        " SELECT member_id, display_name, joined_at, is_staff FROM r_members"
        " ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, is_staff = EXCLUDED.is_staff"
        " WHERE (member.display_name, member.is_staff) IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.is_staff)"))
    _identity_upsert(conn, "r_members")
    return inserted, updated


def _identities(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    _platforms_exist(conn, "identities", units)
    _platforms_exist(conn, "identities", units, "member_platform")
    _first_missing(conn, "SELECT s._file, s._line, s.member_external_id AS value, s.member_platform AS platform"
                   " FROM s_identities s JOIN platform p ON p.slug = s.member_platform LEFT JOIN member_identity i"
                   " ON (i.platform_id, i.external_id) = (p.id, s.member_external_id) WHERE i.member_id IS NULL",
                   "member_external_id", "unknown member: no account {value} on platform {platform}", units)
    conn.execute(sa.text(
        "CREATE TEMP TABLE r_identities ON COMMIT DROP AS"
        " SELECT p.id AS platform_id, s.external_id, coalesce(s.handle, s.external_id) AS handle, s.joined_at,"
        " o.member_id, i.platform_id IS NULL AS new, i.handle AS old_handle, i.joined_at AS old_joined"
        " FROM s_identities s JOIN platform p ON p.slug = s.platform JOIN platform op ON op.slug = s.member_platform"
        " JOIN member_identity o ON (o.platform_id, o.external_id) = (op.id, s.member_external_id)"
        " LEFT JOIN member_identity i ON (i.platform_id, i.external_id) = (p.id, s.external_id)"))
    inserted, updated = conn.execute(sa.text(
        "SELECT count(*) FILTER (WHERE new), count(*) FILTER (WHERE NOT new AND"
        " (old_handle, least(old_joined, joined_at)) IS DISTINCT FROM (handle, old_joined)) FROM r_identities")).one()
    _identity_upsert(conn, "r_identities")
    return inserted, updated


def _author_of(column: str, alias: str = "i") -> str:
    return (f" LEFT JOIN member_identity {alias} ON {alias}.platform_id = p.id"
            f" AND {alias}.external_id = s.{column}")


def _activities(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    _platforms_exist(conn, "activities", units)
    # Ids for new rows: one block drawn from the sequence (a nextval per row costs seconds per million).
    staged = conn.execute(sa.text("SELECT count(*) FROM s_activities")).scalar_one()
    first_id = conn.execute(sa.text(
        "SELECT setval(pg_get_serial_sequence('activity', 'id'),"
        " nextval(pg_get_serial_sequence('activity', 'id')) + :n - 1) - :n + 1"), {"n": staged}).scalar_one()
    conn.execute(sa.text(
        "CREATE TEMP TABLE r_act ON COMMIT DROP AS"
        " SELECT s.*, p.id AS platform_id, i.member_id,"
        " coalesce(a.id, :first + row_number() OVER () - 1) AS id, a.id IS NULL AS new"
        " FROM s_activities s JOIN platform p ON p.slug = s.platform" + _author_of("author") +
        " LEFT JOIN activity a ON a.platform_id = p.id AND a.external_id = s.external_id"), {"first": first_id})
    _first_missing(conn, "SELECT _file, _line, author AS value, platform FROM r_act WHERE member_id IS NULL",
                   "author", "unknown author {value} on platform {platform}: import the members first"
                   " (in the same run or before)", units)
    conn.execute(sa.text("ANALYZE r_act"))
    if conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM r_act WHERE thread IS NULL AND kind <> 'thread')")).scalar():
        _fill_threads(conn)
    conn.execute(sa.text(
        "CREATE TEMP TABLE r_act2 ON COMMIT DROP AS"
        " SELECT r.*, pf.id AS parent_id, tf.id AS thread_id, tf.kind AS thread_kind FROM r_act r"
        " LEFT JOIN r_act pf ON pf.platform_id = r.platform_id AND pf.external_id = r.parent"
        " LEFT JOIN r_act tf ON tf.platform_id = r.platform_id AND tf.external_id = r.thread"))
    # Parents and threads outside the batch, from the database: usually few rows, found by index.
    conn.execute(sa.text("UPDATE r_act2 r SET parent_id = a.id FROM activity a WHERE r.parent_id IS NULL"
                         " AND a.platform_id = r.platform_id AND a.external_id = r.parent"))
    conn.execute(sa.text("UPDATE r_act2 r SET thread_id = a.id, thread_kind = a.kind FROM activity a"
                         " WHERE r.thread_id IS NULL AND a.platform_id = r.platform_id AND a.external_id = r.thread"))
    _first_missing(conn, "SELECT _file, _line, parent AS value, platform FROM r_act2"
                   " WHERE parent IS NOT NULL AND parent_id IS NULL", "parent",
                   "unknown parent {value}: no activity has this id on platform {platform}", units)
    _first_missing(conn, "SELECT _file, _line, thread AS value, platform FROM r_act2"
                   " WHERE kind <> 'thread' AND (thread_id IS NULL OR thread_kind <> 'thread')", "thread",
                   "the thread {value} of this activity is not a thread on platform {platform}", units)
    # New rows go in with a plain INSERT (ids were drawn above), changed rows with an UPDATE: no
    # speculative insertion, and a large first batch gets its indexes and keys built in bulk.
    update = ["member_id", "kind", "parent_id", "thread_id", "created_at", "title", "body", "tags", "is_question",
              "accepted", "anonymous_reactions", "url", "lang", "sentiment"]
    values = ("member_id, kind, parent_id, thread_id, created_at, title, body,"
              " coalesce(string_to_array(tags, E'\\x1f'), '{}'), coalesce(is_question, false),"
              " coalesce(accepted, false), coalesce(anonymous_reactions, 0), url, lang, sentiment")
    new = conn.execute(sa.text("SELECT count(*) FROM r_act2 WHERE new")).scalar_one()
    with _bulk(conn, "activity", new):
        inserted = conn.execute(sa.text(
            f"INSERT INTO activity (id, platform_id, external_id, {', '.join(update)})"
            f" SELECT id, platform_id, external_id, {values} FROM r_act2 WHERE new ORDER BY id")).rowcount
    columns = ", ".join(update)
    updated = conn.execute(sa.text(
        f"UPDATE activity a SET ({columns}) = (r.{', r.'.join(update)})"
        f" FROM (SELECT id, {values} FROM r_act2 WHERE NOT new) AS r ({', '.join(['id', *update])})"
        f" WHERE a.id = r.id AND ({', '.join('a.' + c for c in update)}) IS DISTINCT FROM"
        f" ({', '.join('r.' + c for c in update)})")).rowcount
    return inserted, updated


@contextmanager
def _bulk(conn: sa.Connection, table: str, incoming: int) -> Iterator[None]:
    """When `incoming` new rows outnumber the table's, drop its secondary indexes, unique keys and
    foreign keys for the insert and build them again after it: a sorted build per index and one
    join per key instead of a lookup per row, in the caller's transaction (readers of the table
    wait for it). A smaller batch goes in with the indexes in place."""
    have = conn.execute(sa.text(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT :n) x"),
                        {"n": incoming}).scalar_one()
    if have >= incoming:
        yield
        return
    indexes = conn.execute(sa.text(
        "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
        " WHERE x.indrelid = CAST(:t AS regclass) AND NOT x.indisunique"), {"t": table}).all()
    keys = conn.execute(sa.text(  # foreign keys, and unique keys that none refers to
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint c WHERE conrelid = CAST(:t AS regclass)"
        " AND (contype = 'f' OR contype = 'u' AND NOT EXISTS (SELECT 1 FROM pg_constraint r"
        " WHERE r.contype = 'f' AND r.conindid = c.conindid)) ORDER BY contype DESC"), {"t": table}).all()
    for name, _ in keys:
        conn.execute(sa.text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        conn.execute(sa.text(f'DROP INDEX "{name}"'))
    yield
    for _, definition in indexes:
        conn.execute(sa.text(definition))
    for name, definition in keys:
        conn.execute(sa.text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))


def _fill_threads(conn: sa.Connection) -> None:
    """A reply that does not name its thread gets its parent's: from the database, then down the
    file, one level per pass."""
    conn.execute(sa.text("CREATE INDEX ON r_act (platform_id, external_id)"))
    conn.execute(sa.text(
        "UPDATE r_act r SET thread = CASE WHEN d.kind = 'thread' THEN d.external_id ELSE t.external_id END"
        " FROM activity d LEFT JOIN activity t ON t.id = d.thread_id"
        " WHERE r.thread IS NULL AND r.kind <> 'thread' AND d.platform_id = r.platform_id"
        " AND d.external_id = r.parent"))
    while conn.execute(sa.text(
            "UPDATE r_act r SET thread = CASE WHEN p.kind = 'thread' THEN p.external_id ELSE p.thread END"
            " FROM r_act p WHERE r.thread IS NULL AND r.kind <> 'thread' AND p.platform_id = r.platform_id"
            " AND p.external_id = r.parent AND (p.kind = 'thread' OR p.thread IS NOT NULL)")).rowcount:
        pass


def _moderation_cases(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    _platforms_exist(conn, "moderation_cases", units)
    _first_missing(conn, "SELECT s._file, s._line, s.member AS value, s.platform FROM s_moderation_cases s"
                   " JOIN platform p ON p.slug = s.platform" + _author_of("member") + " WHERE i.member_id IS NULL",
                   "member", "unknown member {value} on platform {platform}", units)
    _first_missing(conn, "SELECT s._file, s._line, s.activity AS value, s.platform FROM s_moderation_cases s"
                   " JOIN platform p ON p.slug = s.platform LEFT JOIN activity a ON a.platform_id = p.id"
                   " AND a.external_id = s.activity WHERE s.activity IS NOT NULL AND a.id IS NULL",
                   "activity", "unknown activity {value} on platform {platform}", units)
    conn.execute(sa.text(
        "INSERT INTO rule (code, title) SELECT DISTINCT ON (rule) rule, coalesce(rule_title, rule)"
        " FROM s_moderation_cases ORDER BY rule, rule_title NULLS LAST ON CONFLICT (code) DO NOTHING"))
    update = ["activity_id", "member_id", "rule_id", "reported_at", "first_action_at", "resolved_at", "outcome"]
    return _upsert(conn, "moderation_case", ["platform_id", "external_id", *update],
                   "SELECT p.id, s.external_id, a.id, i.member_id, r.id, s.reported_at, s.first_action_at,"
                   " s.resolved_at, s.outcome FROM s_moderation_cases s JOIN platform p ON p.slug = s.platform"
                   + _author_of("member") + " JOIN rule r ON r.code = s.rule LEFT JOIN activity a"
                   " ON a.platform_id = p.id AND a.external_id = s.activity",
                   "platform_id, external_id", update)


def _events(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    _platforms_exist(conn, "events", units)
    update = ["platform_id", "title", "format", "starts_at", "location"]
    return _upsert(conn, "event", ["external_id", *update],
                   "SELECT s.external_id, p.id, s.title, s.format, s.starts_at, s.location FROM s_events s"
                   " LEFT JOIN platform p ON p.slug = s.platform", "external_id", update)


def _attendance(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    _platforms_exist(conn, "attendance", units)
    _first_missing(conn, "SELECT s._file, s._line, s.event AS value FROM s_attendance s"
                   " LEFT JOIN event e ON e.external_id = s.event WHERE e.id IS NULL",
                   "event", "unknown event {value}: import the events first", units)
    _first_missing(conn, "SELECT s._file, s._line, s.member AS value, s.platform FROM s_attendance s"
                   " JOIN platform p ON p.slug = s.platform" + _author_of("member") + " WHERE i.member_id IS NULL",
                   "member", "unknown member {value} on platform {platform}", units)
    return _upsert(conn, "event_attendance", ["event_id", "member_id", "registered_at", "attended"],
                   "SELECT DISTINCT ON (e.id, i.member_id) e.id, i.member_id, s.registered_at,"
                   " coalesce(s.attended, false) FROM s_attendance s JOIN event e ON e.external_id = s.event"
                   " JOIN platform p ON p.slug = s.platform" + _author_of("member") +
                   " ORDER BY e.id, i.member_id, s._line", "event_id, member_id", ["registered_at", "attended"])


def _mentions(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    update = ["source", "author", "body", "created_at", "reach", "lang", "sentiment"]
    return _upsert(conn, "mention", ["url", *update],
                   "SELECT url, source, author, body, created_at, coalesce(reach, 0), lang, sentiment FROM s_mentions",
                   "url", update)


def _sponsors(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    return _upsert(conn, "sponsor", ["name", "contact_email"], "SELECT name, contact_email FROM s_sponsors",
                   "name", ["contact_email"])


def _sponsor_exists(conn: sa.Connection, table: str, units: dict[str, str]) -> None:
    _first_missing(conn, f"SELECT s._file, s._line, s.sponsor AS value FROM s_{table} s LEFT JOIN sponsor o"
                   " ON o.name = s.sponsor WHERE s.sponsor IS NOT NULL AND o.id IS NULL", "sponsor",
                   "unknown sponsor {value}: import the sponsors first", units)


def _campaign_exists(conn: sa.Connection, table: str, units: dict[str, str]) -> None:
    _first_missing(conn, f"SELECT s._file, s._line, s.campaign AS value, s.sponsor FROM s_{table} s"
                   " JOIN sponsor o ON o.name = s.sponsor LEFT JOIN campaign c ON (c.sponsor_id, c.name) ="
                   " (o.id, s.campaign) WHERE s.campaign IS NOT NULL AND c.id IS NULL", "campaign",
                   "unknown campaign {value} of sponsor {sponsor}: import the campaigns first", units)


def _campaigns(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    _sponsor_exists(conn, "campaigns", units)
    update = ["starts_on", "ends_on", "amount_minor", "currency", "deliverables"]
    return _upsert(conn, "campaign", ["sponsor_id", "name", *update],
                   "SELECT o.id, s.name, s.starts_on, s.ends_on, s.amount_minor, s.currency,"
                   " coalesce(s.deliverables, '[]')::jsonb FROM s_campaigns s JOIN sponsor o ON o.name = s.sponsor",
                   "sponsor_id, name", update)


def _delivery(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    _sponsor_exists(conn, "delivery", units)
    _campaign_exists(conn, "delivery", units)
    update = ["impressions", "clicks", "engagements"]
    return _upsert(conn, "campaign_delivery", ["campaign_id", "day", *update],
                   "SELECT c.id, s.day, s.impressions, s.clicks, s.engagements FROM s_delivery s"
                   " JOIN sponsor o ON o.name = s.sponsor JOIN campaign c ON (c.sponsor_id, c.name) = (o.id, s.campaign)",
                   "campaign_id, day", update)


def _revenue(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    _sponsor_exists(conn, "revenue", units)
    _campaign_exists(conn, "revenue", units)
    update = ["stream", "sponsor_id", "campaign_id", "amount_minor", "currency", "booked_on", "received_on",
              "recurring", "description"]
    return _upsert(conn, "revenue", ["external_id", *update],
                   "SELECT s.external_id, s.stream, o.id, c.id, s.amount_minor, s.currency, s.booked_on,"
                   " s.received_on, coalesce(s.recurring, false), s.description FROM s_revenue s"
                   " LEFT JOIN sponsor o ON o.name = s.sponsor"
                   " LEFT JOIN campaign c ON (c.sponsor_id, c.name) = (o.id, s.campaign)", "external_id", update)


_LOADERS: dict[str, Callable[[sa.Connection, dict[str, str]], tuple[int, int]]] = {
    "platforms": _platforms, "members": _members, "identities": _identities, "activities": _activities,
    "moderation_cases": _moderation_cases, "events": _events, "attendance": _attendance, "mentions": _mentions,
    "sponsors": _sponsors, "campaigns": _campaigns, "delivery": _delivery, "revenue": _revenue,
}
assert tuple(_LOADERS) == LOAD_ORDER


def write(conn: sa.Connection, staged: dict[str, int], units: dict[str, str],
          progress: Progress) -> dict[str, Counts]:
    """Write the staged tables (`staged`: table → rows) in order; returns per table the rows
    inserted, updated and skipped (already as in the file)."""
    counts: dict[str, Counts] = {}
    todo = [t for t in LOAD_ORDER if t in staged]
    for table in todo:
        unique(conn, table, units)
    for done, table in enumerate(todo):
        progress(done / len(todo), table)
        conn.execute(sa.text(f"ANALYZE s_{table}"))
        inserted, updated = _LOADERS[table](conn, units)
        counts[table] = {"inserted": inserted, "updated": updated, "skipped": staged[table] - inserted - updated}
    progress(1.0, "done")
    return counts
