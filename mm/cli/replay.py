"""``mmctl replay``: the deterministic replay of issues 8 and 17 with its JSON + HTML report.

    mmctl replay --data real[,real:2025-09-03,generated,PATH] [--coins BTC,ETH,WLFI] [--split 0.6]
                 [--seed N] [--latency-seed N] [--latency-draws N] [--fit warmup|none] [--tuned-on real,generated:0]
                 [--policies state_machine,glft,touch] [--fee-tiers base,rebate3] [--out DIR]
                 [--duration-s S] [--set execution.key=value ...] [--decisions-diff]
                 [--md-latency SPEC] [--order-latency SPEC] [--cancel-latency SPEC]

Data sets, comma-separated, each replayed and reported on its own: ``real`` is the
recording ``hyperliquid-2025-09-04`` (under ``mm.importers.data_dir()``), ``real:DAY`` the
recording ``hyperliquid-DAY``, ``PATH`` any directory of the recorder's CSVs, ``generated``
the market generator (seeded by ``--seed``) with its cascade/regime labels, ``--duration-s``
long (default 900 s). Evaluation protocol (issue 17 item 3): time is split at ``--split`` of
each data set's span, never shuffled; with ``--fit warmup`` (default) the toxicity, fill
survival and queue-value models are fitted per coin on the earlier part only
(:mod:`mm.replay.fit`) and the replay trades and is evaluated on the later part; ``--fit
none`` runs the heuristics. The report names the data, the split, what was fitted and, per
data set, whether the parameters were tuned on it (``--tuned-on``, the data set names the
tuning used, ``generated:N`` for the generator at seed N, plain ``generated`` for every seed;
the default names the 2025-09-04 recording and generator seed 0, where the toxic-direction
and lead-gate thresholds were chosen; any other is the untuned overfitting guard). ``--latency-seed`` (default: ``--seed``) seeds the replay's
latency draws alone, keeping the data: running one configuration under several latency seeds
shows how far a figure moves by the luck of the draws, the band a change must clear before it
counts as skill. ``--latency-draws N`` does that in one run: each data set is fitted once and
replayed under N latency seeds; the report keeps the first draw's runs in full and adds, per
run and figure, the mean, min, max and the number of draws meeting the target
(:mod:`mm.replay.draws`). Latency specs: see
:mod:`mm.replay.latency` (an ``empirical:file=PATH`` spec reads round trips, one per line).
Prints one comparison table per data set; writes ``report.json`` and ``report.html`` to
``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from mm.cli.progress import Progress, add_quiet_flag
from mm.config import ConfigError, load_config
from mm.execution.config import ExecutionConfig
from mm.importers import data_dir
from mm.replay.draws import band_rows, draw_bands
from mm.replay.engine import CoinSpec, ReplayConfig
from mm.replay.fit import fit_replay_models
from mm.replay.report import comparison_rows, text_table, uptime_miss_lines, write_report
from mm.replay.suite import run_suite
from mm.venues.sim.driver import load_hyperliquid_csv
from mm.venues.sim.generator import GroundTruth, MarketGenerator
from mm.venues.sim.generator_config import DEFAULT_COINS

REAL_DAY = "hyperliquid-2025-09-04"
# where the final parameters were chosen: the 2025-09-04 recording's later part (real-data
# thresholds) and generator seed 0 (the toxic-direction and lead-gate thresholds, issue 17)
TUNED_ON = "real,generated:0"
SZ_DECIMALS = {c: s.sz_decimals for c, s in DEFAULT_COINS.items()}


def _latency_spec(spec: str) -> str:
    kind, _, rest = spec.partition(":")
    if kind == "empirical" and rest.startswith("file="):
        body, _, frac = rest[5:].partition("@")
        vals = [ln.strip() for ln in Path(body).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        return "empirical:" + ",".join(vals) + (f"@{frac}" if frac else "")
    return spec


def recording_dir(data: str) -> Path:
    """The directory of a real data set name (``real``, ``real:DAY``) or a path."""
    if data == "real":
        return data_dir() / REAL_DAY
    if data.startswith("real:"):
        return data_dir() / f"hyperliquid-{data[5:]}"
    return Path(data)


def load(data: str, coins: list[str], seed: int, duration_s: float) -> tuple[list[object], list[CoinSpec], GroundTruth | None, str]:
    if data == "generated":
        gen = MarketGenerator(coins=coins, seed=seed)
        evs, labels = gen.generate(1_700_000_000_000_000_000, duration_s)
        specs = [CoinSpec(c.name, c.sz_decimals) for c in gen.coins]
        return list(evs), specs, labels, f"generator seed {seed}, {duration_s:g} s"
    d = recording_dir(data)
    if not d.is_dir():
        raise FileNotFoundError(f"no recording at {d}")
    streams: list[object] = []
    specs = []
    for i, c in enumerate(coins):
        if c not in SZ_DECIMALS:
            raise ValueError(f"coin {c}: sz decimals unknown (known: {sorted(SZ_DECIMALS)})")
        coin_evs = load_hyperliquid_csv(d, c, i)
        if not coin_evs:
            raise ValueError(f"{d}: no events for {c}")
        streams.extend(coin_evs)
        specs.append(CoinSpec(c, SZ_DECIMALS[c]))
    streams.sort(key=lambda e: e.ts_ns)  # type: ignore[attr-defined]
    return streams, specs, None, str(d)


def tuned_here(name: str, seed: int, tuned_on: set[str]) -> bool:
    """Whether data set ``name`` (generated: at ``seed``) is among those the parameters were tuned on."""
    if name == "generated":
        return "generated" in tuned_on or f"generated:{seed}" in tuned_on
    return name in tuned_on


def run_dataset(name: str, a: argparse.Namespace, coins: list[str], rcfg: ReplayConfig,
                tuned_on: set[str]) -> dict[str, Any]:
    """Load, split, fit on the warm-up (unless ``--fit none``), replay every policy at every tier."""
    events, specs, labels, source = load(name, coins, a.seed, a.duration_s)
    if not events:
        raise ValueError(f"{name}: no events")
    t0, t1 = events[0].ts_ns, events[-1].ts_ns  # type: ignore[attr-defined]
    split_ns = t0 + int((t1 - t0) * a.split)
    models = None
    fit_note = "no model fitted (heuristic defaults)"
    if a.fit == "warmup":
        models = fit_replay_models(events, [s.name for s in specs], split_ns, labels,
                                   trained_on=f"{source}, first {a.split:.0%}")
        fitted = {c: f.get("fitted", []) for c, f in models.figures.items()}
        fit_note = ("models fitted on the warm-up part only, per coin: "
                    + "; ".join(f"{c}: {', '.join(v) or 'none (heuristics)'}" for c, v in fitted.items()))
    meta = {"data": source, "name": name, "coins": ",".join(s.name for s in specs), "events": len(events),
            "split": f"warm-up/fit on the first {a.split:.0%} of the span ({(split_ns - t0) / 1e9:.0f} s), "
                     f"trade and evaluate on the rest ({(t1 - split_ns) / 1e9:.0f} s); by time, never shuffled",
            "fit": fit_note,
            "tuning": ("parameters tuned on this data set (its later part was the research loop's target)"
                       if tuned_here(name, a.seed, tuned_on) else "not used for tuning: final parameters run untuned (overfitting guard)"),
            "risk": a.risk,
            "labels": "generator ground truth" if labels is not None else "none (real data: cascade/toxicity/lead rows n/a)"}
    seeds = [rcfg.seed + k for k in range(getattr(a, "latency_draws", 1))]
    docs = [run_suite(events, specs, policies=[p.strip() for p in a.policies.split(",") if p.strip()],
                      fee_tiers=[t.strip() for t in a.fee_tiers.split(",") if t.strip()],
                      rcfg=msgspec.structs.replace(rcfg, seed=s), base_exec=getattr(a, "base_exec", ExecutionConfig()),
                      sets=a.sets, trade_from_ns=split_ns, labels=labels, decisions_diff=a.decisions_diff and k == 0,
                      meta=meta, models=models)
            for k, s in enumerate(seeds)]
    doc = docs[0]  # the first draw's runs in full; the others as bands
    if len(docs) > 1:
        doc["draws"] = draw_bands(docs, seeds)
    return doc


def print_dataset(doc: dict[str, Any]) -> None:
    m = doc["meta"]
    print(f"== {m.get('name', '')}: replay of {m['data']} ({m['coins']}): {m['events']} events, {m['split']}")
    print(f"   {m.get('fit', '')}; {m.get('tuning', '')}; risk {m.get('risk', '')}")
    for t, r in m["fee_tiers"].items():
        print(f"   fee tier {t}: maker {r['maker_bps']:.2f} bps, taker {r['taker_bps']:.2f} bps")
    print(text_table(comparison_rows(doc)))
    misses = uptime_miss_lines(doc)
    if misses:
        print("   quoting uptime: where the time with net queue value > 0 on a side went unquoted:")
        for line in misses:
            print(f"   {line}")
    if "draws" in doc:
        print(f"   latency seeds {doc['draws']['latency_seeds']} (the table above is the first draw's):")
        print(text_table(band_rows(doc["draws"])))
    dd = doc.get("decision_diff")
    if dd is not None:
        print(f"decision replay ({dd['policy']}, {dd['overrides'] or 'no change'}): {dd['changed']} of {dd['matched']} "
              f"matched cycles changed ({dd['changed_mode']} mode), {dd['only_in_base']} / {dd['only_in_new']} cycles in "
              f"one run only; transitions {dd['mode_transitions']}; first divergence at "
              f"{dd['first_divergence']['ts_ns'] if dd['first_divergence'] else 'none'}")


def main(argv: list[str] | None = None) -> int:
    if "--run" in (sys.argv[1:] if argv is None else argv):  # a recorded run's parity replay
        from mm.cli.replay_run import main as replay_run_main
        return replay_run_main(argv)
    ap = argparse.ArgumentParser(prog="mmctl replay", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--data", default="generated",
                    help="comma list of: real (2025-09-04) | real:DAY | generated | PATH to a recorder directory")
    ap.add_argument("--coins", default="BTC,ETH")
    ap.add_argument("--split", type=float, default=0.6, help="fraction of the time span used for warm-up and fitting")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latency-seed", type=int, default=None,
                    help="seed of the replay's latency draws alone (default: --seed); the data stay those of --seed")
    ap.add_argument("--latency-draws", type=int, default=1,
                    help="replay each run under this many latency seeds (the latency seed, +1, ...) and report "
                         "every figure's mean, min, max and how many draws met its target")
    ap.add_argument("--fit", choices=["warmup", "none"], default="warmup",
                    help="fit the models on the warm-up part (default) or run the heuristics")
    ap.add_argument("--tuned-on", default=TUNED_ON,
                    help="comma list of the data sets the parameters were tuned on (generated:N = generator seed N)")
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
    ap.add_argument("--config", default=None, help="replay this config's [execution] section (default: the built-in "
                    "defaults); --set applies on top")
    ap.add_argument("--json", action="store_true", help="print report.json on stdout (the text goes to stderr)")
    add_quiet_flag(ap)
    a = ap.parse_args(argv)
    try:
        a.base_exec = load_config(a.config).execution if a.config else ExecutionConfig()
    except ConfigError as exc:
        print(f"mmctl replay: config error: {exc}", file=sys.stderr)
        return 2
    if a.json:
        with contextlib.redirect_stdout(sys.stderr):
            rc, out = _main(a, argv)
        if out is not None:
            print(json.dumps(out, indent=1, default=str))
        return rc
    return _main(a, argv)[0]


def _main(a: argparse.Namespace, argv: list[str] | None) -> tuple[int, dict[str, Any] | None]:
    if not 0.0 < a.split < 1.0:
        print("mmctl replay: --split must be in (0, 1)", file=sys.stderr)
        return 2, None
    if a.latency_draws < 1:
        print("mmctl replay: --latency-draws must be >= 1", file=sys.stderr)
        return 2, None
    coins = [c.strip().upper() for c in a.coins.split(",") if c.strip()]
    names = [d.strip() for d in a.data.split(",") if d.strip()]
    tuned_on = {d.strip() for d in a.tuned_on.split(",") if d.strip()}
    t_wall = time.perf_counter()
    try:
        rcfg = ReplayConfig(seed=a.seed if a.latency_seed is None else a.latency_seed, risk=a.risk, md_latency=_latency_spec(a.md_latency),
                            order_latency=_latency_spec(a.order_latency), cancel_latency=_latency_spec(a.cancel_latency),
                            response_latency=_latency_spec(a.response_latency))
        prog = Progress("replay", total=len(names), quiet=a.quiet)
        docs = []
        for n in names:
            prog.update(note=f"{n}: load, fit, {a.policies} at {a.fee_tiers}", force=True)
            docs.append(run_dataset(n, a, coins, rcfg, tuned_on))
            prog.advance(note=f"{n} done")
        prog.close()
    except (OSError, ValueError) as exc:
        hint = (f"\nThe shared recording is looked up in {data_dir()} ($MM_DATA_DIR overrides it); --data PATH "
                "names a recorder directory, --data generated needs none.") if isinstance(exc, OSError) else ""
        print(f"mmctl replay: {exc}{hint}", file=sys.stderr)
        return 2, None
    wall = round(time.perf_counter() - t_wall, 2)
    for d in docs:
        print_dataset(d)
    if len(docs) == 1:
        out: dict[str, Any] = docs[0]
        out["meta"]["wall_s"] = wall
    else:
        out = {"meta": {"data": ", ".join(names), "wall_s": wall, "seed": a.seed, "latency_seed": rcfg.seed,
                        "command": "mmctl replay " + " ".join(argv if argv is not None else sys.argv[1:])},
               "datasets": docs}
    pj, ph = write_report(out, a.out)
    print(f"wrote {pj} and {ph} ({wall:.0f} s)")
    return 0, out


if __name__ == "__main__":
    raise SystemExit(main())
