"""The headline KPIs computed by SQL aggregations in PostgreSQL: one round of queries per page,
each aggregating in the database and returning a handful of numbers (indexes of sql/0001 used).

Same definitions as cmcore (KPIS.md); `tests/test_bench.py` checks both give the same values.
Durations are in hours from epoch differences; "7 days" is 168 hours, as in Python's timedelta.
"""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from cmcore import community, db, leaderboard
from cmcore.bench.pages import TOP, Values, Window
from cmcore.kpis.retention import cohort_span
from cmcore.periods import Period

CONTRIBUTIONS = "('thread', 'reply', 'comment', 'answer')"


def _row(sql: str, **params) -> sa.Row:
    with db.engine().connect() as conn:
        return conn.execute(sa.text(sql), params).one()


def _pairs(row: sa.Row) -> tuple:
    """(a, b, c, d, …) → ((a, b), (c, d), …): each KPI with its previous value."""
    return tuple(zip(row[::2], row[1::2], strict=True))


def _params(window: Window, period: Period | None = None) -> dict:
    s, e, ps, pe = window.bounds(period)
    return {"s": s, "e": e, "ps": ps, "pe": pe, "now": window.now, "tz": window.tz}


def _per_period(select: str) -> str:
    """`select` written for the current period (:s, :e), then again for the previous (:ps, :pe)."""
    previous = re.sub(r":e\b", ":pe", re.sub(r":s\b", ":ps", select))
    return ", ".join(f"{a}, {b}" for a, b in zip(select.split(";"), previous.split(";"), strict=True))


_FIRST_RESPONSES = """
WITH t AS (SELECT id, member_id, created_at FROM activity
           WHERE kind = 'thread' AND created_at >= :ps AND created_at < :e),
f AS (SELECT t.created_at,
             extract(epoch FROM (SELECT min(r.created_at) FROM activity r
                                 WHERE r.thread_id = t.id AND r.kind IN ('reply', 'answer', 'comment')
                                   AND r.member_id <> t.member_id) - t.created_at) / 3600 AS h
      FROM t)
"""


def _member_counts(p: dict) -> tuple:
    """(members at the end, at the previous end), (new members in the period, in the previous)."""
    return _pairs(_row("SELECT " + _per_period(
        "count(*) FILTER (WHERE joined_at < :e); count(*) FILTER (WHERE joined_at >= :s AND joined_at < :e)")
        + " FROM member", **p))


def overview(window: Window) -> Values:
    p = _params(window)
    m = _member_counts(p)
    a = _pairs(_row("SELECT " + _per_period(
        "count(DISTINCT member_id) FILTER (WHERE created_at >= :s AND created_at < :e);"
        "count(*) FILTER (WHERE kind = 'thread' AND created_at >= :s AND created_at < :e)")
        + " FROM activity WHERE created_at >= :ps AND created_at < :e", **p))
    r = _pairs(_row(_FIRST_RESPONSES + "SELECT " + _per_period(
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY h) FILTER (WHERE created_at >= :s AND created_at < :e)")
        + " FROM f", **p))
    return {"members": m[0], "new_members": m[1], "active_members": a[0], "threads": a[1], "ttfr_median": r[0]}


def growth(window: Window) -> Values:
    p = _params(window)
    period = window.period
    first_day = period.previous().start
    p |= {"first_day": first_day, "last_day": period.end - timedelta(days=1), "split": period.start,
          "lookback": Period(first_day - timedelta(days=29), period.end).bounds(window.tz)[0],
          "s90": p["s"] - timedelta(days=90), "ps90": p["ps"] - timedelta(days=90)}
    series = _row(f"""
        WITH md AS (SELECT DISTINCT member_id, (created_at AT TIME ZONE :tz)::date AS day FROM activity
                    WHERE created_at >= :lookback AND created_at < :e),
        days AS (SELECT d::date AS day FROM generate_series(CAST(:first_day AS date), CAST(:last_day AS date),
                                                              interval '1 day') d),
        s AS (SELECT days.day, count(DISTINCT md.member_id) FILTER (WHERE md.day = days.day) AS dau,
                     count(DISTINCT md.member_id) FILTER (WHERE md.day > days.day - 7) AS wau,
                     count(DISTINCT md.member_id) AS mau
              FROM days LEFT JOIN md ON md.day > days.day - 30 AND md.day <= days.day GROUP BY days.day)
        SELECT {_series_figures()}
        FROM s""", **p)
    members = _member_counts(p)
    contributors = _row("SELECT " + _per_period(
        "count(DISTINCT member_id) FILTER (WHERE created_at >= :s AND created_at < :e)")
        + f" FROM activity WHERE kind IN {CONTRIBUTIONS} AND created_at >= :ps AND created_at < :e", **p)
    new = _row("SELECT " + _per_period("count(*) FILTER (WHERE f >= :s AND f < :e)")
               + f" FROM (SELECT min(created_at) AS f FROM activity WHERE kind IN {CONTRIBUTIONS}"
                 " GROUP BY member_id) x", **p)
    inactive = _row(f"""
        SELECT {", ".join(f'''(SELECT count(*) FROM (SELECT DISTINCT member_id FROM activity b
                   WHERE kind IN {CONTRIBUTIONS} AND created_at >= :{w}90 AND created_at < :{w}) b
                   WHERE NOT EXISTS (SELECT 1 FROM activity a WHERE a.member_id = b.member_id
                       AND a.kind IN {CONTRIBUTIONS} AND a.created_at >= :{w} AND a.created_at < :{e}))'''
                        for w, e in (("s", "e"), ("ps", "pe")))}""", **p)
    dau, wau, mau, sticky = _pairs(series)
    return {"members": members[0], "new_members": members[1], "dau": dau, "wau": wau, "mau": mau,
            "stickiness": sticky,
            "participation": (contributors[0] / members[0][0], contributors[1] / members[0][1]),
            "new_contributors": tuple(new), "inactive_contributors": tuple(inactive)}


def _series_figures() -> str:
    """Mean DAU, last WAU, last MAU and stickiness over the days of series `s` of `growth`, for
    the period and then for the previous one."""
    figures = ("avg(dau) FILTER (WHERE {inside})", "max(wau) FILTER (WHERE day = {last})",
               "max(mau) FILTER (WHERE day = {last})", "avg(dau::float8 / mau) FILTER (WHERE mau > 0 AND {inside})")
    periods = ({"inside": "day >= CAST(:split AS date)", "last": "CAST(:last_day AS date)"},
               {"inside": "day < CAST(:split AS date)", "last": "CAST(:split AS date) - 1"})
    return ", ".join(f.format(**p) for f in figures for p in periods)


def retention(window: Window) -> Values:
    p = _params(window)
    measured = """(SELECT ARRAY[count(*), count(*) FILTER (WHERE EXISTS (
                      SELECT 1 FROM activity a WHERE a.member_id = j.id
                      AND a.created_at >= j.joined_at + interval '168 hours'
                      AND a.created_at < j.joined_at + interval '336 hours'))]
                   FROM member j WHERE joined_at >= :s AND joined_at < :e
                     AND joined_at + interval '336 hours' <= :now)"""
    row = _row("SELECT " + _per_period(measured), **p)
    (n, again), (n_before, again_before) = row
    first, last = cohort_span(window.period)
    p |= {"first": first, "last": last, "since": Period(first, window.period.end).bounds(window.tz)[0]}
    month = "date_trunc('month', {} AT TIME ZONE :tz)::date"
    with db.engine().connect() as conn:
        cells = conn.execute(sa.text(f"""
            WITH j AS (SELECT id, {month.format("joined_at")} AS cohort FROM member
                       WHERE {month.format("joined_at")} BETWEEN :first AND :last),
            sizes AS (SELECT cohort, count(*) AS n FROM j GROUP BY cohort),
            a AS (SELECT DISTINCT member_id, {month.format("created_at")} AS month FROM activity
                  WHERE created_at >= :since)
            SELECT j.cohort, ((extract(year FROM a.month) - extract(year FROM j.cohort)) * 12
                              + extract(month FROM a.month) - extract(month FROM j.cohort))::int AS k,
                   sizes.n, count(*)
            FROM j JOIN a ON a.member_id = j.id AND a.month BETWEEN j.cohort AND :last JOIN sizes USING (cohort)
            GROUP BY 1, 2, 3"""), p).all()
    return {"new_member_retention": (again / n if n else None, again_before / n_before if n_before else None),
            "measured": (n, None), "cohorts": sorted((str(c), k, n, a) for c, k, n, a in cells)}


def responsiveness(window: Window) -> Values:
    p = _params(window) | {"sla": float(community.get_settings()["response_sla_hours"])}
    within = ("count(*) FILTER (WHERE created_at <= :now - make_interval(secs => :sla * 3600) AND h <= :sla"
              " AND created_at >= :s AND created_at < :e)::float8 / NULLIF(count(*) FILTER (WHERE"
              " created_at <= :now - make_interval(secs => :sla * 3600) AND created_at >= :s AND created_at < :e), 0)")
    row = _pairs(_row(_FIRST_RESPONSES + "SELECT " + _per_period(
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY h) FILTER (WHERE created_at >= :s AND created_at < :e);"
        "percentile_cont(0.9) WITHIN GROUP (ORDER BY h) FILTER (WHERE created_at >= :s AND created_at < :e);"
        f"{within};"
        "count(*) FILTER (WHERE h IS NULL AND created_at >= :s AND created_at < :e)") + " FROM f", **p))
    return dict(zip(("ttfr_median", "ttfr_p90", "within_sla", "unanswered"), row, strict=True))


def moderation(window: Window) -> Values:
    p = _params(window) | {"sla": float(community.get_settings()["moderation_sla_hours"])}
    old = "reported_at <= :now - make_interval(secs => :sla * 3600) AND reported_at >= :s AND reported_at < :e"
    row = _pairs(_row(
        "WITH c AS (SELECT reported_at, resolved_at, extract(epoch FROM first_action_at - reported_at) / 3600 AS a,"
        " extract(epoch FROM resolved_at - reported_at) / 3600 AS r FROM moderation_case"
        " WHERE reported_at >= :ps AND reported_at < :e) SELECT " + _per_period(
            "count(*) FILTER (WHERE reported_at >= :s AND reported_at < :e);"
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY a) FILTER (WHERE reported_at >= :s AND reported_at < :e);"
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY a) FILTER (WHERE reported_at >= :s AND reported_at < :e);"
            f"count(*) FILTER (WHERE {old} AND a <= :sla)::float8 / NULLIF(count(*) FILTER (WHERE {old}), 0);"
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY r) FILTER (WHERE reported_at >= :s AND reported_at < :e);"
            "count(*) FILTER (WHERE resolved_at IS NULL AND reported_at >= :s AND reported_at < :e)")
        + " FROM c", **p))
    return dict(zip(("reports", "time_to_action", "time_to_action_p90", "action_within_sla",
                     "time_to_resolution", "open_cases"), row, strict=True))


def reputation(window: Window) -> Values:
    p = _params(window)
    n = "NULLIF(count(*) FILTER (WHERE created_at >= :s AND created_at < :e), 0)"
    row = _pairs(_row("SELECT " + _per_period(
        "count(*) FILTER (WHERE created_at >= :s AND created_at < :e);"
        "sum(reach) FILTER (WHERE created_at >= :s AND created_at < :e);"
        f"count(*) FILTER (WHERE sentiment = 1 AND created_at >= :s AND created_at < :e)::float8 / {n};"
        f"count(*) FILTER (WHERE sentiment = -1 AND created_at >= :s AND created_at < :e)::float8 / {n};"
        "(count(*) FILTER (WHERE sentiment = 1 AND created_at >= :s AND created_at < :e)"
        f" - count(*) FILTER (WHERE sentiment = -1 AND created_at >= :s AND created_at < :e))::float8 / {n}")
        + " FROM mention WHERE created_at >= :ps AND created_at < :e", **p))
    return dict(zip(("mentions", "reach", "positive", "negative", "net_sentiment"), row, strict=True))


def content(window: Window) -> Values:
    p = _params(window)
    engagement = _pairs(_row("""
        WITH t AS (SELECT id, member_id, created_at FROM activity
                   WHERE kind = 'thread' AND created_at >= :ps AND created_at < :e),
        g AS (SELECT t.created_at, (SELECT count(*) FROM activity r WHERE r.thread_id = t.id
                                    AND r.member_id <> t.member_id
                                    AND r.created_at < t.created_at + interval '168 hours') AS n FROM t)
        SELECT """ + _per_period("avg(n) FILTER (WHERE created_at >= :s AND created_at < :e);"
                                 "count(*) FILTER (WHERE created_at >= :s AND created_at < :e)") + " FROM g", **p))
    events = _pairs(_row("""
        WITH e AS (SELECT e.starts_at, count(a.*) AS registered, count(a.*) FILTER (WHERE a.attended) AS attended
                   FROM event e LEFT JOIN event_attendance a ON a.event_id = e.id
                   WHERE e.starts_at >= :ps AND e.starts_at < :e GROUP BY e.id)
        SELECT """ + _per_period("count(*) FILTER (WHERE starts_at >= :s AND starts_at < :e);"
                                 "sum(attended) FILTER (WHERE starts_at >= :s AND starts_at < :e)::float8"
                                 " / NULLIF(sum(registered) FILTER (WHERE starts_at >= :s AND starts_at < :e), 0)")
        + " FROM e", **p))
    return {"engagement": tuple(None if v is None else float(v) for v in engagement[0]),
            "threads": engagement[1], "events": events[0], "attendance_rate": events[1]}


def monetisation(window: Window) -> Values:
    period, before = window.period, window.period.previous()
    p = {"s": period.start, "e": period.end, "ps": before.start, "pe": before.end,
         "m": period.month_of_last_day().start, "pm": before.month_of_last_day().start}
    mau = {}
    for key, x in (("now", period), ("before", before)):
        mau[key] = _row("SELECT count(DISTINCT member_id) FROM activity WHERE created_at >= :a AND created_at < :b",
                        **dict(zip("ab", Period(x.end - timedelta(days=30), x.end).bounds(window.tz), strict=True)))[0]
    with db.engine().connect() as conn:
        rows = conn.execute(sa.text("""
            SELECT currency,
              sum(amount_minor) FILTER (WHERE booked_on >= :s AND booked_on < :e),
              sum(amount_minor) FILTER (WHERE booked_on >= :ps AND booked_on < :pe),
              sum(amount_minor) FILTER (WHERE received_on >= :s AND received_on < :e),
              sum(amount_minor) FILTER (WHERE received_on >= :ps AND received_on < :pe),
              sum(amount_minor) FILTER (WHERE booked_on < :e AND (received_on IS NULL OR received_on >= :e)),
              sum(amount_minor) FILTER (WHERE booked_on < :pe AND (received_on IS NULL OR received_on >= :pe)),
              sum(amount_minor) FILTER (WHERE recurring AND stream = 'membership'
                                        AND date_trunc('month', booked_on)::date = :m),
              sum(amount_minor) FILTER (WHERE recurring AND stream = 'membership'
                                        AND date_trunc('month', booked_on)::date = :pm)
            FROM revenue GROUP BY currency ORDER BY currency"""), p).all()
    out: Values = {}
    for currency, *values in rows:
        for key, pair in zip(("booked", "received", "outstanding", "mrr"), _pairs(values), strict=True):
            if pair != (None, None):  # a currency seen in either period; missing counts 0
                out[f"{key}_{currency}"] = tuple(v or 0 for v in pair)
        booked = out.get(f"booked_{currency}")
        if booked:
            out[f"per_member_{currency}"] = (booked[0] / mau["now"] if mau["now"] else None,
                                             booked[1] / mau["before"] if mau["before"] else None)
    return out


def board(window: Window, period: Period) -> Values:
    """The contribution score (KPIS.md): items per member, kind and local day, reactions once a
    day per pair of members per platform, capped per day, weighted, summed over the period."""
    rules = leaderboard.scoring()
    s, e = period.bounds(window.tz)
    kinds = ", ".join(f"('{k}', {float(rules.weights[k])}, {int(rules.caps[k])})" for k in leaderboard.KINDS)
    with db.engine().connect() as conn:
        rows = conn.execute(sa.text(f"""
            WITH a AS (SELECT a.member_id, a.kind, a.platform_id, a.created_at, a.accepted, p.member_id AS parent_member
                       FROM activity a LEFT JOIN activity p ON p.id = a.parent_id
                       WHERE a.created_at >= :s AND a.created_at < :e),
            kept AS (SELECT * FROM a WHERE parent_member IS NULL OR parent_member <> member_id),
            items AS (
              SELECT member_id, kind, platform_id, NULL::bigint AS counterpart, created_at FROM kept
                WHERE kind <> 'reaction'
              UNION ALL SELECT member_id, 'accepted', platform_id, NULL, created_at FROM kept
                WHERE kind <> 'reaction' AND accepted
              UNION ALL SELECT member_id, 'reaction_given', platform_id, parent_member, created_at FROM kept
                WHERE kind = 'reaction'
              UNION ALL SELECT parent_member, 'reaction_received', platform_id, member_id, created_at FROM kept
                WHERE kind = 'reaction'
              UNION ALL SELECT t.member_id, 'event', NULL, NULL, e.starts_at FROM event_attendance t
                JOIN event e ON e.id = t.event_id WHERE t.attended AND e.starts_at >= :s AND e.starts_at < :e),
            per_platform AS (
              SELECT member_id, kind, (created_at AT TIME ZONE :tz)::date AS day,
                     CASE WHEN kind IN ('reaction_received', 'reaction_given')
                          THEN count(DISTINCT coalesce(counterpart, -1)) ELSE count(*) END AS n
              FROM items GROUP BY member_id, kind, day, platform_id),
            rules(kind, weight, cap) AS (VALUES {kinds}),
            daily AS (SELECT d.member_id, d.day, least(sum(d.n), r.cap) * r.weight AS points
                      FROM per_platform d JOIN rules r USING (kind) GROUP BY d.member_id, d.kind, d.day, r.cap, r.weight)
            SELECT member_id, round(sum(points)::numeric, 4)::float8 AS score
            FROM daily WHERE points > 0 GROUP BY member_id
            ORDER BY sum(points) DESC, max(day), member_id LIMIT {TOP}"""),
            {"s": s, "e": e, "tz": window.tz}).all()
    return {"top": [(m, float(score)) for m, score in rows]}
