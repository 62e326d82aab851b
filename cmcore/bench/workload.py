"""A mixed workload of staff using the app all day, as separate processes against one database:
proposals, approvals, cancels, payouts, budget and rule changes, settings, page reads and imports
running the whole time. It counts operations, refusals, deadlocks, retries and errors, then checks
the ledger: no reward paid twice, no budget passed. `python -m cmcore bench-workload`.

Each worker is a process of its own (`python -m cmcore.bench.workload KIND …`), so their
transactions really run side by side; each writes its tallies as one JSON line.
"""
from __future__ import annotations

import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa

from cmcore import auth, bootstrap, community, db, demo, ingest, reports, rewards
from cmcore.access import CLI, Principal
from cmcore.bench import imports
from cmcore.periods import Period

# How the processes share the work (16 in all by default).
MIX = {"propose": 3, "approve": 3, "cancel": 1, "pay": 2, "budget": 1, "rule": 1, "setting": 1, "read": 3,
       "import": 1}
STAFF = [f"staff{i}" for i in range(1, 5)]
MANAGER = "manager1"
CURRENCY = "EUR"
BUDGET_MINOR = 200_000  # 2,000.00 EUR: approvals meet it within seconds, so refusals for the budget happen
REFUSALS = (rewards.RewardError,)


def month() -> str:
    return f"{datetime.now(UTC):%Y-%m}"


def prepare(members: int = 300) -> None:
    """The current database with a small community, staff, a manager, a rule and this month's budget."""
    bootstrap.schema()
    if demo.is_empty():
        demo.load(demo.DemoSpec(members=members, days=60, seed=5), CLI, with_users=False)
    for name in (*STAFF, MANAGER):
        if auth.get_user(name) is None:
            auth.add_user(CLI, name, name.title(), "manager" if name == MANAGER else "staff", secrets.token_urlsafe(18))
    manager = Principal(MANAGER, "manager")
    rewards.add_rule(manager, "top3", "Top 3 of the month", "top_n", {"n": 3}, "points", 10)
    rewards.set_budget(manager, month(), CURRENCY, f"{BUDGET_MINOR / 100:.2f}")


class Tally:
    """What one worker did: operations, refusals, errors by kind, and each operation's seconds."""

    def __init__(self, kind: str) -> None:
        self.kind, self.ops, self.refused, self.errors = kind, 0, 0, Counter()
        self.timings: list[tuple[float, float]] = []  # (wall-clock start, seconds)

    def run(self, op: Callable[[], object]) -> None:
        started, clock = time.time(), time.perf_counter()
        try:
            op()
            self.ops += 1
        except REFUSALS:
            self.refused += 1
        except Exception as err:  # noqa: BLE001 — a workload counts what fails, by kind
            cause = getattr(err, "orig", None) or err
            self.errors[type(cause).__name__] += 1
        self.timings.append((started, time.perf_counter() - clock))

    def report(self) -> dict:
        return {"kind": self.kind, "ops": self.ops, "refused": self.refused, "errors": dict(self.errors),
                "retries": dict(db.retries), "timings": self.timings}


def _ids(sql: str, **params: object) -> list[int]:
    with db.engine().connect() as conn:
        return [r[0] for r in conn.execute(sa.text(sql), params)]


def worker(kind: str, seconds: float, seed: int, import_activities: int) -> dict:
    """Do `kind` of work over and over for `seconds`; returns the tally."""
    rng = random.Random(seed)
    me = Principal(STAFF[seed % len(STAFF)], "staff")
    manager = Principal(MANAGER, "manager")
    period = month()
    members = _ids("SELECT id FROM member WHERE merged_into IS NULL LIMIT 200")
    tally = Tally(kind)
    deadline = time.monotonic() + seconds

    def pick(status: str) -> list[int]:
        return _ids("SELECT id FROM reward WHERE status = :s AND period = :p ORDER BY random() LIMIT 5",
                    s=status, p=period)

    def propose() -> None:
        rewards.propose(me, rng.choice(members), period, "money", f"{rng.randint(1, 60)}.00", CURRENCY, "thanks")

    def approve() -> None:
        for reward in _ids("SELECT id FROM reward WHERE status = 'proposed' AND period = :p AND proposed_by <> :me"
                           " ORDER BY random() LIMIT 1", p=period, me=me.username):
            rewards.approve(me, reward)

    def cancel() -> None:
        for reward in pick(rng.choice(["proposed", "approved"]))[:1]:
            rewards.cancel(me, reward, "changed our mind")

    def pay() -> None:
        if chosen := pick("approved")[: rng.randint(1, 5)]:
            rewards.pay(me, chosen)

    def budget() -> None:
        rewards.set_budget(manager, period, CURRENCY, f"{rng.randint(BUDGET_MINOR // 200, BUDGET_MINOR // 50):.2f}")

    def rule() -> None:
        for rule_id in _ids("SELECT id FROM reward_rule ORDER BY random() LIMIT 1"):
            rewards.set_rule_active(manager, rule_id, rng.random() < 0.5)

    def setting() -> None:
        community.set_setting(manager, "response_sla_hours", rng.choice([12, 24, 36]))

    today = datetime.now(UTC).date()

    def read() -> None:
        start = today - timedelta(days=rng.choice([7, 30, 90]))
        scope = reports.Scope(Period(start, today))
        rng.choice([reports.growth_report, reports.responsiveness_report, reports.moderation_report])(manager, scope)

    if kind == "import":
        return _imports(tally, deadline, import_activities)
    op = {"propose": propose, "approve": approve, "cancel": cancel, "pay": pay, "budget": budget, "rule": rule,
          "setting": setting, "read": read}[kind]
    while time.monotonic() < deadline:
        tally.run(op)
    return tally.report()


def _imports(tally: Tally, deadline: float, activities: int) -> dict:
    """Import canonical files of `activities` new activities, one import after another, until the
    deadline; each import's wall-clock span is in the tally's timings."""
    with tempfile.TemporaryDirectory(prefix="cm-workload-") as tmp:
        round_ = 0
        while time.monotonic() < deadline:
            folder = Path(tmp) / str(round_)
            folder.mkdir()
            paths = _renamed(imports.write_canonical(folder, 1_000, activities), f"load{os.getpid()}r{round_}")
            tally.run(lambda: ingest.run("canonical", paths, CLI))
            round_ += 1
    return tally.report()


def _renamed(paths: list[Path], slug: str) -> list[Path]:
    """The canonical files with their platform slug replaced: each round imports new rows."""
    for path in paths:
        path.write_text(path.read_text().replace("forum", slug))
    return paths


def run(url: str, processes: int = 16, seconds: float = 30.0, import_activities: int = 20_000,
        say: Callable[[str], None] = print) -> dict:
    """The workload on the database at `url` (prepared here), `processes` workers for `seconds`;
    returns per kind of work the tallies, and the ledger's checks."""
    db.use(url)
    say("preparing the community, staff, a rule and the month's budget")
    prepare()
    kinds = [k for k, n in MIX.items() for _ in range(n)]
    kinds = (kinds * (processes // len(kinds) + 1))[:processes]
    say(f"{processes} processes for {seconds:.0f} s: {dict(Counter(kinds))}")
    root = Path(__file__).resolve().parents[2]
    started = time.time()
    procs = [subprocess.Popen([sys.executable, "-m", "cmcore.bench.workload", kind, str(seconds), str(seed),
                               str(import_activities)], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=os.environ | {"PYTHONPATH": str(root), "DATABASE_URL": _named(url, kind)})
             for seed, kind in enumerate(kinds)]
    with LockWaits(url) as waits:
        tallies = []
        for proc in procs:
            out, err = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"a worker failed:\n{err[-2000:]}")
            tallies.append(json.loads(out.splitlines()[-1]))
    return summary(tallies, time.time() - started) | {"lock_waits": waits.longest}


def bench(database: str, processes: int = 16, seconds: float = 60.0, import_activities: int = 1_000_000,
          say: Callable[[str], None] = print) -> dict:
    """`run` on scratch database `database`, made anew by the owner and dropped afterwards."""
    server = db.urls()
    try:
        imports.fresh(database)
        return run(db.url(), processes, seconds, import_activities, say) | {
            "processes": processes, "import_activities": import_activities}
    finally:
        imports.drop(database, server)


def table(report: dict) -> str:
    """The report as Markdown: per kind of work, then the figures the targets are about."""
    ms = lambda s: "–" if s is None else f"{s * 1000:.0f}"  # noqa: E731
    lines = ["| work | processes | operations | refused | errors | retries | median ms | longest ms |",
             "| --- | ---: | ---: | ---: | --- | --- | ---: | ---: |"]
    for name, k in report["kinds"].items():
        lines.append(f"| {name} | {k['processes']} | {k['ops']} | {k['refused']} | {k['errors'] or ''} | "
                     f"{k['retries'] or ''} | {ms(k['median_s'])} | {ms(k['max_s'])} |")
    during, checks = report["approvals_during_imports"], report["checks"]
    waits = sorted(report["lock_waits"].items(), key=lambda kv: -kv[1])[:5]
    lines += ["", f"{report['seconds']:.0f} s; deadlocks {report['deadlocks']}, retries {report['retries']}; "
                  f"paid twice {checks['paid_twice']}, budget overruns {checks['budget_overruns']}, "
                  f"rewards paid {checks['rewards_paid']}.",
              f"Approvals while an import of {report['import_activities']:,} activities was writing: "
              f"{during['count']}, median {ms(during['median_s'])} ms, longest {ms(during['max_s'])} ms.",
              "Longest lock waits: " + (", ".join(f"{k} {v * 1000:.0f} ms" for k, v in waits) or "none") + "."]
    return "\n".join(lines)


def _named(url: str, kind: str) -> str:
    """`url` with the connections named for the kind of work (pg_stat_activity.application_name)."""
    return f"{url}{'&' if '?' in url else '?'}application_name=cm-{kind}"


class LockWaits:
    """Watches the database while the workload runs: the longest time a worker's statement waited
    for a lock, by what it waited behind (the kind of work of the blocking session), in seconds."""

    QUERY = ("SELECT a.application_name, extract(epoch FROM now() - a.query_start),"
             " array(SELECT b.application_name FROM pg_stat_activity b WHERE b.pid = ANY(pg_blocking_pids(a.pid)))"
             " FROM pg_stat_activity a WHERE a.wait_event_type = 'Lock' AND a.application_name LIKE 'cm-%'")

    def __init__(self, url: str) -> None:
        self.url, self.longest = url, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(0.02):
                for waiter, waited, blockers in conn.execute(self.QUERY).fetchall():
                    for blocker in blockers or ["?"]:
                        key = f"{waiter.removeprefix('cm-')} behind {blocker.removeprefix('cm-')}"
                        self.longest[key] = max(self.longest.get(key, 0.0), float(waited))


def summary(tallies: list[dict], seconds: float) -> dict:
    """Per kind: operations, refusals, errors, retries, median and longest seconds; the approvals
    that ran while an import was writing; the ledger's checks."""
    kinds: dict[str, dict] = {}
    for t in tallies:
        k = kinds.setdefault(t["kind"], {"processes": 0, "ops": 0, "refused": 0, "errors": Counter(),
                                         "retries": Counter(), "seconds": []})
        k["processes"] += 1
        k["ops"] += t["ops"]
        k["refused"] += t["refused"]
        k["errors"].update(t["errors"])
        k["retries"].update(t["retries"])
        k["seconds"] += [s for _, s in t["timings"]]
    imports_ = [(start, start + s) for t in tallies if t["kind"] == "import" for start, s in t["timings"]]
    during = [s for t in tallies if t["kind"] == "approve" for start, s in t["timings"]
              if any(a <= start and start + s <= b for a, b in imports_)]
    out = {"seconds": seconds, "kinds": {}, "checks": ledger_checks()}
    for name, k in kinds.items():
        times = k.pop("seconds")
        out["kinds"][name] = k | {"errors": dict(k["errors"]), "retries": dict(k["retries"]),
                                  "median_s": statistics.median(times) if times else None,
                                  "max_s": max(times, default=None)}
    retried = Counter()
    for k in out["kinds"].values():
        retried.update(k["retries"])
    out["deadlocks"] = retried.get("DeadlockDetected", 0) + sum(
        k["errors"].get("DeadlockDetected", 0) for k in out["kinds"].values())
    out["retries"] = sum(retried.values())
    out["approvals_during_imports"] = {"count": len(during),
                                       "median_s": statistics.median(during) if during else None,
                                       "max_s": max(during, default=None)}
    return out


def ledger_checks() -> dict:
    """Rewards paid more than once (audit log and batches), and budgets passed."""
    with db.engine().connect() as conn:
        paid_twice = conn.execute(sa.text(
            "SELECT count(*) FROM (SELECT entity_id FROM audit_log WHERE action = 'reward.pay'"
            " GROUP BY entity_id HAVING count(*) > 1) t")).scalar_one()
        overruns = conn.execute(sa.text(
            "SELECT count(*) FROM reward_budget b JOIN (SELECT period, currency, sum(amount_minor) AS used"
            " FROM reward WHERE status IN ('approved', 'paid') GROUP BY period, currency) u"
            " USING (period, currency) WHERE u.used > b.amount_minor")).scalar_one()
        paid = conn.execute(sa.text("SELECT count(*) FROM reward WHERE status = 'paid'")).scalar_one()
    return {"paid_twice": paid_twice, "budget_overruns": overruns, "rewards_paid": paid}


if __name__ == "__main__":
    kind, seconds, seed, activities = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(worker(kind, seconds, seed, activities)))
