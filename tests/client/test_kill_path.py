"""The independent kill path: its own client, a nonce source shared with execution's, a deadline."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mm.venues.hyperliquid.client import OrderSpec
from mm.venues.hyperliquid.client_config import ExchangeClientConfig
from mm.venues.hyperliquid.keys import AgentKey
from mm.venues.hyperliquid.kill_path import KillPathRunner, cancel_everything

from .conftest import Env, eventually, run
from .test_transport import set_latency


def test_kill_path_cancels_everything_within_its_deadline(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        async with env.client() as execution:
            specs = [OrderSpec(coin="ETH", is_buy=True, px=2000 + i, sz=0.01) for i in range(20)]
            specs += [OrderSpec(coin="BTC", is_buy=False, px=101000 + 10 * i, sz=0.001) for i in range(10)]
            results = await asyncio.gather(execution.place(specs[:15]), execution.place(specs[15:]))
            assert all(s.kind == "resting" for r in results for s in r.statuses)
            # risk's own client: HTTP only, the same signer, the same nonce stream
            risk = env.client(use_ws_post=False, nonce_source=execution.nonces, name="risk-kill")
            await risk.start()
            try:
                with caplog.at_level(logging.WARNING):
                    rep = await cancel_everything(risk, deadline_s=5.0)
            finally:
                await risk.close()
            assert rep.confirmed and rep.remaining == 0 and rep.cancelled == 30 and rep.orders_seen == 30
            assert rep.rounds == 1 and rep.unknown == 0 and rep.requests_failed == 0 and rep.errors == ()
            assert 0 <= rep.first_cancel_ms <= rep.confirm_ms <= rep.elapsed_ms
            print(f"\nkill path: 30 orders, first cancel sent at {rep.first_cancel_ms:.1f} ms, "
                  f"confirmed empty at {rep.confirm_ms:.1f} ms")
            assert await execution.open_orders() == []
            assert "no open order left" in caplog.text

    run(go())


def test_kill_path_with_nothing_open_confirms_at_once(env: Env) -> None:
    async def go() -> None:
        async with env.client(use_ws_post=False) as risk:
            rep = await cancel_everything(risk, deadline_s=2.0)
            assert rep.confirmed and rep.rounds == 0 and rep.first_cancel_ms == -1.0

    run(go())


def test_kill_path_reports_a_missed_deadline_without_hanging(env: Env) -> None:
    async def go() -> None:
        async with env.client() as execution:
            await execution.place([OrderSpec(coin="ETH", is_buy=True, px=2100, sz=0.01)])
            set_latency(env, 1500.0)  # cancels take 1.5 s to apply
            async with env.client(use_ws_post=False, nonce_source=execution.nonces) as risk:
                rep = await cancel_everything(risk, deadline_s=0.4)
                assert not rep.confirmed and rep.remaining == 1 and rep.unknown + rep.requests_failed >= 1
                set_latency(env, None)
                await eventually(lambda: env.open_orders() == [], what="the slow cancel applies")
                again = await cancel_everything(risk, deadline_s=3.0)
                assert again.confirmed and again.rounds == 0

    run(go())


def test_kill_path_runner_for_a_synchronous_process(env: Env) -> None:
    async def place() -> None:
        async with env.client() as c:
            await c.place([OrderSpec(coin="ETH", is_buy=True, px=2000 + i, sz=0.01) for i in range(5)])

    run(place())
    cfg = ExchangeClientConfig(network="sim", http_url=env.venue.url, account_address=env.user, kill_deadline_s=5.0)
    runner = KillPathRunner(cfg, key=AgentKey.from_hex(env.agent_key))
    try:
        runner.start()
        rep = runner.trigger().result(timeout=30)
    finally:
        runner.close()
    assert rep.confirmed and rep.cancelled == 5
    assert env.open_orders() == []
    assert env.user in repr(runner) and env.agent_key[-16:] not in repr(runner)
