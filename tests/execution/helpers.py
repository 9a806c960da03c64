"""Builders shared by the execution tests: snapshots, signals, control states, a config."""

from __future__ import annotations

from typing import Any

from mm.execution.config import ExecutionConfig, HeuristicModelConfig, OmsConfig, SymbolLimits
from mm.schema import SIDES_BOTH, AlphaSignal, ControlState, StateSnapshot


def snap(bid: float = 99.9, ask: float = 100.1, **kw: Any) -> StateSnapshot:
    """A calm two-sided snapshot; keyword arguments override any field."""
    mid = (bid + ask) / 2.0
    d: dict[str, Any] = dict(
        symbol_id=0, ts_ns=1, origin_ts_ns=1, seq=1, best_bid=bid, best_ask=ask, mid_px=mid, microprice=mid,
        spread_bps=(ask - bid) / mid * 1e4, depth_bids=[5.0] * 10, depth_asks=[5.0] * 10, book_imbalance=0.0,
        ofi_500ms=0.0, ofi_2s=0.0, trade_sign_run_length=0, vwap_direction=0.0, sigma_ewma=0.5,
        sigma_realized_1m=5.0, regime=0, regime_probs=[1.0, 0.0, 0.0, 0.0], inventory=0.0, queue_rank_bid=-1.0,
        queue_rank_ask=-1.0, toxicity=1, toxic_prob=0.05,
    )
    d.update(kw)
    return StateSnapshot(**d)


def signal(target: float = 0.0, toxicity: int = 1, toxic_prob: float = 0.05, skew_bps: float = 0.0,
           symbol_id: int = 0, ts_ns: int = 2) -> AlphaSignal:
    return AlphaSignal(symbol_id=symbol_id, ts_ns=ts_ns, origin_ts_ns=1, seq=1, target_inventory=target,
                       lead_lag_skew_bps=skew_bps, divergence_bps=0.0, toxicity=toxicity, toxic_prob=toxic_prob)


def control(size: float = 1.0, spread: float = 1.0, reduce_only: bool = False, sides: int = SIDES_BOTH,
            seq: int = 1) -> ControlState:
    return ControlState(ts_ns=0, seq=seq, safety_level=0, exposure_level=4, size_multiplier=size,
                        spread_multiplier=spread, reduce_only=reduce_only, allowed_sides=sides)


def config(**kw: Any) -> ExecutionConfig:
    """Coin "X": max inventory 3, quote 0.5; fee 0 and a generous fill model so Maker happens."""
    base: dict[str, Any] = dict(
        symbol_limits={"X": SymbolLimits(max_inventory_qty=3.0, quote_qty=0.5)},
        models=HeuristicModelConfig(maker_fee_bps=0.0, kappa_per_s=2.0, delta_char_bps=10.0),
        oms=OmsConfig(min_aggressive_interval_ms=200, open_orders_interval_ms=0),
    )
    base.update(kw)
    return ExecutionConfig(**base)
