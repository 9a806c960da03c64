"""Helpers shared by the ipc tests: unique segment names and a check for leftovers."""

from __future__ import annotations

import os
import secrets

SHM_DIR = "/dev/shm"


def name_prefix() -> str:
    """A prefix unique to one test module run: ``/mm.test<pid>x<random>``."""
    return f"/mm.test{os.getpid()}x{secrets.token_hex(3)}"


def leftovers(prefix: str) -> list[str]:
    """Shared-memory segments and named semaphores whose name starts with ``prefix``."""
    stem = prefix.lstrip("/")
    try:
        entries = os.listdir(SHM_DIR)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(stem) or e.startswith("sem." + stem))
