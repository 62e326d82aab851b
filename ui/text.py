"""The interface language, chosen in the sidebar and kept in the session, and user text shown
as typed."""
from __future__ import annotations

import re
import string

import polars as pl
import streamlit as st

from cmcore import i18n
from cmcore.ingest.canonical import Rejected
from cmcore.ingest.text import OTHER
from cmcore.refusal import Amount


def lang() -> str:
    """The tab's interface language: the one chosen, else the browser's if we speak it, else French."""
    return st.session_state.get("lang") or i18n.language_of(st.context.locale) or i18n.DEFAULT_LANGUAGE


def t(text: str, **values: object) -> str:
    """`text` translated into the interface language."""
    return i18n.translate(text, lang(), **values)


def words(mapping: dict[str, str]) -> dict[str, str]:
    """Codes → their words in the interface language, for a column's `replace`: translated here, on
    the script's thread (Polars runs expressions on threads of its own, where the session and so
    its language are out of reach)."""
    return i18n.words(mapping, lang())


def mention_words(frame: pl.DataFrame) -> pl.DataFrame:
    """A table of mentions with its codes in words: languages by name ('French (fr)', 'Other' for
    a language the community does not write), sentiments (-1, 0, 1) as negative, neutral, positive."""
    codes = {code for column in ("lang", "tool_lang") if column in frame.columns
             for code in frame[column].drop_nulls().unique()}
    names = {code: i18n.language_name(code, lang()) for code in codes} | {OTHER: t("Other")}
    feelings = {"-1": t("negative"), "0": t("neutral"), "1": t("positive")}
    return frame.with_columns(
        *(pl.col(c).replace(names) for c in ("lang", "tool_lang") if c in frame.columns),
        *(pl.col(c).cast(pl.String).replace_strict(feelings, default=None, return_dtype=pl.String)
          for c in ("sentiment", "tool_sentiment") if c in frame.columns))


def rejected(err: Rejected) -> str:
    """An import's rejection in the interface language: file, line, field, then what is wrong (the
    file's name and values quoted from it shown as typed)."""
    where = [plain(err.file)]
    if err.line is not None:
        where.append(t("{unit} {line}", unit=t(err.unit), line=err.line))
    if err.field:
        where.append(t("field {field}", field=plain(err.field)))
    values = {k: t(v) if k in Rejected.PHRASES else plain(v) for k, v in err.values.items()}
    return ", ".join(where) + t(": ") + t(err.message, **values)


_MARKDOWN = str.maketrans({c: "\\" + c for c in string.punctuation} | {"\n": " ", "\r": " "})
# Streamlit's Markdown turns addresses in plain text into links (GitHub's autolinks), escaped or
# not: an invisible word joiner after `:`, `@` and `www` keeps them text.
_AUTOLINK = re.compile(r"(?<=:)(?=\\/)|(?<=@)|(?<=www)(?=\\\.)", re.IGNORECASE)


def plain(text: object) -> str:
    """User text (a member's, sponsor's, campaign's name, a thread title, a typed value…) for
    anything Streamlit reads as Markdown: titles, headers, captions, messages, metric and widget
    labels, help. Every ASCII punctuation mark is backslash-escaped, so no Markdown, HTML, link,
    image, `:color[…]` directive or `$math$` is made from it, addresses are kept from becoming
    links, and line breaks become spaces: it shows as typed, on one line."""
    return _AUTOLINK.sub("\u2060", str(text).translate(_MARKDOWN))


def refusal(err: Exception) -> str:
    """A refusal from cmcore in the interface language, with the values it quotes shown as typed.
    Errors carrying a template (`message`, `values`: cmcore.refusal) are translated, with their
    phrases translated and their amounts formatted; others are shown escaped."""
    message = getattr(err, "message", None)
    if message is None:
        return plain(err)
    phrases = getattr(err, "phrases", ())

    def shown(key: str, value: object) -> str:
        if isinstance(value, Amount):
            return plain(i18n.money(value.minor, value.currency, lang()))
        if isinstance(value, tuple):
            return ", ".join(shown(key, v) for v in value)
        return plain(t(value) if key in phrases else value)

    return t(message, **{k: shown(k, v) for k, v in getattr(err, "values", {}).items()})
