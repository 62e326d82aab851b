"""What each kind of alert watches: from the cached frames, the findings of one rule at an instant.

A finding is one episode of a condition (`period`): the same episode found again makes no new
message (the notification table's unique key), a new one does.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import polars as pl

from cmcore import frames


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


def link(page: str, **params: object) -> str:
    """The app-relative address of a page with its filters (`ui.filters` reads them)."""
    query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
    return f"{page}?{query}" if query else page


def _import_failed(hours: float, now: datetime) -> list[Finding]:
    """Imports rejected within the last `hours` hours: one finding each."""
    runs = frames.derived("alerts:imports", lambda: frames.read(
        "SELECT id, at, source, actor, error FROM import_run WHERE status = 'rejected' ORDER BY id"), ("import_run",))
    since = now - timedelta(hours=hours)
    recent = runs.filter((pl.col("at") > since) & (pl.col("at") <= now))
    return [Finding(f"import:{r['id']}", {"run": r["id"], "source": r["source"], "actor": r["actor"],
                                          "error": r["error"][:300], "at": r["at"].isoformat()},
                    link("data", tab="imports"))
            for r in recent.iter_rows(named=True)]


def last_data() -> pl.DataFrame:
    """Each platform with data: its slug, name and newest activity."""
    last = frames.derived("alerts:platform_last", lambda: frames.table("activity").group_by("platform_id").agg(
        pl.col("created_at").max().alias("last")), ("activity",))
    return last.join(frames.table("platforms"), on="platform_id").sort("platform_id")


def _platform_stale(hours: float, now: datetime) -> list[Finding]:
    """Platforms whose newest activity is `hours` hours old or more: one finding per stall (a new
    activity, then a new stall, is another)."""
    stale = last_data().filter(pl.col("last") <= now - timedelta(hours=hours))
    return [Finding(f"{r['slug']}:{r['last'].isoformat()}",
                    {"platform": r["name"], "hours": round((now - r["last"]).total_seconds() / 3600),
                     "last": r["last"].isoformat()},
                    link("data", tab="platforms"))
            for r in stale.iter_rows(named=True)]


KINDS = {  # the kinds' words are shown translated (tests/test_i18n.py finds them here)
    "import_failed": Kind("An import failed", "hours looked back", 24, _import_failed,
                          "The import #{run} ({source}) by {actor} failed: {error}"),
    "platform_stale": Kind("A platform has no new data", "hours without data", 48, _platform_stale,
                           "{platform} has had no new data for {hours} hours (a stalled import or sync?)"),
}
