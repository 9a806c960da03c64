"""The feature process: market events and our own order events in, StateSnapshots out.

Wiring only: one mm.features.engine.FeatureEngine per symbol decides when a snapshot is
due (every 100 ms and on material events) and builds it; one
mm.features.queue_rank.QueueRankTracker per symbol follows our resting orders (OrderEvents
from the ex ring) through book changes and trades and hands their queue ranks to the engine.
"""

from __future__ import annotations

import logging

from mm.features.engine import FeatureEngine
from mm.features.queue_rank import QueueRankConfig, QueueRankTracker
from mm.models.toxicity import decode_model
from mm.schema import AnyMessage, Bbo, BookSnapshot, RefPrice, Side, Trade, Venue
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
        n = len(self.cfg.run.symbols)
        self.engines = []
        for i, coin in enumerate(self.cfg.run.symbols):
            raw = model_bytes(self.cfg, coin, "toxicity")
            model = None
            if raw is not None:
                try:
                    model = decode_model(raw)
                except ValueError as exc:
                    log.error("toxicity model for %s is invalid (%s); using the prior", coin, exc)
            self.engines.append(FeatureEngine(i, toxicity_model=model))
        self.trackers = [QueueRankTracker(i, QueueRankConfig()) for i in range(n)]
        self.dropped = 0

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        sid = getattr(msg, "symbol_id", -1)
        if not 0 <= sid < len(self.engines):
            self.dropped += 1
            self.hb.add("errors")
            return
        origin = getattr(msg, "ts_ns", now_ns) if ring == "md" else getattr(msg, "origin_ts_ns", now_ns)
        eng = self.engines[sid]
        if self.trackers[sid].on_event(msg, now_ns):
            eng.set_queue_ranks(*self.trackers[sid].ranks())
        if eng.on_event(msg, now_ns):
            self.note_latency(origin, now_ns)
            self.publish("snap", eng.snapshot(now_ns, origin))

    def on_timer(self, now_ns: int) -> int:
        for eng in self.engines:
            if eng.due(now_ns):
                # A timer snapshot originates at the timer; data age is in book_ts_ns etc.
                self.publish("snap", eng.snapshot(now_ns, now_ns))
        return TIMER_NS


if __name__ == "__main__":
    raise SystemExit(run_worker(FeatureWorker))
