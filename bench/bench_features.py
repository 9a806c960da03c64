"""Feature engine cost per event, snapshot build, toxicity predict, regime step; detection latency.

Per-event figures come from replaying a synthetic stream (tests/features/synth.py: a calm
market with a 20-level book snapshot every 500 ms, a Bbo every 120 ms and ~1 trade/s,
then a one-sided sweep) through one ``FeatureEngine`` as the feature process does (publish
on a material event, and on the 100 ms timer), timing every call with
``perf_counter_ns`` (so each figure includes ~0.05 us of timer overhead). Numba kernels are
compiled before timing. Where the Hyperliquid CSV importer (mm/importers/hl_csv.py) is
present, the real recording of 2025-09-04 (BTC, ETH, WLFI) is replayed too and its
events/s reported, with how many snapshots it produced and the toxicity verdicts.

Detection latency: trades and ms from the start of the synthetic cascade until the verdict
is Toxic, over seeds, both sides, with and without level sweeps, and for a moderate burst
(3x the usual size, at the touch). Where the market generator (mm/venues/sim/generator.py)
is present, its labelled cascades are scored too (prints, distinct print times and ms from
a cascade's start on Hyperliquid to Toxic; how often each true regime reads Toxic; the
regime filter's confusion against the true regime).

Run: ``python -m bench.bench_features [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mm.features.config import RegimeConfig, ToxicityConfig
from mm.features.engine import FeatureEngine
from mm.features.regime import RegimeFilter
from mm.models.toxicity import N_FEATURES, ToxicityClassifier
from mm.schema import Codec, Toxicity, Trade
from tests.features.synth import SYMBOL, make_stream

REAL_DAY = Path("/work/shared/data/real/hyperliquid-2025-09-04")


def _pct(xs: list[int], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000.0


def _row(name: str, xs: list[int]) -> dict[str, float]:
    mean = statistics.fmean(xs) / 1000.0
    p50, p99 = _pct(xs, 0.5), _pct(xs, 0.99)
    print(f"  {name:<28} {len(xs):>8} {mean:>9.2f} {p50:>9.2f} {p99:>9.2f}")
    return {"n": len(xs), "mean_us": mean, "p50_us": p50, "p99_us": p99}


def _replay_timed(events: Iterable[object]) -> tuple[dict[str, list[int]], int]:
    eng = FeatureEngine(SYMBOL)
    per: dict[str, list[int]] = {"BookSnapshot": [], "Bbo": [], "Trade": [], "snapshot": []}
    codec = Codec()
    biggest = 0
    clock = time.perf_counter_ns
    for ev in events:
        now = ev.ts_ns  # type: ignore[attr-defined]
        t0 = clock()
        material = eng.on_event(ev, now)
        t1 = clock()
        per.setdefault(type(ev).__name__, []).append(t1 - t0)
        if material or eng.due(now):
            t0 = clock()
            snap = eng.snapshot(now, now)
            t1 = clock()
            per["snapshot"].append(t1 - t0)
            biggest = max(biggest, len(codec.encode(snap)))
    return per, biggest


def _warm() -> None:
    st = make_stream(seed=99, quiet_s=5.0, burst_trades=3)
    _replay_timed(st.events)


def _time_predict(n: int) -> list[int]:
    clf = ToxicityClassifier(ToxicityConfig())
    xs = [[0.1 * ((i * 7 + j) % 11) - 0.5 for j in range(N_FEATURES)] for i in range(64)]
    clock = time.perf_counter_ns
    out = []
    for i in range(n):
        x = xs[i & 63]
        t0 = clock()
        clf.predict(x)
        out.append(clock() - t0)
    return out


def _time_regime(n: int) -> list[int]:
    f = RegimeFilter(RegimeConfig())
    f.step_interval(0.1, 1, 0.2)
    clock = time.perf_counter_ns
    out = []
    for i in range(n):
        r, k, o = (i % 17) * 0.3, i % 5, ((i % 13) - 6) * 0.4
        t0 = clock()
        f.step_interval(r, k, o)
        out.append(clock() - t0)
    return out


def _detection(seeds: Iterable[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    scenarios = {
        "sweep (eats 1.5 levels/trade, 40 ms)": {"sweep": True},
        "touch (eats the best level, 40 ms)": {"sweep": False},
        "moderate (3x usual size, 40 ms)": {"sweep": False, "burst_qty": 0.15},
        "moderate (3x usual size, 100 ms)": {"sweep": False, "burst_qty": 0.15, "burst_dt_ms": 100.0},
    }
    print(f"  {'scenario':<38} {'trades (min/med/max)':>21} {'ms (med)':>9} {'calm false alarms':>18}")
    for name, kw in scenarios.items():
        trades, mss, fa = [], [], 0
        for seed in seeds:
            for side in (-1, 1):
                st = make_stream(seed=seed, burst_side=side, **kw)  # type: ignore[arg-type]
                eng = FeatureEngine(SYMBOL)
                k = 0
                found = False
                for ev in st.events:
                    eng.on_event(ev, ev.ts_ns)  # type: ignore[attr-defined]
                    if isinstance(ev, Trade):
                        if ev.ts_ns < st.burst_start_ts_ns:
                            fa += eng.toxicity == Toxicity.TOXIC
                        else:
                            k += 1
                            if eng.toxicity == Toxicity.TOXIC:
                                trades.append(k)
                                mss.append((ev.ts_ns - st.burst_start_ts_ns) / 1e6)
                                found = True
                                break
                    if eng.due(ev.ts_ns):  # type: ignore[attr-defined]
                        eng.snapshot(ev.ts_ns, ev.ts_ns)  # type: ignore[attr-defined]
                if not found:
                    trades.append(10_000)
        med_ms = statistics.median(mss) if mss else float("nan")
        print(f"  {name:<38} {min(trades):>7}/{statistics.median(trades):>5.0f}/{max(trades):>5} "
              f"{med_ms:>9.0f} {fa:>18}")
        out[name] = {"trades": trades, "median_ms": med_ms, "calm_false_alarms": fa}
    return out


def _real(quick: bool) -> dict[str, Any] | None:
    try:
        from mm.importers.hl_csv import import_hl_csv
    except ImportError:
        print("real recording: mm.importers.hl_csv not available, skipped")
        return None
    if not REAL_DAY.is_dir():
        print(f"real recording: {REAL_DAY} not found, skipped")
        return None
    imp = import_hl_csv(REAL_DAY)
    events = list(imp.events())
    if quick:
        events = events[: len(events) // 4]
    ids = sorted({ev.symbol_id for ev in events})
    res: dict[str, Any] = {}
    best = 0.0
    for _rep in range(1 if quick else 3):
        engines = {i: FeatureEngine(i) for i in ids}
        n_snap = 0
        verdicts: Counter[str] = Counter()
        t0 = time.perf_counter()
        for ev in events:
            eng = engines[ev.symbol_id]
            now = ev.ts_ns
            if eng.on_event(ev, now) or eng.due(now):
                eng.snapshot(now, now)
                n_snap += 1
                verdicts[Toxicity(eng.toxicity).name] += 1
        dt = time.perf_counter() - t0
        best = max(best, len(events) / dt)
    kinds = Counter(type(ev).__name__ for ev in events)
    span_s = (events[-1].ts_ns - events[0].ts_ns) / 1e9
    coins = ", ".join(imp.per_coin)
    print(f"real recording {REAL_DAY.name} ({coins}): {len(events):,} events over {span_s:,.0f} s "
          f"({dict(kinds)})")
    print(f"  replay through the engines (on_event + snapshot when due): {best:,.0f} events/s, "
          f"{n_snap:,} snapshots")
    counters: Counter[str] = Counter()
    for eng in engines.values():
        counters.update({k: v for k, v in eng.counters.items() if v and k != "events"})
    print(f"  snapshot toxicity verdicts: {dict(verdicts)}; engine counters: {dict(counters)}")
    res = {
        "events": len(events),
        "events_per_s": best,
        "snapshots": n_snap,
        "verdicts": dict(verdicts),
        "counters": dict(counters),
    }
    return res


def _generator(quick: bool) -> dict[str, Any] | None:
    """Cascades of the synthetic market generator (mm/venues/sim/generator.py, another
    module's model: multi-fill prints, blocks, Hawkes flow), judged against its labels."""
    try:
        from mm.venues.sim.generator import MarketGenerator, regime_at
        from mm.venues.sim.generator_config import GeneratorConfig
    except ImportError:
        print("generator: mm.venues.sim.generator not available, skipped")
        return None
    dur_s = 900.0 if quick else 3600.0
    gen = MarketGenerator(GeneratorConfig(), None, seed=5)
    events, gt = gen.generate(0, dur_s)
    engines = {i: FeatureEngine(i) for i in gen.symbol_ids.values()}
    by_sym: dict[int, list[Any]] = {}
    for c in gt.cascades:
        by_sym.setdefault(c.symbol_id, []).append(c)
    # per cascade: [prints, first Toxic print, ms, distinct print times, at first Toxic]
    state: dict[tuple[int, int], list[Any]] = {}
    toxic: Counter[int] = Counter()
    total: Counter[int] = Counter()
    confusion: Counter[tuple[int, int]] = Counter()
    for ev in events:
        eng = engines[ev.symbol_id]
        material = eng.on_event(ev, ev.ts_ns)
        if isinstance(ev, Trade) and ev.venue in eng.cfg.our_venues:
            for c in by_sym.get(ev.symbol_id, ()):
                if c.hl_start_ts_ns <= ev.ts_ns < c.hl_end_ts_ns:
                    st = state.setdefault((ev.symbol_id, c.hl_start_ts_ns), [0, None, None, set(), None])
                    st[0] += 1
                    st[3].add(ev.ts_ns)
                    if st[1] is None and eng.toxicity == Toxicity.TOXIC:
                        st[1], st[2], st[4] = st[0], (ev.ts_ns - c.hl_start_ts_ns) / 1e6, len(st[3])
        if material or eng.due(ev.ts_ns):
            snap = eng.snapshot(ev.ts_ns, ev.ts_ns)
            true = regime_at(gt, ev.symbol_id, ev.ts_ns, venue=0)
            if true >= 0:
                total[true] += 1
                toxic[true] += eng.toxicity == Toxicity.TOXIC
                confusion[(true, snap.regime)] += 1
    found = [v for v in state.values() if v[1] is not None]
    prints = sorted(v[1] for v in found)
    blocks = sorted(v[4] for v in found)
    mss = sorted(v[2] for v in found)
    names = ("Quiet", "Normal", "Volatile", "Cascade")
    print(f"generator ({dur_s:.0f} s, {len(gen.symbol_ids)} coins, {len(events):,} events): "
          f"{len(found)}/{len(state)} cascades flagged Toxic")
    if found:
        print(f"  to Toxic: prints min/med/max {prints[0]}/{statistics.median(prints):.0f}/{prints[-1]}, "
              f"print times (blocks) {blocks[0]}/{statistics.median(blocks):.0f}/{blocks[-1]}, "
              f"ms {mss[0]:.0f}/{statistics.median(mss):.0f}/{mss[-1]:.0f}")
    share = {names[k]: round(toxic[k] / total[k], 3) for k in sorted(total)}
    print(f"  share of snapshots Toxic by true regime: {share}")
    print("  regime filter vs truth (rows: true; columns: estimated Quiet/Normal/Volatile/Cascade):")
    rows = {}
    for k in range(4):
        n = sum(confusion[(k, j)] for j in range(4)) or 1
        rows[names[k]] = [round(confusion[(k, j)] / n, 2) for j in range(4)]
        print(f"    {names[k]:<9} {rows[names[k]]}")
    return {
        "cascades": len(state),
        "flagged": len(found),
        "prints_to_toxic": prints,
        "blocks_to_toxic": blocks,
        "ms_to_toxic": mss,
        "toxic_share_by_true_regime": share,
        "regime_confusion": rows,
    }


def run(quick: bool = False) -> dict[str, Any]:
    _warm()
    st = make_stream(seed=7, quiet_s=60.0 if quick else 600.0, burst_trades=40)
    per, biggest = _replay_timed(st.events)
    print(f"feature engine, synthetic stream ({len(st.events):,} events, 20-level books):")
    print(f"  {'call':<28} {'n':>8} {'mean us':>9} {'p50 us':>9} {'p99 us':>9}")
    fig: dict[str, Any] = {}
    fig["book_snapshot_event"] = _row("on_event(BookSnapshot)", per["BookSnapshot"])
    fig["bbo_event"] = _row("on_event(Bbo)", per["Bbo"])
    fig["trade_event"] = _row("on_event(Trade)", per["Trade"])
    fig["snapshot_build"] = _row("snapshot()", per["snapshot"])
    n = 20_000 if quick else 200_000
    fig["toxicity_predict"] = _row("ToxicityClassifier.predict", _time_predict(n))
    fig["regime_update"] = _row("RegimeFilter.step_interval", _time_regime(n // 4))
    fig["snapshot_bytes_max"] = biggest
    print(f"  largest encoded snapshot: {biggest} bytes (limit 16384)")
    print("toxicity detection latency after a cascade start (seeds x both sides):")
    fig["detection"] = _detection(range(1, 4) if quick else range(1, 9))
    gen = _generator(quick)
    if gen is not None:
        fig["generator"] = gen
    real = _real(quick)
    if real is not None:
        fig["real"] = real
    return fig


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    run(quick=ap.parse_args().quick)
