"""The sim venue process (paper mode): Hyperliquid's protocol on loopback, fed by a market driver.

Wiring only: mm.venues.sim.server serves /info, /exchange, /ws and the Binance-style streams;
the driver is a replay of a recorded real market ([paper] driver = "replay") or the seeded
generator ("generator"). The heartbeat runs as a task on the venue's event loop.

Its users are ``[venue] users`` plus, in paper mode with an ``[exchange]`` section, the
paper account with execution's and risk's API wallets approved for it, the addresses read
from the key files the supervisor generated (procs.paper_keys): the venue verifies every
signature and refuses any other signer.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import time
from collections.abc import Iterable

import uvloop

from mm.venues.sim.driver import DriverEvent, ReplayDriver, load_hyperliquid_csv
from mm.venues.sim.generator import MarketGenerator
from mm.venues.sim.generator_config import GeneratorConfig
from mm.venues.sim.server import serve
from procs.paper_keys import paper_users, uses_paper_keys
from procs.runtime import Worker, run_worker

log = logging.getLogger("mm")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class VenueWorker(Worker):
    name = "venue"

    def make_driver(self) -> ReplayDriver:
        paper = self.cfg.paper
        coins = list(self.cfg.run.symbols)
        if paper.driver == "replay":
            path = paper.replay_dir if os.path.isabs(paper.replay_dir) else os.path.join(REPO, paper.replay_dir)
            if os.path.isdir(path):
                streams: list[Iterable[DriverEvent]] = [
                    load_hyperliquid_csv(path, c, i) for i, c in enumerate(coins)
                    if os.path.exists(os.path.join(path, f"orderbooks_{c}.csv"))
                ]
                events = list(heapq.merge(*streams, key=lambda e: e.ts_ns))
                if events:
                    log.info("venue driver: replay of %s (%d events, speed %g, loop %s)", path, len(events),
                             paper.replay_speed, paper.replay_loop)
                    return ReplayDriver(events, speed=paper.replay_speed, loop=paper.replay_loop)
            log.warning("venue driver: no recording at %s; using the generator instead", path)
        gen = MarketGenerator(GeneratorConfig(), coins, seed=paper.generator_seed)
        log.info("venue driver: generator, seed %d", paper.generator_seed)
        return ReplayDriver(gen.events(time.monotonic_ns(), 30 * 86_400.0), speed=1.0)

    def run(self, clock_ns=time.monotonic_ns) -> int:  # type: ignore[override]
        driver = self.make_driver()
        venue_cfg = paper_users(self.cfg, self.cfg.venue)
        if uses_paper_keys(self.cfg):
            u = venue_cfg.users[-1]
            log.info("venue: paper account %s, approved agents %s", u.address, ", ".join(u.agents))

        async def main() -> None:
            server = await serve(venue_cfg, driver)
            self.hb.set(state=2)
            beat_s = self.hb_interval_ns / 4e9
            try:
                while not self.stopping:
                    self.beat(clock_ns())
                    await asyncio.sleep(beat_s)
            finally:
                await server.stop()

        try:
            uvloop.run(main())
        finally:
            self.hb.set(state=4)
            self.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(run_worker(VenueWorker))
