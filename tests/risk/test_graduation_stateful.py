"""Graduation rules as a state machine (ARCHITECTURE invariant: exposure promotion is slow and one
level at a time; demotion is instant and may skip levels).

The machine keeps its own account of the spec (fills and positive markouts at the level, since
when the state criteria have held, which triggers are armed) and checks the controller against
it after every step:

- no promotion before the level's dwell, without the fills and positive-edge share, or unless
  every state criterion has held for the whole dwell; never more than one level per step;
- on the onset of any demotion trigger the level drops in that same step, to at most the
  trigger's target (several levels at once where the trigger says so).
"""

import math

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mm.graduation.confidence import DemotionSignals, GraduationController, PromotionEvidence
from mm.graduation.exposure import ExposureConfig, ExposureController
from mm.risk.config import PromotionConfig
from mm.risk.escalation import ExchangeHealth
from mm.schema import ExposureLevel, SafetyLevel

S = 1_000_000_000
CFG = PromotionConfig(
    min_dwell_s=[60.0, 120.0, 180.0, 240.0, 300.0],
    min_fills_at_level=[4, 6, 8, 10, 12],
    max_auto_level="OPTIMIZED",
)


def state_ok(ev: PromotionEvidence, level: ExposureLevel) -> bool:
    gap_ok = (ev.sim_to_real_gap_bps is None and level == ExposureLevel.SHADOW) or (
        ev.sim_to_real_gap_bps is not None and ev.sim_to_real_gap_bps < CFG.max_sim_to_real_gap_bps
    )
    nxt = min(int(level) + 1, len(CFG.confidence_floors) - 1)
    return (
        ev.brier is not None and ev.brier < CFG.max_brier
        and ev.information_ratio is not None and ev.information_ratio > CFG.min_information_ratio
        and gap_ok
        and ev.drawdown_pct <= CFG.max_drawdown_pct
        and ev.safety_level == SafetyLevel.GREEN
        and ev.overall_confidence >= CFG.confidence_floors[nxt]
    )


class GraduationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.exp = ExposureController(ExposureConfig())
        self.g = GraduationController(CFG, self.exp, 0)
        self.now = 0
        self.entered = 0
        self.fills = 0
        self.resolved = 0
        self.positive = 0
        self.ok_since: int | None = None
        self.ev = PromotionEvidence(brier=None, information_ratio=None, sim_to_real_gap_bps=None,
                                    drawdown_pct=0.0, safety_level=0, overall_confidence=0.0)
        self.sig = DemotionSignals(drawdown_pct=0.0, safety_level=0, degraded_models=[],
                                   sim_to_real_gap_bps=None, exchange_health=0)
        self.prev_sig = self.sig

    def _level_changed(self) -> None:
        self.entered = self.now
        self.fills = self.resolved = self.positive = 0
        self.ok_since = None

    @rule(dt_s=st.sampled_from([1.0, 10.0, 30.0, 59.0, 61.0, 125.0, 300.0]))
    def wait(self, dt_s: float) -> None:
        self.now += int(dt_s * S)

    @rule(shadow=st.booleans(), positive=st.booleans())
    def fill(self, shadow: bool, positive: bool) -> None:
        epoch = self.g.on_fill(shadow)
        counts = (not shadow) or self.exp.level == ExposureLevel.SHADOW
        assert (epoch is not None) == counts
        if epoch is not None:
            self.fills += 1
            self.g.on_markout(epoch, 1.5 if positive else -0.5)
            self.resolved += 1
            self.positive += int(positive)

    @rule(
        brier=st.sampled_from([None, 0.1, 0.3]),
        ir=st.sampled_from([None, 1.0, 0.4]),
        gap=st.sampled_from([None, 1.0, 3.0]),
        dd=st.sampled_from([0.0, 0.5]),
        conf=st.sampled_from([0.05, 0.5, 0.95]),
    )
    def evidence(self, brier, ir, gap, dd, conf) -> None:
        self.ev = PromotionEvidence(brier=brier, information_ratio=ir, sim_to_real_gap_bps=gap, drawdown_pct=dd,
                                    safety_level=self.sig.safety_level, overall_confidence=conf)
        self.sig = DemotionSignals(drawdown_pct=dd, safety_level=self.sig.safety_level,
                                   degraded_models=self.sig.degraded_models, sim_to_real_gap_bps=gap,
                                   exchange_health=self.sig.exchange_health)

    @rule(
        dd=st.sampled_from([0.0, 3.0]),
        safety=st.sampled_from(list(SafetyLevel)),
        models=st.sampled_from([[], ["a"], ["a", "b"]]),
        gap=st.sampled_from([None, 1.0, 9.0]),
        health=st.sampled_from(list(ExchangeHealth)),
    )
    def signals(self, dd, safety, models, gap, health) -> None:
        self.sig = DemotionSignals(drawdown_pct=dd, safety_level=int(safety), degraded_models=models,
                                   sim_to_real_gap_bps=gap, exchange_health=int(health))
        self.ev = PromotionEvidence(brier=self.ev.brier, information_ratio=self.ev.information_ratio,
                                    sim_to_real_gap_bps=gap, drawdown_pct=dd, safety_level=int(safety),
                                    overall_confidence=self.ev.overall_confidence)

    @rule(conf=st.sampled_from([0.5, 0.95]), gap=st.sampled_from([None, 1.0]))
    def good_evidence(self, conf: float, gap: float | None) -> None:
        self.ev = PromotionEvidence(brier=0.1, information_ratio=1.0, sim_to_real_gap_bps=gap, drawdown_pct=0.0,
                                    safety_level=0, overall_confidence=conf)
        self.sig = DemotionSignals(drawdown_pct=0.0, safety_level=0, degraded_models=[],
                                   sim_to_real_gap_bps=gap, exchange_health=0)

    @rule(n=st.integers(1, 15), positive_every=st.sampled_from([1, 2, 3, 4]), shadow=st.booleans())
    def burst_of_fills(self, n: int, positive_every: int, shadow: bool) -> None:
        for i in range(n):
            self.fill(shadow, i % positive_every != 0 or positive_every == 1)

    @rule(dt_s=st.sampled_from([20.0, 60.0]), n=st.integers(1, 10))
    def steady_cycles(self, dt_s: float, n: int) -> None:
        for _ in range(n):
            self.now += int(dt_s * S)
            self.step()

    @rule()
    def operator_forces_promote(self) -> None:
        before = self.exp.level
        d = self.exp.promote(False, "none", "op", "test", True, self.now, self.now)
        if before < ExposureLevel.OPTIMIZED:
            assert d.accepted and self.exp.level == before + 1
            self._level_changed()

    @rule()
    def calm_signals(self) -> None:
        self.sig = DemotionSignals(drawdown_pct=0.0, safety_level=0, degraded_models=[],
                                   sim_to_real_gap_bps=None, exchange_health=0)
        self.ev = PromotionEvidence(brier=self.ev.brier, information_ratio=self.ev.information_ratio,
                                    sim_to_real_gap_bps=None, drawdown_pct=0.0, safety_level=0,
                                    overall_confidence=self.ev.overall_confidence)

    @rule()
    def step(self) -> None:
        before = self.exp.level
        prev, sig = self.prev_sig, self.sig
        # the spec's onset targets for this step
        targets: list[int] = []
        if sig.drawdown_pct > CFG.drawdown_demote_pct and not prev.drawdown_pct > CFG.drawdown_demote_pct:
            targets.append(max(int(before) - CFG.drawdown_demote_levels, 0))
        if sig.safety_level >= SafetyLevel.ORANGE and sig.safety_level > prev.safety_level:
            to = ExposureLevel.SHADOW if sig.safety_level == SafetyLevel.KILL else ExposureLevel.MICRO_LIVE
            targets.append(min(int(before), int(to)))
        if set(sig.degraded_models) - set(prev.degraded_models):
            targets.append(max(int(before) - 1, 0))
        g_now = sig.sim_to_real_gap_bps
        g_prev = prev.sim_to_real_gap_bps
        if g_now is not None and g_now > CFG.divergence_gap_bps and not (g_prev is not None and g_prev > 4.0):
            targets.append(max(int(before) - 1, 0))
        if sig.exchange_health >= 1 and prev.exchange_health < 1:
            targets.append(max(int(before) - 1, 0))
        # the spec's promotion evidence, with the hold clock updated as of now
        promotable_state = state_ok(self.ev, before)
        ok_since = self.ok_since if promotable_state else None
        if promotable_state and ok_since is None:
            ok_since = max(self.now, self.entered)

        out = self.g.step(self.ev, sig, self.now, self.now)
        self.prev_sig = sig
        after = self.exp.level
        if targets:
            assert int(after) <= min(targets), f"demotion must be instant: {before.name} -> {after.name}, {targets}"
            assert out.promoted is None
        if after > before:
            assert after == before + 1, "promotion one level at a time"
            lvl = int(before)
            dwell = CFG.min_dwell_s[lvl] * S
            assert not targets
            assert self.now - self.entered >= dwell, "no promotion before the dwell"
            assert ok_since is not None and self.now - ok_since >= dwell, "state criteria must hold for the dwell"
            assert self.fills >= CFG.min_fills_at_level[lvl]
            assert self.resolved >= CFG.min_fills_at_level[lvl]
            assert 100.0 * self.positive / self.resolved >= CFG.min_positive_edge_pct
            assert out.promoted is not None and out.promoted.accepted
            event(f"promoted from {before.name}")
        if after < before:
            event("demoted by several levels" if before - after > 1 else "demoted by one level")
        if after != before:
            self._level_changed()
            if state_ok(self.ev, after):
                self.ok_since = self.now  # the controller re-checks at the new level at once
        else:
            self.ok_since = ok_since

    @rule(to=st.sampled_from(list(ExposureLevel)))
    def operator_demotes(self, to: ExposureLevel) -> None:
        before = self.exp.level
        d = self.exp.demote(to, "op", "test", self.now, self.now)
        if to <= before:
            assert d.accepted and self.exp.level == to
            if to < before:
                self._level_changed()
        else:
            assert not d.accepted and self.exp.level == before

    @invariant()
    def counters_match_the_spec(self) -> None:
        assert self.g.fills_at_level == self.fills
        assert self.g.positive_at_level == self.positive

    @invariant()
    def size_in_band(self) -> None:
        m = self.exp.size_multiplier_in_band(0.5)
        assert (m == 0.0) == (self.exp.level == ExposureLevel.SHADOW)
        assert not math.isnan(m)


TestGraduation = GraduationMachine.TestCase
TestGraduation.settings = settings(max_examples=200, stateful_step_count=80, deadline=None)
