"""The benchmark on a small community: it runs end to end, the three ways agree on every KPI, and
its figures are sane (no timing asserts: this machine's speed is not under test here)."""
from __future__ import annotations

import json
import os

import psycopg

from cmcore import cli
from cmcore.bench import runner
from cmcore.bench.pages import PAGES

BOARDS = ["leaderboard (week)", "leaderboard (30 days)", "leaderboard (month)", "leaderboard (quarter)",
          "leaderboard (91 days)", "leaderboard (year)"]


def test_bench_runs_every_page_three_ways_and_they_agree(database, tmp_path, capsys):
    scratch = f"cmt_bench_{os.getpid()}"
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--members", "500", "--activities", "50000", "--days", "400", "--runs", "2",
                     "--import-activities", "400", "--import-members", "30", "--database", scratch,
                     "--out", str(out)]) == 0
    report = json.loads(out.read_text())

    imported = report["import"]  # the importer's throughput, on a canonical CSV file of its own
    assert imported["rows"] == 1 + 30 + 400 and imported["counts"]["activities"]["inserted"] == 400
    assert imported["first_rows_per_s"] == 431 / imported["first_s"] and imported["write_floor_s"] > 0
    assert 45_000 <= report["activities"] <= 55_000 and report["members"] == 500
    assert report["load"]["rows"] > report["activities"] and report["load"]["rows_per_s"] > 0
    assert 0.05 < report["cmcore_peak_rss_gb"] < 4
    pages = report["pages"]
    assert list(pages) == [*PAGES, *BOARDS]
    for name, page in pages.items():
        assert page["pandas_differs"] == [] and page["sql_differs"] == [], name
        assert page["reads"] >= 1, name
        assert all(page[k] > 0 for k in ("cold_s", "arrow_s", "warm_s", "fresh_s", "written_s", "pandas_s",
                                         "sql_s")), name
        assert page["sql_vs_warm"] == page["sql_s"] / page["warm_s"]

    printed = capsys.readouterr().out
    assert "| leaderboard (year) |" in printed and f"written to {out}" in printed and "after a write ms" in printed
    assert "Import (canonical CSV, 431 rows, medians)" in printed
    with psycopg.connect(database, autocommit=True) as conn:  # the scratch databases are gone
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname IN (%s, %s)",
                            [scratch, f"{scratch}_import"]).fetchone() is None


def test_bench_pages_are_chosen_by_the_start_of_their_names():
    pages = dict.fromkeys([*PAGES, *BOARDS])
    assert list(runner.chosen(pages, ("leaderboard", "rep"))) == ["reputation", *BOARDS]
    assert list(runner.chosen(pages, ())) == list(pages)
    assert runner.chosen(pages, ("nothing",)) == {}


def test_import_benchmark_counts_every_row_and_measures_the_write_floor(database, tmp_path, capsys):
    scratch = f"cmt_bench_imports_{os.getpid()}"
    out = tmp_path / "imports.json"
    assert cli.main(["bench-imports", "--formats", "canonical-csv", "discourse", "--members", "20",
                     "--activities", "500", "--database", scratch, "--out", str(out)]) == 0
    report = json.loads(out.read_text())

    csv, discourse = report["formats"]["canonical-csv"], report["formats"]["discourse"]
    assert csv["rows"] == 1 + 20 + 500  # platforms, members, activities
    assert csv["counts"]["activities"] == {"inserted": 500, "updated": 0, "skipped": 0}
    assert all(csv[k] > 0 for k in ("first_s", "again_s", "write_floor_s"))
    assert csv["write_floor_rows_per_s"] == 500 / csv["write_floor_s"]
    assert "write_floor_s" not in discourse  # measured once, beside the canonical import
    assert "| canonical-csv | 521 |" in capsys.readouterr().out
    with psycopg.connect(database, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [scratch]).fetchone() is None
