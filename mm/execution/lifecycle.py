"""The order lifecycle (OMS): every order we send, from decision to terminal status.

Owns the records of our orders, their client order ids, their states, what may be sent
and when, the requests handed to the caller (who does the I/O) and the OrderEvents and
Fills published for everyone else. Pure logic: the caller passes ``now_ns`` and feeds back
what the venue said; nothing here reads a clock or a socket.

**Client order ids**: ``0x`` + 32 hex digits: 16 of the session id the caller passes
(make it differ between runs, e.g. from the boot time) and 16 of a counter, so a cloid is
never reused within or, with distinct session ids, across sessions.

**States** (``mm.schema.OrderStatus``)::

    PendingNew --resting--> Open --fill--> PartiallyFilled --fill--> Filled
        |  \\--filled--> Filled (an IOC's unfilled rest: Cancelled)       |
        |   \\--error--> Rejected                 Open/PF --cancel--> PendingCancel --ok--> Cancelled
        \\--no answer within ack_timeout_ms--> Stale --lookup by cloid--> (the venue's status)

A timeout is not a failure: an order, cancel or modify with no answer is Stale, blocks its
side (nothing more is placed there, so nothing is ever duplicated) and is looked up by cloid
(``orderStatus``) every ``reconcile_retry_ms`` until the venue says what it is. The venue is
the truth: a status it reports overrides ours, a terminal one included (a "never placed"
order that turns up open is adopted). Open orders found at the venue that we do not know
(a previous session's) are adopted and cancelled. Every order ever sent has a record, and a
count per status is kept even after old terminal records are dropped (``history_kept``).

**Limits**, checked before anything is sent (the caller also passes ``killed``, checked
before every action: when set, only cancels go out): worst-case inventory (the position
plus every outstanding order on a side, as if all filled, within ±max; reduce-only orders
count only up to the position they can close), outstanding passive notional per symbol,
min time between aggressive orders per symbol (and one at a time), the venue's minimum
notional, tick and lot validity (:mod:`mm.venues.hyperliquid.rules` formats every price
and size), and the rate limiter (:mod:`mm.execution.rate_limit`, which keeps a reserve for
cancels).

**What the caller does** (see :class:`Oms` methods): send each :class:`ExchangeRequest`
(``action()`` gives the typed Hyperliquid action) and each :class:`InfoRequest`, then
report: per-order results of order/modify responses (:meth:`Oms.on_order_result`), cancel
results (:meth:`Oms.on_cancel_result`), a request that failed (:meth:`Oms.on_request_failed`,
saying whether it may have reached the venue), order updates and lookups
(:meth:`Oms.on_order_update`, :meth:`Oms.on_order_status`), the open-orders list
(:meth:`Oms.on_open_orders`), fills (:meth:`Oms.on_fill`) and the venue's position
(:meth:`Oms.set_position`).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from typing import Final, Literal

import msgspec

from mm.execution.config import ExecutionConfig
from mm.execution.decision import ActionRecord, DecisionBuilder
from mm.execution.mode_handlers import PriceGrid, SymbolSpec
from mm.execution.order_diff import LiveOrder, TargetOrder, diff_orders
from mm.execution.rate_limit import RateLimiter
from mm.schema import Fill, OrderEvent, OrderStatus
from mm.venues.hyperliquid import exchange_wire as wire
from mm.venues.hyperliquid import rules

_QTY_EPS: Final = 1e-9
TERMINAL: Final = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})
_SETTLED: Final = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})
_NO_CLOIDS: Final[frozenset[str]] = frozenset()
_PENDING_NEW: Final = OrderStatus.PENDING_NEW
_PENDING_CANCEL: Final = OrderStatus.PENDING_CANCEL
_BBO_RE: Final = re.compile(r"bbo was ([0-9]+(?:\.[0-9]+)?)@([0-9]+(?:\.[0-9]+)?)")


def price_str_on_grid(px: float, px_decimals: int) -> str | None:
    """The wire string of a positive float price that is already on the asset's price grid
    (``repr``'s digits, trailing zeros dropped: what :func:`rules.format_price` gives for
    it), or None for anything else (off the grid, exponent form, not positive, not finite),
    which the caller formats with :func:`rules.format_price`. The string work of a price
    the handlers proposed, without the Decimal round trip (~4 us)."""
    if not px > 0.0:
        return None
    s = repr(px)
    if "e" in s or "n" in s:  # 1e-05, 1e+16, inf, nan
        return None
    ip, _, fp = s.partition(".")
    fp = fp.rstrip("0")
    if ip != "0":
        adjusted = len(ip) - 1
    else:
        lead = len(fp) - len(fp.lstrip("0"))
        if lead == len(fp):
            return None
        adjusted = -(lead + 1)
    # rules.round_price's quantum: 5 significant figures, at most px_decimals decimals
    if len(fp) > -max(min(adjusted - (rules.MAX_SIG_FIGS - 1), 0), -px_decimals):
        return None
    return ip + "." + fp if fp else ip


def size_str_on_lots(qty: float, sz_decimals: int) -> str | None:
    """The wire string of a positive float size already on the lot grid (what
    :func:`rules.format_size` gives for it), or None for anything else."""
    if not qty > 0.0:
        return None
    s = repr(qty)
    if "e" in s or "n" in s:
        return None
    ip, _, fp = s.partition(".")
    fp = fp.rstrip("0")
    if len(fp) > sz_decimals:
        return None
    return ip + "." + fp if fp else ip


# --------------------------------------------------------------------------- requests out


class PlaceOrder(msgspec.Struct, frozen=True):
    """One order to send: wire strings for price and size, already valid for the asset."""

    cloid: str
    symbol_id: int
    asset: int
    is_buy: bool
    px: str
    sz: str
    tif: str
    reduce_only: bool

    def wire(self) -> wire.OrderWire:
        tif = self.tif if self.tif in ("Alo", "Ioc", "Gtc") else "Gtc"
        return wire.OrderWire(
            a=self.asset, b=self.is_buy, p=self.px, s=self.sz, r=self.reduce_only,
            t=wire.OrderType(limit=wire.Limit(tif=tif)), c=self.cloid,  # type: ignore[arg-type]
        )


class CancelOrder(msgspec.Struct, frozen=True):
    """Cancel by oid when known (``oid > 0``), else by cloid."""

    cloid: str
    symbol_id: int
    asset: int
    oid: int = 0


class ModifyOrder(msgspec.Struct, frozen=True):
    """Replace the resting order ``oid`` (our ``cloid``) by ``order`` (which has a new cloid)."""

    cloid: str
    oid: int
    order: PlaceOrder


RequestKind = Literal["order", "cancel", "cancelByCloid", "batchModify"]


class ExchangeRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One ``/exchange`` action to sign and send; ``request_id`` identifies it in feedback."""

    request_id: int
    kind: RequestKind
    ts_ns: int
    ip_weight: int
    n_items: int
    places: tuple[PlaceOrder, ...] = ()
    cancels: tuple[CancelOrder, ...] = ()
    modifies: tuple[ModifyOrder, ...] = ()

    def action(self) -> wire.Action:
        """The typed Hyperliquid action (mm.venues.hyperliquid.exchange_wire)."""
        if self.kind == "order":
            return wire.OrderAction(orders=[p.wire() for p in self.places], grouping="na")
        if self.kind == "cancel":
            return wire.CancelAction(cancels=[wire.CancelWire(a=c.asset, o=c.oid) for c in self.cancels])
        if self.kind == "cancelByCloid":
            return wire.CancelByCloidAction(
                cancels=[wire.CancelByCloidWire(asset=c.asset, cloid=c.cloid) for c in self.cancels])
        return wire.BatchModifyAction(modifies=[wire.ModifyWire(oid=m.oid, order=m.order.wire()) for m in self.modifies])


class InfoRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A reconciliation lookup for the caller: ``orderStatus`` of one cloid, or ``openOrders``."""

    request_id: int
    kind: Literal["orderStatus", "openOrders"]
    ts_ns: int
    ip_weight: int
    cloid: str = ""
    symbol_id: int = -1
    reason: str = ""


class VenueOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as the venue reports it (orderUpdates, orderStatus, openOrders).

    ``status`` uses Hyperliquid's vocabulary (``open``, ``filled``, ``canceled``,
    ``...Canceled``, ``rejected``, ``...Rejected``, ``triggered``, ``scheduledCancel``).
    """

    symbol_id: int
    oid: int
    cloid: str | None = None
    is_buy: bool = True
    px: float = 0.0
    rem_qty: float = 0.0
    orig_qty: float = 0.0
    status: str = "open"


def venue_status(status: str) -> OrderStatus:
    """Hyperliquid's order status string as one of our states."""
    if status in ("open", "triggered"):
        return OrderStatus.OPEN
    if status == "filled":
        return OrderStatus.FILLED
    if status == "rejected" or status.endswith("Rejected"):
        return OrderStatus.REJECTED
    if status == "canceled" or status.endswith("Canceled") or status == "scheduledCancel":
        return OrderStatus.CANCELLED
    return OrderStatus.STALE


# --------------------------------------------------------------------------- records


class OrderRecord:
    """Our knowledge of one order (mutable)."""

    __slots__ = (
        "aggressive",
        "cancel_on_ack",
        "cloid",
        "created_ns",
        "deadline_ns",
        "dry_run",
        "epoch",
        "fill_notional",
        "filled_qty",
        "last_lookup_ns",
        "oid",
        "origin_ts_ns",
        "presumed",
        "prev_status",
        "px",
        "px_str",
        "qty",
        "reason",
        "reduce_only",
        "replaced_by",
        "replaces",
        "request_id",
        "side",
        "status",
        "status_ns",
        "symbol_id",
        "sz_str",
        "tif",
        "venue_filled_qty",
    )

    def __init__(self, cloid: str, symbol_id: int, side: int, px: float, qty: float, px_str: str, sz_str: str,
                 tif: str, reduce_only: bool, aggressive: bool, now_ns: int, origin_ts_ns: int) -> None:
        self.cloid = cloid
        self.symbol_id = symbol_id
        self.side = side
        self.px = px
        self.qty = qty
        self.px_str = px_str
        self.sz_str = sz_str
        self.tif = tif
        self.reduce_only = reduce_only
        self.aggressive = aggressive
        self.dry_run = False
        self.cancel_on_ack = False
        self.status = OrderStatus.PENDING_NEW
        self.prev_status = OrderStatus.PENDING_NEW
        self.status_ns = now_ns
        self.created_ns = now_ns
        self.origin_ts_ns = origin_ts_ns
        self.deadline_ns = 0
        self.last_lookup_ns = 0
        self.oid = 0
        self.filled_qty = 0.0
        self.venue_filled_qty = 0.0
        self.fill_notional = 0.0
        self.replaces = ""
        self.replaced_by = ""
        self.request_id = 0
        self.reason = ""
        self.presumed = False  # terminal by absence ("not found"), not by the venue's word
        self.epoch = 0  # the symbol's position epoch when created (see Oms.set_position)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def known_filled(self) -> float:
        return max(self.filled_qty, self.venue_filled_qty)

    @property
    def remaining(self) -> float:
        return max(self.qty - self.known_filled, 0.0)

    def __repr__(self) -> str:
        return (f"OrderRecord({self.cloid[-6:]} s{self.symbol_id} {'B' if self.side > 0 else 'A'} "
                f"{self.qty}@{self.px} {self.status.name} oid={self.oid} filled={self.known_filled})")


class SyncResult(msgspec.Struct):
    """What one ``sync`` sent and what it refused (reasons for the decision record)."""

    placed: int = 0
    cancelled: int = 0
    modified: int = 0
    blocked: list[str] = msgspec.field(default_factory=list)

    @property
    def n_items(self) -> int:
        return self.placed + self.cancelled + self.modified


class _SymbolBook:
    """Per-symbol state of the OMS."""

    __slots__ = ("alo_bbo", "epoch", "fill_adj", "last_aggressive_ns", "live", "max_inv", "position")

    def __init__(self) -> None:
        self.live: dict[str, OrderRecord] = {}
        self.position = 0.0  # from applied fills (and set_position)
        self.fill_adj = 0.0  # signed fills the venue reported on orders that our fills have not covered
        self.max_inv = 0.0
        self.last_aggressive_ns = -(1 << 62)
        self.alo_bbo: tuple[float, float, int] | None = None
        self.epoch = 0  # bumped when the venue's position is adopted


def _outstanding(live: Iterable[OrderRecord],
                 settled: list[OrderRecord] | None = None) -> tuple[float, float, float, float, float]:
    """One pass over a symbol's live orders: the qty still to fill of the buys, the sells, the
    reduce-only buys and the reduce-only sells, and the passive notional (px times that qty).

    With ``settled`` a list, the settled passive orders (those of :meth:`Oms.settled_passive`,
    told by the same test) are appended to it and left out of the sums. A modify in flight
    counts both orders in full. The OMS's one loop for these sums (:meth:`Oms.exposure`,
    :meth:`Oms.settled_and_headroom` on the decision path, and the checks of a placement)."""
    buys = sells = ro_buys = ro_sells = passive = 0.0
    for r in live:
        if (settled is not None and r.status in _SETTLED and r.oid > 0 and not r.aggressive and not r.dry_run
                and not r.replaced_by):
            settled.append(r)
            continue
        # r.remaining, inlined (this loop runs for every order checked)
        vf = r.venue_filled_qty
        f = r.filled_qty
        rem = r.qty - (vf if vf > f else f)
        if 0.0 > rem:
            rem = 0.0
        if r.side > 0:
            if r.reduce_only:
                ro_buys += rem
            else:
                buys += rem
        elif r.reduce_only:
            ro_sells += rem
        else:
            sells += rem
        if not r.aggressive:
            passive += r.px * rem
    return buys, sells, ro_buys, ro_sells, passive


def _worst(pos: float, buys: float, sells: float, ro_buys: float, ro_sells: float) -> tuple[float, float]:
    """(worst long, worst short) position if every order of these sums filled; reduce-only
    orders count only up to the position they can close."""
    return pos + buys + min(ro_buys, max(-pos, 0.0)), pos - sells - min(ro_sells, max(pos, 0.0))


# --------------------------------------------------------------------------- the OMS


class Oms:
    """Orders of every symbol of one account: records, checks, requests out, events out."""

    def __init__(self, cfg: ExecutionConfig, specs: Sequence[SymbolSpec], session_id: int = 0,
                 limiter: RateLimiter | None = None) -> None:
        self.cfg = cfg
        self.ocfg = cfg.oms
        self.specs = list(specs)
        self.grids = [PriceGrid(s.sz_decimals) for s in self.specs]
        self.books = [_SymbolBook() for _ in self.specs]
        # memos of the wire strings of prices and sizes, with the float each string reads as
        self._px_strs: list[dict[float, tuple[str, float]]] = [{} for _ in self.specs]
        self._sz_strs: list[dict[float, tuple[str, float]]] = [{} for _ in self.specs]
        self.session_id = session_id & ((1 << 64) - 1)
        self._cloid_prefix = f"0x{self.session_id:016x}"  # a cloid is this + 16 hex digits of a counter
        self.limiter = limiter if limiter is not None else RateLimiter(cfg.rate_limit)
        self.orders: dict[str, OrderRecord] = {}
        self.by_oid: dict[int, str] = {}
        self._terminal: deque[str] = deque()
        self._seq = 0
        self._request_seq = 0
        self._fills_seen: OrderedDict[tuple[int, int], None] = OrderedDict()
        self.requests: list[ExchangeRequest | InfoRequest] = []
        self.events: list[OrderEvent | Fill] = []
        self.status_counts: dict[OrderStatus, int] = dict.fromkeys(OrderStatus, 0)
        self.sent_total = 0
        self.orphans_adopted = 0
        self.duplicate_fills = 0
        self.unknown_fills = 0
        self.unknown_results = 0
        self.stale_total = 0
        self.last_open_orders_ns = 0

    # ------------------------------------------------------------------ queries

    def new_cloid(self) -> str:
        self._seq += 1
        return self._cloid_prefix + format(self._seq, "016x")

    def live_orders(self, symbol_id: int) -> list[OrderRecord]:
        return list(self.books[symbol_id].live.values())

    def effective_position(self, symbol_id: int) -> float:
        """Position from applied fills plus fills the venue reported that have not arrived yet."""
        bk = self.books[symbol_id]
        return bk.position + bk.fill_adj

    def status_of(self, cloid: str) -> OrderStatus | None:
        rec = self.orders.get(cloid)
        return rec.status if rec is not None else None

    def accounted(self) -> int:
        """Orders ever sent, as the sum of the per-status counts (equals ``sent_total``)."""
        return sum(self.status_counts.values())

    def alo_bbo(self, symbol_id: int) -> tuple[float, float, int] | None:
        """The BBO from the last post-only rejection (bid, ask, when), a hint to reprice."""
        return self.books[symbol_id].alo_bbo

    def set_max_inventory(self, symbol_id: int, max_inv_qty: float) -> None:
        """The hard limit the worst-case check uses (the engine sets it every cycle)."""
        self.books[symbol_id].max_inv = max(max_inv_qty, 0.0) if math.isfinite(max_inv_qty) else 0.0

    def settled_passive(self, symbol_id: int) -> list[OrderRecord]:
        """Acked resting passive orders with nothing in flight: what the diff may touch."""
        return [r for r in self.books[symbol_id].live.values()
                if r.status in _SETTLED and r.oid > 0 and not r.aggressive and not r.dry_run and not r.replaced_by]

    def busy_sides(self, symbol_id: int) -> tuple[bool, bool]:
        """(bid busy, ask busy): a passive order of ours on that side is pending or stale."""
        bid = ask = False
        for r in self.books[symbol_id].live.values():
            if r.aggressive or r.dry_run:
                continue
            if r.status in _SETTLED and not r.replaced_by:
                continue
            if r.side > 0:
                bid = True
            else:
                ask = True
        return bid, ask

    def exposure(self, symbol_id: int, exclude: frozenset[str] = frozenset(), add_side: int = 0,
                 add_qty: float = 0.0, add_reduce_only: bool = False,
                 skip_settled: bool = False) -> tuple[float, float]:
        """(worst long, worst short) position if every outstanding order filled.

        Orders in ``exclude`` are left out (and, with ``skip_settled``, the settled passive
        orders of :meth:`settled_passive`); one more order (``add_*``) may be added. A modify
        in flight counts both orders in full: the old one may fill (unknown to us yet) up to
        the moment the venue replaces it, and the new one after. Reduce-only orders count
        only up to the position they can close.
        """
        bk = self.books[symbol_id]
        live = bk.live.values() if not exclude else [r for r in bk.live.values() if r.cloid not in exclude]
        buys, sells, ro_buys, ro_sells, _ = _outstanding(live, [] if skip_settled else None)
        if add_side > 0:
            if add_reduce_only:
                ro_buys += add_qty
            else:
                buys += add_qty
        elif add_side < 0:
            if add_reduce_only:
                ro_sells += add_qty
            else:
                sells += add_qty
        return _worst(bk.position + bk.fill_adj, buys, sells, ro_buys, ro_sells)

    def headroom(self, symbol_id: int, settled: Sequence[OrderRecord] | None = None) -> tuple[float, float]:
        """(buy, sell) qty that may be added, leaving out the settled passive orders the diff replaces."""
        if settled is None:  # the settled passive orders, told by the same test in the one loop
            lng, sht = self.exposure(symbol_id, skip_settled=True)
        else:
            lng, sht = self.exposure(symbol_id, frozenset(r.cloid for r in settled))
        mx = self.books[symbol_id].max_inv
        return max(mx - lng, 0.0), max(mx + sht, 0.0)

    def settled_and_headroom(self, symbol_id: int) -> tuple[list[OrderRecord], float, float]:
        """``(settled_passive(symbol_id), *headroom(symbol_id))`` in one pass over the live
        orders (the engine's per-cycle view): the same orders, the same sums."""
        bk = self.books[symbol_id]
        settled: list[OrderRecord] = []
        buys, sells, ro_buys, ro_sells, _ = _outstanding(bk.live.values(), settled)
        pos = bk.position + bk.fill_adj  # _worst, inlined (a call per cycle saved; the parity test compares)
        worst_long = pos + buys + min(ro_buys, max(-pos, 0.0))
        worst_short = pos - sells - min(ro_sells, max(pos, 0.0))
        mx = bk.max_inv
        return settled, max(mx - worst_long, 0.0), max(mx + worst_short, 0.0)

    def passive_notional(self, symbol_id: int, exclude: frozenset[str] = frozenset()) -> float:
        """Notional of non-terminal passive orders (both orders of a modify in flight)."""
        total = 0.0
        for r in self.books[symbol_id].live.values():
            if not r.aggressive and r.cloid not in exclude:
                total += r.px * r.remaining
        return total

    # ------------------------------------------------------------------ decisions in

    def sync(self, symbol_id: int, targets: Sequence[TargetOrder], now_ns: int, killed: bool,
             origin_ts_ns: int = 0, b: DecisionBuilder | None = None) -> SyncResult:
        """Move this symbol's orders towards ``targets``: diff, check, emit requests."""
        res = SyncResult()
        if killed:
            self.cancel_all(now_ns, "kill switch", symbol_id=symbol_id, b=b, res=res)
            res.blocked.append("kill switch: cancels only")
            return res
        live = self.books[symbol_id].live
        if not targets and not live:  # nothing wanted, nothing of ours live: nothing to send
            return res
        grid = self.grids[symbol_id]
        # one pass over the live orders: busy sides (a passive order pending or stale) and
        # the settled passive orders of each side (as busy_sides and settled_passive say)
        bid_busy = ask_busy = False
        settled_bid: list[OrderRecord] = []
        settled_ask: list[OrderRecord] = []
        for r in live.values():
            if r.aggressive or r.dry_run:
                continue
            if r.status in _SETTLED and not r.replaced_by:
                if r.oid > 0:
                    (settled_bid if r.side > 0 else settled_ask).append(r)
            elif r.side > 0:
                bid_busy = True
            else:
                ask_busy = True
        live_view: list[LiveOrder] = []
        wanted: list[TargetOrder] = []
        for side, busy, side_live in ((1, bid_busy, settled_bid), (-1, ask_busy, settled_ask)):
            passive_targets: list[TargetOrder] = []
            for t in targets:
                if t.side == side:
                    if t.aggressive:
                        wanted.append(t)
                    else:
                        passive_targets.append(t)
            if busy and passive_targets:
                res.blocked.append(f"{'bid' if side > 0 else 'ask'}: an order in flight or stale on this side")
            # a busy side with nothing wanted can still have its resting orders pulled
            if side_live and not (busy and passive_targets):
                for r in side_live:  # r.remaining, inlined
                    vf = r.venue_filled_qty
                    f = r.filled_qty
                    rem = r.qty - (vf if vf > f else f)
                    live_view.append(LiveOrder(r.cloid, r.side, r.px, 0.0 if 0.0 > rem else rem, r.reduce_only))
            if not busy:
                wanted.extend(passive_targets)
        d = diff_orders(live_view, wanted, grid.tick_at, self.cfg.diff.px_tolerance_ticks,
                        self.cfg.diff.qty_tolerance_frac)
        cancels = [self.orders[c] for c in d.cancel]
        modifies: list[tuple[OrderRecord, OrderRecord]] = []
        for m in d.modify:
            old = self.orders[m.cloid]
            new = self._checked_record(symbol_id, m.target, now_ns, origin_ts_ns, res,
                                       pending=[n for _, n in modifies])
            if new is not None:
                modifies.append((old, new))
            else:  # the old order is not wanted where it is: pull it; the target goes out later
                cancels.append(old)
        if modifies and self.limiter.check_exchange(len(modifies), False, now_ns) is not None:
            res.blocked.append(f"{len(modifies)} modify(s) not sent: rate limit; cancelling instead")
            cancels.extend(old for old, _ in modifies)
            modifies = []
        if cancels:
            self._send_cancels(cancels, now_ns, "diff", b, res)
        if modifies:
            self._send_modifies(symbol_id, modifies, now_ns, b, res)
        places: list[OrderRecord] = []
        for t in d.new:
            rec = self._checked_record(symbol_id, t, now_ns, origin_ts_ns, res, pending=places)
            if rec is not None:
                places.append(rec)
        if places:
            self._send_places(places, now_ns, b, res)
        if b is not None:
            b.reasons.extend(res.blocked)
        return res

    def place_dry_run(self, symbol_id: int, target: TargetOrder, now_ns: int, killed: bool, origin_ts_ns: int = 0,
                      b: DecisionBuilder | None = None) -> SyncResult:
        """Seed 002 level 2: send one order that is cancelled as soon as it is acked."""
        res = SyncResult()
        if killed:
            res.blocked.append("kill switch: no dry-run order")
            return res
        rec = self._checked_record(symbol_id, target, now_ns, origin_ts_ns, res)
        if rec is not None:
            rec.dry_run = True
            rec.cancel_on_ack = True
            self._send_places([rec], now_ns, b, res)
        if b is not None:
            b.reasons.extend(res.blocked)
        return res

    def dry_run_in_flight(self, symbol_id: int) -> bool:
        return any(r.dry_run for r in self.books[symbol_id].live.values())

    def cancel_all(self, now_ns: int, reason: str, symbol_id: int | None = None, b: DecisionBuilder | None = None,
                   res: SyncResult | None = None) -> SyncResult:
        """Cancel every non-terminal order (of one symbol, or all) that has no cancel in flight.

        Unacked and stale orders are cancelled by cloid (harmless if they never arrived).
        """
        res = res if res is not None else SyncResult()
        recs: list[OrderRecord] = []
        for sid in range(len(self.books)) if symbol_id is None else (symbol_id,):
            for r in self.books[sid].live.values():
                if r.status == OrderStatus.PENDING_CANCEL and not r.replaced_by:
                    continue
                if r.status == OrderStatus.STALE and r.prev_status == OrderStatus.PENDING_CANCEL:
                    continue
                recs.append(r)
        if recs:
            self._send_cancels(recs, now_ns, reason, b, res)
        return res

    # ------------------------------------------------------------------ checks

    def _checked_record(self, symbol_id: int, t: TargetOrder, now_ns: int, origin_ts_ns: int, res: SyncResult,
                        pending: Sequence[OrderRecord] = ()) -> OrderRecord | None:
        """A new record for target ``t`` when every limit allows it, else None (reason in ``res``)."""
        side = t.side
        tpx = t.px
        tqty = t.qty
        if side not in (1, -1) or not (tpx > 0.0 and math.isfinite(tpx)) or not (tqty > 0.0):
            res.blocked.append(f"{'bid' if side > 0 else 'ask'}: malformed target {tpx}x{tqty}")
            return None
        # the wire strings: the memos of _wire, read here; _wire fills them
        p = self._px_strs[symbol_id].get(tpx)
        z = self._sz_strs[symbol_id].get(tqty)
        if p is None or z is None:
            try:
                p, z = self._wire(symbol_id, tpx, tqty)
            except ValueError as exc:
                res.blocked.append(f"{'bid' if side > 0 else 'ask'}: cannot format {tpx}x{tqty}: {exc}")
                return None
        px_str, px = p
        sz_str, qty = z
        if qty <= 0.0 or abs(px - tpx) > 1e-9 * tpx:
            res.blocked.append(f"{'bid' if side > 0 else 'ask'}: {tpx}x{tqty} is off the price or lot grid")
            return None
        ocfg = self.ocfg
        if px * qty < ocfg.min_notional_usd - 1e-9:
            res.blocked.append(f"{'bid' if side > 0 else 'ask'}: {px * qty:.2f} below the minimum notional")
            return None
        bk = self.books[symbol_id]
        live = bk.live
        # what exposure() and passive_notional() would sum, in one pass over the live orders
        buys, sells, ro_buys, ro_sells, passive = _outstanding(live.values())
        if not t.reduce_only:  # a reduce-only order can only bring the position towards 0
            pos = bk.position + bk.fill_adj
            # orders accepted earlier in this sync but not yet recorded as live
            if side > 0:
                extra_buy = sum(r.qty for r in pending if r.side > 0 and not r.reduce_only) if pending else 0.0
                worst = pos + (buys + qty) + min(ro_buys, max(-pos, 0.0)) + extra_buy
            else:
                extra_sell = sum(r.qty for r in pending if r.side < 0 and not r.reduce_only) if pending else 0.0
                worst = -(pos - (sells + qty) - min(ro_sells, max(pos, 0.0)) - extra_sell)
            if worst > bk.max_inv + _QTY_EPS:
                res.blocked.append(f"{'bid' if side > 0 else 'ask'}: worst-case inventory {worst:g} "
                                   f"beyond max {bk.max_inv:g}")
                return None
        if t.aggressive:
            if now_ns - bk.last_aggressive_ns < ocfg.min_aggressive_interval_ms * 1_000_000:
                res.blocked.append(f"{'bid' if side > 0 else 'ask'}: aggressive order within "
                                   "min_aggressive_interval_ms")
                return None
            if any(r.aggressive for r in live.values()) or any(r.aggressive for r in pending):
                res.blocked.append(f"{'bid' if side > 0 else 'ask'}: an aggressive order is already in flight")
                return None
        else:
            notional = passive + px * qty
            if pending:
                notional += sum(r.px * r.qty for r in pending if not r.aggressive)
            if notional > ocfg.max_outstanding_passive_usd + 1e-9:
                res.blocked.append(f"{'bid' if side > 0 else 'ask'}: outstanding passive {notional:.2f} "
                                   "beyond the maximum")
                return None
        self._seq += 1  # new_cloid(), inlined
        rec = OrderRecord(self._cloid_prefix + format(self._seq, "016x"), symbol_id, side, px, qty, px_str, sz_str,
                          t.tif, t.reduce_only, t.aggressive, now_ns, origin_ts_ns)
        rec.reason = t.reason
        return rec

    # ------------------------------------------------------------------ sending

    def _wire(self, symbol_id: int, px: float, qty: float) -> tuple[tuple[str, float], tuple[str, float]]:
        """Price and size as wire strings (rules' formatter) with the float each reads as;
        memoised apart (quotes repeat prices and sizes, not always together)."""
        pxs = self._px_strs[symbol_id]
        p = pxs.get(px)
        if p is None:
            ps = (price_str_on_grid(px, self.grids[symbol_id].px_decimals)
                  or rules.format_price(px, self.specs[symbol_id].sz_decimals))
            p = (ps, float(ps))
            if len(pxs) >= 4096:
                pxs.clear()
            pxs[px] = p
        szs = self._sz_strs[symbol_id]
        z = szs.get(qty)
        if z is None:
            szd = self.specs[symbol_id].sz_decimals
            zs = size_str_on_lots(qty, szd) or rules.format_size(qty, szd)
            z = (zs, float(zs))
            if len(szs) >= 4096:
                szs.clear()
            szs[qty] = z
        return p, z

    def _next_request_id(self) -> int:
        self._request_seq += 1
        return self._request_seq

    def _place_of(self, rec: OrderRecord) -> PlaceOrder:
        spec = self.specs[rec.symbol_id]
        return PlaceOrder(rec.cloid, rec.symbol_id, spec.asset, rec.side > 0, rec.px_str, rec.sz_str, rec.tif,
                          rec.reduce_only)

    def _register(self, rec: OrderRecord, now_ns: int, request_id: int) -> None:
        rec.request_id = request_id
        bk = self.books[rec.symbol_id]
        rec.epoch = bk.epoch
        rec.deadline_ns = now_ns + self.ocfg.ack_timeout_ms * 1_000_000
        cloid = rec.cloid
        self.orders[cloid] = rec
        bk.live[cloid] = rec
        self.status_counts[_PENDING_NEW] += 1
        self.sent_total += 1
        if rec.aggressive:
            bk.last_aggressive_ns = now_ns
        self._event(rec, now_ns)

    def _send_places(self, recs: list[OrderRecord], now_ns: int, b: DecisionBuilder | None, res: SyncResult) -> None:
        n = len(recs)
        limiter = self.limiter
        why = limiter.try_exchange(n, False, now_ns)
        if why is not None:
            res.blocked.append(f"{n} new order(s) not sent: {why}")
            return
        self._request_seq += 1  # _next_request_id(), inlined
        rid = self._request_seq
        specs = self.specs
        places = []
        for rec in recs:
            self._register(rec, now_ns, rid)
            if b is not None:
                b.actions.append(ActionRecord("place", rec.cloid, rec.side, rec.px, rec.qty, rec.tif, rec.reduce_only))
            places.append(PlaceOrder(rec.cloid, rec.symbol_id, specs[rec.symbol_id].asset, rec.side > 0, rec.px_str,
                                     rec.sz_str, rec.tif, rec.reduce_only))  # _place_of(rec), inlined
        self.requests.append(ExchangeRequest(
            request_id=rid, kind="order", ts_ns=now_ns, ip_weight=limiter.exchange_weight(n),
            n_items=n, places=tuple(places)))
        res.placed += n

    def _send_modifies(self, symbol_id: int, pairs: list[tuple[OrderRecord, OrderRecord]], now_ns: int,
                       b: DecisionBuilder | None, res: SyncResult) -> None:
        why = self.limiter.try_exchange(len(pairs), False, now_ns)
        if why is not None:
            res.blocked.append(f"{len(pairs)} modify(s) not sent: {why}")
            return
        rid = self._next_request_id()
        mods = []
        for old, new in pairs:
            new.replaces = old.cloid
            old.replaced_by = new.cloid
            self._register(new, now_ns, rid)
            old.prev_status = old.status
            self._set_status(old, OrderStatus.PENDING_CANCEL, now_ns, "modify")
            old.request_id = rid
            old.deadline_ns = new.deadline_ns
            mods.append(ModifyOrder(old.cloid, old.oid, self._place_of(new)))
            if b is not None:
                b.actions.append(ActionRecord("modify", new.cloid, new.side, new.px, new.qty, new.tif,
                                              new.reduce_only, old.cloid))
        self.requests.append(ExchangeRequest(
            request_id=rid, kind="batchModify", ts_ns=now_ns, ip_weight=self.limiter.exchange_weight(len(mods)),
            n_items=len(mods), modifies=tuple(mods)))
        res.modified += len(pairs)

    def _send_cancels(self, recs: list[OrderRecord], now_ns: int, reason: str, b: DecisionBuilder | None,
                      res: SyncResult) -> None:
        by_oid: list[OrderRecord] = []
        by_cloid: list[OrderRecord] = []
        for r in recs:
            (by_oid if r.oid > 0 else by_cloid).append(r)
        limiter = self.limiter
        specs = self.specs
        deadline_ns = now_ns + self.ocfg.ack_timeout_ms * 1_000_000
        for kind, group in (("cancel", by_oid), ("cancelByCloid", by_cloid)):
            if not group:
                continue
            n = len(group)
            why = limiter.try_exchange(n, True, now_ns)
            if why is not None:
                res.blocked.append(f"{n} cancel(s) not sent: {why}")
                continue
            self._request_seq += 1  # _next_request_id(), inlined
            rid = self._request_seq
            items = []
            for r in group:
                if r.status != _PENDING_CANCEL:
                    r.prev_status = r.status
                self._set_status(r, _PENDING_CANCEL, now_ns, reason)
                r.request_id = rid
                r.deadline_ns = deadline_ns
                items.append(CancelOrder(r.cloid, r.symbol_id, specs[r.symbol_id].asset, r.oid))
                if b is not None:
                    vf = r.venue_filled_qty  # r.remaining, inlined
                    f = r.filled_qty
                    rem = r.qty - (vf if vf > f else f)
                    b.actions.append(ActionRecord("cancel", r.cloid, r.side, r.px, 0.0 if 0.0 > rem else rem))
            self.requests.append(ExchangeRequest(
                request_id=rid, kind=kind, ts_ns=now_ns,  # type: ignore[arg-type]
                ip_weight=limiter.exchange_weight(n), n_items=n, cancels=tuple(items)))
            res.cancelled += n

    # ------------------------------------------------------------------ timers and reconciliation

    def check_timeouts(self, now_ns: int) -> None:
        """Stale on a missed deadline; orderStatus lookups of stale orders; periodic openOrders."""
        retry_ns = self.ocfg.reconcile_retry_ms * 1_000_000
        for bk in self.books:
            for r in list(bk.live.values()):
                if r.deadline_ns and now_ns >= r.deadline_ns and r.status in (
                        OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL):
                    r.prev_status = r.status
                    r.deadline_ns = 0
                    self.stale_total += 1
                    self._set_status(r, OrderStatus.STALE, now_ns, "no answer within ack_timeout_ms")
                if r.status == OrderStatus.STALE and now_ns - r.last_lookup_ns >= retry_ns:
                    self._lookup(r, now_ns)
        iv = self.ocfg.open_orders_interval_ms
        if iv > 0 and now_ns - self.last_open_orders_ns >= iv * 1_000_000:
            self.request_open_orders(now_ns, "periodic")

    def _lookup(self, r: OrderRecord, now_ns: int) -> None:
        w = self.cfg.rate_limit.info_weight_order_status
        if self.limiter.try_info(w, now_ns) is not None:
            return
        r.last_lookup_ns = now_ns
        self.requests.append(InfoRequest(request_id=self._next_request_id(), kind="orderStatus", ts_ns=now_ns,
                                         ip_weight=w, cloid=r.cloid, symbol_id=r.symbol_id, reason="stale"))

    def request_open_orders(self, now_ns: int, reason: str) -> bool:
        """Ask the caller for the venue's open orders (start, reconnect, periodic)."""
        w = self.cfg.rate_limit.info_weight_open_orders
        if self.limiter.try_info(w, now_ns) is not None:
            return False
        self.last_open_orders_ns = now_ns
        self.requests.append(InfoRequest(request_id=self._next_request_id(), kind="openOrders", ts_ns=now_ns,
                                         ip_weight=w, reason=reason))
        return True

    # ------------------------------------------------------------------ venue feedback

    def on_order_result(self, cloid: str, now_ns: int, kind: Literal["resting", "filled", "error"], oid: int = 0,
                        total_sz: float = 0.0, error: str = "") -> None:
        """One status of an order or batchModify response, for the order with ``cloid``.

        For a modify, ``cloid`` is the replacement's (the order in the request).
        """
        r = self.orders.get(cloid)
        if r is None:
            self.unknown_results += 1
            return
        r.deadline_ns = 0
        old = self.orders.get(r.replaces) if r.replaces else None
        if kind == "error":
            self._set_status(r, OrderStatus.REJECTED, now_ns, error)
            m = _BBO_RE.search(error)
            if m is not None:
                try:
                    self.books[r.symbol_id].alo_bbo = (float(m.group(1)), float(m.group(2)), now_ns)
                except ValueError:
                    pass
            if old is not None and not old.terminal:
                old.replaced_by = ""
                old.deadline_ns = 0
                self.stale_total += 1
                self._set_status(old, OrderStatus.STALE, now_ns, f"modify failed: {error}")
                self._lookup(old, now_ns)
            return
        self._set_oid(r, oid)
        if old is not None and not old.terminal:
            old.deadline_ns = 0
            self._set_status(old, OrderStatus.CANCELLED, now_ns, "replaced")
        if kind == "filled":
            self._set_venue_filled(r, total_sz if total_sz > 0.0 else r.qty)
            if r.known_filled >= r.qty - _QTY_EPS:
                self._set_status(r, OrderStatus.FILLED, now_ns, "filled on arrival")
            else:
                self._set_status(r, OrderStatus.CANCELLED, now_ns, "IOC rest cancelled")
            return
        # resting
        if r.status in (OrderStatus.PENDING_NEW, OrderStatus.STALE) or (r.presumed and r.known_filled < r.qty):
            r.presumed = False
            status = OrderStatus.PARTIALLY_FILLED if r.known_filled > 0.0 else OrderStatus.OPEN
            self._set_status(r, status, now_ns, "acked")
        if r.cancel_on_ack and not r.terminal and r.status != OrderStatus.PENDING_CANCEL:
            self._send_cancels([r], now_ns, "dry run", None, SyncResult())

    def on_cancel_result(self, cloid: str, now_ns: int, ok: bool, error: str = "") -> None:
        """One status of a cancel response: ``"success"`` (ok) or an error string."""
        r = self.orders.get(cloid)
        if r is None:
            self.unknown_results += 1
            return
        r.deadline_ns = 0
        if r.terminal:
            return
        if ok:
            self._set_status(r, OrderStatus.CANCELLED, now_ns, "cancelled")
            return
        # "never placed, already canceled, or filled": we do not know which; ask
        r.prev_status = r.status
        self.stale_total += 1
        self._set_status(r, OrderStatus.STALE, now_ns, f"cancel refused: {error}")
        self._lookup(r, now_ns)

    def on_request_failed(self, request_id: int, now_ns: int, maybe_delivered: bool, reason: str = "") -> None:
        """A request got no usable answer.

        ``maybe_delivered=False``: it certainly did not take effect (refused before sending,
        HTTP 4xx/429, an ``err`` envelope): its orders are Rejected, its cancels and
        modifies undone. ``True`` (timeout, connection lost after sending): nothing is
        assumed; the orders stay pending and go Stale at their deadline, then are looked up.
        """
        if maybe_delivered:
            return
        for bk in self.books:
            for r in list(bk.live.values()):
                if r.request_id != request_id or r.terminal:
                    continue
                r.deadline_ns = 0
                if r.status == OrderStatus.PENDING_NEW:
                    old = self.orders.get(r.replaces) if r.replaces else None
                    self._set_status(r, OrderStatus.REJECTED, now_ns, f"not sent: {reason}")
                    if old is not None and not old.terminal:
                        old.replaced_by = ""
                        old.deadline_ns = 0
                        self._set_status(old, old.prev_status if old.prev_status in _SETTLED else OrderStatus.OPEN,
                                         now_ns, "modify not sent")
                elif r.status == OrderStatus.PENDING_CANCEL and not r.replaced_by:
                    back = r.prev_status if r.prev_status in (*_SETTLED, OrderStatus.PENDING_NEW) else OrderStatus.STALE
                    if back == OrderStatus.PENDING_NEW:
                        r.deadline_ns = now_ns + self.ocfg.ack_timeout_ms * 1_000_000
                    self._set_status(r, back, now_ns, "cancel not sent")

    def on_order_update(self, now_ns: int, v: VenueOrder) -> None:
        """The venue's view of one order (orderUpdates push, or a found orderStatus)."""
        r = self._find(v.cloid, v.oid)
        st = venue_status(v.status)
        if r is None:
            if st == OrderStatus.OPEN and 0 <= v.symbol_id < len(self.books):
                self._adopt_orphan(v, now_ns)
            else:
                self.unknown_results += 1
            return
        if v.oid > 0:
            self._set_oid(r, v.oid)
        if v.orig_qty > 0.0:
            self._set_venue_filled(r, max(v.orig_qty - v.rem_qty, 0.0))
        if st == OrderStatus.OPEN:
            if r.terminal and not r.presumed:
                return  # an older report than the terminal one we already have
            if r.status == OrderStatus.PENDING_CANCEL:
                return  # our cancel is still in flight
            if r.replaced_by and r.replaced_by in self.books[r.symbol_id].live:
                return  # being replaced; the modify's answer settles it
            r.deadline_ns = 0
            r.presumed = False
            status = OrderStatus.PARTIALLY_FILLED if r.known_filled > 0.0 else OrderStatus.OPEN
            if r.status != status:
                self._set_status(r, status, now_ns, f"venue: {v.status}")
            if r.cancel_on_ack:
                self._send_cancels([r], now_ns, "dry run", None, SyncResult())
            return
        if st == OrderStatus.FILLED:
            self._set_venue_filled(r, r.qty)
        if st in TERMINAL:
            r.deadline_ns = 0
            r.presumed = False
            r.replaced_by = ""  # the replacement, if any, is settled by the modify's own answer
            if r.status != st:
                self._set_status(r, st, now_ns, f"venue: {v.status}")

    def on_order_status(self, now_ns: int, cloid: str, found: VenueOrder | None) -> None:
        """The answer of an orderStatus lookup: the order, or None for ``unknownOid``."""
        if found is not None:
            self.on_order_update(now_ns, msgspec.structs.replace(found, cloid=found.cloid or cloid))
            return
        r = self.orders.get(cloid)
        if r is None or r.terminal:
            return
        r.deadline_ns = 0
        if r.oid <= 0 and r.known_filled <= 0.0:
            self._set_status(r, OrderStatus.REJECTED, now_ns, "venue: not found (never placed)")
        else:
            self._set_status(r, OrderStatus.CANCELLED, now_ns, "venue: not found")
        r.presumed = True

    def on_open_orders(self, now_ns: int, orders: Sequence[VenueOrder],
                       symbol_ids: Sequence[int] | None = None) -> None:
        """The venue's open orders (for ``symbol_ids``, default all): adopt, update, or look up."""
        seen: set[str] = set()
        for v in orders:
            r = self._find(v.cloid, v.oid)
            if r is None:
                if 0 <= v.symbol_id < len(self.books):
                    seen.add(self._adopt_orphan(v, now_ns))
                continue
            seen.add(r.cloid)
            self.on_order_update(now_ns, msgspec.structs.replace(v, status="open"))
        sids = range(len(self.books)) if symbol_ids is None else symbol_ids
        for sid in sids:
            for r in list(self.books[sid].live.values()):
                if r.cloid in seen or r.aggressive:
                    continue
                if r.status in (OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL) and r.deadline_ns > now_ns:
                    continue  # an answer is on its way (or the deadline will make it Stale)
                if r.status != OrderStatus.STALE:
                    r.prev_status = r.status
                    r.deadline_ns = 0
                    self.stale_total += 1
                    self._set_status(r, OrderStatus.STALE, now_ns, "not in the venue's open orders")
                if now_ns - r.last_lookup_ns >= self.ocfg.reconcile_retry_ms * 1_000_000:
                    self._lookup(r, now_ns)

    def on_fill(self, now_ns: int, symbol_id: int, cloid: str | None, oid: int, trade_id: int, is_buy: bool,
                px: float, qty: float, fee: float, is_maker: bool, remote_ts_ms: int = 0, mid_px: float = 0.0) -> bool:
        """One of our fills (userFills). False when it was a duplicate or malformed."""
        if not (0 <= symbol_id < len(self.books)) or not (qty > 0.0 and px > 0.0) or not math.isfinite(px * qty):
            return False
        key = (oid, trade_id)
        if key in self._fills_seen:
            self.duplicate_fills += 1
            return False
        self._fills_seen[key] = None
        if len(self._fills_seen) > self.ocfg.fills_dedup_kept:
            self._fills_seen.popitem(last=False)
        side = 1 if is_buy else -1
        bk = self.books[symbol_id]
        r = self._find(cloid, oid)
        if r is None:
            self.unknown_fills += 1
            bk.position += side * qty
        else:
            before = self._unreported(r)
            r.filled_qty += qty
            r.fill_notional += px * qty
            if r.epoch == bk.epoch:  # an older order's fills are in the adopted position already
                bk.position += side * qty
                bk.fill_adj += r.side * (self._unreported(r) - before)
            if oid > 0:
                self._set_oid(r, oid)
            if r.known_filled >= r.qty - _QTY_EPS:
                if r.status != OrderStatus.FILLED:
                    self._set_status(r, OrderStatus.FILLED, now_ns, "filled")
            elif r.status in (OrderStatus.OPEN, OrderStatus.PENDING_NEW):
                r.deadline_ns = 0 if r.status == OrderStatus.PENDING_NEW else r.deadline_ns
                self._set_status(r, OrderStatus.PARTIALLY_FILLED, now_ns, "partial fill")
            else:
                self._event(r, now_ns, "fill")
        self.limiter.on_traded(px * qty)
        self.events.append(Fill(
            symbol_id=symbol_id, ts_ns=now_ns, origin_ts_ns=now_ns, remote_ts_ms=remote_ts_ms,
            cloid=cloid or (r.cloid if r is not None else ""), oid=oid, trade_id=trade_id, side=side, px=px,
            qty=qty, fee=fee, is_maker=is_maker, mid_px=mid_px))
        return True

    def set_position(self, symbol_id: int, qty: float) -> bool:
        """Adopt the venue's position (clearinghouseState ``szi``) when the symbol is quiet.

        Refused (False) while any order of the symbol is not terminal: a fill of such an
        order may or may not be in the venue's figure, so adopting it could count that fill
        twice. Once adopted, fills of every order that existed before are taken as included
        in it (each was terminal, so all its fills happened before); later orders count as
        usual. Missed fills of live orders are recovered by replaying userFills through
        :meth:`on_fill` (duplicates are dropped by (oid, trade id)), not by this.
        """
        if not (0 <= symbol_id < len(self.books) and math.isfinite(qty)):
            return False
        bk = self.books[symbol_id]
        if bk.live:
            return False
        bk.position = qty
        bk.fill_adj = 0.0
        bk.epoch += 1
        return True

    # ------------------------------------------------------------------ internals

    def _find(self, cloid: str | None, oid: int) -> OrderRecord | None:
        if cloid:
            r = self.orders.get(cloid)
            if r is None:
                r = self.orders.get(cloid.lower())
            if r is not None:
                return r
        if oid > 0:
            c = self.by_oid.get(oid)
            if c is not None:
                return self.orders.get(c)
        return None

    def _set_oid(self, r: OrderRecord, oid: int) -> None:
        if oid > 0 and r.oid != oid:
            if r.oid > 0:
                self.by_oid.pop(r.oid, None)
            r.oid = oid
            self.by_oid[oid] = r.cloid

    @staticmethod
    def _unreported(r: OrderRecord) -> float:
        return max(r.venue_filled_qty - r.filled_qty, 0.0)

    def _set_venue_filled(self, r: OrderRecord, qty: float) -> None:
        if qty <= r.venue_filled_qty:
            return
        before = self._unreported(r)
        r.venue_filled_qty = min(qty, r.qty)
        bk = self.books[r.symbol_id]
        if r.epoch == bk.epoch:
            bk.fill_adj += r.side * (self._unreported(r) - before)

    def _adopt_orphan(self, v: VenueOrder, now_ns: int) -> str:
        """An open order of ours we have no record of (a previous session's): record it, cancel it."""
        spec = self.specs[v.symbol_id]
        cloid = v.cloid if v.cloid else f"0x{0:016x}{v.oid & ((1 << 64) - 1):016x}"
        qty = v.orig_qty if v.orig_qty > 0.0 else v.rem_qty
        r = OrderRecord(cloid, v.symbol_id, 1 if v.is_buy else -1, v.px, qty, rules.hl_str(repr(v.px)),
                        rules.format_size(qty, spec.sz_decimals) if qty > 0 else "0", "Gtc", False, False, now_ns, now_ns)
        r.reason = "orphan adopted"
        r.epoch = self.books[v.symbol_id].epoch
        r.status = OrderStatus.OPEN
        r.venue_filled_qty = max(qty - v.rem_qty, 0.0)
        self.orders[cloid] = r
        self.books[v.symbol_id].live[cloid] = r
        self._set_oid(r, v.oid)
        self.status_counts[OrderStatus.OPEN] += 1
        self.sent_total += 1
        self.orphans_adopted += 1
        self._event(r, now_ns, "orphan adopted")
        self._send_cancels([r], now_ns, "orphan", None, SyncResult())
        return cloid

    def _set_status(self, r: OrderRecord, status: OrderStatus, now_ns: int, reason: str) -> None:
        if r.status == status:
            return
        was_terminal = r.status in TERMINAL
        self.status_counts[r.status] -= 1
        self.status_counts[status] += 1
        r.status = status
        r.status_ns = now_ns
        r.reason = reason
        bk = self.books[r.symbol_id]
        if status in TERMINAL:
            bk.live.pop(r.cloid, None)
            if not was_terminal:
                self._terminal.append(r.cloid)
                self._trim()
            if r.replaced_by:
                r.replaced_by = ""
        else:
            bk.live[r.cloid] = r
            self.orders[r.cloid] = r
        self._event(r, now_ns, reason)

    def _trim(self) -> None:
        while len(self._terminal) > self.ocfg.history_kept:
            c = self._terminal.popleft()
            r = self.orders.get(c)
            if r is not None and r.terminal:
                del self.orders[c]
                if r.oid > 0 and self.by_oid.get(r.oid) == c:
                    del self.by_oid[r.oid]

    def _event(self, r: OrderRecord, now_ns: int, reason: str = "") -> None:
        vf = r.venue_filled_qty
        f = r.filled_qty
        self.events.append(OrderEvent(  # positional, in OrderEvent's field order (keywords cost more)
            r.symbol_id, now_ns, r.origin_ts_ns, r.cloid, r.oid, r.side, r.px, r.qty,  # ... side, px, qty,
            vf if vf > f else f, int(r.status), reason))  # filled_qty, status, reason
