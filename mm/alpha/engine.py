"""The alpha engine: from a StateSnapshot to an AlphaSignal, kept apart from inventory.

Seed 000 §1.3: directional conviction is separate from inventory management. This module
owns the conviction side: the Binance -> Hyperliquid divergence (reference mid against
our venue's mid, in bps) and the toxicity verdict carried by the snapshot. Until a fitted
lead-lag model is loaded (issue 5, items 8-9), the target inventory is 0 (no directional
position is sought) and the lead-lag skew is 0: the divergence is measured and published,
not yet traded on. Pure logic.
"""

from __future__ import annotations

import math

from mm.schema import AlphaSignal, StateSnapshot


def divergence_bps(ref_mid_px: float, mid_px: float) -> float:
    """(reference mid - our mid) / our mid, in bps; 0 when either side is missing."""
    if ref_mid_px > 0.0 and mid_px > 0.0 and math.isfinite(ref_mid_px + mid_px):
        return (ref_mid_px - mid_px) / mid_px * 1e4
    return 0.0


class AlphaEngine:
    """One AlphaSignal per snapshot, per symbol."""

    def __init__(self) -> None:
        self.seq = 0

    def on_snapshot(self, snap: StateSnapshot, now_ns: int) -> AlphaSignal:
        self.seq += 1
        return AlphaSignal(
            symbol_id=snap.symbol_id,
            ts_ns=now_ns,
            origin_ts_ns=snap.origin_ts_ns,
            seq=self.seq,
            target_inventory=0.0,
            lead_lag_skew_bps=0.0,
            divergence_bps=divergence_bps(snap.ref_mid_px, snap.mid_px),
            toxicity=snap.toxicity,
            toxic_prob=snap.toxic_prob,
        )
