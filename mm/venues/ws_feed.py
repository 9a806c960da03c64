"""The reconnect loop shared by the websocket feed clients (edge module, asyncio).

A feed client subclasses :class:`ReconnectingFeed` and supplies one connection's life
(``_session``: connect, subscribe, then :meth:`~ReconnectingFeed._receive` until the
connection ends) and its periodic checks (``_housekeeping_tick``: keepalive, staleness).
This class owns the rest: reconnect with the backoff policy (reset once a session lasted
``stable_after_ns``), counting connects and disconnects, the receive loop (raw-frame tap,
parse, stale/back-again events, counts), closing a link that has gone silent, logging
network errors at most once a minute, stopping, and turning an error outside the receive
loop into an exception raised by :meth:`run`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Protocol

import websockets
from websockets.asyncio.client import ClientConnection

from mm.schema import MarketEvent
from mm.venues.feed_health import NS_PER_MS, Backoff, FeedStats, Keepalive, StaleDetector

log = logging.getLogger(__name__)

NET_ERRORS = (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException)
"""Errors that end a session and lead to a reconnect (anything else is a bug: it propagates)."""


class FrameParser(Protocol):
    """What the receive loop needs of a venue's wire parser."""

    def parse(self, frame: bytes | str, ts_ns: int) -> list[MarketEvent]: ...


class ReconnectingFeed(abc.ABC):
    """Run/stop/reconnect of a websocket feed. Subclasses set ``ws_url``, ``clock_ns``,
    ``on_event``, ``parser``, ``stale`` and ``keepalive`` and call :meth:`_init_connection`
    in ``__init__`` (before :meth:`run`), and implement ``_session`` and
    ``_housekeeping_tick``."""

    feed_name = "feed"
    ws_url: str
    clock_ns: Callable[[], int]
    on_event: Callable[[MarketEvent], None]
    parser: FrameParser
    stale: StaleDetector
    keepalive: Keepalive
    backoff: Backoff
    stats: FeedStats
    stable_after_ns: int
    tick_s: float
    open_timeout_s: float
    on_raw: Callable[[int, bytes], None] | None
    proxy: str | None
    connected: bool
    _ws: ClientConnection | None
    _stop: asyncio.Event
    _err_log_ns: int
    _fatal: BaseException | None
    _close_task: asyncio.Future[None] | None

    def _init_connection(
        self,
        *,
        backoff: Backoff | None,
        stable_after_ms: int,
        tick_ms: int,
        open_timeout_s: float,
        on_raw: Callable[[int, bytes], None] | None,
        proxy: str | None,
    ) -> None:
        """Set the reconnect policy and the connection state every feed has."""
        self.backoff = backoff if backoff is not None else Backoff(rng=random.Random())
        self.stats = FeedStats()
        self.stable_after_ns = stable_after_ms * NS_PER_MS
        self.tick_s = tick_ms / 1000.0
        self.open_timeout_s = open_timeout_s
        self.on_raw = on_raw
        self.proxy = proxy
        self.connected = False
        self._ws = None
        self._stop = asyncio.Event()
        self._err_log_ns = -(1 << 62)
        self._fatal = None
        self._close_task = None

    @abc.abstractmethod
    async def _session(self) -> None:
        """One connection: connect, subscribe, receive until it ends."""

    @abc.abstractmethod
    async def _housekeeping_tick(self) -> None:
        """Periodic checks every ``tick_s`` (keepalive, staleness)."""

    def _after_frame(self, now_ns: int) -> None:  # noqa: B027 (optional hook)
        """Called after each received frame's events were handed on."""

    def _after_session(self) -> None:  # noqa: B027 (optional hook)
        """Called after every session, whatever ended it."""

    async def _after_run(self) -> None:  # noqa: B027 (optional hook)
        """Called once when :meth:`run` ends (release what the client holds)."""

    async def run(self) -> None:
        """Connect, receive; reconnect forever until :meth:`stop`."""
        self._stop.clear()
        self.stale.reset(self.clock_ns())
        housekeeping = asyncio.create_task(self._housekeeping(), name=f"{self.feed_name}-housekeeping")
        try:
            while not self._stop.is_set():
                started_ns = self.clock_ns()
                try:
                    await self._session()
                except NET_ERRORS as exc:
                    self._on_net_error(exc)
                finally:
                    self._ws = None
                    self._after_session()
                    if self.connected:
                        self.connected = False
                        self.stats.disconnects += 1
                if self._stop.is_set():
                    break
                if self.clock_ns() - started_ns >= self.stable_after_ns:
                    self.backoff.reset()
                delay_s = self.backoff.next_delay_ns() / 1e9
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay_s)
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            await self._after_run()
            if self._fatal is not None:
                raise self._fatal

    def _emit(self, ev: MarketEvent, now_ns: int) -> None:
        """Hand one parsed event on, preceded by its symbol's back-from-stale event if due."""
        back = self.stale.on_message(ev.symbol_id, now_ns)
        if back is not None:
            self.on_event(back)
        self.stats.events += 1
        self.on_event(ev)

    def _check_stale(self, now_ns: int) -> None:
        """Hand on a ``FeedStale`` for each symbol that has gone quiet (housekeeping)."""
        for ev in self.stale.check(now_ns):
            self.stats.stale_events += 1
            self.on_event(ev)

    async def _receive(self, ws: ClientConnection) -> None:
        """The receive loop of one connection: until it closes (or raises)."""
        parse = self.parser.parse
        emit = self._emit
        keepalive = self.keepalive
        stats = self.stats
        clock = self.clock_ns
        after_frame = self._after_frame
        async for frame in ws:
            now = clock()
            keepalive.on_rx(now)
            stats.frames += 1
            stats.bytes_rx += len(frame)
            if self.on_raw is not None:
                self.on_raw(now, frame.encode() if isinstance(frame, str) else frame)
            for ev in parse(frame, now):
                emit(ev, now)
            after_frame(now)

    def _close_if_dead(self, ws: ClientConnection, now_ns: int) -> bool:
        """Close a link that has been silent past the keepalive's limit (the run loop then
        reconnects); True if it did."""
        if not self.keepalive.dead(now_ns):
            return False
        log.warning(
            "%s: nothing received for %d ms, reconnecting",
            self.feed_name,
            self.keepalive.dead_after_ns // NS_PER_MS,
        )
        self.keepalive.on_rx(now_ns)
        self._close_task = asyncio.ensure_future(ws.close())
        return True

    def stop(self) -> None:
        """Ask :meth:`run` to return (closes the connection; call from the loop)."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            self._close_task = asyncio.ensure_future(ws.close())

    def _on_net_error(self, exc: BaseException) -> None:
        self.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]
        if not self.connected:
            self.stats.connect_failures += 1
        now = self.clock_ns()
        if now - self._err_log_ns >= 60_000 * NS_PER_MS:
            self._err_log_ns = now
            log.warning("%s %s: %s (reconnecting)", self.feed_name, self.ws_url, self.stats.last_error)

    def _die(self, exc: BaseException) -> None:
        """An error outside the receive loop (a consumer bug): make run() raise it."""
        if self._fatal is None:
            self._fatal = exc
        self.stop()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self._housekeeping_tick()
            except Exception as exc:
                self._die(exc)
                return
