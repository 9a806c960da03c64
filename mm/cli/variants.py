"""``mmctl variants``: the parameter variants running in shadow, and switching to one.

Shows the ``variants.json`` that execution rewrites every 2 s in its run directory
(``<state_dir>/runs/<run_id>/``, the latest run unless ``--run``): per track (the active
parameters and each ``[[variants]]`` entry) the simulated fills, markout PnL, markout per
fill with its 95% confidence interval, the difference to the active track, the
adverse-selection rate and the uptime.

``--activate NAME --reason TEXT`` asks the running execution process to make variant NAME's
parameters the active ones: the request is left in the run directory, execution applies it
at its next variants period (a journaled engine call, so a replay switches at the same
point) and appends the outcome with the evidence at that moment (every track's figures) to
``activations.jsonl``; this command waits for that line and prints it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from mm.config import ConfigError, load_config
from mm.execution.variants import VariantStats, mean_ci
from mm.recording.run import resolve_run, write_json_atomic

ACTIVATE_REQUEST = "activate.request.json"  # procs/execution.py reads it


def variants_rows(stats: list[VariantStats]) -> list[dict[str, Any]]:
    """Per track: figures, and the markout difference to the active track with its 95% CI."""
    active = next((s for s in stats if s.active), None)
    out = []
    for s in stats:
        diff = ci = math.nan
        if active is not None and s is not active and s.markouts_bps and active.markouts_bps:
            m1, c1 = mean_ci(s.markouts_bps)
            m0, c0 = mean_ci(active.markouts_bps)
            diff = m1 - m0
            ci = math.sqrt(c1 ** 2 + c0 ** 2) if math.isfinite(c1) and math.isfinite(c0) else math.nan
        out.append({"name": s.name, "active": s.active, "overrides": s.overrides, "fills": s.fills,
                    "markout_pnl_usd": s.markout_pnl_usd, "markout_bps_mean": s.markout_bps_mean,
                    "markout_bps_ci95": s.markout_bps_ci95, "adverse_rate": s.adverse_rate, "uptime": s.uptime,
                    "mtm_pnl_usd": s.mtm_pnl_usd, "vs_active_bps": diff, "vs_active_ci95": ci})
    return out


def variants_text(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'variant':<16} {'fills':>6} {'markout $':>10} {'markout bps (95% CI)':>22} {'vs active bps':>20} "
             f"{'adverse':>8} {'uptime':>7}"]
    for r in rows:
        mo = f"{r['markout_bps_mean']:+.2f} ± {r['markout_bps_ci95']:.2f}" if math.isfinite(r["markout_bps_mean"]) else "-"
        vs = f"{r['vs_active_bps']:+.2f} ± {r['vs_active_ci95']:.2f}" if math.isfinite(r["vs_active_bps"]) else "-"
        adv = f"{r['adverse_rate']:.0%}" if math.isfinite(r["adverse_rate"]) else "-"
        up = f"{r['uptime']:.0%}" if math.isfinite(r["uptime"]) else "-"
        name = r["name"] + (" *" if r["active"] else "")
        lines.append(f"{name:<16} {r['fills']:>6d} {r['markout_pnl_usd']:>10.4f} {mo:>22} {vs:>20} {adv:>8} {up:>7}")
    lines.append("(* active; markouts are per simulated fill, CI: normal approximation, vs active: difference "
                 "of means)")
    return "\n".join(lines)


def read_variants(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "variants.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no variants file (the run has no [[variants]], or execution has not "
                                "written it yet)")
    out: dict[str, Any] = json.loads(path.read_text())
    return out


def activate(run_dir: Path, name: str, reason: str, timeout_s: float) -> dict[str, Any]:
    log = run_dir / "activations.jsonl"
    before = log.read_text().count("\n") if log.exists() else 0
    write_json_atomic(run_dir / ACTIVATE_REQUEST, {"name": name, "reason": reason, "user": getpass.getuser(),
                                                   "unix_ns": time.time_ns()})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists():
            lines = log.read_text().splitlines()
            if len(lines) > before:
                out: dict[str, Any] = json.loads(lines[-1])
                return out
        time.sleep(0.1)
    raise TimeoutError(f"execution did not answer the activation request within {timeout_s:.0f} s "
                       f"(is the group running? the request stays in {run_dir / ACTIVATE_REQUEST})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mmctl variants", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--config", default="configs/paper.toml", help="config whose run.state_dir holds runs/")
    ap.add_argument("--state-dir", help="state directory holding runs/ (overrides --config)")
    ap.add_argument("--run", default="latest", help="run id, 'latest' (default) or a run directory")
    ap.add_argument("--activate", metavar="NAME", help="make this variant's parameters the active ones")
    ap.add_argument("--reason", default="", help="why (required with --activate; recorded)")
    ap.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for execution's answer")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        state_dir = args.state_dir or load_config(args.config).run.state_dir
        run_dir = resolve_run(state_dir, args.run)
        if args.activate:
            if not args.reason.strip():
                print("mmctl variants: --activate needs --reason", file=sys.stderr)
                return 2
            line = activate(run_dir, args.activate, args.reason, args.timeout)
            if args.json:
                sys.stdout.write(json.dumps(line) + "\n")
            else:
                print(f"activation of {line['name']!r}: " + (f"done ({line['from']} -> {line['to']})" if line["ok"]
                                                             else f"refused: {line['error']}"))
            return 0 if line["ok"] else 1
        doc = read_variants(run_dir)
    except (ConfigError, FileNotFoundError, ValueError, OSError, TimeoutError) as exc:
        print(f"mmctl variants: {exc}", file=sys.stderr)
        return 2
    # JSON has no NaN: "not measured yet" was written as null
    raw = [{k: (math.nan if v is None else v) for k, v in row.items()} for row in doc["variants"]]
    stats = msgspec.convert(raw, list[VariantStats])
    rows = variants_rows(stats)
    if args.json:
        sys.stdout.write(json.dumps({"run_id": doc["run_id"], "active": doc["active"], "wall_ns": doc["wall_ns"],
                                     "variants": rows}) + "\n")
        return 0
    age_s = (time.time_ns() - int(doc["wall_ns"])) / 1e9
    print(f"run {doc['run_id']}: active {doc['active']!r}, figures {age_s:.1f} s old")
    print(variants_text(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
