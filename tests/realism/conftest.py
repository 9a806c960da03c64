"""Fixtures for the venue-realism tests (issue 16): two signed users, a LOT book, a running venue.

LOT has szDecimals 0 (one lot is one coin, about $20): prices like 20.005 are valid and every
order is a whole number of lots, which keeps the expected fills exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info

from mm.schema import BookSnapshot, Venue
from mm.venues.sim.config import CoinConfig, UserConfig, VenueConfig
from mm.venues.sim.server import ThreadedVenue

MAKER: LocalAccount = Account.from_key("0x" + "0a" * 32)
TAKER: LocalAccount = Account.from_key("0x" + "0b" * 32)
LOT = "LOT"
LOT_SYMBOL = 0


def realism_config(**overrides: Any) -> VenueConfig:
    """The default venue (blocks on) listing LOT, with MAKER and TAKER funded."""
    base: dict[str, Any] = {
        "coins": (CoinConfig(name=LOT, sz_decimals=0, max_leverage=10),),
        "users": (UserConfig(address=MAKER.address, balance_usd=1_000_000.0),
                  UserConfig(address=TAKER.address, balance_usd=1_000_000.0)),
    }
    defaults = VenueConfig()
    for key, value in overrides.items():  # nested sections may be given as dicts
        base[key] = msgspec.convert(value, type(getattr(defaults, key))) if isinstance(value, dict) else value
    return VenueConfig(**base)


def lot_book() -> BookSnapshot:
    """LOT: bids 20.00 x5, 19.99 x5; asks 20.01 x5, 20.02 x5."""
    now = time.time_ns()
    return BookSnapshot(int(Venue.HYPERLIQUID), LOT_SYMBOL, now, now // 1_000_000, 0, [20.0, 19.99], [5.0, 5.0],
                        [20.01, 20.02], [5.0, 5.0])


def wait_for(pred: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition") -> Any:
    """Poll until ``pred()`` is truthy (a generous bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def exchange(venue: ThreadedVenue, wallet: LocalAccount) -> Exchange:
    return Exchange(wallet, venue.url, timeout=30)


def info(venue: ThreadedVenue) -> Info:
    return Info(venue.url, skip_ws=True, timeout=30)


def statuses(resp: dict[str, Any]) -> list[Any]:
    assert resp["status"] == "ok", resp
    return list(resp["response"]["data"]["statuses"])


class InBlock:
    """Send requests so that they land, in a chosen arrival order, in one block.

    Blocks are held; each request is sent from its own thread and the next is sent only once
    the venue has queued the previous one, so the arrival order is known. :meth:`release`
    lets the block apply and returns each request's reply by name.
    """

    def __init__(self, venue: ThreadedVenue) -> None:
        self.venue = venue
        self.results: dict[str, Any] = {}
        self._threads: list[threading.Thread] = []
        self._n_actions = 0
        venue.call(lambda s: s.hold_blocks(True))

    def send(self, name: str, fn: Callable[[], Any]) -> None:
        def run() -> None:
            self.results[name] = fn()

        t = threading.Thread(target=run, name=f"inblock-{name}", daemon=True)
        t.start()
        self._threads.append(t)
        self._n_actions += 1
        n = self._n_actions
        wait_for(lambda: self.venue.call(lambda s: s.n_queued_actions) == n, what=f"{name} queued")

    def release(self) -> dict[str, Any]:
        self.venue.call(lambda s: s.hold_blocks(False))
        for t in self._threads:
            t.join(30)
            assert not t.is_alive(), f"{t.name} got no reply"
        return self.results


@pytest.fixture
def make_venue() -> Iterator[Callable[..., ThreadedVenue]]:
    started: list[ThreadedVenue] = []

    def make(driver: Any = None, with_book: bool = True, **overrides: Any) -> ThreadedVenue:
        v = ThreadedVenue(realism_config(**overrides), driver)
        started.append(v)
        if with_book:
            v.apply(lot_book())
        return v

    yield make
    for v in started:
        v.stop()
