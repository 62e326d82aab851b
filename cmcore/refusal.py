"""Refusals a page shows in its reader's language.

A refusal carries an English template (the catalogues' key) and the values that fill it; `str()`
is the English text (logs, the command line). A page translates the template, translates the
values named in `phrases` (words such as a status; a tuple of them, each) and formats an `Amount`
in its language. Access refusals (`access.AccessDenied`) and configuration errors
(`settings.ConfigError`) are told the same way (`Told`).
"""
from __future__ import annotations

from dataclasses import dataclass

from cmcore import currencies, i18n

# The words a refusal may put into its template as a phrase (translated where it is shown).
PHRASE_WORDS = ("proposed", "approved", "paid", "rejected", "cancelled", "missing")


@dataclass(frozen=True)
class Amount:
    """An amount in minor units of a currency (or points), shown in the reader's language."""

    minor: int
    currency: str

    def __str__(self) -> str:
        return f"{currencies.text(self.minor, self.currency)} {self.currency}"


class Told(Exception):
    """An error told in words: `message` is an English template filled from `values`; `phrases`
    names the values that are words to translate (a tuple of words: each, joined by commas)."""

    def __init__(self, message: str, phrases: tuple[str, ...] = (), **values: object) -> None:
        self.message, self.values, self.phrases = message, values, phrases
        super().__init__(i18n.translate(message, "en", **{k: ", ".join(v) if isinstance(v, tuple) else v
                                                          for k, v in values.items()}))


class Refusal(Told, ValueError):
    """Something asked of cmcore was refused."""
