"""Fill survival: the competing-risks probability, the features, the file, and that the
maximum-likelihood fit recovers known hazards and beats the symmetric baseline on data
drawn from a queue-aware world."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm.models.fill_survival import (
    FILL_FEATURES,
    N_FILL_FEATURES,
    BaselineParams,
    FillSurvivalModel,
    FillSurvivalParams,
    SymmetricFillBaseline,
    competing_fill_prob,
    decode_params,
    depth_ahead_qty,
    encode_params,
    fill_features,
    level_ticks,
    resting_rank,
)
from mm.models.train import FitConfig, fit_baseline, fit_fill_survival, observed_fill, predict_baseline
from tests.models.helpers import make_snap, mirror

EDGES = [0.0, 0.5, 1.0]


def params(**kw: object) -> FillSurvivalParams:
    base: dict[str, object] = dict(
        symbol="T", tick_px=0.1, qty_scale=2.0, escape_ticks=2, feature_names=list(FILL_FEATURES),
        interval_edges_s=EDGES, fill_log_base=[0.0, -0.2, -0.5], fill_coef=[-1.0] + [0.1] * (N_FILL_FEATURES - 1),
        escape_log_base=[-1.0, -1.0, -1.0], escape_coef=[0.0] * N_FILL_FEATURES,
        baseline=BaselineParams(kappa_hz=1.0, delta_char_bps=2.0),
    )
    base.update(kw)
    return FillSurvivalParams(**base)  # type: ignore[arg-type]


def test_single_interval_matches_the_closed_form() -> None:
    f, e, h = 0.7, 0.3, 2.0
    got = competing_fill_prob(h, [0.0], [math.log(f)], 0.0, [math.log(e)], 0.0)
    assert got == pytest.approx(f / (f + e) * (1 - math.exp(-(f + e) * h)))
    # no escape: the plain exponential
    got = competing_fill_prob(h, [0.0], [math.log(f)], 0.0, [-30.0], 0.0)
    assert got == pytest.approx(1 - math.exp(-f * h), rel=1e-9)


def test_piecewise_hazard_integrates_interval_by_interval() -> None:
    # fill rates 1, 2, 4 on [0, .5), [.5, 1), [1, inf); no escape: P = 1 - exp(-cumulative hazard)
    got = competing_fill_prob(1.5, EDGES, [0.0, math.log(2), math.log(4)], 0.0, [-30.0] * 3, 0.0)
    assert got == pytest.approx(1 - math.exp(-(0.5 * 1 + 0.5 * 2 + 0.5 * 4)), rel=1e-9)
    assert competing_fill_prob(0.0, EDGES, [0.0] * 3, 0.0, [0.0] * 3, 0.0) == 0.0


@given(h1=st.floats(0, 10), h2=st.floats(0, 10), ef=st.floats(-5, 5), ee=st.floats(-5, 5), d=st.floats(0, 2))
def test_probability_is_bounded_monotone_in_horizon_and_in_each_hazard(h1: float, h2: float, ef: float, ee: float,
                                                                       d: float) -> None:
    bf, be = [0.1, -0.3, 0.2], [-0.5, 0.0, 0.3]
    lo, hi = sorted((h1, h2))
    p_lo = competing_fill_prob(lo, EDGES, bf, ef, be, ee)
    p_hi = competing_fill_prob(hi, EDGES, bf, ef, be, ee)
    assert 0.0 <= p_lo <= p_hi + 1e-12 <= 1.0 + 1e-12
    assert competing_fill_prob(hi, EDGES, bf, ef + d, be, ee) >= p_hi - 1e-12  # more fill hazard: more fills
    assert competing_fill_prob(hi, EDGES, bf, ef, be, ee + d) <= p_hi + 1e-12  # more escape: fewer fills


def test_levels_depth_ahead_and_resting_rank() -> None:
    s = make_snap(queue_rank_bid=0.25)
    assert level_ticks(s, 1, 100.0, 0.1) == 0
    assert level_ticks(s, 1, 99.8, 0.1) == 2
    assert level_ticks(s, -1, 100.2, 0.1) == 1
    assert level_ticks(s, -1, 100.05, 0.05) == -1  # improving inside the spread
    assert depth_ahead_qty(s, 1, 0, 0.5) == pytest.approx(2.5)
    assert depth_ahead_qty(s, 1, 2, 1.0) == pytest.approx(5.0 + 3.0 + 2.0)
    assert depth_ahead_qty(s, -1, 1, 0.0) == pytest.approx(4.0)
    assert depth_ahead_qty(s, 1, -1, 1.0) == 0.0
    assert resting_rank(s, 1, 100.0) == 0.25
    assert resting_rank(s, 1, 99.9) == 1.0  # not where we rest: a new order joins at the back
    assert resting_rank(s, -1, 100.1) == 1.0  # no resting ask


def test_features_are_side_symmetric() -> None:
    s = make_snap(ref_mid_px=100.07, toxic_prob=0.3)
    fb = fill_features(s, 1, 1, 0.4, 0.1, 2.0)
    fa = fill_features(mirror(s), -1, 1, 0.4, 0.1, 2.0)
    assert fb == pytest.approx(fa)
    assert len(fb) == N_FILL_FEATURES and all(math.isfinite(v) for v in fb)


def test_features_clip_wild_inputs() -> None:
    s = make_snap(ofi_500ms=1e9, ofi_2s=-1e9, ref_mid_px=1e6, sigma_ewma=0.0)
    x = fill_features(s, 1, 0, 2.0, 0.1, 2.0)
    assert all(math.isfinite(v) for v in x)
    assert x[0] == 1.0 and abs(x[4]) == 5.0 and abs(x[11]) == 20.0


def test_model_file_round_trip_and_refusals() -> None:
    p = params()
    assert decode_params(encode_params(p)) == p
    for bad, field in ((dict(format="x"), "format"), (dict(version=2), "version"),
                       (dict(feature_names=["a"]), "feature_names"), (dict(fill_coef=[0.0]), "fill_coef"),
                       (dict(interval_edges_s=[0.5, 1.0]), "interval_edges_s"), (dict(tick_px=0.0), "tick_px"),
                       (dict(escape_log_base=[0.0, math.nan, 0.0]), "escape_log_base")):
        with pytest.raises(ValueError, match=field):
            decode_params(msgspec.json.encode(msgspec.structs.replace(p, **bad)))
    with pytest.raises(ValueError):
        decode_params(b"{not json")


def test_protocol_methods_agree() -> None:
    m = FillSurvivalModel(params())
    s = make_snap(queue_rank_bid=0.2)
    p1 = m.fill_prob(1, 100.0, 1.0, s)
    assert p1 == pytest.approx(m.fill_prob_at_rank(1, 100.0, 0.2, 1.0, s))
    std = m.fill_probs_standard(1, 100.0, s)
    assert std[1] == pytest.approx(p1)
    assert std[0] <= std[1] <= std[2]
    assert m.fill_prob_at_rank(1, 100.0, 0.0, 1.0, s) > m.fill_prob_at_rank(1, 100.0, 1.0, 1.0, s)  # coef -1 on rank
    assert m.fill_prob(1, 100.0, 1.0, make_snap(mid_px=0.0)) == 0.0
    b = SymmetricFillBaseline(BaselineParams(kappa_hz=2.0, delta_char_bps=5.0))
    d = (100.05 - 100.0) / 100.05 * 1e4
    assert b.fill_prob(1, 100.0, 0.5, s) == pytest.approx(1 - math.exp(-2.0 * math.exp(-d / 5.0) * 0.5))
    assert b.fill_prob(1, 100.0, 0.5, s) == pytest.approx(b.fill_prob(-1, 100.1, 0.5, s))  # symmetric


def _simulate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Episodes from known hazards: fill rate exp(0.5 - 2 rank + 0.8 ofi), escape exp(-0.7 + 0.5 ofi'),
    constant in time; censored at 3 s."""
    x = np.zeros((n, N_FILL_FEATURES))
    x[:, 0] = rng.uniform(0, 1, n)  # rank
    x[:, 4] = rng.normal(0, 1, n)  # ofi_fill
    x[:, 6] = rng.normal(-1, 0.5, n)  # log_sigma
    lf = np.exp(0.5 - 2.0 * x[:, 0] + 0.8 * x[:, 4])
    le = np.exp(-0.7 + 0.5 * x[:, 6])
    tf = rng.exponential(1 / lf)
    te = rng.exponential(1 / le)
    t = np.minimum(np.minimum(tf, te), 3.0)
    filled = (tf <= te) & (tf <= 3.0)
    escaped = (te < tf) & (te <= 3.0)
    delta = np.full(n, 0.5)
    return x, t, filled, escaped, delta


def test_mle_recovers_the_hazards_and_beats_the_baseline() -> None:
    rng = np.random.default_rng(11)
    x, t, filled, escaped, delta = _simulate(12_000, rng)
    cens = np.zeros(t.size, dtype=bool)
    p = fit_fill_survival(x, t, filled, escaped, cens, delta, symbol="T", tick_px=0.1, qty_scale=1.0,
                          escape_ticks=2, cfg=FitConfig(survival_lam=0.1))
    assert p.fill_coef[0] == pytest.approx(-2.0, abs=0.15)
    assert p.fill_coef[4] == pytest.approx(0.8, abs=0.1)
    assert p.escape_coef[6] == pytest.approx(0.5, abs=0.15)
    assert abs(p.escape_coef[0]) < 0.15 and abs(p.fill_coef[6]) < 0.15
    assert np.exp(p.fill_log_base) == pytest.approx([math.exp(0.5)] * 3, rel=0.15)
    # out of sample: calibrated, and better than the queue-blind baseline
    xt, tt, ft, et, dt = _simulate(6_000, np.random.default_rng(12))
    m = FillSurvivalModel(p)
    y = observed_fill(tt, ft, 1.0, np.zeros(tt.size, dtype=bool))
    pm = np.array([m.predict(list(r), 1.0) for r in xt])
    pb = predict_baseline(m.baseline(), dt, 1.0)
    assert abs(pm.mean() - y.mean()) < 0.02
    assert np.mean((pm - y) ** 2) < np.mean((pb - y) ** 2) - 0.02


def test_baseline_mle_recovers_kappa_and_delta_char() -> None:
    rng = np.random.default_rng(5)
    n = 40_000
    d = rng.uniform(0, 4, n)
    h = rng.choice([0.5, 1.0, 3.0], n)
    prob = 1 - np.exp(-1.5 * np.exp(-d / 1.2) * h)
    y = (rng.uniform(size=n) < prob).astype(float)
    b = fit_baseline(d, h, y)
    assert b.kappa_hz == pytest.approx(1.5, rel=0.08)
    assert b.delta_char_bps == pytest.approx(1.2, rel=0.08)
    flat = fit_baseline(np.full(n, 1.0), h, y)  # no spread in distance: constant rate, delta_char inf
    assert math.isinf(flat.delta_char_bps) and flat.kappa_hz > 0


def test_observed_fill_marks_early_censoring_unknown() -> None:
    t = np.array([0.2, 2.0, 0.3, 0.3])
    filled = np.array([True, True, False, False])
    cens = np.array([False, False, False, True])
    y = observed_fill(t, filled, 1.0, cens)
    assert y[0] == 1.0 and y[1] == 0.0 and y[2] == 0.0 and math.isnan(y[3])
