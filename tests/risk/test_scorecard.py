"""Continuous validator: metrics, verdicts, retirement, model_confidence; markouts."""

import math
import random

import pytest

from mm.risk.config import ValidationConfig
from mm.validation.scorecard import (
    ContinuousValidator,
    MarkoutBook,
    ModelObservation,
    ModelVerdict,
    PendingFill,
    brier_score,
    information_ratio,
    mutual_information_bits,
    ols_slope,
)

S = 1_000_000_000


def test_metric_helpers() -> None:
    assert brier_score([0.5] * 4, [True, False, True, False]) == pytest.approx(0.25)
    assert brier_score([1.0, 0.0], [True, False]) == 0.0
    # r = sign(pred) x realized = [1, 2, 3]: mean 2, sd 1, n 3 -> 2 sqrt 3
    assert information_ratio([1.0, -1.0, 2.0], [1.0, -2.0, 3.0]) == pytest.approx(2 * math.sqrt(3))
    assert information_ratio([1.0], [1.0]) is None
    assert ols_slope([0.0, 1.0, 2.0], [1.0, 3.0, 5.0]) == pytest.approx(2.0)
    assert ols_slope([1.0, 1.0], [0.0, 5.0]) is None
    # a perfect binary predictor carries H(Y) = 1 bit; an uninformative one 0
    assert mutual_information_bits([0.9, 0.1] * 50, [True, False] * 50, 5) == pytest.approx(1.0)
    assert mutual_information_bits([0.5] * 100, [True, False] * 50, 5) == pytest.approx(0.0)


def feed(v: ContinuousValidator, model: str, n: int, rng: random.Random, skill: float, t0: int = 0,
         bias_bps: float = 0.0) -> None:
    """n observations: outcome y ~ Bernoulli(p_true); the model predicts skill x p_true + (1 - skill) / 2;
    edge: predicted e, realised e - bias + noise."""
    for i in range(n):
        p_true = rng.random()
        y = rng.random() < p_true
        p = skill * p_true + (1 - skill) * 0.5
        e = rng.gauss(1.0, 1.0)
        r = e * skill - bias_bps + rng.gauss(0.0, 1.0)
        v.observe(ModelObservation(model=model, ts_ns=t0 + i, prob=p, outcome=y, predicted_bps=e, realized_bps=r))


def test_healthy_model_and_confidence() -> None:
    v = ContinuousValidator(ValidationConfig())
    v.register("good")
    assert v.model_confidence() == 0.0  # warming: no credit
    feed(v, "good", 120, random.Random(1), skill=1.0)
    ch = v.evaluate(1)
    c = v.cards["good"]
    assert c.verdict == ModelVerdict.HEALTHY and c.weight == 1.0, c.reasons
    assert [(x.from_verdict, x.to_verdict) for x in ch] == [(ModelVerdict.WARMING, ModelVerdict.HEALTHY)]
    assert c.brier_score is not None and c.brier_score < 0.25
    assert c.information_ratio is not None and c.information_ratio > 0.5
    assert c.mi_baseline is not None and c.mi_ratio == pytest.approx(1.0)
    assert c.calibration_slope is not None and 0.5 < c.calibration_slope < 1.5
    assert v.model_confidence() == pytest.approx(1.0)


def test_uninformed_model_is_degraded_then_retired_after_consecutive_breaches() -> None:
    cfg = ValidationConfig(retire_fast_evaluations=3)
    v = ContinuousValidator(cfg)
    rng = random.Random(2)
    for k in range(3):
        # predictions opposite to the truth: Brier well above 0.35
        for i in range(40):
            y = rng.random() < 0.5
            v.observe(ModelObservation(model="bad", ts_ns=i, prob=0.1 if y else 0.9, outcome=y))
        v.evaluate(k)
        if k < 2:
            assert v.cards["bad"].verdict == ModelVerdict.DEGRADED
            assert 0.05 <= v.cards["bad"].weight <= 0.5
    assert v.cards["bad"].verdict == ModelVerdict.RETIRED
    assert not v.enabled("bad") and v.weights()["bad"] == 0.0 and v.retired_models() == ["bad"]
    assert v.reinstate("bad", 10) and v.cards["bad"].verdict == ModelVerdict.WARMING and v.enabled("bad")
    assert not v.reinstate("bad", 11)


def test_mi_decay_retires_only_after_its_own_count() -> None:
    cfg = ValidationConfig(retire_mi_evaluations=4, retire_fast_evaluations=50, min_observations=20)
    v = ContinuousValidator(cfg)
    v.set_mi_baseline("m", 0.5)
    rng = random.Random(3)
    verdicts = []
    for k in range(4):
        for _ in range(100):  # calibrated but uninformative (p = 0.5): Brier 0.25, MI ~ 0
            v.observe(ModelObservation(model="m", ts_ns=k, prob=0.5, outcome=rng.random() < 0.5))
        v.evaluate(k)
        verdicts.append(v.cards["m"].verdict)
    assert verdicts == [ModelVerdict.DEGRADED] * 3 + [ModelVerdict.RETIRED]


def test_edge_bias_and_slope_make_a_model_degraded() -> None:
    v = ContinuousValidator(ValidationConfig())
    feed(v, "biased", 100, random.Random(4), skill=1.0, bias_bps=4.0)
    v.evaluate(1)
    c = v.cards["biased"]
    assert c.edge_bias_bps == pytest.approx(4.0, abs=0.8)
    assert c.verdict == ModelVerdict.DEGRADED and any("edge bias" in r for r in c.reasons)


def test_evaluated_every_n_fills_and_degraded_counted() -> None:
    v = ContinuousValidator(ValidationConfig(evaluate_every_fills=20))
    feed(v, "a", 50, random.Random(5), skill=1.0)
    for _ in range(19):
        assert v.note_fills(1, 0) == []
    assert v.evaluations == 0
    v.note_fills(1, 0)
    assert v.evaluations == 1 and v.degraded_models() == []


def test_model_confidence_formula() -> None:
    v = ContinuousValidator(ValidationConfig())
    feed(v, "good", 100, random.Random(6), skill=1.0)
    v.register("new")
    v.evaluate(0)
    # one healthy of two (0.5), mean score (1 + 0) / 2 = 0.5
    assert v.model_confidence() == pytest.approx(0.5)


def test_markouts_resolve_at_the_horizon_net_of_fees() -> None:
    mb = MarkoutBook(horizon_s=5.0, max_pending=3)

    def pf(ts: int, side: int, px: float, fee_bps: float = 0.0) -> PendingFill:
        return PendingFill(symbol_id=0, ts_ns=ts, side=side, px=px, fee_bps=fee_bps, level=0, epoch=0,
                           counts=True, shadow=False)

    mb.add(pf(0, 1, 100.0, fee_bps=1.5))
    mb.add(pf(1 * S, -1, 100.0))
    assert mb.on_mark(0, 101.0, 4 * S) == []
    out = mb.on_mark(0, 100.1, 5 * S)
    assert len(out) == 1 and out[0].edge_bps == pytest.approx(10.0 - 1.5)
    out = mb.on_mark(0, 100.1, 6 * S)
    assert out[0].edge_bps == pytest.approx(-10.0)
    for i in range(5):
        mb.add(pf(10 * S + i, 1, 100.0))
    assert mb.pending() == 3 and mb.dropped == 2
