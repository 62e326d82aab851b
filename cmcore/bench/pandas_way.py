"""The headline KPIs computed the way most dashboards do it: `pandas.read_sql` through SQLAlchemy
of the rows a page needs (its window, narrowed in SQL), then pandas. Nothing is cached between
runs, as in a dashboard that queries on every view.

Same definitions as cmcore (KPIS.md); `tests/test_bench.py` checks both give the same values.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from cmcore import community, db, leaderboard
from cmcore.bench.pages import TOP, Values, Window
from cmcore.kpis.retention import cohort_span
from cmcore.periods import Period

CONTRIBUTIONS = ["thread", "reply", "comment", "answer"]
WEEK = pd.Timedelta(days=7)


def _read(sql: str, **params) -> pd.DataFrame:
    with db.engine().connect() as conn:
        return pd.read_sql(sa.text(sql), conn, params=params)


def _in(frame: pd.DataFrame, column: str, start: datetime, end: datetime) -> pd.DataFrame:
    return frame[(frame[column] >= start) & (frame[column] < end)]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _both(fn: Callable, window: Window) -> tuple:
    s, e, ps, pe = window.bounds()
    return fn(s, e), fn(ps, pe)


def _first_response_hours(acts: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """Threads created in [start, end) with `hours` to the first response by someone else (NaN if none)."""
    threads = _in(acts[acts.kind == "thread"], "created_at", start, end)[["id", "member_id", "created_at"]]
    responses = acts[acts.kind.isin(["reply", "answer", "comment"])][["thread_id", "member_id", "created_at"]]
    both = threads.merge(responses, left_on="id", right_on="thread_id", suffixes=("", "_r"))
    first = both[both.member_id_r != both.member_id].groupby("id").created_at_r.min()
    out = threads.set_index("id").join(first)
    out["hours"] = (out.created_at_r - out.created_at).dt.total_seconds() / 3600
    return out


def _members(window: Window) -> tuple[pd.DataFrame, dict]:
    members = _read("SELECT id, joined_at FROM member")
    s, e, ps, pe = window.bounds()
    return members, {"members": ((members.joined_at < e).sum(), (members.joined_at < pe).sum()),
                     "new_members": _both(lambda a, b: len(_in(members, "joined_at", a, b)), window)}


def overview(window: Window) -> Values:
    _, out = _members(window)
    s, e, ps, pe = window.bounds()
    acts = _read("SELECT id, member_id, kind, thread_id, created_at FROM activity WHERE created_at >= :ps", ps=ps)
    return out | {
        "active_members": _both(lambda a, b: _in(acts, "created_at", a, b).member_id.nunique(), window),
        "threads": _both(lambda a, b: len(_in(acts[acts.kind == "thread"], "created_at", a, b)), window),
        "ttfr_median": _both(lambda a, b: _none(_first_response_hours(acts, a, b).hours.median()), window)}


def _none(x):
    return None if pd.isna(x) else float(x)


def growth(window: Window) -> Values:
    members, out = _members(window)
    s, e, ps, pe = window.bounds()
    period, before = window.period, window.period.previous()
    lookback = Period(before.start - timedelta(days=29), period.end).bounds(window.tz)[0]
    acts = _read("SELECT member_id, kind, created_at FROM activity WHERE created_at >= :lb AND created_at < :e",
                 lb=lookback, e=e)
    days_active = pd.DataFrame({"member_id": acts.member_id,
                                "day": acts.created_at.dt.tz_convert(window.tz).dt.date}).drop_duplicates()
    series = []
    for day in pd.date_range(before.start, period.end - timedelta(days=1)).date:
        recent = days_active[(days_active.day > day - timedelta(days=30)) & (days_active.day <= day)]
        series.append({"day": day, "dau": recent[recent.day == day].member_id.nunique(),
                       "wau": recent[recent.day > day - timedelta(days=7)].member_id.nunique(),
                       "mau": recent.member_id.nunique()})
    series = pd.DataFrame(series)
    now_days, before_days = series[series.day >= period.start], series[series.day < period.start]

    def sticky(days: pd.DataFrame) -> float | None:
        days = days[days.mau > 0]
        return _none((days.dau / days.mau).mean())

    contributions = acts[acts.kind.isin(CONTRIBUTIONS)]
    firsts = _read("SELECT member_id, created_at FROM activity WHERE kind IN ('thread', 'reply', 'comment', 'answer')"
                   ).groupby("member_id").created_at.min()
    earlier = _read("SELECT member_id, kind, created_at FROM activity WHERE created_at >= :a AND created_at < :b",
                    a=ps - timedelta(days=90), b=ps)
    history = pd.concat([earlier[earlier.kind.isin(CONTRIBUTIONS)], contributions])

    def inactive(a: datetime, b: datetime) -> int:
        gone = set(_in(history, "created_at", a - timedelta(days=90), a).member_id)
        return len(gone - set(_in(history, "created_at", a, b).member_id))

    return out | {
        "dau": (_none(now_days.dau.mean()), _none(before_days.dau.mean())),
        "wau": (now_days.wau.iloc[-1], before_days.wau.iloc[-1]),
        "mau": (now_days.mau.iloc[-1], before_days.mau.iloc[-1]),
        "stickiness": (sticky(now_days), sticky(before_days)),
        "participation": _both(lambda a, b: _share(_in(contributions, "created_at", a, b).member_id.nunique(),
                                                   (members.joined_at < b).sum()), window),
        "new_contributors": _both(lambda a, b: int(((firsts >= a) & (firsts < b)).sum()), window),
        "inactive_contributors": _both(inactive, window)}


def retention(window: Window) -> Values:
    s, e, ps, pe = window.bounds()
    joined = _read("SELECT id AS member_id, joined_at FROM member WHERE joined_at >= :ps AND joined_at < :e",
                   ps=ps, e=e)
    acts = _read("SELECT member_id, created_at FROM activity WHERE created_at >= :ps", ps=ps)

    def measure(a: datetime, b: datetime) -> tuple[float | None, int]:
        cohort = _in(joined, "joined_at", a, b)
        cohort = cohort[cohort.joined_at + timedelta(days=14) <= window.now]
        seen = acts.merge(cohort, on="member_id")
        again = seen[(seen.created_at >= seen.joined_at + WEEK) & (seen.created_at < seen.joined_at + 2 * WEEK)]
        return _share(again.member_id.nunique(), len(cohort)), len(cohort)

    (now, n), (before, _) = _both(measure, window)
    first, last = cohort_span(window.period)
    since = Period(first, window.period.end).bounds(window.tz)[0]
    members = _read("SELECT id AS member_id, joined_at FROM member")
    members["cohort"] = members.joined_at.dt.tz_convert(window.tz).dt.tz_localize(None).dt.to_period("M")
    members = members[(members.cohort >= pd.Period(first, "M")) & (members.cohort <= pd.Period(last, "M"))]
    active = _read("SELECT member_id, created_at FROM activity WHERE created_at >= :since", since=since)
    active = pd.DataFrame({"member_id": active.member_id,
                           "month": active.created_at.dt.tz_convert(window.tz).dt.tz_localize(None).dt.to_period("M")}).drop_duplicates()
    cells = active.merge(members, on="member_id")
    cells = cells[(cells.month >= cells.cohort) & (cells.month <= pd.Period(last, "M"))]
    cells["k"] = [(m.year - c.year) * 12 + m.month - c.month for m, c in zip(cells.month, cells.cohort, strict=True)]
    counts = cells.groupby(["cohort", "k"]).size()
    sizes = members.groupby("cohort").size()
    return {"new_member_retention": (now, before), "measured": (n, None),
            "cohorts": sorted((str(c.start_time.date()), int(k), int(sizes[c]), int(a)) for (c, k), a in counts.items())}


def _within_sla(created: pd.Series, waited: pd.Series, sla: float, now: datetime) -> float | None:
    old = created <= now - timedelta(hours=sla)
    return _share(int((waited[old] <= sla).sum()), int(old.sum()))


def responsiveness(window: Window) -> Values:
    s, e, ps, pe = window.bounds()
    sla = float(community.get_settings()["response_sla_hours"])
    acts = _read("SELECT id, member_id, kind, thread_id, created_at FROM activity WHERE created_at >= :ps", ps=ps)
    firsts = _both(lambda a, b: _first_response_hours(acts, a, b), window)
    return {"ttfr_median": tuple(_none(f.hours.median()) for f in firsts),
            "ttfr_p90": tuple(_none(f.hours.quantile(0.9)) for f in firsts),
            "within_sla": tuple(_within_sla(f.created_at, f.hours, sla, window.now) for f in firsts),
            "unanswered": tuple(int(f.hours.isna().sum()) for f in firsts)}


def moderation(window: Window) -> Values:
    s, e, ps, pe = window.bounds()
    sla = float(community.get_settings()["moderation_sla_hours"])
    cases = _read("SELECT reported_at, first_action_at, resolved_at FROM moderation_case"
                  " WHERE reported_at >= :ps AND reported_at < :e", ps=ps, e=e)
    cases["action"] = (cases.first_action_at - cases.reported_at).dt.total_seconds() / 3600
    cases["resolution"] = (cases.resolved_at - cases.reported_at).dt.total_seconds() / 3600
    now, before = _both(lambda a, b: _in(cases, "reported_at", a, b), window)
    pair = lambda fn: (fn(now), fn(before))  # noqa: E731
    return {"reports": pair(len), "time_to_action": pair(lambda c: _none(c.action.median())),
            "time_to_action_p90": pair(lambda c: _none(c.action.quantile(0.9))),
            "action_within_sla": pair(lambda c: _within_sla(c.reported_at, c.action, sla, window.now)),
            "time_to_resolution": pair(lambda c: _none(c.resolution.median())),
            "open_cases": pair(lambda c: int(c.resolved_at.isna().sum()))}


def reputation(window: Window) -> Values:
    s, e, ps, pe = window.bounds()
    mentions = _read("SELECT created_at, reach, sentiment FROM mention WHERE created_at >= :ps AND created_at < :e",
                     ps=ps, e=e)
    now, before = _both(lambda a, b: _in(mentions, "created_at", a, b), window)
    pair = lambda fn: (fn(now), fn(before))  # noqa: E731
    return {"mentions": pair(len), "reach": pair(lambda m: int(m.reach.sum()) if len(m) else None),
            "positive": pair(lambda m: _share(int((m.sentiment == 1).sum()), len(m))),
            "negative": pair(lambda m: _share(int((m.sentiment == -1).sum()), len(m))),
            "net_sentiment": pair(lambda m: _share(int((m.sentiment == 1).sum() - (m.sentiment == -1).sum()), len(m)))}


def content(window: Window) -> Values:
    s, e, ps, pe = window.bounds()
    acts = _read("SELECT id, member_id, kind, thread_id, created_at FROM activity WHERE created_at >= :ps", ps=ps)

    def engagement(a: datetime, b: datetime) -> pd.Series:
        threads = _in(acts[acts.kind == "thread"], "created_at", a, b)[["id", "member_id", "created_at"]]
        got = acts.merge(threads, left_on="thread_id", right_on="id", suffixes=("", "_t"))
        got = got[(got.member_id != got.member_id_t) & (got.created_at < got.created_at_t + WEEK)]
        return got.groupby("thread_id").size().reindex(threads.id, fill_value=0)

    events = _read("SELECT e.id, e.starts_at, count(a.event_id) AS registered,"
                   " count(a.event_id) FILTER (WHERE a.attended) AS attended FROM event e"
                   " LEFT JOIN event_attendance a ON a.event_id = e.id"
                   " WHERE e.starts_at >= :ps AND e.starts_at < :e GROUP BY e.id", ps=ps, e=e)
    now, before = _both(engagement, window)
    ev_now, ev_before = _both(lambda a, b: _in(events, "starts_at", a, b), window)
    return {"engagement": (_none(now.mean()), _none(before.mean())), "threads": (len(now), len(before)),
            "events": (len(ev_now), len(ev_before)),
            "attendance_rate": tuple(_share(int(x.attended.sum()), int(x.registered.sum())) for x in (ev_now, ev_before))}


def monetisation(window: Window) -> Values:
    lines = _read("SELECT stream, amount_minor, currency, booked_on, received_on, recurring FROM revenue")
    for column in ("booked_on", "received_on"):
        lines[column] = pd.to_datetime(lines[column])
    period, before = window.period, window.period.previous()

    def sums(frame: pd.DataFrame) -> dict[str, int]:
        return {c: int(v) for c, v in frame.groupby("currency").amount_minor.sum().items()}

    def booked(p: Period, column: str = "booked_on") -> dict[str, int]:
        return sums(lines[(lines[column] >= pd.Timestamp(p.start)) & (lines[column] < pd.Timestamp(p.end))])

    def outstanding(p: Period) -> dict[str, int]:
        end = pd.Timestamp(p.end)
        return sums(lines[(lines.booked_on < end) & (lines.received_on.isna() | (lines.received_on >= end))])

    def mrr(p: Period) -> dict[str, int]:
        month = pd.Timestamp(p.month_of_last_day().start)
        return sums(lines[lines.recurring & (lines.stream == "membership")
                          & (lines.booked_on.dt.to_period("M").dt.start_time == month)])

    acts = _read("SELECT member_id, created_at FROM activity WHERE created_at >= :a",
                 a=Period(before.end - timedelta(days=30), before.end).bounds(window.tz)[0])
    mau = {p: _in(acts, "created_at", *Period(p.end - timedelta(days=30), p.end).bounds(window.tz)).member_id.nunique()
           for p in (period, before)}
    out: Values = {}
    for key, fn in (("booked", booked), ("received", lambda p: booked(p, "received_on")),
                    ("outstanding", outstanding), ("mrr", mrr)):
        now, prev = fn(period), fn(before)
        out |= {f"{key}_{c}": (now.get(c, 0), prev.get(c, 0)) for c in sorted(set(now) | set(prev))}
        if key == "booked":
            out |= {f"per_member_{c}": (now.get(c, 0) / mau[period] if mau[period] else None,
                                        prev.get(c, 0) / mau[before] if mau[before] else None)
                    for c in sorted(set(now) | set(prev))}
    return out


def board(window: Window, period: Period) -> Values:
    rules = leaderboard.scoring()
    s, e = period.bounds(window.tz)
    acts = _read("SELECT a.member_id, a.kind, a.platform_id, a.created_at, a.accepted, p.member_id AS parent_member"
                 " FROM activity a LEFT JOIN activity p ON p.id = a.parent_id"
                 " WHERE a.created_at >= :s AND a.created_at < :e", s=s, e=e)
    events = _read("SELECT t.member_id, e.starts_at AS created_at FROM event_attendance t JOIN event e"
                   " ON e.id = t.event_id WHERE t.attended AND e.starts_at >= :s AND e.starts_at < :e", s=s, e=e)
    acts = acts[acts.parent_member.isna() | (acts.parent_member != acts.member_id)]
    written, reactions = acts[acts.kind != "reaction"], acts[acts.kind == "reaction"]
    items = pd.concat([
        written.assign(counterpart=-1),
        written[written.accepted].assign(kind="accepted", counterpart=-1),
        reactions.assign(kind="reaction_given", counterpart=reactions.parent_member),
        reactions.assign(kind="reaction_received", member_id=reactions.parent_member, counterpart=reactions.member_id),
        events.assign(kind="event", platform_id=-1, counterpart=-1),
    ])[["member_id", "kind", "platform_id", "counterpart", "created_at"]]
    items["day"] = pd.to_datetime(items.created_at, utc=True).dt.tz_convert(window.tz).dt.date
    pairwise = items.kind.isin(["reaction_given", "reaction_received"])
    items = pd.concat([items[~pairwise], items[pairwise].drop_duplicates(
        ["member_id", "kind", "counterpart", "day", "platform_id"])])
    daily = items.groupby(["member_id", "kind", "day"]).size().rename("n").reset_index()
    daily["points"] = (daily.n.clip(upper=daily.kind.map(rules.caps)) * daily.kind.map(rules.weights)).astype(float)
    daily = daily[daily.points > 0]
    board = daily.groupby("member_id").agg(score=("points", "sum"), reached_on=("day", "max")).reset_index()
    board["score"] = board.score.round(6)
    board = board.sort_values(["score", "reached_on", "member_id"], ascending=[False, True, True]).head(TOP)
    return {"top": [(int(m), round(float(x), 4)) for m, x in zip(board.member_id, board.score, strict=True)]}
