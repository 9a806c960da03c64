"""``make chaos``: run the scenarios, print the table, write ``var/chaos/chaos.json``.

    python -m chaos.run [--quick] [--only NAME[,NAME]] [--list] [--out PATH] [--seed N]

Exit status 0 when every row holds its bound, 1 otherwise (a scenario that raises is a
failed row naming the exception).
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

from chaos.table import Ctx, Row, Scenario, format_table, write_json

# Modules that export ``SCENARIOS: list[Scenario]``; the table runs them in this order.
MODULES = ("chaos.process_faults", "chaos.feed_faults", "chaos.venue_faults", "chaos.hl_failures", "chaos.soak")


def all_scenarios() -> list[Scenario]:
    out: list[Scenario] = []
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        out.extend(mod.SCENARIOS)
    return out


def run_one(sc: Scenario, ctx: Ctx) -> list[Row]:
    try:
        rows = sc.run(ctx)
    except Exception as exc:  # a crashed scenario is a failed row, and the table goes on
        traceback.print_exc(file=sys.stderr)
        return [Row(sc.name, "scenario ran", 0.0, "", "completes", False, f"{type(exc).__name__}: {exc}")]
    if not rows:
        return [Row(sc.name, "scenario ran", 0.0, "", "reports a figure", False, "no rows")]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="chaos", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="CI sizes (short soak, fewer repetitions)")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--out", default="var/chaos/chaos.json")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    scs = all_scenarios()
    if a.list:
        for s in scs:
            print(f"{s.name:28s} {'fast' if s.fast else 'slow'}  {s.doc}")
        return 0
    if a.only:
        want = {n.strip() for n in a.only.split(",") if n.strip()}
        unknown = want - {s.name for s in scs}
        if unknown:
            print(f"chaos: unknown scenario(s) {sorted(unknown)}; see --list", file=sys.stderr)
            return 2
        scs = [s for s in scs if s.name in want]
    rows: list[Row] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mm-chaos-") as tmp:
        for i, sc in enumerate(scs, 1):
            d = Path(tmp) / sc.name
            d.mkdir()
            print(f"[{i}/{len(scs)}] {sc.name} ...", file=sys.stderr, flush=True)
            t = time.monotonic()
            got = run_one(sc, Ctx(quick=a.quick, tmp=d, seed=a.seed))
            rows.extend(got)
            print(f"[{i}/{len(scs)}] {sc.name}: {'PASS' if all(r.passed for r in got) else 'FAIL'} "
                  f"({time.monotonic() - t:.1f} s)", file=sys.stderr, flush=True)
    print(format_table(rows))
    meta = {"quick": a.quick, "seed": a.seed, "wall_s": round(time.monotonic() - t0, 1), "machine": platform.platform(),
            "python": platform.python_version()}
    write_json(rows, Path(a.out), meta)
    print(f"{sum(r.passed for r in rows)}/{len(rows)} rows within bound; wrote {a.out}")
    return 0 if rows and all(r.passed for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
