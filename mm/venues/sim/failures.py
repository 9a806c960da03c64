"""Injected failures of the paper venue (graduation design notes, "Enhanced paper simulation").

This module owns the random decisions that make the paper venue misbehave the way the real
one does: orders refused at random, resting orders margin-cancelled later, spurious HTTP 429s,
websocket drops followed by an outage, and post-only-only windows (as after a network
upgrade), replies held past the client's timeout, periodic websocket cuts, and a
user stream that loses, repeats or reorders its items. Each part is off at rate 0. Pure: the caller passes the RNG and the time.
"""

from __future__ import annotations

import random

from mm.venues.sim.config import EnhancedSimConfig


class FailureModel:
    """The failure draws, in one seeded random stream."""

    __slots__ = ("_cfg", "_rng")

    def __init__(self, cfg: EnhancedSimConfig, rng: random.Random) -> None:
        self._cfg = cfg
        self._rng = rng

    @property
    def config(self) -> EnhancedSimConfig:
        return self._cfg

    def order_rejection(self) -> str | None:
        """An error string when this order is to be refused at random, else None."""
        if self._cfg.rejection_rate > 0 and self._rng.random() < self._cfg.rejection_rate:
            msgs = self._cfg.rejection_messages
            return msgs[self._rng.randrange(len(msgs))] if msgs else "Order rejected."
        return None

    def margin_cancel_delay_ms(self) -> float | None:
        """For a newly resting order: the delay after which it is margin-cancelled, or None."""
        if self._cfg.margin_cancel_rate > 0 and self._rng.random() < self._cfg.margin_cancel_rate:
            lo, hi = self._cfg.margin_cancel_delay_ms
            return self._rng.uniform(lo, hi)
        return None

    def spurious_429(self) -> bool:
        """True when this HTTP request is to be answered 429 regardless of its weight."""
        return self._cfg.quota_429_probability > 0 and self._rng.random() < self._cfg.quota_429_probability

    def disconnect_ms(self, elapsed_s: float) -> float | None:
        """Over ``elapsed_s`` seconds: the length of an outage that starts now, or None."""
        p = self._cfg.disconnect_probability_per_s
        if p <= 0 or elapsed_s <= 0:
            return None
        p_window = 1.0 if p >= 1.0 else 1.0 - (1.0 - p) ** elapsed_s
        if self._rng.random() < p_window:
            lo, hi = self._cfg.disconnect_duration_ms
            return self._rng.uniform(lo, hi)
        return None

    def post_only_only(self, since_start_s: float) -> bool:
        """True inside a configured post-only window (only ALO orders accepted)."""
        return any(start <= since_start_s < start + length for start, length in self._cfg.post_only_windows_s)

    def ack_hold_ms(self) -> float | None:
        """For an applied order or modify action: how long to hold its reply back, or None."""
        if self._cfg.ack_hold_probability > 0 and self._rng.random() < self._cfg.ack_hold_probability:
            lo, hi = self._cfg.ack_hold_ms
            return self._rng.uniform(lo, hi)
        return None

    def drop_user_event(self) -> bool:
        """True when this orderUpdates or userFills item is not to be sent (state drift)."""
        share = self._cfg.user_event_drop_share
        return share > 0 and self._rng.random() < share

    def duplicate_fills(self) -> bool:
        """True when this userFills frame is to be sent twice."""
        share = self._cfg.fill_duplicate_share
        return share > 0 and self._rng.random() < share

    def reorder_fills(self) -> bool:
        """True when this userFills frame is to be held back behind the user's next one."""
        share = self._cfg.fill_reorder_share
        return share > 0 and self._rng.random() < share
