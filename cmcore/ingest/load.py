"""Writing validated canonical tables. Each table's rows are staged with COPY into a temporary
table, references checked there (a missing one is reported by file, line and field), then upserted
by natural key; activities, the bulk of any import, are resolved in Polars instead and COPYed
straight into `activity`. The caller's transaction holds it all, so a failure anywhere leaves the
database as it was."""
from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from cmcore import db, frames, identities
from cmcore.ingest.canonical import LOAD_ORDER, TABLES, Rejected, note, shown
from cmcore.progress import Progress

Counts = dict[str, int]
_PG = {"text": "text", "int": "bigint", "real": "double precision", "bool": "boolean", "datetime": "timestamptz",
       "date": "date", "tags": "text", "json": "text"}
_TAG_JOIN = "\x1f"
_COPY_ROWS = 200_000
_DATETIME = "%Y-%m-%dT%H:%M:%S%.f%z"
# Columns a table's rows gain on their way in (not in the canonical format): the models that scored a mention.
_DERIVED = {"mentions": {"scored_by": "text"}}
# What resolving an activity needs of it (the rest waits in the spool until it is written).
_ACTIVITY_KEYS = ("platform", "external_id", "author", "kind", "parent", "thread")


def begin(conn: sa.Connection) -> None:
    """Start an import in the caller's transaction: one import at a time, joins hashed in memory."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('cmcore.import'))"))
    conn.execute(sa.text("SET LOCAL work_mem = '128MB'"))


def copy_in(conn: sa.Connection, table: str, frame: pl.DataFrame) -> None:
    """COPY `frame` into `table` (its columns by name), as CSV, a slice at a time."""
    columns = ", ".join(frame.columns)
    with db.raw(conn).cursor().copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        for offset in range(0, frame.height, _COPY_ROWS):
            buf = io.BytesIO()
            frame.slice(offset, _COPY_ROWS).write_csv(buf, include_header=False, datetime_format=_DATETIME)
            copy.write(buf.getvalue())


def query(conn: sa.Connection, sql: str, params: list[object], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows of `sql` (parameters as psycopg's %s) as a frame of `schema`, through COPY: on the
    caller's connection, so it sees what this transaction wrote, at a fraction of a cursor's cost."""
    buf = io.BytesIO()
    with db.raw(conn).cursor().copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)", params) as copy:
        for block in copy:
            buf.write(block)
    return pl.read_csv(buf.getvalue(), schema=schema) if buf.tell() else pl.DataFrame(schema=schema)


class Staging:
    """Validated rows on their way in (each frame with `_file` and `_line`), numbered in staging
    order (`_n`): COPYed into the temporary table s_<table>, except activities, spooled to Arrow
    files in `folder`. The key columns of every table are kept in memory with a hash of the row's
    values (`_h`): duplicates and, for activities, references are found on them."""

    def __init__(self, conn: sa.Connection, folder: Path) -> None:
        self.conn, self.folder = conn, folder
        self.rows: dict[str, int] = {}
        self.keys: dict[str, list[pl.DataFrame]] = {}
        self.spool: list[Path] = []
        self.dropped = pl.Series("_n", [], pl.Int64)  # activities repeated identically in the import

    def add(self, table: str, frame: pl.DataFrame) -> None:
        """Stage validated rows; an activity's `anonymous_reactions` become its votes of its own
        (UTC) day."""
        if frame.is_empty():
            return
        done = self.rows.get(table, 0)
        spec = TABLES[table]
        frame = frame.with_columns(pl.int_range(done, done + frame.height, dtype=pl.Int64).alias("_n"),
                                   frame.select(c.name for c in spec.columns).hash_rows(seed=0).alias("_h"))
        if table == "activities":
            votes = frame.filter(pl.col("anonymous_reactions") > 0)
            if votes.height:
                self.add("votes", votes.select("platform", pl.col("external_id").alias("activity"),
                                               pl.col("created_at").dt.date().alias("day"),
                                               pl.col("anonymous_reactions").alias("up"),
                                               pl.lit(None, pl.Int64).alias("down"), "_file", "_line"))
            self.spool.append(self.folder / f"activities-{len(self.spool)}.arrow")
            frame.drop("_h").write_ipc(self.spool[-1])
            keys = frame.select("_n", "_h", "_file", "_line", *_ACTIVITY_KEYS)
        else:
            derived = _DERIVED.get(table, {})
            columns = ", ".join([f"{c.name} {_PG[c.type]}" for c in spec.columns]
                                + [f"{name} {kind}" for name, kind in derived.items()])
            self.conn.execute(sa.text(f"CREATE TEMP TABLE IF NOT EXISTS s_{table} (_file text, _line bigint,"
                                      f" _n bigint, {columns}) ON COMMIT DROP"))
            copy_in(self.conn, f"s_{table}", frame.select("_file", "_line", "_n", *[
                pl.col(c.name).list.join(_TAG_JOIN) if c.type == "tags" else pl.col(c.name) for c in spec.columns],
                *derived))
            keys = frame.select("_n", "_h", "_file", "_line", *spec.key)
        self.keys.setdefault(table, []).append(keys)
        self.rows[table] = done + frame.height

    def drop(self, table: str, numbers: pl.Series) -> None:
        """Unstage the rows `numbers` (their `_n`)."""
        self.keys[table] = [pl.concat(self.keys[table]).filter(~pl.col("_n").is_in(numbers.implode()))]
        self.rows[table] -= numbers.len()
        if table == "activities":
            self.dropped = pl.concat([self.dropped, numbers])
            return
        self.conn.execute(sa.text(f"DELETE FROM s_{table} WHERE _n = ANY(:n)"), {"n": numbers.to_list()})


def _reject_first(rows: pl.DataFrame, field: str, message: str, units: dict[str, str], **values: str) -> None:
    """Reject at the first of `rows` (in file and line order), `message` filled from its columns
    `values` names (value → column), each quoted as a message quotes it."""
    if rows.height:
        row = rows.sort("_file", "_line").row(0, named=True)
        raise Rejected(row["_file"], message, row["_line"], field, units.get(row["_file"], "line"),
                       **{name: repr(row[column]) for name, column in values.items()})


REPEATED = "identical rows repeated in the import, kept once"


def unique(staging: Staging, table: str, units: dict[str, str]) -> None:
    """Rows whose key an earlier row of the import (this file or another) already has: those
    identical to it are kept once (counted in the notes: a scrape that repeats a post, overlapping
    exports of one channel); the first with other values is refused, naming both lines."""
    key = list(TABLES[table].key)
    rows = pl.concat(staging.keys[table], rechunk=False)
    if rows.select(key).n_unique() == rows.height:
        return
    rows = rows.sort("_file", "_line", "_n").with_row_index("_i")
    repeats = (rows.with_columns(pl.col("_i").first().over(key).alias("_first"),
                                 pl.col("_h").first().over(key).alias("_first_h"))
               .filter(pl.col("_i") != pl.col("_first")))
    other = repeats.filter(pl.col("_h") != pl.col("_first_h"))
    if other.is_empty():
        note(REPEATED, repeats.height)
        staging.drop(table, repeats["_n"])
        return
    row = other.row(0, named=True)
    first = rows.row(row["_first"], named=True)
    unit = units.get(row["_file"], "line")
    keys = ", ".join(f"{k} {shown(row[k])}" for k in key)
    if first["_file"] == row["_file"]:
        raise Rejected(row["_file"], "duplicate row with other values: {keys} is already on {unit_name} {first}",
                       row["_line"], key[-1], unit, keys=keys, unit_name=unit, first=first["_line"])
    raise Rejected(row["_file"], "duplicate row with other values: {keys} is already in {other} ({unit_name} {first})",
                   row["_line"], key[-1], unit, keys=keys, other=first["_file"], unit_name=unit, first=first["_line"])


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
        " coalesce(s.is_staff, false) AS is_staff, coalesce(s.is_bot, false) AS is_bot, p.id AS platform_id,"
        " i.original_member_id AS member_id, i.platform_id IS NULL AS new, i.handle AS old_handle,"
        " i.joined_at AS old_joined, m.display_name AS old_name, m.is_staff AS old_staff, m.is_bot AS old_bot"
        " FROM s_members s JOIN platform p ON p.slug = s.platform"
        " LEFT JOIN member_identity i ON (i.platform_id, i.external_id) = (p.id, s.external_id)"
        " LEFT JOIN member m ON m.id = i.original_member_id"))
    inserted, updated = conn.execute(sa.text(
        "SELECT count(*) FILTER (WHERE new), count(*) FILTER (WHERE NOT new AND"
        " (old_handle, least(old_joined, joined_at), old_name, old_staff, old_bot)"
        " IS DISTINCT FROM (handle, old_joined, display_name, is_staff, is_bot)) FROM r_members")).one()
    conn.execute(sa.text("UPDATE r_members SET member_id = nextval(pg_get_serial_sequence('member', 'id'))"
                         " WHERE new"))
    conn.execute(sa.text(
        "INSERT INTO member (id, display_name, joined_at, is_staff, is_bot)"
        " SELECT member_id, display_name, joined_at, is_staff, is_bot FROM r_members"
        " ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, is_staff = EXCLUDED.is_staff,"
        " is_bot = EXCLUDED.is_bot WHERE (member.display_name, member.is_staff, member.is_bot)"
        " IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.is_staff, EXCLUDED.is_bot)"))
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


def _activities(conn: sa.Connection, staging: Staging, units: dict[str, str]) -> tuple[int, int]:
    """Activities resolved in Polars on their key columns: platform, author, id (kept for a row
    already imported, drawn from the sequence for a new one), parent and thread (a reply that names
    none takes its parent's). The spooled rows then go straight into `activity` with COPY (new), or
    through a temporary table into one UPDATE of the rows that changed."""
    keys = pl.concat(staging.keys.pop("activities")).join(
        query(conn, "SELECT id AS platform_id, slug AS platform FROM platform", [],
              {"platform_id": pl.Int64, "platform": pl.String}), on="platform", how="left")
    _reject_first(keys.filter(pl.col("platform_id").is_null()), "platform",
                  "unknown platform {value}: add it on the Data page, or import a platforms file first", units,
                  value="platform")
    platform_ids = keys["platform_id"].unique().to_list()
    stored = _stored(conn, keys, platform_ids)
    keys = (keys.join(stored.select("platform_id", "external_id", "id"), on=["platform_id", "external_id"], how="left")
            .sort("_n"))
    new = keys["id"].is_null()
    first_id = conn.execute(sa.text(  # one block drawn from the sequence (a nextval per row costs seconds per million)
        "SELECT setval(pg_get_serial_sequence('activity', 'id'),"
        " nextval(pg_get_serial_sequence('activity', 'id')) + :n - 1) - :n + 1"), {"n": int(new.sum())}
    ).scalar_one() if new.any() else 0
    keys = keys.with_columns(
        new.alias("new"), pl.coalesce("id", first_id - 1 + new.cum_sum().cast(pl.Int64)).alias("id")).join(
        query(conn, "SELECT platform_id, external_id AS author, member_id FROM member_identity"
              " WHERE platform_id = ANY(%s)", [platform_ids],
              {"platform_id": pl.Int64, "author": pl.String, "member_id": pl.Int64}),
        on=["platform_id", "author"], how="left", maintain_order="left")
    _reject_first(keys.filter(pl.col("member_id").is_null()), "author",
                  "unknown author {value} on platform {platform}: import the members first (in the same run or before)",
                  units, value="author", platform="platform")
    outside = stored.join(keys, on=["platform_id", "external_id"], how="anti")  # stored, not in this import
    keys = _fill_threads(keys, outside)
    known = pl.concat([keys.select("platform_id", "external_id", "id", "kind"),
                       outside.select("platform_id", "external_id", "id", "kind")])
    keys = (keys.join(known.select("platform_id", pl.col("external_id").alias("parent"),
                                   pl.col("id").alias("parent_id")),
                      on=["platform_id", "parent"], how="left", maintain_order="left")
            .join(known.select("platform_id", pl.col("external_id").alias("thread"), pl.col("id").alias("thread_id"),
                               pl.col("kind").alias("thread_kind")), on=["platform_id", "thread"], how="left",
                  maintain_order="left"))
    _reject_first(keys.filter(pl.col("parent").is_not_null() & pl.col("parent_id").is_null()), "parent",
                  "unknown parent {value}: no activity has this id on platform {platform}", units,
                  value="parent", platform="platform")
    _reject_first(keys.filter((pl.col("kind") != "thread") & (pl.col("thread_id").is_null()
                                                            | (pl.col("thread_kind") != "thread"))), "thread",
                  "the thread {value} of this activity is not a thread on platform {platform}", units,
                  value="thread", platform="platform")
    resolved = keys.select("id", "new", "platform_id", "member_id", "parent_id", "thread_id")
    del keys, stored, outside, known  # the key columns' memory serves the writing
    return _write_activities(conn, staging, resolved)


def _stored(conn: sa.Connection, keys: pl.DataFrame, platform_ids: list[int]) -> pl.DataFrame:
    """The activities already in the database that `keys` are or name as parent or thread, and
    their threads: platform_id, external_id, id, kind and `thread` (its thread's external id).
    A batch at least a quarter the size of its platforms' activities reads all of theirs through
    Arrow (a first import, or the same export again); a smaller one sends its keys to be looked
    up (a COPY out costs a few µs a row)."""
    columns = ["platform_id", "external_id", "id", "kind", "thread"]
    have = conn.execute(sa.text("SELECT count(*) FROM (SELECT 1 FROM activity WHERE platform_id = ANY(:p)"
                                " LIMIT :n) x"), {"p": platform_ids, "n": 4 * keys.height}).scalar_one()
    if have < 4 * keys.height:  # the rows before this import: no other import runs (begin's lock)
        found = frames.read("SELECT platform_id, external_id, id, kind, thread_id FROM activity"
                            " WHERE platform_id = ANY($1)", [platform_ids])
        return found.join(found.select(pl.col("id").alias("thread_id"), pl.col("external_id").alias("thread")),
                          on="thread_id", how="left").select(pl.col("platform_id").cast(pl.Int64), *columns[1:])
    wanted = pl.concat([keys.select("platform_id", "external_id")] + [
        keys.select("platform_id", pl.col(c).alias("external_id")).drop_nulls() for c in ("parent", "thread")]).unique()
    conn.execute(sa.text("CREATE TEMP TABLE r_wanted (platform_id smallint, external_id text) ON COMMIT DROP"))
    copy_in(conn, "r_wanted", wanted)
    conn.execute(sa.text("ANALYZE r_wanted"))
    return query(conn, "WITH found AS (SELECT a.* FROM r_wanted w JOIN activity a USING (platform_id, external_id))"
                 " SELECT f.platform_id, f.external_id, f.id, f.kind, t.external_id AS thread FROM found f"
                 " LEFT JOIN activity t ON t.id = f.thread_id UNION ALL SELECT platform_id, external_id, id, kind,"
                 " NULL FROM activity WHERE id IN (SELECT thread_id FROM found)", [],
                 dict(zip(columns, (pl.Int64, pl.String, pl.Int64, pl.String, pl.String), strict=True))
                 ).unique(["platform_id", "external_id"])


def _fill_threads(keys: pl.DataFrame, outside: pl.DataFrame) -> pl.DataFrame:
    """A reply that names no thread gets its parent's (its parent, when that is a thread), from
    this import or from `outside`, the stored activities it does not hold; one level of replies
    to replies per pass."""
    outside = outside.select("platform_id", "external_id", "kind", "thread")
    missing = (pl.col("thread").is_null() & (pl.col("kind") != "thread")).sum()
    todo = keys.select(missing).item()
    while todo:
        parents = pl.concat([keys.select("platform_id", "external_id", "kind", "thread"), outside]).select(
            "platform_id", pl.col("external_id").alias("parent"), pl.col("kind").alias("_kind"),
            pl.col("thread").alias("_thread"))
        keys = (keys.join(parents, on=["platform_id", "parent"], how="left", maintain_order="left")
                .with_columns(pl.when(pl.col("thread").is_null() & (pl.col("kind") != "thread"))
                              .then(pl.when(pl.col("_kind") == "thread").then("parent").otherwise("_thread"))
                              .otherwise("thread").alias("thread")).drop("_kind", "_thread"))
        todo, before = keys.select(missing).item(), todo
        if todo == before:
            break
    return keys


def _write_activities(conn: sa.Connection, staging: Staging, resolved: pl.DataFrame) -> tuple[int, int]:
    """COPY the spooled activities with their `resolved` ids (a row per staged row, in staging
    order): new rows into `activity`, the others into r_update for one UPDATE of those that
    changed. Returns (inserted, updated)."""
    update = ["member_id", "kind", "parent_id", "thread_id", "created_at", "title", "body", "tags", "is_question",
              "accepted", "url", "lang", "sentiment"]
    quoted = pl.element().str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
    values = [pl.concat_str(pl.lit("{"), pl.col("tags").list.eval(pl.lit('"') + quoted + pl.lit('"')).list.join(","),
                            pl.lit("}")).fill_null("{}").alias("tags"),
              pl.col("is_question", "accepted").fill_null(False)]
    inserted = int(resolved["new"].sum())
    existing = resolved.height - inserted
    if existing:
        conn.execute(sa.text("CREATE TEMP TABLE r_update (LIKE activity) ON COMMIT DROP"))
    offset = 0  # resolved holds the rows kept, in staging order
    with _bulk(conn, "activity", inserted):
        for path in staging.spool:
            rows = pl.read_ipc(path)
            if staging.dropped.len():
                rows = rows.filter(~pl.col("_n").is_in(staging.dropped.implode()))
            rows = pl.concat([rows, resolved.slice(offset, rows.height)], how="horizontal").with_columns(values)
            offset += rows.height
            out = rows.select("new", "id", "platform_id", "external_id", *update)
            copy_in(conn, "activity", out.filter("new").drop("new"))
            if existing:
                copy_in(conn, "r_update", out.filter(~pl.col("new")).drop("new"))
    if not existing:
        return inserted, 0
    columns = ", ".join(update)
    updated = conn.execute(sa.text(
        f"UPDATE activity a SET ({columns}) = ({', '.join('r.' + c for c in update)}) FROM r_update r"
        f" WHERE a.id = r.id AND ({', '.join('a.' + c for c in update)}) IS DISTINCT FROM"
        f" ({', '.join('r.' + c for c in update)})")).rowcount
    return inserted, updated


@contextmanager
def _bulk(conn: sa.Connection, table: str, incoming: int) -> Iterator[None]:
    """Into an empty table, drop its secondary indexes, unique keys and foreign keys for the insert
    and build them again after it: a sorted build per index and one join per key instead of a
    lookup per row. That holds the table, and those its keys refer to, until the import commits,
    so it is done for a first load only: into a table that holds rows, which pages read and other
    writers' rows refer to, rows go in with the indexes in place and nobody waits for the import.
    The owner's functions drop and rebuild (sql/0009: the application role runs no DDL)."""
    if not incoming or conn.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar_one():
        yield
        return
    conn.execute(sa.text("SELECT bulk_load_begin(CAST(:t AS regclass))"), {"t": table})
    yield
    conn.execute(sa.text("SELECT bulk_load_end(CAST(:t AS regclass))"), {"t": table})


def _votes(conn: sa.Connection, units: dict[str, str]) -> tuple[int, int]:
    _platforms_exist(conn, "votes", units)
    _first_missing(conn, "SELECT s._file, s._line, s.activity AS value, s.platform FROM s_votes s"
                   " JOIN platform p ON p.slug = s.platform LEFT JOIN activity a ON a.platform_id = p.id"
                   " AND a.external_id = s.activity WHERE a.id IS NULL",
                   "activity", "unknown activity {value} on platform {platform}", units)
    return _upsert(conn, "activity_vote", ["activity_id", "day", "up", "down"],
                   "SELECT a.id, s.day, coalesce(s.up, 0), coalesce(s.down, 0) FROM s_votes s"
                   " JOIN platform p ON p.slug = s.platform JOIN activity a"
                   " ON (a.platform_id, a.external_id) = (p.id, s.activity)", "activity_id, day", ["up", "down"])


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
    update = ["source", "author", "body", "created_at", "reach", "lang", "sentiment", "scored_by", "tool_lang",
              "tool_sentiment"]
    return _upsert(conn, "mention", ["url", *update],
                   "SELECT url, source, author, body, created_at, coalesce(reach, 0), lang, sentiment, scored_by,"
                   " tool_lang, tool_sentiment FROM s_mentions", "url", update)


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
    "platforms": _platforms, "members": _members, "identities": _identities, "votes": _votes,
    "moderation_cases": _moderation_cases,
    "events": _events, "attendance": _attendance, "mentions": _mentions, "sponsors": _sponsors,
    "campaigns": _campaigns, "delivery": _delivery, "revenue": _revenue,
}  # and activities, resolved from the staging's keys
assert tuple(_LOADERS) == tuple(t for t in LOAD_ORDER if t != "activities")


def write(conn: sa.Connection, staging: Staging, units: dict[str, str], progress: Progress) -> dict[str, Counts]:
    """Write the staged tables in order; returns per table the rows inserted, updated and skipped
    (already as in the file)."""
    counts: dict[str, Counts] = {}
    todo = [t for t in LOAD_ORDER if t in staging.rows]
    for table in todo:
        unique(staging, table, units)
    for done, table in enumerate(todo):
        progress(done / len(todo), table)
        if table == "activities":
            inserted, updated = _activities(conn, staging, units)
        else:
            conn.execute(sa.text(f"ANALYZE s_{table}"))
            inserted, updated = _LOADERS[table](conn, units)
        staged = staging.rows[table]
        counts[table] = {"inserted": inserted, "updated": updated, "skipped": staged - inserted - updated}
    progress(1.0, "done")
    return counts
