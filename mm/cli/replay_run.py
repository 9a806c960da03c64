"""``mmctl replay --run RUN``: replay a recorded run's feature, alpha, risk and execution inputs, check every output.

Reads ``<state_dir>/runs/RUN`` (RUN: a run id, ``latest``, or a run directory). The chain,
one stage after the other, in this process: the feature journal into a fresh feature stage,
whose snapshots must equal those execution and alpha recorded consuming; the alpha journal
into a fresh alpha stage, whose signals must equal those execution consumed; the risk
journal into a fresh risk authority, whose ControlStates must equal those execution
consumed (and their model weights those alpha applied); then builds the
execution engine as the run did (its own config text, the venue's symbol specs, the same
model files, checked against the recorded SHA-256, the recorded seeds), feeds it every
recorded input in order (:mod:`mm.replay.parity`) and compares each ``CycleDecisionRecord``
with the one the run published. Prints the counts, the PnL attribution of the run and of
the replay (:mod:`mm.replay.pnl`, both), and the variants' comparison with 95% confidence
intervals when the run had ``[[variants]]``.

``--set KEY=VALUE`` (repeatable; dotted ExecutionConfig keys, values as TOML) replays with a
parameter changed (execution only); ``--diff`` prints the first divergent snapshot, signal,
ControlState and decision record, both sides, field by field.
``--out FILE`` writes the whole report as JSON. Exit status: 0 identical, 1 divergent, 2 an
error (no such run, a model file changed since the run, a bad ``--set``).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from mm.cli.variants import variants_rows, variants_text
from mm.config import ConfigError, load_config
from mm.recording.run import resolve_run
from mm.replay.parity import (
    Attribution,
    Divergence,
    StageResult,
    StreamCheck,
    attribution,
    count_divergent,
    first_divergence,
    load_run,
    replay_run,
    replay_stages,
    run_config,
)


def parse_sets(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value.strip()  # a bare word: a string
    return out


def model_reader(run_dir: str, manifest: dict[str, Any], models_dir: str) -> Any:
    """Reads the run's model files, refusing one whose bytes differ from the run's."""
    hashes: dict[str, str] = manifest.get("models", {})

    def read(coin: str, name: str) -> bytes | None:
        rel = f"{coin}/{name}.json"
        path = os.path.join(models_dir, coin, f"{name}.json")
        want = hashes.get(rel)
        if want is None:
            if os.path.exists(path):
                raise ValueError(f"model file {path} appeared after run {run_dir} (it used the baseline)")
            return None
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"model file {path} of the run is unreadable now ({exc})") from None
        if hashlib.sha256(data).hexdigest() != want:
            raise ValueError(f"model file {path} changed since the run (SHA-256 differs)")
        return data

    return read


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.10g}"
    return str(v)


def divergence_text(d: Divergence, limit: int = 60) -> str:
    lines = [f"first divergent decision: record #{d.index}"]
    for side, r in (("run", d.live), ("replay", d.replay)):
        lines.append(f"  {side:>6}: " + ("<none: the other side has more records>" if r is None else
                     f"cycle {r.cycle} {r.symbol} ts_ns {r.ts_ns} mode {r.mode_name} ({r.mode_reason}) "
                     f"placed {len(r.orders_placed)} modified {len(r.orders_modified)} "
                     f"cancelled {len(r.orders_cancelled)}"))
    if d.fields:
        w = max(len(k) for k, _, _ in d.fields[:limit])
        lines.append(f"  {'field':<{w}}  {'run':>24}  {'replay':>24}")
        for k, a, b in d.fields[:limit]:
            lines.append(f"  {k:<{w}}  {_fmt(a):>24}  {_fmt(b):>24}")
        if len(d.fields) > limit:
            lines.append(f"  ... {len(d.fields) - limit} more differing fields")
    return "\n".join(lines)


def _message_head(m: Any) -> str:
    """A message's type and identifying fields (a snapshot's symbol, a ControlState's levels)."""
    keys = ("symbol_id", "ts_ns", "seq", "safety_level", "exposure_level")
    return " ".join([type(m).__name__, *(f"{k} {getattr(m, k)}" for k in keys if hasattr(m, k))])


def stream_divergence_text(c: StreamCheck, limit: int = 60) -> str:
    d = c.first
    assert d is not None
    lines = [f"first divergent {c.producer} output consumed by {c.consumer}: message #{d.index} of {c.consumer}'s"]
    for side, m in ((f"run ({c.consumer} got)", d.consumed), (f"replay ({c.producer})", d.produced)):
        lines.append(f"  {side:>22}: " + ("<none: the replay published no more>" if m is None else
                     _message_head(m)))
    if d.fields:
        w = max(len(k) for k, _, _ in d.fields[:limit])
        lines.append(f"  {'field':<{w}}  {'run':>24}  {'replay':>24}")
        for k, a, b in d.fields[:limit]:
            lines.append(f"  {k:<{w}}  {_fmt(a):>24}  {_fmt(b):>24}")
        if len(d.fields) > limit:
            lines.append(f"  ... {len(d.fields) - limit} more differing fields")
    return "\n".join(lines)


def stage_text(st: StageResult) -> str:
    lines = [f"stage {st.stage}: {st.inputs} inputs ({st.lost_inputs} lost), {st.outputs} outputs replayed"]
    for c in st.checks:
        lines.append(f"  vs {c.consumer}'s: {c.consumed} consumed, {c.divergent} divergent"
                     f" ({c.skipped_head} published before it attached, {c.unconsumed_tail} after it stopped)")
    return "\n".join(lines)


def stage_report(st: StageResult) -> dict[str, Any]:
    return {"stage": st.stage, "inputs": st.inputs, "lost_inputs": st.lost_inputs, "outputs": st.outputs,
            "divergent": st.divergent,
            "checks": [{"consumer": c.consumer, "consumed": c.consumed, "divergent": c.divergent,
                        "skipped_head": c.skipped_head, "unconsumed_tail": c.unconsumed_tail,
                        "first_divergence": None if c.first is None else {
                            "index": c.first.index, "fields": [[k, a, b] for k, a, b in c.first.fields],
                            "run": msgspec.to_builtins(c.first.consumed),
                            "replay": msgspec.to_builtins(c.first.produced)}} for c in st.checks]}


def attribution_text(live: Attribution, rep: Attribution) -> str:
    rows = [("spread capture", "spread_capture_usd"), ("adverse selection", "adverse_selection_usd"),
            ("fees", "fees_usd"), ("inventory", "inventory_usd"), ("total", "total_usd")]
    lines = [f"PnL attribution (USD)     {'run':>14} {'replay':>14}",
             f"  {'fills':<22} {live.n_fills:>14d} {rep.n_fills:>14d}"]
    for label, key in rows:
        lines.append(f"  {label:<22} {getattr(live, key):>14.6f} {getattr(rep, key):>14.6f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="mmctl replay --run", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--run", required=True, help="run id, 'latest', or a run directory")
    ap.add_argument("--config", default="configs/paper.toml", help="config whose run.state_dir holds runs/")
    ap.add_argument("--state-dir", help="state directory holding runs/ (overrides --config)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="replay with an execution parameter changed (dotted key, TOML value)")
    ap.add_argument("--diff", action="store_true", help="print the first divergent record side by side")
    ap.add_argument("--out", help="write the report as JSON to this file")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)
    try:
        state_dir = args.state_dir or load_config(args.config).run.state_dir
        run_dir = resolve_run(state_dir, args.run)
        run = load_run(run_dir)
        cfg = run_config(run)
        overrides = parse_sets(args.set)
        read = model_reader(str(run_dir), run.manifest, cfg.models.dir)
        stages = replay_stages(run, read)
        res = replay_run(run, overrides, read)
    except (ConfigError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"mmctl replay --run: {exc}", file=sys.stderr)
        return 2
    symbols = [str(s) for s in run.manifest["symbols"]]
    n_div = count_divergent(run.records, res.records)
    div = first_divergence(run.records, res.records)
    live_pnl = attribution(run.events, run.inputs, symbols)
    rep_pnl = attribution(res.events, run.inputs, symbols)
    pnl_same = msgspec.json.encode(live_pnl) == msgspec.json.encode(rep_pnl)
    vrows = variants_rows(res.variants)
    report = {
        "run_id": run.manifest.get("run_id"), "run_dir": str(run_dir), "overrides": overrides,
        "inputs": len(run.inputs), "lost_inputs": run.lost_inputs, "records_run": len(run.records),
        "records_replay": len(res.records), "divergent": n_div,
        "first_divergence": None if div is None else {
            "index": div.index, "fields": [[k, a, b] for k, a, b in div.fields],
            "run": msgspec.to_builtins(div.live) if div.live else None,
            "replay": msgspec.to_builtins(div.replay) if div.replay else None},
        "pnl_run": msgspec.to_builtins(live_pnl), "pnl_replay": msgspec.to_builtins(rep_pnl),
        "pnl_identical": pnl_same, "variants": vrows,
        "stages": [*(stage_report(st) for st in stages),
                   {"stage": "execution", "inputs": len(run.inputs), "lost_inputs": run.lost_inputs,
                    "outputs": len(res.records), "divergent": n_div}],
        "divergent_snapshots": sum(st.divergent for st in stages if st.stage == "feature"),
        "divergent_signals": sum(st.divergent for st in stages if st.stage == "alpha"),
        "divergent_control_states": sum(st.divergent for st in stages if st.stage == "risk"),
        "stages_missing": [p for p, j in (("feature", run.feature), ("alpha", run.alpha), ("risk", run.risk))
                           if j is None],
    }
    if args.out:
        Path(args.out).write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    if args.json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    else:
        print(f"run {report['run_id']} ({run_dir})" + (f", execution replayed with {overrides}" if overrides else ""))
        for st in stages:
            print(stage_text(st))
            for c in st.checks:
                if c.first is not None and args.diff:
                    print(stream_divergence_text(c))
                elif c.first is not None:
                    print(f"  first divergence vs {c.consumer}'s at message #{c.first.index} (--diff shows both sides)")
        if report["stages_missing"]:
            print(f"no journal of {', '.join(report['stages_missing'])} in this run: those stages not replayed")
        print(f"stage execution: {len(run.inputs)} inputs ({run.lost_inputs} lost), "
              f"{len(run.records)} decisions recorded, {len(res.records)} replayed")
        print(f"divergent snapshots: {report['divergent_snapshots']}; divergent signals: "
              f"{report['divergent_signals']}; divergent control states: {report['divergent_control_states']}")
        print(f"divergent decisions: {n_div}")
        if div is not None and args.diff:
            print(divergence_text(div))
        elif div is not None:
            print(f"first divergence at record #{div.index} (--diff shows both sides)")
        print(attribution_text(live_pnl, rep_pnl))
        print(f"PnL attribution identical: {'yes' if pnl_same else 'no'}")
        if vrows:
            print("variants (replayed):")
            print(variants_text(vrows))
    up_div = sum(st.divergent for st in stages)
    return 0 if n_div == 0 and pnl_same and up_div == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
