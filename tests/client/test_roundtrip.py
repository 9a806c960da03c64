"""Orders, amends and cancels over loopback against the paper venue: typed results, rounding, errors."""

from __future__ import annotations

import asyncio

from mm.venues.hyperliquid import rules
from mm.venues.hyperliquid.client import CancelSpec, CloidCancelSpec, ModifySpec, OrderSpec, parse_alo_bbo

from .conftest import Env, run


def test_place_amend_cancel_round_trip_typed(env: Env) -> None:
    async def go() -> None:
        async with env.client() as c:
            assert c.ws_connected
            # rounded onto the grid: a buy's price rounds down to 5 significant figures, sizes down to szDecimals
            res = await c.place([OrderSpec(coin="BTC", is_buy=True, px=99990.7, sz=0.0012345, tif="Gtc")])
            assert res.outcome == "ok" and res.transport == "ws" and res.nonce > 0 and res.rtt_ms > 0
            (st,) = res.statuses
            assert st.kind == "resting" and st.oid > 0 and st.cloid is not None and len(st.cloid) == 34
            (oo,) = await c.open_orders()
            assert (oo.coin, oo.asset, oo.oid, oo.cloid, oo.is_buy) == ("BTC", 0, st.oid, st.cloid, True)
            assert (oo.limit_px, oo.sz, oo.orig_sz, oo.status, oo.tif) == (99990.0, 0.00123, 0.00123, "open", "Gtc")
            # amend (batchModify): a new order with a new oid and cloid; the old one is cancelled
            new_cloid = c.new_cloid()
            mod = await c.batch_modify([ModifySpec(st.oid, OrderSpec(coin="BTC", is_buy=True, px=99980, sz=0.002,
                                                                     tif="Gtc", cloid=new_cloid))])
            assert mod.outcome == "ok" and mod.action == "batchModify"
            (ms,) = mod.statuses
            assert ms.kind == "resting" and ms.cloid == new_cloid and ms.oid != st.oid
            old = await c.order_status(st.oid)
            assert old is not None and old.status == "canceled"
            by_cloid = await c.order_status(new_cloid)
            assert by_cloid is not None and by_cloid.status == "open" and by_cloid.oid == ms.oid
            assert by_cloid.limit_px == 99980.0 and by_cloid.orig_sz == 0.002
            # cancel by oid, then again: the venue's exact refusal
            cres = await c.cancel([CancelSpec("BTC", ms.oid)])
            assert cres.outcome == "ok" and cres.statuses[0].kind == "success" and cres.statuses[0].oid == ms.oid
            again = await c.cancel([CancelSpec("BTC", ms.oid)])
            assert again.outcome == "ok" and again.statuses[0].kind == "error"
            assert again.statuses[0].error.startswith(rules.ERR_CANCEL_MISSING)
            # cancel by cloid
            cl = c.new_cloid()
            r2 = await c.place([OrderSpec(coin="ETH", is_buy=False, px=3100.04, sz=0.01, cloid=cl)])
            assert r2.statuses[0].kind == "resting"
            assert (await c.open_orders())[0].limit_px == 3100.1  # a sell's price rounds up
            cc = await c.cancel_by_cloid([CloidCancelSpec("ETH", cl)])
            assert cc.action == "cancelByCloid" and cc.statuses[0].kind == "success" and cc.statuses[0].cloid == cl
            assert await c.open_orders() == []
            assert await c.order_status(c.new_cloid()) is None  # unknownOid

    run(go())


def test_fill_position_and_fills_typed(env: Env) -> None:
    async def go() -> None:
        async with env.client() as c:
            res = await c.place([OrderSpec(coin="BTC", is_buy=True, px=100001, sz=0.001, tif="Ioc")])
            (st,) = res.statuses
            assert st.kind == "filled" and st.total_sz == 0.001 and st.avg_px == 100001.0 and st.oid > 0
            (f,) = await c.user_fills()
            assert (f.coin, f.oid, f.cloid, f.is_buy, f.px, f.sz, f.crossed) == ("BTC", st.oid, st.cloid, True,
                                                                                   100001.0, 0.001, True)
            assert f.tid > 0 and f.fee > 0 and f.dir == "Open Long"
            assert await c.user_fills(since_ms=f.time_ms + 60_000) == []
            acct = await c.clearinghouse_state()
            assert acct.position_of("BTC") == 0.001 and acct.position_map() == {"BTC": 0.001}
            (p,) = acct.positions
            assert p.entry_px == 100001.0 and p.asset == 0 and acct.account_value_usd > 0

    run(go())


def test_alo_reject_carries_bbo_and_local_rules(env: Env) -> None:
    async def go() -> None:
        async with env.client() as c:
            res = await c.place([
                OrderSpec(coin="BTC", is_buy=True, px=100001, sz=0.001),  # post-only that would cross
                OrderSpec(coin="BTC", is_buy=True, px=90000, sz=0.0001),   # $9: under the minimum, not sent
                OrderSpec(coin="DOGE", is_buy=True, px=1, sz=100),          # not listed, not sent
                OrderSpec(coin="BTC", is_buy=False, px=110000, sz=0.001),  # fine
            ])
            assert res.outcome == "ok"
            alo, small, unknown, ok = res.statuses
            assert alo.kind == "error" and alo.error.startswith("Post only order would have immediately matched")
            assert alo.bbo == (100000.0, 100001.0) and not alo.local
            assert small.kind == "error" and small.local and small.error == rules.ERR_MIN_NOTIONAL
            assert unknown.kind == "error" and unknown.local and unknown.error == rules.ERR_UNKNOWN_ASSET
            assert ok.kind == "resting"
            assert c.stats["local_rejects"] == 2
            nothing = await c.place([OrderSpec(coin="BTC", is_buy=True, px=1, sz=0.00001)])
            assert nothing.outcome == "rejected" and nothing.transport == "none" and nothing.nonce == 0
            assert parse_alo_bbo("Post only order would have immediately matched, bbo was 64143@64144. asset=0") == (
                64143.0, 64144.0)
            assert parse_alo_bbo("Insufficient margin to place order.") is None

    run(go())


def test_wrong_key_surfaces_the_venues_error(env: Env) -> None:
    async def go() -> None:
        stranger = env.client(env.stranger_key)
        async with stranger as c:
            res = await c.place([OrderSpec(coin="BTC", is_buy=True, px=90000, sz=0.001)])
            assert res.outcome == "rejected"
            addr = c.signer_address.lower()
            assert res.error == f"User or API Wallet {addr} does not exist."
            assert res.statuses[0].kind == "error" and res.statuses[0].error == res.error
        # the right key with the mainnet source letter recovers as someone else: refused the same way
        async with env.client(is_mainnet=True) as c:
            res = await c.place([OrderSpec(coin="BTC", is_buy=True, px=90000, sz=0.001)])
            assert res.outcome == "rejected" and res.error.startswith("User or API Wallet 0x")
            assert env.agent.lower() not in res.error
        assert env.open_orders() == []

    run(go())


def test_http_only_client_and_user_address_signing(env: Env) -> None:
    async def go() -> None:
        # the account's own key (no agent), HTTP only
        async with env.client(env.user_key, use_ws_post=False) as c:
            assert not c.ws_connected and c.account_address == env.user
            res = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2900, sz=0.01)])
            assert res.outcome == "ok" and res.transport == "http" and res.http_status == 200
            res2 = await c.cancel([CancelSpec("ETH", res.statuses[0].oid)])
            assert res2.transport == "http" and res2.statuses[0].kind == "success"

    run(go())


def test_concurrent_signing_from_many_tasks_no_nonce_rejection(env: Env) -> None:
    async def go() -> None:
        async with env.client() as ws_c:
            http_c = env.client(use_ws_post=False, nonce_source=ws_c.nonces)  # shares the one nonce stream
            await http_c.start()
            try:
                specs = [OrderSpec(coin="ETH", is_buy=True, px=2000 + i, sz=0.01) for i in range(30)]
                results = await asyncio.gather(*(
                    (ws_c if i % 2 else http_c).place([s]) for i, s in enumerate(specs)))
            finally:
                await http_c.close()
            assert all(r.outcome == "ok" and r.statuses[0].kind == "resting" for r in results), [
                r.error for r in results if r.outcome != "ok"]
            assert len({r.nonce for r in results}) == 30
            assert {r.transport for r in results} == {"ws", "http"}
            assert ws_c.stats["nonce_errors"] == 0 and http_c.stats["nonce_errors"] == 0
            assert len(await ws_c.open_orders()) == 30

    run(go())


def test_time_in_force_and_reduce_only_on_the_wire(env: Env) -> None:
    async def go() -> None:
        async with env.client() as c:
            w = c.order_wire(OrderSpec(coin="ETH", is_buy=False, px="3000.123", sz="0.12345", tif="Gtc",
                                       reduce_only=True, cloid="0x" + "ab" * 16))
            assert (w.a, w.b, w.p, w.s, w.r, w.c) == (1, False, "3000.2", "0.1234", True, "0x" + "ab" * 16)
            assert w.t.limit is not None and w.t.limit.tif == "Gtc"
            res = await c.place([OrderSpec(coin="ETH", is_buy=False, px=3100, sz=0.01, reduce_only=True, tif="Gtc")])
            assert res.statuses[0].kind == "error" and res.statuses[0].error.startswith(rules.ERR_REDUCE_ONLY)
            bad = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2900, sz=0.01, cloid="0xBAD")])
            assert bad.statuses[0].local and "Invalid cloid" in bad.statuses[0].error

    run(go())


def test_alo_bbo_parsed_when_the_ask_has_decimals() -> None:
    """The sentence's closing period must not be read as part of the ask (found by chaos hl_alo_bbo)."""
    msg = "Post only order would have immediately matched, bbo was 2900@2900.1. asset=1"
    assert parse_alo_bbo(msg) == (2900.0, 2900.1)
    assert parse_alo_bbo("Post only order would have immediately matched, bbo was 0.01234@0.01235.") == (0.01234, 0.01235)
