"""TradingConfidence, promotion criteria and demotion triggers over the ExposureController.

Seed 002: confidence is a throttle, not a gate. Three components in [0, 1]:

- model confidence, from the continuous validator's scorecards;
- execution confidence, from the sim-to-real gap and exchange health;
- safety confidence, the safety level's factor x (1 - drawdown / kill drawdown);

blend (weighted mean) into the overall confidence, which maps to an implied exposure level
through the confidence bands (Shadow < 0.1 <= MicroLive < 0.3 <= Ramping < 0.5 <= Cautious
< 0.7 <= Full < 0.9 <= Optimized) and, within the level actually held, sets the size
multiplier across that level's size band (MicroLive 5-10%, Ramping 10-50%, ...).

The level actually held moves only by evidence:

- Promotion, one level at a time, when ALL criteria hold: time at the level and fills at
  the level (shadow fills count in Shadow), a share of the level's fills with positive
  markout edge, the worst enabled model's Brier, the lowest information ratio, the
  sim-to-real gap, the drawdown, a Green safety level and the overall confidence reaching
  the next band; the state criteria (all but the counts) must have held without a break for
  the level's minimum dwell. Automatic up to ``max_auto_level``; an operator's promote is
  gated by the same evidence unless forced.
- Demotion, instant, on ANY trigger's onset: drawdown (drop 2), safety Orange or worse (to
  MicroLive), Kill (to Shadow), a model turning Degraded/Retired or its IR falling below
  0.3 (drop 1), sim-to-real divergence (drop 1), exchange health Degraded (drop 1); several
  at once drop to the lowest of their targets. A trigger fires on its onset and re-arms when
  it clears (with hysteresis on numeric ones), so a lasting condition demotes once.

Pure logic: times are passed in.
"""

from __future__ import annotations

import math

import msgspec

from mm.graduation.exposure import ExposureController, ExposureDecision
from mm.risk.config import PromotionConfig
from mm.risk.escalation import ExchangeHealth
from mm.schema import ExposureLevel, SafetyLevel


class ConfidenceComponents(msgspec.Struct, frozen=True, kw_only=True):
    model: float
    execution: float
    safety: float
    overall: float
    implied_level: int


def safety_confidence(level: SafetyLevel, drawdown_pct: float, kill_drawdown_pct: float, factors: list[float]) -> float:
    if not math.isfinite(drawdown_pct):
        return 0.0
    room = min(max(1.0 - drawdown_pct / kill_drawdown_pct, 0.0), 1.0)
    return factors[int(level)] * room


def implied_level(overall: float, floors: list[float]) -> ExposureLevel:
    lvl = 0
    for i, f in enumerate(floors):
        if overall >= f:
            lvl = i
    return ExposureLevel(lvl)


def band_position(level: ExposureLevel, overall: float, floors: list[float]) -> float:
    """Where ``overall`` sits in ``level``'s confidence band, 0 (bottom or below) to 1 (top or above)."""
    lo = floors[int(level)]
    hi = floors[int(level) + 1] if int(level) + 1 < len(floors) else 1.0
    if hi <= lo:
        return 1.0 if overall >= lo else 0.0
    return min(max((overall - lo) / (hi - lo), 0.0), 1.0)


class TradingConfidence:
    """The three components, their blend and the implied level."""

    def __init__(self, cfg: PromotionConfig) -> None:
        self.cfg = cfg
        self.components = ConfidenceComponents(model=0.0, execution=0.0, safety=0.0, overall=0.0,
                                               implied_level=int(ExposureLevel.SHADOW))

    def update(self, model: float, execution: float, safety: float) -> ConfidenceComponents:
        cfg = self.cfg
        parts = [min(max(x, 0.0), 1.0) if math.isfinite(x) else 0.0 for x in (model, execution, safety)]
        w = (cfg.model_weight, cfg.execution_weight, cfg.safety_weight)
        overall = sum(p * wi for p, wi in zip(parts, w)) / sum(w)
        self.components = ConfidenceComponents(model=parts[0], execution=parts[1], safety=parts[2],
                                               overall=overall,
                                               implied_level=int(implied_level(overall, cfg.confidence_floors)))
        return self.components

    def size_multiplier(self, exposure: ExposureController) -> float:
        """The held level's size multiplier, placed in its band by the overall confidence."""
        pos = band_position(exposure.level, self.components.overall, self.cfg.confidence_floors)
        return exposure.size_multiplier_in_band(pos)


class PromotionEvidence(msgspec.Struct, frozen=True, kw_only=True):
    """The state the promotion criteria are checked against (gathered by the risk authority)."""

    brier: float | None
    information_ratio: float | None
    sim_to_real_gap_bps: float | None
    drawdown_pct: float
    safety_level: int
    overall_confidence: float


class Criterion(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    value: float | None
    threshold: float | None
    ok: bool
    detail: str


class DemotionSignals(msgspec.Struct, frozen=True, kw_only=True):
    """What the demotion triggers look at.

    degraded_models: names of models that are Degraded or Retired, or whose information
    ratio is below ``model_degraded_ir``.
    """

    drawdown_pct: float
    safety_level: int
    degraded_models: list[str]
    sim_to_real_gap_bps: float | None
    exchange_health: int


class GraduationStep(msgspec.Struct, frozen=True, kw_only=True):
    """One evaluation's outcome: the criteria, and the level change made (if any)."""

    criteria: list[Criterion]
    evidence_ok: bool
    evidence_why: str
    demoted: ExposureDecision | None = None
    promoted: ExposureDecision | None = None


STATE_CRITERIA = ("brier", "information_ratio", "sim_to_real_gap", "drawdown", "safety", "confidence")


class GraduationController:
    """Promotion criteria and demotion triggers driving an ExposureController."""

    def __init__(self, cfg: PromotionConfig, exposure: ExposureController, start_ns: int = 0) -> None:
        self.cfg = cfg
        self.exposure = exposure
        self.entered_ns = start_ns  # dwell restarts at process start, whatever the restored level
        self._epoch_seen = exposure.moves
        self._fills = 0
        self._resolved = 0
        self._positive = 0
        self.state_ok_since_ns: int | None = None
        self._active: dict[str, float] = {}  # active trigger key -> value it fired at
        self.onset_this_step = False  # a demotion trigger fired in the last apply_triggers
        self.last_criteria: list[Criterion] = []
        self.last_demotion_reason = ""

    # ------------------------------------------------------------------ evidence counters

    @property
    def epoch(self) -> int:
        """Changes whenever the level changes (fills are credited to the epoch they happened in)."""
        self._sync_level()
        return self.exposure.moves

    def _sync_level(self) -> None:
        if self.exposure.moves != self._epoch_seen:
            self._epoch_seen = self.exposure.moves
            self.entered_ns = self.exposure.level_since_ns
            self._fills = 0
            self._resolved = 0
            self._positive = 0
            self.state_ok_since_ns = None

    @property
    def fills_at_level(self) -> int:
        """Fills credited at the current level."""
        self._sync_level()
        return self._fills

    @property
    def resolved_at_level(self) -> int:
        """Fills at the current level whose markout has resolved."""
        self._sync_level()
        return self._resolved

    @property
    def positive_at_level(self) -> int:
        """Resolved fills at the current level with a positive markout edge."""
        self._sync_level()
        return self._positive

    def counts_fill(self, shadow: bool) -> bool:
        """Whether a fill counts as evidence at the current level: real fills above Shadow;
        shadow (paper) fills and real ones in Shadow."""
        return not shadow or self.exposure.level == ExposureLevel.SHADOW

    def on_fill(self, shadow: bool) -> int | None:
        """Count a fill; returns the epoch to credit its markout to, or None if it does not count."""
        self._sync_level()
        if not self.counts_fill(shadow):
            return None
        self._fills += 1
        return self.exposure.moves

    def on_markout(self, epoch: int, edge_bps: float) -> None:
        self._sync_level()
        if epoch != self.exposure.moves:
            return
        self._resolved += 1
        if edge_bps > 0.0:
            self._positive += 1

    def time_at_level_s(self, now_ns: int) -> float:
        self._sync_level()
        return max(now_ns - self.entered_ns, 0) / 1e9

    # ------------------------------------------------------------------ criteria

    def criteria(self, ev: PromotionEvidence, now_ns: int) -> list[Criterion]:
        """Check every criterion for promotion from the current level (updates the hold clock)."""
        self._sync_level()
        cfg = self.cfg
        lvl = int(self.exposure.level)
        if lvl >= int(ExposureLevel.OPTIMIZED):
            crit = [Criterion(name="top", value=None, threshold=None, ok=False, detail="already at the top level")]
            self.last_criteria = crit
            return crit
        dwell = cfg.min_dwell_s[lvl]
        min_fills = cfg.min_fills_at_level[lvl]
        out: list[Criterion] = []

        def add(name: str, value: float | None, threshold: float | None, ok: bool, detail: str) -> None:
            out.append(Criterion(name=name, value=value, threshold=threshold, ok=ok, detail=detail))

        b = ev.brier
        add("brier", b, cfg.max_brier, b is not None and b < cfg.max_brier,
            "no model scored yet" if b is None else f"worst Brier {b:.3f} (< {cfg.max_brier})")
        ir = ev.information_ratio
        add("information_ratio", ir, cfg.min_information_ratio, ir is not None and ir > cfg.min_information_ratio,
            "no model with an IR yet" if ir is None else f"lowest IR {ir:.2f} (> {cfg.min_information_ratio})")
        gap = ev.sim_to_real_gap_bps
        if gap is None:
            ok = self.exposure.level == ExposureLevel.SHADOW
            detail = "unmeasured (no live fills in Shadow)" if ok else "sim-to-real gap not measured yet"
        else:
            ok = gap < cfg.max_sim_to_real_gap_bps
            detail = f"gap {gap:.2f} bps (< {cfg.max_sim_to_real_gap_bps})"
        add("sim_to_real_gap", gap, cfg.max_sim_to_real_gap_bps, ok, detail)
        dd = ev.drawdown_pct
        add("drawdown", dd, cfg.max_drawdown_pct, math.isfinite(dd) and dd <= cfg.max_drawdown_pct,
            f"drawdown {dd:.2f}% (<= {cfg.max_drawdown_pct}%)")
        add("safety", float(ev.safety_level), float(SafetyLevel.GREEN), ev.safety_level == SafetyLevel.GREEN,
            f"safety {SafetyLevel(ev.safety_level).name} (must be GREEN)")
        floor = cfg.confidence_floors[lvl + 1]
        conf_ok = (not cfg.require_confidence_band) or ev.overall_confidence >= floor
        add("confidence", ev.overall_confidence, floor, conf_ok,
            f"overall {ev.overall_confidence:.3f} (>= {floor} for {ExposureLevel(lvl + 1).name})"
            + ("" if cfg.require_confidence_band else " [not required]"))

        state_ok = all(c.ok for c in out)
        if not state_ok:
            self.state_ok_since_ns = None
        elif self.state_ok_since_ns is None:
            self.state_ok_since_ns = max(now_ns, self.entered_ns)
        held_s = 0.0 if self.state_ok_since_ns is None else max(now_ns - self.state_ok_since_ns, 0) / 1e9
        add("held", held_s, dwell, state_ok and held_s >= dwell,
            f"state criteria held {held_s:.0f} s of {dwell:g} s")
        at_level = self.time_at_level_s(now_ns)
        add("dwell", at_level, dwell, at_level >= dwell, f"{at_level:.0f} s at {self.exposure.level.name} of {dwell:g} s")
        add("fills", float(self.fills_at_level), float(min_fills), self.fills_at_level >= min_fills,
            f"{self.fills_at_level} fills at level of {min_fills}")
        res = self.resolved_at_level
        share = 100.0 * self.positive_at_level / res if res else None
        pe_ok = res >= min_fills and share is not None and share >= cfg.min_positive_edge_pct
        add("positive_edge", share, cfg.min_positive_edge_pct, pe_ok,
            f"{self.positive_at_level}/{res} marked-out fills with positive edge "
            f"(>= {cfg.min_positive_edge_pct}% of >= {min_fills})")
        self.last_criteria = out
        return out

    @staticmethod
    def why_not(criteria: list[Criterion]) -> str:
        failing = [c.detail for c in criteria if not c.ok]
        return "; ".join(failing) if failing else "all promotion criteria hold"

    # ------------------------------------------------------------------ triggers

    def _triggers(self, sig: DemotionSignals) -> dict[str, tuple[float, ExposureLevel, str]]:
        """Active triggers: key -> (value, target level, reason)."""
        cfg = self.cfg
        lvl = int(self.exposure.level)
        active: dict[str, tuple[float, ExposureLevel, str]] = {}

        def drop(n: int) -> ExposureLevel:
            return ExposureLevel(max(lvl - n, 0))

        dd = sig.drawdown_pct
        thr = cfg.drawdown_demote_pct
        if not math.isfinite(dd) or dd > thr or ("drawdown" in self._active and dd > thr * cfg.rearm_ratio):
            active["drawdown"] = (dd, drop(cfg.drawdown_demote_levels), f"drawdown {dd:.2f}% > {thr}%")
        s = SafetyLevel(sig.safety_level)
        first = SafetyLevel[cfg.safety_demote_level]
        to = ExposureLevel[cfg.safety_demote_to]
        for sl in range(int(first), int(s) + 1):
            target = ExposureLevel[cfg.kill_demote_to] if sl == SafetyLevel.KILL else to
            active[f"safety:{SafetyLevel(sl).name}"] = (float(sl), ExposureLevel(min(lvl, int(target))),
                                                        f"safety escalated to {SafetyLevel(sl).name}")
        for name in sig.degraded_models:
            active[f"model:{name}"] = (1.0, drop(cfg.model_demote_levels), f"model {name} degraded")
        gap = sig.sim_to_real_gap_bps
        gthr = cfg.divergence_gap_bps
        if gap is not None and (not math.isfinite(gap) or gap > gthr
                                or ("divergence" in self._active and gap > gthr * cfg.rearm_ratio)):
            active["divergence"] = (gap, drop(cfg.divergence_demote_levels),
                                    f"sim-to-real gap {gap:.2f} bps > {gthr}")
        if sig.exchange_health >= ExchangeHealth.DEGRADED:
            active["exchange"] = (float(sig.exchange_health), drop(cfg.health_demote_levels),
                                  f"exchange health {ExchangeHealth(sig.exchange_health).name}")
        return active

    def apply_triggers(self, sig: DemotionSignals, now_ns: int, wall_ns: int) -> ExposureDecision | None:
        """Demote at once on the onset of any trigger; returns the demotion made, if any."""
        self._sync_level()
        active = self._triggers(sig)
        onset = {k: v for k, v in active.items() if k not in self._active}
        self._active = {k: v[0] for k, v in active.items()}
        self.onset_this_step = bool(onset)
        if not onset:
            return None
        target = min(v[1] for v in onset.values())
        if target >= self.exposure.level:
            return None
        reason = "; ".join(v[2] for v in onset.values())
        d = self.exposure.demote(target, "risk", f"auto: {reason}", now_ns, wall_ns)
        self._trim()
        self.last_demotion_reason = reason
        self._sync_level()
        return d

    @property
    def active_triggers(self) -> list[str]:
        return sorted(self._active)

    # ------------------------------------------------------------------ the cycle

    def step(
        self, ev: PromotionEvidence, sig: DemotionSignals, now_ns: int, wall_ns: int
    ) -> GraduationStep:
        """Demotion triggers first (instant), then the criteria, then automatic promotion."""
        demoted = self.apply_triggers(sig, now_ns, wall_ns)
        crit = self.criteria(ev, now_ns)
        ok = all(c.ok for c in crit)
        promoted = None
        # a trigger's onset blocks promotion in its step even when the level is already at the
        # trigger's target (Shadow cannot drop lower, but must not rise on a degradation either)
        if (ok and demoted is None and not self.onset_this_step and self.cfg.auto_promote
                and self.exposure.level < ExposureLevel[self.cfg.max_auto_level]):
            promoted = self.exposure.promote(True, "", "risk", "auto: promotion criteria held for the dwell",
                                             False, now_ns, wall_ns)
            self._trim()
            self._sync_level()
            crit = self.criteria(ev, now_ns)
            ok = all(c.ok for c in crit)
        return GraduationStep(criteria=crit, evidence_ok=ok, evidence_why=self.why_not(crit),
                              demoted=demoted, promoted=promoted)

    def _trim(self) -> None:
        h = self.exposure.history
        if len(h) > self.cfg.max_history:
            del h[: len(h) - self.cfg.max_history]

    def status(self, now_ns: int) -> dict[str, object]:
        return {
            "level": self.exposure.level.name,
            "time_at_level_s": round(self.time_at_level_s(now_ns), 3),
            "fills_at_level": self.fills_at_level,
            "marked_out_at_level": self.resolved_at_level,
            "positive_edge_at_level": self.positive_at_level,
            "criteria": [msgspec.to_builtins(c) for c in self.last_criteria],
            "active_triggers": self.active_triggers,
            "last_demotion_reason": self.last_demotion_reason,
        }
