"""``mmctl runs``: the recorded runs under ``<state_dir>/runs`` and their files.

Each run directory holds execution's manifest (``execution.json``: config and model file
hashes, seeds, symbol specs) and journal (``execution-*.mmrec``), the feature and alpha
processes' manifests and journals (``feature.json``, ``feature-*.mmrec``, ``alpha.json``,
``alpha-*.mmrec``: what ``mmctl replay --run`` replays up the chain), risk's (``risk.json``:
its config text and SHA-256; ``risk-*.mmrec``: every call into its authority), and, when the run had
variants, ``variants.json`` and ``activations.jsonl`` (mm.recording.run). ``--run RUN``
lists one run's files with sizes and its manifest's hashes and seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from mm.config import ConfigError, load_config
from mm.recording.run import list_runs, read_manifest, resolve_run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mmctl runs", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--config", default="configs/paper.toml", help="config whose run.state_dir holds runs/")
    ap.add_argument("--state-dir", help="state directory holding runs/ (overrides --config)")
    ap.add_argument("--run", help="one run (id, 'latest' or a directory): its files and manifest")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        state_dir = args.state_dir or load_config(args.config).run.state_dir
        if args.run:
            d = resolve_run(state_dir, args.run)
            man = read_manifest(d, "execution") if (d / "execution.json").exists() else {}
            files = {p.name: p.stat().st_size for p in sorted(Path(d).iterdir()) if p.is_file()}
            info: dict[str, Any] = {"run_dir": str(d), "files": files,
                    **{k: man.get(k) for k in ("run_id", "started_unix_ns", "config_path", "config_sha256",
                                               "models", "seeds", "symbols", "variants")}}
            info["journals"] = {p: {"models": read_manifest(d, p).get("models", {}),
                                    "config_sha256": read_manifest(d, p).get("config_sha256")}
                                for p in ("feature", "alpha", "risk") if (d / f"{p}.json").exists()}
            if args.json:
                sys.stdout.write(msgspec.json.encode(info).decode() + "\n")
                return 0
            print(f"run {info['run_id']} in {d}")
            print(f"  config {info['config_path']} sha256 {info['config_sha256']}")
            print(f"  seeds {info['seeds']}; symbols {info['symbols']}; variants {info['variants'] or '-'}")
            for name, h in (info["models"] or {}).items():
                print(f"  model {name} sha256 {h}")
            for proc in ("feature", "alpha", "risk"):
                if proc not in info["journals"]:
                    print(f"  no {proc} journal (a run recorded before it had one: that stage is not replayed)")
                elif proc == "risk":
                    sha = info["journals"][proc]["config_sha256"]
                    same = "the same as execution's" if sha == info["config_sha256"] else f"sha256 {sha} (differs!)"
                    print(f"  risk journal; config {same}")
                else:
                    loaded = ", ".join(info["journals"][proc]["models"]) or "none (priors)"
                    print(f"  {proc} journal; models loaded: {loaded}")
            for name, size in files.items():
                print(f"  {size:>12d}  {name}")
            return 0
        runs = list_runs(state_dir)
    except (ConfigError, FileNotFoundError, ValueError, OSError) as exc:
        print(f"mmctl runs: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(msgspec.json.encode(runs).decode() + "\n")
        return 0
    if not runs:
        print(f"no run recorded under {state_dir}/runs")
        return 0
    print(f"{'run id':<20} {'started (UTC)':<20} {'MiB':>8}  files")
    for r in runs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.started_unix_ns / 1e9)) if r.started_unix_ns else "?"
        print(f"{r.run_id:<20} {started:<20} {r.bytes_total / 2**20:>8.2f}  {', '.join(r.files)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
