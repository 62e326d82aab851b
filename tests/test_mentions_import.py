"""Mentions exports as tools and scrapers publish them: headers under their own names, dates as
people write them, a date and a time apart, counts with separators, posts repeated by a scrape; and
duplicates within one import for every source."""
from __future__ import annotations

import json
import shutil
from datetime import date, datetime, time
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from cmcore import cli, community, ingest
from cmcore.access import CLI
from cmcore.ingest import dates, listening, load, workbook
from cmcore.ingest.canonical import Rejected
from tests.builders import utc
from tests.test_ingest import FIXTURES, counts, fixture, rows, table_sizes

EXPORTS = FIXTURES / "exports"


def mentions() -> list[tuple]:
    return rows("SELECT url, source, author, created_at, reach, body FROM mention ORDER BY created_at")


def test_an_x_scrape_imports_as_published(database):
    """createdAt, text, url, viewCount and author/userName under the scraper's names; no source
    (the URL's site); `March 17, 2026 at 05:47 PM` in the community's time zone (Paris, UTC+1 in
    March); a post the scrape repeated kept once."""
    result = ingest.run("mentions", [EXPORTS / "x-scrape.csv"], CLI)
    assert result.counts == {"mentions": counts(3)}
    assert result.notes == {load.REPEATED: 1}
    assert [m[:5] for m in mentions()] == [
        ("https://x.com/mara_dev/status/1901", "x", "mara_dev", utc(2026, 3, 17, 16, 47), 1204),
        ("https://x.com/ohsnap_io/status/1902", "x", "ohsnap_io", utc(2026, 3, 18, 8, 5), 15300),
        ("https://x.com/lucia_mx/status/1903", "x", "lucia_mx", utc(2026, 3, 18, 22, 30), 310)]
    assert mentions()[0][5] == "Just tried the new release of @quillapp, sync is finally fast. Love it!"


def test_a_french_media_export_joins_its_date_and_time_and_titles(database):
    """`;`-separated, Date + Heure, Média as the source (the URL's site where it is empty), Titre and
    Extrait as the text, an audience written `1 250 000`."""
    assert ingest.run("mentions", [EXPORTS / "media-fr.csv"], CLI).counts == {"mentions": counts(3)}
    assert [m[1:5] for m in mentions()] == [
        ("Le Parisien", None, utc(2026, 3, 17, 7, 15), 1_250_000),
        ("Numerama", None, utc(2026, 3, 17, 18, 2), 480_000),
        ("lemonde.fr", None, utc(2026, 3, 18, 6, 30), 2_100_000)]
    assert mentions()[1][5] == ("Panne chez Quill : des utilisateurs privés de leurs notes\n"
                                "Depuis ce matin, l'export ne fonctionne plus")


def test_the_mapping_names_what_became_what_and_what_was_left_out():
    found = listening.mapping(["id", "url", "twitterUrl", "text", "viewCount", "createdAt", "lang",
                               "author/userName", "author/followers"])
    assert found.used == {"created_at": "createdAt", "url": "url", "author": "author/userName", "body": "text",
                          "reach": "viewCount", "tool_lang": "lang"}
    assert found.ignored == ("id", "twitterUrl", "author/followers")
    assert listening.mapping(["Hit Sentence", "Published Date", "Source Type", "Link"]).used == {
        "created_at": "Published Date", "source": "Source Type", "url": "Link", "body": "Hit Sentence"}


def test_every_missing_column_is_named_at_once(database, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Author,Likes\nann,3\n")
    with pytest.raises(Rejected) as err:
        ingest.run("mentions", [path], CLI)
    assert str(err.value) == (
        "export.csv, line 1, field date, url, text: the header lacks date, url, text (names accepted:"
        " date: date, createdat, published, publishedat; url: url, link, permalink, tweeturl; text: text, fulltext,"
        " tweet, tweettext…)")
    assert table_sizes()["mention"] == 0


def test_a_date_the_importer_cannot_read_asks_for_its_format(database, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("date,url,text\n2026|03|17 17h47,https://blog.example/a,Nice\n")
    with pytest.raises(Rejected) as err:
        ingest.run("mentions", [path], CLI)
    assert str(err.value) == ("export.csv, line 2, field date: '2026|03|17 17h47' is not a date and time the importer"
                              " reads: give its format with --date-format (e.g. %d/%m/%Y %H:%M)")
    ingest.run("mentions", [path], CLI, date_format="%Y|%m|%d %Hh%M")
    assert mentions() == [("https://blog.example/a", "blog.example", None, utc(2026, 3, 17, 16, 47), 0, "Nice")]


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-17T17:47:00Z", utc(2026, 3, 17, 17, 47)),
    ("2026-03-17 17:47:00", utc(2026, 3, 17, 16, 47)),  # no zone: Paris
    ("Tue Mar 17 17:47:00 +0000 2026", utc(2026, 3, 17, 17, 47)),  # X's API
    ("March 17, 2026 at 05:47 PM", utc(2026, 3, 17, 16, 47)),
    ("Mar 17, 2026 5:47 pm", utc(2026, 3, 17, 16, 47)),
    ("17/03/2026 17:47", utc(2026, 3, 17, 16, 47)),
    ("le 17 mars 2026 à 17h47", utc(2026, 3, 17, 16, 47)),
    ("1773769620", utc(2026, 3, 17, 17, 47)),  # Unix seconds
    ("1773769620000", utc(2026, 3, 17, 17, 47)),  # and milliseconds
    ("2026-07-01 12:00", utc(2026, 7, 1, 10)),  # summer time
    ("17 mars", None), ("yesterday", None)])
def test_dates_as_exports_write_them(text, expected):
    assert dates.parse(pl.Series([text]), "Europe/Paris").to_list() == [expected]


def test_numeric_dates_are_day_first_unless_the_column_says_otherwise():
    assert dates.parse(pl.Series(["03/04/2026", "05/06/2026"]), "UTC").to_list() == [utc(2026, 4, 3), utc(2026, 6, 5)]
    assert dates.parse(pl.Series(["03/04/2026", "12/31/2026"]), "UTC").to_list() == [utc(2026, 3, 4), utc(2026, 12, 31)]


def test_a_repeated_url_with_other_values_is_refused_naming_both_lines(database, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("date,url,text,views\n2026-03-01,https://x.com/a/status/1,Nice,10\n"
                    "2026-03-02,https://x.com/b/status/2,Bad,5\n2026-03-01,https://x.com/a/status/1,Nice,12\n")
    with pytest.raises(Rejected) as err:
        ingest.run("mentions", [path], CLI)
    assert str(err.value) == ("export.csv, line 4, field url: duplicate row with other values:"
                              " url 'https://x.com/a/status/1' is already on line 2")
    assert table_sizes()["mention"] == 0


def test_overlapping_discord_exports_in_one_import_keep_each_message_once(database, tmp_path):
    """The same channel exported twice (the second export a copy of the first): one import gives
    what one export gives; every repeated row (members aside, gathered per person) is counted."""
    alone = fixture("discord")
    again = tmp_path / "general-again.json"
    shutil.copy(alone[0], again)
    result = ingest.run("discord", [*alone, again], CLI)
    assert result.counts == {"members": counts(3), "activities": counts(5), "votes": counts(1)}
    assert result.notes == {load.REPEATED: 6}  # 5 activities and 1 day of votes
    assert rows("SELECT count(*) FROM activity") == [(5,)]


def test_a_changed_message_in_an_overlapping_export_is_refused_naming_both(database, tmp_path):
    doc = json.loads(fixture("discord")[0].read_text())
    doc["messages"][3]["content"] = "Thanks! (edited)"
    edited = tmp_path / "general-later.json"
    edited.write_text(json.dumps(doc))
    with pytest.raises(Rejected) as err:
        ingest.run("discord", [*fixture("discord"), edited], CLI)
    assert str(err.value) == ("general.json, message 4, field external_id: duplicate row with other values:"
                              " platform 'discord', external_id '1004' is already in general-later.json (message 4)")
    assert set(table_sizes().values()) == {0}


def test_identical_canonical_rows_collapse_and_are_counted(database, tmp_path):
    canonical_dir = tmp_path / "c"
    canonical_dir.mkdir()
    shutil.copy(FIXTURES / "canonical/platforms.csv", canonical_dir)
    members = (FIXTURES / "canonical/members.csv").read_text()
    (canonical_dir / "members.csv").write_text(members + members.splitlines()[1] + "\n")
    result = ingest.run("canonical", sorted(canonical_dir.iterdir()), CLI)
    assert result.notes == {load.REPEATED: 1}
    assert result.counts["members"]["inserted"] == len(members.splitlines()) - 1


def test_the_source_is_the_networks_name_or_the_site():
    urls = pl.Series(["https://twitter.com/a/status/1", "https://old.reddit.com/r/x/1", "https://youtu.be/abc",
                      "https://www.lemonde.fr/a", "http://blog.example:8080/p", "https://m.facebook.com/p/1"])
    assert pl.select(listening.source_of(pl.lit(urls))).to_series().to_list() == [
        "x", "reddit", "youtube", "lemonde.fr", "blog.example", "facebook"]


def test_counts_as_exports_write_them():
    got = pl.select(listening._count(pl.lit(pl.Series(["12,345", "1 250 000", "1.2K", "3M", "-", "7", "lots"]))))
    assert got.to_series().to_list() == ["12345", "1250000", "1200", "3000000", None, "7", "lots"]


def test_separators_are_sniffed_from_the_header():
    assert [listening.separator(h) for h in (b"a,b;c\n", b"a;b;c\n1,2;3", b"a\tb\n", b"a\n")] == [",", ";", "\t", ","]


def test_the_preview_shows_what_an_import_would_do_and_writes_nothing(database):
    seen = listening.preview("x-scrape.csv", (EXPORTS / "x-scrape.csv").read_bytes(), "Europe/Paris")
    assert seen.mapping.rows() == [("created_at", "createdAt"), ("url", "url"), ("author", "author/userName"),
                                   ("body", "text"), ("reach", "viewCount"), ("tool_lang", "lang")]
    assert seen.ignored == ("id", "twitterUrl", "retweetCount", "replyCount", "likeCount", "author/followers")
    assert (seen.rows, seen.repeated, seen.error) == (4, 1, None)
    assert seen.sample.select("source", "created_at", "reach", "lang", "sentiment").rows() == [
        ("x", utc(2026, 3, 17, 16, 47), "1204", "en", 1), ("x", utc(2026, 3, 18, 8, 5), "15300", "en", -1),
        ("x", utc(2026, 3, 17, 16, 47), "1204", "en", 1), ("x", utc(2026, 3, 18, 22, 30), "310", "other", None)]
    refused = listening.preview("export.csv", b"Author,Likes\nann,3\n", "UTC")
    assert refused.mapping.rows() == [("author", "Author")] and refused.ignored == ("Likes",)
    assert str(refused.error).startswith("export.csv, line 1, field date, url, text: the header lacks")
    assert table_sizes()["mention"] == 0


# ------------------------------------------------------------------ Excel exports

def xlsx(path: Path, rows: list[list]) -> Path:
    """A workbook as Excel writes it (openpyxl): dates, times and numbers as typed cells."""
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


MELTWATER = [  # a title and the search above the header (row 4), Date and Time apart, a blank row
    ["Quill – mentions export"], ["Search: quill OR @quillapp"], [],
    ["Date", "Time", "Hit Sentence", "URL", "Source", "Reach", "Sentiment", "Language", "Keywords"],
    [date(2026, 3, 17), time(17, 47), "Love the new release, sync is finally fast", "https://x.com/mara/status/1",
     "X", 1204, "Positive", "en", "quill"],
    [date(2026, 3, 18), time(8, 5), "Encore une panne, je suis très déçu", "https://www.lemonde.fr/a",
     None, 1_250_000.0, "Negative", "French", None],
    [],
    [date(2026, 3, 17), time(17, 47), "Love the new release, sync is finally fast", "https://x.com/mara/status/1",
     "X", 1204, "Positive", "en", "quill"],  # repeated by the tool
    [date(2026, 3, 18), time(22, 30), "La nueva versión es muy lenta", "https://reddit.com/r/x/1", "Reddit", "1.2K"]]


def test_an_excel_export_imports_with_its_title_rows_typed_dates_times_and_numbers(database, tmp_path):
    result = ingest.run("mentions", [xlsx(tmp_path / "meltwater.xlsx", MELTWATER)], CLI)
    assert result.counts == {"mentions": counts(3)} and result.notes == {load.REPEATED: 1}
    assert [m[:5] for m in mentions()] == [
        ("https://x.com/mara/status/1", "X", None, utc(2026, 3, 17, 16, 47), 1204),
        ("https://www.lemonde.fr/a", "lemonde.fr", None, utc(2026, 3, 18, 7, 5), 1_250_000),
        ("https://reddit.com/r/x/1", "Reddit", None, utc(2026, 3, 18, 21, 30), 1200)]
    assert rows("SELECT tool_sentiment, tool_lang, lang, sentiment FROM mention ORDER BY created_at") == [
        (1, "en", "en", 1), (-1, "fr", "fr", -1), (None, None, "other", None)]


def test_the_preview_of_an_excel_export(database, tmp_path):
    data = xlsx(tmp_path / "meltwater.xlsx", MELTWATER).read_bytes()
    seen = listening.preview("meltwater.xlsx", data, "Europe/Paris")
    assert seen.mapping.rows() == [("created_at", "Date"), ("time", "Time"), ("source", "Source"), ("url", "URL"),
                                   ("body", "Hit Sentence"), ("reach", "Reach"), ("tool_lang", "Language"),
                                   ("tool_sentiment", "Sentiment")]
    assert seen.ignored == ("Keywords",) and (seen.rows, seen.repeated, seen.error) == (4, 1, None)
    assert seen.sample["created_at"].to_list()[:2] == [utc(2026, 3, 17, 16, 47), utc(2026, 3, 18, 7, 5)]
    assert table_sizes()["mention"] == 0


@pytest.mark.parametrize(("sheet", "message"), [
    ([["Export of 2026-03-20"], ["Date", "Text", "URL"], [datetime(2026, 3, 17, 17, 47), "Nice", "https://a.example/1"],
      [], ["someday", "Bad", "https://a.example/2"]],
     "export.xlsx, row 5, field Date: 'someday' is not a date and time the importer reads: give its format with"
     " --date-format (e.g. %d/%m/%Y %H:%M)"),
    ([["Export of 2026-03-20"], [], ["Date", "Text", "Author"], [date(2026, 3, 17), "Nice", "ann"]],
     "export.xlsx, row 3, field url: the header lacks url (names accepted: url: url, link, permalink, tweeturl…)"),
    ([["Date", "Text", "URL"], [date(2099, 3, 17), "From the future", "https://a.example/1"]],
     "export.xlsx, row 2, field created_at: 2099-03-16 23:00:00+00:00 is in the future"),
    ([["Date", "Text", "URL"], [date(2026, 3, 17), "Nice", "https://a.example/1"],
      [date(2026, 3, 18), "Other", "https://a.example/1"]],
     "export.xlsx, row 3, field url: duplicate row with other values: url 'https://a.example/1' is already on row 2"),
])
def test_an_excel_exports_errors_name_the_row_excel_shows(database, tmp_path, sheet, message):
    with pytest.raises(Rejected) as err:
        ingest.run("mentions", [xlsx(tmp_path / "export.xlsx", sheet)], CLI)
    assert str(err.value) == message
    assert table_sizes()["mention"] == 0


def test_a_file_named_xlsx_that_is_not_a_workbook_is_refused(database, tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_text("date,url,text\n2026-03-17,https://a.example/1,Nice\n")
    with pytest.raises(Rejected, match=r"^export.xlsx: is not an Excel workbook \(.xlsx\): save it as .xlsx or"
                                       r" export a CSV file$"):
        ingest.run("mentions", [path], CLI)


def test_the_cli_imports_an_excel_export(database, tmp_path, capsys):
    path = xlsx(tmp_path / "meltwater.xlsx", MELTWATER)
    assert cli.main(["import", "mentions", str(path)]) == 0
    assert "mentions                   3" in capsys.readouterr().out
    assert len(mentions()) == 3


def test_an_excel_export_is_held_to_the_import_limits(database, tmp_path):
    path = xlsx(tmp_path / "export.xlsx", [["Date", "Text", "URL", *(f"extra {n}" for n in range(8))],
                                           [date(2026, 3, 17), "Nice", "https://a.example/1"]])
    community.set_setting(CLI, "import_columns", 10)
    with pytest.raises(Rejected, match=r"^export.xlsx, row 1: has 11 columns, more than the 10 an import accepts"
                                       r" \(Settings\)$"):
        ingest.run("mentions", [path], CLI)
    community.set_setting(CLI, "import_archive_ratio", 1)  # an .xlsx is a zip archive: bounded like one
    with pytest.raises(Rejected, match=r"^export.xlsx: would expand to [\d,]+ bytes, more than the [\d,]+ an import"
                                       r" accepts from this archive \(Settings\)$"):
        ingest.run("mentions", [path], CLI)
    assert table_sizes()["mention"] == 0


def test_a_sheets_columns_are_named_by_its_header_or_their_letter(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    for cell, value in {"B2": "Date", "C2": "Date", "E2": "Text", "B3": date(2026, 3, 17), "C3": time(9, 30),
                        "D3": "no header", "E3": 12.5, "AB3": True, "B5": datetime(2026, 3, 18, 0, 0, 5)}.items():
        sheet[cell] = value
    book.save(tmp_path / "book.xlsx")
    frame, header = workbook.read("book.xlsx", (tmp_path / "book.xlsx").read_bytes(),
                                   lambda cells: sum(c in ("Date", "Text") for c in cells))
    assert header == 2
    assert frame.rows() == [("2026-03-17", "09:30:00", "no header", "12.5", "true", 3),
                            ("2026-03-18 00:00:05", None, None, None, None, 5)]
    assert frame.columns == ["Date", "Date_2", "column D", "Text", "column AB", "_line"]
