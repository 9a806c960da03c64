"""Hyperliquid's request limits for the paper venue: IP weight per minute, per-address budget.

This module owns two counters (ARCHITECTURE "Rate limits"):

- **IP weight**: REST requests from one IP share 1200 weight per rolling minute. Exchange
  actions weigh ``1 + floor(batch / 40)``, info requests 2, 20 or 60 (exchange_wire). Past the
  limit the venue answers HTTP 429 and charges nothing.
- **Per-address budget**: an address may send ``10000 + 1 per USDC traded`` actions in its
  life (requests are counted per order or cancel of a batch). Past that, actions are refused
  with Hyperliquid's err envelope, except cancels, which stay allowed up to
  ``min(cap + 100000, 2 * cap)``. Past the cap one other action still trickles through every
  ``trickle_interval_s`` (Hyperliquid: one request every 10 s).

Pure: the caller passes ``now_ms`` and the address's traded volume.
"""

from __future__ import annotations

from collections import deque

from mm.venues.hyperliquid import exchange_wire as wire
from mm.venues.sim.config import RateLimitConfig

_WINDOW_MS = 60_000


class IpWeightLimiter:
    """Rolling one-minute weight per IP."""

    __slots__ = ("_cfg", "_used", "_windows")

    def __init__(self, cfg: RateLimitConfig) -> None:
        self._cfg = cfg
        self._windows: dict[str, deque[tuple[int, int]]] = {}
        self._used: dict[str, int] = {}

    def used(self, ip: str, now_ms: int) -> int:
        """Weight charged to this IP in the last minute."""
        window = self._windows.get(ip)
        if window is None:
            return 0
        total = self._used[ip]
        while window and window[0][0] <= now_ms - _WINDOW_MS:
            total -= window.popleft()[1]
        self._used[ip] = total
        return total

    def allow(self, ip: str, weight: int, now_ms: int) -> bool:
        """Charge ``weight`` and return True, or return False (429) without charging."""
        if not self._cfg.enabled:
            return True
        used = self.used(ip, now_ms)
        if used + weight > self._cfg.ip_weight_per_min:
            return False
        self._windows.setdefault(ip, deque()).append((now_ms, weight))
        self._used[ip] = used + weight
        return True


class AddressBudget:
    """Cumulative action count per address against the volume-earned cap."""

    __slots__ = ("_cfg", "_last_trickle_ms", "_used", "trickled")

    def __init__(self, cfg: RateLimitConfig) -> None:
        self._cfg = cfg
        self._used: dict[str, int] = {}
        self._last_trickle_ms: dict[str, int] = {}
        self.trickled = 0

    def cap(self, volume_usd: float) -> int:
        return self._cfg.address_initial_requests + int(volume_usd * self._cfg.requests_per_usd)

    def used(self, address: str) -> int:
        return self._used.get(address.lower(), 0)

    def charge(self, address: str, n_requests: int, is_cancel: bool, volume_usd: float,
               now_ms: int | None = None) -> str | None:
        """Count ``n_requests`` for the address, or return the refusal (nothing counted).

        With ``now_ms`` given, an action past the cap that is not a cancel is still let
        through once every ``trickle_interval_s`` (and counted)."""
        key = address.lower()
        used = self._used.get(key, 0)
        if self._cfg.enabled:
            cap = self.cap(volume_usd)
            limit = min(cap + self._cfg.cancel_extra_requests, 2 * cap) if is_cancel else cap
            if used + n_requests > limit:
                interval_ms = int(self._cfg.trickle_interval_s * 1000)
                last = self._last_trickle_ms.get(key)
                if (is_cancel or now_ms is None or interval_ms <= 0
                        or (last is not None and now_ms - last < interval_ms)):
                    return wire.err_address_budget(used + n_requests, cap, volume_usd)
                self._last_trickle_ms[key] = now_ms
                self.trickled += 1
        self._used[key] = used + n_requests
        return None
