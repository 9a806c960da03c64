"""Execution's per-symbol view and decision cycle.

Holds the latest StateSnapshot, AlphaSignal and ControlState, checks the kill switch
state it is given, and runs one decision cycle per new signal or snapshot. Until a quoting
policy is configured (the state machine of issue 6), the decision is always Flat with no
order actions: it is the safe answer, and at the Shadow exposure level (size multiplier 0)
it is what any policy would send anyway. The cycle still runs, so the pipeline and its
latency are exercised end to end. Pure logic: times come in as arguments.
"""

from __future__ import annotations

from mm.schema import AlphaSignal, ControlState, CycleSummary, ExecMode, StateSnapshot


class SymbolView:
    __slots__ = ("inventory", "signal", "snapshot")

    def __init__(self) -> None:
        self.snapshot: StateSnapshot | None = None
        self.signal: AlphaSignal | None = None
        self.inventory = 0.0


class ExecutionEngine:
    """One decision cycle per input; returns the cycle's summary."""

    def __init__(self, n_symbols: int) -> None:
        self.views = [SymbolView() for _ in range(n_symbols)]
        self.control: ControlState | None = None
        self.cycles = 0
        self.unknown_symbol = 0

    def on_control(self, msg: ControlState) -> None:
        self.control = msg

    def on_snapshot(self, snap: StateSnapshot) -> None:
        if 0 <= snap.symbol_id < len(self.views):
            view = self.views[snap.symbol_id]
            view.snapshot = snap
            view.inventory = snap.inventory
        else:
            self.unknown_symbol += 1

    def on_signal(self, sig: AlphaSignal, now_ns: int) -> CycleSummary | None:
        if not 0 <= sig.symbol_id < len(self.views):
            self.unknown_symbol += 1
            return None
        view = self.views[sig.symbol_id]
        view.signal = sig
        self.cycles += 1
        mode = ExecMode.FLAT  # no quoting policy yet: never quote
        return CycleSummary(
            symbol_id=sig.symbol_id,
            ts_ns=now_ns,
            origin_ts_ns=sig.origin_ts_ns,
            cycle=self.cycles,
            mode=int(mode),
            n_actions=0,
            inventory=view.inventory,
        )
