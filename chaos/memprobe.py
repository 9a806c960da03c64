"""What grows in a process of the trading group: tracemalloc snapshots diffed (a diagnostic).

    python -m chaos.memprobe [--seconds 150] [--procs monitor,execution] [--every 30] [--top 15]

Starts a trading paper group (chaos.process_faults.TradingGroup) with
chaos/memprobe_site/sitecustomize.py on PYTHONPATH: each chosen process traces its
allocations and writes a snapshot every ``--every`` seconds. At the end, for each process,
the Python heap between its second snapshot (after warm-up) and its last is diffed by line
(and the largest growth by traceback), and its RSS is printed. Not part of the table:
tracemalloc makes the traced processes slower.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

from chaos.group import REPO


def report(snap_dir: Path, tag: str, top: int) -> list[str]:
    files = sorted(snap_dir.glob(f"{tag}-*.snap"))
    if len(files) < 2:
        return [f"{tag}: {len(files)} snapshot(s), nothing to diff"]
    first = files[1] if len(files) >= 3 else files[0]
    a = tracemalloc.Snapshot.load(str(first))
    b = tracemalloc.Snapshot.load(str(files[-1]))
    filt = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    a, b = a.filter_traces(filt), b.filter_traces(filt)
    total_a = sum(s.size for s in a.statistics("filename"))
    total_b = sum(s.size for s in b.statistics("filename"))
    out = [f"{tag}: traced heap {total_a / 2**20:.1f} -> {total_b / 2**20:.1f} MB "
           f"({first.name} -> {files[-1].name})"]
    for st in b.compare_to(a, "lineno")[:top]:
        fr = st.traceback[0]
        out.append(f"  {st.size_diff / 1024:+9.1f} KiB {st.count_diff:+8d} blocks  {fr.filename.replace(str(REPO) + '/', '')}:{fr.lineno}")
    out.append("  largest growth by traceback:")
    for st in b.compare_to(a, "traceback")[:3]:
        out.append(f"  {st.size_diff / 1024:+9.1f} KiB")
        for fr in st.traceback.format(limit=8):
            out.append("     " + fr.replace(str(REPO) + "/", ""))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="chaos.memprobe", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=150.0)
    ap.add_argument("--procs", default="monitor,execution")
    ap.add_argument("--every", type=float, default=30.0)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--keep", default="", help="directory to keep the snapshots in")
    a = ap.parse_args(argv)
    from chaos.process_faults import TradingGroup

    tags = [p.strip() for p in a.procs.split(",") if p.strip()]
    with tempfile.TemporaryDirectory(prefix="mm-memprobe-") as tmp:
        snap_dir = Path(a.keep) if a.keep else Path(tmp) / "snaps"
        snap_dir.mkdir(parents=True, exist_ok=True)
        env = {"PYTHONPATH": f"{REPO / 'chaos' / 'memprobe_site'}{os.pathsep}{REPO}",
               "MM_CHAOS_TRACEMALLOC_DIR": str(snap_dir),
               "MM_CHAOS_TRACEMALLOC_PROCS": ",".join(f"procs.{t}" for t in tags),
               "MM_CHAOS_TRACEMALLOC_EVERY_S": str(a.every), "MM_CHAOS_TRACEMALLOC_FRAMES": str(a.frames)}
        with TradingGroup(Path(tmp), env=env) as tg:
            tg.resting()
            pids = {t: int(tg.hb.row(t).get("pid")) for t in tags}
            rss0 = {t: psutil.Process(p).memory_info().rss / 2**20 for t, p in pids.items()}
            time.sleep(a.seconds)
            rss1 = {t: psutil.Process(p).memory_info().rss / 2**20 for t, p in pids.items()}
        for t in tags:
            print(f"{t}: RSS {rss0[t]:.1f} -> {rss1[t]:.1f} MB over {a.seconds:.0f} s (traced, so slower)")
            print("\n".join(report(snap_dir, t, a.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
