"""Estimators recover known truths; offline verdicts reproduce the classifier's hold; the
move/alarm timing helpers; and the whole per-coin pipeline on a short generated stream,
whose model files load back through the loaders the processes use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mm.alpha.leadlag import decode_params as decode_leadlag
from mm.models.fill_survival import FillSurvivalModel
from mm.models.fill_survival import encode_params as encode_fill
from mm.models.queue_value import QueueValueModel
from mm.models.queue_value import encode_params as encode_qv
from mm.models.toxicity import decode_model, encode_model
from mm.models.train import (
    PipelineConfig,
    binance_moves,
    cascade_detection,
    choose_toxic_threshold,
    expand_intervals,
    first_alarm_after,
    first_move_after,
    fit_logistic_nonneg,
    offline_toxic,
    poisson_newton,
    regression_metrics,
    tier_maker_fee_bps,
    train_coin,
)
from mm.models.training_labels import LabelConfig
from mm.venues.sim.generator import MarketGenerator
from mm.venues.sim.generator_config import GeneratorConfig

MS = 1_000_000


def test_logistic_with_non_negative_weights() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20_000, 3))
    z = -1.0 + 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.5 * x[:, 2]
    y = (rng.uniform(size=z.size) < 1 / (1 + np.exp(-z))).astype(float)
    b, w = fit_logistic_nonneg(x, y, 1e-6)
    assert np.all(w >= 0.0)
    assert w[1] == 0.0  # the negative truth is clamped at the bound
    assert w[0] > 1.0 and w[2] > 0.2
    # with every truth positive the constraint is slack: the usual MLE
    z2 = -1.0 + 1.5 * x[:, 0] + 0.7 * x[:, 1]
    y2 = (rng.uniform(size=z2.size) < 1 / (1 + np.exp(-z2))).astype(float)
    b2, w2 = fit_logistic_nonneg(x, y2, 1e-6)
    assert b2 == pytest.approx(-1.0, abs=0.08)
    assert w2 == pytest.approx([1.5, 0.7, 0.0], abs=0.08)


def test_poisson_newton_and_interval_expansion() -> None:
    d = np.array([0.2, 0.7, 2.5])
    ev = np.array([True, False, True])
    i, j, e, y = expand_intervals(d, ev, [0.0, 0.5, 1.0])
    for k in range(3):
        assert e[i == k].sum() == pytest.approx(d[k])
    assert y.sum() == 2 and y[(i == 2) & (j == 2)][0] == 1.0 and y[(i == 0) & (j == 0)][0] == 1.0
    rng = np.random.default_rng(0)
    expo = rng.uniform(0.5, 2.0, 5000)
    x = np.column_stack([np.ones(5000), rng.normal(size=5000)])
    counts = rng.poisson(expo * np.exp(0.3 + 0.6 * x[:, 1]))
    beta = poisson_newton(x, counts.astype(float), expo, 1, 0.0)
    assert beta == pytest.approx([0.3, 0.6], abs=0.05)


def test_offline_verdicts_hold_like_the_classifier() -> None:
    ts = np.array([0, 100, 500, 900, 1200, 2500], dtype=np.int64) * MS
    p = np.array([0.1, 0.7, 0.2, 0.2, 0.65, 0.1])
    tox = offline_toxic(ts, p, 0.6, 1000 * MS)
    assert list(tox) == [False, True, True, True, True, False]
    assert not offline_toxic(ts, p, 0.9, 1000 * MS).any()


def test_cascade_detection_counts_prints_and_taker_events() -> None:
    ts = np.array([0, 10, 10, 10, 20, 30, 600], dtype=np.int64) * MS
    is_tr = np.array([False, True, True, True, True, False, True])
    tox = np.array([False, False, False, False, True, True, True])
    d = cascade_detection(ts, is_tr, tox, [(5 * MS, 1000 * MS)])
    assert d["rows"][0][1:] == (4, 2, pytest.approx(15.0))  # 4 prints, 2 taker events, 15 ms
    assert d["detected"] == 0 and d["detected_takers"] == 1
    already = cascade_detection(ts, is_tr, tox, [(25 * MS, 1000 * MS)])
    assert already["toxic_at_start"] == 1 and already["detected"] == 1
    # 0.1 flags the calm record (over budget); 0.25 catches the first print; 0.5 only the 4th
    p = np.array([0.2, 0.3, 0.3, 0.3, 0.7, 0.7, 0.7])
    calm = np.array([True] + [False] * 6)
    thr, figs = choose_toxic_threshold(ts, is_tr, p, 100 * MS, [(5 * MS, 1000 * MS)], calm, 0.5, (0.1, 0.25, 0.5))
    assert thr == 0.25 and figs["train_detected"] == 1.0 and figs["train_false_alarm"] == 0.0


def test_binance_moves_and_first_responses() -> None:
    ts = np.arange(0, 5000, 50, dtype=np.int64) * MS
    ref = np.full(ts.size, 100.0)
    ref[ts >= 2000 * MS] = 100.0 * math.exp(3e-4)  # a 3 bps step at 2.0 s
    moves = binance_moves(ts, ref, 2.0, 500, 2000)
    assert moves == [(2000 * MS, 1, 2000 * MS)]
    hl = np.full(ts.size, 100.0)
    hl[ts >= 2650 * MS] = 100.0 * math.exp(3e-4)
    assert first_move_after(ts, hl, 2000 * MS, 1, 1.5, 3000 * MS) == 2650 * MS
    assert first_move_after(ts, hl, 2000 * MS, -1, 1.5, 3000 * MS) == -1
    dirs = np.zeros(ts.size, dtype=np.int64)
    dirs[(ts >= 2050 * MS) & (ts < 2600 * MS)] = 1
    assert first_alarm_after(ts, dirs, 2000 * MS, 1, 2000 * MS) == 2050 * MS
    assert first_alarm_after(ts, dirs, 2000 * MS, -1, 2000 * MS) == -1


def test_regression_metrics_and_fee_tiers() -> None:
    rng = np.random.default_rng(9)
    y = rng.normal(size=4000)
    m = regression_metrics(y + rng.normal(0, 0.5, 4000), y)
    assert m["corr"] > 0.8 and m["ir"] > 0.5 and m["mi_bits"] > 0.3
    junk = regression_metrics(rng.normal(size=4000), y)
    assert abs(junk["corr"]) < 0.06 and junk["mi_bits"] < 0.01
    assert tier_maker_fee_bps("base") == 1.5 and tier_maker_fee_bps("rebate3") == -0.3
    with pytest.raises(ValueError):
        tier_maker_fee_bps("rebate9")


def test_pipeline_on_a_short_generated_stream() -> None:
    gen = MarketGenerator(GeneratorConfig(), ["ETH"], 7)
    events, truth = gen.generate(0, 300.0)
    cfg = PipelineConfig(labels=LabelConfig(sample_interval_ms=500, warmup_s=10.0))
    res = train_coin("ETH", 0, gen.tick_px["ETH"], events, 180 * 1_000_000_000, truth, cfg, "test")
    assert "error" not in res.figures
    assert res.toxicity is not None and res.fill is not None and res.queue_value is not None
    assert res.leadlag is not None
    # the files load back through the loaders the processes use
    tox = decode_model(encode_model(res.toxicity))
    assert all(w >= 0 for w in tox.weights)
    fsm = FillSurvivalModel.from_bytes(encode_fill(res.fill))
    qvm = QueueValueModel.from_bytes(encode_qv(res.queue_value), maker_fee_bps=1.5)
    ll = decode_leadlag(__import__("mm.alpha.leadlag", fromlist=["encode_params"]).encode_params(res.leadlag))
    assert 0.0 <= ll.config.pass_through <= 2.0
    snap = res.sample_snapshot
    assert snap is not None
    assert 0.0 <= fsm.fill_prob(1, snap.best_bid, 1.0, snap) <= 1.0
    assert math.isfinite(qvm.queue_value(-1, snap.best_ask, 0.5, snap))
    f = res.figures
    assert f["toxicity"]["offline_vs_engine_mismatch"] == 0
    for h in ("h0.5s", "h1s", "h3s"):
        assert 0.0 <= f["fill"][h]["model"]["brier"] <= 1.0
    assert f["fill"]["h1s"]["model"]["brier"] < f["fill"]["h1s"]["baseline"]["brier"]
    assert f["leadlag"]["hy_lead_ms"] == pytest.approx(650.0, abs=100.0)
    assert set(res.pngs) == {"reliability_fill.png", "reliability_toxicity.png"} | (
        {"reliability_direction.png"} if res.direction is not None else set())
    d = f["direction"]
    assert ("error" in d) == (res.direction is None)
    if res.direction is not None:
        assert 0.0 <= d["test"]["brier"] <= 1.0 and 0.0 < res.direction.threshold <= 1.0
