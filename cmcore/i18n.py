"""French and English: catalogues keyed by the English text, and locale-aware number formats.

`locales/fr.json` maps each English string to its French translation; English is the source text
itself. A test checks that every string the interface passes through `t()` has a translation.
"""
from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from cmcore import currencies

LANGUAGES = {"fr": "Français", "en": "English"}
DEFAULT_LANGUAGE = "fr"
LOCALES = Path(__file__).parent / "locales"


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    path = LOCALES / f"{lang}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def translate(text: str, lang: str, **values: object) -> str:
    """`text` in `lang` (English text is its own key), with `{name}` fields filled from `values`."""
    out = text if lang == "en" else catalogue(lang).get(text, text)
    return out.format(**values) if values else out


def number(value: float | Decimal | None, lang: str, decimals: int = 0) -> str:
    """1234.5 → '1,234.5' (en) or '1 234,5' (fr); None → '–'."""
    if value is None:
        return "–"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u202f").replace(".", ",") if lang == "fr" else text


def percent(ratio: float | None, lang: str) -> str:
    """0.256 → '25.6 %' ('25,6 %' in French); None → '–'."""
    return "–" if ratio is None else f"{number(ratio * 100, lang, 1)}\u202f%"


def money(minor: int | float, currency: str, lang: str) -> str:
    """Minor units → '1 234,56 EUR' (fr) or 'EUR 1,234.56' (en), with the currency's decimals
    (exactly: a Decimal, never a float, on the way)."""
    amount = number(currencies.major(minor, currency), lang, currencies.decimals(currency))
    return f"{amount} {currency}" if lang == "fr" else f"{currency} {amount}"


def hours(value: float | None, lang: str) -> str:
    """Hours as '45 min', '3.2 h' or '2.5 d' ('3,2 h' in French)."""
    if value is None:
        return "–"
    if value < 1:
        return f"{number(value * 60, lang)} min"
    if value < 48:
        return f"{number(value, lang, 1)} h"
    return f"{number(value / 24, lang, 1)} {'j' if lang == 'fr' else 'd'}"


def metric_value(value: float | None, unit: str, lang: str, currency: str | None = None) -> str:
    """A metric's value as shown: counts, numbers (1 decimal), ratios as %, hours, money."""
    if unit == "money":
        return "–" if value is None else money(value, currency or "", lang)
    if unit == "hours":
        return hours(value, lang)
    if unit == "ratio":
        return percent(value, lang)
    return number(value, lang, 1 if unit == "number" else 0)
