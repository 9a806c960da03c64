"""The dead man's switch: armed and refreshed, the $1M refusal tolerated, triggers counted per day."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from mm.venues.hyperliquid.client import OrderSpec
from mm.venues.hyperliquid.deadman import DeadMansSwitch
from mm.venues.hyperliquid.reconcile import OrderInfo

from .conftest import Env, eventually, run


def armed_at(env: Env) -> int | None:
    return env.venue.call(lambda s: s._dms.get(env.user.lower()))


def test_arm_refresh_and_disarm(env: Env) -> None:
    async def go() -> None:
        async with env.client() as c:
            dms = DeadMansSwitch(c, lead_s=6.0, refresh_s=0.2)
            res = await dms.refresh()
            assert res is not None and res.outcome == "ok" and res.action == "scheduleCancel"
            first = dms.armed_until_ms
            assert armed_at(env) == first
            dms.start()
            await eventually(lambda: (armed_at(env) or 0) > first, what="a refresh moves the time on")
            st = dms.status()
            assert st.accepted >= 2 and st.failures == 0 and not st.refused_volume and st.triggers_today == 0
            await dms.stop(disarm=True)
            assert armed_at(env) is None and dms.armed_until_ms == 0

    run(go())


def test_volume_gate_refusal_logged_once_and_tolerated(make_env: Any, caplog: pytest.LogCaptureFixture) -> None:
    env: Env = make_env(schedule_cancel={"volume_gate_usd": 1_000_000.0})

    async def go() -> None:
        async with env.client() as c:
            dms = DeadMansSwitch(c, lead_s=6.0, refresh_s=0.5, refused_retry_s=0.05)
            with caplog.at_level(logging.WARNING, logger="mm.venues.hyperliquid.deadman"):
                dms.start()
                await eventually(lambda: dms.failures >= 4, what="several refused attempts")
                await dms.stop()
            assert dms.refused_volume and dms.accepted == 0 and dms.failures >= 4
            assert dms.last_error.startswith("Cannot set scheduled cancel time until enough volume traded")
            msgs = [r for r in caplog.records if "volume" in r.getMessage()]
            assert len(msgs) == 1 and "never depends on it" in msgs[0].getMessage()
            # trading is unaffected
            r = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2900, sz=0.01)])
            assert r.outcome == "ok"

    run(go())


def test_trigger_counted_once_and_daily_cap_pauses_arming(env: Env) -> None:
    async def go() -> None:
        async with env.client() as c:
            dms = DeadMansSwitch(c, lead_s=6.0, refresh_s=0.5, max_triggers_per_day=1)
            updates: list[OrderInfo] = []

            def on_event(ev: Any) -> None:
                if isinstance(ev, OrderInfo):
                    updates.append(ev)
                    dms.on_order_update(ev)

            await c.subscribe_user_events(on_event)
            await c.place([OrderSpec(coin="ETH", is_buy=True, px=2900, sz=0.01, tif="Gtc")])
            assert (await dms.refresh()) is not None and dms.armed_until_ms > 0
            env.clock_offset_ms[0] = 10_000  # the venue's clock passes the armed time: it fires
            await eventually(lambda: any(u.status == "scheduledCancel" for u in updates), what="scheduledCancel")
            assert env.open_orders() == []
            assert dms.triggers_today == 1 and dms.armed_until_ms == 0
            assert dms.paused_until_ms > 0  # the cap (1 here, 10 on Hyperliquid) is reached
            assert await dms.refresh() is None  # no arming until the next UTC day
            assert dms.triggers_today == 1

    run(go())


def test_missed_refresh_counts_a_trigger_without_updates() -> None:
    class FakeClient:
        def __init__(self) -> None:
            self.calls: list[int | None] = []

        async def schedule_cancel(self, time_ms: int | None, *, timeout_s: float | None = None) -> Any:
            from mm.venues.hyperliquid.client import ActionResult

            self.calls.append(time_ms)
            return ActionResult(action="scheduleCancel", outcome="ok")

    now = [1_700_000_000_000]
    fake = FakeClient()
    dms = DeadMansSwitch(fake, lead_s=10.0, refresh_s=2.0, clock_ms=lambda: now[0])
    asyncio.run(dms.refresh())
    assert fake.calls == [now[0] + 10_000]
    now[0] += 11_000  # the process stalled past the armed time
    asyncio.run(dms.refresh())
    assert dms.triggers_today == 1 and dms.triggers_total == 1
    now[0] += 86_400_000  # the next UTC day resets the count
    asyncio.run(dms.refresh())
    assert dms.triggers_today == 1 and dms.triggers_total == 2
    from mm.venues.hyperliquid.client_config import ExchangeClientConfig

    cfg = ExchangeClientConfig(http_url="http://127.0.0.1:1", dead_mans_switch_s=20.0, dead_mans_refresh_s=5.0)
    made = DeadMansSwitch.from_config(fake, cfg)
    assert made is not None and (made.lead_s, made.refresh_s) == (20.0, 5.0)
    assert DeadMansSwitch.from_config(fake, ExchangeClientConfig(http_url="http://127.0.0.1:1",
                                                                 dead_mans_switch_s=0.0)) is None
    with pytest.raises(ValueError, match="lead_s"):
        DeadMansSwitch(fake, lead_s=5.0)
    with pytest.raises(ValueError, match="refresh_s"):
        DeadMansSwitch(fake, lead_s=8.0, refresh_s=4.0)
