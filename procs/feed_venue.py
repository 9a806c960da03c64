"""The feed process's venue source: Hyperliquid and Binance websocket handlers on uvloop.

Wiring only: mm.venues.hyperliquid.feed.HyperliquidFeed and mm.venues.binance.feed.BinanceFeed
parse, sync books, reconnect and detect staleness; every normalized event they emit is
published on the md ring. The heartbeat runs as its own task, so a quiet venue never looks
like a dead feed process (staleness is reported as FeedStale events instead).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import uvloop

from mm.schema import MarketEvent
from mm.venues.binance.feed import BinanceFeed
from mm.venues.hyperliquid.feed import HyperliquidFeed

if TYPE_CHECKING:
    from procs.runtime import Worker

log = logging.getLogger("mm")


def run_venue_feed(worker: Worker, clock_ns: Callable[[], int]) -> int:
    cfg = worker.cfg
    coins = {c: i for i, c in enumerate(cfg.run.symbols)}
    bn_symbols = {cfg.venues.binance_symbols[c]: i for c, i in coins.items()}

    def on_event(ev: MarketEvent) -> None:
        worker.publish("md", ev)

    async def main() -> None:
        hl = HyperliquidFeed(cfg.venues.hl_ws_url, coins, on_event, clock_ns,
                             stale_after_ms=cfg.feed.stale_after_ms)
        bn = BinanceFeed(cfg.venues.binance_ws_url, cfg.venues.binance_rest_url, bn_symbols, on_event, clock_ns,
                         stale_after_ms=cfg.feed.stale_after_ms)
        log.info("venue feed: Hyperliquid %s %s; Binance %s %s", cfg.venues.hl_ws_url, list(coins),
                 cfg.venues.binance_ws_url, list(bn_symbols))
        tasks = [asyncio.create_task(hl.run(), name="hl"), asyncio.create_task(bn.run(), name="binance")]
        beat_s = worker.hb_interval_ns / 4e9
        try:
            while not worker.stopping:
                worker.beat(clock_ns())
                for t in tasks:
                    if t.done() and not t.cancelled() and t.exception() is not None:
                        raise RuntimeError(f"{t.get_name()} feed task died") from t.exception()
                await asyncio.sleep(beat_s)
        finally:
            hl.stop()
            bn.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    worker.hb.set(state=2)
    worker.beat(clock_ns())
    try:
        uvloop.run(main())
    finally:
        worker.hb.set(state=4)
        worker.close()
    return 0
