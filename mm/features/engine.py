"""The feature engine: normalized market events in, ``StateSnapshot`` (seed 000 §2.3) out.

Pure logic (no I/O, no clock reads): every call takes the time. The feature process calls
it live and replay calls it offline; the same events and calls give identical snapshots.

What it owns:

- Which events matter. ``Trade``/``BookSnapshot``/``BookDelta``/``Bbo``/``FeedStale`` from
  our venues (``FeatureConfig.our_venues``, Hyperliquid and the sim by default) for
  ``symbol_id``; ``RefPrice`` (or a ``Bbo``) from the reference venue (Binance) for
  ``ref_mid_px``; our ``Fill``/``OrderEvent`` for ``inventory``. Anything else, and any
  event with a bad value (NaN, inf, px <= 0, qty < 0, a side not ±1, an unsorted or
  crossed book) is ignored and counted in ``counters``; nothing non-finite ever reaches a
  snapshot.
- When a snapshot is due: ``on_event`` returns True on a material event (a trade, a change
  of the best bid/ask price or size, a fill that changed inventory, a stale or recovered
  feed, a regime change, a reference-mid move of ``snapshot_on_ref_move_bps``);
  ``due(now_ns)`` is the timer (``snapshot_interval_ms``).
- The book of our venue: levels kept sorted (snapshots replace it, deltas set absolute
  level sizes, a ``Bbo`` between snapshots replaces the best level and drops any level it
  shows to be gone, so top-of-book is fresh while deeper levels come from the last
  snapshot). A ``Bbo`` side with px 0 and qty 0 carries no information and leaves that side
  unchanged (Hyperliquid's per-side best-price updates; a genuinely empty side shows in
  the next snapshot).
- Time. Event time is the event's ``ts_ns`` (local monotonic receive time), clamped so it
  never goes backwards (counted). Grid-based state (sigma samples every
  ``sigma_sample_ms``, regime steps every ``RegimeConfig.interval_ms``, baselines) is
  advanced to a time before an event at that time is applied, so the sample at grid time
  g sees every event with ``ts_ns <= g``. If our venue is silent for ``max_gap_ms`` or
  reports ``FeedStale``, the grid stops (an outage is not a quiet market) and restarts at
  the next event of our venue, whose mid starts a new return chain.
- Inventory: the sum of our signed fills. ``OrderEvent.filled_qty`` (cumulative per
  cloid) reconciles missed fills without double counting: per cloid the accounted qty is
  max(Σ fill qty, filled_qty); duplicate fills (same cloid, oid, trade_id) are ignored.
  ``set_inventory`` overrides it from the venue's position (reconciliation).
- Queue ranks come from the queue-rank tracker (built later): ``set_queue_ranks(bid, ask)``
  sets them; -1.0 (the default) means "no resting order on that side".
- Toxicity (``mm.models.toxicity``): the engine computes the fast feature vector on every
  trade of our venue and at each snapshot, asks the classifier, and feeds it mids to
  resolve labels. The verdict is ``toxicity`` / ``toxic_prob`` on the engine, and in the
  snapshot's fields of those names where the schema has them.

Snapshot field units: prices in quote currency; ``depth_bids/asks`` base qty at each of the
top 10 levels (0 = no level); ``book_imbalance`` top-k in [-1, 1]; ``ofi_500ms``/``ofi_2s``
base qty (CKS OFI, + = buying pressure); ``trade_sign_run_length`` trades (signed);
``vwap_direction`` in [-1, 1] over ``vwap_window_ms``; ``sigma_ewma`` bps per
``sigma_sample_ms`` sample (EWMA of |Δmid|); ``sigma_realized_1m`` bps (sqrt of the sum
of squared log mid returns over the last 60 s, not annualised); ``regime`` a
``mm.schema.Regime`` and ``regime_probs`` its 4 filtered probabilities; ``inventory`` base
qty (+ long); ``spread_bps`` (ask - bid)/mid; a missing price is 0.0 (no book yet or a
side empty).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from typing import Any, Final, Union, cast

from mm.features.config import FeatureConfig, RegimeConfig, ToxicityConfig
from mm.features.lead_move import LeadMoveDetector
from mm.features.ofi import OfiTracker
from mm.features.regime import RegimeFilter
from mm.features.rolling import (
    REALIZED_VOL_WINDOW_NS,
    Ewma,
    ExpDecay,
    GridSigma,
    SignRun,
    WindowSums,
    half_life_alpha,
    imbalance,
)
from mm.models.toxicity import ToxicityClassifier, ToxicityModel, between_trades, toxicity_features
from mm.schema import (
    N_DEPTH,
    Bbo,
    BookDelta,
    BookSnapshot,
    FeedStale,
    Fill,
    OrderEvent,
    RefPrice,
    StateSnapshot,
    Toxicity,
    Trade,
)

NO_QUEUE_RANK: Final = -1.0

COUNTER_NAMES: Final[tuple[str, ...]] = (
    "events",
    "bad_trade",
    "bad_book",
    "bad_bbo",
    "bad_delta",
    "bad_ref",
    "bad_fill",
    "bad_order_event",
    "crossed_book",
    "duplicate_fill",
    "other_symbol",
    "other_venue",
    "unused_event",
    "ts_backwards",
    "outages",
    "nonfinite_output",
    "ref_out_of_order",
)

_ZEROS: Final = [0.0] * N_DEPTH
# the toxicity verdict travels in the snapshot where the schema has fields for it
_SNAP_HAS_TOXICITY: Final = {"toxicity", "toxic_prob"} <= set(StateSnapshot.__struct_fields__)
_MdEvent = Union[Trade, BookSnapshot, BookDelta, Bbo, FeedStale, RefPrice]  # noqa: UP007
_MD_TYPES: Final = frozenset((Trade, BookSnapshot, BookDelta, Bbo, FeedStale, RefPrice))


def _ok_px(x: float) -> bool:
    return x > 0.0 and math.isfinite(x)


def _ok_qty(x: float) -> bool:
    return x >= 0.0 and math.isfinite(x)


class _Book:
    """Sorted levels of one book: keys ascending (bids keyed by -px), sizes alongside."""

    __slots__ = ("ask_keys", "ask_qty", "bid_keys", "bid_qty")

    def __init__(self) -> None:
        self.bid_keys: list[float] = []
        self.bid_qty: list[float] = []
        self.ask_keys: list[float] = []
        self.ask_qty: list[float] = []

    def best(self) -> tuple[float, float, float, float]:
        pb = -self.bid_keys[0] if self.bid_keys else 0.0
        qb = self.bid_qty[0] if self.bid_qty else 0.0
        pa = self.ask_keys[0] if self.ask_keys else 0.0
        qa = self.ask_qty[0] if self.ask_qty else 0.0
        return pb, qb, pa, qa

    def replace(self, bid_px: list[float], bid_qty: list[float], ask_px: list[float], ask_qty: list[float]) -> None:
        self.bid_keys = [-p for p, q in zip(bid_px, bid_qty) if q > 0.0]
        self.bid_qty = [q for q in bid_qty if q > 0.0]
        self.ask_keys = [p for p, q in zip(ask_px, ask_qty) if q > 0.0]
        self.ask_qty = [q for q in ask_qty if q > 0.0]

    @staticmethod
    def _set_best(keys: list[float], qty: list[float], key: float, q: float) -> None:
        idx = bisect_left(keys, key)
        if idx:
            del keys[:idx]
            del qty[:idx]
        if keys and keys[0] == key:
            qty[0] = q
        else:
            keys.insert(0, key)
            qty.insert(0, q)

    def set_best_bid(self, px: float, q: float) -> None:
        self._set_best(self.bid_keys, self.bid_qty, -px, q)
        cut = bisect_right(self.ask_keys, px)
        if cut:
            del self.ask_keys[:cut]
            del self.ask_qty[:cut]

    def set_best_ask(self, px: float, q: float) -> None:
        self._set_best(self.ask_keys, self.ask_qty, px, q)
        cut = bisect_right(self.bid_keys, -px)
        if cut:
            del self.bid_keys[:cut]
            del self.bid_qty[:cut]

    @staticmethod
    def _set_level(keys: list[float], qty: list[float], key: float, q: float) -> None:
        idx = bisect_left(keys, key)
        if idx < len(keys) and keys[idx] == key:
            if q > 0.0:
                qty[idx] = q
            else:
                del keys[idx]
                del qty[idx]
        elif q > 0.0:
            keys.insert(idx, key)
            qty.insert(idx, q)

    def apply_delta(self, bid_px: list[float], bid_qty: list[float], ask_px: list[float], ask_qty: list[float]) -> None:
        for p, q in zip(bid_px, bid_qty):
            self._set_level(self.bid_keys, self.bid_qty, -p, q)
        for p, q in zip(ask_px, ask_qty):
            self._set_level(self.ask_keys, self.ask_qty, p, q)

    def crossed(self) -> bool:
        return bool(self.bid_keys and self.ask_keys and -self.bid_keys[0] >= self.ask_keys[0])

    def copy_from(self, other: _Book) -> None:
        self.bid_keys = list(other.bid_keys)
        self.bid_qty = list(other.bid_qty)
        self.ask_keys = list(other.ask_keys)
        self.ask_qty = list(other.ask_qty)


def _all_px(xs: list[float]) -> bool:
    """Every price finite and > 0 (a sum is finite only if every term is; NaN poisons it;
    prices so large that their sum overflows count as bad too)."""
    return not xs or (min(xs) > 0.0 and math.isfinite(sum(xs)))


def _all_qty(xs: list[float]) -> bool:
    """Every size finite and >= 0."""
    return not xs or (min(xs) >= 0.0 and math.isfinite(sum(xs)))


def _sorted_strict(px: list[float], descending: bool) -> bool:
    """Strictly sorted, best first (prices already known finite)."""
    return px == sorted(px, reverse=descending) and len(set(px)) == len(px)


class FeatureEngine:
    """Per-symbol feature engine. See the module docstring for semantics and units.

    Construction::

        eng = FeatureEngine(symbol_id, FeatureConfig(), RegimeConfig(), ToxicityConfig(),
                            toxicity_model=decode_model(model_bytes))  # model optional

    Per event: ``if eng.on_event(ev, now_ns): publish(eng.snapshot(now_ns, ev_origin))``;
    per loop turn: ``if eng.due(now_ns): publish(eng.snapshot(now_ns, origin_ts_ns))``.
    """

    def __init__(
        self,
        symbol_id: int,
        features: FeatureConfig | None = None,
        regime: RegimeConfig | None = None,
        toxicity: ToxicityConfig | None = None,
        toxicity_model: ToxicityModel | None = None,
    ) -> None:
        fc = features if features is not None else FeatureConfig()
        rc = regime if regime is not None else RegimeConfig()
        tc = toxicity if toxicity is not None else ToxicityConfig()
        self.symbol_id = symbol_id
        self.cfg = fc
        self.regime_cfg = rc
        self.toxicity_cfg = tc
        self._ours = frozenset(fc.our_venues)
        self._refs = frozenset(fc.ref_venues)
        self._snap_interval_ns = fc.snapshot_interval_ms * 1_000_000
        self._max_gap_ns = fc.max_gap_ms * 1_000_000
        self._k = fc.imbalance_levels
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)

        # clock
        self._t_ns = -(1 << 62)
        self._last_md_ns = -1  # last accepted event of our venue
        self._stale = False  # our venue's feed reported stale
        self._freeze_ns = -1  # grid frozen here (stale) until our venue's next event
        self._in_outage = False  # the grid stopped at the gap limit

        # book of our venue
        self._book = _Book()
        self._scratch = _Book()
        self._book_ts_ns = 0
        self._pb = self._qb = self._pa = self._qa = 0.0
        self._mid = 0.0
        self._ret_mid = 0.0  # mid at the last return (0: start a new chain)

        # rolling features
        self._ofi = OfiTracker(fc.window_capacity)
        self._trades = WindowSums((fc.vwap_window_ms * 1_000_000,), ncol=2, capacity=fc.window_capacity)
        self._rv = WindowSums((REALIZED_VOL_WINDOW_NS,), ncol=1, capacity=fc.window_capacity)
        self._sigma = GridSigma(fc.sigma_sample_ms, fc.sigma_half_life_s, fc.sigma_baseline_half_life_s)
        self._run = SignRun()
        self._last_trade_ts_ns = 0

        # regime
        self._regime = RegimeFilter(rc)
        self._interval_ns = rc.interval_ms * 1_000_000
        self._next_boundary_ns = -1
        self._int_start_mid = 0.0
        self._int_trades = 0
        self._int_ofi = 0.0
        self._regime_now = self._regime.regime
        base_a = half_life_alpha(rc.interval_ms / 1000.0, tc.baseline_half_life_s)
        self._spread_base = Ewma(base_a)  # bps
        self._touch_base = Ewma(base_a)  # qty, (qb + qa) / 2
        self._ofi_var_base = Ewma(base_a)  # qty², OFI per interval squared

        # toxicity
        self._tox = ToxicityClassifier(tc, toxicity_model)
        burst_hl_s = tc.burst_half_life_ms / 1000.0
        self._burst_min_ns = int(tc.burst_half_life_ms * 1e6)
        self._fast_n = ExpDecay(burst_hl_s)
        self._fast_signed = ExpDecay(burst_hl_s)
        self._fast_qty = ExpDecay(burst_hl_s)
        self._base_n = ExpDecay(tc.rate_baseline_half_life_s)
        self._base_qty = ExpDecay(tc.rate_baseline_half_life_s)
        self._decays = (self._fast_n, self._fast_signed, self._fast_qty, self._base_n, self._base_qty)
        self._fast_tau_s = burst_hl_s / math.log(2.0)
        self._fast_inv_tau = 1.0 / (self._fast_tau_s * 1e9)
        self._run_gap_ns = tc.run_gap_ms * 1_000_000
        self._fast_run = 0
        self._size_a = 2.0 / (tc.size_baseline_trades + 1.0)
        self._size_base_log = 0.0
        self._have_size = False
        self._last_side = 0
        self._last_trade_x: list[float] = []
        self.toxicity = Toxicity.NORMAL
        self.toxic_prob = 0.0
        self._lead = LeadMoveDetector(tc.lead_move)
        self._lead_hold_ns = tc.lead_move.hold_ms * 1_000_000
        self._lead_toxic_until_ns = -1
        self.last_toxicity_features: list[float] = []

        # our state
        self._inventory = 0.0
        self._orders: OrderedDict[str, list[float]] = OrderedDict()
        self._seen_fills: OrderedDict[tuple[str, int, int], None] = OrderedDict()
        self._queue_rank_bid = NO_QUEUE_RANK
        self._queue_rank_ask = NO_QUEUE_RANK

        # reference and publishing
        self._ref_mid = 0.0
        self._ref_half_spread = 0.0
        self._ref_remote_ms = -(1 << 62)
        self._pub_ref_mid = 0.0
        self._last_snap_ns = -1
        self._seq = 0

    # ================================================================== inputs

    def set_queue_ranks(self, bid: float, ask: float) -> None:
        """Queue ranks at our resting bid/ask from the queue-rank tracker; -1.0 = no order."""
        self._queue_rank_bid = bid if math.isfinite(bid) else NO_QUEUE_RANK
        self._queue_rank_ask = ask if math.isfinite(ask) else NO_QUEUE_RANK

    def set_inventory(self, qty: float) -> None:
        """Override inventory with the venue's position (reconciliation)."""
        if math.isfinite(qty):
            self._inventory = qty

    @property
    def inventory(self) -> float:
        return self._inventory

    @property
    def regime_filter(self) -> RegimeFilter:
        return self._regime

    @property
    def classifier(self) -> ToxicityClassifier:
        return self._tox

    @property
    def stale(self) -> bool:
        return self._stale

    def on_event(self, ev: object, now_ns: int) -> bool:
        """Apply one event; True if it makes a snapshot due now."""
        self.counters["events"] += 1
        if type(ev) in _MD_TYPES:
            ev = cast(_MdEvent, ev)
            if ev.symbol_id != self.symbol_id:
                self.counters["other_symbol"] += 1
                return False
            venue = ev.venue
            if venue in self._ours:
                return self._on_ours(ev, now_ns)
            if venue in self._refs:
                return self._on_ref(ev, now_ns)
            self.counters["other_venue"] += 1
            return False
        if isinstance(ev, Fill):
            return self._on_fill(ev)
        if isinstance(ev, OrderEvent):
            return self._on_order_event(ev)
        self.counters["unused_event"] += 1  # FundingUpdate, other messages
        return False

    def due(self, now_ns: int) -> bool:
        """Timer: True when ``snapshot_interval_ms`` has passed since the last snapshot."""
        return self._last_snap_ns < 0 or now_ns - self._last_snap_ns >= self._snap_interval_ns

    # ================================================================== our venue

    def _event_time(self, ts_ns: int, now_ns: int) -> int:
        t = ts_ns if ts_ns > 0 else now_ns
        if t < self._t_ns:
            self.counters["ts_backwards"] += 1
            t = self._t_ns
        return t

    def _on_ours(self, ev: _MdEvent, now_ns: int) -> bool:
        if isinstance(ev, Trade):
            if not (_ok_px(ev.px) and ev.qty > 0.0 and math.isfinite(ev.qty) and ev.side in (1, -1)):
                self.counters["bad_trade"] += 1
                return False
            t = self._begin_md(ev.ts_ns, now_ns)
            changed = self._apply_trade(t, ev)
            return self._end_md(t) or changed
        if isinstance(ev, BookSnapshot):
            if not self._valid_snapshot(ev):
                return False
            t = self._begin_md(ev.ts_ns, now_ns)
            self._book.replace(ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty)
            changed = self._after_book(t)
            return self._end_md(t) or changed
        if isinstance(ev, Bbo):
            bid_side = ev.bid_px != 0.0 or ev.bid_qty != 0.0
            ask_side = ev.ask_px != 0.0 or ev.ask_qty != 0.0
            if (bid_side and not (_ok_px(ev.bid_px) and ev.bid_qty > 0.0 and math.isfinite(ev.bid_qty))) or (
                ask_side and not (_ok_px(ev.ask_px) and ev.ask_qty > 0.0 and math.isfinite(ev.ask_qty))
            ):
                self.counters["bad_bbo"] += 1
                return False
            if bid_side and ask_side and ev.bid_px >= ev.ask_px:
                self.counters["crossed_book"] += 1
                return False
            if not (bid_side or ask_side):
                self.counters["bad_bbo"] += 1
                return False
            t = self._begin_md(ev.ts_ns, now_ns)
            if bid_side:
                self._book.set_best_bid(ev.bid_px, ev.bid_qty)
            if ask_side:
                self._book.set_best_ask(ev.ask_px, ev.ask_qty)
            changed = self._after_book(t)
            return self._end_md(t) or changed
        if isinstance(ev, BookDelta):
            if not self._valid_delta(ev):
                return False
            sc = self._scratch
            sc.copy_from(self._book)
            sc.apply_delta(ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty)
            if sc.crossed():
                self.counters["crossed_book"] += 1
                return False
            t = self._begin_md(ev.ts_ns, now_ns)
            self._book, self._scratch = sc, self._book
            changed = self._after_book(t)
            return self._end_md(t) or changed
        if isinstance(ev, FeedStale):
            t = self._event_time(ev.ts_ns, now_ns)
            was = self._stale
            if ev.stale:
                self._advance(t - 1)
                self._t_ns = t
                if self._freeze_ns < 0:
                    self._freeze_ns = t
            self._stale = ev.stale
            return was != ev.stale
        # RefPrice tagged with our venue: not our book
        self.counters["unused_event"] += 1
        return False

    def _valid_snapshot(self, ev: BookSnapshot) -> bool:
        if (
            len(ev.bid_px) != len(ev.bid_qty)
            or len(ev.ask_px) != len(ev.ask_qty)
            or not _all_px(ev.bid_px)
            or not _all_px(ev.ask_px)
            or not _all_qty(ev.bid_qty)
            or not _all_qty(ev.ask_qty)
            or not _sorted_strict(ev.bid_px, descending=True)
            or not _sorted_strict(ev.ask_px, descending=False)
        ):
            self.counters["bad_book"] += 1
            return False
        if ev.bid_px and ev.ask_px and ev.bid_px[0] >= ev.ask_px[0]:
            self.counters["crossed_book"] += 1
            return False
        return True

    def _valid_delta(self, ev: BookDelta) -> bool:
        if (
            len(ev.bid_px) != len(ev.bid_qty)
            or len(ev.ask_px) != len(ev.ask_qty)
            or not _all_px(ev.bid_px)
            or not _all_px(ev.ask_px)
            or not _all_qty(ev.bid_qty)
            or not _all_qty(ev.ask_qty)
        ):
            self.counters["bad_delta"] += 1
            return False
        return True

    def _begin_md(self, ts_ns: int, now_ns: int) -> int:
        """Clock handling common to accepted market data of our venue; returns event time."""
        t = self._event_time(ts_ns, now_ns)
        # grid times before t, as far as the data goes (a silence shorter than max_gap_ms is
        # a quiet market; the grid stops at its end or at a stale report)
        self._advance(t - 1)
        if self._last_md_ns >= 0 and (
            self._in_outage or self._freeze_ns >= 0 or t - self._last_md_ns > self._max_gap_ns
        ):
            self._restart_after_outage(t)
        self._freeze_ns = -1
        self._stale = False
        self._t_ns = t
        return t

    def _end_md(self, t: int) -> bool:
        self._last_md_ns = t
        self._in_outage = False
        if self._next_boundary_ns < 0:
            self._next_boundary_ns = self._boundary_at_or_after(t)
            self._int_start_mid = self._mid
        new_regime = self._regime.regime
        if new_regime != self._regime_now:
            self._regime_now = new_regime
            return True
        return False

    def _restart_after_outage(self, t: int) -> None:
        self.counters["outages"] += 1
        gap = t - self._last_md_ns - self._max_gap_ns
        if gap > 0:
            for d in self._decays:
                d.pause(gap)
        self._sigma.restart(t)
        self._ofi.reset()
        self._ret_mid = 0.0
        self._next_boundary_ns = self._boundary_at_or_after(t)
        self._int_start_mid = 0.0
        self._int_trades = 0
        self._int_ofi = 0.0
        self._in_outage = False

    def _boundary_at_or_after(self, t: int) -> int:
        """End of the regime interval (b - I, b] that holds time t."""
        return -(-t // self._interval_ns) * self._interval_ns

    def _grid_limit(self, t: int) -> int:
        """Grid time may advance to min(t, last md + max gap, stale time)."""
        if self._last_md_ns < 0:
            return -1
        lim = min(t, self._last_md_ns + self._max_gap_ns)
        if self._freeze_ns >= 0:
            lim = min(lim, self._freeze_ns)
        return lim

    def _advance(self, t: int) -> None:
        """Take sigma samples and regime steps at grid times <= t (within the data)."""
        lim = self._grid_limit(t)
        if lim < 0:
            return
        if lim < t:
            self._in_outage = True
        self._sigma.advance(lim)
        nb = self._next_boundary_ns
        if nb < 0:
            return
        while nb <= lim:
            self._regime_boundary()
            nb += self._interval_ns
        self._next_boundary_ns = nb

    def _regime_boundary(self) -> None:
        mid = self._mid
        start = self._int_start_mid
        ret_bps = abs(math.log(mid / start)) * 1e4 if (mid > 0.0 and start > 0.0) else 0.0
        touch = self._touch_base.value if self._touch_base.ready else 0.5 * (self._qb + self._qa)
        ofi_norm = self._int_ofi / touch if touch > 0.0 else 0.0
        self._regime.step_interval(ret_bps, self._int_trades, ofi_norm)
        # baselines, sampled on the interval grid
        if self._pb > 0.0 and self._pa > 0.0 and mid > 0.0:
            self._spread_base.update((self._pa - self._pb) / mid * 1e4)
            self._touch_base.update(0.5 * (self._qb + self._qa))
            self._ofi_var_base.update(self._int_ofi * self._int_ofi)
        self._int_start_mid = mid
        self._int_trades = 0
        self._int_ofi = 0.0

    def _after_book(self, t: int) -> bool:
        """After our book changed at t: OFI, mid, returns. True if top-of-book changed."""
        self._book_ts_ns = t
        pb, qb, pa, qa = self._book.best()
        changed = pb != self._pb or qb != self._qb or pa != self._pa or qa != self._qa
        if not changed:
            return False
        self._pb, self._qb, self._pa, self._qa = pb, qb, pa, qa
        if pb > 0.0 and pa > 0.0:
            e = self._ofi.update(t, pb, qb, pa, qa)
            self._int_ofi += e
            mid = 0.5 * (pb + pa)
            if mid != self._mid:
                self._set_mid(t, mid)
        else:
            self._ofi.reset()
            self._mid = 0.0
        return True

    def _set_mid(self, t: int, mid: float) -> None:
        if self._ret_mid > 0.0:
            r = math.log(mid / self._ret_mid)
            self._rv.push(t, r * r)
        self._ret_mid = mid
        self._mid = mid
        if self._int_start_mid <= 0.0:
            self._int_start_mid = mid
        self._sigma.set_mid(t, mid)
        self._tox.on_mid(t, mid)

    # ================================================================== trades and toxicity

    def _apply_trade(self, t: int, ev: Trade) -> bool:
        side = 1 if ev.side > 0 else -1
        qty = ev.qty
        if side == self._last_side and t - self._last_trade_ts_ns <= self._run_gap_ns:
            self._fast_run += 1
        else:
            self._fast_run = 1
        self._run.add(side)
        self._trades.push(t, side * qty, qty)
        self._int_trades += 1
        lq = math.log(qty)
        if self._have_size:
            size_ratio = lq - self._size_base_log
            self._size_base_log += self._size_a * (lq - self._size_base_log)
        else:
            size_ratio = 0.0
            self._size_base_log = lq
            self._have_size = True
        sweep = 0.0
        if self._pb > 0.0 and self._pa > 0.0:
            touch = self._pa if side > 0 else self._pb
            sweep = side * (ev.px - touch) / (self._pa - self._pb)
        self._last_side = side
        self._last_trade_ts_ns = t
        # context features see the trades before this one: score, then add it
        ofi_s, ofi_l = self._ofi.values(t)
        x = self._tox_features(t, side, self._fast_run, sweep, size_ratio, ofi_s, ofi_l, self._vwap_direction(t))
        self._fast_n.add(t, 1.0)
        self._base_n.add(t, 1.0)
        self._fast_signed.add(t, side * qty)
        self._fast_qty.add(t, qty)
        self._base_qty.add(t, qty)
        self.toxicity, self.toxic_prob = self._tox.assess(x, t)
        self._lead_override(t)
        self.last_toxicity_features = x
        self._last_trade_x = x
        self._tox.expire(t)
        if self._mid > 0.0:
            self._tox.observe_trade(t, side, self._mid, x)
        return True

    def _tox_features(
        self, t: int, side: int, fast_run: int, sweep: float, size_ratio: float,
        ofi_s: float, ofi_l: float, vwap_dir: float,
    ) -> list[float]:
        ofi_scale = math.sqrt(max(self._ofi_var_base.value, 0.0))
        floor = 0.25 * self._touch_base.value
        if ofi_scale < floor:
            ofi_scale = floor
        spread_bps = (self._pa - self._pb) / self._mid * 1e4 if (self._mid > 0.0 and self._pb > 0.0) else 0.0
        return toxicity_features(
            side=side,
            fast_run=fast_run,
            run_cap=self.toxicity_cfg.run_cap,
            rate_before_hz=self._fast_n.value(t) / self._fast_tau_s,
            base_rate_hz=self._base_n.rate(t, 1_000_000_000),
            signed_qty_before=self._fast_signed.value(t),
            qty_before=self._fast_qty.value(t),
            base_qty=self._base_qty.rate(t, 1_000_000_000) * self._fast_tau_s,
            ofi_500ms=ofi_s,
            ofi_2s=ofi_l,
            ofi_scale=ofi_scale,
            sweep_spreads=sweep,
            size_log_ratio=size_ratio,
            spread_bps=spread_bps,
            spread_base_bps=self._spread_base.value,
            sigma_bps=self._sigma.sigma_bps,
            sigma_base_bps=self._sigma.baseline_bps,
            vwap_direction=vwap_dir,
        )

    # ================================================================== reference, fills

    @property
    def lead_move(self) -> LeadMoveDetector:
        return self._lead

    def _lead_override(self, t: int) -> None:
        """Toxic while the reference's own move alarm is up and ``hold_ms`` after it."""
        if self._lead.alarm or t < self._lead_toxic_until_ns:
            self.toxicity = Toxicity.TOXIC
        elif self.toxicity == Toxicity.TOXIC and self._tox.last_level != Toxicity.TOXIC:
            self.toxicity = self._tox.last_level  # the hold ended: back to the classifier's verdict

    def _on_ref(self, ev: _MdEvent, now_ns: int) -> bool:
        if isinstance(ev, RefPrice):
            mid = ev.mid_px
            if not _ok_px(mid):
                mid = 0.5 * (ev.bid_px + ev.ask_px) if (_ok_px(ev.bid_px) and _ok_px(ev.ask_px)) else 0.0
            if _ok_px(ev.bid_px) and ev.ask_px > ev.bid_px and math.isfinite(ev.ask_px):
                self._ref_half_spread = 0.5 * (ev.ask_px - ev.bid_px)
        elif isinstance(ev, Bbo):
            mid = 0.5 * (ev.bid_px + ev.ask_px) if (_ok_px(ev.bid_px) and _ok_px(ev.ask_px)) else 0.0
            if mid > 0.0 and ev.ask_px > ev.bid_px and math.isfinite(ev.ask_px):
                self._ref_half_spread = 0.5 * (ev.ask_px - ev.bid_px)
        elif isinstance(ev, Trade):
            # a trade prints at the reference's touch now: its mid is the price less half its
            # last known spread (fresher than the next quote update); none before a quote
            if self._ref_half_spread <= 0.0:
                return False
            if not (_ok_px(ev.px) and ev.side in (1, -1)):
                self.counters["bad_ref"] += 1
                return False
            mid = ev.px - ev.side * self._ref_half_spread
        else:
            self.counters["unused_event"] += 1
            return False
        if not _ok_px(mid):
            self.counters["bad_ref"] += 1
            return False
        rts = ev.remote_ts_ms
        if rts < self._ref_remote_ms:  # delivered after a newer one: an older price is no news
            self.counters["ref_out_of_order"] += 1
            return False
        self._ref_remote_ms = rts
        self._ref_mid = mid
        t = ev.ts_ns if ev.ts_ns > 0 else now_ns
        changed = self._lead.update(t, mid)
        if self._lead.alarm:
            self._lead_toxic_until_ns = t + self._lead_hold_ns
            if changed:  # the move shows now: the verdict and a snapshot on this very update
                self.toxicity = Toxicity.TOXIC
                return True
        elif changed:
            self._lead_override(t)
            return True
        thr = self.cfg.snapshot_on_ref_move_bps
        if self.cfg.snapshot_on_ref_change and mid != self._pub_ref_mid:
            return True
        if thr <= 0.0:
            return False
        if self._pub_ref_mid <= 0.0:
            return True
        return abs(mid - self._pub_ref_mid) / self._pub_ref_mid * 1e4 >= thr

    def _remember_order(self, cloid: str, side: int) -> list[float]:
        rec = self._orders.get(cloid)
        if rec is None:
            rec = [0.0, 0.0, float(side)]
            self._orders[cloid] = rec
            if len(self._orders) > self.cfg.fill_memory:
                self._orders.popitem(last=False)
        return rec

    def _on_fill(self, ev: Fill) -> bool:
        if ev.symbol_id != self.symbol_id:
            self.counters["other_symbol"] += 1
            return False
        if not (ev.qty > 0.0 and math.isfinite(ev.qty) and ev.side in (1, -1)):
            self.counters["bad_fill"] += 1
            return False
        key = (ev.cloid, ev.oid, ev.trade_id)
        if key in self._seen_fills:
            self.counters["duplicate_fill"] += 1
            return False
        self._seen_fills[key] = None
        if len(self._seen_fills) > self.cfg.fill_memory:
            self._seen_fills.popitem(last=False)
        if not ev.cloid:
            self._inventory += ev.side * ev.qty
            return True
        rec = self._remember_order(ev.cloid, ev.side)
        rec[0] += ev.qty
        return self._account(rec, rec[0], ev.side)

    def _on_order_event(self, ev: OrderEvent) -> bool:
        if ev.symbol_id != self.symbol_id:
            self.counters["other_symbol"] += 1
            return False
        if not (_ok_qty(ev.filled_qty) and ev.side in (1, -1)):
            self.counters["bad_order_event"] += 1
            return False
        if not ev.cloid or ev.filled_qty <= 0.0:
            return False
        rec = self._remember_order(ev.cloid, ev.side)
        return self._account(rec, ev.filled_qty, ev.side)

    def _account(self, rec: list[float], seen_qty: float, side: int) -> bool:
        if seen_qty <= rec[1]:
            return False
        delta = seen_qty - rec[1]
        rec[1] = seen_qty
        self._inventory += side * delta
        return True

    # ================================================================== output

    def snapshot(self, now_ns: int, origin_ts_ns: int) -> StateSnapshot:
        """Build the snapshot at now_ns.

        Grid times strictly before now_ns are taken (as before an event at now_ns): an event
        that arrives later with the same ts_ns still lands in the same interval, so the state
        does not depend on when snapshots are taken.
        """
        t = now_ns if now_ns > self._t_ns else self._t_ns
        self._advance(t - 1)
        self._t_ns = t
        ofi_s, ofi_l = self._ofi.values(t)
        vwap_dir = self._vwap_direction(t)
        self._rv.query(t)
        rv_bps = math.sqrt(max(self._rv.sum(0), 0.0)) * 1e4

        pb, qb, pa, qa = self._pb, self._qb, self._pa, self._qa
        two_sided = pb > 0.0 and pa > 0.0
        mid = 0.5 * (pb + pa) if two_sided else 0.0
        if two_sided and qb + qa > 0.0:
            micro = pb + (pa - pb) * (qb / (qb + qa))  # = (pb qa + pa qb) / (qb + qa)
        else:
            micro = mid
        spread_bps = (pa - pb) / mid * 1e4 if two_sided else 0.0
        book = self._book
        db = book.bid_qty[:N_DEPTH]
        da = book.ask_qty[:N_DEPTH]
        imb = imbalance(db, da, self._k)
        depth_b = db + _ZEROS[len(db) :]
        depth_a = da + _ZEROS[len(da) :]

        if self._last_side != 0 and t > self._last_trade_ts_ns:
            # between trades: the book and volatility features of now, the last trade's
            # own and context features fading with the fast decay
            decay = math.exp(-(t - self._last_trade_ts_ns) * self._fast_inv_tau)
            x_now = self._tox_features(t, self._last_side, 1, 0.0, 0.0, ofi_s, ofi_l, vwap_dir)
            x = between_trades(self._last_trade_x, x_now, decay)
            self.toxicity, self.toxic_prob = self._tox.assess(x, t)
            self.last_toxicity_features = x
        self._lead_override(t)
        self._tox.expire(t)

        reg = self._regime
        probs = reg.probs.tolist()
        scalars = [pb, pa, mid, micro, spread_bps, imb, ofi_s, ofi_l, vwap_dir, self._sigma.sigma_bps, rv_bps,
                   self._inventory, self._queue_rank_bid, self._queue_rank_ask, self._ref_mid, self.toxic_prob]
        # one check for the common case: a sum is finite only if every term is
        if not (math.isfinite(sum(scalars)) and math.isfinite(sum(depth_b) + sum(depth_a) + sum(probs))):
            f = self._finite
            scalars = [f(x) for x in scalars]
            depth_b = [f(x) for x in depth_b]
            depth_a = [f(x) for x in depth_a]
            probs = [f(x) for x in probs]
        (pb, pa, mid, micro, spread_bps, imb, ofi_s, ofi_l, vwap_dir, sigma, rv_bps, inv, qrb, qra, ref,
         tox_p) = scalars
        self._seq += 1
        extra: dict[str, Any] = (
            {"toxicity": int(self.toxicity), "toxic_prob": tox_p} if _SNAP_HAS_TOXICITY else {}
        )
        snap = StateSnapshot(
            symbol_id=self.symbol_id,
            ts_ns=t,
            origin_ts_ns=origin_ts_ns,
            seq=self._seq,
            best_bid=pb,
            best_ask=pa,
            mid_px=mid,
            microprice=micro,
            spread_bps=spread_bps,
            depth_bids=depth_b,
            depth_asks=depth_a,
            book_imbalance=imb,
            ofi_500ms=ofi_s,
            ofi_2s=ofi_l,
            trade_sign_run_length=self._run.run,
            vwap_direction=vwap_dir,
            sigma_ewma=sigma,
            sigma_realized_1m=rv_bps,
            regime=int(reg.regime),
            regime_probs=probs,
            inventory=inv,
            queue_rank_bid=qrb,
            queue_rank_ask=qra,
            ref_mid_px=ref,
            last_trade_ts_ns=self._last_trade_ts_ns,
            book_ts_ns=self._book_ts_ns,
            **extra,
        )
        self._regime_now = reg.regime
        self._last_snap_ns = t
        self._pub_ref_mid = self._ref_mid
        return snap

    def _vwap_direction(self, t: int) -> float:
        tr = self._trades
        tr.query(t)
        vol = tr.sum(0, 1)
        return tr.sum(0, 0) / vol if vol > 0.0 else 0.0

    def _finite(self, x: float) -> float:
        if math.isfinite(x):
            return float(x)
        self.counters["nonfinite_output"] += 1
        return 0.0
