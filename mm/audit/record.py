"""The audit messages: what one quote cycle saw and did, our fills joined to the cycle that
placed their order, and risk's periodic status (confidence components, PnL, limits).

Three ring/recording messages, flat msgspec structs encoded as msgpack arrays whose first
element is the type tag, exactly like :mod:`mm.schema`'s (``tag_field="t"``), so the codec
union can carry them:

- :class:`CycleDecisionRecord` (tag 60): seed 002's decision record, one per decision cycle
  per symbol. Execution publishes it on the ``audit`` ring (built with
  :func:`from_decision` from its ``DecisionRecord``); the monitor adds what only it knows
  (the fills seen since the symbol's previous cycle, the PnL delta, the position after, risk's
  confidence and model scores, the wall time) and writes it to the audit files.
- :class:`AuditFill` (tag 61): one of our fills joined to the cycle whose order it filled.
  Written by the monitor into the audit files only (it travels on no ring).
- :class:`RiskStatus` (tag 62): risk's periodic summary (built with :func:`risk_status`
  from ``RiskAuthority.status()``): the confidence components behind ControlState's single
  size multiplier, PnL and drawdown, limits, model scorecards. Published on the ``ctl`` ring.

Units are in the names (``_bps``, ``_qty``, ``_px``, ``_usd``, ``_ns``); NaN means "not
measured this cycle". This module imports nothing of mm at run time, so mm.schema can import
it. Nothing here carries a key or a signature: only prices, sizes, ids and reasons.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import msgspec

if TYPE_CHECKING:  # only for the type checker: no run-time import of mm (see the docstring)
    from mm.execution.decision import DecisionRecord
    from mm.execution.rate_limit import RateLimiter
    from mm.schema import AlphaSignal

CYCLE_DECISION_TAG: Final = 60
AUDIT_FILL_TAG: Final = 61
RISK_STATUS_TAG: Final = 62

MAX_TEXT_CHARS: Final = 160
"""Reasons and free text are cut to this many characters (records stay small)."""

MODE_NAMES: Final[tuple[str, ...]] = ("FLAT", "MAKER", "TAKER_ENTRY", "TAKER_EXIT", "INVENTORY_REDUCE")
SAFETY_NAMES: Final[tuple[str, ...]] = ("GREEN", "YELLOW", "ORANGE", "RED", "KILL")
EXPOSURE_NAMES: Final[tuple[str, ...]] = ("SHADOW", "MICRO_LIVE", "RAMPING", "CAUTIOUS", "FULL", "OPTIMIZED")
# The names above are mm.schema's ExecMode, SafetyLevel and ExposureLevel, repeated here so
# this module needs no import of mm.schema (tests/audit check they agree).


def level_name(names: tuple[str, ...], value: int) -> str:
    """The name of an enum value, or its number when out of range (-1: unknown)."""
    return names[value] if 0 <= value < len(names) else str(value)


class _Part(msgspec.Struct, array_like=True, frozen=True):
    """Base of the nested parts of a record (encoded as arrays: compact)."""


class _AuditMsg(msgspec.Struct, array_like=True, frozen=True, tag_field="t"):
    """Base of the tagged audit messages (the tag is the first array element)."""


# --------------------------------------------------------------------------- parts


class MarketState(_Part, frozen=True):
    """The market as the cycle saw it (from the feature snapshot and the alpha signal)."""

    best_bid_px: float
    best_ask_px: float
    mid_px: float
    microprice_px: float
    spread_bps: float
    sigma_ewma: float
    sigma_realized_1m: float
    regime: int
    toxicity: int
    toxic_prob: float
    ofi_500ms: float
    snapshot_seq: int
    snapshot_ts_ns: int
    signal_seq: int
    signal_ts_ns: int


class Confidence(_Part, frozen=True):
    """TradingConfidence (seed 002): components in [0, 1] and what they imply."""

    overall: float
    model: float
    execution: float
    safety: float
    implied_level: int = -1


class ModelScore(_Part, frozen=True):
    """One model's live scorecard (seed 002 ModelScorecard, the fields that decide)."""

    name: str
    verdict: str
    score: float
    weight: float
    brier_score: float
    information_ratio: float


class SignalAdjustment(_Part, frozen=True):
    """One signal's contribution to the cycle's decision, with its unit in ``unit``."""

    name: str
    value: float
    unit: str


class RiskOverlay(_Part, frozen=True):
    """Risk's ControlState as applied this cycle, and what it removed."""

    control_seq: int
    safety_level: int
    exposure_level: int
    size_multiplier: float
    spread_multiplier: float
    reduce_only: bool
    allowed_sides: int
    killed: bool
    effects: list[str] = msgspec.field(default_factory=list)


class QuoteLevel(_Part, frozen=True):
    """One order the cycle wanted resting or sent (after the risk overlay)."""

    side: int
    px: float
    qty: float
    tif: str
    reduce_only: bool
    aggressive: bool
    reason: str = ""


class Candidate(_Part, frozen=True):
    """One evaluated price level, with why it was or was not chosen."""

    side: int
    px: float
    offset_ticks: int
    queue_value_bps: float
    p_fill: float
    epnl_bps: float
    chosen: bool
    reject: str = ""


class OrderRef(_Part, frozen=True):
    """One order action the cycle sent: ``kind`` place, modify, cancel (or reconcile)."""

    kind: str
    cloid: str
    side: int
    px: float
    qty: float
    tif: str = ""
    reduce_only: bool = False
    replaces: str = ""


class FillRef(_Part, frozen=True):
    """One of our fills. ``trade_id`` is the venue's trade id (the fill id of ``mmctl audit``)."""

    ts_ns: int
    cloid: str
    oid: int
    trade_id: int
    side: int
    px: float
    qty: float
    fee_usd: float
    is_maker: bool
    mid_px: float = 0.0


class RateBudget(_Part, frozen=True):
    """The venue request budgets as execution's limiter counted them at the cycle."""

    ip_weight_used: int
    ip_weight_limit: int
    address_used: int
    address_cap: int
    refused: int


class PositionRow(_Part, frozen=True):
    """One symbol's position against its limit, as risk sees it."""

    symbol_id: int
    coin: str
    qty: float
    mark_px: float
    notional_usd: float
    cap_usd: float
    share: float
    par_usd: float


# --------------------------------------------------------------------------- messages


class CycleDecisionRecord(_AuditMsg, tag=CYCLE_DECISION_TAG, frozen=True, kw_only=True):
    """Why the cycle did what it did (seed 002, Engineer 6), one per decision cycle per symbol.

    Input state: ``market``, ``inventory_qty``, targets, ``confidence``, ``model_scores``,
    ``safety_level``. Decision chain: ``raw_spread_bps`` / ``raw_skew_bps`` (the policy's
    chosen levels, before the risk overlay: the spread between the chosen bid and ask and
    their centre's distance from the mid, NaN without a chosen pair), ``signal_adjustments``,
    ``risk_overlay``, ``exposure_scaling`` (ControlState's size multiplier), ``final_quotes``
    and ``final_spread_bps`` (what was wanted resting after the overlay). Execution: the
    orders placed, modified, cancelled, and ``orders_latched`` (wanted orders already resting,
    left alone). Outcome, added by the monitor: ``fills`` since the symbol's previous cycle,
    ``pnl_delta_usd`` / ``pnl_delta_bps`` (marked PnL change since then, bps of the position's
    notional) and ``position_after_qty``. ``truncated`` is set when candidates or reasons were
    dropped to fit the ring slot.
    """

    ts_ns: int
    cycle: int
    symbol_id: int
    symbol: str
    origin_ts_ns: int
    policy: str
    market: MarketState
    inventory_qty: float
    target_inventory_qty: float
    safe_target_qty: float
    max_inventory_qty: float
    quote_qty: float
    safety_level: int
    exposure_level: int
    mode: int
    mode_name: str
    mode_reason: str
    direction: int
    urgency: float
    raw_spread_bps: float
    raw_skew_bps: float
    signal_adjustments: list[SignalAdjustment]
    risk_overlay: RiskOverlay
    exposure_scaling: float
    final_spread_bps: float
    final_quotes: list[QuoteLevel]
    taker_ev_bps: float
    maker_ev_bps: float
    candidates: list[Candidate]
    orders_placed: list[OrderRef]
    orders_modified: list[OrderRef]
    orders_cancelled: list[OrderRef]
    orders_other: list[OrderRef]
    orders_latched: int
    reasons: list[str]
    rate: RateBudget | None = None
    truncated: bool = False
    # filled in by the monitor
    wall_ns: int = 0
    confidence: Confidence | None = None
    model_scores: list[ModelScore] = msgspec.field(default_factory=list)
    fills: list[FillRef] = msgspec.field(default_factory=list)
    pnl_delta_usd: float = math.nan
    pnl_delta_bps: float = math.nan
    position_after_qty: float = math.nan


class AuditFill(_AuditMsg, tag=AUDIT_FILL_TAG, frozen=True, kw_only=True):
    """One of our fills and the cycle whose order it filled (``placed_cycle`` -1: unknown,
    e.g. an order placed before the monitor started). Written by the monitor."""

    ts_ns: int
    wall_ns: int
    symbol_id: int
    symbol: str
    fill: FillRef
    placed_cycle: int
    placed_ts_ns: int
    position_after_qty: float
    realized_pnl_usd: float


class RiskStatus(_AuditMsg, tag=RISK_STATUS_TAG, frozen=True, kw_only=True):
    """Risk's periodic summary for the monitor and the audit trail (published on ``ctl``)."""

    ts_ns: int
    wall_ns: int
    seq: int
    safety_level: int
    safety_reason: str
    safety_since_s: float
    exposure_level: int
    size_multiplier: float
    confidence: Confidence
    capital_usd: float
    equity_usd: float
    total_pnl_usd: float
    drawdown_pct: float
    max_drawdown_pct: float
    position_share: float
    par_usd: float
    par_budget_usd: float
    exchange_health: str
    positions: list[PositionRow]
    models: list[ModelScore]
    active_conditions: list[str] = msgspec.field(default_factory=list)


# --------------------------------------------------------------------------- builders


def _text(s: str) -> str:
    return s if len(s) <= MAX_TEXT_CHARS else s[: MAX_TEXT_CHARS - 1] + "…"


def _f(x: Any) -> float:
    """A float from an optional number (None and non-numbers are NaN)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return math.nan
    return float(x)


def _spread_and_skew(bids: Iterable[float], asks: Iterable[float], mid: float) -> tuple[float, float]:
    """Spread between the best bid and ask and their centre's offset from the mid, in bps."""
    b = max(bids, default=math.nan)
    a = min(asks, default=math.nan)
    if not (mid > 0.0 and b > 0.0 and a > 0.0):
        return math.nan, math.nan
    return (a - b) / mid * 1e4, ((a + b) / 2.0 - mid) / mid * 1e4


def rate_budget(limiter: RateLimiter, now_ns: int) -> RateBudget:
    """The limiter's budgets now (IP weight in the last 60 s, the address's life budget)."""
    return RateBudget(
        ip_weight_used=limiter.ip_weight_used(now_ns),
        ip_weight_limit=int(limiter.cfg.ip_weight_per_min),
        address_used=int(limiter.address_used),
        address_cap=int(limiter.address_cap()),
        refused=int(limiter.refused),
    )


def from_decision(
    d: DecisionRecord,
    *,
    symbol: str,
    signal: AlphaSignal | None = None,
    snapshot_ts_ns: int = 0,
    rate: RateBudget | None = None,
    wall_ns: int = 0,
) -> CycleDecisionRecord:
    """The audit record of execution's ``DecisionRecord`` (mm.execution.decision).

    Numbers execution leaves out (None: "not evaluated") become NaN here.

    ``signal``: the AlphaSignal the cycle used (its lead-lag skew and divergence become
    signal adjustments, its time a latency hop); ``snapshot_ts_ns``: the feature snapshot's
    time; ``rate``: :func:`rate_budget` of execution's limiter.
    """
    mid = _f(d.mid_px)
    chosen = [c for c in d.candidates if c.chosen]
    raw_spread, raw_skew = _spread_and_skew(
        (c.px for c in chosen if c.side > 0), (c.px for c in chosen if c.side < 0), mid
    )
    passive = [t for t in d.targets if not t.aggressive]
    final_spread, _ = _spread_and_skew(
        (t.px for t in passive if t.side > 0), (t.px for t in passive if t.side < 0), mid
    )
    adjustments = [
        SignalAdjustment("alpha_target_inventory", d.target_inventory_qty, "qty"),
        SignalAdjustment("safe_target_inventory", d.safe_target_qty, "qty"),
        SignalAdjustment("toxic_prob", d.toxic_prob, "prob"),
    ]
    if signal is not None:
        adjustments.append(SignalAdjustment("lead_lag_skew", signal.lead_lag_skew_bps, "bps"))
        adjustments.append(SignalAdjustment("divergence", signal.divergence_bps, "bps"))
        if signal.changepoint:
            adjustments.append(SignalAdjustment("changepoint", 1.0, "flag"))
    effects = [_text(r) for r in d.reasons if "risk" in r or "kill" in r]
    overlay = RiskOverlay(
        control_seq=d.control_seq, safety_level=d.safety_level, exposure_level=d.exposure_level,
        size_multiplier=d.size_multiplier, spread_multiplier=d.spread_multiplier,
        reduce_only=d.control_reduce_only, allowed_sides=d.allowed_sides, killed=d.killed, effects=effects,
    )
    placed: list[OrderRef] = []
    modified: list[OrderRef] = []
    cancelled: list[OrderRef] = []
    other: list[OrderRef] = []
    for a in d.actions:
        ref = OrderRef(a.kind, a.cloid, a.side, a.px, a.qty, a.tif, a.reduce_only, a.replaces)
        {"place": placed, "modify": modified, "cancel": cancelled}.get(a.kind, other).append(ref)
    sent = {(o.side, o.px) for o in placed + modified}
    latched = sum(1 for t in d.targets if (t.side, t.px) not in sent)
    return CycleDecisionRecord(
        ts_ns=d.ts_ns, cycle=d.cycle, symbol_id=d.symbol_id, symbol=symbol, origin_ts_ns=d.origin_ts_ns,
        policy=d.policy,
        market=MarketState(
            best_bid_px=_f(d.best_bid), best_ask_px=_f(d.best_ask), mid_px=mid, microprice_px=_f(d.microprice),
            spread_bps=_f(d.spread_bps), sigma_ewma=_f(d.sigma_ewma), sigma_realized_1m=_f(d.sigma_realized_1m),
            regime=d.regime, toxicity=d.toxicity, toxic_prob=_f(d.toxic_prob), ofi_500ms=_f(d.ofi_500ms),
            snapshot_seq=d.snapshot_seq, snapshot_ts_ns=snapshot_ts_ns, signal_seq=d.signal_seq,
            signal_ts_ns=signal.ts_ns if signal is not None else 0,
        ),
        inventory_qty=d.inventory_qty, target_inventory_qty=d.target_inventory_qty,
        safe_target_qty=d.safe_target_qty, max_inventory_qty=d.max_inventory_qty, quote_qty=d.quote_qty,
        safety_level=d.safety_level, exposure_level=d.exposure_level,
        mode=d.mode, mode_name=d.mode_name, mode_reason=_text(d.mode_reason), direction=d.direction,
        urgency=d.urgency, raw_spread_bps=raw_spread, raw_skew_bps=raw_skew, signal_adjustments=adjustments,
        risk_overlay=overlay, exposure_scaling=d.size_multiplier, final_spread_bps=final_spread,
        final_quotes=[QuoteLevel(t.side, t.px, t.qty, t.tif, t.reduce_only, t.aggressive, _text(t.reason))
                      for t in d.targets],
        taker_ev_bps=_f(d.taker_ev_bps), maker_ev_bps=_f(d.maker_ev_bps),
        candidates=[Candidate(c.side, _f(c.px), c.offset_ticks, _f(c.queue_value_bps), _f(c.p_fill), _f(c.epnl_bps),
                              c.chosen, _text(c.reject)) for c in d.candidates],
        orders_placed=placed, orders_modified=modified, orders_cancelled=cancelled, orders_other=other,
        orders_latched=latched, reasons=[_text(r) for r in d.reasons], rate=rate, wall_ns=wall_ns,
    )


def shrink_to_fit(rec: CycleDecisionRecord, max_bytes: int,
                  encode: Any = msgspec.msgpack.encode) -> tuple[CycleDecisionRecord, bytes]:
    """The record and its encoding, made to fit ``max_bytes`` (a ring slot's payload).

    Drops, in order, until it fits: unchosen candidates, reasons beyond the first four,
    every candidate, every reason. Orders, quotes and the rest are never dropped; if they
    alone do not fit, ``ValueError`` says by how much (the ring's slot is too small).
    """
    data: bytes = encode(rec)
    if len(data) <= max_bytes:
        return rec, data
    steps: tuple[dict[str, Any], ...] = (
        {"candidates": [c for c in rec.candidates if c.chosen]},
        {"reasons": rec.reasons[:4]},
        {"candidates": []},
        {"reasons": []},
    )
    for change in steps:
        rec = msgspec.structs.replace(rec, truncated=True, **change)
        data = encode(rec)
        if len(data) <= max_bytes:
            return rec, data
    raise ValueError(f"decision record is {len(data)} bytes without candidates or reasons; the slot holds {max_bytes}")


def fill_ref(fill: Any) -> FillRef:
    """A FillRef of an mm.schema.Fill (duck-typed: any object with its fields)."""
    return FillRef(
        ts_ns=int(fill.ts_ns), cloid=str(fill.cloid), oid=int(fill.oid), trade_id=int(fill.trade_id),
        side=int(fill.side), px=float(fill.px), qty=float(fill.qty), fee_usd=float(fill.fee),
        is_maker=bool(fill.is_maker), mid_px=float(getattr(fill, "mid_px", 0.0)),
    )


def risk_status(status: Mapping[str, Any], *, ts_ns: int, wall_ns: int, seq: int, max_models: int = 8,
                max_conditions: int = 4, max_bytes: int = 1000) -> RiskStatus:
    """A RiskStatus from ``RiskAuthority.status(now_ns)`` (mm.risk.authority), for the ctl ring.

    Risk's process publishes it about once a second:
    ``self.publish("ctl", risk_status(self.authority.status(now), ts_ns=now, wall_ns=time.time_ns(), seq=n))``.
    Missing sections read as NaN / empty, so an older or newer status dict still converts.
    The result encodes to at most ``max_bytes`` (the ctl ring's slot payload; default for
    slot_size 1024): conditions, then models, then reasons are shortened until it does.
    """
    safety = dict(status.get("safety") or {})
    exposure = dict(status.get("exposure") or {})
    conf = dict(status.get("confidence") or {})
    pnl = dict(status.get("pnl") or {})
    limits = dict(status.get("limits") or {})
    models = dict((status.get("validation") or {}).get("models") or {})
    implied = str(conf.get("implied_level", ""))
    rows = []
    for r in limits.get("symbols") or []:
        rows.append(PositionRow(
            symbol_id=int(r.get("symbol_id", -1)), coin=str(r.get("coin", "")), qty=_f(r.get("qty")),
            mark_px=_f(r.get("mark_px")), notional_usd=_f(r.get("notional_usd")), cap_usd=_f(r.get("cap_usd")),
            share=_f(r.get("share")), par_usd=_f(r.get("par_usd")),
        ))
    scores = []
    for name, card in sorted(models.items())[:max_models]:
        scores.append(ModelScore(
            name=_text(str(name)), verdict=str(card.get("verdict", "")), score=_f(card.get("score")),
            weight=_f(card.get("weight")), brier_score=_f(card.get("brier_score")),
            information_ratio=_f(card.get("information_ratio")),
        ))
    level = str(exposure.get("level", ""))
    rs = RiskStatus(
        ts_ns=ts_ns, wall_ns=wall_ns, seq=seq,
        safety_level=SAFETY_NAMES.index(str(safety.get("level"))) if safety.get("level") in SAFETY_NAMES else -1,
        safety_reason=_text(str(safety.get("reason", ""))), safety_since_s=_f(safety.get("since_s")),
        exposure_level=EXPOSURE_NAMES.index(level) if level in EXPOSURE_NAMES else -1,
        size_multiplier=_f(exposure.get("size_multiplier")),
        confidence=Confidence(
            overall=_f(conf.get("overall")), model=_f(conf.get("model")), execution=_f(conf.get("execution")),
            safety=_f(conf.get("safety")),
            implied_level=EXPOSURE_NAMES.index(implied) if implied in EXPOSURE_NAMES else -1,
        ),
        capital_usd=_f(pnl.get("capital_usd")), equity_usd=_f(pnl.get("equity_usd")),
        total_pnl_usd=_f(pnl.get("total_pnl_usd")), drawdown_pct=_f(pnl.get("drawdown_pct")),
        max_drawdown_pct=_f(pnl.get("max_drawdown_pct")), position_share=_f(limits.get("position_share")),
        par_usd=_f(limits.get("par_usd")), par_budget_usd=_f(limits.get("par_budget_usd")),
        exchange_health=str(status.get("exchange_health", "")), positions=rows, models=scores,
        active_conditions=[_text(str(c)) for c in (safety.get("active_conditions") or [])[:max_conditions]],
    )
    return _fit_status(rs, max_bytes)


def _fit_status(rs: RiskStatus, max_bytes: int) -> RiskStatus:
    enc = msgspec.msgpack.encode
    steps: tuple[dict[str, Any], ...] = (
        {"active_conditions": [c[:60] for c in rs.active_conditions]},
        {"active_conditions": rs.active_conditions[:1]},
        {"models": rs.models[:4]},
        {"safety_reason": rs.safety_reason[:60], "active_conditions": []},
        {"models": []},
    )
    for change in steps:
        if len(enc(rs)) <= max_bytes:
            return rs
        rs = msgspec.structs.replace(rs, **change)
    if len(enc(rs)) > max_bytes:
        raise ValueError(f"RiskStatus is {len(enc(rs))} bytes with its lists emptied; the slot holds {max_bytes}")
    return rs
