"""The monetisation tracker and sponsor reports: reads scoped to the caller, validated writes.

A sponsor user only ever reads rows of its own sponsor: the sponsor id comes from its principal,
never from the request, and goes into the SQL that reads the rows.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl
import sqlalchemy as sa
from babel import numbers

from cmcore import audit, db, frames
from cmcore.access import AccessDenied, Principal, require
from cmcore.currencies import CURRENCIES, MAX_MINOR
from cmcore.ingest.canonical import MAX_COUNT
from cmcore.kpis import Metric, bots_of, growth
from cmcore.kpis import monetisation as m
from cmcore.reports import Report, Scope
from cmcore.periods import Period
from cmcore.refusal import Amount, Refusal

MANAGERS = ("admin", "manager")
STREAMS = ("ads", "sponsorship", "membership", "donation", "merch", "other")
_CAMPAIGN_COLUMNS = "id, sponsor_id, name, starts_on, ends_on, amount_minor, currency, deliverables::text AS deliverables"
_DELIVERABLE = pl.List(pl.Struct({"kind": pl.String, "label": pl.String, "target": pl.Int64, "delivered": pl.Int64}))


class MoneyError(Refusal):
    """A monetisation form was refused; the message names the field at fault."""


# ------------------------------------------------------------------ validation


def typed(text: str, lang: str) -> str:
    """An amount as a person typed it in the `lang` interface → the plain amount ('1 000,5' in
    French, '1,000.5' in English → '1000.5'), read strictly by Babel with the language's decimal
    mark and grouping: in French '0,001' is a thousandth, never a thousand. Empty stays empty."""
    raw = str(text).strip()
    if not raw:
        return raw
    group = numbers.get_group_symbol(lang)
    if group.isspace():  # French groups with a narrow no-break space: any space typed is one
        raw = re.sub(r"[ \u00a0\u202f]", group, raw)
    try:
        return format(numbers.parse_decimal(raw, locale=lang, strict=True), "f")
    except numbers.NumberFormatError:
        raise MoneyError("amount: {text} is not an amount (e.g. 1234.56)", text=repr(text)) from None


def parse_amount(text: str | int, currency: str) -> int:
    """'1 234,56' or '1234.56' in `currency` → minor units (123456); refuses more decimals than
    the currency has, anything not a number, and amounts outside 1 … MAX_MINOR minor units.
    Typed in a page, an amount is read in its language first (`typed`)."""
    currency = parse_currency(currency)
    decimals = CURRENCIES[currency]
    raw = str(text).strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace("'", "")
    if re.fullmatch(r"[1-9]\d{0,2}(,\d{3})+(\.\d+)?", raw):  # 1,234.56 (0,001 is a decimal comma's)
        raw = raw.replace(",", "")
    raw = raw.replace(",", ".")
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?", raw)
    if not match:
        raise MoneyError("amount: {text} is not an amount (e.g. 1234.56)", text=repr(text))
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > decimals:
        raise MoneyError("amount: {currency} has {decimals} {decimals|decimal|decimals}, {text} has {count}", currency=currency,
                         decimals=decimals, text=repr(text), count=len(fraction))
    whole = whole.lstrip("0")
    too_large = MoneyError("amount: at most {amount}", amount=Amount(MAX_MINOR, currency))
    if len(whole) > 15:  # far beyond the bound (and int() refuses thousands of digits)
        raise too_large
    minor = int(whole or 0) * 10 ** decimals + int(fraction.ljust(decimals, "0") or 0)
    if minor > MAX_MINOR:
        raise too_large
    if minor <= 0:
        raise MoneyError("amount: must be more than zero")
    return minor


def parse_currency(code: str) -> str:
    """`code` as an ISO 4217 currency the app records money in (upper case), or MoneyError."""
    code = (code or "").strip().upper()
    if code not in CURRENCIES:
        raise MoneyError("currency: {code} is not an ISO 4217 currency code (e.g. EUR)", code=code or "(empty)")
    return code


def _check_deliverables(items: list[dict]) -> list[dict]:
    clean = []
    for n, d in enumerate(items, 1):
        label = str(d.get("label") or "").strip()
        target, delivered = d.get("target"), d.get("delivered", 0)
        if not label:
            raise MoneyError("deliverable {n}: a label is needed", n=n)
        if not (isinstance(target, int) and isinstance(delivered, int) and 1 <= target <= MAX_COUNT
                and 0 <= delivered <= MAX_COUNT):
            raise MoneyError("deliverable {n}: target is a whole number from 1 to {most}, delivered from 0", n=n,
                             most=MAX_COUNT)
        clean.append({"kind": str(d.get("kind") or "other"), "label": label, "target": target, "delivered": delivered})
    return clean


# ------------------------------------------------------------------ scoped reads


def sponsor_in_scope(principal: Principal, sponsor_id: int | None) -> int | None:
    """The sponsor whose rows `principal` may read: a sponsor user only its own (asking for another
    is refused), managers and admins the one they choose (None: all)."""
    if principal is not None and principal.role == "sponsor":
        if sponsor_id is not None and sponsor_id != principal.sponsor_id:
            raise AccessDenied("a sponsor sees its own campaigns only")
        return principal.sponsor_id
    require(principal, *MANAGERS)
    return sponsor_id


def _read(sql: str, sponsor_id: int | None, key: str, tables: tuple[str, ...],
          sponsor_column: str = "sponsor_id") -> pl.DataFrame:
    """Rows of `sql` (which reads `tables`), restricted in SQL to one sponsor (on `sponsor_column`)
    when `sponsor_id` is given."""
    if sponsor_id is None:
        return frames.derived(key, lambda: frames.read(sql), tables)
    return frames.derived(f"{key}:{sponsor_id}",
                          lambda: frames.read(f"{sql} WHERE {sponsor_column} = $1", [sponsor_id]), tables)


def campaigns(principal: Principal, sponsor_id: int | None = None) -> pl.DataFrame:
    sponsor_id = sponsor_in_scope(principal, sponsor_id)
    frame = _read(f"SELECT {_CAMPAIGN_COLUMNS} FROM campaign", sponsor_id, "campaigns", ("campaign",))
    return frame.with_columns(pl.col("deliverables").str.json_decode(_DELIVERABLE)).sort("starts_on", "id")


def delivery(principal: Principal, sponsor_id: int | None = None) -> pl.DataFrame:
    sponsor_id = sponsor_in_scope(principal, sponsor_id)
    sql = ("SELECT d.campaign_id, d.day, d.impressions, d.clicks, d.engagements, c.sponsor_id"
           " FROM campaign_delivery d JOIN campaign c ON c.id = d.campaign_id")
    return _read(sql, sponsor_id, "delivery", ("campaign_delivery", "campaign"), "c.sponsor_id")


def revenue_lines(principal: Principal, sponsor_id: int | None = None) -> pl.DataFrame:
    sponsor_id = sponsor_in_scope(principal, sponsor_id)
    sql = ("SELECT id, stream, sponsor_id, campaign_id, amount_minor, currency, booked_on, received_on,"
           " recurring, description FROM revenue")
    return _read(sql, sponsor_id, "revenue_lines", ("revenue",)).sort("booked_on", "id")


def sponsors(principal: Principal) -> pl.DataFrame:
    """Sponsors the principal may choose from (a sponsor user: itself)."""
    sponsor_id = sponsor_in_scope(principal, None)
    return _read("SELECT * FROM (SELECT id AS sponsor_id, name, contact_email FROM sponsor) s",
                 sponsor_id if principal.role == "sponsor" else None, "sponsors", ("sponsor",)).sort("name")


# ------------------------------------------------------------------ reports


def per_currency(key: str, label: str, now: dict, before: dict, unit: str = "money", **kw) -> list[Metric]:
    """One metric per currency seen in either period (a missing one counts 0): never a mixed total."""
    return [Metric(f"{key}_{c}", label, now.get(c, 0), before.get(c, 0), unit, currency=c, **kw)
            for c in sorted(set(now) | set(before))]


def monetisation_report(principal: Principal, scope: Scope) -> Report:
    """Managers' monetisation: revenue, cash, outstanding, MRR and revenue per active member per
    currency against the previous period; revenue per stream and month; pipeline; campaigns.
    Computed once per change of its tables and scope (managers and admins all see every sponsor)."""
    require(principal, *MANAGERS)
    s = scope.resolved()
    return frames.result(f"monetisation:{s!r}", lambda: _monetisation(principal, s))


def _monetisation(principal: Principal, s: Scope) -> Report:
    lines, camps, days = revenue_lines(principal), campaigns(principal), delivery(principal)
    p, q = s.period, s.period.previous()
    booked, booked_before = m.revenue_booked(lines, p.start, p.end), m.revenue_booked(lines, q.start, q.end)
    activity, bots = frames.table("activity"), bots_of(frames.table("members"))
    mau, mau_before = (growth.active_members(activity, *Period(x.end - timedelta(days=30), x.end).bounds(s.tz),
                                             s.platforms, bots) for x in (p, q))
    metrics = [
        *per_currency("booked", "Revenue booked", booked, booked_before,
                       definition="Revenue lines booked in the period."),
        *per_currency("received", "Cash received", m.revenue_received(lines, p.start, p.end),
                       m.revenue_received(lines, q.start, q.end), definition="Payments received in the period."),
        *per_currency("outstanding", "Outstanding", m.outstanding(lines, p.end), m.outstanding(lines, q.end),
                       higher_is_better=False,
                       definition="Booked before the period's end and not received by then."),
        *per_currency("mrr", "MRR", m.mrr(lines, p.end - timedelta(days=1)), m.mrr(lines, q.end - timedelta(days=1)),
                       definition="Recurring monthly membership revenue of the month of the period's last day."),
        *per_currency("per_member", "Revenue per active member", m.per_active_member(booked, mau),
                       m.per_active_member(booked_before, mau_before),
                       definition="Revenue booked in the period over the members active in the 30 days "
                                  "ending on its last day."),
    ]
    return Report(metrics, {
        "monthly": m.monthly_by_stream(lines, p.start, p.end),
        "pipeline": m.pipeline(camps, lines, p.start, p.end, s.now.date()),
        "campaigns": m.campaign_delivery(camps, days, p.start, p.end).join(
            sponsors(principal).select("sponsor_id", pl.col("name").alias("sponsor")), on="sponsor_id", how="left",
            maintain_order="left"),
        "lines": lines,
    })


@dataclass
class SponsorReport:
    sponsor: dict
    metrics: list[Metric]
    campaigns: pl.DataFrame
    daily: pl.DataFrame
    deliverables: pl.DataFrame = field(default_factory=pl.DataFrame)


def sponsor_report(principal: Principal, scope: Scope, sponsor_id: int | None = None) -> SponsorReport:
    """One sponsor's report: its campaigns running in the period, their delivery over time, the
    deliverables checklist and the audience reached. A sponsor user gets its own, whatever it asks."""
    sponsor_id = sponsor_in_scope(principal, sponsor_id)
    if sponsor_id is None:
        raise MoneyError("sponsor: choose one")
    s = scope.resolved()
    p, q = s.period, s.period.previous()
    info = sponsors(principal).filter(pl.col("sponsor_id") == sponsor_id)
    if info.is_empty():
        raise MoneyError("sponsor: no sponsor {sponsor}", sponsor=sponsor_id)
    camps = campaigns(principal, sponsor_id)
    days = delivery(principal, sponsor_id)
    running = camps.filter((pl.col("starts_on") < p.end) & (pl.col("ends_on") >= p.start))
    table = m.campaign_delivery(running, days, p.start, p.end)

    def audience(first: date, end: date) -> dict:
        period_days = days.filter((pl.col("day") >= first) & (pl.col("day") < end))
        return {c: int(period_days[c].sum()) for c in ("impressions", "clicks", "engagements")}

    now, before = audience(p.start, p.end), audience(q.start, q.end)
    ctr = lambda a: a["clicks"] / a["impressions"] if a["impressions"] else None  # noqa: E731
    metrics = [
        Metric("impressions", "Impressions", now["impressions"], before["impressions"], "count",
               definition="Times your messages were shown in the period."),
        Metric("clicks", "Clicks", now["clicks"], before["clicks"], "count", definition="Clicks on them."),
        Metric("ctr", "Click-through rate", ctr(now), ctr(before), "ratio", definition="Clicks / impressions."),
        Metric("engagements", "Engagements", now["engagements"], before["engagements"], "count",
               definition="Reactions, replies and shares of the sponsored content."),
        Metric("campaigns", "Campaigns running", running.height, None, "count",
               definition="Your campaigns running during the period."),
    ]
    return SponsorReport(
        sponsor=info.row(0, named=True), metrics=metrics, campaigns=table,
        daily=(days.filter((pl.col("day") >= p.start) & (pl.col("day") < p.end)
                           & pl.col("campaign_id").is_in(running["id"].implode()))
               .join(running.select(pl.col("id").alias("campaign_id"), pl.col("name").alias("campaign")),
                     on="campaign_id").sort("day", "campaign_id")
               .select("day", "campaign", "impressions", "clicks", "engagements")),
        deliverables=m.deliverables(running).join(running.select(pl.col("id").alias("campaign_id"),
                                                                 pl.col("name").alias("campaign")),
                                                  on="campaign_id", maintain_order="left"),
    )


# ------------------------------------------------------------------ writes (managers, audited)
# Each checks the role first, then its input, then reads what it checks against in its own
# transaction, the row it changes locked, and writes and audits there.


@contextmanager
def _writing() -> Iterator[sa.Connection]:
    """A write's transaction; a row the database refuses is a MoneyError naming its rule."""
    try:
        with db.transaction() as conn:
            yield conn
    except sa.exc.IntegrityError as err:
        raise MoneyError("refused by the database ({rule})", rule=err.orig.diag.constraint_name) from None


def _write(conn: sa.Connection, actor: Principal, action: str, entity: str, sql: str, params: dict,
           returning: str = "id") -> int:
    """Run `sql` (a write of one row) in `conn`'s transaction and audit it."""
    row_id = conn.execute(sa.text(f"{sql} RETURNING {returning}"), params).scalar_one()
    audit.record(conn, actor.username, action, entity, row_id, **{k: v for k, v in params.items() if k != "id"})
    return row_id


def _locked(conn: sa.Connection, sql: str, row_id: int, missing: MoneyError) -> sa.Row:
    """The row `sql` (parameter :id) reads, locked until the transaction ends; MoneyError `missing`
    when there is none."""
    row = conn.execute(sa.text(f"{sql} FOR UPDATE"), {"id": row_id}).first()
    if row is None:
        raise missing
    return row


def _counts(*counts: int) -> None:
    if min(counts) < 0 or max(counts) > MAX_COUNT:
        raise MoneyError("delivery: counts are whole numbers from 0 to {most}", most=MAX_COUNT)


def _received(booked_on: date, received_on: date | None) -> None:
    if received_on is not None and not booked_on <= received_on <= datetime.now(UTC).date():
        raise MoneyError("received_on: between the booking date and today")


@db.retried
def add_sponsor(actor: Principal, name: str, contact_email: str | None = None) -> int:
    require(actor, *MANAGERS)
    name = name.strip()
    if not name:
        raise MoneyError("name: a sponsor needs a name")
    with _writing() as conn:
        if conn.execute(sa.text("SELECT 1 FROM sponsor WHERE lower(name) = lower(:n)"), {"n": name}).first():
            raise MoneyError("name: a sponsor named {name} exists already", name=repr(name))
        return _write(conn, actor, "sponsor.add", "sponsor", "INSERT INTO sponsor (name, contact_email) VALUES (:n, :e)",
                      {"n": name, "e": (contact_email or "").strip() or None})


@db.retried
def add_campaign(actor: Principal, sponsor_id: int, name: str, starts_on: date, ends_on: date,
                 amount: str | int, currency: str, deliverables: list[dict]) -> int:
    require(actor, *MANAGERS)
    if not name.strip():
        raise MoneyError("name: a campaign needs a name")
    if ends_on < starts_on:
        raise MoneyError("ends_on: a campaign ends on or after the day it starts")
    currency = parse_currency(currency)
    params = {"s": sponsor_id, "n": name.strip(), "a": starts_on, "b": ends_on, "m": parse_amount(amount, currency),
              "c": currency, "d": json.dumps(_check_deliverables(deliverables))}
    with _writing() as conn:
        return _write(conn, actor, "campaign.add", "campaign",
                      "INSERT INTO campaign (sponsor_id, name, starts_on, ends_on, amount_minor, currency, deliverables)"
                      " VALUES (:s, :n, :a, :b, :m, :c, CAST(:d AS jsonb))", params)


@db.retried
def record_delivery(actor: Principal, campaign_id: int, day: date, impressions: int, clicks: int,
                    engagements: int) -> None:
    """Record (or correct) one day of a campaign's delivery."""
    require(actor, *MANAGERS)
    _counts(impressions, clicks, engagements)
    if clicks > impressions:
        raise MoneyError("delivery: clicks ≤ impressions")
    with _writing() as conn:
        span = _locked(conn, "SELECT starts_on, ends_on FROM campaign WHERE id = :id", campaign_id,
                       MoneyError("campaign: no campaign {campaign}", campaign=campaign_id))
        if not span.starts_on <= day <= span.ends_on:
            raise MoneyError("day: {day} is outside the campaign ({start} – {end})", day=day, start=span.starts_on,
                              end=span.ends_on)
        _write(conn, actor, "campaign.delivery", "campaign",
               "INSERT INTO campaign_delivery (campaign_id, day, impressions, clicks, engagements)"
               " VALUES (:id, :day, :i, :c, :e) ON CONFLICT (campaign_id, day) DO UPDATE SET"
               " impressions = EXCLUDED.impressions, clicks = EXCLUDED.clicks, engagements = EXCLUDED.engagements",
               {"id": campaign_id, "day": day, "i": impressions, "c": clicks, "e": engagements}, returning="campaign_id")


@db.retried
def add_revenue(actor: Principal, stream: str, amount: str | int, currency: str, booked_on: date,
                received_on: date | None = None, sponsor_id: int | None = None, campaign_id: int | None = None,
                recurring: bool = False, description: str = "") -> int:
    """Record a revenue line. A line of a campaign takes the campaign's sponsor and currency."""
    require(actor, *MANAGERS)
    if stream not in STREAMS:
        raise MoneyError("stream: one of {streams}", streams=", ".join(STREAMS))
    currency = parse_currency(currency)
    minor = parse_amount(amount, currency)
    _received(booked_on, received_on)
    if recurring and stream != "membership":
        raise MoneyError("recurring: only membership lines recur monthly")
    with _writing() as conn:
        if campaign_id is not None:
            camp = _locked(conn, "SELECT sponsor_id, currency FROM campaign WHERE id = :id", campaign_id,
                           MoneyError("campaign: not a campaign of this sponsor"))
            if sponsor_id is not None and camp.sponsor_id != sponsor_id:
                raise MoneyError("campaign: not a campaign of this sponsor")
            if camp.currency != currency:
                raise MoneyError("currency: the campaign is in {currency}", currency=camp.currency)
            sponsor_id = camp.sponsor_id
        return _write(conn, actor, "revenue.add", "revenue",
                      "INSERT INTO revenue (stream, sponsor_id, campaign_id, amount_minor, currency, booked_on,"
                      " received_on, recurring, description) VALUES (:st, :sp, :ca, :m, :c, :b, :r, :rec, :d)",
                      {"st": stream, "sp": sponsor_id, "ca": campaign_id, "m": minor, "c": currency, "b": booked_on,
                       "r": received_on, "rec": recurring, "d": description.strip() or None})


@db.retried
def mark_received(actor: Principal, revenue_id: int, received_on: date) -> None:
    """Record the payment of a revenue line (once; a received line keeps its date)."""
    require(actor, *MANAGERS)
    with _writing() as conn:
        line = _locked(conn, "SELECT booked_on, received_on FROM revenue WHERE id = :id", revenue_id,
                       MoneyError("revenue: no line {line}", line=revenue_id))
        if line.received_on is not None:
            raise MoneyError("revenue: line {line} was received on {day}", line=revenue_id, day=line.received_on)
        _received(line.booked_on, received_on)
        _write(conn, actor, "revenue.received", "revenue", "UPDATE revenue SET received_on = :r WHERE id = :id",
               {"id": revenue_id, "r": received_on})


@db.retried
def update_sponsor(actor: Principal, sponsor_id: int, name: str, contact_email: str | None) -> None:
    require(actor, *MANAGERS)
    if not name.strip():
        raise MoneyError("name: a sponsor needs a name")
    with _writing() as conn:
        _locked(conn, "SELECT 1 FROM sponsor WHERE id = :id", sponsor_id, MoneyError("sponsor: no sponsor {sponsor}", sponsor=sponsor_id))
        _write(conn, actor, "sponsor.edit", "sponsor", "UPDATE sponsor SET name = :n, contact_email = :e WHERE id = :id",
               {"id": sponsor_id, "n": name.strip(), "e": (contact_email or "").strip() or None})


@db.retried
def update_campaign(actor: Principal, campaign_id: int, name: str, starts_on: date, ends_on: date,
                    amount: str | int, deliverables: list[dict]) -> None:
    """Correct a campaign: name, dates, amount (in its currency) and its deliverables' progress."""
    require(actor, *MANAGERS)
    if not name.strip():
        raise MoneyError("name: a campaign needs a name")
    if ends_on < starts_on:
        raise MoneyError("ends_on: a campaign ends on or after the day it starts")
    items = json.dumps(_check_deliverables(deliverables))
    with _writing() as conn:
        camp = _locked(conn, "SELECT currency FROM campaign WHERE id = :id", campaign_id,
                       MoneyError("campaign: no campaign {campaign}", campaign=campaign_id))
        _write(conn, actor, "campaign.edit", "campaign",
               "UPDATE campaign SET name = :n, starts_on = :a, ends_on = :b, amount_minor = :m,"
               " deliverables = CAST(:d AS jsonb) WHERE id = :id",
               {"id": campaign_id, "n": name.strip(), "a": starts_on, "b": ends_on,
                "m": parse_amount(amount, camp.currency), "d": items})


@db.retried
def update_revenue(actor: Principal, revenue_id: int, amount: str | int, booked_on: date,
                   received_on: date | None, description: str) -> None:
    """Correct a revenue line: amount (in its currency), dates and description."""
    require(actor, *MANAGERS)
    _received(booked_on, received_on)
    with _writing() as conn:
        line = _locked(conn, "SELECT currency FROM revenue WHERE id = :id", revenue_id, MoneyError("revenue: no line {line}", line=revenue_id))
        _write(conn, actor, "revenue.edit", "revenue",
               "UPDATE revenue SET amount_minor = :m, booked_on = :b, received_on = :r, description = :d WHERE id = :id",
               {"id": revenue_id, "m": parse_amount(amount, line.currency), "b": booked_on, "r": received_on,
                "d": description.strip() or None})
