"""The L2 order book: price levels per side, snapshot and delta application, in numba.

Layout. Each side is a pair of float64 rows in two ``(2, capacity)`` arrays, ``key`` and
``qty``, plus a count per side in ``n``. Row 0 holds bids with ``key = px``, row 1 asks with
``key = -px``; each row is sorted ascending, so **the best level is always the last one**
(index ``n - 1``) on both sides. Most updates land near the touch, so inserting or
removing a level shifts only the few levels above it.

Rules (tested as hypothesis properties in tests/book):

- A snapshot replaces both sides; it is refused whole (book unchanged) if any price is
  not finite and > 0, any size not finite and > 0, a side is not strictly ordered best
  first, or it is crossed.
- A delta carries absolute sizes; size 0 removes the level, and removing a level that is
  not there is normal (Binance's rule). It is refused whole if any price is not finite and
  > 0 or any size is not finite and >= 0. A delta that would leave the book crossed is
  rolled back (the book is unchanged) and reported, so the book is never crossed and no
  size is ever negative.
- Sequence (in :class:`L2Book`): a delta applies when its ``prev_seq`` equals the book's
  ``seq``, or, for the first delta after a snapshot only, when it bridges it
  (``first_seq <= seq <= last``, Binance futures' rule). An older delta is ignored; a gap
  marks the book unsynced until the next snapshot. A refused delta leaves ``seq`` behind, so the next delta is a gap as well:
  after bad input the book waits for a snapshot instead of drifting.
- When a side is full, a new level worse than all others is dropped and a better one
  pushes the worst out; ``truncated`` counts both. Only levels beyond ``capacity`` are
  affected. The default (1024 a side) holds a whole Binance REST snapshot (1000 levels):
  beyond it a local book is only ever known from diffs anyway. Inserting or removing a level
  shifts the levels better than it, so the cost grows with the book's depth (measured in
  bench/bench_feed.py); a consumer that reads only the top can choose a smaller capacity.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numba as nb
import numpy as np
import numpy.typing as npt

from mm.schema import BookDelta, BookSnapshot

F64 = npt.NDArray[np.float64]
ArrayLike = Sequence[float] | F64

OK = 0
BAD_PRICE = 1
BAD_QTY = 2
CROSSED = 3
UNSORTED = 4


class BookStatus(enum.IntEnum):
    """Outcome of applying a snapshot or delta."""

    OK = OK
    BAD_PRICE = BAD_PRICE
    BAD_QTY = BAD_QTY
    CROSSED = CROSSED
    UNSORTED = UNSORTED
    SEQ_GAP = 5
    """A delta that does not follow the book's sequence: the book is now unsynced."""
    SEQ_STALE = 6
    """A delta older than the book: ignored."""
    NOT_SYNCED = 7
    """A delta while the book waits for a snapshot: ignored."""


# --------------------------------------------------------------------------- numba kernels


@nb.njit(cache=True, inline="always")
def _lower_bound(keys: F64, n: int, k: float) -> int:
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < k:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True)
def _set_level(keys: F64, qtys: F64, n: int, k: float, q: float) -> tuple[int, float, int]:
    """Set level ``k`` of one side to ``q`` (0 removes). Returns (new n, old qty, dropped)."""
    cap = keys.shape[0]
    i = _lower_bound(keys, n, k)
    if i < n and keys[i] == k:
        old = qtys[i]
        if q == 0.0:
            for j in range(i, n - 1):
                keys[j] = keys[j + 1]
                qtys[j] = qtys[j + 1]
            return n - 1, old, 0
        qtys[i] = q
        return n, old, 0
    if q == 0.0:
        return n, 0.0, 0
    if n < cap:
        for j in range(n, i, -1):
            keys[j] = keys[j - 1]
            qtys[j] = qtys[j - 1]
        keys[i] = k
        qtys[i] = q
        return n + 1, 0.0, 0
    # Full: the worst level (index 0) makes room, unless the new level is the worst.
    if i == 0:
        return n, 0.0, 1
    for j in range(0, i - 1):
        keys[j] = keys[j + 1]
        qtys[j] = qtys[j + 1]
    keys[i - 1] = k
    qtys[i - 1] = q
    return n, 0.0, 1


@nb.njit(cache=True)
def _valid_delta_side(px: F64, q: F64) -> int:
    for i in range(px.shape[0]):
        p = px[i]
        if not (p > 0.0 and p < np.inf):
            return BAD_PRICE
        s = q[i]
        if not (s >= 0.0 and s < np.inf):
            return BAD_QTY
    return OK


@nb.njit(cache=True)
def _is_crossed(key: F64, n: npt.NDArray[np.int64]) -> bool:
    if n[0] == 0 or n[1] == 0:
        return False
    return key[0, n[0] - 1] >= -key[1, n[1] - 1]


@nb.njit(cache=True)
def apply_delta_kernel(
    key: F64,
    qty: F64,
    n: npt.NDArray[np.int64],
    bid_px: F64,
    bid_qty: F64,
    ask_px: F64,
    ask_qty: F64,
    truncated: npt.NDArray[np.int64],
) -> int:
    """Apply one delta atomically; see the module docstring. Returns a status code."""
    if bid_px.shape[0] != bid_qty.shape[0] or ask_px.shape[0] != ask_qty.shape[0]:
        return BAD_QTY
    st = _valid_delta_side(bid_px, bid_qty)
    if st != OK:
        return st
    st = _valid_delta_side(ask_px, ask_qty)
    if st != OK:
        return st
    m = bid_px.shape[0] + ask_px.shape[0]
    j_side = np.empty(m, np.int64)
    j_key = np.empty(m, np.float64)
    j_old = np.empty(m, np.float64)
    j = 0
    for side in range(2):
        px = bid_px if side == 0 else ask_px
        q = bid_qty if side == 0 else ask_qty
        sign = 1.0 if side == 0 else -1.0
        for i in range(px.shape[0]):
            k = sign * px[i]
            new_n, old, dropped = _set_level(key[side], qty[side], n[side], k, q[i])
            n[side] = new_n
            truncated[0] += dropped
            j_side[j] = side
            j_key[j] = k
            j_old[j] = old
            j += 1
    if _is_crossed(key, n):
        for r in range(j - 1, -1, -1):
            side = j_side[r]
            new_n, _old, _d = _set_level(key[side], qty[side], n[side], j_key[r], j_old[r])
            n[side] = new_n
        return CROSSED
    return OK


@nb.njit(cache=True)
def _check_snapshot_side(px: F64, q: F64, descending: bool) -> int:
    prev = np.inf if descending else 0.0
    for i in range(px.shape[0]):
        p = px[i]
        if not (p > 0.0 and p < np.inf):
            return BAD_PRICE
        s = q[i]
        if not (s > 0.0 and s < np.inf):
            return BAD_QTY
        if descending:
            if not p < prev:
                return UNSORTED
        elif not p > prev:
            return UNSORTED
        prev = p
    return OK


@nb.njit(cache=True)
def apply_snapshot_kernel(
    key: F64,
    qty: F64,
    n: npt.NDArray[np.int64],
    bid_px: F64,
    bid_qty: F64,
    ask_px: F64,
    ask_qty: F64,
    truncated: npt.NDArray[np.int64],
) -> int:
    """Replace the book with a snapshot (best level first on both sides)."""
    if bid_px.shape[0] != bid_qty.shape[0] or ask_px.shape[0] != ask_qty.shape[0]:
        return BAD_QTY
    st = _check_snapshot_side(bid_px, bid_qty, True)
    if st != OK:
        return st
    st = _check_snapshot_side(ask_px, ask_qty, False)
    if st != OK:
        return st
    if bid_px.shape[0] > 0 and ask_px.shape[0] > 0 and bid_px[0] >= ask_px[0]:
        return CROSSED
    cap = key.shape[1]
    nb_ = min(bid_px.shape[0], cap)
    na_ = min(ask_px.shape[0], cap)
    truncated[0] += bid_px.shape[0] - nb_ + ask_px.shape[0] - na_
    for i in range(nb_):
        key[0, i] = bid_px[nb_ - 1 - i]
        qty[0, i] = bid_qty[nb_ - 1 - i]
    for i in range(na_):
        key[1, i] = -ask_px[na_ - 1 - i]
        qty[1, i] = ask_qty[na_ - 1 - i]
    n[0] = nb_
    n[1] = na_
    return OK


@nb.njit(cache=True)
def top_kernel(
    key: F64,
    qty: F64,
    n: npt.NDArray[np.int64],
    depth: int,
    out_bid_px: F64,
    out_bid_qty: F64,
    out_ask_px: F64,
    out_ask_qty: F64,
) -> None:
    """Best ``depth`` levels per side, best first; missing levels are px 0, qty 0."""
    for side in range(2):
        m = n[side]
        opx = out_bid_px if side == 0 else out_ask_px
        oq = out_bid_qty if side == 0 else out_ask_qty
        sign = 1.0 if side == 0 else -1.0
        for i in range(depth):
            if i < m:
                opx[i] = sign * key[side, m - 1 - i]
                oq[i] = qty[side, m - 1 - i]
            else:
                opx[i] = 0.0
                oq[i] = 0.0


@nb.njit(cache=True)
def microprice_kernel(key: F64, qty: F64, n: npt.NDArray[np.int64]) -> float:
    """Size-weighted mid ``(bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty)``; NaN if a side is empty."""
    if n[0] == 0 or n[1] == 0:
        return np.nan
    bp = key[0, n[0] - 1]
    bq = qty[0, n[0] - 1]
    ap = -key[1, n[1] - 1]
    aq = qty[1, n[1] - 1]
    return (bp * aq + ap * bq) / (bq + aq)


# --------------------------------------------------------------------------- the book


def _f64(x: ArrayLike) -> F64:
    return np.asarray(x, dtype=np.float64)


class L2Book:
    """One symbol's L2 book. See the module docstring for the rules.

    ``seq`` is the sequence (Binance ``u``, Hyperliquid block time) of the last snapshot or
    delta applied; ``synced`` is False until the first snapshot and after a gap.
    """

    __slots__ = ("_bridging", "_key", "_n", "_qty", "_truncated", "capacity", "seq", "synced")

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._key = np.zeros((2, capacity), np.float64)
        self._qty = np.zeros((2, capacity), np.float64)
        self._n = np.zeros(2, np.int64)
        self._truncated = np.zeros(1, np.int64)
        self.seq = 0
        self.synced = False
        self._bridging = False

    # ------------------------------------------------------------------ updates

    def apply_snapshot(
        self, bid_px: ArrayLike, bid_qty: ArrayLike, ask_px: ArrayLike, ask_qty: ArrayLike, seq: int = 0
    ) -> BookStatus:
        st = apply_snapshot_kernel(
            self._key, self._qty, self._n, _f64(bid_px), _f64(bid_qty), _f64(ask_px), _f64(ask_qty),
            self._truncated,
        )
        if st == OK:
            self.seq = seq
            self.synced = True
            self._bridging = True
        return BookStatus(st)

    def apply_delta(
        self,
        bid_px: ArrayLike,
        bid_qty: ArrayLike,
        ask_px: ArrayLike,
        ask_qty: ArrayLike,
        seq: int = 0,
        first_seq: int | None = None,
        prev_seq: int = 0,
        check_seq: bool = True,
    ) -> BookStatus:
        """Apply absolute level sizes. With ``check_seq`` the Binance U/u/pu rule applies.

        ``first_seq`` defaults to ``seq`` (a delta that is one update)."""
        if check_seq:
            if not self.synced:
                return BookStatus.NOT_SYNCED
            fs = seq if first_seq is None else first_seq
            follows = prev_seq == self.seq or (self._bridging and fs <= self.seq <= seq)
            self._bridging = False
            if not follows:
                if seq <= self.seq:
                    return BookStatus.SEQ_STALE
                self.synced = False
                return BookStatus.SEQ_GAP
        st = apply_delta_kernel(
            self._key, self._qty, self._n, _f64(bid_px), _f64(bid_qty), _f64(ask_px), _f64(ask_qty),
            self._truncated,
        )
        if st == OK:
            self.seq = seq
            self._bridging = False
        return BookStatus(st)

    def apply(self, ev: BookSnapshot | BookDelta) -> BookStatus:
        """Apply a normalized book event."""
        if isinstance(ev, BookSnapshot):
            return self.apply_snapshot(ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, ev.seq)
        return self.apply_delta(
            ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, ev.seq, ev.first_seq, ev.prev_seq
        )

    def clear(self) -> None:
        self._n[:] = 0
        self.seq = 0
        self.synced = False

    # ------------------------------------------------------------------ reads

    @property
    def n_bids(self) -> int:
        return int(self._n[0])

    @property
    def n_asks(self) -> int:
        return int(self._n[1])

    @property
    def truncated(self) -> int:
        """Levels dropped because a side was full."""
        return int(self._truncated[0])

    def best_bid(self) -> tuple[float, float]:
        """(px, qty) of the best bid; (0, 0) when the side is empty."""
        m = self._n[0]
        return (float(self._key[0, m - 1]), float(self._qty[0, m - 1])) if m else (0.0, 0.0)

    def best_ask(self) -> tuple[float, float]:
        m = self._n[1]
        return (float(-self._key[1, m - 1]), float(self._qty[1, m - 1])) if m else (0.0, 0.0)

    def mid_px(self) -> float:
        if not (self._n[0] and self._n[1]):
            return float("nan")
        return 0.5 * (self.best_bid()[0] + self.best_ask()[0])

    def microprice(self) -> float:
        return float(microprice_kernel(self._key, self._qty, self._n))

    def is_crossed(self) -> bool:
        return bool(_is_crossed(self._key, self._n))

    def top(self, depth: int) -> tuple[F64, F64, F64, F64]:
        """(bid_px, bid_qty, ask_px, ask_qty), each ``depth`` long, best first, zero-padded."""
        out = np.empty((4, depth), np.float64)
        top_kernel(self._key, self._qty, self._n, depth, out[0], out[1], out[2], out[3])
        return out[0], out[1], out[2], out[3]

    def levels(self) -> tuple[F64, F64, F64, F64]:
        """All levels, best first: (bid_px, bid_qty, ask_px, ask_qty) (copies)."""
        nb_, na_ = int(self._n[0]), int(self._n[1])
        return (
            self._key[0, :nb_][::-1].copy(),
            self._qty[0, :nb_][::-1].copy(),
            -self._key[1, :na_][::-1],
            self._qty[1, :na_][::-1].copy(),
        )
