"""The community manager's console: the core package (no Streamlit below this line)."""
import os

# Polars' allocator (jemalloc) purges freed pages in a background thread after 4 s: a build's
# intermediates do not stay resident long beside the caches, and no build waits for the purge.
# Measured at 10M activities (docs/speed.md): one process over all 15 pages peaked at 2.74 GB and
# at 2.90 GB through changes (pages kept 10 s and purged by the allocating threads: 2.86 GB and
# 3.14 GB); purged after 1 s, the peak was lower (2.50 GB) but each update faulted its memory in
# again (a board's next view after an import 0.72 s instead of 0.35–0.43 s). jemalloc reads this
# when Polars is first imported, which cmcore's modules do after this.
os.environ.setdefault("_RJEM_MALLOC_CONF", "background_thread:true,dirty_decay_ms:4000,muzzy_decay_ms:0")
