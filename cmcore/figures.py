"""Plotly reads the text of a figure as markup (`<b>`, `<a href>`, `<br>`…): data in a figure
(a platform's, campaign's or rule's name, a tag) is HTML-escaped, so it reads as typed and makes
no element."""
from __future__ import annotations

import math
from datetime import date, timedelta
from html import escape

import numpy as np
import plotly.graph_objects as go
from babel import dates

from cmcore import i18n

_TEXT = ("name", "x", "y", "labels", "text", "hovertext")  # what a trace shows of its data


def _escaped(value):
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, (tuple, list)) or getattr(getattr(value, "dtype", None), "kind", "") in ("O", "U"):
        return [escape(v) if isinstance(v, str) else v for v in value]
    return value


def escaped(figure: go.Figure) -> go.Figure:
    """`figure` with every data text of its traces escaped (in place, and returned)."""
    for trace in figure.data:
        for attr in _TEXT:
            if attr in trace and trace[attr] is not None:
                trace[attr] = _escaped(trace[attr])
    return figure


# Plotly's number separators (decimal, then thousands) and hover date formats (d3, numeric in French:
# d3 writes month names in English only), per language. Tick labels on date axes are Babel's.
SEPARATORS = {"en": ".,", "fr": ",\u202f"}
DATE_HOVER = {"en": "%b %-d, %Y", "fr": "%-d/%m/%Y"}
MAX_TICKS = 8


def _is_dates(values) -> bool:
    kind = getattr(getattr(values, "dtype", None), "kind", "")
    return kind == "M" or (values is not None and len(values) > 0 and isinstance(values[0], date))


def _days(values) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[D]")


def date_ticks(first: date, last: date, lang: str) -> tuple[list[str], list[str]]:
    """Tick positions (ISO days) and labels for a date axis from `first` to `last`, written by
    Babel in `lang` ('Nov 8' / '8 nov.'; months as 'Nov 2026' / 'nov. 2026'): at most MAX_TICKS
    days, weeks (Mondays) or months (their first day)."""
    span = (last - first).days
    if span > 16 * 7:
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        step = math.ceil(months / MAX_TICKS)
        start = first.year * 12 + first.month - 1 + (first.day > 1)  # the first 1st of a month on the axis
        ticks = [date(m // 12, m % 12 + 1, 1) for m in range(start, last.year * 12 + last.month, step)]
        return [d.isoformat() for d in ticks], [i18n.month(d, lang) for d in ticks]
    step = next(s for s in (1, 2, 7, 14, 28) if span / s < MAX_TICKS)
    start = first + timedelta(days=(-first.weekday()) % 7) if step >= 7 else first
    ticks = [start + timedelta(days=k) for k in range(0, (last - start).days + 1, step)]
    return [d.isoformat() for d in ticks], [dates.format_skeleton("MMMd", d, locale=lang) for d in ticks]


def localised(figure: go.Figure, lang: str, counts: bool = False) -> go.Figure:
    """`figure` in the reader's language (in place, and returned): numbers with the language's
    separators and in full (50 000, not Plotly's English '50k'), date axes labelled as the language
    writes days and months, facet titles as their value alone (not 'currency=EUR'); with `counts`,
    the value axis ticks whole numbers only."""
    figure.update_layout(separators=SEPARATORS[lang])
    figure.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    figure.update_xaxes(exponentformat="none", separatethousands=True)
    figure.update_yaxes(exponentformat="none", separatethousands=True)
    days = [_days(trace.x) for trace in figure.data if "x" in trace and _is_dates(trace.x)]
    if days:
        every = np.concatenate(days)
        first, last = (v.astype(date) for v in (every.min(), every.max()))
        values, labels = date_ticks(first, last, lang)
        figure.update_xaxes(tickmode="array", tickvals=values, ticktext=labels, hoverformat=DATE_HOVER[lang])
    if counts:
        top = max((max((v for v in trace.y if v is not None), default=0) for trace in figure.data
                   if "y" in trace and trace.y is not None), default=0)
        figure.update_yaxes(tickformat=",d", rangemode="tozero", **({"dtick": 1} if top <= 6 else {}))
    return figure
