"""A person in a real browser: Playwright drives Debian's Chromium against `streamlit run app.py`.

Skipped with the reason when Chromium is missing, unless CM_REQUIRE_BROWSER=1 (as .ci/run sets).
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import sqlalchemy as sa

from cmcore import community, db, demo, i18n, rewards
from cmcore.access import CLI, Principal
from cmcore.reports import overview
from cmcore.periods import Period
from tests.builders import user

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CM_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
PASSWORD = "correct horse battery"
pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    if os.environ.get("CM_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"CM_REQUIRE_BROWSER=1 but no Chromium at {CHROMIUM}: apt-get install chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); .ci/run makes these tests required",
                allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(database):
    demo.load(demo.DemoSpec(members=150, days=60, seed=11, end=date.today() + timedelta(days=1)),
              CLI, with_users=False)
    user("admin", "admin", PASSWORD)
    user("manager", "manager", PASSWORD)
    user("sponsor", "sponsor", PASSWORD, sponsor_id=1)
    user("staff", "staff", PASSWORD)
    user("staff2", "staff", PASSWORD)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database, "CM_DEMO_ON_EMPTY": "0",
           "CM_COOKIE_KEY": secrets.token_urlsafe(48)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("streamlit did not start:\n" + proc.stdout.read().decode())
    yield base
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        expect.set_options(timeout=15_000)
        yield chromium
        chromium.close()


def new_tab(browser) -> Page:
    """A tab in a browser context of its own (its own cookies: another person)."""
    tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    tab.set_default_timeout(30_000)
    return tab


@pytest.fixture
def page(browser):
    return new_tab(browser)


def settle(page: Page, quiet_s: float = 1.0) -> None:
    """Wait until the script has stopped running for `quiet_s` (the cookie component's first
    value triggers one more run, which redraws the login form)."""
    app = page.get_by_test_id("stApp")
    quiet_since, deadline = None, time.monotonic() + 30
    while time.monotonic() < deadline:
        if app.get_attribute("data-test-script-state") == "notRunning":
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet_s:
                return
        else:
            quiet_since = None
        page.wait_for_timeout(100)
    raise TimeoutError("the app kept running for 30 s")


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(base)
    settle(page)
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    settle(page)


def test_a_manager_signs_in_and_sees_the_overview_numbers(server, page):
    sign_in(page, server, "manager")
    expect(page.get_by_role("heading", name="Vue d'ensemble")).to_be_visible()
    today = datetime.now(ZoneInfo(community.timezone())).date()  # the app's today: the community's, not the server's
    members = overview.headline(Principal("manager", "manager"), Period.last_days(30, today - timedelta(days=1)))[0]
    expect(page.get_by_test_id("stSidebar").get_by_text(
        f"au {today - timedelta(days=1)} ({community.timezone()})")).to_be_visible()  # the last 30 days end yesterday
    metric = page.get_by_test_id("stMetric").filter(has_text=re.compile("^Membres"))
    expect(metric.first.get_by_test_id("stMetricValue")).to_have_text(i18n.number(members.value, "fr"))
    page.screenshot(path=str(ROOT / ".data" / "overview.png"), full_page=True)
    # A reload re-authenticates from the signed cookie and stays on the page.
    page.reload()
    settle(page)
    expect(page.get_by_role("heading", name="Vue d'ensemble")).to_be_visible()
    expect(page.get_by_label("Identifiant")).to_have_count(0)


def test_a_sponsor_sees_and_downloads_its_report_and_cannot_reach_the_overview(server, page):
    sign_in(page, server, "sponsor")
    expect(page.get_by_role("heading", name="Rapport sponsor : Nordlys Cloud")).to_be_visible()
    expect(page.get_by_role("link", name="Vue d'ensemble")).to_have_count(0)
    expect(page.get_by_test_id("stMetric").first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Télécharger le rapport (HTML, s'ouvre hors ligne)").click()
    html = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Rapport sponsor : Nordlys Cloud" in html and "plotly" in html.lower()
    assert "Atelier Quantique" not in html and "Bytefolk" not in html  # the other sponsors
    # Typing the overview's address opens a new session: re-authenticated from the cookie, the
    # sponsor is sent to its own home page, and no overview figure is ever drawn.
    page.goto(f"{server}/overview")
    settle(page)
    expect(page.get_by_role("heading", name="Rapport sponsor : Nordlys Cloud")).to_be_visible()
    expect(page.get_by_role("heading", name="Vue d'ensemble")).to_have_count(0)


def test_one_staff_member_proposes_a_reward_and_another_approves_it(server, browser):
    with db.transaction() as conn:
        conn.execute(sa.text("INSERT INTO reward_budget VALUES (to_char(now(), 'YYYY-MM'), 'PTS', 1000)"))
    proposer = new_tab(browser)
    sign_in(proposer, server, "staff")
    proposer.get_by_role("link", name="Récompenses").click()
    settle(proposer)
    proposer.get_by_role("tab", name="Proposer").click()
    proposer.get_by_label("Montant (points, ou argent ex. 25,00)").fill("50")
    proposer.get_by_label("Motif", exact=True).fill("Answered every newcomer this month")
    proposer.get_by_role("button", name="Proposer", exact=True).click()
    settle(proposer)
    expect(proposer.get_by_text("Proposée : un autre membre de l'équipe l'approuve.")).to_be_visible()
    reward = rewards.rewards(Principal("staff", "staff")).row(0, named=True)
    assert (reward["status"], reward["proposed_by"], reward["amount_minor"]) == ("proposed", "staff", 50)

    approver = new_tab(browser)
    sign_in(approver, server, "staff2")
    approver.get_by_role("link", name="Récompenses").click()
    settle(approver)
    approver.get_by_role("combobox", name="Récompenses").click()
    approver.get_by_role("option", name=f"#{reward['id']} {reward['member']}").click()
    approver.keyboard.press("Escape")
    approver.get_by_text("J'ai vérifié ces récompenses").click()
    settle(approver)
    approver.get_by_role("button", name="Approuver").click()
    settle(approver)
    expect(approver.get_by_text(f"Récompense {reward['id']} approuvée.")).to_be_visible()
    assert rewards.rewards(Principal("staff", "staff")).row(0, named=True)["approved_by"] == "staff2"


def test_an_administrator_uploads_files_and_a_bad_one_changes_nothing(server, page, tmp_path):
    fixtures = ROOT / "tests" / "fixtures" / "canonical"
    sign_in(page, server, "admin")
    page.goto(f"{server}/data")
    settle(page)
    page.locator("input[type=file]").set_input_files([fixtures / "platforms.csv", fixtures / "members.csv"])
    settle(page)
    page.get_by_role("button", name="Importer", exact=True).click()
    expect(page.get_by_text("6 lignes importées")).to_be_visible()
    settle(page)
    expect(page.locator("input[type=file]")).to_have_count(1)  # a fresh, empty uploader
    with db.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM member_identity WHERE external_id IN ('u1', 'u2', 'u3')"
                                    " AND handle IN ('ann', 'bob', 'chloe')")).scalar_one() == 3
    bad = tmp_path / "members.csv"
    bad.write_text("platform,external_id,display_name,joined_at\nforum,u7,Zed,2099-01-01\n")
    page.locator("input[type=file]").set_input_files([bad])
    settle(page)
    page.get_by_role("button", name="Importer", exact=True).click()
    expect(page.get_by_text("Rien n'a été importé : members.csv, ligne 2, champ joined_at : '2099-01-01' est"
                            " dans le futur")).to_be_visible()  # the message in the interface's language
    with db.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM member WHERE display_name = 'Zed'")).scalar_one() == 0
