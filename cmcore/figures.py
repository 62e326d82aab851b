"""Plotly reads the text of a figure as markup (`<b>`, `<a href>`, `<br>`…): data in a figure
(a platform's, campaign's or rule's name, a tag) is HTML-escaped, so it reads as typed and makes
no element."""
from __future__ import annotations

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
