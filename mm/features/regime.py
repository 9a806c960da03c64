"""The market regime filter: a 4-state HMM (Quiet, Normal, Volatile, Cascade), filtered online.

Owns ``StateSnapshot.regime`` and ``regime_probs``.

Model. One observation vector per interval (``RegimeConfig.interval_ms``)::

    y0 = ln(|ln(mid_end / mid_start)| * 1e4 + return_floor_bps)   # size of the move, bps
    y1 = ln(1 + trades in the interval)                            # trade intensity
    y2 = ln(|Σ OFI e_n in the interval| / touch depth + ofi_floor) # order-flow pressure

Emissions are diagonal Gaussians N(mu_k, diag(var_k)) per state k. The transition matrix
is sticky: ``A[k, k] = stay_prob[k]``; the rest of row k goes to the other states with
weight ``jump_decay^(|k - j| - 1)`` (neighbours first). With the default 0.05 a Quiet market
reaches Cascade through Volatile: one busy 500 ms interval (the real 2025-09-04 ETH tape
has 2 bps moves of 8 trades in one interval out of a Quiet book) is not a cascade, while a
sustained one is (it costs one or two intervals more).

Forward filtering, per interval: ``pred = p A``; ``post_k ∝ pred_k N(y; mu_k, var_k)``
(log-likelihoods shifted by their max before ``exp``, so no underflow); each probability
is floored at ``prob_floor`` and the vector renormalised, so it always sums to 1, is
finite, and no state becomes unreachable. A non-finite observation is skipped.

Online emission learning: exponentially weighted sufficient statistics per state,
``W_k = λ W_k + post_k``, ``S1_k = λ S1_k + post_k y``, ``S2_k = λ S2_k + post_k y²``
(λ from ``emission_half_life_s``), combined with the prior as ``prior_weight``
pseudo-observations: ``mu_k = (S1_k + w0 m0_k) / (W_k + w0)``,
``var_k = (S2_k + w0 (v0_k + m0_k²)) / (W_k + w0) - mu_k²``. Guards against collapse:
the prior never decays (a state with no data returns to its prior), ``var_k >= min_sd²``,
and means of y0 and y1 stay ordered Quiet < Normal < Volatile < Cascade by at least
``min_separation`` (so a state keeps its meaning). Observations are clipped to ±50 (far outside any real
value) so that no input can overflow the statistics.

The step is one numba kernel (4 states x 3 observations).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mm.features.config import N_REGIME_OBS, N_REGIMES, RegimeConfig
from mm.schema import Regime

_LOG_2PI = math.log(2.0 * math.pi)
_REGIMES = tuple(Regime)
# observations are logs of bps, counts and depth ratios (|y| < 20 in any real market);
# clipping keeps y² and the likelihoods finite whatever arrives
_Y_CLIP = 50.0


def _clip_obs(v: float) -> float:
    """Clip a finite observation to ±_Y_CLIP; NaN and inf pass through (the step skips them)."""
    if math.isfinite(v):
        return max(-_Y_CLIP, min(_Y_CLIP, v))
    return v


@njit(cache=True)
def _hmm_step(  # type: ignore[no-untyped-def]
    probs, trans, y, w, s1, s2, prior_mean, prior_var, mean, var, params, learn
):
    """One forward-filter step (and emission update when learn). params =
    [decay, prior_weight, min_var, min_sep, prob_floor]. Returns False if y was skipped."""
    n = probs.shape[0]
    nd = y.shape[0]
    for d in range(nd):
        if not np.isfinite(y[d]):
            return False
    decay = params[0]
    pw = params[1]
    min_var = params[2]
    min_sep = params[3]
    floor = params[4]
    pred = np.zeros(n)
    for i in range(n):
        for j in range(n):
            pred[j] += probs[i] * trans[i, j]
    ll = np.zeros(n)
    top = -np.inf
    for k in range(n):
        acc = 0.0
        for d in range(nd):
            z = y[d] - mean[k, d]
            acc -= 0.5 * (z * z / var[k, d] + np.log(var[k, d]) + _LOG_2PI)
        ll[k] = acc
        if acc > top:
            top = acc
    post = np.zeros(n)
    tot = 0.0
    for k in range(n):
        post[k] = pred[k] * np.exp(ll[k] - top)
        tot += post[k]
    if not (tot > 0.0 and np.isfinite(tot)):
        for k in range(n):
            post[k] = pred[k]
        tot = 0.0
        for k in range(n):
            tot += post[k]
    tot2 = 0.0
    for k in range(n):
        post[k] = max(post[k] / tot, floor)
        tot2 += post[k]
    for k in range(n):
        probs[k] = post[k] / tot2
    if learn:
        for k in range(n):
            w[k] = decay * w[k] + probs[k]
            for d in range(nd):
                s1[k, d] = decay * s1[k, d] + probs[k] * y[d]
                s2[k, d] = decay * s2[k, d] + probs[k] * y[d] * y[d]
        for k in range(n):
            den = w[k] + pw
            for d in range(nd):
                m = (s1[k, d] + pw * prior_mean[k, d]) / den
                ex2 = (s2[k, d] + pw * (prior_var[k, d] + prior_mean[k, d] ** 2)) / den
                mean[k, d] = m
                var[k, d] = max(ex2 - m * m, min_var)
        for k in range(1, n):
            for d in range(2):
                lo = mean[k - 1, d] + min_sep
                if mean[k, d] < lo:
                    mean[k, d] = lo
    return True


class RegimeFilter:
    """Online forward filter of the 4-state regime HMM. See the module docstring."""

    __slots__ = (
        "_learn",
        "_mean",
        "_ofi_floor",
        "_params",
        "_prior_mean",
        "_prior_var",
        "_r_floor",
        "_s1",
        "_s2",
        "_trans",
        "_var",
        "_w",
        "_y",
        "n_skipped",
        "n_steps",
        "probs",
        "regime",
    )

    def __init__(self, cfg: RegimeConfig) -> None:
        n = N_REGIMES
        trans = np.zeros((n, n))
        for i in range(n):
            w = [cfg.jump_decay ** (abs(i - j) - 1) if j != i else 0.0 for j in range(n)]
            tot = sum(w)
            for j in range(n):
                trans[i, j] = cfg.stay_prob[i] if i == j else (1.0 - cfg.stay_prob[i]) * w[j] / tot
        self._trans = trans
        self._prior_mean = np.array(cfg.prior_means, dtype=np.float64)
        self._prior_var = np.array(cfg.prior_sd, dtype=np.float64) ** 2
        self._mean = self._prior_mean.copy()
        self._var = np.maximum(self._prior_var, cfg.min_sd**2)
        self._w = np.zeros(n)
        self._s1 = np.zeros((n, N_REGIME_OBS))
        self._s2 = np.zeros((n, N_REGIME_OBS))
        decay = 0.5 ** ((cfg.interval_ms / 1000.0) / cfg.emission_half_life_s)
        self._params = np.array(
            [decay, cfg.prior_weight, cfg.min_sd**2, cfg.min_separation, cfg.prob_floor]
        )
        self._learn = cfg.learn
        self._r_floor = cfg.return_floor_bps
        self._ofi_floor = cfg.ofi_floor
        self._y = np.zeros(N_REGIME_OBS)
        self.probs = np.array(cfg.initial_probs, dtype=np.float64)
        self.n_steps = 0
        self.n_skipped = 0
        self.regime: Regime = self._argmax()
        """The most probable state (ties go to the calmer state)."""

    def observation(self, abs_return_bps: float, n_trades: int, ofi_over_depth: float) -> tuple[float, float, float]:
        """The transformed observation (y0, y1, y2) of one interval."""
        return (
            math.log(abs(abs_return_bps) + self._r_floor),
            math.log1p(max(n_trades, 0)),
            math.log(abs(ofi_over_depth) + self._ofi_floor),
        )

    def update(self, y0: float, y1: float, y2: float) -> bool:
        """One filter step on an observation; False (and counted) if it was not finite."""
        y = self._y
        y[0] = _clip_obs(y0)
        y[1] = _clip_obs(y1)
        y[2] = _clip_obs(y2)
        ok = bool(
            _hmm_step(
                self.probs, self._trans, y, self._w, self._s1, self._s2, self._prior_mean,
                self._prior_var, self._mean, self._var, self._params, self._learn,
            )
        )
        if ok:
            self.n_steps += 1
            self.regime = self._argmax()
        else:
            self.n_skipped += 1
        return ok

    def step_interval(self, abs_return_bps: float, n_trades: int, ofi_over_depth: float) -> bool:
        return self.update(*self.observation(abs_return_bps, n_trades, ofi_over_depth))

    def _argmax(self) -> Regime:
        p = self.probs.tolist()
        best = 0
        for k in range(1, len(p)):
            if p[k] > p[best]:
                best = k
        return _REGIMES[best]

    def probs_list(self) -> list[float]:
        return self.probs.tolist()  # type: ignore[no-any-return]

    def means(self) -> list[list[float]]:
        """Current emission means per state (for diagnostics)."""
        return [[float(v) for v in row] for row in self._mean]

    def sds(self) -> list[list[float]]:
        return [[math.sqrt(float(v)) for v in row] for row in self._var]
