"""The alpha process: StateSnapshots in, AlphaSignals out (mm.alpha.engine.AlphaEngine).

It also reads risk's ControlState (ctl ring) for the continuous validator's model weights:
a retired lead-lag signal is zeroed (mm.alpha.engine, "Model weights").

Run recording (live/replay parity): mm.stages.AlphaStage journals every snapshot it
consumed, as received, with the ``now_ns`` of its step, and every model-weights update it
applied, into ``<state_dir>/runs/<run_id>/alpha-*.mmrec`` after a manifest (``alpha.json``:
symbols, the SHA-256 of the lead-lag model files it loaded)."""

from __future__ import annotations

import logging

from mm.alpha.engine import AlphaEngine
from mm.alpha.leadlag import LeadLagParams
from mm.config import Config
from mm.recording.run import HashingReader, RunRecorder
from mm.schema import AnyMessage, ControlState, StateSnapshot
from mm.stages import AlphaStage, leadlag_models
from procs.model_files import model_bytes
from procs.runtime import Worker, run_worker

log = logging.getLogger("mm")


def load_leadlag_models(cfg: Config) -> dict[int, LeadLagParams]:
    """Each symbol's fitted lead-lag file ([models] dir); a symbol without one uses the prior."""
    models, errors = leadlag_models(list(cfg.run.symbols), lambda coin, name: model_bytes(cfg, coin, name))
    for e in errors:
        log.error("%s", e)
    return models


def alpha_engine(cfg: Config) -> AlphaEngine:
    """The engine as the alpha process runs it (risk builds one too, for model names and horizons)."""
    return AlphaEngine(models=load_leadlag_models(cfg), symbols=list(cfg.run.symbols))


class AlphaWorker(Worker):
    name = "alpha"

    def on_start(self, now_ns: int) -> None:
        symbols = list(self.cfg.run.symbols)
        read = HashingReader(lambda coin, name: model_bytes(self.cfg, coin, name))
        models, errors = leadlag_models(symbols, read)
        for e in errors:
            log.error("%s", e)
        self.stage = AlphaStage(AlphaEngine(models=models, symbols=symbols), journal=True)
        self.engine = self.stage.engine
        self.recorder = RunRecorder(self.cfg.run.state_dir, self.run_id, "alpha",
                                    {"symbols": symbols, "models": read.hashes})
        log.info("alpha: run recording in %s", self.recorder.dir)

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        if isinstance(msg, StateSnapshot):
            self.note_latency(msg.origin_ts_ns, now_ns)
            self.publish("sig", self.stage.on_snapshot(msg, now_ns))
        elif isinstance(msg, ControlState):
            if self.stage.on_control(msg):
                log.warning("model weights from risk: %s", self.engine.weights)

    def drain(self, now_ns: int, max_batch: int = 256) -> int:
        n = super().drain(now_ns, max_batch)
        for op, args in self.stage.drain_inputs():
            self.recorder.input(op, args, now_ns)
        return n

    def on_timer(self, now_ns: int) -> int:
        self.recorder.maybe_flush(now_ns)
        return self.hb_interval_ns

    def on_stop(self, now_ns: int) -> None:
        self.recorder.close()


if __name__ == "__main__":
    raise SystemExit(run_worker(AlphaWorker))
