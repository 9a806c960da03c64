"""Hayashi-Yoshida lead-lag: exact against the O(n*m) definition, and it finds known leads
(in a textbook asynchronous model and in the generator's Binance vs Hyperliquid mids)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.features.leadlag_hy import (
    hy_covariance,
    hy_lead_lag,
    lag_grid_ms,
    prepare_tape,
    ref_and_venue_mids,
)
from mm.venues.sim.generator import MarketGenerator
from mm.venues.sim.generator_config import GeneratorConfig

MS = 1_000_000


def _hy_brute(sx: np.ndarray, x: np.ndarray, ty: np.ndarray, y: np.ndarray, shift: int) -> float:
    """The definition: sum over all pairs of increments whose intervals overlap."""
    acc = 0.0
    for i in range(1, sx.size):
        a, b = sx[i - 1] + shift, sx[i] + shift
        for j in range(1, ty.size):
            c, d = ty[j - 1], ty[j]
            if max(a, c) < min(b, d):  # (a, b] and (c, d] share more than a point
                acc += (x[i] - x[i - 1]) * (y[j] - y[j - 1])
    return acc


def _sorted_unique_times(draw: st.DrawFn, n_min: int, n_max: int) -> np.ndarray:
    vals = draw(st.lists(st.integers(0, 5000), min_size=n_min, max_size=n_max, unique=True))
    return np.sort(np.asarray(vals, dtype=np.int64))


@st.composite
def _tapes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]]:
    sx = _sorted_unique_times(draw, 2, 30)
    ty = _sorted_unique_times(draw, 2, 30)
    x = np.asarray(draw(st.lists(st.floats(-10, 10), min_size=sx.size, max_size=sx.size)))
    y = np.asarray(draw(st.lists(st.floats(-10, 10), min_size=ty.size, max_size=ty.size)))
    shifts = draw(st.lists(st.integers(-6000, 6000), min_size=1, max_size=5))
    return sx, x, ty, y, shifts


@settings(max_examples=200, deadline=None)
@given(_tapes())
def test_two_pointer_sweep_equals_the_definition(t: tuple) -> None:
    sx, x, ty, y, shifts = t
    got = hy_covariance(sx, x, ty, y, np.asarray(shifts, dtype=np.int64))
    for k, sh in enumerate(shifts):
        assert got[k] == pytest.approx(_hy_brute(sx, x, ty, y, sh), rel=1e-9, abs=1e-9)


def _async_pair(lag_ms: int, seed: int, dur_s: int = 600) -> tuple[np.ndarray, ...]:
    """x: Brownian path on a 1 ms grid seen at Poisson(10/s) times; y(t) = x(t - lag) plus
    iid noise, seen at its own Poisson(7/s) times."""
    rng = np.random.default_rng(seed)
    n = dur_s * 1000
    path = 100.0 + np.cumsum(rng.normal(0.0, 0.01, n))
    tx = np.sort(rng.choice(np.arange(2000, n), size=dur_s * 10, replace=False))
    ty = np.sort(rng.choice(np.arange(2000, n), size=dur_s * 7, replace=False))
    yv = path[ty - lag_ms] + rng.normal(0.0, 0.05, ty.size)
    return tx.astype(np.int64) * MS, path[tx], ty.astype(np.int64) * MS, yv


@pytest.mark.parametrize("lag_ms", [-300, 0, 200, 650, 1000])
def test_recovers_a_known_lead_in_an_asynchronous_model(lag_ms: int) -> None:
    tx, x, ty, y = _async_pair(max(lag_ms, 0), seed=lag_ms + 1000) if lag_ms >= 0 else _swap(
        _async_pair(-lag_ms, seed=7))
    res = hy_lead_lag(tx, x, ty, y, log_px=False, changes_only=False)
    assert abs(res.peak_lag_ms - lag_ms) <= 25.0
    assert abs(res.peak_lag_refined_ms - lag_ms) <= 25.0
    assert res.peak_corr > 0.5
    far = np.abs(np.asarray(res.lags_ms) - lag_ms) >= 400.0
    assert np.max(np.abs(np.asarray(res.corr)[far])) < 0.5 * res.peak_corr


def _swap(t: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    return t[2], t[3], t[0], t[1]


def test_swapping_the_series_negates_the_lag() -> None:
    tx, x, ty, y = _async_pair(400, seed=3)
    fwd = hy_lead_lag(tx, x, ty, y, log_px=False)
    back = hy_lead_lag(ty, y, tx, x, log_px=False)
    assert fwd.peak_lag_ms == -back.peak_lag_ms
    assert fwd.peak_corr == pytest.approx(back.peak_corr)


@pytest.mark.parametrize("lag_ms", [200, 650, 1000])
@pytest.mark.parametrize("coin", ["BTC", "ETH"])
def test_recovers_the_generator_lead_from_ref_vs_hl_mid(lag_ms: int, coin: str) -> None:
    """Binance RefPrice mid vs Hyperliquid Bbo mid over 10 minutes: the configured lead
    within +/-50 ms (25 ms grid)."""
    gen = MarketGenerator(GeneratorConfig(lead_lag_ms=lag_ms), [coin], seed=42)
    rt, rp, vt, vp = ref_and_venue_mids(gen.events(0, 600.0), 0)
    res = hy_lead_lag(rt, rp, vt, vp, lag_grid_ms(1500.0, 25.0))
    assert abs(res.peak_lag_ms - lag_ms) <= 50.0, res.peak_lag_ms
    assert res.peak_corr > 0.5


def test_zero_lead_is_found_as_zero() -> None:
    gen = MarketGenerator(GeneratorConfig(lead_lag_ms=0), ["BTC"], seed=42)
    rt, rp, vt, vp = ref_and_venue_mids(gen.events(0, 300.0), 0)
    assert abs(hy_lead_lag(rt, rp, vt, vp).peak_lag_ms) <= 50.0


def test_prepare_tape_sorts_dedupes_and_keeps_changes() -> None:
    t, p = prepare_tape([30, 10, 20, 20, 40, 50], [3.0, 1.0, 2.0, 2.5, 3.0, 0.0], log_px=False)
    # sorted, the last of ts 20 kept, the unchanged 3.0 at ts 40 dropped, 0.0 kept (no logs)
    assert t.tolist() == [10, 20, 30, 50] and p.tolist() == [1.0, 2.5, 3.0, 0.0]
    t, p = prepare_tape([1, 2, 3], [1.0, -1.0, np.e])
    assert t.tolist() == [1, 3] and p.tolist() == pytest.approx([0.0, 1.0])


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        hy_covariance(np.array([2, 1]), np.zeros(2), np.array([1, 2]), np.zeros(2), np.zeros(1, np.int64))
    with pytest.raises(ValueError):
        prepare_tape([1, 2], [1.0])
    with pytest.raises(ValueError):
        lag_grid_ms(100.0, 0.0)
    short = hy_lead_lag([1], [1.0], [1, 2], [1.0, 2.0])
    assert short.peak_corr == 0.0


def test_lag_grid() -> None:
    g = lag_grid_ms(1500.0, 25.0)
    assert g[0] == -1500.0 and g[-1] == 1500.0 and g.size == 121 and 0.0 in g
