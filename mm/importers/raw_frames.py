"""Import raw websocket frames (``<local_ns> <json>`` per gzip line) as normalized events.

Input, one frame per line, exactly as the venue sent it, after the local receive time in
nanoseconds::

    1737918843893903000 {"channel":"l2Book","data":{"coin":"BTC","levels":[[{"n":5,"px":"105055.0","sz":"3.03622"},...],[...]],"time":1737918843542}}
    1723161255088169167 {"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}
    1723161255319702566 {"lastUpdateId":5123107852948,"E":1723161256501,"T":1723161256493,"bids":[["61800.20","2.909"],...],"asks":[...]}

The last form is Binance's REST depth snapshot, recorded in line with the stream; it is
handed to the depth sync of the symbol whose diff stream was seen last before it, so the
documented snapshot + diff procedure runs on the real frames (buffer, drop ``u <
lastUpdateId``, bridge, then chain ``pu``). Frames go through the live parsers
(:class:`~mm.venues.hyperliquid.md_wire.HyperliquidMdParser`,
:class:`~mm.venues.binance.wire.BinanceParser`), so bad input is counted and dropped exactly
as live. ``ts_ns`` is the recorded local time; for the Binance recording that clock runs
about 1.27 s behind Binance's, so align venues on ``remote_ts_ms`` (``T``), never on it.
:func:`raw_records` turns the same lines into :class:`~mm.recording.format.RawFrame` records
for recordings that keep the raw frames.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mm.recording.format import RawFrame
from mm.schema import MarketEvent, Venue
from mm.venues.binance.wire import BinanceParser
from mm.venues.feed_health import BadInput, BadInputCounters
from mm.venues.hyperliquid.md_wire import HyperliquidMdParser

_SNAPSHOT_PREFIX = b'{"lastUpdateId"'


def iter_frames(path: str | Path, counters: BadInputCounters | None = None) -> Iterator[tuple[int, bytes]]:
    """``(local_ns, frame bytes)`` per line of a gzip (or plain) raw-frame file.

    A line without a leading integer time is counted as MALFORMED_JSON and skipped.
    """
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rb") as f:
        for n, line in enumerate(f):
            ts_text, _, body = line.rstrip(b"\r\n").partition(b" ")
            try:
                ts_ns = int(ts_text)
            except ValueError:
                if counters is not None:
                    counters.count(BadInput.MALFORMED_JSON, 0, f"{p.name} line {n + 1}: no time")
                continue
            yield ts_ns, body


@dataclass
class RawImport:
    path: Path
    events: list[MarketEvent] = field(default_factory=list)
    counters: BadInputCounters = field(default_factory=lambda: BadInputCounters("raw"))
    frames: int = 0
    snapshots: int = 0
    emitted: dict[str, int] = field(default_factory=dict)

    def _tally(self) -> None:
        for ev in self.events:
            name = type(ev).__name__
            self.emitted[name] = self.emitted.get(name, 0) + 1

    def summary(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "snapshots": self.snapshots,
            "emitted": dict(self.emitted),
            "dropped": self.counters.as_dict(nonzero_only=True),
        }


def import_hl_raw(path: str | Path, coins: Mapping[str, int], backfill_ms: int = 2_000) -> RawImport:
    """Hyperliquid frames through the live parser (one session: the file is one connection)."""
    out = RawImport(Path(path), counters=BadInputCounters(f"hl_raw {Path(path).name}"))
    parser = HyperliquidMdParser(coins, out.counters, backfill_ms=backfill_ms)
    for ts_ns, body in iter_frames(path, out.counters):
        out.frames += 1
        out.events.extend(parser.parse(body, ts_ns))
    out._tally()
    return out


def import_binance_raw(
    path: str | Path,
    symbols: Mapping[str, int],
    snapshot_levels: int = 1000,
) -> RawImport:
    """Binance combined-stream frames plus inline REST snapshots through parser + depth sync."""
    out = RawImport(Path(path), counters=BadInputCounters(f"binance_raw {Path(path).name}"))
    parser = BinanceParser(symbols, out.counters, snapshot_levels=snapshot_levels)
    only = next(iter(parser.symbols)) if len(parser.symbols) == 1 else None
    for ts_ns, body in iter_frames(path, out.counters):
        out.frames += 1
        if body.startswith(_SNAPSHOT_PREFIX):
            sym = parser.last_depth_symbol or only
            if sym is None:
                out.counters.count(BadInput.UNKNOWN_SYMBOL, ts_ns, "depth snapshot before any diff")
                continue
            out.snapshots += 1
            out.events.extend(parser.on_snapshot(sym, body, ts_ns))
            continue
        out.events.extend(parser.parse(body, ts_ns))
    out._tally()
    return out


def raw_records(path: str | Path, venue: Venue) -> Iterator[RawFrame]:
    """The lines of a raw-frame file as RawFrame records (for recordings that keep them)."""
    for ts_ns, body in iter_frames(path):
        yield RawFrame(int(venue), ts_ns, body)
