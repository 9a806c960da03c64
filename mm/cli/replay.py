"""``mmctl replay``: the deterministic replay of issue 8 with its JSON + HTML report.

    mmctl replay --data real|generated|PATH [--coins BTC,ETH] [--split 0.6] [--seed N]
                 [--policies state_machine,glft,touch] [--fee-tiers base,rebate3] [--out DIR]
                 [--duration-s S] [--set execution.key=value ...] [--decisions-diff]
                 [--md-latency SPEC] [--order-latency SPEC] [--cancel-latency SPEC]

``real``: the recording ``hyperliquid-2025-09-04`` (under ``mm.importers.data_dir()``);
``PATH``: any directory of the recorder's CSVs. ``generated``: the market generator (seeded
by ``--seed``) with its cascade/regime labels, ``--duration-s`` long (default 900 s). Time
is split at ``--split`` of the span, never shuffled: the earlier part warms up features,
regime filter and toxicity baselines (no model is fitted here: default parameters), the
later part is traded and evaluated; the report names the split. Latency specs: see
:mod:`mm.replay.latency` (an ``empirical:file=PATH`` spec reads round trips, one per line).
Prints the comparison table; writes ``report.json`` and ``report.html`` to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mm.execution.config import ExecutionConfig
from mm.importers import data_dir
from mm.replay.engine import CoinSpec, ReplayConfig
from mm.replay.report import comparison_rows, text_table, write_report
from mm.replay.suite import run_suite
from mm.venues.sim.driver import load_hyperliquid_csv
from mm.venues.sim.generator import GroundTruth, MarketGenerator
from mm.venues.sim.generator_config import DEFAULT_COINS

REAL_DAY = "hyperliquid-2025-09-04"
SZ_DECIMALS = {c: s.sz_decimals for c, s in DEFAULT_COINS.items()}


def _latency_spec(spec: str) -> str:
    kind, _, rest = spec.partition(":")
    if kind == "empirical" and rest.startswith("file="):
        body, _, frac = rest[5:].partition("@")
        vals = [ln.strip() for ln in Path(body).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        return "empirical:" + ",".join(vals) + (f"@{frac}" if frac else "")
    return spec


def load(data: str, coins: list[str], seed: int, duration_s: float) -> tuple[list[object], list[CoinSpec], GroundTruth | None, str]:
    if data == "generated":
        gen = MarketGenerator(coins=coins, seed=seed)
        evs, labels = gen.generate(1_700_000_000_000_000_000, duration_s)
        specs = [CoinSpec(c.name, c.sz_decimals) for c in gen.coins]
        return list(evs), specs, labels, f"generator seed {seed}, {duration_s:g} s"
    d = data_dir() / REAL_DAY if data == "real" else Path(data)
    if not d.is_dir():
        raise FileNotFoundError(f"no recording at {d}")
    streams: list[object] = []
    specs = []
    for i, c in enumerate(coins):
        if c not in SZ_DECIMALS:
            raise ValueError(f"coin {c}: sz decimals unknown (known: {sorted(SZ_DECIMALS)})")
        streams.extend(load_hyperliquid_csv(d, c, i))
        specs.append(CoinSpec(c, SZ_DECIMALS[c]))
    streams.sort(key=lambda e: e.ts_ns)  # type: ignore[attr-defined]
    return streams, specs, None, str(d)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mmctl replay", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--data", default="generated", help="real | generated | PATH to a recorder directory")
    ap.add_argument("--coins", default="BTC,ETH")
    ap.add_argument("--split", type=float, default=0.6, help="fraction of the time span used for warm-up only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policies", default="state_machine,glft,touch")
    ap.add_argument("--fee-tiers", default="base,rebate3")
    ap.add_argument("--out", default="var/replay")
    ap.add_argument("--duration-s", type=float, default=900.0, help="generated data: length")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="execution.key=value")
    ap.add_argument("--decisions-diff", action="store_true")
    ap.add_argument("--risk", choices=["authority", "off"], default="authority",
                    help="risk's ControlState (authority) or a constant full-size one (off: the policy alone)")
    ap.add_argument("--md-latency", default=ReplayConfig().md_latency)
    ap.add_argument("--order-latency", default=ReplayConfig().order_latency)
    ap.add_argument("--cancel-latency", default=ReplayConfig().cancel_latency)
    ap.add_argument("--response-latency", default=ReplayConfig().response_latency)
    a = ap.parse_args(argv)
    if not 0.0 <= a.split < 1.0:
        ap.error("--split must be in [0, 1)")
    coins = [c.strip().upper() for c in a.coins.split(",") if c.strip()]
    t_wall = time.perf_counter()
    try:
        events, specs, labels, source = load(a.data, coins, a.seed, a.duration_s)
    except (OSError, ValueError) as exc:
        print(f"mmctl replay: {exc}", file=sys.stderr)
        return 2
    if not events:
        print("mmctl replay: no events", file=sys.stderr)
        return 2
    t0, t1 = events[0].ts_ns, events[-1].ts_ns  # type: ignore[attr-defined]
    split_ns = t0 + int((t1 - t0) * a.split)
    rcfg = ReplayConfig(seed=a.seed, risk=a.risk, md_latency=_latency_spec(a.md_latency), order_latency=_latency_spec(a.order_latency),
                        cancel_latency=_latency_spec(a.cancel_latency), response_latency=_latency_spec(a.response_latency))
    meta = {"data": source, "coins": ",".join(coins), "events": len(events),
            "split": f"warm-up on the first {a.split:.0%} of the span ({(split_ns - t0) / 1e9:.0f} s), "
                     f"trade and evaluate on the rest ({(t1 - split_ns) / 1e9:.0f} s); by time, never shuffled; "
                     "no model fitted (default parameters)",
            "risk": a.risk,
            "labels": "generator ground truth" if labels is not None else "none (real data: cascade/toxicity/lead rows n/a)"}
    try:
        doc = run_suite(events, specs, policies=[p.strip() for p in a.policies.split(",") if p.strip()],
                        fee_tiers=[t.strip() for t in a.fee_tiers.split(",") if t.strip()], rcfg=rcfg,
                        base_exec=ExecutionConfig(), sets=a.sets, trade_from_ns=split_ns, labels=labels,
                        decisions_diff=a.decisions_diff, meta=meta)
    except ValueError as exc:
        print(f"mmctl replay: {exc}", file=sys.stderr)
        return 2
    doc["meta"]["wall_s"] = round(time.perf_counter() - t_wall, 2)
    print(f"replay of {source}: {len(events)} events, {meta['split']}")
    for t, r in doc["meta"]["fee_tiers"].items():
        print(f"fee tier {t}: maker {r['maker_bps']:.2f} bps, taker {r['taker_bps']:.2f} bps")
    print(text_table(comparison_rows(doc)))
    dd = doc.get("decision_diff")
    if dd is not None:
        print(f"decision replay ({dd['policy']}, {dd['overrides'] or 'no change'}): {dd['changed']} of {dd['matched']} "
              f"matched cycles changed ({dd['changed_mode']} mode), {dd['only_in_base']} / {dd['only_in_new']} cycles in "
              f"one run only; transitions {dd['mode_transitions']}; first divergence at "
              f"{dd['first_divergence']['ts_ns'] if dd['first_divergence'] else 'none'}")
    pj, ph = write_report(doc, a.out)
    print(f"wrote {pj} and {ph}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
