"""The README stays what a newcomer needs, and what the documents say points at things that exist:
their links, the tests they name, the demo users and the commands."""
import os
import re
import subprocess
import sys
from pathlib import Path

from cmcore.demo import DEMO_USERS, PLATFORMS

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_short_and_says_what_a_newcomer_needs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    assert "./dev app" in readme and "./dev test" in readme
    assert "apt-get install chromium" in readme  # the browser tests need it, and are skipped without it
    assert "headless" in readme and "http://localhost:8501" in readme  # ./dev app opens no browser
    assert all(f"`{username}`" in readme for username, _, _ in DEMO_USERS)
    assert "browser's language" in readme
    assert not re.search(r"\bstops?\s+\d+|issue \d+", readme)  # no history of past work


def test_every_link_of_the_documents_points_at_a_file_that_exists():
    broken = []
    for doc in DOCUMENTS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://")) and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} → {target}")
    assert not broken, broken


def test_every_test_the_documents_name_exists():
    named = {n for doc in DOCUMENTS for n in re.findall(r"tests/(test_\w+\.py)", doc.read_text(encoding="utf-8"))}
    assert named and not [n for n in named if not (ROOT / "tests" / n).exists()]


def test_the_suggested_first_import_goes_to_a_platform_of_its_own():
    """The README's first import must not rename or fill a demo platform."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"\./dev cli import (\S+) (\S+) --platform (\S+)", readme)
    assert command and list(ROOT.glob(command.group(2)))
    assert command.group(3) not in {slug for slug, *_ in PLATFORMS}


def test_without_chromium_the_browser_tests_are_skipped_saying_why_unless_required(tmp_path):
    """The README's Chromium note: `./dev test` skips the browser tests and says why; with
    CM_REQUIRE_BROWSER=1, which .ci/run sets, a missing Chromium fails the run."""
    env = {k: v for k, v in os.environ.items() if k != "CM_REQUIRE_BROWSER"} | {"CM_CHROMIUM": str(tmp_path / "none")}

    def run(**extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/test_browser.py",
                               "tests/test_sweep.py"], cwd=ROOT, env=env | extra, capture_output=True, text=True)
    skipped = run()
    assert skipped.returncode == 5 and "2 skipped" in skipped.stdout  # 5: no test left to run, none failed
    assert f"no Chromium at {tmp_path / 'none'} (apt-get install chromium)" in skipped.stdout
    required = run(CM_REQUIRE_BROWSER="1")
    assert required.returncode != 0 and "CM_REQUIRE_BROWSER=1 but no Chromium" in required.stdout
    assert "export CM_REQUIRE_BROWSER=1" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
