"""SECURITY.md names the tests that keep each of its claims true: every one it names exists."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_security_md_names_exists():
    named = re.findall(r"`(test_\w+)(?:::([\w…]+))?`", (ROOT / "SECURITY.md").read_text(encoding="utf-8"))
    assert len(named) > 20
    missing = []
    for module, name in named:
        path = ROOT / "tests" / f"{module}.py"
        if not path.exists():
            missing.append(module)
            continue
        tests = [n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)]
        if name and not any(re.fullmatch(re.escape(name).replace("…", ".*"), t) for t in tests):
            missing.append(f"{module}::{name}")
    assert not missing, missing
