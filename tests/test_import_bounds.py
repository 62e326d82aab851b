"""An import never ends in a traceback and never runs away with memory: malformed files, archive
bombs, huge headers and huge values are refused with the exact message, write nothing, leave a row
in the history, and stay under 500 MB (peak RSS of a process that runs the import alone)."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cmcore import community, ingest
from cmcore.access import CLI, AccessDenied, Principal
from cmcore.ingest import ImportFailed
from cmcore.ingest.canonical import Rejected
from tests.test_ingest import FIXTURES, rows, table_sizes

ROOT = Path(__file__).parent.parent
PEAK_MB = 500
# The process's own peak RSS is VmHWM: getrusage's ru_maxrss keeps the parent's peak across exec.
PEAK = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024"
CHILD = f"""
import json, sys
from pathlib import Path
from cmcore import ingest
from cmcore.access import CLI
source, *paths = sys.argv[1:]
try:
    ingest.run(source, [Path(p) for p in paths], CLI)
    error = None
except ValueError as err:
    error = str(err)
print(json.dumps({{"error": error, "peak_mb": {PEAK}}}))
"""


def imported_alone(database: str, source: str, paths: list[Path]) -> tuple[str | None, float]:
    """Run the import in a process of its own: (its error, its peak RSS in MB)."""
    env = {**os.environ, "DATABASE_URL": database, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD, source, *map(str, paths)], env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    out = json.loads(done.stdout.splitlines()[-1])
    return out["error"], out["peak_mb"]


def last_run() -> tuple:
    return rows("SELECT status, error, files FROM import_run ORDER BY id DESC LIMIT 1")[0]


def assert_refused(message: str, status: str = "rejected") -> None:
    assert set(table_sizes().values()) == {0}
    assert last_run()[:2] == (status, message)


def members_csv(tmp_path: Path, body: bytes, name: str = "members.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(b"platform,external_id,display_name,joined_at\n" + body)
    return path


def test_a_header_of_a_million_columns_is_refused_before_it_is_parsed(database, tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(b",".join(b"column%d" % i for i in range(1_000_000)) + b"\n" + b"1," * 999_999 + b"1\n")
    assert path.stat().st_size > 14_000_000
    error, peak = imported_alone(database, "canonical", [path])
    message = "members.csv, line 1: has 1,000,000 columns, more than the 500 an import accepts (Settings)"
    assert error == message
    assert_refused(message)
    assert peak < PEAK_MB


def test_a_20_mb_value_is_refused_quoted_short_and_a_20_mb_body_is_shortened(database, tmp_path):
    huge = b"x" * 20_000_000
    path = members_csv(tmp_path, b"forum,u1,Ann," + huge + b"\n")
    error, peak = imported_alone(database, "canonical", [path])
    message = "members.csv, line 2, field joined_at: is longer than 10,000 characters"
    assert error == message
    assert_refused(message)
    assert peak < PEAK_MB
    with pytest.raises(Rejected) as err:  # a bad value is quoted cut short
        ingest.run("canonical", [members_csv(tmp_path, b"forum,u1,Ann," + b"x" * 5000 + b"\n")], CLI)
    message = f"members.csv, line 2, field joined_at: '{'x' * 199}… is not a date and time (ISO 8601, e.g. 2024-05-01T12:00:00Z)"
    assert str(err.value) == message
    assert last_run()[:2] == ("rejected", message)
    ingest.run("canonical", [FIXTURES / "canonical/platforms.csv", FIXTURES / "canonical/members.csv"], CLI)
    (tmp_path / "activities.csv").write_bytes(b"platform,external_id,author,kind,created_at,title,body\n"
                                              b"forum,a1,u1,thread,2026-03-01T10:00:00Z," + huge + b",short\n")
    with pytest.raises(Rejected) as err:
        ingest.run("canonical", [tmp_path / "activities.csv"], CLI)
    assert str(err.value) == "activities.csv, line 2, field title: is longer than 10,000 characters"
    (tmp_path / "activities.csv").write_bytes(b"platform,external_id,author,kind,created_at,title,body\n"
                                              b"forum,a1,u1,thread,2026-03-01T10:00:00Z,Hello," + huge + b"\n"
                                              b"forum,a2,u2,thread,2026-03-01T11:00:00Z,Hi,short\n")
    result = ingest.run("canonical", [tmp_path / "activities.csv"], CLI)
    assert result.notes == {"bodies shortened to the longest an import keeps": 1}
    assert rows("SELECT external_id, length(body) FROM activity ORDER BY 1") == [("a1", 100_000), ("a2", 5)]
    assert rows("SELECT notes FROM import_run ORDER BY id DESC LIMIT 1") == [(result.notes,)]
    assert ingest.history(CLI)["notes"][0] == "bodies shortened to the longest an import keeps: 1"


def test_the_limits_are_settings_only_administrators_change(database, tmp_path):
    with pytest.raises(AccessDenied):
        community.set_setting(Principal("mia", "manager"), "import_columns", 3)
    with pytest.raises(ValueError, match="import_columns is a number between 10 and 100000"):
        community.set_setting(CLI, "import_columns", 3)
    community.set_setting(CLI, "import_field_chars", 300)
    path = members_csv(tmp_path, b"forum,u1,Ann," + b"1" * 301 + b"\n")
    with pytest.raises(Rejected, match=r"^members.csv, line 2, field joined_at: is longer than 300 characters$"):
        ingest.run("canonical", [path], CLI)


def test_a_nul_byte_names_its_file_line_and_field(database, tmp_path):
    path = members_csv(tmp_path, b"forum,u1,An\x00n,2026-01-01\n")
    with pytest.raises(Rejected) as err:
        ingest.run("canonical", [FIXTURES / "canonical/platforms.csv", path], CLI)
    message = "members.csv, line 2, field display_name: contains a NUL character (byte 0x00), which text cannot hold"
    assert str(err.value) == message
    assert_refused(message)


def test_json_nested_a_hundred_thousand_deep_is_refused_without_a_traceback(database, tmp_path):
    path = tmp_path / "activities.jsonl"
    path.write_bytes(b'{"platform": "forum", "external_id": "a1"}\n{"tags": ' + b"[" * 100_000 + b"]" * 100_000
                     + b"}\n")
    error, peak = imported_alone(database, "canonical", [path])
    message = "activities.jsonl, line 2: is not a data export: its JSON nests arrays or objects too deeply"
    assert error == message
    assert_refused(message)
    assert peak < PEAK_MB


def test_an_unexpected_error_is_recorded_and_logged_and_shown_as_a_failed_import(database, monkeypatch, caplog):
    def broken(paths, platform, progress, workdir):
        return {}["no such key"]

    monkeypatch.setitem(ingest.SOURCES, "discourse", (broken, "discourse"))
    with caplog.at_level(logging.ERROR, logger="cmcore.ingest"), pytest.raises(ImportFailed) as err:
        ingest.run("discourse", [FIXTURES / "discourse/posts.json"], CLI)
    assert str(err.value) == "the import failed: KeyError: 'no such key'"
    assert_refused("the import failed: KeyError: 'no such key'", "failed")
    assert "Traceback" in caplog.text and "return {}[\"no such key\"]" in caplog.text
    assert ingest.history(CLI).row(0, named=True)["status"] == "failed"


def test_the_command_line_reads_paths_from_the_folder_it_is_called_in(database):
    env = {**os.environ, "DATABASE_URL": database}
    done = subprocess.run([str(ROOT / "dev"), "cli", "import", "canonical", "platforms.csv", "members.csv"],
                          cwd=FIXTURES / "canonical", env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert rows("SELECT count(*) FROM member") == [(4,)]
    done = subprocess.run([str(ROOT / "dev"), "cli", "import", "canonical", "nowhere.csv"],
                          cwd=FIXTURES, env=env, capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (
        2, f"error: nowhere.csv: there is no such file ({FIXTURES / 'nowhere.csv'})")


def se_dump(folder: Path, posts: bytes) -> list[Path]:
    folder.mkdir()
    (folder / "Users.xml").write_bytes((FIXTURES / "stackexchange/Users.xml").read_bytes())
    (folder / "Posts.xml").write_bytes(b'<?xml version="1.0" encoding="utf-8"?>\n' + posts)
    return [folder / "Users.xml", folder / "Posts.xml"]


@pytest.mark.parametrize(("posts", "message"), [
    (b"<posts>\n</posts>\n", "Posts.xml: holds no <row> element: not a Stack Exchange dump file, or an empty one"),
    (b"<posts>\n" + b"\n" * 3 + b"</posts", "Posts.xml, line 6: is not well-formed XML, or is cut short (unclosed token,"
     " column 0)"),
    (b'<posts>\n  <row Id="1" PostTypeId="1" Title="a&#0;b" />\n</posts>\n',
     "Posts.xml, line 3: is not well-formed XML, or is cut short (reference to invalid character number, column 37)"),
    (b'<posts>\n  <row Id="1" PostTypeId="1" Title="caf\xe9" />\n</posts>\n',
     "Posts.xml, line 3: is not well-formed XML, or is cut short (not well-formed (invalid token), column 39)"),
], ids=["rowless", "cut short", "NUL", "not UTF-8"])
def test_a_malformed_stack_exchange_file_names_the_file_and_line(database, tmp_path, posts, message):
    with pytest.raises(Rejected) as err:
        ingest.run("stackexchange", se_dump(tmp_path / "dump", posts), CLI)
    assert str(err.value) == message
    assert_refused(message)


def test_stack_exchange_rows_nested_a_hundred_thousand_deep_are_refused_in_flat_memory(database, tmp_path):
    paths = se_dump(tmp_path / "dump", b'<posts>\n  <row Id="7" PostTypeId="1">' + b"<a>" * 100_000 + b"</a>" * 100_000
                    + b"</row>\n</posts>\n")
    error, peak = imported_alone(database, "stackexchange", paths)
    message = "Posts.xml, row Id 7: holds an element <a> inside a row: a dump's rows hold none"
    assert error == message
    assert_refused(message)
    assert peak < PEAK_MB


def test_an_archive_bomb_is_refused_before_it_is_opened(database, tmp_path):
    import py7zr
    bomb = tmp_path / "site.stackexchange.com.7z"
    with py7zr.SevenZipFile(bomb, "w", filters=[{"id": py7zr.FILTER_DEFLATE}]) as out:
        out.writef(io.BytesIO(b"<posts>" + b" " * 2**28 + b"</posts>"), "Posts.xml")
        out.writef(io.BytesIO((FIXTURES / "stackexchange/Users.xml").read_bytes()), "Users.xml")
    size = (FIXTURES / "stackexchange/Users.xml").stat().st_size + 2**28 + 15
    error, peak = imported_alone(database, "stackexchange", [bomb])
    message = (f"site.stackexchange.com.7z: would expand to {size:,} bytes, more than the"
               f" {50 * bomb.stat().st_size:,} an import accepts from this archive (Settings)")
    assert error == message
    assert_refused(message)
    assert peak < PEAK_MB


def test_reading_a_stack_exchange_file_takes_the_same_memory_whatever_its_length(tmp_path):
    peaks = []
    for rows_ in (400_000, 1_200_000):
        path = tmp_path / f"Posts-{rows_}.xml"
        with path.open("w") as out:
            out.write("<posts>\n")
            out.writelines(f'  <row Id="{i}" PostTypeId="2" ParentId="1" Body="an answer of a few words" />\n'
                           for i in range(rows_))
            out.write("</posts>\n")
        code = ("import sys; from pathlib import Path; from cmcore.ingest import stackexchange\n"
                "for chunk in stackexchange._chunks(Path(sys.argv[1]), ('Id', 'PostTypeId', 'ParentId', 'Body')):\n"
                f"    pass\nprint({PEAK})")
        done = subprocess.run([sys.executable, "-c", code, str(path)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                              capture_output=True, text=True, timeout=300, check=True)
        peaks.append(float(done.stdout.split()[-1]))
    assert peaks[1] - peaks[0] < 20, peaks  # three times the rows, the same peak: one chunk at a time
