"""The fitted models satisfy execution's Protocols: any snapshot (non-finite fields
included) gives a probability or an edge, never NaN; and the execution engine decides with
them in place of its baselines."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from mm.execution.engine import ExecutionEngine
from mm.models.fill_survival import (
    FILL_FEATURES,
    N_FILL_FEATURES,
    BaselineParams,
    FillSurvivalModel,
    FillSurvivalParams,
)
from mm.models.queue_value import (
    N_QV_FEATURES,
    QV_FEATURES,
    HeuristicQueueValue,
    HeuristicQueueValueConfig,
    QueueValueModel,
    QueueValueParams,
)
from mm.schema import SIDES_BOTH, AlphaSignal, ControlState, ExposureLevel, SafetyLevel
from tests.models.helpers import make_snap

FSM = FillSurvivalModel(FillSurvivalParams(
    symbol="T", tick_px=0.1, qty_scale=2.0, escape_ticks=2, feature_names=list(FILL_FEATURES),
    interval_edges_s=[0.0, 0.5, 1.0], fill_log_base=[0.0, -0.1, -0.3], fill_coef=[-0.8] + [0.2] * (N_FILL_FEATURES - 1),
    escape_log_base=[-0.5] * 3, escape_coef=[0.1] * N_FILL_FEATURES,
    baseline=BaselineParams(kappa_hz=1.0, delta_char_bps=2.0)))
QVM = QueueValueModel(QueueValueParams(
    symbol="T", qty_scale=2.0, markout_s=1.0, feature_names=list(QV_FEATURES), intercept=2.0,
    coef=[-0.3] + [0.05] * (N_QV_FEATURES - 1), heuristic=HeuristicQueueValueConfig()), maker_fee_bps=0.0)
HEUR = HeuristicQueueValue(HeuristicQueueValueConfig(), maker_fee_bps=1.5)

_weird = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(math.nan), st.just(math.inf))


@settings(max_examples=120, deadline=None)
@given(sigma=_weird, ofi=_weird, imb=_weird, ref=_weird, tox=_weird, micro=_weird, rank=_weird, p0=_weird,
       depth=_weird, side=st.sampled_from([1, -1]), px_off=st.sampled_from([-0.1, 0.0, 0.1, 0.2]))
def test_any_snapshot_gives_a_probability_and_an_edge(sigma: float, ofi: float, imb: float, ref: float, tox: float,
                                                       micro: float, rank: float, p0: float, depth: float, side: int,
                                                       px_off: float) -> None:
    s = make_snap(sigma_ewma=sigma, ofi_500ms=ofi, ofi_2s=ofi, book_imbalance=imb, ref_mid_px=ref, toxic_prob=tox,
                  microprice=micro, queue_rank_bid=rank, queue_rank_ask=rank, regime_probs=[p0, 0.5, 0.2, p0],
                  depth_bids=[depth] + [1.0] * 9, vwap_direction=imb)
    px = (s.best_bid - px_off) if side > 0 else (s.best_ask + px_off)
    for h in (0.5, 1.0, 3.0):
        p = FSM.fill_prob(side, px, h, s)
        assert 0.0 <= p <= 1.0
    assert all(0.0 <= v <= 1.0 for v in FSM.fill_probs_standard(side, px, s))
    for m in (QVM, HEUR):
        v = m.queue_value(side, px, rank, s)
        assert math.isfinite(v)
    assert QVM.queue_value(side, math.nan, 0.5, s) == -math.inf
    assert FSM.fill_prob(side, math.nan, 1.0, s) == 0.0


def test_inside_the_spread_is_a_new_level_at_the_front() -> None:
    s = make_snap(best_bid=100.0, best_ask=100.3, mid_px=100.15)
    inside = FSM.fill_prob_at_rank(1, 100.1, 0.0, 1.0, s)
    assert FSM.fill_prob(1, 100.1, 1.0, s) == inside


def test_execution_engine_decides_with_the_fitted_models() -> None:
    calls = {"qv": 0, "fill": 0}

    class CountQV:
        def queue_value(self, side: int, px: float, rank_frac: float, snap):  # type: ignore[no-untyped-def]
            calls["qv"] += 1
            return QVM.queue_value(side, px, rank_frac, snap)

    class CountFill:
        def fill_prob(self, side: int, px: float, horizon_s: float, snap):  # type: ignore[no-untyped-def]
            calls["fill"] += 1
            return FSM.fill_prob(side, px, horizon_s, snap)

    eng = ExecutionEngine(1, queue_model=CountQV(), fill_model=CountFill())
    eng.on_control(ControlState(ts_ns=1, seq=1, safety_level=int(SafetyLevel.GREEN),
                                exposure_level=int(ExposureLevel.FULL), size_multiplier=1.0, spread_multiplier=1.0,
                                reduce_only=False, allowed_sides=SIDES_BOTH))
    s = make_snap(ts_ns=2_000_000_000, toxic_prob=0.0, toxicity=0)
    eng.on_snapshot(s)
    out = eng.on_signal(AlphaSignal(symbol_id=0, ts_ns=s.ts_ns, origin_ts_ns=s.ts_ns, seq=1, target_inventory=0.0,
                                    lead_lag_skew_bps=0.0, divergence_bps=0.0, toxicity=0, toxic_prob=0.0),
                        s.ts_ns)
    assert out is not None
    assert calls["qv"] > 0  # the queue value was consulted before any passive quote
