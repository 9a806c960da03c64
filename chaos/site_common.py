"""What the chaos suite's ``sitecustomize`` shims share (chaos/wallclock, chaos/memprobe_site).

A shim is loaded by every Python process started with its directory first on PYTHONPATH
(the repository root comes next, so this module imports); it acts only in the processes
named by an environment list: this module reads those lists and tells which entry the
process's command line contains.
"""

from __future__ import annotations

import os
import sys


def env_list(name: str) -> list[str]:
    """The non-empty comma-separated entries of environment variable ``name``."""
    return [e for e in os.environ.get(name, "").split(",") if e]


def cmdline() -> str:
    """This process's command line, arguments joined by spaces (``sys.argv`` where /proc is not there)."""
    try:
        with open("/proc/self/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return " ".join(sys.argv)


def matching(entries: list[str]) -> str | None:
    """The first of ``entries`` that this process's command line contains (None: none does)."""
    if not entries:
        return None
    line = cmdline()
    return next((e for e in entries if e in line), None)
