"""Numbered SQL migrations in `sql/`, applied in order by yoyo-migrations."""
from __future__ import annotations

from yoyo import get_backend, read_migrations

from cmcore import db
from cmcore.settings import PROJECT_DIR

SQL_DIR = PROJECT_DIR / "sql"


def apply(url: str | None = None) -> list[str]:
    """Apply pending migrations to `url` (default: the app's database); return their ids."""
    migrations = read_migrations(str(SQL_DIR))
    with get_backend(db.sqlalchemy_url(url or db.url())) as backend, backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]
