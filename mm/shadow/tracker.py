"""Sim-to-real measurement: the gap tracker, the fill calibrator, P(fill) validation, and
execution_confidence.

Seed 002, engineer 1. In live trading the paper fill model keeps running alongside real
quoting (the shadow engine); this module measures how far apart the two are and feeds the
answer back:

- :class:`SimToRealTracker`: for each live fill paired with what paper predicted for the
  same quote, gap = EWMA |paper edge - live edge| in bps (and the signed bias). Unmeasured
  until ``min_pairs`` pairs.
- :class:`FillCalibrator`: quote episodes (a quote resting at a distance from mid for some
  seconds, filled or not) update an exponential fill-intensity model
  lambda(d) = A exp(-kappa d), d in bps from mid, per second: the maximum-likelihood fit of
  a Poisson model over distance buckets, shrunk towards the configured prior by
  pseudo-exposure, statistics decaying with ``calibrator_half_life_s``. The paper venue's
  fill model takes A and kappa (and the per-bucket observed / predicted ratio as a
  correction factor for any other fill model).
- Predicted P(fill) against observed, per distance bucket and as a reliability table over
  predicted-probability buckets, with the expected calibration error.
- :func:`execution_confidence`: (1 - gap / zero-confidence gap) x exchange-health factor.

Pure logic: times are passed in.
"""

from __future__ import annotations

import bisect
import math

import msgspec

from mm.risk.config import ShadowConfig
from mm.risk.escalation import ExchangeHealth


class SimToRealTracker:
    """EWMA of |paper edge - live edge| over paired fills, bps."""

    def __init__(self, cfg: ShadowConfig) -> None:
        self.cfg = cfg
        self.alpha = 1.0 - 2.0 ** (-1.0 / cfg.gap_half_life_obs)
        self.pairs = 0
        self._gap = 0.0
        self._bias = 0.0
        self.last_ts_ns = 0

    def observe(self, paper_edge_bps: float, live_edge_bps: float, now_ns: int) -> bool:
        if not (math.isfinite(paper_edge_bps) and math.isfinite(live_edge_bps)):
            return False
        d = paper_edge_bps - live_edge_bps
        if self.pairs == 0:
            self._gap, self._bias = abs(d), d
        else:
            self._gap += self.alpha * (abs(d) - self._gap)
            self._bias += self.alpha * (d - self._bias)
        self.pairs += 1
        self.last_ts_ns = now_ns
        return True

    @property
    def gap_bps(self) -> float | None:
        """EWMA |paper - live| edge, or None while fewer than ``min_pairs`` pairs."""
        return self._gap if self.pairs >= self.cfg.min_pairs else None

    @property
    def bias_bps(self) -> float | None:
        """EWMA of paper - live edge (positive: paper is optimistic)."""
        return self._bias if self.pairs >= self.cfg.min_pairs else None

    def status(self) -> dict[str, object]:
        return {"gap_bps": self.gap_bps, "bias_bps": self.bias_bps, "pairs": self.pairs}


def execution_confidence(gap_bps: float | None, health: ExchangeHealth, cfg: ShadowConfig) -> float:
    """Gap part x health factor, in [0, 1]."""
    if gap_bps is None:
        gap_part = cfg.unknown_gap_confidence
    elif not math.isfinite(gap_bps):
        gap_part = 0.0
    else:
        gap_part = min(max(1.0 - gap_bps / cfg.zero_confidence_gap_bps, 0.0), 1.0)
    return gap_part * cfg.health_factors[int(health)]


class FillModelParams(msgspec.Struct, frozen=True, kw_only=True):
    """lambda(d) = a_per_s x exp(-kappa_per_bps x d): fills per second of a quote d bps from mid."""

    a_per_s: float
    kappa_per_bps: float
    fills: float
    exposure_s: float

    def p_fill(self, distance_bps: float, horizon_s: float) -> float:
        lam = self.a_per_s * math.exp(-self.kappa_per_bps * max(distance_bps, 0.0))
        return 1.0 - math.exp(-lam * max(horizon_s, 0.0))


class BucketStats(msgspec.Struct, kw_only=True):
    lo_bps: float
    hi_bps: float | None
    exposure_s: float = 0.0
    fills: float = 0.0
    dist_exposure: float = 0.0  # sum of exposure x distance (for the bucket's mean distance)
    episodes: float = 0.0
    predicted_fills: float = 0.0  # sum of the paper model's P(fill) of the episodes
    predicted_episodes: float = 0.0  # episodes that carried a prediction

    def mean_distance_bps(self) -> float:
        if self.exposure_s > 0.0:
            return self.dist_exposure / self.exposure_s
        return self.lo_bps if self.hi_bps is None else 0.5 * (self.lo_bps + self.hi_bps)


class FillCalibrator:
    """Online estimate of the fill-intensity curve from live quote episodes."""

    def __init__(self, cfg: ShadowConfig) -> None:
        self.cfg = cfg
        edges = cfg.distance_buckets_bps
        self.buckets = [BucketStats(lo_bps=lo, hi_bps=hi) for lo, hi in zip(edges, [*edges[1:], None])]
        self.last_ns: int | None = None
        self.episodes = 0
        self._params = FillModelParams(a_per_s=cfg.prior_a_per_s, kappa_per_bps=cfg.prior_kappa_per_bps,
                                       fills=0.0, exposure_s=0.0)

    def bucket_of(self, distance_bps: float) -> int:
        return max(bisect.bisect_right(self.cfg.distance_buckets_bps, max(distance_bps, 0.0)) - 1, 0)

    def _decay(self, now_ns: int) -> None:
        if self.last_ns is not None and now_ns > self.last_ns:
            f = 2.0 ** (-(now_ns - self.last_ns) / 1e9 / self.cfg.calibrator_half_life_s)
            for b in self.buckets:
                b.exposure_s *= f
                b.fills *= f
                b.dist_exposure *= f
                b.episodes *= f
                b.predicted_fills *= f
                b.predicted_episodes *= f
        if self.last_ns is None or now_ns > self.last_ns:
            self.last_ns = now_ns

    def observe(
        self, distance_bps: float, exposure_s: float, filled: bool, now_ns: int, predicted_p_fill: float | None = None
    ) -> bool:
        """One quote episode: rested ``exposure_s`` at ``distance_bps`` from mid, filled or not.

        ``predicted_p_fill`` is what the paper model gave this episode when it was placed.
        """
        if not (math.isfinite(distance_bps) and math.isfinite(exposure_s) and exposure_s >= 0.0):
            return False
        self._decay(now_ns)
        b = self.buckets[self.bucket_of(distance_bps)]
        d = max(distance_bps, 0.0)
        b.exposure_s += exposure_s
        b.dist_exposure += exposure_s * d
        b.episodes += 1.0
        if filled:
            b.fills += 1.0
        if predicted_p_fill is not None and math.isfinite(predicted_p_fill):
            b.predicted_fills += min(max(predicted_p_fill, 0.0), 1.0)
            b.predicted_episodes += 1.0
        self.episodes += 1
        self._params = self._fit()
        return True

    def _fit(self) -> FillModelParams:
        """Poisson MLE of (A, kappa) over buckets plus prior pseudo-data.

        For a fixed kappa, A = sum N / sum E exp(-kappa d). The profile log-likelihood is
        concave in kappa; its derivative is proportional to (exposure-weighted mean d under
        exp(-kappa d)) - (fill-weighted mean d), which decreases in kappa: bisection.
        """
        cfg = self.cfg
        ds, es, ns = [], [], []
        for b in self.buckets:
            d = b.mean_distance_bps()
            prior_n = cfg.prior_a_per_s * math.exp(-cfg.prior_kappa_per_bps * d) * cfg.prior_exposure_s
            ds.append(d)
            es.append(b.exposure_s + cfg.prior_exposure_s)
            ns.append(b.fills + prior_n)
        total_n = sum(ns)
        mean_d_fills = sum(n * d for n, d in zip(ns, ds)) / total_n

        def grad(k: float) -> float:
            w = [e * math.exp(-k * d) for e, d in zip(es, ds)]
            return sum(wi * d for wi, d in zip(w, ds)) / sum(w) - mean_d_fills

        lo, hi = cfg.kappa_min_per_bps, cfg.kappa_max_per_bps
        if grad(lo) <= 0.0:
            kappa = lo
        elif grad(hi) >= 0.0:
            kappa = hi
        else:
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                if grad(mid) > 0.0:
                    lo = mid
                else:
                    hi = mid
            kappa = 0.5 * (lo + hi)
        a = total_n / sum(e * math.exp(-kappa * d) for e, d in zip(es, ds))
        live_n = sum(b.fills for b in self.buckets)
        live_e = sum(b.exposure_s for b in self.buckets)
        return FillModelParams(a_per_s=a, kappa_per_bps=kappa, fills=live_n, exposure_s=live_e)

    @property
    def params(self) -> FillModelParams:
        return self._params

    def table(self) -> list[dict[str, float | None]]:
        """Per distance bucket: observed intensity, the fit's, predicted vs observed fills."""
        out: list[dict[str, float | None]] = []
        p = self._params
        for b in self.buckets:
            d = b.mean_distance_bps()
            obs_rate = b.fills / b.exposure_s if b.exposure_s > 0.0 else None
            pred_rate = p.a_per_s * math.exp(-p.kappa_per_bps * d)
            obs_p = b.fills / b.episodes if b.episodes > 0.0 else None
            pred_p = b.predicted_fills / b.predicted_episodes if b.predicted_episodes > 0.0 else None
            out.append({
                "lo_bps": b.lo_bps, "hi_bps": b.hi_bps, "episodes": round(b.episodes, 3),
                "exposure_s": round(b.exposure_s, 3), "fills": round(b.fills, 3),
                "observed_rate_per_s": obs_rate, "fitted_rate_per_s": pred_rate,
                "observed_p_fill": obs_p, "predicted_p_fill": pred_p,
                "correction": (obs_p / pred_p) if (obs_p is not None and pred_p) else None,
            })
        return out


class ProbBucket(msgspec.Struct, kw_only=True):
    lo: float
    hi: float
    n: int = 0
    sum_pred: float = 0.0
    fills: int = 0


class FillProbabilityValidator:
    """Reliability of the paper model's P(fill): predicted against observed per bucket."""

    def __init__(self, cfg: ShadowConfig) -> None:
        k = cfg.prob_buckets
        self.buckets = [ProbBucket(lo=i / k, hi=(i + 1) / k) for i in range(k)]

    def observe(self, predicted_p_fill: float, filled: bool) -> bool:
        if not math.isfinite(predicted_p_fill):
            return False
        p = min(max(predicted_p_fill, 0.0), 1.0)
        b = self.buckets[min(int(p * len(self.buckets)), len(self.buckets) - 1)]
        b.n += 1
        b.sum_pred += p
        b.fills += int(filled)
        return True

    @property
    def n(self) -> int:
        return sum(b.n for b in self.buckets)

    def calibration_error(self) -> float | None:
        """Expected calibration error: sum over buckets of n/N x |mean predicted - observed rate|."""
        total = self.n
        if total == 0:
            return None
        return sum(b.n / total * abs(b.sum_pred / b.n - b.fills / b.n) for b in self.buckets if b.n)

    def table(self) -> list[dict[str, float | int | None]]:
        return [
            {"lo": b.lo, "hi": b.hi, "n": b.n,
             "mean_predicted": (b.sum_pred / b.n) if b.n else None,
             "observed": (b.fills / b.n) if b.n else None}
            for b in self.buckets
        ]
