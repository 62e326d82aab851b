"""A notification's words, in its recipient's language: a subject, a plain-text body and an HTML
one (every value escaped), with the link to the evidence."""
from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from cmcore import settings
from cmcore.alerts.kinds import KINDS
from cmcore.i18n import translate

# Messages that no rule makes: the worker's own.
OWN = {
    "channel_failed": ("A channel is failing",
                       "The alert “{rule}” could not be sent by {channel} to {recipient} after {attempts} tries: {error}"),
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    url: str


def title(kind: str, lang: str) -> str:
    """The kind's name, translated."""
    return translate(KINDS[kind].title if kind in KINDS else OWN[kind][0], lang)


def sentence(kind: str, facts: dict, lang: str, quote: Callable[[object], str] = str) -> str:
    """What the finding says, translated, its facts filled in (each through `quote`: a page
    escapes them, and only them, for Markdown)."""
    says = KINDS[kind].says if kind in KINDS else OWN[kind][1]
    return translate(says, lang, **{k: quote(v) for k, v in facts.items()})


def url(link: str) -> str:
    """The full address of an app-relative link."""
    return f"{settings.current().app_url}/{link}"


def render(kind: str, rule: str | None, facts: dict, link: str, lang: str) -> Message:
    """The message about one finding of rule `rule` (None: the worker's own)."""
    head = title(kind, lang)
    subject = f"[{translate('Community console', lang)}] {head}" + (f" — {rule}" if rule and rule != head else "")
    body = sentence(kind, facts, lang)
    address = url(link)
    evidence = translate("See the evidence", lang)
    text = f"{body}\n\n{translate('See the evidence: {url}', lang, url=address)}\n"
    markup = (f"<html><body><p>{html.escape(body)}</p>"
              f'<p><a href="{html.escape(address)}">{html.escape(evidence)}</a></p></body></html>')
    return Message(subject, text, markup, address)
