"""The soak run: the trading paper group for a while, memory per process and pipeline latency sampled.

Length: ``SOAK_S`` in the environment (seconds; ``make soak SOAK_S=3600``), else 600 s, or
60 s in quick mode. After a warm-up (the first fifth of the run, at least 5 s: imports,
JIT, model loading, book building), every ``sample_s``:

- the resident set (RSS) of the supervisor and of every worker (psutil, by the pid in the
  heartbeat table; a restarted process would show as a restart, which fails the run);
- the pipeline latency: every AlphaSignal on the sig ring, read by one more reader
  (chaos.group.RingTap): arrival time minus its origin, the feed's receipt of the market
  event it came from (feed -> feature -> alpha -> ring, on the monotonic clock).

Figures: per process the RSS growth from the first samples after warm-up to the last ones
(median of three at each end, so one GC cycle does not count) with a bound of
``RSS_GROWTH_MB`` (and the growth rate per hour in the detail); the latency's median in the
first and last thirds and its drift (medians: a snapshot triggered by one of our fills
carries the origin of the order's market event, so the tail holds time to fill) (bound: the larger of 5 ms and the first third's
median: a doubling is a leak of work per event); restarts, kill switch trips and ring
overruns during the run (0).
"""

from __future__ import annotations

import os
import statistics
import time

import psutil

from chaos.group import RingTap
from chaos.table import Ctx, Row, Scenario, check
from mm.schema import AlphaSignal

RSS_GROWTH_MB = 30.0
SLEEP_S = 0.25


def soak_length_s(ctx: Ctx) -> float:
    env = os.environ.get("SOAK_S", "").strip()
    if env:
        return float(env)
    return 60.0 if ctx.quick else 600.0


def _med3(xs: list[float], tail: bool) -> float:
    part = xs[-3:] if tail else xs[:3]
    return statistics.median(part)


def run_soak(ctx: Ctx) -> list[Row]:
    from chaos.process_faults import TradingGroup

    sc = "soak"
    length_s = soak_length_s(ctx)
    warmup_s = max(5.0, length_s / 5)
    sample_s = max(1.0, min(10.0, length_s / 30))
    rows: list[Row] = []
    with TradingGroup(ctx.tmp) as tg:
        g = tg.g
        tg.resting()
        st0 = g.status()
        names = [p["name"] for p in st0["processes"]]
        restarts0 = sum(p["restarts"] for p in st0["processes"])
        trips0 = tg.ks.state()["trips"]
        overruns0 = sum(p["overruns"] for p in st0["processes"])
        pids = {n: int(tg.hb.row(n).get("pid")) for n in names}
        pids["supervisor"] = g.proc.pid if g.proc is not None else 0
        handles = {n: psutil.Process(pid) for n, pid in pids.items()}
        rss: dict[str, list[float]] = {n: [] for n in handles}
        tap = RingTap(g, "sig", (AlphaSignal,))
        t_start = time.monotonic()
        next_sample = t_start + warmup_s
        while (now := time.monotonic()) - t_start < length_s:
            if now >= next_sample:
                for n, h in handles.items():
                    try:
                        rss[n].append(h.memory_info().rss / 2**20)
                    except psutil.Error:
                        rss[n].append(float("nan"))
                next_sample += sample_s
            time.sleep(SLEEP_S)
        tap.close()
        st = g.status()
        span_h = (length_s - warmup_s) / 3600
        for n, xs in rss.items():
            if len(xs) < 6:
                rows.append(Row(sc, f"rss growth {n}", float("nan"), "MB", f"<= {RSS_GROWTH_MB:g} MB", False,
                                f"only {len(xs)} samples"))
                continue
            growth = _med3(xs, True) - _med3(xs, False)
            rows.append(check(sc, f"rss growth {n}", growth, "MB", "<=", RSS_GROWTH_MB,
                              f"{_med3(xs, False):.0f} -> {_med3(xs, True):.0f} MB, {growth / span_h:+.0f} MB/h "
                              f"over {length_s - warmup_s:.0f} s"))
        vals = tap.between(t_start + warmup_s, time.monotonic())
        third = max(1, len(vals) // 3)
        first, last = statistics.median(vals[:third]), statistics.median(vals[-third:])
        limit = max(5.0, first)
        rows.append(check(sc, "latency drift", last - first, "ms", "<=", limit,
                          f"pipeline p50 {first:.2f} ms first third -> {last:.2f} ms last third; "
                          f"p90 overall {sorted(vals)[int(len(vals) * 0.9)]:.2f} ms; {len(vals)} signals"))
        rows.append(check(sc, "restarts", sum(p["restarts"] for p in st["processes"]) - restarts0, "", "==", 0))
        rows.append(check(sc, "kill switch trips", tg.ks.state()["trips"] - trips0, "", "==", 0))
        rows.append(check(sc, "ring overruns", sum(p["overruns"] for p in st["processes"]) - overruns0, "", "==", 0))
    return rows


SCENARIOS = [
    Scenario("soak", run_soak, fast=False,
             doc="trading paper group for SOAK_S (600 s; 60 s quick): RSS growth per process, latency drift"),
]
