"""Rolling features of the feature engine: time windows, decays, the sigma grid, sign runs.

What this module owns, and the math:

- :class:`WindowSums` — exact time-window sums of up to 3 value columns over several
  windows at once. An entry pushed at ``ts_ns`` with value ``v`` belongs to the window
  ``W`` at time ``t`` while ``t - W < ts_ns <= t``. Entries sit in one ring (numba kernels);
  each window keeps a tail cursor and a running sum, so a push or a query costs O(1)
  amortised (each entry is added once and evicted once per window). Floating-point drift
  of the running sums is bounded: a window that empties resets to exactly 0, and a window
  that has evicted ``capacity`` entries since its last exact recount is recounted (O(1)
  amortised). The ring doubles when the longest window holds more entries than it has
  slots. Time never goes backwards: a timestamp below the last one is clamped to it.
- :class:`ExpDecay` — a time-decayed sum ``S(t) = Σ x_i exp(-(t - t_i)/τ)`` with
  ``τ = half_life / ln 2``, O(1); ``rate(t)`` divides by the decayed elapsed time
  ``τ (1 - exp(-(t - t_0)/τ))``, an unbiased rate from the first observation on.
- :class:`Ewma` — bias-corrected exponentially weighted mean (``m / (1 - (1 - a)^n)``).
- :class:`GridSigma` — ``sigma_ewma``: the mid is sampled on a fixed grid (every
  ``sample_ns``, aligned to multiples of it; the sample at grid time g is the mid after all
  events with ``ts_ns <= g``) and ``m = (1 - a) m + a |Δmid|/mid * 1e4`` per sample,
  ``a = 1 - 2^(-sample_s / half_life_s)``, reported bias-corrected: an EWMA of |Δmid| in
  bps per sample, time-aware because the grid is in time, not in events. A run of k
  unchanged samples is applied in O(1) as ``(1 - a)^k``. A second, slow half-life gives
  the baseline.
- :class:`SignRun` — the signed trade-sign run length (+n after n consecutive buys, -n
  after n consecutive sells; resets to ±1 on a side change).
- :func:`imbalance` — top-k book imbalance (Σb - Σa)/(Σb + Σa), in [-1, 1], 0 when empty.
- ``REALIZED_VOL_WINDOW_NS`` — the 60 s window of ``sigma_realized_1m`` (sqrt of the sum
  of squared log mid returns over the last 60 s, in bps; computed by the engine with a
  :class:`WindowSums`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit

REALIZED_VOL_WINDOW_NS = 60_000_000_000
_LN2 = math.log(2.0)
_MAX_CAPACITY = 1 << 24

# meta slots of a WindowSums ring
_HEAD = 0  # absolute index of the next push
_LAST_TS = 1  # last (clamped) timestamp seen
_FORCED = 2  # entries force-evicted because the ring hit _MAX_CAPACITY


@njit(cache=True)
def _ws_evict(ts, vals, windows, tails, sums, since_recount, meta, t_ns):  # type: ignore[no-untyped-def]
    """Evict, per window, every entry with ts <= t_ns - window; recount when due."""
    mask = ts.shape[0] - 1
    head = meta[_HEAD]
    ncol = vals.shape[1]
    for k in range(windows.shape[0]):
        cut = t_ns - windows[k]
        i = tails[k]
        while i < head and ts[i & mask] <= cut:
            for m in range(ncol):
                sums[k, m] -= vals[i & mask, m]
            i += 1
            since_recount[k] += 1
        tails[k] = i
        if i == head:
            for m in range(ncol):
                sums[k, m] = 0.0
            since_recount[k] = 0
        elif since_recount[k] >= ts.shape[0]:
            for m in range(ncol):
                acc = 0.0
                for j in range(i, head):
                    acc += vals[j & mask, m]
                sums[k, m] = acc
            since_recount[k] = 0


@njit(cache=True)
def _ws_push(ts, vals, windows, tails, sums, since_recount, meta, t_ns, v0, v1, v2):  # type: ignore[no-untyped-def]
    """Clamp time, evict, then append (t, v) if a slot is free. Returns 1 if pushed, 0 if full."""
    if t_ns < meta[_LAST_TS]:
        t_ns = meta[_LAST_TS]
    meta[_LAST_TS] = t_ns
    _ws_evict(ts, vals, windows, tails, sums, since_recount, meta, t_ns)
    head = meta[_HEAD]
    oldest = head
    for k in range(windows.shape[0]):
        if tails[k] < oldest:
            oldest = tails[k]
    if head - oldest >= ts.shape[0]:
        return 0
    slot = head & (ts.shape[0] - 1)
    ts[slot] = t_ns
    ncol = vals.shape[1]
    vals[slot, 0] = v0
    if ncol > 1:
        vals[slot, 1] = v1
    if ncol > 2:
        vals[slot, 2] = v2
    for k in range(windows.shape[0]):
        sums[k, 0] += v0
        if ncol > 1:
            sums[k, 1] += v1
        if ncol > 2:
            sums[k, 2] += v2
    meta[_HEAD] = head + 1
    return 1


@njit(cache=True)
def _ws_query(ts, vals, windows, tails, sums, since_recount, meta, t_ns):  # type: ignore[no-untyped-def]
    """Evict up to t_ns (clamped to the last time seen) without pushing."""
    if t_ns < meta[_LAST_TS]:
        t_ns = meta[_LAST_TS]
    meta[_LAST_TS] = t_ns
    _ws_evict(ts, vals, windows, tails, sums, since_recount, meta, t_ns)


class WindowSums:
    """Exact sums of ``ncol`` value columns over several trailing time windows.

    ``push(ts_ns, v0, v1, v2)`` adds an entry; ``query(now_ns)`` evicts what left each
    window; ``sum(k, m)`` reads window k's sum of column m (after a push or query).
    """

    __slots__ = ("_meta", "_since", "_sums", "_tails", "_ts", "_vals", "_windows", "ncol")

    def __init__(self, windows_ns: Sequence[int], ncol: int = 1, capacity: int = 1024) -> None:
        if not windows_ns or any(w <= 0 for w in windows_ns):
            raise ValueError("windows_ns: need at least one window, each > 0 ns")
        if not 1 <= ncol <= 3:
            raise ValueError("ncol: must be 1, 2 or 3")
        if capacity < 2 or capacity & (capacity - 1):
            raise ValueError("capacity: must be a power of two >= 2")
        self.ncol = ncol
        self._windows = np.asarray(windows_ns, dtype=np.int64)
        self._ts = np.zeros(capacity, dtype=np.int64)
        self._vals = np.zeros((capacity, ncol), dtype=np.float64)
        self._tails = np.zeros(len(windows_ns), dtype=np.int64)
        self._sums = np.zeros((len(windows_ns), ncol), dtype=np.float64)
        self._since = np.zeros(len(windows_ns), dtype=np.int64)
        self._meta = np.zeros(3, dtype=np.int64)
        self._meta[_LAST_TS] = np.iinfo(np.int64).min

    @property
    def capacity(self) -> int:
        return int(self._ts.shape[0])

    @property
    def forced_evictions(self) -> int:
        """Entries dropped early because the ring reached its hard size limit."""
        return int(self._meta[_FORCED])

    def push(self, ts_ns: int, v0: float, v1: float = 0.0, v2: float = 0.0) -> None:
        while not _ws_push(
            self._ts, self._vals, self._windows, self._tails, self._sums, self._since,
            self._meta, ts_ns, v0, v1, v2,
        ):
            self._grow()

    def query(self, now_ns: int) -> None:
        _ws_query(
            self._ts, self._vals, self._windows, self._tails, self._sums, self._since,
            self._meta, now_ns,
        )

    def sum(self, k: int, m: int = 0) -> float:
        return float(self._sums[k, m])

    def count(self, k: int) -> int:
        """Entries in window k (after the last push or query)."""
        return int(self._meta[_HEAD] - self._tails[k])

    def _grow(self) -> None:
        cap = self.capacity
        head = int(self._meta[_HEAD])
        oldest = int(self._tails.min())
        if cap >= _MAX_CAPACITY:
            # Hard limit: drop the oldest entry from every window that still holds it.
            slot = oldest & (cap - 1)
            for k in range(self._tails.shape[0]):
                if self._tails[k] == oldest:
                    self._sums[k, :] -= self._vals[slot, :]
                    self._tails[k] = oldest + 1
            self._meta[_FORCED] += 1
            return
        new_cap = cap * 2
        idx = np.arange(oldest, head, dtype=np.int64)
        new_ts = np.zeros(new_cap, dtype=np.int64)
        new_vals = np.zeros((new_cap, self.ncol), dtype=np.float64)
        new_ts[idx & (new_cap - 1)] = self._ts[idx & (cap - 1)]
        new_vals[idx & (new_cap - 1)] = self._vals[idx & (cap - 1)]
        self._ts = new_ts
        self._vals = new_vals


class ExpDecay:
    """A time-decayed sum S(t) = Σ x_i exp(-(t - t_i)/τ), τ = half_life/ln 2, O(1)."""

    __slots__ = ("_inv_tau", "_t0_ns", "_t_ns", "_value")

    def __init__(self, half_life_s: float) -> None:
        if not (math.isfinite(half_life_s) and half_life_s > 0):
            raise ValueError("half_life_s: must be finite and > 0")
        self._inv_tau = _LN2 / (half_life_s * 1e9)
        self._value = 0.0
        self._t_ns = -1
        self._t0_ns = -1

    def _decay_to(self, t_ns: int) -> None:
        if self._t_ns < 0:
            self._t_ns = t_ns
            self._t0_ns = t_ns
            return
        dt = t_ns - self._t_ns
        if dt > 0:
            self._value *= math.exp(-dt * self._inv_tau)
            self._t_ns = t_ns

    def add(self, t_ns: int, x: float) -> None:
        self._decay_to(t_ns)
        self._value += x

    def value(self, t_ns: int) -> float:
        if self._t_ns < 0:
            return 0.0
        dt = t_ns - self._t_ns
        return self._value * math.exp(-dt * self._inv_tau) if dt > 0 else self._value

    def rate(self, t_ns: int, min_elapsed_ns: int) -> float:
        """S(t) per second over the decayed elapsed time since the first observation.

        The elapsed time is floored at ``min_elapsed_ns`` (a rate from one event at t0 is
        undefined).
        """
        if self._t0_ns < 0:
            return 0.0
        elapsed = max(t_ns - self._t0_ns, min_elapsed_ns)
        tau_s = 1.0 / (self._inv_tau * 1e9)
        mass_s = tau_s * -math.expm1(-elapsed * self._inv_tau)
        return self.value(t_ns) / mass_s

    def pause(self, gap_ns: int) -> None:
        """Treat ``gap_ns`` as time that did not happen (a feed outage): no decay over it."""
        if self._t_ns >= 0 and gap_ns > 0:
            self._t_ns += gap_ns
            self._t0_ns += gap_ns


class Ewma:
    """Bias-corrected EWMA: m = (1 - a) m + a x, reported as m / (1 - (1 - a)^n).

    The correction removes the pull towards 0 of the first samples (a baseline is right
    from its first observation instead of after several half-lives).
    """

    __slots__ = ("_a", "_m", "_w")

    def __init__(self, alpha: float) -> None:
        if not (0.0 < alpha <= 1.0):
            raise ValueError("alpha: must be in (0, 1]")
        self._a = alpha
        self._m = 0.0
        self._w = 0.0

    def update(self, x: float) -> None:
        self._m += self._a * (x - self._m)
        self._w += self._a * (1.0 - self._w)

    def update_zeros(self, k: int) -> None:
        """k updates with x = 0, in O(1)."""
        if k > 0:
            f = (1.0 - self._a) ** k
            self._m *= f
            self._w = 1.0 - f * (1.0 - self._w)

    @property
    def value(self) -> float:
        return self._m / self._w if self._w > 0.0 else 0.0

    @property
    def ready(self) -> bool:
        return self._w > 0.0


def half_life_alpha(step_s: float, half_life_s: float) -> float:
    """EWMA weight a = 1 - 2^(-step/half_life) of one step of step_s seconds."""
    return -math.expm1(-_LN2 * step_s / half_life_s)


class GridSigma:
    """EWMA of |Δmid| in bps between samples of the mid on a fixed time grid.

    Two half-lives share one grid: ``sigma_bps`` (fast) and ``baseline_bps`` (slow), both
    bias-corrected :class:`Ewma`. Feed it with ``advance(t)`` (takes every grid sample at
    times <= t; before applying an event at t, call ``advance(t - 1)``) and
    ``set_mid(t, mid_px)``.
    """

    __slots__ = ("_cur_mid", "_fast", "_last_sample_mid", "_next_grid_ns", "_slow", "_step_ns")

    def __init__(self, sample_ms: int, half_life_s: float, baseline_half_life_s: float) -> None:
        if sample_ms <= 0:
            raise ValueError("sample_ms: must be > 0")
        self._step_ns = sample_ms * 1_000_000
        self._fast = Ewma(half_life_alpha(sample_ms / 1000.0, half_life_s))
        self._slow = Ewma(half_life_alpha(sample_ms / 1000.0, baseline_half_life_s))
        self._next_grid_ns = -1
        self._cur_mid = 0.0
        self._last_sample_mid = 0.0

    @property
    def sigma_bps(self) -> float:
        return self._fast.value

    @property
    def baseline_bps(self) -> float:
        return self._slow.value

    def set_mid(self, t_ns: int, mid_px: float) -> None:
        """The mid in effect from t_ns on (call ``advance(t_ns - 1)`` first)."""
        if self._next_grid_ns < 0:
            self._next_grid_ns = -(-t_ns // self._step_ns) * self._step_ns
        self._cur_mid = mid_px

    def advance(self, t_ns: int) -> None:
        """Take every grid sample at times <= t_ns."""
        if self._next_grid_ns < 0 or t_ns < self._next_grid_ns or self._cur_mid <= 0.0:
            return
        k = (t_ns - self._next_grid_ns) // self._step_ns + 1
        self._next_grid_ns += k * self._step_ns
        if self._last_sample_mid > 0.0:
            move_bps = abs(self._cur_mid - self._last_sample_mid) / self._last_sample_mid * 1e4
            self._fast.update(move_bps)
            self._slow.update(move_bps)
        k -= 1  # the first sample of this call is taken (a move, or the start of a chain)
        self._fast.update_zeros(k)
        self._slow.update_zeros(k)
        self._last_sample_mid = self._cur_mid

    def restart(self, t_ns: int) -> None:
        """After an outage: the next sample is the first grid time >= t_ns, and it starts a
        new chain (no |Δmid| across the gap)."""
        self._next_grid_ns = -(-t_ns // self._step_ns) * self._step_ns
        self._last_sample_mid = 0.0


class SignRun:
    """Signed run length of trade signs: +n after n consecutive buys, -n after n sells."""

    __slots__ = ("run",)

    def __init__(self) -> None:
        self.run = 0

    def add(self, side: int) -> int:
        if side > 0:
            self.run = self.run + 1 if self.run > 0 else 1
        else:
            self.run = self.run - 1 if self.run < 0 else -1
        return self.run


def imbalance(bid_qty: Sequence[float], ask_qty: Sequence[float], k: int) -> float:
    """Top-k book imbalance (Σb - Σa)/(Σb + Σa) over the first k levels; 0 if both empty."""
    sb = 0.0
    for q in bid_qty[:k]:
        sb += q
    sa = 0.0
    for q in ask_qty[:k]:
        sa += q
    tot = sb + sa
    if tot <= 0.0:
        return 0.0
    return (sb - sa) / tot


__all__ = [
    "REALIZED_VOL_WINDOW_NS",
    "Ewma",
    "ExpDecay",
    "GridSigma",
    "SignRun",
    "WindowSums",
    "half_life_alpha",
    "imbalance",
]
