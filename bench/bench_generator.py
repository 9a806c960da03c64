"""Synthetic market generator throughput and Hayashi-Yoshida lead-lag cost.

Generator: events/s produced while streaming 10 minutes of market time for the four
built-in coins (BTC, ETH, SOL, WLFI) with the default config (compiled code warmed up
first, so this is steady-state generation, typed msgspec events included). Target:
>= 200k events/s.

HY: the time to evaluate the estimator on 10 minutes of one coin's tapes (Binance RefPrice
mid vs Hyperliquid Bbo mid) over the default 121-lag grid (-1500..+1500 ms, 25 ms steps),
and the lead it finds for each coin against the configured one.

Run: ``python -m bench.bench_generator [--quick]`` (quick: 1 minute of market time).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from mm.features.leadlag_hy import hy_lead_lag, lag_grid_ms, ref_and_venue_mids
from mm.schema import MarketEvent
from mm.venues.sim.generator import MarketGenerator
from mm.venues.sim.generator_config import DEFAULT_COINS, GeneratorConfig


def run(quick: bool = False) -> dict[str, Any]:
    duration_s = 60.0 if quick else 600.0
    cfg = GeneratorConfig()
    coins = list(DEFAULT_COINS)
    gen = MarketGenerator(cfg, coins, seed=1)
    for _ in gen.events(0, 2.0):  # compile / load the cached machine code
        pass

    rates = []
    events: list[MarketEvent] = []
    for rep in range(1 if quick else 3):
        t0 = time.perf_counter()
        if rep == 0:
            events = list(gen.events(0, duration_s))
            n = len(events)
        else:
            n = sum(1 for _ in gen.events(0, duration_s))
        rates.append(n / (time.perf_counter() - t0))
    n_events = len(events)
    ev_per_s = float(np.median(rates))
    labels = gen.labels
    print(f"generator: {duration_s:.0f} s of market, {len(coins)} coins ({', '.join(coins)}), "
          f"{n_events} events, {len(labels.cascades)} cascades")
    print(f"generator: {ev_per_s:,.0f} events/s (median of {len(rates)}; target >= 200,000)")

    grid = lag_grid_ms(1500.0, 25.0)
    hy: dict[str, Any] = {}
    print(f"HY lead-lag over {grid.size} lags, {duration_s:.0f} s tapes, configured lead "
          f"{cfg.lead_lag_ms} ms:")
    print(f"{'coin':<6} {'n_ref':>7} {'n_hl':>7} {'ms/eval':>9} {'lead ms':>8} {'refined':>8} {'corr':>6}")
    for sid, coin in enumerate(coins):
        rt, rp, vt, vp = ref_and_venue_mids(events, sid)
        hy_lead_lag(rt, rp, vt, vp, grid)  # warm
        times = []
        res = None
        for _ in range(5):
            t0 = time.perf_counter()
            res = hy_lead_lag(rt, rp, vt, vp, grid)
            times.append(time.perf_counter() - t0)
        assert res is not None
        ms = float(np.median(times)) * 1e3
        hy[coin] = {"n_ref": res.n_x, "n_hl": res.n_y, "eval_ms": ms, "peak_lag_ms": res.peak_lag_ms,
                    "peak_lag_refined_ms": res.peak_lag_refined_ms, "peak_corr": res.peak_corr}
        print(f"{coin:<6} {res.n_x:>7} {res.n_y:>7} {ms:>9.2f} {res.peak_lag_ms:>8.0f} "
              f"{res.peak_lag_refined_ms:>8.1f} {res.peak_corr:>6.3f}")
    return {
        "duration_s": duration_s,
        "coins": coins,
        "events": n_events,
        "events_per_s": ev_per_s,
        "cascades": len(labels.cascades),
        "configured_lead_ms": cfg.lead_lag_ms,
        "hy_lags": int(grid.size),
        "hy": hy,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    run(ap.parse_args().quick)
