"""Datasets for ``mmctl train``: the real recordings and the generator's labelled streams.

What this module owns (an edge module: it reads files): turning a data source into per-coin
event lists with the coin's tick, the time span and the split point, and (for generated
data) the ground-truth labels.

- Real (``/work/shared/data/real/hyperliquid-2025-09-04`` by default, see its README):
  Hyperliquid collector CSVs through :func:`mm.importers.hl_csv.import_hl_csv` (the live
  parser's validation, dedup by trade id, backfill dropped). The importer emits the BBO
  stream between book snapshots; the feature engine and the queue tracker merge it into
  the book, as the data README requires. No Binance data overlaps these windows, so
  ``ref_mid_px`` is 0 and the lead-lag features are 0 here. Gaps are outages (handled by
  the replay). Tick per coin: the finest price step seen in the book (BTC 1, ETH 0.1).
- Generated: :class:`mm.venues.sim.generator.MarketGenerator` with the default config,
  Binance reference included, and its :class:`~mm.venues.sim.generator.GroundTruth`
  (regimes, cascades with their Hyperliquid windows).
- Real Binance frames (``binance-usdm-2024-08-08``) for the cross-asset lead measurement:
  reference mids of BTCUSDT and ETHUSDT on Binance's own clock (``remote_ts_ms``).

Splits are by time, never shuffled: the first ``split`` of each dataset's span trains,
the rest tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mm.importers import data_dir
from mm.importers.hl_csv import import_hl_csv
from mm.importers.raw_frames import import_binance_raw
from mm.schema import Bbo, BookSnapshot, MarketEvent, RefPrice, Venue
from mm.venues.sim.generator import GroundTruth, MarketGenerator
from mm.venues.sim.generator_config import GeneratorConfig

REAL_DAY: str = "hyperliquid-2025-09-04"
BINANCE_DAY: str = "binance-usdm-2024-08-08"


@dataclass
class CoinData:
    coin: str
    symbol_id: int
    tick_px: float
    events: list[MarketEvent]


@dataclass
class Dataset:
    name: str
    source: str
    coins: list[CoinData]
    start_ts_ns: int
    end_ts_ns: int
    truth: GroundTruth | None = None
    notes: list[str] = field(default_factory=list)

    def split_ts_ns(self, frac: float) -> int:
        if not 0.0 < frac < 1.0:
            raise ValueError(f"split must be in (0, 1), got {frac!r}")
        return self.start_ts_ns + int((self.end_ts_ns - self.start_ts_ns) * frac)


def infer_tick_px(events: list[MarketEvent]) -> float:
    """The finest price step between adjacent levels of the book snapshots, rounded to one
    significant figure (float noise), as a power of ten or a multiple of one."""
    best = np.inf
    for ev in events:
        if isinstance(ev, BookSnapshot):
            for px in (ev.bid_px, ev.ask_px):
                if len(px) > 1:
                    d = np.abs(np.diff(np.asarray(px)))
                    d = d[d > 0]
                    if d.size:
                        best = min(best, float(d.min()))
    if not np.isfinite(best):
        raise ValueError("no book snapshot with two levels: cannot infer the tick")
    exp = np.floor(np.log10(best))
    return float(round(best / 10.0**exp) * 10.0**exp)


def load_real(day_dir: str | Path | None = None, coins: list[str] | None = None) -> Dataset:
    d = Path(day_dir) if day_dir is not None else data_dir() / REAL_DAY
    imp = import_hl_csv(d)
    out = []
    t0, t1 = 1 << 62, -(1 << 62)
    for coin, ci in imp.per_coin.items():
        if coins and coin not in coins:
            continue
        evs = list(ci.events)
        if not evs:
            continue
        t0 = min(t0, evs[0].ts_ns)
        t1 = max(t1, evs[-1].ts_ns)
        out.append(CoinData(coin, ci.symbol_id, infer_tick_px(evs), evs))
    if not out:
        raise FileNotFoundError(f"{d}: no coin with events")
    return Dataset(name=f"real:{d.name}", source=str(d), coins=out, start_ts_ns=t0, end_ts_ns=t1,
                   notes=["no Binance reference overlaps this recording: lead-lag features are 0"])


def load_generated(seed: int, duration_s: float, coins: tuple[str, ...] = ("BTC", "ETH"),
                   cfg: GeneratorConfig | None = None) -> Dataset:
    gen = MarketGenerator(cfg if cfg is not None else GeneratorConfig(), list(coins), seed)
    start = 1_000_000_000_000
    events, truth = gen.generate(start, duration_s)
    ticks = gen.tick_px
    ids = gen.symbol_ids
    per: dict[int, list[MarketEvent]] = {sid: [] for sid in ids.values()}
    for ev in events:
        lst = per.get(ev.symbol_id)
        if lst is not None:
            lst.append(ev)
    out = [CoinData(name, sid, ticks[name], per[sid]) for name, sid in ids.items()]
    return Dataset(name=f"generated:seed={seed}:{duration_s:g}s", source="mm.venues.sim.generator", coins=out,
                   start_ts_ns=start, end_ts_ns=start + int(duration_s * 1e9), truth=truth)


def venue_mid_tape(events: list[MarketEvent], venue: int, *, remote_clock: bool
                   ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(times ns, mids) of a venue's two-sided Bbo / RefPrice updates; ``remote_clock``
    takes the venue's ms clock instead of the local receive time."""
    ts: list[int] = []
    mid: list[float] = []
    for ev in events:
        if ev.venue != venue:
            continue
        if isinstance(ev, RefPrice):
            m = ev.mid_px if ev.mid_px > 0.0 else 0.5 * (ev.bid_px + ev.ask_px)
        elif isinstance(ev, Bbo) and ev.bid_px > 0.0 and ev.ask_px > 0.0:
            m = 0.5 * (ev.bid_px + ev.ask_px)
        else:
            continue
        if m > 0.0:
            ts.append(ev.remote_ts_ms * 1_000_000 if remote_clock else ev.ts_ns)
            mid.append(m)
    return np.asarray(ts, dtype=np.int64), np.asarray(mid, dtype=np.float64)


def load_binance_mids(day_dir: str | Path | None = None) -> dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    """Binance USD-M reference mids per symbol on Binance's clock (``T``, ms)."""
    d = Path(day_dir) if day_dir is not None else data_dir() / BINANCE_DAY
    out = {}
    for path in sorted(d.glob("*.gz")):
        sym = path.name.split("_", 1)[0].upper()
        imp = import_binance_raw(path, {sym: 0})
        out[sym] = venue_mid_tape(imp.events, int(Venue.BINANCE), remote_clock=True)
    return out
