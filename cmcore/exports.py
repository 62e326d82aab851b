"""Downloads of tables as CSV and Excel, safe against formula injection."""
from __future__ import annotations

import io

import polars as pl

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix with ' every text cell a spreadsheet would read as a formula (= + - @ tab CR)."""
    return frame.with_columns(
        pl.when(pl.any_horizontal(pl.col(c).str.starts_with(p) for p in FORMULA_START))
        .then("'" + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, dtype in frame.schema.items() if dtype == pl.String)


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists become comma-separated text, structs JSON, times ISO text with their zone."""
    def as_text(c: str, dtype: pl.DataType) -> pl.Expr:
        if isinstance(dtype, pl.List):
            return pl.col(c).cast(pl.List(pl.String)).list.join(", ")
        if isinstance(dtype, pl.Struct):
            return pl.col(c).struct.json_encode()
        return pl.col(c).cast(pl.String)
    return frame.with_columns(as_text(c, t) for c, t in frame.schema.items()
                              if t.is_nested() or isinstance(t, pl.Datetime))


def to_csv(frame: pl.DataFrame) -> bytes:
    return neutralise(_flat(frame)).write_csv().encode("utf-8-sig")  # BOM: Excel reads UTF-8


def to_excel(frame: pl.DataFrame, sheet: str = "data") -> bytes:
    buf = io.BytesIO()
    neutralise(_flat(frame)).write_excel(buf, worksheet=sheet[:31], autofit=True)
    return buf.getvalue()
