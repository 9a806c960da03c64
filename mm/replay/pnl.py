"""PnL attribution of a fill list against a mid tape: the one module for run and replay.

For fill ``i`` (side ``s_i`` = +1 buy / -1 sell, qty ``q_i``, price ``p_i``, fee ``f_i`` paid,
time ``t_i``), with ``m(t)`` the mid in effect just before ``t`` (the mid the fill met),
``h`` the markout horizon and ``T`` the end of the evaluation::

    spread capture    S_i = s_i * (m(t_i) - p_i) * q_i
    adverse selection A_i = s_i * (m(t_i + h) - m(t_i)) * q_i      (the markout move; < 0 = adverse)
    fees              F_i = -f_i                                    (a rebate is a positive F)
    inventory         I_i = s_i * (m(T) - m(t_i + h)) * q_i         (holding after the horizon)

(``t_i + h`` is capped at ``T``.) Their sum is ``s_i * (m(T) - p_i) * q_i - f_i``, the fill's
mark-to-market PnL at ``T``, so ``Σ (S + A + F + I)`` equals the total PnL
``cash + position * m(T) - fees`` of the fill list exactly (up to float rounding) whatever the
horizon. The fill edge (the part 7 "fill quality") is ``s_i * (m(t_i + h) - p_i) / p_i * 1e4``
bps gross, and net of fees ``edge - f_i / (p_i q_i) * 1e4``; a fill is adverse at horizon ``h``
when its gross edge is negative.

The PnL curve is the mark-to-market ``Σ_{t_i <= t} s_i q_i (m(t) - p_i) - f_i`` on the tape's
times. Pure numpy; the mid lookup is :func:`mm.models.training_labels.mid_at`.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import numpy.typing as npt

from mm.models.training_labels import mid_at

FloatArr = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]


class FillRow(msgspec.Struct, frozen=True):
    """One of our fills at the venue (truth, not our view of it)."""

    symbol_id: int
    ts_ns: int
    side: int
    px: float
    qty: float
    fee_usd: float
    is_maker: bool


class PnlSplit(msgspec.Struct, frozen=True, kw_only=True):
    """Totals in USD, and the horizon used for the adverse-selection leg."""

    horizon_s: float
    spread_capture_usd: float
    adverse_selection_usd: float
    fees_usd: float
    inventory_usd: float
    total_usd: float
    n_fills: int
    turnover_usd: float


def mid_before(tape_ts: IntArr, tape_mid: FloatArr, ts_ns: npt.ArrayLike) -> FloatArr:
    """The mid in effect strictly before each time (the book a fill met)."""
    return mid_at(tape_ts, tape_mid, np.asarray(ts_ns, dtype=np.int64) - 1)


def fill_arrays(fills: list[FillRow]) -> dict[str, npt.NDArray[np.generic]]:
    return {
        "ts": np.array([f.ts_ns for f in fills], dtype=np.int64),
        "side": np.array([f.side for f in fills], dtype=np.float64),
        "px": np.array([f.px for f in fills], dtype=np.float64),
        "qty": np.array([f.qty for f in fills], dtype=np.float64),
        "fee": np.array([f.fee_usd for f in fills], dtype=np.float64),
        "maker": np.array([f.is_maker for f in fills], dtype=np.bool_),
    }


def _safe(m: FloatArr, fallback: FloatArr) -> FloatArr:
    return np.where(np.isfinite(m), m, fallback)


def attribute(fills: list[FillRow], tape_ts: IntArr, tape_mid: FloatArr, end_ns: int,
              horizon_s: float = 5.0) -> tuple[PnlSplit, dict[str, FloatArr]]:
    """The split (module docstring) and per-fill legs: ``spread``, ``adverse``, ``fee``, ``inventory``."""
    a = fill_arrays(fills)
    ts = a["ts"].astype(np.int64)
    s, px, q, fee = (a[k].astype(np.float64) for k in ("side", "px", "qty", "fee"))
    h_ns = int(horizon_s * 1e9)
    m0 = _safe(mid_before(tape_ts, tape_mid, ts), px)
    mh = _safe(mid_at(tape_ts, tape_mid, np.minimum(ts + h_ns, end_ns)), m0)
    end_mid = mid_at(tape_ts, tape_mid, np.array([end_ns]))
    m_end = float(end_mid[0]) if len(end_mid) and math.isfinite(end_mid[0]) else (float(px[-1]) if len(px) else 0.0)
    legs = {
        "spread": s * (m0 - px) * q,
        "adverse": s * (mh - m0) * q,
        "fee": -fee,
        "inventory": s * (m_end - mh) * q,
    }
    split = PnlSplit(
        horizon_s=horizon_s,
        spread_capture_usd=float(legs["spread"].sum()),
        adverse_selection_usd=float(legs["adverse"].sum()),
        fees_usd=float(legs["fee"].sum()),
        inventory_usd=float(legs["inventory"].sum()),
        total_usd=total_pnl(fills, m_end),
        n_fills=len(fills),
        turnover_usd=float((px * q).sum()),
    )
    return split, legs


def total_pnl(fills: list[FillRow], end_mid: float) -> float:
    """Cash plus position at ``end_mid`` minus fees, accumulated independently of the split."""
    cash = 0.0
    pos = 0.0
    fees = 0.0
    for f in fills:
        cash -= f.side * f.px * f.qty
        pos += f.side * f.qty
        fees += f.fee_usd
    return cash + pos * end_mid - fees


def markout_edges_bps(fills: list[FillRow], tape_ts: IntArr, tape_mid: FloatArr, horizon_s: float,
                      end_ns: int) -> FloatArr:
    """Gross edge per fill at ``horizon_s``: ``s (m(t + h) - p) / p * 1e4``; NaN past ``end_ns``."""
    a = fill_arrays(fills)
    ts = a["ts"].astype(np.int64)
    s, px = a["side"].astype(np.float64), a["px"].astype(np.float64)
    t_h = ts + int(horizon_s * 1e9)
    mh = mid_at(tape_ts, tape_mid, t_h)
    edge = s * (mh - px) / px * 1e4
    edge[t_h > end_ns] = np.nan
    return np.asarray(edge, dtype=np.float64)


def pnl_curve(fills: list[FillRow], tape_ts: IntArr, tape_mid: FloatArr, grid_ns: IntArr) -> FloatArr:
    """Mark-to-market PnL (USD, net of fees) of one symbol's fills at each grid time."""
    a = fill_arrays(fills)
    ts = a["ts"].astype(np.int64)
    s, px, q, fee = (a[k].astype(np.float64) for k in ("side", "px", "qty", "fee"))
    cash = np.concatenate([[0.0], np.cumsum(-s * px * q - fee)])
    pos = np.concatenate([[0.0], np.cumsum(s * q)])
    k = np.searchsorted(ts, grid_ns, side="right")
    m = mid_at(tape_ts, tape_mid, grid_ns)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.asarray(cash[k] + pos[k] * m, dtype=np.float64)


def sharpe(pnl: FloatArr, step_s: float) -> tuple[float, float]:
    """(per-step Sharpe, annualized) of a PnL curve sampled every ``step_s``: mean/sd of its
    increments, times ``sqrt(365 * 86400 / step_s)`` for the annualized figure (crypto trades
    all year). 0 when the increments do not vary."""
    d = np.diff(pnl)
    if len(d) < 2:
        return 0.0, 0.0
    sd = float(d.std(ddof=1))
    if not sd > 0.0:
        return 0.0, 0.0
    sr = float(d.mean()) / sd
    return sr, sr * math.sqrt(365.0 * 86400.0 / step_s)
