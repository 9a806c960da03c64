"""Shared test helpers: a StateSnapshot with sensible defaults and overrides."""

from __future__ import annotations

from typing import Any

from mm.schema import StateSnapshot


def make_snap(**kw: Any) -> StateSnapshot:
    base: dict[str, Any] = dict(
        symbol_id=0, ts_ns=1_000_000_000, origin_ts_ns=1_000_000_000, seq=1,
        best_bid=100.0, best_ask=100.1, mid_px=100.05, microprice=100.05, spread_bps=9.995,
        depth_bids=[5.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        depth_asks=[4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        book_imbalance=0.1, ofi_500ms=0.5, ofi_2s=1.0, trade_sign_run_length=2, vwap_direction=0.2,
        sigma_ewma=0.5, sigma_realized_1m=3.0, regime=1, regime_probs=[0.1, 0.7, 0.15, 0.05],
        inventory=0.0, queue_rank_bid=-1.0, queue_rank_ask=-1.0, ref_mid_px=0.0, toxicity=1, toxic_prob=0.1,
    )
    base.update(kw)
    return StateSnapshot(**base)


def mirror(s: StateSnapshot) -> StateSnapshot:
    """The same market seen from the other side: prices reflected around the mid, bids and
    asks swapped, every signed flow feature negated."""
    m = s.mid_px
    return make_snap(
        best_bid=2 * m - s.best_ask, best_ask=2 * m - s.best_bid, mid_px=m, microprice=2 * m - s.microprice,
        spread_bps=s.spread_bps, depth_bids=list(s.depth_asks), depth_asks=list(s.depth_bids),
        book_imbalance=-s.book_imbalance, ofi_500ms=-s.ofi_500ms, ofi_2s=-s.ofi_2s,
        trade_sign_run_length=-s.trade_sign_run_length, vwap_direction=-s.vwap_direction, sigma_ewma=s.sigma_ewma,
        regime_probs=list(s.regime_probs), queue_rank_bid=s.queue_rank_ask, queue_rank_ask=s.queue_rank_bid,
        ref_mid_px=(2 * m - s.ref_mid_px) if s.ref_mid_px > 0 else 0.0, toxic_prob=s.toxic_prob,
    )
