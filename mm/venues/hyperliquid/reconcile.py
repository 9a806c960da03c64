"""Reconciliation of our view of an account with Hyperliquid's: the venue is the truth.

This module owns the typed view of an account as the venue reports it (:class:`OrderInfo`
for openOrders / orderStatus / orderUpdates, :class:`UserFill`, :class:`Position`,
:class:`AccountState`) and the pure decision of what to do when our local view of orders,
fills and positions differs from it (:func:`plan_reconciliation`). No I/O, no clock: the
exchange client (``client.py``) fetches, calls :func:`plan_reconciliation` and carries out
the cancels; the OMS applies the rest.

Rules (ARCHITECTURE "State drift": every difference is counted):

- A venue open order we know (by cloid, else by oid) and believe live is **kept**; when its
  remaining size differs from ours it is also a **size difference** (fills we missed).
- A venue open order we know but believed pending, stale, rejected or filled is
  **adopted** (it is resting: the venue says so); one we believed cancelled, or are
  cancelling, is **cancelled** (again).
- A venue open order we do not know (a previous session's, or placed by hand) is
  cancelled (``unknown_policy="cancel"``, the default: a restart never orphans an order)
  or adopted (``"adopt"``).
- A local live order the venue does not list as open is **marked filled** when the venue's
  fills cover its size; otherwise it is **looked up** by cloid (``orderStatus``): nothing is
  assumed from absence alone.
- Venue fills whose ``(oid, tid)`` we have not seen are **missed fills** to apply.
- A position that differs from ours by more than ``position_tolerance`` is a **position
  difference**; the venue's figure wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal

import msgspec

from mm.schema import OrderStatus

UnknownPolicy = Literal["cancel", "adopt"]

_LIVE: Final = frozenset({OrderStatus.PENDING_NEW, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.STALE})
_QTY_EPS: Final = 1e-9


# --------------------------------------------------------------------------- the venue's view


class OrderInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One order as the venue reports it (openOrders, orderStatus, an orderUpdates push).

    ``sz`` is the remaining size, ``orig_sz`` the size placed (0.0 when the venue did not
    say). ``status`` is Hyperliquid's word (``open``, ``filled``, ``canceled``,
    ``scheduledCancel``, ``badAloPxRejected``, ...). ``asset`` is -1 when the coin is not in
    the client's meta.
    """

    coin: str
    asset: int
    oid: int
    cloid: str | None
    is_buy: bool
    limit_px: float
    sz: float
    orig_sz: float = 0.0
    status: str = "open"
    status_ts_ms: int = 0
    timestamp_ms: int = 0
    reduce_only: bool = False
    tif: str = ""


class UserFill(msgspec.Struct, frozen=True, kw_only=True):
    """One of our fills (userFills). ``crossed`` is True when we were the taker.

    ``replayed`` is True for a fill delivered late: from a resubscription snapshot or a
    fetch after a reconnect, i.e. one that happened while the stream was down.
    """

    coin: str
    asset: int
    oid: int
    cloid: str | None
    tid: int
    is_buy: bool
    px: float
    sz: float
    time_ms: int
    fee: float = 0.0
    fee_token: str = "USDC"
    crossed: bool = False
    start_position: float = 0.0
    dir: str = ""
    closed_pnl: float = 0.0
    hash: str = ""
    liquidation: bool = False
    replayed: bool = False

    @property
    def key(self) -> tuple[int, int]:
        """``(oid, tid)``: unique per fill of ours (a self-trade has two, one per oid)."""
        return (self.oid, self.tid)


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """A perp position: ``szi`` is signed (long > 0)."""

    coin: str
    asset: int
    szi: float
    entry_px: float | None = None
    position_value_usd: float = 0.0
    unrealized_pnl_usd: float = 0.0
    margin_used_usd: float = 0.0
    liquidation_px: float | None = None
    leverage: int = 0


class AccountState(msgspec.Struct, frozen=True, kw_only=True):
    """clearinghouseState: positions and margin summary."""

    positions: tuple[Position, ...]
    account_value_usd: float
    total_margin_used_usd: float
    withdrawable_usd: float
    time_ms: int

    def position_of(self, coin: str) -> float:
        """Signed size of ``coin`` (0.0 when flat)."""
        for p in self.positions:
            if p.coin == coin:
                return p.szi
        return 0.0

    def position_map(self) -> dict[str, float]:
        return {p.coin: p.szi for p in self.positions if p.szi != 0.0}


# --------------------------------------------------------------------------- our view


class LocalOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as our OMS knows it. ``status`` is an ``mm.schema.OrderStatus``."""

    cloid: str
    coin: str
    is_buy: bool
    px: float
    qty: float
    oid: int = 0
    filled_qty: float = 0.0
    status: int = int(OrderStatus.OPEN)

    @property
    def remaining(self) -> float:
        return max(self.qty - self.filled_qty, 0.0)


# --------------------------------------------------------------------------- decisions


class Adopt(msgspec.Struct, frozen=True):
    """A venue open order to take into the local book; ``local_cloid`` is None for an unknown one."""

    order: OrderInfo
    local_cloid: str | None
    reason: str


class Cancel(msgspec.Struct, frozen=True):
    """A venue open order to cancel."""

    order: OrderInfo
    reason: str


class SizeDifference(msgspec.Struct, frozen=True):
    cloid: str
    local_remaining: float
    venue_remaining: float


class MarkFilled(msgspec.Struct, frozen=True):
    """A local live order that is gone from the book with fills covering its size."""

    cloid: str
    filled_qty: float


class PositionDifference(msgspec.Struct, frozen=True):
    coin: str
    local_qty: float
    venue_qty: float


class ReconcilePlan(msgspec.Struct, frozen=True, kw_only=True):
    """What to do, and every difference found, counted in ``counts``."""

    keep: tuple[str, ...]
    adopt: tuple[Adopt, ...]
    cancel: tuple[Cancel, ...]
    mark_filled: tuple[MarkFilled, ...]
    lookup: tuple[str, ...]
    size_differences: tuple[SizeDifference, ...]
    missed_fills: tuple[UserFill, ...]
    position_differences: tuple[PositionDifference, ...]
    counts: dict[str, int]

    @property
    def differences(self) -> int:
        """Number of differences between the two views (0: in agreement)."""
        return self.counts["differences"]


def _norm(cloid: str | None) -> str | None:
    return cloid.lower() if cloid else None


def plan_reconciliation(
    local_orders: Sequence[LocalOrder],
    venue_open: Sequence[OrderInfo],
    venue_fills: Sequence[UserFill] = (),
    seen_fills: Iterable[tuple[int, int]] = (),
    local_positions: Mapping[str, float] | None = None,
    venue_positions: Mapping[str, float] | None = None,
    unknown_policy: UnknownPolicy = "cancel",
    position_tolerance: float = 1e-9,
) -> ReconcilePlan:
    """Compare the two views and decide (module docstring for the rules).

    ``seen_fills`` are the ``(oid, tid)`` keys already applied locally. Positions are
    compared only when both maps are given (coins absent from a map are flat).
    """
    if unknown_policy not in ("cancel", "adopt"):
        raise ValueError(f"unknown_policy must be 'cancel' or 'adopt', not {unknown_policy!r}")
    by_cloid: dict[str, LocalOrder] = {}
    by_oid: dict[int, LocalOrder] = {}
    for lo in local_orders:
        c = _norm(lo.cloid)
        if c:
            by_cloid[c] = lo
        if lo.oid > 0:
            by_oid[lo.oid] = lo

    keep: list[str] = []
    adopt: list[Adopt] = []
    cancel: list[Cancel] = []
    sizes: list[SizeDifference] = []
    matched: set[str] = set()
    for v in venue_open:
        c = _norm(v.cloid)
        known = by_cloid.get(c) if c else None
        if known is None and v.oid > 0:
            known = by_oid.get(v.oid)
        if known is None:
            if unknown_policy == "adopt":
                adopt.append(Adopt(v, None, "unknown open order adopted"))
            else:
                cancel.append(Cancel(v, "unknown open order"))
            continue
        matched.add(known.cloid)
        st = OrderStatus(known.status)
        if st in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
            keep.append(known.cloid)
            if abs(known.remaining - v.sz) > _QTY_EPS * max(1.0, abs(v.sz)):
                sizes.append(SizeDifference(known.cloid, known.remaining, v.sz))
        elif st in (OrderStatus.PENDING_CANCEL, OrderStatus.CANCELLED):
            cancel.append(Cancel(v, f"still open though {st.name.lower()} locally"))
        else:  # PENDING_NEW, STALE, REJECTED, FILLED: it rests, the venue says so
            adopt.append(Adopt(v, known.cloid, f"open at the venue, {st.name.lower()} locally"))

    # venue fills per local order, and fills we never applied
    seen = set(seen_fills)
    filled_by_local: dict[str, float] = {}
    missed: list[UserFill] = []
    for f in venue_fills:
        c = _norm(f.cloid)
        owner = by_cloid.get(c) if c else None
        if owner is None:
            owner = by_oid.get(f.oid)
        if owner is not None:
            filled_by_local[owner.cloid] = filled_by_local.get(owner.cloid, 0.0) + f.sz
        if f.key not in seen:
            missed.append(f)

    mark: list[MarkFilled] = []
    lookup: list[str] = []
    for lo in local_orders:
        if lo.cloid in matched or OrderStatus(lo.status) not in _LIVE:
            continue
        venue_filled = filled_by_local.get(lo.cloid, 0.0)
        if max(venue_filled, lo.filled_qty) >= lo.qty - _QTY_EPS * max(1.0, lo.qty):
            mark.append(MarkFilled(lo.cloid, max(venue_filled, lo.filled_qty)))
        else:
            lookup.append(lo.cloid)

    pos_diffs: list[PositionDifference] = []
    if local_positions is not None and venue_positions is not None:
        for coin in sorted(set(local_positions) | set(venue_positions)):
            lq = float(local_positions.get(coin, 0.0))
            vq = float(venue_positions.get(coin, 0.0))
            if abs(lq - vq) > position_tolerance:
                pos_diffs.append(PositionDifference(coin, lq, vq))

    counts = {
        "venue_open": len(venue_open),
        "local_live": sum(1 for lo in local_orders if OrderStatus(lo.status) in _LIVE),
        "kept": len(keep),
        "adopted": len(adopt),
        "adopted_unknown": sum(1 for a in adopt if a.local_cloid is None),
        "cancelled": len(cancel),
        "cancelled_unknown": sum(1 for c in cancel if c.reason == "unknown open order"),
        "marked_filled": len(mark),
        "lookups": len(lookup),
        "size_differences": len(sizes),
        "missed_fills": len(missed),
        "position_differences": len(pos_diffs),
    }
    counts["differences"] = (counts["adopted"] + counts["cancelled"] + counts["marked_filled"] + counts["lookups"]
                             + counts["size_differences"] + counts["missed_fills"] + counts["position_differences"])
    return ReconcilePlan(
        keep=tuple(keep), adopt=tuple(adopt), cancel=tuple(cancel), mark_filled=tuple(mark), lookup=tuple(lookup),
        size_differences=tuple(sizes), missed_fills=tuple(sorted(missed, key=lambda f: (f.time_ms, f.tid))),
        position_differences=tuple(pos_diffs), counts=counts,
    )
