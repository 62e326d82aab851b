"""Dates and times as exports write them: ISO 8601, X's `Tue Mar 17 17:47:00 +0000 2026`,
`March 17, 2026 at 05:47 PM`, `17/03/2026 17:47`, Unix seconds or milliseconds… A time without a
zone is in the community's time zone (the tool's user saw it there).

The usual shapes are parsed by Polars over the whole column; what is left, value by distinct
value, by `dateutil` (python-dateutil's parser). Whether `03/04/2026` is the 3rd of April or
March 4th is decided per column: day first when a value's first number is above 12, month first
when its second is, day first when nothing tells (the community is French by default); an explicit
format (`--date-format`) overrides it all.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl
from dateutil import parser as dateutil_parser

# Shapes with a zone, then shapes without one (read in the community's time zone), tried in order
# on the values still unparsed.
_ZONED = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z", "%a %b %d %H:%M:%S %z %Y")
_LOCAL = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d", "%B %d, %Y at %I:%M %p", "%b %d, %Y at %I:%M %p",
          "%B %d, %Y %I:%M %p", "%b %d, %Y %I:%M %p", "%B %d, %Y", "%b %d, %Y")
_DAY_FIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y",
              "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y")
_MONTH_FIRST = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")
_NUMERIC = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b")
_EPOCH = r"^\d{10}(\d{3})?$"


def day_first(text: pl.Series) -> bool:
    """Whether the column's numeric dates (`03/04/2026`) put the day first."""
    parts = text.drop_nulls().str.extract_groups(_NUMERIC.pattern).struct.unnest().drop_nulls()
    if parts.is_empty():
        return True
    first, second = parts[:, 0].cast(pl.Int32), parts[:, 1].cast(pl.Int32)
    return bool((first > 12).any() or not (second > 12).any())


def _normalise(text: pl.Series) -> pl.Series:
    return (text.str.strip_chars().str.replace(r"^(\d{4}-\d\d-\d\d) ", "${1}T").str.replace(r"[Zz]$", "+00:00")
            .str.replace(r" ?UTC$", "+00:00").str.replace(r"(?i)\b([ap])\.?m\.?$", "${1}M")
            .str.replace(r"(?i)\bam$", "AM").str.replace(r"(?i)\bpm$", "PM"))


def _try(out: pl.Series, text: pl.Series, fmt: str, zone: str | None) -> pl.Series:
    """`out` with the values still null parsed by `fmt` where they fit (a naive shape in `zone`)."""
    todo = (out.is_null() & text.is_not_null()).arg_true()
    if todo.len() == 0:
        return out
    values = text.gather(todo)
    if zone is None:
        parsed = values.str.to_datetime(fmt, strict=False, time_zone="UTC", time_unit="us")
    else:
        parsed = (values.str.to_datetime(fmt, strict=False, time_unit="us")
                  .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
                  .dt.convert_time_zone("UTC"))
    return out.scatter(todo, parsed)


class _French(dateutil_parser.parserinfo):
    """French month and day names, and the words around a French date (`le 17 mars 2026 à 17h47`)."""

    JUMP = [*dateutil_parser.parserinfo.JUMP, "à", "le", "du"]
    MONTHS = [("janv", "janvier"), ("févr", "février", "fevrier", "fev"), ("mars",), ("avr", "avril"), ("mai",),
              ("juin",), ("juil", "juillet"), ("août", "aout"), ("sept", "septembre"), ("oct", "octobre"),
              ("nov", "novembre"), ("déc", "décembre", "decembre", "dec")]
    WEEKDAYS = [("lun", "lundi"), ("mar", "mardi"), ("mer", "mercredi"), ("jeu", "jeudi"), ("ven", "vendredi"),
                ("sam", "samedi"), ("dim", "dimanche")]


_NO_YEAR = datetime(1, 1, 1)
_PARSERS = (dateutil_parser.parserinfo(), _French(dayfirst=True))


def _dateutil(value: str, zone: ZoneInfo, dayfirst: bool) -> datetime | None:
    """`value` read by dateutil, in English then in French; None when neither reads a whole date."""
    for info in _PARSERS:
        try:
            parsed = dateutil_parser.parser(info).parse(value.replace(".", " ") if info is not _PARSERS[0]
                                                        else value, dayfirst=dayfirst, default=_NO_YEAR)
            break
        except (ValueError, OverflowError, dateutil_parser.ParserError):
            continue
    else:
        return None
    if parsed.year == _NO_YEAR.year:  # no year written: not a date to guess
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(ZoneInfo("UTC"))


def parse(text: pl.Series, zone: str, fmt: str | None = None) -> pl.Series:
    """`text` as UTC date-times (Datetime us, UTC); null where it is no date a person would read
    as one. `fmt` (strftime directives) is the only shape tried when given."""
    text = text.cast(pl.String)
    out = pl.Series(text.name, [None] * text.len(), pl.Datetime("us", "UTC"))
    if fmt:
        zoned = any(d in fmt for d in ("%z", "%Z"))
        return _try(out, text.str.strip_chars(), fmt, None if zoned else zone)
    norm = _normalise(text)
    epoch = norm.str.contains(_EPOCH).fill_null(False)
    if epoch.any():
        digits = norm.filter(epoch).cast(pl.Int64)
        micros = pl.select(pl.when(digits > 10**11).then(digits * 1000).otherwise(digits * 10**6)).to_series()
        out = out.scatter(epoch.arg_true(), micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
    for shape in _ZONED:
        out = _try(out, norm, shape, None)
    numeric = _DAY_FIRST if day_first(norm) else _MONTH_FIRST
    for shape in (*_LOCAL, *numeric):
        out = _try(out, norm, shape, zone)
    todo = (out.is_null() & norm.is_not_null() & (norm != "")).arg_true()
    if todo.len():
        first = day_first(norm)
        local = ZoneInfo(zone)
        left = norm.gather(todo)
        found = {v: _dateutil(v, local, first) for v in left.unique().to_list()}
        out = out.scatter(todo, left.replace_strict(found, default=None, return_dtype=pl.Datetime("us", "UTC")))
    return out
