"""Imports: each source's files are converted into the canonical tables (`canonical`), validated
whole, then written in one transaction (`load`); every run, loaded or rejected, is kept in
`import_run` for the Data page."""
from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import psycopg
import sqlalchemy as sa

from cmcore import audit, db, frames
from cmcore.access import Principal, require
from cmcore.ingest import canonical, discord, discourse, listening, load, stackexchange, text
from cmcore.ingest.canonical import Part, Rejected
from cmcore.ingest.load import Counts
from cmcore.progress import Progress

IMPORTERS = ("admin",)


def _canonical(paths: list[Path], _platform: str, progress: Progress, _workdir: Path) -> list[Part]:
    parts = []
    for number, path in enumerate(paths):
        progress(number / len(paths), path.name)
        parts.append(canonical.read(path.name, path.read_bytes()))
    return parts


# source → (converter(paths, platform slug, progress, work folder), the kind of platform its rows go
# to: None when the files name it)
SOURCES: dict[str, tuple[Callable[[list[Path], str, Progress, Path], list[Part]], str | None]] = {
    "canonical": (_canonical, None),
    "stackexchange": (stackexchange.convert, "stackexchange"),
    "discourse": (discourse.convert, "discourse"),
    "discord": (discord.convert, "discord"),
    "mentions": (listening.convert, None),
}


@dataclass(frozen=True)
class Result:
    """What an import did: per table, rows inserted, updated and skipped (unchanged)."""

    run_id: int
    counts: dict[str, Counts]
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _score_mentions(frame: pl.DataFrame) -> pl.DataFrame:
    """Language and sentiment of mentions that lack them, scored once, here."""
    return frame.with_columns(
        pl.coalesce("lang", pl.col("body").map_elements(text.language, return_dtype=pl.String)),
        pl.coalesce("sentiment", pl.col("body").map_elements(text.sentiment, return_dtype=pl.Int64)))


def _stage(staging: load.Staging, parts: list[Part], progress: Progress) -> None:
    """Validate every part, chunk by chunk, and stage it. Mentions get their language and
    sentiment here, once."""
    now = datetime.now(timezone.utc)
    for number, part in enumerate(parts):
        progress(number / len(parts), part.file)
        rows = 0
        for chunk in part.batches():
            frame = canonical.validate(part, chunk, now)
            if part.table == "mentions":
                frame = _score_mentions(frame)
            staging.add(part.table, frame.with_columns(pl.lit(part.file).alias("_file")))
            rows += frame.height
        if rows == 0:
            raise part.reject("has no rows")


def run(source: str, paths: list[Path], actor: Principal, progress: Progress | None = None,
        platform: str | None = None) -> Result:
    """Import `paths` from `source` (see SOURCES). `platform` is the slug the platform's rows go to
    (default: the source's name; created if missing). Raises Rejected, having changed nothing but
    the import history."""
    require(actor, *IMPORTERS)
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: one of {', '.join(SOURCES)}")
    convert, kind = SOURCES[source]
    slug = platform or source
    report = progress or (lambda _f, _m: None)
    files = [p.name for p in paths]
    started = time.perf_counter()
    try:
        if not paths:
            raise Rejected(source, "no files given")
        for path in paths:
            if path.stat().st_size == 0:
                raise Rejected(path.name, "the file is empty (0 bytes)")
        if kind and not re.match(canonical.SLUG, slug):
            raise Rejected(source, "{slug} is not a platform slug (lower-case letters, digits, - and _)",
                           slug=repr(slug))
        with tempfile.TemporaryDirectory(prefix="cm-import-") as workdir, db.transaction() as conn:
            parts = convert(paths, slug, lambda f, m: report(0.05 * f, m), Path(workdir))
            load.begin(conn)
            staging = load.Staging(conn, Path(workdir))
            _stage(staging, parts, lambda f, m: report(0.05 + 0.45 * f, m))
            if kind:
                conn.execute(sa.text("INSERT INTO platform (slug, name, kind) VALUES (:s, :n, :k)"
                                     " ON CONFLICT (slug) DO NOTHING"), {"s": slug, "n": slug.title(), "k": kind})
            counts = load.write(conn, staging, {p.file: p.unit for p in parts},
                                lambda f, m: report(0.5 + 0.5 * f, m))
            rows = sum(staging.rows.values())
            seconds = time.perf_counter() - started
            run_id = _record(conn, actor, source, files, "loaded", counts, None, rows / max(seconds, 1e-9))
            audit.record(conn, actor.username, "import.load", "import_run", run_id, source=source, files=files,
                         counts=counts)
    except Rejected as err:
        with db.transaction() as conn:
            _record(conn, actor, source, files, "rejected", {}, str(err), None)
        raise
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError, sa.exc.IntegrityError, sa.exc.DataError) as err:
        message = str(getattr(err, "orig", err)).splitlines()[0]
        rejected = Rejected(files[0] if len(files) == 1 else source, "the database refused the rows ({reason})",
                            reason=message)
        with db.transaction() as conn:
            _record(conn, actor, source, files, "rejected", {}, str(rejected), None)
        raise rejected from None
    report(1.0, "done")
    return Result(run_id, counts, rows, seconds)


def _record(conn: sa.Connection, actor: Principal, source: str, files: list[str], status: str,
            counts: dict[str, Counts], error: str | None, rows_per_s: float | None) -> int:
    return conn.execute(sa.text(
        "INSERT INTO import_run (actor, source, files, status, counts, error, rows_per_s)"
        " VALUES (:actor, :source, :files, :status, CAST(:counts AS jsonb), :error, :rate) RETURNING id"),
        {"actor": actor.username, "source": source, "files": files, "status": status,
         "counts": json.dumps(counts), "error": error, "rate": rows_per_s}).scalar_one()


def history(actor: Principal, limit: int = 200) -> pl.DataFrame:
    """Past imports, newest first: who, when, what, counts ("table +inserted ~updated =unchanged"),
    errors."""
    require(actor, *IMPORTERS)
    return frames.read(
        "SELECT id, at, actor, source, array_to_string(files, ', ') AS files, status,"
        " (SELECT string_agg(format('%s +%s ~%s =%s', key, value->>'inserted', value->>'updated',"
        " value->>'skipped'), ', ' ORDER BY key) FROM jsonb_each(counts)) AS counts,"
        " error, rows_per_s FROM import_run ORDER BY id DESC LIMIT $1", [limit])
