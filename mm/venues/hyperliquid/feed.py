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

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable

from websockets.asyncio.client import ClientConnection, connect

from mm.schema import MarketEvent, Venue
from mm.venues.feed_health import (
    NS_PER_MS,
    Backoff,
    BadInputCounters,
    FeedStats,
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
        self.backoff = backoff if backoff is not None else Backoff(rng=random.Random())
        self.stats = FeedStats()
        self.stable_after_ns = stable_after_ms * NS_PER_MS
        self.tick_s = tick_ms / 1000.0
        self.open_timeout_s = open_timeout_s
        self.on_raw = on_raw
        self.proxy = proxy
        self.connected = False
        self._ws: ClientConnection | None = None
        self._stop = asyncio.Event()
        self._err_log_ns = -(1 << 62)
        self._fatal: BaseException | None = None
        self._close_task: asyncio.Future[None] | None = None

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
            parse = self.parser.parse
            on_event = self.on_event
            stale = self.stale
            stats = self.stats
            clock = self.clock_ns
            async for frame in ws:
                now = clock()
                self.keepalive.on_rx(now)
                stats.frames += 1
                stats.bytes_rx += len(frame)
                if self.on_raw is not None:
                    self.on_raw(now, frame.encode() if isinstance(frame, str) else frame)
                for ev in parse(frame, now):
                    back = stale.on_message(ev.symbol_id, now)
                    if back is not None:
                        on_event(back)
                    stats.events += 1
                    on_event(ev)

    async def _housekeeping_tick(self) -> None:
        now = self.clock_ns()
        if self.parser.n_held:
            for ev in self.parser.release_expired(now):
                self.stats.events += 1
                self.on_event(ev)
        for ev in self.stale.check(now):
            self.stats.stale_events += 1
            self.on_event(ev)
        ws = self._ws
        if ws is None or not self.connected:
            return
        if self.keepalive.dead(now):
            log.warning(
                "hyperliquid feed: nothing received for %d ms, reconnecting",
                self.keepalive.dead_after_ns // NS_PER_MS,
            )
            self.keepalive.on_rx(now)
            self._close_task = asyncio.ensure_future(ws.close())
        elif self.keepalive.ping_due(now):
            self.keepalive.on_ping(now)
            self.stats.pings += 1
            with contextlib.suppress(*NET_ERRORS):
                await ws.send(PING_MESSAGE.decode())
