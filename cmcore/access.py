"""Who may do what: roles, the signed-in principal, and the check every service call makes."""
from __future__ import annotations

from dataclasses import dataclass

from cmcore.refusal import Told

ROLES = ("admin", "manager", "staff", "sponsor")

# Page key → roles that may open it. app.py builds the menu from this; each page checks it again,
# and every cmcore service checks its own roles with `require`.
_MANAGERS = frozenset({"admin", "manager"})
_MANAGERS_AND_STAFF = frozenset({"admin", "manager", "staff"})
PAGES: dict[str, frozenset[str]] = {
    "overview": _MANAGERS,
    "growth": _MANAGERS,
    "retention": _MANAGERS,
    "responsiveness": _MANAGERS_AND_STAFF,
    "moderation": _MANAGERS_AND_STAFF,
    "reputation": _MANAGERS,
    "content": _MANAGERS,
    "leaderboard": _MANAGERS_AND_STAFF,
    "rewards": _MANAGERS_AND_STAFF,
    "monetisation": _MANAGERS,
    "sponsor_report": frozenset({"admin", "manager", "sponsor"}),
    "alerts": _MANAGERS_AND_STAFF,
    "settings": _MANAGERS,
    "data": _MANAGERS_AND_STAFF,
    "users": frozenset({"admin"}),
    "connections": frozenset({"admin"}),
    "account": frozenset(ROLES),
}


class AccessDenied(Told, PermissionError):
    """The signed-in user's role does not allow this."""


@dataclass(frozen=True)
class Principal:
    """The signed-in user as cmcore sees it."""

    username: str
    role: str
    sponsor_id: int | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if (self.role == "sponsor") != (self.sponsor_id is not None):
            raise ValueError("a sponsor user is tied to exactly one sponsor, other roles to none")


# The command line acts as an administrator named "cli" in the audit log.
CLI = Principal("cli", "admin")


def require(principal: Principal | None, *roles: str) -> Principal:
    """Return `principal` if its role is one of `roles`, else raise AccessDenied."""
    if principal is None:
        raise AccessDenied("sign in first")
    if principal.role not in roles:
        raise AccessDenied("the role {role} may not do this (it needs one of: {roles})", ("role", "roles"),
                           role=principal.role, roles=roles)
    return principal


def can_open(principal: Principal | None, page: str) -> bool:
    return principal is not None and principal.role in PAGES[page]


def pages_for(principal: Principal) -> list[str]:
    """The pages a role sees, in menu order."""
    return [page for page, roles in PAGES.items() if principal.role in roles]
