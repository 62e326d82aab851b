"""Staff using the app all day, side by side: 16 processes for 30 s of proposals, approvals,
cancels, payouts, budget and rule changes, settings, page reads and imports. No deadlock, no error
but refusals, no reward paid twice, no budget passed, and approvals do not wait for an import."""
from cmcore.bench import workload


def test_sixteen_processes_for_thirty_seconds_keep_the_ledger_exact(database):
    got = workload.run(database, processes=16, seconds=30, import_activities=20_000, say=lambda _: None)
    kinds = got["kinds"]
    assert set(kinds) == set(workload.MIX)
    assert {k: v["errors"] for k, v in kinds.items() if v["errors"]} == {}
    assert got["deadlocks"] == 0
    assert got["checks"]["paid_twice"] == 0 and got["checks"]["budget_overruns"] == 0
    assert got["checks"]["rewards_paid"] > 0
    assert all(kinds[k]["ops"] > 0 for k in ("propose", "approve", "pay", "budget", "rule", "setting", "read", "import"))
    assert kinds["approve"]["refused"] > 0  # the budget was met: refusals for it happened, and were refusals
    assert got["approvals_during_imports"]["count"] > 0
    behind_imports = {k: v for k, v in got["lock_waits"].items() if k.endswith("behind import")}
    assert max(behind_imports.values(), default=0) < 0.5, got["lock_waits"]  # at most for its commit


def test_the_workload_bench_runs_on_a_scratch_database_and_prints_its_figures(database, tmp_path, capsys):
    import json
    import os

    import psycopg

    from cmcore import cli
    scratch, out = f"cmt_workload_{os.getpid()}", tmp_path / "workload.json"
    assert cli.main(["bench-workload", "--processes", "16", "--seconds", "6", "--import-activities", "3000",
                     "--database", scratch, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["processes"] == 16 and report["import_activities"] == 3000
    assert report["checks"]["paid_twice"] == 0 and report["checks"]["budget_overruns"] == 0
    assert report["kinds"]["import"]["ops"] >= 1
    printed = capsys.readouterr().out
    assert "| approve | 3 |" in printed and "Approvals while an import of 3,000 activities was writing:" in printed
    assert f"written to {out}" in printed
    with psycopg.connect(database, autocommit=True) as conn:  # the scratch database is gone
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [scratch]).fetchone() is None
