"""The 4-state regime filter: probabilities, responsiveness, stickiness, collapse guards."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.features.config import RegimeConfig
from mm.features.regime import RegimeFilter
from mm.schema import Regime

_obs = st.floats(allow_nan=True, allow_infinity=True, width=64)


def _check(f: RegimeFilter) -> None:
    p = f.probs_list()
    assert len(p) == 4
    assert all(math.isfinite(x) and x > 0.0 for x in p)
    assert math.fsum(p) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_obs, _obs, _obs), min_size=1, max_size=60), st.booleans())
def test_probabilities_sum_to_one_and_stay_finite(obs, learn) -> None:
    f = RegimeFilter(RegimeConfig(learn=learn))
    for y in obs:
        f.update(*y)
        _check(f)
        for row in f.sds():
            assert all(math.isfinite(v) and v > 0 for v in row)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e4), st.integers(0, 10_000), st.floats(-1e6, 1e6)),
        min_size=1,
        max_size=60,
    )
)
def test_raw_interval_observations_keep_probabilities_valid(obs) -> None:
    f = RegimeFilter(RegimeConfig())
    for r, n, o in obs:
        assert f.step_interval(r, n, o)
        _check(f)


def test_non_finite_observation_is_skipped_and_counted() -> None:
    f = RegimeFilter(RegimeConfig())
    before = f.probs_list()
    assert not f.update(float("nan"), 0.0, 0.0)
    assert f.n_skipped == 1
    assert f.probs_list() == before


def test_calm_intervals_read_quiet_and_a_cascade_reads_cascade() -> None:
    f = RegimeFilter(RegimeConfig())
    for _ in range(40):
        f.step_interval(0.0, 0, 0.0)
    assert f.regime == Regime.QUIET
    for _ in range(3):
        f.step_interval(40.0, 30, 12.0)
    assert f.regime == Regime.CASCADE
    assert f.probs[Regime.CASCADE] > 0.9


def test_one_busy_interval_out_of_quiet_is_not_a_cascade() -> None:
    """One busy 500 ms interval (4 bps, 12 trades) out of a Quiet book, as the real
    2025-09-04 ETH tape has them: with neighbour-first transitions it reads Volatile; the
    evenly spread matrix (jump_decay = 1) jumps straight to Cascade on it. A sustained burst
    still reads Cascade (test_calm_intervals_read_quiet_and_a_cascade_reads_cascade)."""
    busy = (4.0, 12, 3.0)
    for decay, cascade_ok in ((0.05, False), (1.0, True)):
        f = RegimeFilter(RegimeConfig(jump_decay=decay))
        for _ in range(40):
            f.step_interval(0.0, 0, 0.0)
        f.step_interval(*busy)
        assert (f.regime == Regime.CASCADE) == cascade_ok
    f = RegimeFilter(RegimeConfig())
    rows = [sum(r) for r in f._trans]
    assert all(abs(x - 1.0) < 1e-12 for x in rows)
    assert f._trans[0][3] < f._trans[0][2] < f._trans[0][1]


def test_typical_activity_reads_normal_and_a_large_move_reads_volatile() -> None:
    f = RegimeFilter(RegimeConfig())
    for _ in range(30):
        f.step_interval(0.4, 1, 0.4)
    assert f.regime == Regime.NORMAL
    for _ in range(4):
        f.step_interval(3.0, 4, 1.5)
    assert f.regime == Regime.VOLATILE


def test_transitions_are_sticky() -> None:
    """One ambiguous interval between calm ones does not flip the regime."""
    f = RegimeFilter(RegimeConfig())
    for _ in range(40):
        f.step_interval(0.0, 0, 0.0)
    y_mid = [(a + b) / 2 for a, b in zip(RegimeConfig().prior_means[0], RegimeConfig().prior_means[1])]
    f.update(*y_mid)
    assert f.regime == Regime.QUIET


def test_emissions_never_collapse_nor_reorder() -> None:
    """Thousands of identical observations: sds stay at or above min_sd and the states
    keep their order in the return and intensity dimensions."""
    cfg = RegimeConfig(emission_half_life_s=5.0)
    f = RegimeFilter(cfg)
    for _ in range(5_000):
        f.update(0.5, 0.5, 0.5)
    for row in f.sds():
        assert min(row) >= cfg.min_sd - 1e-12
    means = f.means()
    for k in range(1, 4):
        for d in (0, 1):
            assert means[k][d] >= means[k - 1][d] + cfg.min_separation - 1e-9
    _check(f)


def test_emission_means_learn_towards_the_data() -> None:
    cfg = RegimeConfig(emission_half_life_s=60.0)
    f = RegimeFilter(cfg)
    quiet0 = f.means()[0][0]
    for _ in range(2_000):
        f.update(quiet0 - 0.5, 0.0, cfg.prior_means[0][2])
    assert f.means()[0][0] < quiet0 - 0.2
    g = RegimeFilter(RegimeConfig(learn=False))
    for _ in range(200):
        g.update(quiet0 - 0.5, 0.0, cfg.prior_means[0][2])
    assert g.means()[0][0] == quiet0


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("stay_prob", {"stay_prob": (1.0, 0.9, 0.9, 0.9)}),
        ("prior_means", {"prior_means": ((0, 0, 0), (-1, 1, 0), (2, 2, 0), (3, 3, 0))}),
        ("prior_sd", {"prior_sd": ((0, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1))}),
        ("interval_ms", {"interval_ms": 0}),
        ("prob_floor", {"prob_floor": 0.0}),
        ("min_sd", {"min_sd": -1.0}),
        ("jump_decay", {"jump_decay": 0.0}),
    ],
)
def test_config_validation_names_the_field(field, kwargs) -> None:
    with pytest.raises(ValueError, match=field):
        RegimeConfig(**kwargs)
