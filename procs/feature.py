"""The feature process: market events and our own order events in, StateSnapshots out.

Wiring only: mm.stages.FeatureStage holds one mm.features.engine.FeatureEngine per symbol,
which decides when a snapshot is due (every 100 ms and on material events) and builds it,
and one mm.features.queue_rank.QueueRankTracker per symbol, which follows our resting
orders (OrderEvents from the ex ring) through book changes and trades and hands their queue
ranks to the engine.

Run recording (live/replay parity): the stage journals every message it consumed, as
received, with the ``now_ns`` of its step, and every timer call, into
``<state_dir>/runs/<run_id>/feature-*.mmrec`` after a manifest (``feature.json``: symbols,
the SHA-256 of the toxicity model files it loaded); ``mmctl replay --run`` feeds that journal
to a fresh stage and checks its snapshots against those execution consumed.
"""

from __future__ import annotations

import logging

from mm.features.engine import FeatureEngine
from mm.recording.run import HashingReader, RunRecorder
from mm.schema import AnyMessage, Bbo, BookSnapshot, RefPrice, Side, Trade, Venue
from mm.stages import FeatureStage, toxicity_models
from procs.model_files import model_bytes
from procs.runtime import Worker, run_worker

log = logging.getLogger("mm")

TIMER_NS = 10_000_000


def warm_up(now_ns: int) -> None:
    """Run every event path once on a throwaway engine, so JIT compilation happens inside
    the startup grace and never mid-stream (where it would miss the heartbeat deadline)."""
    eng = FeatureEngine(0)
    t = now_ns
    for k in range(3):
        t += 50_000_000
        px = 100.0 + k
        eng.on_event(BookSnapshot(venue=Venue.HYPERLIQUID, symbol_id=0, ts_ns=t, remote_ts_ms=0, seq=k,
                                  bid_px=[px, px - 1], bid_qty=[1.0, 2.0], ask_px=[px + 1, px + 2],
                                  ask_qty=[1.0, 2.0]), t)
        eng.on_event(Bbo(venue=Venue.HYPERLIQUID, symbol_id=0, ts_ns=t, remote_ts_ms=0, seq=k, bid_px=px,
                         bid_qty=1.5, ask_px=px + 1, ask_qty=0.5), t)
        eng.on_event(Trade(venue=Venue.HYPERLIQUID, symbol_id=0, ts_ns=t, remote_ts_ms=0, seq=k, px=px + 1,
                           qty=0.1, side=Side.BUY if k % 2 else Side.SELL, trade_id=k), t)
        eng.on_event(RefPrice(venue=Venue.BINANCE, symbol_id=0, ts_ns=t, remote_ts_ms=0, seq=k, bid_px=px,
                              ask_px=px + 1, mid_px=px + 0.5), t)
        eng.due(t)
        eng.snapshot(t, t)


class FeatureWorker(Worker):
    name = "feature"

    def on_start(self, now_ns: int) -> None:
        warm_up(now_ns)
        symbols = list(self.cfg.run.symbols)
        read = HashingReader(lambda coin, name: model_bytes(self.cfg, coin, name))
        models, errors = toxicity_models(symbols, read)
        for e in errors:
            log.error("%s", e)
        self.stage = FeatureStage(models, journal=True)
        self.recorder = RunRecorder(self.cfg.run.state_dir, self.run_id, "feature", {
            "symbols": symbols, "models": read.hashes})
        log.info("feature: run recording in %s", self.recorder.dir)

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        dropped = self.stage.dropped
        snap = self.stage.on_message(ring, msg, now_ns)
        if self.stage.dropped != dropped:
            self.hb.add("errors")
        elif snap is not None:
            self.note_latency(snap.origin_ts_ns, now_ns)
            self.publish("snap", snap)

    def drain(self, now_ns: int, max_batch: int = 256) -> int:
        n = super().drain(now_ns, max_batch)
        self._journal(now_ns)
        return n

    def on_timer(self, now_ns: int) -> int:
        for snap in self.stage.on_timer(now_ns):
            self.publish("snap", snap)
        self._journal(now_ns)
        self.recorder.maybe_flush(now_ns)
        return TIMER_NS

    def _journal(self, now_ns: int) -> None:
        for op, args in self.stage.drain_inputs():
            self.recorder.input(op, args, now_ns)

    def on_stop(self, now_ns: int) -> None:
        self._journal(now_ns)
        self.recorder.close()


if __name__ == "__main__":
    raise SystemExit(run_worker(FeatureWorker))
