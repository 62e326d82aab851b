"""Numbered SQL migrations in `sql/`, applied in order by yoyo-migrations, as the owner role."""
from __future__ import annotations

import psycopg
from yoyo import get_backend, read_migrations

from cmcore import db
from cmcore.settings import PROJECT_DIR, ConfigError

SQL_DIR = PROJECT_DIR / "sql"


def apply(url: str | None = None) -> list[str]:
    """Apply pending migrations to `url`, an owner's URL (default: the app's database as its
    owner); return their ids."""
    url = url or db.owner_url()
    with psycopg.connect(url) as conn:  # yoyo would wait for a lock it may not take, then call it busy
        if not conn.execute("SELECT has_schema_privilege('public', 'CREATE')").fetchone()[0]:
            raise ConfigError("migrations run as the database's owner, not as {user}: set"
                              " DATABASE_OWNER_URL (see docs/database.md)", user=conn.info.user)
    migrations = read_migrations(str(SQL_DIR))
    with get_backend(db.sqlalchemy_url(url)) as backend, backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def pending() -> list[str]:
    """The migrations the app's database lacks, asked as the application role (which may read
    yoyo's record of them, not take its lock)."""
    try:
        with psycopg.connect(db.url()) as conn:
            applied = {row[0] for row in conn.execute("SELECT migration_id FROM _yoyo_migration")}
    except psycopg.errors.UndefinedTable:  # never migrated
        applied = set()
    return [m.id for m in read_migrations(str(SQL_DIR)) if m.id not in applied]
