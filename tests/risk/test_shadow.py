"""Shadow: sim-to-real gap, fill calibration, P(fill) reliability, execution confidence."""

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm.risk.config import ShadowConfig
from mm.risk.escalation import ExchangeHealth
from mm.shadow.tracker import (
    FillCalibrator,
    FillProbabilityValidator,
    SimToRealTracker,
    execution_confidence,
)

S = 1_000_000_000


def test_gap_is_an_ewma_of_absolute_differences() -> None:
    cfg = ShadowConfig(min_pairs=5, gap_half_life_obs=1.0)  # alpha = 1/2
    t = SimToRealTracker(cfg)
    for i in range(4):
        t.observe(3.0, 1.0, i)
    assert t.gap_bps is None  # not enough pairs
    t.observe(3.0, 1.0, 4)
    assert t.gap_bps == pytest.approx(2.0) and t.bias_bps == pytest.approx(2.0)
    t.observe(1.0, 1.0, 5)
    assert t.gap_bps == pytest.approx(1.0)
    t.observe(0.0, 4.0, 6)  # |d| = 4, d = -4
    assert t.gap_bps == pytest.approx(2.5) and t.bias_bps == pytest.approx(-1.5)
    assert not t.observe(math.nan, 1.0, 7)


def test_execution_confidence() -> None:
    cfg = ShadowConfig()
    assert execution_confidence(None, ExchangeHealth.OK, cfg) == pytest.approx(0.5)
    assert execution_confidence(0.0, ExchangeHealth.OK, cfg) == 1.0
    assert execution_confidence(2.0, ExchangeHealth.OK, cfg) == pytest.approx(0.6)
    assert execution_confidence(2.0, ExchangeHealth.DEGRADED, cfg) == pytest.approx(0.3)
    assert execution_confidence(9.0, ExchangeHealth.OK, cfg) == 0.0
    assert execution_confidence(0.0, ExchangeHealth.CRITICAL, cfg) == 0.0


def test_calibrator_recovers_the_fill_curve() -> None:
    """Episodes drawn from lambda(d) = 0.5 exp(-0.4 d): the fit comes back close to it."""
    a_true, k_true = 0.5, 0.4
    cfg = ShadowConfig(prior_a_per_s=0.1, prior_kappa_per_bps=1.5, prior_exposure_s=5.0,
                       calibrator_half_life_s=1e9)
    cal = FillCalibrator(cfg)
    rng = random.Random(11)
    now = 0
    for _ in range(6000):
        d = rng.uniform(0.0, 12.0)
        lam = a_true * math.exp(-k_true * d)
        t_fill = rng.expovariate(lam)
        horizon = rng.uniform(0.5, 5.0)
        now += S
        cal.observe(d, min(t_fill, horizon), t_fill <= horizon, now)
    p = cal.params
    assert p.kappa_per_bps == pytest.approx(k_true, rel=0.12)
    assert p.a_per_s == pytest.approx(a_true, rel=0.15)
    assert p.p_fill(0.0, 1.0) == pytest.approx(1 - math.exp(-p.a_per_s))


def test_calibrator_reports_predicted_against_observed_per_bucket() -> None:
    cal = FillCalibrator(ShadowConfig())
    for i in range(10):
        cal.observe(0.5, 1.0, i < 6, i * S, predicted_p_fill=0.3)
    row = cal.table()[0]
    assert row["observed_p_fill"] == pytest.approx(0.6, rel=1e-2) and row["predicted_p_fill"] == pytest.approx(0.3, rel=1e-2)
    assert row["correction"] == pytest.approx(2.0, rel=1e-2)


@given(st.lists(st.tuples(st.floats(0.0, 50.0), st.floats(0.0, 100.0), st.booleans()), max_size=60))
def test_kappa_stays_positive_and_bounded(episodes: list[tuple[float, float, bool]]) -> None:
    cfg = ShadowConfig()
    cal = FillCalibrator(cfg)
    for i, (d, e, f) in enumerate(episodes):
        cal.observe(d, e, f, i * S)
    p = cal.params
    assert cfg.kappa_min_per_bps <= p.kappa_per_bps <= cfg.kappa_max_per_bps
    assert p.a_per_s > 0.0 and math.isfinite(p.a_per_s)


def test_reliability_table_and_calibration_error() -> None:
    cfg = ShadowConfig(prob_buckets=10)
    good, bad = FillProbabilityValidator(cfg), FillProbabilityValidator(cfg)
    rng = random.Random(12)
    for _ in range(20_000):
        p = rng.random()
        y = rng.random() < p
        good.observe(p, y)
        bad.observe(min(p + 0.3, 1.0), y)  # the paper model overestimates fills
    assert good.calibration_error() is not None and good.calibration_error() < 0.02  # type: ignore[operator]
    assert bad.calibration_error() is not None and bad.calibration_error() > 0.2  # type: ignore[operator]
    row = good.table()[3]
    assert row["n"] > 0 and abs(row["mean_predicted"] - row["observed"]) < 0.05  # type: ignore[operator]
    assert FillProbabilityValidator(cfg).calibration_error() is None
