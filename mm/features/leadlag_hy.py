"""Lead-lag between two asynchronously observed prices: Hayashi-Yoshida over a lag grid.

What this module owns: the Hayashi-Yoshida (HY) cross-covariance of two price tapes, each
observed at its own times, evaluated with one series shifted by each lag of a grid, and the
lag where the resulting correlation peaks (Hoffmann, Rosenbaum and Yoshida's lead-lag
estimator, the "modified HY" of the cross-venue study in ARCHITECTURE.md that measured
Binance leading Hyperliquid by 600-700 ms). Pure: arrays in, arrays out.

Model. Let ``x`` be observed at times ``s_0 < ... < s_n`` and ``y`` at ``t_0 < ... < t_m``,
with increments ``dx_i`` over ``I_i = (s_{i-1}, s_i]`` and ``dy_j`` over ``J_j``. For a lag
``theta``::

    HY(theta) = sum_{i,j} dx_i * dy_j * 1{ (I_i + theta) overlaps J_j }
    rho(theta) = HY(theta) / sqrt(sum dx_i**2 * sum dy_j**2)

If ``y(t) = x(t - L) + noise`` (``x`` leads by ``L``), ``E[HY(theta)]`` peaks at
``theta = L``. A positive lag therefore means *x leads y*.

Cost: the ``J_j`` overlapping a shifted ``I_i`` are a contiguous run whose ``dy`` sum
telescopes to ``y[j_hi] - y[j_lo - 1]``; both ends only move forward as ``i`` grows, so one
lag is a two-pointer sweep in O(n + m) (compiled with numba), not O(n * m).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import numba as nb
import numpy as np
import numpy.typing as npt

from mm.schema import Bbo, MarketEvent, RefPrice, Venue

__all__ = [
    "LeadLagResult",
    "hy_covariance",
    "hy_lead_lag",
    "lag_grid_ms",
    "prepare_tape",
    "ref_and_venue_mids",
]

FloatArr = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]


class LeadLagResult(msgspec.Struct, frozen=True, kw_only=True):
    """The HY correlation curve over the lag grid and its peak.

    ``peak_lag_ms`` > 0: x leads y by that much. ``peak_lag_refined_ms`` is a parabola
    through the peak and its neighbours (equal to the grid peak at the grid's ends).
    ``corr`` is HY over the square root of both realised variances: a correlation in the
    limit, but on sparse, quantised tapes a finite sample can exceed 1 slightly.
    """

    lags_ms: list[float]
    corr: list[float]
    peak_lag_ms: float
    peak_lag_refined_ms: float
    peak_corr: float
    n_x: int
    n_y: int


def lag_grid_ms(max_lag_ms: float = 1500.0, step_ms: float = 25.0) -> FloatArr:
    """Symmetric lag grid ``-max_lag_ms .. +max_lag_ms`` in ``step_ms`` steps (0 included)."""
    if step_ms <= 0.0 or max_lag_ms < 0.0:
        raise ValueError("step_ms must be > 0 and max_lag_ms >= 0")
    k = int(np.floor(max_lag_ms / step_ms + 1e-9))
    return np.arange(-k, k + 1, dtype=np.float64) * step_ms


def prepare_tape(ts_ns: npt.ArrayLike, px: npt.ArrayLike, *, log_px: bool = True,
                 changes_only: bool = True) -> tuple[IntArr, FloatArr]:
    """Clean a price tape for HY: stable-sort by time, keep the last price per timestamp,
    drop non-positive/non-finite prices, optionally keep only changes, take logs."""
    t = np.asarray(ts_ns, dtype=np.int64)
    p = np.asarray(px, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError("ts_ns and px must be 1-d arrays of the same length")
    ok = np.isfinite(p) & (p > 0.0) if log_px else np.isfinite(p)
    t, p = t[ok], p[ok]
    if t.size and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, p = t[order], p[order]
    if t.size > 1:
        last = np.ones(t.size, dtype=bool)
        last[:-1] = t[1:] != t[:-1]
        t, p = t[last], p[last]
    if changes_only and t.size > 1:
        keep = np.ones(t.size, dtype=bool)
        keep[1:] = p[1:] != p[:-1]
        t, p = t[keep], p[keep]
    return t, (np.log(p) if log_px else p)


@nb.njit(cache=True)
def _hy_sweep(sx: IntArr, x: FloatArr, ty: IntArr, y: FloatArr, shifts_ns: IntArr) -> FloatArr:
    n = sx.shape[0] - 1
    m = ty.shape[0] - 1
    out = np.zeros(shifts_ns.shape[0])
    for k in range(shifts_ns.shape[0]):
        th = shifts_ns[k]
        jlo = 1  # first j with ty[j] > a
        jhi = 0  # last j with ty[j-1] < b
        acc = 0.0
        for i in range(1, n + 1):
            a = sx[i - 1] + th
            b = sx[i] + th
            while jlo <= m and ty[jlo] <= a:
                jlo += 1
            while jhi < m and ty[jhi] < b:
                jhi += 1
            if jhi >= jlo:
                acc += (x[i] - x[i - 1]) * (y[jhi] - y[jlo - 1])
        out[k] = acc
    return out


def hy_covariance(sx_ns: IntArr, x: FloatArr, ty_ns: IntArr, y: FloatArr,
                  shifts_ns: IntArr) -> FloatArr:
    """HY cross-covariance of x (shifted later by each ``shifts_ns``) and y. Times must be
    strictly increasing int64 ns; x and y are the (log) prices at those times."""
    sx = np.ascontiguousarray(sx_ns, dtype=np.int64)
    ty = np.ascontiguousarray(ty_ns, dtype=np.int64)
    xs = np.ascontiguousarray(x, dtype=np.float64)
    ys = np.ascontiguousarray(y, dtype=np.float64)
    sh = np.ascontiguousarray(shifts_ns, dtype=np.int64)
    if sx.shape != xs.shape or ty.shape != ys.shape:
        raise ValueError("times and prices must have the same length")
    if sx.size < 2 or ty.size < 2:
        return np.zeros(sh.shape[0])
    if np.any(np.diff(sx) <= 0) or np.any(np.diff(ty) <= 0):
        raise ValueError("observation times must be strictly increasing (use prepare_tape)")
    result: FloatArr = _hy_sweep(sx, xs, ty, ys, sh)
    return result


def hy_lead_lag(x_ts_ns: npt.ArrayLike, x_px: npt.ArrayLike, y_ts_ns: npt.ArrayLike,
                y_px: npt.ArrayLike, lags_ms: npt.ArrayLike | None = None, *,
                log_px: bool = True, changes_only: bool = True) -> LeadLagResult:
    """Lead of x over y by HY: the lag in ``lags_ms`` (default -1500..1500 step 25) where
    the HY correlation of the two tapes has its largest magnitude. Positive: x leads."""
    sx, xs = prepare_tape(x_ts_ns, x_px, log_px=log_px, changes_only=changes_only)
    ty, ys = prepare_tape(y_ts_ns, y_px, log_px=log_px, changes_only=changes_only)
    grid = lag_grid_ms() if lags_ms is None else np.asarray(lags_ms, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("lags_ms must be a non-empty 1-d sequence")
    shifts = np.round(grid * 1e6).astype(np.int64)
    cov = hy_covariance(sx, xs, ty, ys, shifts)
    vx = float(np.sum(np.diff(xs) ** 2)) if xs.size > 1 else 0.0
    vy = float(np.sum(np.diff(ys) ** 2)) if ys.size > 1 else 0.0
    denom = np.sqrt(vx * vy)
    corr = cov / denom if denom > 0.0 else np.zeros_like(cov)
    k = int(np.argmax(np.abs(corr)))
    refined = float(grid[k])
    if 0 < k < grid.size - 1:
        c0, c1, c2 = abs(corr[k - 1]), abs(corr[k]), abs(corr[k + 1])
        curv = c0 - 2.0 * c1 + c2
        h0, h2 = grid[k] - grid[k - 1], grid[k + 1] - grid[k]
        if curv < 0.0 and abs(h0 - h2) < 1e-9:
            refined = float(grid[k] + 0.5 * h0 * (c0 - c2) / curv)
    return LeadLagResult(
        lags_ms=grid.tolist(),
        corr=corr.tolist(),
        peak_lag_ms=float(grid[k]),
        peak_lag_refined_ms=refined,
        peak_corr=float(corr[k]),
        n_x=int(sx.size),
        n_y=int(ty.size),
    )


def ref_and_venue_mids(events: Iterable[MarketEvent], symbol_id: int, *,
                       ref_venue: int = Venue.BINANCE,
                       venue: int = Venue.HYPERLIQUID) -> tuple[IntArr, FloatArr, IntArr, FloatArr]:
    """The two mid tapes of one symbol from a normalized stream: the reference's ``RefPrice``
    mids and the venue's two-sided ``Bbo`` mids, as (ref_ts_ns, ref_mid, venue_ts_ns,
    venue_mid), local ``ts_ns`` times."""
    rt: list[int] = []
    rp: list[float] = []
    vt: list[int] = []
    vp: list[float] = []
    for ev in events:
        if ev.symbol_id != symbol_id:
            continue
        if isinstance(ev, RefPrice):
            if ev.venue == ref_venue and ev.mid_px > 0.0:
                rt.append(ev.ts_ns)
                rp.append(ev.mid_px)
        elif isinstance(ev, Bbo) and ev.venue == venue and ev.bid_px > 0.0 and ev.ask_px > 0.0:
            vt.append(ev.ts_ns)
            vp.append(0.5 * (ev.bid_px + ev.ask_px))
    return (np.asarray(rt, dtype=np.int64), np.asarray(rp, dtype=np.float64),
            np.asarray(vt, dtype=np.int64), np.asarray(vp, dtype=np.float64))
