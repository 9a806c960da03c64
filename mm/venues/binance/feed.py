"""Binance USD-M market-data client: the lead reference (edge: network I/O, injected clock).

:class:`BinanceFeed` opens one combined stream (``<ws_url>?streams=...``) with bookTicker,
aggTrade and the diff depth stream of each configured symbol, and hands normalized events
to ``on_event``: :class:`~mm.schema.RefPrice` from bookTicker, :class:`~mm.schema.Trade`
from aggTrade, and :class:`~mm.schema.BookSnapshot` / :class:`~mm.schema.BookDelta` from
the depth stream once it is in sync with a REST snapshot
(:mod:`mm.venues.binance.depth_sync` has the procedure). The snapshot for a symbol is
requested after the stream is open and a first diff is buffered, again after a sequence gap
or a snapshot that was too old, at most once per ``snapshot_min_interval_ms`` per symbol
(the REST call weighs 20 at limit 1000), and thrown away if the connection it was meant
for has gone. ``fetch_snapshot(symbol) -> body`` may be injected; the default GETs
``<rest_url>/fapi/v1/depth?symbol=<SYMBOL>&limit=<snapshot_limit>`` with aiohttp.

Depth output: by default (``top_levels=20``) the feed emits a BookSnapshot of the synced
local book's best 20 levels a side whenever they change (about 740 bytes encoded: it fits a
1 KiB ring slot); ``top_levels=0`` emits the REST snapshot and every raw diff as
BookSnapshot + BookDelta instead (full fidelity, messages up to tens of KB).

Reconnects use the jittered backoff of :mod:`mm.venues.feed_health`; the websocket library's
pings (Binance answers them, and pings the client itself) detect a dead link, as does
``dead_after_ms`` of silence. Stale detection as in the Hyperliquid feed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from mm.schema import MarketEvent, Venue
from mm.venues.binance.wire import BinanceParser, combined_stream_url, depth_snapshot_url
from mm.venues.feed_health import (
    NS_PER_MS,
    Backoff,
    BadInputCounters,
    FeedStats,
    Keepalive,
    StaleDetector,
)
from mm.venues.ws_feed import NET_ERRORS, ReconnectingFeed

log = logging.getLogger(__name__)

SnapshotFetcher = Callable[[str], Awaitable[bytes]]


class BinanceFeed(ReconnectingFeed):
    """Binance USD-M public streams for a set of symbols. See the module docstring.

    ``symbols`` maps a Binance symbol (``"BTCUSDT"``) to the symbol id of the coin it leads
    (use :func:`binance_symbol_ids` to build it from the config's coin map).
    """

    feed_name = "binance feed"

    def __init__(
        self,
        ws_url: str,
        rest_url: str,
        symbols: dict[str, int],
        on_event: Callable[[MarketEvent], None],
        clock_ns: Callable[[], int] = time.monotonic_ns,
        stale_after_ms: int = 5_000,
        depth_speed: str = "@100ms",
        fetch_snapshot: SnapshotFetcher | None = None,
        snapshot_limit: int = 1000,
        snapshot_levels: int = 1000,
        top_levels: int = 20,
        snapshot_min_interval_ms: int = 1_000,
        snapshot_timeout_s: float = 10.0,
        dead_after_ms: int = 30_000,
        backoff: Backoff | None = None,
        stable_after_ms: int = 10_000,
        tick_ms: int = 100,
        open_timeout_s: float = 10.0,
        on_raw: Callable[[int, bytes], None] | None = None,
        proxy: str | None = None,
    ) -> None:
        if not symbols:
            raise ValueError("BinanceFeed needs at least one symbol")
        self.symbols = {s.upper(): i for s, i in symbols.items()}
        self.ws_url = ws_url
        self.rest_url = rest_url
        self.stream_url = combined_stream_url(ws_url, list(self.symbols), depth_speed)
        self.on_event = on_event
        self.clock_ns = clock_ns
        self.counters = BadInputCounters("binance")
        self.parser = BinanceParser(self.symbols, self.counters, snapshot_levels=snapshot_levels,
                                    top_levels=top_levels)
        self.stale = StaleDetector(Venue.BINANCE, self.symbols.values(), stale_after_ms * NS_PER_MS)
        self.keepalive = Keepalive(dead_after_ms * NS_PER_MS, dead_after_ms * NS_PER_MS)
        self.backoff = backoff if backoff is not None else Backoff(rng=random.Random())
        self.stats = FeedStats()
        self.snapshot_limit = snapshot_limit
        self.snapshot_min_interval_ns = snapshot_min_interval_ms * NS_PER_MS
        self.snapshot_timeout_s = snapshot_timeout_s
        self.stable_after_ns = stable_after_ms * NS_PER_MS
        self.tick_s = tick_ms / 1000.0
        self.open_timeout_s = open_timeout_s
        self.on_raw = on_raw
        self.proxy = proxy
        self.connected = False
        self._fetch = fetch_snapshot
        self._http: aiohttp.ClientSession | None = None
        self._ws: ClientConnection | None = None
        self._stop = asyncio.Event()
        self._session_id = 0
        self._fetching: dict[str, asyncio.Task[None]] = {}
        self._last_fetch_ns: dict[str, int] = {}
        self._err_log_ns = -(1 << 62)
        self._fatal: BaseException | None = None
        self._close_task: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ control

    def _after_session(self) -> None:
        self._cancel_fetches()

    async def _after_run(self) -> None:
        self._cancel_fetches()
        if self._http is not None:
            await self._http.close()
            self._http = None

    # ------------------------------------------------------------------ session

    async def _session(self) -> None:
        async with connect(
            self.stream_url,
            open_timeout=self.open_timeout_s,
            close_timeout=2,
            max_size=1 << 24,
            proxy=self.proxy,
        ) as ws:
            self._ws = ws
            if self._stop.is_set():
                return
            self._session_id += 1
            self.connected = True
            self.stats.connects += 1
            self.keepalive.on_connect(self.clock_ns())
            self.parser.new_session()
            parse = self.parser.parse
            on_event = self.on_event
            stale = self.stale
            stats = self.stats
            clock = self.clock_ns
            depth = self.parser.depth
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
                for sym, ds in depth.items():
                    if ds.wants_snapshot and sym not in self._fetching:
                        self._start_fetch(sym, now)

    # ------------------------------------------------------------------ snapshots

    def _start_fetch(self, symbol: str, now_ns: int) -> None:
        last = self._last_fetch_ns.get(symbol)
        wait_ns = 0 if last is None else max(0, self.snapshot_min_interval_ns - (now_ns - last))
        self._fetching[symbol] = asyncio.create_task(
            self._fetch_and_apply(symbol, self._session_id, wait_ns), name=f"binance-snapshot-{symbol}"
        )

    async def _fetch_and_apply(self, symbol: str, session_id: int, wait_ns: int) -> None:
        try:
            if wait_ns:
                await asyncio.sleep(wait_ns / 1e9)
            self._last_fetch_ns[symbol] = self.clock_ns()
            try:
                body = await asyncio.wait_for(self._fetch_snapshot(symbol), self.snapshot_timeout_s)
            except (*NET_ERRORS, aiohttp.ClientError) as exc:
                self.stats.snapshot_failures += 1
                self.stats.last_error = f"snapshot {symbol}: {type(exc).__name__}: {exc}"[:200]
                log.warning("binance feed: depth snapshot %s failed: %s", symbol, self.stats.last_error)
                return
            if session_id != self._session_id or not self.connected:
                return  # the stream it was meant to bridge is gone
            self.stats.snapshots_fetched += 1
            now = self.clock_ns()
            try:
                for ev in self.parser.on_snapshot(symbol, body, now):
                    back = self.stale.on_message(ev.symbol_id, now)
                    if back is not None:
                        self.on_event(back)
                    self.stats.events += 1
                    self.on_event(ev)
            except Exception as exc:
                self._die(exc)
        finally:
            if self._fetching.get(symbol) is asyncio.current_task():
                del self._fetching[symbol]

    async def _fetch_snapshot(self, symbol: str) -> bytes:
        if self._fetch is not None:
            return await self._fetch(symbol)
        if self._http is None:
            self._http = aiohttp.ClientSession()
        url = depth_snapshot_url(self.rest_url, symbol, self.snapshot_limit)
        async with self._http.get(url) as resp:
            resp.raise_for_status()
            return await resp.read()

    def _cancel_fetches(self) -> None:
        for task in self._fetching.values():
            task.cancel()
        self._fetching.clear()

    # ------------------------------------------------------------------ housekeeping

    async def _housekeeping_tick(self) -> None:
        now = self.clock_ns()
        for ev in self.stale.check(now):
            self.stats.stale_events += 1
            self.on_event(ev)
        ws = self._ws
        if ws is None or not self.connected:
            return
        if self.keepalive.dead(now):
            log.warning(
                "binance feed: nothing received for %d ms, reconnecting",
                self.keepalive.dead_after_ns // NS_PER_MS,
            )
            self.keepalive.on_rx(now)
            self._close_task = asyncio.ensure_future(ws.close())
            return
        # A snapshot may be wanted with no new frame to trigger it (after a failed fetch).
        for sym, ds in self.parser.depth.items():
            if ds.wants_snapshot and sym not in self._fetching:
                self._start_fetch(sym, now)


def binance_symbol_ids(coin_ids: dict[str, int], binance_symbols: dict[str, str]) -> dict[str, int]:
    """``{"BTC": 0}`` and ``{"BTC": "BTCUSDT"}`` -> ``{"BTCUSDT": 0}`` (coins without a map entry are skipped)."""
    return {binance_symbols[c].upper(): i for c, i in coin_ids.items() if c in binance_symbols}
