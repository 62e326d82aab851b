"""Who may do what (cmcore.access), role by role, without a database: the checks every page and
service call makes, and the refusals' words."""
import dataclasses

import pytest

from cmcore.access import CLI, AccessDenied, Principal, can_open, require

# Page → the roles that open it, written out by hand from README's table of pages.
OPENS = {
    "overview": "admin manager", "growth": "admin manager", "retention": "admin manager",
    "responsiveness": "admin manager staff", "moderation": "admin manager staff", "reputation": "admin manager",
    "content": "admin manager", "leaderboard": "admin manager staff", "rewards": "admin manager staff",
    "monetisation": "admin manager", "sponsor_report": "admin manager sponsor", "alerts": "admin manager staff",
    "settings": "admin manager",
    "data": "admin manager staff", "users": "admin", "connections": "admin", "account": "admin manager staff sponsor",
}
PEOPLE = {"admin": Principal("ada", "admin"), "manager": Principal("max", "manager"),
          "staff": Principal("sam", "staff"), "sponsor": Principal("acme", "sponsor", 7)}


@pytest.mark.parametrize("page", OPENS)
def test_each_page_opens_to_its_roles_only_and_to_nobody_signed_out(page):
    assert {role for role, who in PEOPLE.items() if can_open(who, page)} == set(OPENS[page].split())
    assert not can_open(None, page)


def test_require_returns_the_principal_or_says_which_role_is_needed():
    assert require(PEOPLE["staff"], "manager", "staff") is PEOPLE["staff"]
    assert require(CLI, "admin") == Principal("cli", "admin")
    with pytest.raises(AccessDenied) as refused:
        require(PEOPLE["sponsor"], "admin", "manager")
    assert str(refused.value) == "the role sponsor may not do this (it needs one of: admin, manager)"
    with pytest.raises(AccessDenied) as refused:
        require(None, "admin")
    assert str(refused.value) == "sign in first"
    with pytest.raises(AccessDenied):
        require(PEOPLE["manager"])  # no role named: nobody may


def test_a_principal_has_a_known_role_and_a_sponsor_exactly_when_it_is_a_sponsor():
    with pytest.raises(ValueError, match="^unknown role 'owner'$"):
        Principal("o", "owner")
    for role in ("admin", "manager", "staff"):
        with pytest.raises(ValueError, match="^a sponsor user is tied to exactly one sponsor, other roles to none$"):
            Principal("x", role, 3)
    with pytest.raises(ValueError, match="^a sponsor user is tied to exactly one sponsor, other roles to none$"):
        Principal("x", "sponsor")
    assert Principal("x", "sponsor", 0).sponsor_id == 0  # an id, even 0, is a sponsor


def test_a_principal_cannot_be_changed_once_checked():
    """A page holds the principal its sign-in checked: nothing can turn it into another role or
    another sponsor's user; equal principals are one cache key."""
    sponsor = Principal("acme", "sponsor", 7)
    for field, value in (("role", "admin"), ("sponsor_id", 8), ("username", "other")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(sponsor, field, value)
    assert {sponsor: "acme"}[Principal("acme", "sponsor", 7)] == "acme"
