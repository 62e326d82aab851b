"""Getting a database ready: migrations, the application role's privileges, then a small demo
community if it is empty."""
from __future__ import annotations

from datetime import UTC, datetime

from cmcore import db, demo, migrate, settings
from cmcore.alerts import starter
from cmcore.access import CLI
from cmcore.progress import Progress
from cmcore.settings import ConfigError

STARTER_DEMO = demo.DemoSpec(members=800, days=240)


def schema() -> None:
    """Apply pending migrations as the owner when its URL is known; without it, refuse a database
    that lacks some (a deployment migrates with DATABASE_OWNER_URL, then serves without it)."""
    if db.has_owner():
        migrate.apply()
    elif missing := migrate.pending():
        raise ConfigError("the database lacks migrations {missing}: run ./dev cli migrate with"
                          " DATABASE_OWNER_URL set (docs/database.md)", missing=", ".join(missing))


def prepare(progress: Progress | None = None) -> dict[str, str]:
    """Bring the schema up to date; refuse an application role that may do more than it should
    (a superuser, the tables' owner: the database's own rules would not hold against it); seed
    the starter demo into an empty database (unless disabled), with its alert rules and the
    recent events they find (`alerts.starter`).

    Returns the demo users' passwords when it created them (to be shown once), else {}.
    """
    schema()
    if problems := db.app_role_problems():
        raise ConfigError("the application's database role {problems}: connect it as a role that owns nothing"
                          " (DATABASE_URL; docs/database.md)", ("problems",), problems=tuple(problems))
    if settings.current().demo_on_empty and demo.is_empty():
        passwords = demo.load(STARTER_DEMO, CLI, progress)
        starter.seed(datetime.now(UTC))
        return passwords
    return {}
