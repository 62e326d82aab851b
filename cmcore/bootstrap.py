"""Getting a database ready: migrations, then a small demo community if it is empty."""
from __future__ import annotations

from cmcore import demo, migrate, settings
from cmcore.access import CLI
from cmcore.progress import Progress

STARTER_DEMO = demo.DemoSpec(members=800, days=240)


def prepare(progress: Progress | None = None) -> dict[str, str]:
    """Apply pending migrations; seed the starter demo into an empty database (unless disabled).

    Returns the demo users' passwords when it created them (to be shown once), else {}.
    """
    migrate.apply()
    if settings.current().demo_on_empty and demo.is_empty():
        return demo.load(STARTER_DEMO, CLI, progress)
    return {}
