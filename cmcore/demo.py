"""A deterministic synthetic community for the demo, the tests and the benchmarks.

Same (members, days, activities, seed, end) → same rows. Everything is drawn with numpy in whole
arrays (no loop over rows) and bulk-loaded with COPY in one transaction.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import sqlalchemy as sa

from cmcore import audit, auth, db, leaderboard, rewards
from cmcore.access import Principal, require
from cmcore.currencies import POINTS
from cmcore.passwords import new_password
from cmcore.progress import Progress
from cmcore.reports import Scope

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR

PLATFORMS = [  # slug, name, kind, share of members whose main account is there
    ("discord", "Discord", "discord", 0.34),
    ("forum", "Discourse forum", "discourse", 0.24),
    ("reddit", "r/community", "reddit", 0.14),
    ("stackexchange", "Stack Exchange", "stackexchange", 0.12),
    ("x", "X", "x", 0.09),
    ("youtube", "YouTube", "youtube", 0.07),
]
RULES = [("spam", "No spam or self-promotion"), ("respect", "Be respectful"),
         ("off-topic", "Stay on topic"), ("nsfw", "No NSFW content"),
         ("privacy", "No personal information")]
RULE_SHARE = [0.38, 0.27, 0.2, 0.08, 0.07]
TAGS = ["getting-started", "api", "install", "performance", "security", "showcase", "events",
        "feedback", "bug", "integrations"]
FIRST = ["Camille", "Léa", "Hugo", "Chloé", "Louis", "Manon", "Jules", "Inès", "Noah", "Emma",
         "Olivia", "Liam", "Ava", "Ethan", "Maya", "Lucas", "Zoé", "Nathan", "Sofia", "Adam"]
LAST = ["Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Smith", "Johnson", "Brown", "Garcia",
        "Lefèvre", "Roux", "Fournier", "Taylor", "Wilson", "Nguyen", "Petit"]
THREAD_TITLES = ["How do I get started with the API?", "Comment installer la version 2 ?",
                 "Show and tell: my first integration", "Performance drops after upgrade",
                 "Question sur l'authentification", "Feature request: dark mode",
                 "Bug: export fails on large files", "Meetup à Lyon le mois prochain ?",
                 "Best practices for plugins?", "Retour d'expérience après six mois"]
REPLY_BODIES = ["Thanks, that fixed it!", "Merci, ça marche maintenant.", "Have you tried clearing the cache?",
                "Voici la doc qui explique ça.", "Same problem here.", "+1, je confirme le bug.",
                "Here is a workaround until the fix lands.", "Super idée !"]
MENTIONS = {  # (lang, sentiment) → texts
    ("en", 1): ["Loving this community, so helpful!", "Great meetup last night, thanks all",
                "Their forum answered my question in an hour. Impressive."],
    ("en", 0): ["Anyone using this project in production?", "New release notes are out.",
                "Reading the docs of this tool today."],
    ("en", -1): ["Support is slow lately, disappointed.", "Another outage? Frustrating.",
                 "The new pricing is a bad joke."],
    ("fr", 1): ["Communauté au top, merci pour l'aide !", "Super soirée au meetup hier.",
                "Réponse rapide et claire sur le forum, bravo."],
    ("fr", 0): ["Quelqu'un utilise cet outil en production ?", "La nouvelle version est sortie.",
                "Je lis la documentation ce soir."],
    ("fr", -1): ["Encore une panne, c'est pénible.", "Le support ne répond plus, déçu.",
                 "Les nouveaux tarifs sont inacceptables."],
}
CRISIS = {"en": "Data leak? Everyone is talking about the outage and nobody answers.",
          "fr": "Fuite de données ? Tout le monde parle de la panne et personne ne répond."}
SPONSORS = [("Nordlys Cloud", "EUR"), ("Atelier Quantique", "EUR"), ("Bytefolk Labs", "USD")]
DEMO_USERS = [("admin", "Ada Admin", "admin"), ("manager", "Maëlle Manager", "manager"),
              ("staff", "Sami Staff", "staff"), ("staff2", "Théo Staff", "staff"),
              ("sponsor", "Nordlys Cloud (sponsor)", "sponsor")]


@dataclass(frozen=True)
class DemoSpec:
    members: int = 500
    days: int = 180
    activities: int | None = None  # default: 25 per member
    seed: int = 42
    end: date | None = None  # default: today (UTC); the data ends at this date's midnight

    @property
    def target_activities(self) -> int:
        return self.activities if self.activities is not None else 25 * self.members


def _ts(us: np.ndarray) -> pl.Series:
    return pl.Series(us.astype(np.int64)).cast(pl.Datetime("us", "UTC"))


def _pick(rng: np.random.Generator, items: list[str], n: int) -> pl.Series:
    return pl.Series(items).gather(rng.integers(0, len(items), n))


def _lognormal_hours(rng: np.random.Generator, median_h: float, sigma: float, n: int) -> np.ndarray:
    return (rng.lognormal(np.log(median_h), sigma, n) * US_PER_HOUR).astype(np.int64)


class _Community:
    """Draws every table of the community as Polars frames."""

    def __init__(self, spec: DemoSpec):
        if spec.members < 10 or spec.days < 14:
            raise ValueError("a demo needs at least 10 members and 14 days")
        self.spec = spec
        self.rng = np.random.default_rng(spec.seed)
        end = spec.end or datetime.now(UTC).date()
        self.end_us = int(datetime.combine(end, datetime.min.time(), UTC).timestamp()) * 1_000_000
        self.start_us = self.end_us - spec.days * US_PER_DAY
        self.tables: dict[str, pl.DataFrame] = {}

    def build(self) -> dict[str, pl.DataFrame]:
        self.platforms()
        self.members()
        self.activity()
        self.moderation()
        self.events()
        self.mentions()
        self.money()
        return self.tables

    def platforms(self) -> None:
        self.tables["platform"] = pl.DataFrame(
            {"id": range(1, len(PLATFORMS) + 1), "slug": [p[0] for p in PLATFORMS],
             "name": [p[1] for p in PLATFORMS], "kind": [p[2] for p in PLATFORMS]})
        self.tables["rule"] = pl.DataFrame({"id": range(1, len(RULES) + 1),
                                            "code": [r[0] for r in RULES], "title": [r[1] for r in RULES]})

    def members(self) -> None:
        rng, n, span = self.rng, self.spec.members, self.spec.days * US_PER_DAY
        # A launch week that brings a quarter of the members, then growth that slows to a plateau.
        launch = rng.random(n) < 0.25
        frac = np.where(launch, rng.random(n) * 7 / self.spec.days, 1 - (1 - rng.random(n)) ** 0.45)
        joined = np.sort(self.start_us + (frac * span).astype(np.int64))
        staff_n = min(15, max(3, n // 100))
        is_staff = np.arange(n) < staff_n
        # Power-law activity: a few members do most of the work; staff are steady contributors.
        weight = (rng.pareto(1.1, n) + 1) * np.where(is_staff, 25, 1)
        lifetime = (rng.exponential(self.spec.days * 0.6, n) * US_PER_DAY).astype(np.int64)
        self.active_until = np.where(is_staff, self.end_us, np.minimum(joined + lifetime, self.end_us))
        self.joined, self.is_staff, self.weight = joined, is_staff, weight / weight.sum()
        self.troublemaker = rng.random(n) < 0.03
        ids = np.arange(1, n + 1)
        names = (_pick(rng, FIRST, n) + " " + _pick(rng, LAST, n).str.slice(0, 1) + ". #"
                 + pl.Series(ids).cast(pl.String))
        self.tables["member"] = pl.DataFrame({"id": ids, "display_name": names,
                                              "joined_at": _ts(joined), "is_staff": is_staff})
        shares = np.array([p[3] for p in PLATFORMS])
        main = rng.choice(len(PLATFORMS), n, p=shares)
        second = (main + 1 + rng.integers(0, len(PLATFORMS) - 1, n)) % len(PLATFORMS)
        has_second = rng.random(n) < 0.25
        second_joined = joined + (rng.random(n) * (self.end_us - joined)).astype(np.int64)
        self.main_platform = main + 1
        member_ids = np.concatenate([ids, ids[has_second]])
        platform_ids = np.concatenate([main, second[has_second]]) + 1
        handles = pl.Series(member_ids).cast(pl.String)
        self.tables["member_identity"] = pl.DataFrame({
            "platform_id": platform_ids,
            "external_id": pl.Series(platform_ids).cast(pl.String) + "-" + handles,
            "handle": "user" + handles, "member_id": member_ids, "original_member_id": member_ids,
            "joined_at": _ts(np.concatenate([joined, second_joined[has_second]])),
        })

    def _authors(self, at: np.ndarray) -> np.ndarray:
        """Members drawn by activity weight; one who had not joined yet at `at` is replaced by staff."""
        picked = self.rng.choice(len(self.weight), len(at), p=self.weight)
        staff = self.rng.integers(0, int(self.is_staff.sum()), len(at))
        return np.where(self.joined[picked] <= at, picked, staff) + 1

    def activity(self) -> None:
        rng = self.rng
        n_threads = max(10, round(self.spec.target_activities / 9.5))
        author = rng.choice(len(self.weight), n_threads, p=self.weight)
        lo, hi = self.joined[author], self.active_until[author]
        t_at = lo + (rng.random(n_threads) * np.maximum(hi - lo, 1)).astype(np.int64)
        platform = self.main_platform[author]
        se = platform == 4
        question = se | (rng.random(n_threads) < np.where(platform == 2, 0.4, 0.1))
        t_ids = np.arange(1, n_threads + 1)
        # Replies: 15% of threads never get one; the first comes after a log-normal delay.
        n_replies = np.where(rng.random(n_threads) < 0.15, 0, rng.geometric(0.4, n_threads))
        r_thread = np.repeat(np.arange(n_threads), n_replies)
        first_delay = _lognormal_hours(rng, 2.5, 1.4, n_threads)
        r_at = t_at[r_thread] + first_delay[r_thread] + np.where(
            np.arange(len(r_thread)) == np.repeat(np.cumsum(n_replies) - n_replies, n_replies), 0,
            _lognormal_hours(rng, 8, 1.2, len(r_thread)))
        r_ids = n_threads + np.arange(1, len(r_thread) + 1)
        # Comments hang under replies; reactions under threads and replies.
        n_comments = rng.poisson(0.45, len(r_thread))
        c_parent = np.repeat(np.arange(len(r_thread)), n_comments)
        c_at = r_at[c_parent] + _lognormal_hours(rng, 3, 1.3, len(c_parent))
        c_ids = r_ids[-1:].max(initial=n_threads) + np.arange(1, len(c_parent) + 1)
        targets_at = np.concatenate([t_at, r_at])
        targets_id = np.concatenate([t_ids, r_ids])
        targets_thread = np.concatenate([t_ids, t_ids[r_thread]])
        n_react = rng.poisson(np.concatenate([np.full(n_threads, 2.4), np.full(len(r_thread), 1.2)]))
        x_target = np.repeat(np.arange(len(targets_id)), n_react)
        x_at = targets_at[x_target] + _lognormal_hours(rng, 1.5, 1.5, len(x_target))
        x_ids = max(n_threads, r_ids.max(initial=0), c_ids.max(initial=0)) + np.arange(1, len(x_target) + 1)
        accepted = np.zeros(len(r_thread), bool)
        answered_se = np.flatnonzero(se & (n_replies > 0) & (rng.random(n_threads) < 0.55))
        accepted[(np.cumsum(n_replies) - n_replies)[answered_se]] = True

        kind_reply = np.where(se[r_thread], "answer", "reply")
        thread_of = np.concatenate([t_ids, t_ids[r_thread], t_ids[r_thread][c_parent],
                                    targets_thread[x_target]])
        frame = pl.DataFrame({
            "id": np.concatenate([t_ids, r_ids, c_ids, x_ids]),
            "platform_id": platform[thread_of - 1],
            "member_id": np.concatenate([author + 1, self._authors(r_at), self._authors(c_at),
                                         self._authors(x_at)]),
            "kind": np.concatenate([np.full(n_threads, "thread"), kind_reply,
                                    np.full(len(c_at), "comment"), np.full(len(x_at), "reaction")]),
            "parent_id": np.concatenate([np.zeros(n_threads, np.int64), t_ids[r_thread], r_ids[c_parent],
                                         targets_id[x_target]]),
            "thread_id": np.where(np.arange(len(thread_of)) < n_threads, 0, thread_of),
            "created_at_us": np.concatenate([t_at, r_at, c_at, x_at]),
            "is_question": np.concatenate([question, np.zeros(len(r_at) + len(c_at) + len(x_at), bool)]),
            "accepted": np.concatenate([np.zeros(n_threads, bool), accepted,
                                        np.zeros(len(c_at) + len(x_at), bool)]),
        }).filter(pl.col("created_at_us") < self.end_us).with_columns(
            pl.col("parent_id", "thread_id").replace(0, None))
        n = frame.height
        slugs = [p[0] for p in PLATFORMS]
        is_thread = frame["kind"] == "thread"
        thread_title = _pick(rng, THREAD_TITLES, n)
        self.tables["activity"] = frame.select(
            "id", "platform_id", pl.col("id").cast(pl.String).alias("external_id"), "member_id",
            "kind", "parent_id", "thread_id",
            pl.Series("created_at", _ts(frame["created_at_us"].to_numpy())),
            pl.when(is_thread).then(thread_title).alias("title"),
            pl.when(pl.col("kind") == "reaction").then(pl.lit(None, pl.String))
            .when(is_thread).then(thread_title).otherwise(_pick(rng, REPLY_BODIES, n)).alias("body"),
            pl.when(is_thread).then("{" + _pick(rng, TAGS, n) + "}").otherwise(pl.lit("{}")).alias("tags"),
            "is_question", "accepted",
            pl.when(is_thread).then(pl.format("https://{}.example/t/{}", pl.Series(slugs).gather(
                frame["platform_id"] - 1), pl.col("id"))).alias("url"),
        )

    def moderation(self) -> None:
        rng, acts = self.rng, self.tables["activity"].filter(pl.col("kind") != "reaction")
        weights = np.where(self.troublemaker[acts["member_id"].to_numpy() - 1], 40.0, 1.0)
        n = max(5, int(acts.height * 0.008))
        rows = np.sort(rng.choice(acts.height, min(n, acts.height), replace=False, p=weights / weights.sum()))
        picked = acts[rows]
        reported = (picked["created_at"].dt.epoch("us").to_numpy() + _lognormal_hours(rng, 2, 1.2, len(rows)))
        action = reported + _lognormal_hours(rng, 1.5, 1.3, len(rows))
        resolved = action + _lognormal_hours(rng, 6, 1.2, len(rows))
        forgotten = rng.random(len(rows)) < 0.03  # cases nobody has handled yet
        acted, done = (action < self.end_us) & ~forgotten, (resolved < self.end_us) & ~forgotten
        frame = pl.DataFrame({
            "id": np.arange(1, len(rows) + 1), "platform_id": picked["platform_id"],
            "activity_id": picked["id"], "member_id": picked["member_id"],
            "rule_id": rng.choice(len(RULES), len(rows), p=RULE_SHARE) + 1,
            "reported_at": _ts(reported), "first_action_at": _ts(action), "resolved_at": _ts(resolved),
            "outcome": np.where(rng.random(len(rows)) < 0.7, "upheld", "dismissed"),
            "keep": reported < self.end_us, "acted": acted, "done": done & acted,
        })
        self.tables["moderation_case"] = frame.filter("keep").select(
            "id", "platform_id", pl.col("id").cast(pl.String).alias("external_id"), "activity_id",
            "member_id", "rule_id", "reported_at",
            pl.when("acted").then("first_action_at").alias("first_action_at"),
            pl.when("done").then("resolved_at").alias("resolved_at"),
            pl.when("done").then("outcome").alias("outcome"))

    def events(self) -> None:
        rng, n_events = self.rng, max(2, self.spec.days // 10)
        # Roughly every ten days at 18:00 UTC, the last two still to come.
        starts = (self.start_us + (np.arange(n_events) - 1) * 10 * US_PER_DAY
                  + 18 * US_PER_HOUR + US_PER_DAY * 12)
        fmt = np.where(np.arange(n_events) % 3 == 0, "in_person", "online")
        self.tables["event"] = pl.DataFrame({
            "id": np.arange(1, n_events + 1),
            "external_id": [f"demo-event-{i}" for i in range(1, n_events + 1)],
            "title": [f"{'Meetup' if f == 'in_person' else 'Live Q&A'} #{i}" for i, f in enumerate(fmt, 1)],
            "format": fmt, "starts_at": _ts(starts),
            "location": np.where(fmt == "in_person", "Lyon", "online"),
        })
        ev, mem, reg = [], [], []
        for i, start in enumerate(starts, 1):  # one draw per event: a few dozen at most
            joined = np.flatnonzero(self.joined < start - US_PER_DAY)
            if not len(joined):
                continue
            k = min(len(joined), 8 + int(rng.pareto(1.5) * 10))
            who = rng.choice(joined, k, replace=False, p=self.weight[joined] / self.weight[joined].sum())
            ev.append(np.full(k, i))
            mem.append(who + 1)
            reg.append(np.maximum(start - (rng.random(k) * 14 * US_PER_DAY).astype(np.int64),
                                  self.joined[who]))
        ev, mem, reg = (np.concatenate(x) for x in (ev, mem, reg))
        starts_of = starts[ev - 1]
        attended = (starts_of < self.end_us) & (rng.random(len(ev)) < np.where(fmt[ev - 1] == "online", 0.5, 0.7))
        self.tables["event_attendance"] = pl.DataFrame({
            "event_id": ev, "member_id": mem, "registered_at": _ts(np.minimum(reg, self.end_us - 1)),
            "attended": attended})

    def mentions(self) -> None:
        rng, days = self.rng, self.spec.days
        per_day = rng.poisson(2 + 6 * np.arange(days) / days)
        day = np.repeat(np.arange(days), per_day)
        n = len(day)
        lang = np.where(rng.random(n) < 0.55, "fr", "en")
        sentiment = rng.choice([1, 0, -1], n, p=[0.45, 0.37, 0.18])
        crisis_day = int(days * 0.72)
        k = 35
        day = np.concatenate([day, np.full(k, crisis_day)])
        lang = np.concatenate([lang, np.where(rng.random(k) < 0.5, "fr", "en")])
        sentiment = np.concatenate([sentiment, np.full(k, -1)])
        texts = [CRISIS[l] if i >= n else MENTIONS[(l, int(s))][rng.integers(0, 3)]
                 for i, (l, s) in enumerate(zip(lang, sentiment, strict=True))]
        total = len(day)
        source = rng.choice(["x", "reddit", "blog", "news", "youtube"], total, p=[0.4, 0.25, 0.15, 0.1, 0.1])
        at = self.start_us + day * US_PER_DAY + (rng.random(total) * US_PER_DAY).astype(np.int64)
        ids = np.arange(1, total + 1)
        self.tables["mention"] = pl.DataFrame({
            "id": ids, "source": source,
            "url": [f"https://{s}.example/{i}" for s, i in zip(source, ids, strict=True)],
            "author": [f"@{FIRST[i % len(FIRST)].lower()}{i % 97}" for i in ids],
            "body": texts, "created_at": _ts(at),
            "reach": (rng.lognormal(6, 1.6, total)).astype(np.int64), "lang": lang, "sentiment": sentiment,
        })

    def money(self) -> None:
        rng = self.rng
        start_day = datetime.fromtimestamp(self.start_us / 1e6, UTC).date()
        end_day = datetime.fromtimestamp(self.end_us / 1e6, UTC).date()
        self.tables["sponsor"] = pl.DataFrame({
            "id": range(1, len(SPONSORS) + 1), "name": [s[0] for s in SPONSORS],
            "contact_email": [f"partners@{s[0].split()[0].lower()}.example" for s in SPONSORS]})
        campaigns, delivery, revenue = [], [], []
        span = (end_day - start_day).days
        for sponsor_id, (name, currency) in enumerate(SPONSORS, 1):
            for j in range(2):
                cid = len(campaigns) + 1
                share = 0.15 + 0.08 * sponsor_id if j == 0 else 0.78 + 0.05 * sponsor_id  # autumn: running now
                begins = start_day + timedelta(days=int(span * share))
                ends = begins + timedelta(days=int(rng.integers(21, 60)))
                amount = int(rng.integers(20, 80)) * 100_000
                deliverables = [{"kind": "post", "label": "Sponsored posts", "target": 4,
                                 "delivered": int(rng.integers(1, 5))},
                                {"kind": "event", "label": "Talk at a meetup", "target": 1,
                                 "delivered": int(rng.integers(0, 2))}]
                campaigns.append((cid, sponsor_id, f"{name} — {'spring' if j == 0 else 'autumn'} campaign",
                                  begins, ends, amount, currency, json.dumps(deliverables)))
                days = pl.date_range(begins, min(ends, end_day - timedelta(days=1)), eager=True)
                if len(days):
                    impressions = rng.poisson(40_000, len(days))
                    delivery.append(pl.DataFrame({
                        "campaign_id": cid, "day": days, "impressions": impressions,
                        "clicks": rng.binomial(impressions, 0.012),
                        "engagements": rng.binomial(impressions, 0.03)}))
                if begins < end_day:
                    paid = begins + timedelta(days=30)
                    revenue.append(("sponsorship", sponsor_id, cid, amount, currency, begins,
                                    paid if paid < end_day else None, False, f"Campaign {cid}"))
        months = pl.date_range(start_day.replace(day=1), end_day, "1mo", eager=True)
        for k, month in enumerate(months):
            net45, net20 = (d if d < end_day else None for d in (month + timedelta(days=45),
                                                                  month + timedelta(days=20)))
            joined_by = int((self.joined < self.start_us + (k + 1) * 30 * US_PER_DAY).sum())
            revenue += [
                ("ads", None, None, int(rng.integers(800, 2500)) * 100, "EUR", month, net45, False, "Ad network"),
                ("membership", None, None, max(1, joined_by // 40) * 500, "EUR", month, month, True,
                 "Supporter memberships"),
                ("donation", None, None, int(rng.integers(50, 600)) * 100, "EUR", month, month, False, "Donations"),
                ("merch", None, None, int(rng.integers(100, 900)) * 100, "EUR", month, net20, False, "Shop"),
            ]
        self.tables["campaign"] = pl.DataFrame(campaigns, orient="row", schema=[
            "id", "sponsor_id", "name", "starts_on", "ends_on", "amount_minor", "currency", "deliverables"])
        self.tables["campaign_delivery"] = pl.concat(delivery)
        frame = pl.DataFrame(revenue, orient="row", schema={
            "stream": pl.String, "sponsor_id": pl.Int64, "campaign_id": pl.Int64, "amount_minor": pl.Int64,
            "currency": pl.String, "booked_on": pl.Date, "received_on": pl.Date, "recurring": pl.Boolean,
            "description": pl.String})
        self.tables["revenue"] = frame.filter(pl.col("booked_on") < end_day).with_row_index("id", 1)


LOAD_ORDER = ["platform", "rule", "member", "member_identity", "activity", "moderation_case",
              "event", "event_attendance", "mention", "sponsor", "campaign", "campaign_delivery",
              "revenue"]


def generate(spec: DemoSpec) -> dict[str, pl.DataFrame]:
    """Every table of the demo community, as frames (no database involved)."""
    return _Community(spec).build()


def copy_frame(conn: sa.Connection, table: str, frame: pl.DataFrame, progress: Progress | None = None,
               chunk_rows: int = 500_000) -> None:
    """Bulk-load `frame` into `table` with COPY (CSV), in chunks so progress can be shown."""
    columns = ", ".join(frame.columns)
    with db.raw(conn).cursor().copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        for offset in range(0, max(frame.height, 1), chunk_rows):
            buf = io.BytesIO()
            frame.slice(offset, chunk_rows).write_csv(buf, include_header=False)
            copy.write(buf.getvalue())
            if progress:
                progress(min(1.0, (offset + chunk_rows) / max(frame.height, 1)), table)


def is_empty() -> bool:
    with db.engine().connect() as conn:
        return conn.execute(sa.text("SELECT NOT EXISTS (SELECT 1 FROM member)")).scalar_one()


def load(spec: DemoSpec, actor: Principal, progress: Progress | None = None,
         with_users: bool = True, tables: dict[str, pl.DataFrame] | None = None) -> dict[str, str]:
    """Fill an empty database with the demo community in one transaction (`tables`: what
    `generate(spec)` returned, when the caller generated it already).

    Returns the demo users' passwords (username → password), to be shown once.
    """
    require(actor, "admin")
    if not is_empty():
        raise ValueError("the database already holds a community: the demo fills only an empty one")
    report = progress or (lambda _f, _m: None)
    report(0.0, "generating")
    tables = tables or generate(spec)
    total = sum(f.height for f in tables.values())
    done = 0
    passwords: dict[str, str] = {}
    with db.transaction() as conn:
        for name in LOAD_ORDER:
            frame = tables[name]
            copy_frame(conn, name, frame, lambda f, m, base=done, h=frame.height:
                       report(0.05 + 0.9 * (base + f * h) / total, m))
            done += frame.height
            if "id" in frame.columns:
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                                     f" (SELECT coalesce(max(id), 1) FROM {name}))"))
        audit.record(conn, actor.username, "demo.load", "community", None, members=spec.members,
                     days=spec.days, seed=spec.seed, rows=total)
    if with_users:
        for username, display_name, role in DEMO_USERS:
            if auth.get_user(username) is None:
                passwords[username] = new_password()
                auth.add_user(actor, username, display_name, role, passwords[username],
                              sponsor_id=1 if role == "sponsor" else None, email=f"{username}@example.org")
        report(0.97, "rewards")
        last_day = (spec.end or datetime.now(UTC).date()) - timedelta(days=1)
        seed_rewards(f"{last_day:%Y-%m}")
    report(1.0, "done")
    return passwords


def seed_rewards(month: str) -> None:
    """The demo users' rewards programme for `month` (the demo's last), so that a first visit shows
    the whole flow: two rules, the month's budget in points, and rewards in every state — proposed by the
    rules and by hand (staff), approved and rejected by another (staff2), cancelled, paid (manager)."""
    manager, staff, staff2 = Principal("manager", "manager"), Principal("staff", "staff"), Principal("staff2", "staff")
    rewards.set_budget(manager, month, POINTS, "1000")  # in points: the money budget is the alerts' starter's
    rewards.add_rule(manager, "top3", "Top 3 of the month", "top_n", {"n": 3}, "points", "100")
    rewards.add_rule(manager, "answers", "Accepted answers", "accepted_answer", {}, "points", "10")
    rewards.propose_from_rules(staff, month)
    board = leaderboard.leaderboard(staff, Scope(rewards.month_period(month))).filter(pl.col("rank").is_not_null())
    for member in board["member_id"].slice(3, 3).to_list():  # beyond the top 3: thanked by hand
        rewards.propose(staff, member, month, "gift", "0", POINTS, "Welcomed the newcomers all month")
    ids = rewards.rewards(staff, month).sort("id")["id"].to_list()
    steps = [lambda r: rewards.approve(staff2, r), lambda r: rewards.approve(staff2, r),
             lambda r: rewards.reject(staff2, r, "Already thanked last month"),
             lambda r: rewards.cancel(staff, r, "Proposed twice")]
    for reward_id, step in zip(ids, steps, strict=False):
        step(reward_id)
    if ids:
        rewards.pay(manager, ids[:1])
