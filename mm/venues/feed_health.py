"""Feed health: bad-input counters, stale detection, keepalive and reconnect backoff.

Pure logic shared by every market-data feed. Nothing here reads a clock or does I/O:
each method that needs time takes ``now_ns`` (a local monotonic time supplied by the
caller), and the backoff's randomness comes from an injected ``random.Random``.

- :class:`BadInput` names every kind of input a feed drops or answers with a resync.
- :class:`BadInputCounters` counts them per kind and logs each kind at most once per
  ``log_interval_ns`` (a minute by default), with the number suppressed since.
- :class:`StaleDetector` emits :class:`~mm.schema.FeedStale` once when a symbol has been
  silent for ``stale_after_ns`` and a ``stale=False`` event when it speaks again.
- :class:`Keepalive` decides when to send an application ping and when a silent
  connection is dead (Hyperliquid closes a connection it has not sent on for 60 s).
- :class:`Backoff` is jittered exponential reconnect delay.
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Iterable

from mm.schema import FeedStale

log = logging.getLogger(__name__)

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


class BadInput(enum.IntEnum):
    """Kinds of input a feed refuses. Values index the counters array: never renumber."""

    MALFORMED_JSON = 0
    """Not JSON at all (or not UTF-8)."""
    UNKNOWN_CHANNEL = 1
    """Valid JSON whose channel / event type this parser does not handle."""
    BAD_SHAPE = 2
    """Known channel, but fields missing or of the wrong type."""
    UNKNOWN_SYMBOL = 3
    """A coin or symbol that is not configured."""
    BAD_PRICE = 4
    """A price that is NaN, infinite, zero or negative."""
    BAD_QTY = 5
    """A size that is NaN, infinite or negative (or zero where a level must have size)."""
    UNSORTED_LEVELS = 6
    """A book side whose levels are not strictly ordered best first."""
    CROSSED_BOOK = 7
    """A book or BBO with best bid >= best ask."""
    SEQ_GAP = 8
    """A sequence gap (Binance ``pu`` != previous ``u``): answered with a resync."""
    SEQ_DUPLICATE = 9
    """A message whose sequence or venue time equals the last one applied."""
    SEQ_OUT_OF_ORDER = 10
    """A message older than the last one applied."""
    TRADE_DUPLICATE = 11
    """A trade id seen before (Hyperliquid repeats trades after every subscription)."""
    TRADE_BACKFILL = 12
    """A trade far older than the venue's latest time: the subscription's backfill."""
    BUFFER_OVERFLOW = 13
    """Depth diffs dropped while waiting for a snapshot (buffer full)."""
    STALE_SNAPSHOT = 14
    """A depth snapshot older than the diff stream: fetched again."""
    VENUE_ERROR = 15
    """The venue sent an error frame."""


_QUIET_KINDS = frozenset({BadInput.TRADE_DUPLICATE, BadInput.TRADE_BACKFILL})
"""Expected on every (re)subscription: logged at INFO rather than WARNING."""


class BadInputCounters:
    """Counts of refused input per :class:`BadInput` kind, with rate-limited logging.

    ``count(kind, now_ns, detail)`` increments and logs the first occurrence of a kind at
    once, then at most one line per kind per ``log_interval_ns``, saying how many were
    suppressed in between. ``detail`` should be short and must never carry a secret.
    """

    __slots__ = ("_counts", "_last_log_ns", "_logger", "_name", "_suppressed", "log_interval_ns")

    def __init__(
        self,
        name: str,
        log_interval_ns: int = 60 * NS_PER_S,
        logger: logging.Logger | None = None,
    ) -> None:
        n = len(BadInput)
        self._name = name
        self._counts = [0] * n
        self._suppressed = [0] * n
        self._last_log_ns: list[int | None] = [None] * n
        self._logger = logger or log
        self.log_interval_ns = log_interval_ns

    def count(self, kind: BadInput, now_ns: int, detail: str = "", n: int = 1) -> None:
        """Record ``n`` occurrences of ``kind`` at ``now_ns``."""
        k = int(kind)
        self._counts[k] += n
        last = self._last_log_ns[k]
        if last is not None and now_ns - last < self.log_interval_ns:
            self._suppressed[k] += n
            return
        level = logging.INFO if kind in _QUIET_KINDS else logging.WARNING
        suppressed = self._suppressed[k]
        self._logger.log(
            level,
            "%s: %s x%d (total %d, %d suppressed since last log)%s",
            self._name,
            kind.name,
            n,
            self._counts[k],
            suppressed,
            f": {detail}" if detail else "",
        )
        self._last_log_ns[k] = now_ns
        self._suppressed[k] = 0

    def __getitem__(self, kind: BadInput) -> int:
        return self._counts[int(kind)]

    @property
    def total(self) -> int:
        return sum(self._counts)

    def as_dict(self, nonzero_only: bool = False) -> dict[str, int]:
        """Counts by kind name (all kinds, or only those that occurred)."""
        return {k.name: self._counts[k] for k in BadInput if not nonzero_only or self._counts[k]}

    def __repr__(self) -> str:
        return f"BadInputCounters({self._name}, {self.as_dict(nonzero_only=True)})"


class StaleDetector:
    """Per-symbol silence detector.

    ``on_message(symbol_id, now_ns)`` marks a symbol alive; it returns a ``FeedStale`` with
    ``stale=False`` (and the silence it ended) when the symbol had been declared stale, and
    also on the symbol's first message since ``reset``: consumers learn that its data has
    started, in order with the stale events (a consumer can tell "not started yet" from
    "stale" without racing another channel).
    ``check(now_ns)`` returns one ``FeedStale`` per symbol that has just crossed
    ``stale_after_ns`` of silence; it is not repeated until the symbol has spoken again.
    The silence clock of every symbol starts at ``reset(now_ns)``.
    """

    __slots__ = ("_is_stale", "_last_ns", "_spoken", "stale_after_ns", "venue")

    def __init__(self, venue: int, symbol_ids: Iterable[int], stale_after_ns: int) -> None:
        if stale_after_ns <= 0:
            raise ValueError(f"stale_after_ns must be > 0, got {stale_after_ns}")
        self.venue = int(venue)
        self.stale_after_ns = stale_after_ns
        self._last_ns: dict[int, int] = {int(s): 0 for s in symbol_ids}
        self._is_stale: dict[int, bool] = dict.fromkeys(self._last_ns, False)
        self._spoken: dict[int, bool] = dict.fromkeys(self._last_ns, False)

    def reset(self, now_ns: int) -> None:
        """Start every symbol's silence clock at ``now_ns`` (call once when the feed starts)."""
        for s in self._last_ns:
            self._last_ns[s] = now_ns
            self._is_stale[s] = False
            self._spoken[s] = False

    def on_message(self, symbol_id: int, now_ns: int) -> FeedStale | None:
        last = self._last_ns.get(symbol_id)
        if last is None:
            return None
        self._last_ns[symbol_id] = now_ns
        if self._is_stale[symbol_id] or not self._spoken[symbol_id]:
            self._is_stale[symbol_id] = False
            self._spoken[symbol_id] = True
            return FeedStale(self.venue, symbol_id, now_ns, now_ns - last, False)
        return None

    def check(self, now_ns: int) -> list[FeedStale]:
        out: list[FeedStale] = []
        for s, last in self._last_ns.items():
            silent_ns = now_ns - last
            if not self._is_stale[s] and silent_ns >= self.stale_after_ns:
                self._is_stale[s] = True
                out.append(FeedStale(self.venue, s, now_ns, silent_ns, True))
        return out

    def is_stale(self, symbol_id: int) -> bool:
        return self._is_stale.get(symbol_id, False)


class Keepalive:
    """When to ping and when to give a connection up.

    ``ping_due(now_ns)``: nothing was sent as a ping for ``ping_interval_ns`` (the official
    SDK pings every 50 s; the server closes after 60 s of its own silence, and a pong is
    server traffic). ``dead(now_ns)``: nothing at all was received for ``dead_after_ns``.
    """

    __slots__ = ("_last_ping_ns", "_last_rx_ns", "dead_after_ns", "ping_interval_ns")

    def __init__(self, ping_interval_ns: int, dead_after_ns: int) -> None:
        if ping_interval_ns <= 0 or dead_after_ns <= 0:
            raise ValueError("keepalive intervals must be > 0")
        self.ping_interval_ns = ping_interval_ns
        self.dead_after_ns = dead_after_ns
        self._last_rx_ns = 0
        self._last_ping_ns = 0

    def on_connect(self, now_ns: int) -> None:
        self._last_rx_ns = now_ns
        self._last_ping_ns = now_ns

    def on_rx(self, now_ns: int) -> None:
        self._last_rx_ns = now_ns

    def on_ping(self, now_ns: int) -> None:
        self._last_ping_ns = now_ns

    def ping_due(self, now_ns: int) -> bool:
        return now_ns - self._last_ping_ns >= self.ping_interval_ns

    def dead(self, now_ns: int) -> bool:
        return now_ns - self._last_rx_ns >= self.dead_after_ns


class Backoff:
    """Jittered exponential backoff ("equal jitter").

    The n-th consecutive failure waits ``d/2 + U(0, d/2)`` with
    ``d = min(max_ns, base_ns * factor**n)``, so waits grow, never exceed ``max_ns`` and
    never collapse to zero, and many clients that lost the venue together spread out.
    ``reset()`` after a connection has proved healthy.
    """

    __slots__ = ("_rng", "attempt", "base_ns", "factor", "max_ns")

    def __init__(
        self,
        base_ns: int = 250 * NS_PER_MS,
        max_ns: int = 30 * NS_PER_S,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if base_ns <= 0 or max_ns < base_ns or factor < 1.0:
            raise ValueError("need 0 < base_ns <= max_ns and factor >= 1")
        self.base_ns = base_ns
        self.max_ns = max_ns
        self.factor = factor
        self.attempt = 0
        self._rng = rng if rng is not None else random.Random()

    def ceiling_ns(self, attempt: int) -> int:
        """The un-jittered delay ``d`` for the given attempt number."""
        d = self.base_ns * self.factor ** min(attempt, 64)
        return int(min(self.max_ns, d))

    def next_delay_ns(self) -> int:
        d = self.ceiling_ns(self.attempt)
        self.attempt += 1
        half = d // 2
        return half + int(self._rng.random() * (d - half))

    def reset(self) -> None:
        self.attempt = 0


class FeedStats:
    """Plain counters a feed client keeps (read by metrics and ``mmctl status``)."""

    __slots__ = (
        "bytes_rx",
        "connect_failures",
        "connects",
        "disconnects",
        "events",
        "frames",
        "last_error",
        "pings",
        "snapshot_failures",
        "snapshots_fetched",
        "stale_events",
    )

    def __init__(self) -> None:
        self.connects = 0
        self.connect_failures = 0
        self.disconnects = 0
        self.frames = 0
        self.bytes_rx = 0
        self.events = 0
        self.pings = 0
        self.stale_events = 0
        self.snapshots_fetched = 0
        self.snapshot_failures = 0
        self.last_error = ""

    def as_dict(self) -> dict[str, int | str]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return f"FeedStats({self.as_dict()})"
