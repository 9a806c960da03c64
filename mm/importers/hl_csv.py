"""Import the Hyperliquid collector CSVs (one directory per day) as normalized events.

Input (``/work/shared/data/real/hyperliquid-2025-09-0[34]/``, see its README), per coin:

- ``orderbooks_<COIN>.csv``: one l2Book snapshot per row, 20 levels a side::

      timestamp,sequence,exchange_timestamp,bid_price_0,bid_size_0,ask_price_0,ask_size_0,bid_price_1,...
      1756904112.5465927,1756904112212,1756904112212,111038.0,8.84885,111039.0,0.0036,111037.0,...

- ``prices_<COIN>.csv``: the bbo stream, one row per side, the two sides of one update in
  consecutive rows with the same times::

      timestamp,price,size,side,exchange_timestamp
      1756904112.7999077,111038.0,8.84885,bid,1756904112212
      1756904112.7999077,111039.0,0.0036,ask,1756904112212

- ``trades_<COIN>.csv`` (side is the aggressor)::

      timestamp,price,size,side,trade_id,exchange_timestamp
      1756904112.5455544,111039.0,0.00091,buy,1062032029372010,1756904102005

Output: :class:`~mm.schema.BookSnapshot`, :class:`~mm.schema.Bbo` and
:class:`~mm.schema.Trade` with ``ts_ns`` = the local receive time (``timestamp``, converted
exactly from its decimal text) and ``remote_ts_ms`` = the venue time. Receive time here is
the recorder's wall clock, not a monotonic clock; never subtract it from venue time as if it
were latency (it runs ~0.45 s behind). The events of all coins are merged in ``ts_ns`` order.

Each coin's rows are replayed, in receive order, through the live parser
(:class:`~mm.venues.hyperliquid.md_wire.HyperliquidMdParser`): a snapshot whose venue time
repeats is dropped as a duplicate (the files have 1 to 3 per coin), trades are deduplicated
by ``trade_id``, and backfill is dropped: trades older than the first book or bbo of their
session, or more than ``backfill_ms`` older than the newest venue time known for the coin.
Rows sharing one receive time form one frame; a silence of more than ``session_gap_ms`` in
the coin's rows is taken as the recorder's reconnection (a new parser session, as a live
feed does on reconnect). A row that does not parse is counted as ``BAD_SHAPE`` and skipped;
a lone bbo side likewise.
"""

from __future__ import annotations

import csv
import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mm.schema import MarketEvent
from mm.venues.feed_health import BadInput, BadInputCounters
from mm.venues.hyperliquid.md_wire import HyperliquidMdParser, WsBbo, WsBook, WsLevel, WsTrade

N_LEVELS_CSV = 20
_BOOK, _BBO, _TRADES = 0, 1, 2


def seconds_text_to_ns(text: str) -> int:
    """``"1756904112.5465927"`` -> ``1756904112546592700`` exactly (no float rounding)."""
    s = text.strip()
    neg = s.startswith("-")
    if neg:
        s = s[1:]
    whole, _, frac = s.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"not a decimal number of seconds: {text!r}")
    ns = int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])
    return -ns if neg else ns


def coins_in(day_dir: str | Path) -> list[str]:
    """Coins that have all three CSV files in ``day_dir``, sorted."""
    d = Path(day_dir)
    out = []
    for p in d.glob("orderbooks_*.csv"):
        coin = p.stem.split("_", 1)[1]
        if (d / f"prices_{coin}.csv").is_file() and (d / f"trades_{coin}.csv").is_file():
            out.append(coin)
    return sorted(out)


@dataclass
class CoinImport:
    """One coin's imported events and what was dropped."""

    coin: str
    symbol_id: int
    events: list[MarketEvent] = field(default_factory=list)
    counters: BadInputCounters = field(default_factory=lambda: BadInputCounters("hl_csv"))
    rows: dict[str, int] = field(default_factory=lambda: {"orderbooks": 0, "prices": 0, "trades": 0})
    emitted: dict[str, int] = field(default_factory=dict)
    sessions: int = 1

    def summary(self) -> dict[str, object]:
        return {
            "symbol_id": self.symbol_id,
            "sessions": self.sessions,
            "rows": dict(self.rows),
            "emitted": dict(self.emitted),
            "dropped": self.counters.as_dict(nonzero_only=True),
        }


@dataclass
class HlCsvImport:
    day_dir: Path
    per_coin: dict[str, CoinImport]

    def events(self) -> Iterator[MarketEvent]:
        """All coins' events merged by ``ts_ns`` (stable: per coin order is kept)."""
        yield from heapq.merge(*(c.events for c in self.per_coin.values()), key=lambda e: e.ts_ns)

    @property
    def n_events(self) -> int:
        return sum(len(c.events) for c in self.per_coin.values())

    def summary(self) -> dict[str, dict[str, object]]:
        return {coin: c.summary() for coin, c in self.per_coin.items()}


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r, [])
        return header, list(r)


def _book_items(path: Path, coin: str, counters: BadInputCounters, items: list[tuple[int, int, int, object]]) -> int:
    header, rows = _read_rows(path)
    col = {name: i for i, name in enumerate(header)}
    try:
        i_ts, i_ex = col["timestamp"], col["exchange_timestamp"]
        bid_cols = [(col[f"bid_price_{k}"], col[f"bid_size_{k}"]) for k in range(N_LEVELS_CSV) if f"bid_price_{k}" in col]
        ask_cols = [(col[f"ask_price_{k}"], col[f"ask_size_{k}"]) for k in range(N_LEVELS_CSV) if f"ask_price_{k}" in col]
    except KeyError as exc:
        raise ValueError(f"{path}: missing column {exc}") from None
    for n, row in enumerate(rows):
        try:
            ts_ns = seconds_text_to_ns(row[i_ts])
            t = int(row[i_ex])
            bids = [WsLevel(float(row[p]), float(row[q]), 0) for p, q in bid_cols if row[p] != ""]
            asks = [WsLevel(float(row[p]), float(row[q]), 0) for p, q in ask_cols if row[p] != ""]
        except (ValueError, IndexError):
            counters.count(BadInput.BAD_SHAPE, 0, f"{path.name} row {n + 2}")
            continue
        items.append((ts_ns, _BOOK, n, WsBook(coin, t, (bids, asks))))
    return len(rows)


def _bbo_items(path: Path, coin: str, counters: BadInputCounters, items: list[tuple[int, int, int, object]]) -> int:
    header, rows = _read_rows(path)
    col = {name: i for i, name in enumerate(header)}
    i_ts, i_px, i_sz, i_side, i_ex = (col[k] for k in ("timestamp", "price", "size", "side", "exchange_timestamp"))
    pending: tuple[str, str, str, WsLevel] | None = None  # (ts text, ex text, side, level)
    for n, row in enumerate(rows):
        try:
            side = row[i_side]
            lv = WsLevel(float(row[i_px]), float(row[i_sz]), 0)
            key_ts, key_ex = row[i_ts], row[i_ex]
            if side not in ("bid", "ask"):
                raise ValueError(side)
        except (ValueError, IndexError):
            counters.count(BadInput.BAD_SHAPE, 0, f"{path.name} row {n + 2}")
            continue
        if pending is not None and pending[0] == key_ts and pending[1] == key_ex and pending[2] != side:
            bid, ask = (pending[3], lv) if side == "ask" else (lv, pending[3])
            try:
                item = WsBbo(coin, int(key_ex), (bid, ask))
                items.append((seconds_text_to_ns(key_ts), _BBO, n, item))
            except ValueError:
                counters.count(BadInput.BAD_SHAPE, 0, f"{path.name} row {n + 2}")
            pending = None
            continue
        if pending is not None:
            counters.count(BadInput.BAD_SHAPE, 0, f"{path.name}: lone bbo side before row {n + 2}")
        pending = (key_ts, key_ex, side, lv)
    if pending is not None:
        counters.count(BadInput.BAD_SHAPE, 0, f"{path.name}: lone bbo side at the end")
    return len(rows)


def _trade_items(path: Path, coin: str, counters: BadInputCounters, items: list[tuple[int, int, int, object]]) -> int:
    header, rows = _read_rows(path)
    col = {name: i for i, name in enumerate(header)}
    i_ts, i_px, i_sz, i_side, i_id, i_ex = (
        col[k] for k in ("timestamp", "price", "size", "side", "trade_id", "exchange_timestamp")
    )
    frame: list[WsTrade] = []
    frame_ts = ""
    first_n = 0
    for n, row in enumerate(rows):
        try:
            side = {"buy": "B", "sell": "A"}[row[i_side]]
            tr = WsTrade(coin, side, float(row[i_px]), float(row[i_sz]), int(row[i_ex]), int(row[i_id]))  # type: ignore[arg-type]
            ts_text = row[i_ts]
            seconds_text_to_ns(ts_text)
        except (ValueError, IndexError, KeyError):
            counters.count(BadInput.BAD_SHAPE, 0, f"{path.name} row {n + 2}")
            continue
        if frame and ts_text != frame_ts:
            items.append((seconds_text_to_ns(frame_ts), _TRADES, first_n, frame))
            frame = []
        if not frame:
            frame_ts = ts_text
            first_n = n
        frame.append(tr)
    if frame:
        items.append((seconds_text_to_ns(frame_ts), _TRADES, first_n, frame))
    return len(rows)


def import_coin(
    day_dir: str | Path, coin: str, symbol_id: int, backfill_ms: int = 2_000, session_gap_ms: int = 5_000
) -> CoinImport:
    """Import one coin's three CSV files."""
    d = Path(day_dir)
    out = CoinImport(coin, symbol_id, counters=BadInputCounters(f"hl_csv {d.name} {coin}"))
    items: list[tuple[int, int, int, object]] = []
    out.rows["orderbooks"] = _book_items(d / f"orderbooks_{coin}.csv", coin, out.counters, items)
    out.rows["prices"] = _bbo_items(d / f"prices_{coin}.csv", coin, out.counters, items)
    out.rows["trades"] = _trade_items(d / f"trades_{coin}.csv", coin, out.counters, items)
    items.sort(key=lambda it: (it[0], it[1], it[2]))
    parser = HyperliquidMdParser({coin: symbol_id}, out.counters, backfill_ms=backfill_ms)
    events = out.events
    gap_ns = session_gap_ms * 1_000_000
    prev_ts = items[0][0] if items else 0
    for ts_ns, kind, _n, payload in items:
        if ts_ns - prev_ts > gap_ns:
            events.extend(parser.new_session(prev_ts))
            out.sessions += 1
        prev_ts = ts_ns
        if kind == _BOOK:
            assert isinstance(payload, WsBook)
            events.extend(parser.on_book(payload, ts_ns))
        elif kind == _BBO:
            assert isinstance(payload, WsBbo)
            events.extend(parser.on_bbo(payload, ts_ns))
        else:
            assert isinstance(payload, list)
            events.extend(parser.on_trades(payload, ts_ns))
    events.extend(parser.new_session(prev_ts))  # anything still held at the end
    for ev in events:
        name = type(ev).__name__
        out.emitted[name] = out.emitted.get(name, 0) + 1
    return out


def import_hl_csv(
    day_dir: str | Path,
    symbol_ids: Mapping[str, int] | None = None,
    backfill_ms: int = 2_000,
    session_gap_ms: int = 5_000,
) -> HlCsvImport:
    """Import a day directory. ``symbol_ids`` defaults to the coins found, sorted, numbered 0..n-1."""
    d = Path(day_dir)
    coins = coins_in(d)
    if not coins:
        raise FileNotFoundError(f"{d}: no orderbooks_/prices_/trades_<COIN>.csv triple")
    ids = dict(symbol_ids) if symbol_ids is not None else {c: i for i, c in enumerate(coins)}
    per_coin = {c: import_coin(d, c, ids[c], backfill_ms, session_gap_ms) for c in coins if c in ids}
    return HlCsvImport(d, per_coin)
