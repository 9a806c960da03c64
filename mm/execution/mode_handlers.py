"""Per-mode handlers of the execution state machine, and what they work on.

Owns:

- :class:`SymbolSpec` and :class:`PriceGrid`: an asset's Hyperliquid price grid (5
  significant figures, at most ``6 - szDecimals`` decimals, integers always valid) and lot
  grid, as fast float arithmetic. Every price a handler proposes is on the grid; the OMS
  formats it with :mod:`mm.venues.hyperliquid.rules`, which the property tests check.
- :class:`CycleInputs`: the per-cycle view of one symbol (snapshot, inventory, limits,
  control, our resting quotes and their queue ranks, worst-case headroom).
- The handlers (seed 000 §2.5.2 step 5), each returning the cycle's target orders and
  writing its candidates and reasons into the decision builder:
  :func:`handle_flat`, :func:`handle_maker`, :func:`handle_taker_entry`,
  :func:`handle_taker_exit`, :func:`handle_inventory_reduce`.

Sizing: passive Maker quotes and TakerEntry orders scale with the exposure size
multiplier of risk's ControlState; orders that only reduce the position (TakerExit,
InventoryReduce, always reduce-only) are sized by the position to shed and capped by
``reduce_clip_usd`` / ``taker_clip_usd``: reducing risk is never exposure. Every order
that can add to the position is capped by the worst-case headroom (``|inventory + all
outstanding orders on that side| <= max``), so no sequence of fills can break the limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from mm.execution.config import ExecutionConfig
from mm.execution.decision import CandidateRecord, DecisionBuilder
from mm.execution.models import FillModel, QueueValueModel, fill_probs, queue_values
from mm.execution.order_diff import TargetOrder
from mm.schema import StateSnapshot, Toxicity
from mm.venues.hyperliquid.rules import MAX_SIG_FIGS, price_decimals

_EPS = 1e-9


class SymbolSpec(msgspec.Struct, frozen=True):
    """A traded coin: its name, its asset id on the venue and its ``szDecimals`` (meta)."""

    name: str
    asset: int
    sz_decimals: int


class PriceGrid:
    """Hyperliquid's price and lot grid of one perp asset, in floats."""

    __slots__ = ("_downs", "_exps", "_levels", "_lots", "_ulevels", "_ups", "lot", "px_decimals", "sz_decimals")

    _CACHE_MAX = 4096

    def __init__(self, sz_decimals: int) -> None:
        self.sz_decimals = sz_decimals
        self.px_decimals = price_decimals(sz_decimals)
        self.lot = 10.0 ** -sz_decimals
        # memos of pure functions of their arguments (quotes revisit the same few prices and
        # sizes cycle after cycle): the same answers, a dict lookup instead of two round()s
        self._exps: dict[float, int] = {}
        self._ups: dict[tuple[float, int], float] = {}
        self._downs: dict[tuple[float, int], float] = {}
        self._lots: dict[float, float] = {}
        self._levels: dict[tuple[float, ...], list[tuple[float, int]]] = {}
        self._ulevels: dict[tuple[float, ...], list[tuple[float, int]]] = {}

    def _exp(self, px: float) -> int:
        e = self._exps.get(px)
        if e is None:
            e = max(min(math.floor(math.log10(px)) - (MAX_SIG_FIGS - 1), 0), -self.px_decimals)
            if len(self._exps) >= self._CACHE_MAX:
                self._exps.clear()
            self._exps[px] = e
        return e

    def tick_at(self, px: float) -> float:
        """The grid step at ``px`` (> 0): 5 significant figures, decimals capped, integers allowed."""
        return 10.0 ** self._exp(px)

    def _snap(self, px: float, units: float) -> float:
        e = self._exp(px)
        return round(units * 10.0**e, -e if e < 0 else 0)

    def floor_px(self, px: float) -> float:
        """The highest grid price <= ``px`` (a bid rounds down)."""
        t = self.tick_at(px)
        return max(self._snap(px, math.floor(px / t + _EPS)), t)

    def ceil_px(self, px: float) -> float:
        """The lowest grid price >= ``px`` (an ask rounds up)."""
        t = self.tick_at(px)
        return self._snap(px, math.ceil(px / t - _EPS))

    def up(self, px: float, n: int = 1) -> float:
        """``n`` ticks above ``px`` (the first step lands on the grid if ``px`` is off it)."""
        key = (px, n)
        out = self._ups.get(key)
        if out is None:
            out = self._up(px, n)
            if len(self._ups) >= self._CACHE_MAX:
                self._ups.clear()
            self._ups[key] = out
        return out

    def down(self, px: float, n: int = 1) -> float:
        """``n`` ticks below ``px`` (the tick just below a power of ten is finer)."""
        key = (px, n)
        out = self._downs.get(key)
        if out is None:
            out = self._down(px, n)
            if len(self._downs) >= self._CACHE_MAX:
                self._downs.clear()
            self._downs[key] = out
        return out

    def _up(self, px: float, n: int) -> float:
        for _ in range(n):
            e = self._exp(px)
            t = 10.0**e
            d = -e if e < 0 else 0
            q = round(px, d)
            # on the grid: one tick more (crossing a power of ten lands on 10^k, valid)
            px = round(q + t, d) if abs(q - px) <= t * 1e-6 else self.ceil_px(px)
        return px

    def _down(self, px: float, n: int) -> float:
        for _ in range(n):
            e = self._exp(px)
            t = 10.0**e
            d = -e if e < 0 else 0
            q = round(px, d)
            if abs(q - px) > t * 1e-6:
                px = self.floor_px(px)
                continue
            eb = self._exp(q * (1.0 - 1e-12))
            db = -eb if eb < 0 else 0
            px = max(round(q - 10.0**eb, db), 10.0 ** -self.px_decimals)
        return px

    def offset_levels(self, touch: float, side: int, offsets: Sequence[int]) -> list[tuple[float, int]]:
        """``[(shift(touch, side * k), k) for k in offsets]``, memoised (a shared list: read it,
        never change it)."""
        key = (touch, side, *offsets)
        out = self._levels.get(key)
        if out is None:
            out = [(self.shift(touch, side * k), k) for k in offsets]
            if len(self._levels) >= self._CACHE_MAX:
                self._levels.clear()
            self._levels[key] = out
        return out

    def unique_offset_levels(self, touch: float, side: int, offsets: Sequence[int]) -> list[tuple[float, int]]:
        """:meth:`offset_levels` less every level whose price an earlier one has, memoised (a
        shared list: read it, never change it)."""
        key = (touch, side, *offsets)
        out = self._ulevels.get(key)
        if out is None:
            out = []
            seen: set[float] = set()
            for lv in self.offset_levels(touch, side, offsets):
                if lv[0] not in seen:
                    out.append(lv)
                    seen.add(lv[0])
            if len(self._ulevels) >= self._CACHE_MAX:
                self._ulevels.clear()
            self._ulevels[key] = out
        return out

    def shift(self, px: float, n: int) -> float:
        if n == 0:
            return px
        return self.up(px, n) if n > 0 else self.down(px, -n)

    def floor_qty(self, qty: float) -> float:
        """``qty`` down to whole lots (never grows a size)."""
        out = self._lots.get(qty)
        if out is None:
            out = round(math.floor(qty / self.lot + _EPS) * self.lot, self.sz_decimals) if qty > 0.0 else 0.0
            if len(self._lots) >= self._CACHE_MAX:
                self._lots.clear()
            self._lots[qty] = out
        return out

    def ticks_between(self, lo: float, hi: float) -> int:
        """Whole ticks from ``lo`` up to ``hi`` (grid prices, lo <= hi), at lo's tick."""
        return int(round((hi - lo) / self.tick_at(lo)))


class CycleInputs:
    """What a handler knows about one symbol in this cycle.

    ``headroom_buy`` / ``headroom_sell``: base qty that passive or aggressive orders may add
    on that side, after the position and every outstanding order that this cycle's diff
    will not replace (pending, stale, in-flight aggressive). ``live_bid_px`` / ``live_ask_px``:
    our settled resting passive order on each side (0 = none), with its queue rank
    fraction.
    """

    __slots__ = (
        "_levels",
        "_qv_cache",
        "cfg",
        "fill",
        "grid",
        "headroom_buy",
        "headroom_sell",
        "inventory",
        "lead_lag_skew_bps",
        "live_ask_px",
        "live_ask_rank",
        "live_bid_px",
        "live_bid_rank",
        "max_inv",
        "min_notional_usd",
        "now_ns",
        "quote_qty",
        "qv",
        "reduce_clip_qty",
        "safe_target",
        "size_mult",
        "snap",
        "spec",
        "spread_mult",
        "taker_clip_qty",
        "target",
        "toxic_prob",
        "toxicity",
    )

    def __init__(  # positional too: the engine builds one per cycle (keywords cost ~1 us)
        self,
        cfg: ExecutionConfig,
        spec: SymbolSpec,
        grid: PriceGrid,
        snap: StateSnapshot,
        now_ns: int,
        qv: QueueValueModel,
        fill: FillModel,
        inventory: float,
        max_inv: float,
        quote_qty: float,
        taker_clip_qty: float,
        reduce_clip_qty: float,
        size_mult: float,
        spread_mult: float,
        target: float,
        toxicity: int,
        toxic_prob: float,
        lead_lag_skew_bps: float,
        headroom_buy: float,
        headroom_sell: float,
        min_notional_usd: float,
        live_bid_px: float = 0.0,
        live_bid_rank: float = -1.0,
        live_ask_px: float = 0.0,
        live_ask_rank: float = -1.0,
    ) -> None:
        self.cfg = cfg
        self.spec = spec
        self.grid = grid
        self.snap = snap
        self.now_ns = now_ns
        self.qv = qv
        self.fill = fill
        self.inventory = inventory
        self.max_inv = max_inv
        self.quote_qty = quote_qty
        self.taker_clip_qty = taker_clip_qty
        self.reduce_clip_qty = reduce_clip_qty
        self.size_mult = size_mult
        self.spread_mult = spread_mult
        self.target = target
        self.safe_target = target
        self.toxicity = toxicity
        self.toxic_prob = toxic_prob
        self.lead_lag_skew_bps = lead_lag_skew_bps
        self.headroom_buy = headroom_buy
        self.headroom_sell = headroom_sell
        self.min_notional_usd = min_notional_usd
        self.live_bid_px = live_bid_px
        self.live_bid_rank = live_bid_rank
        self.live_ask_px = live_ask_px
        self.live_ask_rank = live_ask_rank
        self._levels: dict[int, list[tuple[float, int]]] = {}
        self._qv_cache: dict[tuple[int, float, float], float] = {}

    # -- helpers shared by handlers and policies

    def offset_levels(self, side: int) -> list[tuple[float, int]]:
        """(price, offset) of the configured candidate offsets from this side's touch (cached)."""
        lv = self._levels.get(side)
        if lv is None:
            lv = self._levels[side] = self.grid.offset_levels(self.touch(side), side, self.cfg.candidate_offsets_ticks)
        return lv

    def queue_value(self, side: int, px: float, rank_frac: float) -> float:
        """The queue-value model's answer, memoised for this cycle."""
        key = (side, px, rank_frac)
        v = self._qv_cache.get(key)
        if v is None:
            v = self._qv_cache[key] = self.qv.queue_value(side, px, rank_frac, self.snap)
        return v

    def queue_values(self, side: int, pxs: list[float], ranks: list[float]) -> list[float]:
        """:meth:`queue_value` of each (price, rank): answers memoised this cycle are reused,
        the rest come from one batch call of the model (:func:`models.queue_values`)."""
        cache = self._qv_cache
        if not cache:
            return queue_values(self.qv, side, pxs, ranks, self.snap)
        out: list[float] = []
        miss: list[int] = []
        for i, (px, rank) in enumerate(zip(pxs, ranks)):
            v = cache.get((side, px, rank))
            if v is None:
                miss.append(i)
                out.append(0.0)
            else:
                out.append(v)
        if miss:
            vals = queue_values(self.qv, side, [pxs[i] for i in miss], [ranks[i] for i in miss], self.snap)
            for i, v in zip(miss, vals):
                out[i] = v
        return out

    def headroom(self, side: int) -> float:
        return self.headroom_buy if side > 0 else self.headroom_sell

    def touch(self, side: int) -> float:
        return self.snap.best_bid if side > 0 else self.snap.best_ask

    def opposite(self, side: int) -> float:
        return self.snap.best_ask if side > 0 else self.snap.best_bid

    def sigma_horizon_bps(self, horizon_s: float) -> float:
        """Volatility over ``horizon_s``, bps, from ``sigma_ewma`` (bps per sample)."""
        s = self.snap.sigma_ewma
        if not (math.isfinite(s) and s > 0.0):
            return 0.0
        return s * math.sqrt(max(horizon_s, 0.0) * 1000.0 / self.cfg.sigma_sample_ms)

    def live_px_rank(self, side: int) -> tuple[float, float]:
        if side > 0:
            return self.live_bid_px, self.live_bid_rank
        return self.live_ask_px, self.live_ask_rank

    def notional_ok(self, px: float, qty: float) -> bool:
        return qty > 0.0 and px * qty >= self.min_notional_usd - 1e-9

    def passive_ok(self, side: int, px: float) -> bool:
        """A passive price must not cross (or touch) the opposite side of the book."""
        opp = self.opposite(side)
        return px < opp - _EPS * opp if side > 0 else px > opp + _EPS * opp


def handle_flat(inp: CycleInputs, b: DecisionBuilder) -> list[TargetOrder]:
    """Flat: no orders; every resting quote is cancelled by the diff."""
    return []


def _maker_size(inp: CycleInputs, side: int) -> float:
    cfg = inp.cfg
    gap = (inp.safe_target - inp.inventory) / inp.max_inv if inp.max_inv > 0.0 else 0.0
    factor = min(max(1.0 + cfg.target_size_gain * side * max(min(gap, 1.0), -1.0), 0.0), 2.0)
    qty = inp.quote_qty * inp.size_mult * factor
    return inp.grid.floor_qty(min(qty, max(inp.headroom(side), 0.0)))


def maker_candidates(inp: CycleInputs, side: int, qty: float, b: DecisionBuilder | None,
                     offsets: list[int] | None = None, require_positive: bool = True) -> CandidateRecord | None:
    """Evaluate the candidate levels of one side; the best by queue value minus inventory penalty.

    Candidates: the touch shifted by each configured offset (kept passive), levels kept at
    least ``spread_multiplier`` x the touch's distance from the mid, and the level of our
    own resting order (its queue rank is its own). A candidate qualifies with fill
    probability >= ``p_fill_min`` and, when ``require_positive``, queue value >=
    ``min_queue_value_bps`` (>= 0) and a positive expected PnL after the inventory penalty.
    """
    cfg = inp.cfg
    snap = inp.snap
    grid = inp.grid
    touch = inp.touch(side)
    mid = snap.mid_px
    live_px, live_rank = inp.live_px_rank(side)
    min_dist = 0.0
    if inp.spread_mult > 1.0:
        min_dist = inp.spread_mult * side * (mid - touch)
    # our own level first, then the offsets' levels, each price once
    cand = grid.unique_offset_levels(touch, side, cfg.candidate_offsets_ticks if offsets is None else offsets)
    if live_px > 0.0:
        levels = [(live_px, 0)]
        levels += [lv for lv in cand if lv[0] != live_px]
    else:
        levels = list(cand)
    if min_dist > 0.0:
        wide = grid.floor_px(mid - min_dist) if side > 0 else grid.ceil_px(mid + min_dist)
        if wide not in [px for px, _ in levels]:
            levels.append((wide, -grid.ticks_between(*sorted((wide, touch)))))
    inv_after = abs(inp.inventory + side * qty)
    penalty = (cfg.lambda_inv * inv_after / inp.max_inv * inp.sigma_horizon_bps(cfg.fill_horizon_s)
               if inp.max_inv > 0.0 else math.inf)
    opp = inp.opposite(side)
    opp_tol = _EPS * opp
    p_min = cfg.p_fill_min
    qv_min = cfg.min_queue_value_bps
    join = cfg.join_rank_frac
    by_ev = cfg.rank_by_expected_value and require_positive
    live_rank_ok = live_px > 0.0 and 0.0 <= live_rank <= 1.0
    pxs = [px for px, _ in levels]
    ranks = []
    for px in pxs:
        if live_rank_ok and px == live_px:
            ranks.append(live_rank)
        elif side * (px - touch) > 0.0:
            ranks.append(0.0)  # a new, better level: we are its whole queue
        else:
            ranks.append(join)
    # the models answer for all the levels of the side at once
    qvs = inp.queue_values(side, pxs, ranks)
    pfs = fill_probs(inp.fill, side, pxs, cfg.fill_horizon_s, snap)
    wide_tol = min_dist - _EPS * mid
    recs: list[CandidateRecord] = []
    best_i = -1
    best_score = -math.inf
    for (px, k), rank, qv, pf in zip(levels, ranks, qvs, pfs):
        epnl = qv - penalty
        reject = ""
        if not (px < opp - opp_tol if side > 0 else px > opp + opp_tol):
            reject = "would cross the book"
        elif min_dist > 0.0 and side * (mid - px) < wide_tol:
            reject = "inside the widened spread"
        elif not pf >= p_min:
            reject = "fill probability below p_fill_min"
        elif require_positive and not qv >= qv_min:
            reject = "queue value below min_queue_value_bps"
        elif require_positive and not epnl > 0.0:
            reject = "inventory penalty exceeds queue value"
        else:
            score = pf * epnl if by_ev else epnl
            if score > best_score or best_i < 0:
                best_i = len(recs)
                best_score = score
        recs.append(CandidateRecord(side, px, k, rank, qv, pf, penalty, epnl, False, reject))
    best: CandidateRecord | None = None
    if best_i >= 0:
        best = recs[best_i] = msgspec.structs.replace(recs[best_i], chosen=True)
    if b is not None:
        b.candidates.extend(recs)
    return best


def handle_maker(inp: CycleInputs, b: DecisionBuilder) -> list[TargetOrder]:
    """Maker: per side, the best candidate by queue value minus inventory penalty (if any)."""
    chosen: dict[int, tuple[CandidateRecord, float]] = {}
    for side in (1, -1):
        qty = _maker_size(inp, side)
        # evaluate even at size 0 (Shadow): the record shows what would have been quoted
        eval_qty = qty if qty > 0.0 else inp.grid.floor_qty(inp.quote_qty)
        best = maker_candidates(inp, side, eval_qty, b)
        if best is None:
            b.reasons.append("bid: no candidate qualifies" if side > 0 else "ask: no candidate qualifies")
            continue
        if qty <= 0.0:
            b.reasons.append("bid: size 0 (size multiplier or headroom)" if side > 0
                             else "ask: size 0 (size multiplier or headroom)")
            continue
        if not inp.notional_ok(best.px, qty):
            b.reason(f"{'bid' if side > 0 else 'ask'}: {qty} below the minimum notional")
            continue
        chosen[side] = (best, qty)
    if 1 in chosen and -1 in chosen and chosen[1][0].px >= chosen[-1][0].px:
        # never a crossed or locked pair of our own quotes: the weaker side yields
        weaker = 1 if chosen[1][0].epnl_bps < chosen[-1][0].epnl_bps else -1
        b.reason(f"{'bid' if weaker > 0 else 'ask'} dropped: would lock or cross our other quote")
        del chosen[weaker]
    out = []
    for side, (c, qty) in chosen.items():
        out.append(TargetOrder(side, c.px, qty, inp.cfg.oms.passive_tif, False, False, c.queue_value_bps,
                               c.p_fill, "maker"))
    return out


def aggressive_px(inp: CycleInputs, side: int, slippage_bps: float | None = None) -> float:
    """The limit of an IOC: the opposite touch plus at most ``slippage_bps`` (default
    ``taker_max_slippage_bps``)."""
    opp = inp.opposite(side)
    slip = inp.cfg.taker_max_slippage_bps if slippage_bps is None else slippage_bps
    lim = opp * (1.0 + side * slip / 1e4)
    if side > 0:
        return max(inp.grid.floor_px(lim), opp)
    return min(inp.grid.ceil_px(lim), opp)


def handle_taker_entry(inp: CycleInputs, b: DecisionBuilder, direction: int) -> list[TargetOrder]:
    """TakerEntry: an IOC towards the target, sized by the gap, the clip and the size multiplier."""
    gap = abs(inp.safe_target - inp.inventory)
    qty = inp.grid.floor_qty(min(gap, inp.taker_clip_qty * inp.size_mult, max(inp.headroom(direction), 0.0)))
    px = aggressive_px(inp, direction)
    if qty <= 0.0 or not inp.notional_ok(px, qty):
        b.reason(f"taker entry: size {qty} too small (gap, size multiplier, headroom or minimum notional)")
        return []
    return [TargetOrder(direction, px, qty, "Ioc", False, True, reason="taker_entry")]


def handle_taker_exit(inp: CycleInputs, b: DecisionBuilder, urgency: float,
                      slippage_bps: float | None = None) -> list[TargetOrder]:
    """TakerExit: a reduce-only IOC that closes the gap between position and target, its
    limit ``slippage_bps`` past the opposite touch (default ``taker_max_slippage_bps``)."""
    inv = inp.inventory
    if inv == 0.0:
        return []
    side = -1 if inv > 0.0 else 1
    shed = min(abs(inv - inp.safe_target), abs(inv))
    qty = inp.grid.floor_qty(min(shed, inp.taker_clip_qty))
    px = aggressive_px(inp, side, slippage_bps)
    if qty <= 0.0 or not inp.notional_ok(px, qty):
        b.reason(f"taker exit: size {qty} too small")
        return []
    return [TargetOrder(side, px, qty, "Ioc", True, True, reason=f"taker_exit u={urgency:.2f}")]


def handle_inventory_reduce(inp: CycleInputs, b: DecisionBuilder, urgency: float) -> list[TargetOrder]:
    """InventoryReduce: reduce-only orders on the reducing side only.

    The excess over the maximum is taken with an IOC when ``urgency >=
    reduce_taker_min_urgency``. The rest of the way to the goal (the safe target when it is
    on the same side and smaller, else flat) rests passively at a level set by urgency: from
    the touch (urgency 0) to one tick inside the opposite touch (urgency 1). Queue value is
    ignored except in a Benign regime, where the candidate levels are evaluated as in Maker
    and the best one with a fill probability >= ``p_fill_min`` is used instead.
    """
    cfg = inp.cfg
    inv = inp.inventory
    if inv == 0.0:
        return []
    side = -1 if inv > 0.0 else 1
    grid = inp.grid
    out: list[TargetOrder] = []
    excess = abs(inv) - inp.max_inv
    take = 0.0
    if excess > 0.0 and urgency >= cfg.reduce_taker_min_urgency:
        whole_lots = round(math.ceil(excess / grid.lot - _EPS) * grid.lot, grid.sz_decimals)
        qty = grid.floor_qty(min(whole_lots, inp.taker_clip_qty, abs(inv)))
        px = aggressive_px(inp, side)
        if qty > 0.0 and inp.notional_ok(px, qty):
            out.append(TargetOrder(side, px, qty, "Ioc", True, True, reason="reduce_excess"))
            take = qty
        else:
            b.reason(f"reduce: excess {excess:g} below one lot or the minimum notional")
    goal = inp.safe_target if inp.safe_target * inv > 0.0 and abs(inp.safe_target) < abs(inv) else 0.0
    passive_qty = grid.floor_qty(min(abs(inv - goal) - take, inp.reduce_clip_qty))
    if passive_qty <= 0.0:
        return out
    touch = inp.touch(side)
    opp = inp.opposite(side)
    n = grid.ticks_between(*sorted((touch, opp)))
    k = int(math.floor(min(max(urgency, 0.0), 1.0) * max(n - 1, 0)))
    px = grid.shift(touch, side * k)
    qv: float | None = None
    pf: float | None = None
    if inp.toxicity == Toxicity.BENIGN:
        offsets = sorted({*cfg.candidate_offsets_ticks, k})
        best = maker_candidates(inp, side, passive_qty, b, offsets, require_positive=False)
        if best is not None:
            px, qv, pf = best.px, best.queue_value_bps, best.p_fill
    if not inp.passive_ok(side, px):
        px = touch
    if not inp.notional_ok(px, passive_qty):
        b.reason(f"reduce: passive {passive_qty:g} below the minimum notional")
        return out
    out.append(TargetOrder(side, px, passive_qty, cfg.oms.passive_tif, True, False, qv, pf,
                           f"reduce u={urgency:.2f}"))
    return out
