"""Direction model (mm/models/direction.py), its fit (mm/models/train.py) and the state
machine's direction gate (mm/execution/state_machine.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mm.execution.decision import DecisionBuilder
from mm.execution.mode_handlers import CycleInputs, PriceGrid, SymbolSpec
from mm.execution.models import ExpFillModel, HeuristicQueueValue
from mm.execution.order_diff import TargetOrder
from mm.execution.state_machine import StateMachinePolicy, SymbolState, direction_gate, safe_target
from mm.models.direction import (
    DIRECTION_FEATURES,
    DirectionModel,
    DirectionParams,
    decode_params,
    encode_params,
)
from mm.models.train import PipelineConfig, choose_direction_threshold, fit_direction, fit_logistic
from mm.schema import ExecMode, Toxicity
from tests.execution.helpers import config, snap

N = len(DIRECTION_FEATURES)
IMB = DIRECTION_FEATURES.index("imbalance_adv")


def params(w_imb: float = 10.0, threshold: float = 0.5, intercept: float = 0.0) -> DirectionParams:
    coef = [0.0] * N
    coef[IMB] = w_imb
    return DirectionParams(symbol="X", qty_scale=1.0, markout_s=5.0, feature_names=list(DIRECTION_FEATURES),
                           intercept=intercept, coef=coef, threshold=threshold)


def test_params_round_trip_and_bad_files_name_the_field() -> None:
    p = params()
    assert decode_params(encode_params(p)) == p
    for bad, field in ((dict(threshold=0.0), "threshold"), (dict(coef=[0.0] * (N - 1)), "coef"),
                       (dict(coef=[float("nan")] + [0.0] * (N - 1)), "coef"), (dict(qty_scale=0.0), "qty_scale"),
                       (dict(feature_names=["x"] * N), "feature_names")):
        import msgspec
        with pytest.raises(ValueError, match=field):
            DirectionModel(msgspec.structs.replace(p, **bad))
    with pytest.raises(ValueError, match="direction model"):
        decode_params(b"{not json")


def test_adverse_prob_follows_the_side_oriented_features_and_is_worst_case_without_a_book() -> None:
    m = DirectionModel(params())
    s = snap(99.9, 100.1, book_imbalance=-0.5)  # selling pressure: adverse for a bid, favourable for an ask
    assert m.adverse_prob(1, 99.9, 1.0, s) > 0.99
    assert m.adverse_prob(-1, 100.1, 1.0, s) < 0.01
    assert m.adverse_prob(1, 99.9, 1.0, snap(99.9, 100.1)) == pytest.approx(0.5)
    assert m.adverse_prob(1, float("nan"), 1.0, s) == 1.0
    assert m.adverse_prob(1, 99.9, 1.0, snap(99.9, 100.1, mid_px=0.0)) == 1.0


def test_fit_logistic_recovers_the_signs_and_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, 3)) * [1.0, 5.0, 0.2] + [0.0, 10.0, 0.0]
    z = 0.3 + 1.5 * x[:, 0] - 0.4 * (x[:, 1] - 10.0)
    y = (rng.random(4000) < 1.0 / (1.0 + np.exp(-z))).astype(float)
    b0, w = fit_logistic(x, y, 1e-4)
    assert w[0] == pytest.approx(1.5, rel=0.15) and w[1] == pytest.approx(-0.4, rel=0.15) and abs(w[2]) < 0.5
    assert b0 + 10.0 * w[1] == pytest.approx(0.3 - 4.0 * 0.0, abs=0.3)  # intercept in raw units
    b1, w1 = fit_logistic(x, y, 1e-4)
    assert b1 == b0 and np.array_equal(w, w1)


def test_threshold_keeps_everything_unless_dropping_raises_the_summed_edge() -> None:
    p = np.array([0.1, 0.2, 0.6, 0.9])
    thr, table = choose_direction_threshold(p, np.array([1.0, 1.0, -3.0, -2.0]), (0.3, 0.7))
    assert thr == 0.3 and table[0] == (1.0, 4, -3.0)
    thr, _ = choose_direction_threshold(p, np.array([1.0, 1.0, 3.0, 2.0]), (0.3, 0.7))
    assert thr == 1.0  # nothing to gain: no gate


def test_fit_direction_learns_a_signal_and_chooses_a_gate_on_the_holdout() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    x = np.zeros((n, N))
    x[:, IMB] = rng.uniform(-1.0, 1.0, n)
    adverse = (rng.random(n) < 1.0 / (1.0 + np.exp(-4.0 * x[:, IMB]))).astype(float)
    edge = np.where(adverse > 0, -1.0, 0.5)
    p, figs = fit_direction(x, adverse, edge, np.ones(n, dtype=bool), symbol="X", qty_scale=1.0, markout_s=5.0,
                            cfg=PipelineConfig())
    assert p.coef[IMB] > 2.0 and 0.2 <= p.threshold < 1.0
    assert figs["holdout_selected"] == n - int(n * (1.0 - PipelineConfig().fit.val_frac))
    DirectionModel(p)  # a valid file


def _inputs(s: object, **cfg_kw: object) -> CycleInputs:
    cfg = config(**cfg_kw)
    inp = CycleInputs(cfg=cfg, spec=SymbolSpec("X", 0, 1), grid=PriceGrid(1), snap=s, now_ns=10**12,
                      qv=HeuristicQueueValue(cfg.models), fill=ExpFillModel(cfg.models), inventory=0.0, max_inv=3.0,
                      quote_qty=0.5, taker_clip_qty=2.0, reduce_clip_qty=5.0, size_mult=1.0, spread_mult=1.0,
                      target=0.0, toxicity=Toxicity.NORMAL, toxic_prob=0.0, lead_lag_skew_bps=0.0, headroom_buy=3.0,
                      headroom_sell=3.0, min_notional_usd=10.0)
    inp.safe_target = safe_target(0.0, 3.0, 5.0, cfg.baseline_sigma_bps)
    return inp


def _run(inp: CycleInputs, models: dict[int, DirectionModel] | None) -> tuple[DecisionBuilder, list]:  # type: ignore[type-arg]
    b = DecisionBuilder()
    return b, StateMachinePolicy(models).decide(inp, SymbolState(), b)


def test_direction_gate_withdraws_the_side_expected_to_be_run_over_only_when_on() -> None:
    s = snap(99.7, 100.3, toxic_prob=0.0, sigma_ewma=0.2, book_imbalance=-0.5)
    models = {0: DirectionModel(params())}
    b, out = _run(_inputs(s, direction_gate=True), models)
    assert b.mode == ExecMode.MAKER
    assert out and all(t.side < 0 for t in out)
    assert any("direction gate: bid" in r for r in b.reasons)
    _, both = _run(_inputs(s), models)  # off by default
    assert {t.side for t in both} == {1, -1}
    _, both = _run(_inputs(s, direction_gate=True), {})  # no model for the symbol: no gate
    assert {t.side for t in both} == {1, -1}
    _, both = _run(_inputs(s, direction_gate=True), {0: DirectionModel(params(threshold=1.0))})  # fitted: no gate
    assert {t.side for t in both} == {1, -1}
    # the configured probability overrides the fitted threshold
    _, none_ = _run(_inputs(snap(99.7, 100.3, toxic_prob=0.0, sigma_ewma=0.2), direction_gate=True,
                            direction_gate_prob=0.4), models)
    assert not [t for t in none_ if not t.reduce_only]


def test_direction_gate_keeps_reduce_only_and_aggressive_orders() -> None:
    s = snap(99.7, 100.3, toxic_prob=0.0, sigma_ewma=0.2)
    inp = _inputs(s, direction_gate=True, direction_gate_prob=0.1)  # every passive quote is over 0.1
    orders = [TargetOrder(1, 99.7, 0.5), TargetOrder(-1, 100.3, 0.5, reduce_only=True),
              TargetOrder(1, 100.3, 0.5, tif="Ioc", aggressive=True)]
    b = DecisionBuilder()
    kept = direction_gate(inp, b, orders, DirectionModel(params()))
    assert kept == orders[1:]
    assert direction_gate(inp, b, orders, None) == orders


def test_direction_gate_config_is_validated() -> None:
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="direction_gate_prob"):
            config(direction_gate_prob=bad)


def test_direction_files_load_into_the_engine_state_machine_as_the_other_models() -> None:
    """``direction.json`` is read per coin like the other model files (engine_models' reader)
    and gates the engine's Maker quotes when ``direction_gate`` is on, after a variant is
    activated too; a bad file is an error naming the coin, that coin without a gate."""
    from mm.execution.engine import ExecutionEngine, direction_models
    from mm.execution.variants import VariantSpec
    from tests.execution.helpers import control, signal

    files = {("X", "direction"): encode_params(params()), ("Y", "direction"): b"{not json",
             ("X", "queue_value"): b"unused here"}
    models, errors = direction_models(["X", "Y", "Z"], lambda coin, name: files.get((coin, name)))
    assert list(models) == [0] and models[0].params == params()
    assert len(errors) == 1 and "direction model for Y is invalid" in errors[0]

    def bid_gated(eng: ExecutionEngine) -> bool:
        eng.on_control(control())
        eng.on_snapshot(snap(99.7, 100.3, toxic_prob=0.0, sigma_ewma=0.2, book_imbalance=-0.5))
        eng.on_signal(signal(), 10**12)
        rec = eng.drain_records()[-1]
        return any("direction gate: bid" in r for r in rec.reasons)

    cfg = config(direction_gate=True)
    spec = [SymbolSpec("X", 0, 1)]
    assert bid_gated(ExecutionEngine(1, cfg, spec, direction=models))
    assert not bid_gated(ExecutionEngine(1, cfg, spec))  # no file: no gate
    assert not bid_gated(ExecutionEngine(1, config(), spec, direction=models))  # gate off (the default)
    eng = ExecutionEngine(1, cfg, spec, direction=models, variants=[VariantSpec(name="wide", set={"lambda_inv": 0.6})])
    eng.activate_variant("wide", 1)
    assert bid_gated(eng)
