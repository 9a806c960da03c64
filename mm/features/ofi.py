"""Order flow imbalance (OFI) from best-level changes, summed over 500 ms and 2 s.

Definition (Cont, Kukanov and Stoikov 2014, "The price impact of order book events"):
for consecutive best-level states n-1 -> n with best bid (Pb, qb) and best ask (Pa, qa),

    e_n = 1{Pb_n >= Pb_{n-1}} qb_n - 1{Pb_n <= Pb_{n-1}} qb_{n-1}
        - 1{Pa_n <= Pa_{n-1}} qa_n + 1{Pa_n >= Pa_{n-1}} qa_{n-1}

and OFI over a window is Σ e_n for the state changes inside it. Units: base-asset
quantity. Sign: positive is buying pressure (bid queue grows or bid steps up, ask queue
shrinks or ask steps up); a book whose best level does not change contributes exactly 0.

This module owns the increment and the two windowed sums behind ``StateSnapshot.ofi_500ms``
and ``ofi_2s`` (exact time windows, O(1) amortised, see :class:`WindowSums`). The window
lengths are part of the field names, so they are constants, not config.
"""

from __future__ import annotations

import math

from mm.features.rolling import WindowSums

OFI_SHORT_NS = 500_000_000
OFI_LONG_NS = 2_000_000_000


def ofi_increment(
    pb0: float, qb0: float, pa0: float, qa0: float, pb1: float, qb1: float, pa1: float, qa1: float
) -> float:
    """The CKS event contribution e_n of a move from best level state 0 to state 1."""
    e = 0.0
    if pb1 >= pb0:
        e += qb1
    if pb1 <= pb0:
        e -= qb0
    if pa1 <= pa0:
        e -= qa1
    if pa1 >= pa0:
        e += qa0
    return e


class OfiTracker:
    """Tracks the previous best level and the OFI sums over 500 ms and 2 s.

    ``update`` takes the best level after each book change of our venue (both sides must
    be present: px > 0); ``reset`` forgets the previous level (after a stale feed or an
    outage, so the first level after it counts as a start, not as a jump).
    """

    __slots__ = ("_has_prev", "_pa", "_pb", "_qa", "_qb", "_win", "last_increment")

    def __init__(self, capacity: int = 1024) -> None:
        self._win = WindowSums((OFI_SHORT_NS, OFI_LONG_NS), ncol=1, capacity=capacity)
        self._has_prev = False
        self._pb = self._qb = self._pa = self._qa = 0.0
        self.last_increment = 0.0

    def update(self, ts_ns: int, pb: float, qb: float, pa: float, qa: float) -> float:
        """Record the best level at ts_ns; returns this change's e_n (0 for the first)."""
        e = 0.0
        if self._has_prev:
            e = ofi_increment(self._pb, self._qb, self._pa, self._qa, pb, qb, pa, qa)
            if not math.isfinite(e):
                e = 0.0
        self._pb, self._qb, self._pa, self._qa = pb, qb, pa, qa
        self._has_prev = True
        if e != 0.0:
            self._win.push(ts_ns, e)
        self.last_increment = e
        return e

    def reset(self) -> None:
        self._has_prev = False

    def values(self, now_ns: int) -> tuple[float, float]:
        """(ofi_500ms, ofi_2s) at now_ns."""
        self._win.query(now_ns)
        return self._win.sum(0), self._win.sum(1)
