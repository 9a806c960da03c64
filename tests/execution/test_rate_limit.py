"""Hyperliquid's limits as execution accounts them: IP weight, address budget, the cancel reserve."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mm.execution.config import RateLimitConfig
from mm.execution.lifecycle import ExchangeRequest, Oms
from mm.execution.mode_handlers import SymbolSpec
from mm.execution.order_diff import TargetOrder
from mm.execution.rate_limit import RateLimiter
from tests.execution.helpers import config

S = 1_000_000_000


@given(n=st.integers(0, 1000))
def test_exchange_weight_is_one_plus_batch_over_40(n: int) -> None:
    assert RateLimiter().exchange_weight(n) == 1 + n // 40


def test_ip_weight_window_rolls_over_one_minute() -> None:
    rl = RateLimiter(RateLimitConfig(ip_weight_per_min=100, cancel_reserve_frac=0.0))
    for i in range(100):
        assert rl.try_exchange(1, False, i * S // 10) is None
    assert rl.try_exchange(1, False, 10 * S) == "ip weight limit (cancel reserve)"
    assert rl.ip_weight_used(60 * S) == 100 - 1  # the first request (t = 0) left the window
    assert rl.try_exchange(1, False, 60 * S) is None


def test_orders_stop_at_the_cancel_reserve_while_cancels_go_on() -> None:
    rl = RateLimiter(RateLimitConfig(address_initial_requests=1000, ip_weight_per_min=10**9))
    assert rl.order_cap() == 950
    assert rl.try_exchange(950, False, 0) is None
    assert rl.try_exchange(1, False, 0) is not None  # into the 5% reserve
    assert rl.try_exchange(50, True, 0) is None  # cancels may use it
    assert rl.address_used == 1000


def test_ip_reserve_is_kept_for_cancels() -> None:
    rl = RateLimiter(RateLimitConfig(ip_weight_per_min=1200, address_initial_requests=10**9))
    assert rl.try_exchange(40 * 1139, False, 0) is None  # weight 1140 = 1200 - 5%
    assert rl.try_exchange(1, False, 0) is not None
    assert rl.try_exchange(1, True, 0) is None


@given(traded=st.floats(0.0, 1e7), extra=st.integers(0, 200_000))
def test_cancels_may_pass_the_cap_up_to_min_cap_plus_extra_or_double(traded: float, extra: int) -> None:
    rl = RateLimiter(RateLimitConfig(cancel_extra_requests=extra, ip_weight_per_min=10**9), traded_usd=traded)
    cap = 10_000 + int(traded)
    assert rl.address_cap() == cap
    assert rl.cancel_cap() == min(cap + extra, 2 * cap)
    rl.address_used = rl.cancel_cap() - 1
    assert rl.try_exchange(1, True, 0) is None
    assert rl.try_exchange(1, True, 0) is not None


def test_budget_grows_one_request_per_usd_traded_and_syncs_with_the_venue() -> None:
    rl = RateLimiter()
    rl.on_traded(2_500.0)
    assert rl.address_cap() == 12_500
    rl.sync_address(n_requests_used=7_000, n_requests_cap=20_000)
    assert rl.address_used == 7_000 and rl.address_cap() == 20_000


def test_a_429_fills_the_window() -> None:
    rl = RateLimiter()
    rl.on_http_429(0)
    assert rl.try_exchange(1, True, S) is not None
    assert rl.try_exchange(1, True, 61 * S) is None


def test_oms_charges_every_request_and_keeps_the_reserve() -> None:
    cfg = config(rate_limit=RateLimitConfig(address_initial_requests=20, ip_weight_per_min=10**9))
    o = Oms(cfg, [SymbolSpec("X", 0, 1)])
    o.set_max_inventory(0, 100.0)
    t = 10**15
    sent = 0
    k = 0
    while True:  # each cycle moves the bid: a modify (one request) once the first is acked
        res = o.sync(0, [TargetOrder(1, 99.0 + 0.01 * k, 0.5)], t + k, False)
        for r in o.requests:
            assert isinstance(r, ExchangeRequest)
            for p in r.places:
                o.on_order_result(p.cloid, t + k, "resting", 1000 + k)
            for m in r.modifies:
                o.on_order_result(m.order.cloid, t + k, "resting", 1000 + k)
        o.requests = []
        k += 1
        if res.placed + res.modified == 0:
            break
        sent += res.placed + res.modified
    assert sent == o.limiter.order_cap() == 19
    # the modify that did not fit pulled the stale quote instead, out of the cancel reserve
    assert res.cancelled == 1 and o.limiter.address_used == 20
