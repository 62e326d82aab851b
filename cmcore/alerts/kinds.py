"""What each kind of alert watches: from the cached frames, the findings of one rule at an instant.

A finding is one episode of a condition (`period`): the same episode found again makes no new
message (the notification table's unique key), a new one does.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import polars as pl

from cmcore import community, frames, leaderboard, money, rewards
from cmcore.access import Principal
from cmcore.kpis import reputation
from cmcore.periods import Period
from cmcore.reports import Scope, moderation_report, responsiveness_report

WORKER = Principal("worker", "admin")  # the worker reads the reports as an administrator would
LOOK_BACK = 90  # days of threads and cases whose backlog is watched


@dataclass(frozen=True)
class Finding:
    """One episode of a rule's condition: its key, what the message says, where the evidence is."""

    period: str
    facts: dict
    link: str


@dataclass(frozen=True)
class Kind:
    """A kind of alert: its name and threshold's meaning (English, translated), how it is found,
    and the sentence saying a finding (English with {fields} from the facts)."""

    title: str
    threshold: str
    default: float
    find: Callable[[float, datetime], list[Finding]]
    says: str


def link(page: str, first: date | None = None, last: date | None = None, platform: str | None = None) -> str:
    """The app-relative address of a page with its filters: the days `first` to `last` included,
    one platform (`ui.filters` reads them)."""
    query = urlencode({k: str(v) for k, v in (("from", first), ("to", last), ("platform", platform)) if v})
    return f"{page}?{query}" if query else page


def _today(now: datetime) -> tuple[str, date]:
    """The community's time zone and its date at `now`."""
    tz = community.timezone()
    return tz, now.astimezone(ZoneInfo(tz)).date()


def _scope(days: int, now: datetime) -> Scope:
    """The `days` days up to today included, at `now` (to the minute: reports are cached per minute)."""
    tz, today = _today(now)
    return Scope(Period.last_days(days, today), None, tz, now.replace(second=0, microsecond=0))


def _week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _import_failed(hours: float, now: datetime) -> list[Finding]:
    """Imports rejected within the last `hours` hours: one finding each."""
    runs = frames.derived("alerts:imports", lambda: frames.read(
        "SELECT id, at, source, actor, error FROM import_run WHERE status = 'rejected' ORDER BY id"), ("import_run",))
    recent = runs.filter((pl.col("at") > now - timedelta(hours=hours)) & (pl.col("at") <= now))
    return [Finding(f"import:{r['id']}", {"run": r["id"], "source": r["source"], "actor": r["actor"],
                                          "error": r["error"][:300]}, link("data"))
            for r in recent.iter_rows(named=True)]


def last_data() -> pl.DataFrame:
    """Each platform with data: its slug, name and newest activity."""
    last = frames.derived("alerts:platform_last", lambda: frames.table("activity").group_by("platform_id").agg(
        pl.col("created_at").max().alias("last")), ("activity",))
    return last.join(frames.table("platforms"), on="platform_id").sort("platform_id")


def _platform_stale(hours: float, now: datetime) -> list[Finding]:
    """Platforms whose newest activity is `hours` hours old or more: one finding per stall (new
    data, then a new stall, is another)."""
    tz, today = _today(now)
    stale = last_data().filter(pl.col("last") <= now - timedelta(hours=hours))
    return [Finding(f"{r['slug']}:{r['last'].isoformat()}",
                    {"platform": r["name"], "hours": round((now - r["last"]).total_seconds() / 3600)},
                    link("overview", r["last"].astimezone(ZoneInfo(tz)).date() - timedelta(days=6), today, r["slug"]))
            for r in stale.iter_rows(named=True)]


def _crisis(floor: float, now: datetime) -> list[Finding]:
    """The Reputation page's crisis detector over the last 7 days (today so far included), with at
    least `floor` negative mentions a day: one finding per crisis day."""
    scope = _scope(7, now)
    mentions = reputation.Mentions.of(frames.arrow("mentions"))
    days = reputation.days_of(mentions, scope.bounds[0], min(scope.bounds[1], now), scope.tz)
    alerts = reputation.crisis_alerts(mentions, days, floor=max(1, int(floor)))
    return [Finding(f"crisis:{r['day']}", {"day": str(r["day"]), "negative": int(r["negative"]),
                                            "usual": round(r["trailing_mean"], 1)},
                    link("reputation", r["day"], r["day"]))
            for r in alerts.iter_rows(named=True)]


def _late(name: str, page: str, sla_key: str, waiting: Callable[[Scope, float], pl.DataFrame],
          count: float, now: datetime) -> list[Finding]:
    """One finding a day while at least `count` items of the last 90 days (`waiting`: those past
    the SLA of `sla_key`, with their age in hours) wait: how many, the SLA and the oldest age."""
    scope = _scope(LOOK_BACK, now)
    sla = float(community.get_settings()[sla_key])
    late = waiting(scope, sla)
    if late.height == 0 or late.height < count:
        return []
    last = scope.period.end - timedelta(days=1)
    return [Finding(f"{name}:{last}", {"count": late.height, "sla": f"{sla:g}", "oldest": round(late["age_hours"].max())},
                    link(page, scope.period.start, last))]


def _unanswered(count: float, now: datetime) -> list[Finding]:
    """Threads of the last 90 days unanswered for longer than the response SLA, when there are at
    least `count` of them."""
    return _late("unanswered", "responsiveness", "response_sla_hours", lambda scope, sla: responsiveness_report(
        WORKER, scope).frames["backlog"].filter(pl.col("age_hours") > sla), count, now)


def _moderation(count: float, now: datetime) -> list[Finding]:
    """Open cases of the last 90 days with no action for longer than the moderation SLA, when there
    are at least `count`."""
    return _late("moderation", "moderation", "moderation_sla_hours", lambda scope, sla: moderation_report(
        WORKER, scope).frames["open"].filter(~pl.col("acted") & (pl.col("age_hours") > sla)), count, now)


def _slipping(top: float, now: datetime) -> list[Finding]:
    """Members (not staff) in the top `top` of the key members' board over the 7 complete days
    before the last 7, and out of it over the last 7: one finding per member and week."""
    tz, today = _today(now)
    period = Period.last_days(7, today - timedelta(days=1))
    board = leaderboard.leaderboard(WORKER, Scope(period, None, tz, now.replace(second=0, microsecond=0)))
    out = board.filter((pl.col("previous_rank") <= top) & (pl.col("rank").is_null() | (pl.col("rank") > top))
                       & ~pl.col("is_staff").fill_null(False))
    return [Finding(f"{r['member_id']}:{_week(today)}",
                    {"member": r["display_name"], "before": r["previous_rank"], "now": r["rank"] or "–",
                     "top": int(top)}, link("leaderboard", period.start, period.end - timedelta(days=1)))
            for r in out.iter_rows(named=True)]


def _budget(share: float, now: datetime) -> list[Finding]:
    """This month's reward budgets of which at least `share` % is used (approved or paid): one
    finding per currency and month."""
    _, today = _today(now)
    month = f"{today:%Y-%m}"
    used = rewards.budgets(WORKER, month).filter(
        (pl.col("budget") > 0) & (pl.col("used") * 100 >= pl.col("budget") * share))
    return [Finding(f"{month}:{r['currency']}", {"month": month, "currency": r["currency"],
                                                 "share": round(100 * r["used"] / r["budget"])}, link("rewards"))
            for r in used.iter_rows(named=True)]


def campaign_pace(campaigns: pl.DataFrame, today: date) -> pl.DataFrame:
    """Running campaigns with deliverables: their share delivered and the share a linear pace
    would have delivered by the end of `today` (days elapsed over days in all)."""
    return (campaigns.filter((pl.col("starts_on") <= today) & (pl.col("ends_on") >= today))
            .with_columns(pl.col("deliverables").list.eval(pl.element().struct.field("target")).list.sum()
                          .alias("target"),
                          pl.col("deliverables").list.eval(pl.element().struct.field("delivered")).list.sum()
                          .alias("delivered"))
            .filter(pl.col("target") > 0)
            .with_columns((pl.col("delivered") / pl.col("target")).alias("done"),
                          (((pl.lit(today) - pl.col("starts_on")).dt.total_days() + 1)
                           / ((pl.col("ends_on") - pl.col("starts_on")).dt.total_days() + 1)).alias("pace")))


def _campaign(behind: float, now: datetime) -> list[Finding]:
    """Running campaigns whose deliverables are `behind` percentage points or more behind their
    linear pace: one finding per campaign and week."""
    _, today = _today(now)
    late = campaign_pace(money.campaigns(WORKER), today).filter(pl.col("pace") - pl.col("done") >= behind / 100)
    return [Finding(f"{r['id']}:{_week(today)}",
                    {"campaign": r["name"], "done": round(100 * r["done"]), "pace": round(100 * r["pace"])},
                    link("monetisation", r["starts_on"], today))
            for r in late.iter_rows(named=True)]


def _connection_failing(hours: float, now: datetime) -> list[Finding]:
    """Connections (not paused) whose syncs have failed for `hours` hours or more (0: at once),
    a refused token included: one finding per streak of failures."""
    failing = frames.read(
        "SELECT id, name, kind, state, failing_since, last_error FROM connection WHERE removed_at IS NULL"
        " AND NOT paused AND failing_since <= $1 ORDER BY id", [now - timedelta(hours=hours)])
    return [Finding(f"connection:{r['id']}:{r['failing_since'].isoformat()}",
                    {"connection": r["name"], "since": r["failing_since"].strftime("%Y-%m-%d %H:%M UTC"),
                     "error": (r["last_error"] or "")[:300]}, link("connections"))
            for r in failing.iter_rows(named=True)]


KINDS = {  # the kinds' words are shown translated (tests/test_i18n.py finds them here)
    "crisis": Kind("A reputation crisis", "negative mentions a day, at least", 5, _crisis,
                   "{negative} negative {negative|mention|mentions} on {day}, against {usual} a day usually: a crisis?"),
    "unanswered": Kind("Unanswered threads past the response SLA", "threads, at least", 1, _unanswered,
                       "{count} {count|thread has|threads have} waited for an answer for more than {sla} h (the oldest {oldest} h)"),
    "moderation": Kind("Moderation cases past the SLA", "cases, at least", 1, _moderation,
                       "{count} reported {count|case has|cases have} had no action for more than {sla} h (the oldest {oldest} h)"),
    "member_slipping": Kind("A key member slipped out of the top", "the top N", 10, _slipping,
                            "{member} slipped out of the top {top} of the last 7 days (rank {before} → {now})"),
    "budget": Kind("A reward budget is nearly spent", "% of the budget used", 80, _budget,
                   "{share} % of the {currency} rewards budget of {month} is used"),
    "campaign_pace": Kind("A campaign is behind its pace", "percentage points behind", 20, _campaign,
                          "{campaign} has delivered {done} % of its deliverables; a linear pace would be at {pace} %"),
    "platform_stale": Kind("A platform has no new data", "hours without data", 48, _platform_stale,
                           "{platform} has had no new data for {hours} {hours|hour|hours} (a stalled import or sync?)"),
    "import_failed": Kind("An import failed", "hours looked back", 24, _import_failed,
                          "The import #{run} ({source}) by {actor} failed: {error}"),
    "connection_failing": Kind("A connection is failing", "hours failing, at least", 0, _connection_failing,
                               "The connection {connection} has failed since {since}: {error}"),
}
