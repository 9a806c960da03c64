"""tracemalloc in chosen processes of a group, for chaos.memprobe (a diagnostic, not a test).

Loaded by every Python process started with this directory first on PYTHONPATH (the
repository root next on it, for :mod:`chaos.site_common`). When
``MM_CHAOS_TRACEMALLOC_DIR`` names a directory and the process's command line contains an
entry of ``MM_CHAOS_TRACEMALLOC_PROCS`` (comma-separated, e.g. ``procs.monitor``), it starts
tracemalloc (``MM_CHAOS_TRACEMALLOC_FRAMES`` frames, default 8) and a daemon thread that
writes a snapshot every ``MM_CHAOS_TRACEMALLOC_EVERY_S`` seconds (default 30) to
``<dir>/<entry>-<pid>-<k>.snap``. tracemalloc slows allocation: figures of a probed run are
for finding what grows, not for latency.
"""

from __future__ import annotations

import os
import threading
import time

from chaos.site_common import env_list, matching

_dir = os.environ.get("MM_CHAOS_TRACEMALLOC_DIR", "")


def _start(entry: str) -> None:
    import tracemalloc

    frames = int(os.environ.get("MM_CHAOS_TRACEMALLOC_FRAMES", "8"))
    every_s = float(os.environ.get("MM_CHAOS_TRACEMALLOC_EVERY_S", "30"))
    tracemalloc.start(frames)
    tag = entry.rsplit(".", 1)[-1]

    def dump() -> None:
        k = 0
        while True:
            time.sleep(every_s)
            snap = tracemalloc.take_snapshot()
            path = os.path.join(_dir, f"{tag}-{os.getpid()}-{k:03d}.snap")
            snap.dump(path + ".tmp")
            os.replace(path + ".tmp", path)
            k += 1

    threading.Thread(target=dump, name="memprobe", daemon=True).start()


_entry = matching(env_list("MM_CHAOS_TRACEMALLOC_PROCS")) if _dir else None
if _entry is not None:
    _start(_entry)
