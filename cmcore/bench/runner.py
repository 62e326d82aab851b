"""Run the benchmark: a demo community generated into a fresh database, then for every page cmcore
cold and warm, the raw Arrow transfer of the rows it reads, pandas + read_sql and SQL aggregations,
with medians, ratios, the load throughput and peak memory, written to a JSON report."""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import psycopg
import sqlalchemy as sa

from cmcore import community, db, demo, frames, migrate
from cmcore.access import CLI
from cmcore.bench import changes, imports, pandas_way, scoring, sql_way
from cmcore.bench.pages import Values, Window, alternative_pages, cmcore_pages, reads

Say = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    members: int = 100_000
    activities: int = 10_000_000
    days: int = 365
    seed: int = 42
    runs: int = 5  # warm runs of cmcore; cold runs and the alternatives get max(3, runs // 2)
    reuse: bool = False  # keep the bench database of an earlier run if it holds a community
    keep: bool = False  # leave the bench database behind (for --reuse)
    database: str = "cm_bench"  # the scratch database, created on the configured server
    pages: tuple[str, ...] = ()  # only the pages whose names start with one of these (all when empty)
    import_activities: int = 1_000_000  # the import throughput's canonical CSV file (0: not measured)
    import_members: int = 50_000
    score_texts: int = 20_000  # distinct texts the language and sentiment models score (0: not measured)
    changes: bool = True  # each page's next view after new, changed and merged activities (changes the community)
    alternatives: bool = True  # also pandas + read_sql and SQL aggregations (False: cmcore alone, for large runs)

    @property
    def slow_runs(self) -> int:
        return max(3, self.runs // 2)


def chosen(pages: dict[str, Callable], only: tuple[str, ...]) -> dict[str, Callable]:
    """The pages whose names start with one of `only` (all of them when it is empty)."""
    return {name: fn for name, fn in pages.items() if not only or name.startswith(only)}


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def median_time(fn: Callable[[], object], runs: int, before: Callable[[], None] = lambda: None) -> float:
    times = []
    for _ in range(runs):
        before()
        times.append(timed(fn)[0])
    return statistics.median(times)


def paired_medians(first: Callable[[], object], second: Callable[[], object], runs: int,
                   before: Callable[[], None], seconds: float = 1.0, most: int = 300) -> tuple[float, float]:
    """The medians of `first` (each run after `before`) and `second`, run in turns so that both see
    the machine alike: `runs` pairs, and more while they fit in `seconds` (a page of a few
    milliseconds gets a few hundred; its median of three moved by half from one run to the next)."""
    times: tuple[list[float], list[float]] = ([], [])
    deadline = time.perf_counter() + seconds
    while len(times[0]) < runs or (time.perf_counter() < deadline and len(times[0]) < most):
        before()
        times[0].append(timed(first)[0])
        times[1].append(timed(second)[0])
    return statistics.median(times[0]), statistics.median(times[1])


def fresh_database(opts: Options, say: Say) -> tuple[str, dict]:
    """The bench database on the configured server, filled with the demo community (or the one an
    earlier run kept, with --reuse); returns its URL and the load figures."""
    name = opts.database
    url, owner = db.urls(name)
    with psycopg.connect(db.owner_url(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not opts.reuse:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if not exists or not opts.reuse:
            conn.execute(f'CREATE DATABASE "{name}"')
    db.use(url, owner)
    migrate.apply()
    frames.clear()
    if opts.reuse and not demo.is_empty():
        say(f"reusing the community already in {name}")
        return url, {}
    spec = demo.DemoSpec(members=opts.members, days=opts.days, activities=opts.activities, seed=opts.seed)
    say("generating the demo community")
    generate_s, tables = timed(lambda: demo.generate(spec))
    rows = sum(f.height for f in tables.values())
    say(f"loading {rows:,} rows with COPY")
    load_s, _ = timed(lambda: demo.load(spec, CLI, with_users=False, tables=tables))
    say("VACUUM ANALYZE (so the SQL way gets its best plans)")
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url, {"generate_s": generate_s, "load_s": load_s, "rows": rows, "rows_per_s": rows / load_s}


def data_end() -> date:
    """The day after the latest activity: the benchmark looks at the 30 days before it."""
    with db.engine().connect() as conn:
        latest = conn.execute(sa.text("SELECT max(created_at) FROM activity")).scalar_one()
    return (latest.astimezone(UTC) + timedelta(days=1)).date()


def arrow_transfer(conn: adbc.Connection, sent: list[tuple[str, object]]) -> None:
    """Fetch the queries' rows as Arrow tables on an open connection (cmcore keeps its own open
    too), nothing more: the floor of a cold page."""
    with conn.cursor() as cur:
        for sql, params in sent:
            cur.execute(sql, parameters=params)
            cur.fetch_arrow_table()


def measure_cmcore(url: str, end: date, runs: int, slow_runs: int, only: tuple[str, ...] = ()) -> dict:
    """cmcore's side, run in a process of its own so its peak memory is the app's: per page, the
    cold median (empty cache), the raw Arrow transfer of what it reads, the warm median, the
    median right after a write to a table it does not read, and the headline values; only the
    pages `chosen` by `only`."""
    db.use(url)
    db.follow_changes()
    window = Window(end, community.timezone())
    out: dict = {}
    with adbc.connect(url, autocommit=True) as raw_conn:
        for name, compute in chosen(cmcore_pages(window), only).items():
            sent = reads(compute)
            cold, raw = paired_medians(compute, lambda s=sent: arrow_transfer(raw_conn, s), slow_runs, frames.clear)
            values = compute()
            warm = median_time(compute, runs)
            fresh = median_time(compute, runs, before=frames.forget_results)
            written = median_time(compute, runs, before=reward_budget_written)
            out[name] = {"cold_s": cold, "arrow_s": raw, "warm_s": warm, "fresh_s": fresh, "written_s": written,
                         "values": values, "reads": len(sent)}
    frames.clear()
    return {"pages": out, "peak_rss_gb": peak_rss_gb()}


PURGE_S = 5  # the allocator starts handing freed pages back within its 4 s decay (cmcore/__init__.py)
SETTLE_MAX_S = 30
SETTLED_GB = 0.01  # falling by less than this in a second: what was freed has gone back


def settle(sleep: Callable[[float], None] = time.sleep) -> float:
    """Wait until the memory freed before has gone back to the system, and return the resident
    size then (GB): at least PURGE_S, then while it still falls by SETTLED_GB a second, at most
    SETTLE_MAX_S. The allocator's decay is gradual: 5 s after the benchmark rebuilt every page cold
    at 10M activities, 0.4–0.5 GB of it were still resident (2.67–2.74 GB, 2.02–2.25 GB 5 s later),
    and counted in the next phase's peak as if the app held them."""
    sleep(PURGE_S)
    waited, now = PURGE_S, resident_gb()
    while waited < SETTLE_MAX_S:
        sleep(1)
        waited, before, now = waited + 1, now, resident_gb()
        if before - now < SETTLED_GB:
            break
    return now


def resident_gb() -> float:
    """This process's resident memory now (Linux's VmRSS; its peak where there is none)."""
    return _status_gb("VmRSS") or peak_rss_gb()


def measure_after_changes(url: str, end: date, runs: int, only: tuple[str, ...] = ()) -> dict:
    """Per page, the median of its next view after each of `changes`'s events (10,000 activities
    imported, 10,000 changed, a merge: this changes the community), the page warm before each;
    then whether every page shows what a cold rebuild shows, and how many refreshes could not
    follow a change; and this process's peak memory while it follows each kind of event (the
    app's), apart from its peak while it rebuilds every page cold beside what it just let go (the
    check's, the benchmark's own)."""
    db.use(url)
    db.follow_changes()
    window = Window(end, community.timezone())
    pages = chosen(cmcore_pages(window), only)
    out: dict = {name: {} for name in pages}
    report: dict = {"pages": out}
    for event, make in (("append", lambda n: changes.append(window.now, seed=n)),
                        ("change", lambda n: changes.change(seed=n)), ("merge", changes.merge)):
        fallbacks, took, n = changes.fallbacks(), [], 0
        settle()  # the previous check's freed pages go back first: its peak is its own
        reset_peak()
        for name, compute in pages.items():
            times = []
            for _ in range(runs):
                compute()
                took.append(make(n))
                n += 1
                times.append(timed(compute)[0])
            out[name][f"after_{event}_s"] = statistics.median(times)
        seen = {name: compute() for name, compute in pages.items()}
        following = peak_rss_gb()
        reset_peak()
        frames.clear()
        differs = [name for name, compute in pages.items() if agree(compute(), seen[name])]
        report[event] = {"events": n, "median_event_s": statistics.median(took), "differs_from_cold": differs,
                         "fallbacks": changes.fallbacks() - fallbacks, "peak_rss_gb": following,
                         "check_peak_rss_gb": peak_rss_gb()}
    frames.clear()
    events = [report[e] for e in ("append", "change", "merge")]
    return report | {"peak_rss_gb": max(e["peak_rss_gb"] for e in events),
                     "check_peak_rss_gb": max(e["check_peak_rss_gb"] for e in events)}


def reward_budget_written() -> None:
    """A write to a table no page's data reads, as staff make all day (a reward budget), from this
    process: the next view asks the server for the versions once, and finds its caches valid."""
    with db.transaction() as conn:
        conn.execute(sa.text("INSERT INTO reward_budget VALUES ('2000-01', 'EUR', 0) ON CONFLICT (period, currency)"
                             " DO UPDATE SET amount_minor = reward_budget.amount_minor + 1"))


def peak_rss_gb() -> float:
    """This process's peak resident memory. Linux's VmHWM counts from the exec: getrusage's
    maxrss would report the parent's size at the fork when the parent is bigger (it holds the
    community it just generated)."""
    return _status_gb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _status_gb(field: str) -> float | None:
    """A size in Linux's /proc/self/status (kB, as maxrss), in GB; None elsewhere."""
    with suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1e6
    return None


def reset_peak() -> None:
    """Start `peak_rss_gb` again from the current resident memory (Linux's clear_refs; elsewhere
    the peak keeps counting from the start)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def measure_cmcore_apart(url: str, end: date, opts: Options, measure: str = "measure_cmcore") -> dict:
    """`measure_cmcore` (or `measure_after_changes`) in a fresh Python process (a subprocess, not
    multiprocessing: Streamlit's AppTest replaces `__main__`, which a spawned worker would re-run)."""
    runs = (opts.runs, opts.slow_runs) if measure == "measure_cmcore" else (opts.slow_runs,)
    code = (f"import json, sys; from datetime import date; from cmcore.bench.runner import {measure}; "
            f"print(json.dumps({measure}(sys.argv[1], date.fromisoformat(sys.argv[2]), "
            f"{', '.join(f'int(sys.argv[{3 + i}])' for i in range(len(runs)))}, tuple(sys.argv[{3 + len(runs)}:]))))")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code, url, end.isoformat(), *map(str, runs), *opts.pages],
                          capture_output=True, text=True, cwd=root, env=os.environ | {"PYTHONPATH": str(root)})
    if done.returncode:
        raise RuntimeError(f"the cmcore measurement failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def agree(ours: Values, theirs: Values) -> list[str]:
    """The KPIs where another way's value differs from cmcore's (floats to 1e-6 relative)."""
    def same(a, b) -> bool:
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        if a is None or b is None or isinstance(a, str) or isinstance(b, str):
            return a == b
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(a)))
    return [key for key, value in theirs.items() if not same(ours.get(key), value)]


def run(opts: Options, say: Say = print) -> dict:
    """The whole benchmark; returns the report (see README, Performance)."""
    home = db.urls()
    url, load = fresh_database(opts, say)
    try:
        end = data_end()
        window = Window(end, community.timezone())
        with db.engine().connect() as conn:
            activities = conn.execute(sa.text("SELECT count(*) FROM activity")).scalar_one()
            members = conn.execute(sa.text("SELECT count(*) FROM member")).scalar_one()
        say(f"{activities:,} activities, {members:,} members; cmcore cold and warm, page by page")
        ours = measure_cmcore_apart(url, end, opts)
        pages = {name: {k: v for k, v in page.items() if k != "values"} for name, page in ours["pages"].items()}
        for way, module in (("pandas", pandas_way), ("sql", sql_way)) if opts.alternatives else ():
            for name, compute in chosen(alternative_pages(module, window), opts.pages).items():
                say(f"{way}: {name}")
                values = compute()  # also warms PostgreSQL's buffers
                pages[name][f"{way}_s"] = median_time(compute, opts.slow_runs)
                pages[name][f"{way}_differs"] = agree(ours["pages"][name]["values"], values)
        after = {}
        if opts.changes:
            say("cmcore after new, changed and merged activities, page by page")
            after = measure_cmcore_apart(url, end, opts, "measure_after_changes")
            for name, page in after.pop("pages").items():
                pages[name] |= page
        imported = (imports.run(["canonical-csv"], opts.import_members, opts.import_activities,
                                f"{opts.database}_import", say, runs=opts.slow_runs)["formats"]["canonical-csv"]
                    if opts.import_activities else {})
        say("scoring: language and sentiment models")
        scored = scoring.run(opts.score_texts) if opts.score_texts else {}
        for page in pages.values():
            page["cold_vs_arrow"] = page["cold_s"] / page["arrow_s"]
            if "sql_s" in page:
                page |= {"pandas_vs_warm": page["pandas_s"] / page["warm_s"],
                         "sql_vs_warm": page["sql_s"] / page["warm_s"],
                         "sql_vs_fresh": page["sql_s"] / page["fresh_s"],
                         "sql_vs_cold": page["sql_s"] / page["cold_s"]}
        return {"when": datetime.now(UTC).isoformat(timespec="seconds"), "options": asdict(opts),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "activities": activities, "members": members, "window_end": end.isoformat(),
                "load": load, "import": imported, "scoring": scored, "after": after,
                "cmcore_peak_rss_gb": max(ours["peak_rss_gb"], after.get("peak_rss_gb", 0.0)),
                "cmcore_cold_peak_rss_gb": ours["peak_rss_gb"], "pages": pages}
    finally:
        db.use(*home)
        frames.clear()
        if not opts.keep:
            with psycopg.connect(db.owner_url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{opts.database}" WITH (FORCE)')


def table(report: dict) -> str:
    """The report as Markdown tables (docs/speed.md's summary): each page cold, warm, on new filters,
    after an unrelated write, against pandas and SQL; then after new, changed and merged activities."""
    ms = lambda p, k: f"{p[k] * 1000:.1f}" if k in p else "–"  # noqa: E731 — older reports lack some columns
    s = lambda p, k, f: format(p[k], f) if k in p else "–"  # noqa: E731 — and --only-cmcore the alternatives
    lines = ["| page | cold s | Arrow s | cold/Arrow | warm ms | new filters ms | after a write ms | pandas s "
             "| ×pandas | SQL s | ×SQL | ×SQL new filters |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, p in report["pages"].items():
        lines.append(f"| {name} | {p['cold_s']:.2f} | {p['arrow_s']:.3f} | {p['cold_vs_arrow']:.2f} | "
                     f"{p['warm_s'] * 1000:.2f} | {p['fresh_s'] * 1000:.1f} | {ms(p, 'written_s')} | "
                     f"{s(p, 'pandas_s', '.3f')} | {s(p, 'pandas_vs_warm', '.0f')} | {s(p, 'sql_s', '.3f')} | "
                     f"{s(p, 'sql_vs_warm', '.1f')} | {s(p, 'sql_vs_fresh', '.1f')} |")
    if after := report.get("after"):
        lines += ["", "| page | new filters ms | after 10,000 new ms | ×new filters | after 10,000 changed ms "
                      "| after a merge ms |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for name, p in report["pages"].items():
            ratio = f"{p['after_append_s'] / p['fresh_s']:.1f}" if "after_append_s" in p else "–"
            lines.append(f"| {name} | {ms(p, 'fresh_s')} | {ms(p, 'after_append_s')} | {ratio} | "
                         f"{ms(p, 'after_change_s')} | {ms(p, 'after_merge_s')} |")
        for event in ("append", "change", "merge"):
            e = after[event]
            peak = (f"; peak memory following them {e['peak_rss_gb']:.2f} GB, rebuilding every page cold beside"
                    f" what was let go {e['check_peak_rss_gb']:.2f} GB") if "peak_rss_gb" in e else ""
            lines.append(f"\n{event}: {e['events']} events, median {e['median_event_s']:.2f} s each; fallbacks "
                         f"{e['fallbacks']}; pages that differ from a cold rebuild: {e['differs_from_cold'] or 'none'}"
                         f"{peak}.")
    load = report["load"]
    if load:
        lines.append(f"\nLoad (COPY, {load['rows']:,} rows): {load['load_s']:.0f} s, {load['rows_per_s']:,.0f} rows/s.")
    i = report["import"]
    if i:
        lines.append(f"Import (canonical CSV, {i['rows']:,} rows, medians): first {i['first_s']:.1f} s,"
                     f" {i['first_rows_per_s']:,.0f} rows/s; again {i['again_s']:.1f} s,"
                     f" {i['again_rows_per_s']:,.0f} rows/s; write floor {i['write_floor_rows_per_s']:,.0f} rows/s.")
    if report.get("scoring"):
        lines.append(scoring.line(report["scoring"]))
    lines.append(f"cmcore peak memory: {report['cmcore_peak_rss_gb']:.2f} GB (cold, warm and new filters,"
                 f" page by page: {report['cmcore_cold_peak_rss_gb']:.2f} GB).")
    differs = {n: p[f"{w}_differs"] for n, p in report["pages"].items() for w in ("pandas", "sql")
               if p.get(f"{w}_differs")}
    if differs:
        lines.append(f"Values that differ from cmcore's: {differs}")
    return "\n".join(lines)


def write(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
