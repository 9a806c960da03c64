"""Reconciliation: the pure planner's rules, and restarts against the venue that orphan nothing."""

from __future__ import annotations

from mm.schema import OrderStatus
from mm.venues.hyperliquid.client import OrderSpec
from mm.venues.hyperliquid.reconcile import LocalOrder, OrderInfo, UserFill, plan_reconciliation

from .conftest import Env, run


def vo(oid: int, cloid: str | None, sz: float = 1.0, coin: str = "ETH") -> OrderInfo:
    return OrderInfo(coin=coin, asset=1, oid=oid, cloid=cloid, is_buy=True, limit_px=2000.0, sz=sz, orig_sz=1.0)


def lo(cloid: str, oid: int = 0, status: OrderStatus = OrderStatus.OPEN, qty: float = 1.0,
       filled: float = 0.0) -> LocalOrder:
    return LocalOrder(cloid=cloid, coin="ETH", is_buy=True, px=2000.0, qty=qty, oid=oid, filled_qty=filled,
                      status=int(status))


def fill(oid: int, tid: int, sz: float, cloid: str | None = None) -> UserFill:
    return UserFill(coin="ETH", asset=1, oid=oid, cloid=cloid, tid=tid, is_buy=True, px=2000.0, sz=sz, time_ms=tid)


C = ["0x" + f"{i:032x}" for i in range(10)]


def test_plan_agreement_has_no_difference() -> None:
    p = plan_reconciliation([lo(C[1], 11)], [vo(11, C[1])], local_positions={"ETH": 0.5}, venue_positions={"ETH": 0.5})
    assert p.keep == (C[1],) and p.differences == 0 and not (p.adopt or p.cancel or p.lookup or p.mark_filled)


def test_plan_rules_each_difference_counted() -> None:
    local = [
        lo(C[1], 11),                                    # kept, but the venue shows less remaining
        lo(C[2], 0, OrderStatus.PENDING_NEW),            # timed out locally, rests at the venue: adopt
        lo(C[3], 13, OrderStatus.CANCELLED),             # we think it's gone; it's not: cancel again
        lo(C[4], 14),                                    # gone from the book, fills cover it: filled
        lo(C[5], 15, OrderStatus.STALE),                 # gone, no fill explains it: look it up
        lo(C[6], 16, OrderStatus.FILLED),                # terminal and absent: nothing to do
    ]
    venue = [vo(11, C[1], sz=0.6), vo(12, C[2]), vo(13, C[3]), vo(99, None), vo(98, "0x" + "f" * 32)]
    fills = [fill(11, 1, 0.4, C[1]), fill(14, 2, 0.5), fill(14, 3, 0.5, C[4]), fill(16, 4, 1.0)]
    p = plan_reconciliation(local, venue, fills, seen_fills=[(14, 2), (16, 4)],
                            local_positions={"ETH": 1.0, "BTC": 0.1}, venue_positions={"ETH": 2.4})
    assert p.keep == (C[1],)
    assert [(s.cloid, s.local_remaining, s.venue_remaining) for s in p.size_differences] == [(C[1], 1.0, 0.6)]
    assert [(a.order.oid, a.local_cloid) for a in p.adopt] == [(12, C[2])]
    assert sorted(c.order.oid for c in p.cancel) == [13, 98, 99]
    assert [(m.cloid, m.filled_qty) for m in p.mark_filled] == [(C[4], 1.0)]
    assert p.lookup == (C[5],)
    assert [(f.oid, f.tid) for f in p.missed_fills] == [(11, 1), (14, 3)]
    assert [(d.coin, d.local_qty, d.venue_qty) for d in p.position_differences] == [("BTC", 0.1, 0.0),
                                                                                     ("ETH", 1.0, 2.4)]
    assert p.counts["cancelled_unknown"] == 2 and p.counts["adopted"] == 1 and p.counts["lookups"] == 1
    assert p.differences == 1 + 3 + 1 + 1 + 1 + 2 + 2


def test_plan_unknown_policy_adopt() -> None:
    p = plan_reconciliation([], [vo(1, C[1]), vo(2, None)], unknown_policy="adopt")
    assert [a.order.oid for a in p.adopt] == [1, 2] and all(a.local_cloid is None for a in p.adopt)
    assert not p.cancel and p.counts["adopted_unknown"] == 2


def test_restart_with_nothing_known_cancels_every_orphan(env: Env) -> None:
    async def go() -> None:
        first = env.client()
        await first.start()
        res = await first.place([OrderSpec(coin="BTC", is_buy=True, px=99000, sz=0.001),
                                 OrderSpec(coin="ETH", is_buy=True, px=2900, sz=0.01),
                                 OrderSpec(coin="ETH", is_buy=False, px=3100, sz=0.01)])
        assert [s.kind for s in res.statuses] == ["resting"] * 3
        await first.close()  # the process dies; its orders stay at the venue
        async with env.client() as second:
            rep = await second.reconcile()
            assert rep.plan.counts["cancelled_unknown"] == 3
            assert rep.cancel_results[0].outcome == "ok"
            assert [s.kind for s in rep.cancel_results[0].statuses] == ["success"] * 3
            assert rep.venue_open_after == ()  # no orphan
            assert await second.open_orders() == []
        assert env.open_orders() == []

    run(go())


def test_restart_adopts_what_it_knows_and_cancels_the_rest(env: Env) -> None:
    async def go() -> None:
        first = env.client()
        await first.start()
        known_cloid = first.new_cloid()
        res = await first.place([OrderSpec(coin="ETH", is_buy=True, px=2900, sz=0.01, cloid=known_cloid),
                                 OrderSpec(coin="ETH", is_buy=True, px=2800, sz=0.01)])
        fill = await first.place([OrderSpec(coin="BTC", is_buy=True, px=100001, sz=0.001, tif="Ioc")])
        assert fill.statuses[0].kind == "filled"
        await first.close()
        # the new process restored one order from its own records (state persisted before the crash)
        local = [LocalOrder(cloid=known_cloid, coin="ETH", is_buy=True, px=2900.0, qty=0.01,
                            oid=res.statuses[0].oid, status=int(OrderStatus.OPEN))]
        async with env.client() as second:
            rep = await second.reconcile(local, local_positions={})
            assert rep.plan.keep == (known_cloid,)
            assert [c.order.oid for c in rep.plan.cancel] == [res.statuses[1].oid]
            assert [o.cloid for o in rep.venue_open_after] == [known_cloid]
            assert rep.positions == {"BTC": 0.001}
            assert [(d.coin, d.venue_qty) for d in rep.plan.position_differences] == [("BTC", 0.001)]
            assert len(rep.plan.missed_fills) == 1
            # adopt policy: every open order taken over, nothing cancelled
            extra = await second.place([OrderSpec(coin="ETH", is_buy=False, px=3200, sz=0.01)])
            rep2 = await second.reconcile(unknown_policy="adopt")
            assert rep2.cancel_results == () and rep2.plan.counts["adopted_unknown"] == 2
            assert {o.oid for o in rep2.venue_open_after} == {res.statuses[0].oid, extra.statuses[0].oid}

    run(go())
