"""Scoring the stored mentions again after a model change or a change of the community's languages
(`./dev cli rescore`): the mentions the models scored (`scored_by` set) under other models,
versions or languages than now (`text.model`), or all of them; what a file gave (`scored_by`
NULL) is kept."""
from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from cmcore import audit, community, db
from cmcore.access import Principal, require
from cmcore.ingest import load, text
from cmcore.ingest.load import copy_in, query
from cmcore.progress import Progress

RESCORERS = ("admin",)
BATCH = 5_000


@db.retried
def rescore(actor: Principal, progress: Progress | None = None, every: bool = False) -> dict[str, int]:
    """Score again the mentions the models scored under another version or other languages
    (`every`: all the models scored), in one transaction, audited; returns the mentions `scored`
    and those whose language or sentiment `changed`."""
    require(actor, *RESCORERS)
    report = progress or (lambda _f, _m: None)
    languages = community.languages()
    model = text.model(languages)
    with db.transaction() as conn:
        load.begin(conn)  # no import meanwhile
        todo = query(conn, "SELECT id, body FROM mention WHERE scored_by IS NOT NULL"
                     " AND (%s OR scored_by <> %s) ORDER BY id", [every, model],
                     {"id": pl.Int64, "body": pl.String})
        conn.execute(sa.text("CREATE TEMP TABLE r_rescore (id bigint, lang text, sentiment smallint) ON COMMIT DROP"))
        for start in range(0, todo.height, BATCH):
            report(start / max(todo.height, 1), f"{start:,} of {todo.height:,} mentions")
            batch = todo.slice(start, BATCH)
            scores = [text.score(body, languages) for body in batch["body"]]
            copy_in(conn, "r_rescore", batch.select("id").with_columns(
                pl.Series("lang", [lang for lang, _ in scores], pl.String),
                pl.Series("sentiment", [sentiment for _, sentiment in scores], pl.Int64)))
        changed = conn.execute(sa.text(
            "SELECT count(*) FROM r_rescore r JOIN mention m USING (id)"
            " WHERE (m.lang, m.sentiment) IS DISTINCT FROM (r.lang, r.sentiment)")).scalar_one()
        conn.execute(sa.text("UPDATE mention m SET lang = r.lang, sentiment = r.sentiment, scored_by = :model"
                             " FROM r_rescore r WHERE m.id = r.id"), {"model": model})
        counts = {"scored": todo.height, "changed": changed}
        audit.record(conn, actor.username, "mention.rescore", "mention", None, model=model, every=every, **counts)
    report(1.0, "done")
    return counts
