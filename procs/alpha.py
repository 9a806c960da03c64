"""The alpha process: StateSnapshots in, AlphaSignals out (mm.alpha.engine.AlphaEngine)."""

from __future__ import annotations

from mm.alpha.engine import AlphaEngine
from mm.schema import AnyMessage, StateSnapshot
from procs.runtime import Worker, run_worker


class AlphaWorker(Worker):
    name = "alpha"

    def on_start(self, now_ns: int) -> None:
        self.engine = AlphaEngine()

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        if isinstance(msg, StateSnapshot):
            self.note_latency(msg.origin_ts_ns, now_ns)
            self.publish("sig", self.engine.on_snapshot(msg, now_ns))


if __name__ == "__main__":
    raise SystemExit(run_worker(AlphaWorker))
