"""Replay speed and memory (issue 8 item 7).

1. Book + features: the market events of a stream through one ``FeatureEngine`` and one
   ``QueueRankTracker`` per symbol (the feature process's work per event, publishing a
   snapshot on a material event, the 50 ms timer left out), events/s on one core.
   Target >= 1 M events/s.
2. The whole policy loop: :class:`mm.replay.engine.ReplayEngine` (venue matching engine,
   latency models, features, alpha, execution with the state machine, risk) over the same
   stream, events/s (market events per wall second, all the loop's work included).
3. Peak memory: ``tracemalloc`` peak of the policy loop over the stream (a second, untimed pass), and that peak
   scaled linearly to a day of data at the same event rate (the loop keeps per-cycle
   rows and tapes, which grow with the events; the event list itself is included).

Streams: the generator (BTC, 600 s; 120 s with ``quick``) and, where present, the real
recording of 2025-09-04 (BTC). Run: ``python -m bench.bench_replay [--quick]``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from typing import Any

from mm.execution.config import ExecutionConfig
from mm.features.engine import FeatureEngine
from mm.features.queue_rank import QueueRankConfig, QueueRankTracker
from mm.importers import data_dir
from mm.replay.engine import CoinSpec, ReplayConfig, ReplayEngine
from mm.venues.sim.driver import load_hyperliquid_csv
from mm.venues.sim.generator import MarketGenerator

T0 = 1_700_000_000 * 10**9


def features_rate(events: list[Any], n: int) -> dict[str, float]:
    fes = [FeatureEngine(i) for i in range(n)]
    trs = [QueueRankTracker(i, QueueRankConfig()) for i in range(n)]
    snaps = 0
    t = time.perf_counter()
    for ev in events:
        sid = ev.symbol_id
        tr = trs[sid]
        fe = fes[sid]
        if tr.on_event(ev, ev.ts_ns):
            fe.set_queue_ranks(*tr.ranks())
        if fe.on_event(ev, ev.ts_ns):
            fe.snapshot(ev.ts_ns, ev.ts_ns)
            snaps += 1
    dt = time.perf_counter() - t
    return {"events": len(events), "snapshots": snaps, "seconds": dt, "events_per_s": len(events) / dt}


def loop_rate(events: list[Any], coins: list[CoinSpec]) -> dict[str, float]:
    span_s = (events[-1].ts_ns - events[0].ts_ns) / 1e9
    start = events[0].ts_ns + int(span_s * 0.2e9)
    t = time.perf_counter()
    res = ReplayEngine(coins, ReplayConfig(seed=0), ExecutionConfig(policy="state_machine")).run(events, start)
    dt = time.perf_counter() - t
    tracemalloc.start()  # a second, untimed pass for memory (tracemalloc slows the loop)
    ReplayEngine(coins, ReplayConfig(seed=0), ExecutionConfig(policy="state_machine")).run(events, start)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"events": res.n_events, "cycles": res.n_cycles, "fills": len(res.fills), "seconds": dt,
            "events_per_s": res.n_events / dt, "span_s": span_s, "peak_mb": peak / 2**20,
            "peak_mb_per_day_est": peak / 2**20 * 86400.0 / max(span_s, 1e-9)}


def run(quick: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dur = 120.0 if quick else 600.0
    evs, _ = MarketGenerator(coins=["BTC"], seed=0).generate(T0, dur)
    ours = list(evs)
    FeatureEngine(0)  # compile numba kernels before timing
    features_rate(ours[:2000], 1)
    out["generated"] = {"features": features_rate(ours, 1), "loop": loop_rate(ours, [CoinSpec("BTC", 5)])}
    real = data_dir() / "hyperliquid-2025-09-04"
    if real.is_dir():
        r = load_hyperliquid_csv(real, "BTC", 0)
        if quick:
            r = [e for e in r if e.ts_ns < r[0].ts_ns + 300 * 10**9]
        out["real_btc"] = {"features": features_rate(r, 1), "loop": loop_rate(r, [CoinSpec("BTC", 5)])}
    for name, v in out.items():
        f, lp = v["features"], v["loop"]
        print(f"replay bench [{name}]: book+features {f['events_per_s']:,.0f} events/s ({f['events']} events; target "
              f">= 1,000,000); policy loop {lp['events_per_s']:,.0f} events/s ({lp['cycles']} cycles, {lp['fills']} "
              f"fills); peak {lp['peak_mb']:.1f} MB over {lp['span_s']:.0f} s, ~{lp['peak_mb_per_day_est']:.0f} MB "
              "for a day at this rate")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    run(ap.parse_args().quick)
