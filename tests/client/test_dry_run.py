"""Dry run: an ALO far from the touch, cancelled at once, with round-trip timings."""

from __future__ import annotations

from decimal import Decimal

from mm.venues.hyperliquid.dry_run import dry_run, dry_run_order
from mm.venues.hyperliquid.rules import AssetRules

from .conftest import Env, run


def test_dry_run_order_is_far_and_above_minimum() -> None:
    r = AssetRules(name="BTC", sz_decimals=5)
    o = dry_run_order("BTC", r, 100000.0, 100001.0, True, 100.0, 12.0, "0x" + "0" * 32)
    assert o.tif == "Alo" and o.is_buy and Decimal(str(o.px)) == Decimal("99000")
    assert Decimal(str(o.px)) * Decimal(str(o.sz)) >= 12
    s = dry_run_order("BTC", r, 100000.0, 100001.0, False, 50.0, 10.0, "0x" + "0" * 32)
    assert not s.is_buy and Decimal(str(s.px)) == Decimal("100502") and Decimal(str(s.px)) * Decimal(str(s.sz)) >= 10


def test_dry_run_round_trips_over_ws_and_http(env: Env) -> None:
    async def go() -> None:
        async with env.client() as c:
            rep = await dry_run(c, "BTC", rounds=4)
            assert rep.ok and len(rep.rounds) == 4, [r.error for r in rep.rounds]
            assert [r.is_buy for r in rep.rounds] == [True, False, True, False]
            for r in rep.rounds:
                assert r.place_transport == "ws" and r.cancel_transport == "ws" and r.final_status == "canceled"
                assert r.place_rtt_ms > 0 and r.cancel_rtt_ms > 0 and r.oid > 0
            assert 0 < rep.place_rtt_ms_median <= rep.place_rtt_ms_max
            print(f"\ndry run over ws: place rtt median {rep.place_rtt_ms_median:.2f} ms "
                  f"(max {rep.place_rtt_ms_max:.2f}), cancel median {rep.cancel_rtt_ms_median:.2f} ms")
            assert await c.open_orders() == []
        async with env.client(use_ws_post=False) as h:
            rep = await dry_run(h, "ETH", rounds=4)
            assert rep.ok and all(r.place_transport == "http" for r in rep.rounds)
            print(f"dry run over http: place rtt median {rep.place_rtt_ms_median:.2f} ms "
                  f"(max {rep.place_rtt_ms_max:.2f}), cancel median {rep.cancel_rtt_ms_median:.2f} ms")
        assert env.open_orders() == []

    run(go())


def test_dry_run_reports_an_empty_book(make_env: object) -> None:
    env: Env = make_env()  # type: ignore[operator]
    env.venue.call(lambda s: s.engine.apply_book_snapshot("ETH", [], [], 0))

    async def go() -> None:
        async with env.client() as c:
            rep = await dry_run(c, "ETH")
            assert not rep.ok and "no two-sided book" in rep.rounds[0].error

    run(go())
