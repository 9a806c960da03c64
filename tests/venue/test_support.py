"""Nonce rules, rate-limit counters and market drivers of the paper venue."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mm.schema import Bbo, BookSnapshot, Trade, Venue
from mm.venues.sim.config import NonceConfig, RateLimitConfig
from mm.venues.sim.driver import QueueDriver, ReplayDriver, load_hyperliquid_csv
from mm.venues.sim.nonces import NonceTracker
from mm.venues.sim.ratelimit import AddressBudget, IpWeightLimiter

NOW = 1_700_000_000_000
REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real" / "hyperliquid-2025-09-03"


def test_nonce_window_duplicates_and_the_kept_set() -> None:
    t = NonceTracker(NonceConfig(keep=3))
    assert t.check_and_record("0xA", NOW, NOW) is None
    assert t.check_and_record("0xa", NOW, NOW) == f"Invalid nonce: duplicate nonce {NOW}"
    assert t.check_and_record("0xb", NOW, NOW) is None  # per signer
    for k in (1, 2, 3):
        assert t.check_and_record("0xa", NOW + k, NOW) is None
    assert t.kept("0xA") == [NOW + 1, NOW + 2, NOW + 3]
    assert t.check_and_record("0xa", NOW, NOW) == f"Invalid nonce: nonce too low {NOW} < {NOW + 1}"
    assert t.check_and_record("0xa", NOW + 1, NOW) is not None
    assert t.check_and_record("0xa", NOW + 10, NOW) is None  # out of order but above the smallest kept
    low = NOW - 2 * 86_400_000
    assert t.check_and_record("0xc", low, NOW) == f"Invalid nonce: nonce too low {low} < {low}"
    high = NOW + 86_400_000
    assert t.check_and_record("0xc", high, NOW) == f"Invalid nonce: nonce too high {high} > {high}"


def test_ip_weight_rolls_over_a_minute() -> None:
    lim = IpWeightLimiter(RateLimitConfig(enabled=True, ip_weight_per_min=10))
    assert all(lim.allow("1.2.3.4", 2, NOW) for _ in range(5))
    assert not lim.allow("1.2.3.4", 1, NOW + 59_999)
    assert lim.allow("5.6.7.8", 10, NOW)
    assert lim.allow("1.2.3.4", 10, NOW + 60_000)
    assert IpWeightLimiter(RateLimitConfig(enabled=False, ip_weight_per_min=1)).allow("x", 100, NOW)


def test_address_budget_and_cancel_allowance() -> None:
    b = AddressBudget(RateLimitConfig(enabled=True, address_initial_requests=3, cancel_extra_requests=2))
    assert b.charge("0xA", 3, False, 0.0) is None
    err = b.charge("0xa", 1, False, 0.0)
    assert err == ("Too many cumulative requests sent (4 > 3) for cumulative volume traded $0.00. "
                   "Place taker orders to free up 1 request per USDC traded.")
    assert b.charge("0xa", 2, True, 0.0) is None  # cancels: up to min(3 + 2, 6)
    assert b.charge("0xa", 1, True, 0.0) is not None
    assert b.charge("0xa", 1, False, 5.0) is None  # volume earns requests: cap 8
    assert b.used("0xA") == 6 and b.cap(5.0) == 8


def _snap(ts_ns: int) -> BookSnapshot:
    return BookSnapshot(int(Venue.HYPERLIQUID), 0, ts_ns, ts_ns // 1_000_000, 0, [1.0], [1.0], [2.0], [1.0])


def test_replay_driver_paces_by_event_time() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    async def fake_sleep(dt: float) -> None:
        now[0] += dt

    events = [_snap(0), _snap(2_000_000_000), _snap(5_000_000_000)]

    async def run() -> list[float]:
        seen = []
        real_sleep = asyncio.sleep
        asyncio.sleep = fake_sleep  # type: ignore[assignment]
        try:
            async for _ in ReplayDriver(events, speed=2.0, clock_s=clock):
                seen.append(now[0])
        finally:
            asyncio.sleep = real_sleep  # type: ignore[assignment]
        return seen

    assert asyncio.run(run()) == [0.0, 1.0, 2.5]


def test_queue_driver_yields_what_is_pushed() -> None:
    drv = QueueDriver()
    drv.push(_snap(1))  # before iteration starts

    async def run() -> list[int]:
        out = []

        async def feed() -> None:
            await asyncio.sleep(0)
            drv.push(_snap(2))
            drv.close()

        task = asyncio.create_task(feed())
        async for ev in drv:
            out.append(ev.ts_ns)
        await task
        return out

    assert asyncio.run(run()) == [1, 2]


@pytest.mark.skipif(not (REAL / "orderbooks_BTC.csv").exists(), reason="real recording not present")
def test_csv_loader_on_the_real_recording() -> None:
    events = load_hyperliquid_csv(REAL, "BTC", 7)
    assert events == sorted(events, key=lambda e: e.ts_ns)
    books = [e for e in events if isinstance(e, BookSnapshot)]
    trades = [e for e in events if isinstance(e, Trade)]
    bbos = [e for e in events if isinstance(e, Bbo)]
    assert len(books) > 300 and trades and bbos
    assert all(e.symbol_id == 7 for e in events)
    assert len({t.trade_id for t in trades}) == len(trades)  # deduplicated
    assert min(t.remote_ts_ms for t in trades) >= books[0].remote_ts_ms  # backfill dropped
    assert all(b.bid_px[0] < b.ask_px[0] for b in books)
