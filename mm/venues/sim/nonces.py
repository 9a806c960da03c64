"""Hyperliquid's nonce rules for the paper venue: per signer, the 100 highest, a time window.

This module owns the decision whether a signed action's nonce is acceptable (D-nonce): it must
lie within ``(now - 2 days, now + 1 day)``, must never have been used by the same signer, and
once the signer has used 100 nonces it must exceed the smallest of the 100 highest kept.
Pure: the caller passes ``now_ms``. Error strings are Hyperliquid's (exchange_wire).
"""

from __future__ import annotations

import heapq

from mm.venues.hyperliquid import exchange_wire as wire
from mm.venues.sim.config import NonceConfig


class NonceTracker:
    """The kept nonces of every signer (keyed by lower-cased address)."""

    __slots__ = ("_cfg", "_heaps", "_sets")

    def __init__(self, cfg: NonceConfig | None = None) -> None:
        self._cfg = cfg if cfg is not None else NonceConfig()
        self._heaps: dict[str, list[int]] = {}
        self._sets: dict[str, set[int]] = {}

    def check_window(self, nonce: int, now_ms: int) -> str | None:
        """None when the nonce is within the time window, else the err-envelope message."""
        least = now_ms - self._cfg.window_past_ms
        most = now_ms + self._cfg.window_future_ms
        if nonce <= least:
            return wire.err_nonce_too_low(nonce, least)
        if nonce >= most:
            return wire.err_nonce_too_high(nonce, most)
        return None

    def check_and_record(self, signer: str, nonce: int, now_ms: int) -> str | None:
        """Accept (and remember) the nonce for this signer, or say why not."""
        err = self.check_window(nonce, now_ms)
        if err is not None:
            return err
        key = signer.lower()
        heap = self._heaps.setdefault(key, [])
        seen = self._sets.setdefault(key, set())
        if nonce in seen:
            return wire.err_duplicate_nonce(nonce)
        if len(heap) >= self._cfg.keep and nonce <= heap[0]:
            return wire.err_nonce_too_low(nonce, heap[0])
        heapq.heappush(heap, nonce)
        seen.add(nonce)
        while len(heap) > self._cfg.keep:
            seen.discard(heapq.heappop(heap))
        return None

    def kept(self, signer: str) -> list[int]:
        """The nonces kept for a signer, ascending."""
        return sorted(self._heaps.get(signer.lower(), []))
