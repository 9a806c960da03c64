"""Calibration metrics against hand values and brute force; the PNG writer round-trips."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.models.calibration import (
    auc,
    binary_metrics,
    brier_score,
    brier_skill,
    information_ratio,
    log_loss,
    mutual_information_bits,
    png_bytes,
    png_decode_rgb,
    reliability_png,
    reliability_table,
)


def test_brier_and_log_loss_hand_values() -> None:
    assert brier_score([1.0, 0.0], [1, 0]) == 0.0
    assert brier_score([0.5] * 4, [1, 0, 1, 0]) == pytest.approx(0.25)
    assert brier_score([0.8, 0.3], [1, 0]) == pytest.approx((0.04 + 0.09) / 2)
    assert log_loss([0.5] * 3, [1, 0, 1]) == pytest.approx(math.log(2))
    assert log_loss([0.9, 0.2], [1, 0]) == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2)
    assert math.isfinite(log_loss([0.0, 1.0], [1, 0]))  # clipped, not inf
    with pytest.raises(ValueError):
        brier_score([0.1], [1, 0])


def test_brier_skill_is_zero_for_climatology_and_one_for_perfect() -> None:
    y = np.array([1, 0, 0, 1, 0], dtype=float)
    assert brier_skill(np.full(5, y.mean()), y) == pytest.approx(0.0)
    assert brier_skill(y, y) == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), min_size=2, max_size=25))
def test_auc_equals_the_pairwise_definition(rows: list[tuple[float, int]]) -> None:
    p = [r[0] for r in rows]
    y = [r[1] for r in rows]
    pos = [a for a, b in zip(p, y) if b == 1]
    neg = [a for a, b in zip(p, y) if b == 0]
    got = auc(p, y)
    if not pos or not neg:
        assert math.isnan(got)
        return
    brute = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    assert got == pytest.approx(brute / (len(pos) * len(neg)))


def test_reliability_table_bins_and_ece() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(size=20_000)
    y = (rng.uniform(size=p.size) < p).astype(float)  # calibrated by construction
    tab = reliability_table(p, y, 10)
    assert len(tab.count) == 10 and sum(tab.count) == p.size
    assert max(tab.count) - min(tab.count) <= 1  # equal counts
    assert tab.mean_pred == sorted(tab.mean_pred)
    assert tab.ece() < 0.02
    skewed = reliability_table(np.clip(p * 1.5, 0, 1), y, 10)
    assert skewed.ece() > 0.1
    uni = reliability_table(p, y, 5, equal_count=False)
    assert len(uni.count) == 5


def test_information_ratio_of_a_sign_signal() -> None:
    s = np.array([1.0, -1.0, 1.0, -1.0, 0.0])
    r = np.array([2.0, -1.0, 1.0, -2.0, 100.0])  # the last one is not traded (no signal)
    x = np.array([2.0, 1.0, 1.0, 2.0])
    assert information_ratio(s, r) == pytest.approx(x.mean() / x.std(ddof=1))
    assert information_ratio(-s, r) == pytest.approx(-x.mean() / x.std(ddof=1))


def test_mutual_information_independent_vs_dependent() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    y_ind = (rng.uniform(size=x.size) < 0.5).astype(float)
    assert mutual_information_bits(x, y_ind) < 0.002
    y_dep = (x > 0).astype(float)
    # deterministic binary outcome of a continuous x: H(Y) = 1 bit, less what the decile
    # binning blurs around the threshold
    assert mutual_information_bits(x, y_dep) == pytest.approx(1.0, abs=0.03)
    noisy = (x + rng.normal(size=x.size) > 0).astype(float)
    assert 0.05 < mutual_information_bits(x, noisy) < 0.5


def test_binary_metrics_keys() -> None:
    m = binary_metrics([0.2, 0.8, 0.4], [0, 1, 1])
    assert set(m) >= {"brier", "log_loss", "auc", "ece", "base_rate", "n", "brier_skill"}
    assert m["n"] == 3


def test_png_round_trip() -> None:
    img = np.zeros((7, 5, 3), dtype=np.uint8)
    img[2, 3] = (255, 10, 20)
    data = png_bytes(img)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    back = png_decode_rgb(data)
    assert back.shape == (7, 5, 3) and np.array_equal(back, img)
    bad = bytearray(data)
    bad[40] ^= 0xFF
    with pytest.raises(ValueError):
        png_decode_rgb(bytes(bad))


def test_reliability_png_is_a_plot_of_the_series() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 0.6, 4000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    data = reliability_png([("model", reliability_table(p, y)), ("const", reliability_table(np.full(4000, .3), y))],
                           "test plot")
    img = png_decode_rgb(data)
    assert img.shape == (640, 720, 3)
    blue = np.all(img == (31, 119, 180), axis=2)
    red = np.all(img == (214, 39, 40), axis=2)
    assert blue.sum() > 200 and red.sum() > 50  # both series drawn
    # the blue series climbs: its pixels in the left third sit lower than in the right third
    ys, xs = np.nonzero(blue[:490, 100:690])
    left = ys[xs < 150].mean()
    right = ys[xs > 450].mean()
    assert right < left
    dark = np.all(img < 80, axis=2)
    assert dark[490, 92:688].mean() > 0.9  # the x axis (plot bottom at height - 150)
