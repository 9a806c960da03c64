"""Toxicity classifier: model, features, causal labels, online learning, model file, and
detection latency on a synthetic calm-then-cascade stream."""

from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.features.config import ToxicityConfig
from mm.features.engine import FeatureEngine
from mm.models.toxicity import (
    MODEL_VERSION,
    N_FEATURES,
    TOXICITY_FEATURES,
    ToxicityClassifier,
    between_trades,
    decode_model,
    encode_model,
    prior_model,
    toxicity_features,
)
from mm.schema import Toxicity, Trade
from tests.features.synth import SYMBOL, make_stream

S = 1_000_000_000
_any = st.floats(allow_nan=True, allow_infinity=True)

_BOUNDS = [(0.0, 5.0), (-3.0, 5.0), (-1.0, 1.0), (-6.0, 6.0), (-6.0, 6.0), (0.0, 8.0), (-3.0, 5.0),
           (-3.0, 3.0), (-3.0, 3.0), (-1.0, 1.0)]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, -1]), st.integers(0, 100), st.lists(_any, min_size=15, max_size=15))
def test_features_are_finite_and_bounded_for_any_input(side, run, v) -> None:
    x = toxicity_features(
        side=side, fast_run=max(run, 1), run_cap=10, rate_before_hz=v[0], base_rate_hz=v[1],
        signed_qty_before=v[2], qty_before=v[3], base_qty=v[4], ofi_500ms=v[5], ofi_2s=v[6],
        ofi_scale=v[7], sweep_spreads=v[8], size_log_ratio=v[9], spread_bps=v[10],
        spread_base_bps=v[11], sigma_bps=v[12], sigma_base_bps=v[13], vwap_direction=v[14],
    )
    assert len(x) == N_FEATURES == len(_BOUNDS)
    for xi, (lo, hi) in zip(x, _BOUNDS):
        assert math.isfinite(xi)
        assert lo <= xi <= hi
    clf = ToxicityClassifier(ToxicityConfig())
    p = clf.predict(x)
    assert 0.0 < p < 1.0


def test_features_are_oriented_by_the_trade_side() -> None:
    kw = dict(
        fast_run=3, run_cap=10, rate_before_hz=5.0, base_rate_hz=1.0, qty_before=2.0, base_qty=0.1,
        ofi_2s=-3.0, ofi_scale=1.0, sweep_spreads=1.0, size_log_ratio=1.0, spread_bps=2.0,
        spread_base_bps=1.0, sigma_bps=1.0, sigma_base_bps=0.5,
    )
    sell = toxicity_features(side=-1, signed_qty_before=-2.0, ofi_500ms=-2.0, vwap_direction=-0.8, **kw)
    buy_against = toxicity_features(side=1, signed_qty_before=-2.0, ofi_500ms=-2.0, vwap_direction=-0.8, **kw)
    clf = ToxicityClassifier(ToxicityConfig())
    # a sell into selling flow is more toxic than a buy into the same flow
    assert clf.predict(sell) > clf.predict(buy_against)
    assert sell[2] > 0 > buy_against[2]
    assert sell[3] > 0 > buy_against[3]


@given(st.lists(st.floats(-10, 10), min_size=N_FEATURES, max_size=N_FEATURES), st.integers(0, N_FEATURES - 1))
def test_predict_is_monotone_in_every_feature(x, i) -> None:
    clf = ToxicityClassifier(ToxicityConfig())
    y = list(x)
    y[i] += 1.0
    assert clf.predict(y) >= clf.predict(x)


def test_levels_follow_thresholds_and_toxic_is_held() -> None:
    cfg = ToxicityConfig(toxic_threshold=0.6, benign_threshold=0.1, toxic_hold_ms=1_000)
    clf = ToxicityClassifier(cfg)
    assert clf.level(0.05) == Toxicity.BENIGN
    assert clf.level(0.3) == Toxicity.NORMAL
    assert clf.level(0.6) == Toxicity.TOXIC
    hot = [5.0] * N_FEATURES
    cold = [0.0] * N_FEATURES
    assert clf.assess(hot, 10 * S)[0] == Toxicity.TOXIC
    lvl, p = clf.assess(cold, 10 * S + 500_000_000)
    assert p < 0.1 and lvl == Toxicity.TOXIC  # held
    assert clf.assess(cold, 11 * S + 1)[0] == Toxicity.BENIGN


def test_model_file_round_trip_and_version() -> None:
    clf = ToxicityClassifier(ToxicityConfig())
    clf.weights[1] = 1.7
    m = clf.to_model()
    data = encode_model(m)
    doc = msgspec.json.decode(data)
    assert doc["format"] == "mm.toxicity" and doc["version"] == MODEL_VERSION
    assert doc["feature_names"] == list(TOXICITY_FEATURES)
    assert "ew_brier" in doc["metrics"]
    back = decode_model(data)
    assert back.weights == m.weights and back.bias == m.bias
    assert ToxicityClassifier(ToxicityConfig(), back).predict([1.0] * N_FEATURES) == pytest.approx(
        clf.predict([1.0] * N_FEATURES)
    )


@pytest.mark.parametrize(
    ("field", "patch"),
    [
        ("format", {"format": "other"}),
        ("version", {"version": MODEL_VERSION + 1}),
        ("feature_names", {"feature_names": list(reversed(TOXICITY_FEATURES))}),
        ("weights", {"weights": [0.1] * (N_FEATURES - 1)}),
        ("weights", {"weights": [-0.1] + [0.1] * (N_FEATURES - 1)}),
        ("bias", {"bias": float("inf")}),
    ],
)
def test_model_loader_rejects_bad_files(field, patch) -> None:
    doc = msgspec.json.decode(encode_model(prior_model()))
    doc.update(patch)
    raw = msgspec.json.encode(doc) if field != "bias" else msgspec.json.encode(doc).replace(b"null", b"1e999")
    with pytest.raises(ValueError, match=field):
        decode_model(raw)


def test_model_loader_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        decode_model(b"{not json")
    with pytest.raises(ValueError):
        decode_model(b'{"weights": "x"}')


def _clf(**kw: object) -> ToxicityClassifier:
    return ToxicityClassifier(ToxicityConfig(**kw))  # type: ignore[arg-type]


def test_label_positive_when_mid_moves_in_trade_direction_within_horizon() -> None:
    clf = _clf(label_move_bps=2.0, label_horizon_s=2.0)
    x = [1.0] * N_FEATURES
    p0 = clf.predict(x)
    clf.observe_trade(1 * S, -1, 100.0, x)  # a sell: positive if mid <= 99.98
    assert clf.on_mid(1 * S + 100, 99.99) == 0
    assert clf.on_mid(2 * S, 99.98) == 1
    assert clf.metrics["n_positive"] == 1.0 and clf.n_pending == 0
    assert clf.predict(x) > p0


def test_label_negative_when_horizon_passes_first() -> None:
    clf = _clf(label_move_bps=2.0, label_horizon_s=2.0)
    x = [1.0] * N_FEATURES
    p0 = clf.predict(x)
    clf.observe_trade(1 * S, 1, 100.0, x)
    assert clf.on_mid(3 * S, 100.0) == 0  # exactly at the horizon: still pending
    assert clf.on_mid(3 * S + 1, 100.5) == 1  # expired before this mid: a 0 label
    assert clf.metrics["n_positive"] == 0.0 and clf.metrics["n_labels"] == 1.0
    assert clf.predict(x) < p0


def test_label_queue_is_bounded() -> None:
    clf = _clf(max_pending=8)
    for i in range(20):
        clf.observe_trade(i, 1, 100.0, [0.0] * N_FEATURES)
    assert clf.n_pending == 8
    assert clf.metrics["n_dropped"] == 12.0


def test_learning_keeps_weights_within_guards() -> None:
    cfg = ToxicityConfig(learning_rate=0.5, min_weight_ratio=0.5, weight_clip=3.0)
    clf = ToxicityClassifier(cfg)
    prior = prior_model().weights
    x = [5.0] * N_FEATURES
    for i in range(500):  # an endless stream of 0 labels on hot features
        clf.observe_trade(i * S, 1, 100.0, x)
        clf.on_mid(i * S + 3 * S, 100.0)
    assert all(w >= 0.5 * w0 - 1e-12 for w, w0 in zip(clf.weights, prior))
    assert -3.0 <= clf.bias <= 3.0
    for i in range(500, 1000):  # then only 1 labels
        clf.observe_trade(i * S, 1, 100.0, x)
        clf.on_mid(i * S + 1, 101.0)
    assert all(w <= 3.0 for w in clf.weights)


def test_no_learning_when_disabled() -> None:
    clf = _clf(learn=False)
    w0 = list(clf.weights)
    clf.observe_trade(0, 1, 100.0, [1.0] * N_FEATURES)
    clf.on_mid(1, 200.0)
    assert clf.weights == w0 and clf.metrics["n_labels"] == 0.0


def test_between_trades_fades_only_trade_features() -> None:
    x_trade = [2.0, 1.5, 0.9, 1.0, 1.0, 3.0, 2.0, 0.5, 0.5, 0.5]
    x_now = [0.0, -2.0, 0.0, 4.0, 0.2, 0.0, 0.0, 0.1, 0.1, 0.2]
    x = between_trades(x_trade, x_now, 0.5)
    assert x == [1.0, 0.75, 0.45, 4.0, 0.2, 1.5, 1.0, 0.1, 0.1, 0.2]
    assert between_trades([0.0, -2.0, 0, 0, 0, 0, -1.0, 0, 0, 0], x_now, 0.5)[1] == -2.0


# ------------------------------------------------------------------ detection latency


def detection(stream, learn: bool = True) -> tuple[int | None, float | None, int]:
    """(trades after the cascade start until Toxic, ms after it, Toxic verdicts in the calm part)."""
    eng = FeatureEngine(SYMBOL, toxicity=ToxicityConfig(learn=learn))
    false_alarms = 0
    k = 0
    for ev in stream.events:
        eng.on_event(ev, ev.ts_ns)
        if isinstance(ev, Trade):
            if ev.ts_ns < stream.burst_start_ts_ns:
                false_alarms += eng.toxicity == Toxicity.TOXIC
            else:
                k += 1
                if eng.toxicity == Toxicity.TOXIC:
                    return k, (ev.ts_ns - stream.burst_start_ts_ns) / 1e6, false_alarms
        if eng.due(ev.ts_ns):
            eng.snapshot(ev.ts_ns, ev.ts_ns)
            if ev.ts_ns < stream.burst_start_ts_ns:
                false_alarms += eng.toxicity == Toxicity.TOXIC
    return None, None, false_alarms


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("side", [-1, 1])
@pytest.mark.parametrize("sweep", [True, False])
def test_flips_to_toxic_within_two_trades_of_a_sweep(seed, side, sweep) -> None:
    """Calm market for 120 s, then one side eats the touch every 40 ms."""
    n, ms, false_alarms = detection(make_stream(seed=seed, burst_side=side, sweep=sweep))
    assert false_alarms == 0
    assert n is not None and n <= 2, (n, ms)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flips_to_toxic_within_three_trades_of_a_moderate_burst(seed) -> None:
    """Trades only 3x the usual size, at the touch, every 40 ms: found by speed and side."""
    n, _, false_alarms = detection(make_stream(seed=seed, sweep=False, burst_qty=0.15))
    assert false_alarms == 0
    assert n is not None and n <= 3


def test_long_calm_stretch_of_learning_does_not_unlearn_detection() -> None:
    n, _, false_alarms = detection(make_stream(seed=5, quiet_s=900.0))
    assert false_alarms == 0
    assert n is not None and n <= 2


def test_calm_market_alone_is_never_toxic() -> None:
    n, _, false_alarms = detection(make_stream(seed=6, quiet_s=300.0, burst_trades=0))
    assert n is None and false_alarms == 0


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("toxic_threshold", {"toxic_threshold": 1.0}),
        ("benign_threshold", {"benign_threshold": 0.7}),
        ("label_move_bps", {"label_move_bps": 0.0}),
        ("label_horizon_s", {"label_horizon_s": float("nan")}),
        ("max_pending", {"max_pending": 0}),
        ("min_weight_ratio", {"min_weight_ratio": 1.5}),
        ("rate_baseline_half_life_s", {"rate_baseline_half_life_s": 0.1}),
    ],
)
def test_config_validation_names_the_field(field, kwargs) -> None:
    with pytest.raises(ValueError, match=field):
        ToxicityConfig(**kwargs)


def test_snapshot_carries_the_verdict_where_the_schema_has_fields_for_it() -> None:
    from mm.schema import StateSnapshot

    if "toxic_prob" not in StateSnapshot.__struct_fields__:
        pytest.skip("StateSnapshot has no toxicity fields in this checkout")
    stream = make_stream(seed=1)
    eng = FeatureEngine(SYMBOL)
    snap = None
    for ev in stream.events:
        if eng.on_event(ev, ev.ts_ns):
            snap = eng.snapshot(ev.ts_ns, ev.ts_ns)
    assert snap is not None
    assert snap.toxicity == int(eng.toxicity) == int(Toxicity.TOXIC)  # type: ignore[attr-defined]
    assert snap.toxic_prob == eng.toxic_prob > 0.6  # type: ignore[attr-defined]
