"""The issue 17 item 4 / seed 000 part 7 table and the run's figures, from a :class:`~mm.replay.engine.ReplayResult`.

All figures are over the evaluation window ``[trade_from_ns, end_ns]``. Time-weighted shares
treat each decision cycle's mode (and toxicity) as holding until the symbol's next cycle.
Targets are issue 17's (the seed's, where laxer, in brackets).

- adverse selection rate at 5 s: share of fills with gross edge ``s (m(t+5s) - p) / p < 0``
  (fills whose 5 s markout falls past the data are left out). Target <= 20% (seed < 25%).
- mean 5 s markout of the fills, gross of fees, bps. Target >= +0.5 bps.
- net PnL (mark-to-market, after fees): target >= 0 at a tier with a maker fee, > 0 at a
  rebate tier (``maker_bps < 0``).
- Flat during cascades: time in Flat / labelled cascade time (generator labels, Hyperliquid
  window ``hl_start..hl_end``). Target >= 95% (seed > 90%). No labels (real data): n/a.
- toxicity detection: per labelled cascade, first Toxic verdict at or after its start
  (within its end + 5 s): our venue's trades from the start to it (target <= 2, seed < 3)
  and ms after the start (note). Cascades never detected count as misses (note).
- queue-value-negative -> no quote: 1 - (passive, non-reduce-only targets outside
  InventoryReduce with queue value < 0 or missing) / (such targets). Target 100%.
- quoting uptime when queue value is positive: time with a passive quote set on a side
  whose best candidate level has net queue value > 0 and the flow is not Toxic
  (``ModeRow.qv_pos_sides``, evaluated every cycle with the run's own queue-value model) /
  time with such a side. Target >= 85%. Where the rest went, by the cause each cycle's
  decision record gives (``uptime_misses``): :mod:`mm.replay.uptime`.
  The note gives the seed's figure (time in Maker / time with toxicity below Toxic).
- lead-lag signal latency: per labelled cascade, first alpha signal whose skew has the
  cascade's sign at or after the Binance start, in ms. Target <= 100 ms (seed < 150 ms).
  Also the lead of the reference tape over our venue's mid measured by Hayashi-Yoshida
  (:func:`mm.features.leadlag_hy.hy_lead_lag`).
- fill edge histogram (5 s, net of fees, bps): counts per 2 bps bin in [-20, 20] plus tails;
  the catastrophic share is edge < -10 bps.
- inventory exceedance: max over fills of |position| / max inventory (the cycle's max in
  effect). Target <= 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mm.features.leadlag_hy import hy_lead_lag
from mm.replay.engine import ReplayResult
from mm.replay.pnl import FillRow, attribute, markout_edges_bps, pnl_curve, sharpe
from mm.replay.uptime import qv_uptime, uptime_misses
from mm.schema import ExecMode, Toxicity
from mm.venues.sim.generator import GroundTruth

HORIZONS_S = (1.0, 5.0, 30.0)
EDGE_BINS_BPS = [float(x) for x in np.arange(-20.0, 22.0, 2.0)]
PNL_STEP_S = 10.0


def _f(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _median(xs: list[float]) -> float | None:
    return float(np.median(xs)) if xs else None


def quoting_time(res: ReplayResult, sid: int, non_toxic: bool = True) -> int:
    """ns with at least one passive target set (what was actually quoted), in the window."""
    rows = [m for m in res.modes if m.symbol_id == sid]
    tot = 0
    for i, m in enumerate(rows):
        a = max(m.ts_ns, res.trade_from_ns)
        b = min(rows[i + 1].ts_ns if i + 1 < len(rows) else res.end_ns, res.end_ns)
        if b > a and m.n_passive > 0 and (not non_toxic or m.toxicity < Toxicity.TOXIC):
            tot += b - a
    return tot


def mode_intervals(res: ReplayResult, sid: int) -> list[tuple[int, int, int, int]]:
    """(start, end, mode, toxicity) of the symbol's cycles, clipped to the evaluation window."""
    return [(a, b, m.mode, m.toxicity) for m, a, b in res.cycle_spans(sid)]


def _overlap(iv: list[tuple[int, int, int, int]], s: int, e: int, mode: int | None = None) -> int:
    tot = 0
    for a, b, m, _ in iv:
        if mode is None or m == mode:
            tot += max(0, min(b, e) - max(a, s))
    return tot


def compute(res: ReplayResult, labels: GroundTruth | None = None, n_symbols: int = 1,
            horizon_s: float = 5.0, maker_bps: float | None = None) -> dict[str, Any]:
    """The table and figures; ``maker_bps`` (the tier's maker fee, < 0 a rebate) sets the PnL target."""
    lo, hi = res.trade_from_ns, res.end_ns
    fills = [f for f in res.fills if lo <= f.ts_ns <= hi]
    by_sid: dict[int, list[FillRow]] = {}
    for f in fills:
        by_sid.setdefault(f.symbol_id, []).append(f)
    ivs = {sid: mode_intervals(res, sid) for sid in range(n_symbols)}

    # PnL split, markouts, edges
    totals = dict(spread_capture_usd=0.0, adverse_selection_usd=0.0, fees_usd=0.0, inventory_usd=0.0, total_usd=0.0,
                  turnover_usd=0.0)
    edges: dict[float, list[float]] = {h: [] for h in HORIZONS_S}
    net5: list[float] = []
    grid = np.arange(lo, hi + 1, int(PNL_STEP_S * 1e9), dtype=np.int64)
    curve = np.zeros(len(grid))
    fine = np.linspace(lo, hi, 400).astype(np.int64) if hi > lo else np.array([lo], dtype=np.int64)
    curve_fine = np.zeros(len(fine))
    inv_series: dict[int, list[tuple[int, float]]] = {}
    max_ratio = 0.0
    for sid in range(n_symbols):
        fl = by_sid.get(sid, [])
        ts, mids = res.tape_arrays(sid)
        curve += pnl_curve(fl, ts, mids, grid)
        curve_fine += pnl_curve(fl, ts, mids, fine)
        if not fl:
            continue
        split, _ = attribute(fl, ts, mids, hi, horizon_s)
        for k in totals:
            totals[k] += getattr(split, k)
        for h in HORIZONS_S:
            ed = markout_edges_bps(fl, ts, mids, h, hi)
            edges[h].extend(float(x) for x in ed if math.isfinite(x))
            if h == horizon_s:
                fee_bps = np.array([f.fee_usd / (f.px * f.qty) * 1e4 for f in fl])
                net5.extend(float(x) for x in ed - fee_bps if math.isfinite(x))
        mrows = [m for m in res.modes if m.symbol_id == sid and m.max_inventory_qty > 0.0]
        rts = np.array([m.ts_ns for m in mrows], dtype=np.int64)
        pos = 0.0
        ser = inv_series.setdefault(sid, [(lo, 0.0)])
        for f in fl:
            pos += f.side * f.qty
            ser.append((f.ts_ns, pos))
            j = int(np.searchsorted(rts, f.ts_ns, side="right")) - 1
            if j >= 0:
                max_ratio = max(max_ratio, abs(pos) / mrows[j].max_inventory_qty)
    sr, sr_ann = sharpe(curve, PNL_STEP_S)
    e5 = edges.get(horizon_s, [])
    adverse_rate = (sum(1 for x in e5 if x < 0.0) / len(e5)) if e5 else None
    bins = np.array([-math.inf, *EDGE_BINS_BPS, math.inf], dtype=np.float64)
    hist = np.histogram(np.asarray(net5, dtype=np.float64), bins=bins)[0] if net5 else np.zeros(len(bins) - 1)

    # quote gate
    checked = sum(m.n_passive for m in res.modes if lo <= m.ts_ns <= hi and m.mode != ExecMode.INVENTORY_REDUCE)
    viol = sum(m.qv_violations for m in res.modes if lo <= m.ts_ns <= hi)
    qv_enf = 1.0 - viol / checked if checked else 1.0

    # uptime in non-toxic regimes
    nontox = maker_nontox = 0
    for iv in ivs.values():
        for a, b, m, tox in iv:
            if tox < Toxicity.TOXIC:
                nontox += b - a
                if m == ExecMode.MAKER:
                    maker_nontox += b - a
    uptime = maker_nontox / nontox if nontox else None
    quoting = sum(quoting_time(res, sid) for sid in range(n_symbols)) / nontox if nontox else None
    mode_share: dict[str, float] = {}
    tot_t = sum(b - a for iv in ivs.values() for a, b, _, _ in iv)
    for md in ExecMode:
        t_m = sum(_overlap(iv, lo, hi, int(md)) for iv in ivs.values())
        mode_share[md.name] = t_m / tot_t if tot_t else 0.0

    # cascades: Flat share, toxicity detection, lead-lag signal latency
    flat_share = None
    reduce_share: float | None = None
    det_ms: list[float] = []
    det_trades: list[float] = []
    sig_ms: list[float] = []
    n_casc = n_detected = 0
    if labels is not None:
        casc_t = flat_t = reduce_t = 0
        for c in labels.cascades:
            if c.symbol_id >= n_symbols:
                continue
            cs, ce = max(c.hl_start_ts_ns, lo), min(c.hl_end_ts_ns, hi)
            if ce <= cs:
                continue
            n_casc += 1
            casc_t += ce - cs
            flat_t += _overlap(ivs[c.symbol_id], cs, ce, int(ExecMode.FLAT))
            reduce_t += _overlap(ivs[c.symbol_id], cs, ce, int(ExecMode.INVENTORY_REDUCE))
            verdicts = res.tox_ts[c.symbol_id]
            state_before = [v for t, v in verdicts if t <= c.hl_start_ts_ns]
            t_det: int | None = c.hl_start_ts_ns if state_before and state_before[-1] == Toxicity.TOXIC else None
            if t_det is None:
                for t, v in verdicts:
                    if c.hl_start_ts_ns <= t <= c.hl_end_ts_ns + 5_000_000_000 and v == Toxicity.TOXIC:
                        t_det = t
                        break
            if t_det is not None:
                n_detected += 1
                det_ms.append((t_det - c.hl_start_ts_ns) / 1e6)
                tr = np.asarray(res.trades[c.symbol_id], dtype=np.int64)
                det_trades.append(float(np.sum((tr >= c.hl_start_ts_ns) & (tr <= t_det))))
            for t, sk in res.signals[c.symbol_id]:
                if c.start_ts_ns <= t <= c.end_ts_ns + 2_000_000_000 and sk * c.direction > 0:
                    sig_ms.append((t - c.start_ts_ns) / 1e6)
                    break
        flat_share = flat_t / casc_t if casc_t else None
        reduce_share = reduce_t / casc_t if casc_t else None
    lead_ms = None
    for sid in range(n_symbols):
        ref = res.ref[sid]
        if len(ref) > 50 and len(res.tape[sid]) > 50:
            ts, mids = res.tape_arrays(sid)
            r = hy_lead_lag([x[0] for x in ref], [x[1] for x in ref], ts, mids)
            lead_ms = r.peak_lag_refined_ms
            break

    det_med = _median(det_trades)
    n_missed = n_casc - n_detected
    mean5 = float(np.mean(e5)) if e5 else None
    total = totals["total_usd"]
    rebate = maker_bps is not None and maker_bps < 0.0
    qv_up, qv_pos_ns = qv_uptime(res, n_symbols)
    misses = uptime_misses(res, n_symbols)
    span_ns = (hi - lo) * max(n_symbols, 1)
    table = [
        row("Adverse selection rate per fill (5 s markout)", adverse_rate, "<= 20% of fills (seed < 25%)", "pct",
            ok=None if adverse_rate is None else adverse_rate <= 0.20, extra=f"{len(e5)} fills marked"),
        row("Mean 5 s markout of fills (before fees)", mean5, ">= +0.5 bps", "bps",
            ok=None if mean5 is None else mean5 >= 0.5),
        row("Net PnL after fees", total, "> 0" if rebate else ">= 0", "usd",
            ok=(total > 0.0) if rebate else (total >= 0.0),
            extra=(f"{total / totals['turnover_usd'] * 1e4:.2f} bps of turnover" if totals["turnover_usd"] else
                   "no fills")),
        row("Mode = Flat during labelled cascades", flat_share, ">= 95% of cascade time (seed > 90%)", "pct",
            ok=None if flat_share is None else flat_share >= 0.95,
            extra="" if reduce_share is None else f"InventoryReduce (reduce-only, Toxic while holding) {100.0 * reduce_share:.1f}%"),
        row("Toxicity detection (median trades after cascade start)", det_med, "<= 2 trades (seed < 3)", "trades",
            ok=None if det_med is None else (det_med <= 2.0 and n_missed == 0),
            extra=(f"{_median(det_ms) if det_ms else float('nan'):.0f} ms median; {n_detected}/{n_casc} cascades "
                   "detected" if n_casc else ("no cascade in the window" if labels is not None else "no labels"))),
        row("Queue value negative -> no quote", qv_enf, "100% enforcement", "pct", ok=qv_enf >= 1.0),
        row("Quoting uptime when net queue value > 0 on a side", qv_up, ">= 85% of that time", "pct",
            ok=None if qv_up is None else qv_up >= 0.85,
            extra=f"queue value > 0 on a side {100.0 * qv_pos_ns / span_ns if span_ns else 0.0:.1f}% of the time; "
            "seed's uptime (Maker / non-toxic time) " + ("n/a" if uptime is None else f"{100.0 * uptime:.1f}%")
            + "; passive quote set in non-toxic time " + ("n/a" if quoting is None else f"{100.0 * quoting:.1f}%")),
        row("Lead-lag signal latency (median)", _median(sig_ms), "<= 100 ms (seed < 150 ms)", "ms",
            ok=None if not sig_ms else (_median(sig_ms) or 0.0) <= 100.0,
            extra=(f"{len(sig_ms)}/{n_casc} cascades signalled" if n_casc
                   else ("no cascade in the window" if labels is not None else "no labels"))
            + (f"; HY lead of reference {lead_ms:.0f} ms" if lead_ms is not None else "; no reference tape")),
        row("Fill quality: catastrophic share (5 s net edge < -10 bps)",
            (sum(1 for x in net5 if x < -10.0) / len(net5)) if net5 else None, "unimodal, no catastrophic tail", "pct"),
        row("Max |inventory| / max", max_ratio, "never > 1.0x", "x", ok=max_ratio <= 1.0 + 1e-9),
    ]
    n_f = len(fills)
    markouts = {f"{h:g}s": {"n": len(edges[h]), "mean_bps": _f(float(np.mean(edges[h]))) if edges[h] else None,
                            "median_bps": _f(float(np.median(edges[h]))) if edges[h] else None,
                            "adverse_rate": (sum(1 for x in edges[h] if x < 0) / len(edges[h])) if edges[h] else None}
                for h in HORIZONS_S}
    turnover = totals["turnover_usd"]
    return {
        "table": table,
        "pnl": {**totals, "net_bps_of_turnover": (totals["total_usd"] / turnover * 1e4) if turnover else None},
        "fills": n_f,
        "maker_fills": sum(1 for f in fills if f.is_maker),
        "turnover_usd": turnover,
        "sharpe_per_step": sr,
        "sharpe_annualized": sr_ann,
        "sharpe_step_s": PNL_STEP_S,
        "markouts": markouts,
        "edge_hist": {"edges_bps": EDGE_BINS_BPS, "counts": [int(x) for x in hist]},
        "mode_share": mode_share,
        "uptime_misses": [{"cause": c, "share": x} for c, x in misses],
        "kill": {"ts_ns": res.kill_ns, "reason": res.kill_reason},
        "cycles": res.n_cycles,
        "requests": res.n_requests,
        "series": {
            "pnl": {"t_s": [(t - lo) / 1e9 for t in fine.tolist()], "usd": [float(x) for x in curve_fine]},
            "inventory": {str(sid): [[(t - lo) / 1e9, p] for t, p in ser] for sid, ser in inv_series.items()},
            "modes": {str(sid): [[(a - lo) / 1e9, (b - lo) / 1e9, m] for a, b, m, _ in iv] for sid, iv in ivs.items()},
            "cascades": [[(max(c.hl_start_ts_ns, lo) - lo) / 1e9, (min(c.hl_end_ts_ns, hi) - lo) / 1e9, c.symbol_id]
                         for c in (labels.cascades if labels is not None else [])
                         if c.symbol_id < n_symbols and min(c.hl_end_ts_ns, hi) > max(c.hl_start_ts_ns, lo)],
        },
    }


def row(name: str, value: float | None, target: str, unit: str, ok: bool | None = None,
        extra: str = "") -> dict[str, Any]:
    return {"metric": name, "value": None if value is None else _f(value), "unit": unit, "target": target, "ok": ok,
            "note": extra}


def fmt_value(r: dict[str, Any]) -> str:
    v = r["value"]
    if v is None:
        return "n/a"
    if r["unit"] == "pct":
        return f"{100.0 * v:.1f}%"
    if r["unit"] == "ms":
        return f"{v:.0f} ms"
    if r["unit"] == "bps":
        return f"{v:+.2f} bps"
    if r["unit"] == "usd":
        return f"{v:.2f} USD"
    if r["unit"] == "trades":
        return f"{v:g} trades"
    return f"{v:.2f}x"


