"""The canonical import format: one file per table, CSV, JSON Lines or Parquet, named for its table
(`members.csv`, `activities.jsonl`…). Every importer converts its source into these tables, and
every table goes through the same validation before anything is written.

References between tables use the source's own ids: an activity names its `platform` (slug) and
its `author` (the member's external id on that platform), a campaign names its `sponsor`, and so on.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from cmcore.currencies import CURRENCIES, MAX_MINOR
from cmcore.kpis import ACTIVITY_KINDS

SLUG = r"^[a-z0-9][a-z0-9_-]{0,39}$"
QUOTED = 200  # characters of a value a message quotes
CHUNK = 200_000  # rows validated and staged at a time
MAX_COUNT = 10**15  # the largest count (impressions, reach…): far from an Int64's limit, so sums stay exact
PLATFORM_KINDS = ("discord", "discourse", "reddit", "x", "youtube", "stackexchange", "meetup", "other")
STREAMS = ("ads", "sponsorship", "membership", "donation", "merch", "other")
TAG_SEPARATOR = ";"


class Rejected(ValueError):
    """A file that cannot be imported: names the file, the line (or row) and the field at fault.
    `message` is a template filled from `values`, so a page can show it translated (the values
    named in PHRASES are phrases to translate too)."""

    PHRASES = ("expected", "unit_name")

    def __init__(self, file: str, message: str, line: int | None = None, field: str | None = None,
                 unit: str = "line", **values: object) -> None:
        values = {k: cut(v) if isinstance(v, str) else v for k, v in values.items()}
        self.file, self.line, self.field, self.unit = file, line, field, unit
        self.message, self.values = message, values
        where = [file] + ([f"{unit} {line}"] if line is not None else []) + ([f"field {field}"] if field else [])
        super().__init__(f"{', '.join(where)}: {message.format(**values)}")


def cut(text: str, longest: int = QUOTED) -> str:
    """`text`, cut to `longest` characters (an ellipsis says where)."""
    return text if len(text) <= longest else text[:longest] + "…"


@dataclass(frozen=True)
class Limits:
    """What one import may hold (the Settings page changes them): an archive's uncompressed size
    (the lower of `archive_gb` and `archive_ratio` times the archive's own size), the columns of a
    CSV file (counted from its header, before it is parsed), and the characters of one value —
    a body longer than `body_chars` is shortened to it and counted, any other value longer than
    `field_chars` is refused."""

    archive_gb: float = 20
    archive_ratio: float = 50
    columns: int = 500
    field_chars: int = 10_000
    body_chars: int = 100_000

    def archive_bytes(self, compressed: int) -> int:
        return int(min(self.archive_gb * 1e9, self.archive_ratio * compressed))


@dataclass
class Run:
    """One import in progress: its limits, the rows it left out or shortened (reason → rows), and
    the format of dates the importer does not know (strftime directives, e.g. %d/%m/%Y %H:%M)."""

    limits: Limits = field(default_factory=Limits)
    notes: Counter[str] = field(default_factory=Counter)
    date_format: str | None = None


_run: ContextVar[Run] = ContextVar("import_run")


@contextmanager
def running(limits: Limits, date_format: str | None = None) -> Iterator[Run]:
    """The import run the readers and converters below report to (`current`)."""
    token = _run.set(Run(limits, date_format=date_format))
    try:
        yield _run.get()
    finally:
        _run.reset(token)


def current() -> Run:
    """The import in progress (default limits outside of one: tests reading a file alone)."""
    try:
        return _run.get()
    except LookupError:
        return Run()


def note(reason: str, rows: int) -> None:
    """Count `rows` left out or shortened for `reason` (a phrase the summary shows)."""
    if rows:
        current().notes[reason] += int(rows)


@dataclass(frozen=True)
class Col:
    """One column of a canonical table: its type, and what a valid value is."""

    name: str
    type: str = "text"  # text | int | real | bool | datetime | date | tags | json
    required: bool = False
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    hint: str = ""
    minimum: float | None = None
    maximum: float | None = None  # an int column without one stops at MAX_COUNT (it fits an Int64)
    past: bool = False  # a date or time that may not lie in the future
    longest: int | None = None  # characters
    body: bool = False  # a long text: shortened to the body limit, never refused for its length


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns, the natural key that makes re-imports idempotent, and the
    rules that tie its columns together (mask of bad rows, field, message)."""

    columns: tuple[Col, ...]
    key: tuple[str, ...]
    rules: tuple[tuple[Callable[[], pl.Expr], str, str], ...] = ()

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.name == name)


def _platform() -> Col:
    return Col("platform", required=True, pattern=SLUG, hint="a platform slug such as discord")


def _currency() -> Col:
    return Col("currency", required=True, choices=tuple(CURRENCIES), hint="an ISO 4217 code such as EUR")


def _count(name: str, required: bool = True) -> Col:
    return Col(name, "int", required=required, minimum=0, maximum=MAX_COUNT)


def _amount() -> Col:
    return Col("amount_minor", "int", required=True, minimum=1, maximum=MAX_MINOR)


def _c(name: str) -> pl.Expr:
    return pl.col(name)


TABLES: dict[str, Table] = {
    "platforms": Table((
        Col("slug", required=True, pattern=SLUG, hint="lower-case letters, digits, - and _"),
        Col("name", required=True, longest=80), Col("kind", required=True, choices=PLATFORM_KINDS)), key=("slug",)),
    "members": Table((
        _platform(), Col("external_id", required=True, longest=200), Col("display_name", required=True, longest=200),
        Col("handle"),
        Col("joined_at", "datetime", required=True, past=True), Col("is_staff", "bool"), Col("is_bot", "bool")),
        key=("platform", "external_id")),
    "identities": Table((
        _platform(), Col("external_id", required=True, longest=200), Col("handle"),
        Col("joined_at", "datetime", required=True, past=True),
        Col("member_platform", required=True, pattern=SLUG, hint="a platform slug such as discord"),
        Col("member_external_id", required=True)), key=("platform", "external_id")),
    "activities": Table((
        _platform(), Col("external_id", required=True), Col("author", required=True),
        Col("kind", required=True, choices=ACTIVITY_KINDS), Col("parent"), Col("thread"),
        Col("created_at", "datetime", required=True, past=True), Col("title"), Col("body", body=True),
        Col("tags", "tags"),
        Col("is_question", "bool"), Col("accepted", "bool"), _count("anonymous_reactions", required=False),
        Col("url", pattern=r"^https?://", hint="an http(s) address"),
        Col("lang", pattern=r"^[a-z]{2,3}$", hint="an ISO 639 code such as fr"),
        Col("sentiment", "real", minimum=-1, maximum=1)),
        key=("platform", "external_id"),
        rules=((lambda: (_c("kind") == "thread") & _c("parent").is_not_null(), "parent", "a thread has no parent"),
               (lambda: (_c("kind") != "thread") & _c("parent").is_null(), "parent",
                "a reply, comment, answer or reaction needs the parent it responds to"),
               (lambda: (_c("kind") == "thread") & _c("thread").is_not_null(), "thread", "a thread has no thread"),
               (lambda: (_c("kind") != "thread") & _c("is_question").fill_null(False), "is_question",
                "only a thread can be a question"),
               (lambda: (_c("kind") != "answer") & _c("accepted").fill_null(False), "accepted",
                "only an answer can be accepted"))),
    "votes": Table((
        _platform(), Col("activity", required=True), Col("day", "date", required=True, past=True),
        _count("up", required=False), _count("down", required=False)),
        key=("platform", "activity", "day")),
    "moderation_cases": Table((
        _platform(), Col("external_id", required=True), Col("member", required=True), Col("activity"),
        Col("rule", required=True, pattern=r"^[a-z0-9_-]{1,40}$", hint="a rule code such as spam"),
        Col("rule_title"), Col("reported_at", "datetime", required=True, past=True),
        Col("first_action_at", "datetime", past=True), Col("resolved_at", "datetime", past=True),
        Col("outcome", choices=("upheld", "dismissed"))),
        key=("platform", "external_id"),
        rules=((lambda: _c("first_action_at") < _c("reported_at"), "first_action_at", "is before reported_at"),
               (lambda: _c("resolved_at") < _c("reported_at"), "resolved_at", "is before reported_at"),
               (lambda: _c("resolved_at").is_not_null() & _c("outcome").is_null(), "outcome",
                "a resolved case needs its outcome"),
               (lambda: _c("resolved_at").is_null() & _c("outcome").is_not_null(), "resolved_at",
                "a case with an outcome needs resolved_at"),
               (lambda: _c("resolved_at").is_not_null() & _c("first_action_at").is_null(), "first_action_at",
                "a resolved case needs first_action_at"))),
    "events": Table((
        Col("external_id", required=True), Col("platform", pattern=SLUG, hint="a platform slug such as discord"),
        Col("title", required=True), Col("format", required=True, choices=("in_person", "online")),
        Col("starts_at", "datetime", required=True), Col("location")), key=("external_id",)),
    "attendance": Table((
        Col("event", required=True), _platform(), Col("member", required=True),
        Col("registered_at", "datetime", required=True, past=True), Col("attended", "bool")),
        key=("event", "platform", "member")),
    "mentions": Table((
        Col("url", required=True, pattern=r"^https?://", hint="an http(s) address"), Col("source", required=True),
        Col("author"), Col("body", required=True, body=True),
        Col("created_at", "datetime", required=True, past=True),
        _count("reach", required=False), Col("lang", pattern=r"^[a-z]{2,3}$", hint="an ISO 639 code such as fr"),
        Col("sentiment", "int", minimum=-1, maximum=1),
        Col("tool_lang", pattern=r"^[a-z]{2,3}$", hint="an ISO 639 code such as fr"),
        Col("tool_sentiment", "int", minimum=-1, maximum=1)), key=("url",)),
    "sponsors": Table((Col("name", required=True, longest=200), Col("contact_email")), key=("name",)),
    "campaigns": Table((
        Col("sponsor", required=True), Col("name", required=True), Col("starts_on", "date", required=True),
        Col("ends_on", "date", required=True), _amount(), _currency(), Col("deliverables", "json")),
        key=("sponsor", "name"),
        rules=((lambda: _c("ends_on") < _c("starts_on"), "ends_on", "is before starts_on"),)),
    "delivery": Table((
        Col("sponsor", required=True), Col("campaign", required=True), Col("day", "date", required=True, past=True),
        _count("impressions"), _count("clicks"), _count("engagements")),
        key=("sponsor", "campaign", "day"),
        rules=((lambda: _c("clicks") > _c("impressions"), "clicks", "is more than impressions"),)),
    "revenue": Table((
        Col("external_id", required=True), Col("stream", required=True, choices=STREAMS), Col("sponsor"),
        Col("campaign"), _amount(), _currency(),
        Col("booked_on", "date", required=True), Col("received_on", "date", past=True), Col("recurring", "bool"),
        Col("description")), key=("external_id",),
        rules=((lambda: _c("campaign").is_not_null() & _c("sponsor").is_null(), "sponsor",
                "a campaign's revenue needs its sponsor"),
               (lambda: _c("recurring").fill_null(False) & (_c("stream") != "membership"), "recurring",
                "only membership revenue recurs"))),
}
def describe() -> pl.DataFrame:
    """The canonical format, a row per column: table, column, type, required, allowed values."""
    return pl.DataFrame([
        {"table": name, "column": c.name, "type": c.type, "required": c.required,
         "allowed": c.hint or ", ".join(c.choices) or (f"{_number(c.minimum)} to {_number(c.maximum)}"
                                                       if c.maximum is not None else "")}
        for name, table in TABLES.items() for c in table.columns])


# The order tables load in: a table's references come before it.
LOAD_ORDER = tuple(TABLES)
FORMATS = (".csv", ".jsonl", ".ndjson", ".parquet")


@dataclass
class Part:
    """Rows for one canonical table from one file, before validation: a frame, or `chunks` that
    read it piece by piece (large dumps). `_line` locates each row in its file (a line, a row
    number or an element id: `unit` says which). Rows gathered from several files of one kind (a
    forum's topic pages) name theirs in a `_file` column; `file` then names them all."""

    table: str
    file: str
    frame: pl.DataFrame | None = None
    unit: str = "line"
    chunks: Callable[[], Iterator[pl.DataFrame]] | None = None

    def batches(self) -> Iterator[pl.DataFrame]:
        return self.chunks() if self.chunks else iter([self.frame])

    def reject(self, message: str, line: int | None = None, field_name: str | None = None,
               **values: object) -> Rejected:
        return Rejected(self.file, message, line, field_name, self.unit, **values)


# ---------------------------------------------------------------- reading files
def decode(name: str, data: bytes) -> str:
    """The file's text, or Rejected when it is empty or not UTF-8."""
    if not data.strip():
        raise Rejected(name, "the file is empty")  # 0-byte files are refused before (ingest.run)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise Rejected(name, "is not UTF-8 text (byte {byte}): save the file as UTF-8", line,
                       byte=f"0x{data[err.start]:02x}") from None


def _line_count(data: bytes) -> int:
    """The lines of a file, the last one counted whether or not it ends with a line break."""
    return data.count(b"\n") + (not data.endswith(b"\n"))


def _csv_lines(text: str, separator: str = ",") -> list[int]:
    """The line each record starts on (records may span lines inside quotes)."""
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    starts = []
    previous = 1
    for _ in reader:
        starts.append(previous)
        previous = reader.line_num + 1
    return starts[1:]


def _columns(name: str, data: bytes, separator: str = ",") -> None:
    """Refuse a CSV file whose header has more columns than the import's limit, before parsing it
    (a header of 10^6 columns would take gigabytes to parse)."""
    end = data.find(b"\n")
    header = data if end < 0 else data[:end]
    most = current().limits.columns
    if header.count(separator.encode()) < most:
        return
    first = next(csv.reader(io.StringIO(header.decode("utf-8", "replace")), delimiter=separator), [])
    if len(first) > most:
        raise Rejected(name, "has {columns} columns, more than the {most} an import accepts (Settings)", 1,
                       columns=f"{len(first):,}", most=f"{most:,}")


def read_csv(name: str, data: bytes, separator: str = ",") -> pl.DataFrame:
    """A CSV file as text columns plus `_line`."""
    _columns(name, data, separator)
    text = decode(name, data)
    try:
        frame = pl.read_csv(data.removeprefix(codecs.BOM_UTF8), infer_schema=False, separator=separator)
    except pl.exceptions.PolarsError as err:
        raise Rejected(name, "is not a valid CSV file ({reason})", reason=str(err).splitlines()[0]) from None
    if _line_count(data) == frame.height + 1:  # a record per line
        lines = pl.int_range(2, frame.height + 2, eager=True).alias("_line")
    else:  # a quoted field holds a line break, or lines are blank: count them exactly
        lines = pl.Series("_line", _csv_lines(text, separator)[:frame.height], dtype=pl.Int64)
    return frame.with_columns(lines)


def read_jsonl(name: str, data: bytes) -> pl.DataFrame:
    """A JSON Lines file (one object per line) as text columns, like a CSV cell would hold them
    (see `_json_text`), plus `_line`. Polars reads it when every value is text, a number,
    true/false or a list of texts; any other file (an object in a value, a line that is not an
    object or not JSON) is read line by line, which names the line at fault. One difference: a
    whole number written as a float among texts reads as 3, not 3.0."""
    text = decode(name, data)
    try:
        frame = pl.read_ndjson(data.removeprefix(codecs.BOM_UTF8), infer_schema_length=None)
    except pl.exceptions.PolarsError:
        return _read_jsonl_lines(name, text)
    # A number read as a float prints as Python does only in a column of floats (3 would read 3.0).
    reals = {c.name for c in TABLES[Path(name).stem.lower()].columns if c.type == "real"}
    plain = (pl.String, pl.Boolean, pl.Int64, pl.Null, pl.List(pl.String))
    if frame.is_empty() or any(dtype not in plain and not (dtype == pl.Float64 and column in reals)
                               for column, dtype in frame.schema.items()):
        return _read_jsonl_lines(name, text)
    if _line_count(data) == frame.height:  # an object per line
        lines = pl.int_range(1, frame.height + 1, eager=True)
    else:  # blank lines
        lines = pl.Series([n for n, line in enumerate(text.splitlines(), start=1) if line.strip()])
    return frame.select(
        pl.col(c).list.join(TAG_SEPARATOR) if frame[c].dtype == pl.List(pl.String) else pl.col(c).cast(pl.String)
        for c in frame.columns).with_columns(lines.cast(pl.Int64).alias("_line"))


def _read_jsonl_lines(name: str, text: str) -> pl.DataFrame:
    """`read_jsonl` a line at a time with Python's json: any JSON, and the exact line of an error."""
    rows, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = loads(name, line, number)
        if not isinstance(row, dict):
            raise Rejected(name, "each line must be one JSON object", number)
        rows.append(row)
        lines.append(number)
    names = list(dict.fromkeys(k for row in rows for k in row))
    columns = {n: pl.Series(n, [_json_text(row.get(n)) for row in rows], dtype=pl.String) for n in names}
    return pl.DataFrame({**columns, "_line": pl.Series(lines, dtype=pl.Int64)})


def loads(name: str, text: str, line: int = 1) -> object:
    """A JSON document (starting on `line` of file `name`), or Rejected naming the line where it
    stops being JSON or nests too deeply."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise Rejected(name, "is not valid JSON ({reason}, column {column})", line + err.lineno - 1,
                       reason=err.msg, column=err.colno) from None
    except RecursionError:
        raise Rejected(name, "is not a data export: its JSON nests arrays or objects too deeply", line) from None


def read_json(path: Path) -> object:
    """A JSON file's document, or Rejected naming the line where it stops being JSON."""
    return loads(path.name, decode(path.name, path.read_bytes()))


def _json_text(value: object) -> str | None:
    """A JSON value as the text a CSV cell would hold (lists of tags joined, objects as JSON)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return TAG_SEPARATOR.join(value) if value else None
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def read_parquet(name: str, data: bytes) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError) as err:
        raise Rejected(name, "is not a valid Parquet file ({reason})", reason=str(err).splitlines()[0]) from None
    return frame.with_columns(pl.int_range(1, frame.height + 1).alias("_line"))


def read(name: str, data: bytes) -> Part:
    """One canonical file (its table is its name without the extension) as a Part."""
    path = Path(name)
    table, suffix = path.stem.lower(), path.suffix.lower()
    if table not in TABLES:
        raise Rejected(name, "unknown table {table}: name the file after its table, one of {tables}",
                       table=repr(table), tables=", ".join(TABLES))
    if suffix not in FORMATS:
        raise Rejected(name, "unknown format {suffix}: use one of {formats}", suffix=repr(suffix),
                       formats=", ".join(FORMATS))
    reader = {".csv": read_csv, ".parquet": read_parquet}.get(suffix, read_jsonl)
    return Part(table, path.name, reader(path.name, data), unit="row" if suffix == ".parquet" else "line")


# ---------------------------------------------------------------- validation
_TYPE_WORDS = {
    "int": "a whole number", "real": "a number", "bool": "true or false",
    "datetime": "a date and time (ISO 8601, e.g. 2024-05-01T12:00:00Z)", "date": "a date (YYYY-MM-DD)",
    "tags": "a list of tags", "json": "a JSON array",
}
_TRUE, _FALSE = ("true", "1", "yes", "y", "t"), ("false", "0", "no", "n", "f")
_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M",
                     "%Y-%m-%d")


def _json_array(text: str | None) -> str | None:
    try:
        return text if text is None or isinstance(json.loads(text), list) else None
    except json.JSONDecodeError:
        return None


def to_datetime(text: pl.Series) -> pl.Series:
    """ISO 8601 text as UTC date-times (a time without a zone is UTC); null where it is not one.
    Each format after the first parses only the values still unparsed."""
    norm = text.str.replace(r"^(\d{4}-\d\d-\d\d) ", "${1}T").str.replace(r"[Zz]$", "+00:00")
    out = norm.str.to_datetime(_DATETIME_FORMATS[0], strict=False, time_zone="UTC", time_unit="us")
    for fmt in _DATETIME_FORMATS[1:]:
        todo = (out.is_null() & norm.is_not_null()).arg_true()
        if todo.len() == 0:
            break
        out = out.scatter(todo, norm.gather(todo).str.to_datetime(fmt, strict=False, time_zone="UTC",
                                                                  time_unit="us"))
    return out.alias(text.name)


def _coerce(raw: pl.Series, col: Col) -> pl.Series:
    """`raw` (text, or a Parquet column's own type) as the column's type; null where it is not one."""
    kind, text = col.type, raw.dtype == pl.String
    if kind == "text":
        return raw if text else raw.cast(pl.String)
    if kind in ("int", "real"):  # ints as Int128: a value beyond an Int64 is refused as too large
        return raw.cast(pl.Int128 if kind == "int" else pl.Float64, strict=False)
    if kind == "bool":
        if not text:
            return raw.cast(pl.Boolean, strict=False)
        low = raw.str.to_lowercase()
        return (pl.select(pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
                          .otherwise(None)).to_series().alias(raw.name))
    if kind == "datetime":
        if isinstance(raw.dtype, pl.Datetime):
            return raw.dt.replace_time_zone("UTC") if raw.dtype.time_zone is None else raw.dt.convert_time_zone("UTC")
        if raw.dtype == pl.Date:
            return raw.cast(pl.Datetime("us", "UTC"))
        return to_datetime(raw.cast(pl.String))
    if kind == "date":
        if raw.dtype == pl.Date:
            return raw
        if isinstance(raw.dtype, pl.Datetime):
            return raw.dt.date()
        return raw.cast(pl.String).str.to_date("%Y-%m-%d", strict=False)
    if kind == "tags":
        if isinstance(raw.dtype, pl.List):
            return raw.cast(pl.List(pl.String))
        return raw.cast(pl.String).str.split(TAG_SEPARATOR).list.eval(
            pl.element().str.strip_chars().filter(pl.element() != ""))
    if kind == "json":
        return raw.cast(pl.String).map_elements(_json_array, return_dtype=pl.String)
    raise AssertionError(kind)


def _first(mask: pl.Series) -> int | None:
    hits = mask.fill_null(False).arg_true()
    return int(hits[0]) if hits.len() else None


def _number(bound: float) -> str:
    """A bound as a message writes it: 10000000000000, 1, -0.5."""
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def shown(value: object) -> str:
    """A value as a message quotes it: text in quotes, anything else as it prints."""
    return repr(value) if isinstance(value, str) else str(value)


def check_columns(part: Part, frame: pl.DataFrame) -> None:
    """Rejected when `frame` (of `part`) has a column its table lacks, or lacks a required one."""
    spec = TABLES[part.table]
    names = [c.name for c in spec.columns]
    for name in frame.columns:
        if name not in names and name not in ("_line", "_file"):
            raise part.reject("unknown column {column}: the columns of {table} are {columns}", column=repr(name),
                              table=part.table, columns=", ".join(names))
    for col in spec.columns:
        if col.required and col.name not in frame.columns:
            raise part.reject("missing column {column}", column=repr(col.name))


def _too_long(value: pl.Series, longest: int) -> pl.Series:
    """Which texts have more than `longest` characters (counted only where the bytes could)."""
    over = value.str.len_bytes() > longest
    return over if not over.any() else over & (value.str.len_chars() > longest)


def validate(table: str, frame: pl.DataFrame, units: dict[str, str], now: datetime | None = None) -> pl.DataFrame:
    """`frame` (rows of `table` with `_file` and `_line`, from one file or several) typed as the
    table's columns, plus `_file` and `_line`; Rejected at the first bad value, naming its file,
    line and field. Bodies longer than the import's limit are shortened (and counted); duplicate
    keys are found once everything is staged (`load.unique`)."""
    spec = TABLES[table]
    now = now or datetime.now(timezone.utc)
    limits = current().limits

    def bad(message: str, index: int, field_name: str, **values: object) -> Rejected:
        file = frame["_file"][index]
        return Rejected(file, message, int(frame["_line"][index]), field_name, units.get(file, "line"), **values)

    typed = {}
    for col in spec.columns:
        raw = frame[col.name] if col.name in frame.columns else pl.Series(col.name, [None] * frame.height, pl.String)
        if raw.dtype == pl.String:
            if (i := _first(raw.str.contains("\x00", literal=True))) is not None:
                raise bad("contains a NUL character (byte 0x00), which text cannot hold", i, col.name)
            raw = raw.str.strip_chars().replace("", None)
            if col.body:
                if (long := _too_long(raw, limits.body_chars)).any():
                    note("bodies shortened to the longest an import keeps", long.sum())
                    raw = raw.str.slice(0, limits.body_chars)
            elif (i := _first(_too_long(raw, limits.field_chars))) is not None:
                raise bad("is longer than {longest} characters", i, col.name, longest=f"{limits.field_chars:,}")
        value = _coerce(raw, col)
        if (i := _first(raw.is_not_null() & value.is_null())) is not None:
            raise bad("{value} is not {expected}", i, col.name, value=shown(raw[i]), expected=_TYPE_WORDS[col.type])
        if col.required and (i := _first(value.is_null())) is not None:
            raise bad("is required", i, col.name)
        if col.choices and (i := _first(value.is_not_null() & ~value.is_in(col.choices))) is not None:
            if col.hint:
                raise bad("{value} is not {expected}", i, col.name, value=repr(value[i]), expected=col.hint)
            raise bad("{value} is not one of {choices}", i, col.name, value=repr(value[i]),
                      choices=", ".join(col.choices))
        if col.pattern and (i := _first(~value.str.contains(col.pattern))) is not None:
            raise bad("{value} is not {expected}", i, col.name, value=repr(value[i]), expected=col.hint)
        if col.longest and (i := _first(value.str.len_chars() > col.longest)) is not None:
            raise bad("is longer than {longest} characters", i, col.name, longest=col.longest)
        if col.minimum is not None and (i := _first(value < col.minimum)) is not None:
            raise bad("{value} is below {minimum}", i, col.name, value=value[i], minimum=_number(col.minimum))
        maximum = MAX_COUNT if col.maximum is None and col.type == "int" else col.maximum
        if maximum is not None and (i := _first(value > maximum)) is not None:
            raise bad("{value} is above {maximum}", i, col.name, value=value[i], maximum=_number(maximum))
        if col.type == "int":
            value = value.cast(pl.Int64)  # within its bounds
        if col.past:
            limit = now if col.type == "datetime" else now.date()
            if (i := _first(value > limit)) is not None:
                raise bad("{value} is in the future", i, col.name, value=shown(raw[i]))
        typed[col.name] = value
    out = pl.DataFrame(typed, schema={c.name: typed[c.name].dtype for c in spec.columns}).with_columns(
        frame["_file"], frame["_line"])
    for mask, name, message in spec.rules:
        if (i := _first(out.select(mask()).to_series())) is not None:
            raise bad(message, i, name)
    return out
