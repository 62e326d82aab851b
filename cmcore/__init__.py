"""The community manager's console: the core package (no Streamlit below this line)."""
import os

# Polars' allocator (jemalloc) gives freed pages back to the system after 1 s, so every cold build
# of a big page faulted its gigabytes in again: a third of the leaderboard's cold time went to the
# kernel. Keeping them 10 s (jemalloc's own default) lets the next build reuse them; the peak is
# the same. jemalloc reads this when Polars is first imported, which cmcore's modules do after this.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:10000,muzzy_decay_ms:10000")
