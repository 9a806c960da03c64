"""The client drives execution's OMS (mm.execution.lifecycle) end to end against the paper venue.

This is the wiring the execution process does: send each request the OMS emits with the
client, feed every answer back, route the user stream into it. It checks that the client's
results map onto the OMS's inputs: acks, modifies, an unknown outcome settled by a cloid
lookup (no duplicate), fills, and cancel-all.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from mm.schema import OrderStatus
from mm.venues.hyperliquid.client import ExchangeClient, StreamStatus
from mm.venues.hyperliquid.reconcile import OrderInfo, UserFill

from .conftest import Env, eventually, run
from .test_transport import set_latency

lifecycle = pytest.importorskip("mm.execution.lifecycle")
exec_config = pytest.importorskip("mm.execution.config")
mode_handlers = pytest.importorskip("mm.execution.mode_handlers")
order_diff = pytest.importorskip("mm.execution.order_diff")

SYMBOLS = ("BTC", "ETH")
SYM = {c: i for i, c in enumerate(SYMBOLS)}


def venue_order(o: OrderInfo) -> Any:
    return lifecycle.VenueOrder(symbol_id=SYM[o.coin], oid=o.oid, cloid=o.cloid, is_buy=o.is_buy, px=o.limit_px,
                                rem_qty=o.sz, orig_qty=o.orig_sz, status=o.status)


async def pump(oms: Any, client: ExchangeClient) -> list[Any]:
    """Send what the OMS asked for and feed the answers back, until it asks for nothing more."""
    results = []
    while oms.requests:
        reqs = list(oms.requests)
        oms.requests.clear()
        for req in reqs:
            if isinstance(req, lifecycle.ExchangeRequest):
                res = await client.send_action(req.action())
                results.append(res)
                now = time.time_ns()
                if res.outcome == "ok" and req.kind in ("order", "batchModify"):
                    for st in res.statuses:
                        if st.kind in ("resting", "filled", "error"):
                            oms.on_order_result(st.cloid, now, st.kind, st.oid, st.total_sz, st.error)
                elif res.outcome == "ok":
                    for c, st in zip(req.cancels, res.statuses):
                        if st.kind != "unknown":
                            oms.on_cancel_result(c.cloid, now, st.kind == "success", st.error)
                else:
                    oms.on_request_failed(req.request_id, now, maybe_delivered=res.outcome == "unknown",
                                          reason=res.error)
            elif req.kind == "orderStatus":
                found = await client.order_status(req.cloid)
                oms.on_order_status(time.time_ns(), req.cloid, venue_order(found) if found is not None else None)
            else:
                oms.on_open_orders(time.time_ns(), [venue_order(o) for o in await client.open_orders()])
    return results


def test_oms_through_the_client(env: Env) -> None:
    cfg = exec_config.ExecutionConfig()
    specs = [mode_handlers.SymbolSpec("BTC", 0, 5), mode_handlers.SymbolSpec("ETH", 1, 4)]
    oms = lifecycle.Oms(cfg, specs, session_id=0xABCDEF)
    TargetOrder = order_diff.TargetOrder  # noqa: N806
    eth = SYM["ETH"]
    oms.set_max_inventory(eth, 1.0)

    def on_event(ev: Any) -> None:
        now = time.time_ns()
        if isinstance(ev, OrderInfo):
            oms.on_order_update(now, venue_order(ev))
        elif isinstance(ev, UserFill):
            oms.on_fill(now, SYM[ev.coin], ev.cloid, ev.oid, ev.tid, ev.is_buy, ev.px, ev.sz, ev.fee,
                        not ev.crossed, ev.time_ms)
        elif isinstance(ev, StreamStatus) and ev.kind == "reconnected":
            oms.request_open_orders(now, "reconnect")

    async def go() -> None:
        async with env.client(post_timeout_ms=300) as client:
            await client.subscribe_user_events(on_event)
            # quotes go out and are acked
            oms.sync(eth, [TargetOrder(1, 2900.0, 0.01), TargetOrder(-1, 3100.0, 0.01)], time.time_ns(), False)
            await pump(oms, client)
            live = oms.live_orders(eth)
            assert sorted(r.status for r in live) == [OrderStatus.OPEN, OrderStatus.OPEN]
            venue_cloids = {o.cloid for o in await client.open_orders()}
            assert venue_cloids == {r.cloid for r in live}
            # a move: batchModify, the replacement acked, the old one cancelled
            oms.sync(eth, [TargetOrder(1, 2950.0, 0.01), TargetOrder(-1, 3100.0, 0.01)], time.time_ns(), False)
            sent = await pump(oms, client)
            assert [r.action for r in sent] == ["batchModify"]
            bids = [r for r in oms.live_orders(eth) if r.side > 0]
            assert len(bids) == 1 and bids[0].px == 2950.0 and bids[0].status == OrderStatus.OPEN
            # the venue is slow: the next order's outcome is unknown; after the ack timeout it is
            # looked up by cloid and found, never sent twice
            set_latency(env, 1000.0)
            oms.sync(eth, [TargetOrder(1, 2950.0, 0.01), TargetOrder(-1, 3100.0, 0.01),
                           TargetOrder(-1, 3200.0, 0.01)], time.time_ns(), False)
            sent = await pump(oms, client)
            assert [r.outcome for r in sent] == ["unknown"]
            pending = [r for r in oms.live_orders(eth) if r.px == 3200.0]
            assert len(pending) == 1 and pending[0].status == OrderStatus.PENDING_NEW
            set_latency(env, None)
            await eventually(lambda: len(env.open_orders()) == 3, what="the slow order lands")
            oms.check_timeouts(time.time_ns() + cfg.oms.ack_timeout_ms * 1_000_000 + 1)
            await pump(oms, client)
            assert oms.status_of(pending[0].cloid) == OrderStatus.OPEN
            assert sum(1 for o in await client.open_orders() if o.cloid == pending[0].cloid) == 1
            # kill: cancel everything the OMS has
            oms.cancel_all(time.time_ns(), "kill switch")
            await pump(oms, client)
            assert oms.live_orders(eth) == [] and await client.open_orders() == []
            assert oms.accounted() == oms.sent_total

    run(go())
