"""The per-symbol execution state machine (seed 000 §2.5): modes, mode selection, dispatch.

Owns :class:`SymbolState` (the mode a symbol is in, since when, the taker mode's deadline
and counts of transitions), the risk envelope of the target (:func:`safe_target`), the
taker-versus-maker EV comparison (:func:`taker_maker_ev`), mode selection
(:func:`select_mode`) and :class:`StateMachinePolicy`, which selects a mode and runs its
handler (:mod:`mm.execution.mode_handlers`).

Mode selection, in this order (every threshold is ``ExecutionConfig``):

1. ``|inventory| > max`` -> InventoryReduce{urgency = over_max_urgency}.
2. Toxic (the worse of the snapshot's and the signal's verdicts): Flat when ``|inventory| <=
   toxic_reduce_inv_frac * max``. Holding more, the move's direction decides (the lead-lag
   skew's sign once ``|skew| >= toxic_dir_min_skew_bps``, remembered for the rest of the
   Toxic episode, turned only by ``|skew| >= toxic_dir_flip_skew_bps``): inventory *with* the move -> Flat (cancel everything, keep the position:
   selling it into a move that runs our way gives the gain away); inventory *against* the
   move -> TakerExit{toxic_exit_urgency} once the lead's skew beats the exit's cost (half
   spread + taker fee + ``toxic_exit_min_edge_bps``; Flat until then) (a reduce-only IOC, clipped at ``max(taker clip,
   toxic_exit_clip_frac * max)`` so that one IOC usually sheds it all: the cascade's
   one-sided flow will not take resting reduce-only quotes, or only after the move has
   gone through them); direction unknown (or ``toxic_follow_direction`` off) -> InventoryReduce
   {toxic_reduce_urgency}. Toxicity is consulted before every transition, so Maker is
   never entered while Toxic.
3. A TakerEntry/TakerExit chosen less than ``taker_timeout_ms`` ago persists while the gap
   to the target is still large and in the same direction.
4. ``|target - inventory| > taker_gap_frac * max`` and the taker EV beats the maker EV ->
   TakerExit{urgency = gap / max} when the trade only reduces the position, else
   TakerEntry{direction, taker_timeout_ms}.
5. Near flat (``|inventory| < flat_inv_frac * max`` and ``|target| < flat_target_frac *
   max``) with no candidate level of positive queue value on either side -> Flat.
6. Otherwise Maker.

EV of closing the gap, bps of the traded notional, over the taker horizon T:
``taker = alpha + risk - half_spread - taker_fee``; ``maker = P(fill at the touch in T) *
(queue_value(touch) + alpha + risk)``, where alpha is the lead-lag skew in the trade's
direction and risk = ``inv_risk_coef * gap/max * sigma(T)`` (the inventory risk removed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mm.execution.decision import DecisionBuilder
from mm.execution.mode_handlers import (
    CycleInputs,
    PriceGrid,
    handle_flat,
    handle_inventory_reduce,
    handle_maker,
    handle_taker_entry,
    handle_taker_exit,
)
from mm.execution.models import QueueValueModel
from mm.execution.order_diff import TargetOrder
from mm.models.direction import DirectionModel
from mm.schema import ExecMode, StateSnapshot, Toxicity


class SymbolState:
    """A symbol's mode and its memory across cycles."""

    __slots__ = ("direction", "mode", "mode_since_ns", "taker_until_ns", "toxic_dir", "toxic_exit_since_ns",
                 "transitions", "urgency")

    def __init__(self) -> None:
        self.mode = ExecMode.FLAT
        self.toxic_dir = 0  # the current Toxic episode's move direction (0: unknown or not Toxic)
        self.toxic_exit_since_ns = -1  # the episode's first TakerExit cycle against the move (-1: none yet)
        self.mode_since_ns = 0
        self.direction = 0
        self.urgency = 0.0
        self.taker_until_ns = 0
        self.transitions = 0

    def enter(self, mode: ExecMode, now_ns: int, direction: int = 0, urgency: float = 0.0,
              timeout_ms: int = 0) -> None:
        if mode != self.mode:
            self.transitions += 1
            self.mode_since_ns = now_ns
            if mode in (ExecMode.TAKER_ENTRY, ExecMode.TAKER_EXIT):
                self.taker_until_ns = now_ns + timeout_ms * 1_000_000
        self.mode = mode
        self.direction = direction
        self.urgency = urgency


def safe_target(target: float, max_inv: float, sigma_realized_1m_bps: float, baseline_sigma_bps: float) -> float:
    """The target clamped to ±max, then to ±max scaled down by volatility above the baseline."""
    if not math.isfinite(target):
        return 0.0
    t = min(max(target, -max_inv), max_inv)
    ratio = sigma_realized_1m_bps / baseline_sigma_bps if math.isfinite(sigma_realized_1m_bps) else math.inf
    vol_max = max_inv / max(ratio, 1.0)
    return min(max(t, -vol_max), vol_max)


def taker_maker_ev(inp: CycleInputs, direction: int) -> tuple[float, float]:
    """(taker EV, maker EV) in bps of notional of closing the gap in ``direction``."""
    cfg = inp.cfg
    snap = inp.snap
    horizon_s = cfg.taker_timeout_ms / 1000.0
    half_spread_bps = (snap.best_ask - snap.best_bid) / snap.mid_px * 1e4 / 2.0
    skew = inp.lead_lag_skew_bps
    alpha = direction * skew if math.isfinite(skew) else 0.0
    gap_frac = min(abs(inp.safe_target - inp.inventory) / inp.max_inv, 1.0) if inp.max_inv > 0.0 else 1.0
    risk = cfg.inv_risk_coef * gap_frac * inp.sigma_horizon_bps(horizon_s)
    taker = alpha + risk - half_spread_bps - cfg.models.taker_fee_bps
    touch = inp.touch(direction)
    qv = inp.queue_value(direction, touch, cfg.join_rank_frac)
    p = inp.fill.fill_prob(direction, touch, horizon_s, snap)
    maker = p * (qv + alpha + risk)
    return taker, maker


def positive_qv_sides(qv: QueueValueModel, grid: PriceGrid, snap: StateSnapshot, offsets: Sequence[int],
                      join_rank_frac: float) -> int:
    """Sides (bit 1 bid, bit 2 ask) where some passive candidate level (the touch shifted by
    ``offsets``, kept strictly inside the book's other side) has a queue value > 0, net of
    fees: the opportunity the quoting-uptime figure is measured against. A new better level
    is joined at rank 0, an existing one at ``join_rank_frac``."""
    out = 0
    if not (0.0 < snap.best_bid < snap.best_ask):
        return 0
    for bit, side in ((1, 1), (2, -1)):
        touch = snap.best_bid if side > 0 else snap.best_ask
        opp = snap.best_ask if side > 0 else snap.best_bid
        for k in offsets:
            px = grid.shift(touch, side * k)
            if not (px < opp if side > 0 else px > opp):
                continue
            rank = 0.0 if side * (px - touch) > 0.0 else join_rank_frac
            if qv.queue_value(side, px, rank, snap) > 0.0:
                out |= bit
                break
    return out


def _best_touch_qv(inp: CycleInputs, side: int) -> float:
    """The highest queue value over the passive candidate levels of one side."""
    touch = inp.touch(side)
    join = inp.cfg.join_rank_frac
    pxs: list[float] = []
    ranks: list[float] = []
    for px, _ in inp.offset_levels(side):
        if inp.passive_ok(side, px):
            pxs.append(px)
            ranks.append(0.0 if side * (px - touch) > 0.0 else join)
    best = -math.inf
    if pxs:
        for v in inp.queue_values(side, pxs, ranks):  # one batch call; the same values as one by one
            best = max(best, v)
    return best


def toxic_move_direction(inp: CycleInputs, state: SymbolState) -> int:
    """The direction (+1 up, -1 down, 0 unknown) of the move a Toxic verdict warns of.

    The lead-lag skew's sign once ``|skew| >= toxic_dir_min_skew_bps`` (the lead venue's
    move, :mod:`mm.alpha.leadlag`); kept in ``state.toxic_dir`` for the rest of the Toxic
    episode, since the skew fades as our venue catches up while the move is still under way
    here. A skew against the kept direction replaces it only from ``toxic_dir_flip_skew_bps``
    on: at a cascade's end the divergence overshoots and the skew turns briefly, and exiting
    a position that is with the move on that costs a taker fee for nothing.
    """
    skew = inp.lead_lag_skew_bps
    if not math.isfinite(skew) or skew == 0.0:
        return state.toxic_dir
    d = 1 if skew > 0.0 else -1
    if state.toxic_dir == 0:
        if abs(skew) >= inp.cfg.toxic_dir_min_skew_bps:
            state.toxic_dir = d
    elif d != state.toxic_dir and abs(skew) >= inp.cfg.toxic_dir_flip_skew_bps:
        state.toxic_dir = d
    return state.toxic_dir


def toxic_exit_pays(inp: CycleInputs) -> bool:
    """Whether the lead's expected move (``|skew|``) beats the exit's cost: half the spread
    plus the taker fee plus ``toxic_exit_min_edge_bps``. Below it holding is cheaper in
    expectation (a false alarm's small skew would otherwise buy a taker fee every time)."""
    snap = inp.snap
    skew = inp.lead_lag_skew_bps
    if not (math.isfinite(skew) and snap.mid_px > 0.0):
        return False
    half_spread_bps = (snap.best_ask - snap.best_bid) / snap.mid_px * 1e4 / 2.0
    return abs(skew) - half_spread_bps - inp.cfg.models.taker_fee_bps >= inp.cfg.toxic_exit_min_edge_bps


def select_mode(inp: CycleInputs, state: SymbolState, b: DecisionBuilder) -> None:
    """Choose this cycle's mode (seed 000 §2.5.2 step 4) into ``b`` and ``state``."""
    cfg = inp.cfg
    inv = inp.inventory
    mx = inp.max_inv
    now = inp.now_ns
    if abs(inv) > mx:
        _enter(state, b, now, ExecMode.INVENTORY_REDUCE, "inventory over max", urgency=cfg.over_max_urgency)
        return
    if inp.toxicity >= Toxicity.TOXIC:
        move = toxic_move_direction(inp, state)
        if abs(inv) <= cfg.toxic_reduce_inv_frac * mx:
            _enter(state, b, now, ExecMode.FLAT, "toxic")
        elif not cfg.toxic_follow_direction or move == 0:
            _enter(state, b, now, ExecMode.INVENTORY_REDUCE, "toxic while holding inventory, move direction unknown",
                   urgency=cfg.toxic_reduce_urgency)
        elif move * inv > 0.0:
            _enter(state, b, now, ExecMode.FLAT, "toxic, inventory with the move: hold it, quote nothing")
        elif not toxic_exit_pays(inp):
            _enter(state, b, now, ExecMode.FLAT, "toxic, inventory against the move, exit costs more than the "
                   "expected move: hold it, quote nothing")
        elif (cfg.toxic_exit_max_ms > 0 and state.toxic_exit_since_ns >= 0
              and now - state.toxic_exit_since_ns >= cfg.toxic_exit_max_ms * 1_000_000):
            _enter(state, b, now, ExecMode.FLAT, "toxic, inventory against the move, exit window spent: hold the "
                   "rest, quote nothing")
        else:
            if state.toxic_exit_since_ns < 0:
                state.toxic_exit_since_ns = now
            _enter(state, b, now, ExecMode.TAKER_EXIT, "toxic, inventory against the move: exit",
                   direction=move, urgency=cfg.toxic_exit_urgency, timeout_ms=cfg.taker_timeout_ms)
        return
    state.toxic_dir = 0
    state.toxic_exit_since_ns = -1
    gap = inp.safe_target - inv
    big_gap = abs(gap) > cfg.taker_gap_frac * mx
    direction = 1 if gap > 0.0 else -1
    if (
        state.mode in (ExecMode.TAKER_ENTRY, ExecMode.TAKER_EXIT)
        and now < state.taker_until_ns
        and big_gap
        and direction == state.direction
    ):
        _enter(state, b, now, state.mode, "taker mode persists until its timeout", direction=direction,
               urgency=min(abs(gap) / mx, 1.0), timeout_ms=cfg.taker_timeout_ms)
        return
    if big_gap:
        taker, maker = taker_maker_ev(inp, direction)
        b.taker_ev_bps = taker
        b.maker_ev_bps = maker
        if taker > maker:
            reduces = inv != 0.0 and direction == (-1 if inv > 0.0 else 1) and inp.safe_target * inv >= 0.0
            if reduces:
                _enter(state, b, now, ExecMode.TAKER_EXIT, "gap to target, taker EV beats maker EV, reducing",
                       direction=direction, urgency=min(abs(gap) / mx, 1.0), timeout_ms=cfg.taker_timeout_ms)
            else:
                _enter(state, b, now, ExecMode.TAKER_ENTRY, "gap to target, taker EV beats maker EV",
                       direction=direction, urgency=min(abs(gap) / mx, 1.0), timeout_ms=cfg.taker_timeout_ms)
            state.taker_until_ns = now + cfg.taker_timeout_ms * 1_000_000  # a fresh choice, a fresh timeout
            return
    if abs(inv) < cfg.flat_inv_frac * mx and abs(inp.safe_target) < cfg.flat_target_frac * mx:
        if _best_touch_qv(inp, 1) <= 0.0 and _best_touch_qv(inp, -1) <= 0.0:
            _enter(state, b, now, ExecMode.FLAT, "near flat, no positive queue value on either side")
            return
    _enter(state, b, now, ExecMode.MAKER, "maker")


def _enter(state: SymbolState, b: DecisionBuilder, now_ns: int, mode: ExecMode, reason: str, direction: int = 0,
           urgency: float = 0.0, timeout_ms: int = 0) -> None:
    state.enter(mode, now_ns, direction, urgency, timeout_ms)
    b.set_mode(mode, reason, direction, timeout_ms, urgency)


def side_gate(inp: CycleInputs, b: DecisionBuilder, out: list[TargetOrder]) -> list[TargetOrder]:
    """Maker's passive quotes less those on a side our own book predicts the mid moves through.

    ``m = (microprice - mid) / half spread`` (in [-1, 1] inside the book): on a one-tick book
    the microprice leans towards the thin side, where the next tick is likelier to go. With
    ``side_gate_micro > 0`` the bid is withdrawn when ``m <= -side_gate_micro`` and the ask
    when ``m >= side_gate_micro``; orders that only reduce the position are kept.
    """
    g = inp.cfg.side_gate_micro
    snap = inp.snap
    half = (snap.best_ask - snap.best_bid) / 2.0
    if g <= 0.0 or not out or not half > 0.0 or not math.isfinite(snap.microprice):
        return out
    m = (snap.microprice - snap.mid_px) / half
    drop = 1 if m <= -g else (-1 if m >= g else 0)
    if drop == 0:
        return out
    kept = [t for t in out if t.aggressive or t.reduce_only or t.side != drop]
    if len(kept) != len(out):
        b.reason(f"side gate: {'bid' if drop > 0 else 'ask'} withdrawn, microprice at {m:+.2f} of the half spread")
    return kept


def lead_gate(inp: CycleInputs, b: DecisionBuilder, out: list[TargetOrder]) -> list[TargetOrder]:
    """Maker's passive quotes less the one the lead venue's move is about to run over.

    The lead-lag skew (:mod:`mm.alpha.leadlag`, bps, + = our mid expected to rise within
    the lead) prices the predicted drift into the quote on the side it runs against: with
    ``|skew| >= lead_gate_min_skew_bps`` the bid (skew < 0) or the ask (skew > 0) is
    withdrawn when its queue value (bps, net of fees) less ``lead_gate_drift_weight *
    |skew|`` falls below ``min_queue_value_bps``: a fill there is expected to be marked
    through by the move. The other side is kept (the move runs away from it), and so are
    reduce-only and aggressive orders. No skew (NaN or 0: no Binance data, or no alarm):
    nothing changes. One comparison per cycle when there is no skew.
    """
    skew = inp.lead_lag_skew_bps
    cfg = inp.cfg
    thr = cfg.lead_gate_min_skew_bps
    if not (skew >= thr or skew <= -thr) or not cfg.lead_gate or not out:  # NaN: no gate
        return out
    drop = -1 if skew > 0.0 else 1
    drift = cfg.lead_gate_drift_weight * abs(skew)
    qv_min = cfg.min_queue_value_bps
    kept: list[TargetOrder] = []
    for t in out:
        qv = t.queue_value_bps
        if t.side != drop or t.aggressive or t.reduce_only or (qv is not None and qv - drift >= qv_min):
            kept.append(t)
        else:
            b.reason(f"lead gate: {'bid' if drop > 0 else 'ask'} at {t.px:g} withdrawn, lead skew {skew:+.2f} bps "
                     f"against it beats its queue value {qv if qv is not None else float('nan'):.2f} bps")
    return kept


def direction_gate(inp: CycleInputs, b: DecisionBuilder, out: list[TargetOrder],
                   model: DirectionModel | None) -> list[TargetOrder]:
    """Maker's passive quotes less those whose fill the direction model expects to be run over.

    With ``direction_gate`` on and a fitted model for the symbol
    (:mod:`mm.models.direction`, fitted on the warm-up), a passive quote is withdrawn when
    P(its fill is adverse at the 5 s markout) > the threshold: ``direction_gate_prob`` when
    > 0, else the one chosen with the model on the warm-up's hold-out. The quote's queue rank
    is our resting order's where the price is unchanged, 0 on a new better level, else
    ``join_rank_frac``. Orders that only reduce the position, and aggressive ones, are kept.
    """
    cfg = inp.cfg
    if model is None or not cfg.direction_gate or not out:
        return out
    thr = cfg.direction_gate_prob if cfg.direction_gate_prob > 0.0 else model.threshold
    if thr >= 1.0:
        return out
    snap = inp.snap
    kept: list[TargetOrder] = []
    for t in out:
        if t.aggressive or t.reduce_only:
            kept.append(t)
            continue
        live_px = inp.live_bid_px if t.side > 0 else inp.live_ask_px
        touch = inp.touch(t.side)
        if live_px > 0.0 and t.px == live_px:
            rank = inp.live_bid_rank if t.side > 0 else inp.live_ask_rank
            if not 0.0 <= rank <= 1.0:  # rank unknown
                rank = cfg.join_rank_frac
        elif t.side * (t.px - touch) > 0.0:
            rank = 0.0
        else:
            rank = cfg.join_rank_frac
        p = model.adverse_prob(t.side, t.px, rank, snap)
        if p > thr:
            b.reason(f"direction gate: {'bid' if t.side > 0 else 'ask'} at {t.px:g} withdrawn, "
                     f"P(adverse at 5 s) {p:.2f} > {thr:.2f}")
        else:
            kept.append(t)
    return kept


class StateMachinePolicy:
    """The design policy: select a mode, then run its handler.

    ``direction_models``: per symbol id, the fitted direction model the Maker quotes are
    gated by (:func:`direction_gate`; empty: no gate, whatever the config says)."""

    name = "state_machine"

    def __init__(self, direction_models: dict[int, DirectionModel] | None = None) -> None:
        self.direction_models: dict[int, DirectionModel] = dict(direction_models or {})

    def decide(self, inp: CycleInputs, state: SymbolState, b: DecisionBuilder) -> list[TargetOrder]:
        select_mode(inp, state, b)
        mode = state.mode
        if mode == ExecMode.MAKER:
            out = lead_gate(inp, b, side_gate(inp, b, handle_maker(inp, b)))
            if self.direction_models:
                out = direction_gate(inp, b, out, self.direction_models.get(inp.snap.symbol_id))
            return out
        if mode == ExecMode.TAKER_ENTRY:
            return handle_taker_entry(inp, b, state.direction)
        if mode == ExecMode.TAKER_EXIT:
            if inp.toxicity >= Toxicity.TOXIC:  # the exit against a toxic move: at once, not in clips,
                cfg = inp.cfg                      # with a limit the move cannot outrun in an order latency
                inp.taker_clip_qty = max(inp.taker_clip_qty, cfg.toxic_exit_clip_frac * inp.max_inv)
                return handle_taker_exit(inp, b, state.urgency,
                                         max(cfg.taker_max_slippage_bps, cfg.toxic_exit_slippage_bps))
            return handle_taker_exit(inp, b, state.urgency)
        if mode == ExecMode.INVENTORY_REDUCE:
            return handle_inventory_reduce(inp, b, state.urgency)
        return handle_flat(inp, b)
