"""Time every page's data on the configured database: the first (cold) run and the median of
the warm ones, plus the process's peak memory. `python -m cmcore timing`."""
from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta

from cmcore import community, frames, leaderboard, money
from cmcore.access import CLI
from cmcore.kpis import overview, reports
from cmcore.periods import Period


def pages(today: date) -> dict[str, Callable[[], object]]:
    """What each page computes, for the 30 days up to yesterday (and a quarter for the leaderboard)."""
    tz = community.timezone()
    last30 = reports.Scope(Period.last_days(30, today - timedelta(days=1)), None, tz)
    quarter = reports.Scope(Period(today - timedelta(days=91), today), None, tz)
    return {
        "overview": lambda: (overview.headline(CLI, last30.period, None, tz), overview.daily(CLI, last30.period, None, tz),
                             overview.by_platform(CLI, last30.period, None, tz)),
        "growth": lambda: reports.growth_report(CLI, last30),
        "retention": lambda: reports.retention_report(CLI, last30),
        "responsiveness": lambda: reports.responsiveness_report(CLI, last30),
        "moderation": lambda: reports.moderation_report(CLI, last30),
        "reputation": lambda: reports.reputation_report(CLI, last30),
        "content": lambda: reports.content_report(CLI, last30),
        "leaderboard (30 days)": lambda: leaderboard.leaderboard(CLI, last30),
        "leaderboard (91 days)": lambda: leaderboard.leaderboard(CLI, quarter),
        "monetisation": lambda: money.monetisation_report(CLI, last30),
    }


def run(runs: int = 5, today: date | None = None) -> dict[str, dict[str, float]]:
    """{page: {"first_s", "warm_median_s"}} plus {"_": {"activities", "peak_rss_gb"}}."""
    frames.clear()
    out: dict[str, dict[str, float]] = {}
    for name, compute in pages(today or date.today()).items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            compute()
            times.append(time.perf_counter() - start)
        out[name] = {"first_s": times[0], "warm_median_s": statistics.median(times[1:] or times)}
    out["_"] = {"activities": frames.table("activity").height,
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}
    return out
