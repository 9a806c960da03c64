"""Offline fitting and out-of-sample evaluation of the microstructure models (issue 5 item 10).

What this module owns: the estimators (pure numpy, no scipy) and the evaluation figures
that ``mmctl train`` prints; :mod:`mm.cli.train` runs them on data from
:mod:`mm.models.datasets` and :mod:`mm.models.training_labels`. Pure: arrays in, fitted
parameters and numbers out.

Estimators
----------
- Ridge regression (queue value): columns standardised on the training rows, target
  winsorised at its 1st/99th training percentiles (realized edges are heavy tailed),
  ``min ||y - b0 - Zw||^2 + lam ||w||^2`` in closed form; ``lam`` chosen from a grid on a
  time-ordered hold-out (the last ``val_frac`` of the training rows), then refitted on all
  of them. Coefficients are mapped back to raw feature units.
- Poisson regression by Newton's method (fill survival): ``max sum y_i eta_i - e_i exp(eta_i)
  - lam/2 ||beta_features||^2`` with exposures ``e_i``; the piecewise-exponential survival
  likelihood is exactly this after splitting each episode into its time intervals (one row
  per interval it reached: exposure = time spent in it, y = 1 in the interval where the
  event happened). Steps are halved until the objective increases (it is concave).
- Logistic regression with non-negative weights (toxicity; the classifier's file demands
  w >= 0, each feature being oriented towards toxicity): Newton on the free weights inside
  an active-set loop (a weight that goes negative is fixed at 0; a fixed weight whose
  gradient says it should grow is freed), L2 penalty ``lam``.
- Lead-lag pass-through: least squares through the origin of our mid's move over the
  horizon on the divergence, on the updates where the detector's alarm was up.

Evaluation: everything on the test split (the later part of the data in time), with the
metrics of :mod:`mm.models.calibration`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from mm.alpha.engine import AlphaEngine
from mm.alpha.leadlag import LeadLagConfig, LeadLagParams
from mm.features.config import ToxicityConfig
from mm.features.engine import FeatureEngine
from mm.features.leadlag_hy import LeadLagResult, hy_lead_lag, lag_grid_ms
from mm.models.calibration import (
    binary_metrics,
    information_ratio,
    mutual_information_bits,
    reliability_png,
    reliability_table,
)
from mm.models.direction import DIRECTION_FEATURES, DirectionModel, DirectionParams
from mm.models.fill_survival import (
    FILL_FEATURES,
    STANDARD_HORIZONS_S,
    BaselineParams,
    FillSurvivalModel,
    FillSurvivalParams,
    SymmetricFillBaseline,
    competing_fill_prob,
    fill_features,
)
from mm.models.queue_value import N_QV_FEATURES as N_QV
from mm.models.queue_value import (
    QV_FEATURES,
    HeuristicQueueValue,
    HeuristicQueueValueConfig,
    QueueValueModel,
    QueueValueParams,
    delta_bps,
    maker_fee_bps,
    qv_features,
)
from mm.models.toxicity import N_FEATURES as N_TOX
from mm.models.toxicity import TOXICITY_FEATURES, ToxicityModel, prior_model
from mm.models.training_labels import (
    ESCAPED,
    FILLED,
    OUTAGE,
    OUTCOME_NAMES,
    LabelConfig,
    ReplayResult,
    in_outage,
    markout_edges,
    mid_at,
    replay,
    toxicity_labels,
)
from mm.schema import RefPrice, Regime, StateSnapshot, Toxicity, Venue
from mm.venues.sim.fees import MAKER_REBATE_TIERS
from mm.venues.sim.generator import GroundTruth, regime_at

FloatArr = npt.NDArray[np.float64]
BoolArr = npt.NDArray[np.bool_]


class FitConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Hyperparameters of the fits (``mmctl train`` uses the defaults).

    Fields:
        ridge_lams: L2 grid for the queue-value ridge (standardised units, per row).
        val_frac: share of the training rows (the latest) held out to choose ``lam``.
        winsor_pct: percentile at each tail where the edge target is clipped.
        survival_lam: L2 of the hazard regressions (standardised units).
        survival_edges_s: hazard interval starts (s); the last interval is open-ended.
        logistic_lam: L2 of the toxicity logistic regression (per row, standardised units).
        newton_iters: cap on Newton iterations per fit.
        min_pass_through_n: fewest alarmed updates for a pass-through fit (else the prior).
    """

    ridge_lams: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    val_frac: float = 0.25
    winsor_pct: float = 1.0
    survival_lam: float = 1.0
    survival_edges_s: tuple[float, ...] = (0.0, 0.5, 1.0)
    logistic_lam: float = 1e-3
    newton_iters: int = 50
    min_pass_through_n: int = 30


# =========================================================================== ridge


def _standardize(x: FloatArr) -> tuple[FloatArr, FloatArr]:
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd[sd < 1e-12] = 1.0
    return mu, sd


def ridge_fit(x: FloatArr, y: FloatArr, lam: float) -> tuple[float, FloatArr]:
    """(intercept, coef) in raw units of ``x`` for ``min ||y - b0 - Zw||^2/n + lam ||w||^2``."""
    n, p = x.shape
    mu, sd = _standardize(x)
    z = (x - mu) / sd
    ym = float(y.mean())
    a = z.T @ z / n + lam * np.eye(p)
    w = np.linalg.solve(a, z.T @ (y - ym) / n)
    coef = w / sd
    return ym - float(coef @ mu), coef


def ridge_fit_cv(x: FloatArr, y: FloatArr, cfg: FitConfig) -> tuple[float, FloatArr, float, dict[str, float]]:
    """Choose lam on the time-ordered hold-out, refit on everything; also returns the
    winsorisation-aware validation R^2 per lam."""
    lo, hi = np.percentile(y, [cfg.winsor_pct, 100.0 - cfg.winsor_pct])
    yc = np.clip(y, lo, hi)
    n = x.shape[0]
    k = int(n * (1.0 - cfg.val_frac))
    scores: dict[str, float] = {}
    best_lam, best = cfg.ridge_lams[0], -math.inf
    if 20 <= k < n - 20:
        for lam in cfg.ridge_lams:
            b0, w = ridge_fit(x[:k], yc[:k], lam)
            pred = b0 + x[k:] @ w
            resid = y[k:] - pred
            r2 = 1.0 - float(np.mean(resid**2)) / max(float(np.var(y[k:])), 1e-12)
            scores[f"val_r2_lam_{lam:g}"] = r2
            if r2 > best:
                best, best_lam = r2, lam
    b0, w = ridge_fit(x, yc, best_lam)
    return b0, w, best_lam, scores


# =========================================================================== Poisson / survival



def _backtrack(
    x0: np.ndarray, step: np.ndarray, objective: Callable[[np.ndarray], float], f0: float
) -> tuple[np.ndarray, float] | None:
    """Backtracking on a Newton step of a maximisation: the first fraction 1, 1/2, 1/4, ...
    of ``step`` whose objective does not fall below ``f0``; None once the fraction is under
    1e-6 (no ascent left)."""
    t = 1.0
    while t > 1e-6:
        cand = x0 + t * step
        fc = objective(cand)
        if fc >= f0 - 1e-12:
            return cand, fc
        t *= 0.5
    return None


def poisson_newton(x: FloatArr, y: FloatArr, exposure: FloatArr, n_free: int, lam: float,
                   iters: int = 50) -> FloatArr:
    """Maximise sum y eta - e exp(eta) - lam/2 ||beta[n_free:]||^2, eta = x beta.

    The first ``n_free`` columns (interval indicators) are not penalised."""
    n, p = x.shape
    beta = np.zeros(p)
    rate0 = max(float(y.sum()), 0.5) / max(float(exposure.sum()), 1e-9)
    beta[:n_free] = math.log(rate0)
    pen = np.full(p, lam)
    pen[:n_free] = 0.0
    log_e = np.log(np.maximum(exposure, 1e-12))

    def objective(b: FloatArr) -> float:
        eta = np.clip(x @ b, -30.0, 30.0)
        return float(np.sum(y * eta - np.exp(eta + log_e)) - 0.5 * np.sum(pen * b * b))

    f = objective(beta)
    for _ in range(iters):
        eta = np.clip(x @ beta, -30.0, 30.0)
        mu = np.exp(eta + log_e)
        g = x.T @ (y - mu) - pen * beta
        h = (x * mu[:, None]).T @ x + np.diag(pen) + 1e-9 * np.eye(p)
        step = np.linalg.solve(h, g)
        found = _backtrack(beta, step, objective, f)
        if found is None:
            break
        cand, fc = found
        beta, f_old, f = cand, f, fc
        if abs(f - f_old) < 1e-9 * (1.0 + abs(f)):
            break
    return beta


def expand_intervals(duration_s: FloatArr, event: BoolArr, edges_s: Sequence[float]
                     ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArr, FloatArr]:
    """Split episodes into (episode index, interval index, exposure s, event 0/1) rows."""
    rows_i: list[npt.NDArray[np.int64]] = []
    rows_j: list[npt.NDArray[np.int64]] = []
    rows_e: list[FloatArr] = []
    rows_y: list[FloatArr] = []
    d = np.maximum(duration_s, 1e-3)
    for j, a in enumerate(edges_s):
        b = edges_s[j + 1] if j + 1 < len(edges_s) else math.inf
        reach = d > a
        idx = np.flatnonzero(reach)
        expo = np.minimum(d[idx], b) - a
        ev = (event[idx] & (d[idx] <= b)).astype(np.float64)
        rows_i.append(idx)
        rows_j.append(np.full(idx.size, j, dtype=np.int64))
        rows_e.append(expo)
        rows_y.append(ev)
    return np.concatenate(rows_i), np.concatenate(rows_j), np.concatenate(rows_e), np.concatenate(rows_y)


def fit_hazard(x: FloatArr, duration_s: FloatArr, event: BoolArr, edges_s: Sequence[float], lam: float,
               iters: int) -> tuple[list[float], list[float]]:
    """Piecewise-constant baseline times exp(coef . x): (log_base per interval, coef), raw units."""
    mu, sd = _standardize(x)
    z = (x - mu) / sd
    ii, jj, ee, yy = expand_intervals(duration_s, event, edges_s)
    nj = len(edges_s)
    design = np.zeros((ii.size, nj + x.shape[1]))
    design[np.arange(ii.size), jj] = 1.0
    design[:, nj:] = z[ii]
    beta = poisson_newton(design, yy, ee, nj, lam, iters)
    coef = beta[nj:] / sd
    shift = float(coef @ mu)
    return [float(b - shift) for b in beta[:nj]], [float(c) for c in coef]


def fit_baseline(delta_bps: FloatArr, horizons_s: FloatArr, y: FloatArr, iters: int = 50) -> BaselineParams:
    """MLE of the symmetric baseline on binary outcomes: row k says whether an order at
    ``delta_bps[k]`` from the mid filled (before escaping) within ``horizons_s[k]``;
    P = 1 - exp(-kappa exp(-delta/delta_char) h), i.e. a binomial model with the
    complementary log-log link: ln(-ln(1 - P)) = ln kappa - delta/delta_char + ln h.
    Fisher scoring with step halving; a rate that does not fall with distance gives
    delta_char = inf (constant kappa)."""
    ok = np.isfinite(y) & np.isfinite(delta_bps) & (horizons_s > 0)
    d, h, yy = np.maximum(delta_bps[ok], 0.0), horizons_s[ok], y[ok]
    if yy.size == 0:
        raise ValueError("no outcomes to fit the baseline on")
    rate0 = -math.log(max(1.0 - min(float(yy.mean()), 1.0 - 1e-6), 1e-6)) / float(np.mean(h))

    def fit(x: FloatArr) -> tuple[FloatArr, float]:
        b = np.zeros(x.shape[1])
        b[0] = math.log(max(rate0, 1e-9))
        off = np.log(h)

        def ll(bb: FloatArr) -> float:
            mu = np.exp(np.clip(x @ bb + off, -30.0, 10.0))
            p = np.clip(-np.expm1(-mu), 1e-12, 1.0 - 1e-12)
            return float(np.sum(yy * np.log(p) + (1.0 - yy) * (-mu)))

        f = ll(b)
        for _ in range(iters):
            mu = np.exp(np.clip(x @ b + off, -30.0, 10.0))
            em1 = np.maximum(np.expm1(mu), 1e-12)
            score = mu * (yy / em1 - (1.0 - yy))
            w = mu * mu / em1
            g = x.T @ score
            info = (x * w[:, None]).T @ x + 1e-9 * np.eye(x.shape[1])
            step = np.linalg.solve(info, g)
            found = _backtrack(b, step, ll, f)
            if found is None:
                break
            cand, fc = found
            b, f_old, f = cand, f, fc
            if abs(f - f_old) < 1e-10 * (1.0 + abs(f)):
                break
        return b, f

    b2, _ = fit(np.column_stack([np.ones(d.size), d]))
    if b2[1] < -1e-9:
        return BaselineParams(kappa_hz=math.exp(float(b2[0])), delta_char_bps=-1.0 / float(b2[1]))
    b1, _ = fit(np.ones((d.size, 1)))
    return BaselineParams(kappa_hz=math.exp(float(b1[0])), delta_char_bps=math.inf)


def fit_fill_survival(x: FloatArr, duration_s: FloatArr, filled: BoolArr, escaped: BoolArr, censored: BoolArr,
                      delta_bps: FloatArr, *, symbol: str, tick_px: float, qty_scale: float, escape_ticks: int,
                      cfg: FitConfig, trained_on: str = "") -> FillSurvivalParams:
    """Both cause-specific hazards, and the symmetric baseline fitted on the binary
    outcomes at the standard horizons (the target both are scored on)."""
    edges = list(cfg.survival_edges_s)
    fb, fc = fit_hazard(x, duration_s, filled, edges, cfg.survival_lam, cfg.newton_iters)
    eb, ec = fit_hazard(x, duration_s, escaped, edges, cfg.survival_lam, cfg.newton_iters)
    hs = np.concatenate([np.full(duration_s.size, h) for h in STANDARD_HORIZONS_S])
    ys = np.concatenate([observed_fill(duration_s, filled, h, censored) for h in STANDARD_HORIZONS_S])
    base = fit_baseline(np.tile(delta_bps, len(STANDARD_HORIZONS_S)), hs, ys, cfg.newton_iters)
    return FillSurvivalParams(
        symbol=symbol, tick_px=tick_px, qty_scale=qty_scale, escape_ticks=escape_ticks,
        feature_names=list(FILL_FEATURES), interval_edges_s=edges, fill_log_base=fb, fill_coef=fc,
        escape_log_base=eb, escape_coef=ec, baseline=base, trained_on=trained_on,
    )


def observed_fill(duration_s: FloatArr, filled: BoolArr, horizon_s: float, censored_early: BoolArr) -> FloatArr:
    """1 if filled (before escaping) within the horizon, 0 if not, NaN if censored (outage)
    before the horizon without a fill."""
    y = (filled & (duration_s <= horizon_s)).astype(np.float64)
    y[censored_early & ~filled & (duration_s < horizon_s)] = np.nan
    return y


def predict_fill_matrix(model: FillSurvivalModel, x: FloatArr, horizon_s: float) -> FloatArr:
    """Vectorised P(fill within horizon) for rows of features."""
    p = model.params
    ef = x @ np.asarray(p.fill_coef)
    ee = x @ np.asarray(p.escape_coef)
    return np.array([competing_fill_prob(horizon_s, p.interval_edges_s, p.fill_log_base, float(a),
                                         p.escape_log_base, float(b)) for a, b in zip(ef, ee)])


def predict_baseline(base: SymmetricFillBaseline, delta_bps: FloatArr, horizon_s: float) -> FloatArr:
    d = np.maximum(delta_bps, 0.0)
    rate = base.kappa_hz * np.exp(-d / base.delta_char_bps)
    return 1.0 - np.exp(-rate * horizon_s)


def decile_table(p_model: FloatArr, p_base: FloatArr, y: FloatArr) -> list[tuple[float, float, float, int]]:
    """Deciles of the model's prediction: (mean model p, mean baseline p, observed rate, n)."""
    ok = np.isfinite(y)
    pm, pb, yy = p_model[ok], p_base[ok], y[ok]
    order = np.argsort(pm, kind="mergesort")
    out = []
    for g in np.array_split(order, 10):
        if g.size:
            out.append((float(pm[g].mean()), float(pb[g].mean()), float(yy[g].mean()), int(g.size)))
    return out


# =========================================================================== logistic (toxicity)


def _logistic_newton(x: FloatArr, y: FloatArr, free: BoolArr, lam: float, iters: int,
                     beta0: FloatArr) -> FloatArr:
    """Newton on (bias, w[free]) with the other weights held at 0. x has the bias column first."""
    cols = np.concatenate([[True], free])
    xs = x[:, cols]
    n, p = xs.shape
    b = beta0[cols].copy()
    pen = np.full(p, lam * n)
    pen[0] = 0.0

    def obj(bb: FloatArr) -> float:
        z = np.clip(xs @ bb, -30.0, 30.0)
        return float(np.sum(y * z - np.logaddexp(0.0, z)) - 0.5 * np.sum(pen * bb * bb))

    f = obj(b)
    for _ in range(iters):
        z = np.clip(xs @ b, -30.0, 30.0)
        pr = 1.0 / (1.0 + np.exp(-z))
        g = xs.T @ (y - pr) - pen * b
        h = (xs * (pr * (1.0 - pr))[:, None]).T @ xs + np.diag(pen) + 1e-9 * np.eye(p)
        step = np.linalg.solve(h, g)
        t = 1.0
        while t > 1e-6:
            cand = b + t * step
            fc = obj(cand)
            if fc >= f - 1e-12:
                break
            t *= 0.5
        if t <= 1e-6:
            break
        b, f_old, f = cand, f, fc
        if abs(f - f_old) < 1e-10 * (1.0 + abs(f)):
            break
    out = np.zeros(x.shape[1])
    out[cols] = b
    return out


def fit_logistic_nonneg(x: FloatArr, y: FloatArr, lam: float, iters: int = 50) -> tuple[float, FloatArr]:
    """(bias, weights >= 0) maximising the penalised log likelihood, by an active set."""
    n, p = x.shape
    mu, sd = _standardize(x)
    # scale only (no centring): keeps the sign constraint on the raw weights
    xs = np.column_stack([np.ones(n), x / sd])
    free = np.ones(p, dtype=bool)
    beta: FloatArr = np.zeros(p + 1)
    for _ in range(3 * p + 3):
        beta = _logistic_newton(xs, y, free, lam, iters, beta)
        w = beta[1:]
        neg = free & (w < 0.0)
        if neg.any():
            i = int(np.argmin(np.where(neg, w, np.inf)))
            free[i] = False
            beta[1 + i] = 0.0
            continue
        z = np.clip(xs @ beta, -30.0, 30.0)
        pr = 1.0 / (1.0 + np.exp(-z))
        grad = xs[:, 1:].T @ (y - pr) - lam * n * w  # ascent direction per weight
        cand = (~free) & (grad > 1e-6 * n)
        if not cand.any():
            break
        free[int(np.argmax(np.where(cand, grad, -np.inf)))] = True
    w = np.maximum(beta[1:], 0.0) / sd
    return float(beta[0]), w


def fit_toxicity(x: FloatArr, y: FloatArr, cfg: FitConfig) -> ToxicityModel:
    bias, w = fit_logistic_nonneg(x, y, cfg.logistic_lam, cfg.newton_iters)
    return ToxicityModel(feature_names=list(TOXICITY_FEATURES), weights=[float(v) for v in w], bias=bias,
                         metrics={})


def predict_logistic(model: ToxicityModel, x: FloatArr) -> FloatArr:
    z = np.clip(model.bias + x @ np.asarray(model.weights), -30.0, 30.0)
    return 1.0 / (1.0 + np.exp(-z))


# =========================================================================== queue value


def fit_queue_value(x: FloatArr, edge_gross_bps: FloatArr, *, symbol: str, qty_scale: float, markout_s: float,
                    heuristic: HeuristicQueueValueConfig, cfg: FitConfig, trained_on: str = ""
                    ) -> tuple[QueueValueParams, dict[str, float]]:
    b0, w, lam, scores = ridge_fit_cv(x, edge_gross_bps, cfg)
    scores["lam"] = lam
    params = QueueValueParams(symbol=symbol, qty_scale=qty_scale, markout_s=markout_s,
                              feature_names=list(QV_FEATURES), intercept=b0, coef=[float(v) for v in w],
                              heuristic=heuristic, trained_on=trained_on)
    return params, scores


# =========================================================================== direction (issue 17)


def fit_logistic(x: FloatArr, y: FloatArr, lam: float, iters: int = 50) -> tuple[float, FloatArr]:
    """(bias, weights) in raw units of ``x`` of the L2-penalised logistic regression, signs
    free (columns standardised and centred for the fit; the bias is not penalised)."""
    n, p = x.shape
    mu, sd = _standardize(x)
    xs = np.column_stack([np.ones(n), (x - mu) / sd])
    beta = _logistic_newton(xs, y, np.ones(p, dtype=bool), lam, iters, np.zeros(p + 1))
    w = beta[1:] / sd
    return float(beta[0] - w @ mu), w


def _sigmoid_arr(z: FloatArr) -> FloatArr:
    out: FloatArr = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return out


def choose_direction_threshold(p: FloatArr, net_edge_bps: FloatArr, grid: Sequence[float]
                               ) -> tuple[float, list[tuple[float, int, float]]]:
    """The gate threshold that maximises the summed net edge of the fills it keeps (rows
    with ``p <= thr``): (threshold, [(thr, kept, summed net edge)] per grid value). 1.0
    (keep everything) is always a candidate and wins ties, then the higher threshold."""
    table: list[tuple[float, int, float]] = []
    best_thr, best = 1.0, float(np.sum(net_edge_bps))
    table.append((1.0, int(p.size), best))
    for thr in sorted(grid, reverse=True):
        keep = p <= thr
        tot = float(np.sum(net_edge_bps[keep]))
        table.append((float(thr), int(keep.sum()), tot))
        if tot > best + 1e-9:
            best_thr, best = float(thr), tot
    return best_thr, table


def fit_direction(x: FloatArr, adverse: FloatArr, net_edge_bps: FloatArr, select: BoolArr, *, symbol: str,
                  qty_scale: float, markout_s: float, cfg: PipelineConfig, trained_on: str = ""
                  ) -> tuple[DirectionParams, dict[str, Any]]:
    """Fit the direction model on time-ordered training rows (see :mod:`mm.models.direction`).

    The last ``cfg.fit.val_frac`` of the rows are held out: ``lam`` minimises their log
    loss, and the gate threshold maximises the summed ``net_edge_bps`` of the held-out rows
    in ``select`` (the fills the state machine would take) that it keeps. The model is then
    refitted on every row with that ``lam``; the threshold is kept."""
    n = x.shape[0]
    k = int(n * (1.0 - cfg.fit.val_frac))
    figs: dict[str, Any] = {"n_train": n, "n_holdout": n - k}
    best_lam = cfg.direction_lams[0]
    thr = 1.0
    if 50 <= k < n - 20 and len(np.unique(adverse[:k])) == 2:
        best_ll = math.inf
        p_best = np.zeros(0)
        for lam in cfg.direction_lams:
            b0, w = fit_logistic(x[:k], adverse[:k], lam, cfg.fit.newton_iters)
            pv = _sigmoid_arr(b0 + x[k:] @ w)
            ll = float(np.mean(-(adverse[k:] * np.log(np.maximum(pv, 1e-12))
                                 + (1.0 - adverse[k:]) * np.log(np.maximum(1.0 - pv, 1e-12)))))
            figs[f"holdout_log_loss_lam_{lam:g}"] = ll
            if ll < best_ll:
                best_ll, best_lam, p_best = ll, lam, pv
        sel = select[k:]
        if sel.sum() >= 20:
            thr, table = choose_direction_threshold(p_best[sel], net_edge_bps[k:][sel], cfg.direction_threshold_grid)
            figs["threshold_table"] = table
        figs["holdout_selected"] = int(sel.sum())
    b0, w = fit_logistic(x, adverse, best_lam, cfg.fit.newton_iters)
    figs["lam"] = best_lam
    figs["threshold"] = thr
    params = DirectionParams(symbol=symbol, qty_scale=qty_scale, markout_s=markout_s,
                             feature_names=list(DIRECTION_FEATURES), intercept=b0, coef=[float(v) for v in w],
                             threshold=thr, trained_on=trained_on)
    return params, figs


def _direction(out: CoinResult, r2: ReplayResult, snaps: list[StateSnapshot], j: dict[str, npt.NDArray[Any]],
               x_qv: FloatArr, qvm: QueueValueModel, split_ts_ns: int, cfg: PipelineConfig, trained_on: str,
               qty_scale: float) -> dict[str, Any]:
    """Fit the direction model on the training joins' fills and test it on the later part."""
    lc = cfg.labels
    h = cfg.direction_markout_s
    e5, _ = markout_edges(r2, h)
    ok = np.isfinite(e5) & (j["outcome"] == FILLED)
    t0 = j["t0"]
    guard = int((lc.horizon_s + h) * 1e9)
    tr = ok & (t0 + guard < split_ts_ns)
    te = ok & (t0 >= split_ts_ns)
    sel_fee = tier_maker_fee_bps(cfg.direction_select_tier)
    fig: dict[str, Any] = {"label": f"fill adverse at {h:g} s: s (mid(t+{h:g}s) - px) < 0",
                           "select_tier": cfg.direction_select_tier, "n_train": int(tr.sum()), "n_test": int(te.sum())}
    if tr.sum() < 100 or te.sum() < 20:
        fig["error"] = "too few fills with a clean markout"
        return fig
    y = (e5 < 0.0).astype(np.float64)
    if len(np.unique(y[tr])) < 2:
        fig["error"] = "one class only in the training fills"
        return fig
    gross = np.asarray([qvm.predict(list(x_qv[i])) if ok[i] else -math.inf for i in range(e5.size)])
    select = gross - sel_fee > 0.0  # the learned queue value is net-positive at the selection tier
    idx_tr = np.flatnonzero(tr)
    params, fit_figs = fit_direction(x_qv[idx_tr], y[idx_tr], e5[idx_tr] - sel_fee, select[idx_tr], symbol=out.coin,
                                     qty_scale=qty_scale, markout_s=h, cfg=cfg, trained_on=trained_on)
    fig["fit"] = fit_figs
    dm = DirectionModel(params)
    idx_te = np.flatnonzero(te)
    p = np.asarray([dm.predict(list(x_qv[i])) for i in idx_te])
    yt = y[idx_te]
    et = e5[idx_te]
    st = select[idx_te]
    fig["test"] = binary_metrics(p, yt)
    fig["test_selected"] = binary_metrics(p[st], yt[st]) if st.sum() >= 2 else {"n": float(st.sum())}
    thr = params.threshold

    def part(m: BoolArr) -> dict[str, float]:
        return {"n": int(m.sum()), "adverse_rate": float(yt[m].mean()) if m.any() else float("nan"),
                "mean_edge_bps": float(et[m].mean()) if m.any() else float("nan")}

    keep = p <= thr
    fig["test_gate"] = {"threshold": thr, "all": part(np.ones(p.size, dtype=bool)), "kept": part(keep),
                        "dropped": part(~keep), "selected": part(st), "selected_kept": part(st & keep),
                        "selected_dropped": part(st & ~keep)}
    out.pngs["reliability_direction.png"] = reliability_png(
        [("direction", reliability_table(p, yt))], f"{out.coin} fill adverse at {h:g} s, test fills")
    metrics = {f"test_{k}": v for k, v in fig["test"].items()} | {"lam": fit_figs["lam"]}
    out.direction = msgspec.structs.replace(params, metrics=finite_metrics(metrics))
    return fig


def regression_metrics(pred: FloatArr, y: FloatArr) -> dict[str, float]:
    """R^2, correlation, IR of the prediction's sign, MI (bits), and the mean outcome of
    the observations predicted positive vs all."""
    ok = np.isfinite(pred) & np.isfinite(y)
    p, yy = pred[ok], y[ok]
    if p.size < 3:
        return {"n": float(p.size)}
    var = float(np.var(yy))
    pos = p > 0.0
    return {
        "n": float(p.size),
        "r2": 1.0 - float(np.mean((yy - p) ** 2)) / var if var > 0 else float("nan"),
        "corr": float(np.corrcoef(p, yy)[0, 1]) if np.std(p) > 0 else float("nan"),
        "ir": information_ratio(p - float(np.median(p)), yy - float(np.mean(yy))),
        "mi_bits": mutual_information_bits(p, yy),
        "mean_outcome": float(yy.mean()),
        "mean_outcome_pred_pos": float(yy[pos].mean()) if pos.any() else float("nan"),
        "share_pred_pos": float(pos.mean()),
    }


# =========================================================================== lead-lag


def fit_pass_through(dev_bps: FloatArr, move_bps: FloatArr, alarmed: BoolArr, prior: float, min_n: int
                     ) -> tuple[float, int]:
    """Slope through the origin of the move on the divergence over alarmed updates, in [0, 2]."""
    ok = alarmed & np.isfinite(dev_bps) & np.isfinite(move_bps)
    n = int(ok.sum())
    if n < min_n:
        return prior, n
    d, m = dev_bps[ok], move_bps[ok]
    den = float(d @ d)
    if den <= 0.0:
        return prior, n
    return float(min(2.0, max(0.0, (d @ m) / den))), n


def binance_moves(ts_ns: npt.NDArray[np.int64], ref_mid: FloatArr, move_bps: float, window_ms: int,
                  quiet_ms: int) -> list[tuple[int, int, int]]:
    """Binance moves: (start time, direction, completion time) where the reference mid moved
    at least ``move_bps`` within ``window_ms``, with no other move completing in the
    ``quiet_ms`` before. The start is the first reference update that left the window's
    opening level; the completion is the update at which the move reached ``move_bps``."""
    out: list[tuple[int, int, int]] = []
    w = window_ms * 1_000_000
    q = quiet_ms * 1_000_000
    last = -(1 << 62)
    lo = 0
    lr = np.log(np.where(ref_mid > 0.0, ref_mid, np.nan)) * 1e4
    for i in range(ts_ns.size):
        if not np.isfinite(lr[i]):
            continue
        while ts_ns[lo] < ts_ns[i] - w:
            lo += 1
        seg = lr[lo : i + 1]
        ok = np.isfinite(seg)
        if not ok.any():
            continue
        a = seg[ok][0]
        dv = lr[i] - a
        if abs(dv) >= move_bps and ts_ns[i] - last > q:
            # the first update that left the opening level
            j = lo
            while j < i and (not np.isfinite(lr[j]) or lr[j] == a):
                j += 1
            out.append((int(ts_ns[j]), 1 if dv > 0 else -1, int(ts_ns[i])))
            last = int(ts_ns[i])
    return out


def first_alarm_after(sig_ts: npt.NDArray[np.int64], sig_dir: npt.NDArray[np.int64], t0: int, direction: int,
                      within_ns: int) -> int:
    """Time of the first update at or after t0 whose alarm points in ``direction``; -1 if none in time."""
    i = int(np.searchsorted(sig_ts, t0, side="left"))
    while i < sig_ts.size and sig_ts[i] <= t0 + within_ns:
        if sig_dir[i] == direction:
            return int(sig_ts[i])
        i += 1
    return -1


def first_move_after(ts_ns: npt.NDArray[np.int64], mid: FloatArr, t0: int, direction: int, move_bps: float,
                     within_ns: int) -> int:
    """First time at or after t0 when ``mid`` moved ``move_bps`` in ``direction`` from its level at t0."""
    i = int(np.searchsorted(ts_ns, t0, side="right")) - 1
    if i < 0:
        return -1
    m0 = mid[i]
    if not m0 > 0.0:
        return -1
    i += 1
    while i < ts_ns.size and ts_ns[i] <= t0 + within_ns:
        if direction * math.log(mid[i] / m0) * 1e4 >= move_bps:
            return int(ts_ns[i])
        i += 1
    return -1


def summarize_ms(values_ms: Sequence[float]) -> dict[str, float]:
    v = np.asarray([x for x in values_ms if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"n": 0.0}
    return {"n": float(v.size), "median": float(np.median(v)), "p10": float(np.percentile(v, 10)),
            "p90": float(np.percentile(v, 90)), "mean": float(v.mean())}


# =========================================================================== toxicity verdicts offline


def offline_toxic(ts_ns: npt.NDArray[np.int64], prob: FloatArr, threshold: float, hold_ns: int) -> BoolArr:
    """The classifier's Toxic verdict at each record, as ``ToxicityClassifier.assess`` gives
    it: Toxic while ``now < t + hold`` for the last record t (at or before now) whose
    probability reached the threshold."""
    hit = prob >= threshold
    idx = np.where(hit, np.arange(prob.size), -1)
    last = np.maximum.accumulate(idx) if idx.size else idx
    t_last = np.where(last >= 0, ts_ns[np.maximum(last, 0)], np.iinfo(np.int64).min // 2)
    return (last >= 0) & (ts_ns < t_last + hold_ns)


def cascade_detection(ts_ns: npt.NDArray[np.int64], is_trade: BoolArr, toxic: BoolArr,
                      windows: Sequence[tuple[int, int]], max_trades: int = 3, max_ms: float = 500.0
                      ) -> dict[str, Any]:
    """Per window (a labelled cascade on our venue): the first Toxic verdict at or after its
    start (the verdict in force at the start counts, as 0 trades), the number of our trade
    prints from the start up to and including it, the number of taker events (prints that
    share a timestamp are one aggressive order sweeping several makers), and the delay;
    the share within ``max_trades`` (prints; and taker events) and ``max_ms``."""
    trades: list[float] = []
    takers: list[float] = []
    delays: list[float] = []
    rows: list[tuple[int, int, int, float]] = []
    det = det_takers = already = 0
    for start, end in windows:
        i = int(np.searchsorted(ts_ns, start, side="left"))
        hit_t, k, g = -1, -1, -1
        if i > 0 and toxic[i - 1]:
            hit_t, k, g = start, 0, 0
            already += 1
        else:
            n_tr = n_grp = 0
            last_tr_ts = -1
            while i < ts_ns.size and ts_ns[i] < end:
                if is_trade[i]:
                    n_tr += 1
                    if ts_ns[i] != last_tr_ts:  # prints at one time: one taker event
                        n_grp += 1
                        last_tr_ts = int(ts_ns[i])
                if toxic[i]:
                    hit_t, k, g = int(ts_ns[i]), n_tr, n_grp
                    break
                i += 1
        if hit_t < 0:
            rows.append((start, -1, -1, float("nan")))
            continue
        d = (hit_t - start) / 1e6
        trades.append(float(k))
        takers.append(float(g))
        delays.append(d)
        rows.append((start, k, g, d))
        if d < max_ms:
            det += k <= max_trades
            det_takers += g <= max_trades
    n = len(windows)
    return {"n": n, "detected": det, "share": det / n if n else float("nan"),
            "detected_takers": det_takers, "share_takers": det_takers / n if n else float("nan"),
            "flipped": len(delays), "toxic_at_start": already,
            "median_trades": float(np.median(trades)) if trades else float("nan"),
            "median_takers": float(np.median(takers)) if takers else float("nan"),
            "median_ms": float(np.median(delays)) if delays else float("nan"), "rows": rows}


def outside_windows(ts_ns: npt.NDArray[np.int64], windows: Sequence[tuple[int, int]], guard_ns: int) -> BoolArr:
    """True for times at least ``guard_ns`` away from every window."""
    out = np.ones(ts_ns.size, dtype=bool)
    for a, b in windows:
        out &= (ts_ns < a - guard_ns) | (ts_ns >= b + guard_ns)
    return out


def choose_toxic_threshold(ts_ns: npt.NDArray[np.int64], is_trade: BoolArr, prob: FloatArr, hold_ns: int,
                           windows: Sequence[tuple[int, int]], calm: BoolArr, budget: float,
                           grid: Sequence[float]) -> tuple[float, dict[str, float]]:
    """The verdict threshold that detects the most windows within 3 trades and 0.5 s while
    keeping the Toxic share of calm snapshot records within ``budget`` (ties: the highest
    threshold). Returns (threshold, its train figures); the grid's top if none qualifies."""
    best: tuple[int, float] = (-1, max(grid))
    figs: dict[str, float] = {}
    snap_calm = calm & ~is_trade
    for thr in sorted(grid):
        tox = offline_toxic(ts_ns, prob, thr, hold_ns)
        fa = float(tox[snap_calm].mean()) if snap_calm.any() else 0.0
        if fa > budget:
            continue
        det = int(cascade_detection(ts_ns, is_trade, tox, windows)["detected"])
        if det >= best[0]:
            best = (det, thr)
            figs = {"train_detected": float(det), "train_windows": float(len(windows)), "train_false_alarm": fa}
    return best[1], figs


# =========================================================================== pipeline


class CoinResult:
    """One coin's fitted models, figures (for printing and the JSON report) and PNGs."""

    def __init__(self, coin: str, symbol_id: int, tick_px: float) -> None:
        self.coin = coin
        self.symbol_id = symbol_id
        self.tick_px = tick_px
        self.toxicity: ToxicityModel | None = None
        self.fill: FillSurvivalParams | None = None
        self.queue_value: QueueValueParams | None = None
        self.leadlag: LeadLagParams | None = None
        self.direction: DirectionParams | None = None
        self.figures: dict[str, Any] = {}
        self.pngs: dict[str, bytes] = {}
        self.sample_snapshot: StateSnapshot | None = None  # one test-period state (timings)


class PipelineConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What ``mmctl train`` runs: label drawing, fits, fee tiers reported, evaluation knobs.

    Fields:
        labels: the join-label config (horizon, escape ticks, markout, sampling).
        fit: the estimators' hyperparameters.
        fee_tier: the configured Hyperliquid fee tier (queue value is net of its maker fee).
        report_tiers: further tiers whose queue-value shares are reported for comparison.
        reliability_horizon_s: horizon of the fill reliability diagram and decile table.
        move_bps: size of a Binance move for the lead-lag timing figure.
        move_window_ms: a move is that size within this window.
        move_quiet_ms: no other move start within this time before it.
        signal_within_s: how long after a move the signal may come and still count.
        toxic_false_alarm_budget: largest share of calm snapshots (outside labelled
            cascades) that may read Toxic at the verdict threshold chosen on training data.
        toxic_threshold_grid: the verdict thresholds tried.
        direction_markout_s: s, the markout of the direction model's adverse label (the
            replay report's adverse-selection markout).
        direction_lams: L2 grid of the direction logistic (per row, standardised units),
            chosen by hold-out log loss.
        direction_select_tier: the fee tier whose net-positive queue-value rows (the fills
            the state machine would take) choose the direction gate's threshold.
        direction_threshold_grid: the gate thresholds tried (1.0, no gate, always too).
    """

    labels: LabelConfig = msgspec.field(default_factory=LabelConfig)
    fit: FitConfig = msgspec.field(default_factory=FitConfig)
    fee_tier: str = "base"
    report_tiers: tuple[str, ...] = ("base", "tier4", "rebate3")
    reliability_horizon_s: float = 1.0
    move_bps: float = 2.0
    move_window_ms: int = 500
    move_quiet_ms: int = 2_000
    signal_within_s: float = 2.0
    toxic_false_alarm_budget: float = 0.05
    toxic_threshold_grid: tuple[float, ...] = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7,
                                               0.8, 0.9)
    direction_markout_s: float = 5.0
    direction_lams: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    direction_select_tier: str = "rebate3"
    direction_threshold_grid: tuple[float, ...] = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75,
                                                   0.8, 0.85, 0.9, 0.95)


def finite_metrics(d: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a figures dict (a model file's ``metrics`` holds only those:
    JSON has no NaN)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, int | float | np.floating | np.integer) and math.isfinite(float(v)):
            out[k] = float(v)
    return out


def tier_maker_fee_bps(name: str) -> float:
    """Maker fee in bps of a volume tier (``base``, ``tier1``..) or a rebate tier (``rebate1``..)."""
    if name.startswith("rebate"):
        for t in MAKER_REBATE_TIERS:
            if t.name == name:
                return t.rebate_bps
        raise ValueError(f"unknown rebate tier {name!r}")
    return maker_fee_bps(name)


def _regime_label(truth: GroundTruth | None, symbol_id: int, ts: int, snap: StateSnapshot) -> int:
    if truth is not None:
        return regime_at(truth, symbol_id, ts, venue=int(Venue.HYPERLIQUID))
    return int(snap.regime)


def _in_cascade(truth: GroundTruth | None, symbol_id: int, ts: int, snap: StateSnapshot) -> tuple[bool, int]:
    """(in a cascade, its direction or 0): labelled windows if known, else the regime filter."""
    if truth is not None:
        for c in truth.cascades:
            if c.symbol_id == symbol_id and c.hl_start_ts_ns <= ts < c.hl_end_ts_ns:
                return True, c.direction
        return False, 0
    return int(snap.regime) == int(Regime.CASCADE), 0


def train_coin(coin: str, symbol_id: int, tick_px: float, events: Sequence[object], split_ts_ns: int,
               truth: GroundTruth | None, cfg: PipelineConfig, trained_on: str) -> CoinResult:
    """Label, fit and evaluate every model for one coin (see the module docstring)."""
    out = CoinResult(coin, symbol_id, tick_px)
    lc = cfg.labels
    tcfg = ToxicityConfig(learn=False)
    fig = out.figures

    # ---- pass 1 (training span only): trade features -> toxicity fit
    train_events = [e for e in events if getattr(e, "ts_ns", 0) < split_ts_ns]
    r1 = replay(train_events, symbol_id, tick_px, lc, FeatureEngine(symbol_id, toxicity=tcfg), None,
                with_joins=False)
    y1 = toxicity_labels(r1, tcfg.label_move_bps, tcfg.label_horizon_s)
    x1 = np.asarray(r1.tr_x, dtype=np.float64).reshape(-1, N_TOX)
    h_tox = int(tcfg.label_horizon_s * 1e9)
    tr = (np.asarray(r1.tr_ts, dtype=np.int64) + h_tox < split_ts_ns) & np.isfinite(y1)
    if tr.sum() < 50 or len(np.unique(y1[tr])) < 2:
        tox = prior_model()
        fig["toxicity_fit"] = "prior kept (too few labelled trades)"
    else:
        tox = fit_toxicity(x1[tr], y1[tr], cfg.fit)

    # ---- pass 2 (everything): snapshots with the fitted classifier, joins, signals
    alpha = AlphaEngine()
    r2 = replay(events, symbol_id, tick_px, lc, FeatureEngine(symbol_id, toxicity=tcfg, toxicity_model=tox), alpha)
    y_tox = toxicity_labels(r2, tcfg.label_move_bps, tcfg.label_horizon_s)
    x_tox = np.asarray(r2.tr_x, dtype=np.float64).reshape(-1, N_TOX)
    te = (np.asarray(r2.tr_ts, dtype=np.int64) >= split_ts_ns) & np.isfinite(y_tox)
    fig["n"] = {"trades_train": int(tr.sum()), "trades_test": int(te.sum())}
    p_fit = predict_logistic(tox, x_tox[te])
    p_prior = predict_logistic(prior_model(), x_tox[te])
    tox_fig: dict[str, Any] = {
        "label": f"mid moves {tcfg.label_move_bps:g} bps with the trade within {tcfg.label_horizon_s:g} s",
        "fitted": binary_metrics(p_fit, y_tox[te]),
        "prior": binary_metrics(p_prior, y_tox[te]),
    }
    out.pngs["reliability_toxicity.png"] = reliability_png(
        [("fitted", reliability_table(p_fit, y_tox[te])), ("prior", reliability_table(p_prior, y_tox[te]))],
        f"{coin} toxicity, test trades")
    tox_metrics = finite_metrics({f"test_{k}": v for k, v in tox_fig["fitted"].items()})
    tox_fig.update(_verdicts(r2, tox, tcfg, truth, symbol_id, split_ts_ns, cfg))
    if "threshold_fit" in tox_fig:
        tox_metrics["toxic_threshold_fit"] = tox_fig["threshold_fit"]
    out.toxicity = ToxicityModel(feature_names=tox.feature_names, weights=tox.weights, bias=tox.bias,
                                 metrics=tox_metrics)
    fig["toxicity"] = tox_fig

    j = r2.joins()
    snaps = r2.snapshots
    test_snaps = [s for s in snaps if s.ts_ns >= split_ts_ns]
    if test_snaps:
        out.sample_snapshot = test_snaps[len(test_snaps) // 2]
    n_j = j["t0"].size
    t0 = j["t0"]
    tend = j["tend"]
    dur = (tend - t0) / 1e9
    filled = j["outcome"] == FILLED
    escaped = j["outcome"] == ESCAPED
    censored = j["outcome"] == OUTAGE
    edges, _ = markout_edges(r2, lc.markout_s)
    guard = int((lc.horizon_s + lc.markout_s) * 1e9)
    j_tr = t0 + guard < split_ts_ns
    j_te = t0 >= split_ts_ns
    touch = [0.5 * (s.depth_bids[0] + s.depth_asks[0]) for s in snaps]
    snap_tr = np.asarray([s.ts_ns + guard < split_ts_ns for s in snaps], dtype=bool)
    tq = np.asarray(touch)[snap_tr] if snap_tr.any() else np.asarray(touch)
    qty_scale = float(np.median(tq[tq > 0])) if (tq > 0).any() else 1.0
    fig["n"].update({"joins_train": int(j_tr.sum()), "joins_test": int(j_te.sum()),
                     "fills_train": int((j_tr & filled).sum()), "fills_test": int((j_te & filled).sum()),
                     "samples": len(snaps), "qty_scale": qty_scale})
    if n_j == 0 or j_tr.sum() < 50 or j_te.sum() < 10:
        fig["error"] = "too few joins to fit (data too short?)"
        return out

    side = j["side"]
    level = j["level"]
    rank = j["rank"]
    px = j["px"]
    x_fill = np.asarray([fill_features(snaps[j["snap"][i]], int(side[i]), int(level[i]), float(rank[i]), tick_px,
                                       qty_scale) for i in range(n_j)])
    dlt = np.asarray([delta_bps(snaps[j["snap"][i]], int(side[i]), float(px[i])) for i in range(n_j)])

    # ---- fill survival
    fp = fit_fill_survival(x_fill[j_tr], dur[j_tr], filled[j_tr], escaped[j_tr], censored[j_tr], dlt[j_tr], symbol=coin,
                           tick_px=tick_px, qty_scale=qty_scale, escape_ticks=lc.escape_ticks, cfg=cfg.fit,
                           trained_on=trained_on)
    fsm = FillSurvivalModel(fp)
    base = fsm.baseline()
    fill_fig: dict[str, Any] = {"baseline": {"kappa_hz": fp.baseline.kappa_hz,
                                             "delta_char_bps": fp.baseline.delta_char_bps}}
    fmetrics: dict[str, float] = {}
    for h in STANDARD_HORIZONS_S:
        y = observed_fill(dur[j_te], filled[j_te], h, censored[j_te])
        pm = predict_fill_matrix(fsm, x_fill[j_te], h)
        pb = predict_baseline(base, dlt[j_te], h)
        ok = np.isfinite(y)
        mm_ = binary_metrics(pm[ok], y[ok])
        mb = binary_metrics(pb[ok], y[ok])
        fill_fig[f"h{h:g}s"] = {"model": mm_, "baseline": mb}
        fmetrics.update({f"test_brier_{h:g}s": mm_["brier"], f"test_log_loss_{h:g}s": mm_["log_loss"],
                         f"baseline_brier_{h:g}s": mb["brier"]})
        if h == cfg.reliability_horizon_s:
            fill_fig["deciles"] = decile_table(pm, pb, y)
            by_rank = []
            for lv_, rk in lc.joins:
                sel = (level[j_te] == lv_) & (rank[j_te] == rk) & ok
                if sel.any():
                    by_rank.append((lv_, rk, float(pm[sel].mean()), float(pb[sel].mean()), float(y[sel].mean()),
                                    int(sel.sum())))
            fill_fig["by_join"] = by_rank
            out.pngs["reliability_fill.png"] = reliability_png(
                [("hazard model", reliability_table(pm[ok], y[ok])),
                 ("symmetric baseline", reliability_table(pb[ok], y[ok]))],
                f"{coin} fill within {h:g} s, test joins")
    fill_fig["outcomes_test"] = {name: int((j["outcome"][j_te] == k).sum()) for k, name in enumerate(OUTCOME_NAMES)}
    out.fill = msgspec.structs.replace(fp, metrics=finite_metrics(fmetrics))
    fig["fill"] = fill_fig

    # ---- queue value
    heur_cfg = HeuristicQueueValueConfig(markout_s=lc.markout_s, qty_scale=qty_scale)
    fee = tier_maker_fee_bps(cfg.fee_tier)
    ok_e = filled & np.isfinite(edges)
    q_tr = ok_e & j_tr
    q_te = ok_e & j_te
    qv_fig: dict[str, Any] = {"fee_tier": cfg.fee_tier, "maker_fee_bps": fee, "markout_s": lc.markout_s}
    if q_tr.sum() < 50 or q_te.sum() < 10:
        qv_fig["error"] = "too few fills with a clean markout"
        fig["queue_value"] = qv_fig
        return out
    x_qv = np.asarray([qv_features(snaps[j["snap"][i]], int(side[i]), float(px[i]), float(rank[i]), qty_scale)
                       if ok_e[i] else np.zeros(N_QV) for i in range(n_j)])
    qp, cv = fit_queue_value(x_qv[q_tr], edges[q_tr], symbol=coin, qty_scale=qty_scale, markout_s=lc.markout_s,
                             heuristic=heur_cfg, cfg=cfg.fit, trained_on=trained_on)
    qvm = QueueValueModel(qp, fee)
    heur = HeuristicQueueValue(heur_cfg, fee)
    idx_te = np.flatnonzero(q_te)
    pred_l = np.asarray([qvm.predict(list(x_qv[i])) for i in idx_te])
    pred_h = np.asarray([heur.queue_value(int(side[i]), float(px[i]), float(rank[i]), snaps[j["snap"][i]]) + fee
                         for i in idx_te])
    realized = edges[idx_te]
    qv_fig["learned_gross"] = regression_metrics(pred_l, realized)
    qv_fig["heuristic_gross"] = regression_metrics(pred_h, realized)
    qv_fig["realized_net_mean_bps"] = float(np.mean(realized) - fee)
    qv_fig["realized_net_when_learned_pos"] = (float(np.mean(realized[pred_l - fee > 0]) - fee)
                                              if (pred_l - fee > 0).any() else float("nan"))
    qv_fig["share_learned_pos_net"] = float(np.mean(pred_l - fee > 0))
    qv_fig["ridge"] = cv
    qv_fig["by_rank_realized_gross"] = [
        (lv_, rk, float(np.mean(edges[q_te & (level == lv_) & (rank == rk)]))
         if (q_te & (level == lv_) & (rank == rk)).any() else float("nan"),
         int((q_te & (level == lv_) & (rank == rk)).sum()))
        for lv_, rk in lc.joins]
    qv_fig["shares"] = _qv_shares(snaps, split_ts_ns, truth, symbol_id, qvm, heur, cfg)
    out.queue_value = msgspec.structs.replace(
        qp, metrics=finite_metrics({f"test_{k}": v for k, v in qv_fig["learned_gross"].items()}
                                   | {"lam": cv.get("lam", 0.0)}))
    fig["queue_value"] = qv_fig

    # ---- direction (P(adverse at the report's markout | filled, state))
    fig["direction"] = _direction(out, r2, snaps, j, x_qv, qvm, split_ts_ns, cfg, trained_on, qty_scale)

    # ---- lead-lag
    fig["leadlag"] = _leadlag(out, r2, events, split_ts_ns, truth, symbol_id, coin, cfg, trained_on)
    return out


def _verdicts(res: ReplayResult, model: ToxicityModel, tcfg: ToxicityConfig, truth: GroundTruth | None,
              symbol_id: int, split_ts_ns: int, cfg: PipelineConfig) -> dict[str, Any]:
    """Toxic verdicts on the test span: Toxic share of time, the cascade figures at the
    configured threshold and (with labels) at a threshold chosen on the training cascades,
    for the fitted and the prior classifier; Brier of P(toxic) against cascade membership."""
    ts = np.asarray(res.v_ts, dtype=np.int64)
    is_tr = np.asarray(res.v_is_trade, dtype=bool)
    if ts.size == 0:
        return {}
    vx = np.asarray(res.v_x, dtype=np.float64).reshape(-1, N_TOX)
    p_fit = predict_logistic(model, vx)
    p_pri = predict_logistic(prior_model(), vx)
    hold = tcfg.toxic_hold_ms * 1_000_000
    thr0 = tcfg.toxic_threshold
    tox0 = offline_toxic(ts, p_fit, thr0, hold)
    out: dict[str, Any] = {"threshold_config": thr0}
    # the offline verdicts reproduce the engine's own
    out["offline_vs_engine_mismatch"] = int(np.sum(tox0 != (np.asarray(res.v_level) == int(Toxicity.TOXIC))))
    te = ts >= split_ts_ns
    snap_te = te & ~is_tr
    out["toxic_share_test_snapshots"] = float(tox0[snap_te].mean()) if snap_te.any() else float("nan")
    if truth is None:
        return out
    wins = [(c.hl_start_ts_ns, c.hl_end_ts_ns) for c in truth.cascades if c.symbol_id == symbol_id]
    guard = int(2e9)
    # calm: labelled Quiet or Normal on our venue, 2 s or more away from any cascade
    calm = outside_windows(ts, wins, guard)
    calm_reg = np.zeros(ts.size, dtype=bool)
    for r in truth.regimes:
        if r.symbol_id == symbol_id and r.regime in (int(Regime.QUIET), int(Regime.NORMAL)):
            calm_reg |= (ts >= r.hl_start_ts_ns) & (ts < r.hl_end_ts_ns)
    calm &= calm_reg
    w_tr = [w for w in wins if w[1] + guard < split_ts_ns]
    w_te = [w for w in wins if w[0] >= split_ts_ns]
    tr = ts < split_ts_ns
    thr_fit, tr_figs = choose_toxic_threshold(ts[tr], is_tr[tr], p_fit[tr], hold, w_tr, calm[tr],
                                              cfg.toxic_false_alarm_budget, cfg.toxic_threshold_grid)
    out["threshold_fit"] = thr_fit
    out["threshold_fit_train"] = tr_figs
    for name, p, thr in (("fitted_config", p_fit, thr0), ("fitted_thrfit", p_fit, thr_fit),
                         ("prior_config", p_pri, thr0)):
        tox = offline_toxic(ts, p, thr, hold)
        det = cascade_detection(ts[te], is_tr[te], tox[te], w_te)
        sel = snap_te & calm
        det["false_alarm"] = float(tox[sel].mean()) if sel.any() else float("nan")
        det["threshold"] = thr
        out[f"cascades_{name}"] = det
    # Brier of P(toxic) per test trade against "inside a labelled cascade"
    sel = te & is_tr
    y = (~outside_windows(ts[sel], wins, 0)).astype(np.float64)
    out["cascade_brier"] = binary_metrics(p_fit[sel], y)
    return out


def _qv_shares(snaps: list[StateSnapshot], split_ts_ns: int, truth: GroundTruth | None, symbol_id: int,
               qvm: QueueValueModel, heur: HeuristicQueueValue, cfg: PipelineConfig) -> dict[str, Any]:
    """Share of test samples where queue value (joining the back of the best level) is
    negative inside cascades and positive in quiet periods, by fee tier."""
    fee_now = qvm.maker_fee_bps
    gross_l: list[float] = []
    gross_h: list[float] = []
    cas: list[bool] = []
    swept: list[bool] = []
    quiet: list[bool] = []
    for s in snaps:
        if s.ts_ns < split_ts_ns:
            continue
        in_c, direction = _in_cascade(truth, symbol_id, s.ts_ns, s)
        q = _regime_label(truth, symbol_id, s.ts_ns, s) == int(Regime.QUIET)
        for side, px in ((1, s.best_bid), (-1, s.best_ask)):
            gross_l.append(qvm.queue_value(side, px, 1.0, s) + fee_now)
            gross_h.append(heur.queue_value(side, px, 1.0, s) + fee_now)
            cas.append(in_c)
            swept.append(in_c and direction == -side)
            quiet.append(q)
    gl, gh = np.asarray(gross_l), np.asarray(gross_h)
    c_, sw, qu = np.asarray(cas, dtype=bool), np.asarray(swept, dtype=bool), np.asarray(quiet, dtype=bool)
    out: dict[str, Any] = {"n_cascade": int(c_.sum()) // 1, "n_swept": int(sw.sum()), "n_quiet": int(qu.sum()),
                           "n": int(gl.size), "labels": "generator" if truth is not None else "regime filter"}
    tiers = [cfg.fee_tier] + [t for t in cfg.report_tiers if t != cfg.fee_tier]
    for tier in tiers:
        fee = tier_maker_fee_bps(tier)
        row = {"maker_fee_bps": fee}
        for name, g in (("learned", gl), ("heuristic", gh)):
            net = g - fee
            row[f"{name}_neg_in_cascade"] = float(np.mean(net[c_] < 0)) if c_.any() else float("nan")
            row[f"{name}_neg_swept_side"] = float(np.mean(net[sw] < 0)) if sw.any() else float("nan")
            row[f"{name}_pos_in_quiet"] = float(np.mean(net[qu] > 0)) if qu.any() else float("nan")
            row[f"{name}_pos_all"] = float(np.mean(net > 0)) if net.size else float("nan")
        out[tier] = row
    return out


def _leadlag(out: CoinResult, r2: ReplayResult, events: Sequence[object], split_ts_ns: int,
             truth: GroundTruth | None, symbol_id: int, coin: str, cfg: PipelineConfig,
             trained_on: str) -> dict[str, Any]:
    s_ts = np.asarray(r2.s_ts, dtype=np.int64)
    s_ref = np.asarray(r2.s_ref, dtype=np.float64)
    if s_ts.size == 0 or not (s_ref > 0).any():
        return {"status": "no reference (Binance) prices in this data"}
    llc = LeadLagConfig()
    h_ns = int(llc.horizon_s * 1e9)
    tape_ts, tape_mid = r2.mid_tape()
    m0 = mid_at(tape_ts, tape_mid, s_ts)
    m1 = mid_at(tape_ts, tape_mid, s_ts + h_ns)
    move = np.log(m1 / m0) * 1e4
    move[in_outage(r2.outages, s_ts, s_ts + h_ns, r2.last_ts_ns)] = np.nan
    dev = np.asarray(r2.s_dev, dtype=np.float64)
    skew = np.asarray(r2.s_skew, dtype=np.float64)
    alarm = np.asarray(r2.s_cp, dtype=bool) & (s_ref > 0)
    sdir = np.asarray(r2.s_dir, dtype=np.int64)
    tr = s_ts + h_ns < split_ts_ns
    te = s_ts >= split_ts_ns
    beta, n_fit = fit_pass_through(dev[tr], move[tr], alarm[tr], llc.pass_through, cfg.fit.min_pass_through_n)
    skew_te = skew[te] * (beta / llc.pass_through if llc.pass_through > 0 else 1.0)
    fig: dict[str, Any] = {"pass_through": beta, "pass_through_n": n_fit, "prior_pass_through": llc.pass_through}
    sel = alarm[te]
    fig["alarmed_share_test"] = float(sel.mean()) if sel.size else float("nan")
    fig["skew_vs_move_alarmed"] = regression_metrics(skew_te[sel], move[te][sel])
    # timing vs labelled cascades (Binance time) and vs detected Binance moves
    within = int(cfg.signal_within_s * 1e9)
    if truth is not None:
        delays: list[float] = []
        before_hl: list[float] = []
        n = missed = 0
        for c in truth.cascades:
            if c.symbol_id != symbol_id or c.start_ts_ns < split_ts_ns:
                continue
            n += 1
            t = first_alarm_after(s_ts, sdir, c.start_ts_ns, c.direction, within)
            if t < 0:
                missed += 1
                continue
            delays.append((t - c.start_ts_ns) / 1e6)
            before_hl.append((c.hl_start_ts_ns - t) / 1e6)
        fig["cascades"] = {"n": n, "missed": missed, "signal_after_binance_start_ms": summarize_ms(delays),
                           "signal_before_hl_start_ms": summarize_ms(before_hl)}
    ref_ts, ref_mid = _ref_tape(events, symbol_id)
    rsel = ref_ts >= split_ts_ns
    moves = binance_moves(ref_ts[rsel], ref_mid[rsel], cfg.move_bps, cfg.move_window_ms, cfg.move_quiet_ms)
    d_sig: list[float] = []
    d_done: list[float] = []
    d_hl: list[float] = []
    lead_sig: list[float] = []
    n_missed = 0
    for t_move, direction, t_done in moves:
        t_sig = first_alarm_after(s_ts, sdir, t_move, direction, within)
        t_hl = first_move_after(tape_ts, tape_mid, t_move, direction, 0.5 * cfg.move_bps, 3 * within)
        if t_hl >= 0:
            d_hl.append((t_hl - t_move) / 1e6)
        if t_sig < 0:
            n_missed += 1
            continue
        d_sig.append((t_sig - t_move) / 1e6)
        d_done.append((t_sig - t_done) / 1e6)
        if t_hl >= 0:
            lead_sig.append((t_hl - t_sig) / 1e6)
    fig["binance_moves"] = {"n": len(moves), "missed": n_missed, "move_bps": cfg.move_bps,
                            "signal_after_move_ms": summarize_ms(d_sig),
                            "signal_after_move_complete_ms": summarize_ms(d_done),
                            "hl_half_move_after_move_ms": summarize_ms(d_hl),
                            "signal_before_hl_half_move_ms": summarize_ms(lead_sig)}
    hl_ts = tape_ts[tape_ts >= split_ts_ns]
    hl_mid = tape_mid[tape_ts >= split_ts_ns]
    if ref_ts[rsel].size > 10 and hl_ts.size > 10:
        hy = hy_lead_lag(ref_ts[rsel], ref_mid[rsel], hl_ts, hl_mid, lag_grid_ms(1500.0, 25.0))
        fig["hy_lead_ms"] = hy.peak_lag_ms
        fig["hy_lead_refined_ms"] = hy.peak_lag_refined_ms
        fig["hy_corr"] = hy.peak_corr
    llc_fit = msgspec.structs.replace(llc, pass_through=beta)
    metrics = finite_metrics({f"test_{k}": v for k, v in fig["skew_vs_move_alarmed"].items()})
    out.leadlag = LeadLagParams(symbol=coin, config=llc_fit, metrics=metrics, trained_on=trained_on)
    return fig


def _ref_tape(events: Sequence[object], symbol_id: int) -> tuple[npt.NDArray[np.int64], FloatArr]:
    ts: list[int] = []
    mid: list[float] = []
    for ev in events:
        if isinstance(ev, RefPrice) and ev.symbol_id == symbol_id and ev.mid_px > 0.0:
            ts.append(ev.ts_ns)
            mid.append(ev.mid_px)
    return np.asarray(ts, dtype=np.int64), np.asarray(mid, dtype=np.float64)


def hy_cross_asset(x_ts_ns: npt.NDArray[np.int64], x_mid: FloatArr, y_ts_ns: npt.NDArray[np.int64], y_mid: FloatArr
                   ) -> LeadLagResult:
    """Hayashi-Yoshida lead of x over y on the default -1500..1500 ms grid (25 ms)."""
    return hy_lead_lag(x_ts_ns, x_mid, y_ts_ns, y_mid, lag_grid_ms(1500.0, 25.0))
