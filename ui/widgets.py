"""Shared page pieces: headline metrics, tables with downloads, empty states."""
from __future__ import annotations

import re

import polars as pl
import streamlit as st

from cmcore import exports, figures, i18n
from cmcore.currencies import CURRENCIES, POINTS
from cmcore.kpis import Metric
from ui.text import lang, t


def plain(text: str) -> str:
    """`text` with Markdown's special characters escaped: shown as written by st.caption and kin."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", text)


def anonymous_reactions(platforms: list[str]) -> None:
    """Say on which platforms reactions come without their givers (`leaderboard.anonymous_platforms`)."""
    if platforms:
        st.caption(t("On {platforms}, reactions are anonymous (votes, likes, reactions whose users the export does "
                     "not list): they count as reactions the author received, with no giver and no reach.",
                     platforms=", ".join(plain(p) for p in platforms)))


def _format(metric: Metric, value: float | None) -> str:
    return i18n.metric_value(value, metric.unit, lang(), metric.currency)


def headline(metrics: list[Metric], per_row: int = 3) -> None:
    """One st.metric per number, with the change against the previous period."""
    for offset in range(0, len(metrics), per_row):
        row = metrics[offset:offset + per_row]
        for col, m in zip(st.columns(len(row)), row, strict=True):
            change = m.change
            delta = None
            if change is not None:
                sign = "+" if change >= 0 else "-"  # ASCII: Streamlit reads it for the arrow
                delta = sign + (i18n.number(abs(change) * 100, lang(), 1) + " pts" if m.unit == "ratio"
                                else _format(m, abs(change)))
            label = t(m.label) + (f" ({m.currency})" if m.currency else "")
            col.metric(label, _format(m, m.value), delta,
                       delta_color="normal" if m.higher_is_better else "inverse",
                       help=t(m.definition) + " " + t("Change against the previous period."),
                       border=True)


def table(frame: pl.DataFrame, name: str, labels: dict[str, str] | None = None,
          links: tuple[str, ...] = (), percents: tuple[str, ...] = (), sparklines: tuple[str, ...] = ()) -> None:
    """The table, then CSV and Excel downloads of exactly what is shown. Columns not in `labels`
    are left out; times are shown in the community's time zone; text is shown as text, `links`
    columns as links, `percents` columns (ratios 0–1) as percentages and `sparklines` columns
    (lists of numbers) as small line charts. A link that is not http(s) is not shown."""
    labels = labels or {c: c for c in frame.columns}
    frame = frame.with_columns(pl.when(pl.col(c).str.contains("^https?://")).then(pl.col(c)) for c in links)
    filters = st.session_state.get("filters")
    local = frame.select([c for c in labels if c in frame.columns]).with_columns(
        pl.col(c).dt.convert_time_zone(filters.tz).dt.replace_time_zone(None)
        for c, dtype in frame.schema.items()
        if c in labels and isinstance(dtype, pl.Datetime) and dtype.time_zone and filters)
    shown = local.rename({c: t(l) for c, l in labels.items() if c in frame.columns})
    config = {t(labels[c]): st.column_config.LinkColumn(t(labels[c])) for c in links}
    config |= {t(labels[c]): st.column_config.NumberColumn(t(labels[c]), format="percent") for c in percents}
    config |= {t(labels[c]): st.column_config.LineChartColumn(t(labels[c])) for c in sparklines}
    st.dataframe(shown, hide_index=True, width="stretch", column_config=config)
    left, right = st.columns(2)
    left.download_button(t("Download CSV"), exports.to_csv(shown), f"{name}.csv", "text/csv",
                         key=f"{name}_csv")
    right.download_button(t("Download Excel"), exports.to_excel(shown, name), f"{name}.xlsx",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          key=f"{name}_xlsx")


NOTHING = "Nothing in this period for these platforms: choose a longer period or other platforms."


def empty(frame: pl.DataFrame, message: str = NOTHING) -> bool:
    """Say so, and return True, when `frame` has no rows."""
    if frame.is_empty():
        st.info(t(message))
        return True
    return False


def chart(figure, title: str) -> None:
    """A Plotly chart under its subheader, in the app's compact layout; the data's text is shown
    as typed (cmcore.figures)."""
    figures.escaped(figure).update_layout(legend_title_text="", height=340, margin={"t": 30, "b": 10})
    st.subheader(t(title))
    st.plotly_chart(figure, width="stretch")


def currency(label: str, key: str | None = None, points: bool = False) -> str:
    """A currency picker under `label` (translated): the ISO 4217 currencies, EUR chosen first;
    the rewards' points first (and chosen) with `points`."""
    options = [POINTS] * points + list(CURRENCIES)
    return st.selectbox(label, options, index=0 if points else options.index("EUR"), key=key)
