"""Pipeline invariant not covered elsewhere: nothing is orphaned across restarts (ARCHITECTURE
"Invariants": every order the system ever sent is accounted for ... nothing is orphaned
across restarts).

tests/execution/test_stateful_sim.py already drives one execution engine's life against the
sim matching engine (inventory within max, ask > bid, no negative-edge passive quote,
never Maker while Toxic, every order accounted for, statuses and position equal to the
venue's once drained); tests/risk/test_*_stateful.py cover promotion and escalation. This
machine adds the rule those lack: execution is killed and restarted at any step, as the
supervisor does after a kill -9.

- The dead engine's requests still in flight may land at the venue afterwards (late
  landings), with nobody to hear the answer; its lookups are lost.
- The new engine has a new session (cloid prefix) and starts as procs/execution.py does:
  the venue's position loaded, and the venue's open orders handed to the OMS (the worst
  case of the start reconciliation: its cancel-all took nothing), which adopts and
  cancels them; the user stream it replays starts at its own start (userFills since).
- Every invariant of the single-life machine holds for the live engine, and at the end
  (kill switch on, link drained) the venue lists no open order at all, whichever life
  sent it, and the live engine's position equals the venue's.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from mm.execution.engine import ExecutionEngine
from mm.execution.lifecycle import ExchangeRequest
from mm.execution.mode_handlers import SymbolSpec
from tests.execution.test_stateful_sim import COIN, MS, SZ_DECIMALS, USER, ExecutionAgainstSim


class RestartsAgainstSim(ExecutionAgainstSim):
    def __init__(self) -> None:
        super().__init__()
        self.late: list[tuple[int, ExchangeRequest]] = []
        self.lives = 1
        self.started_ms = 0
        self.old_cloids: set[str] = set()

    @rule(lands=st.booleans())
    def execution_killed_and_restarted(self, lands: bool) -> None:
        """kill -9 of execution, then the supervisor's restart (a new session)."""
        if lands:  # what the dead engine sent may still reach the venue; nobody hears the answer
            self.late.extend((t, r) for t, r, _, refuse in self.in_flight
                             if isinstance(r, ExchangeRequest) and not refuse)
        self.in_flight = []
        self.old_cloids |= self.sent_cloids
        self.sent_cloids = set()
        self.lives += 1
        cfg = self.ex.cfg
        self.ex = ExecutionEngine(1, cfg, [SymbolSpec(COIN, 0, SZ_DECIMALS)], session_id=0xABC + self.lives)
        self.started_ms = self.now // MS
        self.ex.set_position(0, self._position())
        self.ex.on_control(self._control)
        self.ex.on_open_orders(self.now, [self._venue_order(o.oid) for o in self.sim.open_orders(USER)])
        self._route()

    @property
    def _control(self):  # type: ignore[no-untyped-def]
        from tests.execution.helpers import control
        return control()

    def _deliver(self) -> None:
        while self.late and self.late[0][0] <= self.now:
            _, req = self.late.pop(0)
            self._apply(req, lose=True)
        super()._deliver()

    def _replay_fills(self) -> None:
        """userFills since this life's start (a new life never replays its predecessor's)."""
        acct = self.sim.account(USER)
        assert acct is not None
        rules = self.sim.books[COIN].rules
        for ev in reversed(acct.fills):
            if ev.time_ms >= self.started_ms:
                self.ex.on_fill(self.now, 0, ev.cloid, ev.oid, ev.tid, ev.is_buy, ev.px_units / rules.px_units_per_one,
                                ev.lots / rules.lots_per_one, ev.fee_usd, not ev.crossed, ev.time_ms)

    @invariant()
    def every_order_sent_is_accounted_for(self) -> None:
        """This life's orders, plus the previous lives' it adopted from the venue's list."""
        oms = self.ex.oms
        assert oms.accounted() == oms.sent_total == len(self.sent_cloids) + oms.orphans_adopted
        for c in self.sent_cloids:
            assert oms.status_of(c) is not None, f"{c} has no record"

    def teardown(self) -> None:
        self.late = [(self.now, r) for _, r in self.late]  # every late landing happens before the end
        self._deliver()
        super().teardown()
        left = self.sim.open_orders(USER)
        assert left == [], f"orphans at the venue after {self.lives} lives: {[o.cloid for o in left]}"


RestartsAgainstSim.TestCase.settings = settings(
    max_examples=60, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_nothing_orphaned_across_restarts = RestartsAgainstSim.TestCase
