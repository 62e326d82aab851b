"""Language and sentiment of a short text (a mention), scored at import and again by `rescore`
after a model change. Both models run offline from their wheels.

- Language: py3langid (the maintained fork of langid.py: naive Bayes over byte n-grams, 97
  languages), choosing among `LANGUAGES`; a text too short or too mixed to place (probability
  under `SURE`) gets none.
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
from functools import cache
from importlib.metadata import version

from py3langid.langid import MODEL_FILE, LanguageIdentifier

with warnings.catch_warnings():  # fuzzywuzzy's notice that python-Levenshtein would be faster
    warnings.simplefilter("ignore", UserWarning)
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer as EnglishVader
    from vaderSentiment_fr.vaderSentiment import SentimentIntensityAnalyzer as FrenchVader

# The languages told apart: those outside communities write in most, so that Spanish is not French.
LANGUAGES = ("fr", "en", "es", "de", "it", "pt", "nl", "ca", "pl", "ru", "ar", "tr", "ja", "zh", "ko")
SENTIMENT_LANGUAGES = ("en", "fr")
SURE = 0.5
THRESHOLD = 0.05
MODEL = (f"py3langid {version('py3langid')}; vaderSentiment {version('vaderSentiment')},"
         f" vaderSentiment-fr {version('vaderSentiment-fr')}")  # what `mention.scored_by` records
_ELISION = re.compile(r"\b(qu|[cdjlmnst])['’](?=\w)", re.IGNORECASE)
_NE_VERB_PAS = re.compile(r"\bne\s+(\w+)\s+(pas|plus|jamais|rien|guère)\b", re.IGNORECASE)


@cache
def _identifier() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


@cache
def _vader(lang: str) -> EnglishVader | FrenchVader:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EnglishVader() if lang == "en" else FrenchVader()


def language(text: str) -> str | None:
    """The text's language (an ISO 639-1 code of LANGUAGES), or None when unsure."""
    lang, probability = _identifier().classify(text)
    return lang if probability >= SURE else None


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


def score(text: str) -> tuple[str | None, int | None]:
    """The text's language and sentiment."""
    lang = language(text)
    return lang, sentiment(text, lang)
