"""Per-symbol model routing: each symbol's fitted model, else the fallback."""

from __future__ import annotations

import msgspec

from mm.execution.models import FillModelBySymbol, QueueValueBySymbol
from mm.schema import StateSnapshot


class _Const:
    def __init__(self, v: float) -> None:
        self.v = v

    def queue_value(self, side: int, px: float, rank_frac: float, snap: StateSnapshot) -> float:
        return self.v

    def fill_prob(self, side: int, px: float, horizon_s: float, snap: StateSnapshot) -> float:
        return self.v


def _snap(symbol_id: int) -> StateSnapshot:
    return StateSnapshot(
        symbol_id=symbol_id, ts_ns=1, origin_ts_ns=1, seq=1, best_bid=99.0, best_ask=101.0, mid_px=100.0,
        microprice=100.0, spread_bps=200.0, depth_bids=[1.0] * 10, depth_asks=[1.0] * 10, book_imbalance=0.0,
        ofi_500ms=0.0, ofi_2s=0.0, trade_sign_run_length=0, vwap_direction=0.0, sigma_ewma=1.0,
        sigma_realized_1m=1.0, regime=1, regime_probs=[0.25] * 4, inventory=0.0, queue_rank_bid=-1.0,
        queue_rank_ask=-1.0,
    )


def test_each_symbol_gets_its_own_model_and_the_rest_the_fallback():
    qv = QueueValueBySymbol({1: _Const(2.5)}, _Const(-1.0))
    fill = FillModelBySymbol({0: _Const(0.3)}, _Const(0.9))
    assert qv.queue_value(1, 99.0, 0.5, _snap(1)) == 2.5
    assert qv.queue_value(1, 99.0, 0.5, _snap(0)) == -1.0
    assert fill.fill_prob(1, 99.0, 1.0, _snap(0)) == 0.3
    assert fill.fill_prob(1, 99.0, 1.0, msgspec.structs.replace(_snap(0), symbol_id=7)) == 0.9
