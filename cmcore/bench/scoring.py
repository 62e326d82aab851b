"""The language and sentiment models' throughput (`bench --score-texts N`): distinct short texts
(the demo's mentions, each made distinct by a number, so no cache helps), French and English,
scored as the importer and `rescore` score them, one at a time, for a community writing the
default languages."""
from __future__ import annotations

import itertools
import time

from cmcore.community import DEFAULTS
from cmcore.demo import CRISIS, MENTIONS
from cmcore.ingest import text


def run(texts: int) -> dict:
    """Texts per second of language alone and of language + sentiment, over `texts` texts."""
    samples = [*itertools.chain.from_iterable(MENTIONS.values()), *CRISIS.values()]
    bodies = [f"{samples[i % len(samples)]} #{i}" for i in range(texts)]
    languages = tuple(DEFAULTS["languages"])
    text.score(bodies[0], languages)  # the models loaded before the clock starts
    started = time.perf_counter()
    for body in bodies:
        text.language(body, languages)
    language_s = time.perf_counter() - started
    started = time.perf_counter()
    scored = [text.score(body, languages) for body in bodies]
    both_s = time.perf_counter() - started
    return {"texts": texts, "model": text.model(languages), "language_s": language_s,
            "language_per_s": texts / language_s, "scored_s": both_s, "scored_per_s": texts / both_s,
            "unscored": sum(sentiment is None for _, sentiment in scored)}


def line(report: dict) -> str:
    return (f"Scoring ({report['texts']:,} distinct texts, {report['model']}): language {report['language_per_s']:,.0f}"
            f" texts/s, language and sentiment {report['scored_per_s']:,.0f} texts/s.")
