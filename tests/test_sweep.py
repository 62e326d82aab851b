"""Every page, for every role, in English and in French, as a person's browser shows it on the demo:
no word of the other language's catalogue, no raw code, no None/nan/null, no midnight timestamp
where a date is meant, and no "missing ScriptRunContext" in the server's log (the language looked
up from a thread of Polars'). A screenshot per page and language is kept in .data/sweep/.

Skipped with the reason when Chromium is missing, unless CM_REQUIRE_BROWSER=1.
"""
from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from cmcore import access, db, demo, i18n
from cmcore.access import CLI
from tests.builders import user
from tests.test_browser import CHROMIUM, PASSWORD, ROOT, launch, settle, stop

pytestmark = pytest.mark.browser
from playwright.sync_api import expect, sync_playwright  # noqa: E402  (test_browser skipped without Chromium)

SHOTS = ROOT / ".data" / "sweep"
ROLES = {"admin": "admin", "manager": "manager", "staff": "staff", "sponsor": "sponsor"}
# Codes a person must never read: enum values, table names, audit actions, trigger names.
CODES = ("in_person", "top_n", "events_attended", "accepted_answer", "reaction_received", "reaction_given",
         "moderation_cases", "reward.propose", "reward.approve", "ttfr_median_hours", "age_hours", "amount_minor",
         "booked_on", "rank_change", "display_name", "sponsorship", "stackexchange", "currency=", "off-topic",
         "weekly_digest", "sponsor_monthly", "import_failed", "platform_stale", "notify_pref", "PTS", "50k",
         "member_slipping", "campaign_pace", "connection_failing", "channel_failed", "tool_sentiment", "tool_lang",
         "daily_cap", "webhook_format", "(other)", "kind_None")
PLACEHOLDER = re.compile(r"\{\w+(\|[^{}]*)?\}")  # a template's field left unfilled, or a plural's forms
# Streamlit's own words (its frontend's, in English whatever the app's language): not the app's text.
STREAMLIT = re.compile(r"Skip to main content|Page not found|The page that you have requested does not seem to exist\."
                       r" Running the app's main page\.|Drag and drop files here|Limit \d+MB per file|\d+MB per file"
                       r"|\bUpload\b|\byyyy\b|\bmm\b|\bdd\b|Press Enter to apply")
EMPTY = re.compile(r"\b(None|nan|NaN|null)\b")
MIDNIGHT = re.compile(r"\b00:00:00\b")
WORD = re.compile(r"[^\W\d_]{4,}")  # words of four letters or more


def _words(texts) -> set[str]:
    return {w.lower() for text in texts for w in WORD.findall(re.sub(r"\{[^}]*\}", " ", text))}


def foreign_words(lang: str) -> set[str]:
    """Words only the other language's catalogue uses: French words for an English page (in the
    translations, never in the English texts) and English words for a French page."""
    fr = i18n.catalogue("fr")
    english, french = _words(fr), _words(fr.values())
    return (french - english) if lang == "en" else (english - french)


@pytest.fixture
def demo_server(database, tmp_path):
    """The app on the demo community (its users with known passwords), its log in a file."""
    demo.load(demo.DemoSpec(members=150, days=60, seed=11, end=date.today() + timedelta(days=1)), CLI,
              with_users=False)
    for name in ROLES:
        user(name, ROLES[name], PASSWORD, sponsor_id=1 if name == "sponsor" else None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc, base = launch(database, out)
    yield base, log
    stop(proc)


# What is not the app's text: Material icons (drawn from their names' ligatures) and Streamlit's
# own notices (a fresh server's "page not found" toast for its first tab).
NOT_TEXT = '[data-testid="stIconMaterial"], [data-testid="stToast"], [data-testid="stToastContainer"]'


def visible_text(page) -> str:
    """What a person reads on the page (tables are drawn on a canvas: their cells are checked by
    the AppTest tests; their headers and the page around them here)."""
    settle(page)
    return page.evaluate("""(skip) => {
        const copy = document.body.cloneNode(true);
        copy.querySelectorAll(skip).forEach((e) => e.remove());
        copy.style.position = "absolute"; copy.style.left = "-99999px";
        document.documentElement.appendChild(copy);
        const text = copy.innerText;
        copy.remove();
        return text;
    }""", NOT_TEXT)


def _around(text: str, word: str) -> str:
    at = re.search(rf"(?i)\b{re.escape(word)}\b", text)
    return text[max(0, at.start() - 40):at.end() + 40].replace("\n", " ⏎ ") if at else ""


DATA = """SELECT name FROM platform UNION ALL SELECT display_name FROM member
    UNION ALL SELECT title FROM activity WHERE title IS NOT NULL UNION ALL SELECT unnest(tags) FROM activity
    UNION ALL SELECT code || ' ' || title FROM rule UNION ALL SELECT title FROM event
    UNION ALL SELECT body || ' ' || source || ' ' || coalesce(author, '') FROM mention
    UNION ALL SELECT name FROM sponsor UNION ALL SELECT name || ' ' || deliverables::text FROM campaign
    UNION ALL SELECT username || ' ' || display_name FROM app_user UNION ALL SELECT reason FROM reward
    UNION ALL SELECT code || ' ' || title FROM reward_rule"""


def data_words() -> set[str]:
    """The words of the community's own data (names, titles, tags, mentions…): shown as typed, in
    whatever language they were written."""
    with db.engine().connect() as conn:
        return _words(conn.execute(sa.text(DATA)).scalars())


def faults(text: str, lang: str, foreign: set[str]) -> list[str]:
    text = STREAMLIT.sub(" ", text)
    found = [f"{lang} page shows the other language's word {w!r}: …{_around(text, w)}…"
             for w in sorted(_words([text]) & foreign)]
    found += [f"raw code {c!r}" for c in CODES if c in text]
    found += [f"empty value {m!r}" for m in sorted(set(EMPTY.findall(text)))]
    found += ["a midnight timestamp"] * bool(MIDNIGHT.search(text))
    found += [f"unfilled {m[0]!r}" for m in PLACEHOLDER.finditer(text)]
    return found


@pytest.mark.parametrize("lang, locale", [("en", "en-US"), ("fr", "fr-FR")])
def test_every_page_of_every_role_reads_in_one_language(demo_server, lang, locale):
    base, log = demo_server
    foreign = foreign_words(lang) - data_words()
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for name, role in ROLES.items():
            context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale=locale)
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(base)
            settle(page)
            sign_in = i18n.translate("Sign in", lang)  # the browser's language, before anyone signs in
            signed_in = i18n.translate("Signed in as {name} ({role})", lang, name=name,
                                       role=i18n.translate(role, lang))
            page.get_by_label(i18n.translate("Username", lang)).fill(name)
            page.get_by_label(i18n.translate("Password", lang), exact=True).fill(PASSWORD)
            page.get_by_role("button", name=sign_in).click()
            settle(page)
            expect(page.get_by_text(signed_in)).to_be_visible()  # once, at the first click
            for key in access.pages_for(access.Principal(name, role, 1 if role == "sponsor" else None)):
                page.goto(f"{base}/{key}")
                text = visible_text(page)
                page.screenshot(path=str(SHOTS / f"{lang}-{name}-{key}.png"), full_page=True)
                found = faults(text, lang, foreign)
                found += [f"not signed in as {name}"] * (signed_in not in text or sign_in in text)
                if found:
                    problems[f"{name}/{key}"] = found
            context.close()
        chromium.close()
    warnings = log.read_text(errors="replace").count("missing ScriptRunContext")
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)
    assert warnings == 0, f"{warnings} 'missing ScriptRunContext' lines in the server's log"


def test_the_foreign_words_are_words_of_the_other_language():
    assert {"membres", "récompenses", "période"} <= foreign_words("en")
    assert {"rewards", "period", "sign"} <= foreign_words("fr")
    assert not {"members", "sponsor", "discord"} & foreign_words("en")
