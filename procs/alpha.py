"""The alpha process: StateSnapshots in, AlphaSignals out (mm.alpha.engine.AlphaEngine).

It also reads risk's ControlState (ctl ring) for the continuous validator's model weights:
a retired lead-lag signal is zeroed (mm.alpha.engine, "Model weights")."""

from __future__ import annotations

import logging

from mm.alpha.engine import AlphaEngine
from mm.alpha.leadlag import LeadLagParams, decode_params
from mm.config import Config
from mm.schema import AnyMessage, ControlState, StateSnapshot
from procs.model_files import model_bytes
from procs.runtime import Worker, run_worker

log = logging.getLogger("mm")


def load_leadlag_models(cfg: Config) -> dict[int, LeadLagParams]:
    """Each symbol's fitted lead-lag file ([models] dir); a symbol without one uses the prior."""
    models = {}
    for i, coin in enumerate(cfg.run.symbols):
        raw = model_bytes(cfg, coin, "leadlag")
        if raw is not None:
            try:
                models[i] = decode_params(raw)
            except ValueError as exc:
                log.error("lead-lag model for %s is invalid (%s); using the prior", coin, exc)
    return models


def alpha_engine(cfg: Config) -> AlphaEngine:
    """The engine as the alpha process runs it (risk builds one too, for model names and horizons)."""
    return AlphaEngine(models=load_leadlag_models(cfg), symbols=list(cfg.run.symbols))


class AlphaWorker(Worker):
    name = "alpha"

    def on_start(self, now_ns: int) -> None:
        self.engine = alpha_engine(self.cfg)

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        if isinstance(msg, StateSnapshot):
            self.note_latency(msg.origin_ts_ns, now_ns)
            self.publish("sig", self.engine.on_snapshot(msg, now_ns))
        elif isinstance(msg, ControlState):
            before = self.engine.weights
            self.engine.set_model_weights(msg.model_weights)
            if self.engine.weights != before:
                log.warning("model weights from risk: %s", self.engine.weights)


if __name__ == "__main__":
    raise SystemExit(run_worker(AlphaWorker))
