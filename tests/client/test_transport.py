"""Websocket posts, the HTTP fallback, unknown outcomes, nonces shared by signers, the user stream."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from typing import Any

from mm.venues.hyperliquid.client import OrderSpec, StreamStatus
from mm.venues.hyperliquid.reconcile import OrderInfo, UserFill
from mm.venues.hyperliquid.signing import NonceSource, shared_allocator
from mm.venues.sim.config import LatencyConfig
from mm.venues.sim.latency import LatencyModel
from mm.venues.sim.server import VenueServer

from .conftest import Env, eventually, run


def set_latency(env: Env, spike_ms: float | None) -> None:
    """Every action waits ``spike_ms`` at the venue before it applies (None: no latency)."""
    cfg = (LatencyConfig() if spike_ms is None else
           LatencyConfig(enabled=True, mean_ms=1.0, std_ms=0.0, spike_probability=1.0, spike_min_ms=spike_ms,
                         spike_max_ms=spike_ms))

    def apply(s: VenueServer) -> None:
        s.latency = LatencyModel(cfg, random.Random(0))

    env.venue.call(apply)


def test_ws_down_falls_back_to_http_and_comes_back(env: Env) -> None:
    async def go() -> None:
        async with env.client() as c:
            r1 = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2900, sz=0.01)])
            assert r1.transport == "ws" and r1.outcome == "ok"
            env.venue.call(lambda s: s.trigger_disconnect(3000))  # cut every websocket, refuse new ones 3 s
            await eventually(lambda: not c.ws_connected, what="websocket seen down")
            r2 = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2901, sz=0.01)])
            assert r2.transport == "http" and r2.outcome == "ok" and r2.statuses[0].kind == "resting"
            assert c.stats["ws_fallbacks"] >= 1
            assert await c.wait_ws_connected(15.0)
            r3 = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2902, sz=0.01)])
            assert r3.transport == "ws" and r3.outcome == "ok"
            assert c.stats["ws_connects"] >= 2 and c.stats["ws_disconnects"] >= 1
            assert len(await c.open_orders()) == 3

    run(go())


def test_timed_out_post_is_unknown_found_by_cloid_and_not_resent(env: Env) -> None:
    async def go() -> None:
        async with env.client(post_timeout_ms=300) as c:
            set_latency(env, 1500.0)  # the venue takes 1.5 s: beyond the 300 ms post timeout
            cloid = c.new_cloid()
            res = await c.place([OrderSpec(coin="BTC", is_buy=True, px=95000, sz=0.001, cloid=cloid)])
            assert res.outcome == "unknown" and res.transport == "ws"
            assert res.statuses[0].kind == "unknown" and res.statuses[0].cloid == cloid
            assert "no answer" in res.error
            set_latency(env, None)
            # look it up by cloid (it lands when the venue gets to it), never send it again
            found: OrderInfo | None = None
            deadline = time.monotonic() + 15
            while found is None and time.monotonic() < deadline:
                found = await c.order_status(cloid)
                await asyncio.sleep(0.05)
            assert found is not None and found.status == "open" and found.cloid == cloid
            mine = [o for o in await c.open_orders() if o.cloid == cloid]
            assert len(mine) == 1  # exactly one: no duplicate was sent
            assert len(env.open_orders()) == 1
            await eventually(lambda: c.stats["late_post_replies"] == 1, what="the late reply counted")
            assert c.stats["outcome_unknown"] == 1
            # the socket answers pings again, so actions go back over it
            assert await c.wait_ws_connected(10.0)
            again = await c.place([OrderSpec(coin="BTC", is_buy=True, px=95001, sz=0.001)])
            assert again.outcome == "ok"

    run(go())


def test_timed_out_http_action_is_unknown(env: Env) -> None:
    async def go() -> None:
        async with env.client(use_ws_post=False, http_timeout_ms=300) as c:
            set_latency(env, 1200.0)
            cloid = c.new_cloid()
            res = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2800, sz=0.01, cloid=cloid)])
            assert res.outcome == "unknown" and res.transport == "http"
            set_latency(env, None)
            await eventually(lambda: len(env.open_orders()) == 1, what="the order lands")
            found = await c.order_status(cloid)
            assert found is not None and found.status == "open"

    run(go())


def test_two_clients_sharing_a_nonce_allocator_never_collide(env: Env) -> None:
    """Two signers of one key with a frozen clock: independent sources collide, a shared allocator does not."""
    frozen_ms = time.time_ns() // 1_000_000

    def clock() -> int:
        return frozen_ms

    async def burst(a: NonceSource, b: NonceSource) -> tuple[int, int]:
        ca = env.client(nonce_source=a)
        cb = env.client(nonce_source=b, use_ws_post=False)
        await ca.start()
        await cb.start()
        try:
            specs = [OrderSpec(coin="ETH", is_buy=True, px=1500 + i, sz=0.01) for i in range(10)]
            rs = await asyncio.gather(*(c.place([s]) for s in specs for c in (ca, cb)))
        finally:
            await ca.close()
            await cb.close()
        nonce_errors = sum(1 for r in rs if r.outcome == "rejected" and "nonce" in r.error.lower())
        return nonce_errors, sum(1 for r in rs if r.outcome == "ok")

    async def go() -> None:
        # separate sources over the same clock: the second signer's nonces repeat the first's
        bad, _ = await burst(NonceSource(clock), NonceSource(clock))
        assert bad > 0
        # one allocator (a multiprocessing.Value, as execution and risk share it across processes)
        shared = multiprocessing.Value("Q", frozen_ms + 1000)
        alloc = shared_allocator(shared)
        good, ok = await burst(NonceSource(clock, alloc), NonceSource(clock, alloc))
        assert good == 0 and ok == 20

    run(go())


def test_user_stream_updates_fills_and_reconnect_replay(env: Env) -> None:
    events: list[Any] = []

    async def go() -> None:
        async with env.client() as c:
            primed = await c.subscribe_user_events(events.append)
            assert primed
            # an order update
            res = await c.place([OrderSpec(coin="BTC", is_buy=True, px=99000, sz=0.001, tif="Gtc")])
            oid = res.statuses[0].oid
            upd = await eventually(lambda: [e for e in events if isinstance(e, OrderInfo) and e.oid == oid],
                                   what="orderUpdates push")
            assert upd[0].status == "open" and upd[0].limit_px == 99000.0 and upd[0].cloid == res.statuses[0].cloid
            # a live fill
            f1 = await c.place([OrderSpec(coin="BTC", is_buy=True, px=100001, sz=0.001, tif="Ioc")])
            assert f1.statuses[0].kind == "filled"
            live = await eventually(lambda: [e for e in events if isinstance(e, UserFill)], what="live fill")
            assert live[0].oid == f1.statuses[0].oid and not live[0].replayed
            # the stream drops; a fill happens while it is down (sent over HTTP)
            env.venue.call(lambda s: s.trigger_disconnect(2000))
            await eventually(lambda: any(isinstance(e, StreamStatus) and e.kind == "disconnected" for e in events),
                             what="disconnected status")
            f2 = await c.place([OrderSpec(coin="BTC", is_buy=True, px=100001, sz=0.002, tif="Ioc")])
            assert f2.transport == "http" and f2.statuses[0].kind == "filled"
            rec = await eventually(lambda: [e for e in events if isinstance(e, StreamStatus) and e.kind == "reconnected"],
                                   what="reconnected status")
            assert rec[0].fills_recovered == 1 and rec[0].down_ms > 0 and rec[0].reason == ""
            fills = [e for e in events if isinstance(e, UserFill)]
            assert [f.oid for f in fills] == [f1.statuses[0].oid, f2.statuses[0].oid]  # each exactly once
            assert fills[1].replayed and fills[1].sz == 0.002
            assert c.stats["fills_replayed"] == 1
            # the stream is live again
            f3 = await c.place([OrderSpec(coin="BTC", is_buy=True, px=100001, sz=0.001, tif="Ioc")])
            await eventually(lambda: len([e for e in events if isinstance(e, UserFill)]) == 3, what="third fill")
            last = [e for e in events if isinstance(e, UserFill)][-1]
            assert last.oid == f3.statuses[0].oid and not last.replayed

    run(go())


def test_snapshot_fills_are_not_replayed_on_first_subscribe_unless_asked(env: Env) -> None:
    async def go() -> None:
        async with env.client() as c:
            r = await c.place([OrderSpec(coin="BTC", is_buy=True, px=100001, sz=0.001, tif="Ioc")])
            assert r.statuses[0].kind == "filled"
        seen: list[Any] = []
        async with env.client() as c2:
            assert await c2.subscribe_user_events(seen.append)
            await asyncio.sleep(0.2)
            assert not [e for e in seen if isinstance(e, UserFill)]  # in the position read at start already
        since: list[Any] = []
        async with env.client() as c3:
            assert await c3.subscribe_user_events(since.append, since_ms=0)
            fills = [e for e in since if isinstance(e, UserFill)]
            assert len(fills) == 1 and fills[0].replayed and fills[0].oid == r.statuses[0].oid

    run(go())


def test_expires_after_refused_when_late(env: Env) -> None:
    async def go() -> None:
        async with env.client(expires_after_ms=2000) as c:
            ok = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2900, sz=0.01)])
            assert ok.outcome == "ok"
            env.clock_offset_ms[0] = 5_000  # the action reaches a venue 5 s later than it was signed
            late = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2901, sz=0.01)])
            assert late.outcome == "rejected" and late.error == "Action already expired"
            assert len(env.open_orders()) == 1

    run(go())
