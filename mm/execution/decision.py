"""The per-cycle decision record of execution (for the audit log) and the builder that fills it.

One :class:`DecisionRecord` per decision cycle per symbol (seed 002, "Decision Audit"):
the inputs the cycle saw (book, features, toxicity, inventory, target, control, kill), the
mode chosen and why, every candidate level evaluated with its queue value and fill
probability (and why it was or was not chosen), the target orders, the actions sent to the
venue, and free-text reasons for anything refused or skipped. Records are plain msgspec
structs, JSON- or msgpack-encodable as they are.

:class:`DecisionBuilder` is what policies and mode handlers write into during a cycle; the
engine finishes it into a record. It is cheap: lists of small structs, no formatting.
"""

from __future__ import annotations

import msgspec

from mm.execution.order_diff import TargetOrder
from mm.schema import ExecMode


class CandidateRecord(msgspec.Struct, frozen=True):
    """One evaluated price level. ``reject`` is empty for the chosen one and for valid losers."""

    side: int
    px: float
    offset_ticks: int
    rank_frac: float
    queue_value_bps: float
    p_fill: float
    inv_penalty_bps: float
    epnl_bps: float
    chosen: bool = False
    reject: str = ""


class ActionRecord(msgspec.Struct, frozen=True):
    """One thing sent (or asked of the caller): ``kind`` is place, cancel, modify or reconcile."""

    kind: str
    cloid: str
    side: int = 0
    px: float = 0.0
    qty: float = 0.0
    tif: str = ""
    reduce_only: bool = False
    replaces: str = ""


class DecisionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one decision cycle saw and did, for the audit log and replay comparison."""

    symbol_id: int
    cycle: int
    ts_ns: int
    origin_ts_ns: int
    policy: str
    # inputs
    snapshot_seq: int
    signal_seq: int
    best_bid: float
    best_ask: float
    mid_px: float
    microprice: float
    spread_bps: float
    sigma_ewma: float
    sigma_realized_1m: float
    regime: int
    toxicity: int
    toxic_prob: float
    ofi_500ms: float
    inventory_qty: float
    snapshot_inventory_qty: float
    target_inventory_qty: float
    safe_target_qty: float
    max_inventory_qty: float
    quote_qty: float
    control_seq: int
    safety_level: int
    exposure_level: int
    size_multiplier: float
    spread_multiplier: float
    control_reduce_only: bool
    allowed_sides: int
    killed: bool
    # decision
    mode: int
    mode_name: str
    direction: int
    timeout_ms: int
    urgency: float
    mode_reason: str
    taker_ev_bps: float | None
    maker_ev_bps: float | None
    candidates: list[CandidateRecord]
    targets: list[TargetOrder]
    actions: list[ActionRecord]
    reasons: list[str]


class DecisionBuilder:
    """Collects a cycle's mode, candidates, targets, actions and reasons."""

    __slots__ = (
        "actions",
        "candidates",
        "direction",
        "maker_ev_bps",
        "mode",
        "mode_reason",
        "reasons",
        "safe_target",
        "taker_ev_bps",
        "targets",
        "timeout_ms",
        "urgency",
    )

    def __init__(self) -> None:
        self.mode = ExecMode.FLAT
        self.direction = 0
        self.timeout_ms = 0
        self.urgency = 0.0
        self.mode_reason = ""
        self.taker_ev_bps: float | None = None
        self.maker_ev_bps: float | None = None
        self.safe_target = 0.0
        self.candidates: list[CandidateRecord] = []
        self.targets: list[TargetOrder] = []
        self.actions: list[ActionRecord] = []
        self.reasons: list[str] = []

    def set_mode(self, mode: ExecMode, reason: str, direction: int = 0, timeout_ms: int = 0,
                 urgency: float = 0.0) -> None:
        self.mode = mode
        self.mode_reason = reason
        self.direction = direction
        self.timeout_ms = timeout_ms
        self.urgency = urgency

    def candidate(self, rec: CandidateRecord) -> None:
        self.candidates.append(rec)

    def reason(self, text: str) -> None:
        self.reasons.append(text)
