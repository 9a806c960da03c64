"""Safety escalation rules as a state machine (ARCHITECTURE invariant: safety escalation may skip
levels upward, never downward).

- escalation is instant and may skip levels: after any update the level is at least what the
  inputs demand;
- de-escalation is one level at a time, never out of Kill by itself, and never before the
  level's dwell has passed since the later of entering it and the last time its condition held;
- every transition is recorded, from the level it left, with a reason.
"""

import itertools

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mm.risk.config import EscalationConfig
from mm.risk.escalation import ExchangeHealth, SafetyEscalator, SafetyInputs, demanded_level, entry_triggers
from mm.schema import SafetyLevel

S = 1_000_000_000
CFG = EscalationConfig()

# below Kill: every Yellow/Orange/Red condition, and values inside the hysteresis band
inputs = st.builds(
    SafetyInputs,
    drawdown_pct=st.sampled_from([0.0, 0.3, 0.45, 0.55, 0.9, 1.2, 1.7, 2.5, 4.5]),
    degraded_models=st.integers(0, 3),
    position_share=st.sampled_from([0.0, 0.3, 0.6, 0.75, 1.0]),
    par_share=st.sampled_from([0.0, 0.5, 0.9, 1.2]),
    cascade=st.booleans(),
    exchange_health=st.sampled_from(list(ExchangeHealth)),
    stale_data_s=st.sampled_from([0.0, 3.0, 4.5, 6.0, 30.0]),
    reconcile_mismatch=st.booleans(),
)
kill_inputs = st.one_of(
    st.builds(SafetyInputs, drawdown_pct=st.sampled_from([5.5, 9.0])),
    st.builds(SafetyInputs, position_share=st.just(1.6)),
    st.builds(SafetyInputs, stale_data_s=st.just(70.0)),
)
# mostly calm inputs, so that de-escalation gets exercised
calm = st.builds(
    SafetyInputs,
    drawdown_pct=st.sampled_from([0.0, 0.1, 0.42]),
    position_share=st.sampled_from([0.0, 0.5, 0.6]),
)


class EscalationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.esc = SafetyEscalator(CFG)
        self.now = 0
        self.last_held: dict[int, int] = {}
        self.n_history = 0

    def _feed(self, x: SafetyInputs) -> None:
        before = self.esc.level
        since = self.esc.level_since_ns
        held = demanded_level(entry_triggers(x, CFG, CFG.clear_ratio))
        demand = demanded_level(entry_triggers(x, CFG))
        # the anchor of the current level's dwell, as the spec defines it, before this update
        anchor = max(since, self.last_held.get(int(before), since))
        for lvl in range(1, int(held) + 1):
            self.last_held[lvl] = self.now
        tr = self.esc.update(x, self.now)
        after = self.esc.level
        assert after >= demand, "escalation must be instant"
        if after > before:
            assert after == demand and tr is not None and tr.kind == "escalate"
            event("escalation skipped a level" if after - before > 1 else "escalated one level")
        elif after < before:
            assert before != SafetyLevel.KILL, "Kill is never left by itself"
            assert after == before - 1, "de-escalation one level at a time"
            assert held < before, "de-escalation needs the level's conditions clear"
            dwell_ns = CFG.dwell_s[int(before)] * S
            assert self.now - since >= dwell_ns, "not before the dwell since entering"
            assert self.now - anchor >= dwell_ns, "not before the dwell since the condition last held"
            assert tr is not None and tr.kind == "deescalate"
            event(f"de-escalated from {before.name}")
        else:
            assert tr is None
        if tr is not None:
            assert tr.from_level == before and tr.to_level == after and tr.reason

    @rule(x=inputs)
    def feed_any(self, x: SafetyInputs) -> None:
        self._feed(x)

    @rule(x=calm)
    def feed_calm(self, x: SafetyInputs) -> None:
        self._feed(x)

    @rule(x=calm, dt_s=st.sampled_from([5.0, 20.0, 40.0, 100.0]), n=st.integers(1, 8))
    def calm_period(self, x: SafetyInputs, dt_s: float, n: int) -> None:
        for _ in range(n):
            self.now += int(dt_s * S)
            self._feed(x)

    @rule(x=kill_inputs)
    def feed_extreme(self, x: SafetyInputs) -> None:
        self._feed(x)

    @rule(dt_s=st.sampled_from([0.1, 1.0, 10.0, 29.0, 31.0, 59.0, 61.0, 299.0, 301.0]))
    def wait(self, dt_s: float) -> None:
        self.now += int(dt_s * S)

    @rule()
    def operator_clears_kill(self) -> None:
        before = self.esc.level
        tr = self.esc.clear_kill("op", "test", self.now)
        if before == SafetyLevel.KILL:
            assert tr is not None and self.esc.level == SafetyLevel.RED
            self.last_held[int(SafetyLevel.RED)] = self.now
        else:
            assert tr is None and self.esc.level == before

    @invariant()
    def history_records_every_transition(self) -> None:
        h = list(self.esc.history)
        for a, b in itertools.pairwise(h):
            assert b.from_level == a.to_level
        if h:
            assert h[-1].to_level == self.esc.level

    @invariant()
    def effects_follow_level(self) -> None:
        eff = self.esc.effects()
        lvl = self.esc.level
        assert eff.reduce_only == (lvl >= SafetyLevel.ORANGE)
        assert eff.cancel_all == (lvl >= SafetyLevel.RED)
        assert eff.hard_stop == (lvl == SafetyLevel.KILL)
        assert eff.spread_multiplier >= 1.0 and 0.0 <= eff.size_multiplier <= 1.0


TestEscalation = EscalationMachine.TestCase
TestEscalation.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
