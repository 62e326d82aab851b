"""The overview's headline numbers on a community built by hand, checked against a person's count.

Time zone Europe/Paris (UTC+1 in March 2026). Period: 1–7 March 2026, i.e. [2026-02-28 23:00 UTC,
2026-03-07 23:00 UTC); previous period: 22–28 February.
"""
from datetime import date

import pytest

from cmcore import frames
from cmcore.access import AccessDenied, Principal
from cmcore.reports import overview
from cmcore.periods import Period
from tests.builders import Community, utc

TZ = "Europe/Paris"
MANAGER = Principal("manon", "manager")
MARCH = Period(date(2026, 3, 1), date(2026, 3, 8))



@pytest.fixture
def community(database):
    c = Community()
    ann = c.member("ann", utc(2026, 1, 10), "discord", "forum")
    bob = c.member("bob", utc(2026, 2, 25), "discord")
    cat = c.member("cat", utc(2026, 3, 3), "forum")
    c.member("dan", utc(2026, 3, 7, 23, 30), "discord")  # 8 March 00:30 in Paris: after the period
    c.member("eve", utc(2026, 2, 28, 23, 30), "discord")  # 1 March 00:30 in Paris: in the period
    # Previous period: one thread answered after 6 h.
    t0 = c.act(bob, "thread", utc(2026, 2, 26, 10))
    c.act(ann, "reply", utc(2026, 2, 26, 16), parent=t0)
    # The period.
    t1 = c.act(ann, "thread", utc(2026, 3, 2, 10))
    r1 = c.act(bob, "reply", utc(2026, 3, 2, 13), parent=t1)  # first response after 3 h
    c.act(ann, "reaction", utc(2026, 3, 2, 14), parent=r1)
    t2 = c.act(cat, "thread", utc(2026, 3, 3, 9), "forum")
    c.act(cat, "reply", utc(2026, 3, 3, 9, 30), "forum", parent=t2)  # the author's own: not a response
    c.act(ann, "comment", utc(2026, 3, 3, 10), "forum", parent=t2)  # first response after 1 h
    t3 = c.act(bob, "thread", utc(2026, 3, 4, 8))
    c.act(bob, "reply", utc(2026, 3, 4, 8, 10), parent=t3)  # answered only by its author
    c.act(ann, "reply", utc(2026, 3, 5, 12), "forum", parent=t2)  # ann on a second platform
    t4 = c.act(ann, "thread", utc(2026, 3, 7, 23, 30))  # 8 March in Paris: next period
    c.act(bob, "reply", utc(2026, 3, 8, 1), parent=t4)
    c.revenue("ads", 100_000, "EUR", date(2026, 3, 1))
    c.revenue("merch", 25_000, "EUR", date(2026, 3, 31))
    c.revenue("ads", 70_000, "USD", date(2026, 3, 15), date(2026, 4, 2))
    c.revenue("donation", 40_000, "EUR", date(2026, 2, 28))
    c.revenue("ads", 999_900, "EUR", date(2026, 4, 1))
    return c


def values(metrics):
    return {m.key: (m.value, m.previous) for m in metrics}


def test_headline_numbers(community):
    assert values(overview.headline(MANAGER, MARCH, tz=TZ)) == {
        "members": (4, 2),  # ann bob cat eve | ann bob
        "active_members": (3, 2),  # ann (on two platforms, once) bob cat | bob ann
        "new_members": (2, 1),  # cat eve | bob
        "threads": (3, 1),  # t1 t2 t3 | t0
        "ttfr_median": (2.0, 6.0),  # median(3 h, 1 h); t3 has no response by another member
        "revenue_EUR": (100_000, 40_000),  # 1–7 March against 22–28 February (the USD line: 15 March)
    }


def test_headline_on_one_platform(community):
    forum = community.platforms["forum"]
    got = values(overview.headline(MANAGER, MARCH, [forum], tz=TZ))
    assert {k: got[k] for k in ("members", "active_members", "new_members", "threads", "ttfr_median")} == {
        "members": (2, 1), "active_members": (2, 0), "new_members": (1, 0), "threads": (1, 0),
        "ttfr_median": (1.0, None)}


def test_the_time_zone_sets_the_day_boundaries(community):
    got = values(overview.headline(MANAGER, MARCH, tz="UTC"))
    # In UTC, eve joined on 28 February (previous period) and dan on 7 March; t4 falls in the period.
    assert got["members"] == (5, 3)
    assert got["new_members"] == (2, 2)
    assert got["threads"] == (4, 1)
    assert got["ttfr_median"] == (1.5, 6.0)  # median(3 h, 1 h, 1.5 h)


def test_an_empty_period_and_no_previous_period(community):
    got = values(overview.headline(MANAGER, Period(date(2025, 1, 1), date(2025, 1, 8)), tz=TZ))
    assert got == {"members": (0, 0), "active_members": (0, 0), "new_members": (0, 0),
                   "threads": (0, 0), "ttfr_median": (None, None)}


def test_daily_series_fill_every_day(community):
    daily = overview.daily(MANAGER, MARCH, tz=TZ)
    assert daily["day"].to_list() == [date(2026, 3, d) for d in range(1, 8)]
    assert daily["active_members"].to_list() == [0, 2, 2, 1, 1, 0, 0]
    assert daily["new_members"].to_list() == [1, 0, 1, 0, 0, 0, 0]


def test_by_platform(community):
    rows = {r["platform"]: r for r in overview.by_platform(MANAGER, MARCH, tz=TZ).iter_rows(named=True)}
    assert rows["Discord"] == {"platform": "Discord", "members": 3, "active_members": 2, "new_members": 1,
                               "threads": 2, "ttfr_median_hours": 3.0}
    assert rows["Forum"] == {"platform": "Forum", "members": 2, "active_members": 2, "new_members": 1,
                             "threads": 1, "ttfr_median_hours": 1.0}


@pytest.mark.parametrize("who", [Principal("s", "staff"), Principal("p", "sponsor", 1), None])
def test_only_managers_and_admins_read_the_overview(community, who):
    for call in (overview.headline, overview.daily, overview.by_platform):
        with pytest.raises(AccessDenied):
            call(who, MARCH, tz=TZ)


def test_a_rerun_is_a_lookup_and_a_write_is_seen_at_once(community):
    first = overview.headline(MANAGER, MARCH, tz=TZ)
    with frames.recording() as sent:
        again = overview.headline(Principal("ada", "admin"), MARCH, tz=TZ)
    assert again is first and sent == []  # the same metrics, nothing read
    community.member("fay", utc(2026, 3, 4), "forum")
    assert values(overview.headline(MANAGER, MARCH, tz=TZ))["new_members"] == (3, 1)
    assert values(overview.headline(MANAGER, MARCH, [community.platforms["discord"]], tz=TZ))["new_members"] == (1, 1)
