"""What each kind of alert finds, on small communities where a person can count it."""
from __future__ import annotations

from datetime import timedelta

from cmcore.alerts import kinds, rules
from tests.builders import Community, utc

NOW = utc(2026, 3, 10, 12)


def test_a_platform_without_new_data_for_the_threshold_is_found_once_per_stall(database):
    c = Community()
    ann = c.member("ann", utc(2026, 1, 1), "discord", "forum")
    c.act(ann, "thread", NOW - timedelta(hours=3), platform="discord")
    c.act(ann, "thread", NOW - timedelta(hours=50), platform="forum")
    c.act(ann, "thread", NOW - timedelta(hours=80), platform="forum")
    found = rules.findings("platform_stale", 48, NOW)
    last = (NOW - timedelta(hours=50)).isoformat()
    assert found == [kinds.Finding(f"forum:{last}", {"platform": "Forum", "hours": 50, "last": last},
                                   "data?tab=platforms")]
    assert rules.findings("platform_stale", 51, NOW) == []
    assert [f.facts["platform"] for f in rules.findings("platform_stale", 2, NOW)] == ["Discord", "Forum"]
    c.act(ann, "thread", NOW - timedelta(hours=1), platform="forum")  # data again: the stall is over
    assert rules.findings("platform_stale", 48, NOW) == []
    later = NOW + timedelta(hours=60)  # a new stall is a new episode
    assert [f.period for f in rules.findings("platform_stale", 48, later)] == [
        f"discord:{(NOW - timedelta(hours=3)).isoformat()}", f"forum:{(NOW - timedelta(hours=1)).isoformat()}"]
