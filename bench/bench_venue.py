"""Paper venue benchmarks: matching throughput and order round trip over loopback.

1. Matching on generated flow: the synthetic generator's Hyperliquid events (snapshots,
   BBO updates, trades) for BTC and ETH played into the matching engine, with one user
   quoting both sides at the touch (ALO, replaced every 50 market events) so the queue
   model has orders to track. Figure: market events/s, user actions included in the time.
2. The same on the real recording ``../shared/data/real/hyperliquid-2025-09-04`` (BTC, ETH,
   WLFI: snapshots, BBO updates and trades), when present.
3. Order round trip: signed ``/exchange`` requests over loopback to a venue in a background
   thread, latency model off: place (ALO, resting) and cancel, p50/p99 in ms, with blocks off
   (HTTP + signature recovery + matching) and with the default Hyperliquid-like blocks (an
   action is answered when its block closes, ~70 ms). Requests are signed before the clock starts.

Run: ``python -m bench.bench_venue [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

from mm.schema import Bbo, BookSnapshot, MarketEvent, Side, Trade, Venue
from mm.venues.hyperliquid import exchange_wire as wire
from mm.venues.hyperliquid import rules, signing
from mm.venues.sim.config import CoinConfig, MatchingConfig, UserConfig, VenueConfig
from mm.venues.sim.driver import load_hyperliquid_csv
from mm.venues.sim.matching import MatchingEngine, OrderRequest
from mm.venues.sim.server import ThreadedVenue

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "hyperliquid-2025-09-04"
USER_KEY = "0x" + "01" * 32
USER = signing.address_of(USER_KEY)


def _play(engine: MatchingEngine, coins: list[str], events: list[MarketEvent], quote_every: int = 50) -> float:
    """Market events/s through the engine, one user re-quoting the touch every ``quote_every`` events."""
    open_oids: dict[str, list[int]] = {c: [] for c in coins}
    n = 0
    t0 = time.perf_counter()
    for k, ev in enumerate(events):
        if ev.venue == Venue.BINANCE or ev.symbol_id >= len(coins):
            continue
        coin = coins[ev.symbol_id]
        now_ns = ev.ts_ns
        if isinstance(ev, BookSnapshot):
            engine.apply_book_snapshot(coin, list(zip(ev.bid_px, ev.bid_qty)), list(zip(ev.ask_px, ev.ask_qty)),
                                       now_ns)
        elif isinstance(ev, Trade):
            engine.apply_trade(coin, ev.side == Side.BUY, ev.px, ev.qty, now_ns, ev.trade_id)
        elif isinstance(ev, Bbo):
            engine.apply_bbo(coin, ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, now_ns)
        else:
            continue
        n += 1
        if k % quote_every == 0:
            for oid in open_oids[coin]:
                engine.cancel(USER, ev.symbol_id, oid, now_ns)
            open_oids[coin].clear()
            bid, ask = engine.bbo(coin)
            cb = engine.books[coin]
            for side in (bid, ask):
                if side is None:
                    continue
                px = rules.plain_str(cb.rules.units_to_px(side[0]))
                sz = rules.format_size(12.0 / float(px), cb.rules.sz_decimals, rules.Rounding.UP)
                out = engine.place_order(USER, OrderRequest(ev.symbol_id, side is bid, px, sz, "Alo"), now_ns)
                if out.kind == "resting":
                    open_oids[coin].append(out.oid)
        engine.events.clear()
    dt = time.perf_counter() - t0
    return n / dt if dt > 0 else 0.0


def bench_generated(quick: bool) -> dict[str, Any]:
    from mm.venues.sim.generator import MarketGenerator
    from mm.venues.sim.generator_config import GeneratorConfig

    gen = MarketGenerator(GeneratorConfig(), ["BTC", "ETH"], seed=3)
    duration_s = 60.0 if quick else 300.0
    events = [e for e in gen.events(0, duration_s) if e.venue != Venue.BINANCE]
    coins = [c.name for c in gen.coins]
    engine = MatchingEngine([CoinConfig(name=c.name, sz_decimals=c.sz_decimals) for c in gen.coins],
                            users=[UserConfig(address=USER, balance_usd=1e9)])
    rate = _play(engine, coins, events)
    fills = len(engine.account(USER).fills)  # type: ignore[union-attr]
    engine.check_invariants()
    print(f"venue matching, generated flow: {len(events)} HL events ({duration_s:.0f} s, {', '.join(coins)}): "
          f"{rate:,.0f} events/s, {fills} user fills")
    return {"generated_events": len(events), "generated_events_per_s": rate, "generated_user_fills": fills}


def bench_real(quick: bool) -> dict[str, Any]:
    if not (REAL / "orderbooks_BTC.csv").exists():
        print(f"venue matching, real recording: not present at {REAL}")
        return {}
    specs = [("BTC", 5), ("ETH", 4), ("WLFI", 0)][: 1 if quick else 3]
    streams = [load_hyperliquid_csv(REAL, name, i) for i, (name, _) in enumerate(specs)]
    events = sorted((e for s in streams for e in s), key=lambda e: e.ts_ns)
    engine = MatchingEngine([CoinConfig(name=n, sz_decimals=d) for n, d in specs],
                            users=[UserConfig(address=USER, balance_usd=1e9)])
    rate = _play(engine, [n for n, _ in specs], events)
    fills = len(engine.account(USER).fills)  # type: ignore[union-attr]
    engine.check_invariants()
    print(f"venue matching, real recording ({', '.join(n for n, _ in specs)}): {len(events)} events: "
          f"{rate:,.0f} events/s, {fills} user fills")
    return {"real_events": len(events), "real_events_per_s": rate, "real_user_fills": fills}


def bench_round_trip(quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block_ms in (0, MatchingConfig().block_ms):
        fig = _round_trip(200 if quick else 1000, block_ms)
        out.update(fig if block_ms else {f"{k}_no_blocks" if k != "rtt_samples" else k: v for k, v in fig.items()})
    return out


def _round_trip(n: int, block_ms: int) -> dict[str, Any]:
    """Place/cancel round trips; ``block_ms`` 0 = every action applied on arrival (the venue's
    own cost: HTTP, signature recovery, matching), else in Hyperliquid-like blocks of that
    mean length (the paper venue's default: an action waits for its block to close)."""
    cfg = VenueConfig(coins=(CoinConfig(name="BTC", sz_decimals=5),),
                      users=(UserConfig(address=USER, balance_usd=1e9),),
                      matching=MatchingConfig(block_ms=block_ms))
    place_ms: list[float] = []
    cancel_ms: list[float] = []
    with ThreadedVenue(cfg) as venue:
        now = time.time_ns()
        venue.apply(BookSnapshot(int(Venue.HYPERLIQUID), 0, now, now // 1_000_000, 0, [100000.0], [1.0],
                                 [100001.0], [1.0]))
        session = requests.Session()
        headers = {"Content-Type": "application/json"}
        nonce = int(time.time() * 1000)
        for k in range(n + 10):  # the first 10 warm up the connection
            nonce += 1
            order = {"type": "order", "orders": [{"a": 0, "b": True, "p": "90000", "s": "0.001", "r": False,
                                                  "t": {"limit": {"tif": "Alo"}}}], "grouping": "na"}
            body = json.dumps(wire.exchange_request_body(order, nonce, signing.sign_l1_action(USER_KEY, order, nonce)))
            t0 = time.perf_counter()
            resp = session.post(venue.url + "/exchange", data=body, headers=headers, timeout=10).json()
            t1 = time.perf_counter()
            oid = resp["response"]["data"]["statuses"][0]["resting"]["oid"]
            nonce += 1
            cancel = {"type": "cancel", "cancels": [{"a": 0, "o": oid}]}
            body = json.dumps(wire.exchange_request_body(cancel, nonce,
                                                         signing.sign_l1_action(USER_KEY, cancel, nonce)))
            t2 = time.perf_counter()
            resp = session.post(venue.url + "/exchange", data=body, headers=headers, timeout=10).json()
            t3 = time.perf_counter()
            assert resp["response"]["data"]["statuses"] == ["success"], resp
            if k >= 10:
                place_ms.append((t1 - t0) * 1e3)
                cancel_ms.append((t3 - t2) * 1e3)
    out = {
        "order_rtt_p50_ms": float(np.percentile(place_ms, 50)),
        "order_rtt_p99_ms": float(np.percentile(place_ms, 99)),
        "cancel_rtt_p50_ms": float(np.percentile(cancel_ms, 50)),
        "cancel_rtt_p99_ms": float(np.percentile(cancel_ms, 99)),
        "rtt_samples": n,
    }
    blocks = f"blocks of {block_ms} ms" if block_ms else "blocks off"
    print(f"venue loopback round trip ({n} each, latency model off, {blocks}): order p50 {out['order_rtt_p50_ms']:.2f} ms "
          f"p99 {out['order_rtt_p99_ms']:.2f} ms; cancel p50 {out['cancel_rtt_p50_ms']:.2f} ms "
          f"p99 {out['cancel_rtt_p99_ms']:.2f} ms")
    return out


def run(quick: bool = False) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    figures.update(bench_generated(quick))
    figures.update(bench_real(quick))
    figures.update(bench_round_trip(quick))
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    run(ap.parse_args().quick)
