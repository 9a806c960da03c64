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
    summary = targets_table(results["figures"])
    results["targets"] = summary
    print_targets(summary)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    print(f"\nfigures written to {args.out}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _get(figs: dict[str, Any], path: str) -> Any:
    """A figure by dotted path (``module.key.key``), None when the module did not run or lacks it."""
    cur: Any = figs
    head, _, rest = path.partition(".")
    cur = cur.get(head) if isinstance(cur, dict) else None
    for key in rest.split("|") if rest else []:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


def targets_table(figs: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 15's targets (and the decision/model targets of issues 5 and 6) from this run's
    figures: each row is the figure, its target, the peer it is compared with and the ratio,
    all from the same run. A row whose module did not run says so (``value`` None)."""
    rows: list[dict[str, Any]] = []

    def row(item: str, what: str, value: Any, target: str, ok: bool | None, peer: str = "", ratio: Any = None) -> None:
        rows.append({"item": item, "figure": what, "value": value, "target": target, "met": ok,
                     "peer": peer, "ratio": ratio})

    def ratio(a: Any, b: Any) -> float | None:
        return a / b if isinstance(a, int | float) and isinstance(b, int | float) and b else None

    lat = "bench_ring.latency_us|"
    zmq50 = _get(figs, lat + "pyzmq/-/64|p50")
    mpq50 = _get(figs, lat + "mp.Queue/-/64|p50")
    for wait in ("spin", "spin_then_block"):
        p50 = _get(figs, lat + f"ring/{wait}/64|p50")
        p99 = _get(figs, lat + f"ring/{wait}/64|p99")
        r = ratio(zmq50, p50)
        row("1", f"ring hop p50 us, 64 B, {wait}", p50, "<= 1 us", None if p50 is None else p50 <= 1.0,
            f"pyzmq p50 {_num(zmq50)} us", r)
        row("1", f"ring hop p99 us, 64 B, {wait}", p99, "<= 5 us", None if p99 is None else p99 <= 5.0,
            f"mp.Queue p50 {_num(mpq50)} us", ratio(mpq50, p50))
        row("1", f"pyzmq p50 / ring p50, {wait}", r, ">= 35x", None if r is None else r >= 35.0)
    thr = "bench_ring.throughput_mps|"
    batch = _get(figs, thr + "ring/spin/64|batch_mps")
    zmq_t = _get(figs, thr + "pyzmq/-/64|single_mps")
    mpq_t = _get(figs, thr + "mp.Queue/-/64|single_mps")
    r = ratio(batch, zmq_t)
    row("2", "ring batched M msgs/s, 64 B", batch, ">= 3 M/s and >= 4x pyzmq",
        None if batch is None or r is None else batch >= 3.0 and r >= 4.0, f"pyzmq {_num(zmq_t)} M/s", r)
    row("2", "ring batched / mp.Queue msgs/s", ratio(batch, mpq_t), "(peer)", None, f"mp.Queue {_num(mpq_t)} M/s")
    blk = _get(figs, lat + "ring/block/64|p50")
    sem = _get(figs, "bench_ring.sem_wakeup_us|p50")
    r = ratio(blk, sem)
    row("3", "ring block p50 us, 64 B", blk, "<= 1.2x semaphore floor", None if r is None else r <= 1.2,
        f"semaphore wake-up p50 {_num(sem)} us", r)
    cpu = _get(figs, "bench_ring.consumer_cpu_10k|block|cpu_pct")
    row("3", "consumer CPU % at 10 k msgs/s, block", cpu, "<= 35%", None if cpu is None else cpu <= 35.0)
    pipe = _get(figs, "bench_pipeline.results") or []
    for res in pipe:
        row("4", f"4 hops p99 us, {res.get('strategy')}, {_get(figs, 'bench_pipeline.cores')} cores", res.get("p99_us"),
            "<= 25 us (spin, dedicated cores)", None, "spin needs 5 free cores; see bench/README.md")
    for coin, c in (_get(figs, "bench_hftbacktest.coins") or {}).items():
        sp = c.get("speed", {})
        k = sp.get("mm_kernel_book_queue_events_per_s")
        h = sp.get("hbt_book_queue_events_per_s")
        r = ratio(k, h)
        row("5", f"book + queue fill model events/s, {coin} (compiled kernel)", k, ">= hftbacktest",
            None if r is None else r >= 1.0, f"hftbacktest {h:,.0f}/s" if h else "", r)
        pm, ph = sp.get("mm_policy_loop_events_per_s"), sp.get("hbt_policy_loop_events_per_s")
        row("5", f"whole policy loop events/s, {coin}", pm, "(beside it)", None,
            f"hftbacktest njit GLFT {ph:,.0f}/s" if ph else "", ratio(pm, ph))
    p99 = _get(figs, "bench_execution.state_machine|on_cpu|p99_us")
    w99 = _get(figs, "bench_execution.state_machine|all|p99_us")
    row("6", "decision latency p99 us (state machine, wall)", w99, "<= 100 us", None if w99 is None else w99 <= 100.0)
    row("6", "decision latency p99 us (state machine, on-CPU)", p99, "<= 100 us", None if p99 is None else p99 <= 100.0)
    models = _get(figs, "bench_models") or {}
    worst = max((v for k, v in models.items() if k.endswith(" p99 us") and isinstance(v, int | float)), default=None)
    row("6", "slowest model inference p99 us", worst, "<= 10 us", None if worst is None else worst <= 10.0)
    row("6", "snapshot build us per snapshot (mean)", _get(figs, "bench_models.snapshot build us"), "(reported)", None)
    for ds in ("generated", "real_btc"):
        mb = _get(figs, f"bench_replay.{ds}|loop|peak_mb")
        row("7", f"replay peak MB, {ds}", mb, "(reported; RSS growth: make soak)", None)
    return rows


def _num(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def print_targets(rows: list[dict[str, Any]]) -> None:
    fmt = _num

    print("\n=== targets, this run " + "=" * 48)
    print(f"{'item':<5}{'figure':<58}{'value':>14}  {'target':<38}{'met':<5}{'ratio':>9}  peer")
    for r in rows:
        met = "n/a" if r["met"] is None else ("yes" if r["met"] else "NO")
        q = r["ratio"]
        rat = "" if q is None else (f"{q:.2f}x" if q >= 0.1 else f"{q:.4f}x")
        print(f"{r['item']:<5}{r['figure']:<58}{fmt(r['value']):>14}  {r['target']:<38}{met:<5}{rat:>9}  {r['peer']}")


if __name__ == "__main__":
    raise SystemExit(main())
