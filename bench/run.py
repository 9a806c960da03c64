"""``make bench``: run every benchmark, print its table, write the figures to JSON.

Each bench module exposes ``run(quick: bool) -> dict``. The JSON (bench/results/bench.json)
holds the machine's description and every module's figures, so runs on different machines
can be compared. ``--quick`` runs the reduced set (``make bench-quick``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from typing import Any

import psutil

MODULES = (
    "bench.bench_ring",
    "bench.bench_pipeline",
    "bench.bench_feed",
    "bench.bench_features",
    "bench.bench_models",
    "bench.bench_execution",
    "bench.bench_replay",
    "bench.bench_hftbacktest",
    "bench.bench_generator",
    "bench.bench_venue",
)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="reduced set, a couple of minutes")
    ap.add_argument("--only", nargs="*", help="module names to run (e.g. bench_ring)")
    ap.add_argument("--out", default="bench/results/bench.json")
    args = ap.parse_args(argv)
    info = machine()
    print(f"machine: {info['cpu']} | {info['cores']} cores | {info['memory_gib']} GiB | Python {info['python']}")
    results: dict[str, Any] = {"machine": info, "quick": args.quick, "figures": {}}
    failed = []
    for name in MODULES:
        short = name.split(".")[-1]
        if args.only and short not in args.only:
            continue
        print(f"\n=== {short} " + "=" * (60 - len(short)))
        t0 = time.monotonic()
        try:
            mod = importlib.import_module(name)
            results["figures"][short] = mod.run(quick=args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(short)
            results["figures"][short] = {"error": traceback.format_exc(limit=3)}
        print(f"({short}: {time.monotonic() - t0:.1f} s)")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    print(f"\nfigures written to {args.out}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
