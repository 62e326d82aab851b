"""The community manager's console: the core package (no Streamlit below this line)."""
import os

# Polars' allocator (jemalloc) purges freed pages in a background thread after 1 s: a build's
# intermediates do not stay resident beside the caches (one process over all 15 pages at 10M
# activities peaked at 2.86 GB with pages kept 10 s and purged by the allocating threads, 2.50 GB
# so), and no build waits for the purge (cold pages took the same time). jemalloc reads this when
# Polars is first imported, which cmcore's modules do after this.
os.environ.setdefault("_RJEM_MALLOC_CONF", "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0")
