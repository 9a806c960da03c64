"""The execution process: snapshots, signals and control in; a decision cycle per signal out.

Wiring only: decisions are mm.execution.engine.ExecutionEngine's. The engine has no quoting
policy yet, so no order action ever leaves this process; the kill switch is watched by the
worker runtime on every heartbeat and logged when seen.
"""

from __future__ import annotations

from mm.execution.engine import ExecutionEngine
from mm.schema import AlphaSignal, AnyMessage, ControlState, StateSnapshot
from procs.runtime import Worker, run_worker


class ExecutionWorker(Worker):
    name = "execution"

    def on_start(self, now_ns: int) -> None:
        self.engine = ExecutionEngine(len(self.cfg.run.symbols))

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        if isinstance(msg, AlphaSignal):
            self.note_latency(msg.origin_ts_ns, now_ns)
            summary = self.engine.on_signal(msg, now_ns)
            if summary is not None:
                self.publish("ex", summary)
        elif isinstance(msg, StateSnapshot):
            self.engine.on_snapshot(msg)
        elif isinstance(msg, ControlState):
            self.engine.on_control(msg)


if __name__ == "__main__":
    raise SystemExit(run_worker(ExecutionWorker))
