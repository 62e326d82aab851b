"""The benchmark's window and, per page, what cmcore computes for it and the headline KPIs the
three ways are compared on (each KPI with the previous period's value)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from cmcore import frames, leaderboard, money
from cmcore.access import CLI
from cmcore.alerts import rules as alert_rules
from cmcore.alerts.kinds import KINDS
from cmcore.kpis import Metric
from cmcore.reports import overview
from cmcore import reports
from cmcore.periods import Period, preset

Values = dict[str, object]  # KPI key → (value, previous value); for leaderboards, the top 100
TOP = 100


@dataclass(frozen=True)
class Window:
    """The last 30 complete days before `end` (the day after the data), seen from `end`'s midnight."""

    end: date
    tz: str

    @property
    def period(self) -> Period:
        return Period.last_days(30, self.end - timedelta(days=1))

    @property
    def now(self) -> datetime:
        return datetime.combine(self.end, time(), UTC)

    def scope(self, period: Period | None = None) -> reports.Scope:
        return reports.Scope(period or self.period, None, self.tz, self.now)

    def bounds(self, period: Period | None = None) -> tuple[datetime, datetime, datetime, datetime]:
        """(start, end, previous start, previous end) in UTC."""
        period = period or self.period
        return (*period.bounds(self.tz), *period.previous().bounds(self.tz))


def leaderboard_periods(end: date) -> dict[str, Period]:
    """The periods the leaderboard page offers, as of the day before `end`."""
    today = end - timedelta(days=1)
    return {"week": Period.last_days(7, today), "30 days": Period.last_days(30, today),
            "month": preset("last_month", today), "quarter": preset("last_quarter", today),
            "91 days": Period.last_days(91, today), "year": Period.last_days(365, today)}


def metric_values(metrics: list[Metric]) -> Values:
    return {m.key: (m.value, m.previous) for m in metrics}


def top_scores(board) -> list[tuple[int, float]]:
    """The first TOP (member id, score) of a ranked leaderboard."""
    ranked = board.filter(board["rank"].is_not_null()).head(TOP)
    return [(m, round(s, 4)) for m, s in zip(ranked["member_id"], ranked["score"], strict=True)]


def cohort_cells(cohorts) -> list[tuple[str, int, int, int]]:
    """(cohort month, k, cohort size, active) of the cells with someone active."""
    return sorted((str(c), k, n, a) for c, k, n, a in
                  cohorts.filter(cohorts["active"] > 0).select("cohort", "k", "cohort_size", "active").iter_rows())


def cmcore_pages(window: Window) -> dict[str, Callable[[], Values]]:
    """Each page's whole data as the app computes it (headline, charts, tables); returns the
    headline KPIs so they can be checked against the other ways."""
    scope = window.scope()

    def overview_page() -> Values:
        p = window.period
        overview.daily(CLI, p, None, window.tz)
        overview.by_platform(CLI, p, None, window.tz)
        return metric_values(overview.headline(CLI, p, None, window.tz))

    def report(build: Callable) -> Callable[[], Values]:
        return lambda: metric_values(build(CLI, scope).metrics)

    def retention_page() -> Values:
        got = reports.retention_report(CLI, scope)
        return metric_values(got.metrics) | {"cohorts": cohort_cells(got.frames["cohorts"])}

    def board(period: Period) -> Callable[[], Values]:
        return lambda: {"top": top_scores(leaderboard.leaderboard(CLI, window.scope(period)))}

    def alerts() -> Values:
        """What the worker does each minute: every kind of alert rule evaluated (its default
        threshold) at the window's end; the findings of each."""
        return {kind: sorted(f.period for f in alert_rules.findings(kind, k.default, window.now))
                for kind, k in KINDS.items()}

    return {
        "overview": overview_page,
        "growth": report(reports.growth_report),
        "retention": retention_page,
        "responsiveness": report(reports.responsiveness_report),
        "moderation": report(reports.moderation_report),
        "reputation": report(reports.reputation_report),
        "content": report(reports.content_report),
        "monetisation": report(money.monetisation_report),
        **{f"leaderboard ({name})": board(p) for name, p in leaderboard_periods(window.end).items()},
        ALERTS: alerts,
    }


ALERTS = "alerts (every rule)"  # cmcore's only: no pandas or SQL way
PAGES = ("overview", "growth", "retention", "responsiveness", "moderation", "reputation", "content",
         "monetisation")


def alternative_pages(way, window: Window) -> dict[str, Callable[[], Values]]:
    """The pages of `way` (module `sql_way` or `pandas_way`: one function per page, and `board`)."""
    return {**{name: (lambda fn=getattr(way, name): fn(window)) for name in PAGES},
            **{f"leaderboard ({name})": (lambda p=p: way.board(window, p))
               for name, p in leaderboard_periods(window.end).items()}}


def reads(compute: Callable[[], Values]) -> list[tuple[str, object]]:
    """The queries a page sends to Postgres from a cold cache: the data it needs."""
    frames.clear()
    with frames.recording() as sent:
        compute()
    return sent
