"""Language and sentiment of a short text (a mention), scored at import and again by `rescore`
after a model change. Both models run offline from their wheels.

- Language: py3langid (the maintained fork of langid.py: naive Bayes over byte n-grams, 97
  languages), choosing among `LANGUAGES` and the community's languages (a setting, French and
  English by default): a text in one of the community's languages gets its code, a text in
  another gets `OTHER`, a text too short or too mixed to place (probability under `SURE`) none.
- Sentiment: VADER, a lexicon and rules (negation, intensifiers, "but", capitals, punctuation)
  per language: vaderSentiment for English, vaderSentiment-fr for French (elisions such as
  `n'aime` written out and `ne … pas` moved before its verb first, so that its negation rules,
  which look back from a word, see it). A compound score of at least
  `THRESHOLD` is positive, at most −`THRESHOLD` negative, neutral between; a text in another
  language is left unscored (None), not called neutral.

Measured on the labelled sets of tests/data (docs/mentions.md).
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Collection
from functools import cache
from importlib.metadata import version

from py3langid.langid import MODEL_FILE, LanguageIdentifier

with warnings.catch_warnings():  # fuzzywuzzy's notice that python-Levenshtein would be faster
    warnings.simplefilter("ignore", UserWarning)
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer as EnglishVader
    from vaderSentiment_fr.vaderSentiment import SentimentIntensityAnalyzer as FrenchVader

# The languages told apart besides the community's: those outside communities write in most, so
# that a Spanish post is not called French when the community writes French and English.
LANGUAGES = ("fr", "en", "es", "de", "it", "pt", "nl", "ca", "pl", "ru", "ar", "tr", "ja", "zh", "ko")
OTHER = "other"  # a language the community does not write
SENTIMENT_LANGUAGES = ("en", "fr")
SURE = 0.5
THRESHOLD = 0.05
_ELISION = re.compile(r"\b(qu|[cdjlmnst])['’](?=\w)", re.IGNORECASE)
_NE_VERB_PAS = re.compile(r"\bne\s+(\w+)\s+(pas|plus|jamais|rien|guère)\b", re.IGNORECASE)


@cache
def known() -> tuple[str, ...]:
    """The ISO 639-1 codes of the languages the model tells apart (those a community may declare)."""
    return tuple(sorted({c for c in LanguageIdentifier.from_model_file(MODEL_FILE).nb_classes if len(c) == 2}))


def model(languages: Collection[str]) -> str:
    """The models and versions, and the community's languages: what `mention.scored_by` records."""
    return (f"py3langid {version('py3langid')} ({', '.join(sorted(languages))}); vaderSentiment"
            f" {version('vaderSentiment')}, vaderSentiment-fr {version('vaderSentiment-fr')}")


@cache
def _identifier(candidates: tuple[str, ...]) -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(candidates))
    return identifier


@cache
def _vader(lang: str) -> EnglishVader | FrenchVader:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EnglishVader() if lang == "en" else FrenchVader()


def language(text: str, languages: Collection[str]) -> str | None:
    """The text's language: one of the community's `languages` (ISO 639-1 codes), OTHER for
    another one, None when unsure."""
    lang, probability = _identifier(tuple(sorted({*LANGUAGES, *languages}))).classify(text)
    if probability < SURE:
        return None
    return lang if lang in languages else OTHER


def _french(text: str) -> str:
    """Elisions written out (`n'aime` → `ne aime`, `l'appli` → `le appli`), and `ne … pas` put
    before its verb (`ne aime pas` → `pas aime`): VADER looks for a negation before a word."""
    return _NE_VERB_PAS.sub(r"\2 \1", _ELISION.sub(r"\1e ", text))


def compound(text: str, lang: str | None) -> float | None:
    """VADER's compound score (−1 to 1) of a text in `lang`; None for a language without a model."""
    if lang not in SENTIMENT_LANGUAGES:
        return None
    return _vader(lang).polarity_scores(_french(text) if lang == "fr" else text)["compound"]


def sentiment(text: str, lang: str | None) -> int | None:
    """1 positive, −1 negative, 0 neutral; None for a language without a model."""
    score = compound(text, lang)
    if score is None:
        return None
    return 1 if score >= THRESHOLD else -1 if score <= -THRESHOLD else 0


def score(text: str, languages: Collection[str]) -> tuple[str | None, int | None]:
    """The text's language (among the community's `languages`, see `language`) and sentiment."""
    lang = language(text, languages)
    return lang, sentiment(text, lang)
