"""Fixtures for the paper venue tests: keys, a venue in a background thread, market events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount

from mm.schema import BookSnapshot, Side, Trade, Venue
from mm.venues.hyperliquid import signing
from mm.venues.sim.config import CoinConfig, UserConfig, VenueConfig
from mm.venues.sim.server import ThreadedVenue

USER_KEY = "0x" + "01" * 32
AGENT_KEY = "0x" + "02" * 32
OTHER_KEY = "0x" + "03" * 32
STRANGER_KEY = "0x" + "04" * 32

USER: LocalAccount = Account.from_key(USER_KEY)
AGENT: LocalAccount = Account.from_key(AGENT_KEY)
OTHER: LocalAccount = Account.from_key(OTHER_KEY)
STRANGER: LocalAccount = Account.from_key(STRANGER_KEY)

# asset 0: BTC (szDecimals 5), asset 1: ETH (4), asset 2: LOT (0: one lot is one coin, ~$20)
COINS = (
    CoinConfig(name="BTC", sz_decimals=5, max_leverage=40),
    CoinConfig(name="ETH", sz_decimals=4, max_leverage=25),
    CoinConfig(name="LOT", sz_decimals=0, max_leverage=10),
)
SYM = {"BTC": 0, "ETH": 1, "LOT": 2}


def venue_config(**overrides: Any) -> VenueConfig:
    base: dict[str, Any] = {
        "coins": COINS,
        "users": (
            UserConfig(address=USER.address, balance_usd=1_000_000.0, agents=(AGENT.address,)),
            UserConfig(address=OTHER.address, balance_usd=1_000_000.0),
        ),
    }
    defaults = VenueConfig()
    for key, value in overrides.items():  # nested sections may be given as dicts
        base[key] = msgspec.convert(value, type(getattr(defaults, key))) if isinstance(value, dict) else value
    return VenueConfig(**base)


def snapshot(coin: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> BookSnapshot:
    now = time.time_ns()
    return BookSnapshot(int(Venue.HYPERLIQUID), SYM[coin], now, now // 1_000_000, 0, [p for p, _ in bids],
                        [q for _, q in bids], [p for p, _ in asks], [q for _, q in asks])


def trade(coin: str, aggressor_buy: bool, px: float, qty: float, tid: int = 0) -> Trade:
    now = time.time_ns()
    return Trade(int(Venue.HYPERLIQUID), SYM[coin], now, now // 1_000_000, 0, px, qty,
                 int(Side.BUY if aggressor_buy else Side.SELL), tid)


def standard_book(venue: ThreadedVenue) -> None:
    venue.apply(
        snapshot("BTC", [(100000, 1.0), (99999, 2.0)], [(100001, 1.0), (100002, 2.0)]),
        snapshot("ETH", [(3000.0, 10.0), (2999.9, 5.0)], [(3000.1, 10.0), (3000.2, 5.0)]),
        snapshot("LOT", [(20.0, 5), (19.99, 5)], [(20.01, 5), (20.02, 5)]),
    )


@pytest.fixture
def make_venue() -> Iterator[Callable[..., ThreadedVenue]]:
    started: list[ThreadedVenue] = []

    def make(**overrides: Any) -> ThreadedVenue:
        v = ThreadedVenue(venue_config(**overrides))
        started.append(v)
        standard_book(v)
        return v

    yield make
    for v in started:
        v.stop()


@pytest.fixture
def venue(make_venue: Callable[..., ThreadedVenue]) -> ThreadedVenue:
    return make_venue()


def post_signed(url: str, key: str, action: dict[str, Any], nonce: int, source: str = "b",
                expires_after: int | None = None) -> requests.Response:
    """A hand-made /exchange request (as the SDK would send it, but with a chosen nonce/source)."""
    digest = signing.l1_digest(action, nonce, None, expires_after, source)
    sig = signing.sign_digest(key, digest)
    body = {"action": action, "nonce": nonce, "signature": sig, "vaultAddress": None, "expiresAfter": expires_after}
    return requests.post(url + "/exchange", data=json.dumps(body), headers={"Content-Type": "application/json"},
                         timeout=10)


def wait_for(pred: Callable[[], Any], timeout_s: float = 15.0, what: str = "condition") -> Any:
    """Poll until ``pred()`` is truthy; fail (not flake) only if it never becomes so within a generous bound."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
