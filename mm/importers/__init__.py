"""Importers: real recorded market data in, normalized :mod:`mm.schema` events out.

- :mod:`mm.importers.hl_csv`: the Hyperliquid collector CSVs (orderbooks/prices/trades).
- :mod:`mm.importers.raw_frames`: raw websocket frames, ``<local_ns> <json>`` per gzip line,
  from Hyperliquid and from Binance USD-M (with the depth snapshot + diff sync).

Both run the frames or rows through the same parsers the live feeds use, so the imported
stream obeys the same rules (validation, dedup, backfill, sequence). Edge modules: they
read files. :func:`data_dir` finds the shared real data: ``$MM_DATA_DIR`` if set, else
``../shared/data/real`` relative to the repository root. :func:`import_to_recording`
converts one dataset (a CSV day directory or a raw-frame file) into ``.mmrec`` files.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "MM_DATA_DIR"


def data_dir() -> Path:
    """The real-data directory (may not exist; callers check)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data" / "real").resolve()


DEFAULT_BINANCE_SYMBOLS = {"BTC": "BTCUSDT", "ETH": "ETHUSDT"}


def _first_frame(path: Path) -> dict[str, Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for line in f:
            body = line.partition(b" ")[2]
            try:
                msg = json.loads(body)
            except ValueError:
                continue
            if isinstance(msg, dict) and ("channel" in msg or "stream" in msg):
                return msg
    raise ValueError(f"{path}: no Hyperliquid or Binance frame found")


def import_to_recording(
    src: str | Path,
    out_dir: str | Path,
    symbol_ids: Mapping[str, int],
    binance_symbols: Mapping[str, str] = DEFAULT_BINANCE_SYMBOLS,
    prefix: str | None = None,
    keep_raw: bool = False,
) -> dict[str, Any]:
    """Import one dataset into a recording in ``out_dir``; returns the importer's summary.

    ``src`` is a Hyperliquid CSV day directory, or a raw-frame file (``<local_ns> <json>``
    lines) from Hyperliquid or Binance, told apart by the first frame. ``symbol_ids`` maps
    coins (``BTC``) to symbol ids; Binance symbols are found through ``binance_symbols``
    (coin -> ``BTCUSDT``). With ``keep_raw`` the raw frames are recorded too (raw files only).
    """
    from mm.importers.hl_csv import import_hl_csv
    from mm.importers.raw_frames import import_binance_raw, import_hl_raw, raw_records
    from mm.recording.writer import RecordingWriter
    from mm.schema import Venue

    src = Path(src)
    name = prefix or src.name.split(".")[0]
    records: list[Any]
    summary: dict[str, Any]
    if src.is_dir():
        imp = import_hl_csv(src, symbol_ids)
        records = list(imp.events())
        summary = {"kind": "hyperliquid_csv", "coins": imp.summary()}
    else:
        first = _first_frame(src)
        if "channel" in first:
            r = import_hl_raw(src, symbol_ids)
            venue = Venue.HYPERLIQUID
            summary = {"kind": "hyperliquid_raw", **r.summary()}
        else:
            bn_ids = {binance_symbols[c].upper(): i for c, i in symbol_ids.items() if c in binance_symbols}
            r = import_binance_raw(src, bn_ids)
            venue = Venue.BINANCE
            summary = {"kind": "binance_raw", **r.summary()}
        records = list(r.events)
        if keep_raw:
            records = sorted([*records, *raw_records(src, venue)], key=lambda rec: rec.ts_ns)
    with RecordingWriter(out_dir, prefix=name, source=str(src)) as w:
        for rec in records:
            w.write(rec, rec.ts_ns)
    summary["records"] = w.stats.records
    summary["files"] = [str(p) for p in w.paths]
    return summary


__all__ = ["DATA_DIR_ENV", "DEFAULT_BINANCE_SYMBOLS", "REPO_ROOT", "data_dir", "import_to_recording"]
