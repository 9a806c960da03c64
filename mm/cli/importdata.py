"""``mmctl import``: turn recorded real market data into a ``.mmrec`` recording.

    mmctl import [SRC] [--coins BTC,ETH | --config FILE] [--out DIR] [--json]

``SRC`` is ``real`` (the default: the shared Hyperliquid recording ``hyperliquid-2025-09-04``
under :func:`mm.importers.data_dir`, i.e. ``$MM_DATA_DIR`` or ``../shared/data/real`` next
to the repository), ``real:DAY`` (``hyperliquid-DAY`` there), a Hyperliquid collector CSV
directory, or a raw websocket frame file (Hyperliquid or Binance, ``<local_ns> <json>``
lines). The rows go through the live feed parsers (dedup, backfill, sequence checks); the
summary says what was read, emitted and dropped, per coin. Writes ``DIR/<name>-*.mmrec``
(default ``var/recordings/<name>``), the format ``mmctl record`` writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mm.config import ConfigError, load_config
from mm.importers import DATA_DIR_ENV, data_dir, import_to_recording

REAL_DAY = "hyperliquid-2025-09-04"


def source_path(src: str) -> Path:
    """The path a source name stands for (``real``, ``real:DAY`` or a path)."""
    if src == "real":
        return data_dir() / REAL_DAY
    if src.startswith("real:"):
        return data_dir() / f"hyperliquid-{src[5:]}"
    return Path(src)


def _fmt(summary: dict[str, Any], src: Path) -> str:
    lines = [f"imported {src} ({summary['kind']}): {summary['records']} records"]
    for coin, c in summary.get("coins", {}).items():
        emitted = ", ".join(f"{k} {v}" for k, v in c.get("emitted", {}).items())
        dropped = ", ".join(f"{k} {v}" for k, v in c.get("dropped", {}).items()) or "none"
        lines.append(f"  {coin}: {emitted}; dropped {dropped}")
    for key in ("emitted", "dropped"):
        if isinstance(summary.get(key), dict) and "coins" not in summary:
            lines.append(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in summary[key].items()))
    lines.append("wrote " + ", ".join(summary["files"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mmctl import", description="Import recorded real market data (the shared "
                                 "Hyperliquid CSVs or raw frames) into a .mmrec recording.",
                                 epilog=f"data directory: {data_dir()} (${DATA_DIR_ENV} overrides it). "
                                 "Exit codes: 0 ok, 2 no such data or bad arguments.")
    ap.add_argument("src", nargs="?", default="real", help="real (default), real:DAY, a CSV directory or a raw "
                    "frame file")
    ap.add_argument("--coins", default="BTC,ETH", help="coins to import, in symbol-id order (default BTC,ETH)")
    ap.add_argument("--config", default=None, help="take the coins (and their symbol ids) from this config's "
                    "run.symbols")
    ap.add_argument("--out", default="", help="output directory (default var/recordings/<name>)")
    ap.add_argument("--json", action="store_true", help="the import summary as JSON")
    a = ap.parse_args(argv)
    src = source_path(a.src)
    if not src.exists():
        print(f"mmctl import: no data at {src}.\nThe shared recording is looked up in {data_dir()}: set "
              f"{DATA_DIR_ENV}=/path/to/shared/data/real, or name a directory or frame file.", file=sys.stderr)
        return 2
    coins = [c.strip().upper() for c in a.coins.split(",") if c.strip()]
    if a.config:
        try:
            coins = list(load_config(a.config).run.symbols)
        except ConfigError as exc:
            print(f"mmctl import: config error: {exc}", file=sys.stderr)
            return 2
    if not coins:
        ap.error("--coins names no coin")
    name = src.name.split(".")[0]
    out = a.out or str(Path("var") / "recordings" / name)
    try:
        summary = import_to_recording(src, out, {c: i for i, c in enumerate(coins)})
    except (OSError, ValueError, KeyError) as exc:
        print(f"mmctl import: {src}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1) if a.json else _fmt(summary, src))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
