"""Publication cadence over loopback: what a websocket client of the venue receives, per block.

Hyperliquid docs (websocket subscriptions): ``WsBook`` is a full snapshot, sent on each block
that is at least 0.5 s after the last push; ``WsBbo`` only when the bbo changed on a block;
trades carry ``tid`` (a 50-bit hash of the buyer's and seller's oids) and ``users`` = [buyer,
seller]. The venue (blocks on, the default) is driven by the generator in real time; the
frames are checked against the venue's own record of its block times, and fed through the
project's Hyperliquid feed parser, which must accept all of them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from itertools import pairwise
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from mm.schema import FeedStale
from mm.venues.hyperliquid.md_wire import HyperliquidMdParser
from mm.venues.sim.config import CoinConfig, VenueConfig
from mm.venues.sim.driver import QueueDriver
from mm.venues.sim.generator import MarketGenerator
from mm.venues.sim.generator_config import GeneratorConfig
from mm.venues.sim.server import ThreadedVenue

from .conftest import wait_for

COIN = "BTC"
ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
L2_PUSHES = 8  # pushes to collect after the subscription's own snapshot (about 4.5 s)


class _Client:
    """A raw websocket client keeping every text frame with its order of arrival."""

    def __init__(self, url: str) -> None:
        self.conn = connect(url, open_timeout=10, close_timeout=2)
        self.texts: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        try:
            while True:
                text = self.conn.recv()
                assert isinstance(text, str)
                self.texts.append(text)
        except ConnectionClosed:
            return

    def frames(self, channel: str) -> list[dict[str, Any]]:
        out = []
        for text in list(self.texts):
            if text.startswith("{"):
                f = json.loads(text)
                if f.get("channel") == channel:
                    out.append(f)
        return out


def _feed(driver: QueueDriver, stop: threading.Event) -> None:
    """Play 20 s of generated BTC (Binance and Hyperliquid) into the driver at real-time pace."""
    gen = MarketGenerator(GeneratorConfig(), [COIN], seed=2)  # takers print from the first second
    t0 = time.monotonic()
    first: int | None = None
    for ev in gen.events(time.time_ns(), 20.0):
        if stop.is_set():
            return
        first = ev.ts_ns if first is None else first
        delay = (ev.ts_ns - first) / 1e9 - (time.monotonic() - t0)
        if delay > 0:
            time.sleep(delay)
        if not isinstance(ev, FeedStale):  # (the generator emits none; market events only)
            driver.push(ev)


def _split_initial(texts: list[str]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Frames in order, and the reply each subscription sent right after its ack (a trades
    subscription's reply is the backfill of recent trades, if any)."""
    frames = [json.loads(t) for t in texts if t.startswith("{")]
    initial: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    skip = -1
    for i, f in enumerate(frames):
        if f["channel"] == "subscriptionResponse":
            sub = f["data"]["subscription"]["type"]
            nxt = frames[i + 1] if i + 1 < len(frames) else None
            if nxt is not None and nxt["channel"] == sub:
                initial[sub] = nxt
                skip = i + 1
            continue
        if i != skip:
            out.append(f)
    return out, initial


def test_l2book_bbo_and_trades_follow_the_blocks() -> None:
    cfg = VenueConfig(coins=(CoinConfig(name=COIN, sz_decimals=5),))
    assert cfg.matching.block_ms > 0 and cfg.ws.l2book_interval_ms == 500
    driver = QueueDriver()
    stop = threading.Event()
    with ThreadedVenue(cfg, driver) as venue:
        feeder = threading.Thread(target=_feed, args=(driver, stop), daemon=True)
        feeder.start()
        try:
            wait_for(lambda: all(len(side) > 1 for side in venue.call(lambda s: s.engine.book_levels(COIN))),
                     what="the generated book")
            client = _Client("ws" + venue.url[len("http"):] + "/ws")
            for sub in ("l2Book", "bbo", "trades"):
                client.conn.send(json.dumps({"method": "subscribe", "subscription": {"type": sub, "coin": COIN}}))
            wait_for(lambda: len(client.frames("l2Book")) >= L2_PUSHES + 1 and len(client.frames("trades")) >= 3,
                     timeout_s=30.0, what="l2Book pushes and trades")
        finally:
            stop.set()
            feeder.join(10)
        client.conn.close()
        blocks = set(venue.call(lambda s: list(s.block_times_ms)))
        texts = list(client.texts)
    frames, initial = _split_initial(texts)
    assert set(initial) >= {"l2Book", "bbo"}

    pushes = [f for f in frames if f["channel"] == "l2Book"]
    assert len(pushes) >= L2_PUSHES
    times = [p["data"]["time"] for p in pushes]
    # on a block, at least 0.5 s apart, at the first block past the interval: so at most 2 per second
    assert all(t in blocks for t in times)
    gaps = [b - a for a, b in pairwise(times)]
    assert min(gaps) >= 500, gaps
    for a, b in pairwise(times):
        skipped = [t for t in blocks if a + 501 <= t < b]
        assert not skipped, f"push at {b} although block {skipped[0]} was already 0.5 s past {a}"
    for t0 in times:
        assert sum(1 for t in times if t0 <= t < t0 + 1000) <= 2
    for p in [initial["l2Book"], *pushes]:  # full snapshots, never diffs
        bids, asks = p["data"]["levels"]
        assert len(bids) > 1 and len(asks) > 1
        assert all(float(lv["sz"]) > 0 and lv["n"] >= 1 for lv in bids + asks)
        assert float(bids[0]["px"]) < float(asks[0]["px"])

    bbo = [f for f in frames if f["channel"] == "bbo"]
    assert len(bbo) >= 5
    bbo_times = [f["data"]["time"] for f in bbo]
    assert all(t in blocks for t in bbo_times)
    assert len(set(bbo_times)) == len(bbo_times)  # at most one per block
    tops = [json.dumps(f["data"]["bbo"]) for f in [initial["bbo"], *bbo]]
    assert all(a != b for a, b in pairwise(tops))  # only on change

    trade_frames = [f for f in frames if f["channel"] == "trades"]
    assert len(trade_frames) >= 2
    frame_times = []
    for f in trade_frames:
        ts = {tr["time"] for tr in f["data"]}
        assert len(ts) == 1 and ts <= blocks  # one block per frame
        frame_times.append(ts.pop())
        for tr in f["data"]:
            assert tr["coin"] == COIN and tr["side"] in ("A", "B")
            assert isinstance(tr["tid"], int) and 0 <= tr["tid"] < 1 << 50
            assert len(tr["users"]) == 2 and all(ADDRESS.match(u) for u in tr["users"])
    assert len(set(frame_times)) == len(frame_times)  # one frame per block

    # the project's feed parser takes this cadence as it comes: it refuses nothing but the backfill
    parser = HyperliquidMdParser({COIN: 0})
    events = []
    for i, text in enumerate(texts):
        events += parser.parse(text, i + 1)
    events += parser.release_expired(1 << 62, expire_all=True)
    refused = parser.counters.as_dict(nonzero_only=True)
    assert set(refused) <= {"TRADE_BACKFILL"}, refused
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("BookSnapshot") == len(pushes) + 1
    assert kinds.count("Bbo") == len(bbo) + 1
    assert kinds.count("Trade") >= sum(len(f["data"]) for f in trade_frames)
