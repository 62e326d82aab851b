"""`./dev mutate [MODULE…]`: mutation testing (mutmut 2) of the modules that hold money, access and
numbers, each against the tests relevant to it (docs/mutation.md says why mutmut, and what survived).

The run works on a copy of the work tree in .data/mutation/tree (mutmut 2 edits the files it
mutates in place, so the work tree stays untouched and usable while a run goes on), with one
embedded PostgreSQL server for every mutant's tests (TEST_DATABASE_URL), one process at a time.
Its cache (.data/mutation/tree/.mutmut-cache) keeps killed mutants between runs and tries the
survivors again once the tests change. `./dev mutate --report` prints the score per module.
"""
from __future__ import annotations

import ast
import difflib
import hashlib
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".data" / "mutation"
TREE = WORK / "tree"
CACHE = TREE / ".mutmut-cache"


class Target(NamedTuple):
    path: str
    tests: tuple[str, ...]
    functions: frozenset[str] | None = None  # only these top-level functions and classes, and "Class.method"s


_I18N = "tests/test_i18n.py::test_every_interface_string_is_translated_into_french"  # reads labels and definitions


def _kpis(tests: str) -> tuple[str, ...]:
    return tuple(f"tests/test_kpis.py::{name}" for name in tests.split())


# Each module's files, each against the tests relevant to it; in the order a run takes them: fast
# pure modules first.
MODULES: dict[str, tuple[Target, ...]] = {
    "periods": (Target("cmcore/periods.py", ("tests/test_periods.py",)),),
    "exports": (Target("cmcore/exports.py", ("tests/test_exports.py",)),),
    "access": (Target("cmcore/access.py", ("tests/test_access.py",
                                            "tests/test_auth.py::test_roles_see_their_pages_only")),),
    "kpis": (
        Target("cmcore/kpis/growth.py", _kpis("test_dau_wau_mau_and_stickiness test_participation_new_and_inactive_"
                                              "contributors test_growth_on_an_empty_period test_member_days_are_"
                                              "distinct_and_sorted_packed_or_not_and_active_days_walk_them")),
        Target("cmcore/kpis/retention.py", _kpis("test_new_member_retention test_cohort_retention")),
        Target("cmcore/kpis/responsiveness.py", _kpis("test_time_to_first_response_sla_and_backlog "
                                                      "test_hours_keep_fractions_of_a_second test_the_sla_is_a_setting")),
        Target("cmcore/kpis/moderation.py", _kpis("test_moderation_figures test_moderation_on_one_platform_and_at_"
                                                  "the_period_bounds test_member_names_finds_the_known_ids_once")),
        Target("cmcore/kpis/reputation.py", ("tests/test_kpis.py", "-k", "sentiment or alert or reputation or volume")),
        Target("cmcore/kpis/content.py", _kpis("test_engagement_by_tag_author_and_hour_of_week "
                                               "test_anonymous_up_votes_within_the_week_are_engagement "
                                               "test_groups_of_equal_engagement_go_by_name "
                                               "test_engagement_follows_the_time_zone test_event_attendance_and_lift")),
        Target("cmcore/kpis/monetisation.py", ("tests/test_monetisation.py",)),
        Target("cmcore/kpis/__init__.py", ("tests/test_kpis.py", "tests/test_overview.py")),
    ),
    "money": (Target("cmcore/money.py", ("tests/test_money.py", "tests/test_monetisation.py", _I18N)),),
    "rewards": (Target("cmcore/rewards.py", ("tests/test_rewards.py",)),),
    # auth's timing test compares medians of bcrypt checks: on a loaded machine it fails now and then,
    # which would count a mutant as caught that no test catches (docs/mutation.md).
    "auth": (Target("cmcore/auth.py", ("tests/test_auth.py", "--deselect", "tests/test_auth.py::test_sign_in_takes_the_"
                                       "same_time_for_an_unknown_a_locked_user_and_a_wrong_password")),),
    "leaderboard": (Target("cmcore/leaderboard.py", ("tests/test_leaderboard.py",), frozenset({
        "Scoring", "wide", "monthly", "_month_sums", "whole_months", "in_period", "scores", "love_horizon", "love",
        "reach", "_reach", "Reached.rows", "Reached.after", "board", "explanation"})),),
}


# Surviving mutants no test can tell from the code, with why: (file, the line as written, the line
# as the mutant writes it, "" for a line removed) → the reason. docs/mutation.md quotes them.
EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("cmcore/periods.py", "nxt = (first + timedelta(days=32)).replace(day=1)",
     "nxt = (first + timedelta(days=33)).replace(day=1)"):
        "any step of 31 to 58 days from a month's first day lands in the next month",
    ("cmcore/periods.py", 'return Period(first, tomorrow) if name == "this_month" else Period(first - timedelta(days=1), '
                          'first).month_of_last_day()',
     'return Period(first, tomorrow) if name == "this_month" else Period(first - timedelta(days=2), '
     'first).month_of_last_day()'):
        "the period's last day is the day before `first` whatever it starts on: the same month",
    ("cmcore/periods.py", "before = (first - timedelta(days=1)).replace(day=1)",
     "before = (first - timedelta(days=2)).replace(day=1)"):
        "`first` opens a quarter: one or two days before it is the previous quarter's last month either way",
    ("cmcore/periods.py", "before = (first - timedelta(days=1)).replace(day=1)",
     "before = (first - timedelta(days=1)).replace(day=2)"):
        "only `before`'s year and month are read",
    ("cmcore/periods.py", "return Period(date(before.year, 3 * ((before.month - 1) // 3) + 1, 1), first)",
     "return Period(date(before.year, 3 * ((before.month - 2) // 3) + 1, 1), first)"):
        "`before` is a quarter's last month (3, 6, 9, 12): (m - 1) // 3 == (m - 2) // 3 for each",
    ("cmcore/access.py", "sponsor_id: int | None = None", "sponsor_id: int & None = None"):
        "an annotation, never evaluated (`from __future__ import annotations`)",
    ("cmcore/kpis/growth.py", 'spans_ = spans.lazy().filter((pl.col("day") >= period.start - timedelta(days=29)) & '
                              '(pl.col("day") < period.end))',
     'spans_ = spans.lazy().filter((pl.col("day") >= period.start - timedelta(days=30)) & (pl.col("day") < period.end))'):
        "a span from 30 days before the period ends (at most 30 days later, or at the next active day) by its "
        "first day: its +1 and -1 both fall before the period's days",
    ("cmcore/kpis/responsiveness.py", 'how="left").filter(~pl.col("is_bot").fill_null(False))',
     'how="left").filter(~pl.col("is_bot").fill_null(True))'):
        "a responder is an activity's member_id, a foreign key of member: the join always finds them",
    ("cmcore/kpis/monetisation.py", 'frame = pl.DataFrame(rows, schema={"campaign_id": pl.Int64, "kind": pl.String, '
                                    '"label": pl.String,',
     'frame = pl.DataFrame(rows, schema={"campaign_id": pl.Int64, "XXkindXX": pl.String, "label": pl.String,'):
        "a deliverable's kind rides along in the frame, but no page, download or HTML report reads it",
    ("cmcore/kpis/__init__.py", "if lo is None or (hi - lo) // QUARTER_HOUR_US >= utc.len():",
     "if lo is None or (hi - lo) / QUARTER_HOUR_US >= utc.len():"):
        "for a whole number n, floor(x) >= n exactly when x >= n",
    ("cmcore/kpis/__init__.py", "last_day = (starts + timedelta(microseconds=QUARTER_HOUR_US - 1)).dt.convert_time_zone(tz).dt.date()",
     "last_day = (starts + timedelta(microseconds=QUARTER_HOUR_US - 2)).dt.convert_time_zone(tz).dt.date()"):
        "zone offsets are whole seconds: a quarter hour's last two microseconds fall on the same local day",
    ("cmcore/money.py", 'return frames.result(f"monetisation:{s!r}", lambda: _monetisation(principal, s))',
     'return frames.result(f"XXmonetisation:{s!r}XX", lambda: _monetisation(principal, s))'):
        "a cache key, used nowhere else: another name keeps results apart the same way",
    ("cmcore/rewards.py", "if len(text) > 15 or int(text) > MAX_MINOR:", "if len(text) > 16 or int(text) > MAX_MINOR:"):
        "the length only spares converting a long text: any 15 or 16 digits (no leading zero) pass 10^13 anyway",
    ("cmcore/auth.py", "lang: str | None = None  # the interface language chosen (None: the browser's)",
     "lang: str & None = None  # the interface language chosen (None: the browser's)"):
        "an annotation, never evaluated (`from __future__ import annotations`)",
    ("cmcore/auth.py", "refusal = None", 'refusal = ""'):
        "both are false, and a limit that is over replaces it before it is read",
}


def runner(target: Target) -> str:
    """The test command of a mutant: its file's tests, stopping at the first failure. mutmut 2
    counts exit status 1 only as a kill; a mutant that breaks an import (pytest's 2) is one too."""
    tests = f"{sys.executable} -m pytest -x -q -p no:cacheprovider --tb=no {shlex.join(target.tests)}"
    return f"sh -c {shlex.quote(tests + ' || exit 1')}"  # mutmut runs it through a shell, its baseline not


def _lines(path: Path, names: frozenset[str]) -> set[int]:
    """The 0-based line numbers of the top-level functions and classes `names` in `path`, and of the
    methods named "Class.method" (with their decorators)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = [(getattr(node, "name", None), node.lineno, node) for node in tree.body]
    nodes += [(f"{cls.name}.{node.name}", min(d.lineno for d in [node, *node.decorator_list]), node)
              for cls in tree.body if isinstance(cls, ast.ClassDef)
              for node in cls.body if isinstance(node, ast.FunctionDef)]
    return {line for name, first, node in nodes if name in names for line in range(first - 1, node.end_lineno)}


def sampled(filename: str, line: str, index: int, one_in: int) -> bool:
    """Whether a mutant is in a sample of one in `one_in`: the same mutants from run to run."""
    digest = hashlib.sha256(f"{filename}\0{line}\0{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % one_in == 0


def _left_out(filename: str, line: str, index: int, number: int, tree: Path) -> bool:
    """Whether a run leaves a mutant out (its file, line as written, index on the line and 0-based
    line number): outside its module's chosen functions, or outside the sample when the run is one
    (MUTATION_SAMPLE=N: one mutant in N)."""
    one_in = int(os.environ.get("MUTATION_SAMPLE", "1"))
    if one_in > 1 and not sampled(filename, line, index, one_in):
        return True
    return any(t.functions and filename == t.path and number not in _lines(tree / filename, t.functions)
               for targets in MODULES.values() for t in targets)


def pre_mutation(context) -> None:
    """mutmut's hook: skip the mutants the run leaves out (`_left_out`)."""
    context.skip = _left_out(context.filename, context.current_source_line, context.mutation_id.index,
                             context.current_line_index, Path())  # the name is relative to the tree, where mutmut runs


def _skip_left_out(path: str) -> None:
    """Mark as skipped the untested mutants of `path` that the run leaves out: mutmut 2 looks a
    mutant's status up by its line's text, so a line written as an earlier one (a second
    `@property`) takes that one's status, is never handed to `pre_mutation` and would stay untested."""
    with sqlite3.connect(CACHE) as conn:
        rows = conn.execute('SELECT m.id, l.line, m."index", l.line_number FROM Mutant m JOIN Line l ON m.line = l.id '
                            "JOIN SourceFile s ON l.sourcefile = s.id WHERE s.filename = ? AND m.status = 'untested'",
                            (path,)).fetchall()
        conn.executemany("UPDATE Mutant SET status = 'skipped' WHERE id = ?",
                         [(i,) for i, line, index, number in rows if _left_out(path, line, index, number, TREE)])


def _copy_files(dest: Path) -> None:
    """The work tree's files as they are now (tracked or new, not ignored) into `dest`."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source, target = ROOT / name, dest / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _copy_tree() -> None:
    """The work tree into TREE, with mutmut's hook."""
    for left in TREE.glob("**/*.bak"):
        left.unlink()  # a mutant's original, left by a run that was stopped: copied again below
    _copy_files(TREE)
    (TREE / "mutmut_config.py").write_text("from tests.mutation import pre_mutation  # noqa: F401\n")
    if not (TREE / ".venv").exists():
        (TREE / ".venv").symlink_to(ROOT / ".venv")


def _forget_baseline() -> None:
    """mutmut keeps one baseline time for every run: each module times its own tests; what a
    sample or a choice of functions left out is looked at again."""
    if CACHE.exists():
        with sqlite3.connect(CACHE) as conn:
            conn.execute("DELETE FROM MiscData WHERE key IN ('baseline_time_elapsed', 'hash_of_tests')")
            conn.execute("UPDATE Mutant SET status = 'untested' WHERE status = 'skipped'")


def _template(url: str) -> str:
    """A migrated template database on the run's server, made once for every mutant's tests."""
    import psycopg

    from cmcore import db, migrate

    db.ensure_roles(url)
    name = "cmt_mutation_template"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" OWNER {db.OWNER_ROLE}')
    migrate.apply(db.with_user(db.with_database(url, name), db.OWNER_ROLE))
    return name


def run(names: list[str]) -> int:
    from cmcore import db  # only here: the report needs no database

    _copy_tree()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still stops its server
    url = db.start_embedded(WORK / "pg", cleanup_mode="delete")
    env = {**os.environ, "TEST_DATABASE_URL": url, "TEST_TEMPLATE_DATABASE": _template(url),
           "PYTHONDONTWRITEBYTECODE": "1"}
    worst, mutmut = 0, None
    try:
        for target in (t for name in names for t in MODULES[name]):
            print(f"== {target.path} against {' '.join(target.tests)}", flush=True)
            _forget_baseline()
            for cache in TREE.glob("cmcore/**/__pycache__"):
                shutil.rmtree(cache)  # a mutant of the same size in the same second would reuse its .pyc
            mutmut = subprocess.Popen(
                [sys.executable, "-m", "mutmut", "run", "--paths-to-mutate", target.path, "--runner", runner(target), "--tests-dir", "tests", "--test-time-multiplier", "3",
                 "--test-time-base", "20", "--simple-output", "--no-progress"], cwd=TREE, env=env)
            worst = max(worst, mutmut.wait() & 1)
            _skip_left_out(target.path)
    finally:
        if mutmut and mutmut.poll() is None:
            mutmut.terminate()
            mutmut.wait()
        for server in db._servers:
            server.cleanup()
    print(report())
    return worst


def _row(name: str, rows: list[tuple[str, str, int]], equivalent: dict[str, int], paths: set[str]) -> str | None:
    counts: dict[str, int] = {"equivalent": sum(equivalent.get(p, 0) for p in paths)}
    for filename, status, n in rows:
        if filename in paths and status != "skipped":
            counts[status] = counts.get(status, 0) + n
    counts["bad_survived"] = counts.get("bad_survived", 0) - counts["equivalent"]
    if sum(counts.values()) == counts["equivalent"] == 0:
        return None
    if not counts:
        return None
    killed, timed_out = counts.get("ok_killed", 0) + counts.get("ok_suspicious", 0), counts.get("bad_timeout", 0)
    survived = counts.get("bad_survived", 0)
    tested = killed + timed_out + survived
    score = f"{100 * (killed + timed_out) / tested:.1f} %" if tested else "–"
    return (f"| {name} | {sum(counts.values())} | {killed} | {timed_out} | {counts.get('equivalent', 0)} | "
            f"{survived} | {counts.get('untested', 0)} | {score} |")


def report() -> str:
    """Mutants per module (and per file of a module of several) and status, from the cache, as a
    Markdown table; a mutant whose tests ran out of time counts as caught, an equivalent one
    (EQUIVALENT) not at all: the score is of the mutants a test could catch."""
    if not CACHE.exists():
        return "no run yet"
    with sqlite3.connect(CACHE) as conn:
        rows = conn.execute("SELECT s.filename, m.status, count(*) FROM Mutant m JOIN Line l ON m.line = l.id "
                            "JOIN SourceFile s ON l.sourcefile = s.id GROUP BY 1, 2").fetchall()
    equivalent: dict[str, int] = {}
    for filename, _, _, why in _survivors():
        equivalent[filename] = equivalent.get(filename, 0) + (why is not None)
    out = ["| module | mutants | killed | timed out | equivalent | survived | not yet run | score |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, targets in MODULES.items():
        lines = [_row(name, rows, equivalent, {t.path for t in targets})]
        if len(targets) > 1:
            lines += [_row(f"· {Path(t.path).name}", rows, equivalent, {t.path}) for t in targets]
        out += filter(None, lines)
    return "\n".join(out)


def _mutant(filename: str, source: str, line: str, index: int, number: int) -> tuple[str, list[str], str | None]:
    """One mutant of `source` (mutmut's, by line, index and 0-based line number): its text, the diff's
    lines, and why it is equivalent if it is (EQUIVALENT)."""
    from mutmut import Context, RelativeMutationID, mutate

    mutant, _ = mutate(Context(source=source, filename=filename,
                               mutation_id=RelativeMutationID(line, index, number, filename=filename)))
    diff = [d for d in difflib.unified_diff(source.split("\n"), mutant.split("\n"), n=0, lineterm="")
            if d[:1] in "-+" and d[:3] not in ("---", "+++")]
    added = next((d[1:].strip() for d in diff if d[0] == "+"), "")
    return mutant, diff, EQUIVALENT.get((filename, line.strip(), added))


def _survivors() -> list[tuple[str, int, list[str], str | None]]:
    """The surviving mutants: file, line number, the diff's lines, and why it is equivalent if it is."""
    if not CACHE.exists():
        return []
    with sqlite3.connect(CACHE) as conn:
        rows = conn.execute("SELECT s.filename, l.line, l.line_number, m.\"index\" FROM Mutant m JOIN Line l "
                            "ON m.line = l.id JOIN SourceFile s ON l.sourcefile = s.id "
                            "WHERE m.status = 'bad_survived' ORDER BY 1, 3, 4").fetchall()
    out = []
    for filename, line, number, index in rows:
        original = TREE / f"{filename}.bak"  # the file a run is mutating now
        source = (original if original.exists() else TREE / filename).read_text(encoding="utf-8")
        _, diff, why = _mutant(filename, source, line, index, number)
        out.append((filename, number + 1, diff, why))
    return out


def survivors() -> str:
    """Each surviving mutant as file:line and its diff, or why it is equivalent (read from the cache
    and the copied tree without mutmut's command line, which would change the cache mid-run)."""
    return "\n".join(f"{f}:{n} equivalent: {why}" if why else f"{f}:{n}\n" + "\n".join(f"  {d[0]} {d[1:].strip()}" for d in diff)
                     for f, n, diff, why in _survivors()) or "none"


# The short sample `./dev test` runs (tests/test_mutation_sample.py; `./dev mutate --sample` alone):
# SAMPLE_SIZE mutants of each of the access checks and money's amounts, picked by a fixed seed (the
# same ones while their lines stay as they are), equivalent ones passed over, each against the
# module's tests that need no database (a few seconds a mutant).
SAMPLE: tuple[Target, ...] = (
    Target("cmcore/access.py", ("tests/test_access.py", "tests/test_auth.py::test_roles_see_their_pages_only")),
    Target("cmcore/money.py", (
        "tests/test_money.py::test_amounts_beyond_the_bound_and_made_up_currencies_are_refused",
        "tests/test_money.py::test_the_bound_itself_is_an_amount", "tests/test_monetisation.py::test_amounts_in_minor_units",
        "tests/test_monetisation.py::test_bad_amounts_are_refused_with_the_field"),
        frozenset({"parse_amount", "parse_currency"})),
)
SAMPLE_SEED, SAMPLE_SIZE = "sample-1", 6


class Tried(NamedTuple):
    where: str  # file:line
    diff: list[str]
    killed: bool


def _chosen(target: Target, source: str) -> list[tuple[str, str, list[str]]]:
    """The sample's mutants of `target`: (file:line, the mutated text, its diff)."""
    from mutmut import Context, list_mutations

    lines = _lines(ROOT / target.path, target.functions) if target.functions else None
    ids = [m for m in list_mutations(Context(source=source, filename=target.path))
           if lines is None or m.line_number in lines]
    ids.sort(key=lambda m: hashlib.sha256(f"{SAMPLE_SEED}\0{target.path}\0{m.line.strip()}\0{m.index}".encode()).digest())
    out = []
    for m in ids:
        text, diff, why = _mutant(target.path, source, m.line, m.index, m.line_number)
        if why is None:
            out.append((f"{target.path}:{m.line_number + 1}", text, diff))
        if len(out) == SAMPLE_SIZE:
            break
    return out


def sample(scratch: Path) -> list[Tried]:
    """The sample, run in a copy of the work tree in `scratch`: each mutant and whether a test failed
    on it (or ran out of time). Raises if the tests fail on the code itself (every mutant would then
    look killed)."""
    _copy_files(scratch)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}

    def failed(tests: tuple[str, ...]) -> bool:
        try:
            return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--tb=no",
                                   *tests], cwd=scratch, env=env, capture_output=True, timeout=120).returncode != 0
        except subprocess.TimeoutExpired:
            return True

    if failed(tuple(t for target in SAMPLE for t in target.tests)):
        raise RuntimeError("the sample's tests fail on the code itself")
    tried = []
    for target in SAMPLE:
        path = scratch / target.path
        source = path.read_text(encoding="utf-8")
        try:
            for where, text, diff in _chosen(target, source):
                path.write_text(text, encoding="utf-8")
                tried.append(Tried(where, diff, failed(target.tests)))
        finally:
            path.write_text(source, encoding="utf-8")
    return tried


def _sample() -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cm-mutation-") as scratch:
        tried = sample(Path(scratch))
    for t in tried:
        print(f"{'killed' if t.killed else 'SURVIVED'} {t.where}: " + " / ".join(f"{d[0]} {d[1:].strip()}" for d in t.diff))
    return int(not all(t.killed for t in tried))


def main(argv: list[str]) -> int:
    if argv == ["--sample"]:
        return _sample()
    if argv in (["--report"], ["--survivors"]):
        print(report() if argv == ["--report"] else survivors())
        return 0
    unknown = [a for a in argv if a not in MODULES]
    if unknown:
        print(f"unknown module(s) {', '.join(unknown)}: choose among {', '.join(MODULES)}, or --report, --survivors, --sample",
              file=sys.stderr)
        return 2
    return run(argv or list(MODULES))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
