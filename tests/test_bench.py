"""The benchmark on a small community: it runs end to end, the three ways agree on every KPI, and
its figures are sane (no timing asserts: this machine's speed is not under test here)."""
from __future__ import annotations

import json
import os
import time

import psycopg

from cmcore import cli, ingest
from cmcore.bench import imports, runner
from cmcore.bench.pages import ALERTS, PAGES

BOARDS = ["leaderboard (week)", "leaderboard (30 days)", "leaderboard (month)", "leaderboard (quarter)",
          "leaderboard (91 days)", "leaderboard (year)"]


def test_bench_runs_every_page_three_ways_and_they_agree(database, tmp_path, capsys):
    scratch = f"cmt_bench_{os.getpid()}"
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--members", "500", "--activities", "50000", "--days", "400", "--runs", "2",
                     "--import-activities", "400", "--import-members", "30", "--score-texts", "300",
                     "--database", scratch,
                     "--out", str(out)]) == 0
    report = json.loads(out.read_text())

    imported = report["import"]  # the importer's throughput, on a canonical CSV file of its own
    assert imported["rows"] == 1 + 30 + 400 and imported["counts"]["activities"]["inserted"] == 400
    assert imported["first_s"] > 0 and imported["write_floor_s"] > 0
    scored = report["scoring"]  # the language and sentiment models' throughput
    assert (scored["texts"], scored["unscored"]) == (300, 0) and scored["scored_per_s"] > 0
    assert 45_000 <= report["activities"] <= 55_000 and report["members"] == 500
    assert report["load"]["rows"] > report["activities"] and report["load"]["rows_per_s"] > 0
    assert 0.05 < report["cmcore_peak_rss_gb"] < 4
    pages = report["pages"]
    assert list(pages) == [*PAGES, *BOARDS, ALERTS]
    alerts = pages.pop(ALERTS)  # evaluated by cmcore only
    assert alerts["warm_s"] > 0 and alerts["cold_s"] > 0 and "pandas_s" not in alerts
    for name, page in pages.items():
        assert page["pandas_differs"] == [] and page["sql_differs"] == [], name
        assert page["reads"] >= 1, name
        assert all(page[k] > 0 for k in ("cold_s", "arrow_s", "warm_s", "fresh_s", "written_s", "pandas_s",
                                         "sql_s")), name
        assert all(page[f"after_{e}_s"] > 0 for e in ("append", "change", "merge")), name
    after = report["after"]  # each page's next view after 3 events of each kind, none read whole again
    assert {e: (after[e]["events"], after[e]["fallbacks"]) for e in ("append", "change", "merge")} == {
        e: (3 * (len(pages) + 1), 0) for e in ("append", "change", "merge")}
    assert {e: after[e]["differs_from_cold"] for e in ("append", "change", "merge")} == {
        "append": [], "change": [], "merge": []}  # the refreshed pages show what a cold rebuild shows
    # the process's peak following each kind of event, and while it rebuilt every page cold after them
    assert all(0.05 < after[e][k] < 4 for e in ("append", "change", "merge") for k in ("peak_rss_gb", "check_peak_rss_gb"))
    assert after["peak_rss_gb"] == max(after[e]["peak_rss_gb"] for e in ("append", "change", "merge"))
    assert report["cmcore_peak_rss_gb"] == max(report["cmcore_cold_peak_rss_gb"], after["peak_rss_gb"])

    printed = capsys.readouterr().out
    assert "| leaderboard (year) |" in printed and f"written to {out}" in printed and "after a write ms" in printed
    assert "after 10,000 new ms" in printed and "; peak memory following them " in printed
    assert "Import (canonical CSV, 431 rows, medians)" in printed
    assert "Scoring (300 distinct texts, py3langid" in printed
    with psycopg.connect(database, autocommit=True) as conn:  # the scratch databases are gone
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname IN (%s, %s)",
                            [scratch, f"{scratch}_import"]).fetchone() is None


def test_bench_only_cmcore_skips_the_other_ways_and_prints_dashes(database, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--members", "50", "--activities", "2000", "--days", "60", "--runs", "1",
                     "--import-activities", "0", "--no-changes", "--only-cmcore", "--pages", "growth",
                     "--database", f"cmt_bench_only_{os.getpid()}", "--out", str(out)]) == 0
    pages = json.loads(out.read_text())["pages"]
    assert list(pages) == ["growth"]
    assert pages["growth"]["cold_s"] > 0 and "pandas_s" not in pages["growth"] and "sql_s" not in pages["growth"]
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| growth |"))
    assert row.endswith("| – | – | – | – | – |")


def test_bench_pages_are_chosen_by_the_start_of_their_names():
    pages = dict.fromkeys([*PAGES, *BOARDS, ALERTS])
    assert list(runner.chosen(pages, ("leaderboard", "rep"))) == ["reputation", *BOARDS]
    assert list(runner.chosen(pages, ("alerts",))) == [ALERTS]
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
    assert "write_floor_s" not in discourse  # measured once, beside the canonical import
    assert "| canonical-csv | 521 |" in capsys.readouterr().out
    with psycopg.connect(database, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [scratch]).fetchone() is None


def test_the_sync_benchmark_syncs_every_post_through_the_local_server(database, tmp_path):
    scratch = f"cmt_bench_sync_{os.getpid()}"
    out = tmp_path / "sync.json"
    assert cli.main(["bench-imports", "--formats", "sync-discourse", "--members", "20", "--activities", "500",
                     "--database", scratch, "--out", str(out)]) == 0
    synced = json.loads(out.read_text())["formats"]["sync-discourse"]
    assert synced["rows"] == 500  # the posts read from /posts.json's ten pages
    # 500 activities (25 topics of 20 posts), 20 members, the likes of the 334 posts that have some (n % 3)
    assert synced["counts"] == {"rows added or changed": 500 + 20 + 334}
    assert 0 < synced["again_s"] < synced["first_s"] and synced["megabytes"] > 0


class Clock:
    """time.perf_counter standing still but for the seconds the measured work is said to take."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def takes(self, *seconds: float):
        """A function that takes each of `seconds` in turn, one per call."""
        left = list(seconds)

        def work() -> None:
            self.now += left.pop(0)
        return work


def test_timings_are_medians_of_the_runs(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(time, "perf_counter", clock)
    assert runner.median_time(clock.takes(3, 1, 2), 3) == 2  # not the mean (2), not the first (3): 1, 2, 3
    assert runner.median_time(clock.takes(5, 1, 9, 2), 4) == 3.5  # 1, 2, 5, 9
    cold, raw = runner.paired_medians(clock.takes(5, 1, 3), clock.takes(2, 8, 4), 3, lambda: None, seconds=0)
    assert (cold, raw) == (3, 4)


def test_import_throughput_is_rows_over_the_median_seconds(database, monkeypatch):
    """521 rows (1 platform, 20 members, 500 activities) imported in 2, 6 and 4 s, again in 1, 3 and
    2 s, the write floor 0.5, 0.25 and 1 s: medians 4, 2 and 0.5 s, so 130.25, 260.5 and 1,000 rows/s."""
    clock = Clock()
    monkeypatch.setattr(time, "perf_counter", clock)
    steps, floors = [2, 1, 6, 3, 4, 2], [0.5, 0.25, 1.0]
    real_run = ingest.run

    def run(*args, **kwargs):
        result = real_run(*args, **kwargs)
        clock.now += steps.pop(0)
        return result

    monkeypatch.setattr(ingest, "run", run)
    monkeypatch.setattr(imports, "write_floor", lambda: floors.pop(0))
    report = imports.run(["canonical-csv"], 20, 500, f"cmt_bench_clock_{os.getpid()}", lambda _: None, runs=3)
    csv = report["formats"]["canonical-csv"]
    assert (csv["rows"], csv["first_s"], csv["again_s"], csv["write_floor_s"]) == (521, 4, 2, 0.5)
    assert (csv["first_rows_per_s"], csv["again_rows_per_s"], csv["write_floor_rows_per_s"]) == (130.25, 260.5, 1000)


def test_the_phases_start_once_freed_memory_has_gone_back(monkeypatch):
    """The benchmark waits at least PURGE_S, then while the resident size still falls, before it
    counts a phase's peak: the previous phase's freed pages are not the app's."""
    sizes = iter([2.74, 2.60, 2.40, 2.30, 2.295, 2.29, 2.0])
    monkeypatch.setattr(runner, "resident_gb", lambda: next(sizes))
    slept: list[float] = []
    assert runner.settle(slept.append) == 2.295  # 2.30 → 2.295 fell by less than 10 MB in a second
    assert slept == [runner.PURGE_S, 1, 1, 1, 1]
    sizes = iter([3.0 - n / 10 for n in range(100)])  # still falling: not past SETTLE_MAX_S
    slept.clear()
    runner.settle(slept.append)
    assert sum(slept) == runner.SETTLE_MAX_S
