"""Issue 10's venue-side rows: 429 storms, latency spikes, rejections and margin cancels,
duplicated and out-of-order fills, venue restarts.

Each scenario runs execution's OMS through the real client against the paper venue with one
fault switched on (harness: ``chaos.hl_failures``), then compares the OMS with the venue:
nothing orphaned, nothing duplicated, positions equal. Rate-limit exhaustion (cancels from
the reserved budget) is ``hl_rate_limits``.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from chaos.hl_failures import OmsRig, Rig, oms_config, run_async, trade
from chaos.table import Ctx, Row, Scenario, check
from mm.execution.order_diff import TargetOrder
from mm.schema import OrderStatus
from mm.venues.hyperliquid.kill_path import cancel_everything

ETH = 1


def _quote_loop(om: OmsRig, rng: random.Random, mid: list[float]) -> Any:
    def step() -> None:
        mid[0] += rng.choice((-0.5, 0.0, 0.5))
        om.oms.sync(ETH, [TargetOrder(1, round(mid[0] - 0.5, 1), 0.01), TargetOrder(1, round(mid[0] - 2.0, 1), 0.01),
                          TargetOrder(-1, round(mid[0] + 60.0, 1), 0.01)], time.time_ns(), False)
    return step


def _compare(rig: Rig, om: OmsRig) -> tuple[int, int, int]:
    """(venue open orders the OMS does not hold live, OMS live orders the venue does not list, duplicates)."""
    venue = rig.open_orders()
    venue_cloids = [o.cloid for o in venue]
    live = {r.cloid for sid in range(len(om.coins)) for r in om.oms.live_orders(sid)
            if r.status not in (OrderStatus.CANCELLED, OrderStatus.FILLED, OrderStatus.REJECTED)}
    orphans = sum(1 for c in venue_cloids if c not in live)
    ghosts = sum(1 for c in live if c not in set(venue_cloids))
    dups = len(venue_cloids) - len(set(venue_cloids))
    return orphans, ghosts, dups


def _venue_position(rig: Rig) -> float:
    async def get() -> float:
        async with rig.client("risk", use_ws_post=False) as c:
            return (await c.clearinghouse_state()).position_map().get("ETH", 0.0)
    return run_async(get(), 30)


def _run_quoting(rig: Rig, seconds: float, seed: int, fills: bool = False, client_kw: dict[str, Any] | None = None,
                 during: Any = None, **oms: Any) -> tuple[OmsRig, dict[str, Any]]:
    """Quote with churn for ``seconds`` (the market trading through the bids when ``fills``), settle,
    reconcile once through openOrders, and return the OMS with figures."""
    out: dict[str, Any] = {}

    async def go() -> OmsRig:
        async with rig.client(**(client_kw or {})) as client:
            om = OmsRig(client, ("BTC", "ETH"), oms_config(**oms))
            await client.subscribe_user_events(om.on_event)
            om.oms.set_max_inventory(ETH, 100.0)
            rng = random.Random(seed)
            mid = [2990.0]
            quote = _quote_loop(om, rng, mid)
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                quote()
                om.step()
                if fills and rng.random() < 0.15:
                    rig.venue.apply(trade(ETH, False, round(mid[0] - 2.5, 1), 0.02))
                if during is not None:
                    await during(time.monotonic() - t0)
                await asyncio.sleep(0.03)
            out["settled"] = await om.settle(20.0)
            om.oms.request_open_orders(time.time_ns(), "chaos check")
            await om.settle(10.0)
            await asyncio.sleep(0.5)  # the last user events
            om.step()
            out["orphans"], out["ghosts"], out["dups"] = _compare(rig, om)
            out["stats"] = dict(client.stats)
            return om

    om = run_async(go(), seconds + 120)
    return om, out


# --------------------------------------------------------------------------- scenarios


def storm_429(ctx: Ctx) -> list[Row]:
    """30% of HTTP requests answered 429 (actions over HTTP): quoting goes on, and the kill
    path still cancels everything, within its deadline."""
    sc = "venue_429_storm"
    deadline_s = 10.0
    with Rig.start(failures={"quota_429_probability": 0.3}) as rig:
        om, f = _run_quoting(rig, 3.0 if ctx.quick else 15.0, ctx.seed, client_kw={"use_ws_post": False},
                             ack_timeout_ms=1000, reconcile_retry_ms=300)

        async def kill() -> Any:
            async with rig.client("risk", use_ws_post=False, info_retries=5) as c:
                return await cancel_everything(c, deadline_s)

        rep = run_async(kill(), 60)
        st = rig.stats()
        return [
            check(sc, "HTTP 429s injected", st["http_429"], "", ">", 0, f"{len(om.sent)} actions sent"),
            check(sc, "orphaned orders after quoting", f["orphans"] + f["dups"], "", "==", 0,
                  f"ghosts {f['ghosts']}, settled={f['settled']}"),
            check(sc, "kill path confirm time in the storm", (rep.confirm_ms if rep.confirmed else 1e9) / 1000.0,
                  "s", "<=", deadline_s, f"{rep.rounds} rounds, {rep.requests_failed} requests failed"),
            check(sc, "orders left open after kill", len(rig.open_orders()), "", "==", 0, ""),
        ]


def latency_spikes(ctx: Ctx) -> list[Row]:
    """20% of actions meet a 1-2.5 s spike, past the OMS's 500 ms ack timeout."""
    sc = "venue_latency_spikes"
    with Rig.start(latency={"enabled": True, "median_ms": 30.0, "p99_ms": 120.0, "spike_probability": 0.2,
                            "spike_min_ms": 1000.0, "spike_max_ms": 2500.0}) as rig:
        om, f = _run_quoting(rig, 4.0 if ctx.quick else 20.0, ctx.seed, client_kw={"post_timeout_ms": 500},
                             ack_timeout_ms=500, reconcile_retry_ms=300)
        return [
            check(sc, "duplicate orders at the venue", f["dups"], "", "==", 0,
                  f"{om.oms.stale_total} went stale, {om.lookups} lookups, "
                  f"{f['stats']['outcome_unknown']} unknown outcomes"),
            check(sc, "orphaned orders", f["orphans"], "", "==", 0, f"settled={f['settled']}"),
            check(sc, "OMS live orders the venue lacks", f["ghosts"], "", "==", 0, ""),
            check(sc, "orders unaccounted (sent - sum of statuses)", om.oms.sent_total - om.oms.accounted(), "",
                  "==", 0, f"{om.oms.sent_total} sent"),
        ]


def rejections_margin(ctx: Ctx) -> list[Row]:
    """20% of orders refused at random; half of the resting ones margin-cancelled 50-400 ms
    later (sooner than the quoting loop replaces them, so some are, even in a short run)."""
    sc = "venue_rejections_margin"
    with Rig.start(failures={"rejection_rate": 0.2, "margin_cancel_rate": 0.5,
                             "margin_cancel_delay_ms": (50.0, 400.0)}) as rig:
        om, f = _run_quoting(rig, 6.0 if ctx.quick else 20.0, ctx.seed, ack_timeout_ms=2000)
        st = rig.stats()
        mc_seen = om.oms.status_counts.get(OrderStatus.CANCELLED, 0)
        return [
            check(sc, "random rejections injected", st["random_rejections"], "", ">", 0, ""),
            check(sc, "margin cancels injected", st["margin_cancels"], "", ">", 0, f"OMS cancelled total {mc_seen}"),
            check(sc, "orphaned + ghost orders", f["orphans"] + f["ghosts"], "", "==", 0, f"settled={f['settled']}"),
            check(sc, "orders unaccounted", om.oms.sent_total - om.oms.accounted(), "", "==", 0,
                  f"{om.oms.sent_total} sent"),
        ]


def dup_fills(ctx: Ctx) -> list[Row]:
    """Half the userFills frames sent twice, half held back behind the next (out of order)."""
    sc = "venue_dup_fills"
    with Rig.start(failures={"fill_duplicate_share": 0.5, "fill_reorder_share": 0.5,
                             "fill_reorder_max_ms": 500.0}) as rig:
        om, f = _run_quoting(rig, 5.0 if ctx.quick else 20.0, ctx.seed, fills=True, ack_timeout_ms=2000)
        st = rig.stats()
        venue_pos = _venue_position(rig)
        oms_pos = om.oms.effective_position(ETH)
        return [
            check(sc, "frames duplicated / reordered", st["fill_frames_duplicated"] + st["fill_frames_reordered"], "",
                  ">", 0, f"dup {st['fill_frames_duplicated']}, reordered {st['fill_frames_reordered']}; "
                          f"client dropped {f['stats']['fills_duplicate']} duplicates"),
            check(sc, "position mismatch OMS vs venue", round(abs(oms_pos - venue_pos), 9), "", "==", 0,
                  f"venue {venue_pos:g}, {len(om.fills)} fills applied"),
            check(sc, "orphaned + ghost orders", f["orphans"] + f["ghosts"], "", "==", 0, ""),
        ]


def restart(ctx: Ctx) -> list[Row]:
    """The venue's API servers restart mid-trading (every connection cut, 2 s down, state kept):
    the client reconnects, the OMS reconciles; nothing orphaned, positions equal."""
    sc = "venue_restart"
    down_s = 2.0
    with Rig.start() as rig:
        restarted: dict[str, float] = {}

        async def during(t: float) -> None:
            if t > 1.5 and "at" not in restarted:
                restarted["at"] = time.monotonic()
                loop = rig.venue._loop
                asyncio.run_coroutine_threadsafe(rig.venue.server.restart(down_s), loop)

        om, f = _run_quoting(rig, 6.0 if ctx.quick else 20.0, ctx.seed, fills=True, during=during,
                             client_kw={"post_timeout_ms": 800, "http_timeout_ms": 800}, ack_timeout_ms=1000,
                             reconcile_retry_ms=300)
        venue_pos = _venue_position(rig)
        oms_pos = om.oms.effective_position(ETH)
        return [
            check(sc, "venue restarts", rig.stats()["restarts"], "", "==", 1, f"down {down_s:g} s"),
            check(sc, "orphaned orders after restart", f["orphans"] + f["dups"], "", "==", 0,
                  f"ghosts {f['ghosts']}; ws connects {f['stats']['ws_connects']}, settled={f['settled']}"),
            check(sc, "position mismatch OMS vs venue", round(abs(oms_pos - venue_pos), 9), "", "==", 0,
                  f"venue {venue_pos:g}"),
        ]


SCENARIOS: list[Scenario] = [
    Scenario("venue_429_storm", storm_429, fast=True, doc="30% HTTP 429s: kill path still cancels in time"),
    Scenario("venue_latency_spikes", latency_spikes, fast=True, doc="1-2.5 s spikes: 0 duplicates, 0 orphans"),
    Scenario("venue_rejections_margin", rejections_margin, fast=True, doc="random rejects + margin cancels"),
    Scenario("venue_dup_fills", dup_fills, fast=True, doc="duplicated/out-of-order fills: position equal"),
    Scenario("venue_restart", restart, fast=True, doc="API restart, state kept: 0 orphans, position equal"),
]
