"""The alpha process: StateSnapshots in, AlphaSignals out (mm.alpha.engine.AlphaEngine)."""

from __future__ import annotations

import logging

from mm.alpha.engine import AlphaEngine
from mm.alpha.leadlag import decode_params
from mm.schema import AnyMessage, StateSnapshot
from procs.model_files import model_bytes
from procs.runtime import Worker, run_worker

log = logging.getLogger("mm")


class AlphaWorker(Worker):
    name = "alpha"

    def on_start(self, now_ns: int) -> None:
        models = {}
        for i, coin in enumerate(self.cfg.run.symbols):
            raw = model_bytes(self.cfg, coin, "leadlag")
            if raw is not None:
                try:
                    models[i] = decode_params(raw)
                except ValueError as exc:
                    log.error("lead-lag model for %s is invalid (%s); using the prior", coin, exc)
        self.engine = AlphaEngine(models=models)

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        if isinstance(msg, StateSnapshot):
            self.note_latency(msg.origin_ts_ns, now_ns)
            self.publish("sig", self.engine.on_snapshot(msg, now_ns))


if __name__ == "__main__":
    raise SystemExit(run_worker(AlphaWorker))
