"""Brute-force references for the feature tests: slow, obviously right, no shared code."""

from __future__ import annotations

import itertools
import math

from mm.features.ofi import ofi_increment
from mm.features.rolling import half_life_alpha


def sigma_brute(mids: list[tuple[int, float]], step_ns: int, half_life_s: float, t_end: int) -> float:
    """Sample the mid at grid times g (multiples of step, from the first mid on): the mid
    after all events with ts <= g; bias-corrected EWMA of |Δ| in bps between samples."""
    a = half_life_alpha(step_ns / 1e9, half_life_s)
    g = -(-mids[0][0] // step_ns) * step_ns
    m = w = 0.0
    prev = None
    while g <= t_end:
        cur = [mid for ts, mid in mids if ts <= g][-1]
        if prev is not None:
            x = abs(cur - prev) / prev * 1e4
            m += a * (x - m)
            w += a * (1.0 - w)
        prev = cur
        g += step_ns
    return m / w if w > 0 else 0.0


def ofi_brute(states: list[tuple[int, float, float, float, float]], now: int, window_ns: int) -> float:
    """Σ e_n over consecutive best-level states (t, pb, qb, pa, qa) with now - W < t_n <= now."""
    tot = []
    for (_, *a), (t1, *b) in itertools.pairwise(states):
        if now - window_ns < t1 <= now:
            tot.append(ofi_increment(*a, *b))
    return math.fsum(tot)


def realized_vol_bps_brute(mids: list[tuple[int, float]], now: int, window_ns: int) -> float:
    """sqrt(Σ ln(m_i / m_{i-1})² over mid changes with now - W < t_i <= now) in bps."""
    tot = []
    for (_, m0), (t1, m1) in itertools.pairwise(mids):
        if now - window_ns < t1 <= now:
            tot.append(math.log(m1 / m0) ** 2)
    return math.sqrt(math.fsum(tot)) * 1e4
