"""`python -m cmcore …`: migrate, prepare, worker, demo, import, rescore, bench, audit, users."""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import date
from pathlib import Path

from tqdm import tqdm

from cmcore import audit, auth, bootstrap, demo, ingest, migrate, passwords
from cmcore.access import CLI, ROLES
from cmcore.settings import ConfigError


def _progress_bar(label: str):
    bar = tqdm(total=100, desc=label, unit="%", bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def report(fraction: float, message: str) -> None:
        bar.n = round(fraction * 100)
        bar.set_postfix_str(message)
        bar.refresh()
    return bar, report


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise auth.UserError("the two passwords differ")
    return first


def cmd_secret(_args: argparse.Namespace) -> None:
    print(passwords.new_secret())


def cmd_migrate(_args: argparse.Namespace) -> None:
    applied = migrate.apply()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


def cmd_prepare(_args: argparse.Namespace) -> None:
    bar, report = _progress_bar("database")
    with bar:
        passwords = bootstrap.prepare(report)
    print_passwords(passwords)


def cmd_worker(_args: argparse.Namespace) -> None:
    """Run the worker (alerts, digests) until stopped; the schema must be up to date."""
    from cmcore import worker
    bootstrap.schema()
    worker.run()


def cmd_demo(args: argparse.Namespace) -> None:
    bootstrap.schema()
    spec = demo.DemoSpec(members=args.members, days=args.days, activities=args.activities,
                         seed=args.seed, end=args.end)
    bar, report = _progress_bar("demo")
    with bar:
        passwords = demo.load(spec, CLI, report)
    print_passwords(passwords)


def cmd_import(args: argparse.Namespace) -> None:
    bootstrap.schema()
    bar, report = _progress_bar(f"import {args.source}")
    with bar:
        result = ingest.run(args.source, args.paths, CLI, report, platform=args.platform,
                            date_format=args.date_format)
    print(f"{'table':<18}{'inserted':>10}{'updated':>10}{'skipped':>10}")
    for table, counts in result.counts.items():
        print(f"{table:<18}{counts['inserted']:>10}{counts['updated']:>10}{counts['skipped']:>10}")
    for reason, rows in result.notes.items():
        print(f"{reason}: {rows}")
    print(f"{result.rows} rows in {result.seconds:.1f} s ({result.rows_per_s:,.0f} rows/s), import #{result.run_id}")


def cmd_rescore(args: argparse.Namespace) -> None:
    from cmcore import community
    from cmcore.ingest import rescore, text
    bootstrap.schema()
    bar, report = _progress_bar("rescore")
    with bar:
        counts = rescore.rescore(CLI, report, every=args.all)
    model = text.model(community.languages())
    print(f"{counts['scored']} mentions scored again by {model}, {counts['changed']} changed")


def cmd_bench(args: argparse.Namespace) -> None:
    from cmcore.bench import runner
    opts = runner.Options(members=args.members, activities=args.activities, days=args.days, seed=args.seed,
                          runs=args.runs, reuse=args.reuse, keep=args.keep or args.reuse,
                          database=args.database, pages=tuple(args.pages),
                          import_activities=args.import_activities, import_members=args.import_members,
                          score_texts=args.score_texts, changes=args.changes, alternatives=args.alternatives)
    report = runner.run(opts, lambda line: print(line, flush=True))
    runner.write(report, args.out)
    print(runner.table(report))
    print(f"written to {args.out}")


def cmd_bench_imports(args: argparse.Namespace) -> None:
    from cmcore.bench import imports
    report = imports.run(args.formats, args.members, args.activities, args.database,
                         lambda line: print(line, flush=True), runs=args.runs)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(imports.table(report))
    print(f"written to {args.out}")


def cmd_bench_workload(args: argparse.Namespace) -> None:
    from cmcore.bench import workload
    report = workload.bench(args.database, args.processes, args.seconds, args.import_activities,
                            lambda line: print(line, flush=True))
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(workload.table(report))
    print(f"written to {args.out}")


def cmd_audit(args: argparse.Namespace) -> int:
    """`audit verify`: recompute the audit log's chain; exit 1 where it breaks."""
    anchor = None
    if args.anchor:
        seq, _, digest = args.anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise ValueError("--anchor is SEQ:HASH as an earlier verify printed it")
        anchor = (int(seq), digest)
    verdict = audit.verify(anchor)
    if not verdict.intact:
        print(f"audit log broken after {verdict.rows} good row(s): {verdict.problem}")
        return 1
    print(f"audit log intact: {verdict.rows} rows; keep this anchor outside the database: {verdict.seq}:{verdict.hash}")
    return 0


def print_passwords(passwords: dict[str, str]) -> None:
    """Show the demo users' passwords, once: they are stored only as hashes."""
    if passwords:
        print("Demo users (shown once, stored only as bcrypt hashes; each replaces it at the first sign-in):")
        for username, password in passwords.items():
            print(f"  {username:<10} {password}")


def cmd_users(args: argparse.Namespace) -> None:
    bootstrap.schema()
    if args.action == "list":
        for u in auth.list_users(CLI):
            lock = f" locked until {u.locked_until:%Y-%m-%d %H:%M}" if u.locked_until else ""
            sponsor = f" sponsor={u.sponsor_id}" if u.sponsor_id else ""
            print(f"{u.username:<20} {u.role:<8}{sponsor} {'active' if u.active else 'inactive'}{lock}")
    elif args.action == "add":
        user = auth.add_user(CLI, args.username, args.name or args.username, args.role,
                             _read_password(args), sponsor_id=args.sponsor, email=args.email)
        print(f"added {user.username} ({user.role}); the password is changed at the first sign-in")
    elif args.action == "passwd":
        auth.set_password(CLI, args.username, _read_password(args))
        print(f"password of {args.username} changed; its sessions are ended, and it is changed at the next sign-in")
    elif args.action == "unlock":
        auth.unlock(CLI, args.username)
        print(f"{args.username} unlocked")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cmcore", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("secret", help="print a new random cookie key (CM_COOKIE_KEY)").set_defaults(func=cmd_secret)
    sub.add_parser("prepare", help="migrate, and seed a starter demo into an empty database"
                   ).set_defaults(func=cmd_prepare)
    sub.add_parser("worker", help="run the worker: alerts and reports (./dev app starts one beside the app)"
                   ).set_defaults(func=cmd_worker)

    d = sub.add_parser("demo", help="fill an empty database with a synthetic community")
    d.add_argument("--members", type=int, default=2000)
    d.add_argument("--days", type=int, default=365)
    d.add_argument("--activities", type=int, default=None, help="default: 25 per member")
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--end", type=date.fromisoformat, default=None, help="last day + 1 (default: today)")
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser("import", help="import files: canonical tables or a platform's own export")
    i.add_argument("source", choices=list(ingest.SOURCES))
    i.add_argument("paths", nargs="+", type=Path, help="the files (canonical: named for their table)")
    i.add_argument("--platform", help="the platform slug the rows go to (default: the source's name)")
    i.add_argument("--date-format", help="mentions: the format of dates the importer does not read by itself"
                   " (strftime directives, e.g. '%%d/%%m/%%Y %%H:%%M')")
    i.set_defaults(func=cmd_import)

    r = sub.add_parser("rescore", help="score the stored mentions' language and sentiment again after a model change")
    r.add_argument("--all", action="store_true", help="every mention the models scored, not only those scored by"
                   " other models or versions (the language and sentiment a file gave are kept)")
    r.set_defaults(func=cmd_rescore)

    b = sub.add_parser("bench", help="benchmark every page against pandas + read_sql and SQL aggregations"
                       " on a demo community generated into a fresh database (cm_bench)")
    b.add_argument("--members", type=int, default=100_000)
    b.add_argument("--activities", type=int, default=10_000_000)
    b.add_argument("--days", type=int, default=365)
    b.add_argument("--seed", type=int, default=42)
    b.add_argument("--runs", type=int, default=5, help="warm runs per page (cold and others: half, at least 3)")
    b.add_argument("--out", type=Path, default=Path("bench.json"), help="the JSON report")
    b.add_argument("--database", default="cm_bench", help="the scratch database's name (dropped first)")
    b.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    b.add_argument("--reuse", action="store_true", help="measure the community an earlier --keep left (implies --keep)")
    b.add_argument("--no-changes", dest="changes", action="store_false",
                   help="skip each page's view after 10,000 new, 10,000 changed and merged activities (which change"
                        " the community)")
    b.add_argument("--only-cmcore", dest="alternatives", action="store_false",
                   help="skip pandas + read_sql and the SQL aggregations (for runs too large for them)")
    b.add_argument("--pages", nargs="+", default=[], metavar="NAME",
                   help="only the pages whose names start with these (e.g. leaderboard reputation)")
    b.add_argument("--import-activities", type=int, default=1_000_000,
                   help="activities in the canonical CSV whose import throughput is timed (0: skip)")
    b.add_argument("--import-members", type=int, default=50_000)
    b.add_argument("--score-texts", type=int, default=20_000,
                   help="distinct texts whose language and sentiment the models score, timed (0: skip)")
    b.set_defaults(func=cmd_bench)

    bi = sub.add_parser("bench-imports", help="import throughput of each format on generated files (rows/s)")
    bi.add_argument("--activities", type=int, default=1_000_000)
    bi.add_argument("--members", type=int, default=50_000)
    bi.add_argument("--formats", nargs="+", default=["canonical-csv", "canonical-parquet", "canonical-jsonl",
                                                     "stackexchange", "discourse", "discourse-pages", "discord",
                                                     "mentions", "sync-discourse"],
                    help="discourse-pages: 10,000 topic pages of 5 posts, whatever --activities; sync-discourse:"
                         " a connection syncing --activities posts from a forum served on this machine")
    bi.add_argument("--runs", type=int, default=1, help="imports per format (the median is kept)")
    bi.add_argument("--database", default="cm_import_bench", help="the scratch database (dropped afterwards)")
    bi.add_argument("--out", type=Path, default=Path("bench-imports.json"))
    bi.set_defaults(func=cmd_bench_imports)

    bw = sub.add_parser("bench-workload", help="staff using the app all day: processes proposing, approving,"
                        " paying, changing budgets, rules and settings, reading pages and importing, side by side")
    bw.add_argument("--processes", type=int, default=16)
    bw.add_argument("--seconds", type=float, default=60.0)
    bw.add_argument("--import-activities", type=int, default=1_000_000, help="activities per import, imported"
                    " one after another the whole time")
    bw.add_argument("--database", default="cm_workload_bench", help="the scratch database (dropped afterwards)")
    bw.add_argument("--out", type=Path, default=Path("bench-workload.json"))
    bw.set_defaults(func=cmd_bench_workload)

    a = sub.add_parser("audit", help="the audit log")
    asub = a.add_subparsers(dest="action", required=True)
    verify = asub.add_parser("verify", help="recompute the audit log's hash chain and name the first row where it"
                             " breaks (exit 1)")
    verify.add_argument("--anchor", help="SEQ:HASH an earlier verify printed: that row must still be there, unchanged")
    a.set_defaults(func=cmd_audit)

    u = sub.add_parser("users", help="manage the app's users")
    usub = u.add_subparsers(dest="action", required=True)
    usub.add_parser("list")
    add = usub.add_parser("add")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--name", help="display name")
    add.add_argument("--email")
    add.add_argument("--sponsor", type=int, help="sponsor id (role sponsor)")
    for name in ("passwd", "unlock"):
        usub.add_parser(name).add_argument("username")
    for sp in (add, usub.choices["passwd"]):
        sp.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    u.set_defaults(func=cmd_users)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (auth.UserError, ValueError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
