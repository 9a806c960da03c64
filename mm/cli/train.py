"""``mmctl train``: build labels from a recording, fit the models, print the figures.

Usage::

    mmctl train --data {real,generated} [--out DIR] [--split 0.6] [--seed N]
                [--duration-s S] [--coins BTC,ETH] [--fee-tier base] [--real-dir PATH]

For every coin: the toxicity classifier (logistic, non-negative weights), fill survival
(competing-risks hazards) against the symmetric baseline, queue value (ridge with
interactions) against the heuristic, the direction model (logistic P(a fill is adverse at
the markout)) and the lead-lag detector's pass-through, each fitted on the first
``--split`` of the data in time and evaluated on the rest (:mod:`mm.models.train`). Writes,
under ``DIR/<data>/<COIN>/``, the versioned model files ``toxicity.json``,
``fill_survival.json``, ``queue_value.json``, ``direction.json`` (where enough fills with a
clean markout and both outcomes were labelled) and ``leadlag.json`` (where a reference price
exists), and the reliability diagrams ``reliability_fill.png``, ``reliability_toxicity.png``
(and ``reliability_direction.png``); ``DIR/<data>/report.json`` holds every printed figure.
The default ``DIR`` is ``var/models`` (relative to the working directory).

Real data: ``hyperliquid-2025-09-04`` (override with ``--real-dir``); it has no Binance
prices, so the Binance -> Hyperliquid lead cannot be measured on it: the lead printed for
real data is the Hayashi-Yoshida cross-asset lead (BTC vs ETH) on the Hyperliquid recording
and on the real Binance frames. Generated data: the market generator with its labels
(cascades, regimes) and the Binance lead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from mm.alpha.engine import AlphaEngine
from mm.alpha.leadlag import encode_params as encode_leadlag
from mm.cli.progress import Progress, add_quiet_flag
from mm.config import ConfigError, load_config
from mm.features.config import ToxicityConfig
from mm.features.queue_rank import QueueRankTracker
from mm.importers import data_dir
from mm.models.datasets import Dataset, load_binance_mids, load_generated, load_real, venue_mid_tape
from mm.models.direction import encode_params as encode_direction
from mm.models.fill_survival import FillSurvivalModel
from mm.models.fill_survival import encode_params as encode_fill
from mm.models.queue_value import HeuristicQueueValue, QueueValueModel
from mm.models.queue_value import encode_params as encode_qv
from mm.models.toxicity import ToxicityClassifier, encode_model, toxicity_features
from mm.models.train import CoinResult, PipelineConfig, hy_cross_asset, tier_maker_fee_bps, train_coin
from mm.models.training_labels import LabelConfig
from mm.schema import StateSnapshot, Venue


def _f(x: Any, nd: int = 3) -> str:
    if x is None:
        return "-"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return f"{v:.{nd}f}"


def _pct(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    return "n/a" if not math.isfinite(v) else f"{100.0 * v:5.1f}%"


def _ms(d: dict[str, float]) -> str:
    if not d or d.get("n", 0) == 0:
        return "none"
    return f"median {_f(d['median'], 0)} ms (p10 {_f(d['p10'], 0)}, p90 {_f(d['p90'], 0)}, n={int(d['n'])})"


def _inference_us(res: CoinResult, snap: StateSnapshot, fee_bps: float, n: int = 3000) -> dict[str, float]:
    """Wall time per call of each model's predict path on a real test snapshot."""
    out: dict[str, float] = {}
    side, px = 1, snap.best_bid
    if res.queue_value is not None:
        qvm = QueueValueModel(res.queue_value, fee_bps)
        heur = HeuristicQueueValue(res.queue_value.heuristic, fee_bps)
        for name, fn in (("queue_value (learned)", lambda: qvm.queue_value(side, px, 0.5, snap)),
                         ("queue_value (heuristic)", lambda: heur.queue_value(side, px, 0.5, snap))):
            out[name] = _time(fn, n)
    if res.fill is not None:
        fsm = FillSurvivalModel(res.fill)
        base = fsm.baseline()
        out["fill_prob (1 s)"] = _time(lambda: fsm.fill_prob(side, px, 1.0, snap), n)
        out["fill_probs_standard (0.5/1/3 s)"] = _time(lambda: fsm.fill_probs_standard(side, px, snap), n)
        out["fill_prob baseline"] = _time(lambda: base.fill_prob(side, px, 1.0, snap), n)
    if res.toxicity is not None:
        clf = ToxicityClassifier(ToxicityConfig(learn=False), res.toxicity)
        x = toxicity_features(side=1, fast_run=2, run_cap=10, rate_before_hz=3.0, base_rate_hz=1.0,
                              signed_qty_before=1.0, qty_before=1.5, base_qty=0.5, ofi_500ms=2.0, ofi_2s=3.0,
                              ofi_scale=1.0, sweep_spreads=1.0, size_log_ratio=0.5, spread_bps=0.1,
                              spread_base_bps=0.1, sigma_bps=0.3, sigma_base_bps=0.3, vwap_direction=0.2)
        out["toxicity predict"] = _time(lambda: clf.predict(x), n)
    eng = AlphaEngine()
    out["alpha on_snapshot"] = _time(lambda: eng.on_snapshot(snap, snap.ts_ns), n)
    return out


def _time(fn: Any, n: int) -> float:
    for _ in range(200):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def _print_coin(res: CoinResult, pc: PipelineConfig, truth: bool) -> None:
    fig = res.figures
    n = fig.get("n", {})
    print(f"\n== {res.coin} (tick {res.tick_px:g}) " + "=" * 50)
    print(f"data: trades train {n.get('trades_train')} / test {n.get('trades_test')}; joins train "
          f"{n.get('joins_train')} / test {n.get('joins_test')}; simulated fills train {n.get('fills_train')} / "
          f"test {n.get('fills_test')}; qty scale (median touch) {_f(n.get('qty_scale'), 4)}")
    if "error" in fig:
        print(f"  {fig['error']}")
        return
    t = fig["toxicity"]
    fm, pm = t["fitted"], t["prior"]
    print(f"toxicity (label: {t['label']}; base rate {_pct(fm['base_rate'])}) on test trades:")
    print(f"  fitted  Brier {_f(fm['brier'])}  log loss {_f(fm['log_loss'])}  AUC {_f(fm['auc'])}  "
          f"ECE {_f(fm['ece'])}  skill {_f(fm['brier_skill'])}")
    print(f"  prior   Brier {_f(pm['brier'])}  log loss {_f(pm['log_loss'])}  AUC {_f(pm['auc'])}  "
          f"ECE {_f(pm['ece'])}  skill {_f(pm['brier_skill'])}")
    print(f"  verdict at the configured threshold {_f(t.get('threshold_config'), 2)}: Toxic on "
          f"{_pct(t.get('toxic_share_test_snapshots'))} of test snapshots (offline re-scoring vs the engine's own "
          f"verdicts: {t.get('offline_vs_engine_mismatch')} mismatches)")
    if truth:
        tf = t.get("threshold_fit_train", {})
        print(f"  verdict threshold fitted on the training cascades: {_f(t.get('threshold_fit'), 2)} (train: "
              f"{int(tf.get('train_detected', 0))}/{int(tf.get('train_windows', 0))} detected, Toxic on "
              f"{_pct(tf.get('train_false_alarm'))} of calm snapshots (labelled Quiet/Normal, 2 s or more from a "
              f"cascade); budget {_pct(pc.toxic_false_alarm_budget)})")
        for key, label in (("fitted_config", "fitted, configured threshold"),
                           ("fitted_thrfit", "fitted, threshold fitted on train"),
                           ("prior_config", "prior, configured threshold")):
            c = t[f"cascades_{key}"]
            print(f"  test cascades ({label} {_f(c['threshold'], 2)}): Toxic within <= 3 trades and < 0.5 s of the "
                  f"HL start: {c['detected']}/{c['n']} ({_pct(c['share'])}) counting prints, {c['detected_takers']}/"
                  f"{c['n']} ({_pct(c['share_takers'])}) counting taker events; flipped {c['flipped']}/{c['n']}, "
                  f"median {_f(c['median_trades'], 1)} prints / {_f(c['median_takers'], 1)} taker events / "
                  f"{_f(c['median_ms'], 0)} ms; Toxic at start {c['toxic_at_start']}; Toxic on "
                  f"{_pct(c['false_alarm'])} of calm snapshots")
        cb = t["cascade_brier"]
        print(f"  P(toxic) per test trade vs 'inside a labelled cascade': Brier {_f(cb.get('brier'))} "
              f"(base rate {_pct(cb.get('base_rate'))}, AUC {_f(cb.get('auc'))})")
    f = fig["fill"]
    print(f"fill survival on test joins (outcomes {f['outcomes_test']}); baseline kappa "
          f"{_f(f['baseline']['kappa_hz'])} /s, delta_char {_f(f['baseline']['delta_char_bps'])} bps:")
    print(f"  {'horizon':>8} {'model Brier':>12} {'log loss':>9} {'AUC':>6} {'ECE':>6} | {'baseline Brier':>14} "
          f"{'log loss':>9} {'AUC':>6} {'ECE':>6} | {'fill rate':>9}")
    for h in (0.5, 1.0, 3.0):
        r = f[f"h{h:g}s"]
        a, b = r["model"], r["baseline"]
        print(f"  {h:>7g}s {_f(a['brier']):>12} {_f(a['log_loss']):>9} {_f(a['auc']):>6} {_f(a['ece']):>6} | "
              f"{_f(b['brier']):>14} {_f(b['log_loss']):>9} {_f(b['auc']):>6} {_f(b['ece']):>6} | "
              f"{_pct(a['base_rate']):>9}")
    print(f"  deciles of the model's P(fill within {pc.reliability_horizon_s:g} s): predicted model / baseline "
          "vs observed")
    for i, (p_m, p_b, obs, cnt) in enumerate(f["deciles"]):
        print(f"    d{i + 1:<2} model {_f(p_m)}  baseline {_f(p_b)}  observed {_f(obs)}  (n={cnt})")
    print("  by join (level, rank): model / baseline / observed")
    for lv, rk, p_m, p_b, obs, cnt in f["by_join"]:
        print(f"    level {lv} rank {rk:<4g} model {_f(p_m)}  baseline {_f(p_b)}  observed {_f(obs)}  (n={cnt})")
    q = fig.get("queue_value", {})
    if "error" in q:
        print(f"queue value: {q['error']}")
    elif q:
        lg, hg = q["learned_gross"], q["heuristic_gross"]
        print(f"queue value (edge of a simulated fill, markout {q['markout_s']:g} s; test fills n={int(lg['n'])}; "
              f"fee tier {q['fee_tier']} = {q['maker_fee_bps']:g} bps):")
        print(f"  realized gross edge mean {_f(lg['mean_outcome'])} bps, net {_f(q['realized_net_mean_bps'])} bps")
        for name, m in (("learned  ", lg), ("heuristic", hg)):
            print(f"  {name} R2 {_f(m['r2'])}  corr {_f(m['corr'])}  IR {_f(m['ir'])}  MI {_f(m['mi_bits'], 4)} bits  "
                  f"realized gross where predicted > 0: {_f(m['mean_outcome_pred_pos'])} bps "
                  f"(share {_pct(m['share_pred_pos'])})")
        print(f"  learned net > 0 on {_pct(q['share_learned_pos_net'])} of test fills; their realized net edge "
              f"{_f(q['realized_net_when_learned_pos'])} bps (ridge lam {_f(q['ridge'].get('lam'), 3)})")
        print("  realized gross edge by join: " + "; ".join(
            f"L{lv} r{rk:g}: {_f(e)} (n={cnt})" for lv, rk, e, cnt in q["by_rank_realized_gross"]))
        sh = q["shares"]
        print(f"  joining the back of the best level, test samples ({sh['labels']} labels; n={sh['n']}, cascade "
              f"{sh['n_cascade']}, swept side {sh['n_swept']}, quiet {sh['n_quiet']}):")
        print(f"    {'tier':<8} {'fee':>6} | {'learned: <0 cascade':>19} {'<0 swept':>9} {'>0 quiet':>9} "
              f"{'>0 all':>7} | {'heuristic: <0 cascade':>21} {'<0 swept':>9} {'>0 quiet':>9} {'>0 all':>7}")
        for tier in [pc.fee_tier] + [x for x in pc.report_tiers if x != pc.fee_tier]:
            r = sh[tier]
            print(f"    {tier:<8} {r['maker_fee_bps']:>6g} | {_pct(r['learned_neg_in_cascade']):>19} "
                  f"{_pct(r['learned_neg_swept_side']):>9} {_pct(r['learned_pos_in_quiet']):>9} "
                  f"{_pct(r['learned_pos_all']):>7} | {_pct(r['heuristic_neg_in_cascade']):>21} "
                  f"{_pct(r['heuristic_neg_swept_side']):>9} {_pct(r['heuristic_pos_in_quiet']):>9} "
                  f"{_pct(r['heuristic_pos_all']):>7}")
    ll = fig.get("leadlag", {})
    if "status" in ll:
        print(f"lead-lag: {ll['status']}")
    elif ll:
        print(f"lead-lag (CUSUM on the de-based Binance-HL divergence): pass-through fitted {_f(ll['pass_through'])} "
              f"on {ll['pass_through_n']} alarmed updates (prior {_f(ll['prior_pass_through'])}); alarm up "
              f"{_pct(ll['alarmed_share_test'])} of test updates")
        m = ll["skew_vs_move_alarmed"]
        print(f"  skew vs HL move over the next 1 s (alarmed test updates, n={int(m.get('n', 0))}): corr "
              f"{_f(m.get('corr'))}  IR {_f(m.get('ir'))}  MI {_f(m.get('mi_bits'), 4)} bits  R2 {_f(m.get('r2'))}")
        if "cascades" in ll:
            c = ll["cascades"]
            print(f"  labelled cascades in test: {c['n']} (missed {c['missed']}): signal after the Binance start "
                  f"{_ms(c['signal_after_binance_start_ms'])}; ahead of the HL start "
                  f"{_ms(c['signal_before_hl_start_ms'])}")
        b = ll["binance_moves"]
        print(f"  Binance moves >= {b['move_bps']:g} bps within 500 ms in test: {b['n']} (no signal within 2 s: "
              f"{b['missed']}): signal after the move's first tick {_ms(b['signal_after_move_ms'])}; after the move "
              f"reached {b['move_bps']:g} bps {_ms(b['signal_after_move_complete_ms'])}; HL half move after the "
              f"first tick {_ms(b['hl_half_move_after_move_ms'])}; signal ahead of HL "
              f"{_ms(b['signal_before_hl_half_move_ms'])}")
        if "hy_lead_ms" in ll:
            print(f"  Hayashi-Yoshida lead Binance -> HL on test: {_f(ll['hy_lead_ms'], 0)} ms (refined "
                  f"{_f(ll['hy_lead_refined_ms'], 0)} ms, corr {_f(ll['hy_corr'])})")
    inf = fig.get("inference_us", {})
    if inf:
        print("inference (us/call, this machine): " + "; ".join(f"{k} {_f(v, 2)}" for k, v in inf.items()))


def _lead_figures(xt: np.ndarray, xm: np.ndarray, yt: np.ndarray, ym: np.ndarray) -> dict[str, Any]:
    """HY lead of x over y with the curve's shape: a peak is only meaningful if it stands
    above the rest of the grid and the tapes change faster than the lags probed."""
    r = hy_cross_asset(xt, xm, yt, ym)
    corr = np.abs(np.asarray(r.corr))
    lags = np.asarray(r.lags_ms)

    def med_gap_ms(t: np.ndarray, m: np.ndarray) -> float:
        ch = t[1:][np.diff(m) != 0]
        return float(np.median(np.diff(ch)) / 1e6) if ch.size > 2 else float("nan")

    return {"lead_ms": r.peak_lag_ms, "refined_ms": r.peak_lag_refined_ms, "corr": r.peak_corr,
            "corr_at_0": float(corr[np.argmin(np.abs(lags))]), "median_abs_corr": float(np.median(corr)),
            "median_change_interval_ms": [med_gap_ms(xt, xm), med_gap_ms(yt, ym)], "n": [r.n_x, r.n_y]}


def _real_leads(ds: Dataset) -> dict[str, Any]:
    """HY cross-asset leads on real data (no Binance overlaps the HL recording)."""
    out: dict[str, Any] = {}
    tapes = {c.coin: venue_mid_tape(c.events, int(Venue.HYPERLIQUID), remote_clock=True) for c in ds.coins}
    if "BTC" in tapes and "ETH" in tapes:
        (bt, bm), (et, em) = tapes["BTC"], tapes["ETH"]
        out["hl_btc_vs_eth"] = _lead_figures(bt, bm, et, em)
    try:
        bn = load_binance_mids()
    except (FileNotFoundError, OSError, ValueError) as exc:
        out["binance_error"] = str(exc)
        return out
    if "BTCUSDT" in bn and "ETHUSDT" in bn:
        (bt, bm), (et, em) = bn["BTCUSDT"], bn["ETHUSDT"]
        out["binance_btc_vs_eth"] = _lead_figures(bt, bm, et, em)
    return out


def _print_summary(report: dict[str, Any], pc: PipelineConfig, truth: bool) -> None:
    """The issue's figures, pooled over coins (test data only)."""
    coins: dict[str, dict[str, Any]] = report["coins"]
    ok = {c: f for c, f in coins.items() if "fill" in f}
    print("\nsummary (test data only; every coin's details above):")
    worst = max((v for f in coins.values() for v in f.get("inference_us", {}).values()), default=float("nan"))
    print(f"  inference: slowest model call {_f(worst, 2)} us (target < 50, aim < 10; bench/bench_models.py)")
    briers = ", ".join(f"{c} {_f(f['toxicity']['fitted']['brier'])}" for c, f in ok.items())
    print(f"  toxicity Brier (fitted, per test trade): {briers}")
    if truth:
        for key, label in (("fitted_thrfit", "fitted, threshold from train"), ("fitted_config", "fitted, configured"),
                           ("prior_config", "prior, configured")):
            n = det = det_t = 0
            fa = []
            for f in ok.values():
                c = f["toxicity"].get(f"cascades_{key}")
                if c:
                    n += c["n"]
                    det += c["detected"]
                    det_t += c["detected_takers"]
                    fa.append(f"{_pct(c['false_alarm']).strip()}")
            share = det / n if n else float("nan")
            share_t = det_t / n if n else float("nan")
            print(f"  cascades Toxic within <= 3 trades and < 0.5 s ({label}): {det}/{n} ({_pct(share).strip()}) "
                  f"counting prints, {det_t}/{n} ({_pct(share_t).strip()}) counting taker events; Toxic on calm "
                  f"snapshots {', '.join(fa)}")
    for tier in [pc.fee_tier] + [x for x in pc.report_tiers if x != pc.fee_tier]:
        parts = []
        for c, f in ok.items():
            sh = f.get("queue_value", {}).get("shares", {}).get(tier)
            if sh:
                parts.append(f"{c} <0 in cascades {_pct(sh['learned_neg_in_cascade']).strip()} (swept side "
                             f"{_pct(sh['learned_neg_swept_side']).strip()}), >0 in quiet "
                             f"{_pct(sh['learned_pos_in_quiet']).strip()}")
        if parts:
            print(f"  queue value (learned, join at the back, {tier} fee): " + "; ".join(parts))
    fills = []
    for c, f in ok.items():
        r = f["fill"][f"h{pc.reliability_horizon_s:g}s"]
        fills.append(f"{c} Brier {_f(r['model']['brier'])} vs baseline {_f(r['baseline']['brier'])}, ECE "
                     f"{_f(r['model']['ece'])} vs {_f(r['baseline']['ece'])}")
    print(f"  fill survival at {pc.reliability_horizon_s:g} s: " + "; ".join(fills))
    for c, f in ok.items():
        ll = f.get("leadlag", {})
        if "binance_moves" in ll:
            bm = ll["binance_moves"]
            b = bm["signal_after_move_ms"]
            bd = bm["signal_after_move_complete_ms"]
            ah = bm["signal_before_hl_half_move_ms"]
            cas = ll.get("cascades", {}).get("signal_after_binance_start_ms", {})
            ahead = ll.get("cascades", {}).get("signal_before_hl_start_ms", {})
            print(f"  lead-lag {c}: signal after a Binance move's first tick median {_f(b.get('median'), 0)} ms, "
                  f"after it completed {_f(bd.get('median'), 0)} ms, {_f(ah.get('median'), 0)} ms ahead of HL's half "
                  f"move; labelled cascade starts: {_f(cas.get('median'), 0)} ms after, "
                  f"{_f(ahead.get('median'), 0)} ms ahead of the HL start; HY lead on test {_f(ll.get('hy_lead_ms'), 0)} ms")
    if "real_leads" in report:
        for key, r in report["real_leads"].items():
            if isinstance(r, dict):
                print(f"  lead on real data ({key}): {_f(r['lead_ms'], 0)} ms (HY corr {_f(r['corr'])}, median over "
                      f"the grid {_f(r['median_abs_corr'])})")


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float | np.floating):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mmctl train", description="Fit queue value, fill survival, toxicity "
                                 "and the lead-lag detector; print out-of-sample figures.")
    ap.add_argument("--data", choices=("real", "generated"), required=True)
    ap.add_argument("--out", default="var/models", help="model directory (default var/models)")
    ap.add_argument("--split", type=float, default=0.6, help="train on this first share of the time span")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (generated data)")
    ap.add_argument("--duration-s", type=float, default=7200.0, help="generated market time (s)")
    ap.add_argument("--coins", default="", help="comma-separated coins (default: all in the data)")
    ap.add_argument("--fee-tier", default="base", help="Hyperliquid fee tier of the queue value (base, tier1..6, "
                    "rebate1..3)")
    ap.add_argument("--real-dir", default=None, help="Hyperliquid collector CSV directory (real data)")
    ap.add_argument("--config", default=None, help="write the model files to this config's [models] dir (the "
                    "directory the group loads at start) instead of OUT/<data>")
    ap.add_argument("--json", action="store_true", help="print report.json on stdout (the text goes to stderr)")
    add_quiet_flag(ap)
    args = ap.parse_args(argv)
    if args.json:
        with contextlib.redirect_stdout(sys.stderr):
            rc, report = _run(args)
        if report is not None:
            print(json.dumps(_jsonable(report), indent=1))
        return rc
    return _run(args)[0]


def _run(args: argparse.Namespace) -> tuple[int, dict[str, Any] | None]:
    if not 0.0 < args.split < 1.0:
        print("mmctl train: --split must be in (0, 1)", file=sys.stderr)
        return 2, None
    try:
        fee = tier_maker_fee_bps(args.fee_tier)
        models_dir = Path(load_config(args.config).models.dir) if args.config else None
    except (ValueError, ConfigError) as exc:
        print(f"mmctl train: {exc}", file=sys.stderr)
        return 2, None
    coins = [c.strip().upper() for c in args.coins.split(",") if c.strip()]
    t_start = time.monotonic()
    try:
        if args.data == "real":
            ds = load_real(args.real_dir, coins or None)
        else:
            ds = load_generated(args.seed, args.duration_s, tuple(coins) if coins else ("BTC", "ETH"))
    except (OSError, ValueError) as exc:
        print(f"mmctl train: cannot load the {args.data} data: {exc}\nThe shared recording is looked up in "
              f"{data_dir()} ($MM_DATA_DIR overrides it); --real-dir PATH names a recorder directory, "
              "--data generated needs none.", file=sys.stderr)
        return 2, None
    split = ds.split_ts_ns(args.split)
    pc = PipelineConfig(labels=LabelConfig(), fee_tier=args.fee_tier)
    lc = pc.labels
    print(f"mmctl train --data {args.data}: {ds.name}, coins {', '.join(c.coin for c in ds.coins)}; "
          f"{(ds.end_ts_ns - ds.start_ts_ns) / 1e9:.0f} s split by time at {args.split:g} "
          f"(train first {(split - ds.start_ts_ns) / 1e9:.0f} s, test the last {(ds.end_ts_ns - split) / 1e9:.0f} s)")
    print(f"labels: hypothetical joins every {lc.sample_interval_ms} ms per side at (level, rank) "
          f"{', '.join(f'({lv}, {rk:g})' for lv, rk in lc.joins)}; filled / escaped {lc.escape_ticks} ticks / "
          f"horizon {lc.horizon_s:g} s; edge marked {lc.markout_s:g} s after the fill; queue model "
          f"{QueueRankTracker(0).cfg.cancel_model}; fee tier {args.fee_tier} (maker {fee:g} bps)")
    for note in ds.notes:
        print(f"note: {note}")
    out_dir = models_dir if models_dir is not None else Path(args.out) / args.data
    prog = Progress("train", total=len(ds.coins), quiet=args.quiet)
    report: dict[str, Any] = {"dataset": ds.name, "split": args.split, "fee_tier": args.fee_tier,
                              "label_config": msgspec.to_builtins(lc), "coins": {}}
    for cd in ds.coins:
        tc = time.monotonic()
        prog.update(note=f"fitting {cd.coin}", force=True)
        res = train_coin(cd.coin, cd.symbol_id, cd.tick_px, cd.events, split, ds.truth, pc,
                         trained_on=f"{ds.name} split {args.split:g}")
        if res.sample_snapshot is not None:
            res.figures["inference_us"] = _inference_us(res, res.sample_snapshot, fee)
        prog.clear()
        _print_coin(res, pc, ds.truth is not None)
        print(f"({cd.coin}: {time.monotonic() - tc:.1f} s)")
        cdir = out_dir / cd.coin
        cdir.mkdir(parents=True, exist_ok=True)
        written = []
        if res.toxicity is not None:
            (cdir / "toxicity.json").write_bytes(encode_model(res.toxicity))
            written.append("toxicity.json")
        if res.fill is not None:
            (cdir / "fill_survival.json").write_bytes(encode_fill(res.fill))
            written.append("fill_survival.json")
        if res.queue_value is not None:
            (cdir / "queue_value.json").write_bytes(encode_qv(res.queue_value))
            written.append("queue_value.json")
        if res.leadlag is not None:
            (cdir / "leadlag.json").write_bytes(encode_leadlag(res.leadlag))
            written.append("leadlag.json")
        if res.direction is not None:
            (cdir / "direction.json").write_bytes(encode_direction(res.direction))
            written.append("direction.json")
        for name, data in res.pngs.items():
            (cdir / name).write_bytes(data)
            written.append(name)
        print(f"wrote {cdir}/: {', '.join(written)}")
        report["coins"][cd.coin] = res.figures
        prog.advance(note=f"{cd.coin} done")
    prog.close()
    if args.data == "real":
        leads = _real_leads(ds)
        report["real_leads"] = leads
        print("\nlead on real data (Hayashi-Yoshida, -1500..1500 ms step 25; positive = the first leads):")
        print("  the shared recordings have no Binance data overlapping Hyperliquid's, so the Binance -> "
              "Hyperliquid lead cannot be measured on them; cross-asset leads instead:")
        for key, label in (("hl_btc_vs_eth", "Hyperliquid 2025-09-04 BTC -> ETH (venue clock)"),
                           ("binance_btc_vs_eth", "Binance USD-M 2024-08-08 BTCUSDT -> ETHUSDT (venue clock)")):
            if key in leads:
                r = leads[key]
                gx, gy = r["median_change_interval_ms"]
                print(f"  {label}: {_f(r['lead_ms'], 0)} ms (refined {_f(r['refined_ms'], 0)} ms); HY corr at the "
                      f"peak {_f(r['corr'])}, at 0 {_f(r['corr_at_0'])}, median over the grid "
                      f"{_f(r['median_abs_corr'])}; mids change every {_f(gx, 0)} / {_f(gy, 0)} ms (median); "
                      f"n {r['n'][0]}/{r['n'][1]}")
        if "binance_error" in leads:
            print(f"  Binance frames not read: {leads['binance_error']}")
    _print_summary(report, pc, ds.truth is not None)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(_jsonable(report), indent=1))
    print(f"\nreport: {out_dir / 'report.json'}  (total {time.monotonic() - t_start:.1f} s)")
    return 0, report


if __name__ == "__main__":
    raise SystemExit(main())
