"""A wall-clock jump for the chaos suite, loaded by every Python process started with this
directory first on PYTHONPATH (Python imports ``sitecustomize`` at start-up; the repository
root next on it, for :mod:`chaos.site_common`).

When ``MM_CHAOS_WALL_OFFSET_FILE`` names a file, ``time.time()`` and ``time.time_ns()``
return the real wall clock plus the offset in that file (integer nanoseconds; rewritten by
the scenario to jump the clock while the group runs; re-read at most every 20 ms). The
monotonic clocks are left alone: that is the point of the test. A process whose command
line contains an entry of ``MM_CHAOS_WALL_EXEMPT`` (comma-separated, e.g. ``procs.venue``:
the venue is the outside world, whose clock does not jump with ours) keeps the real clock.
"""

from __future__ import annotations

import os
import time

from chaos.site_common import env_list, matching

_path = os.environ.get("MM_CHAOS_WALL_OFFSET_FILE", "")

if _path and matching(env_list("MM_CHAOS_WALL_EXEMPT")) is None:
    _real_time_ns = time.time_ns
    _mono_ns = time.monotonic_ns
    _state = [0, -(1 << 62)]  # offset_ns, last read (monotonic ns)

    def _offset_ns() -> int:
        now = _mono_ns()
        if now - _state[1] >= 20_000_000:
            _state[1] = now
            try:
                with open(_path) as fh:
                    _state[0] = int(fh.read().strip() or 0)
            except (OSError, ValueError):
                pass
        return _state[0]

    def _time_ns() -> int:
        return _real_time_ns() + _offset_ns()

    def _time() -> float:
        return _time_ns() / 1e9

    time.time_ns = _time_ns
    time.time = _time
