"""Names of a run's shared-memory objects, and removal of stale ones.

Every segment and semaphore of a process group carries the run id in its name:
``/mm.<run_id>.<what>`` (shown in /dev/shm as ``mm.<run_id>.<what>`` and
``sem.mm.<run_id>.<what>``). The run id is ``<supervisor pid>-<hex token>``, so a
supervisor that starts after a crash can tell which runs are dead (their pid is gone,
or is no longer a supervisor) and unlink what they left behind.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
from collections.abc import Callable, Iterable

import posix_ipc

SHM_DIR = "/dev/shm"
_RUN_RE = re.compile(r"^(?:sem\.)?mm\.(?P<run>(?P<pid>\d+)-[0-9a-f]{4,16})\.[A-Za-z0-9_.-]+$")


def new_run_id(pid: int | None = None) -> str:
    """A fresh run id for the supervisor with this pid."""
    return f"{os.getpid() if pid is None else pid}-{secrets.token_hex(4)}"


def shm_name(run_id: str, what: str) -> str:
    """The posix name of a run's segment or semaphore (leading slash included)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", what):
        raise ValueError(f"bad segment name {what!r}")
    return f"/mm.{run_id}.{what}"


def parse_entry(entry: str) -> tuple[str, int] | None:
    """(run_id, pid) of a /dev/shm entry that belongs to an mm run, else None."""
    m = _RUN_RE.match(entry)
    if m is None:
        return None
    return m.group("run"), int(m.group("pid"))


def run_entries(shm_dir: str = SHM_DIR) -> dict[str, list[str]]:
    """/dev/shm entries of mm runs, grouped by run id."""
    out: dict[str, list[str]] = {}
    try:
        names = os.listdir(shm_dir)
    except OSError:
        return out
    for entry in names:
        parsed = parse_entry(entry)
        if parsed is not None:
            out.setdefault(parsed[0], []).append(entry)
    return out


def _supervisor_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ")
    except OSError:
        return False
    return b"procs.supervisor" in cmd or b"mm-supervisor" in cmd


def unlink_entry(entry: str) -> bool:
    """Unlink one /dev/shm entry (segment or semaphore). True if it was removed."""
    try:
        if entry.startswith("sem."):
            posix_ipc.unlink_semaphore("/" + entry[4:])
        else:
            posix_ipc.unlink_shared_memory("/" + entry)
        return True
    except posix_ipc.ExistentialError:
        return False


def clean_stale(
    keep: Iterable[str] = (),
    alive: Callable[[int], bool] = _supervisor_alive,
    shm_dir: str = SHM_DIR,
) -> list[str]:
    """Unlink every entry of runs whose supervisor is gone. Returns what was removed."""
    keep_set = set(keep)
    removed: list[str] = []
    for run_id, entries in run_entries(shm_dir).items():
        pid = int(run_id.split("-", 1)[0])
        if run_id in keep_set or alive(pid):
            continue
        removed.extend(e for e in entries if unlink_entry(e))
    return removed


def unlink_run(run_id: str, shm_dir: str = SHM_DIR) -> list[str]:
    """Unlink every entry of one run (the supervisor's own cleanup at exit)."""
    entries = run_entries(shm_dir).get(run_id, [])
    return [e for e in entries if unlink_entry(e)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="List or remove shared memory left by dead mm runs.")
    ap.add_argument("--clean-stale", action="store_true", help="unlink entries of dead runs")
    args = ap.parse_args(argv)
    if args.clean_stale:
        removed = clean_stale()
        print(f"removed {len(removed)} stale entries" + (": " + " ".join(removed) if removed else ""))
    else:
        for run_id, entries in sorted(run_entries().items()):
            print(run_id, " ".join(sorted(entries)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
