"""The reconnect loop shared by the websocket feed clients (edge module, asyncio).

A feed client subclasses :class:`ReconnectingFeed` and supplies one connection's life
(``_session``: connect, subscribe, receive until the connection ends) and its periodic
checks (``_housekeeping_tick``: keepalive, staleness). This class owns the rest: reconnect
with the backoff policy (reset once a session lasted ``stable_after_ns``), counting connects
and disconnects, logging network errors at most once a minute, stopping, and turning an
error outside the receive loop into an exception raised by :meth:`run`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable

import websockets
from websockets.asyncio.client import ClientConnection

from mm.venues.feed_health import NS_PER_MS, Backoff, FeedStats, StaleDetector

log = logging.getLogger(__name__)

NET_ERRORS = (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException)
"""Errors that end a session and lead to a reconnect (anything else is a bug: it propagates)."""


class ReconnectingFeed(abc.ABC):
    """Run/stop/reconnect of a websocket feed. Subclasses set the attributes below in
    ``__init__`` (before :meth:`run`) and implement ``_session`` and ``_housekeeping_tick``."""

    feed_name = "feed"
    ws_url: str
    clock_ns: Callable[[], int]
    stale: StaleDetector
    backoff: Backoff
    stats: FeedStats
    stable_after_ns: int
    tick_s: float
    connected: bool
    _ws: ClientConnection | None
    _stop: asyncio.Event
    _err_log_ns: int
    _fatal: BaseException | None
    _close_task: asyncio.Future[None] | None

    @abc.abstractmethod
    async def _session(self) -> None:
        """One connection: connect, subscribe, receive until it ends."""

    @abc.abstractmethod
    async def _housekeeping_tick(self) -> None:
        """Periodic checks every ``tick_s`` (keepalive, staleness)."""

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
