"""Importers: real recorded market data in, normalized :mod:`mm.schema` events out.

- :mod:`mm.importers.hl_csv`: the Hyperliquid collector CSVs (orderbooks/prices/trades).
- :mod:`mm.importers.raw_frames`: raw websocket frames, ``<local_ns> <json>`` per gzip line,
  from Hyperliquid and from Binance USD-M (with the depth snapshot + diff sync).

Both run the frames or rows through the same parsers the live feeds use, so the imported
stream obeys the same rules (validation, dedup, backfill, sequence). Edge modules: they
read files. :func:`data_dir` finds the shared real data: ``$MM_DATA_DIR`` if set, else
``../shared/data/real`` relative to the repository root.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "MM_DATA_DIR"


def data_dir() -> Path:
    """The real-data directory (may not exist; callers check)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data" / "real").resolve()


__all__ = ["DATA_DIR_ENV", "REPO_ROOT", "data_dir"]
