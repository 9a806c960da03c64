"""Binance USD-M futures public-stream wire format: frames in, normalized events out.

Owns the typed msgspec structs of the combined-stream frames (HYPERLIQUID_WIRE.md §6) and
:class:`BinanceParser`. Pure logic: no I/O, no clock; ``ts_ns`` (local monotonic receive
time) is passed in. The REST depth snapshot is decoded here too; sequencing the depth
stream against it is :mod:`mm.venues.binance.depth_sync`.

Frames (combined form ``/stream?streams=btcusdt@bookTicker/btcusdt@aggTrade/btcusdt@depth@100ms``;
the event type ``e`` tags the payload; numbers are decimal strings)::

    {"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":400900217,"E":1568014460893,
      "T":1568014460891,"s":"BTCUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}}
    {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":5933014,
      "p":"0.001","q":"100","f":100,"l":105,"T":123456785,"m":true}}
    {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT",
      "t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}
    {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":123456789,"T":123456788,"s":"BTCUSDT",
      "U":157,"u":160,"pu":149,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}}
    REST GET /fapi/v1/depth?symbol=BTCUSDT&limit=1000:
    {"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,"bids":[["4.00000000","431.00000000"]],"asks":[...]}

Normalization:

- ``bookTicker`` -> :class:`~mm.schema.RefPrice` (seq = ``u``, remote_ts_ms = ``T``, or
  ``E`` when ``T`` is absent). Updates whose ``u`` is not above the last one are refused as
  duplicate / out of order; crossed or non-positive quotes are refused.
- ``aggTrade`` -> :class:`~mm.schema.Trade` (seq = trade_id = ``a``); ``trade`` (the raw
  trade stream, found in recordings) -> Trade with seq = trade_id = ``t``; trades whose
  ``X`` is not ``MARKET`` (insurance fund, ADL) are skipped and counted in ``non_market``.
  ``m`` true means the buyer was the maker, so the aggressor sold.
- ``depthUpdate`` -> handed to the symbol's :class:`~mm.venues.binance.depth_sync.DepthSync`,
  which emits :class:`~mm.schema.BookSnapshot` / :class:`~mm.schema.BookDelta` once in sync.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import get_args

import msgspec

from mm.schema import MarketEvent, RefPrice, Side, Trade, Venue
from mm.venues.binance.depth_sync import DepthSync
from mm.venues.feed_health import BadInput, BadInputCounters

_INF = math.inf
_VENUE = int(Venue.BINANCE)
_BUY = int(Side.BUY)
_SELL = int(Side.SELL)

PriceLevels = list[tuple[float, float]]
"""``[["px","qty"], ...]`` decoded straight to floats."""


class BookTicker(msgspec.Struct, tag_field="e", tag="bookTicker", gc=False):
    update_id: int = msgspec.field(name="u")
    symbol: str = msgspec.field(name="s")
    bid_px: float = msgspec.field(name="b")
    bid_qty: float = msgspec.field(name="B")
    ask_px: float = msgspec.field(name="a")
    ask_qty: float = msgspec.field(name="A")
    event_ms: int = msgspec.field(name="E", default=0)
    transact_ms: int = msgspec.field(name="T", default=0)


class AggTrade(msgspec.Struct, tag_field="e", tag="aggTrade", gc=False):
    symbol: str = msgspec.field(name="s")
    agg_id: int = msgspec.field(name="a")
    px: float = msgspec.field(name="p")
    qty: float = msgspec.field(name="q")
    trade_ms: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")
    event_ms: int = msgspec.field(name="E", default=0)


class RawTrade(msgspec.Struct, tag_field="e", tag="trade", gc=False):
    symbol: str = msgspec.field(name="s")
    trade_id: int = msgspec.field(name="t")
    px: float = msgspec.field(name="p")
    qty: float = msgspec.field(name="q")
    trade_ms: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")
    exec_type: str = msgspec.field(name="X", default="MARKET")
    event_ms: int = msgspec.field(name="E", default=0)


class DepthUpdate(msgspec.Struct, tag_field="e", tag="depthUpdate", gc=False):
    symbol: str = msgspec.field(name="s")
    first_id: int = msgspec.field(name="U")
    last_id: int = msgspec.field(name="u")
    prev_last_id: int = msgspec.field(name="pu")
    bids: PriceLevels = msgspec.field(name="b")
    asks: PriceLevels = msgspec.field(name="a")
    event_ms: int = msgspec.field(name="E", default=0)
    transact_ms: int = msgspec.field(name="T", default=0)


BinanceEvent = BookTicker | AggTrade | RawTrade | DepthUpdate


class StreamFrame(msgspec.Struct, gc=False):
    stream: str
    data: BinanceEvent


class DepthSnapshot(msgspec.Struct, gc=False):
    last_update_id: int = msgspec.field(name="lastUpdateId")
    bids: PriceLevels = msgspec.field(default_factory=list)
    asks: PriceLevels = msgspec.field(default_factory=list)
    event_ms: int = msgspec.field(name="E", default=0)
    transact_ms: int = msgspec.field(name="T", default=0)


KNOWN_EVENTS = frozenset(
    t.__struct_config__.tag for t in get_args(BinanceEvent)
)


class _EventOnly(msgspec.Struct):
    e: str


class _DataEventOnly(msgspec.Struct):
    data: _EventOnly


def stream_names(symbol: str, depth_speed: str = "@100ms") -> list[str]:
    """Combined-stream names for one symbol: bookTicker, aggTrade and the diff depth stream."""
    s = symbol.lower()
    return [f"{s}@bookTicker", f"{s}@aggTrade", f"{s}@depth{depth_speed}"]


def combined_stream_url(ws_base_url: str, symbols: list[str], depth_speed: str = "@100ms") -> str:
    """``wss://fstream.binance.com/stream`` + ``?streams=a/b/c`` for the given symbols."""
    names = [n for s in symbols for n in stream_names(s, depth_speed)]
    return f"{ws_base_url.rstrip('/')}?streams={'/'.join(names)}"


def depth_snapshot_url(rest_base_url: str, symbol: str, limit: int = 1000) -> str:
    return f"{rest_base_url.rstrip('/')}/fapi/v1/depth?symbol={symbol.upper()}&limit={limit}"


_snapshot_dec = msgspec.json.Decoder(DepthSnapshot, strict=False)


def decode_depth_snapshot(body: bytes | str) -> DepthSnapshot:
    """Decode the REST depth snapshot; raises msgspec.DecodeError / ValidationError."""
    return _snapshot_dec.decode(body)


class BinanceParser:
    """Frames in, normalized events out, with one :class:`DepthSync` per symbol.

    ``symbols`` maps a Binance symbol (``BTCUSDT``) to the symbol id. ``parse(frame, ts_ns)``
    returns the events of one frame; after it, ``snapshots_wanted()`` names the symbols whose
    depth sync waits for a REST snapshot, which the caller fetches and passes to
    ``on_snapshot(symbol, body, ts_ns)``. Depth options are passed to every DepthSync.
    """

    def __init__(
        self,
        symbols: Mapping[str, int],
        counters: BadInputCounters | None = None,
        max_buffer: int = 10_000,
        snapshot_levels: int = 1000,
        book_capacity: int = 1024,
        top_levels: int = 0,
    ) -> None:
        self.symbols = {s.upper(): i for s, i in symbols.items()}
        self.counters = counters if counters is not None else BadInputCounters("binance")
        self.depth = {
            s: DepthSync(i, self.counters, max_buffer, snapshot_levels, book_capacity, top_levels)
            for s, i in self.symbols.items()
        }
        self._dec = msgspec.json.Decoder(StreamFrame, strict=False)
        self._probe_dec = msgspec.json.Decoder(_DataEventOnly)
        self._last_ticker_u: dict[int, int] = {}
        self._last_trade_id: dict[int, int] = {}
        self.frames = 0
        self.non_market = 0
        self.last_depth_symbol: str | None = None
        """The symbol of the last depth diff decoded (recordings put snapshots in line)."""

    def new_session(self) -> None:
        """A new connection: the depth syncs start over; bookTicker ids start afresh."""
        self._last_ticker_u.clear()
        for ds in self.depth.values():
            ds.reset()

    def parse(self, frame: bytes | str, ts_ns: int) -> list[MarketEvent]:
        """Decode and normalize one combined-stream frame received at ``ts_ns``."""
        ev = self.decode(frame, ts_ns)
        if ev is None:
            return []
        if isinstance(ev, DepthUpdate):
            self.last_depth_symbol = ev.symbol
            ds = self.depth.get(ev.symbol)
            if ds is None:
                self.counters.count(BadInput.UNKNOWN_SYMBOL, ts_ns, ev.symbol[:40])
                return []
            return ds.on_diff(
                ev.first_id, ev.last_id, ev.prev_last_id, ev.bids, ev.asks,
                ev.transact_ms or ev.event_ms, ts_ns,
            )
        out = self.normalize(ev, ts_ns)
        return [] if out is None else [out]

    def snapshots_wanted(self) -> list[str]:
        """Symbols whose depth sync waits for a REST snapshot."""
        return [s for s, ds in self.depth.items() if ds.wants_snapshot]

    def on_snapshot(self, symbol: str, body: bytes | str, ts_ns: int) -> list[MarketEvent]:
        """A REST depth snapshot body for ``symbol``, received at ``ts_ns``."""
        ds = self.depth.get(symbol.upper())
        if ds is None:
            self.counters.count(BadInput.UNKNOWN_SYMBOL, ts_ns, symbol[:40])
            return []
        try:
            snap = decode_depth_snapshot(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.counters.count(BadInput.BAD_SHAPE, ts_ns, f"depth snapshot {symbol}: {str(exc)[:80]}")
            return []
        return ds.on_snapshot(
            snap.last_update_id, snap.bids, snap.asks, snap.transact_ms or snap.event_ms, ts_ns
        )

    def decode(self, frame: bytes | str, ts_ns: int) -> BinanceEvent | None:
        """Decode one combined-stream frame; None (and counted) if refused."""
        self.frames += 1
        try:
            return self._dec.decode(frame).data
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._classify_failure(frame, ts_ns)
            return None

    def _classify_failure(self, frame: bytes | str, ts_ns: int) -> None:
        raw = frame.encode() if isinstance(frame, str) else frame
        try:
            ev = self._probe_dec.decode(raw).data.e
        except msgspec.ValidationError:  # (a subclass of DecodeError: test it first)
            self.counters.count(BadInput.BAD_SHAPE, ts_ns, f"no data.e: {raw[:80]!r}")
            return
        except msgspec.DecodeError:
            self.counters.count(BadInput.MALFORMED_JSON, ts_ns, repr(raw[:80]))
            return
        if ev in KNOWN_EVENTS:
            try:
                self._dec.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                self.counters.count(BadInput.BAD_SHAPE, ts_ns, f"{ev}: {exc}")
        else:
            self.counters.count(BadInput.UNKNOWN_CHANNEL, ts_ns, ev[:40])

    def symbol_id(self, symbol: str, ts_ns: int) -> int | None:
        sym = self.symbols.get(symbol)
        if sym is None:
            self.counters.count(BadInput.UNKNOWN_SYMBOL, ts_ns, symbol[:40])
        return sym

    def normalize(self, ev: BinanceEvent, ts_ns: int) -> RefPrice | Trade | None:
        """A bookTicker or trade as a normalized event (None if refused or skipped)."""
        sym = self.symbol_id(ev.symbol, ts_ns)
        if sym is None:
            return None
        if isinstance(ev, BookTicker):
            return self._on_ticker(ev, sym, ts_ns)
        if isinstance(ev, AggTrade | RawTrade):
            return self._on_trade(ev, sym, ts_ns)
        return None

    def _on_ticker(self, ev: BookTicker, sym: int, ts_ns: int) -> RefPrice | None:
        last = self._last_ticker_u.get(sym, -1)
        if ev.update_id <= last:
            kind = BadInput.SEQ_DUPLICATE if ev.update_id == last else BadInput.SEQ_OUT_OF_ORDER
            self.counters.count(kind, ts_ns, f"bookTicker {ev.symbol} u {ev.update_id} <= {last}")
            return None
        bp, ap = ev.bid_px, ev.ask_px
        if not (0.0 < bp < _INF and 0.0 < ap < _INF):
            self.counters.count(BadInput.BAD_PRICE, ts_ns, f"bookTicker {ev.symbol}")
            return None
        if not (0.0 < ev.bid_qty < _INF and 0.0 < ev.ask_qty < _INF):
            self.counters.count(BadInput.BAD_QTY, ts_ns, f"bookTicker {ev.symbol}")
            return None
        if bp >= ap:
            self.counters.count(BadInput.CROSSED_BOOK, ts_ns, f"bookTicker {ev.symbol} {bp} >= {ap}")
            return None
        self._last_ticker_u[sym] = ev.update_id
        remote_ms = ev.transact_ms or ev.event_ms
        return RefPrice(_VENUE, sym, ts_ns, remote_ms, ev.update_id, bp, ap, 0.5 * (bp + ap))

    def _on_trade(self, ev: AggTrade | RawTrade, sym: int, ts_ns: int) -> Trade | None:
        if isinstance(ev, RawTrade):
            if ev.exec_type != "MARKET":
                self.non_market += 1
                return None
            tid = ev.trade_id
        else:
            tid = ev.agg_id
        last = self._last_trade_id.get(sym, -1)
        if tid <= last:
            self.counters.count(BadInput.TRADE_DUPLICATE, ts_ns, f"{ev.symbol} trade {tid} <= {last}")
            return None
        if not (0.0 < ev.px < _INF):
            self.counters.count(BadInput.BAD_PRICE, ts_ns, f"trade {ev.symbol} {tid}")
            return None
        if not (0.0 < ev.qty < _INF):
            self.counters.count(BadInput.BAD_QTY, ts_ns, f"trade {ev.symbol} {tid}")
            return None
        self._last_trade_id[sym] = tid
        side = _SELL if ev.buyer_is_maker else _BUY
        return Trade(_VENUE, sym, ts_ns, ev.trade_ms, tid, ev.px, ev.qty, side, tid)
