"""Excel workbooks (`.xlsx`), as social-listening tools export them (Meltwater, Talkwalker,
Brandwatch), read like a CSV file: text columns named by the header row, plus `_line`, the row
number as Excel shows it. The header need not be on the first row (some exports put a title and
the query above it): it is the first of the rows that name the most fields (`named`) among the
first `SEARCHED` rows that hold something.

Read by python-calamine (the calamine reader in Rust, as pandas' `calamine` engine): the sheet's
cells with their types and absolute positions. A date cell becomes `2026-03-17`, a date and time
`2026-03-17 17:47:05`, a time `17:47:00` (read in the community's time zone, like a CSV's), a
whole number `1204` (Excel stores numbers as floats). The archive's uncompressed size is bounded
like an import's archives (Settings) before a cell is read."""
from __future__ import annotations

import io
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path

import polars as pl
from python_calamine import CalamineError, CalamineWorkbook

from cmcore.ingest.canonical import Rejected, current

SUFFIXES = (".xlsx",)
UNIT = "row"  # what its errors locate: "export.xlsx, row 5, field Date: …"
SEARCHED = 50


def is_workbook(name: str) -> bool:
    return Path(name).suffix.lower() in SUFFIXES


def _text(value: object) -> str | None:
    """A cell as the text a CSV export would hold."""
    if value == "" or value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):  # a duration cell ([h]:mm): the time of day it says
        minutes, seconds = divmod(int(value.total_seconds()), 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}"
    return str(value)


def _letter(index: int) -> str:
    """The column letter Excel shows for a 0-based index (0 → A, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _sheet(name: str, data: bytes) -> list[list[object]]:
    """The first sheet's rows from row 1 (leading empty rows and columns kept: positions are Excel's)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            size = sum(i.file_size for i in archive.infolist())
    except zipfile.BadZipFile:
        raise Rejected(name, "is not an Excel workbook (.xlsx): save it as .xlsx or export a CSV file") from None
    most = current().limits.archive_bytes(len(data))
    if size > most:
        raise Rejected(name, "would expand to {size} bytes, more than the {most} an import accepts from this"
                       " archive (Settings)", size=f"{size:,}", most=f"{most:,}")
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        return book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except (CalamineError, ValueError, IndexError) as err:
        raise Rejected(name, "is not a readable Excel workbook ({reason})",
                       reason=str(err).splitlines()[0] if str(err) else type(err).__name__) from None


def read(name: str, data: bytes, named: Callable[[list[str]], int]) -> tuple[pl.DataFrame, int]:
    """The first sheet's rows under its header as text columns plus `_line` (empty rows and
    columns left out), and the header's row number. A header cell left empty is named for its
    column (`column F`), a repeated one numbered (`Date_2`)."""
    rows = [[_text(v) for v in row] for row in _sheet(name, data)]
    filled = [n for n, row in enumerate(rows) if any(v is not None for v in row)]
    if not filled:
        raise Rejected(name, "the file is empty")
    at = max(filled[:SEARCHED], key=lambda n: (named([v for v in rows[n] if v is not None]), -n))
    body = [rows[n] for n in filled if n > at]
    columns = [i for i in range(max(len(rows[n]) for n in filled))
               if any(i < len(row) and row[i] is not None for row in (rows[at], *body))]
    most = current().limits.columns
    if len(columns) > most:
        raise Rejected(name, "has {columns} columns, more than the {most} an import accepts (Settings)", at + 1, None,
                       UNIT, columns=f"{len(columns):,}", most=f"{most:,}")
    names: list[str] = []
    seen: Counter[str] = Counter()
    for i in columns:
        header = rows[at][i] if i < len(rows[at]) and rows[at][i] is not None else f"column {_letter(i)}"
        seen[header] += 1
        names.append(header if seen[header] == 1 else f"{header}_{seen[header]}")
    frame = pl.DataFrame({n: pl.Series([row[i] if i < len(row) else None for row in body], dtype=pl.String)
                          for n, i in zip(names, columns, strict=True)})
    return frame.with_columns(pl.Series("_line", [n + 1 for n in filled if n > at], pl.Int64)), at + 1
