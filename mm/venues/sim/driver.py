"""Market drivers: where the paper venue's background market comes from.

This module owns the sources of market events (``mm.schema`` messages: BookSnapshot, Trade,
Bbo, BookDelta, FundingUpdate, RefPrice) that the paper venue plays into its books and its
Binance-style reference streams. A driver is any async iterable of such events:

- :class:`ReplayDriver` replays a list or iterator of events paced in real time by their
  ``ts_ns`` (optionally faster or slower, optionally looping).
- :class:`QueueDriver` yields what is pushed into it (from any thread); tests and the
  process wiring feed live events through it.
- :func:`load_hyperliquid_csv` reads the recorder CSVs under ``shared/data/real/`` (format in
  its README: ``orderbooks_<COIN>.csv``, ``trades_<COIN>.csv``, ``prices_<COIN>.csv``) into
  events ordered by venue time, trades deduplicated by id and the subscription backfill dropped.
"""

from __future__ import annotations

import asyncio
import csv
import heapq
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from mm.schema import Bbo, BookDelta, BookSnapshot, FundingUpdate, RefPrice, Side, Trade, Venue

DriverEvent = BookSnapshot | Trade | Bbo | BookDelta | FundingUpdate | RefPrice


class MarketDriver(Protocol):
    """An async iterable of market events; the venue consumes it until it ends."""

    def __aiter__(self) -> AsyncIterator[DriverEvent]: ...


class ReplayDriver:
    """Replays events, sleeping so that gaps between their ``ts_ns`` are kept (divided by ``speed``).

    ``speed <= 0`` replays as fast as possible. With ``loop=True`` the list starts over
    after the last event (``events`` must then be a re-iterable sequence).
    """

    def __init__(
        self,
        events: Iterable[DriverEvent],
        speed: float = 1.0,
        loop: bool = False,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events
        self._speed = speed
        self._loop = loop
        self._clock_s = clock_s
        self.n_played = 0

    async def __aiter__(self) -> AsyncIterator[DriverEvent]:
        while True:
            first_ts: int | None = None
            start = self._clock_s()
            for ev in self._events:
                if first_ts is None:
                    first_ts = ev.ts_ns
                if self._speed > 0:
                    due = start + (ev.ts_ns - first_ts) / 1e9 / self._speed
                    wait = due - self._clock_s()
                    if wait > 0:
                        await asyncio.sleep(wait)
                else:
                    await asyncio.sleep(0)
                self.n_played += 1
                yield ev
            if not self._loop or first_ts is None:
                return


class QueueDriver:
    """Yields events pushed with :meth:`push` (thread-safe) until :meth:`close`."""

    _END = object()

    def __init__(self) -> None:
        self._queue: asyncio.Queue[object] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[object] = []
        self._lock = threading.Lock()

    def push(self, ev: DriverEvent) -> None:
        """Queue an event (from the venue's loop or any other thread)."""
        self._put(ev)

    def close(self) -> None:
        """End the stream after what was pushed."""
        self._put(self._END)

    def _put(self, item: object) -> None:
        with self._lock:
            if self._queue is None or self._loop is None:
                self._pending.append(item)
                return
            loop, queue = self._loop, self._queue
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            queue.put_nowait(item)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, item)

    async def __aiter__(self) -> AsyncIterator[DriverEvent]:
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._queue = asyncio.Queue()
            for item in self._pending:
                self._queue.put_nowait(item)
            self._pending.clear()
            queue = self._queue
        while True:
            item = await queue.get()
            if item is self._END:
                return
            yield item  # type: ignore[misc]


def _f(x: str) -> float:
    return float(x) if x else 0.0


def _read_books(path: Path, venue: int, symbol_id: int) -> Iterator[BookSnapshot]:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        col = {name: i for i, name in enumerate(header)}
        n = 0
        while f"bid_price_{n}" in col:
            n += 1
        for seq, row in enumerate(reader):
            bid_px, bid_qty, ask_px, ask_qty = [], [], [], []
            for i in range(n):
                bp, bq = row[col[f"bid_price_{i}"]], row[col[f"bid_size_{i}"]]
                if bp and bq and float(bq) > 0:
                    bid_px.append(float(bp))
                    bid_qty.append(float(bq))
                ap, aq = row[col[f"ask_price_{i}"]], row[col[f"ask_size_{i}"]]
                if ap and aq and float(aq) > 0:
                    ask_px.append(float(ap))
                    ask_qty.append(float(aq))
            remote_ms = int(float(row[col["exchange_timestamp"]]))
            yield BookSnapshot(venue, symbol_id, remote_ms * 1_000_000, remote_ms, seq, bid_px, bid_qty, ask_px,
                               ask_qty)


def _read_trades(path: Path, venue: int, symbol_id: int, first_book_ms: int) -> Iterator[Trade]:
    seen: set[str] = set()
    with path.open(newline="") as fh:
        for seq, row in enumerate(csv.DictReader(fh)):
            tid = row["trade_id"]
            remote_ms = int(float(row["exchange_timestamp"]))
            if tid in seen or remote_ms < first_book_ms:
                continue  # a repeat after a resubscription, or the subscription's backfill
            seen.add(tid)
            side = Side.BUY if row["side"].strip().lower() == "buy" else Side.SELL
            yield Trade(venue, symbol_id, remote_ms * 1_000_000, remote_ms, seq, float(row["price"]),
                        float(row["size"]), int(side), int(tid) if tid.isdigit() else 0)


def _read_bbo(path: Path, venue: int, symbol_id: int) -> Iterator[Bbo]:
    """Rows are one side each; a Bbo is emitted once both sides of one venue time are known."""
    bid = (0.0, 0.0)
    ask = (0.0, 0.0)
    last_ms: int | None = None
    seq = 0
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            remote_ms = int(float(row["exchange_timestamp"]))
            if last_ms is not None and remote_ms != last_ms and bid[0] > 0 and ask[0] > 0:
                yield Bbo(venue, symbol_id, last_ms * 1_000_000, last_ms, seq, bid[0], bid[1], ask[0], ask[1])
                seq += 1
            last_ms = remote_ms
            level = (_f(row["price"]), _f(row["size"]))
            if row["side"].strip().lower() == "bid":
                bid = level
            else:
                ask = level
    if last_ms is not None and bid[0] > 0 and ask[0] > 0:
        yield Bbo(venue, symbol_id, last_ms * 1_000_000, last_ms, seq, bid[0], bid[1], ask[0], ask[1])


def load_hyperliquid_csv(
    directory: str | Path,
    coin: str,
    symbol_id: int,
    venue: int = int(Venue.HYPERLIQUID),
    with_bbo: bool = True,
) -> list[DriverEvent]:
    """One coin of a recorder directory as events ordered by venue time (``ts_ns`` = venue ms x 1e6).

    Book snapshots, trades (deduplicated by id, backfill before the first snapshot dropped)
    and, with ``with_bbo``, the best bid/offer updates that arrive between snapshots. Events
    of one block time come trades first: a snapshot or bbo stamped with a block's time is the
    book that block left, trades included (measured on 2025-09-04 BTC: of the levels traded at
    a snapshot's own time, 218 show the traded size gone, 2 the level unchanged, 293 changed
    otherwise), so applying it before the trades would take them from the queue twice.
    """
    d = Path(directory)
    books = list(_read_books(d / f"orderbooks_{coin}.csv", venue, symbol_id))
    if not books:
        return []
    first_ms = books[0].remote_ts_ms
    streams: list[Iterable[DriverEvent]] = []
    trades_path = d / f"trades_{coin}.csv"
    if trades_path.exists():
        streams.append(list(_read_trades(trades_path, venue, symbol_id, first_ms)))
    streams.append(books)
    prices_path = d / f"prices_{coin}.csv"
    if with_bbo and prices_path.exists():
        streams.append([b for b in _read_bbo(prices_path, venue, symbol_id) if b.remote_ts_ms >= first_ms])
    return list(heapq.merge(*streams, key=lambda e: e.ts_ns))
