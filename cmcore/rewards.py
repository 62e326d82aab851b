"""The rewards programme: rules → proposals → approval by another staff member → payout, audited.

Every step is one transaction that locks the rows it changes (`FOR UPDATE`) and writes the audit
log before committing, so two people clicking at once get one outcome. An approval also locks the
period's budget row, so concurrent approvals can never take the budget past its limit. The
database refuses what slips through: a skipped state, an approver equal to the proposer, a second
reward with the same idempotency key.
"""
from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import polars as pl
import sqlalchemy as sa

from cmcore import audit, db, exports, frames, i18n, leaderboard
from cmcore.access import Principal, require
from cmcore.kpis import between
from cmcore.reports import Scope
from cmcore import currencies
from cmcore.currencies import MAX_MINOR, POINTS
from cmcore.money import MoneyError, parse_amount, parse_currency
from cmcore.periods import Period
from cmcore.refusal import Amount, Refusal

STAFF = ("admin", "manager", "staff")
MANAGERS = ("admin", "manager")
KINDS = ("points", "money", "gift", "badge")
TRIGGERS = ("top_n", "accepted_answer", "events_attended")


class RewardError(Refusal):
    """A reward step was refused; the message says why."""


def month_period(period: str) -> Period:
    """'2026-11' → the calendar month as a Period."""
    try:
        first = date.fromisoformat(f"{period}-01")
    except ValueError:
        raise RewardError("period: {period} is not a month like 2026-11", period=repr(period)) from None
    return Period(first, Period(first, first.replace(day=28)).month_of_last_day().end)


def recent_months(today: date, count: int = 12) -> list[str]:
    """The `count` months up to `today`'s, newest first: ['2026-11', '2026-10', …]."""
    index = today.year * 12 + today.month - 1
    return [f"{(index - k) // 12}-{(index - k) % 12 + 1:02d}" for k in range(count)]


@contextmanager
def _step() -> Iterator[sa.Connection]:
    """A step's transaction; a rule of the database it would break (sql/0010, 0011: an approver
    deactivated meanwhile…) is a RewardError saying which."""
    try:
        with db.transaction() as conn:
            yield conn
    except sa.exc.IntegrityError as err:
        raise RewardError("refused by the database: {detail}", detail=str(err.orig).splitlines()[0]) from None


def _unit(kind: str, currency: str) -> str:
    """What a reward of `kind` is counted in: an ISO currency for money, points otherwise."""
    if kind != "money":
        return POINTS
    try:
        return parse_currency(currency)
    except MoneyError as err:
        raise RewardError(err.message, **err.values) from None


def _points(amount: str | int, least: int = 1) -> int:
    """A whole number of points, from `least` to MAX_MINOR."""
    text = str(amount).strip().lstrip("0") or "0"
    if not re.fullmatch(r"\d+", text):
        raise RewardError("amount: a whole number of points")
    if len(text) > 15 or int(text) > MAX_MINOR:
        raise RewardError("amount: at most {most} points", most=MAX_MINOR)
    if int(text) < least:
        raise RewardError("amount: a whole number of points above zero")
    return int(text)


def _amount(kind: str, amount: str | int, unit: str) -> int:
    """A reward's amount in minor units of `unit` (whole points but for money); a gift or a
    badge may be worth nothing."""
    if kind in ("gift", "badge") and str(amount).strip() in ("", "0"):
        return 0
    if kind != "money":
        return _points(amount)
    try:
        return parse_amount(amount, unit)
    except MoneyError as err:
        raise RewardError(err.message, **err.values) from None


# ------------------------------------------------------------------ rules and budgets (managers)


@db.retried
def add_rule(actor: Principal, code: str, title: str, trigger: str, params: dict, kind: str,
             amount: str | int, currency: str = POINTS) -> int:
    """A rule: top N of the month (params {"n": 3}), per accepted answer, or N events attended
    (params {"count": 3})."""
    require(actor, *MANAGERS)
    if trigger not in TRIGGERS:
        raise RewardError("trigger: one of {triggers}", triggers=", ".join(TRIGGERS))
    if kind not in KINDS:
        raise RewardError("kind: one of {kinds}", kinds=", ".join(KINDS))
    key = {"top_n": "n", "events_attended": "count"}.get(trigger)
    if key and (not isinstance(params.get(key), int) or params[key] < 1):
        raise RewardError("params: {trigger} needs a whole number {key} ≥ 1", trigger=trigger, key=key)
    unit = _unit(kind, currency)
    minor = _amount(kind, amount, unit)
    try:
        with db.transaction() as conn:
            rule_id = conn.execute(sa.text(
                "INSERT INTO reward_rule (code, title, trigger, params, reward_kind, amount_minor, currency)"
                " VALUES (:c, :t, :tr, CAST(:p AS jsonb), :k, :a, :u) RETURNING id"),
                {"c": code, "t": title, "tr": trigger, "p": json.dumps(params), "k": kind,
                 "a": minor, "u": unit}).scalar_one()
            audit.record(conn, actor.username, "reward_rule.add", "reward_rule", rule_id, code=code, trigger=trigger,
                         params=params, kind=kind, currency=unit)
    except sa.exc.IntegrityError:
        raise RewardError("code: a rule {code} exists already, or the code is not lower-case letters/digits",
                          code=repr(code)) from None
    return rule_id


@db.retried
def set_rule_active(actor: Principal, rule_id: int, active: bool) -> None:
    require(actor, *MANAGERS)
    with _step() as conn:
        if conn.execute(sa.text("UPDATE reward_rule SET active = :a WHERE id = :id RETURNING id"),
                        {"a": active, "id": rule_id}).first() is None:
            raise RewardError("rule {rule}: no such rule", rule=rule_id)
        audit.record(conn, actor.username, "reward_rule.activate" if active else "reward_rule.deactivate",
                     "reward_rule", rule_id)


@db.retried
def set_budget(actor: Principal, period: str, currency: str, amount: str | int) -> None:
    """Set the period's budget in a currency (never below what is already approved or paid)."""
    require(actor, *MANAGERS)
    month_period(period)
    if currency == POINTS:
        unit, minor = POINTS, _points(amount, least=0)
    else:
        unit = _unit("money", currency)
        minor = _amount("money", amount, unit)
    with _step() as conn:
        conn.execute(sa.text("INSERT INTO reward_budget VALUES (:p, :c, 0) ON CONFLICT DO NOTHING"),
                     {"p": period, "c": unit})
        conn.execute(sa.text("SELECT 1 FROM reward_budget WHERE period = :p AND currency = :c FOR UPDATE"),
                     {"p": period, "c": unit})
        used = _used(conn, period, unit)
        if minor < used:
            raise RewardError("amount: {amount} is already approved or paid in {period}", amount=Amount(used, unit),
                              period=period)
        conn.execute(sa.text("UPDATE reward_budget SET amount_minor = :a WHERE period = :p AND currency = :c"),
                     {"a": minor, "p": period, "c": unit})
        audit.record(conn, actor.username, "reward_budget.set", "reward_budget", f"{period}:{unit}", amount_minor=minor)


def _used(conn: sa.Connection, period: str, currency: str) -> int:
    return conn.execute(sa.text(
        "SELECT coalesce(sum(amount_minor), 0) FROM reward WHERE period = :p AND currency = :c"
        " AND status IN ('approved', 'paid')"), {"p": period, "c": currency}).scalar_one()


# ------------------------------------------------------------------ proposals


def _insert_proposal(conn: sa.Connection, actor: Principal, member_id: int, rule_id: int | None, period: str,
                     kind: str, amount: int, currency: str, reason: str, key: str) -> int | None:
    reward_id = conn.execute(sa.text(
        "INSERT INTO reward (member_id, rule_id, period, reward_kind, amount_minor, currency, reason, proposed_by,"
        " idempotency_key) VALUES (:m, :r, :p, :k, :a, :c, :why, :by, :key)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"),
        {"m": member_id, "r": rule_id, "p": period, "k": kind, "a": amount, "c": currency, "why": reason,
         "by": actor.username, "key": key}).scalar()
    if reward_id is not None:
        audit.record(conn, actor.username, "reward.propose", "reward", reward_id, member_id=member_id, rule_id=rule_id,
                     period=period, kind=kind, amount_minor=amount, currency=currency, reason=reason)
    return reward_id


@db.retried
def propose(actor: Principal, member_id: int, period: str, kind: str, amount: str | int, currency: str,
            reason: str) -> int:
    """A reward proposed by hand, with its reason."""
    require(actor, *STAFF)
    month_period(period)
    if kind not in KINDS:
        raise RewardError("kind: one of {kinds}", kinds=", ".join(KINDS))
    if not reason.strip():
        raise RewardError("reason: say why this member is thanked")
    unit = _unit(kind, currency)
    minor = _amount(kind, amount, unit)
    with _step() as conn:
        return _insert_proposal(conn, actor, member_id, None, period, kind, minor, unit, reason.strip(),
                                f"manual:{secrets.token_hex(8)}")


# The reasons the rules write, stored in English (the catalogues' keys) and read in each reader's
# language by `reason`: the rule's trigger → its template.
REASONS = {"top_n": "Top {n} of the month (rank {rank})", "accepted_answer": "Accepted answers: {answers}",
           "events_attended": "Events attended: {events}"}
_READ_BACK = [(re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>\\d+)", re.escape(t))), t) for t in REASONS.values()]


def _written(trigger: str, *values: pl.Expr) -> pl.Expr:
    """The reason column a rule writes: its template filled with `values`, in order."""
    return pl.format(re.sub(r"\{\w+\}", "{}", REASONS[trigger]), *values).alias("reason")


def reason(text: str | None, lang: str) -> str | None:
    """A reward's reason in `lang`: a rule's (stored in English) translated, its numbers formatted;
    a person's as typed."""
    for pattern, template in _READ_BACK:
        if text and (found := pattern.fullmatch(text)):
            return i18n.translate(template, lang, **{k: i18n.number(int(v), lang) for k, v in found.groupdict().items()})
    return text


def candidates(actor: Principal, rule: dict, period: Period) -> pl.DataFrame:
    """Who a rule rewards for a month: member_id, amount_minor and the reason."""
    require(actor, *STAFF)
    params, amount = rule["params"], rule["amount_minor"]
    scope = Scope(period).resolved()
    start, end = scope.bounds
    if rule["trigger"] == "top_n":
        top = leaderboard.leaderboard(actor, scope).filter(pl.col("rank") <= params["n"])
        return top.select("member_id", pl.lit(amount).alias("amount_minor"),
                          _written("top_n", pl.lit(params["n"]), pl.col("rank")))
    if rule["trigger"] == "accepted_answer":
        acts = frames.table("activity").filter(pl.col("accepted") & between("created_at", start, end))
        return (acts.group_by("member_id").agg(pl.len().alias("answers"))
                .select("member_id", (pl.col("answers") * amount).alias("amount_minor"),
                        _written("accepted_answer", pl.col("answers"))))
    went = (frames.table("attendance").filter("attended").join(frames.table("events"), on="event_id")
            .filter(between("starts_at", start, end))
            .group_by("member_id").agg(pl.len().alias("events")).filter(pl.col("events") >= params["count"]))
    return went.select("member_id", pl.lit(amount).alias("amount_minor"),
                       _written("events_attended", pl.col("events")))


@db.retried
def propose_from_rules(actor: Principal, period: str) -> int:
    """Turn the month's leaderboard and activity into proposals by the active rules, in one
    transaction. Idempotent: one proposal per member, rule and month, ever. Returns how many are new."""
    require(actor, *STAFF)
    month = month_period(period)
    with db.engine().connect() as conn:
        rules = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT id, code, trigger, params, reward_kind, amount_minor, currency FROM reward_rule WHERE active"
            " ORDER BY id"))]
    new = 0
    with _step() as conn:
        for rule in rules:
            for c in candidates(actor, rule, month).sort("member_id").iter_rows(named=True):
                new += _insert_proposal(conn, actor, c["member_id"], rule["id"], period, rule["reward_kind"],
                                        c["amount_minor"], rule["currency"], c["reason"],
                                        f"rule:{rule['id']}:{c['member_id']}:{period}") is not None
    return new


# ------------------------------------------------------------------ the steps


def _locked(conn: sa.Connection, reward_id: int) -> sa.Row:
    row = conn.execute(sa.text("SELECT id, status, proposed_by, period, amount_minor, currency FROM reward"
                               " WHERE id = :id FOR UPDATE"), {"id": reward_id}).first()
    if row is None:
        raise RewardError("reward {reward}: no such reward", reward=reward_id)
    return row


@db.retried
def approve(actor: Principal, reward_id: int) -> None:
    """proposed → approved, by someone other than the proposer, within the period's budget."""
    require(actor, *STAFF)
    with _step() as conn:
        r = _locked(conn, reward_id)
        if r.status != "proposed":
            raise RewardError("reward {reward}: it is {status}, not proposed", ("status",), reward=reward_id,
                              status=r.status)
        if r.proposed_by == actor.username:
            raise RewardError("reward {reward}: proposed by you, so approved by someone else", reward=reward_id)
        if r.amount_minor > 0:
            limit = conn.execute(sa.text("SELECT amount_minor FROM reward_budget WHERE period = :p AND currency = :c"
                                         " FOR UPDATE"), {"p": r.period, "c": r.currency}).scalar()
            if limit is None:
                raise RewardError("reward {reward}: no budget set for {period} in {currency}", reward=reward_id,
                                  period=r.period, currency=r.currency)
            remaining = limit - _used(conn, r.period, r.currency)
            if r.amount_minor > remaining:
                raise RewardError("reward {reward}: {amount} would exceed the budget of {period}; {remaining} remain",
                                  reward=reward_id, amount=Amount(r.amount_minor, r.currency), period=r.period,
                                  remaining=Amount(remaining, r.currency))
        conn.execute(sa.text("UPDATE reward SET status = 'approved', approved_by = :by, approved_at = now()"
                             " WHERE id = :id AND status = 'proposed'"), {"by": actor.username, "id": reward_id})
        audit.record(conn, actor.username, "reward.approve", "reward", reward_id)


@db.retried
def reject(actor: Principal, reward_id: int, reason: str) -> None:
    """proposed → rejected, with a reason."""
    _close(actor, reward_id, "rejected", ("proposed",), reason)


@db.retried
def cancel(actor: Principal, reward_id: int, reason: str) -> None:
    """proposed or approved → cancelled, with a reason (frees its budget)."""
    _close(actor, reward_id, "cancelled", ("proposed", "approved"), reason)


def _close(actor: Principal, reward_id: int, status: str, allowed: tuple[str, ...], reason: str) -> None:
    require(actor, *STAFF)
    if not reason.strip():
        raise RewardError("reason: say why")
    with _step() as conn:
        r = _locked(conn, reward_id)
        if r.status not in allowed:
            raise RewardError("reward {reward}: it is {status}", ("status",), reward=reward_id, status=r.status)
        conn.execute(sa.text("UPDATE reward SET status = :s, closed_at = now() WHERE id = :id"),
                     {"s": status, "id": reward_id})
        audit.record(conn, actor.username, {"rejected": "reward.reject", "cancelled": "reward.cancel"}[status],
                     "reward", reward_id, reason=reason.strip())


def pay(actor: Principal, reward_ids: list[int]) -> tuple[str, bytes]:
    """approved → paid for a whole batch in one transaction, or none if any is not approved (so
    nothing is ever paid twice). Returns the batch id and its CSV for the payment provider."""
    require(actor, *STAFF)
    ids = sorted(set(reward_ids))
    if not ids:
        raise RewardError("batch: choose approved rewards to pay")
    batch = f"PAY-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    _paid(actor, ids, batch)
    return batch, payout_csv(actor, batch)


@db.retried
def _paid(actor: Principal, ids: list[int], batch: str) -> None:
    """The batch's one transaction: every reward of `ids` locked in id order, all approved or none paid."""
    with _step() as conn:
        rows = conn.execute(sa.text("SELECT id, status FROM reward WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
                            {"ids": ids}).all()
        not_ready = [f"{r.id} ({r.status})" for r in rows if r.status != "approved"]
        missing = set(ids) - {r.id for r in rows}
        if not_ready or missing:
            raise RewardError("batch: not approved, nothing paid: {rewards}",
                              rewards=", ".join(not_ready + [f"{m} (missing)" for m in sorted(missing)]))
        conn.execute(sa.text("UPDATE reward SET status = 'paid', paid_by = :by, paid_at = now(), payout_batch = :b"
                             " WHERE id = ANY(:ids) AND status = 'approved'"), {"by": actor.username, "b": batch, "ids": ids})
        for reward_id in ids:
            audit.record(conn, actor.username, "reward.pay", "reward", reward_id, batch=batch)


def payout_csv(actor: Principal, batch: str) -> bytes:
    """The batch as the payment provider reads it: one line per reward, amounts in major units."""
    require(actor, *STAFF)
    lines = frames.read(
        "SELECT r.payout_batch AS batch, r.id AS reward_id, r.member_id, m.display_name AS member, r.reward_kind AS kind,"
        " r.amount_minor, r.currency, r.reason FROM reward r JOIN member m ON m.id = r.member_id"
        " WHERE r.payout_batch = $1 ORDER BY r.id", [batch])
    return exports.to_csv(lines.with_columns(pl.struct("amount_minor", "currency").map_elements(
        lambda r: currencies.text(r["amount_minor"], r["currency"]), return_dtype=pl.String).alias("amount"))
                          .drop("amount_minor"))


# ------------------------------------------------------------------ reading


def rewards(principal: Principal, period: str | None = None) -> pl.DataFrame:
    """Rewards (of a month), newest first, with the member's name and the rule's title."""
    require(principal, *STAFF)
    sql = ("SELECT r.id, r.period, r.member_id, m.display_name AS member, rr.title AS rule, r.reward_kind AS kind,"
           " r.amount_minor, r.currency, r.reason, r.status, r.proposed_by, r.proposed_at, r.approved_by,"
           " r.approved_at, r.paid_by, r.paid_at, r.payout_batch FROM reward r JOIN member m ON m.id = r.member_id"
           " LEFT JOIN reward_rule rr ON rr.id = r.rule_id")
    if period is None:
        return frames.read(sql + " ORDER BY r.id DESC")
    return frames.read(sql + " WHERE r.period = $1 ORDER BY r.id DESC", [period])


def budgets(principal: Principal, period: str) -> pl.DataFrame:
    """Per currency of the month: budget, approved, paid, used = approved + paid, remaining."""
    require(principal, *STAFF)
    return frames.read(
        "WITH spent AS (SELECT currency, sum(amount_minor) FILTER (WHERE status = 'approved') AS approved,"
        " sum(amount_minor) FILTER (WHERE status = 'paid') AS paid FROM reward WHERE period = $1 GROUP BY currency)"
        " SELECT coalesce(b.currency, s.currency) AS currency, b.amount_minor AS budget,"
        " coalesce(s.approved, 0)::bigint AS approved, coalesce(s.paid, 0)::bigint AS paid,"
        " (coalesce(s.approved, 0) + coalesce(s.paid, 0))::bigint AS used,"
        " (b.amount_minor - coalesce(s.approved, 0) - coalesce(s.paid, 0))::bigint AS remaining"
        " FROM (SELECT * FROM reward_budget WHERE period = $1) b FULL JOIN spent s ON s.currency = b.currency"
        " ORDER BY 1", [period])


def trail(principal: Principal, reward_id: int) -> pl.DataFrame:
    """Every step of a reward from the audit log."""
    require(principal, *STAFF)
    return frames.read("SELECT at, actor, action, detail::text AS detail FROM audit_log WHERE entity = 'reward'"
                       " AND entity_id = $1 ORDER BY id", [str(reward_id)])


def rules(principal: Principal) -> pl.DataFrame:
    require(principal, *STAFF)
    return frames.read("SELECT id, code, title, trigger, params::text AS params, reward_kind AS kind, amount_minor,"
                       " currency, active FROM reward_rule ORDER BY id")
