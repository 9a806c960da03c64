"""The shadow engine: the paper fill model run alongside real quoting.

Seed 002, engineer 1 ("ShadowEngine: parallel paper evaluation"). Every live quote (an order
of ours resting at the venue, told by execution's OrderEvents) gets a paper twin: the paper
fill model (fill intensity lambda(d) = A exp(-kappa d) per second, d = the quote's distance
from the mid in bps, with the fill calibrator's current A and kappa) is integrated along the
mid's actual path while the quote rests. From the twin:

- the predicted P(fill) of the episode, 1 - exp(-integral of lambda dt), compared with
  whether the live quote was filled (the P(fill) validator) and, with the episode's
  exposure-weighted distance and resting time, fed to the fill calibrator, which moves A and
  kappa towards what live fills say (so the paper model the twins use is the calibrated one);
- the paper edge of a live fill: the edge the paper model books for the same quote, i.e.
  the fill-probability-weighted mean of side x (mid - px) / px over the episode (paper fills
  at the quote's price and marks at the mid: no adverse selection beyond where the mid
  already was), net of the live fill's fee. The sim-to-real tracker pairs it with the live
  fill's realised edge (its markout) once that resolves: gap = EWMA |paper - live| bps.

A fill that no resting episode explains (filled on arrival, an orphan) gets the paper edge
of an instantaneous paper fill at the mid of that moment.

It also classifies order events for exchange health (:func:`exchange_event_kind`): rejects
that are not post-only refusals, order timeouts (Stale) and rate-limit answers.

Pure logic: times are passed in (``now_ns`` monotonic, shared by the processes).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import msgspec

from mm.schema import Fill, OrderEvent, OrderStatus
from mm.shadow.tracker import FillCalibrator
from mm.venues.hyperliquid.rules import ERR_CANCEL_MISSING, ERR_IOC_CANCEL, ERR_MODIFY_DEAD, ERR_NO_LIQUIDITY

MAX_OPEN_EPISODES = 10_000
MAX_CLOSED_KEPT = 1_024
MAX_STEP_S = 5.0  # a gap in marks longer than this is integrated as this long (stale data)

_TERMINAL = frozenset({int(OrderStatus.FILLED), int(OrderStatus.CANCELLED), int(OrderStatus.REJECTED)})
_RESTING = frozenset({int(OrderStatus.OPEN), int(OrderStatus.PARTIALLY_FILLED), int(OrderStatus.PENDING_CANCEL)})
# rejects that are the market or a race, not the exchange failing: a post-only refusal, an
# IOC with nothing to take, a modify or cancel that arrived after the order was filled or
# cancelled (Hyperliquid's own strings, mm.venues.hyperliquid.rules; the order's fill or
# cancel reaches us on its own)
_MARKET_REJECT_WORDS = (
    "post only", "post-only", "would have immediately matched", "alo",
    *(w.lower().rstrip(".") for w in (ERR_IOC_CANCEL, ERR_NO_LIQUIDITY, ERR_MODIFY_DEAD, ERR_CANCEL_MISSING)),
)


def exchange_event_kind(ev: OrderEvent) -> str | None:
    """The exchange-health event an order event is, or None.

    Counted: a reject other than a post-only refusal, an IOC with nothing to take or a
    modify/cancel that lost the race with a fill or cancel (those are the market moving,
    not the exchange failing: a paper soak quoting the touch saw 24 modify races in 10
    minutes, which made exchange health Critical and safety Red every minute), a rate-limit
    answer, an order timeout (Stale: no answer in time)."""
    reason = ev.reason.lower()
    if "429" in reason or "rate limit" in reason or "too many requests" in reason:
        return "429"
    if ev.status == OrderStatus.REJECTED:
        if any(w in reason for w in _MARKET_REJECT_WORDS):
            return None
        return "reject"
    if ev.status == OrderStatus.STALE and "no answer" in reason:
        return "timeout"
    return None


class QuoteOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A live quote episode that ended: where it rested, how long, filled or not, and what
    the paper model predicted for it."""

    symbol_id: int
    cloid: str
    side: int
    distance_bps: float
    exposure_s: float
    filled: bool
    predicted_p_fill: float


class _Episode:
    __slots__ = ("cloid", "dist_exposure", "edge_mass", "exposure_s", "filled", "hazard", "last_mid",
                 "last_ns", "mass", "open_distance_bps", "px", "side", "symbol_id")

    def __init__(self, ev: OrderEvent, mid: float | None, now_ns: int) -> None:
        self.cloid = ev.cloid
        self.symbol_id = ev.symbol_id
        self.side = 1 if ev.side > 0 else -1
        self.px = ev.px
        self.last_ns = now_ns
        self.last_mid = mid
        self.hazard = 0.0
        self.mass = 0.0  # P(paper fill so far)
        self.edge_mass = 0.0  # sum of P(paper fill in step) x edge at that step, bps
        self.exposure_s = 0.0
        self.dist_exposure = 0.0
        self.filled = ev.filled_qty > 0.0
        self.open_distance_bps = distance_bps(self.side, self.px, mid) if mid else 0.0


def distance_bps(side: int, px: float, mid: float) -> float:
    """How far a quote rests behind the mid, bps (0 when at or through it)."""
    return max(side * (mid - px) / mid * 1e4, 0.0)


def gross_edge_bps(side: int, px: float, mid: float) -> float:
    """side x (mid - px) / px, bps: what a fill at ``px`` is worth marked at ``mid``."""
    return side * (mid - px) / px * 1e4


class ShadowEngine:
    """Paper twins of the live quotes (module docstring)."""

    def __init__(self, calibrator: FillCalibrator) -> None:
        self.calibrator = calibrator
        self._open: dict[str, _Episode] = {}
        self._closed: OrderedDict[str, _Episode] = OrderedDict()
        self._mid: dict[int, float] = {}
        self.episodes_opened = 0
        self.outcomes = 0
        self.dropped_episodes = 0
        self.bad_events = 0
        self.paired_fills = 0
        self.unpaired_fills = 0

    def mid(self, symbol_id: int) -> float | None:
        return self._mid.get(symbol_id)

    # ------------------------------------------------------------------ inputs

    def on_mark(self, symbol_id: int, mid_px: float, now_ns: int) -> None:
        """The symbol's mid: every resting twin of it is integrated up to ``now_ns``."""
        if not (mid_px > 0.0 and math.isfinite(mid_px)):
            return
        for ep in self._open.values():
            if ep.symbol_id == symbol_id:
                self._advance(ep, now_ns)
                ep.last_mid = mid_px
        self._mid[symbol_id] = mid_px

    def on_order_event(self, ev: OrderEvent, now_ns: int) -> list[QuoteOutcome]:
        """An order of ours changed: a quote starts resting, is modified, filled or ends."""
        if not ev.cloid or not (ev.px > 0.0 and math.isfinite(ev.px)) or ev.side not in (1, -1):
            self.bad_events += 1
            return []
        out: list[QuoteOutcome] = []
        ep = self._open.get(ev.cloid)
        if ep is not None and ep.px != ev.px:  # repriced under the same id: a new episode
            out.extend(self._close(ep, now_ns))
            ep = None
        if ev.status in _RESTING:
            if ep is None:
                if len(self._open) >= MAX_OPEN_EPISODES:
                    oldest = min(self._open.values(), key=lambda e: e.last_ns)
                    del self._open[oldest.cloid]
                    self.dropped_episodes += 1
                ep = self._open[ev.cloid] = _Episode(ev, self._mid.get(ev.symbol_id), now_ns)
                self.episodes_opened += 1
            if ev.filled_qty > 0.0:
                ep.filled = True
        elif ev.status in _TERMINAL or ev.status == OrderStatus.STALE:
            if ep is not None:
                if ev.filled_qty > 0.0 or ev.status == OrderStatus.FILLED:
                    ep.filled = True
                out.extend(self._close(ep, now_ns))
        return out

    def paper_edge_bps(self, fill: Fill) -> float | None:
        """The paper model's edge for the quote a live fill filled, net of the fill's fee."""
        if not (fill.px > 0.0 and fill.qty > 0.0 and math.isfinite(fill.px * fill.qty + fill.fee)):
            return None
        fee_bps = fill.fee / (fill.px * fill.qty) * 1e4
        ep = self._open.get(fill.cloid) or self._closed.get(fill.cloid)
        if ep is not None and ep.symbol_id == fill.symbol_id:
            if self._open.get(ep.cloid) is ep:
                self._advance(ep, fill.ts_ns)
            ep.filled = True
            if ep.mass > 0.0:
                self.paired_fills += 1
                return ep.edge_mass / ep.mass - fee_bps
        mid = fill.mid_px if fill.mid_px > 0.0 else self._mid.get(fill.symbol_id)
        if mid is None or not (mid > 0.0 and math.isfinite(mid)):
            self.unpaired_fills += 1
            return None
        self.paired_fills += 1
        return gross_edge_bps(1 if fill.side > 0 else -1, fill.px, mid) - fee_bps

    # ------------------------------------------------------------------ the paper twin

    def _advance(self, ep: _Episode, now_ns: int) -> None:
        if now_ns <= ep.last_ns:
            return
        dt = min((now_ns - ep.last_ns) / 1e9, MAX_STEP_S)
        ep.last_ns = now_ns
        mid = ep.last_mid
        if mid is None:
            return
        p = self.calibrator.params
        d = distance_bps(ep.side, ep.px, mid)
        dh = p.a_per_s * math.exp(-p.kappa_per_bps * d) * dt
        step = math.exp(-ep.hazard) * (1.0 - math.exp(-dh))
        ep.hazard += dh
        ep.mass += step
        ep.edge_mass += step * gross_edge_bps(ep.side, ep.px, mid)
        ep.exposure_s += dt
        ep.dist_exposure += d * dt

    def _close(self, ep: _Episode, now_ns: int) -> list[QuoteOutcome]:
        self._advance(ep, now_ns)
        self._open.pop(ep.cloid, None)
        self._closed[ep.cloid] = ep
        while len(self._closed) > MAX_CLOSED_KEPT:
            self._closed.popitem(last=False)
        if ep.exposure_s <= 0.0:
            return []  # never rested while we saw the mid: nothing to calibrate on
        self.outcomes += 1
        d = ep.dist_exposure / ep.exposure_s
        o = QuoteOutcome(symbol_id=ep.symbol_id, cloid=ep.cloid, side=ep.side, distance_bps=d,
                         exposure_s=ep.exposure_s, filled=ep.filled, predicted_p_fill=1.0 - math.exp(-ep.hazard))
        return [o]

    def status(self) -> dict[str, object]:
        return {
            "open_quotes": len(self._open),
            "episodes": self.episodes_opened,
            "outcomes": self.outcomes,
            "paired_fills": self.paired_fills,
            "unpaired_fills": self.unpaired_fills,
            "dropped_episodes": self.dropped_episodes,
            "bad_events": self.bad_events,
        }
