"""Continuous model validation: per-model scorecards, verdicts, retirement, model_confidence.

Seed 002, engineer 3: the calibration gate that never closes. Every model (a toxicity
classifier, the quoting edge model, a lead-lag signal...) reports observations: a predicted
probability with the binary outcome it predicted, and/or a predicted edge in bps with the
edge realised. The validator keeps a rolling window per model and, every
``evaluate_every_fills`` fills, re-scores each one:

- Brier score over the window: mean (p - y)^2 (0.25 is the uninformed coin).
- Information ratio: the t-ratio of the edge realised by following the model's sign over
  the window, mean(r) / sd(r) x sqrt(n) with r = sign(predicted) x realised. Scaling by
  sqrt(n) makes the thresholds read per window (a per-observation ratio of 0.05 over 100
  observations is 0.5).
- Mutual information (bits) between the predicted probability (``mi_bins`` equal-width
  bins) and the outcome, against a baseline: the MI measured when the model first filled
  its window, unless set explicitly (e.g. from the offline calibration).
- Edge bias: EWMA of predicted - realised edge, bps.
- Calibration slope: least-squares slope of realised on predicted edge (1 is calibrated).

Evaluation also happens every ``evaluate_every_observations`` resolved observations, so
signals scored without fills (Shadow) get verdicts too.

Verdicts: Warming (fewer than ``min_observations``), Healthy (every measured metric on the
healthy side), Degraded (anything borderline: weight 5-50% by score), Retired (a Brier or
IR breach for ``retire_fast_evaluations`` consecutive evaluations, or MI below 30% of
baseline for ``retire_mi_evaluations``): weight 0, the signal is disabled until reinstated.

model_confidence = mean(healthy models / all models, mean model score), each model's score
in [0, 1] being the mean of its metric scores, each 0 at the retirement threshold and 1 at
the healthy one.

Also here: :class:`MarkoutBook`, which turns fills into realised edges (the mid move over
the markout horizon, in the fill's direction, net of fee). Pure logic.
"""

from __future__ import annotations

import enum
import math
from collections import deque

import msgspec

from mm.risk.config import ValidationConfig


class ModelVerdict(enum.IntEnum):
    WARMING = 0
    HEALTHY = 1
    DEGRADED = 2
    RETIRED = 3


class ModelObservation(msgspec.Struct, frozen=True, kw_only=True):
    """One resolved prediction. Either pair (prob, outcome) or (predicted_bps, realized_bps)
    or both may be given; a missing pair simply does not feed the metrics built on it."""

    model: str
    ts_ns: int
    prob: float | None = None
    outcome: bool | None = None
    predicted_bps: float | None = None
    realized_bps: float | None = None


class ModelScorecard(msgspec.Struct, kw_only=True):
    """A model's live performance. Metrics are None until measurable."""

    model_name: str
    n_prob: int = 0
    n_edge: int = 0
    brier_score: float | None = None
    information_ratio: float | None = None
    mutual_information: float | None = None
    mi_baseline: float | None = None
    mi_ratio: float | None = None
    edge_bias_bps: float = 0.0
    calibration_slope: float | None = None
    last_evaluated_ns: int = 0
    verdict: int = ModelVerdict.WARMING
    score: float = 0.0
    weight: float = 0.0
    reasons: list[str] = msgspec.field(default_factory=list)
    fast_breaches: int = 0
    mi_breaches: int = 0
    retired_ns: int = 0


class VerdictChange(msgspec.Struct, frozen=True):
    model: str
    ts_ns: int
    from_verdict: int
    to_verdict: int
    reasons: str


def brier_score(probs: list[float], outcomes: list[bool]) -> float:
    return sum((p - (1.0 if y else 0.0)) ** 2 for p, y in zip(probs, outcomes)) / len(probs)


def information_ratio(predicted: list[float], realized: list[float]) -> float | None:
    """mean/sd x sqrt(n) of sign(predicted) x realized; None if fewer than 2 or zero spread."""
    r = [math.copysign(1.0, p) * x for p, x in zip(predicted, realized) if p != 0.0]
    n = len(r)
    if n < 2:
        return None
    mean = sum(r) / n
    var = sum((x - mean) ** 2 for x in r) / (n - 1)
    if var <= 0.0:
        return math.copysign(math.inf, mean) if mean != 0.0 else None
    return mean / math.sqrt(var) * math.sqrt(n)


def mutual_information_bits(probs: list[float], outcomes: list[bool], bins: int) -> float:
    """Plug-in MI (bits) between the binned probability and the binary outcome."""
    n = len(probs)
    if n == 0:
        return 0.0
    joint = [[0, 0] for _ in range(bins)]
    for p, y in zip(probs, outcomes):
        b = min(max(int(p * bins), 0), bins - 1)
        joint[b][1 if y else 0] += 1
    py = [sum(joint[b][k] for b in range(bins)) / n for k in (0, 1)]
    mi = 0.0
    for b in range(bins):
        pb = (joint[b][0] + joint[b][1]) / n
        for k in (0, 1):
            pbk = joint[b][k] / n
            if pbk > 0.0:
                mi += pbk * math.log2(pbk / (pb * py[k]))
    return max(mi, 0.0)


def ols_slope(x: list[float], y: list[float]) -> float | None:
    n = len(x)
    if n < 2:
        return None
    mx = sum(x) / n
    my = sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    if sxx <= 1e-18:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sxx


def _ramp(x: float, zero_at: float, one_at: float) -> float:
    """Linear score: 0 at ``zero_at``, 1 at ``one_at`` (either direction), clipped to [0, 1]."""
    if not math.isfinite(x):
        return 1.0 if (x > 0) == (one_at > zero_at) else 0.0
    t = (x - zero_at) / (one_at - zero_at)
    return min(max(t, 0.0), 1.0)


class _Window:
    def __init__(self, n: int) -> None:
        self.probs: deque[float] = deque(maxlen=n)
        self.outcomes: deque[bool] = deque(maxlen=n)
        self.pred_bps: deque[float] = deque(maxlen=n)
        self.real_bps: deque[float] = deque(maxlen=n)
        self.total = 0
        self.edge_total = 0


class ContinuousValidator:
    """Scorecards of every registered model, re-evaluated every N fills."""

    def __init__(self, cfg: ValidationConfig) -> None:
        self.cfg = cfg
        self.cards: dict[str, ModelScorecard] = {}
        self._windows: dict[str, _Window] = {}
        self._fills_since_eval = 0
        self._obs_since_eval = 0
        self.evaluations = 0
        self.changes: deque[VerdictChange] = deque(maxlen=1000)
        self._bias_alpha = 1.0 - 2.0 ** (-1.0 / cfg.edge_bias_half_life_obs)

    def register(self, model: str) -> ModelScorecard:
        card = self.cards.get(model)
        if card is None:
            card = self.cards[model] = ModelScorecard(model_name=model, weight=self.cfg.warming_weight)
            self._windows[model] = _Window(self.cfg.window)
        return card

    def set_mi_baseline(self, model: str, bits: float) -> None:
        if math.isfinite(bits) and bits >= 0.0:
            self.register(model).mi_baseline = bits

    def observe(self, obs: ModelObservation) -> bool:
        """Add one observation to its model's window. Returns False if it was unusable."""
        card = self.register(obs.model)
        w = self._windows[obs.model]
        used = False
        if obs.prob is not None and obs.outcome is not None and math.isfinite(obs.prob):
            w.probs.append(min(max(obs.prob, 0.0), 1.0))
            w.outcomes.append(bool(obs.outcome))
            used = True
        if (obs.predicted_bps is not None and obs.realized_bps is not None
                and math.isfinite(obs.predicted_bps) and math.isfinite(obs.realized_bps)):
            w.pred_bps.append(obs.predicted_bps)
            w.real_bps.append(obs.realized_bps)
            err = obs.predicted_bps - obs.realized_bps
            card.edge_bias_bps = card.edge_bias_bps + self._bias_alpha * (err - card.edge_bias_bps) if w.edge_total else err
            w.edge_total += 1
            used = True
        if used:
            w.total += 1
        return used

    def note_fills(self, n: int, now_ns: int) -> list[VerdictChange]:
        """Count fills; every ``evaluate_every_fills`` of them, re-evaluate every model."""
        self._fills_since_eval += n
        if self._fills_since_eval < self.cfg.evaluate_every_fills:
            return []
        self._fills_since_eval = 0
        return self.evaluate(now_ns)

    def note_observations(self, n: int, now_ns: int) -> list[VerdictChange]:
        """Count resolved model observations; every ``evaluate_every_observations`` of them
        (0: never), re-evaluate every model (signals are scored while no fill happens, e.g.
        in Shadow)."""
        every = self.cfg.evaluate_every_observations
        if every <= 0:
            return []
        self._obs_since_eval += n
        if self._obs_since_eval < every:
            return []
        self._obs_since_eval = 0
        return self.evaluate(now_ns)

    def evaluate(self, now_ns: int) -> list[VerdictChange]:
        self.evaluations += 1
        changes = []
        for name in sorted(self.cards):
            ch = self._evaluate_one(name, now_ns)
            if ch is not None:
                changes.append(ch)
                self.changes.append(ch)
        return changes

    def _evaluate_one(self, name: str, now_ns: int) -> VerdictChange | None:
        cfg = self.cfg
        card = self.cards[name]
        w = self._windows[name]
        before = card.verdict
        card.last_evaluated_ns = now_ns
        card.n_prob = len(w.probs)
        card.n_edge = len(w.pred_bps)
        if card.verdict == ModelVerdict.RETIRED:
            return None
        probs, outs = list(w.probs), list(w.outcomes)
        pred, real = list(w.pred_bps), list(w.real_bps)
        has_prob = len(probs) >= cfg.min_observations
        has_edge = len(pred) >= cfg.min_observations
        card.brier_score = brier_score(probs, outs) if has_prob else None
        card.information_ratio = information_ratio(pred, real) if has_edge else None
        card.calibration_slope = ols_slope(pred, real) if has_edge else None
        if has_prob:
            card.mutual_information = mutual_information_bits(probs, outs, cfg.mi_bins)
            if card.mi_baseline is None and len(probs) >= cfg.window:
                card.mi_baseline = card.mutual_information
        else:
            card.mutual_information = None
        base = card.mi_baseline
        if card.mutual_information is not None and base is not None and base >= cfg.min_baseline_mi_bits:
            card.mi_ratio = card.mutual_information / base
        else:
            card.mi_ratio = None
        if not (has_prob or has_edge):
            card.verdict = ModelVerdict.WARMING
            card.score = 0.0
            card.weight = cfg.warming_weight
            card.reasons = [f"warming: {max(len(probs), len(pred))} of {cfg.min_observations} observations"]
            return self._change(card, before, now_ns)

        reasons: list[str] = []
        fast = False
        if card.brier_score is not None and card.brier_score > cfg.retire_brier:
            fast = True
            reasons.append(f"Brier {card.brier_score:.3f} > {cfg.retire_brier}")
        ir = card.information_ratio
        if ir is not None and ir < cfg.retire_ir:
            fast = True
            reasons.append(f"IR {ir:.2f} < {cfg.retire_ir}")
        mi_breach = card.mi_ratio is not None and card.mi_ratio < cfg.retire_mi_ratio
        if mi_breach:
            reasons.append(f"MI {card.mi_ratio:.0%} of baseline < {cfg.retire_mi_ratio:.0%}")
        card.fast_breaches = card.fast_breaches + 1 if fast else 0
        card.mi_breaches = card.mi_breaches + 1 if mi_breach else 0

        scores: list[float] = []
        if card.brier_score is not None:
            scores.append(_ramp(card.brier_score, cfg.retire_brier, cfg.healthy_max_brier))
        if ir is not None:
            scores.append(_ramp(ir, cfg.retire_ir, cfg.healthy_min_ir))
        if card.mi_ratio is not None:
            scores.append(_ramp(card.mi_ratio, cfg.retire_mi_ratio, cfg.healthy_min_mi_ratio))
        if has_edge:
            scores.append(_ramp(abs(card.edge_bias_bps), 2.0 * cfg.max_edge_bias_bps, cfg.max_edge_bias_bps))
        slope = card.calibration_slope
        if slope is not None:
            lo, hi = cfg.calibration_slope_min, cfg.calibration_slope_max
            outside = lo - slope if slope < lo else (slope - hi if slope > hi else 0.0)
            scores.append(_ramp(outside, hi - lo, 0.0))
        card.score = sum(scores) / len(scores) if scores else 0.0

        if card.fast_breaches >= cfg.retire_fast_evaluations or card.mi_breaches >= cfg.retire_mi_evaluations:
            card.verdict = ModelVerdict.RETIRED
            card.weight = 0.0
            card.score = 0.0
            card.retired_ns = now_ns
            card.reasons = ["retired: " + "; ".join(reasons)]
            return self._change(card, before, now_ns)

        healthy = True
        if card.brier_score is not None and not card.brier_score < cfg.healthy_max_brier:
            healthy = False
            reasons.append(f"Brier {card.brier_score:.3f} >= {cfg.healthy_max_brier}")
        if ir is not None and not ir > cfg.healthy_min_ir:
            healthy = False
            if ir >= cfg.retire_ir:
                reasons.append(f"IR {ir:.2f} <= {cfg.healthy_min_ir}")
        if card.mi_ratio is not None and not card.mi_ratio > cfg.healthy_min_mi_ratio:
            healthy = False
            if not mi_breach:
                reasons.append(f"MI {card.mi_ratio:.0%} of baseline <= {cfg.healthy_min_mi_ratio:.0%}")
        if has_edge and abs(card.edge_bias_bps) > cfg.max_edge_bias_bps:
            healthy = False
            reasons.append(f"edge bias {card.edge_bias_bps:+.2f} bps")
        if slope is not None and not (cfg.calibration_slope_min <= slope <= cfg.calibration_slope_max):
            healthy = False
            reasons.append(f"calibration slope {slope:.2f}")
        if healthy:
            card.verdict = ModelVerdict.HEALTHY
            card.weight = 1.0
            card.reasons = []
        else:
            card.verdict = ModelVerdict.DEGRADED
            card.weight = cfg.degraded_weight_min + (cfg.degraded_weight_max - cfg.degraded_weight_min) * card.score
            card.reasons = reasons
        return self._change(card, before, now_ns)

    def _change(self, card: ModelScorecard, before: int, now_ns: int) -> VerdictChange | None:
        if card.verdict == before:
            return None
        return VerdictChange(card.model_name, now_ns, int(before), int(card.verdict), "; ".join(card.reasons))

    def reinstate(self, model: str, now_ns: int) -> bool:
        """Operator: give a retired model a fresh window (it starts Warming again)."""
        card = self.cards.get(model)
        if card is None or card.verdict != ModelVerdict.RETIRED:
            return False
        self._windows[model] = _Window(self.cfg.window)
        baseline = card.mi_baseline
        self.cards[model] = ModelScorecard(model_name=model, weight=self.cfg.warming_weight,
                                           mi_baseline=baseline, last_evaluated_ns=now_ns)
        return True

    # ------------------------------------------------------------------ read-outs

    def enabled(self, model: str) -> bool:
        card = self.cards.get(model)
        return card is None or card.verdict != ModelVerdict.RETIRED

    def weights(self) -> dict[str, float]:
        return {name: card.weight for name, card in self.cards.items()}

    def count(self, verdict: ModelVerdict) -> int:
        return sum(1 for c in self.cards.values() if c.verdict == verdict)

    def degraded_models(self) -> list[str]:
        return sorted(n for n, c in self.cards.items() if c.verdict == ModelVerdict.DEGRADED)

    def retired_models(self) -> list[str]:
        return sorted(n for n, c in self.cards.items() if c.verdict == ModelVerdict.RETIRED)

    def model_confidence(self) -> float:
        """mean(healthy / all, mean score); 0 with no models."""
        if not self.cards:
            return 0.0
        n = len(self.cards)
        healthy = self.count(ModelVerdict.HEALTHY) / n
        mean_score = sum(c.score for c in self.cards.values()) / n
        return 0.5 * (healthy + mean_score)

    def worst_brier(self) -> float | None:
        """Highest Brier of the enabled models that have one."""
        vals = [c.brier_score for c in self.cards.values()
                if c.verdict != ModelVerdict.RETIRED and c.brier_score is not None]
        return max(vals) if vals else None

    def lowest_ir(self) -> float | None:
        vals = [c.information_ratio for c in self.cards.values()
                if c.verdict != ModelVerdict.RETIRED and c.information_ratio is not None]
        return min(vals) if vals else None

    def status(self) -> dict[str, object]:
        return {
            "model_confidence": round(self.model_confidence(), 4),
            "evaluations": self.evaluations,
            "models": {
                name: {**msgspec.to_builtins(card), "verdict": ModelVerdict(card.verdict).name}
                for name, card in sorted(self.cards.items())
            },
        }


# ---------------------------------------------------------------------- markouts


class PendingFill(msgspec.Struct, frozen=True, kw_only=True):
    symbol_id: int
    ts_ns: int
    side: int
    px: float
    fee_bps: float
    level: int
    epoch: int
    counts: bool  # credited as evidence at the exposure level of epoch
    shadow: bool
    predicted_edge_bps: float | None = None
    paper_edge_bps: float | None = None
    toxic_prob: float | None = None  # the toxicity classifier's probability at the fill
    mid_px: float = 0.0  # the mid the fill is measured against (0: unknown)


class ResolvedFill(msgspec.Struct, frozen=True, kw_only=True):
    fill: PendingFill
    edge_bps: float
    resolved_ns: int
    mid_px: float = 0.0  # the mid that resolved it


class MarkoutBook:
    """Fills waiting for their markout: resolved by the first mark at or after ts + horizon.

    Realised edge, bps = side x (mid_after - px) / px x 1e4 - fee / notional x 1e4.
    """

    def __init__(self, horizon_s: float, max_pending: int) -> None:
        self.horizon_ns = int(horizon_s * 1e9)
        self.max_pending = max_pending
        self._pending: dict[int, deque[PendingFill]] = {}
        self.dropped = 0

    def add(self, fill: PendingFill) -> None:
        q = self._pending.setdefault(fill.symbol_id, deque())
        q.append(fill)
        if sum(len(v) for v in self._pending.values()) > self.max_pending:
            oldest = min((v for v in self._pending.values() if v), key=lambda v: v[0].ts_ns)
            oldest.popleft()
            self.dropped += 1

    def pending(self) -> int:
        return sum(len(v) for v in self._pending.values())

    def on_mark(self, symbol_id: int, mid_px: float, now_ns: int) -> list[ResolvedFill]:
        q = self._pending.get(symbol_id)
        if not q or not (mid_px > 0.0) or not math.isfinite(mid_px):
            return []
        out = []
        while q and q[0].ts_ns + self.horizon_ns <= now_ns:
            f = q.popleft()
            edge = f.side * (mid_px - f.px) / f.px * 1e4 - f.fee_bps
            out.append(ResolvedFill(fill=f, edge_bps=edge, resolved_ns=now_ns, mid_px=mid_px))
        return out
