"""Shared page pieces: headline metrics, tables with downloads, empty states."""
from __future__ import annotations

import re
from datetime import time

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
            delta, still = None, change == 0  # no change: no arrow, no colour
            if change is not None:
                sign = "" if still else "+" if change > 0 else "-"  # ASCII: Streamlit reads it for the arrow
                delta = sign + (i18n.number(abs(change) * 100, lang(), 1) + " pts" if m.unit == "ratio"
                                else _format(m, abs(change)))
            label = t(m.label) + (f" ({m.currency})" if m.currency else "")
            col.metric(label, _format(m, m.value), delta,
                       delta_color="off" if still else "normal" if m.higher_is_better else "inverse",
                       delta_arrow="off" if still else "auto",
                       help=t(m.definition) + " " + t("Change against the previous period."),
                       border=True)


MAX_STYLED = 200_000  # cells: beyond this a table is shown with Streamlit's own formats


def table(frame: pl.DataFrame, name: str, labels: dict[str, str] | None = None,
          links: tuple[str, ...] = (), percents: tuple[str, ...] = (), sparklines: tuple[str, ...] = (),
          hours: tuple[str, ...] = (), months: tuple[str, ...] = (), decimals: dict[str, int] | None = None) -> None:
    """The table, then CSV and Excel downloads of exactly what is shown (raw values: numbers stay
    numbers, times ISO). Columns not in `labels` are left out; times are in the community's time
    zone. Cells read as people write them in the interface language (cmcore.i18n through a
    Styler: the values underneath still sort as numbers and dates): counts with thousands
    separators, other numbers with `decimals` (1 by default), `percents` columns (ratios 0–1) as
    percentages, `hours` columns as durations ('3 h 12 min'), `months` columns as months, dates as
    dates, times to the minute,
    empty cells blank. `links` columns are links (a link that is not http(s) is not shown),
    `sparklines` columns (lists of numbers) small line charts."""
    labels = labels or {c: c for c in frame.columns}
    frame = frame.with_columns(pl.when(pl.col(c).str.contains("^https?://")).then(pl.col(c)) for c in links)
    filters = st.session_state.get("filters")
    local = frame.select([c for c in labels if c in frame.columns]).with_columns(
        pl.col(c).dt.convert_time_zone(filters.tz).dt.replace_time_zone(None)
        for c, dtype in frame.schema.items()
        if c in labels and isinstance(dtype, pl.Datetime) and dtype.time_zone and filters)
    names = {c: t(l) for c, l in labels.items() if c in frame.columns}
    shown = local.rename(names)
    config = {names[c]: st.column_config.LinkColumn(names[c]) for c in links if c in names}
    config |= {names[c]: st.column_config.LineChartColumn(names[c]) for c in sparklines if c in names}
    formats = {names[c]: f for c, f in _formats(local, lang(), percents, hours, months, decimals or {}).items()}
    data = shown
    if shown.height * max(shown.width, 1) <= MAX_STYLED:
        # Streamlit draws an empty cell as a grey "None" whatever a Styler says: a column with empty
        # cells is shown as text, written here (blank where empty); the others keep their values.
        gaps = [c for c, dtype in shown.schema.items() if shown[c].null_count() and not isinstance(dtype, pl.List)]
        data = shown.with_columns(
            pl.Series(c, ["" if v is None else formats[c](v) if c in formats else str(v) for v in shown[c].to_list()],
                      dtype=pl.String) for c in gaps)
        config |= {c: st.column_config.TextColumn(c, alignment="right") for c in gaps if c in formats and c not in config}
        data = data.to_pandas().style.format({c: f for c, f in formats.items() if c not in gaps})
    st.dataframe(data, hide_index=True, width="stretch", column_config=config)
    left, right = st.columns(2)
    left.download_button(t("Download CSV"), exports.to_csv(shown), f"{name}.csv", "text/csv",
                         key=f"{name}_csv")
    right.download_button(t("Download Excel"), exports.to_excel(shown, name), f"{name}.xlsx",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          key=f"{name}_xlsx")


def _formats(frame: pl.DataFrame, language: str, percents: tuple[str, ...], hours: tuple[str, ...],
             months: tuple[str, ...], decimals: dict[str, int]) -> dict[str, object]:
    """Per column, the function that writes a cell in `language` (given explicitly: the Styler may
    run it anywhere)."""
    out: dict[str, object] = {}
    for column, dtype in frame.schema.items():
        if column in percents:
            out[column] = lambda v: i18n.percent(v, language)
        elif column in hours:
            out[column] = lambda v: i18n.hours(v, language)
        elif column in months:
            out[column] = lambda v: i18n.month(v, language)
        elif dtype == pl.Date:
            out[column] = lambda v: i18n.day(v, language)
        elif isinstance(dtype, pl.Datetime):
            midnight = frame[column].drop_nulls().dt.time().eq(time(0)).all()
            out[column] = (lambda v: i18n.day(v, language)) if midnight else (lambda v: i18n.moment(v, language))
        elif dtype.is_float() or dtype == pl.Decimal:
            places = decimals.get(column, 1)
            out[column] = lambda v, places=places: i18n.number(v, language, places)
        elif dtype.is_integer() and not (column == "id" or column.endswith("_id")):
            out[column] = lambda v: i18n.number(v, language)
    return out


NOTHING = "Nothing in this period for these platforms: choose a longer period or other platforms."


def empty(frame: pl.DataFrame, message: str = NOTHING) -> bool:
    """Say so, and return True, when `frame` has no rows."""
    if frame.is_empty():
        st.info(t(message))
        return True
    return False


def chart(figure, title: str, counts: bool = False) -> None:
    """A Plotly chart under its subheader, in the app's compact layout and the interface language
    (whole-number ticks for `counts`); the data's text is shown as typed (cmcore.figures)."""
    figures.localised(figures.escaped(figure), lang(), counts)
    figure.update_layout(legend_title_text="", height=340, margin={"t": 30, "b": 10})
    st.subheader(t(title))
    st.plotly_chart(figure, width="stretch")


def currency(label: str, key: str | None = None, points: bool = False) -> str:
    """A currency picker under `label` (translated): the ISO 4217 currencies, EUR chosen first;
    the rewards' points first (and chosen) with `points`."""
    options = [POINTS] * points + list(CURRENCIES)
    names = {POINTS: t("Points")}  # (translated here: a widget's format_func may run off the script's thread)
    return st.selectbox(label, options, index=0 if points else options.index("EUR"), key=key,
                        format_func=lambda c: names.get(c, c))
