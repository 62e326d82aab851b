"""Sponsors as the rest of the app refers to them."""
from __future__ import annotations

import polars as pl

from cmcore import frames
from cmcore.access import Principal, require


def list_sponsors(actor: Principal) -> pl.DataFrame:
    """Sponsor ids and names (admins and managers; a sponsor user sees only its own)."""
    if actor.role == "sponsor":
        return frames.read("SELECT id, name FROM sponsor WHERE id = $1", [actor.sponsor_id])
    require(actor, "admin", "manager")
    return frames.read("SELECT id, name FROM sponsor ORDER BY name")
