"""The key never reaches a log, a repr or an error message, through a whole session and its failures."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mm.venues.hyperliquid.client import ExchangeClient, OrderSpec, VenueRequestError
from mm.venues.hyperliquid.client_config import ExchangeClientConfig
from mm.venues.hyperliquid.deadman import DeadMansSwitch
from mm.venues.hyperliquid.dry_run import dry_run
from mm.venues.hyperliquid.keys import AgentKey, KeyLoadError
from mm.venues.hyperliquid.kill_path import cancel_everything

from .conftest import Env, run
from .test_transport import set_latency


def forms(key_hex: str) -> list[str]:
    h = key_hex.removeprefix("0x")
    return [h.lower(), h.upper(), h[:24].lower(), h[-24:].lower()]


def test_key_never_in_logs_reprs_or_errors(env: Env, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_TEST_AGENT_KEY", env.agent_key)
    cfg = ExchangeClientConfig(network="sim", http_url=env.venue.url, account_address=env.user,
                               key_env="MM_TEST_AGENT_KEY", post_timeout_ms=300)
    texts: list[str] = [repr(cfg), str(cfg)]

    async def session() -> None:
        client = ExchangeClient.from_config(cfg)
        texts.extend([repr(client), str(client), repr(client._key), repr(client.nonces)])
        async with client as c:
            await c.subscribe_user_events(lambda ev: texts.append(repr(ev)))
            r = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2900, sz=0.01),
                               OrderSpec(coin="ETH", is_buy=True, px=3001, sz=0.01),  # ALO reject
                               OrderSpec(coin="ETH", is_buy=True, px=1, sz=0.0001)])  # local reject
            texts.append(repr(r))
            set_latency(env, 800.0)
            texts.append(repr(await c.place([OrderSpec(coin="ETH", is_buy=True, px=2800, sz=0.01)])))  # unknown
            set_latency(env, None)
            env.venue.call(lambda s: s.trigger_disconnect(300))
            texts.append(repr(await c.place([OrderSpec(coin="ETH", is_buy=True, px=2700, sz=0.01)])))
            texts.append(repr(await c.reconcile()))
            dms = DeadMansSwitch(c, lead_s=6.0, refresh_s=0.5)
            texts.append(repr(await dms.refresh()))
            texts.append(repr(await dry_run(c, "BTC")))
            texts.append(repr(await cancel_everything(c, 3.0)))
            with pytest.raises(VenueRequestError) as ei:
                await c._info({"type": "noSuchRequest", "user": c.account_address})
            texts.append(str(ei.value))
        async with env.client(env.stranger_key) as s:
            texts.append(repr(await s.place([OrderSpec(coin="ETH", is_buy=True, px=2900, sz=0.01)])))

    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG):
            run(session())
            bad = tmp_path / "wide.key"
            bad.write_text(env.agent_key)
            os.chmod(bad, 0o644)
            with pytest.raises(KeyLoadError) as ei:
                AgentKey.from_file(bad)
            texts.append(str(ei.value))
            logging.getLogger("mm.test").exception("an error with the config %r", cfg)
    finally:
        root.setLevel(old)
    blob = caplog.text + "\n".join(texts)
    assert "outcome unknown" in caplog.text and "websocket" in caplog.text  # the session did log
    for key in (env.agent_key, env.stranger_key):
        for form in forms(key):
            assert form not in blob
