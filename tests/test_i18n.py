"""Every user-facing string has its French translation, with the same {placeholders}."""
import ast
import re
import string
from pathlib import Path

import pytest

from cmcore import i18n, money
from cmcore.alerts import messages
from cmcore.access import ROLES
from cmcore.refusal import PHRASE_WORDS

ROOT = Path(__file__).resolve().parent.parent
UI_FILES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py")),
            ROOT / "cmcore" / "sponsor_html.py", *sorted((ROOT / "cmcore" / "alerts").glob("*.py"))]
LABEL_CONSTANTS = ("PAGES", "PRESETS", "WEEKDAYS", "LABELS", "NOTHING", "KINDS", "ACTIVITY_KINDS", "STREAMS",
                   "STATUSES", "REWARD_KINDS", "SOURCES", "COUNTS", "OWN", "CHANNEL_NAMES", "FORMAT_NAMES",
                   "OUTCOMES", "DIGEST", "REPORT_NAMES", "TABLES", "TRIGGERS", "STEPS", "FORMATS",
                   "SOURCE_NAMES", "KEPT_UP")  # module constants whose values are shown
CORE_FILES = [*sorted((ROOT / "cmcore" / "kpis").glob("*.py")), *sorted((ROOT / "cmcore" / "reports").glob("*.py")),
              ROOT / "cmcore" / "money.py"]


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def interface_strings() -> set[str]:
    """Strings passed to t(), page titles, table column labels, sidebar presets, metric labels."""
    found: set[str] = set(ROLES)
    for path in UI_FILES:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("t", "translate") and node.args:
                if isinstance(node.args[0], ast.Constant):
                    found.add(node.args[0].value)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("chart", "empty"):
                found.update(a.value for a in node.args[1:] if isinstance(a, ast.Constant))
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "table"
                    and len(node.args) > 2 and isinstance(node.args[2], ast.Dict)):
                found.update(v.value for v in node.args[2].values)  # column labels
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) in LABEL_CONSTANTS:
                value = node.value
                values = value.values if isinstance(value, ast.Dict) else getattr(value, "elts", [value])
                for value in values:
                    found.update(s for s in _strings(value) if not s.startswith((":", "pages/")))
    for path in CORE_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) in ("Metric", "per_currency"):
                if isinstance(node.args[1], ast.Constant):
                    found.add(node.args[1].value)
                found.update(" ".join(_strings(k.value)) if isinstance(k.value, ast.BinOp) else k.value.value
                             for k in node.keywords if k.arg == "definition" and not isinstance(k.value, ast.Name))
    return {s for s in found if s} | import_messages() | refusals()


# Import rejections are shown translated (ui.text.rejected): their templates, the phrases put into
# them (what a value should be, the units that locate a row) and the units.
_MESSAGE_ARG = {"Rejected": 1, "reject": 0, "bad": 0, "_first_missing": 3, "_reject_first": 2, "note": 0}


def import_messages() -> set[str]:
    found = {"line", "row", "item"}  # the units of canonical files and Discourse pages
    for path in sorted((ROOT / "cmcore" / "ingest").glob("*.py")):
        tree = ast.parse(path.read_text())
        constants = {n.targets[0].id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                index = _MESSAGE_ARG.get(name)
                if index is not None and len(node.args) > index:
                    found.update(_strings(node.args[index]))
                    if isinstance(node.args[index], ast.Name) and node.args[index].id in constants:
                        found.add(constants[node.args[index].id])  # a phrase named once, used in several places
                found.update(k.value.value for k in node.keywords
                             if k.arg in ("hint", "unit") and isinstance(k.value, ast.Constant))
                for rule in (k.value.elts for k in node.keywords if k.arg == "rules"):
                    found.update(r.elts[2].value for r in rule)  # (mask, field, message)
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "_TYPE_WORDS":
                found.update(v.value for v in node.value.values)
    return found


REFUSALS = ("Refusal", "UserError", "PasswordRefused", "MoneyError", "RewardError", "MergeError", "AccessDenied",
            "ConfigError")


def refusals() -> set[str]:
    """cmcore's refusals (cmcore.refusal), shown translated (ui.text.refusal), and the words they
    put into their templates."""
    found: set[str] = set(PHRASE_WORDS)
    for path in [*sorted((ROOT / "cmcore").glob("*.py")), *sorted((ROOT / "cmcore" / "connections").glob("*.py")),
                 *sorted((ROOT / "cmcore" / "alerts").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in REFUSALS
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) in (
                    "WRONG", "SLOWED_USERNAME", "SLOWED_CONSOLE", "NO_KEY", "WEAK_KEY"):
                found.update(_strings(node.value))  # (implicitly joined: one constant)
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "_TOO_MUCH":
                found.update(k.value for k in node.value.keys)  # the database role's problems (bootstrap)
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "REASONS":
                found.update(v.value for v in node.value.values)  # what the reward rules write (rewards.reason)
    return found


def fields(text: str) -> set[str]:
    """The placeholders, a plural's count named as such ('{n|mention|mentions}' → 'n|')."""
    return {f.split("|")[0] + "|" * ("|" in f) for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_interface_string_is_translated_into_french():
    missing = sorted(interface_strings() - set(i18n.catalogue("fr")))
    assert not missing, "add to cmcore/locales/fr.json:\n" + "\n".join(missing)


def test_translations_keep_their_placeholders_and_are_not_stale():
    fr = i18n.catalogue("fr")
    assert {k: fields(k) for k in fr} == {k: fields(v) for k, v in fr.items()}
    stale = set(fr) - interface_strings()
    assert not stale, f"no longer used: {sorted(stale)}"


@pytest.mark.parametrize("lang, expected", [
    ("fr", ("1\u202f234\u202f567", "1\u202f234,50\u00a0€", "2 h 30 min", "45 min", "3 j")),
    ("en", ("1,234,567", "€1,234.50", "2 h 30 min", "45 min", "3 d")),
])
def test_numbers_money_and_durations_follow_the_language(lang, expected):
    assert (i18n.number(1234567, lang), i18n.money(123450, "EUR", lang), i18n.hours(2.5, lang),
            i18n.hours(0.75, lang), i18n.hours(72, lang)) == expected
    assert i18n.translate("Sign in", lang) == ("Se connecter" if lang == "fr" else "Sign in")
    assert i18n.translate("Signed in as {name} ({role})", lang, name="ann", role="x").count("ann") == 1


def test_unknown_text_falls_back_to_english():
    assert i18n.translate("no such text", "fr") == "no such text"
    assert re.fullmatch(r"[a-z]{2}", i18n.DEFAULT_LANGUAGE)


PLURALS = [k for k in i18n.catalogue("fr") if "|" in k]


@pytest.mark.parametrize("lang, singular", [("en", {1}), ("fr", {0, 1})])
def test_every_count_picks_its_plural_form_by_the_languages_rule(lang, singular):
    """Each message with a count, for 0, 1 and 2: the first form exactly for the counts the
    language reads as singular (French: 0 and 1), the count given as a number or as written."""
    assert len(PLURALS) >= 15
    for key in PLURALS:
        for n in (0, 1, 2):
            values = {f: n for f in fields(key) | fields(i18n.catalogue("fr")[key])}
            values = {f.rstrip("|"): v for f, v in values.items()}
            said = i18n.translate(key, lang, **values)
            text = key if lang == "en" else i18n.catalogue("fr")[key]
            forms = re.findall(r"\{\w+\|([^{}|]*)\|([^{}|]*)\}", text)
            assert "|" not in said and all(form[n not in singular] in said for form in forms), (key, lang, n)
            assert said == i18n.translate(key, lang, **{k: i18n.number(v, lang) for k, v in values.items()})


@pytest.mark.parametrize("n, en, fr", [
    (0, "0 negative mentions on Mar 9, 2026, against 1.5 a day usually: a crisis?",
     "0 mention négative le 9 mars 2026, contre 1,5 par jour d’habitude : une crise ?"),
    (1, "1 negative mention on Mar 9, 2026, against 1.5 a day usually: a crisis?",
     "1 mention négative le 9 mars 2026, contre 1,5 par jour d’habitude : une crise ?"),
    (2, "2 negative mentions on Mar 9, 2026, against 1.5 a day usually: a crisis?",
     "2 mentions négatives le 9 mars 2026, contre 1,5 par jour d’habitude : une crise ?"),
])
def test_an_alert_and_a_digest_say_one_mention_and_two_mentions(n, en, fr):
    facts = {"day": "2026-03-09", "negative": n, "usual": 1.5}
    assert (messages.sentence("crisis", facts, "en"), messages.sentence("crisis", facts, "fr")) == (en, fr)
    digest = {"headline": [], "movers": [], "threads": [], "unanswered": n, "open_cases": n, "oldest_case": 5.0,
              "net": 0.5, "mentions": n, "crises": n}
    lines = {lang: [line for _, section in messages.digest(digest, lang) for line, _ in section]
             for lang in ("en", "fr")}
    assert lines["en"][-2:] == [f"{n} open {'case' if n == 1 else 'cases'}; the oldest for 5 h" if n else "No open case.",
                                f"{n} {'mention' if n == 1 else 'mentions'}, net sentiment 50.0%,"
                                f" {n} crisis {'day' if n == 1 else 'days'}"]
    assert lines["fr"][-1] == (f"{n} {'mention' if n < 2 else 'mentions'}, sentiment net 50,0\u00a0%,"
                               f" {n} {'jour' if n < 2 else 'jours'} de crise")
    assert lines["fr"][-2] == ("Aucun cas ouvert." if n == 0 else
                               f"{n} {'cas ouvert' if n < 2 else 'cas ouverts'} ; le plus ancien depuis 5 h")


def test_a_refusal_counts_the_currencys_decimals_in_english_and_in_french():
    with pytest.raises(money.MoneyError) as three:
        money.parse_amount("1.2345", "KWD")
    with pytest.raises(money.MoneyError) as none:
        money.parse_amount("1.5", "JPY")
    assert str(three.value) == "amount: KWD has 3 decimals, '1.2345' has 4"
    assert str(none.value) == "amount: JPY has 0 decimals, '1.5' has 1"
    assert i18n.translate(none.value.message, "fr", **none.value.values) == "montant : JPY a 0 décimale, '1.5' en a 1"
