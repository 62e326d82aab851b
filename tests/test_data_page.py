"""The Data page: administrators see past imports and manage platforms; staff merge members."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from cmcore import db, frames, i18n, ingest
from cmcore.access import CLI
from tests.builders import user
from tests.pages import as_user

FIXTURES = Path(__file__).parent / "fixtures"


def open_data(app, username: str):
    at = as_user(app, username)
    at.switch_page("pages/data.py").run()
    assert not at.exception
    return at


def fr(*texts: str) -> list[str]:
    """The French interface's labels (the page's default language)."""
    return [i18n.translate(text, "fr") for text in texts]


def button(at, label: str):
    return next(b for b in at.button if b.label == fr(label)[0])


def scalar(sql: str):
    with db.engine().connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def test_an_administrator_sees_past_imports_and_adds_a_platform(app, database):
    user("admin", "admin", "a-long-password-1")
    ingest.run("canonical", sorted((FIXTURES / "canonical").iterdir()), CLI)
    at = open_data(app, "admin")
    assert [tab.label for tab in at.tabs] == fr("Import", "Past imports", "Platforms", "People & merges")
    described = at.tabs[0].dataframe[0].value  # the canonical format, column by column
    assert described[fr("Table")[0]].nunique() == 13 and len(described) == 93
    history = at.tabs[1].dataframe[0].value
    source, status = fr("Source", "Status")
    assert history[source].tolist() == fr("Canonical tables") and history[status].tolist() == fr("Loaded")  # words, not codes
    form = at.tabs[2]
    form.text_input[0].input("youtube")
    form.text_input[1].input("Our channel")
    form.selectbox[0].set_value("youtube")
    form.button[0].click().run()
    assert not at.exception
    assert scalar("SELECT name FROM platform WHERE slug = 'youtube'") == "Our channel"


def test_an_administrator_sees_how_the_pages_kept_up_with_new_data(app, database, monkeypatch):
    user("admin", "admin", "a-long-password-1")
    monkeypatch.setattr(frames, "counts", Counter(read=3, refreshed=1200, updated=5400, rebuilt=40, fallback=2))
    at = open_data(app, "admin")
    shown = at.tabs[1].dataframe[-1].value  # after the past imports (none here)
    what, times = fr("What was done", "Times")
    rows = dict(zip(shown[what], shown[times], strict=True))
    read, refreshed, updated, rebuilt, fallback = labels = fr(
        "Tables read whole", "Tables brought up to date by their changed rows",
        "Page results brought up to date by the changed rows", "Page results computed whole",
        "Changes that could not be followed (read or computed whole instead)")
    assert list(rows) == labels
    assert (rows[refreshed], rows[updated], rows[fallback]) == (1200, 5400, 2)  # no data changed meanwhile
    assert 3 <= rows[read] < 40 <= rows[rebuilt]  # the page's own first reads and results add to these


def test_staff_merge_two_members_on_the_page_and_undo_it(app, database):
    user("nadia", "staff", "a-long-password-1")
    ingest.run("canonical", sorted((FIXTURES / "canonical").iterdir()), CLI)
    at = open_data(app, "nadia")
    assert not at.tabs  # imports and platforms are the administrators'
    candidates = at.dataframe[0].value
    assert candidates[fr("Member", "Into member", "Shared name")].values.tolist() == [[4, 1, "ann"]]
    at.text_input(key="merge_source_search").input("ANN M.").run()  # finds Ann M. only
    assert at.selectbox(key="merge_source").options == ["Ann M. (#4) — chat: ann"]
    at.selectbox(key="merge_source").set_value(4)
    at.selectbox(key="merge_target").set_value(1).run()
    button(at, "Merge").click().run()
    assert not at.exception
    assert scalar("SELECT merged_into FROM member WHERE id = 4") == 1
    button(at, "Undo the merge").click().run()
    assert scalar("SELECT merged_into FROM member WHERE id = 4") is None
    assert scalar("SELECT undone_by FROM member_merge") == "nadia"
