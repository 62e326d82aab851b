"""Plotly reads the text of a figure as markup (`<b>`, `<a href>`, `<br>`…): data in a figure
(a platform's, campaign's or rule's name, a tag) is HTML-escaped, so it reads as typed and makes
no element."""
from __future__ import annotations

from datetime import date
from html import escape

import plotly.graph_objects as go

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


# Plotly's number separators (decimal, then thousands) and date formats (d3), per language.
SEPARATORS = {"en": ".,", "fr": ",\u202f"}
DATE_TICKS = {"en": "%b %-d", "fr": "%-d/%m"}
DATE_HOVER = {"en": "%b %-d, %Y", "fr": "%-d/%m/%Y"}


def _is_dates(values) -> bool:
    kind = getattr(getattr(values, "dtype", None), "kind", "")
    return kind == "M" or (values is not None and len(values) > 0 and isinstance(values[0], date))


def localised(figure: go.Figure, lang: str, counts: bool = False) -> go.Figure:
    """`figure` in the reader's language (in place, and returned): numbers with the language's
    separators, date axes as the language writes days, facet titles as their value alone (not
    'currency=EUR'); with `counts`, the value axis ticks whole numbers only."""
    figure.update_layout(separators=SEPARATORS[lang])
    figure.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    if any(_is_dates(trace.x) for trace in figure.data if "x" in trace):
        figure.update_xaxes(tickformat=DATE_TICKS[lang], hoverformat=DATE_HOVER[lang])
    if counts:
        top = max((max((v for v in trace.y if v is not None), default=0) for trace in figure.data
                   if "y" in trace and trace.y is not None), default=0)
        figure.update_yaxes(tickformat=",d", rangemode="tozero", **({"dtick": 1} if top <= 6 else {}))
    return figure
