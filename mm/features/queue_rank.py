"""Queue rank of resting orders, estimated from book updates and trades (issue 5 item 4).

What this module owns: for every order it tracks (our live orders, learnt from execution's
``OrderEvent`` on the ex ring, and hypothetical orders added by the training-label builder),
the quantity *ahead* of it in its price level's FIFO queue, the rank fraction, and whether
the market data says it should have filled. Pure logic: events and times in, numbers out.

The documented model
--------------------
The public feed shows, per price level, only the displayed quantity ``D``. Let ``O`` be the
*others'* quantity there (``D`` minus our own resting quantity at that level, for orders
that are in the book; hypothetical orders are not in ``D``). Each tracked order keeps
``ahead``, the others' quantity in front of it, with ``0 <= ahead <= O``.

- Join. An order joins at the back: ``ahead = O`` at the moment it is added, from the last
  displayed quantity at its price (0 for an empty level). A hypothetical order may join at
  any rank ``r`` in [0, 1]: ``ahead = r * O`` (the label builder uses this to see how the
  outcome depends on the rank). For a live order first seen OPEN in an ``OrderEvent``, the
  last book seen is taken to predate the order (the ack comes back with the block that
  placed it; the book update showing it comes after), so ``O = D``.
- Trade at our price. A trade of quantity ``q`` whose maker side is ours, at our price,
  consumes the front of the queue: ``ahead' = max(0, ahead - q)`` and ``O' = max(0, O - q)``;
  the part ``q - ahead`` beyond the queue in front of us (if positive) fills us (an
  estimate: live fills are the venue's to report).
- Trade through our price (a sell below our bid, a buy above our ask), or the opposite best
  reaching our price (best ask <= our bid): the whole level was taken or crossed: the order
  is estimated filled, ``ahead = 0``.
- Displayed decrease beyond the trades (cancels). When the level's displayed quantity is
  next observed (snapshot, delta, or a BBO at that price), ``O_new = D - ours``. A decrease
  ``c = O - O_new > 0`` was cancelled, and which part of it was in front of us is not
  observable; :class:`~mm.venues.sim.queue_model.QueueModel` names the assumption, as in
  the paper venue: ``PRO_RATA`` (default) ``ahead' = ahead * O_new / O``; ``BEHIND_FIRST``
  (pessimistic) ``ahead' = min(ahead, O_new)``; ``AHEAD_FIRST`` (optimistic)
  ``ahead' = max(0, ahead - c)``. An increase joined behind us: ``ahead`` is unchanged.
  Always ``ahead <= O_new`` afterwards.
- Level gone. A BBO whose best price is worse than ours (best bid below our bid) with no
  crossing shows that nobody else rests at our price: ``O = ahead = 0`` (we are the touch).
  A snapshot that covers our price and does not list it says the same.

Every map above is monotone in ``ahead`` and never increases it, so ``ahead`` only falls
while an order rests, and of two orders at one level the one that joined with less ahead
always keeps less ahead (and fills first). Orders are treated independently: ``ahead``
counts only other participants (our own orders at the same level are not counted ahead of
each other; execution keeps one order per side).

Outputs: :meth:`QueueRankTracker.order` per key (``ahead_qty``, ``level_qty`` = O,
``rank_frac`` = ahead / O in [0, 1], 0 when O = 0, i.e. 0 = front, 1 = back), and
:meth:`QueueRankTracker.ranks` = the rank fractions of our live bid and ask orders nearest
the touch, -1.0 for a side without one (what ``FeatureEngine.set_queue_ranks`` takes).

Known limits (stated, not hidden): Hyperliquid publishes a full snapshot per block and the
recorder samples it (~0.5 s); between snapshots only the best level is refreshed (BBO), so a
level behind the touch is re-observed at snapshot rate. If a BBO that already reflects a
trade arrives before that trade's print, the decrease is first read as a cancel and the
print then consumes the queue again (an optimistic bias bounded by one trade).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from typing import Final

import msgspec

from mm.schema import Bbo, BookDelta, BookSnapshot, OrderEvent, OrderStatus, Trade, Venue
from mm.venues.sim.queue_model import QueueModel

NO_RANK: Final = -1.0
BID: Final = 1
ASK: Final = -1

_RESTING: Final = frozenset((int(OrderStatus.OPEN), int(OrderStatus.PARTIALLY_FILLED), int(OrderStatus.PENDING_CANCEL)))
_GONE: Final = frozenset(
    (int(OrderStatus.FILLED), int(OrderStatus.CANCELLED), int(OrderStatus.REJECTED), int(OrderStatus.STALE))
)


class QueueRankConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[queue_rank]``: the queue-position assumption and which feed is ours.

    Fields:
        cancel_model: which part of a displayed decrease (beyond trades) was in front of
            the order: ``"pro_rata"`` (default), ``"behind_first"`` (pessimistic) or
            ``"ahead_first"`` (optimistic); see the module docstring.
        our_venues: venue ids (``mm.schema.Venue``) whose book and trades hold our orders.
    """

    cancel_model: str = QueueModel.PRO_RATA.value
    our_venues: tuple[int, ...] = (int(Venue.HYPERLIQUID), int(Venue.SIM))

    def __post_init__(self) -> None:
        known = [m.value for m in QueueModel]
        if self.cancel_model not in known:
            raise ValueError(f"cancel_model: expected one of {known}, got {self.cancel_model!r}")
        if not self.our_venues:
            raise ValueError("our_venues: must name at least one venue")


def ahead_after_cancel(model: QueueModel, ahead: float, others: float, others_new: float) -> float:
    """``ahead`` after the others' quantity at a level fell from ``others`` to ``others_new``
    by cancels (no trade), under ``model``. Never above ``ahead`` nor ``others_new``."""
    if others_new >= others or ahead <= 0.0:
        return min(max(ahead, 0.0), max(others_new, 0.0))
    if others_new <= 0.0:
        return 0.0
    if model is QueueModel.PRO_RATA:
        a = ahead * (others_new / others) if others > 0.0 else 0.0
    elif model is QueueModel.BEHIND_FIRST:
        a = ahead
    else:
        a = ahead - (others - others_new)
    return min(max(a, 0.0), others_new, ahead)


class QueueOrder:
    """One tracked order (mutable; owned by the tracker)."""

    __slots__ = (
        "ahead_qty",
        "fill_ts_ns",
        "filled_qty_est",
        "in_book",
        "join_ts_ns",
        "key",
        "level",
        "px",
        "qty",
        "side",
    )

    def __init__(self, key: object, side: int, px: float, qty: float, ahead_qty: float, join_ts_ns: int,
                 in_book: bool, level: _Level) -> None:
        self.key = key
        self.side = side
        self.px = px
        self.qty = qty
        self.ahead_qty = ahead_qty
        self.join_ts_ns = join_ts_ns
        self.in_book = in_book
        self.level = level
        self.filled_qty_est = 0.0
        self.fill_ts_ns = -1  # when the estimate first reached qty (fully filled); -1 not yet

    @property
    def level_qty(self) -> float:
        """Others' quantity at the order's level (O)."""
        return self.level.others

    @property
    def rank_frac(self) -> float:
        """ahead / O in [0, 1]: 0 = front of the queue, 1 = back; 0 when the level is empty."""
        o = self.level.others
        if o <= 0.0:
            return 0.0
        r = self.ahead_qty / o
        return 1.0 if r > 1.0 else r

    @property
    def filled(self) -> bool:
        """The estimate says the order is fully filled (a zero-qty probe: touched)."""
        return self.fill_ts_ns >= 0

    def _fill(self, qty: float, ts_ns: int) -> None:
        """``qty`` traded beyond the queue in front of the order."""
        if qty <= 0.0:
            return
        f = self.filled_qty_est + qty
        self.filled_qty_est = f if f < self.qty else self.qty
        if self.fill_ts_ns < 0 and self.filled_qty_est >= self.qty:
            self.fill_ts_ns = ts_ns

    def _fill_all(self, ts_ns: int) -> None:
        self.ahead_qty = 0.0
        self.filled_qty_est = self.qty
        if self.fill_ts_ns < 0:
            self.fill_ts_ns = ts_ns


class _Level:
    __slots__ = ("orders", "others", "px", "side")

    def __init__(self, side: int, px: float, others: float) -> None:
        self.side = side
        self.px = px
        self.others = others
        self.orders: list[QueueOrder] = []

    def ours_in_book(self) -> float:
        return sum(o.qty - o.filled_qty_est for o in self.orders if o.in_book)


class _SideBook:
    """Displayed levels of one side: keys ascending (bids keyed by -px), sizes alongside."""

    __slots__ = ("keys", "qty", "sign", "worst_key")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 bids (key = -px), -1 asks (key = px)
        self.keys: list[float] = []
        self.qty: list[float] = []
        self.worst_key = -math.inf  # last snapshot's deepest key: absence up to it means 0

    def key(self, px: float) -> float:
        return -px if self.sign > 0 else px

    def best_px(self) -> float:
        if not self.keys:
            return 0.0
        k = self.keys[0]
        return -k if self.sign > 0 else k

    def replace(self, px: list[float], qty: list[float]) -> None:
        pairs = [(self.key(p), q) for p, q in zip(px, qty) if q > 0.0]
        pairs.sort()
        self.keys = [k for k, _ in pairs]
        self.qty = [q for _, q in pairs]
        self.worst_key = self.keys[-1] if self.keys else -math.inf

    def set(self, px: float, q: float) -> None:
        k = self.key(px)
        i = bisect_left(self.keys, k)
        if i < len(self.keys) and self.keys[i] == k:
            if q > 0.0:
                self.qty[i] = q
            else:
                del self.keys[i]
                del self.qty[i]
        elif q > 0.0:
            self.keys.insert(i, k)
            self.qty.insert(i, q)

    def set_best(self, px: float, q: float) -> None:
        """A BBO side: ``px`` is the best; every better level is gone."""
        k = self.key(px)
        i = bisect_left(self.keys, k)
        if i:
            del self.keys[:i]
            del self.qty[:i]
        if self.keys and self.keys[0] == k:
            self.qty[0] = q
        else:
            self.keys.insert(0, k)
            self.qty.insert(0, q)

    def drop_through(self, opposite_best_px: float) -> None:
        """Remove levels at or through the other side's best price (they are at the front:
        a bid at or above the best ask has key -px <= -ask; an ask at or below the best bid
        has key px <= bid)."""
        if opposite_best_px <= 0.0:
            return
        j = bisect_right(self.keys, self.key(opposite_best_px))
        if j:
            del self.keys[:j]
            del self.qty[:j]

    def displayed(self, px: float) -> float | None:
        """Displayed qty at px; 0.0 if known empty; None if beyond what was observed."""
        k = self.key(px)
        i = bisect_left(self.keys, k)
        if i < len(self.keys) and self.keys[i] == k:
            return self.qty[i]
        if not self.keys or k < self.keys[0] or k <= self.worst_key:
            return 0.0
        return None


class QueueRankTracker:
    """Queue position of tracked orders in one symbol's book. See the module docstring.

    Live use (feature process): ``on_event(ev, now_ns)`` for every market event of the
    symbol and every ``OrderEvent`` from the ex ring, then
    ``engine.set_queue_ranks(*tracker.ranks())``. Offline (labels): ``add_order`` with
    ``in_book=False`` and a rank, then read each order's ``ahead_qty`` / ``fill_ts_ns``.
    """

    def __init__(self, symbol_id: int, cfg: QueueRankConfig | None = None) -> None:
        c = cfg if cfg is not None else QueueRankConfig()
        self.symbol_id = symbol_id
        self.cfg = c
        self._model = QueueModel(c.cancel_model)
        self._ours = frozenset(c.our_venues)
        self._bids = _SideBook(BID)
        self._asks = _SideBook(ASK)
        self._orders: dict[object, QueueOrder] = {}
        self._levels: dict[tuple[int, float], _Level] = {}
        self._filled: list[QueueOrder] = []
        self.n_ignored = 0

    # ------------------------------------------------------------------ book views

    def best(self) -> tuple[float, float, float, float]:
        """(best bid px, qty, best ask px, qty) of the tracked book (0.0 where empty)."""
        b, a = self._bids, self._asks
        return (b.best_px(), b.qty[0] if b.qty else 0.0, a.best_px(), a.qty[0] if a.qty else 0.0)

    def displayed(self, side: int, px: float) -> float | None:
        """Displayed qty at a price (0.0 known empty, None unknown)."""
        return (self._bids if side > 0 else self._asks).displayed(px)

    # ------------------------------------------------------------------ orders

    def add_order(self, key: object, side: int, px: float, qty: float, ts_ns: int, *,
                  rank_frac: float = 1.0, in_book: bool = False) -> QueueOrder:
        """Track an order at ``px``; it joins with ``ahead = rank_frac * O`` (O = others'
        displayed qty there now). ``in_book``: the order is (will be) part of the displayed
        quantity (a live order) rather than hypothetical. Replaces an order with that key."""
        if side not in (BID, ASK):
            raise ValueError(f"side: expected +1 or -1, got {side!r}")
        if not (px > 0.0 and math.isfinite(px)):
            raise ValueError(f"px: must be finite and > 0, got {px!r}")
        if not (qty >= 0.0 and math.isfinite(qty)):
            raise ValueError(f"qty: must be finite and >= 0, got {qty!r}")
        if key in self._orders:
            self.remove_order(key)
        lk = (side, px)
        level = self._levels.get(lk)
        if level is None:
            d = self.displayed(side, px)
            level = _Level(side, px, d if d is not None else 0.0)
            self._levels[lk] = level
        r = 0.0 if not rank_frac > 0.0 else (1.0 if rank_frac > 1.0 else rank_frac)
        order = QueueOrder(key, side, px, qty, r * level.others, ts_ns, in_book, level)
        level.orders.append(order)
        self._orders[key] = order
        self._check_cross(level, ts_ns)
        return order

    def remove_order(self, key: object) -> QueueOrder | None:
        order = self._orders.pop(key, None)
        if order is None:
            return None
        level = order.level
        level.orders.remove(order)
        if not level.orders:
            del self._levels[(level.side, level.px)]
        return order

    def order(self, key: object) -> QueueOrder | None:
        return self._orders.get(key)

    def drain_filled(self) -> list[QueueOrder]:
        """Orders whose fill estimate became complete since the last call (still tracked)."""
        out = self._filled
        if out:
            self._filled = []
        return out

    def __len__(self) -> int:
        return len(self._orders)

    def ranks(self) -> tuple[float, float]:
        """Rank fractions of our live (in-book) bid and ask nearest the touch; -1.0 if none."""
        bid = ask = NO_RANK
        bid_px = 0.0
        ask_px = math.inf
        for o in self._orders.values():
            if not o.in_book:
                continue
            if o.side > 0:
                if o.px > bid_px:
                    bid_px, bid = o.px, o.rank_frac
            elif o.px < ask_px:
                ask_px, ask = o.px, o.rank_frac
        return bid, ask

    # ------------------------------------------------------------------ events

    def on_event(self, ev: object, now_ns: int) -> bool:
        """Apply a market event of our venue or an ``OrderEvent``; True if a tracked
        order's ``ahead`` or fill estimate may have changed."""
        tp = type(ev)
        if tp is OrderEvent:
            assert isinstance(ev, OrderEvent)
            return self._on_order_event(ev, now_ns)
        if tp is Trade or tp is Bbo or tp is BookSnapshot or tp is BookDelta:
            assert isinstance(ev, Trade | Bbo | BookSnapshot | BookDelta)
            if ev.symbol_id != self.symbol_id or ev.venue not in self._ours:
                self.n_ignored += 1
                return False
            if tp is Trade:
                assert isinstance(ev, Trade)
                return self.on_trade(ev.px, ev.qty, ev.side, ev.ts_ns)
            if tp is Bbo:
                assert isinstance(ev, Bbo)
                return self.on_bbo(ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, ev.ts_ns)
            if tp is BookSnapshot:
                assert isinstance(ev, BookSnapshot)
                return self.on_snapshot(ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, ev.ts_ns)
            assert isinstance(ev, BookDelta)
            return self.on_delta(ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, ev.ts_ns)
        self.n_ignored += 1
        return False

    def _on_order_event(self, ev: OrderEvent, now_ns: int) -> bool:
        if ev.symbol_id != self.symbol_id or not ev.cloid:
            self.n_ignored += 1
            return False
        cur = self._orders.get(ev.cloid)
        if ev.status in _GONE:
            return self.remove_order(ev.cloid) is not None
        if ev.status not in _RESTING or ev.side not in (BID, ASK):
            return False
        remaining = ev.qty - ev.filled_qty
        if not (remaining > 0.0 and math.isfinite(remaining) and ev.px > 0.0 and math.isfinite(ev.px)):
            return self.remove_order(ev.cloid) is not None
        if cur is not None and cur.px == ev.px and cur.side == ev.side:
            # the venue's remaining qty is authoritative: the estimate restarts from it
            cur.qty = remaining
            cur.filled_qty_est = 0.0
            cur.fill_ts_ns = -1
            return False
        self.add_order(ev.cloid, ev.side, ev.px, remaining, ev.ts_ns, rank_frac=1.0, in_book=True)
        return True

    def on_trade(self, px: float, qty: float, aggressor_side: int, ts_ns: int) -> bool:
        """A public trade; ``aggressor_side`` +1 buy (hits asks), -1 sell (hits bids)."""
        if not (px > 0.0 and qty > 0.0 and math.isfinite(px + qty)) or not self._levels:
            return False
        maker = -1 if aggressor_side > 0 else 1
        changed = False
        for level in self._levels.values():
            if level.side != maker:
                continue
            through = px < level.px if maker > 0 else px > level.px
            if through:
                level.others = 0.0
                for o in level.orders:
                    if o.fill_ts_ns < 0:
                        o._fill_all(ts_ns)
                        self._filled.append(o)
                    else:
                        o._fill_all(ts_ns)
                changed = True
            elif px == level.px:
                for o in level.orders:
                    excess = qty - o.ahead_qty
                    o.ahead_qty = o.ahead_qty - qty if o.ahead_qty > qty else 0.0
                    if excess > 0.0:
                        was = o.fill_ts_ns
                        o._fill(excess, ts_ns)
                        if was < 0 <= o.fill_ts_ns:
                            self._filled.append(o)
                level.others = level.others - qty if level.others > qty else 0.0
                changed = True
        return changed

    def on_bbo(self, bid_px: float, bid_qty: float, ask_px: float, ask_qty: float, ts_ns: int) -> bool:
        """Best bid/offer; a side with px 0 carries no information."""
        if bid_px > 0.0 and bid_qty > 0.0:
            self._bids.set_best(bid_px, bid_qty)
            self._asks.drop_through(bid_px)
        if ask_px > 0.0 and ask_qty > 0.0:
            self._asks.set_best(ask_px, ask_qty)
            self._bids.drop_through(ask_px)
        return self._observe_levels(ts_ns)

    def on_snapshot(self, bid_px: list[float], bid_qty: list[float], ask_px: list[float], ask_qty: list[float],
                    ts_ns: int) -> bool:
        self._bids.replace(bid_px, bid_qty)
        self._asks.replace(ask_px, ask_qty)
        return self._observe_levels(ts_ns)

    def on_delta(self, bid_px: list[float], bid_qty: list[float], ask_px: list[float], ask_qty: list[float],
                 ts_ns: int) -> bool:
        for p, q in zip(bid_px, bid_qty):
            self._bids.set(p, q)
        for p, q in zip(ask_px, ask_qty):
            self._asks.set(p, q)
        return self._observe_levels(ts_ns)

    def _observe_levels(self, ts_ns: int) -> bool:
        if not self._levels:
            return False
        model = self._model
        for level in self._levels.values():
            if self._check_cross(level, ts_ns):
                continue
            d = (self._bids if level.side > 0 else self._asks).displayed(level.px)
            if d is None:
                continue
            new = d - level.ours_in_book()
            if new < 0.0:
                new = 0.0
            old = level.others
            if new != old:
                for o in level.orders:
                    o.ahead_qty = ahead_after_cancel(model, o.ahead_qty, old, new)
                level.others = new
        return True

    def _check_cross(self, level: _Level, ts_ns: int) -> bool:
        """Fill the level's orders if the opposite best reached their price."""
        opp = self._asks.best_px() if level.side > 0 else self._bids.best_px()
        if opp <= 0.0:
            return False
        crossed = opp <= level.px if level.side > 0 else opp >= level.px
        if crossed:
            level.others = 0.0
            for o in level.orders:
                if o.fill_ts_ns < 0:
                    self._filled.append(o)
                o._fill_all(ts_ns)
        return crossed
