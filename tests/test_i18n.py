"""Every user-facing string has its French translation, with the same {placeholders}."""
import ast
import re
import string
from pathlib import Path

import pytest

from cmcore import i18n
from cmcore.access import ROLES
from cmcore.refusal import PHRASE_WORDS

ROOT = Path(__file__).resolve().parent.parent
UI_FILES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py")),
            ROOT / "cmcore" / "sponsor_html.py", *sorted((ROOT / "cmcore" / "alerts").glob("*.py"))]
LABEL_CONSTANTS = ("PAGES", "PRESETS", "WEEKDAYS", "LABELS", "NOTHING", "KINDS", "ACTIVITY_KINDS", "STREAMS",
                   "STATUSES", "REWARD_KINDS", "SOURCES", "COUNTS", "OWN", "CHANNEL_NAMES", "FORMAT_NAMES",
                   "OUTCOMES", "DIGEST", "REPORT_NAMES", "TABLES", "TRIGGERS", "STEPS", "FORMATS",
                   "SOURCE_NAMES")  # module constants whose values are shown
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
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


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
