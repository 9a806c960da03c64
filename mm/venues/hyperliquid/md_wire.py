"""Hyperliquid market-data wire format: websocket frames in, normalized events out.

Owns the typed msgspec structs of the public websocket frames a market maker reads
(HYPERLIQUID_WIRE.md §3) and :class:`HyperliquidMdParser`, which turns one frame into
:mod:`mm.schema` events. Pure logic: no I/O, no clock; the caller passes ``ts_ns``, the
local monotonic receive time.

Frames handled (tagged by ``channel``; numbers are decimal strings on the wire, decoded
straight to float by msgspec's non-strict mode)::

    {"channel":"l2Book","data":{"coin":"BTC","time":1754450974231,
      "levels":[[{"px":"113377.0","sz":"7.6699","n":17}],[{"px":"113397.0","sz":"0.11543","n":3}]]}}
    {"channel":"trades","data":[{"coin":"BTC","side":"B","px":"97432.5","sz":"0.1","hash":"0x..",
      "time":1700000000000,"tid":118906512037719,"users":["0xbuyer","0xseller"]}]}
    {"channel":"bbo","data":{"coin":"BTC","time":1700000000000,"bbo":[{"px":"97432.0","sz":"1.2","n":3},null]}}
    {"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"0.0000125","openInterest":"...",
      "oraclePx":"...","markPx":"...", ...}}}
    {"channel":"pong"}   {"channel":"subscriptionResponse","data":{...}}   {"channel":"error","data":"..."}

Normalization:

- ``l2Book`` -> :class:`~mm.schema.BookSnapshot` (seq and remote_ts_ms = block ``time``).
- ``bbo`` -> :class:`~mm.schema.Bbo` (a null side is px 0, qty 0).
- ``trades`` -> one :class:`~mm.schema.Trade` per trade (side = aggressor, ``B`` buys;
  seq and remote_ts_ms = ``time``, trade_id = ``tid``).
- ``activeAssetCtx`` -> :class:`~mm.schema.FundingUpdate`; the frame has no venue time, so
  ``remote_ts_ms`` is the latest venue time seen for the coin on another channel (0 before any).

Refusals (counted per :class:`~mm.venues.feed_health.BadInput` kind, frame or item dropped):
malformed JSON, unknown channel, wrong shape, unknown coin, NaN/inf/<=0 price, NaN/inf/<=0
size (a snapshot or BBO level must have size), unsorted or crossed book, a book or BBO older
than the last one applied for the coin (out of order) or repeating it exactly at the same
block time (duplicate; a changed one at the same time is a newer update and is kept: the
paper venue may publish twice in one millisecond), and a trade id seen before.

Trade backfill. Hyperliquid sends recent trades again after every subscription (the
recordings in /work/shared/data show 30 trades per coin, up to minutes old, after each
(re)connect), with nothing marking them. A session (one connection; :meth:`new_session` on
every reconnect, which forgets block times but keeps trade ids) therefore holds a coin's
trades frames until the coin's first book or bbo of the session, whose block time is the
anchor: trades older than it predate the subscription and are dropped as TRADE_BACKFILL.
After that, a trade more than ``backfill_ms`` older than the newest venue time known for the
coin (any channel, including the newest trade of the same frame) is backfill too. Held
trades are released at the anchor, stamped with its receive time (so local times never run
backwards), or, if no book or bbo arrives within ``hold_ms``, by the time rule alone
(:meth:`release_expired`; ``parse`` calls it, a feed's timer may too).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Literal, get_args

import msgspec

from mm.schema import Bbo, BookSnapshot, FundingUpdate, MarketEvent, Side, Trade, Venue
from mm.venues.feed_health import BadInput, BadInputCounters

_INF = math.inf
_VENUE = int(Venue.HYPERLIQUID)
_BUY = int(Side.BUY)
_SELL = int(Side.SELL)

# --------------------------------------------------------------------------- wire structs


class WsLevel(msgspec.Struct, gc=False):
    px: float
    sz: float
    n: int


class WsBook(msgspec.Struct, gc=False):
    coin: str
    time: int
    levels: tuple[list[WsLevel], list[WsLevel]]


class WsBbo(msgspec.Struct, gc=False):
    coin: str
    time: int
    bbo: tuple[WsLevel | None, WsLevel | None]


class WsTrade(msgspec.Struct, gc=False):
    """``hash`` and ``users`` are on the wire too; they are skipped, not decoded."""

    coin: str
    side: Literal["B", "A"]
    px: float
    sz: float
    time: int
    tid: int


class PerpAssetCtx(msgspec.Struct, gc=False, rename="camel"):
    funding: float
    open_interest: float
    oracle_px: float
    mark_px: float


class WsActiveAssetCtx(msgspec.Struct, gc=False):
    coin: str
    ctx: PerpAssetCtx


class L2BookFrame(msgspec.Struct, tag_field="channel", tag="l2Book", gc=False):
    data: WsBook


class TradesFrame(msgspec.Struct, tag_field="channel", tag="trades", gc=False):
    data: list[WsTrade]


class BboFrame(msgspec.Struct, tag_field="channel", tag="bbo", gc=False):
    data: WsBbo


class ActiveAssetCtxFrame(msgspec.Struct, tag_field="channel", tag="activeAssetCtx", gc=False):
    data: WsActiveAssetCtx


class PongFrame(msgspec.Struct, tag_field="channel", tag="pong", gc=False):
    pass


class SubscriptionResponseFrame(
    msgspec.Struct, tag_field="channel", tag="subscriptionResponse", gc=False
):
    data: msgspec.Raw = msgspec.Raw(b"null")


class ErrorFrame(msgspec.Struct, tag_field="channel", tag="error", gc=False):
    data: msgspec.Raw = msgspec.Raw(b"null")


HlFrame = (
    L2BookFrame | TradesFrame | BboFrame | ActiveAssetCtxFrame | PongFrame | SubscriptionResponseFrame | ErrorFrame
)
KNOWN_CHANNELS = frozenset(
    t.__struct_config__.tag for t in get_args(HlFrame)
)


class _ChannelOnly(msgspec.Struct):
    channel: str


ESTABLISHED_BANNER = b"Websocket connection established."
"""A plain-text frame some servers send on connect; tolerated, not counted."""


def subscribe_message(sub_type: str, coin: str) -> bytes:
    """The client's subscribe request, e.g. ``subscribe_message("l2Book", "BTC")``."""
    return msgspec.json.encode({"method": "subscribe", "subscription": {"type": sub_type, "coin": coin}})


PING_MESSAGE = b'{"method":"ping"}'
MD_SUBSCRIPTIONS = ("l2Book", "trades", "bbo", "activeAssetCtx")
"""Per coin, in this order: the book first, so its venue time anchors trade backfill."""

# --------------------------------------------------------------------------- the parser


class _CoinState:
    __slots__ = (
        "anchor_ms", "held", "last_bbo", "last_bbo_ms", "last_book", "last_book_ms", "tid_order", "tids",
        "venue_now_ms",
    )

    def __init__(self, dedup_window: int) -> None:
        self.last_book_ms = -1
        self.last_bbo_ms = -1
        self.last_book: BookSnapshot | None = None
        self.last_bbo: Bbo | None = None
        self.venue_now_ms = 0
        self.anchor_ms = -1  # venue time of the session's first book or bbo; -1 not yet, 0 none
        self.held: list[tuple[list[WsTrade], int]] = []
        self.tids: set[int] = set()
        self.tid_order: deque[int] = deque(maxlen=dedup_window)


def _side_levels(levels: list[WsLevel], descending: bool) -> tuple[list[float], list[float]] | BadInput:
    """Prices and sizes of one book side, or the reason it is refused."""
    px: list[float] = []
    qty: list[float] = []
    prev = _INF if descending else 0.0
    for lv in levels:
        p = lv.px
        q = lv.sz
        if not (0.0 < p < _INF):
            return BadInput.BAD_PRICE
        if not (0.0 < q < _INF):
            return BadInput.BAD_QTY
        if (p >= prev) if descending else (p <= prev):
            return BadInput.UNSORTED_LEVELS
        prev = p
        px.append(p)
        qty.append(q)
    return px, qty


class HyperliquidMdParser:
    """Frames in, :data:`~mm.schema.MarketEvent` lists out. See the module docstring.

    ``coins`` maps a Hyperliquid coin name to the symbol id. Counters of refused input are
    in ``counters``; ``pongs``, ``acks`` and ``frames`` count the rest.
    """

    def __init__(
        self,
        coins: Mapping[str, int],
        counters: BadInputCounters | None = None,
        backfill_ms: int = 2_000,
        dedup_window: int = 8_192,
        hold_ms: int = 2_000,
    ) -> None:
        self.coins = dict(coins)
        self.counters = counters if counters is not None else BadInputCounters("hyperliquid")
        self.backfill_ms = backfill_ms
        self._dedup_window = dedup_window
        self._dec = msgspec.json.Decoder(HlFrame, strict=False)
        self._chan_dec = msgspec.json.Decoder(_ChannelOnly)
        self._state = {c: _CoinState(dedup_window) for c in self.coins}
        self.hold_ns = hold_ms * 1_000_000
        self._n_held = 0
        self.frames = 0
        self.pongs = 0
        self.acks = 0

    @property
    def n_held(self) -> int:
        """Trades frames held until their coin's first book or bbo of the session."""
        return self._n_held

    def new_session(self, ts_ns: int = 0) -> list[MarketEvent]:
        """A new connection: forget block times, keep the trade ids (backfill repeats them).

        Trades still held from the old session are released by the time rule and returned."""
        out = self.release_expired(ts_ns, expire_all=True) if self._n_held else []
        for st in self._state.values():
            st.last_book_ms = -1
            st.last_bbo_ms = -1
            st.last_book = None
            st.last_bbo = None
            st.venue_now_ms = 0
            st.anchor_ms = -1
        return out

    # ------------------------------------------------------------------ entry point

    def parse(self, frame: bytes | str, ts_ns: int) -> list[MarketEvent]:
        """Decode one websocket frame received at local time ``ts_ns``."""
        self.frames += 1
        out: list[MarketEvent] = self.release_expired(ts_ns) if self._n_held else []
        try:
            msg = self._dec.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._classify_failure(frame, ts_ns)
            return out
        if isinstance(msg, L2BookFrame):
            evs = self.on_book(msg.data, ts_ns)
        elif isinstance(msg, TradesFrame):
            evs = self.on_trades(msg.data, ts_ns)
        elif isinstance(msg, BboFrame):
            evs = self.on_bbo(msg.data, ts_ns)
        elif isinstance(msg, ActiveAssetCtxFrame):
            evs = self.on_ctx(msg.data, ts_ns)
        else:
            if isinstance(msg, PongFrame):
                self.pongs += 1
            elif isinstance(msg, SubscriptionResponseFrame):
                self.acks += 1
            else:
                self.counters.count(BadInput.VENUE_ERROR, ts_ns, bytes(msg.data)[:200].decode("utf-8", "replace"))
            return out
        if out:
            out.extend(evs)
            return out
        return evs

    def _classify_failure(self, frame: bytes | str, ts_ns: int) -> None:
        raw = frame.encode() if isinstance(frame, str) else frame
        if raw.strip() == ESTABLISHED_BANNER:
            return
        try:
            chan = self._chan_dec.decode(raw).channel
        except msgspec.ValidationError:  # (a subclass of DecodeError: test it first)
            self.counters.count(BadInput.BAD_SHAPE, ts_ns, f"no channel: {raw[:80]!r}")
            return
        except msgspec.DecodeError:
            self.counters.count(BadInput.MALFORMED_JSON, ts_ns, repr(raw[:80]))
            return
        if chan in KNOWN_CHANNELS:
            try:
                self._dec.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                self.counters.count(BadInput.BAD_SHAPE, ts_ns, f"{chan}: {exc}")
        else:
            self.counters.count(BadInput.UNKNOWN_CHANNEL, ts_ns, chan[:40])

    # ------------------------------------------------------------------ channels

    def _coin(self, coin: str, ts_ns: int) -> tuple[int, _CoinState] | None:
        st = self._state.get(coin)
        if st is None:
            self.counters.count(BadInput.UNKNOWN_SYMBOL, ts_ns, coin[:40])
            return None
        return self.coins[coin], st

    def on_book(self, d: WsBook, ts_ns: int) -> list[MarketEvent]:
        found = self._coin(d.coin, ts_ns)
        if found is None:
            return []
        sym, st = found
        t = d.time
        if t < st.last_book_ms:
            self.counters.count(BadInput.SEQ_OUT_OF_ORDER, ts_ns, f"l2Book {d.coin} time {t} < {st.last_book_ms}")
            return []
        bids = _side_levels(d.levels[0], True)
        if isinstance(bids, BadInput):
            self.counters.count(bids, ts_ns, f"l2Book {d.coin} bids")
            return []
        asks = _side_levels(d.levels[1], False)
        if isinstance(asks, BadInput):
            self.counters.count(asks, ts_ns, f"l2Book {d.coin} asks")
            return []
        bid_px, bid_qty = bids
        ask_px, ask_qty = asks
        if bid_px and ask_px and bid_px[0] >= ask_px[0]:
            self.counters.count(BadInput.CROSSED_BOOK, ts_ns, f"l2Book {d.coin} {bid_px[0]} >= {ask_px[0]}")
            return []
        last = st.last_book
        if (t == st.last_book_ms and last is not None and last.bid_px == bid_px and last.ask_px == ask_px
                and last.bid_qty == bid_qty and last.ask_qty == ask_qty):
            self.counters.count(BadInput.SEQ_DUPLICATE, ts_ns, f"l2Book {d.coin} time {t} repeated")
            return []
        st.last_book_ms = t
        if t > st.venue_now_ms:
            st.venue_now_ms = t
        snap = BookSnapshot(_VENUE, sym, ts_ns, t, t, bid_px, bid_qty, ask_px, ask_qty)
        st.last_book = snap
        out: list[MarketEvent] = [snap]
        if st.anchor_ms < 0:
            self._anchor(sym, st, t, ts_ns, out)
        return out

    def on_bbo(self, d: WsBbo, ts_ns: int) -> list[MarketEvent]:
        found = self._coin(d.coin, ts_ns)
        if found is None:
            return []
        sym, st = found
        t = d.time
        if t < st.last_bbo_ms:
            self.counters.count(BadInput.SEQ_OUT_OF_ORDER, ts_ns, f"bbo {d.coin} time {t} < {st.last_bbo_ms}")
            return []
        bid, ask = d.bbo
        bp = bq = ap = aq = 0.0
        for lv, is_bid in ((bid, True), (ask, False)):
            if lv is None:
                continue
            if not (0.0 < lv.px < _INF):
                self.counters.count(BadInput.BAD_PRICE, ts_ns, f"bbo {d.coin}")
                return []
            if not (0.0 < lv.sz < _INF):
                self.counters.count(BadInput.BAD_QTY, ts_ns, f"bbo {d.coin}")
                return []
            if is_bid:
                bp, bq = lv.px, lv.sz
            else:
                ap, aq = lv.px, lv.sz
        if bid is not None and ask is not None and bp >= ap:
            self.counters.count(BadInput.CROSSED_BOOK, ts_ns, f"bbo {d.coin} {bp} >= {ap}")
            return []
        lb = st.last_bbo
        if t == st.last_bbo_ms and lb is not None and (lb.bid_px, lb.bid_qty, lb.ask_px, lb.ask_qty) == (bp, bq, ap, aq):
            self.counters.count(BadInput.SEQ_DUPLICATE, ts_ns, f"bbo {d.coin} time {t} repeated")
            return []
        st.last_bbo_ms = t
        if t > st.venue_now_ms:
            st.venue_now_ms = t
        bbo = Bbo(_VENUE, sym, ts_ns, t, t, bp, bq, ap, aq)
        st.last_bbo = bbo
        out: list[MarketEvent] = [bbo]
        if st.anchor_ms < 0:
            self._anchor(sym, st, t, ts_ns, out)
        return out

    def on_trades(self, trades: list[WsTrade], ts_ns: int) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        if not trades:
            return out
        coin = trades[0].coin
        if all(tr.coin == coin for tr in trades):
            self._trades_of_coin(coin, trades, ts_ns, out)
        else:
            groups: dict[str, list[WsTrade]] = {}
            for tr in trades:
                groups.setdefault(tr.coin, []).append(tr)
            for c, lst in groups.items():
                self._trades_of_coin(c, lst, ts_ns, out)
        return out

    def _trades_of_coin(self, coin: str, trades: list[WsTrade], ts_ns: int, out: list[MarketEvent]) -> None:
        st = self._state.get(coin)
        if st is None:
            self.counters.count(BadInput.UNKNOWN_SYMBOL, ts_ns, coin[:40], n=len(trades))
            return
        if st.anchor_ms < 0:
            # No book or bbo yet in this session: hold the frame until one tells which
            # trades predate the subscription (or until hold_ms passes).
            st.held.append((trades, ts_ns))
            self._n_held += 1
            return
        self._emit_trades(self.coins[coin], st, trades, ts_ns, out)

    def _emit_trades(
        self, sym: int, st: _CoinState, trades: list[WsTrade], ts_ns: int, out: list[MarketEvent]
    ) -> None:
        counters = self.counters
        newest = max(tr.time for tr in trades)
        if newest > st.venue_now_ms:
            st.venue_now_ms = newest
        cutoff = st.venue_now_ms - self.backfill_ms
        if st.anchor_ms > cutoff:
            cutoff = st.anchor_ms
        for tr in trades:
            if tr.tid in st.tids:
                counters.count(BadInput.TRADE_DUPLICATE, ts_ns, f"{tr.coin} tid {tr.tid}")
                continue
            if not (0.0 < tr.px < _INF):
                counters.count(BadInput.BAD_PRICE, ts_ns, f"trade {tr.coin} tid {tr.tid}")
                continue
            if not (0.0 < tr.sz < _INF):
                counters.count(BadInput.BAD_QTY, ts_ns, f"trade {tr.coin} tid {tr.tid}")
                continue
            order = st.tid_order
            if len(order) == order.maxlen:
                st.tids.discard(order[0])
            order.append(tr.tid)
            st.tids.add(tr.tid)
            if tr.time < cutoff:
                counters.count(
                    BadInput.TRADE_BACKFILL, ts_ns, f"{tr.coin} tid {tr.tid} {st.venue_now_ms - tr.time} ms old"
                )
                continue
            side = _BUY if tr.side == "B" else _SELL
            out.append(Trade(_VENUE, sym, ts_ns, tr.time, tr.time, tr.px, tr.sz, side, tr.tid))

    def _anchor(self, sym: int, st: _CoinState, anchor_ms: int, ts_ns: int, out: list[MarketEvent]) -> None:
        """The session's first book/bbo: release held trades (stamped no earlier than now)."""
        st.anchor_ms = anchor_ms
        held, st.held = st.held, []
        self._n_held -= len(held)
        for trades, held_ts in held:
            self._emit_trades(sym, st, trades, held_ts if held_ts > ts_ns else ts_ns, out)

    def release_expired(self, now_ns: int, expire_all: bool = False) -> list[MarketEvent]:
        """Release trades frames held longer than ``hold_ms`` with no book anchor (time rule
        only). ``parse`` calls it; a feed's timer may too, for a stream that went quiet."""
        out: list[MarketEvent] = []
        for coin, st in self._state.items():
            if st.held and (expire_all or now_ns - st.held[0][1] >= self.hold_ns):
                self._anchor(self.coins[coin], st, 0, now_ns, out)
        return out

    def on_ctx(self, d: WsActiveAssetCtx, ts_ns: int) -> list[MarketEvent]:
        found = self._coin(d.coin, ts_ns)
        if found is None:
            return []
        sym, st = found
        c = d.ctx
        for v in (c.mark_px, c.oracle_px):
            if not (0.0 < v < _INF):
                self.counters.count(BadInput.BAD_PRICE, ts_ns, f"activeAssetCtx {d.coin}")
                return []
        if not (0.0 <= c.open_interest < _INF):
            self.counters.count(BadInput.BAD_QTY, ts_ns, f"activeAssetCtx {d.coin}")
            return []
        if not math.isfinite(c.funding):
            self.counters.count(BadInput.BAD_SHAPE, ts_ns, f"activeAssetCtx {d.coin} funding")
            return []
        return [FundingUpdate(_VENUE, sym, ts_ns, st.venue_now_ms, c.funding, c.mark_px, c.oracle_px, c.open_interest)]
