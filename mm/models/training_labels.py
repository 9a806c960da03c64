"""Training labels from a recorded (or generated) event stream (seed 000 §2.4.1, issue 5 item 10).

What this module owns: one causal replay of a symbol's events through the feature engine,
the queue-rank tracker and the alpha engine, producing

- **join labels**: at every sample time (``sample_interval_ms`` grid, data permitting) and
  for each side and each (level, rank) of ``joins``, a hypothetical order is placed
  ``level`` ticks behind the touch with ``rank`` of its level's displayed quantity ahead of
  it, and followed by :class:`~mm.features.queue_rank.QueueRankTracker` (the same queue
  model as live) until the first of: **filled** (the queue in front was consumed, or the
  price traded through or crossed it), **escaped** (the touch on its side moved
  ``escape_ticks`` ticks away from it: the price moved against the join and the order would
  be re-quoted), **horizon** (``horizon_s`` passed), or **outage** (a feed gap of more than
  ``max_gap_ms``, or the end of the data: censored where the data stops). For a filled
  order, the realized edge (gross of fees) with the mid ``markout_s`` after the fill::

      edge_gross_bps = s * (mid(t_fill + markout_s) - px) / px * 1e4

  (NaN when the markout falls in an outage or past the data). Each join keeps the state
  snapshot at its time, so every model is fitted on exactly the features it sees live.
- **trade records** for the toxicity fit: each trade of our venue with the classifier's
  feature vector at that trade, its side and the mid before it;
- **the mid tape** (every change of the tracked book's mid), **outage intervals**, and
- **signal records**: every snapshot the feature process would publish (on a material
  event, and on the ``timer_ms`` timer), with the lead-lag detector's output;
- **the verdict timeline**: the toxicity verdict at every trade and published snapshot,
  with the classifier's feature vector behind it (so that any classifier or threshold can
  be re-scored offline on exactly what the engine saw).

Orders are hypothetical: they never enter the displayed book, and each is independent of
the others (``QueueOrder.in_book`` False). Time is the events' ``ts_ns`` (for the real
recordings, the recorder's receive clock). Pure logic: events in, arrays out.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt

from mm.alpha.engine import AlphaEngine
from mm.features.engine import FeatureEngine
from mm.features.queue_rank import QueueRankTracker
from mm.schema import Bbo, BookDelta, BookSnapshot, FeedStale, RefPrice, StateSnapshot, Toxicity, Trade, Venue

HORIZON: Final = 0
FILLED: Final = 1
ESCAPED: Final = 2
OUTAGE: Final = 3
OUTCOME_NAMES: Final = ("horizon", "filled", "escaped", "outage")

FloatArr = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]


class LabelConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How join labels are drawn (see the module docstring).

    Fields:
        sample_interval_ms: ms between sample times (hypothetical joins).
        joins: (level, rank) pairs placed per side at each sample: level = ticks behind the
            touch (-1 = one tick inside the spread, placed only when the spread leaves room,
            rank 0: a new level), rank in [0, 1] = share of the level's displayed qty ahead.
        horizon_s: s, H: an order not filled nor escaped by then is censored.
        escape_ticks: X: the touch moving this many ticks away from the order ends it.
        markout_s: s, the mid this long after a fill marks the fill's edge.
        order_qty: base qty of the hypothetical order (0 = a probe: filled when any
            quantity trades beyond the queue in front of it).
        max_gap_ms: ms without an event of our venue that is an outage (no samples; open
            joins censored).
        warmup_s: s after the start and after each outage without samples (features warm up).
        timer_ms: ms, the feature process's snapshot timer (signal records).
    """

    sample_interval_ms: int = 250
    joins: tuple[tuple[int, float], ...] = ((0, 0.0), (0, 0.5), (0, 1.0), (1, 1.0), (-1, 0.0))
    horizon_s: float = 3.0
    escape_ticks: int = 2
    markout_s: float = 1.0
    order_qty: float = 0.0
    max_gap_ms: int = 5_000
    warmup_s: float = 20.0
    timer_ms: int = 100

    def __post_init__(self) -> None:
        if self.sample_interval_ms <= 0 or self.timer_ms <= 0 or self.max_gap_ms <= 0:
            raise ValueError("sample_interval_ms, timer_ms, max_gap_ms: must be > 0")
        if not self.joins:
            raise ValueError("joins: at least one (level, rank)")
        for lvl, r in self.joins:
            if lvl < -1 or not 0.0 <= r <= 1.0 or (lvl < 0 and r != 0.0):
                raise ValueError(f"joins: level >= -1, rank in [0, 1] (0 inside the spread), got {(lvl, r)!r}")
        if not (self.horizon_s > 0.0 and self.markout_s > 0.0 and math.isfinite(self.horizon_s + self.markout_s)):
            raise ValueError("horizon_s, markout_s: must be finite and > 0")
        if self.escape_ticks < 1:
            raise ValueError("escape_ticks: must be >= 1")
        if not (self.order_qty >= 0.0 and math.isfinite(self.order_qty)):
            raise ValueError("order_qty: must be finite and >= 0")
        if self.warmup_s < 0.0:
            raise ValueError("warmup_s: must be >= 0")


class ReplayResult:
    """Everything one replay produced, as numpy arrays (struct of arrays) plus snapshots."""

    def __init__(self) -> None:
        # sample snapshots (one per sample time)
        self.snapshots: list[StateSnapshot] = []
        # joins
        self.j_snap: list[int] = []
        self.j_t0: list[int] = []
        self.j_side: list[int] = []
        self.j_level: list[int] = []
        self.j_rank: list[float] = []
        self.j_px: list[float] = []
        self.j_ahead: list[float] = []
        self.j_outcome: list[int] = []
        self.j_tend: list[int] = []
        # trades
        self.tr_ts: list[int] = []
        self.tr_side: list[int] = []
        self.tr_mid: list[float] = []
        self.tr_x: list[list[float]] = []
        self.tr_prob: list[float] = []
        # verdict timeline (trades and snapshots)
        self.v_ts: list[int] = []
        self.v_level: list[int] = []
        self.v_is_trade: list[bool] = []
        self.v_x: list[list[float]] = []  # the classifier's feature vector behind each verdict
        # mid tape
        self.m_ts: list[int] = []
        self.m_mid: list[float] = []
        # outages (last event before, first event after)
        self.outages: list[tuple[int, int]] = []
        # signal records (every published snapshot)
        self.s_ts: list[int] = []
        self.s_mid: list[float] = []
        self.s_ref: list[float] = []
        self.s_dev: list[float] = []
        self.s_skew: list[float] = []
        self.s_dir: list[int] = []
        self.s_cp: list[bool] = []
        self.s_target: list[float] = []
        self.first_ts_ns = -1
        self.last_ts_ns = -1
        self.tick_px = 0.0

    # ------------------------------------------------------------------ array views

    def joins(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "snap": np.asarray(self.j_snap, dtype=np.int64),
            "t0": np.asarray(self.j_t0, dtype=np.int64),
            "side": np.asarray(self.j_side, dtype=np.int64),
            "level": np.asarray(self.j_level, dtype=np.int64),
            "rank": np.asarray(self.j_rank, dtype=np.float64),
            "px": np.asarray(self.j_px, dtype=np.float64),
            "ahead": np.asarray(self.j_ahead, dtype=np.float64),
            "outcome": np.asarray(self.j_outcome, dtype=np.int64),
            "tend": np.asarray(self.j_tend, dtype=np.int64),
        }

    def mid_tape(self) -> tuple[IntArr, FloatArr]:
        return np.asarray(self.m_ts, dtype=np.int64), np.asarray(self.m_mid, dtype=np.float64)


def mid_at(tape_ts: IntArr, tape_mid: FloatArr, ts_ns: npt.ArrayLike) -> FloatArr:
    """The mid in effect at each time (last change at or before it); NaN before the tape."""
    t = np.asarray(ts_ns, dtype=np.int64)
    idx = np.searchsorted(tape_ts, t, side="right") - 1
    out = np.full(t.shape, np.nan)
    ok = idx >= 0
    out[ok] = tape_mid[idx[ok]]
    return out


def in_outage(outages: list[tuple[int, int]], t0: npt.ArrayLike, t1: npt.ArrayLike, last_ts_ns: int) -> npt.NDArray[np.bool_]:
    """True where [t0, t1] overlaps an outage or runs past the data's end."""
    a = np.asarray(t0, dtype=np.int64)
    b = np.asarray(t1, dtype=np.int64)
    bad = b > last_ts_ns
    for s, e in outages:
        bad |= (a < e) & (b > s)
    return bad


def markout_edges(res: ReplayResult, markout_s: float) -> tuple[FloatArr, FloatArr]:
    """(edge_gross_bps, mid at fill) per join; NaN unless filled with a clean markout."""
    j = res.joins()
    ts, mids = res.mid_tape()
    tend = j["tend"].astype(np.int64)
    filled = j["outcome"] == FILLED
    t_mark = tend + int(markout_s * 1e9)
    m_fill = mid_at(ts, mids, tend)
    m_mark = mid_at(ts, mids, t_mark)
    px = j["px"].astype(np.float64)
    side = j["side"].astype(np.float64)
    edge = side * (m_mark - px) / px * 1e4
    bad = ~filled | in_outage(res.outages, tend, t_mark, res.last_ts_ns) | ~np.isfinite(edge)
    edge[bad] = np.nan
    m_fill[~filled] = np.nan
    return edge, m_fill


def toxicity_labels(res: ReplayResult, move_bps: float, horizon_s: float) -> FloatArr:
    """The classifier's label per trade: 1 if the mid crosses mid_before * (1 +- move) in
    the trade's direction within the horizon (strictly after the trade), else 0; NaN when
    the horizon runs into an outage or past the data."""
    ts, mids = res.mid_tape()
    t = np.asarray(res.tr_ts, dtype=np.int64)
    side = np.asarray(res.tr_side, dtype=np.int64)
    m0 = np.asarray(res.tr_mid, dtype=np.float64)
    h = int(horizon_s * 1e9)
    lo = np.searchsorted(ts, t, side="left")
    hi = np.searchsorted(ts, t + h, side="right")
    out = np.zeros(t.size)
    for i in range(t.size):
        a, b = lo[i], hi[i]
        if b <= a:
            continue
        w = mids[a:b]
        if side[i] > 0:
            out[i] = 1.0 if w.max() >= m0[i] * (1.0 + move_bps * 1e-4) else 0.0
        else:
            out[i] = 1.0 if w.min() <= m0[i] * (1.0 - move_bps * 1e-4) else 0.0
    out[in_outage(res.outages, t, t + h, res.last_ts_ns)] = np.nan
    out[~(m0 > 0.0)] = np.nan
    return out


class _Join:
    __slots__ = ("idx", "px", "side", "t0")

    def __init__(self, idx: int, side: int, px: float, t0: int) -> None:
        self.idx = idx
        self.side = side
        self.px = px
        self.t0 = t0


_OUR_MD: Final = (Trade, Bbo, BookSnapshot, BookDelta, FeedStale)


def replay(events: Iterable[object], symbol_id: int, tick_px: float, cfg: LabelConfig,
           engine: FeatureEngine, alpha: AlphaEngine | None = None,
           our_venues: tuple[int, ...] = (int(Venue.HYPERLIQUID), int(Venue.SIM)), *,
           with_joins: bool = True) -> ReplayResult:
    """Run the causal replay (see the module docstring). ``engine`` is a fresh feature
    engine for ``symbol_id`` (its toxicity model decides ``toxic_prob`` in the snapshots);
    ``alpha``, if given, is run on every published snapshot. ``with_joins`` False skips
    the samples and joins (trade records, tapes and signals only)."""
    if not tick_px > 0.0:
        raise ValueError("tick_px: must be > 0")
    res = ReplayResult()
    res.tick_px = tick_px
    tracker = QueueRankTracker(symbol_id)
    ours = frozenset(our_venues)
    sample_ns = cfg.sample_interval_ms * 1_000_000
    timer_ns = cfg.timer_ms * 1_000_000
    gap_ns = cfg.max_gap_ms * 1_000_000
    horizon_ns = int(cfg.horizon_s * 1e9)
    warm_ns = int(cfg.warmup_s * 1e9)
    esc = cfg.escape_ticks * tick_px
    joins: dict[int, _Join] = {}
    by_start: deque[int] = deque()
    last_md = -1
    warm_until = -1
    next_sample = -1
    next_timer = -1
    last_mid = 0.0
    stale = False

    def end(key: int, outcome: int, t_end: int) -> None:
        jn = joins.pop(key, None)
        if jn is None:
            return
        tracker.remove_order(key)
        res.j_outcome[jn.idx] = outcome
        res.j_tend[jn.idx] = t_end

    def record_verdict(t: int) -> None:
        if engine.last_toxicity_features:
            res.v_ts.append(t)
            res.v_level.append(int(engine.classifier.last_level))  # the classifier's own verdict (no lead override)
            res.v_is_trade.append(False)
            res.v_x.append(list(engine.last_toxicity_features))

    def publish(t: int) -> None:
        snap = engine.snapshot(t, t)
        if alpha is not None:
            st, tgt = alpha.evaluate(snap)
            res.s_ts.append(t)
            res.s_mid.append(snap.mid_px)
            res.s_ref.append(snap.ref_mid_px)
            res.s_dev.append(st.dev_bps)
            res.s_skew.append(st.skew_bps)
            res.s_dir.append(st.direction)
            res.s_cp.append(st.changepoint)
            res.s_target.append(tgt)
        record_verdict(t)

    def sample(t: int) -> None:
        if stale or t < warm_until or not with_joins:
            return
        pb, _qb, pa, _qa = tracker.best()
        if not (pb > 0.0 and pa > pb):
            return
        snap = engine.snapshot(t, t)
        record_verdict(t)
        if snap.mid_px <= 0.0:
            return
        si = len(res.snapshots)
        res.snapshots.append(snap)
        for side, best in ((1, pb), (-1, pa)):
            for level, rank in cfg.joins:
                px = best - side * level * tick_px
                if px <= 0.0 or (level < 0 and not pb + 0.5 * tick_px < px < pa - 0.5 * tick_px):
                    continue  # inside the spread only when there is room
                key = len(res.j_t0)
                order = tracker.add_order(key, side, px, cfg.order_qty, t, rank_frac=rank)
                res.j_snap.append(si)
                res.j_t0.append(t)
                res.j_side.append(side)
                res.j_level.append(level)
                res.j_rank.append(rank)
                res.j_px.append(px)
                res.j_ahead.append(order.ahead_qty)
                res.j_outcome.append(OUTAGE)
                res.j_tend.append(t)
                joins[key] = _Join(key, side, px, t)
                by_start.append(key)

    def expire(t: int) -> None:
        """Censor joins whose horizon ended at or before t."""
        while by_start:
            k = by_start[0]
            jn = joins.get(k)
            if jn is None:
                by_start.popleft()
                continue
            if jn.t0 + horizon_ns > t:
                break
            by_start.popleft()
            end(k, HORIZON, jn.t0 + horizon_ns)

    def grid_until(t: int) -> None:
        """Timer snapshots and samples at grid times before t (events at t come first)."""
        nonlocal next_sample, next_timer
        while True:
            g = min(next_sample, next_timer)
            if g >= t:
                return
            if g - last_md > gap_ns:  # inside an outage: no grid
                next_sample = (t // sample_ns + 1) * sample_ns if next_sample < t else next_sample
                next_timer = (t // timer_ns + 1) * timer_ns if next_timer < t else next_timer
                return
            expire(g)
            if g == next_timer:
                publish(g)
                next_timer += timer_ns
            if g == next_sample:
                sample(g)
                next_sample += sample_ns

    for ev in events:
        if type(ev) not in _OUR_MD and type(ev) is not RefPrice:
            continue
        sym = getattr(ev, "symbol_id", -1)
        if sym != symbol_id:
            continue
        t = int(getattr(ev, "ts_ns", 0))
        venue = getattr(ev, "venue", -1)
        is_ours = venue in ours and type(ev) in _OUR_MD
        if res.first_ts_ns < 0:
            res.first_ts_ns = t
            next_sample = (t // sample_ns + 1) * sample_ns
            next_timer = (t // timer_ns + 1) * timer_ns
            warm_until = t + warm_ns
        if is_ours:
            if last_md >= 0 and t - last_md > gap_ns:
                # outage: censor every open join where the data stopped
                for k in list(joins):
                    end(k, OUTAGE, last_md)
                by_start.clear()
                res.outages.append((last_md, t))
                warm_until = t + warm_ns
                next_sample = (t // sample_ns + 1) * sample_ns
                next_timer = (t // timer_ns + 1) * timer_ns
            elif last_md >= 0:
                grid_until(t)
        elif last_md >= 0 and t - last_md <= gap_ns:
            grid_until(t)
        if is_ours:
            expire(t)
            if isinstance(ev, FeedStale):
                stale = ev.stale
            else:
                stale = False
            mid_before = last_mid
            tracker.on_event(ev, t)
        due = engine.on_event(ev, t)
        if not is_ours:
            if due:
                publish(t)
            continue
        last_md = t
        res.last_ts_ns = t
        pb, _qb, pa, _qa = tracker.best()
        if pb > 0.0 and pa > pb:
            mid = 0.5 * (pb + pa)
            if mid != last_mid:
                res.m_ts.append(t)
                res.m_mid.append(mid)
                last_mid = mid
        if isinstance(ev, Trade):
            res.tr_ts.append(t)
            res.tr_side.append(1 if ev.side > 0 else -1)
            res.tr_mid.append(mid_before)
            res.tr_x.append(list(engine.last_toxicity_features))
            res.tr_prob.append(engine.toxic_prob)
            res.v_ts.append(t)
            res.v_level.append(int(engine.classifier.last_level))  # the classifier's own verdict (no lead override)
            res.v_is_trade.append(True)
            res.v_x.append(res.tr_x[-1])
        # fills
        for o in tracker.drain_filled():
            fk = o.key
            if isinstance(fk, int) and fk in joins:
                end(fk, FILLED, o.fill_ts_ns)
        # escapes: the touch moved escape_ticks away from the order
        if joins and pb > 0.0 and pa > 0.0 and type(ev) is not Trade:
            for k in [k for k, jn in joins.items()
                      if (jn.px <= pb - esc + 1e-9 * tick_px if jn.side > 0 else jn.px >= pa + esc - 1e-9 * tick_px)]:
                end(k, ESCAPED, t)
        if due:
            publish(t)
    for k in list(joins):
        end(k, OUTAGE, res.last_ts_ns)
    return res


def verdict_first_toxic(res: ReplayResult, start_ns: int, end_ns: int) -> tuple[int, int]:
    """For a window (e.g. a labelled cascade on our venue): (time of the first Toxic
    verdict at or after ``start_ns`` (the verdict in force at the start counts), number of
    our trades from the start up to and including that moment); (-1, -1) if none before
    ``end_ns``."""
    ts = res.v_ts
    lv = res.v_level
    tr = res.v_is_trade
    i = int(np.searchsorted(np.asarray(ts, dtype=np.int64), start_ns, side="left"))
    if i > 0 and lv[i - 1] == int(Toxicity.TOXIC):
        return start_ns, 0
    n_trades = 0
    while i < len(ts) and ts[i] < end_ns:
        if tr[i]:
            n_trades += 1
        if lv[i] == int(Toxicity.TOXIC):
            return ts[i], n_trades
        i += 1
    return -1, -1
