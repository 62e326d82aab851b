"""The documents that name the tests keeping their claims true (SECURITY.md, docs/guarantees.md):
every test they name exists, and every claim of docs/guarantees.md names one."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAMED = re.compile(r"`(test_\w+)(?:::([\w…]+))?`")


def _missing(named: list[tuple[str, str]]) -> list[str]:
    """The named tests (module, optional name; … matches anything) that do not exist."""
    missing = []
    for module, name in named:
        path = ROOT / "tests" / f"{module}.py"
        if not path.exists():
            missing.append(module)
            continue
        tests = [n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)]
        if name and not any(re.fullmatch(re.escape(name).replace("…", ".*"), t) for t in tests):
            missing.append(f"{module}::{name}")
    return missing


@pytest.mark.parametrize("document, at_least", [("SECURITY.md", 20), ("docs/guarantees.md", 100)])
def test_every_test_a_document_names_exists(document, at_least):
    named = NAMED.findall((ROOT / document).read_text(encoding="utf-8"))
    assert len(named) > at_least
    assert not _missing(named)


def test_every_claim_of_the_guarantees_names_its_tests():
    """Each row of a "claim | guarded by" table names a test; a measurement names its command."""
    unguarded, table = [], None
    for line in (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is None:
            table = None
        elif table is None:
            table = cells[1]
        elif not set(cells[0]) <= set("-: ") and table == "guarded by" and not NAMED.search(cells[1]):
            unguarded.append(cells[0])
    assert not unguarded, unguarded


def test_a_missing_test_is_caught():
    assert _missing([("test_periods", "test_presets"), ("test_auth", "…cli_secret…")]) == []
    assert _missing([("test_periods", "test_gone"), ("test_nowhere", "")]) == ["test_periods::test_gone", "test_nowhere"]
