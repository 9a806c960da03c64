"""Risk's authority: what execution may do, published as ControlState.

Risk is independent of execution and the single authority on how much the system may
trade. This module holds its position book (from our fills), the exposure controller,
and the operator commands forwarded by the supervisor. It answers every command with an
acknowledgement code that the supervisor reports back to mmctl. Pure logic.
"""

from __future__ import annotations

import enum

from mm.graduation.exposure import ExposureConfig, ExposureController, LevelChange
from mm.risk.position import PositionBook
from mm.schema import (
    SIDES_BOTH,
    ControlState,
    ExposureLevel,
    Fill,
    OperatorCommand,
    SafetyLevel,
)


class Ack(enum.IntEnum):
    """Outcome of an operator command, written to risk's heartbeat row for the supervisor."""

    ACCEPTED = 1
    REFUSED = 2
    INVALID = 3


NO_EVIDENCE = "no promotion evidence: the trading-confidence criteria have not been met"


class RiskAuthority:
    def __init__(self, exposure_cfg: ExposureConfig, history: list[LevelChange] | None = None) -> None:
        self.positions = PositionBook()
        self.exposure = ExposureController(exposure_cfg, history)
        self.safety = SafetyLevel.GREEN
        self.seq = 0
        self.last_reason = "start"
        self.evidence_ok = False
        self.evidence_why = NO_EVIDENCE

    def on_fill(self, fill: Fill) -> bool:
        return self.positions.apply_fill(fill.symbol_id, fill.side, fill.px, fill.qty, fill.fee)

    def on_mark(self, symbol_id: int, mid_px: float) -> None:
        self.positions.mark(symbol_id, mid_px)

    def on_command(self, cmd: OperatorCommand, wall_ns: int) -> tuple[Ack, str]:
        who = cmd.who or "operator"
        if cmd.verb == "promote":
            d = self.exposure.promote(
                self.evidence_ok, self.evidence_why, who, cmd.reason, cmd.force, cmd.ts_ns, wall_ns
            )
        elif cmd.verb == "demote":
            to: ExposureLevel | None = None
            if cmd.arg:
                key = cmd.arg.upper().replace("-", "_")
                if key not in ExposureLevel.__members__:
                    return Ack.INVALID, f"unknown level {cmd.arg!r}; one of {list(ExposureLevel.__members__)}"
                to = ExposureLevel[key]
            d = self.exposure.demote(to, who, cmd.reason, cmd.ts_ns, wall_ns)
        else:
            return Ack.INVALID, f"unknown verb {cmd.verb!r}"
        self.last_reason = d.message
        return (Ack.ACCEPTED if d.accepted else Ack.REFUSED), d.message

    def control_state(self, now_ns: int) -> ControlState:
        self.seq += 1
        return ControlState(
            ts_ns=now_ns,
            seq=self.seq,
            safety_level=int(self.safety),
            exposure_level=int(self.exposure.level),
            size_multiplier=self.exposure.size_multiplier,
            spread_multiplier=1.0,
            reduce_only=False,
            allowed_sides=SIDES_BOTH,
            reason=self.last_reason,
        )
