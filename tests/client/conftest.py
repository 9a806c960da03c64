"""Fixtures for the exchange client tests: a paper venue on loopback and fresh keys it knows.

Each test gets a new venue (in a background thread) whose user is a freshly generated
account with a freshly generated API wallet (agent) approved for it; the client signs with
the agent's key for the user's account, as live trading does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
import pytest
from eth_account import Account

from mm.schema import BookSnapshot, Side, Trade, Venue
from mm.venues.hyperliquid.client import ExchangeClient
from mm.venues.hyperliquid.keys import AgentKey
from mm.venues.sim.config import CoinConfig, UserConfig, VenueConfig
from mm.venues.sim.server import ThreadedVenue

T = TypeVar("T")

COINS = (CoinConfig(name="BTC", sz_decimals=5, max_leverage=40), CoinConfig(name="ETH", sz_decimals=4, max_leverage=25))
SYM = {"BTC": 0, "ETH": 1}


def snapshot(coin: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> BookSnapshot:
    now = time.time_ns()
    return BookSnapshot(int(Venue.HYPERLIQUID), SYM[coin], now, now // 1_000_000, 0, [p for p, _ in bids],
                        [q for _, q in bids], [p for p, _ in asks], [q for _, q in asks])


def trade(coin: str, aggressor_buy: bool, px: float, qty: float) -> Trade:
    now = time.time_ns()
    return Trade(int(Venue.HYPERLIQUID), SYM[coin], now, now // 1_000_000, 0, px, qty,
                 int(Side.BUY if aggressor_buy else Side.SELL), 0)


@dataclass
class Env:
    """A venue, the account it knows, the agent allowed to sign for it, and a stranger it does not."""

    venue: ThreadedVenue
    user_key: str
    agent_key: str
    stranger_key: str
    user: str
    agent: str
    clock_offset_ms: list[int] = field(default_factory=lambda: [0])

    def client(self, key_hex: str | None = None, **kw: Any) -> ExchangeClient:
        """A client (not started) signing with the agent's key (or ``key_hex``) for the user."""
        defaults: dict[str, Any] = {"post_timeout_ms": 3000, "http_timeout_ms": 3000, "info_timeout_ms": 3000,
                                    "reconnect_min_ms": 50, "reconnect_max_ms": 300, "ws_connect_timeout_ms": 3000}
        defaults.update(kw)
        key = AgentKey.from_hex(key_hex or self.agent_key, "test")
        return ExchangeClient(http_url=self.venue.url, key=key, account_address=self.user, **defaults)

    def open_orders(self) -> list[Any]:
        return self.venue.call(lambda s: s.engine.open_orders(self.user))


def venue_config(user: str, agent: str, **overrides: Any) -> VenueConfig:
    base: dict[str, Any] = {
        "coins": COINS,
        "users": (UserConfig(address=user, balance_usd=1_000_000.0, agents=(agent,)),),
    }
    defaults = VenueConfig()
    for k, v in overrides.items():
        base[k] = msgspec.convert(v, type(getattr(defaults, k))) if isinstance(v, dict) else v
    return VenueConfig(**base)


def standard_book(venue: ThreadedVenue) -> None:
    venue.apply(
        snapshot("BTC", [(100000, 1.0), (99999, 2.0)], [(100001, 1.0), (100002, 2.0)]),
        snapshot("ETH", [(3000.0, 10.0), (2999.9, 5.0)], [(3000.1, 10.0), (3000.2, 5.0)]),
    )


@pytest.fixture
def make_env() -> Iterator[Callable[..., Env]]:
    started: list[ThreadedVenue] = []

    def make(**overrides: Any) -> Env:
        user = Account.create()
        agent = Account.create()
        stranger = Account.create()
        offset = [0]
        venue = ThreadedVenue(venue_config(user.address, agent.address, **overrides),
                              clock_ns=lambda: time.time_ns() + offset[0] * 1_000_000)
        started.append(venue)
        standard_book(venue)
        return Env(venue, user.key.hex(), agent.key.hex(), stranger.key.hex(), user.address, agent.address, offset)

    yield make
    for v in started:
        v.stop()


@pytest.fixture
def env(make_env: Callable[..., Env]) -> Env:
    return make_env()


def run(coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
    """Run a test coroutine on a fresh event loop, bounded so a hang fails instead of blocking."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout_s)

    return asyncio.run(bounded())


async def eventually(pred: Callable[[], Any], timeout_s: float = 15.0, what: str = "condition") -> Any:
    """Poll until ``pred()`` is truthy (a generous bound: a failure means it never happened)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
