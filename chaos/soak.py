"""The soak run: the trading paper group for a while, memory per process and pipeline latency sampled.

Length: ``SOAK_S`` in the environment (seconds; ``make soak SOAK_S=3600``), else 600 s, or
60 s in quick mode. From the moment orders rest at the venue, every ``sample_s`` (1 to 10 s):

- the memory of the supervisor and of every worker, from ``/proc/<pid>/status`` (by the pid
  in the heartbeat table; a restarted process fails the run): ``RssAnon`` (private memory:
  the Python heap, numba's code, buffers; where a leak shows), ``RssShmem`` (pages of the
  run's rings this process has touched so far: it grows until each ring has wrapped once,
  at most the size of the rings it maps, 8 MiB each in paper.toml, so it is reported, not
  bounded) and ``VmRSS`` (their sum with the mapped files);
- the pipeline latency: every AlphaSignal on the sig ring, read by one more reader
  (chaos.group.RingTap): arrival time minus its origin, the feed's receipt of the market
  event it came from (feed -> feature -> alpha -> ring, on the monotonic clock).

The first fifth of the run (at least 5 s; minute 2 of a 10-minute soak) is the warm-up:
lazy imports and compiles, books and models filling, the monitor's postmortem window and
the OMS's order history filling up. Figures, per process:

- ``private growth <p>``: RssAnon from the end of the warm-up to the end (median of three
  samples at each end, so one GC cycle does not count): the steady-state growth, bounded by
  :data:`STEADY_MB` plus :data:`STEADY_MB_PER_H` over the steady span (a slow leak of a few
  MB an hour passes a 10-minute soak but not an hour's);
- ``rss growth total <p>``: VmRSS from the first sample to the last, warm-up included, with
  the RssShmem share in the detail, bounded by :data:`TOTAL_MB` (what an operator sees in
  ``top``);

and for the group: the latency's median in the first and last thirds of the steady part and
its drift (medians: a snapshot triggered by one of our fills carries the origin of the
order's market event, so the tail holds time to fill) (bound: the larger of 5 ms and the
first third's median: a doubling is a leak of work per event); restarts, kill switch trips
and ring overruns during the run (0); the monitor's postmortem window at the end (records
and bytes held, against its ``postmortem_max_bytes``).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from chaos.group import RingTap
from chaos.table import Ctx, Row, Scenario, check
from mm.dashboard import fetch_state, monitor_url
from mm.schema import AlphaSignal

STEADY_MB = 8.0
"""Steady-state private growth allowed in any run (allocator noise, GC timing, slow caches)."""
STEADY_MB_PER_H = 24.0
"""... plus this rate over the steady span."""
TOTAL_MB = 120.0
"""VmRSS growth allowed from the first sample, warm-up and touched ring pages included."""
SLEEP_S = 0.25
FIELDS = ("VmRSS", "RssAnon", "RssShmem")


def soak_length_s(ctx: Ctx) -> float:
    env = os.environ.get("SOAK_S", "").strip()
    if env:
        return float(env)
    return 60.0 if ctx.quick else 600.0


def proc_mem_mb(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon and RssShmem of ``pid`` in MiB (NaN each when the process is gone)."""
    out = dict.fromkeys(FIELDS, float("nan"))
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in out:
                    out[key] = int(rest.split()[0]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return out


def _med3(xs: list[float], tail: bool) -> float:
    part = xs[-3:] if tail else xs[:3]
    return statistics.median(part)


def memory_rows(sc: str, samples: dict[str, list[tuple[float, dict[str, float]]]], steady_from_s: float,
                end_s: float) -> list[Row]:
    """The per-process rows from ``(seconds since start, mem)`` samples."""
    rows: list[Row] = []
    span_s = end_s - steady_from_s
    limit = STEADY_MB + STEADY_MB_PER_H * span_s / 3600
    for n, xs in samples.items():
        steady = [m["RssAnon"] for t, m in xs if t >= steady_from_s]
        if len(steady) < 6 or any(v != v for v in steady):  # NaN: the process went away
            rows.append(Row(sc, f"private growth {n}", float("nan"), "MB", f"<= {limit:.3g} MB", False,
                            f"{len(steady)} samples after the warm-up" + (" (process gone)" if steady else "")))
            continue
        a, b = _med3(steady, False), _med3(steady, True)
        g = b - a
        rows.append(check(sc, f"private growth {n}", round(g, 2), "MB", "<=", round(limit, 2),
                          f"RssAnon {a:.1f} -> {b:.1f} MB from {steady_from_s:.0f} s to {end_s:.0f} s "
                          f"({g / span_s * 3600:+.0f} MB/h)"))
    for n, xs in samples.items():
        rss = [m["VmRSS"] for _, m in xs]
        shm = [m["RssShmem"] for _, m in xs]
        anon = [m["RssAnon"] for _, m in xs]
        if len(rss) < 6 or any(v != v for v in rss):
            rows.append(Row(sc, f"rss growth total {n}", float("nan"), "MB", f"<= {TOTAL_MB:g} MB", False,
                            f"{len(rss)} samples"))
            continue
        g = _med3(rss, True) - _med3(rss, False)
        rows.append(check(sc, f"rss growth total {n}", round(g, 2), "MB", "<=", TOTAL_MB,
                          f"VmRSS {_med3(rss, False):.0f} -> {_med3(rss, True):.0f} MB over {end_s:.0f} s; "
                          f"of it private {_med3(anon, True) - _med3(anon, False):+.1f}, "
                          f"ring pages touched {_med3(shm, True) - _med3(shm, False):+.1f}"))
    return rows


def _window_row(sc: str, run_dir: str) -> Row:
    url = monitor_url(run_dir)
    try:
        st: dict[str, Any] = fetch_state(url, 5.0) if url else {}
    except OSError as exc:
        return Row(sc, "postmortem window", float("nan"), "MB", "<= postmortem_max_bytes", False, str(exc))
    w = st.get("postmortem_window")
    if not w:
        return Row(sc, "postmortem window", float("nan"), "MB", "<= postmortem_max_bytes", False,
                   "the monitor's state has no postmortem_window")
    return check(sc, "postmortem window", round(w["bytes"] / 2**20, 3), "MB", "<=", w["max_bytes"] / 2**20,
                 f"{w['records']} audit records held in {w['chunks']} chunks "
                 f"({w['bytes'] / max(w['records'], 1):.0f} B each), {w['dropped']} dropped by the caps")


def run_soak(ctx: Ctx) -> list[Row]:
    from chaos.process_faults import TradingGroup

    sc = "soak"
    length_s = soak_length_s(ctx)
    warmup_s = max(5.0, length_s / 5)
    sample_s = max(1.0, min(10.0, length_s / 60))
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
        samples: dict[str, list[tuple[float, dict[str, float]]]] = {n: [] for n in pids}
        tap = RingTap(g, "sig", (AlphaSignal,))
        t_start = time.monotonic()
        next_sample = t_start
        while (now := time.monotonic()) - t_start < length_s:
            if now >= next_sample:
                for n, pid in pids.items():
                    samples[n].append((now - t_start, proc_mem_mb(pid)))
                next_sample += sample_s
            time.sleep(SLEEP_S)
        end_s = time.monotonic() - t_start
        tap.close()
        st = g.status()
        rows += memory_rows(sc, samples, warmup_s, end_s)
        vals = tap.between(t_start + warmup_s, time.monotonic())
        if len(vals) >= 3:
            third = max(1, len(vals) // 3)
            first, last = statistics.median(vals[:third]), statistics.median(vals[-third:])
            limit = max(5.0, first)
            rows.append(check(sc, "latency drift", round(last - first, 3), "ms", "<=", round(limit, 3),
                              f"pipeline p50 {first:.2f} ms first third -> {last:.2f} ms last third; "
                              f"p90 overall {sorted(vals)[int(len(vals) * 0.9)]:.2f} ms; {len(vals)} signals"))
        else:
            rows.append(Row(sc, "latency drift", float("nan"), "ms", "<= 5 ms", False, f"{len(vals)} signals"))
        rows.append(_window_row(sc, g.run_dir))
        rows.append(check(sc, "restarts", sum(p["restarts"] for p in st["processes"]) - restarts0, "", "==", 0))
        rows.append(check(sc, "kill switch trips", tg.ks.state()["trips"] - trips0, "", "==", 0))
        rows.append(check(sc, "ring overruns", sum(p["overruns"] for p in st["processes"]) - overruns0, "", "==", 0))
    return rows


SCENARIOS = [
    Scenario("soak", run_soak, fast=False,
             doc="trading paper group for SOAK_S (600 s; 60 s quick): private memory growth after the warm-up "
                 "and RSS growth in all per process, latency drift"),
]
