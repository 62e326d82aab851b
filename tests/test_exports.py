"""Downloads are safe to open in a spreadsheet: every text cell that starts with = + - @, a tab or a
carriage return is prefixed with ' (formula injection), in CSV and in Excel, read back cell by cell:
the exports themselves, a page's downloads and a payout batch."""
import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl

from cmcore import exports, rewards
from cmcore.access import Principal
from tests.builders import Community, _insert, user, utc
from tests.pages import as_user, choose_period, csv_rows, download, excel_rows

HOSTILE = ["=1+1", "+33 6 12 34 56 78", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR", '=HYPERLINK("http://x.example","y")']
HARMLESS = ["plain", "a=b", "1-2", "", "'quoted"]


def unsafe(cell: object) -> bool:
    return isinstance(cell, str) and cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_every_text_cell_that_a_spreadsheet_would_run_is_neutralised_in_csv_and_excel():
    frame = pl.DataFrame({
        "text": HOSTILE + HARMLESS,
        "tags": [[v, "x"] for v in HOSTILE + HARMLESS],  # a list becomes "v, x"
        "amount": [-5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],  # numbers stay numbers, negative ones too
        "at": [datetime(2026, 3, 1, 10)] * 12,
    })
    text = ["'=1+1", "'+33 6 12 34 56 78", "'-2+3", "'@SUM(A1:A9)", "'\tTAB", "'\rCR",
            "'=HYPERLINK(\"http://x.example\",\"y\")", "plain", "a=b", "1-2", "", "'quoted"]
    tags = ["'=1+1, x", "'+33 6 12 34 56 78, x", "'-2+3, x", "'@SUM(A1:A9), x", "'\tTAB, x", "'\rCR, x",
            "'=HYPERLINK(\"http://x.example\",\"y\"), x", "plain, x", "a=b, x", "1-2, x", ", x", "'quoted, x"]
    rows = csv_rows(exports.to_csv(frame))
    assert rows[0] == ["text", "tags", "amount", "at"]
    assert [r[0] for r in rows[1:]] == text
    assert [r[1] for r in rows[1:]] == tags
    assert [r[2] for r in rows[1:]] == ["-5", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]
    assert {r[3] for r in rows[1:]} == {"2026-03-01 10:00:00.000000"}
    assert not any(unsafe(cell) for row in rows for cell in row[:2])

    sheet = excel_rows(exports.to_excel(frame))
    assert sheet[0] == ["text", "tags", "amount", "at"]
    assert [r[0] or "" for r in sheet[1:]] == text
    assert [r[1] for r in sheet[1:]] == tags
    assert [r[2] for r in sheet[1:]] == [-5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert not any(unsafe(cell) for row in sheet for cell in row)  # a formula cell reads "=…"


def test_downloads_keep_times_zones_structs_and_a_readable_sheet():
    """CSV is UTF-8 with a BOM (so Excel reads accents), times keep their zone, structs become
    JSON (a formula inside one stays quoted text, not a cell); an Excel sheet is named after its
    table within Excel's 31 characters, and its columns are as wide as their text."""
    frame = pl.DataFrame({"at": [datetime(2026, 3, 1, 10, tzinfo=ZoneInfo("Europe/Paris"))],
                          "detail": [{"n": 1, "label": "=x"}], "note": ["a note much wider than a column's default"]})
    data = exports.to_csv(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    assert csv_rows(data) == [["at", "detail", "note"], ["2026-03-01 10:00:00.000000+01:00", '{"n":1,"label":"=x"}',
                                                        "a note much wider than a column's default"]]
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(exports.to_excel(frame, "campaigns of the spring season 2026")))
    assert book.sheetnames == ["campaigns of the spring season "]  # 31 characters
    assert book.worksheets[0].column_dimensions["C"].width > 30  # 41 characters; polars writes 13 unfitted
    assert openpyxl.load_workbook(io.BytesIO(exports.to_excel(frame))).sheetnames == ["data"]


def test_a_sponsor_report_download_neutralises_what_came_from_the_data(app, database):
    c = Community()
    sponsor = c.sponsor("@Acme")
    campaign = _insert("campaign", sponsor_id=sponsor, name="=HYPERLINK(\"http://x.example\",\"Spring\")",
                       starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 10), amount_minor=10_000, currency="EUR",
                       deliverables='[{"kind": "post", "label": "+Posts", "target": 2, "delivered": 1},'
                                    ' {"kind": "post", "label": "\\tTalk", "target": 1, "delivered": 1}]')
    _insert("campaign_delivery", returning=None, campaign_id=campaign, day=date(2026, 3, 2), impressions=100,
            clicks=1, engagements=2)
    user("acme", "sponsor", sponsor_id=sponsor)
    at = choose_period(as_user(app, "acme"), date(2026, 3, 1), date(2026, 3, 10))
    assert not at.exception
    name = "'=HYPERLINK(\"http://x.example\",\"Spring\")"
    expected = {
        "campaigns": [[name, "2026-03-01", "2026-03-10", "100", "1", "0.01", "2", "0.6666666666666666"]],
        "deliverables": [["false", name, "'+Posts", "1", "2", "0.5"], ["true", name, "'\tTalk", "1", "1", "1.0"]],
        "delivery": [["2026-03-02", name, "100", "1", "2"]],
    }
    for table, rows in expected.items():
        assert csv_rows(download(at, f"{table}_csv"))[1:] == rows, table
        sheet = excel_rows(download(at, f"{table}_xlsx"))
        text = [[v for v in row if isinstance(v, str)] for row in sheet[1:]]
        assert text == [[v for v in row if not v[:1].isdigit() and v not in ("true", "false")] for row in rows]
        assert not any(unsafe(v) for row in sheet for v in row), table


def test_a_payout_batch_neutralises_member_names_and_reasons(database):
    c = Community()
    member = c.member("=cmd|' /C calc'!A0", utc(2026, 1, 1))
    user("anna", "staff")
    user("ben", "staff")
    user("manon", "manager")
    rewards.set_budget(Principal("manon", "manager"), "2026-03", "EUR", "100")
    reward = rewards.propose(Principal("anna", "staff"), member, "2026-03", "money", "12,50", "EUR", "@thanks")
    rewards.approve(Principal("ben", "staff"), reward)
    batch, data = rewards.pay(Principal("ben", "staff"), [reward])
    assert csv_rows(data) == [
        ["batch", "reward_id", "member_id", "member", "kind", "currency", "reason", "amount"],
        [batch, str(reward), str(member), "'=cmd|' /C calc'!A0", "money", "EUR", "'@thanks", "12.50"]]
