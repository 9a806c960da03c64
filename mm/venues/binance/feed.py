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
import time
from collections.abc import Awaitable, Callable

import aiohttp
from websockets.asyncio.client import connect

from mm.schema import MarketEvent, Venue
from mm.venues.binance.wire import BinanceParser, combined_stream_url, depth_snapshot_url
from mm.venues.feed_health import (
    NS_PER_MS,
    Backoff,
    BadInputCounters,
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
    parser: BinanceParser

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
        self.snapshot_limit = snapshot_limit
        self.snapshot_min_interval_ns = snapshot_min_interval_ms * NS_PER_MS
        self.snapshot_timeout_s = snapshot_timeout_s
        self._fetch = fetch_snapshot
        self._http: aiohttp.ClientSession | None = None
        self._session_id = 0
        self._fetching: dict[str, asyncio.Task[None]] = {}
        self._last_fetch_ns: dict[str, int] = {}
        self._init_connection(backoff=backoff, stable_after_ms=stable_after_ms, tick_ms=tick_ms,
                              open_timeout_s=open_timeout_s, on_raw=on_raw, proxy=proxy)

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
            await self._receive(ws)

    def _after_frame(self, now_ns: int) -> None:
        self._fetch_wanted_snapshots(now_ns)

    def _fetch_wanted_snapshots(self, now_ns: int) -> None:
        for sym, ds in self.parser.depth.items():
            if ds.wants_snapshot and sym not in self._fetching:
                self._start_fetch(sym, now_ns)

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
                    self._emit(ev, now)
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
        self._check_stale(now)
        ws = self._ws
        if ws is None or not self.connected or self._close_if_dead(ws, now):
            return
        # A snapshot may be wanted with no new frame to trigger it (after a failed fetch).
        self._fetch_wanted_snapshots(now)


def binance_symbol_ids(coin_ids: dict[str, int], binance_symbols: dict[str, str]) -> dict[str, int]:
    """``{"BTC": 0}`` and ``{"BTC": "BTCUSDT"}`` -> ``{"BTCUSDT": 0}`` (coins without a map entry are skipped)."""
    return {binance_symbols[c].upper(): i for c, i in coin_ids.items() if c in binance_symbols}
