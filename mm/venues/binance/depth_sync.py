"""Binance USD-M local order book sync: diff stream + REST snapshot, by U/u/pu.

Owns the sequencing of one symbol's diff-depth stream against its REST snapshot, exactly as
Binance documents it for USD-M futures (HYPERLIQUID_WIRE.md §6, "How to manage a local order
book correctly"), and a local :class:`~mm.book.l2.L2Book` that checks every applied diff
leaves a sane book. Pure logic: the caller fetches the snapshot and passes ``ts_ns``.

States::

    SYNCING  --snapshot-->  BRIDGING  --diff with U <= L <= u-->  LIVE
       ^                       |  diff with U > L (snapshot too old): STALE_SNAPSHOT
       +-----------------------+  LIVE: pu != previous u (SEQ_GAP), bad level, crossed result

1. Diffs are buffered while SYNCING (bounded; the oldest are dropped and counted).
2. The caller fetches the snapshot (``wants_snapshot``) once the stream is open and at least
   one diff is buffered, and hands it to :meth:`DepthSync.on_snapshot`.
3. Diffs with ``u < lastUpdateId`` are dropped (already in the snapshot).
4. The first diff applied must have ``U <= lastUpdateId <= u``; if the first remaining diff
   has ``U > lastUpdateId`` the snapshot is too old: fetch another.
5. After that each diff's ``pu`` must equal the previous diff's ``u``; otherwise back to
   SYNCING (a resync: new snapshot). A diff with ``u`` not above the last one is a duplicate or
   out of order and is dropped without a resync.
6. Sizes are absolute; 0 removes a level, and removing an absent level is normal.

Emitted events (``top_levels == 0``, full fidelity): one :class:`~mm.schema.BookSnapshot`
(seq = lastUpdateId, up to ``snapshot_levels`` a side) when the bridge is found, then one
:class:`~mm.schema.BookDelta` per applied diff (seq/first_seq/prev_seq = u/U/pu,
remote_ts_ms = ``T``). With ``top_levels = k > 0`` it emits instead a BookSnapshot of the
local book's best k levels a side (seq = u of the diff just applied) whenever those change:
bounded messages for a ring with small slots (a 1000-level snapshot encodes to ~36 KB, and a
100 ms diff carries ~70 levels on average, over 1000 at the 99th percentile). Diffs that were buffered before the snapshot arrived are
emitted with ``ts_ns = max(their receive time, the snapshot's)``, so the emitted stream's
local times never run backwards. A refused diff or snapshot never reaches the output: the
emitted stream always rebuilds the local book exactly.
"""

from __future__ import annotations

import enum
from collections import deque

import numpy as np

from mm.book.l2 import BookStatus, L2Book
from mm.schema import BookDelta, BookSnapshot, MarketEvent, Venue
from mm.venues.feed_health import BadInput, BadInputCounters

PriceLevels = list[tuple[float, float]]
_VENUE = int(Venue.BINANCE)

_STATUS_KIND = {
    BookStatus.BAD_PRICE: BadInput.BAD_PRICE,
    BookStatus.BAD_QTY: BadInput.BAD_QTY,
    BookStatus.CROSSED: BadInput.CROSSED_BOOK,
    BookStatus.UNSORTED: BadInput.UNSORTED_LEVELS,
}


class SyncState(enum.IntEnum):
    SYNCING = 0
    BRIDGING = 1
    LIVE = 2


class _Diff:
    __slots__ = ("asks", "bids", "first_id", "last_id", "prev_id", "remote_ms", "ts_ns")

    def __init__(
        self, first_id: int, last_id: int, prev_id: int, bids: PriceLevels, asks: PriceLevels,
        remote_ms: int, ts_ns: int,
    ) -> None:
        self.first_id = first_id
        self.last_id = last_id
        self.prev_id = prev_id
        self.bids = bids
        self.asks = asks
        self.remote_ms = remote_ms
        self.ts_ns = ts_ns


def _split(levels: PriceLevels) -> tuple[list[float], list[float]]:
    if not levels:
        return [], []
    arr = np.asarray(levels, dtype=np.float64).reshape(-1, 2)
    return arr[:, 0].tolist(), arr[:, 1].tolist()


class DepthSync:
    """One symbol's depth stream sync. See the module docstring."""

    def __init__(
        self,
        symbol_id: int,
        counters: BadInputCounters,
        max_buffer: int = 10_000,
        snapshot_levels: int = 1000,
        book_capacity: int = 1024,
        top_levels: int = 0,
    ) -> None:
        self.symbol_id = symbol_id
        self.counters = counters
        self.snapshot_levels = snapshot_levels
        self.top_levels = top_levels
        self._last_top: tuple[list[float], ...] | None = None
        self.book = L2Book(book_capacity)
        self.state = SyncState.SYNCING
        self._buffer: deque[_Diff] = deque()
        self._max_buffer = max_buffer
        self._snap: BookSnapshot | None = None
        self._last_u = -1
        self.resyncs = 0
        self.snapshots = 0
        self.deltas = 0

    # ------------------------------------------------------------------ queries

    @property
    def wants_snapshot(self) -> bool:
        """True when SYNCING with at least one diff buffered: time to fetch a snapshot."""
        return self.state == SyncState.SYNCING and len(self._buffer) > 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def last_update_id(self) -> int:
        return self._last_u

    # ------------------------------------------------------------------ inputs

    def reset(self) -> None:
        """Forget everything (a new connection: the old stream's ids mean nothing)."""
        self.state = SyncState.SYNCING
        self._buffer.clear()
        self._snap = None
        self._last_u = -1
        self.book.clear()

    def on_diff(
        self, first_id: int, last_id: int, prev_id: int, bids: PriceLevels, asks: PriceLevels,
        remote_ms: int, ts_ns: int,
    ) -> list[MarketEvent]:
        """One ``depthUpdate`` (U, u, pu, b, a, T) received at ``ts_ns``."""
        out: list[MarketEvent] = []
        self._step(_Diff(first_id, last_id, prev_id, bids, asks, remote_ms, ts_ns), ts_ns, out)
        return out

    def on_snapshot(
        self, last_update_id: int, bids: PriceLevels, asks: PriceLevels, remote_ms: int, ts_ns: int,
    ) -> list[MarketEvent]:
        """The REST snapshot received at ``ts_ns``; replays the buffered diffs against it."""
        out: list[MarketEvent] = []
        if self.state != SyncState.SYNCING:
            return out
        k = self.snapshot_levels
        bid_px, bid_qty = _split(bids[:k])
        ask_px, ask_qty = _split(asks[:k])
        st = self.book.apply_snapshot(bid_px, bid_qty, ask_px, ask_qty, last_update_id)
        if st != BookStatus.OK:
            self.counters.count(_STATUS_KIND[st], ts_ns, f"depth snapshot sym {self.symbol_id}")
            return out  # still SYNCING: wants_snapshot stays true, the caller fetches again
        self._snap = BookSnapshot(
            _VENUE, self.symbol_id, ts_ns, remote_ms, last_update_id, bid_px, bid_qty, ask_px, ask_qty
        )
        self.state = SyncState.BRIDGING
        pending = list(self._buffer)
        self._buffer.clear()
        for d in pending:
            self._step(d, ts_ns, out)
        return out

    # ------------------------------------------------------------------ the machine

    def _resync(self, keep: _Diff | None) -> None:
        """Back to SYNCING; ``keep`` (a valid diff that did not fit) starts the new buffer."""
        self.resyncs += 1
        self.state = SyncState.SYNCING
        self._snap = None
        self._last_u = -1
        self.book.clear()
        self._buffer.clear()
        if keep is not None:
            self._buffer.append(keep)

    def _step(self, d: _Diff, floor_ts_ns: int, out: list[MarketEvent]) -> None:
        st = self.state
        if st == SyncState.SYNCING:
            if len(self._buffer) >= self._max_buffer:
                self._buffer.popleft()
                self.counters.count(BadInput.BUFFER_OVERFLOW, d.ts_ns, f"depth sym {self.symbol_id}")
            self._buffer.append(d)
            return
        if st == SyncState.BRIDGING:
            snap = self._snap
            assert snap is not None
            lid = snap.seq
            if d.last_id < lid:
                return  # already contained in the snapshot
            if d.first_id > lid:
                self.counters.count(
                    BadInput.STALE_SNAPSHOT, d.ts_ns, f"sym {self.symbol_id} U {d.first_id} > lastUpdateId {lid}"
                )
                self._resync(d)
                return
            self._last_u = lid
            self.state = SyncState.LIVE
            self.snapshots += 1
            self._snap = None
            self._last_top = None
            if not self.top_levels:
                out.append(snap)
            self._apply(d, floor_ts_ns, out)
            return
        # LIVE
        if d.last_id <= self._last_u:
            kind = BadInput.SEQ_DUPLICATE if d.last_id == self._last_u else BadInput.SEQ_OUT_OF_ORDER
            self.counters.count(kind, d.ts_ns, f"depth sym {self.symbol_id} u {d.last_id} <= {self._last_u}")
            return
        if d.prev_id != self._last_u:
            self.counters.count(
                BadInput.SEQ_GAP, d.ts_ns, f"depth sym {self.symbol_id} pu {d.prev_id} != u {self._last_u}"
            )
            self._resync(d)
            return
        self._apply(d, floor_ts_ns, out)

    def _apply(self, d: _Diff, floor_ts_ns: int, out: list[MarketEvent]) -> None:
        bid_px, bid_qty = _split(d.bids)
        ask_px, ask_qty = _split(d.asks)
        st = self.book.apply_delta(bid_px, bid_qty, ask_px, ask_qty, check_seq=False)
        if st != BookStatus.OK:
            self.counters.count(_STATUS_KIND[st], d.ts_ns, f"depth diff sym {self.symbol_id} u {d.last_id}")
            # The diff itself is bad: resync without it (a snapshot that already contains
            # its update id bridges with the diffs after it).
            self._resync(None)
            return
        self._last_u = d.last_id
        self.book.seq = d.last_id
        self.deltas += 1
        ts = d.ts_ns if d.ts_ns >= floor_ts_ns else floor_ts_ns
        if self.top_levels:
            self._emit_top(d, ts, out)
            return
        out.append(
            BookDelta(
                _VENUE, self.symbol_id, ts, d.remote_ms, d.last_id, d.first_id, d.prev_id,
                bid_px, bid_qty, ask_px, ask_qty,
            )
        )

    def _emit_top(self, d: _Diff, ts_ns: int, out: list[MarketEvent]) -> None:
        """Top-levels mode: a BookSnapshot of the best ``top_levels`` a side when they changed."""
        k = self.top_levels
        bp, bq, ap, aq = self.book.top(k)
        nb_ = min(k, self.book.n_bids)
        na_ = min(k, self.book.n_asks)
        top = (bp[:nb_].tolist(), bq[:nb_].tolist(), ap[:na_].tolist(), aq[:na_].tolist())
        if top == self._last_top:
            return
        self._last_top = top
        out.append(BookSnapshot(_VENUE, self.symbol_id, ts_ns, d.remote_ms, d.last_id, *top))
