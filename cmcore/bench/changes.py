"""What the benchmark does to a community between two views of a page, as a daily sync, a re-import
and a merge would: 10,000 new activities through the import path, 10,000 existing ones changed,
two members merged. Each returns the seconds it took."""
from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import sqlalchemy as sa

from cmcore import db, frames, identities, ingest
from cmcore.access import CLI

ROWS = 10_000


def append(now: datetime, rows: int = ROWS, seed: int = 0) -> float:
    """Import `rows` new replies, comments and reactions by existing members to threads of the last
    20 days, spread over the 3 days before `now` (or before the present, if `now` is later: the
    importer refuses times to come), as a canonical file (the path a sync takes)."""
    rng = np.random.default_rng(seed)
    now = min(now, datetime.now(UTC))
    with db.engine().connect() as conn:
        accounts = conn.execute(sa.text(
            "SELECT p.slug, i.external_id FROM member_identity i JOIN platform p ON p.id = i.platform_id"
            " ORDER BY md5(i.external_id || :seed) LIMIT 2000"), {"seed": str(seed)}).all()
        threads = conn.execute(sa.text(
            "SELECT p.slug, a.external_id FROM activity a JOIN platform p ON p.id = a.platform_id"
            " WHERE a.kind = 'thread' AND a.created_at > :since LIMIT 2000"), {"since": now - timedelta(days=20)}).all()
    by_platform: dict[str, list[str]] = {}
    for slug, external in accounts:
        by_platform.setdefault(slug, []).append(external)
    threads = [(slug, ext) for slug, ext in threads if slug in by_platform]
    picked = rng.integers(0, len(threads), rows)
    kinds = rng.choice(["reply", "comment", "reaction"], rows, p=[0.5, 0.2, 0.3])
    seconds = rng.integers(1, 3 * 86_400, rows)
    stamp = f"{time.time_ns()}"
    frame = pl.DataFrame({
        "platform": [threads[i][0] for i in picked],
        "external_id": [f"bench-{stamp}-{n}" for n in range(rows)],
        "author": [by_platform[threads[i][0]][int(rng.integers(len(by_platform[threads[i][0]])))] for i in picked],
        "kind": kinds,
        "parent": [threads[i][1] for i in picked],
        "created_at": [(now - timedelta(seconds=int(s))).isoformat() for s in seconds]})
    with tempfile.TemporaryDirectory(prefix="cm-bench-append-") as tmp:
        path = Path(tmp) / "activities.csv"
        frame.write_csv(path)
        started = time.perf_counter()
        ingest.run("canonical", [path], CLI)
        return time.perf_counter() - started


def change(rows: int = ROWS, seed: int = 0) -> float:
    """Change `rows` existing activities as a re-import with corrections does (their time moves by
    a minute), in one statement like the importer's update."""
    started = time.perf_counter()
    with db.transaction() as conn:
        conn.execute(sa.text(
            "UPDATE activity SET created_at = created_at + interval '1 minute' WHERE id IN"
            " (SELECT id FROM activity TABLESAMPLE BERNOULLI (1) REPEATABLE (:seed) LIMIT :n)"),
            {"seed": seed, "n": rows})
    return time.perf_counter() - started


def merge(seed: int = 0) -> float:
    """Merge two busy members, each with one account, on different platforms (the `seed`-th pair):
    among the 400 busiest members not merged yet and with one account, so that runs after runs on
    one database still find pairs."""
    with db.engine().connect() as conn:
        busy = conn.execute(sa.text(
            "SELECT member_id, platform_id FROM ("
            " SELECT i.member_id, min(i.platform_id) AS platform_id, max(a.n) AS n FROM member_identity i"
            " JOIN member m ON m.id = i.member_id"
            " JOIN (SELECT member_id, count(*) AS n FROM activity GROUP BY member_id) a ON a.member_id = i.member_id"
            " WHERE m.merged_into IS NULL GROUP BY i.member_id HAVING count(*) = 1 ORDER BY n DESC LIMIT 400) busy"
            " ORDER BY member_id")).all()
    platforms = sorted({p for _, p in busy})
    first = [m for m, p in busy if p == platforms[0]]
    second = [m for m, p in busy if p != platforms[0]]
    started = time.perf_counter()
    identities.merge(CLI, first[seed % len(first)], second[seed % len(second)])
    return time.perf_counter() - started


def fallbacks() -> int:
    """Refreshes and updates that could not follow a change (a full read or rebuild instead)."""
    return frames.counts["fallback"]
