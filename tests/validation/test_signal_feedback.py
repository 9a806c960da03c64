"""The continuous validator's verdicts flow back: risk scores alpha's lead-lag signal live, a
signal that keeps predicting the wrong way is retired, ControlState carries its weight 0 and
alpha, given that ControlState, zeroes the signal (skew, target, changepoint) for that symbol
only; an operator's reinstate brings it back at the warming weight."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from mm.alpha.engine import AlphaEngine
from mm.graduation.exposure import ExposureConfig
from mm.risk.authority import Ack, RiskAuthority
from mm.risk.config import RiskConfig, ValidationConfig
from mm.schema import AlphaSignal, ControlState, OperatorCommand
from mm.validation.scorecard import ModelVerdict
from mm.validation.signals import SignalScorer, control_weights, leadlag_model_name
from tests.models.helpers import make_snap

S = 1_000_000_000
MS = 1_000_000


def sig(sid: int, skew: float, ts: int, weight: float = 1.0) -> AlphaSignal:
    return AlphaSignal(symbol_id=sid, ts_ns=ts, origin_ts_ns=ts, seq=1, target_inventory=0.0,
                       lead_lag_skew_bps=skew, divergence_bps=0.0, toxicity=1, toxic_prob=0.0, changepoint=True,
                       model_weight=weight)


def test_scorer_takes_non_overlapping_predictions_and_resolves_at_the_horizon() -> None:
    sc = SignalScorer({0: "leadlag.BTC"}, {0: 1.0})
    assert not sc.on_signal(0, 3.0, 1.0, 0)  # no mid yet
    sc.on_mark(0, 100.0, 0)
    assert sc.on_signal(0, 1.5, 0.5, 0)  # raw skew = 1.5 / 0.5
    assert not sc.on_signal(0, 9.0, 1.0, 10 * MS)  # one pending at a time
    assert not sc.on_signal(1, 9.0, 1.0, 10 * MS)  # not a scored symbol
    assert sc.on_mark(0, 100.02, 999 * MS) == []
    (obs,) = sc.on_mark(0, 100.03, S)
    assert obs.model == "leadlag.BTC" and obs.predicted_bps == pytest.approx(3.0)
    assert obs.realized_bps == pytest.approx(3.0)
    assert not sc.on_signal(0, 2.0, 0.0, 2 * S)  # a zeroed (retired) signal has nothing to score


def test_control_weights_keep_retired_models_first() -> None:
    w = {f"m{i}": 1.0 for i in range(10)} | {"z_retired": 0.0, "nan": math.nan}
    cw = control_weights(w, max_models=3)
    assert list(cw) == ["nan", "z_retired", "m0"] and cw["nan"] == 0.0
    assert leadlag_model_name("BTC") == "leadlag.BTC"


def test_alpha_applies_weights_per_symbol() -> None:
    def run(weights: dict[str, float]) -> tuple[AlphaSignal, AlphaSignal]:
        eng = AlphaEngine(symbols=["BTC", "ETH"])
        eng.set_model_weights(weights)
        rng = np.random.default_rng(3)
        out: dict[int, AlphaSignal] = {}
        for sid in (0, 1):
            for i in range(300):
                ref = 100.0 * math.exp(rng.normal(0, 0.3) / 1e4)
                eng.on_snapshot(make_snap(symbol_id=sid, ts_ns=i * 100 * MS, ref_mid_px=ref, mid_px=100.0), 0)
            out[sid] = eng.on_snapshot(make_snap(symbol_id=sid, ts_ns=301 * 100 * MS, ref_mid_px=100.05,
                                                 mid_px=100.0), 0)
        return out[0], out[1]

    btc, eth = run({})
    assert btc.changepoint and btc.lead_lag_skew_bps > 0 and btc.target_inventory > 0 and btc.model_weight == 1.0
    btc_r, eth_r = run({"leadlag.BTC": 0.0})
    assert (btc_r.lead_lag_skew_bps, btc_r.target_inventory, btc_r.changepoint, btc_r.model_weight) == (
        0.0, 0.0, False, 0.0)
    assert btc_r.divergence_bps == btc.divergence_bps  # the observation itself is not a model
    assert eth_r == eth  # the other symbol's signal untouched
    btc_d, _ = run({"leadlag.BTC": 0.25})
    assert btc_d.lead_lag_skew_bps == pytest.approx(0.25 * btc.lead_lag_skew_bps)
    assert 0.0 < btc_d.target_inventory < btc.target_inventory


def test_a_wrong_signal_is_retired_and_alpha_zeroes_it() -> None:
    a = RiskAuthority(ExposureConfig(), risk=RiskConfig(), symbols=["BTC", "ETH"],
                      validation=ValidationConfig(evaluate_every_observations=20),
                      signal_models={0: "leadlag.BTC", 1: "leadlag.ETH"}, signal_horizon_s={0: 1.0, 1: 1.0})
    alpha = AlphaEngine(symbols=["BTC", "ETH"])
    t = S
    mid = 100.0
    rng = np.random.default_rng(5)
    cs: ControlState | None = None
    for _ in range(100):  # BTC's skew says up, the mid goes down (noisily): an anti-signal
        a.on_mark(0, mid, t)
        a.on_signal(sig(0, 2.0, t, alpha.weight(0)), t)
        mid *= 1 - (2.0 + rng.normal(0, 0.5)) / 1e4
        t += S
        a.on_mark(0, mid, t)
        cs = msgspec.msgpack.decode(msgspec.msgpack.encode(a.control_state(t)), type=ControlState)  # the ring
        alpha.set_model_weights(cs.model_weights)
        if a.validator.cards["leadlag.BTC"].verdict == ModelVerdict.RETIRED:
            break
    card = a.validator.cards["leadlag.BTC"]
    assert card.verdict == ModelVerdict.RETIRED, card
    assert cs is not None and cs.model_weights["leadlag.BTC"] == 0.0
    assert "leadlag.ETH" not in cs.model_weights  # never scored: not a model yet, weight 1
    out = alpha.on_snapshot(make_snap(symbol_id=0, ts_ns=t, ref_mid_px=101.0, mid_px=100.0), t)
    assert out.lead_lag_skew_bps == 0.0 and out.target_inventory == 0.0 and out.model_weight == 0.0
    assert alpha.weight(1) == 1.0
    # a retired (disabled) model no longer counts as degraded for safety; the operator can reinstate it
    assert a.safety_inputs(t).degraded_models == 0 and a.validator.retired_models() == ["leadlag.BTC"]
    ack, _ = a.on_command(OperatorCommand(ts_ns=t, seq=1, verb="reinstate", arg="leadlag.BTC", who="op"), 0)
    assert ack == Ack.ACCEPTED
    alpha.set_model_weights(a.control_state(t + 1).model_weights)
    assert alpha.weight(0) == a.val_cfg.warming_weight
