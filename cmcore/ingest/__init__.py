"""Imports: each source's files are converted into the canonical tables (`canonical`), validated
whole, then written in one transaction (`load`); every run, loaded, rejected or failed, is kept in
`import_run` for the Data page."""
from __future__ import annotations

import json
import logging
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

from cmcore import audit, community, db, frames
from cmcore.access import Principal, require
from cmcore.ingest import canonical, discord, discourse, listening, load, stackexchange, text
from cmcore.ingest.canonical import CHUNK, Limits, Part, Rejected
from cmcore.ingest.load import Counts
from cmcore.progress import Progress

IMPORTERS = ("admin",)
log = logging.getLogger(__name__)


class ImportFailed(ValueError):
    """An import that ended in an unexpected error: nothing was written, the run is in the
    history as failed, and the traceback in the log."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the import failed: {reason}")


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
    """What an import did: per table, rows inserted, updated and skipped (unchanged); and the rows
    it left out or shortened, by reason (`notes`)."""

    run_id: int
    counts: dict[str, Counts]
    rows: int
    seconds: float
    notes: dict[str, int]

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def score_mentions(frame: pl.DataFrame) -> pl.DataFrame:
    """Language and sentiment of the mentions of `frame` (columns body, lang, sentiment) that lack
    them, by the models among the community's languages, each distinct text once; `scored_by`
    names the models where they were asked (NULL: the row gave both). Every way mentions come in
    (files, feeds) scores them here."""
    languages = community.languages()
    asked = pl.col("lang").is_null() | pl.col("sentiment").is_null()
    todo = frame.filter(asked).select("body", "lang").unique()
    scored = pl.DataFrame([(body, lang, *_scored(body, lang, languages)) for body, lang in todo.iter_rows()],
                          orient="row",
                          schema={"body": pl.String, "lang": pl.String, "_lang": pl.String, "_sentiment": pl.Int64})
    return (frame.join(scored, on=["body", "lang"], how="left", nulls_equal=True, maintain_order="left")
            .with_columns(pl.when(asked).then(pl.lit(text.model(languages))).alias("scored_by"),
                          pl.coalesce("lang", "_lang").alias("lang"),
                          pl.coalesce("sentiment", "_sentiment").alias("sentiment"))
            .drop("_lang", "_sentiment"))


def _scored(body: str, lang: str | None, languages: tuple[str, ...]) -> tuple[str | None, int | None]:
    """A text's language (`lang` when the row gave it) and sentiment by the models."""
    lang = lang or text.language(body, languages)
    return lang, text.sentiment(body, lang)


def _stage(staging: load.Staging, parts: list[Part], progress: Progress) -> dict[str, str]:
    """Validate every part and stage it; returns each file's unit (line, row…). Rows of small parts
    of one table (a forum's topic pages) are validated together, CHUNK rows at a time: once per
    import, not once per file. Mentions get their language and sentiment here, once."""
    now = datetime.now(timezone.utc)
    units: dict[str, str] = {}
    waiting: dict[str, list[pl.DataFrame]] = {}

    def stage(table: str, frames_: list[pl.DataFrame]) -> None:
        frame = canonical.validate(table, pl.concat(frames_, how="diagonal_relaxed"), units, now)
        if table == "mentions":
            frame = score_mentions(frame)
        staging.add(table, frame)

    for number, part in enumerate(parts):
        progress(number / len(parts), part.file)
        for chunk in part.batches():
            if "_file" not in chunk.columns:
                chunk = chunk.with_columns(pl.lit(part.file).alias("_file"))
            units.update(dict.fromkeys(chunk["_file"].unique().to_list(), part.unit))
            canonical.check_columns(part, chunk)
            if part.chunks:  # a chunk of a large file: as big as a batch already
                stage(part.table, [chunk])
                continue
            if chunk.is_empty():
                raise part.reject("has no rows")
            waiting.setdefault(part.table, []).append(chunk)
            if sum(f.height for f in waiting[part.table]) >= CHUNK:
                stage(part.table, waiting.pop(part.table))
    for table, frames_ in waiting.items():
        stage(table, frames_)
    return units


def limits() -> Limits:
    """The import limits of the settings."""
    settings = community.get_settings()
    return Limits(**{f: type(getattr(Limits, f))(settings[f"import_{f}"]) for f in Limits.__dataclass_fields__})


def run(source: str, paths: list[Path], actor: Principal, progress: Progress | None = None,
        platform: str | None = None, date_format: str | None = None) -> Result:
    """Import `paths` from `source` (see SOURCES). `platform` is the slug the platform's rows go to
    (default: the source's name; created if missing); `date_format` reads the dates of a mentions
    export that the importer does not know (strftime directives). Raises Rejected (a bad file) or ImportFailed
    (an unexpected error, logged with its traceback), having changed nothing but the import
    history."""
    require(actor, *IMPORTERS)
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: one of {', '.join(SOURCES)}")
    convert, kind = SOURCES[source]
    slug = platform or source
    report = progress or (lambda _f, _m: None)
    files = [p.name for p in paths]
    started = time.perf_counter()
    with canonical.running(limits(), date_format) as state:
        try:
            if not paths:
                raise Rejected(source, "no files given")
            for path in paths:
                if not path.is_file():
                    raise Rejected(path.name, "there is no such file ({path})", path=str(path.resolve()))
                if path.stat().st_size == 0:
                    raise Rejected(path.name, "the file is empty (0 bytes)")
            if kind and not re.match(canonical.SLUG, slug):
                raise Rejected(source, "{slug} is not a platform slug (lower-case letters, digits, - and _)",
                               slug=repr(slug))
            with tempfile.TemporaryDirectory(prefix="cm-import-") as workdir, db.transaction() as conn:
                parts = convert(paths, slug, lambda f, m: report(0.05 * f, m), Path(workdir))
                load.begin(conn)
                staging = load.Staging(conn, Path(workdir))
                units = _stage(staging, parts, lambda f, m: report(0.05 + 0.45 * f, m))
                if kind:
                    conn.execute(sa.text("INSERT INTO platform (slug, name, kind) VALUES (:s, :n, :k)"
                                         " ON CONFLICT (slug) DO NOTHING"), {"s": slug, "n": slug.title(), "k": kind})
                counts = load.write(conn, staging, units, lambda f, m: report(0.5 + 0.5 * f, m))
                rows = sum(staging.rows.values())
                seconds = time.perf_counter() - started
                notes = dict(state.notes)
                run_id = _record(conn, actor, source, files, "loaded", counts, None, rows / max(seconds, 1e-9), notes)
        except Rejected as err:
            _failed(actor, source, files, "rejected", str(err))
            raise
        except (psycopg.errors.IntegrityError, psycopg.errors.DataError, sa.exc.IntegrityError,
                sa.exc.DataError) as err:
            message = str(getattr(err, "orig", err)).splitlines()[0]
            rejected = Rejected(files[0] if len(files) == 1 else source, "the database refused the rows ({reason})",
                                reason=message)
            _failed(actor, source, files, "rejected", str(rejected))
            raise rejected from None
        except Exception as err:
            log.exception("import (%s: %s, by %s) failed", source, ", ".join(files), actor.username)
            failed = ImportFailed(canonical.cut(f"{type(err).__name__}: {err}".splitlines()[0]))
            _failed(actor, source, files, "failed", str(failed))
            raise failed from None
    report(1.0, "done")
    return Result(run_id, counts, rows, seconds, notes)


def _failed(actor: Principal, source: str, files: list[str], status: str, error: str) -> None:
    """Keep a run that wrote nothing in the history."""
    with db.transaction() as conn:
        _record(conn, actor, source, files, status, {}, error, None, {})


_AUDITED = {"loaded": "import.load", "rejected": "import.reject", "failed": "import.fail"}  # run status → action


def _record(conn: sa.Connection, actor: Principal, source: str, files: list[str], status: str,
            counts: dict[str, Counts], error: str | None, rows_per_s: float | None, notes: dict[str, int]) -> int:
    """The run in the import history, audited in the caller's transaction; its id."""
    run_id = conn.execute(sa.text(
        "INSERT INTO import_run (actor, source, files, status, counts, error, rows_per_s, notes)"
        " VALUES (:actor, :source, :files, :status, CAST(:counts AS jsonb), :error, :rate, CAST(:notes AS jsonb))"
        " RETURNING id"),
        {"actor": actor.username, "source": source, "files": files, "status": status,
         "counts": json.dumps(counts), "error": error, "rate": rows_per_s, "notes": json.dumps(notes)}).scalar_one()
    audit.record(conn, actor.username, _AUDITED[status], "import_run", run_id, source=source, files=files,
                 counts=counts, notes=notes, error=error)
    return run_id


KEPT_UP = ("read", "refreshed", "updated", "rebuilt", "fallback")  # of `frames.counts`


def kept_up(actor: Principal) -> tuple[datetime, pl.DataFrame]:
    """How this app process has kept the pages' data up to date since it first loaded `frames` (`frames.counts`,
    from `frames.started`): tables read whole or by their changed rows, what was computed from them
    followed through the changes or made whole, and the changes it could not follow (fallbacks)."""
    require(actor, *IMPORTERS)
    return frames.started, pl.DataFrame({"what": KEPT_UP, "times": [frames.counts[k] for k in KEPT_UP]},
                                        schema={"what": pl.String, "times": pl.Int64})


def history(actor: Principal, limit: int = 200) -> pl.DataFrame:
    """Past imports, newest first: who, when, what, counts ("table +inserted ~updated =unchanged"),
    the rows left out or shortened ("reason: rows"), errors."""
    require(actor, *IMPORTERS)
    return frames.read(
        "SELECT id, at, actor, source, array_to_string(files, ', ') AS files, status,"
        " (SELECT string_agg(format('%s +%s ~%s =%s', key, value->>'inserted', value->>'updated',"
        " value->>'skipped'), ', ' ORDER BY key) FROM jsonb_each(counts)) AS counts,"
        " (SELECT string_agg(format('%s: %s', key, value), '; ' ORDER BY key) FROM jsonb_each_text(notes)) AS notes,"
        " error, rows_per_s FROM import_run ORDER BY id DESC LIMIT $1", [limit])
