"""French and English: catalogues keyed by the English text, and every format people read
(numbers, percentages, money, durations, dates) through Babel, per language.

`locales/fr.json` maps each English string to its French translation; English is the source text
itself. A test checks that every string the interface passes through `t()` has a translation.
A word that follows a count is written `{count|one|other}` in both languages ('{n} {n|mention|mentions}'):
the count's plural category in the language, by Babel's (CLDR's) rules, picks the form: French
reads 0 and 1 as singular, English 1 only.
Every function here takes the language explicitly: cmcore never asks Streamlit which it is.
"""
from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale, dates, numbers

from cmcore import currencies

LANGUAGES = {"fr": "Français", "en": "English"}
DEFAULT_LANGUAGE = "fr"
LOCALES = Path(__file__).parent / "locales"
NONE = "–"  # a card's missing value (a table's is a blank cell)
_UNITS = {"en": {"d": "d", "h": "h", "min": "min", "points": "points"},
          "fr": {"d": "j", "h": "h", "min": "min", "points": "points"}}


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    path = LOCALES / f"{lang}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


_PLURAL = re.compile(r"\{(\w+)\|([^{}|]*)\|([^{}|]*)\}")  # {count|one|other}


def _count(value: object, lang: str) -> Decimal:
    """A count given as a number, or as the language writes it ('1\u202f234', '1,5')."""
    if isinstance(value, str):
        return numbers.parse_decimal(value.replace("\\", ""), locale=lang)
    return Decimal(str(value))


def plural(count: object, one: str, other: str, lang: str) -> str:
    """`one` or `other`, as the count's plural category in `lang` asks (French's 'many', for
    millions, takes `other`)."""
    return one if Locale.parse(lang).plural_form(abs(_count(count, lang))) == "one" else other


def translate(text: str, lang: str, /, **values: object) -> str:
    """`text` in `lang` (English text is its own key), with `{name}` fields filled from `values`
    and `{name|one|other}` forms chosen by the count `values[name]`."""
    out = text if lang == "en" else catalogue(lang).get(text, text)
    out = _PLURAL.sub(lambda m: plural(values[m[1]], m[2], m[3], lang), out)
    return out.format(**values) if values else out


def words(mapping: dict[str, str], lang: str) -> dict[str, str]:
    """Codes → their words in `lang` ({'ads': 'Ads'} → {'ads': 'Publicité'}), for a column's
    `replace` (made once, on the caller's thread)."""
    return {code: translate(word, lang) for code, word in mapping.items()}


def language_of(locale: str | None) -> str | None:
    """The interface language for a browser's locale ('fr-CA' → 'fr'), if it is one we speak."""
    code = (locale or "").replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else None


def language_name(code: str, lang: str) -> str:
    """A language's name in `lang` and its code ('es' → 'espagnol (es)' in French)."""
    return f"{Locale.parse(lang).languages.get(code, code)} ({code})"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: float | Decimal | None, lang: str, decimals: int = 0) -> str:
    """1234.5 → '1,234.5' (en) or '1 234,5' (fr, a narrow no-break space); None → '–'."""
    if _missing(value):
        return NONE
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return numbers.format_decimal(value, format=pattern, locale=lang, decimal_quantization=True)


def percent(ratio: float | None, lang: str, decimals: int = 1) -> str:
    """0.256 → '25.6%' ('25,6 %' in French); None → '–'."""
    if _missing(ratio):
        return NONE
    pattern = Locale.parse(lang).percent_formats[None].pattern  # '#,##0%' (en), '#,##0 %' (fr)
    if decimals:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * decimals)
    return numbers.format_percent(ratio, format=pattern, locale=lang, decimal_quantization=True)


def money(minor: int | float | None, currency: str, lang: str) -> str:
    """Minor units → '€1,234.56' (en) or '1 234,56 €' (fr), with the currency's decimals (exactly:
    a Decimal, never a float, on the way); the rewards' points as '12 points'."""
    if _missing(minor):
        return NONE
    if currency == currencies.POINTS:
        return f"{number(minor, lang)} {_UNITS[lang]['points']}"
    return numbers.format_currency(currencies.major(minor, currency), currency, locale=lang, currency_digits=True)


def hours(value: float | None, lang: str) -> str:
    """A duration given in hours, as people say it: '45 min', '3 h 12 min', '2 d 5 h' ('2 j 5 h')."""
    if _missing(value):
        return NONE
    unit = _UNITS[lang]
    minutes = round(value * 60)
    if minutes < 60:
        return f"{minutes} {unit['min']}"
    if minutes < 48 * 60:
        h, m = divmod(minutes, 60)
        return f"{h} {unit['h']}" + (f" {m} {unit['min']}" if m else "")
    d, h = divmod(round(value), 24)
    return f"{number(d, lang)} {unit['d']}" + (f" {h} {unit['h']}" if h else "")


def day(value: date | datetime | None, lang: str) -> str:
    """A date: 'Nov 1, 2026' (en), '1 nov. 2026' (fr); '' when there is none."""
    return "" if value is None else dates.format_date(value, "medium", locale=lang)


def moment(value: datetime | None, lang: str) -> str:
    """A date and time to the minute: 'Nov 1, 2026 14:05' ('1 nov. 2026 14:05')."""
    return "" if value is None else f"{day(value, lang)} {value:%H:%M}"


def month(value: date | None, lang: str) -> str:
    """A month: 'Nov 2026' (en), 'nov. 2026' (fr)."""
    return "" if value is None else dates.format_skeleton("yMMM", value, locale=lang)


def metric_value(value: float | None, unit: str, lang: str, currency: str | None = None) -> str:
    """A metric's value as shown: counts, numbers (1 decimal), ratios as %, hours, money."""
    if unit == "money":
        return money(value, currency or "", lang)
    if unit == "hours":
        return hours(value, lang)
    if unit == "ratio":
        return percent(value, lang)
    return number(value, lang, 1 if unit == "number" else 0)
