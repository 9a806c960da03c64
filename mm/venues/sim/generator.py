"""Synthetic Hyperliquid + Binance market with ground-truth regime and cascade labels.

What this module owns: a seeded, deterministic, streaming generator of normalized market
events (:mod:`mm.schema`) for N coins on two venues, and the labels that say what the
market was really doing (the regime at every instant, every cascade's start, end and
direction). Pure logic: no I/O and no clock reads; time is ``start_ts_ns`` plus simulated
milliseconds, and every random draw comes from one ``numpy.random.Generator`` seeded by
the caller (numba draws from the same generator object inside the compiled loop).

The model (parameters in :class:`~mm.venues.sim.generator_config.GeneratorConfig` and
:class:`~mm.venues.sim.generator_config.CoinSpec`), simulated on a 1 ms grid:

- Regime chain, one per coin: semi-Markov over Quiet/Normal/Volatile/Cascade; exponential
  dwell with ``mean_dwell_s`` in the first three, ``transitions`` for where it goes next.
  A Cascade visit lasts U(``cascade_min_s``, ``cascade_max_s``) and is a directional sweep:
  the latent price drifts ``cascade_move_bps`` (uniform in its range, times ``vol_mult``)
  up (probability ``cascade_up_prob``) or down over it.
- Latent log price x (the Binance price): ``dx = drift + sigma_regime * vol_mult * dW`` per
  ms, with shocks ``sqrt(rho) * common + sqrt(1 - rho) * own`` across coins, reflected
  inside a band where the coin's Hyperliquid tick stays valid.
- Binance (the leader): every U(``ref_interval_ms_min``, ``ref_interval_ms_max``) ms a
  ``RefPrice`` and a ``Bbo`` (one ``ref_tick_px`` wide around ``exp(x)``); taker trades from
  a two-sided Hawkes process (background ``ref_taker_rate_hz``, branching ``hawkes_branching``,
  exponential kernel ``hawkes_decay_hz``, ``hawkes_cross_frac`` to the other side) at its
  touch.
- Hyperliquid (the follower): blocks every ``block_ms`` (+/- ``block_jitter_frac``); at each
  block the fair price is ``exp(x(t - lead_lag_ms) + u)`` with ``u`` an OU deviation
  (``hl_noise_bps``, ``hl_noise_half_life_ms``), and the regime that governs the block is
  the lagged one, so cascades reach Hyperliquid ``lead_lag_ms`` after Binance. In a block,
  in order: (1) Hawkes taker orders (lognormal sizes around ``taker_qty_median``, times
  ``cascade_qty_mult`` in a cascade; cascade side takes ``cascade_side_frac`` of the
  background rate) sweep the book level by level, giving one ``Trade`` per maker fill
  (1 + Poisson(``fill_split_mean``) fills at the touch, one per deeper level); (2) levels
  the fair price has passed are hit, with probability ``stale_take_prob``, by an aggressive
  order (lognormal, ``arb_qty_mult`` taker medians; in a cascade, where it is nearly
  certain, the sweep: ``cascade_sweep_frac`` x U(0.5, 1.5) of the stale levels' size) and
  the rest is cancelled; (3) makers re-post at the fair touch (``spread_ticks`` wide) with
  probability ``refill_prob``; (4) each level's size is revised with probability
  ``level_update_prob`` toward its target ``depth_qty * (touch_depth_mult | 1 + slope*i)
  * depth_mult[regime]``. A ``Bbo`` is emitted when the top changed, a ``book_levels``-deep
  ``BookSnapshot`` at most every ``snapshot_interval_ms``. Prices follow Hyperliquid's tick
  rule (5 significant figures, at most ``6 - szDecimals`` decimals); sizes are whole lots.

Events come out in ``ts_ns`` order (ties keep a fixed order: within a ms, Binance first
then Hyperliquid; within a block, trades, then Bbo, then the snapshot). ``ts_ns`` is the
venue event time on the local clock; ``remote_ts_ms`` is ``remote_epoch_ms`` plus elapsed ms.
Memory is bounded by ``chunk_ms`` of events whatever the duration.

Labels (:class:`GroundTruth`): per coin, regime intervals tiling the run, and one
:class:`CascadeLabel` per Cascade visit, both in Binance (latent) time with the Hyperliquid
window (``hl_*``, shifted by the lead) alongside. :mod:`mm.venues.sim.labels` saves them
next to a recording.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import msgspec
import numba as nb
import numpy as np
import numpy.typing as npt

from mm.schema import Bbo, BookSnapshot, MarketEvent, RefPrice, Trade, Venue
from mm.venues.sim.generator_config import (
    DEFAULT_COINS,
    CoinSpec,
    GeneratorConfig,
    hl_px_decimals,
    hl_tick_px,
)

__all__ = [
    "CascadeLabel",
    "GroundTruth",
    "MarketGenerator",
    "RegimeInterval",
    "regime_at",
]

# --------------------------------------------------------------------------- labels


class RegimeInterval(msgspec.Struct, frozen=True, kw_only=True):
    """One coin's regime over ``[start_ts_ns, end_ts_ns)`` in Binance (latent) time; on
    Hyperliquid the same regime governs ``[hl_start_ts_ns, hl_end_ts_ns)``."""

    coin: str
    symbol_id: int
    regime: int
    start_ts_ns: int
    end_ts_ns: int
    hl_start_ts_ns: int
    hl_end_ts_ns: int


class CascadeLabel(msgspec.Struct, frozen=True, kw_only=True):
    """One cascade: a directional sweep. ``direction`` is +1 (up, buyers sweep asks) or -1
    (down, sellers sweep bids), as :class:`mm.schema.Side`. ``move_bps`` is the planned
    latent move over the whole cascade; ``truncated`` when the run ended inside it."""

    coin: str
    symbol_id: int
    direction: int
    start_ts_ns: int
    end_ts_ns: int
    hl_start_ts_ns: int
    hl_end_ts_ns: int
    move_bps: float
    truncated: bool = False


class GroundTruth(msgspec.Struct, frozen=True, kw_only=True):
    """Everything known about one generated run, written beside its event stream."""

    seed: int
    start_ts_ns: int
    end_ts_ns: int
    lead_lag_ms: int
    coins: list[str]
    regimes: list[RegimeInterval]
    cascades: list[CascadeLabel]
    config: GeneratorConfig
    coin_specs: list[CoinSpec]
    complete: bool = True
    version: int = 1


# --------------------------------------------------------------------------- compiled core

_L = 32  # book levels kept per side (snapshots show at most 20)
_RING = 2048  # ms of latent history kept (> MAX_LEAD_LAG_MS)
_MASK = _RING - 1
_CASCADE = 3
_MAX_FILLS_PER_LEVEL = 4
_MAX_BN_PER_MS = 8

# event kinds
K_HL_TRADE = 0
K_HL_BBO = 1
K_HL_BOOK = 2
K_BN_TRADE = 3
K_BN_BBO = 4
K_BN_REF = 5

# int event columns
EI_KIND, EI_STEP, EI_COIN, EI_SIDE, EI_ID, EI_SEQ = 0, 1, 2, 3, 4, 5
_N_EI = 6

# global int state
G_STEP, G_NEXT_BLOCK, G_HL_TID = 0, 1, 2
_N_G = 3

# per-coin int state
(CI_REGIME, CI_REG_START, CI_NEXT_SWITCH, CI_CDIR, CI_BB, CI_BA, CI_LAST_BB, CI_LAST_BA,
 CI_LAST_QB, CI_LAST_QA, CI_LAST_SNAP, CI_NEXT_REF, CI_SEQ_HL, CI_SEQ_BN, CI_BN_TID,
 CI_LAST_BLOCK) = range(16)
_N_CI = 16

# per-coin float state
CF_X, CF_DRIFT, CF_MOVE, CF_U, CF_HE_B, CF_HE_S, CF_BE_B, CF_BE_S = range(8)
_N_CF = 8

# scalar parameters
(P_LAG, P_BLOCK_MS, P_BLOCK_JIT, P_SNAP_MS, P_LEVELS, P_REF_MIN, P_REF_MAX, P_SQRT_RHO,
 P_SQRT_1MRHO, P_U_KAPPA, P_U_SD, P_BETA, P_CROSS, P_CSIDE, P_QSIG, P_CQMULT, P_MAXORD,
 P_ARBMULT, P_LUPD, P_DREV, P_DSIG, P_FRESH, P_SPLIT, P_CMIN_MS, P_CMAX_MS, P_MOVE_MIN,
 P_MOVE_MAX, P_UP, P_BN_DECAY, P_SWEEP) = range(30)
_N_P = 30

# per-regime parameters (rows), columns = regime
RP_VOL, RP_HL_RATE, RP_BN_RATE, RP_BRANCH, RP_STALE, RP_REFILL, RP_DEPTH, RP_DWELL_MS = range(8)
_N_RP = 8

# per-coin parameters
(CP_VOLM, CP_POW10, CP_LOTS, CP_TAKER_LOTS, CP_DEPTH_LOTS, CP_TOUCH, CP_SLOPE, CP_SPREAD,
 CP_RPOW10, CP_RLOTS, CP_RQMULT, CP_XLO, CP_XHI, CP_KMAX) = range(14)
_N_CP = 14

_FloatArr = npt.NDArray[np.float64]
_IntArr = npt.NDArray[np.int64]


@nb.njit(cache=True, inline="always")
def _push(ev_i: _IntArr, ev_f: _FloatArr, n: int, kind: int, step: int, coin: int, side: int,
          ident: int, seq: int, f0: float, f1: float, f2: float, f3: float) -> int:
    ev_i[EI_KIND, n] = kind
    ev_i[EI_STEP, n] = step
    ev_i[EI_COIN, n] = coin
    ev_i[EI_SIDE, n] = side
    ev_i[EI_ID, n] = ident
    ev_i[EI_SEQ, n] = seq
    ev_f[0, n] = f0
    ev_f[1, n] = f1
    ev_f[2, n] = f2
    ev_f[3, n] = f3
    return n + 1


@nb.njit(cache=True)
def _target_lots(c: int, i: int, reg: int, cp: _FloatArr, rp: _FloatArr) -> float:
    prof = cp[c, CP_TOUCH] if i == 0 else 1.0 + cp[c, CP_SLOPE] * i
    return cp[c, CP_DEPTH_LOTS] * prof * rp[RP_DEPTH, reg]


@nb.njit(cache=True)
def _fresh_lots(rng: np.random.Generator, c: int, i: int, reg: int, frac: float,
                cp: _FloatArr, rp: _FloatArr, prm: _FloatArr) -> int:
    q = _target_lots(c, i, reg, cp, rp) * frac * math.exp(prm[P_DSIG] * rng.standard_normal())
    return max(1, int(round(q)))


@nb.njit(cache=True)
def _shift_out(rng: np.random.Generator, c: int, bs: int, reg: int, bq: _IntArr, ci: _IntArr,
               cp: _FloatArr, rp: _FloatArr, prm: _FloatArr) -> bool:
    """Drop the touch level of book side ``bs`` (0 bids, 1 asks); the touch moves out by a
    tick and a new deepest level appears. False (nothing done) at the valid price edge."""
    if bs == 1:
        if ci[c, CI_BA] + _L > cp[c, CP_KMAX]:
            return False
        ci[c, CI_BA] += 1
    else:
        if ci[c, CI_BB] - _L < 1:
            return False
        ci[c, CI_BB] -= 1
    for i in range(_L - 1):
        bq[c, bs, i] = bq[c, bs, i + 1]
    bq[c, bs, _L - 1] = _fresh_lots(rng, c, _L - 1, reg, 1.0, cp, rp, prm)
    return True


@nb.njit(cache=True)
def _insert_front(rng: np.random.Generator, c: int, bs: int, k: int, reg: int, bq: _IntArr,
                  ci: _IntArr, cp: _FloatArr, rp: _FloatArr, prm: _FloatArr) -> None:
    """Makers post ``k`` new levels inside the spread on side ``bs``: the touch moves in by k."""
    if k <= 0:
        return
    if bs == 1:
        ci[c, CI_BA] -= k
    else:
        ci[c, CI_BB] += k
    if k >= _L:
        for i in range(_L):
            bq[c, bs, i] = _fresh_lots(rng, c, i, reg, 1.0 if i >= k else prm[P_FRESH], cp, rp, prm)
        return
    for i in range(_L - 1, k - 1, -1):
        bq[c, bs, i] = bq[c, bs, i - k]
    for i in range(k):
        bq[c, bs, i] = _fresh_lots(rng, c, i, reg, prm[P_FRESH], cp, rp, prm)


@nb.njit(cache=True)
def _sweep(rng: np.random.Generator, c: int, s: int, side: int, qty: int, limit_k: int, reg: int,
           bq: _IntArr, ci: _IntArr, cp: _FloatArr, rp: _FloatArr, prm: _FloatArr, gs: _IntArr,
           ev_i: _IntArr, ev_f: _FloatArr, n: int) -> tuple[int, int]:
    """An aggressive Hyperliquid order of ``qty`` lots on ``side`` (+1 buy, -1 sell), no worse
    than tick ``limit_k``, at most ``_L`` levels. Emits one Trade per maker fill; returns
    (n, filled lots)."""
    bs = 1 if side > 0 else 0
    filled = 0
    pow10 = cp[c, CP_POW10]
    lots = cp[c, CP_LOTS]
    for _lvl in range(_L):
        if qty <= 0:
            break
        k = ci[c, CI_BA] if side > 0 else ci[c, CI_BB]
        if (side > 0 and k > limit_k) or (side < 0 and k < limit_k):
            break
        avail = bq[c, bs, 0]
        take = min(qty, avail)
        m = 1
        if _lvl == 0:  # the touch holds the queue of many makers; deeper levels one each
            m = 1 + min(_MAX_FILLS_PER_LEVEL - 1, rng.poisson(prm[P_SPLIT]))
            m = min(m, take)
        rem = take
        px = k / pow10
        for j in range(m):
            if j == m - 1:
                piece = rem
            else:
                piece = 1 + int(rng.random() * (rem - (m - j) + 1))
            rem -= piece
            gs[G_HL_TID] += 1
            ci[c, CI_SEQ_HL] += 1
            n = _push(ev_i, ev_f, n, K_HL_TRADE, s, c, side, gs[G_HL_TID], ci[c, CI_SEQ_HL],
                      px, piece / lots, 0.0, 0.0)
        qty -= take
        filled += take
        bq[c, bs, 0] = avail - take
        if bq[c, bs, 0] == 0:
            if not _shift_out(rng, c, bs, reg, bq, ci, cp, rp, prm):
                bq[c, bs, 0] = 1  # price edge: a level always rests there
                break
    return n, filled


@nb.njit(cache=True)
def _excite(cf: _FloatArr, c: int, side: int, alpha: float, cross: float, ib: int, is_: int) -> None:
    if side > 0:
        cf[c, ib] += alpha * (1.0 - cross)
        cf[c, is_] += alpha * cross
    else:
        cf[c, is_] += alpha * (1.0 - cross)
        cf[c, ib] += alpha * cross


@nb.njit(cache=True)
def _split_rate(mu: float, reg: int, cdir: int, cside: float) -> tuple[float, float]:
    if reg == _CASCADE and cdir != 0:
        if cdir > 0:
            return mu * cside, mu * (1.0 - cside)
        return mu * (1.0 - cside), mu * cside
    return 0.5 * mu, 0.5 * mu


@nb.njit(cache=True)
def _poisson_small(rng: np.random.Generator, m: float, cap: int) -> int:
    """Poisson(m) by inversion with one uniform, truncated at ``cap`` (m is small here)."""
    if m <= 0.0:
        return 0
    u = rng.random()
    p = math.exp(-m)
    cdf = p
    k = 0
    while u > cdf and k < cap:
        k += 1
        p *= m / k
        cdf += p
    return k


@nb.njit(cache=True)
def _switch_regime(rng: np.random.Generator, c: int, s: int, ci: _IntArr, cf: _FloatArr,
                   cp: _FloatArr, prm: _FloatArr, rp: _FloatArr, trc: _FloatArr,
                   reg_lab: _IntArr, n_reg: int, cas_lab: _FloatArr, n_cas: int) -> tuple[int, int]:
    old = ci[c, CI_REGIME]
    reg_lab[n_reg, 0] = c
    reg_lab[n_reg, 1] = old
    reg_lab[n_reg, 2] = ci[c, CI_REG_START]
    reg_lab[n_reg, 3] = s
    n_reg += 1
    if old == _CASCADE:
        cas_lab[n_cas, 0] = c
        cas_lab[n_cas, 1] = ci[c, CI_CDIR]
        cas_lab[n_cas, 2] = ci[c, CI_REG_START]
        cas_lab[n_cas, 3] = s
        cas_lab[n_cas, 4] = cf[c, CF_MOVE]
        n_cas += 1
    u = rng.random()
    new = 3
    for r in range(4):
        if u < trc[old, r]:
            new = r
            break
    if new == old:  # only reachable through float round-off at the row's end
        new = (old + 1) % 4
    ci[c, CI_REGIME] = new
    ci[c, CI_REG_START] = s
    if new == _CASCADE:
        dur = prm[P_CMIN_MS] + rng.random() * (prm[P_CMAX_MS] - prm[P_CMIN_MS])
        dur_ms = max(1, int(round(dur)))
        cdir = 1 if rng.random() < prm[P_UP] else -1
        move = (prm[P_MOVE_MIN] + rng.random() * (prm[P_MOVE_MAX] - prm[P_MOVE_MIN])) * cp[c, CP_VOLM]
        ci[c, CI_CDIR] = cdir
        cf[c, CF_MOVE] = move
        cf[c, CF_DRIFT] = cdir * move * 1e-4 / dur_ms
    else:
        dur_ms = max(1, int(round(rng.exponential(rp[RP_DWELL_MS, new]))))
        ci[c, CI_CDIR] = 0
        cf[c, CF_MOVE] = 0.0
        cf[c, CF_DRIFT] = 0.0
    ci[c, CI_NEXT_SWITCH] = s + dur_ms
    return n_reg, n_cas


@nb.njit(cache=True)
def _binance_step(rng: np.random.Generator, c: int, s: int, reg: int, ci: _IntArr, cf: _FloatArr,
                  cp: _FloatArr, prm: _FloatArr, rp: _FloatArr, ev_i: _IntArr, ev_f: _FloatArr,
                  n: int) -> int:
    beta = prm[P_BETA]
    decay = prm[P_BN_DECAY]
    cdir = ci[c, CI_CDIR] if reg == _CASCADE else 0
    mu_b, mu_s = _split_rate(rp[RP_BN_RATE, reg], reg, cdir, prm[P_CSIDE])
    lam_b = mu_b + cf[c, CF_BE_B]
    lam_s = mu_s + cf[c, CF_BE_S]
    cf[c, CF_BE_B] *= decay
    cf[c, CF_BE_S] *= decay
    lam = lam_b + lam_s
    k = _poisson_small(rng, lam * 0.001, _MAX_BN_PER_MS)
    if k > 0:
        rpow10 = cp[c, CP_RPOW10]
        bid_k = math.floor(math.exp(cf[c, CF_X]) * rpow10)
        alpha = rp[RP_BRANCH, reg] * beta
        med = cp[c, CP_TAKER_LOTS] / cp[c, CP_LOTS] * cp[c, CP_RQMULT] * cp[c, CP_RLOTS]
        if reg == _CASCADE:
            med *= prm[P_CQMULT]
        for _ in range(k):
            side = 1 if rng.random() * lam < lam_b else -1
            q = max(1, int(round(med * math.exp(prm[P_QSIG] * rng.standard_normal()))))
            px = (bid_k + 1) / rpow10 if side > 0 else bid_k / rpow10
            ci[c, CI_BN_TID] += 1
            ci[c, CI_SEQ_BN] += 1
            n = _push(ev_i, ev_f, n, K_BN_TRADE, s, c, side, ci[c, CI_BN_TID], ci[c, CI_SEQ_BN],
                      px, q / cp[c, CP_RLOTS], 0.0, 0.0)
            _excite(cf, c, side, alpha, prm[P_CROSS], CF_BE_B, CF_BE_S)
    if s >= ci[c, CI_NEXT_REF]:
        rpow10 = cp[c, CP_RPOW10]
        bid_k = math.floor(math.exp(cf[c, CF_X]) * rpow10)
        bid = bid_k / rpow10
        ask = (bid_k + 1) / rpow10
        tq = cp[c, CP_DEPTH_LOTS] / cp[c, CP_LOTS] * cp[c, CP_TOUCH] * cp[c, CP_RQMULT] * cp[c, CP_RLOTS]
        qb = max(1, int(round(tq * math.exp(0.5 * rng.standard_normal())))) / cp[c, CP_RLOTS]
        qa = max(1, int(round(tq * math.exp(0.5 * rng.standard_normal())))) / cp[c, CP_RLOTS]
        ci[c, CI_SEQ_BN] += 1
        n = _push(ev_i, ev_f, n, K_BN_BBO, s, c, 0, 0, ci[c, CI_SEQ_BN], bid, qb, ask, qa)
        ci[c, CI_SEQ_BN] += 1
        n = _push(ev_i, ev_f, n, K_BN_REF, s, c, 0, 0, ci[c, CI_SEQ_BN], bid, 0.5 * (bid + ask), ask, 0.0)
        lo = int(prm[P_REF_MIN])
        span = int(prm[P_REF_MAX]) - lo + 1
        ci[c, CI_NEXT_REF] = s + lo + int(rng.random() * span)
    return n


@nb.njit(cache=True)
def _hl_block(rng: np.random.Generator, c: int, s: int, ci: _IntArr, cf: _FloatArr, cp: _FloatArr,
              prm: _FloatArr, rp: _FloatArr, bq: _IntArr, xh: _FloatArr, rh: _IntArr, dh: _IntArr,
              gs: _IntArr, ev_i: _IntArr, ev_f: _FloatArr, n: int, snap_px: _FloatArr,
              snap_qty: _FloatArr, snap_n: _IntArr, n_snap: int) -> tuple[int, int]:
    j = (s - int(prm[P_LAG])) & _MASK
    xl = xh[c, j]
    reg = rh[c, j]
    cdir = dh[c, j]
    dt_ms = s - ci[c, CI_LAST_BLOCK]
    ci[c, CI_LAST_BLOCK] = s
    # Hyperliquid's own deviation (OU, exact discretisation)
    phi = math.exp(-prm[P_U_KAPPA] * dt_ms)
    cf[c, CF_U] = cf[c, CF_U] * phi + prm[P_U_SD] * math.sqrt(max(0.0, 1.0 - phi * phi)) * rng.standard_normal()
    f = math.exp(xl + cf[c, CF_U]) * cp[c, CP_POW10]
    w = int(cp[c, CP_SPREAD])
    db = int(math.floor(f - 0.5 * w + 0.5))
    db = max(db, _L + 1)
    db = min(db, int(cp[c, CP_KMAX]) - _L - w)
    da = db + w

    # (1) background taker orders (Hawkes, integrated over the block)
    beta = prm[P_BETA]
    dt = dt_ms * 0.001
    decay = math.exp(-beta * dt)
    mu_b, mu_s = _split_rate(rp[RP_HL_RATE, reg], reg, cdir, prm[P_CSIDE])
    lam_b = mu_b * dt + cf[c, CF_HE_B] * (1.0 - decay) / beta
    lam_s = mu_s * dt + cf[c, CF_HE_S] * (1.0 - decay) / beta
    cf[c, CF_HE_B] *= decay
    cf[c, CF_HE_S] *= decay
    nbuy = rng.poisson(lam_b)
    nsell = rng.poisson(lam_s)
    maxord = int(prm[P_MAXORD])
    if nbuy + nsell > maxord:
        nbuy = int(round(maxord * nbuy / (nbuy + nsell)))
        nsell = maxord - nbuy
    alpha = rp[RP_BRANCH, reg] * beta
    cross = prm[P_CROSS]
    med = cp[c, CP_TAKER_LOTS]
    if reg == _CASCADE:
        med *= prm[P_CQMULT]
    qsig = prm[P_QSIG]
    while nbuy + nsell > 0:
        if rng.random() * (nbuy + nsell) < nbuy:
            side = 1
            nbuy -= 1
            lim = 1 << 62
        else:
            side = -1
            nsell -= 1
            lim = -1
        q = max(1, int(round(med * math.exp(qsig * rng.standard_normal()))))
        n, _filled = _sweep(rng, c, s, side, q, lim, reg, bq, ci, cp, rp, prm, gs, ev_i, ev_f, n)
        _excite(cf, c, side, alpha, cross, CF_HE_B, CF_HE_S)

    # (2) levels the fair price has passed: hit by an aggressive order, or cancelled
    for bs in range(2):
        if bs == 1:
            stale = ci[c, CI_BA] <= db
            side = 1
            lim = db
        else:
            stale = ci[c, CI_BB] >= da
            side = -1
            lim = da
        if not stale:
            continue
        if rng.random() < rp[RP_STALE, reg]:
            if reg == _CASCADE:  # the sweep: a share of everything the move left stale
                stale_lots = 0
                for i in range(_L):
                    k_i = ci[c, CI_BA] + i if bs == 1 else ci[c, CI_BB] - i
                    if (bs == 1 and k_i > lim) or (bs == 0 and k_i < lim):
                        break
                    stale_lots += bq[c, bs, i]
                frac = prm[P_SWEEP] * (0.5 + rng.random())
                q = max(1, int(round(stale_lots * frac)))
            else:
                q = max(1, int(round(med * prm[P_ARBMULT] * math.exp(qsig * rng.standard_normal()))))
            n, filled = _sweep(rng, c, s, side, q, lim, reg, bq, ci, cp, rp, prm, gs, ev_i, ev_f, n)
            if filled > 0:
                _excite(cf, c, side, alpha, cross, CF_HE_B, CF_HE_S)
        if bs == 1:
            k = db - ci[c, CI_BA] + 1
            if k >= _L:
                ci[c, CI_BA] = db + 1
                for i in range(_L):
                    bq[c, 1, i] = _fresh_lots(rng, c, i, reg, 1.0, cp, rp, prm)
            else:
                for _ in range(k):
                    _shift_out(rng, c, 1, reg, bq, ci, cp, rp, prm)
        else:
            k = ci[c, CI_BB] - da + 1
            if k >= _L:
                ci[c, CI_BB] = da - 1
                for i in range(_L):
                    bq[c, 0, i] = _fresh_lots(rng, c, i, reg, 1.0, cp, rp, prm)
            else:
                for _ in range(k):
                    _shift_out(rng, c, 0, reg, bq, ci, cp, rp, prm)

    # (3) makers re-post at the fair touch (never crossing: bb < db < da <= ba here)
    if ci[c, CI_BB] < db and ci[c, CI_BA] > db and rng.random() < rp[RP_REFILL, reg]:
        _insert_front(rng, c, 0, db - ci[c, CI_BB], reg, bq, ci, cp, rp, prm)
    if ci[c, CI_BA] > da and ci[c, CI_BB] < da and rng.random() < rp[RP_REFILL, reg]:
        _insert_front(rng, c, 1, ci[c, CI_BA] - da, reg, bq, ci, cp, rp, prm)

    # (4) size revisions toward the regime's depth profile
    pupd = prm[P_LUPD]
    kap = prm[P_DREV]
    dsig = prm[P_DSIG]
    if pupd > 0.0:
        for bs in range(2):
            for i in range(_L):
                if rng.random() < pupd:
                    tgt = _target_lots(c, i, reg, cp, rp)
                    lq = (1.0 - kap) * math.log(bq[c, bs, i]) + kap * math.log(max(tgt, 1.0))
                    bq[c, bs, i] = max(1, int(round(math.exp(lq + dsig * rng.standard_normal()))))

    # publication
    bb = ci[c, CI_BB]
    ba = ci[c, CI_BA]
    qb = bq[c, 0, 0]
    qa = bq[c, 1, 0]
    pow10 = cp[c, CP_POW10]
    lots = cp[c, CP_LOTS]
    if bb != ci[c, CI_LAST_BB] or ba != ci[c, CI_LAST_BA] or qb != ci[c, CI_LAST_QB] or qa != ci[c, CI_LAST_QA]:
        ci[c, CI_LAST_BB] = bb
        ci[c, CI_LAST_BA] = ba
        ci[c, CI_LAST_QB] = qb
        ci[c, CI_LAST_QA] = qa
        ci[c, CI_SEQ_HL] += 1
        n = _push(ev_i, ev_f, n, K_HL_BBO, s, c, 0, 0, ci[c, CI_SEQ_HL],
                  bb / pow10, qb / lots, ba / pow10, qa / lots)
    if s - ci[c, CI_LAST_SNAP] >= prm[P_SNAP_MS]:
        ci[c, CI_LAST_SNAP] = s
        levels = int(prm[P_LEVELS])
        for i in range(levels):
            snap_px[n_snap, 0, i] = (bb - i) / pow10
            snap_qty[n_snap, 0, i] = bq[c, 0, i] / lots
            snap_px[n_snap, 1, i] = (ba + i) / pow10
            snap_qty[n_snap, 1, i] = bq[c, 1, i] / lots
        snap_n[n_snap] = levels
        ci[c, CI_SEQ_HL] += 1
        n = _push(ev_i, ev_f, n, K_HL_BOOK, s, c, 0, n_snap, ci[c, CI_SEQ_HL], 0.0, 0.0, 0.0, 0.0)
        n_snap += 1
    return n, n_snap


@nb.njit(cache=True)
def _run_chunk(s_end: int, rng: np.random.Generator, prm: _FloatArr, rp: _FloatArr, trc: _FloatArr,
               cp: _FloatArr, gs: _IntArr, ci: _IntArr, cf: _FloatArr, bq: _IntArr, xh: _FloatArr,
               rh: _IntArr, dh: _IntArr, ev_i: _IntArr, ev_f: _FloatArr, margin: int,
               snap_px: _FloatArr, snap_qty: _FloatArr, snap_n: _IntArr, reg_lab: _IntArr,
               cas_lab: _FloatArr) -> tuple[int, int, int, int]:
    """Simulate ms steps from gs[G_STEP] up to ``s_end`` (or until a buffer is nearly full).
    Returns (events, snapshots, regime labels, cascade labels) written."""
    nc = cp.shape[0]
    n = 0
    n_snap = 0
    n_reg = 0
    n_cas = 0
    cap = ev_i.shape[1]
    s = gs[G_STEP]
    sr = prm[P_SQRT_RHO]
    s1 = prm[P_SQRT_1MRHO]
    while s < s_end:
        if (cap - n < margin or n_snap + nc > snap_px.shape[0] or n_reg + nc > reg_lab.shape[0]
                or n_cas + nc > cas_lab.shape[0]):
            break
        zc = rng.standard_normal()
        for c in range(nc):
            if s >= ci[c, CI_NEXT_SWITCH]:
                n_reg, n_cas = _switch_regime(rng, c, s, ci, cf, cp, prm, rp, trc, reg_lab, n_reg,
                                              cas_lab, n_cas)
            reg = ci[c, CI_REGIME]
            vol = rp[RP_VOL, reg] * cp[c, CP_VOLM]
            x = cf[c, CF_X] + cf[c, CF_DRIFT] + vol * (sr * zc + s1 * rng.standard_normal())
            if x > cp[c, CP_XHI]:
                x = 2.0 * cp[c, CP_XHI] - x
            elif x < cp[c, CP_XLO]:
                x = 2.0 * cp[c, CP_XLO] - x
            cf[c, CF_X] = x
            jj = s & _MASK
            xh[c, jj] = x
            rh[c, jj] = reg
            dh[c, jj] = ci[c, CI_CDIR] if reg == _CASCADE else 0
            n = _binance_step(rng, c, s, reg, ci, cf, cp, prm, rp, ev_i, ev_f, n)
        if s >= gs[G_NEXT_BLOCK]:
            for c in range(nc):
                n, n_snap = _hl_block(rng, c, s, ci, cf, cp, prm, rp, bq, xh, rh, dh, gs, ev_i, ev_f, n,
                                      snap_px, snap_qty, snap_n, n_snap)
            jit = prm[P_BLOCK_JIT]
            gap = prm[P_BLOCK_MS] * (1.0 + jit * (2.0 * rng.random() - 1.0))
            gs[G_NEXT_BLOCK] = s + max(1, int(round(gap)))
        s += 1
    gs[G_STEP] = s
    return n, n_snap, n_reg, n_cas


# --------------------------------------------------------------------------- Python side


def _coin_list(coins: Mapping[str, CoinSpec] | Sequence[str | CoinSpec] | None) -> list[CoinSpec]:
    if coins is None:
        return [DEFAULT_COINS["BTC"], DEFAULT_COINS["ETH"]]
    out: list[CoinSpec] = []
    if isinstance(coins, Mapping):
        for name, spec in coins.items():
            if not isinstance(spec, CoinSpec):
                raise TypeError(f"coins[{name!r}] must be a CoinSpec")
            out.append(spec if spec.name == name else msgspec.structs.replace(spec, name=name))
    else:
        for item in coins:
            if isinstance(item, CoinSpec):
                out.append(item)
            elif isinstance(item, str):
                if item not in DEFAULT_COINS:
                    raise ValueError(f"coins: unknown coin {item!r}; built-in: {sorted(DEFAULT_COINS)}")
                out.append(DEFAULT_COINS[item])
            else:
                raise TypeError("coins entries must be coin names or CoinSpec")
    if not out:
        raise ValueError("coins must name at least one coin")
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ValueError(f"coins: duplicate names in {names}")
    return out


def _coin_params(spec: CoinSpec) -> list[float]:
    tick = hl_tick_px(spec.px, spec.sz_decimals)
    dp = hl_px_decimals(tick)
    pow10 = float(10**dp)
    lots = float(10**spec.sz_decimals)
    if tick < 1.0:
        # above 10**(log10(tick) + 5) Hyperliquid's tick becomes 10x coarser: stay below
        kmax = 10**5 - 1  # in ticks: the price 10**5 ticks is where the tick grows
    else:
        kmax = 2**53
    k_hi = kmax - 4 * _L
    if tick < 1.0 and spec.px * pow10 > k_hi:
        raise ValueError(
            f"coin {spec.name}: px {spec.px!r} is within {4 * _L} ticks of {(kmax + 1) / pow10!r}, "
            "where Hyperliquid's tick changes; pick a start price further away"
        )
    x_hi = math.log(k_hi / pow10) if tick < 1.0 else math.log(spec.px * 1000.0)
    x_lo = math.log(max(spec.px / 20.0, (_L + 100) * tick))
    ref_pow10 = float(10 ** max(0, round(-math.log10(spec.ref_tick_px))))
    out = [0.0] * _N_CP
    out[CP_VOLM] = spec.vol_mult
    out[CP_POW10] = pow10
    out[CP_LOTS] = lots
    out[CP_TAKER_LOTS] = spec.taker_qty_median * lots
    out[CP_DEPTH_LOTS] = spec.depth_qty * lots
    out[CP_TOUCH] = spec.touch_depth_mult
    out[CP_SLOPE] = spec.depth_slope
    out[CP_SPREAD] = float(spec.spread_ticks)
    out[CP_RPOW10] = ref_pow10
    out[CP_RLOTS] = float(10**spec.ref_sz_decimals)
    out[CP_RQMULT] = spec.ref_qty_mult
    out[CP_XLO] = x_lo
    out[CP_XHI] = x_hi
    out[CP_KMAX] = float(kmax)
    return out


class _Run:
    """Mutable state of one events() run (arrays the compiled core works on)."""

    def __init__(self, gen: MarketGenerator, start_ts_ns: int, end_step: int) -> None:
        cfg = gen.config
        nc = len(gen.coins)
        self.start_ts_ns = start_ts_ns
        self.end_step = end_step
        self.rng = np.random.default_rng(gen.seed)
        self.G = np.zeros(_N_G, dtype=np.int64)
        self.CI = np.zeros((nc, _N_CI), dtype=np.int64)
        self.CF = np.zeros((nc, _N_CF), dtype=np.float64)
        self.BQ = np.zeros((nc, 2, _L), dtype=np.int64)
        self.XH = np.zeros((nc, _RING), dtype=np.float64)
        self.RH = np.full((nc, _RING), cfg.initial_regime, dtype=np.int64)
        self.DH = np.zeros((nc, _RING), dtype=np.int64)
        prm, rp, cp = gen._P, gen._RP, gen._CP
        for c in range(nc):
            x0 = math.log(gen.coins[c].px)
            self.CF[c, CF_X] = x0
            self.XH[c, :] = x0
            self.CI[c, CI_REGIME] = cfg.initial_regime
            self.CI[c, CI_REG_START] = 0
            dwell = rp[RP_DWELL_MS, cfg.initial_regime]
            self.CI[c, CI_NEXT_SWITCH] = max(1, round(self.rng.exponential(dwell)))
            self.CI[c, CI_LAST_SNAP] = -(1 << 40)
            self.CI[c, CI_LAST_BB] = -1
            f = gen.coins[c].px * cp[c, CP_POW10]
            w = gen.coins[c].spread_ticks
            db = math.floor(f - 0.5 * w + 0.5)
            self.CI[c, CI_BB] = db
            self.CI[c, CI_BA] = db + w
            for bs in range(2):
                for i in range(_L):
                    tgt = cp[c, CP_DEPTH_LOTS] * (
                        cp[c, CP_TOUCH] if i == 0 else 1.0 + cp[c, CP_SLOPE] * i
                    ) * rp[RP_DEPTH, cfg.initial_regime]
                    q = tgt * math.exp(prm[P_DSIG] * self.rng.standard_normal())
                    self.BQ[c, bs, i] = max(1, round(q))
        worst_block = (cfg.max_orders_per_block + 2) * _L * _MAX_FILLS_PER_LEVEL + 2
        self.margin = nc * (worst_block + _MAX_BN_PER_MS + 2) + 16
        cap = self.margin + max(8192, 64 * nc * cfg.chunk_ms // 100)
        self.ev_i = np.zeros((_N_EI, cap), dtype=np.int64)
        self.ev_f = np.zeros((4, cap), dtype=np.float64)
        n_snap_cap = (cfg.chunk_ms // cfg.snapshot_interval_ms + 2) * nc
        self.snap_px = np.zeros((n_snap_cap, 2, cfg.book_levels), dtype=np.float64)
        self.snap_qty = np.zeros((n_snap_cap, 2, cfg.book_levels), dtype=np.float64)
        self.snap_n = np.zeros(n_snap_cap, dtype=np.int64)
        self.reg_lab = np.zeros((4096, 4), dtype=np.int64)
        self.cas_lab = np.zeros((4096, 5), dtype=np.float64)
        self.regimes: list[RegimeInterval] = []
        self.cascades: list[CascadeLabel] = []
        self.done = False


class MarketGenerator:
    """A seeded synthetic market for N coins on Hyperliquid and Binance (see module doc).

    ``coins``: a mapping name -> :class:`CoinSpec`, or a list of built-in coin names
    (``BTC``, ``ETH``, ``SOL``, ``WLFI``) and/or CoinSpecs; a coin's ``symbol_id`` is its
    position. Every :meth:`events` run restarts from ``seed``: same seed and arguments, same
    stream. :attr:`labels` describes the latest run.
    """

    def __init__(
        self,
        config: GeneratorConfig | None = None,
        coins: Mapping[str, CoinSpec] | Sequence[str | CoinSpec] | None = None,
        seed: int = 0,
    ) -> None:
        self.config = config if config is not None else GeneratorConfig()
        self.coins: list[CoinSpec] = _coin_list(coins)
        if not isinstance(seed, int) or seed < 0:
            raise ValueError("seed must be a non-negative int")
        self.seed = seed
        cfg = self.config
        self._CP = np.array([_coin_params(c) for c in self.coins], dtype=np.float64)
        prm = np.zeros(_N_P, dtype=np.float64)
        prm[P_LAG] = cfg.lead_lag_ms
        prm[P_BLOCK_MS] = cfg.block_ms
        prm[P_BLOCK_JIT] = cfg.block_jitter_frac
        prm[P_SNAP_MS] = cfg.snapshot_interval_ms
        prm[P_LEVELS] = cfg.book_levels
        prm[P_REF_MIN] = cfg.ref_interval_ms_min
        prm[P_REF_MAX] = cfg.ref_interval_ms_max
        prm[P_SQRT_RHO] = math.sqrt(cfg.cross_coin_corr)
        prm[P_SQRT_1MRHO] = math.sqrt(1.0 - cfg.cross_coin_corr)
        prm[P_U_KAPPA] = math.log(2.0) / cfg.hl_noise_half_life_ms
        prm[P_U_SD] = cfg.hl_noise_bps * 1e-4
        prm[P_BETA] = cfg.hawkes_decay_hz
        prm[P_CROSS] = cfg.hawkes_cross_frac
        prm[P_CSIDE] = cfg.cascade_side_frac
        prm[P_QSIG] = cfg.taker_qty_sigma
        prm[P_CQMULT] = cfg.cascade_qty_mult
        prm[P_MAXORD] = cfg.max_orders_per_block
        prm[P_ARBMULT] = cfg.arb_qty_mult
        prm[P_LUPD] = cfg.level_update_prob
        prm[P_DREV] = cfg.depth_reversion
        prm[P_DSIG] = cfg.depth_noise_sigma
        prm[P_FRESH] = cfg.fresh_level_frac
        prm[P_SPLIT] = cfg.fill_split_mean
        prm[P_CMIN_MS] = cfg.cascade_min_s * 1000.0
        prm[P_CMAX_MS] = cfg.cascade_max_s * 1000.0
        prm[P_MOVE_MIN] = cfg.cascade_move_bps_min
        prm[P_MOVE_MAX] = cfg.cascade_move_bps_max
        prm[P_UP] = cfg.cascade_up_prob
        prm[P_BN_DECAY] = math.exp(-cfg.hawkes_decay_hz * 0.001)
        prm[P_SWEEP] = cfg.cascade_sweep_frac
        self._P = prm
        rp = np.zeros((_N_RP, 4), dtype=np.float64)
        rp[RP_VOL] = np.asarray(cfg.latent_vol_bps) * 1e-4 / math.sqrt(1000.0)
        rp[RP_HL_RATE] = cfg.hl_taker_rate_hz
        rp[RP_BN_RATE] = cfg.ref_taker_rate_hz
        rp[RP_BRANCH] = cfg.hawkes_branching
        rp[RP_STALE] = cfg.stale_take_prob
        rp[RP_REFILL] = cfg.refill_prob
        rp[RP_DEPTH] = cfg.depth_mult
        rp[RP_DWELL_MS, :3] = np.asarray(cfg.mean_dwell_s) * 1000.0
        rp[RP_DWELL_MS, 3] = 0.5 * (cfg.cascade_min_s + cfg.cascade_max_s) * 1000.0
        self._RP = rp
        trc = np.cumsum(np.asarray(cfg.transitions, dtype=np.float64), axis=1)
        trc[:, -1] = np.maximum(trc[:, -1], 1.0 + 1e-12)
        self._TRC = trc
        self._run: _Run | None = None

    @property
    def symbol_ids(self) -> dict[str, int]:
        """Coin name -> symbol_id used in every event."""
        return {c.name: i for i, c in enumerate(self.coins)}

    @property
    def tick_px(self) -> dict[str, float]:
        """Coin name -> Hyperliquid tick at the start price."""
        return {c.name: hl_tick_px(c.px, c.sz_decimals) for c in self.coins}

    def events(self, start_ts_ns: int, duration_s: float) -> Iterator[MarketEvent]:
        """Stream ``duration_s`` seconds of events from ``start_ts_ns``, in ts_ns order."""
        if not isinstance(start_ts_ns, int) or start_ts_ns < 0:
            raise ValueError("start_ts_ns must be a non-negative int")
        if not (math.isfinite(duration_s) and duration_s > 0.0):
            raise ValueError("duration_s must be finite and > 0")
        end_step = max(1, round(duration_s * 1000.0))
        run = _Run(self, start_ts_ns, end_step)
        self._run = run
        return self._stream(run)

    def generate(self, start_ts_ns: int, duration_s: float) -> tuple[list[MarketEvent], GroundTruth]:
        """All events of a run in a list, and its labels (for tests and small studies)."""
        evs = list(self.events(start_ts_ns, duration_s))
        return evs, self.labels

    @property
    def labels(self) -> GroundTruth:
        """Labels of the latest run; before it is exhausted, intervals still open are cut at
        the generation frontier and ``complete`` is False."""
        run = self._run
        if run is None:
            raise RuntimeError("no run yet: call events() first")
        frontier = int(run.G[G_STEP])
        regimes = list(run.regimes)
        cascades = list(run.cascades)
        if frontier > 0:
            for c in range(len(self.coins)):
                start = int(run.CI[c, CI_REG_START])
                if start >= frontier:
                    continue
                reg = int(run.CI[c, CI_REGIME])
                regimes.append(self._regime_label(run, c, reg, start, frontier))
                if reg == _CASCADE:
                    cascades.append(self._cascade_label(
                        run, c, int(run.CI[c, CI_CDIR]), start, frontier, float(run.CF[c, CF_MOVE]), True
                    ))
        regimes.sort(key=lambda r: (r.symbol_id, r.start_ts_ns))
        cascades.sort(key=lambda r: (r.start_ts_ns, r.symbol_id))
        return GroundTruth(
            seed=self.seed,
            start_ts_ns=run.start_ts_ns,
            end_ts_ns=run.start_ts_ns + frontier * 1_000_000,
            lead_lag_ms=self.config.lead_lag_ms,
            coins=[c.name for c in self.coins],
            regimes=regimes,
            cascades=cascades,
            config=self.config,
            coin_specs=list(self.coins),
            complete=run.done,
        )

    # ------------------------------------------------------------------ internals

    def _regime_label(self, run: _Run, c: int, reg: int, start: int, end: int) -> RegimeInterval:
        lag_ns = self.config.lead_lag_ms * 1_000_000
        t0 = run.start_ts_ns + start * 1_000_000
        t1 = run.start_ts_ns + end * 1_000_000
        return RegimeInterval(coin=self.coins[c].name, symbol_id=c, regime=reg, start_ts_ns=t0,
                              end_ts_ns=t1, hl_start_ts_ns=t0 + lag_ns, hl_end_ts_ns=t1 + lag_ns)

    def _cascade_label(self, run: _Run, c: int, direction: int, start: int, end: int, move: float,
                       truncated: bool) -> CascadeLabel:
        lag_ns = self.config.lead_lag_ms * 1_000_000
        t0 = run.start_ts_ns + start * 1_000_000
        t1 = run.start_ts_ns + end * 1_000_000
        return CascadeLabel(coin=self.coins[c].name, symbol_id=c, direction=direction, start_ts_ns=t0,
                            end_ts_ns=t1, hl_start_ts_ns=t0 + lag_ns, hl_end_ts_ns=t1 + lag_ns,
                            move_bps=move, truncated=truncated)

    def _stream(self, run: _Run) -> Iterator[MarketEvent]:
        chunk = self.config.chunk_ms
        start = run.start_ts_ns
        epoch = self.config.remote_epoch_ms
        hl = int(Venue.HYPERLIQUID)
        bn = int(Venue.BINANCE)
        while int(run.G[G_STEP]) < run.end_step:
            s_end = min(run.end_step, int(run.G[G_STEP]) + chunk)
            n, n_snap, n_reg, n_cas = _run_chunk(
                s_end, run.rng, self._P, self._RP, self._TRC, self._CP, run.G, run.CI, run.CF,
                run.BQ, run.XH, run.RH, run.DH, run.ev_i, run.ev_f, run.margin, run.snap_px,
                run.snap_qty, run.snap_n, run.reg_lab, run.cas_lab,
            )
            for row in run.reg_lab[:n_reg].tolist():
                run.regimes.append(self._regime_label(run, row[0], row[1], row[2], row[3]))
            for crow in run.cas_lab[:n_cas].tolist():
                run.cascades.append(self._cascade_label(
                    run, int(crow[0]), int(crow[1]), int(crow[2]), int(crow[3]), crow[4], False
                ))
            if n == 0:
                continue
            ev_i = run.ev_i[:, :n]
            kinds = ev_i[EI_KIND].tolist()
            steps = ev_i[EI_STEP]
            ts = (steps * 1_000_000 + start).tolist()
            rts = (steps + epoch).tolist()
            coins = ev_i[EI_COIN].tolist()
            sides = ev_i[EI_SIDE].tolist()
            ids = ev_i[EI_ID].tolist()
            seqs = ev_i[EI_SEQ].tolist()
            f0 = run.ev_f[0, :n].tolist()
            f1 = run.ev_f[1, :n].tolist()
            f2 = run.ev_f[2, :n].tolist()
            f3 = run.ev_f[3, :n].tolist()
            snaps = [
                (run.snap_px[i, 0, :k].tolist(), run.snap_qty[i, 0, :k].tolist(),
                 run.snap_px[i, 1, :k].tolist(), run.snap_qty[i, 1, :k].tolist())
                for i, k in enumerate(run.snap_n[:n_snap].tolist())
            ]
            for i in range(n):
                k = kinds[i]
                if k == K_BN_TRADE:
                    yield Trade(bn, coins[i], ts[i], rts[i], seqs[i], f0[i], f1[i], sides[i], ids[i])
                elif k == K_HL_TRADE:
                    yield Trade(hl, coins[i], ts[i], rts[i], seqs[i], f0[i], f1[i], sides[i], ids[i])
                elif k == K_BN_REF:
                    yield RefPrice(bn, coins[i], ts[i], rts[i], seqs[i], f0[i], f2[i], f1[i])
                elif k == K_BN_BBO:
                    yield Bbo(bn, coins[i], ts[i], rts[i], seqs[i], f0[i], f1[i], f2[i], f3[i])
                elif k == K_HL_BBO:
                    yield Bbo(hl, coins[i], ts[i], rts[i], seqs[i], f0[i], f1[i], f2[i], f3[i])
                else:
                    bp, bq, ap, aq = snaps[ids[i]]
                    yield BookSnapshot(hl, coins[i], ts[i], rts[i], seqs[i], bp, bq, ap, aq)
        run.done = True
        # close the intervals still open at the end of the run
        end = run.end_step
        for c in range(len(self.coins)):
            reg = int(run.CI[c, CI_REGIME])
            start_step = int(run.CI[c, CI_REG_START])
            if start_step < end:
                run.regimes.append(self._regime_label(run, c, reg, start_step, end))
                if reg == _CASCADE:
                    run.cascades.append(self._cascade_label(
                        run, c, int(run.CI[c, CI_CDIR]), start_step, end, float(run.CF[c, CF_MOVE]), True
                    ))
            run.CI[c, CI_REG_START] = end


def regime_at(labels: GroundTruth, symbol_id: int, ts_ns: int, *, venue: int = Venue.BINANCE) -> int:
    """The labelled regime of a coin at ``ts_ns`` on ``venue`` (Hyperliquid sees it lagged);
    -1 outside the run."""
    for r in labels.regimes:
        if r.symbol_id != symbol_id:
            continue
        t0, t1 = (r.hl_start_ts_ns, r.hl_end_ts_ns) if venue == Venue.HYPERLIQUID else (r.start_ts_ns, r.end_ts_ns)
        if t0 <= ts_ns < t1:
            return r.regime
    return -1

