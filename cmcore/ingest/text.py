"""Language and sentiment of a short text, French or English, scored once at import.

A lexicon model: the language is the one whose common words the text uses most; the sentiment is
the sign of (positive − negative) lexicon words, a word after a negation counting the other way.
Texts in neither language get no language and a neutral sentiment.
"""
from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-zàâäçéèêëîïôöùûüÿœæ']+")
_COMMON = {
    "fr": set("le la les un une des du de et est sont pas ne que qui dans pour sur avec ce cette ces je tu il elle "
              "nous vous ils elles mais ou donc très plus trop aussi merci bonjour c'est j'ai on au aux mon ma mes "
              "votre notre leur été être avoir fait".split()),
    "en": set("the a an and is are was were not no that which who in for on with this these those i you he she we "
              "they but or so very more too also thanks hello it's i'm have has had been be do does my your our "
              "their of to at".split()),
}
_POSITIVE = set(
    "good great excellent like liked love loved awesome amazing helpful thanks thank nice perfect best fantastic brilliant "
    "happy useful recommend wonderful enjoyed fast easy clear welcoming friendly "
    "bien bon bonne super génial excellent excellente merci parfait parfaite top formidable utile recommande "
    "adore aime aimé heureux heureuse content contente rapide facile clair claire bravo chouette accueillant "
    "sympa incroyable".split())
_NEGATIVE = set(
    "bad terrible awful hate hated broken bug bugs slow worst useless scam angry disappointed disappointing toxic "
    "rude fail failed failure problem problems issue crash crashes spam annoying poor "
    "mauvais mauvaise nul nulle horrible déteste cassé cassée lent lente pire inutile arnaque énervé déçu déçue "
    "décevant toxique impoli échec problème problèmes panne plantage bug bugs spam agaçant pénible".split())
_NEGATIONS = set("not no never don't doesn't didn't isn't wasn't won't can't ne pas jamais rien aucun aucune n'".split())


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text.lower()).replace("’", "'"))


def language(text: str) -> str | None:
    """'fr', 'en', or None when the text uses the common words of neither."""
    words = _words(text)
    scores = {lang: sum(w in common for w in words) for lang, common in _COMMON.items()}
    best = max(scores, key=scores.get)
    if scores[best] == 0 or list(scores.values()).count(scores[best]) > 1:
        return None
    return best


def sentiment(text: str) -> int:
    """1 positive, -1 negative, 0 neutral."""
    score, flip = 0, 0
    for word in _words(text):
        if word in _NEGATIONS or word.startswith("n'"):
            flip = 3  # the next three words count the other way
            continue
        sign = 1 if word in _POSITIVE else -1 if word in _NEGATIVE else 0
        score += -sign if flip else sign
        flip = max(0, flip - 1)
    return (score > 0) - (score < 0)
