"""A notification's words, in its recipient's language: a subject, a plain-text body and an HTML
one (every value escaped), with the link to the evidence."""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from datetime import date, timedelta

from cmcore import i18n, settings
from cmcore.alerts.kinds import KINDS, WORKER
from cmcore.currencies import POINTS
from cmcore.i18n import translate
from cmcore.periods import Period

# Messages that no rule makes: the worker's own.
OWN = {
    "channel_failed": ("A channel is failing",
                       "The alert “{rule}” could not be sent by {channel} to {recipient} after {attempts} {attempts|try|tries}: {error}"),
    "weekly_digest": ("Your weekly digest", "The week of {week}: what changed, who moved, what waits for you."),
    "approvals": ("Rewards await your approval", "{count} proposed {count|reward awaits|rewards await} approval ({months})."),
    "sponsor_monthly": ("Your monthly report", "Your report of {month} is attached: your campaigns, their delivery "
                                               "and the deliverables."),
}
# The weekly digest's sections and lines (English, translated).
DIGEST = {
    "headline": "Headline figures (against the week before)",
    "movers": "Biggest movers among the key members",
    "threads": "Oldest unanswered threads ({n} in all)",
    "cases": "Moderation",
    "reputation": "Reputation",
    "metric": "{label}: {value} (before: {previous})",
    "mover": "{member}: rank {before} → {now}",
    "thread": "{title} ({platform}), waiting for {age}",
    "open_cases": "{n} open {n|case|cases}; the oldest for {age}",
    "no_case": "No open case.",
    "mentions": "{mentions} {mentions|mention|mentions}, net sentiment {net}, {crises} crisis {crises|day|days}",
    "none": "Nothing.",
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
    """What the finding says, translated, its facts filled in (decimals in the language's way,
    each through `quote`: a page escapes them, and only them, for Markdown)."""
    says = KINDS[kind].says if kind in KINDS else OWN[kind][1]
    return translate(says, lang, **{k: quote(_fact(k, v, lang)) for k, v in facts.items()})


_DATES = re.compile(r"[\d\-–, ]+")  # a value made of days or months ('2026-03-02 – 2026-03-08', '2026-03, 2026-02')
_DATE = re.compile(r"\d{4}-\d{2}(-\d{2})?")


def _fact(key: str, value: object, lang: str) -> object:
    """A finding's fact as the language writes it: decimals, days and months in words, the
    rewards' points unit as a word."""
    if isinstance(value, float):
        return i18n.number(value, lang, 1)
    if key == "currency" and value == POINTS:
        return translate("points", lang)
    if isinstance(value, str) and _DATES.fullmatch(value) and _DATE.search(value):
        return _DATE.sub(lambda m: i18n.day(date.fromisoformat(m[0]), lang) if m[1]
                         else i18n.month(date.fromisoformat(m[0] + "-01"), lang), value)
    return value


def url(link: str) -> str:
    """The full address of an app-relative link."""
    return f"{settings.current().app_url}/{link}"


def digest(facts: dict, lang: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """The weekly digest's sections: (heading, [(line, link or None)])."""
    say = lambda key, **values: translate(DIGEST[key], lang, **values)  # noqa: E731
    figures = [(say("metric", label=translate(m["label"], lang),
                    value=i18n.metric_value(m["value"], m["unit"], lang, m["currency"]),
                    previous=i18n.metric_value(m["previous"], m["unit"], lang, m["currency"])), None)
               for m in facts["headline"]]
    movers = [(say("mover", member=m["member"], before=m["before"] or "–", now=m["now"] or "–"), None)
              for m in facts["movers"]]
    threads = [(say("thread", title=r["title"], platform=r["platform"], age=i18n.hours(r["hours"], lang)), r["url"])
               for r in facts["threads"]]
    cases = (say("open_cases", n=facts["open_cases"], age=i18n.hours(facts["oldest_case"], lang)) if facts["open_cases"]
             else say("no_case"))
    net = i18n.percent(facts["net"], lang)
    return [(say("headline"), figures), (say("movers"), movers or [(say("none"), None)]),
            (say("threads", n=facts["unanswered"]), threads or [(say("none"), None)]),
            (say("cases"), [(cases, None)]),
            (say("reputation"), [(say("mentions", mentions=facts["mentions"], net=net, crises=facts["crises"]), None)])]


def _sections(sections: list[tuple[str, list[tuple[str, str | None]]]]) -> tuple[str, str]:
    """Sections as plain text and as HTML (every value escaped; links only to http(s) addresses)."""
    def item(line: str, address: str | None) -> str:
        if address and address.startswith(("https://", "http://")):
            return f'<li><a href="{html.escape(address)}">{html.escape(line)}</a></li>'
        return f"<li>{html.escape(line)}</li>"
    text = "".join(f"\n{head}\n" + "".join(f"- {line}{f' {a}' if a else ''}\n" for line, a in lines)
                   for head, lines in sections)
    markup = "".join(f"<h3>{html.escape(head)}</h3><ul>{''.join(item(*li) for li in lines)}</ul>"
                     for head, lines in sections)
    return text, markup


def render(kind: str, rule: str | None, facts: dict, link: str, lang: str) -> Message:
    """The message about one finding of rule `rule` (None: the worker's own, or a report)."""
    head = title(kind, lang)
    subject = f"[{translate('Community console', lang)}] {head}" + (f" — {rule}" if rule and rule != head else "")
    body = sentence(kind, facts, lang)
    more_text, more_html = _sections(digest(facts, lang)) if kind == "weekly_digest" else ("", "")
    address = url(link)
    evidence = translate("See the evidence", lang)
    text = f"{body}\n{more_text}\n{translate('See the evidence: {url}', lang, url=address)}\n"
    markup = (f"<html><body><p>{html.escape(body)}</p>{more_html}"
              f'<p><a href="{html.escape(address)}">{html.escape(evidence)}</a></p></body></html>')
    return Message(subject, text, markup, address)


def attachments(kind: str, facts: dict, lang: str) -> list[tuple[str, str]]:
    """The files a message carries: the sponsor's HTML report of the month, for its monthly report."""
    if kind != "sponsor_monthly":
        return []
    from cmcore import money, sponsor_html
    from cmcore.reports import Scope
    first = date.fromisoformat(f"{facts['month']}-01")
    month = Period(first, first + timedelta(days=1)).month_of_last_day()
    report = money.sponsor_report(WORKER, Scope(month), facts["sponsor"])
    return [(f"report-{facts['month']}.html", sponsor_html.render(report, month, lang))]
