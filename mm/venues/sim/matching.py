"""The paper venue's matching engine: Hyperliquid's rules over a market replayed from data.

This module owns the order books, the users' orders, fills, positions, fees and margin of
the paper venue. Pure logic: no I/O, no clock reads (every call takes ``now_ns``), integers
for prices (price units of ``10 ** -price_decimals``) and sizes (lots of ``10 ** -szDecimals``).

Two kinds of liquidity share each book:

- **Background** (the market): anonymous displayed size per price level, set by a market
  driver from real or generated data: :meth:`MatchingEngine.apply_book_snapshot`,
  :meth:`apply_bbo`, :meth:`apply_book_delta` and :meth:`apply_trade`.
- **Users' orders**: our (and any other configured user's) orders, placed through
  :meth:`place_order`, :meth:`cancel`, :meth:`modify`...

Queue model (how and when a resting user order fills)
-----------------------------------------------------

A level is a FIFO queue: background quantity ``bg`` interleaved with users' orders. Each
user order remembers ``ahead``, the background lots in front of it; users' orders at one
level are in time priority.

1. **Joining.** A new order joins *behind* everything displayed at its price: ``ahead = bg``
   (and behind earlier users' orders there). Background added later joins behind it.
2. **Trades at our level.** A market trade of ``T`` lots printed at a level consumes the
   queue from the front: first the background ahead of our first order, then that order,
   then the background between orders, and so on. The background consumed is removed from
   ``bg`` (the next snapshot's size already reflects the trade) and every order's ``ahead``
   falls by it. So an order that joined behind 5 lots fills only once 5 lots have traded
   (or been cancelled) ahead of it.
3. **Trades through our level.** A market trade printed at a price *worse* than a resting
   order's (a sell below our bid, a buy above our ask) means the aggressor swept our price:
   such orders fill, in price-time priority, for up to the printed quantity
   (``trade_through = "print_qty"``) or in full (``"full"``), and the background at those
   swept prices is gone.
4. **Displayed size decreasing between snapshots** beyond what trades explain is
   cancellation, taken from the queue by the configured :class:`QueueModel`: pro rata
   (default), behind-first (pessimistic) or ahead-first (optimistic). Increases join behind.
   A snapshot is *applied as a diff per level*, never as clear-and-reload, so queue
   positions survive it. Levels inside the snapshot's price range that it omits dropped to
   zero; levels beyond its depth are left alone while one of our orders rests there.
5. **Depletion.** Background that our users took (their orders crossing the book) is
   remembered per level as *depletion*: the market driver does not know we traded, so a
   later snapshot still showing that size does not resurrect it. A decrease of displayed
   size is charged to the depletion first.
6. **Background crossing our orders.** If new background liquidity arrives at or through a
   user's resting price (the market moved through our quote), it trades with our orders
   at our price, we being the maker, as an incoming order would.

Users' crossing orders (GTC/IOC) take liquidity in price-time priority across background
and other users' orders, at the resting price. Self-trades cancel the resting order
(``selfTradeCanceled``). ALO orders that would cross are refused with the BBO in the error.
Reduce-only orders may only shrink a position; a resting one that no longer can is cancelled
(``reduceOnlyCanceled``). Margin is simple cross margin at the user's leverage: equity
(collateral + unrealized PnL at mid) minus margin of positions and open orders must cover
the new order's position increase.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Final, Literal

import msgspec

from mm.venues.hyperliquid import rules
from mm.venues.hyperliquid.rules import AssetRules
from mm.venues.sim.config import CoinConfig, FeeConfig, MatchingConfig, UserConfig
from mm.venues.sim.fees import FeeRates, fee_rates, tier_by_name
from mm.venues.sim.queue_model import QueueModel, ahead_after_cancel

ZERO_ADDRESS: Final = "0x" + "0" * 40
_TID_MASK: Final = (1 << 50) - 1
_MARKET_OID_BASE: Final = 1 << 52

# orderStatus / orderUpdates vocabulary used by the engine
OPEN: Final = "open"
FILLED: Final = "filled"
CANCELED: Final = "canceled"
MARGIN_CANCELED: Final = "marginCanceled"
SCHEDULED_CANCEL: Final = "scheduledCancel"
SELF_TRADE_CANCELED: Final = "selfTradeCanceled"
REDUCE_ONLY_CANCELED: Final = "reduceOnlyCanceled"
REJECTED: Final = "rejected"

_REJECT_STATUS: Final = {
    rules.ERR_TICK: "tickRejected",
    rules.ERR_MIN_NOTIONAL: "minTradeNtlRejected",
    rules.ERR_MARGIN: "perpMarginRejected",
    rules.ERR_REDUCE_ONLY: "reduceOnlyRejected",
    rules.ERR_IOC_CANCEL: "iocCancelRejected",
    rules.ERR_BAD_TRIGGER_PX: "badTriggerPxRejected",
}

ERR_TRIGGER_UNSUPPORTED: Final = "Trigger orders are not supported by the paper venue."

Tif = Literal["Gtc", "Ioc", "Alo", "FrontendMarket"]


class OrderRequest(msgspec.Struct, frozen=True):
    """One order as a user sends it (wire strings for price and size)."""

    asset: int
    is_buy: bool
    px: str
    sz: str
    tif: str = "Gtc"
    reduce_only: bool = False
    cloid: str | None = None
    is_trigger: bool = False


class PlaceOutcome(msgspec.Struct):
    """The per-order result: ``resting`` (with oid), ``filled`` (size and average price) or ``error``."""

    kind: Literal["resting", "filled", "error"]
    oid: int = 0
    cloid: str | None = None
    filled_lots: int = 0
    total_sz: str = ""
    avg_px: str = ""
    error: str = ""


class OrderUpdateEvent(msgspec.Struct, frozen=True):
    """An order changed status (orderUpdates)."""

    user: str
    coin: str
    oid: int
    cloid: str | None
    is_buy: bool
    px_units: int
    rem_lots: int
    orig_lots: int
    ts_ms: int
    status: str
    status_ts_ms: int
    reduce_only: bool
    tif: str


class FillEvent(msgspec.Struct, frozen=True):
    """One fill of one user's order (userFills)."""

    user: str
    coin: str
    oid: int
    cloid: str | None
    is_buy: bool
    px_units: int
    lots: int
    time_ms: int
    start_pos_lots: int
    dir: str
    closed_pnl_usd: float
    fee_usd: float
    crossed: bool
    tid: int
    hash: str


class TradeEvent(msgspec.Struct, frozen=True):
    """A print on the public tape (trades); ``users`` = [buyer, seller], zero address for the market."""

    coin: str
    taker_is_buy: bool
    px_units: int
    lots: int
    time_ms: int
    tid: int
    hash: str
    buyer: str
    seller: str


EngineEvent = OrderUpdateEvent | FillEvent | TradeEvent


class Order:
    """A user's order inside the engine (mutable; snapshots leave as events)."""

    __slots__ = (
        "ahead",
        "asset",
        "cloid",
        "coin",
        "filled_lots",
        "filled_value",
        "is_buy",
        "oid",
        "orig_lots",
        "px",
        "reduce_only",
        "rem_lots",
        "status",
        "status_ts_ms",
        "tif",
        "ts_ms",
        "user",
    )

    def __init__(
        self,
        oid: int,
        user: str,
        coin: str,
        asset: int,
        is_buy: bool,
        px: int,
        lots: int,
        tif: str,
        reduce_only: bool,
        cloid: str | None,
        ts_ms: int,
    ) -> None:
        self.oid = oid
        self.user = user
        self.coin = coin
        self.asset = asset
        self.is_buy = is_buy
        self.px = px
        self.orig_lots = lots
        self.rem_lots = lots
        self.ahead = 0
        self.tif = tif
        self.reduce_only = reduce_only
        self.cloid = cloid
        self.ts_ms = ts_ms
        self.status = OPEN
        self.status_ts_ms = ts_ms
        self.filled_lots = 0
        self.filled_value = 0  # sum of px_units * lots over fills

    def __repr__(self) -> str:
        side = "B" if self.is_buy else "A"
        return f"Order({self.oid} {self.coin} {side} {self.rem_lots}/{self.orig_lots}@{self.px} ahead={self.ahead})"


class Level:
    """One price level: background lots and users' orders in time priority."""

    __slots__ = ("bg", "orders", "px")

    def __init__(self, px: int, bg: int = 0) -> None:
        self.px = px
        self.bg = bg
        self.orders: list[Order] = []

    def total_lots(self) -> int:
        return self.bg + sum(o.rem_lots for o in self.orders)

    def is_empty(self) -> bool:
        return self.bg <= 0 and not self.orders


class BookSide:
    """Levels of one side, their sorted prices, and per-price depletion."""

    __slots__ = ("depl", "is_bid", "levels", "prices")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, Level] = {}
        self.prices: list[int] = []  # ascending
        self.depl: dict[int, int] = {}

    def best(self) -> Level | None:
        if not self.prices:
            return None
        return self.levels[self.prices[-1] if self.is_bid else self.prices[0]]

    def best_first(self) -> list[int]:
        return self.prices[::-1] if self.is_bid else list(self.prices)

    def better_than(self, px: int) -> list[int]:
        """The prices strictly better than ``px`` on this side, best first (a copy)."""
        prices = self.prices
        if self.is_bid:
            return prices[bisect_right(prices, px):][::-1] if prices and prices[-1] > px else []
        return prices[:bisect_left(prices, px)]

    def add(self, px: int, bg: int = 0, index: bool = True) -> Level:
        """A new level; ``index=False`` leaves ``prices`` to a later :meth:`reindex`."""
        level = Level(px, bg)
        self.levels[px] = level
        if index:
            insort(self.prices, px)
        return level

    def drop(self, px: int, index: bool = True) -> None:
        if self.levels.pop(px, None) is not None and index:
            i = bisect_left(self.prices, px)
            del self.prices[i]

    def drop_if_empty(self, level: Level, index: bool = True) -> None:
        if level.bg <= 0 and not level.orders:
            self.drop(level.px, index)

    def reindex(self) -> None:
        self.prices = sorted(self.levels)

    def better(self, a: int, b: int) -> bool:
        """True when price ``a`` is strictly better than ``b`` on this side."""
        return a > b if self.is_bid else a < b


class CoinBook:
    """One coin's rules and its two sides."""

    __slots__ = ("asks", "asset", "bids", "last_trade_px", "lot_scale", "name", "px_scale", "rules")

    def __init__(self, name: str, asset: int, asset_rules: AssetRules) -> None:
        self.name = name
        self.asset = asset
        self.rules = asset_rules
        self.px_scale = asset_rules.px_units_per_one
        self.lot_scale = asset_rules.lots_per_one
        self.bids = BookSide(True)
        self.asks = BookSide(False)
        self.last_trade_px: int | None = None

    def side(self, is_bid: bool) -> BookSide:
        return self.bids if is_bid else self.asks


class Position:
    """A user's position in one coin: signed lots and average entry price."""

    __slots__ = ("entry_px", "lots")

    def __init__(self) -> None:
        self.lots = 0
        self.entry_px = 0.0


class Account:
    """A user's collateral, leverage, positions, orders and fills."""

    __slots__ = (
        "address",
        "balance_usd",
        "cloids",
        "cum_volume_usd",
        "fees_paid_usd",
        "fills",
        "history",
        "leverage",
        "leverage_default",
        "open_orders",
        "positions",
    )

    def __init__(self, address: str, balance_usd: float, leverage: int, fills_kept: int, cum_volume_usd: float) -> None:
        self.address = address
        self.balance_usd = balance_usd
        self.leverage_default = leverage
        self.leverage: dict[str, int] = {}
        self.positions: dict[str, Position] = {}
        self.open_orders: dict[int, Order] = {}
        self.history: OrderedDict[int, Order] = OrderedDict()
        self.cloids: dict[str, int] = {}
        self.fills: deque[FillEvent] = deque(maxlen=fills_kept)
        self.cum_volume_usd = cum_volume_usd
        self.fees_paid_usd = 0.0

    def position(self, coin: str) -> Position:
        pos = self.positions.get(coin)
        if pos is None:
            pos = self.positions[coin] = Position()
        return pos


def _tid(buyer_oid: int, seller_oid: int) -> int:
    digest = hashlib.blake2b(buyer_oid.to_bytes(8, "big") + seller_oid.to_bytes(8, "big"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _TID_MASK


def _trade_hash(coin: str, tid: int, time_ms: int) -> str:
    return "0x" + hashlib.blake2b(f"{coin}:{tid}:{time_ms}".encode(), digest_size=32).hexdigest()


def _direction(start: int, delta: int) -> str:
    end = start + delta
    if delta > 0:
        if start >= 0:
            return "Open Long"
        return "Short > Long" if end > 0 else "Close Short"
    if start <= 0:
        return "Open Short"
    return "Long > Short" if end < 0 else "Close Long"


class MatchingEngine:
    """Books, orders, fills, positions and margin for every listed coin and configured user."""

    def __init__(
        self,
        coins: Sequence[CoinConfig],
        matching: MatchingConfig | None = None,
        fees: FeeConfig | None = None,
        users: Iterable[UserConfig] = (),
    ) -> None:
        self.cfg = matching if matching is not None else MatchingConfig()
        fee_cfg = fees if fees is not None else FeeConfig()
        self.fee_rates: FeeRates = fee_rates(tier_by_name(fee_cfg.tier), fee_cfg.maker_share, fee_cfg.staking_discount)
        self.queue_model = QueueModel(self.cfg.queue_model)
        self.min_notional = Decimal(repr(self.cfg.min_notional_usd))
        self.books: dict[str, CoinBook] = {}
        self.books_by_asset: list[CoinBook] = []
        for i, c in enumerate(coins):
            r = AssetRules(name=c.name, sz_decimals=c.sz_decimals, max_leverage=c.max_leverage,
                           only_isolated=c.only_isolated)
            cb = CoinBook(c.name, i, r)
            self.books[c.name] = cb
            self.books_by_asset.append(cb)
        self.accounts: dict[str, Account] = {}
        for u in users:
            self.add_user(u.address, u.balance_usd, u.leverage, u.cum_volume_usd)
        self._next_oid = self.cfg.first_oid
        self._next_market_oid = _MARKET_OID_BASE
        self.events: list[EngineEvent] = []
        self.dirty: set[str] = set()

    # ------------------------------------------------------------------ users

    def add_user(self, address: str, balance_usd: float, leverage: int = 20, cum_volume_usd: float = 0.0) -> Account:
        """Register an account (address matched case-insensitively)."""
        key = address.lower()
        acct = Account(key, balance_usd, leverage, self.cfg.fills_kept, cum_volume_usd)
        self.accounts[key] = acct
        return acct

    def account(self, address: str) -> Account | None:
        return self.accounts.get(address.lower())

    def set_leverage(self, address: str, asset: int, leverage: int) -> str | None:
        """Set a user's leverage on a coin; an error string when out of range."""
        acct = self.accounts.get(address.lower())
        if acct is None or not 0 <= asset < len(self.books_by_asset):
            return rules.ERR_UNKNOWN_ASSET
        cb = self.books_by_asset[asset]
        if not 1 <= leverage <= cb.rules.max_leverage:
            return f"Invalid leverage value: {leverage}"
        acct.leverage[cb.name] = leverage
        return None

    def leverage_of(self, acct: Account, cb: CoinBook) -> int:
        return min(acct.leverage.get(cb.name, acct.leverage_default), cb.rules.max_leverage)

    # ------------------------------------------------------------------ market driver

    def apply_book_snapshot(
        self, coin: str, bids: Sequence[tuple[float, float]], asks: Sequence[tuple[float, float]], now_ns: int
    ) -> None:
        """Apply a full L2 snapshot of the market (best first or any order) as per-level diffs."""
        cb = self.books[coin]
        ps = cb.px_scale
        ls = cb.lot_scale
        new_bids: dict[int, int] = {}
        for px, qty in bids:
            lots = round(qty * ls)
            if lots > 0 and px > 0:
                u = round(px * ps)
                new_bids[u] = new_bids.get(u, 0) + lots
        new_asks: dict[int, int] = {}
        for px, qty in asks:
            lots = round(qty * ls)
            if lots > 0 and px > 0:
                u = round(px * ps)
                new_asks[u] = new_asks.get(u, 0) + lots
        if new_bids and new_asks:
            top_bid = max(new_bids)
            if top_bid >= min(new_asks):  # a crossed snapshot: keep the bids, drop crossing asks
                new_asks = {p: q for p, q in new_asks.items() if p > top_bid}
        self._apply_side_snapshot(cb.bids, new_bids)
        self._apply_side_snapshot(cb.asks, new_asks)
        self._resolve_cross(cb, now_ns // 1_000_000)
        self.dirty.add(coin)

    def apply_bbo(self, coin: str, bid_px: float, bid_qty: float, ask_px: float, ask_qty: float, now_ns: int) -> None:
        """Apply a best bid/offer update: the top level's size, and nothing better than it remains.

        A side with price 0 is left unchanged.
        """
        cb = self.books[coin]
        ps = cb.px_scale
        bid_u = int(round(bid_px * ps)) if bid_px > 0 else 0
        ask_u = int(round(ask_px * ps)) if ask_px > 0 else 0
        if bid_u and ask_u and bid_u >= ask_u:
            return  # a crossed BBO cannot be the market's
        if bid_u:
            self._apply_top(cb.bids, bid_u, int(round(bid_qty * cb.lot_scale)))
        if ask_u:
            self._apply_top(cb.asks, ask_u, int(round(ask_qty * cb.lot_scale)))
        self._resolve_cross(cb, now_ns // 1_000_000, prefer_bids=bool(bid_u) and not ask_u)
        self.dirty.add(coin)

    def apply_book_delta(
        self, coin: str, bids: Sequence[tuple[float, float]], asks: Sequence[tuple[float, float]], now_ns: int
    ) -> None:
        """Apply absolute level sizes (0 removes the level's background), as a depth diff does."""
        cb = self.books[coin]
        r = cb.rules
        for side, levels in ((cb.bids, bids), (cb.asks, asks)):
            for px, qty in levels:
                if px > 0:
                    self._set_level_qty(side, r.float_px_to_units(px), max(0, r.float_sz_to_lots(qty)))
        self._resolve_cross(cb, now_ns // 1_000_000)
        self.dirty.add(coin)

    def apply_trade(
        self, coin: str, aggressor_is_buy: bool, px: float, qty: float, now_ns: int, trade_id: int = 0
    ) -> None:
        """A market trade printed: publish it and advance or fill users' orders it reached."""
        cb = self.books[coin]
        pu = int(round(px * cb.px_scale))
        lots = int(round(qty * cb.lot_scale))
        if lots <= 0 or pu <= 0:
            return
        now_ms = now_ns // 1_000_000
        cb.last_trade_px = pu
        tid = trade_id & _TID_MASK if trade_id else _tid(self._market_oid(), self._market_oid())
        self.events.append(
            TradeEvent(cb.name, aggressor_is_buy, pu, lots, now_ms, tid, _trade_hash(cb.name, tid, now_ms),
                       ZERO_ADDRESS, ZERO_ADDRESS)
        )
        maker = cb.asks if aggressor_is_buy else cb.bids
        # 1. levels the print went through: their users' orders fill, their background is gone
        budget = lots
        full = self.cfg.trade_through == "full"
        for p in maker.better_than(pu):
            level = maker.levels[p]
            i = 0
            while i < len(level.orders):
                o = level.orders[i]
                want = o.rem_lots if full else min(o.rem_lots, budget)
                q = self._reduce_only_cap(o, want)
                if q > 0:
                    self._fill(cb, o, None, p, q, now_ms, publish=False)
                    budget -= q
                if o.rem_lots == 0:
                    level.orders.pop(i)
                elif o.reduce_only and q < want:
                    level.orders.pop(i)
                    self._close(o, REDUCE_ONLY_CANCELED, now_ms)
                else:
                    o.ahead = 0
                    i += 1
            level.bg = 0
            maker.depl.pop(p, None)
            maker.drop_if_empty(level)
        # 2. the level it printed at: the queue advances from the front
        level_at = maker.levels.get(pu)
        if level_at is not None:
            self._match_level(cb, maker, level_at, lots, None, now_ms)
            maker.drop_if_empty(level_at)
        self.dirty.add(coin)

    # ------------------------------------------------------------------ users' actions

    def place_order(self, user: str, req: OrderRequest, now_ns: int) -> PlaceOutcome:
        """Validate, match and rest (or not) one order; the per-order result."""
        acct = self.accounts[user.lower()]
        now_ms = now_ns // 1_000_000
        if not 0 <= req.asset < len(self.books_by_asset):
            return PlaceOutcome("error", error=rules.ERR_UNKNOWN_ASSET)
        cb = self.books_by_asset[req.asset]
        if req.is_trigger:
            return PlaceOutcome("error", error=ERR_TRIGGER_UNSUPPORTED)
        err = rules.check_order(req.px, req.sz, cb.rules.sz_decimals, False, self.min_notional)
        if err is not None:
            return self._reject_static(acct, cb, req, err, now_ms)
        o = Order(
            self._new_oid(), acct.address, cb.name, cb.asset, req.is_buy,
            cb.rules.px_to_units(Decimal(req.px)), cb.rules.sz_to_lots(Decimal(req.sz)),
            req.tif, req.reduce_only, req.cloid, now_ms,
        )
        return self._place(acct, cb, o, now_ms)

    def cancel(self, user: str, asset: int, oid: int, now_ns: int, status: str = CANCELED) -> str | None:
        """Cancel an open order by oid; None on success, else the missing-order error."""
        acct = self.accounts[user.lower()]
        o = acct.open_orders.get(oid)
        if o is None or o.asset != asset:
            return rules.ERR_CANCEL_MISSING
        self._remove_resting(o)
        self._close(o, status, now_ns // 1_000_000)
        return None

    def cancel_by_cloid(self, user: str, asset: int, cloid: str, now_ns: int) -> str | None:
        """Cancel an open order by client order id."""
        acct = self.accounts[user.lower()]
        oid = acct.cloids.get(cloid.lower())
        if oid is None:
            return rules.ERR_CANCEL_MISSING
        return self.cancel(user, asset, oid, now_ns)

    def cancel_all(self, user: str, now_ns: int, status: str = CANCELED) -> list[int]:
        """Cancel every open order of a user (the dead man's switch uses ``scheduledCancel``)."""
        acct = self.accounts[user.lower()]
        now_ms = now_ns // 1_000_000
        out = []
        for o in list(acct.open_orders.values()):
            self._remove_resting(o)
            self._close(o, status, now_ms)
            out.append(o.oid)
        return out

    def modify(self, user: str, target: int | str, req: OrderRequest, now_ns: int) -> PlaceOutcome:
        """Cancel-replace: the open order ``target`` (oid or cloid) is cancelled and ``req`` placed
        with a new oid. A request failing the static checks leaves the old order untouched."""
        acct = self.accounts[user.lower()]
        now_ms = now_ns // 1_000_000
        old = self.find_order(user, target)
        if old is None or old.status != OPEN:
            return PlaceOutcome("error", error=rules.ERR_MODIFY_DEAD)
        if not 0 <= req.asset < len(self.books_by_asset):
            return PlaceOutcome("error", error=rules.ERR_UNKNOWN_ASSET)
        cb = self.books_by_asset[req.asset]
        if req.is_trigger:
            return PlaceOutcome("error", error=ERR_TRIGGER_UNSUPPORTED)
        err = rules.check_order(req.px, req.sz, cb.rules.sz_decimals, False, self.min_notional)
        if err is not None:
            return PlaceOutcome("error", error=err)
        self._remove_resting(old)
        old.status = CANCELED
        old.status_ts_ms = now_ms
        acct.open_orders.pop(old.oid, None)
        o = Order(
            self._new_oid(), acct.address, cb.name, cb.asset, req.is_buy,
            cb.rules.px_to_units(Decimal(req.px)), cb.rules.sz_to_lots(Decimal(req.sz)),
            req.tif, req.reduce_only, req.cloid, now_ms,
        )
        outcome = self._place(acct, cb, o, now_ms)
        # Hyperliquid reports the replacement first, then the old order's cancellation
        self._emit_update(old)
        self.dirty.add(old.coin)
        self._trim_history(acct)
        return outcome

    # ------------------------------------------------------------------ queries

    def find_order(self, user: str, target: int | str) -> Order | None:
        """An order of this user by oid or by cloid (open or recent)."""
        acct = self.accounts.get(user.lower())
        if acct is None:
            return None
        if isinstance(target, str):
            oid = acct.cloids.get(target.lower())
            if oid is None:
                return None
            target = oid
        o = acct.open_orders.get(target)
        return o if o is not None else acct.history.get(target)

    def open_orders(self, user: str) -> list[Order]:
        acct = self.accounts.get(user.lower())
        return sorted(acct.open_orders.values(), key=lambda o: o.oid) if acct is not None else []

    def book_levels(self, coin: str, depth: int | None = None) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """Displayed levels ``(px_units, lots, n_orders)``, best first: background plus users' orders."""
        cb = self.books[coin]
        n = depth if depth is not None else self.cfg.book_depth
        out: tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]] = ([], [])
        for k, side in enumerate((cb.bids, cb.asks)):
            prices = side.prices
            rng = range(len(prices) - 1, -1, -1) if side.is_bid else range(len(prices))
            for i in rng:
                level = side.levels[prices[i]]
                lots = level.bg
                cnt = 1 if level.bg > 0 else 0
                for o in level.orders:
                    lots += o.rem_lots
                    cnt += 1
                out[k].append((level.px, lots, cnt))
                if len(out[k]) >= n:
                    break
        return out

    def bbo(self, coin: str) -> tuple[tuple[int, int, int] | None, tuple[int, int, int] | None]:
        """Best bid and ask as ``(px_units, lots, n)``, or None for an empty side."""
        cb = self.books[coin]
        out: list[tuple[int, int, int] | None] = []
        for side in (cb.bids, cb.asks):
            level = side.best()
            if level is None:
                out.append(None)
                continue
            lots = level.bg
            cnt = 1 if lots > 0 else 0
            for o in level.orders:
                lots += o.rem_lots
                cnt += 1
            out.append((level.px, lots, cnt))
        return out[0], out[1]

    def mid_px(self, coin: str) -> float | None:
        """Mid of the displayed book; the last trade when a side is empty; None without either."""
        cb = self.books[coin]
        b = cb.bids.best()
        a = cb.asks.best()
        if b is not None and a is not None:
            return (b.px + a.px) / 2 / cb.px_scale
        if cb.last_trade_px is not None:
            return cb.last_trade_px / cb.px_scale
        return None

    def mark_px(self, cb: CoinBook, pos: Position | None = None) -> float:
        mid = self.mid_px(cb.name)
        if mid is not None:
            return mid
        return pos.entry_px if pos is not None else 0.0

    def px_str(self, coin: str, units: int) -> str:
        """A price in Hyperliquid's response style (``"29792.0"``)."""
        return rules.hl_str(self.books[coin].rules.units_to_px(units))

    def sz_str(self, coin: str, lots: int) -> str:
        """A size in Hyperliquid's response style (``"0.0"``)."""
        return rules.hl_str(self.books[coin].rules.lots_to_sz(lots))

    def account_value_usd(self, acct: Account) -> float:
        """Collateral plus unrealized PnL at mark."""
        value = acct.balance_usd
        for coin, pos in acct.positions.items():
            if pos.lots:
                cb = self.books[coin]
                sz = pos.lots / cb.lot_scale
                value += (self.mark_px(cb, pos) - pos.entry_px) * sz
        return value

    def margin_used_usd(self, acct: Account) -> float:
        """Initial margin of the positions at mark."""
        used = 0.0
        for coin, pos in acct.positions.items():
            if pos.lots:
                cb = self.books[coin]
                used += abs(pos.lots) / cb.lot_scale * self.mark_px(cb, pos) / self.leverage_of(acct, cb)
        return used

    def order_margin_usd(self, acct: Account) -> float:
        """Initial margin held by open orders that are not reduce-only."""
        held = 0.0
        for o in acct.open_orders.values():
            if not o.reduce_only:
                cb = self.books[o.coin]
                held += o.rem_lots / cb.lot_scale * o.px / cb.px_scale / self.leverage_of(acct, cb)
        return held

    def check_invariants(self) -> None:
        """Raise AssertionError when a structural invariant of the books is broken."""
        for cb in self.books.values():
            b = cb.bids.best()
            a = cb.asks.best()
            assert b is None or a is None or b.px < a.px, f"{cb.name} crossed: {b and b.px} >= {a and a.px}"
            for side in (cb.bids, cb.asks):
                assert side.prices == sorted(side.levels), f"{cb.name} price index out of order"
                for px, level in side.levels.items():
                    assert level.px == px
                    assert level.bg >= 0, f"{cb.name} negative background at {px}"
                    assert not level.is_empty(), f"{cb.name} empty level kept at {px}"
                    last_ahead = 0
                    for o in level.orders:
                        assert o.rem_lots > 0, f"resting order with no size: {o}"
                        assert o.status == OPEN and o.px == px and o.is_buy == side.is_bid
                        assert 0 <= o.ahead <= level.bg, f"ahead out of range: {o} bg={level.bg}"
                        assert o.ahead >= last_ahead, f"queue order broken at {px}"
                        last_ahead = o.ahead
                        assert self.accounts[o.user].open_orders.get(o.oid) is o
                for dp in side.depl.values():
                    assert dp > 0
        for acct in self.accounts.values():
            for o in acct.open_orders.values():
                side = self.books[o.coin].side(o.is_buy)
                assert o in side.levels[o.px].orders, f"open order not in book: {o}"

    def drain_events(self) -> list[EngineEvent]:
        """Events since the last drain, in the order they happened."""
        out = self.events
        self.events = []
        return out

    # ------------------------------------------------------------------ internals: placement

    def _new_oid(self) -> int:
        oid = self._next_oid
        self._next_oid += 1
        return oid

    def _market_oid(self) -> int:
        oid = self._next_market_oid
        self._next_market_oid += 1
        return oid

    def _reject_static(self, acct: Account, cb: CoinBook, req: OrderRequest, err: str, now_ms: int) -> PlaceOutcome:
        """Record an order refused by the static checks (so a cloid lookup finds it) and report the error."""
        try:
            px = cb.rules.px_to_units(rules.to_decimal(req.px))
        except (ValueError, ArithmeticError):
            px = 0
        o = Order(self._new_oid(), acct.address, cb.name, cb.asset, req.is_buy, px, 0, req.tif,
                  req.reduce_only, req.cloid, now_ms)
        self._record(acct, o)
        self._close(o, _REJECT_STATUS.get(err, REJECTED), now_ms)
        return PlaceOutcome("error", error=err)

    def _reject(self, acct: Account, o: Order, err: str, status: str, now_ms: int) -> PlaceOutcome:
        self._close(o, status, now_ms)
        return PlaceOutcome("error", error=err)

    def _place(self, acct: Account, cb: CoinBook, o: Order, now_ms: int) -> PlaceOutcome:
        self._record(acct, o)
        if o.reduce_only and self._reduce_only_cap(o, o.rem_lots) == 0:
            return self._reject(acct, o, rules.ERR_REDUCE_ONLY, "reduceOnlyRejected", now_ms)
        opp = cb.asks if o.is_buy else cb.bids
        best_opp = opp.best()
        crosses = best_opp is not None and (o.px >= best_opp.px if o.is_buy else o.px <= best_opp.px)
        if o.tif == "Alo" and crosses:
            bid, ask = self.bbo(cb.name)
            bid_s = rules.plain_str(cb.rules.units_to_px(bid[0])) if bid else "0"
            ask_s = rules.plain_str(cb.rules.units_to_px(ask[0])) if ask else "0"
            return self._reject(acct, o, rules.err_bad_alo(bid_s, ask_s), "badAloPxRejected", now_ms)
        if self.cfg.margin_check and not self._margin_ok(acct, cb, o):
            return self._reject(acct, o, rules.ERR_MARGIN, "perpMarginRejected", now_ms)
        is_ioc = o.tif in ("Ioc", "FrontendMarket")
        if crosses:
            self._match_incoming(cb, o, now_ms)
        if o.rem_lots == 0:
            # filled on arrival: terminal in orderStatus, and an orderUpdate says so (as on Hyperliquid)
            self._close(o, FILLED, now_ms)
            return self._filled_outcome(cb, o)
        if is_ioc:
            if o.filled_lots == 0:
                return self._reject(acct, o, rules.ERR_IOC_CANCEL, "iocCancelRejected", now_ms)
            self._close(o, CANCELED, now_ms)
            return self._filled_outcome(cb, o)
        if o.reduce_only and self._reduce_only_cap(o, o.rem_lots) == 0:
            self._close(o, REDUCE_ONLY_CANCELED, now_ms)
            return self._filled_outcome(cb, o)
        # rest: behind everything displayed at this price
        side = cb.side(o.is_buy)
        level = side.levels.get(o.px)
        if level is None:
            level = side.add(o.px)
        o.ahead = level.bg
        level.orders.append(o)
        acct.open_orders[o.oid] = o
        self._emit_update(o)
        self.dirty.add(cb.name)
        return PlaceOutcome("resting", oid=o.oid, cloid=o.cloid)

    def _filled_outcome(self, cb: CoinBook, o: Order) -> PlaceOutcome:
        avg = (Decimal(o.filled_value) / Decimal(o.filled_lots)).scaleb(-cb.rules.px_decimals)
        avg = avg.quantize(Decimal(1).scaleb(-rules.WIRE_MAX_DECIMALS))
        return PlaceOutcome(
            "filled", oid=o.oid, cloid=o.cloid, filled_lots=o.filled_lots,
            total_sz=rules.hl_str(cb.rules.lots_to_sz(o.filled_lots)), avg_px=rules.hl_str(avg),
        )

    def _record(self, acct: Account, o: Order) -> None:
        acct.history[o.oid] = o
        if o.cloid is not None:
            acct.cloids[o.cloid.lower()] = o.oid
        self._trim_history(acct)

    def _trim_history(self, acct: Account) -> None:
        while len(acct.history) > self.cfg.orders_kept:
            oid, old = next(iter(acct.history.items()))
            if old.status == OPEN:
                acct.history.move_to_end(oid)
                if all(x.status == OPEN for x in acct.history.values()):
                    return
                continue
            del acct.history[oid]
            if old.cloid is not None and acct.cloids.get(old.cloid.lower()) == oid:
                del acct.cloids[old.cloid.lower()]

    def _close(self, o: Order, status: str, now_ms: int) -> None:
        """Move an order to a terminal status and publish it (the caller removed it from the book)."""
        o.status = status
        o.status_ts_ms = now_ms
        acct = self.accounts[o.user]
        acct.open_orders.pop(o.oid, None)
        self._emit_update(o)
        self.dirty.add(o.coin)

    def _remove_resting(self, o: Order) -> None:
        side = self.books[o.coin].side(o.is_buy)
        level = side.levels.get(o.px)
        if level is None:
            return
        try:
            level.orders.remove(o)
        except ValueError:
            return
        side.drop_if_empty(level)

    def _emit_update(self, o: Order) -> None:
        self.events.append(
            OrderUpdateEvent(
                o.user, o.coin, o.oid, o.cloid, o.is_buy, o.px, o.rem_lots, o.orig_lots, o.ts_ms, o.status,
                o.status_ts_ms, o.reduce_only, o.tif,
            )
        )

    def _reduce_only_cap(self, o: Order, want: int) -> int:
        if not o.reduce_only:
            return want
        pos = self.accounts[o.user].position(o.coin).lots
        allowed = -pos if o.is_buy else pos
        return max(0, min(want, allowed))

    def _margin_ok(self, acct: Account, cb: CoinBook, o: Order) -> bool:
        pos = acct.position(cb.name).lots
        reducing = max(0, -pos) if o.is_buy else max(0, pos)
        increase = max(0, o.rem_lots - reducing) if not o.reduce_only else 0
        if increase == 0:
            return True
        required = increase / cb.lot_scale * o.px / cb.px_scale / self.leverage_of(acct, cb)
        free = self.account_value_usd(acct) - self.margin_used_usd(acct) - self.order_margin_usd(acct)
        return free + 1e-9 >= required

    # ------------------------------------------------------------------ internals: matching

    def _match_incoming(self, cb: CoinBook, o: Order, now_ms: int) -> None:
        opp = cb.asks if o.is_buy else cb.bids
        budget = self._reduce_only_cap(o, o.rem_lots)
        for p in opp.best_first():
            if budget <= 0 or (p > o.px if o.is_buy else p < o.px):
                break
            level = opp.levels[p]
            budget -= self._match_level(cb, opp, level, budget, o, now_ms)
            opp.drop_if_empty(level)

    def _match_level(self, cb: CoinBook, side: BookSide, level: Level, budget: int, taker: Order | None,
                     now_ms: int) -> int:
        """Take up to ``budget`` lots from a level in queue order; ``taker`` None is a market trade.

        Returns the lots taken (background and users' orders).
        """
        orders = level.orders
        consumed_bg = 0
        taken = 0
        i = 0
        while budget > 0 and i < len(orders):
            o = orders[i]
            seg = o.ahead - consumed_bg
            if seg > 0:
                t = seg if seg < budget else budget
                consumed_bg += t
                budget -= t
                taken += t
                if taker is not None:
                    self._fill_vs_market(cb, taker, level.px, t, now_ms)
                if budget == 0:
                    break
            if taker is not None and o.user == taker.user:
                orders.pop(i)
                self._close(o, SELF_TRADE_CANCELED, now_ms)
                continue
            want = o.rem_lots if o.rem_lots < budget else budget
            q = self._reduce_only_cap(o, want)
            if q > 0:
                self._fill(cb, o, taker, level.px, q, now_ms, publish=taker is not None)
                budget -= q
                taken += q
            if o.rem_lots == 0:
                orders.pop(i)
            elif q < want:  # a reduce-only order that can no longer reduce
                orders.pop(i)
                self._close(o, REDUCE_ONLY_CANCELED, now_ms)
            else:
                i += 1
        if budget > 0:
            avail = level.bg - consumed_bg
            t = avail if avail < budget else budget
            if t > 0:
                consumed_bg += t
                budget -= t
                taken += t
                if taker is not None:
                    self._fill_vs_market(cb, taker, level.px, t, now_ms)
        if consumed_bg:
            level.bg -= consumed_bg
            for o in orders:
                o.ahead = o.ahead - consumed_bg if o.ahead > consumed_bg else 0
            if taker is not None:
                side.depl[level.px] = side.depl.get(level.px, 0) + consumed_bg
        if taker is None and budget > 0:
            dp = side.depl.get(level.px, 0)
            if dp:
                left = dp - budget
                if left > 0:
                    side.depl[level.px] = left
                else:
                    del side.depl[level.px]
        return taken

    def _fill(self, cb: CoinBook, maker: Order, taker: Order | None, px: int, lots: int, now_ms: int,
              publish: bool) -> None:
        """A resting user order fills ``lots`` at ``px`` against ``taker`` (None = the market)."""
        if taker is None:
            other_oid = self._market_oid()
            other_user = ZERO_ADDRESS
        else:
            other_oid = taker.oid
            other_user = taker.user
        buyer_oid, seller_oid = (maker.oid, other_oid) if maker.is_buy else (other_oid, maker.oid)
        tid = _tid(buyer_oid, seller_oid)
        h = _trade_hash(cb.name, tid, now_ms)
        self._apply_fill(cb, maker, px, lots, now_ms, crossed=False, tid=tid, h=h)
        if taker is not None:
            self._apply_fill(cb, taker, px, lots, now_ms, crossed=True, tid=tid, h=h)
        if publish:
            buyer, seller = (maker.user, other_user) if maker.is_buy else (other_user, maker.user)
            self.events.append(TradeEvent(cb.name, not maker.is_buy, px, lots, now_ms, tid, h, buyer, seller))
        cb.last_trade_px = px
        if maker.rem_lots == 0:
            maker.status = FILLED
            maker.status_ts_ms = now_ms
            self.accounts[maker.user].open_orders.pop(maker.oid, None)
            self._emit_update(maker)

    def _fill_vs_market(self, cb: CoinBook, taker: Order, px: int, lots: int, now_ms: int) -> None:
        """A user's incoming order takes ``lots`` of background at ``px``."""
        other = self._market_oid()
        tid = _tid(taker.oid, other) if taker.is_buy else _tid(other, taker.oid)
        h = _trade_hash(cb.name, tid, now_ms)
        self._apply_fill(cb, taker, px, lots, now_ms, crossed=True, tid=tid, h=h)
        buyer, seller = (taker.user, ZERO_ADDRESS) if taker.is_buy else (ZERO_ADDRESS, taker.user)
        self.events.append(TradeEvent(cb.name, taker.is_buy, px, lots, now_ms, tid, h, buyer, seller))
        cb.last_trade_px = px

    def _apply_fill(self, cb: CoinBook, o: Order, px: int, lots: int, now_ms: int, crossed: bool, tid: int,
                    h: str) -> None:
        acct = self.accounts[o.user]
        o.rem_lots -= lots
        o.filled_lots += lots
        o.filled_value += px * lots
        pos = acct.position(cb.name)
        start = pos.lots
        delta = lots if o.is_buy else -lots
        px_f = px / cb.px_scale
        sz_f = lots / cb.lot_scale
        closed_pnl = 0.0
        if start == 0 or (start > 0) == (delta > 0):
            total = abs(start) + lots
            pos.entry_px = (pos.entry_px * abs(start) + px_f * lots) / total
        else:
            closing = min(lots, abs(start))
            closed_pnl = (px_f - pos.entry_px) * (closing / cb.lot_scale) * (1 if start > 0 else -1)
            if lots > abs(start):
                pos.entry_px = px_f
            elif lots == abs(start):
                pos.entry_px = 0.0
        pos.lots = start + delta
        notional = px_f * sz_f
        fee = self.fee_rates.fee_usd(notional, is_maker=not crossed)
        acct.balance_usd += closed_pnl - fee
        acct.cum_volume_usd += notional
        acct.fees_paid_usd += fee
        fill = FillEvent(
            acct.address, cb.name, o.oid, o.cloid, o.is_buy, px, lots, now_ms, start, _direction(start, delta),
            closed_pnl, fee, crossed, tid, h,
        )
        acct.fills.appendleft(fill)
        self.events.append(fill)

    # ------------------------------------------------------------------ internals: background

    def _set_level_qty(self, side: BookSide, px: int, new_qty: int, index: bool = True) -> None:
        """Bring a level's displayed background to ``new_qty`` (the market's figure) as a diff."""
        level = side.levels.get(px)
        bg = level.bg if level is not None else 0
        dp = side.depl.get(px, 0)
        prev = bg + dp
        if new_qty < prev:
            shrink = prev - new_qty
            used = dp if dp < shrink else shrink
            dp -= used
            cancels = shrink - used
            if cancels and level is not None:
                if level.orders:
                    model = self.queue_model
                    for o in level.orders:
                        o.ahead = ahead_after_cancel(model, o.ahead, bg, cancels)
                level.bg = bg - cancels
        elif new_qty > prev:
            if level is None:
                level = side.add(px, 0, index)
            level.bg = bg + (new_qty - prev)
        if dp:
            side.depl[px] = dp
        else:
            side.depl.pop(px, None)
        if level is not None:
            side.drop_if_empty(level, index)

    def _apply_side_snapshot(self, side: BookSide, new: dict[int, int]) -> None:
        levels = side.levels
        depl = side.depl
        if new:
            worst = min(new) if side.is_bid else max(new)
        for px in list(levels):
            if px in new:
                continue
            level = levels[px]
            if not level.orders:
                del levels[px]  # gone from the market (or beyond its depth, where nothing of ours rests)
            elif not new or (px >= worst if side.is_bid else px <= worst):
                self._set_level_qty(side, px, 0, index=False)
        if depl:
            for px in [p for p in depl if p not in new]:
                del depl[px]
        for px, qty in new.items():
            current = levels.get(px)
            if px not in depl:
                if current is None:
                    levels[px] = Level(px, qty)
                    continue
                if not current.orders:
                    current.bg = qty
                    continue
            self._set_level_qty(side, px, qty, index=False)
        side.reindex()

    def _apply_top(self, side: BookSide, px: int, lots: int) -> None:
        """The market's best price on this side is ``px`` with ``lots``: nothing better remains."""
        for p in side.better_than(px):
            self._set_level_qty(side, p, 0)
            side.depl.pop(p, None)
        self._set_level_qty(side, px, lots)

    def _resolve_cross(self, cb: CoinBook, now_ms: int, prefer_bids: bool = False) -> None:
        """New background that reaches users' resting orders trades with them (users are makers)."""
        while True:
            b = cb.bids.best()
            a = cb.asks.best()
            if b is None or a is None or b.px < a.px:
                return
            if b.bg > 0 and a.bg > 0:
                # two background sides crossed (one side updated alone): the fresher side wins
                stale, side = (a, cb.asks) if prefer_bids else (b, cb.bids)
                for o in stale.orders:
                    o.ahead = 0
                stale.bg = 0
                side.depl.pop(stale.px, None)
                side.drop_if_empty(stale)
                continue
            if b.bg > 0 and a.orders:
                self._background_takes(cb, cb.bids, b, cb.asks, a, now_ms)
            elif a.bg > 0 and b.orders:
                self._background_takes(cb, cb.asks, a, cb.bids, b, now_ms)
            else:  # users never rest crossed against users; nothing left to resolve
                return

    def _background_takes(self, cb: CoinBook, bg_side: BookSide, bg_level: Level, user_side: BookSide,
                          user_level: Level, now_ms: int) -> None:
        """Background at ``bg_level`` trades against users' orders at ``user_level`` (at their price)."""
        budget = bg_level.bg
        taken = 0
        i = 0
        orders = user_level.orders
        while budget > 0 and i < len(orders):
            o = orders[i]
            want = min(o.rem_lots, budget)
            q = self._reduce_only_cap(o, want)
            if q > 0:
                self._fill(cb, o, None, user_level.px, q, now_ms, publish=True)
                budget -= q
                taken += q
            if o.rem_lots == 0:
                orders.pop(i)
            elif q < want:
                orders.pop(i)
                self._close(o, REDUCE_ONLY_CANCELED, now_ms)
            else:
                i += 1
        bg_level.bg -= taken
        for o in bg_level.orders:
            if o.ahead > bg_level.bg:
                o.ahead = bg_level.bg
        if taken:
            bg_side.depl[bg_level.px] = bg_side.depl.get(bg_level.px, 0) + taken
        user_side.drop_if_empty(user_level)
        bg_side.drop_if_empty(bg_level)
