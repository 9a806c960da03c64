"""Hyperliquid request-limit accounting on the sending side, with a reserve kept for cancels.

Owns :class:`RateLimiter`: execution asks it before every request it emits and charges
it for every request it emits, so that the venue never has to say 429 (ARCHITECTURE
"Rate limits": cancel/replace churn is the usual cause, and a reserve is kept for
cancels). Two budgets, both charged:

- **IP weight**: ``ip_weight_per_min`` per rolling 60 s. An exchange action weighs
  ``1 + floor(batch / 40)``; info requests 2 (orderStatus) or 20 (openOrders).
- **Per-address budget**: ``address_initial_requests + requests_per_usd * traded USDC``
  requests in the address's life, one per order or cancel of a batch. Cancels may go past
  it up to ``min(cap + cancel_extra_requests, 2 * cap)``.

Reserve: orders and modifies may not use the last ``cancel_reserve_frac`` of either budget
(of the IP weight per minute, of the address cap); cancels and reconciliation lookups may.
Pure: times are passed in; the caller feeds traded volume (``on_traded``), the venue's own
count when it has one (``sync_address``, from ``userRateLimit``) and 429s (``on_http_429``).
"""

from __future__ import annotations

import math
from collections import deque

from mm.execution.config import RateLimitConfig

_WINDOW_NS = 60_000_000_000


class RateLimiter:
    """The IP weight window and the address budget of one account."""

    __slots__ = ("_window", "address_used", "cfg", "ip_used", "refused", "traded_usd")

    def __init__(self, cfg: RateLimitConfig | None = None, traded_usd: float = 0.0, address_used: int = 0) -> None:
        self.cfg = cfg if cfg is not None else RateLimitConfig()
        self._window: deque[tuple[int, int]] = deque()
        self.ip_used = 0
        self.address_used = address_used
        self.traded_usd = traded_usd
        self.refused = 0

    # ------------------------------------------------------------------ budgets

    def exchange_weight(self, n_items: int) -> int:
        """IP weight of an exchange action with ``n_items`` orders, cancels or modifies."""
        return 1 + max(n_items, 0) // self.cfg.batch_weight_step

    def address_cap(self) -> int:
        """Requests the address may send in its life (orders and modifies)."""
        return self.cfg.address_initial_requests + int(self.traded_usd * self.cfg.requests_per_usd)

    def address_cap_at(self, traded_usd: float) -> int:
        """:meth:`address_cap` had the address traded ``traded_usd`` (a past cycle's cap)."""
        return self.cfg.address_initial_requests + int(traded_usd * self.cfg.requests_per_usd)

    def cancel_cap(self) -> int:
        """Requests cancels may reach: ``min(cap + extra, 2 * cap)``."""
        cap = self.address_cap()
        return min(cap + self.cfg.cancel_extra_requests, 2 * cap)

    def order_cap(self) -> int:
        """The address cap less the reserve kept for cancels."""
        cap = self.address_cap()
        return cap - math.ceil(self.cfg.cancel_reserve_frac * cap)

    def ip_weight_used(self, now_ns: int) -> int:
        """Weight charged in the last 60 s."""
        w = self._window
        while w and w[0][0] <= now_ns - _WINDOW_NS:
            self.ip_used -= w.popleft()[1]
        return self.ip_used

    def _ip_limit(self, reserved: bool) -> int:
        lim = self.cfg.ip_weight_per_min
        return lim - math.ceil(self.cfg.cancel_reserve_frac * lim) if reserved else lim

    # ------------------------------------------------------------------ checks and charges

    def check_exchange(self, n_items: int, is_cancel: bool, now_ns: int) -> str | None:
        """None when an exchange action may be sent now, else why not (nothing is charged)."""
        return self._check(n_items, is_cancel, now_ns, 1 + max(n_items, 0) // self.cfg.batch_weight_step)

    def _check(self, n_items: int, is_cancel: bool, now_ns: int, weight: int) -> str | None:
        # ip_weight_used, _ip_limit, cancel_cap and order_cap, inlined (one check per request sent)
        cfg = self.cfg
        w = self._window
        cut = now_ns - _WINDOW_NS
        while w and w[0][0] <= cut:
            self.ip_used -= w.popleft()[1]
        lim = cfg.ip_weight_per_min
        frac = cfg.cancel_reserve_frac
        if self.ip_used + weight > (lim if is_cancel else lim - math.ceil(frac * lim)):
            return "ip weight limit" + ("" if is_cancel else " (cancel reserve)")
        cap = cfg.address_initial_requests + int(self.traded_usd * cfg.requests_per_usd)
        limit = min(cap + cfg.cancel_extra_requests, 2 * cap) if is_cancel else cap - math.ceil(frac * cap)
        if self.address_used + max(n_items, 1) > limit:
            return "address request budget" + ("" if is_cancel else " (cancel reserve)")
        return None

    def try_exchange(self, n_items: int, is_cancel: bool, now_ns: int) -> str | None:
        """Check and, when allowed, charge an exchange action; the refusal reason otherwise."""
        weight = 1 + max(n_items, 0) // self.cfg.batch_weight_step  # exchange_weight(n_items)
        why = self._check(n_items, is_cancel, now_ns, weight)
        if why is not None:
            self.refused += 1
            return why
        self._window.append((now_ns, weight))
        self.ip_used += weight
        self.address_used += max(n_items, 1)
        return None

    def try_info(self, weight: int, now_ns: int) -> str | None:
        """Check and charge an info request (reconciliation may use the reserve)."""
        if self.ip_weight_used(now_ns) + weight > self._ip_limit(False):
            self.refused += 1
            return "ip weight limit"
        self._charge_ip(weight, now_ns)
        return None

    def _charge_ip(self, weight: int, now_ns: int) -> None:
        self._window.append((now_ns, weight))
        self.ip_used += weight

    # ------------------------------------------------------------------ feedback

    def on_traded(self, notional_usd: float) -> None:
        """Volume traded by the address (each fill), which earns request budget."""
        if math.isfinite(notional_usd) and notional_usd > 0.0:
            self.traded_usd += notional_usd

    def sync_address(self, n_requests_used: int, n_requests_cap: int) -> None:
        """Adopt the venue's own count (``userRateLimit``): used, and the cap via volume."""
        self.address_used = max(n_requests_used, 0)
        per = self.cfg.requests_per_usd
        if per > 0.0:
            self.traded_usd = max(n_requests_cap - self.cfg.address_initial_requests, 0) / per

    def on_http_429(self, now_ns: int) -> None:
        """The venue refused for rate: someone else shares the IP. Treat the window as full."""
        used = self.ip_weight_used(now_ns)
        if used < self.cfg.ip_weight_per_min:
            self._charge_ip(self.cfg.ip_weight_per_min - used, now_ns)
