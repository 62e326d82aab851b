"""`python -m cmcore …`: migrate, prepare, demo, timing, users."""
from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date

from tqdm import tqdm

from cmcore import auth, bootstrap, demo, migrate
from cmcore.access import CLI, ROLES


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


def cmd_migrate(_args: argparse.Namespace) -> None:
    applied = migrate.apply()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


def cmd_prepare(_args: argparse.Namespace) -> None:
    bar, report = _progress_bar("database")
    with bar:
        passwords = bootstrap.prepare(report)
    print_passwords(passwords)


def cmd_demo(args: argparse.Namespace) -> None:
    migrate.apply()
    spec = demo.DemoSpec(members=args.members, days=args.days, activities=args.activities,
                         seed=args.seed, end=args.end)
    bar, report = _progress_bar("demo")
    with bar:
        passwords = demo.load(spec, CLI, report)
    print_passwords(passwords)


def cmd_timing(args: argparse.Namespace) -> None:
    from cmcore import timing
    result = timing.run(args.runs)
    info = result.pop("_")
    print(f"{info['activities']:,} activities; first run, then the median of {args.runs - 1} warm runs:")
    for page, t in result.items():
        print(f"  {page:<24} {t['first_s']:7.2f} s  {t['warm_median_s']:7.3f} s")
    print(f"peak memory {info['peak_rss_gb']:.2f} GB")


def print_passwords(passwords: dict[str, str]) -> None:
    """Show the demo users' passwords, once: they are stored only as hashes."""
    if passwords:
        print("Demo users (shown once, stored only as bcrypt hashes):")
        for username, password in passwords.items():
            print(f"  {username:<10} {password}")


def cmd_users(args: argparse.Namespace) -> None:
    migrate.apply()
    if args.action == "list":
        for u in auth.list_users(CLI):
            lock = f" locked until {u.locked_until:%Y-%m-%d %H:%M}" if u.locked_until else ""
            sponsor = f" sponsor={u.sponsor_id}" if u.sponsor_id else ""
            print(f"{u.username:<20} {u.role:<8}{sponsor} {'active' if u.active else 'inactive'}{lock}")
    elif args.action == "add":
        user = auth.add_user(CLI, args.username, args.name or args.username, args.role,
                             _read_password(args), sponsor_id=args.sponsor, email=args.email)
        print(f"added {user.username} ({user.role})")
    elif args.action == "passwd":
        auth.set_password(CLI, args.username, _read_password(args))
        print(f"password of {args.username} changed")
    elif args.action == "unlock":
        auth.unlock(CLI, args.username)
        print(f"{args.username} unlocked")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cmcore", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("prepare", help="migrate, and seed a starter demo into an empty database"
                   ).set_defaults(func=cmd_prepare)

    d = sub.add_parser("demo", help="fill an empty database with a synthetic community")
    d.add_argument("--members", type=int, default=2000)
    d.add_argument("--days", type=int, default=365)
    d.add_argument("--activities", type=int, default=None, help="default: 25 per member")
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--end", type=date.fromisoformat, default=None, help="last day + 1 (default: today)")
    d.set_defaults(func=cmd_demo)

    tm = sub.add_parser("timing", help="time every page's data on this database (cold, then warm)")
    tm.add_argument("--runs", type=int, default=5)
    tm.set_defaults(func=cmd_timing)

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
        args.func(args)
    except (auth.UserError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
