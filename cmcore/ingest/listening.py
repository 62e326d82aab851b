"""Mentions from a social-listening tool's or a scraper's export as published, CSV or Excel
(`workbook`): one row per mention. Headers are matched ignoring case, accents, spaces,
underscores and camelCase (`createdAt`, `Created at` and `created_at` are one name), against the
usual names of the common tools and scrapers (`FIELDS`); a date and a time in two columns are
joined; a missing `source` is the URL's site. Other columns are left out (the mapping names them). Language and sentiment are
scored at import (`text`)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cmcore import community
from cmcore.ingest import canonical, dates, text, workbook
from cmcore.ingest.canonical import Part, Rejected, read_csv
from cmcore.progress import Progress

# field → header names (normalised: see `normalise`), the most telling first.
FIELDS: dict[str, tuple[str, ...]] = {
    "created_at": ("date", "createdat", "published", "publishedat", "publisheddate", "publicationdate", "datepublished",
                   "createddate", "dateposted", "datetime",
                   "timestamp", "postedat", "postdate", "created", "datedepublication", "datepublication", "time"),
    "time": ("time", "heure", "hour", "publicationtime", "timepublished", "heuredepublication"),
    "source": ("source", "network", "sourcetype", "mediatype", "socialnetwork", "platform", "site", "media",
               "reseau", "reseausocial", "plateforme", "domain"),
    "url": ("url", "link", "permalink", "tweeturl", "posturl", "articleurl", "lien", "urlarticle"),
    "author": ("author", "authorusername", "authorname", "username", "user", "screenname", "handle", "authorhandle",
               "auteur", "byline", "influencer", "userscreenname"),
    "body": ("text", "fulltext", "tweet", "tweettext", "content", "body", "message", "mention", "hitsentence",
             "contenu", "texte", "caption"),
    "title": ("title", "headline", "titre"),
    "snippet": ("snippet", "openingtext", "description", "summary", "extract", "extrait", "resume", "chapeau"),
    "reach": ("reach", "potentialreach", "estimatedreach", "audience", "impressions", "viewcount", "views",
              "followers", "followerscount", "authorfollowers", "authorfollowerscount", "circulation", "portee",
              "vues"),
    "tool_lang": ("language", "lang", "langue", "detectedlanguage"),
    "tool_sentiment": ("sentiment", "sentimenttool", "tonality", "tonalite", "tone", "sentimentlabel", "polarity",
                       "polarite"),
}
REQUIRED = ("created_at", "url", "body")  # a body may be a title and a snippet; source comes from the url
# The name a message shows for a field, and the sites whose mentions are named for their network.
SHOWN = {"created_at": "date", "body": "text"}
NETWORKS = {"x.com": "x", "twitter.com": "x", "reddit.com": "reddit", "redd.it": "reddit", "youtube.com": "youtube",
            "youtu.be": "youtube", "facebook.com": "facebook", "fb.com": "facebook", "instagram.com": "instagram",
            "linkedin.com": "linkedin", "tiktok.com": "tiktok", "bsky.app": "bluesky", "threads.net": "threads",
            "news.ycombinator.com": "hackernews", "discord.com": "discord"}


def normalise(header: str) -> str:
    """A header as it is matched: lower-case letters and digits, accents dropped."""
    plain = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


@dataclass(frozen=True)
class Mapping:
    """Which column of a file became which field (`used`: field → header), and the columns left out."""

    used: dict[str, str]
    ignored: tuple[str, ...]

    @property
    def missing(self) -> list[str]:
        """The required fields no column gives (a title or a snippet gives a body)."""
        used = self.used
        return [f for f in REQUIRED if f not in used and not (f == "body" and ("title" in used or "snippet" in used))]


def mapping(columns: list[str]) -> Mapping:
    """The fields `columns` (a file's header) give: for each field, the first of its names found."""
    by_name: dict[str, str] = {}
    for column in columns:
        by_name.setdefault(normalise(column), column)
    used: dict[str, str] = {}
    for field, names in FIELDS.items():
        taken = set(used.values())
        found = next((by_name[n] for n in names if n in by_name and by_name[n] not in taken), None)
        if found is not None:
            used[field] = found
    ignored = tuple(c for c in columns if c not in used.values() and c != "_line")
    return Mapping(used, ignored)


def _missing(name: str, missing: list[str], line: int) -> Rejected:
    fields = ", ".join(SHOWN.get(f, f) for f in missing)
    names = "; ".join(f"{SHOWN.get(f, f)}: " + ", ".join(FIELDS[f][:4]) for f in missing)
    return Rejected(name, "the header lacks {fields} (names accepted: {names}…)", line, fields, unit(name),
                    fields=fields, names=names)


def _count(text: pl.Expr) -> pl.Expr:
    """A count as exports write it (`12,345`, `12 345`, `1.2K`, `3M`) as whole-number text."""
    plain = (text.cast(pl.String).str.strip_chars().str.replace_all(r"[,\s\u00a0\u202f']", "")
             .replace(["-", "n/a", "N/A", "NA", "na"], None))
    number = plain.str.extract(r"^(\d+(?:\.\d+)?)[kKmMbB]?$").cast(pl.Float64)
    scale = (pl.when(plain.str.ends_with("k") | plain.str.ends_with("K")).then(1e3)
             .when(plain.str.ends_with("m") | plain.str.ends_with("M")).then(1e6)
             .when(plain.str.ends_with("b") | plain.str.ends_with("B")).then(1e9).otherwise(1.0))
    return pl.when(number.is_not_null()).then((number * scale).round().cast(pl.Int64).cast(pl.String)).otherwise(plain)


# The tool's own labels, as tools write them (normalised).
TOOL_SENTIMENTS = {"positive": "1", "positif": "1", "pos": "1", "negative": "-1", "negatif": "-1", "neg": "-1",
                   "neutral": "0", "neutre": "0", "neu": "0"}
LANGUAGE_NAMES = {"english": "en", "anglais": "en", "french": "fr", "francais": "fr", "spanish": "es",
                  "espagnol": "es", "espanol": "es", "german": "de", "allemand": "de", "italian": "it",
                  "italien": "it", "portuguese": "pt", "portugais": "pt", "dutch": "nl", "neerlandais": "nl"}
NOT_READ = "tool sentiments or languages not read (left empty)"


def _tool_labels(frame: pl.DataFrame, used: dict[str, str]) -> list[pl.Series]:
    """The tool's sentiment (−1, 0, 1) and language (ISO 639-1) where it gave ones this reads;
    the others are left empty and counted."""
    out = []
    for field, read in (("tool_sentiment", _sentiment_label), ("tool_lang", _language_label)):
        if field in used:
            raw = frame[used[field]].str.strip_chars().replace("", None)
            value = raw.map_elements(read, return_dtype=pl.String)
            canonical.note(NOT_READ, (raw.is_not_null() & value.is_null()).sum())
            out.append(value.alias(field))
    return out


def _sentiment_label(label: str) -> str | None:
    try:
        number = float(label.replace(",", "."))  # a score: its sign
    except ValueError:
        return TOOL_SENTIMENTS.get(normalise(label))
    return str((number > 0) - (number < 0))


def _language_label(label: str) -> str | None:
    code = re.match(r"^([a-z]{2})(?:[-_][a-z]{2})?$", label.strip().lower())
    return code.group(1) if code else LANGUAGE_NAMES.get(normalise(label))


def source_of(url: pl.Expr) -> pl.Expr:
    """The site a mention's URL is on: the network's name for the usual ones (x, reddit…), its
    host otherwise (`lemonde.fr`)."""
    host = url.str.to_lowercase().str.extract(r"^https?://(?:www\.|m\.|mobile\.|old\.)?([^/:?#]+)")
    named = pl.lit(None, pl.String)
    for domain, network in reversed(NETWORKS.items()):
        named = pl.when((host == domain) | host.str.ends_with("." + domain)).then(pl.lit(network)).otherwise(named)
    return pl.coalesce(named, host)


def separator(data: bytes) -> str:
    """The separator of a CSV file's header: `;` (a French spreadsheet's export), a tab or `,`."""
    end = data.find(b"\n")
    header = data[:end if end >= 0 else len(data)]
    counts = {sep: header.count(sep.encode()) for sep in (",", ";", "\t")}
    return max(counts, key=lambda sep: (counts[sep], sep == ","))


def unit(name: str) -> str:
    """What locates a row of the file: a CSV file's line, a workbook's row."""
    return workbook.UNIT if workbook.is_workbook(name) else "line"


def read(name: str, data: bytes) -> tuple[pl.DataFrame, int]:
    """An export's rows as text columns plus `_line`, and its header's line (a workbook's is the
    row that names the most fields: a title may come before it)."""
    if workbook.is_workbook(name):
        return workbook.read(name, data, lambda cells: len(mapping(cells).used))
    return read_csv(name, data, separator(data)), 1


def frame_of(name: str, data: bytes, zone: str, date_format: str | None = None) -> tuple[pl.DataFrame, Mapping]:
    """A mentions export as the canonical `mentions` columns (plus `_line`), and its mapping."""
    raw, header = read(name, data)
    found = mapping(raw.columns)
    if missing := found.missing:
        raise _missing(name, missing, header)
    used = found.used
    text = {field: pl.col(column).str.strip_chars().replace("", None) for field, column in used.items()}
    if "time" in used and raw[used["created_at"]].str.contains(":").any():
        used = {f: c for f, c in used.items() if f != "time"}  # the date holds its time: the other column is not read
        found = Mapping(used, (*found.ignored, found.used["time"]))
    when = raw.select(pl.concat_str(text["created_at"], text["time"], separator=" ", ignore_nulls=True)
                      if "time" in used else text["created_at"]).to_series()
    created = dates.parse(when, zone, date_format)
    if (bad := (created.is_null() & when.is_not_null()).arg_true()).len():
        field = used["created_at"] + (f" + {used['time']}" if "time" in used else "")
        raise Rejected(name, "{value} is not a date and time the importer reads: give its format with --date-format"
                       " (e.g. %d/%m/%Y %H:%M)", int(raw["_line"][bad[0]]), field, unit(name), value=repr(when[bad[0]]))
    body = text.get("body")
    if body is None:
        body = pl.concat_str([text[f] for f in ("title", "snippet") if f in text], separator="\n", ignore_nulls=True)
    url = text["url"]
    columns = [url.alias("url"), pl.coalesce(text["source"], source_of(url)) if "source" in text else source_of(url),
               body.alias("body"), pl.Series("created_at", created)]
    if "author" in text:
        columns.append(text["author"].alias("author"))
    if "reach" in text:
        columns.append(_count(text["reach"]).alias("reach"))
    return raw.select(*columns[:1], columns[1].alias("source"), *columns[2:], *_tool_labels(raw, used), "_line"), found


@dataclass(frozen=True)
class Preview:
    """What importing one mentions export would do, before anything is written: which column
    becomes which field, the columns left out, the rows and how many repeat another identically,
    the first rows as they would be imported (with the language and sentiment the models give
    them), or why the file would be refused."""

    file: str
    mapping: pl.DataFrame  # field, column
    ignored: tuple[str, ...]
    rows: int = 0
    repeated: int = 0
    sample: pl.DataFrame | None = None
    error: Rejected | None = None


def preview(name: str, data: bytes, zone: str, date_format: str | None = None, first: int = 5) -> Preview:
    """The Preview of file `name` (its bytes `data`) read in time zone `zone`."""
    try:
        header = read(name, data)[0].columns
    except Rejected as err:
        return Preview(name, pl.DataFrame(schema={"field": pl.String, "column": pl.String}), (), error=err)
    found = mapping(header)
    try:
        frame, found = frame_of(name, data, zone, date_format)
    except Rejected as err:
        frame, error = None, err
    else:
        error = None
    used = pl.DataFrame({"field": list(found.used), "column": list(found.used.values())}, schema={
        "field": pl.String, "column": pl.String})
    if frame is None:
        return Preview(name, used, found.ignored, error=error)
    sample = frame.head(first).drop("_line")
    languages = community.languages()
    scores = [text.score(body, languages) if body else (None, None) for body in sample["body"]]
    sample = sample.with_columns(pl.Series("lang", [lang for lang, _ in scores], pl.String),
                                 pl.Series("sentiment", [sentiment for _, sentiment in scores], pl.Int64))
    values = frame.drop("_line")
    return Preview(name, used, found.ignored, frame.height, values.height - values.n_unique(), sample)


def convert(paths: list[Path], _platform: str, progress: Progress, _workdir: Path) -> list[Part]:
    zone, date_format = community.timezone(), canonical.current().date_format
    parts = []
    for number, path in enumerate(paths):
        progress(number / len(paths), path.name)
        frame, _ = frame_of(path.name, path.read_bytes(), zone, date_format)
        parts.append(Part("mentions", path.name, frame, unit(path.name)))
    return parts
