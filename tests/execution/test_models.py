"""The heuristic queue-value and fill-probability baselines behind the model Protocols."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from mm.execution.config import HeuristicModelConfig
from mm.execution.models import ExpFillModel, FillModel, HeuristicQueueValue, QueueValueModel
from mm.schema import Regime
from tests.execution.helpers import snap

QV = HeuristicQueueValue()
FILL = ExpFillModel()


def test_baselines_satisfy_the_protocols() -> None:
    qv: QueueValueModel = QV
    fill: FillModel = FILL
    s = snap()
    assert math.isfinite(qv.queue_value(1, 99.9, 0.5, s))
    assert 0.0 <= fill.fill_prob(1, 99.9, 1.0, s) <= 1.0


def test_queue_value_positive_at_a_wide_quiet_touch() -> None:
    s = snap(99.8, 100.2, sigma_ewma=0.1, toxic_prob=0.0)  # 40 bps wide, quiet
    assert QV.queue_value(1, 99.8, 1.0, s) > 0.0
    assert QV.queue_value(-1, 100.2, 1.0, s) > 0.0


def test_queue_value_negative_in_a_cascade() -> None:
    s = snap(99.8, 100.2, regime=Regime.CASCADE, regime_probs=[0.0, 0.0, 0.0, 1.0], toxic_prob=0.9,
             sigma_ewma=8.0, ofi_500ms=-30.0)
    assert QV.queue_value(1, 99.8, 1.0, s) < 0.0


def test_queue_value_negative_on_a_one_tick_major_at_base_fees() -> None:
    # BTC-like: one tick (0.1 bps) wide, base maker fee 1.5 bps: making does not pay
    s = snap(100000.0, 100001.0, sigma_ewma=0.05, toxic_prob=0.0)
    assert QV.queue_value(1, 100000.0, 0.0, s) < 0.0
    assert QV.queue_value(-1, 100001.0, 0.0, s) < 0.0


def test_queue_value_is_net_of_the_maker_fee() -> None:
    s = snap()
    free = HeuristicQueueValue(HeuristicModelConfig(maker_fee_bps=0.0))
    rebate = HeuristicQueueValue(HeuristicModelConfig(maker_fee_bps=-0.3))
    assert abs(free.queue_value(1, 99.9, 0.5, s) - QV.queue_value(1, 99.9, 0.5, s) - 1.5) < 1e-9
    assert abs(rebate.queue_value(1, 99.9, 0.5, s) - free.queue_value(1, 99.9, 0.5, s) - 0.3) < 1e-9


def test_adverse_ofi_costs_only_the_side_it_runs_against() -> None:
    calm = snap()
    selling = snap(ofi_500ms=-8.0)
    assert QV.queue_value(1, 99.9, 0.5, selling) < QV.queue_value(1, 99.9, 0.5, calm)
    assert QV.queue_value(-1, 100.1, 0.5, selling) == QV.queue_value(-1, 100.1, 0.5, calm)


def test_back_of_the_queue_is_worth_less_than_the_front() -> None:
    s = snap()
    assert QV.queue_value(1, 99.9, 1.0, s) < QV.queue_value(1, 99.9, 0.0, s)


def test_capture_measured_from_the_microprice() -> None:
    up = snap(microprice=100.05)
    assert QV.queue_value(1, 99.9, 0.5, up) > QV.queue_value(1, 99.9, 0.5, snap())
    assert QV.queue_value(-1, 100.1, 0.5, up) < QV.queue_value(-1, 100.1, 0.5, snap())


@given(d1=st.floats(0.0, 200.0), d2=st.floats(0.0, 200.0), horizon_s=st.floats(0.01, 10.0))
def test_fill_prob_in_unit_interval_and_falls_with_distance(d1: float, d2: float, horizon_s: float) -> None:
    s = snap()
    near, far = sorted((d1, d2))
    p_near = FILL.fill_prob(1, 100.0 * (1 - near / 1e4), horizon_s, s)
    p_far = FILL.fill_prob(1, 100.0 * (1 - far / 1e4), horizon_s, s)
    assert 0.0 <= p_far <= p_near <= 1.0


def test_fill_prob_baseline_is_symmetric_and_matches_its_formula() -> None:
    s = snap()
    cfg = HeuristicModelConfig()
    delta_bps = (100.0 - 99.9) / 100.0 * 1e4
    want = 1.0 - math.exp(-cfg.kappa_per_s * math.exp(-delta_bps / cfg.delta_char_bps) * 2.0)
    assert abs(FILL.fill_prob(1, 99.9, 2.0, s) - want) < 1e-12
    assert abs(FILL.fill_prob(-1, 100.1, 2.0, s) - want) < 1e-12


bad = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0])


@given(ofi=bad, sigma=bad, tp=bad, mid=bad, micro=bad, rank=bad, px=bad)
def test_models_never_answer_non_finite_on_bad_inputs(ofi: float, sigma: float, tp: float, mid: float,
                                                       micro: float, rank: float, px: float) -> None:
    s = snap(ofi_500ms=ofi, sigma_ewma=sigma, toxic_prob=tp, mid_px=mid, microprice=micro,
             regime_probs=[math.nan, 1.0, 0.0, 0.0])
    qv = HeuristicQueueValue()
    for p in (px, 99.9):
        v = qv.queue_value(1, p, rank, s)
        assert math.isfinite(v)
        f = FILL.fill_prob(1, p, 1.0, s)
        assert 0.0 <= f <= 1.0
