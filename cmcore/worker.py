"""The worker beside the web app: procrastinate's job queue on the app's PostgreSQL (its schema is
sql/0014), running as the application role. Every minute it evaluates the alert rules and the
scheduled reports and sends what is due (`cmcore.alerts`), and queues the syncs of the connections
that are due (`cmcore.connections`); every ten, it puts back in the queue the jobs of a worker that died
(killed, its machine lost). `./dev app` starts it beside Streamlit, `./dev cli worker` alone."""
from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import procrastinate

from cmcore import db, settings
from cmcore.alerts import delivery, rules, schedule
from cmcore.connections import sync as connections

log = logging.getLogger("cmcore.worker")
# The tasks' app; its connector is given when it is used (`connected`): the database is known then.
queue = procrastinate.App(connector=procrastinate.PsycopgConnector())
STALLED_AFTER = 60  # seconds without a worker's heartbeat before its jobs are run again


@queue.periodic(cron="* * * * *", periodic_id="alerts")
@queue.task(name="alerts", queueing_lock="alerts")
def alerts(timestamp: int) -> dict[str, int]:
    """Evaluate every active rule and the scheduled reports at the minute `timestamp` (Unix
    seconds), then send what is due."""
    now = datetime.fromtimestamp(timestamp, UTC)
    new = rules.evaluate(now) + schedule.evaluate(now)
    outcomes = delivery.send_due()
    log.info("alerts at %s: %d new notification(s), %s", now.isoformat(timespec="minutes"), new,
             dict(outcomes) or "nothing to send")
    return {"new": new, **outcomes}


@queue.periodic(cron="* * * * *", periodic_id="connections")
@queue.task(name="connections", queueing_lock="connections")
async def due_syncs(timestamp: int) -> int:
    """Queue a sync of each connection due at the minute `timestamp`; return how many."""
    queued = 0
    for connection_id in connections.due(datetime.fromtimestamp(timestamp, UTC)):
        try:
            await sync.configure(queueing_lock=f"sync-{connection_id}").defer_async(connection_id=connection_id)
            queued += 1
        except procrastinate.exceptions.AlreadyEnqueued:
            pass  # its sync waits in the queue already
    return queued


@queue.task(name="sync", retry=False)
def sync(connection_id: int) -> dict[str, object]:
    """Sync one connection (cmcore.connections.sync)."""
    outcome = connections.run(connection_id)
    return {} if outcome is None else {"state": outcome.state, "items": outcome.items, "rows": outcome.rows}


@queue.periodic(cron="*/10 * * * *", periodic_id="stalled")
@queue.task(name="retry_stalled", queueing_lock="retry_stalled", pass_context=True)
async def retry_stalled(context: procrastinate.JobContext, timestamp: int) -> int:
    """Queue again the jobs a dead worker left running; return how many."""
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER))
    for job in stalled:
        await manager.retry_job(job)
    return len(stalled)


@contextmanager
def connected(url: str | None = None) -> Iterator[procrastinate.App]:
    """The queue on the app's database (or `url`), as the application role."""
    with queue.replace_connector(procrastinate.PsycopgConnector(conninfo=url or db.url())):
        yield queue


def mailbox() -> str:
    """Where e-mail goes, and how to read it when no SMTP server is set."""
    conf = settings.current()
    if conf.smtp.host:
        return f"e-mail goes through {conf.smtp.host}:{conf.smtp.port} ({conf.smtp.tls})"
    folder = conf.data_dir / "mail"
    return (f"no SMTP server set (CM_SMTP_HOST): e-mail is written to {folder}/ as .eml files;"
            f" read the newest with: ls -t {folder} | head; less {folder}/<file>.eml")


def run() -> None:
    """Work until SIGINT or SIGTERM, then finish the job at hand and stop. A SIGTERM after the
    first signal is ignored (procrastinate's handlers, once used, give back the ones before
    them): Ctrl-C in `./dev app` reaches the worker, then the script's TERM must not cut it short."""
    signal.signal(signal.SIGTERM, lambda *_: log.info("already stopping"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    log.info("started: alerts and due syncs every minute, on %s", db.url().rsplit("@", 1)[-1])
    log.info(mailbox())
    with connected() as app:
        app.run_worker(name="cm-worker", delete_jobs="successful", shutdown_graceful_timeout=30)
    log.info("stopped")
