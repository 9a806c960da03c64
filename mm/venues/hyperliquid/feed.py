"""Hyperliquid market-data websocket client (edge: network I/O, reads the injected clock).

:class:`HyperliquidFeed` connects to the venue's websocket, subscribes ``l2Book``,
``trades``, ``bbo`` and ``activeAssetCtx`` for each configured coin, and hands every
normalized event to ``on_event``. Parsing is :mod:`mm.venues.hyperliquid.md_wire`; the
decisions about silence, pings and reconnect delays are :mod:`mm.venues.feed_health`.

- Keepalive (HYPERLIQUID_WIRE.md §3, D-hb): the server closes a connection it has not sent
  on for 60 s, so the client sends ``{"method":"ping"}`` every ``ping_interval_ms`` (the
  server answers ``{"channel":"pong"}``); a connection silent for ``dead_after_ms`` is closed
  and replaced. Websocket-level pings are off: the venue's own protocol is the heartbeat.
- Reconnect: any close or error ends the session; the next starts after a jittered
  exponential delay (reset once a session has lasted ``stable_after_ms``), with a fresh
  subscription and a new parser session (block times forgotten, trade ids kept so the
  backfill that follows each subscription is dropped).
- Stale: a coin with no event for ``stale_after_ms`` gets a ``FeedStale`` event (once), and
  a ``FeedStale(stale=False)`` when it speaks again. A disconnect makes every coin stale in
  due course; there is no separate "disconnected" event.

``on_event`` runs inline in the receive loop: it must not block. An exception from it ends
``run()`` (a consumer bug is not a network error).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from websockets.asyncio.client import connect

from mm.schema import MarketEvent, Venue
from mm.venues.feed_health import (
    NS_PER_MS,
    Backoff,
    BadInputCounters,
    Keepalive,
    StaleDetector,
)
from mm.venues.hyperliquid.md_wire import (
    MD_SUBSCRIPTIONS,
    PING_MESSAGE,
    HyperliquidMdParser,
    subscribe_message,
)
from mm.venues.ws_feed import NET_ERRORS, ReconnectingFeed

log = logging.getLogger(__name__)



class HyperliquidFeed(ReconnectingFeed):
    """Hyperliquid public market data for a set of coins. See the module docstring.

    ``coins`` maps coin name (``"BTC"``) to symbol id. ``clock_ns`` is the local monotonic
    clock stamped on every event. ``on_raw(ts_ns, frame)``, if given, sees each raw frame
    first (for recordings that keep them).
    """

    feed_name = "hyperliquid feed"
    parser: HyperliquidMdParser

    def __init__(
        self,
        ws_url: str,
        coins: dict[str, int],
        on_event: Callable[[MarketEvent], None],
        clock_ns: Callable[[], int] = time.monotonic_ns,
        stale_after_ms: int = 5_000,
        ping_interval_ms: int = 20_000,
        dead_after_ms: int = 30_000,
        backfill_ms: int = 2_000,
        subscriptions: Iterable[str] = MD_SUBSCRIPTIONS,
        backoff: Backoff | None = None,
        stable_after_ms: int = 10_000,
        tick_ms: int = 100,
        open_timeout_s: float = 10.0,
        on_raw: Callable[[int, bytes], None] | None = None,
        proxy: str | None = None,
    ) -> None:
        if not coins:
            raise ValueError("HyperliquidFeed needs at least one coin")
        self.ws_url = ws_url
        self.coins = dict(coins)
        self.on_event = on_event
        self.clock_ns = clock_ns
        self.subscriptions = tuple(subscriptions)
        self.counters = BadInputCounters("hyperliquid")
        self.parser = HyperliquidMdParser(self.coins, self.counters, backfill_ms=backfill_ms)
        self.stale = StaleDetector(Venue.HYPERLIQUID, self.coins.values(), stale_after_ms * NS_PER_MS)
        self.keepalive = Keepalive(ping_interval_ms * NS_PER_MS, dead_after_ms * NS_PER_MS)
        self._init_connection(backoff=backoff, stable_after_ms=stable_after_ms, tick_ms=tick_ms,
                              open_timeout_s=open_timeout_s, on_raw=on_raw, proxy=proxy)

    # ------------------------------------------------------------------ internals

    async def _session(self) -> None:
        async with connect(
            self.ws_url,
            ping_interval=None,
            open_timeout=self.open_timeout_s,
            close_timeout=2,
            max_size=1 << 22,
            proxy=self.proxy,
        ) as ws:
            self._ws = ws
            if self._stop.is_set():
                return
            self.connected = True
            self.stats.connects += 1
            now = self.clock_ns()
            self.keepalive.on_connect(now)
            for ev in self.parser.new_session(now):  # trades held from the last session
                self.stats.events += 1
                self.on_event(ev)
            for coin in self.coins:
                for sub in self.subscriptions:
                    await ws.send(subscribe_message(sub, coin).decode())
            await self._receive(ws)

    async def _housekeeping_tick(self) -> None:
        now = self.clock_ns()
        if self.parser.n_held:
            for ev in self.parser.release_expired(now):
                self.stats.events += 1
                self.on_event(ev)
        self._check_stale(now)
        ws = self._ws
        if ws is None or not self.connected or self._close_if_dead(ws, now):
            return
        if self.keepalive.ping_due(now):
            self.keepalive.on_ping(now)
            self.stats.pings += 1
            with contextlib.suppress(*NET_ERRORS):
                await ws.send(PING_MESSAGE.decode())
