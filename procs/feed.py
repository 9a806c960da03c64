"""The feed process: market events onto the md ring.

Sources (config [feed].source):
- "synthetic": the seeded market generator (mm.venues.sim.generator), paced in real time.
  Each event is stamped with the local monotonic time at which it is published, as a
  venue event would be stamped on receipt.
- "venue": the Hyperliquid and Binance websocket feed handlers at the [venues] URLs (the
  sim venue on loopback in paper mode), on uvloop.
"""

from __future__ import annotations

import logging
import time

import msgspec

from mm.venues.sim.generator import MarketGenerator
from mm.venues.sim.generator_config import GeneratorConfig
from procs.runtime import Worker, run_worker

log = logging.getLogger("mm")
RUN_FOR_S = 30 * 86_400.0  # the synthetic stream is effectively endless


class FeedWorker(Worker):
    name = "feed"

    def run(self, clock_ns=time.monotonic_ns) -> int:  # type: ignore[override]
        if self.cfg.feed.source == "venue":
            from procs.feed_venue import run_venue_feed

            return run_venue_feed(self, clock_ns)
        return self._run_synthetic(clock_ns)

    def _run_synthetic(self, clock_ns) -> int:
        gen = MarketGenerator(GeneratorConfig(), list(self.cfg.run.symbols), seed=self.cfg.feed.synthetic_seed)
        start = clock_ns()
        self.hb.set(state=2)
        self.hb.beat(start)
        log.info("synthetic feed: %s, seed %d", ", ".join(self.cfg.run.symbols), self.cfg.feed.synthetic_seed)
        half_beat_s = self.hb_interval_ns / 2e9
        try:
            for ev in gen.events(start, RUN_FOR_S):
                due = ev.ts_ns
                now = clock_ns()
                while now < due and not self.stopping:
                    self.beat(now)
                    time.sleep(min((due - now) / 1e9, half_beat_s))
                    now = clock_ns()
                if self.stopping:
                    break
                self.beat(now)
                self.publish("md", msgspec.structs.replace(ev, ts_ns=now))
        finally:
            self.hb.set(state=4)
            self.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(run_worker(FeedWorker))
