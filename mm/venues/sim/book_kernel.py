"""The paper venue's book and queue fill model as compiled (numba) kernels over arrays.

This module owns a compiled copy of :class:`~mm.venues.sim.matching.MatchingEngine`'s
market side for one coin and one user: background size per price level, depletion, the
user's resting post-only orders with their queue position (``ahead``), and the fills the
market gives them. The rules are the matching engine's, step for step (its module docstring:
joining behind the displayed size, trades at our level from the front, trades through our
price, displayed-size decreases by the :class:`~mm.venues.sim.queue_model.QueueModel`,
depletion, background crossing our orders); ``tests/venue/test_book_kernel.py`` replays the
real recording through both and requires the same fills, order by order.

What it leaves out (the matching engine keeps them): other users, taking orders (GTC/IOC that
cross), reduce-only, margin, fees, positions, order history and the venue's events. It is the
replay's book + queue fill model where those are not needed (the speed benchmark), not the
venue's engine.

Data: market events become columns once (:func:`encode_events`): kind, time, and integer
prices/sizes converted exactly as the matching engine converts them (``round(px * 10**px_dec)``,
half to even). State: :class:`KernelBook`'s arrays; every step is an ``@njit`` function, so a
compiled driver loop (the benchmark's touch keeper) runs a whole stream in one call.
Pure logic: no I/O, no clock reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from numba import njit

from mm.schema import Bbo, BookSnapshot, Trade
from mm.venues.sim.queue_model import QueueModel

K_TRADE: Final = 0
K_SNAPSHOT: Final = 1
K_BBO: Final = 2

BID: Final = 0
ASK: Final = 1

# order table columns
O_LIVE, O_OID, O_SIDE, O_PX, O_REM, O_AHEAD = range(6)
# misc slots
M_NEXT_OID, M_NFILLS, M_LAST_TRADE_PX, M_QMODEL, M_FULL = range(5)
# fill columns
F_TMS, F_OID, F_SIDE, F_PX, F_LOTS = range(5)

QMODEL_CODE: Final = {QueueModel.PRO_RATA: 0, QueueModel.BEHIND_FIRST: 1, QueueModel.AHEAD_FIRST: 2}

I64 = npt.NDArray[np.int64]


class EventColumns:
    """A stream of market events as columns (see :func:`encode_events`)."""

    __slots__ = ("a", "kind", "lvl_lots", "lvl_px", "n", "t_ns")

    def __init__(self, kind: I64, t_ns: I64, a: I64, lvl_px: I64, lvl_lots: I64) -> None:
        self.kind = kind
        self.t_ns = t_ns
        self.a = a  # per event 6 ints: trade (is_buy, px, lots); bbo (bid px, lots, ask px, lots); snapshot (offsets)
        self.lvl_px = lvl_px
        self.lvl_lots = lvl_lots
        self.n = len(kind)


def encode_events(events: Sequence[Any], px_decimals: int, sz_decimals: int) -> EventColumns:
    """Trades, BBOs and book snapshots of one coin as columns, prices and sizes in integer units.

    Other event types are skipped. A snapshot's levels are aggregated per price with zero or
    negative sizes and prices dropped, and a crossed snapshot's crossing asks dropped, as
    :meth:`MatchingEngine.apply_book_snapshot` does; its bids and asks are stored ascending.
    """
    ps = 10**px_decimals
    ls = 10**sz_decimals
    kinds: list[int] = []
    ts: list[int] = []
    cols: list[tuple[int, int, int, int, int, int]] = []
    lpx: list[int] = []
    llots: list[int] = []
    for ev in events:
        if isinstance(ev, Trade):
            kinds.append(K_TRADE)
            ts.append(ev.ts_ns)
            cols.append((1 if ev.side > 0 else 0, int(round(ev.px * ps)), int(round(ev.qty * ls)), 0, 0, 0))
        elif isinstance(ev, Bbo):
            kinds.append(K_BBO)
            ts.append(ev.ts_ns)
            cols.append((int(round(ev.bid_px * ps)) if ev.bid_px > 0 else 0, int(round(ev.bid_qty * ls)),
                         int(round(ev.ask_px * ps)) if ev.ask_px > 0 else 0, int(round(ev.ask_qty * ls)), 0, 0))
        elif isinstance(ev, BookSnapshot):
            sides: list[dict[int, int]] = []
            for pxs, qtys in ((ev.bid_px, ev.bid_qty), (ev.ask_px, ev.ask_qty)):
                new: dict[int, int] = {}
                for px, qty in zip(pxs, qtys):
                    lots = round(qty * ls)
                    if lots > 0 and px > 0:
                        u = round(px * ps)
                        new[u] = new.get(u, 0) + lots
                sides.append(new)
            nb, na = sides
            if nb and na:
                top = max(nb)
                if top >= min(na):
                    na = {p: q for p, q in na.items() if p > top}
            b0 = len(lpx)
            for p in sorted(nb):
                lpx.append(p)
                llots.append(nb[p])
            a0 = len(lpx)
            for p in sorted(na):
                lpx.append(p)
                llots.append(na[p])
            kinds.append(K_SNAPSHOT)
            ts.append(ev.ts_ns)
            cols.append((b0, a0, len(lpx), 0, 0, 0))
    a = np.array(cols, dtype=np.int64).reshape(-1, 6)
    return EventColumns(np.array(kinds, dtype=np.int64), np.array(ts, dtype=np.int64), a,
                        np.array(lpx, dtype=np.int64), np.array(llots, dtype=np.int64))


class KernelBook:
    """The arrays of one coin's compiled book (levels, depletion, our orders, fills)."""

    def __init__(self, queue_model: QueueModel = QueueModel.PRO_RATA, trade_through_full: bool = False,
                 level_cap: int = 4096, order_cap: int = 8, fill_cap: int = 1 << 16, first_oid: int = 1) -> None:
        self.lpx = np.zeros((2, level_cap), dtype=np.int64)  # level prices, ascending, per side
        self.lbg = np.zeros((2, level_cap), dtype=np.int64)  # background lots
        self.ln = np.zeros(2, dtype=np.int64)
        self.dpx = np.zeros((2, level_cap), dtype=np.int64)  # depletion prices, ascending
        self.dq = np.zeros((2, level_cap), dtype=np.int64)
        self.dn = np.zeros(2, dtype=np.int64)
        self.orders = np.zeros((order_cap, 6), dtype=np.int64)
        self.misc = np.zeros(8, dtype=np.int64)
        self.misc[M_NEXT_OID] = first_oid
        self.misc[M_QMODEL] = QMODEL_CODE[queue_model]
        self.misc[M_FULL] = 1 if trade_through_full else 0
        self.fills = np.zeros((fill_cap, 5), dtype=np.int64)

    @property
    def state(self) -> tuple[I64, I64, I64, I64, I64, I64, I64, I64, I64]:
        """The arrays, in the order every kernel takes them."""
        return (self.lpx, self.lbg, self.ln, self.dpx, self.dq, self.dn, self.orders, self.misc, self.fills)

    def fills_list(self) -> list[tuple[int, int, int, int, int]]:
        """``(time_ms, oid, side, px_units, lots)`` of every fill so far (side 0 bid, 1 ask)."""
        n = int(self.misc[M_NFILLS])
        return [tuple(int(x) for x in row) for row in self.fills[:n]]  # type: ignore[misc]


# ---------------------------------------------------------------------- small maps (sorted arrays)

@njit(cache=True)
def _search(arr: Any, n: int, px: int) -> int:
    """First index with arr[i] >= px in arr[:n]."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if arr[mid] < px:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _find(arr: Any, n: int, px: int) -> int:
    i = _search(arr, n, px)
    return i if i < n and arr[i] == px else -1


@njit(cache=True)
def _insert(keys: Any, vals: Any, n: Any, s: int, px: int, v: int) -> int:
    m = n[s]
    if m >= keys.shape[1]:
        raise ValueError("book_kernel: level capacity exceeded")
    i = _search(keys[s], m, px)
    j = m
    while j > i:
        keys[s, j] = keys[s, j - 1]
        vals[s, j] = vals[s, j - 1]
        j -= 1
    keys[s, i] = px
    vals[s, i] = v
    n[s] = m + 1
    return i


@njit(cache=True)
def _delete(keys: Any, vals: Any, n: Any, s: int, i: int) -> None:
    m = n[s] - 1
    for j in range(i, m):
        keys[s, j] = keys[s, j + 1]
        vals[s, j] = vals[s, j + 1]
    n[s] = m


@njit(cache=True)
def _dp_get(dpx: Any, dq: Any, dn: Any, s: int, px: int) -> int:
    i = _find(dpx[s], dn[s], px)
    return dq[s, i] if i >= 0 else 0


@njit(cache=True)
def _dp_set(dpx: Any, dq: Any, dn: Any, s: int, px: int, q: int) -> None:
    i = _find(dpx[s], dn[s], px)
    if q:
        if i >= 0:
            dq[s, i] = q
        else:
            _insert(dpx, dq, dn, s, px, q)
    elif i >= 0:
        _delete(dpx, dq, dn, s, i)


@njit(cache=True)
def _has_orders(orders: Any, s: int, px: int) -> bool:
    for k in range(orders.shape[0]):
        if orders[k, O_LIVE] and orders[k, O_SIDE] == s and orders[k, O_PX] == px:
            return True
    return False


@njit(cache=True)
def _orders_at(orders: Any, s: int, px: int, out: Any) -> int:
    """Indices of the live orders at ``px`` on side ``s`` in time priority (oid order) into ``out``."""
    m = 0
    for k in range(orders.shape[0]):
        if orders[k, O_LIVE] and orders[k, O_SIDE] == s and orders[k, O_PX] == px:
            j = m
            while j > 0 and orders[out[j - 1], O_OID] > orders[k, O_OID]:
                out[j] = out[j - 1]
                j -= 1
            out[j] = k
            m += 1
    return m


@njit(cache=True)
def _ahead_after_cancel(model: int, ahead: int, level_qty: int, cancel_qty: int) -> int:
    """:func:`mm.venues.sim.queue_model.ahead_after_cancel` (0 pro rata, 1 behind first, 2 ahead first)."""
    if cancel_qty <= 0 or ahead <= 0:
        return max(ahead, 0)
    remaining = level_qty - cancel_qty
    if remaining <= 0:
        return 0
    if model == 0:
        return min((2 * ahead * remaining + level_qty) // (2 * level_qty), remaining)
    if model == 1:
        return min(ahead, remaining)
    return max(0, ahead - cancel_qty)


# ---------------------------------------------------------------------- the book

@njit(cache=True)
def _drop_if_empty(lpx: Any, lbg: Any, ln: Any, orders: Any, s: int, px: int) -> None:
    i = _find(lpx[s], ln[s], px)
    if i >= 0 and lbg[s, i] <= 0 and not _has_orders(orders, s, px):
        _delete(lpx, lbg, ln, s, i)


@njit(cache=True)
def _set_level_qty(lpx: Any, lbg: Any, ln: Any, dpx: Any, dq: Any, dn: Any, orders: Any, misc: Any, s: int, px: int,
                   new_qty: int) -> None:
    """``MatchingEngine._set_level_qty``: the level's displayed background to ``new_qty``, as a diff."""
    i = _find(lpx[s], ln[s], px)
    bg = lbg[s, i] if i >= 0 else 0
    dp = _dp_get(dpx, dq, dn, s, px)
    prev = bg + dp
    if new_qty < prev:
        shrink = prev - new_qty
        used = dp if dp < shrink else shrink
        dp -= used
        cancels = shrink - used
        if cancels and i >= 0:
            model = misc[M_QMODEL]
            for k in range(orders.shape[0]):
                if orders[k, O_LIVE] and orders[k, O_SIDE] == s and orders[k, O_PX] == px:
                    orders[k, O_AHEAD] = _ahead_after_cancel(model, orders[k, O_AHEAD], bg, cancels)
            lbg[s, i] = bg - cancels
    elif new_qty > prev:
        if i < 0:
            i = _insert(lpx, lbg, ln, s, px, 0)
        lbg[s, i] = bg + (new_qty - prev)
    _dp_set(dpx, dq, dn, s, px, dp)
    if i >= 0:
        _drop_if_empty(lpx, lbg, ln, orders, s, px)


@njit(cache=True)
def _apply_side_snapshot(lpx: Any, lbg: Any, ln: Any, dpx: Any, dq: Any, dn: Any, orders: Any, misc: Any, s: int,
                         npx: Any, nq: Any) -> None:
    """``MatchingEngine._apply_side_snapshot``: ``npx`` ascending, ``nq`` > 0."""
    m = len(npx)
    if m:
        worst = npx[0] if s == BID else npx[m - 1]
    else:
        worst = 0
    # levels the snapshot omits: gone unless ours rest there; inside its range, shrunk to zero
    i = 0
    while i < ln[s]:
        px = lpx[s, i]
        if _find(npx, m, px) >= 0:
            i += 1
            continue
        if not _has_orders(orders, s, px):
            _delete(lpx, lbg, ln, s, i)
            continue
        if m == 0 or (px >= worst if s == BID else px <= worst):
            _set_level_qty(lpx, lbg, ln, dpx, dq, dn, orders, misc, s, px, 0)  # keeps the level (orders rest)
        i += 1
    # depletion only where the snapshot shows a level
    j = 0
    while j < dn[s]:
        if _find(npx, m, dpx[s, j]) < 0:
            _delete(dpx, dq, dn, s, j)
        else:
            j += 1
    for k in range(m):
        px = npx[k]
        qty = nq[k]
        if _find(dpx[s], dn[s], px) < 0:
            li = _find(lpx[s], ln[s], px)
            if li < 0:
                _insert(lpx, lbg, ln, s, px, qty)
                continue
            if not _has_orders(orders, s, px):
                lbg[s, li] = qty
                continue
        _set_level_qty(lpx, lbg, ln, dpx, dq, dn, orders, misc, s, px, qty)


@njit(cache=True)
def _apply_top(lpx: Any, lbg: Any, ln: Any, dpx: Any, dq: Any, dn: Any, orders: Any, misc: Any, s: int, px: int,
               lots: int) -> None:
    """``MatchingEngine._apply_top``: nothing better than ``px`` remains; ``px`` shows ``lots``."""
    if s == BID:  # best first: from the top down; a visited level is removed or stays below
        i = ln[s] - 1
        while i >= 0 and lpx[s, i] > px:
            p = lpx[s, i]
            _set_level_qty(lpx, lbg, ln, dpx, dq, dn, orders, misc, s, p, 0)
            _dp_set(dpx, dq, dn, s, p, 0)
            i -= 1
    else:
        i = 0
        while i < ln[s] and lpx[s, i] < px:
            p = lpx[s, i]
            _set_level_qty(lpx, lbg, ln, dpx, dq, dn, orders, misc, s, p, 0)
            _dp_set(dpx, dq, dn, s, p, 0)
            if i < ln[s] and lpx[s, i] == p:
                i += 1
    _set_level_qty(lpx, lbg, ln, dpx, dq, dn, orders, misc, s, px, lots)


@njit(cache=True)
def _fill(orders: Any, misc: Any, fills: Any, k: int, px: int, lots: int, t_ms: int) -> None:
    n = misc[M_NFILLS]
    if n >= fills.shape[0]:
        raise ValueError("book_kernel: fill capacity exceeded")
    fills[n, F_TMS] = t_ms
    fills[n, F_OID] = orders[k, O_OID]
    fills[n, F_SIDE] = orders[k, O_SIDE]
    fills[n, F_PX] = px
    fills[n, F_LOTS] = lots
    misc[M_NFILLS] = n + 1
    misc[M_LAST_TRADE_PX] = px
    orders[k, O_REM] -= lots
    if orders[k, O_REM] == 0:
        orders[k, O_LIVE] = 0


@njit(cache=True)
def _best(lpx: Any, ln: Any, s: int) -> int:
    """Index of the best level of side ``s``, or -1."""
    n = ln[s]
    if n == 0:
        return -1
    return n - 1 if s == BID else 0


@njit(cache=True)
def _background_takes(lpx: Any, lbg: Any, ln: Any, dpx: Any, dq: Any, dn: Any, orders: Any, misc: Any, fills: Any,
                      bs: int, bpx: int, us: int, upx: int, t_ms: int, tmp: Any) -> None:
    """``MatchingEngine._background_takes``: background at (bs, bpx) trades with our orders at (us, upx)."""
    bi = _find(lpx[bs], ln[bs], bpx)
    budget = lbg[bs, bi]
    taken = 0
    m = _orders_at(orders, us, upx, tmp)
    for j in range(m):
        if budget <= 0:
            break
        k = tmp[j]
        q = orders[k, O_REM] if orders[k, O_REM] < budget else budget
        if q > 0:
            _fill(orders, misc, fills, k, upx, q, t_ms)
            budget -= q
            taken += q
    bi = _find(lpx[bs], ln[bs], bpx)
    lbg[bs, bi] -= taken
    bg = lbg[bs, bi]
    for k in range(orders.shape[0]):
        if orders[k, O_LIVE] and orders[k, O_SIDE] == bs and orders[k, O_PX] == bpx and orders[k, O_AHEAD] > bg:
            orders[k, O_AHEAD] = bg
    if taken:
        _dp_set(dpx, dq, dn, bs, bpx, _dp_get(dpx, dq, dn, bs, bpx) + taken)
    _drop_if_empty(lpx, lbg, ln, orders, us, upx)
    _drop_if_empty(lpx, lbg, ln, orders, bs, bpx)


@njit(cache=True)
def _resolve_cross(lpx: Any, lbg: Any, ln: Any, dpx: Any, dq: Any, dn: Any, orders: Any, misc: Any, fills: Any,
                   t_ms: int, prefer_bids: bool, tmp: Any) -> None:
    """``MatchingEngine._resolve_cross``: new background reaching our orders trades with them."""
    while True:
        bi = _best(lpx, ln, BID)
        ai = _best(lpx, ln, ASK)
        if bi < 0 or ai < 0 or lpx[BID, bi] < lpx[ASK, ai]:
            return
        bpx, apx = lpx[BID, bi], lpx[ASK, ai]
        bbg, abg = lbg[BID, bi], lbg[ASK, ai]
        if bbg > 0 and abg > 0:
            s = ASK if prefer_bids else BID
            spx = apx if prefer_bids else bpx
            si = ai if prefer_bids else bi
            for k in range(orders.shape[0]):
                if orders[k, O_LIVE] and orders[k, O_SIDE] == s and orders[k, O_PX] == spx:
                    orders[k, O_AHEAD] = 0
            lbg[s, si] = 0
            _dp_set(dpx, dq, dn, s, spx, 0)
            _drop_if_empty(lpx, lbg, ln, orders, s, spx)
            continue
        if bbg > 0 and _has_orders(orders, ASK, apx):
            _background_takes(lpx, lbg, ln, dpx, dq, dn, orders, misc, fills, BID, bpx, ASK, apx, t_ms, tmp)
        elif abg > 0 and _has_orders(orders, BID, bpx):
            _background_takes(lpx, lbg, ln, dpx, dq, dn, orders, misc, fills, ASK, apx, BID, bpx, t_ms, tmp)
        else:
            return


@njit(cache=True)
def _match_level_market(lpx: Any, lbg: Any, ln: Any, dpx: Any, dq: Any, dn: Any, orders: Any, misc: Any, fills: Any,
                        s: int, px: int, budget: int, t_ms: int, tmp: Any) -> None:
    """``MatchingEngine._match_level`` for a market trade at our level: the queue from the front."""
    li = _find(lpx[s], ln[s], px)
    consumed_bg = 0
    m = _orders_at(orders, s, px, tmp)
    for j in range(m):
        if budget <= 0:
            break
        k = tmp[j]
        seg = orders[k, O_AHEAD] - consumed_bg
        if seg > 0:
            t = seg if seg < budget else budget
            consumed_bg += t
            budget -= t
            if budget == 0:
                break
        want = orders[k, O_REM] if orders[k, O_REM] < budget else budget
        if want > 0:
            _fill(orders, misc, fills, k, px, want, t_ms)
            budget -= want
    if budget > 0:
        avail = lbg[s, li] - consumed_bg
        t = avail if avail < budget else budget
        if t > 0:
            consumed_bg += t
            budget -= t
    if consumed_bg:
        lbg[s, li] -= consumed_bg
        for k in range(orders.shape[0]):
            if orders[k, O_LIVE] and orders[k, O_SIDE] == s and orders[k, O_PX] == px:
                a = orders[k, O_AHEAD]
                orders[k, O_AHEAD] = a - consumed_bg if a > consumed_bg else 0
    if budget > 0:
        dp = _dp_get(dpx, dq, dn, s, px)
        if dp:
            left = dp - budget
            _dp_set(dpx, dq, dn, s, px, left if left > 0 else 0)


@njit(cache=True)
def apply_trade(st: Any, aggressor_is_buy: bool, pu: int, lots: int, t_ns: int, tmp: Any) -> None:
    """``MatchingEngine.apply_trade`` (our orders are makers; ``tmp`` an int64 scratch of the order capacity)."""
    lpx, lbg, ln, dpx, dq, dn, orders, misc, fills = st
    if lots <= 0 or pu <= 0:
        return
    t_ms = t_ns // 1_000_000
    misc[M_LAST_TRADE_PX] = pu
    s = ASK if aggressor_is_buy else BID
    full = misc[M_FULL] != 0
    budget = lots
    # levels the print went through, best first (each visited once: removed, or kept for our unfilled orders)
    i = ln[s] - 1 if s == BID else 0
    while 0 <= i < ln[s] and (lpx[s, i] > pu if s == BID else lpx[s, i] < pu):
        p = lpx[s, i]
        m = _orders_at(orders, s, p, tmp)
        for jj in range(m):
            k = tmp[jj]
            rem = orders[k, O_REM]
            q = rem if full else (rem if rem < budget else budget)
            if q > 0:
                _fill(orders, misc, fills, k, p, q, t_ms)
                budget -= q
            if orders[k, O_LIVE]:
                orders[k, O_AHEAD] = 0
        lbg[s, i] = 0
        _dp_set(dpx, dq, dn, s, p, 0)
        _drop_if_empty(lpx, lbg, ln, orders, s, p)
        if s == BID:
            i -= 1
        elif i < ln[s] and lpx[s, i] == p:
            i += 1
    if _find(lpx[s], ln[s], pu) >= 0:
        _match_level_market(lpx, lbg, ln, dpx, dq, dn, orders, misc, fills, s, pu, lots, t_ms, tmp)
        _drop_if_empty(lpx, lbg, ln, orders, s, pu)


@njit(cache=True)
def apply_snapshot(st: Any, bpx: Any, bq: Any, apx: Any, aq: Any, t_ns: int, tmp: Any) -> None:
    """``MatchingEngine.apply_book_snapshot`` (levels already converted, aggregated and ascending)."""
    lpx, lbg, ln, dpx, dq, dn, orders, misc, fills = st
    _apply_side_snapshot(lpx, lbg, ln, dpx, dq, dn, orders, misc, BID, bpx, bq)
    _apply_side_snapshot(lpx, lbg, ln, dpx, dq, dn, orders, misc, ASK, apx, aq)
    _resolve_cross(lpx, lbg, ln, dpx, dq, dn, orders, misc, fills, t_ns // 1_000_000, False, tmp)


@njit(cache=True)
def apply_bbo(st: Any, bid_u: int, bid_lots: int, ask_u: int, ask_lots: int, t_ns: int, tmp: Any) -> None:
    """``MatchingEngine.apply_bbo`` (a side with price 0 is left unchanged)."""
    lpx, lbg, ln, dpx, dq, dn, orders, misc, fills = st
    if bid_u and ask_u and bid_u >= ask_u:
        return
    if bid_u:
        _apply_top(lpx, lbg, ln, dpx, dq, dn, orders, misc, BID, bid_u, bid_lots)
    if ask_u:
        _apply_top(lpx, lbg, ln, dpx, dq, dn, orders, misc, ASK, ask_u, ask_lots)
    _resolve_cross(lpx, lbg, ln, dpx, dq, dn, orders, misc, fills, t_ns // 1_000_000, bid_u != 0 and ask_u == 0, tmp)


@njit(cache=True)
def apply_event(st: Any, kind: Any, t_ns: Any, a: Any, lvl_px: Any, lvl_lots: Any, i: int, tmp: Any) -> None:
    """Apply event ``i`` of an :class:`EventColumns` (its arrays passed one by one)."""
    k = kind[i]
    t = t_ns[i]
    if k == K_TRADE:
        apply_trade(st, a[i, 0] != 0, a[i, 1], a[i, 2], t, tmp)
    elif k == K_BBO:
        apply_bbo(st, a[i, 0], a[i, 1], a[i, 2], a[i, 3], t, tmp)
    else:
        b0, a0, e = a[i, 0], a[i, 1], a[i, 2]
        apply_snapshot(st, lvl_px[b0:a0], lvl_lots[b0:a0], lvl_px[a0:e], lvl_lots[a0:e], t, tmp)


@njit(cache=True)
def apply_events(st: Any, kind: Any, t_ns: Any, a: Any, lvl_px: Any, lvl_lots: Any, start: int, stop: int,
                 tmp: Any) -> None:
    """Apply events ``start`` .. ``stop - 1`` in one compiled call."""
    for i in range(start, stop):
        apply_event(st, kind, t_ns, a, lvl_px, lvl_lots, i, tmp)


@njit(cache=True)
def top(st: Any, s: int) -> tuple[int, int]:
    """Best price of side ``s`` and its displayed lots (background plus ours); (0, 0) when empty."""
    lpx, lbg, ln, dpx, dq, dn, orders, misc, fills = st
    i = _best(lpx, ln, s)
    if i < 0:
        return 0, 0
    px = lpx[s, i]
    lots = lbg[s, i]
    for k in range(orders.shape[0]):
        if orders[k, O_LIVE] and orders[k, O_SIDE] == s and orders[k, O_PX] == px:
            lots += orders[k, O_REM]
    return px, lots


@njit(cache=True)
def place_alo(st: Any, is_buy: bool, px: int, lots: int) -> int:
    """A post-only order: its oid, or -1 when it would cross (refused) or has no size."""
    lpx, lbg, ln, dpx, dq, dn, orders, misc, fills = st
    if lots <= 0 or px <= 0:
        return -1
    s = BID if is_buy else ASK
    o = ASK if is_buy else BID
    oi = _best(lpx, ln, o)
    if oi >= 0 and (px >= lpx[o, oi] if is_buy else px <= lpx[o, oi]):
        return -1
    slot = -1
    for k in range(orders.shape[0]):
        if not orders[k, O_LIVE]:
            slot = k
            break
    if slot < 0:
        raise ValueError("book_kernel: order capacity exceeded")
    li = _find(lpx[s], ln[s], px)
    if li < 0:
        li = _insert(lpx, lbg, ln, s, px, 0)
    oid = misc[M_NEXT_OID]
    misc[M_NEXT_OID] = oid + 1
    orders[slot, O_LIVE] = 1
    orders[slot, O_OID] = oid
    orders[slot, O_SIDE] = s
    orders[slot, O_PX] = px
    orders[slot, O_REM] = lots
    orders[slot, O_AHEAD] = lbg[s, li]
    return oid


@njit(cache=True)
def cancel(st: Any, oid: int) -> bool:
    """Cancel a live order; False when it is not live (filled or unknown)."""
    lpx, lbg, ln, dpx, dq, dn, orders, misc, fills = st
    for k in range(orders.shape[0]):
        if orders[k, O_LIVE] and orders[k, O_OID] == oid:
            orders[k, O_LIVE] = 0
            _drop_if_empty(lpx, lbg, ln, orders, orders[k, O_SIDE], orders[k, O_PX])
            return True
    return False


@njit(cache=True)
def is_live(st: Any, oid: int) -> bool:
    orders = st[6]
    for k in range(orders.shape[0]):
        if orders[k, O_LIVE] and orders[k, O_OID] == oid:
            return True
    return False


@njit(cache=True)
def run_touch_keeper(st: Any, kind: Any, t_ns: Any, a: Any, lvl_px: Any, lvl_lots: Any, quote_lots: int,
                     with_orders: bool) -> int:
    """A reference driver (benchmark, parity test): every event applied, then one post-only bid and one
    ask kept at the touch (re-placed when the touch moves or the order is gone). Returns the events."""
    tmp = np.zeros(st[6].shape[0], dtype=np.int64)
    live = np.full(2, -1, dtype=np.int64)
    live_px = np.zeros(2, dtype=np.int64)
    n = len(kind)
    for i in range(n):
        apply_event(st, kind, t_ns, a, lvl_px, lvl_lots, i, tmp)
        if not with_orders:
            continue
        bid_px, _ = top(st, BID)
        ask_px, _ = top(st, ASK)
        for s in range(2):
            px = bid_px if s == BID else ask_px
            if px == 0:
                continue
            alive = live[s] >= 0 and is_live(st, live[s])
            if alive and live_px[s] == px:
                continue
            if alive:
                cancel(st, live[s])
            live[s] = place_alo(st, s == BID, px, quote_lots)
            live_px[s] = px
    return n
