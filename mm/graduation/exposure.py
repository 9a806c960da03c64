"""Exposure levels and the operator's promote/demote path, with the level history.

Seed 002: exposure is a throttle, not a switch. The level maps to a size multiplier
(Shadow 0%, MicroLive, Ramping, Cautious, Full, Optimized). Promotion is one level at a
time and only on evidence: ``promote`` is given whether the evidence criteria currently
hold (mm.graduation.confidence computes that from the promotion criteria; without evidence
every promotion is refused unless forced). Within a level, the size multiplier moves across
the level's band with the overall trading confidence (``size_multiplier_in_band``). Demotion is instant and may skip
levels. Every transition is recorded with who, why and when (the audit trail that is
persisted and reloaded across restarts by the risk process).
"""

from __future__ import annotations

import math

import msgspec

from mm.schema import ExposureLevel


class ExposureConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[exposure]`` level -> size multiplier.

    size_multipliers: size multiplier per level at the bottom of its band, in level order
        Shadow, MicroLive, Ramping, Cautious, Full, Optimized (fractions of configured size;
        Shadow must be 0). Seed 002: 0, 5%, 10%, 50%, 80%, 100%.
    size_max_multipliers: size multiplier per level at the top of its band (same order; each
        >= the level's size_multipliers entry). Within a level, size rises with the overall
        trading confidence across the level's confidence band (TradingConfidence). Seed 002:
        0, 10%, 50%, 80%, 100%, 100%+ (120% here).
    start_level: level at start when no history is found ("SHADOW" by default).
    """

    size_multipliers: list[float] = msgspec.field(default_factory=lambda: [0.0, 0.05, 0.10, 0.50, 0.80, 1.0])
    size_max_multipliers: list[float] = msgspec.field(default_factory=lambda: [0.0, 0.10, 0.50, 0.80, 1.0, 1.2])
    start_level: str = "SHADOW"

    def __post_init__(self) -> None:
        if len(self.size_multipliers) != len(ExposureLevel):
            raise ValueError(f"exposure.size_multipliers needs {len(ExposureLevel)} values")
        if self.size_multipliers[0] != 0.0:
            raise ValueError("exposure.size_multipliers[0] (Shadow) must be 0")
        if any(b < a for a, b in zip(self.size_multipliers, self.size_multipliers[1:])):
            raise ValueError("exposure.size_multipliers must not decrease with the level")
        if len(self.size_max_multipliers) != len(ExposureLevel):
            raise ValueError(f"exposure.size_max_multipliers needs {len(ExposureLevel)} values")
        if self.size_max_multipliers[0] != 0.0:
            raise ValueError("exposure.size_max_multipliers[0] (Shadow) must be 0")
        if any(not (hi >= lo) for lo, hi in zip(self.size_multipliers, self.size_max_multipliers)):
            raise ValueError("exposure.size_max_multipliers must be >= size_multipliers level by level")
        if any(not math.isfinite(x) for x in self.size_max_multipliers):
            raise ValueError("exposure.size_max_multipliers must be finite")
        if self.start_level not in ExposureLevel.__members__:
            raise ValueError(f"exposure.start_level must be one of {list(ExposureLevel.__members__)}")


class LevelChange(msgspec.Struct, frozen=True):
    ts_ns: int
    wall_ns: int
    from_level: int
    to_level: int
    kind: str  # "promote" | "demote" | "refused"
    who: str
    reason: str
    forced: bool = False


class ExposureDecision(msgspec.Struct, frozen=True):
    accepted: bool
    level: int
    message: str


class ExposureController:
    """The current exposure level and its history. Pure logic: times are passed in."""

    def __init__(self, cfg: ExposureConfig, history: list[LevelChange] | None = None) -> None:
        self.cfg = cfg
        self.history: list[LevelChange] = list(history or [])
        applied = [h for h in self.history if h.kind != "refused"]
        self.level = ExposureLevel(applied[-1].to_level) if applied else ExposureLevel[cfg.start_level]
        self.level_since_ns = applied[-1].ts_ns if applied else 0
        self.moves = 0  # level changes made by this instance (not counting the restored history)

    @property
    def size_multiplier(self) -> float:
        """The level's size multiplier at the bottom of its band."""
        return self.cfg.size_multipliers[int(self.level)]

    def size_multiplier_in_band(self, position: float) -> float:
        """The size multiplier at ``position`` (0 bottom .. 1 top, clipped) of the level's band."""
        t = min(max(position, 0.0), 1.0) if math.isfinite(position) else 0.0
        lo = self.cfg.size_multipliers[int(self.level)]
        hi = self.cfg.size_max_multipliers[int(self.level)]
        return lo + (hi - lo) * t

    def promote(
        self, evidence_ok: bool, evidence_why: str, who: str, reason: str, force: bool, now_ns: int, wall_ns: int
    ) -> ExposureDecision:
        """One level up, if the evidence holds or the operator forces it."""
        if self.level == ExposureLevel.OPTIMIZED:
            return ExposureDecision(False, int(self.level), "already at the top level")
        target = ExposureLevel(int(self.level) + 1)
        if not evidence_ok and not force:
            self.history.append(
                LevelChange(now_ns, wall_ns, int(self.level), int(target), "refused", who,
                            f"{reason} | refused: {evidence_why}")
            )
            return ExposureDecision(
                False, int(self.level),
                f"promotion to {target.name} refused (use --force to override; recorded): {evidence_why}",
            )
        return self._move(target, "promote", who, reason, force, now_ns, wall_ns)

    def demote(self, to: ExposureLevel | None, who: str, reason: str, now_ns: int, wall_ns: int) -> ExposureDecision:
        """Instant; one level down by default, or straight to ``to``."""
        target = ExposureLevel(max(int(self.level) - 1, 0)) if to is None else to
        if target > self.level:
            return ExposureDecision(False, int(self.level), f"{target.name} is above the current {self.level.name}")
        if target == self.level:
            return ExposureDecision(True, int(self.level), f"already at {self.level.name}")
        return self._move(target, "demote", who, reason, False, now_ns, wall_ns)

    def _move(
        self, target: ExposureLevel, kind: str, who: str, reason: str, forced: bool, now_ns: int, wall_ns: int
    ) -> ExposureDecision:
        change = LevelChange(now_ns, wall_ns, int(self.level), int(target), kind, who, reason, forced)
        self.history.append(change)
        self.level = target
        self.level_since_ns = now_ns
        self.moves += 1
        return ExposureDecision(True, int(target), f"{kind}d to {target.name}" + (" (forced)" if forced else ""))


def encode_history(history: list[LevelChange]) -> bytes:
    return msgspec.json.encode(history)


def decode_history(data: bytes) -> list[LevelChange]:
    return msgspec.json.decode(data, type=list[LevelChange])
