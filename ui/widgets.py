"""Shared page pieces: headline metrics, tables with downloads, empty states."""
from __future__ import annotations

import polars as pl
import streamlit as st

from cmcore import exports, i18n
from cmcore.kpis import Metric
from ui.text import lang, t


def _format(metric: Metric, value: float | None) -> str:
    if metric.unit == "money":
        return i18n.money(int(value or 0), metric.currency or "", lang())
    if metric.unit == "hours":
        return i18n.hours(value, lang())
    return i18n.number(value, lang())


def headline(metrics: list[Metric], per_row: int = 3) -> None:
    """One st.metric per number, with the change against the previous period."""
    for offset in range(0, len(metrics), per_row):
        row = metrics[offset:offset + per_row]
        for col, m in zip(st.columns(len(row)), row, strict=True):
            change = m.change
            delta = None
            if change is not None:
                sign = "+" if change >= 0 else "-"  # ASCII: Streamlit reads it for the arrow
                delta = sign + _format(m, abs(change))
            label = t(m.label) + (f" ({m.currency})" if m.currency else "")
            col.metric(label, _format(m, m.value), delta,
                       delta_color="normal" if m.higher_is_better else "inverse",
                       help=t(m.definition) + " " + t("Change against the previous period."),
                       border=True)


def table(frame: pl.DataFrame, name: str, labels: dict[str, str] | None = None) -> None:
    """The table, then CSV and Excel downloads of exactly what is shown."""
    shown = frame.rename({c: t(l) for c, l in (labels or {}).items() if c in frame.columns})
    st.dataframe(shown, hide_index=True, width="stretch")
    left, right = st.columns(2)
    left.download_button(t("Download CSV"), exports.to_csv(shown), f"{name}.csv", "text/csv",
                         key=f"{name}_csv")
    right.download_button(t("Download Excel"), exports.to_excel(shown, name), f"{name}.xlsx",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          key=f"{name}_xlsx")
