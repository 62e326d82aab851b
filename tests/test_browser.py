"""A person in a real browser: Playwright drives Debian's Chromium against `streamlit run app.py`.

Skipped with the reason when Chromium is missing, unless CM_REQUIRE_BROWSER=1 (as .ci/run sets).
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import sqlalchemy as sa

from cmcore import access, auth, community, db, demo, i18n, rewards
from cmcore.access import CLI, Principal
from cmcore.reports import overview
from cmcore.periods import Period
from tests.builders import user

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CM_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
PASSWORD = "correct horse battery"
# A French-speaking person's browser: the interface starts in the browser's language.
CONTEXT = {"viewport": {"width": 1400, "height": 1000}, "locale": "fr-FR"}
pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    if os.environ.get("CM_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"CM_REQUIRE_BROWSER=1 but no Chromium at {CHROMIUM}: apt-get install chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); .ci/run makes these tests required",
                allow_module_level=True)

from playwright.sync_api import Error as PlaywrightError, Page, expect, sync_playwright  # noqa: E402


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
    proc, base = launch(database, subprocess.PIPE)
    yield base
    stop(proc)


def launch(database: str, out) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on `database`, its output to `out`, once it answers; and its address."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database, "CM_DEMO_ON_EMPTY": "0",
           "CM_COOKIE_KEY": secrets.token_urlsafe(48)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).status == 200:
                return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not start" + (":\n" + proc.stdout.read().decode() if proc.stdout else ""))


def stop(proc: subprocess.Popen) -> None:
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
    tab = browser.new_context(**CONTEXT).new_page()
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
        f"au {i18n.day(today - timedelta(days=1), 'fr')} ({community.timezone()})")).to_be_visible()  # the last 30 days end yesterday
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


def test_an_administrator_sees_what_a_mentions_export_will_do_before_importing_it(server, page):
    sign_in(page, server, "admin")
    page.goto(f"{server}/data")
    settle(page)
    expect(page.get_by_role("combobox", name="Source")).to_be_visible(timeout=60_000)  # a loaded machine: slow
    page.get_by_role("combobox", name="Source").click()
    page.get_by_role("option", name="Mentions (CSV ou Excel d'un outil d'écoute sociale)").click()
    settle(page)
    page.locator("input[type=file]").set_input_files([ROOT / "tests" / "fixtures" / "exports" / "x-scrape.csv"])
    settle(page)
    expect(page.get_by_text("Ce que l'import fera de x-scrape.csv")).to_be_visible()
    expect(page.get_by_text("Colonnes écartées : id, twitterUrl, retweetCount, replyCount, likeCount,"
                            " author/followers")).to_be_visible()
    expect(page.get_by_text("4 lignes, dont 1 identique à une autre")).to_be_visible()
    with db.engine().connect() as conn:  # nothing written yet
        assert conn.execute(sa.text("SELECT count(*) FROM mention WHERE url LIKE 'https://x.com/%'")).scalar_one() == 0
    page.get_by_role("button", name="Importer", exact=True).click()
    expect(page.get_by_text("3 lignes importées")).to_be_visible()
    with db.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM mention WHERE url LIKE 'https://x.com/%'")).scalar_one() == 3


# ------------------------------------------------------------------ sessions and cookies

SIGN_IN_FORM = "Identifiant"
ENDED = "Votre session a pris fin : reconnectez-vous."


def session_cookie(context) -> dict | None:
    return next((c for c in context.cookies() if c["name"] == "cm_session"), None)


def shows_the_sign_in_form(page: Page, notice: str | None) -> None:
    expect(page.get_by_label(SIGN_IN_FORM)).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    if notice:
        expect(page.get_by_text(notice)).to_be_visible()


def test_the_session_cookie_its_flags_and_what_ends_it(server, browser):
    first = new_tab(browser)
    sign_in(first, server, "manager")
    cookie = session_cookie(first.context)
    # Written by the page's script: Path=/, SameSite=Strict, not HttpOnly (a script wrote it), not
    # Secure over plain HTTP (over HTTPS: Secure and the __Host- prefix), expires with the session.
    assert (cookie["path"], cookie["sameSite"], cookie["httpOnly"], cookie["secure"]) == ("/", "Strict", False, False)
    hours = (datetime.fromtimestamp(cookie["expires"], UTC) - datetime.now(UTC)).total_seconds() / 3600
    assert 11.9 < hours <= 12
    # A second tab of the same browser is signed in by the cookie.
    second = first.context.new_page()
    second.goto(f"{server}/growth")
    settle(second)
    expect(second.get_by_role("heading", name="Croissance et engagement")).to_be_visible()
    # An administrator resets the password elsewhere: a reload (the cookie) and the other open
    # tab's next click both land on the sign-in form with a short message, never an exception;
    # the cookie is deleted.
    auth.set_password(CLI, "manager", "reset by the administrator")
    second.reload()
    settle(second)
    shows_the_sign_in_form(second, ENDED)
    assert session_cookie(first.context) is None
    first.get_by_role("link", name="Rétention").click()
    settle(first)
    shows_the_sign_in_form(first, ENDED)


def test_signing_out_revokes_even_a_copy_of_the_cookie(server, browser):
    tab = new_tab(browser)
    sign_in(tab, server, "staff")
    copied = session_cookie(tab.context)
    tab.get_by_role("button", name="Se déconnecter").click()
    settle(tab)
    shows_the_sign_in_form(tab, "Vous êtes déconnecté.")
    thief = browser.new_context(**CONTEXT)
    thief.add_cookies([{k: copied[k] for k in ("name", "value", "domain", "path", "expires", "sameSite")}])
    stolen = thief.new_page()
    stolen.goto(f"{server}/leaderboard")
    settle(stolen)
    shows_the_sign_in_form(stolen, ENDED)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("value", [
    _b64({"alg": "none", "typ": "JWT"}) + "." + _b64({"sub": "admin", "sid": "AAAA", "gen": 1, "iat": 1,
                                                       "exp": 4102444800}) + ".",
    _b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64({"username": "admin"}) + ".c2lnbmF0dXJl",  # no exp_date
    "not-a-token", "a.b.c",
], ids=["alg-none", "no-expiry", "garbage", "three-dots"])
def test_a_forged_or_malformed_cookie_leads_to_the_sign_in_form(server, browser, value):
    """On a page's address, as the first tab of a fresh server (Streamlit's legacy pages/ mode)."""
    host = server.split("//")[1].split(":")[0]
    context = browser.new_context(**CONTEXT)
    context.add_cookies([{"name": "cm_session", "value": value, "domain": host, "path": "/"}])
    tab = context.new_page()
    tab.goto(f"{server}/users")
    settle(tab)
    shows_the_sign_in_form(tab, ENDED)
    expect(tab.get_by_role("heading", name="Utilisateurs")).to_have_count(0)


# ------------------------------------------------------------------ user text is never interpreted


class _Trap(BaseHTTPRequestHandler):
    """The address the payloads point at: it counts what the browser asks of it."""

    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        _Trap.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def trap():
    _Trap.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


_SKIPPED = {"app_user": {"username", "password_hash", "role"}, "audit_log": None, "table_version": None,
            "app_setting": None, "member_merge": None, "import_run": {"status", "source", "actor"},
            "reward": {"status", "period", "idempotency_key", "proposed_by", "approved_by", "paid_by", "payout_batch"}}


def fill_every_user_text(payloads: tuple[str, str]) -> list[str]:
    """Every text column of the community's tables (and names in arrays and JSON) holds a payload
    (the short one where a column allows fewer characters); returns the columns filled."""
    filled = []
    with db.engine().connect() as conn:
        columns = conn.execute(sa.text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE table_schema = 'public' AND t.table_type = 'BASE TABLE' AND table_name NOT LIKE '%yoyo%'"
            "   AND data_type IN ('text', 'ARRAY') ORDER BY 1, 2")).all()
    for table, column, kind in columns:
        if table in _SKIPPED and (_SKIPPED[table] is None or column in _SKIPPED[table]):
            continue
        for payload in payloads:
            value = "ARRAY[:p]" if kind == "ARRAY" else ":p"
            try:
                with db.transaction() as conn:
                    conn.execute(sa.text(f'UPDATE "{table}" SET "{column}" = {value}'), {"p": payload})
            except sa.exc.DBAPIError:
                try:  # a unique column: one payload per row
                    with db.transaction() as conn:
                        conn.execute(sa.text(f'UPDATE "{table}" SET "{column}" = :p || \' \' || ctid::text'),
                                     {"p": payload})
                except sa.exc.DBAPIError:
                    continue
            filled.append(f"{table}.{column}")
            break
    with db.transaction() as conn:  # the deliverables' labels, in JSON
        conn.execute(sa.text("UPDATE campaign SET deliverables = (SELECT jsonb_agg(d || jsonb_build_object('label', CAST(:p AS text)))"
                             " FROM jsonb_array_elements(deliverables) d) WHERE jsonb_array_length(deliverables) > 0"),
                     {"p": payloads[0]})
    return filled + ["campaign.deliverables"]


def test_no_user_text_is_interpreted_on_any_page(server, browser, trap):
    long_payload = (f"![Q5](http://{trap}/i.png) [Q4](http://{trap}/l) **Q1** _Q2_ <b>Q3</b>"
                    f" <img src=http://{trap}/h.png> `Q6` :red[Q7] $Q8$")
    short = long_payload[:long_payload.index(" <b>")]
    assert len(short) <= 80  # a platform's name
    filled = fill_every_user_text((long_payload, short))
    for field in ("member.display_name", "sponsor.name", "campaign.name", "rule.title", "activity.title",
                  "platform.name", "event.title", "mention.body", "mention.source", "activity.tags",
                  "reward_rule.title", "app_user.display_name", "campaign.deliverables"):
        assert field in filled, field
    seen: list[str] = []
    made = (f"[src*='{trap}'], [*|href*='{trap}'], strong:text-is('Q1'), em:text-is('Q2'), b:text-is('Q3'),"
            " code:text-is('Q6'), .katex, tspan[style*='bold'], tspan[style*='italic']")
    for username, keys in (("admin", list(access.PAGES)), ("sponsor", ["account", "sponsor_report"])):
        home = keys[0] if username == "admin" else "sponsor_report"  # the role's first page is at /
        tab = new_tab(browser)
        tab.on("request", lambda request: seen.append(request.url) if trap in request.url else None)
        sign_in(tab, server, username)
        for key in keys:
            tab.goto(f"{server}/{'' if key == home else key}")
            settle(tab)
            expect(tab.get_by_test_id("stException")).to_have_count(0)
            assert tab.locator(made).count() == 0, (username, key, tab.locator(made).first.evaluate("e => e.outerHTML"))
            for frame in tab.frames[1:]:
                assert frame.locator(made).count() == 0, (username, key)
        if username == "sponsor":  # the payload is there, shown as typed
            expect(tab.get_by_role("heading", name=re.compile(re.escape("**Q1**")))).to_be_visible()
            with tab.expect_download() as download:
                tab.get_by_role("button", name="Télécharger le rapport (HTML, s'ouvre hors ligne)").click()
            html = Path(download.value.path()).read_text(encoding="utf-8")
            assert "<b>Q3</b>" not in html and f"<img src=http://{trap}" not in html and "**Q1**" in html
    assert seen == [] and _Trap.hits == []


# ------------------------------------------------------------------ the proxy's headers


def deployment_csp() -> str:
    """The Content-Security-Policy docs/deployment.md tells the reverse proxy to add."""
    doc = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    return re.search(r'add_header Content-Security-Policy "([^"]+)" always;', doc).group(1)


def test_the_app_works_under_the_documented_content_security_policy(server, browser):
    """Every HTML response carries the policy, as behind the documented proxy: signing in (the
    cookie's script), a reload, charts and the sponsor's page raise no violation."""
    policy = deployment_csp()
    assert "img-src 'self' data: blob:" in policy and "frame-ancestors 'none'" in policy
    # Chromium takes a page it got from a route handler for a public one and then refuses its
    # WebSocket to 127.0.0.1 (local network access checks): not what a proxy's page meets.
    proxied = browser.browser_type.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-features=LocalNetworkAccessChecks"])
    context = proxied.new_context(**CONTEXT)

    def with_policy(route):
        try:
            response = route.fetch()
        except PlaywrightError:  # reset as the page moved on (signing in reloads it): the request is moot
            with contextlib.suppress(PlaywrightError):
                route.abort()
            return
        headers = dict(response.headers)
        if headers.get("content-type", "").startswith("text/html"):
            headers["content-security-policy"] = policy
        route.fulfill(response=response, headers=headers)

    context.route("**/*", with_policy)
    context.add_init_script("window.__violations = [];"
                            "document.addEventListener('securitypolicyviolation',"
                            " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")
    tab = context.new_page()
    sign_in(tab, server, "manager")
    assert session_cookie(context) is not None  # the cookie's inline script ran
    tab.reload()
    settle(tab)
    expect(tab.get_by_role("heading", name="Vue d'ensemble")).to_be_visible()
    expect(tab.locator(".js-plotly-plot").first).to_be_visible()
    for key in ("moderation", "sponsor_report"):
        tab.goto(f"{server}/{key}")
        settle(tab)
        expect(tab.get_by_test_id("stException")).to_have_count(0)
    assert tab.evaluate("window.__violations") == []
    proxied.close()


def test_a_manager_follows_an_alert_to_its_evidence(server, page):
    """The sidebar counts the unread alert; its link opens the Reputation page on the crisis day."""
    with db.transaction() as conn:
        conn.execute(sa.text(
            "INSERT INTO notification (kind, channel, recipient, period, facts, link, status, sent_at) VALUES"
            " ('crisis', 'app', 'manager', 'crisis:2026-03-09', '{\"day\": \"2026-03-09\", \"negative\": 35,"
            " \"usual\": 1.2}', 'reputation?from=2026-03-09&to=2026-03-09', 'sent', now())"))
    sign_in(page, server, "manager")
    page.get_by_role("link", name="Alertes (1 non lue)").click()
    settle(page)
    expect(page.get_by_text("35 mentions négatives le 9 mars 2026, contre 1,2 par jour d’habitude : une crise ?")
           ).to_be_visible()
    page.get_by_role("link", name="Voir les preuves").click()
    settle(page)
    expect(page.get_by_role("heading", name="Réputation")).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_text("9 mars 2026 au 9 mars 2026", exact=False)).to_be_visible()


# ------------------------------------------------------------------ the language a person reads


def stored_language(username: str) -> str | None:
    with db.engine().connect() as conn:
        return conn.execute(sa.text("SELECT lang FROM app_user WHERE username = :u"), {"u": username}).scalar_one()


def test_an_english_browser_reads_english_from_the_first_page_through_sign_in_and_reloads(server, browser):
    """A new visitor whose browser asks for English: the sign-in form, every page after it and a
    reload are English, and the language is kept with the account; a French browser gets French."""
    tab = browser.new_context(**{**CONTEXT, "locale": "en-US"}).new_page()
    tab.goto(server)
    settle(tab)
    expect(tab.get_by_role("button", name="Sign in")).to_be_visible()
    tab.get_by_label("Username").fill("manager")
    tab.get_by_label("Password", exact=True).fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    settle(tab)
    expect(tab.get_by_text("Signed in as manager (manager)")).to_be_visible()
    expect(tab.get_by_role("heading", name="Overview")).to_be_visible()
    assert stored_language("manager") == "en"
    for key in ("retention", "rewards"):
        tab.goto(f"{server}/{key}")
        settle(tab)
        expect(tab.get_by_text("Signed in as manager (manager)")).to_be_visible()
    tab.reload()
    settle(tab)
    expect(tab.get_by_role("heading", name="Rewards")).to_be_visible()
    french = new_tab(browser)
    french.goto(server)
    settle(french)
    expect(french.get_by_role("button", name="Se connecter")).to_be_visible()


def test_a_signed_in_users_choice_wins_over_the_browsers_and_survives_reloads(server, browser):
    """Staff chose French once (kept with the account): an English browser shows them French once
    signed in, and after a reload; a change to English in the sidebar is kept, on reloads and on
    another (French) browser."""
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE app_user SET lang = 'fr' WHERE username = 'staff'"))
    tab = browser.new_context(**{**CONTEXT, "locale": "en-GB"}).new_page()
    tab.goto(server)
    settle(tab)
    tab.get_by_label("Username").fill("staff")
    tab.get_by_label("Password", exact=True).fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    settle(tab)
    expect(tab.get_by_text("Connecté en tant que staff (équipe)")).to_be_visible()
    tab.reload()
    settle(tab)
    expect(tab.get_by_text("Connecté en tant que staff (équipe)")).to_be_visible()
    tab.get_by_role("combobox", name="Langue").click()
    tab.get_by_role("option", name="English").click()
    settle(tab)
    expect(tab.get_by_text("Signed in as staff (staff)")).to_be_visible()
    assert stored_language("staff") == "en"
    tab.reload()
    settle(tab)
    expect(tab.get_by_text("Signed in as staff (staff)")).to_be_visible()
    other = new_tab(browser)  # a French browser
    sign_in(other, server, "staff")  # the form in French, then the account's English
    expect(other.get_by_text("Signed in as staff (staff)")).to_be_visible()
