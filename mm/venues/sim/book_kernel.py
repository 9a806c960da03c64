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
half to even). A snapshot stays a whole snapshot (every level, as the recording has it): the
kernel diffs it against its own book, which also carries our orders and the depletion left by
trades, so the diff cannot be taken once in advance without our orders (hftbacktest's input is
level diffs precomputed against the market's book alone).

State: one int64 array (header, both sides' levels and depletion, our orders, scratch; the
layout constants below) and the fill array, ``KernelBook.state == (state, fills)``. One flat
array, rather than a tuple of per-section arrays, is what makes the kernels cheap: numba
reference-counts every array it unpacks, slices or passes on (an atomic increment and a
decrement per array per call, and a new view struct per ``arr[s]`` row), and that bookkeeping
took most of the time of the earlier layout (bench/PROFILE.md, "The book + queue kernel against
hftbacktest"). Keys ascend with the best level last on both sides (bids by price, asks by minus
price), so a change at the touch moves no other level. A snapshot rewrites a side in one merge
pass: the engine's rules act on each price alone, and only where our orders rest or depletion is
kept does the outcome depend on the old book. Every step is an ``@njit`` function, so a compiled
driver loop (the benchmark's touch keeper) runs a whole stream in one call. Integer arithmetic
only (no fastmath), so the fills are the matching engine's exactly.
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

# ---- the state: one int64 array, so a kernel call passes one array (no per-call view or reference count)
LC: Final = 4096  # level capacity per side (levels, depletion)
OC: Final = 8  # order capacity
# header slots
M_NEXT_OID: Final = 0
M_NFILLS: Final = 1
M_LAST_TRADE_PX: Final = 2
M_QMODEL: Final = 3
M_FULL: Final = 4
M_LN: Final = 5  # + side: levels
M_DN: Final = 7  # + side: depletion entries
M_NO: Final = 9  # + side: our live orders
HEADER: Final = 16
# sections (side s at base + s * LC). Keys ascend with the best last on both sides: a bid's key is its
# price, an ask's key minus its price, so a change at the touch moves no other level.
LK: Final = HEADER  # level keys
LB: Final = HEADER + 2 * LC  # background lots per level
DK: Final = HEADER + 4 * LC  # depletion keys
DQ: Final = HEADER + 6 * LC  # depletion lots
ORD: Final = HEADER + 8 * LC  # our orders: OC rows of 6 (O_* columns)
TMP: Final = ORD + 6 * OC  # scratch: order rows in time priority
SK: Final = TMP + OC  # scratch: a snapshot's special keys, and per key:
SH: Final = SK + LC + OC  # ... our orders rest there
SE: Final = SH + LC + OC  # ... the level stays
SB: Final = SE + LC + OC  # ... its background
SD: Final = SB + LC + OC  # ... its depletion
STATE_SIZE: Final = SD + LC + OC

# order row columns
O_LIVE: Final = 0
O_OID: Final = 1
O_SIDE: Final = 2
O_KEY: Final = 3
O_REM: Final = 4
O_AHEAD: Final = 5
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
    """One coin's compiled book: the state array (see the layout constants) and the fill array."""

    def __init__(self, queue_model: QueueModel = QueueModel.PRO_RATA, trade_through_full: bool = False,
                 fill_cap: int = 1 << 16, first_oid: int = 1) -> None:
        self.s = np.zeros(STATE_SIZE, dtype=np.int64)
        self.s[M_NEXT_OID] = first_oid
        self.s[M_QMODEL] = QMODEL_CODE[queue_model]
        self.s[M_FULL] = 1 if trade_through_full else 0
        self.fills = np.zeros((fill_cap, 5), dtype=np.int64)

    @property
    def state(self) -> tuple[I64, I64]:
        """``(state, fills)``: what every kernel takes as ``st``."""
        return (self.s, self.fills)

    def fills_list(self) -> list[tuple[int, int, int, int, int]]:
        """``(time_ms, oid, side, px_units, lots)`` of every fill so far (side 0 bid, 1 ask)."""
        n = int(self.s[M_NFILLS])
        return [tuple(int(x) for x in row) for row in self.fills[:n]]  # type: ignore[misc]

    def levels(self, side: int) -> list[tuple[int, int]]:
        """``(px_units, background lots)`` of one side's levels, best first (for tests and inspection)."""
        n = int(self.s[M_LN + side])
        k = self.s[LK + side * LC: LK + side * LC + n][::-1]
        b = self.s[LB + side * LC: LB + side * LC + n][::-1]
        return [(int(x) if side == BID else -int(x), int(y)) for x, y in zip(k, b)]

    def depletion(self, side: int) -> dict[int, int]:
        """``{px_units: lots}`` of one side's depletion."""
        n = int(self.s[M_DN + side])
        k = self.s[DK + side * LC: DK + side * LC + n]
        q = self.s[DQ + side * LC: DQ + side * LC + n]
        return {(int(x) if side == BID else -int(x)): int(y) for x, y in zip(k, q)}

    def orders(self) -> list[tuple[int, int, int, int, int]]:
        """``(oid, side, px_units, remaining lots, ahead)`` of our live orders, by oid."""
        rows = self.s[ORD: ORD + 6 * OC].reshape(OC, 6)
        return sorted((int(r[O_OID]), int(r[O_SIDE]), int(r[O_KEY]) if r[O_SIDE] == BID else -int(r[O_KEY]),
                       int(r[O_REM]), int(r[O_AHEAD])) for r in rows if r[O_LIVE])


# ---------------------------------------------------------------------- sorted maps in the state array

@njit(cache=True)
def _search(sa: Any, base: int, n: int, k: int) -> int:
    """First index i with sa[base + i] >= k in the ascending run sa[base : base + n]."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if sa[base + mid] < k:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _find(sa: Any, base: int, n: int, k: int) -> int:
    i = _search(sa, base, n, k)
    return i if i < n and sa[base + i] == k else -1


@njit(cache=True)
def _ins(sa: Any, kb: int, vb: int, ns: int, i: int, k: int, v: int) -> None:
    """Insert (k, v) at index i of the map with keys at kb, values at vb and its count at sa[ns]."""
    m = sa[ns]
    if m >= LC:
        raise ValueError("book_kernel: level capacity exceeded")
    j = m
    while j > i:
        sa[kb + j] = sa[kb + j - 1]
        sa[vb + j] = sa[vb + j - 1]
        j -= 1
    sa[kb + i] = k
    sa[vb + i] = v
    sa[ns] = m + 1


@njit(cache=True)
def _del(sa: Any, kb: int, vb: int, ns: int, i: int) -> None:
    m = sa[ns] - 1
    for j in range(i, m):
        sa[kb + j] = sa[kb + j + 1]
        sa[vb + j] = sa[vb + j + 1]
    sa[ns] = m


@njit(cache=True)
def _dp_get(sa: Any, s: int, k: int) -> int:
    i = _find(sa, DK + s * LC, sa[M_DN + s], k)
    return sa[DQ + s * LC + i] if i >= 0 else 0


@njit(cache=True)
def _dp_set(sa: Any, s: int, k: int, q: int) -> None:
    kb = DK + s * LC
    n = sa[M_DN + s]
    i = _search(sa, kb, n, k)
    found = i < n and sa[kb + i] == k
    if q:
        if found:
            sa[DQ + s * LC + i] = q
        else:
            _ins(sa, kb, DQ + s * LC, M_DN + s, i, k, q)
    elif found:
        _del(sa, kb, DQ + s * LC, M_DN + s, i)


# ---------------------------------------------------------------------- our orders

@njit(cache=True)
def _has_orders(sa: Any, s: int, k: int) -> bool:
    if sa[M_NO + s] == 0:
        return False
    for o in range(ORD, ORD + 6 * OC, 6):
        if sa[o + O_LIVE] and sa[o + O_SIDE] == s and sa[o + O_KEY] == k:
            return True
    return False


@njit(cache=True)
def _orders_at(sa: Any, s: int, k: int) -> int:
    """Row offsets of the live orders at key ``k`` of side ``s`` in time priority (oid order), into the
    scratch list at TMP; returns how many."""
    m = 0
    if sa[M_NO + s] == 0:
        return 0
    for o in range(ORD, ORD + 6 * OC, 6):
        if sa[o + O_LIVE] and sa[o + O_SIDE] == s and sa[o + O_KEY] == k:
            j = m
            while j > 0 and sa[sa[TMP + j - 1] + O_OID] > sa[o + O_OID]:
                sa[TMP + j] = sa[TMP + j - 1]
                j -= 1
            sa[TMP + j] = o
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


@njit(cache=True)
def _fill(sa: Any, fl: Any, o: int, px: int, lots: int, t_ms: int) -> None:
    n = sa[M_NFILLS]
    if n >= fl.shape[0]:
        raise ValueError("book_kernel: fill capacity exceeded")
    fl[n, F_TMS] = t_ms
    fl[n, F_OID] = sa[o + O_OID]
    fl[n, F_SIDE] = sa[o + O_SIDE]
    fl[n, F_PX] = px
    fl[n, F_LOTS] = lots
    sa[M_NFILLS] = n + 1
    sa[M_LAST_TRADE_PX] = px
    sa[o + O_REM] -= lots
    if sa[o + O_REM] == 0:
        sa[o + O_LIVE] = 0
        sa[M_NO + sa[o + O_SIDE]] -= 1


# ---------------------------------------------------------------------- the book

@njit(cache=True)
def _drop_if_empty(sa: Any, s: int, k: int) -> None:
    i = _find(sa, LK + s * LC, sa[M_LN + s], k)
    if i >= 0 and sa[LB + s * LC + i] <= 0 and not _has_orders(sa, s, k):
        _del(sa, LK + s * LC, LB + s * LC, M_LN + s, i)


@njit(cache=True)
def _level_update(sa: Any, s: int, k: int, in_book: bool, bg: int, dp: int, new_qty: int,
                  has: bool) -> tuple[bool, int, int]:
    """``MatchingEngine._set_level_qty`` for one price: from (level present, background, depletion) to
    the same after its displayed size becomes ``new_qty`` (our orders' queue positions updated)."""
    prev = bg + dp
    if new_qty < prev:
        shrink = prev - new_qty
        used = dp if dp < shrink else shrink
        dp -= used
        cancels = shrink - used
        if cancels and in_book:
            model = sa[M_QMODEL]
            if has:
                for o in range(ORD, ORD + 6 * OC, 6):
                    if sa[o + O_LIVE] and sa[o + O_SIDE] == s and sa[o + O_KEY] == k:
                        sa[o + O_AHEAD] = _ahead_after_cancel(model, sa[o + O_AHEAD], bg, cancels)
            bg -= cancels
    elif new_qty > prev:
        in_book = True
        bg += new_qty - prev
    if in_book and bg <= 0 and not has:
        in_book = False
    return in_book, bg, dp


@njit(cache=True)
def _set_level_qty(sa: Any, s: int, k: int, new_qty: int) -> None:
    """``MatchingEngine._set_level_qty``: the level's displayed background to ``new_qty``, as a diff."""
    kb = LK + s * LC
    n = sa[M_LN + s]
    i = _search(sa, kb, n, k)
    in_book = i < n and sa[kb + i] == k
    bg = sa[LB + s * LC + i] if in_book else 0
    db = DK + s * LC
    dn = sa[M_DN + s]
    di = _search(sa, db, dn, k)
    in_dp = di < dn and sa[db + di] == k
    dp = sa[DQ + s * LC + di] if in_dp else 0
    has = in_book and _has_orders(sa, s, k)  # orders rest only where a level is
    keep, bg2, dp2 = _level_update(sa, s, k, in_book, bg, dp, new_qty, has)
    if in_dp:
        if dp2:
            sa[DQ + s * LC + di] = dp2
        else:
            _del(sa, db, DQ + s * LC, M_DN + s, di)
    elif dp2:
        _ins(sa, db, DQ + s * LC, M_DN + s, di, k, dp2)
    if in_book:
        if keep:
            sa[LB + s * LC + i] = bg2
        else:
            _del(sa, kb, LB + s * LC, M_LN + s, i)
    elif keep:
        _ins(sa, kb, LB + s * LC, M_LN + s, i, k, bg2)


@njit(cache=True)
def _add_special(sa: Any, n: int, k: int, ours: int) -> int:
    """Add key ``k`` to the snapshot merge's special keys (ascending and unique at SK, with
    SH = ``ours``: 1 where our orders rest); the new count (``n`` when already there)."""
    j = _search(sa, SK, n, k)
    if j < n and sa[SK + j] == k:
        return n
    for t in range(n, j, -1):
        sa[SK + t] = sa[SK + t - 1]
        sa[SH + t] = sa[SH + t - 1]
    sa[SK + j] = k
    sa[SH + j] = ours
    return n + 1


@njit(cache=True)
def _apply_side_snapshot(sa: Any, s: int, xp: Any, xq: Any, b: int, e: int) -> None:
    """``MatchingEngine._apply_side_snapshot`` for side ``s``; the snapshot's levels are xp[b:e] (prices,
    ascending) and xq[b:e] (lots > 0).

    The engine's rules act on each price alone, so the result is the snapshot's levels except at the
    "special" prices, where our orders rest or depletion is kept: a snapshot level at any other price
    takes the snapshot's size and a book level missing from the snapshot goes. So the special prices'
    outcomes are computed from the old book first, then the side is rewritten in one merge pass."""
    m = e - b
    kb = LK + s * LC
    vb = LB + s * LC
    db = DK + s * LC
    qb = DQ + s * LC
    n = sa[M_LN + s]
    dn = sa[M_DN + s]
    # the special keys, ascending and unique (SH: our orders rest there)
    ns = 0
    if sa[M_NO + s]:
        for o in range(ORD, ORD + 6 * OC, 6):
            if sa[o + O_LIVE] and sa[o + O_SIDE] == s:
                ns = _add_special(sa, ns, sa[o + O_KEY], 1)
    for d in range(dn):
        ns = _add_special(sa, ns, sa[db + d], 0)
    if m > LC:
        raise ValueError("book_kernel: level capacity exceeded")
    if ns == 0:  # nothing of ours and no depletion on this side: it becomes the snapshot
        if s == BID:
            for j in range(m):
                sa[kb + j] = xp[b + j]
                sa[vb + j] = xq[b + j]
        else:
            for j in range(m):
                sa[kb + j] = -xp[e - 1 - j]
                sa[vb + j] = xq[e - 1 - j]
        sa[M_LN + s] = m
        return
    # outcomes at the special keys, from the old book (keys of this side ascend: bids px, asks -px)
    worst = (xp[b] if s == BID else -xp[e - 1]) if m else 0
    j = 0
    for t in range(ns):
        k = sa[SK + t]
        has = sa[SH + t] != 0
        while j < m and (xp[b + j] if s == BID else -xp[e - 1 - j]) < k:
            j += 1
        in_snap = j < m and (xp[b + j] if s == BID else -xp[e - 1 - j]) == k
        i = _search(sa, kb, n, k)
        in_book = i < n and sa[kb + i] == k
        bg = sa[vb + i] if in_book else 0
        di = _find(sa, db, dn, k)
        in_dp = di >= 0
        dp = sa[qb + di] if in_dp else 0
        keep, bg2, dp2 = False, 0, 0
        if in_snap:
            q = xq[b + j] if s == BID else xq[e - 1 - j]
            if not in_dp and not has:
                keep, bg2 = True, q
            else:
                keep, bg2, dp2 = _level_update(sa, s, k, in_book, bg, dp, q, has)
        elif in_book and has:  # kept for our orders; inside the snapshot's range it shows nothing
            if m == 0 or k >= worst:
                keep, bg2, dp2 = _level_update(sa, s, k, in_book, bg, dp, 0, has)
            else:
                keep, bg2 = True, bg
            dp2 = 0  # depletion only where the snapshot shows a level
        sa[SE + t] = 1 if keep else 0
        sa[SB + t] = bg2
        sa[SD + t] = dp2
    # rewrite the side: the snapshot merged with the special keys' outcomes
    out = 0
    nd = 0
    t = 0
    for j in range(m):
        k = xp[b + j] if s == BID else -xp[e - 1 - j]
        while t < ns and sa[SK + t] < k:
            if sa[SE + t]:
                sa[kb + out] = sa[SK + t]
                sa[vb + out] = sa[SB + t]
                out += 1
            t += 1
        if t < ns and sa[SK + t] == k:
            if sa[SE + t]:
                sa[kb + out] = k
                sa[vb + out] = sa[SB + t]
                out += 1
            if sa[SD + t]:
                sa[db + nd] = k
                sa[qb + nd] = sa[SD + t]
                nd += 1
            t += 1
        else:
            sa[kb + out] = k
            sa[vb + out] = xq[b + j] if s == BID else xq[e - 1 - j]
            out += 1
        if out >= LC:
            raise ValueError("book_kernel: level capacity exceeded")
    while t < ns:
        if sa[SE + t]:
            if out >= LC:
                raise ValueError("book_kernel: level capacity exceeded")
            sa[kb + out] = sa[SK + t]
            sa[vb + out] = sa[SB + t]
            out += 1
        t += 1
    sa[M_LN + s] = out
    sa[M_DN + s] = nd


@njit(cache=True)
def _apply_top(sa: Any, s: int, k: int, lots: int) -> None:
    """``MatchingEngine._apply_top``: nothing better than key ``k`` remains; ``k`` shows ``lots``."""
    kb = LK + s * LC
    i = sa[M_LN + s] - 1  # best first: from the end down; a visited level is removed or stays below
    while i >= 0 and sa[kb + i] > k:
        p = sa[kb + i]
        _set_level_qty(sa, s, p, 0)
        _dp_set(sa, s, p, 0)
        i -= 1
    _set_level_qty(sa, s, k, lots)


@njit(cache=True)
def _best(sa: Any, s: int) -> int:
    """Index of the best level of side ``s`` (the last), or -1."""
    return sa[M_LN + s] - 1


@njit(cache=True)
def _background_takes(sa: Any, fl: Any, bs: int, bk: int, us: int, uk: int, upx: int, t_ms: int) -> None:
    """``MatchingEngine._background_takes``: background at (bs, bk) trades with our orders at (us, uk)."""
    bi = _find(sa, LK + bs * LC, sa[M_LN + bs], bk)
    budget = sa[LB + bs * LC + bi]
    taken = 0
    m = _orders_at(sa, us, uk)
    for j in range(m):
        if budget <= 0:
            break
        o = sa[TMP + j]
        q = sa[o + O_REM] if sa[o + O_REM] < budget else budget
        if q > 0:
            _fill(sa, fl, o, upx, q, t_ms)
            budget -= q
            taken += q
    sa[LB + bs * LC + bi] -= taken
    bg = sa[LB + bs * LC + bi]
    for o in range(ORD, ORD + 6 * OC, 6):
        if sa[o + O_LIVE] and sa[o + O_SIDE] == bs and sa[o + O_KEY] == bk and sa[o + O_AHEAD] > bg:
            sa[o + O_AHEAD] = bg
    if taken:
        _dp_set(sa, bs, bk, _dp_get(sa, bs, bk) + taken)
    _drop_if_empty(sa, us, uk)
    _drop_if_empty(sa, bs, bk)


@njit(cache=True)
def _resolve_cross(sa: Any, fl: Any, t_ms: int, prefer_bids: bool) -> None:
    """``MatchingEngine._resolve_cross``: new background reaching our orders trades with them."""
    while True:
        bi = _best(sa, BID)
        ai = _best(sa, ASK)
        if bi < 0 or ai < 0:
            return
        bpx = sa[LK + bi]
        ak = sa[LK + LC + ai]
        if bpx < -ak:
            return
        bbg, abg = sa[LB + bi], sa[LB + LC + ai]
        if bbg > 0 and abg > 0:
            s = ASK if prefer_bids else BID
            sk = ak if prefer_bids else bpx
            si = ai if prefer_bids else bi
            for o in range(ORD, ORD + 6 * OC, 6):
                if sa[o + O_LIVE] and sa[o + O_SIDE] == s and sa[o + O_KEY] == sk:
                    sa[o + O_AHEAD] = 0
            sa[LB + s * LC + si] = 0
            _dp_set(sa, s, sk, 0)
            _drop_if_empty(sa, s, sk)
            continue
        if bbg > 0 and _has_orders(sa, ASK, ak):
            _background_takes(sa, fl, BID, bpx, ASK, ak, -ak, t_ms)
        elif abg > 0 and _has_orders(sa, BID, bpx):
            _background_takes(sa, fl, ASK, ak, BID, bpx, bpx, t_ms)
        else:
            return


@njit(cache=True)
def _match_level_market(sa: Any, fl: Any, s: int, k: int, px: int, budget: int, t_ms: int) -> None:
    """``MatchingEngine._match_level`` for a market trade at our level: the queue from the front."""
    li = _find(sa, LK + s * LC, sa[M_LN + s], k)
    consumed_bg = 0
    m = _orders_at(sa, s, k)
    for j in range(m):
        if budget <= 0:
            break
        o = sa[TMP + j]
        seg = sa[o + O_AHEAD] - consumed_bg
        if seg > 0:
            t = seg if seg < budget else budget
            consumed_bg += t
            budget -= t
            if budget == 0:
                break
        want = sa[o + O_REM] if sa[o + O_REM] < budget else budget
        if want > 0:
            _fill(sa, fl, o, px, want, t_ms)
            budget -= want
    if budget > 0:
        avail = sa[LB + s * LC + li] - consumed_bg
        t = avail if avail < budget else budget
        if t > 0:
            consumed_bg += t
            budget -= t
    if consumed_bg:
        sa[LB + s * LC + li] -= consumed_bg
        for o in range(ORD, ORD + 6 * OC, 6):
            if sa[o + O_LIVE] and sa[o + O_SIDE] == s and sa[o + O_KEY] == k:
                a = sa[o + O_AHEAD]
                sa[o + O_AHEAD] = a - consumed_bg if a > consumed_bg else 0
    if budget > 0:
        dp = _dp_get(sa, s, k)
        if dp:
            left = dp - budget
            _dp_set(sa, s, k, left if left > 0 else 0)


@njit(cache=True)
def _apply_trade(sa: Any, fl: Any, aggressor_is_buy: bool, pu: int, lots: int, t_ns: int) -> None:
    if lots <= 0 or pu <= 0:
        return
    t_ms = t_ns // 1_000_000
    sa[M_LAST_TRADE_PX] = pu
    s = ASK if aggressor_is_buy else BID
    ku = pu if s == BID else -pu
    full = sa[M_FULL] != 0
    budget = lots
    kb = LK + s * LC
    # levels the print went through, best first (each visited once: removed, or kept for our unfilled orders)
    i = sa[M_LN + s] - 1
    while i >= 0 and sa[kb + i] > ku:
        p = sa[kb + i]
        ppx = p if s == BID else -p
        m = _orders_at(sa, s, p)
        for jj in range(m):
            o = sa[TMP + jj]
            rem = sa[o + O_REM]
            q = rem if full else (rem if rem < budget else budget)
            if q > 0:
                _fill(sa, fl, o, ppx, q, t_ms)
                budget -= q
            if sa[o + O_LIVE]:
                sa[o + O_AHEAD] = 0
        sa[LB + s * LC + i] = 0
        _dp_set(sa, s, p, 0)
        _drop_if_empty(sa, s, p)
        i -= 1
    if _find(sa, kb, sa[M_LN + s], ku) >= 0:
        _match_level_market(sa, fl, s, ku, pu, lots, t_ms)
        _drop_if_empty(sa, s, ku)


@njit(cache=True)
def _apply_snapshot(sa: Any, fl: Any, lvl_px: Any, lvl_lots: Any, b0: int, a0: int, e: int, t_ns: int) -> None:
    _apply_side_snapshot(sa, BID, lvl_px, lvl_lots, b0, a0)
    _apply_side_snapshot(sa, ASK, lvl_px, lvl_lots, a0, e)
    _resolve_cross(sa, fl, t_ns // 1_000_000, False)


@njit(cache=True)
def _apply_bbo(sa: Any, fl: Any, bid_u: int, bid_lots: int, ask_u: int, ask_lots: int, t_ns: int) -> None:
    if bid_u and ask_u and bid_u >= ask_u:
        return
    if bid_u:
        _apply_top(sa, BID, bid_u, bid_lots)
    if ask_u:
        _apply_top(sa, ASK, -ask_u, ask_lots)
    _resolve_cross(sa, fl, t_ns // 1_000_000, bid_u != 0 and ask_u == 0)


@njit(cache=True)
def _apply_event(sa: Any, fl: Any, kind: Any, t_ns: Any, a: Any, lvl_px: Any, lvl_lots: Any, i: int) -> None:
    k = kind[i]
    t = t_ns[i]
    if k == K_TRADE:
        _apply_trade(sa, fl, a[i, 0] != 0, a[i, 1], a[i, 2], t)
    elif k == K_BBO:
        _apply_bbo(sa, fl, a[i, 0], a[i, 1], a[i, 2], a[i, 3], t)
    else:
        _apply_snapshot(sa, fl, lvl_px, lvl_lots, a[i, 0], a[i, 1], a[i, 2], t)


@njit(cache=True)
def _top(sa: Any, s: int) -> tuple[int, int]:
    i = _best(sa, s)
    if i < 0:
        return 0, 0
    k = sa[LK + s * LC + i]
    lots = sa[LB + s * LC + i]
    if sa[M_NO + s]:
        for o in range(ORD, ORD + 6 * OC, 6):
            if sa[o + O_LIVE] and sa[o + O_SIDE] == s and sa[o + O_KEY] == k:
                lots += sa[o + O_REM]
    return (k if s == BID else -k), lots


@njit(cache=True)
def _place_alo(sa: Any, is_buy: bool, px: int, lots: int) -> int:
    if lots <= 0 or px <= 0:
        return -1
    s = BID if is_buy else ASK
    x = ASK if is_buy else BID
    xi = _best(sa, x)
    if xi >= 0:
        xpx = sa[LK + x * LC + xi]
        if is_buy:
            if px >= -xpx:
                return -1
        elif px <= xpx:
            return -1
    slot = -1
    for o in range(ORD, ORD + 6 * OC, 6):
        if not sa[o + O_LIVE]:
            slot = o
            break
    if slot < 0:
        raise ValueError("book_kernel: order capacity exceeded")
    k = px if s == BID else -px
    kb = LK + s * LC
    n = sa[M_LN + s]
    li = _search(sa, kb, n, k)
    if not (li < n and sa[kb + li] == k):
        _ins(sa, kb, LB + s * LC, M_LN + s, li, k, 0)
    oid = sa[M_NEXT_OID]
    sa[M_NEXT_OID] = oid + 1
    sa[slot + O_LIVE] = 1
    sa[slot + O_OID] = oid
    sa[slot + O_SIDE] = s
    sa[slot + O_KEY] = k
    sa[slot + O_REM] = lots
    sa[slot + O_AHEAD] = sa[LB + s * LC + li]
    sa[M_NO + s] += 1
    return oid


@njit(cache=True)
def _cancel(sa: Any, oid: int) -> bool:
    for o in range(ORD, ORD + 6 * OC, 6):
        if sa[o + O_LIVE] and sa[o + O_OID] == oid:
            sa[o + O_LIVE] = 0
            sa[M_NO + sa[o + O_SIDE]] -= 1
            _drop_if_empty(sa, sa[o + O_SIDE], sa[o + O_KEY])
            return True
    return False


@njit(cache=True)
def _is_live(sa: Any, oid: int) -> bool:
    for o in range(ORD, ORD + 6 * OC, 6):
        if sa[o + O_LIVE] and sa[o + O_OID] == oid:
            return True
    return False


# ---------------------------------------------------------------------- the public kernels (st = (state, fills))

@njit(cache=True)
def apply_trade(st: Any, aggressor_is_buy: bool, pu: int, lots: int, t_ns: int) -> None:
    """``MatchingEngine.apply_trade`` (our orders are makers)."""
    _apply_trade(st[0], st[1], aggressor_is_buy, pu, lots, t_ns)


@njit(cache=True)
def apply_snapshot(st: Any, lvl_px: Any, lvl_lots: Any, b0: int, a0: int, e: int, t_ns: int) -> None:
    """``MatchingEngine.apply_book_snapshot``: bids ``lvl_px[b0:a0]``, asks ``lvl_px[a0:e]`` (converted,
    aggregated and ascending, as :func:`encode_events` stores them)."""
    _apply_snapshot(st[0], st[1], lvl_px, lvl_lots, b0, a0, e, t_ns)


@njit(cache=True)
def apply_bbo(st: Any, bid_u: int, bid_lots: int, ask_u: int, ask_lots: int, t_ns: int) -> None:
    """``MatchingEngine.apply_bbo`` (a side with price 0 is left unchanged)."""
    _apply_bbo(st[0], st[1], bid_u, bid_lots, ask_u, ask_lots, t_ns)


@njit(cache=True)
def apply_event(st: Any, kind: Any, t_ns: Any, a: Any, lvl_px: Any, lvl_lots: Any, i: int) -> None:
    """Apply event ``i`` of an :class:`EventColumns` (its arrays passed one by one)."""
    _apply_event(st[0], st[1], kind, t_ns, a, lvl_px, lvl_lots, i)


@njit(cache=True)
def apply_events(st: Any, kind: Any, t_ns: Any, a: Any, lvl_px: Any, lvl_lots: Any, start: int, stop: int) -> None:
    """Apply events ``start`` .. ``stop - 1`` in one compiled call."""
    sa, fl = st
    for i in range(start, stop):
        _apply_event(sa, fl, kind, t_ns, a, lvl_px, lvl_lots, i)


@njit(cache=True)
def top(st: Any, s: int) -> tuple[int, int]:
    """Best price of side ``s`` and its displayed lots (background plus ours); (0, 0) when empty."""
    return _top(st[0], s)


@njit(cache=True)
def place_alo(st: Any, is_buy: bool, px: int, lots: int) -> int:
    """A post-only order: its oid, or -1 when it would cross (refused) or has no size."""
    return _place_alo(st[0], is_buy, px, lots)


@njit(cache=True)
def cancel(st: Any, oid: int) -> bool:
    """Cancel a live order; False when it is not live (filled or unknown)."""
    return _cancel(st[0], oid)


@njit(cache=True)
def is_live(st: Any, oid: int) -> bool:
    return _is_live(st[0], oid)


@njit(cache=True)
def run_touch_keeper(st: Any, kind: Any, t_ns: Any, a: Any, lvl_px: Any, lvl_lots: Any, quote_lots: int,
                     with_orders: bool) -> int:
    """A reference driver (benchmark, parity test): every event applied, then one post-only bid and one
    ask kept at the touch (re-placed when the touch moves or the order is gone). Returns the events."""
    sa, fl = st
    live0, live1 = -1, -1
    px0, px1 = 0, 0
    n = len(kind)
    for i in range(n):
        _apply_event(sa, fl, kind, t_ns, a, lvl_px, lvl_lots, i)
        if not with_orders:
            continue
        bid_px, _ = _top(sa, BID)
        ask_px, _ = _top(sa, ASK)
        for s in range(2):
            px = bid_px if s == BID else ask_px
            if px == 0:
                continue
            live = live0 if s == BID else live1
            alive = live >= 0 and _is_live(sa, live)
            if alive and (px0 if s == BID else px1) == px:
                continue
            if alive:
                _cancel(sa, live)
            live = _place_alo(sa, s == BID, px, quote_lots)
            if s == BID:
                live0, px0 = live, px
            else:
                live1, px1 = live, px
    return n
