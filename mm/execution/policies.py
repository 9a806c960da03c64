"""Baseline quoting policies kept selectable for comparison, and the dry-run order.

Owns:

- :func:`glft_deltas` and :class:`GlftPolicy`: the GLFT quoter (Guéant-Lehalle-Fernandez-
  Tapia, asymptotic closed form): half-spread ``delta* = (1/gamma) ln(1 + gamma/kappa)``
  and an inventory skew that moves both quotes against the position. ``gamma > 0``,
  ``kappa > 0`` and ``A > 0`` are checked on every call (config validation checks them
  too): the formula has no meaning, and blows up, at zero.
- :class:`TouchPolicy`: the naive touch quoter (best bid and best ask).
- :func:`dry_run_target`: seed 002 level 2's order (far from the touch, just above the
  minimum notional; the OMS cancels it as soon as it is acked).

Baselines quote with no queue-value gate and never go Flat on edge: that is what they are
for (the architecture notes measured exactly these losing after fees). They still obey
everything that is not policy: the worst-case inventory headroom, risk's allowed sides,
reduce-only, size and spread multipliers, the kill switch and the OMS limits. Their
decision records carry the queue value and fill probability of what they quoted, so a
replay can compare them with the state machine on the same terms.
"""

from __future__ import annotations

import math

from mm.execution.decision import CandidateRecord, DecisionBuilder
from mm.execution.mode_handlers import CycleInputs
from mm.execution.order_diff import TargetOrder
from mm.execution.state_machine import SymbolState
from mm.schema import ExecMode


def glft_deltas(q: float, sigma_bps_per_sqrt_s: float, gamma_per_bps: float, kappa_per_bps: float,
                arrival_rate_per_s: float) -> tuple[float, float]:
    """GLFT optimal distances from the mid (bid, ask) in bps for inventory ``q`` in quote sizes.

    ``delta_b = d0 + (2q + 1)/2 * c`` and ``delta_a = d0 - (2q - 1)/2 * c`` with
    ``d0 = ln(1 + gamma/kappa)/gamma`` and ``c = sqrt(sigma^2 gamma / (2 kappa A) *
    (1 + gamma/kappa)^(1 + kappa/gamma))``. Raises ValueError unless gamma, kappa and A are
    finite and > 0 and sigma is finite and >= 0.
    """
    if not (math.isfinite(gamma_per_bps) and gamma_per_bps > 0.0):
        raise ValueError(f"gamma must be > 0, got {gamma_per_bps!r}")
    if not (math.isfinite(kappa_per_bps) and kappa_per_bps > 0.0):
        raise ValueError(f"kappa must be > 0, got {kappa_per_bps!r}")
    if not (math.isfinite(arrival_rate_per_s) and arrival_rate_per_s > 0.0):
        raise ValueError(f"arrival rate must be > 0, got {arrival_rate_per_s!r}")
    if not (math.isfinite(sigma_bps_per_sqrt_s) and sigma_bps_per_sqrt_s >= 0.0):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma_bps_per_sqrt_s!r}")
    ratio = gamma_per_bps / kappa_per_bps
    d0 = math.log1p(ratio) / gamma_per_bps
    c = math.sqrt(
        sigma_bps_per_sqrt_s**2 * gamma_per_bps / (2.0 * kappa_per_bps * arrival_rate_per_s)
        * (1.0 + ratio) ** (1.0 + 1.0 / ratio)
    )
    return d0 + (2.0 * q + 1.0) / 2.0 * c, d0 - (2.0 * q - 1.0) / 2.0 * c


def _record(inp: CycleInputs, b: DecisionBuilder, side: int, px: float, qty: float) -> tuple[float, float]:
    snap = inp.snap
    touch = inp.touch(side)
    rank = 0.0 if side * (px - touch) > 0.0 else inp.cfg.join_rank_frac
    qv = inp.qv.queue_value(side, px, rank, snap)
    pf = inp.fill.fill_prob(side, px, inp.cfg.fill_horizon_s, snap)
    b.candidate(CandidateRecord(side, px, 0, rank, qv, pf, 0.0, qv, True, ""))
    return qv, pf


def _two_sided(inp: CycleInputs, b: DecisionBuilder, bid_px: float, ask_px: float, tag: str) -> list[TargetOrder]:
    """Size both quotes, keep them passive and uncrossed, and record them."""
    grid = inp.grid
    snap = inp.snap
    bid_px = min(bid_px, grid.down(snap.best_ask))
    ask_px = max(ask_px, grid.up(snap.best_bid))
    if ask_px <= bid_px:
        ask_px = max(grid.up(bid_px), grid.up(snap.best_bid))
    out: list[TargetOrder] = []
    for side, px in ((1, bid_px), (-1, ask_px)):
        qty = grid.floor_qty(min(inp.quote_qty * inp.size_mult, max(inp.headroom(side), 0.0)))
        if qty <= 0.0 or not inp.notional_ok(px, qty) or not inp.passive_ok(side, px):
            b.reason(f"{tag} {'bid' if side > 0 else 'ask'}: not quoted (size {qty:g}, px {px:g})")
            continue
        qv, pf = _record(inp, b, side, px, qty)
        out.append(TargetOrder(side, px, qty, inp.cfg.oms.passive_tif, False, False, qv, pf, tag))
    mode = ExecMode.MAKER if out else ExecMode.FLAT
    b.set_mode(mode, f"{tag} baseline")
    return out


class GlftPolicy:
    """GLFT quotes around the mid with inventory skew, widened by the spread multiplier."""

    name = "glft"

    def decide(self, inp: CycleInputs, state: SymbolState, b: DecisionBuilder) -> list[TargetOrder]:
        g = inp.cfg.glft
        snap = inp.snap
        sigma = snap.sigma_realized_1m / math.sqrt(60.0) if math.isfinite(snap.sigma_realized_1m) else 0.0
        sigma = max(sigma, g.min_sigma_bps_per_sqrt_s)
        q = inp.inventory / inp.quote_qty if inp.quote_qty > 0.0 else 0.0
        db, da = glft_deltas(q, sigma, g.gamma_per_bps, g.kappa_per_bps, g.arrival_rate_per_s)
        mult = max(inp.spread_mult, 1.0)
        cap = g.max_half_spread_bps
        db = min(max(db * mult, -cap), cap)
        da = min(max(da * mult, -cap), cap)
        mid = snap.mid_px
        bid_px = inp.grid.floor_px(mid * (1.0 - db / 1e4))
        ask_px = inp.grid.ceil_px(mid * (1.0 + da / 1e4))
        out = _two_sided(inp, b, bid_px, ask_px, "glft")
        state.enter(b.mode, inp.now_ns)
        return out


class TouchPolicy:
    """The naive touch quoter: best bid and best ask (pushed out by a spread multiplier > 1)."""

    name = "touch"

    def decide(self, inp: CycleInputs, state: SymbolState, b: DecisionBuilder) -> list[TargetOrder]:
        snap = inp.snap
        bid_px, ask_px = snap.best_bid, snap.best_ask
        if inp.spread_mult > 1.0:
            half = (ask_px - bid_px) / 2.0 * inp.spread_mult
            bid_px = min(bid_px, inp.grid.floor_px(snap.mid_px - half))
            ask_px = max(ask_px, inp.grid.ceil_px(snap.mid_px + half))
        out = _two_sided(inp, b, bid_px, ask_px, "touch")
        state.enter(b.mode, inp.now_ns)
        return out


def dry_run_target(inp: CycleInputs, side: int) -> TargetOrder | None:
    """A post-only order ``dry_run_offset_bps`` behind the touch, just above the minimum notional."""
    cfg = inp.cfg
    grid = inp.grid
    touch = inp.touch(side)
    raw = touch * (1.0 - side * cfg.dry_run_offset_bps / 1e4)
    if raw <= 0.0:
        return None
    px = grid.floor_px(raw) if side > 0 else grid.ceil_px(raw)
    notional = max(cfg.dry_run_notional_usd, inp.min_notional_usd)
    lots = math.ceil(notional / px / grid.lot - 1e-9)
    qty = round(lots * grid.lot, grid.sz_decimals)
    if not inp.notional_ok(px, qty):
        qty = round(qty + grid.lot, grid.sz_decimals)
    return TargetOrder(side, px, qty, "Alo", False, False, reason="dry_run")
