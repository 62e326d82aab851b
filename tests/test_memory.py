"""What the app's process holds: memory a build freed goes back to the system within seconds."""
import subprocess
import sys
from pathlib import Path

FREED = """
import time, cmcore, polars as pl
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) // 1024
base = rss()
frame = pl.concat([pl.DataFrame({"a": pl.int_range(i, i + 4_000, eager=True)}) for i in range(12_000)], rechunk=False)
held = rss()
del frame
time.sleep(5)
print(base, held, rss())
"""


def test_frames_a_build_freed_leave_the_process_within_seconds():
    """12,000 small frames (the chunks a build makes: 380 MB) freed, then nothing allocated: the
    allocator's background thread gives their pages back (jemalloc's own default kept them)."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", FREED], capture_output=True, text=True, cwd=root, check=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})
    base, held, after = map(int, done.stdout.split())
    assert held - base > 300, (base, held)
    assert after - base < 60, (base, held, after)
