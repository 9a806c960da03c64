"""Feed faults: malformed frames at a high rate, reconnect storms, a stale feed.

Feed level (no group; the real websocket clients against a loopback websocket server):

- ``malformed_hl`` / ``malformed_binance``: the Hyperliquid client
  (mm/venues/hyperliquid/feed.py) and the Binance client (mm/venues/binance/feed.py, with
  its REST depth snapshot) receive valid frames interleaved with garbage (not JSON, not
  UTF-8, random bytes, unknown channels and symbols, wrong shapes, NaN/zero/negative
  numbers, unsorted and crossed books, binary frames), as fast as the server can send.
  Figures: every garbage frame counted (counted == sent), the client never crashed, the
  book is right (every book it emitted equals the reference book built from the valid
  frames alone, in order, and the last one equals the final reference), and the rate.
- ``reconnect_storm``: the server aborts each connection (TCP reset) after a few frames,
  many times in a row; the Hyperliquid client reconnects every time with a fresh
  subscription, the book after the storm equals the reference, and when the server then
  goes silent the client reports the feed stale within ``stale_after_ms`` (+ one tick).

Group level (slow): ``feed_stale_group``: the paper group's feed reaches the sim venue through
a loopback TCP proxy (chaos/netproxy.py); cutting it silently (bytes dropped, connections
kept) makes the feed stale: time from the cut to the venue listing no open order of ours
(bound: ``feed.stale_after_ms`` + ``escalation.red_stale_data_s`` + the kill path bound);
then a reconnect storm (every connection reset on arrival for a while): the feed process
survives (no restart), and after the proxy passes again market data flows and the group
quotes again.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve

from chaos.table import Ctx, Row, Scenario, check
from mm.schema import BookSnapshot, FeedStale, MarketEvent
from mm.venues.binance.feed import BinanceFeed
from mm.venues.feed_health import NS_PER_MS, Backoff
from mm.venues.hyperliquid.feed import HyperliquidFeed


def fast_backoff() -> Backoff:
    """Reconnect after 5-20 ms (the storm would otherwise spend its time waiting)."""
    return Backoff(base_ns=5 * NS_PER_MS, max_ns=20 * NS_PER_MS)
COINS = {"BTC": 0, "ETH": 1}


def _j(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


# --------------------------------------------------------------------------- Hyperliquid


class HlMarket:
    """A reference Hyperliquid market: random-walk books per coin, valid l2Book/trades frames."""

    def __init__(self, rng: random.Random, t0_ms: int = 1_760_000_000_000) -> None:
        self.rng = rng
        self.t_ms = t0_ms
        self.mid = {"BTC": 100_000.0, "ETH": 4_000.0}
        self.tid = 10**12
        self.books: dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}

    def book_frame(self, coin: str) -> str:
        self.t_ms += 1 + self.rng.randrange(3)
        tick = 1.0 if coin == "BTC" else 0.1
        self.mid[coin] += tick * self.rng.choice((-2, -1, 0, 1, 2))
        best_bid = round(self.mid[coin] - tick * (1 + self.rng.randrange(3)), 1)
        best_ask = round(self.mid[coin] + tick * (1 + self.rng.randrange(3)), 1)
        n = 1 + self.rng.randrange(10)
        bids = [(round(best_bid - i * tick, 1), round(0.001 + self.rng.random() * 5, 5)) for i in range(n)]
        asks = [(round(best_ask + i * tick, 1), round(0.001 + self.rng.random() * 5, 5)) for i in range(n)]
        self.books[coin] = (bids, asks)
        return _j({"channel": "l2Book", "data": {"coin": coin, "time": self.t_ms, "levels": [
            [{"px": f"{p}", "sz": f"{q}", "n": 1} for p, q in bids],
            [{"px": f"{p}", "sz": f"{q}", "n": 1} for p, q in asks]]}})

    def trade_frame(self, coin: str) -> str:
        self.tid += 1
        return _j({"channel": "trades", "data": [{"coin": coin, "side": self.rng.choice("BA"),
                                                  "px": f"{round(self.mid[coin], 1)}", "sz": "0.01", "hash": "0x0",
                                                  "time": self.t_ms, "tid": self.tid, "users": ["a", "b"]}]})


def hl_garbage(rng: random.Random, t_ms: int) -> str | bytes:
    """One frame the Hyperliquid parser must refuse (and count once), whatever state it is in.

    Times are in the future of the valid stream: a refused frame that left its time behind
    would make the following valid books look out of order."""
    t = t_ms + 10_000
    lv = lambda p, s: {"px": p, "sz": s, "n": 1}  # noqa: E731
    book = lambda coin, b, a: _j({"channel": "l2Book", "data": {"coin": coin, "time": t, "levels": [b, a]}})  # noqa: E731
    kinds: list[Callable[[], str | bytes]] = [
        lambda: "{nope",
        lambda: b"\xff\xfe\x00garbage",
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) + b"\xff",
        lambda: _j({"channel": "allMids", "data": {"mids": {}}}),
        lambda: "[1,2,3]",
        lambda: _j({"data": 1}),
        lambda: _j({"channel": "l2Book", "data": {"coin": "BTC", "levels": [[], []]}}),
        lambda: book("DOGE", [lv("1", "1")], [lv("2", "1")]),
        lambda: book("BTC", [lv("NaN", "1")], [lv("2", "1")]),
        lambda: book("ETH", [lv("1", "1")], [lv("0", "1")]),
        lambda: book("BTC", [lv("1", "-1")], [lv("2", "1")]),
        lambda: book("ETH", [lv("1", "1"), lv("2", "1")], [lv("3", "1")]),
        lambda: book("BTC", [lv("5", "1")], [lv("4", "1")]),
        lambda: _j({"channel": "trades", "data": [{"coin": "BTC", "side": "X", "px": "1", "sz": "1", "hash": "0x0",
                                                   "time": t, "tid": 1, "users": ["a", "b"]}]}),
        lambda: _j({"channel": "error", "data": "Invalid subscription"}),
        lambda: "x" * rng.randrange(1, 4000),
    ]
    return rng.choice(kinds)()


async def _hl_serve(frames: list[str | bytes], subscribed_n: int, abort_every: int = 0,
                    then_silent: bool = False) -> tuple[Any, dict[str, Any]]:
    """A loopback Hyperliquid-like server that sends ``frames`` (continuing across connections)."""
    st: dict[str, Any] = {"i": 0, "connections": 0, "done": asyncio.Event()}

    async def handler(ws: ServerConnection) -> None:
        st["connections"] += 1
        subs = 0
        async for raw in ws:
            if json.loads(raw).get("method") == "subscribe":
                subs += 1
                if subs == subscribed_n:
                    break
        sent = 0
        while st["i"] < len(frames):
            await ws.send(frames[st["i"]])
            st["i"] += 1
            sent += 1
            if abort_every and sent >= abort_every and st["i"] < len(frames):
                assert ws.transport is not None
                ws.transport.abort()  # a TCP reset, no close handshake
                return
            if sent % 256 == 0:
                await asyncio.sleep(0)
        st["done"].set()
        await asyncio.sleep(3600 if then_silent else 30)

    server = await serve(handler, "127.0.0.1", 0, max_size=1 << 22)
    return server, st


def _book_key(ev: BookSnapshot) -> tuple[int, tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    return (ev.symbol_id, tuple(ev.bid_px), tuple(ev.bid_qty), tuple(ev.ask_px), tuple(ev.ask_qty))


def _ref_key(sym: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> tuple[Any, ...]:
    return (sym, tuple(p for p, _ in bids), tuple(q for _, q in bids), tuple(p for p, _ in asks),
            tuple(q for _, q in asks))


def _hl_stream(rng: random.Random, n_valid: int, garbage_ratio: float) -> tuple[list[str | bytes], list[Any], int]:
    """Frames (valid and garbage interleaved), the reference books in order, and the garbage count."""
    mk = HlMarket(rng)
    frames: list[str | bytes] = []
    refs: list[Any] = []
    garbage = 0
    for i in range(n_valid):
        coin = "BTC" if i % 2 == 0 else "ETH"
        frames.append(mk.book_frame(coin))
        refs.append(_ref_key(COINS[coin], *mk.books[coin]))
        if i % 5 == 4:
            frames.append(mk.trade_frame(coin))
        while rng.random() < garbage_ratio:
            frames.append(hl_garbage(rng, mk.t_ms))
            garbage += 1
    return frames, refs, garbage


def run_malformed_hl(ctx: Ctx) -> list[Row]:
    sc = "malformed_hl"
    n_valid = 1_500 if ctx.quick else 10_000
    rng = random.Random(ctx.seed + 11)
    frames, refs, garbage = _hl_stream(rng, n_valid, garbage_ratio=0.7)
    events: list[MarketEvent] = []
    out: dict[str, Any] = {}

    async def main() -> None:
        server, st = await _hl_serve(frames, subscribed_n=len(COINS) * 4)
        port = server.sockets[0].getsockname()[1]
        feed = HyperliquidFeed(f"ws://127.0.0.1:{port}/ws", COINS, events.append, backoff=fast_backoff())
        task = asyncio.create_task(feed.run())
        t0 = time.monotonic()
        try:
            while not (st["done"].is_set() and feed.stats.frames >= len(frames)):
                if task.done():
                    break
                if time.monotonic() - t0 > 120:
                    break
                await asyncio.sleep(0.01)
            out["elapsed_s"] = time.monotonic() - t0
        finally:
            feed.stop()
            try:
                await asyncio.wait_for(task, 10)
                out["crash"] = ""
            except Exception as exc:  # the figure: a client that died
                out["crash"] = f"{type(exc).__name__}: {exc}"
            server.close()
        out["counted"] = sum(v for k, v in feed.counters.as_dict(nonzero_only=True).items()
                             if not k.startswith("TRADE_"))
        out["frames"] = feed.stats.frames
        out["connects"] = feed.stats.connects

    asyncio.run(main())
    books = [_book_key(e) for e in events if isinstance(e, BookSnapshot)]
    wrong = sum(a != b for a, b in zip(books, refs, strict=False)) + abs(len(books) - len(refs))
    return [
        check(sc, "garbage frames sent", garbage, "", ">=", n_valid, f"{len(frames)} frames in all"),
        check(sc, "garbage not counted", garbage - out["counted"], "", "==", 0, f"counted {out['counted']}"),
        check(sc, "client crashed", 1 if out["crash"] else 0, "", "==", 0, out["crash"] or f"{out['connects']} connect(s)"),
        check(sc, "books wrong", wrong, "", "==", 0, f"{len(books)} books emitted vs {len(refs)} valid"),
        check(sc, "last book right", 1 if books and books[-1] == refs[-1] else 0, "", "==", 1),
        check(sc, "rate", out["frames"] / max(out["elapsed_s"], 1e-9), "frames/s", ">=", 500.0),
    ]


def run_reconnect_storm(ctx: Ctx) -> list[Row]:
    sc = "reconnect_storm"
    n_valid = 600 if ctx.quick else 3_000
    abort_every = 12
    rng = random.Random(ctx.seed + 13)
    frames, refs, garbage = _hl_stream(rng, n_valid, garbage_ratio=0.0)
    events: list[tuple[int, MarketEvent]] = []
    stale_ms = 300
    out: dict[str, Any] = {}

    async def main() -> None:
        server, st = await _hl_serve(frames, subscribed_n=len(COINS) * 4, abort_every=abort_every, then_silent=True)
        port = server.sockets[0].getsockname()[1]
        feed = HyperliquidFeed(f"ws://127.0.0.1:{port}/ws", COINS, lambda e: events.append((time.monotonic_ns(), e)),
                               backoff=fast_backoff(), stale_after_ms=stale_ms, tick_ms=20)
        task = asyncio.create_task(feed.run())
        t0 = time.monotonic()
        try:
            while not st["done"].is_set() and not task.done() and time.monotonic() - t0 < 120:
                await asyncio.sleep(0.01)
            out["storm_s"] = time.monotonic() - t0
            out["last_frame_ns"] = time.monotonic_ns()
            # the server is now silent on an open connection: the feed must say so
            while (not task.done() and time.monotonic() - t0 < 150
                   and sum(isinstance(e, FeedStale) and e.stale and t > out["last_frame_ns"] for t, e in events)
                   < len(COINS)):
                await asyncio.sleep(0.005)
        finally:
            feed.stop()
            try:
                await asyncio.wait_for(task, 10)
                out["crash"] = ""
            except Exception as exc:
                out["crash"] = f"{type(exc).__name__}: {exc}"
            server.close()
        out["connects"] = feed.stats.connects
        out["connections"] = st["connections"]

    asyncio.run(main())
    books = [_book_key(e) for _, e in events if isinstance(e, BookSnapshot)]
    stale_at = [t for t, e in events if isinstance(e, FeedStale) and e.stale and t > out["last_frame_ns"]]
    last_book_ns = max(t for t, e in events if isinstance(e, BookSnapshot))
    stale_delay_ms = (max(stale_at) - last_book_ns) / 1e6 if len(stale_at) >= len(COINS) else float("inf")
    expected = -(-len(frames) // abort_every)
    wrong = sum(a != b for a, b in zip(books, refs, strict=False)) + abs(len(books) - len(refs))
    return [
        check(sc, "connections", out["connects"], "", ">=", expected, f"server aborted every {abort_every} frames; "
              f"{out['connections']} accepted, storm {out['storm_s']:.1f} s"),
        check(sc, "client crashed", 1 if out["crash"] else 0, "", "==", 0, out["crash"]),
        check(sc, "books wrong", wrong, "", "==", 0, f"{len(books)} books vs {len(refs)} sent"),
        check(sc, "stale reported", stale_delay_ms, "ms", "<=", stale_ms + 250.0,
              f"last book -> FeedStale for every coin (stale_after_ms {stale_ms})"),
    ]


# --------------------------------------------------------------------------- Binance


class BnMarket:
    """A reference Binance USD-M depth book for BTCUSDT: chained diffs over a REST snapshot."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.u = 1_000
        self.t_ms = 1_760_000_000_000
        self.bids: dict[float, float] = {round(100_000.0 - i, 1): 1.0 + i for i in range(30)}
        self.asks: dict[float, float] = {round(100_001.0 + i, 1): 1.0 + i for i in range(30)}
        self.agg = 1

    def snapshot(self) -> dict[str, Any]:
        return {"lastUpdateId": self.u, "E": self.t_ms, "T": self.t_ms,
                "bids": [[f"{p}", f"{q}"] for p, q in sorted(self.bids.items(), reverse=True)],
                "asks": [[f"{p}", f"{q}"] for p, q in sorted(self.asks.items())]}

    def diff(self) -> str:
        pu = self.u
        self.u += 1 + self.rng.randrange(3)
        self.t_ms += 1
        bb, ba = max(self.bids), min(self.asks)
        b, a = [], []
        for _ in range(1 + self.rng.randrange(4)):
            p = round(bb - self.rng.randrange(25), 1)
            q = 0.0 if self.rng.random() < 0.3 and len(self.bids) > 5 else round(self.rng.random() * 9 + 0.001, 3)
            b.append([f"{p}", f"{q}"])
            if q == 0.0:
                self.bids.pop(p, None)
            else:
                self.bids[p] = q
        for _ in range(1 + self.rng.randrange(4)):
            p = round(ba + self.rng.randrange(25), 1)
            q = 0.0 if self.rng.random() < 0.3 and len(self.asks) > 5 else round(self.rng.random() * 9 + 0.001, 3)
            a.append([f"{p}", f"{q}"])
            if q == 0.0:
                self.asks.pop(p, None)
            else:
                self.asks[p] = q
        return _j({"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": self.t_ms, "T": self.t_ms,
                                                              "s": "BTCUSDT", "U": pu + 1, "u": self.u, "pu": pu,
                                                              "b": b, "a": a}})

    def ticker(self) -> str:
        bb, ba = max(self.bids), min(self.asks)
        return _j({"stream": "btcusdt@bookTicker", "data": {"e": "bookTicker", "u": self.u, "E": self.t_ms,
                                                             "T": self.t_ms, "s": "BTCUSDT", "b": f"{bb}",
                                                             "B": f"{self.bids[bb]}", "a": f"{ba}", "A": f"{self.asks[ba]}"}})

    def trade(self) -> str:
        self.agg += 1
        return _j({"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": self.t_ms, "s": "BTCUSDT",
                                                           "a": self.agg, "p": f"{max(self.bids)}", "q": "0.01",
                                                           "f": 1, "l": 1, "T": self.t_ms, "m": True}})

    def top(self, n: int = 20) -> tuple[Any, ...]:
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return _ref_key(0, bids, asks)


def bn_garbage(rng: random.Random) -> str | bytes:
    """One frame the Binance parser must refuse (counted once) without touching BTCUSDT's depth."""
    kinds: list[Callable[[], str | bytes]] = [
        lambda: '{"stream":',
        lambda: b"\xff\xfe\x00",
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) + b"\xff",
        lambda: _j({"stream": "x", "data": {"e": "markPriceUpdate", "s": "BTCUSDT"}}),
        lambda: _j({"e": "bookTicker"}),
        lambda: _j({"stream": "x", "data": {"e": "bookTicker", "s": "BTCUSDT", "b": "1", "B": "1", "a": "2", "A": "1"}}),
        lambda: _j({"stream": "x", "data": {"e": "bookTicker", "u": 1, "E": 1, "T": 1, "s": "DOGEUSDT", "b": "1",
                                            "B": "1", "a": "2", "A": "1"}}),
        lambda: _j({"stream": "x", "data": {"e": "bookTicker", "u": 1, "E": 1, "T": 1, "s": "BTCUSDT", "b": "NaN",
                                            "B": "1", "a": "2", "A": "1"}}),
        lambda: _j({"stream": "x", "data": {"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 1, "p": "nan", "q": "1",
                                            "f": 1, "l": 1, "T": 1, "m": True}}),
        lambda: _j({"stream": "x", "data": {"e": "depthUpdate", "E": 1, "T": 1, "s": "XRPUSDT", "U": 1, "u": 2,
                                            "pu": 0, "b": [], "a": []}}),
        lambda: "[" * rng.randrange(1, 3000),
    ]
    return rng.choice(kinds)()


def run_malformed_binance(ctx: Ctx) -> list[Row]:
    sc = "malformed_binance"
    n_diffs = 1_500 if ctx.quick else 10_000
    rng = random.Random(ctx.seed + 17)
    mk = BnMarket(rng)
    first_snapshot = mk.snapshot()
    # the first diff is buffered, then bridged by the snapshot (lastUpdateId inside its range)
    frames: list[str | bytes] = [mk.diff()]
    first_snapshot["lastUpdateId"] = mk.u
    snapshot = first_snapshot
    garbage = 0
    for i in range(n_diffs):
        frames.append(mk.diff())
        if i % 3 == 0:
            frames.append(mk.ticker())
        if i % 7 == 0:
            frames.append(mk.trade())
        while rng.random() < 0.7:
            frames.append(bn_garbage(rng))
            garbage += 1
    final_top = mk.top()
    events: list[MarketEvent] = []
    out: dict[str, Any] = {"snapshots": 0}

    async def main() -> None:
        served = asyncio.Event()

        async def depth_handler(request: web.Request) -> web.Response:
            out["snapshots"] += 1
            served.set()
            return web.json_response(snapshot)

        done = asyncio.Event()

        async def ws_handler(ws: ServerConnection) -> None:
            await ws.send(frames[0])
            await served.wait()
            await asyncio.sleep(0.05)
            for i, f in enumerate(frames[1:]):
                await ws.send(f)
                if i % 256 == 0:
                    await asyncio.sleep(0)
            done.set()
            await ws.wait_closed()

        app = web.Application()
        app.router.add_get("/binance/fapi/v1/depth", depth_handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        rest_port = runner.addresses[0][1]
        async with serve(ws_handler, "127.0.0.1", 0, max_size=1 << 22) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            feed = BinanceFeed(f"ws://127.0.0.1:{port}/binance/stream", f"http://127.0.0.1:{rest_port}/binance",
                               {"BTCUSDT": 0}, events.append, backoff=fast_backoff(),
                               snapshot_min_interval_ms=0)
            task = asyncio.create_task(feed.run())
            t0 = time.monotonic()
            while not (done.is_set() and feed.stats.frames >= len(frames)) and not task.done():
                if time.monotonic() - t0 > 120:
                    break
                await asyncio.sleep(0.01)
            out["elapsed_s"] = time.monotonic() - t0
            feed.stop()
            try:
                await asyncio.wait_for(task, 10)
                out["crash"] = ""
            except Exception as exc:
                out["crash"] = f"{type(exc).__name__}: {exc}"
        await runner.cleanup()
        # no reconnect here, so every refusal is garbage's (a garbage trade with an old id
        # is a TRADE_DUPLICATE before its NaN price is looked at: counted once either way)
        out["counted"] = sum(feed.counters.as_dict(nonzero_only=True).values())
        out["frames"] = feed.stats.frames
        out["book"] = feed.parser.depth["BTCUSDT"].book

    asyncio.run(main())
    books = [_book_key(e) for e in events if isinstance(e, BookSnapshot)]
    crossed = sum(1 for b in books if b[1] and b[3] and b[1][0] >= b[3][0])
    return [
        check(sc, "garbage frames sent", garbage, "", ">=", n_diffs, f"{len(frames)} frames in all"),
        check(sc, "garbage not counted", garbage - out["counted"], "", "==", 0, f"counted {out['counted']}"),
        check(sc, "client crashed", 1 if out["crash"] else 0, "", "==", 0, out["crash"]),
        check(sc, "depth snapshots", out["snapshots"], "", "==", 1, "garbage never forced a resync"),
        check(sc, "crossed books emitted", crossed, "", "==", 0),
        check(sc, "last book right", 1 if books and books[-1] == final_top else 0, "", "==", 1,
              "top 20 a side equals the reference after every valid diff"),
        check(sc, "rate", out["frames"] / max(out["elapsed_s"], 1e-9), "frames/s", ">=", 500.0),
    ]


SCENARIOS = [
    Scenario("malformed_hl", run_malformed_hl, fast=True,
             doc="Hyperliquid feed: garbage interleaved with valid frames: counted, no crash, book right"),
    Scenario("malformed_binance", run_malformed_binance, fast=True,
             doc="Binance feed: garbage interleaved with valid frames: counted, no crash, book right"),
    Scenario("reconnect_storm", run_reconnect_storm, fast=True,
             doc="Hyperliquid feed: connection reset every few frames: reconnects, book right, stale reported"),
]


# --------------------------------------------------------------------------- the group's feed cut


def _venue_count(tg: Any) -> int:
    try:
        return len(tg.venue.open_orders(timeout_s=2.0))
    except OSError:
        return -1


def _until_clean(tg: Any, t0_ns: int, timeout_s: float) -> float:
    """Seconds from ``t0_ns`` to the first read that lists no open order (inf: never)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _venue_count(tg) == 0:
            return (time.monotonic_ns() - t0_ns) / 1e9
        time.sleep(0.05)
    return float("inf")


def _reappeared(tg: Any, watch_s: float) -> int:
    """Reads listing an open order during ``watch_s`` (the link still cut: must stay 0)."""
    n = 0
    deadline = time.monotonic() + watch_s
    while time.monotonic() < deadline:
        n += _venue_count(tg) > 0
        time.sleep(0.1)
    return n


def run_feed_stale_group(ctx: Ctx) -> list[Row]:
    from chaos.netproxy import FaultProxy
    from chaos.process_faults import TradingGroup, kill_bound_s

    rows: list[Row] = []
    storm_s = 10.0 if ctx.quick else 30.0
    tg = TradingGroup(ctx.tmp)
    g = tg.g
    with FaultProxy(g.venue_port) as px:
        text = g.config.read_text()
        for path in ("/ws", "/binance/stream", "/binance\""):
            text = text.replace(f"127.0.0.1:{g.venue_port}{path}", f"127.0.0.1:{px.port}{path}")
        text = text.replace(f'binance_rest_url = "http://127.0.0.1:{g.venue_port}',
                            f'binance_rest_url = "http://127.0.0.1:{px.port}')
        g.config.write_text(text)
        with tg:
            cfg = tg.cfg
            assert f":{px.port}/ws" in cfg.venues.hl_ws_url, cfg.venues.hl_ws_url
            bound_s = max(cfg.feed.stale_after_ms / 1000.0, cfg.escalation.red_stale_data_s) + kill_bound_s(cfg)
            feed_restarts0 = next(p for p in g.status()["processes"] if p["name"] == "feed")["restarts"]
            trips0 = tg.ks.state()["trips"]

            # 1. the link goes silent: stale, Red, every quote cancelled
            tg.resting()
            t0 = time.monotonic_ns()
            px.set_mode("blackhole")
            took = _until_clean(tg, t0, bound_s + 20)
            rows.append(check("feed_stale_group", "stale -> quotes cancelled", took, "s", "<=", bound_s,
                              f"link silent at t0 (stale_after_ms {cfg.feed.stale_after_ms}, red_stale_data_s "
                              f"{cfg.escalation.red_stale_data_s}, kill path {kill_bound_s(cfg):g} s)"))
            rows.append(check("feed_stale_group", "orders while stale", _reappeared(tg, 3.0), "reads", "==", 0,
                              "3 s more of silence: nothing quoted on stale data"))
            t1 = time.monotonic_ns()
            px.set_mode("pass")
            tg.resting(120)
            rows.append(check("feed_stale_group", "recovery", (time.monotonic_ns() - t1) / 1e9, "s", "<=", 60.0,
                              "link back -> orders resting again"))

            # 2. a reconnect storm: every connection reset on arrival
            accepted0 = px.accepted
            t0 = time.monotonic_ns()
            px.set_mode("reset")
            took = _until_clean(tg, t0, bound_s + 20)
            rows.append(check("reconnect_storm_group", "storm -> quotes cancelled", took, "s", "<=", bound_s))
            time.sleep(max(0.0, storm_s - (time.monotonic_ns() - t0) / 1e9))
            attempts = px.accepted - accepted0
            t1 = time.monotonic_ns()
            px.set_mode("pass")
            tg.resting(120)
            rows.append(check("reconnect_storm_group", "recovery", (time.monotonic_ns() - t1) / 1e9, "s", "<=", 60.0,
                              f"storm of {storm_s:g} s, {attempts} connection attempts reset"))
            rows.append(check("reconnect_storm_group", "reconnect attempts", attempts, "", ">=", 3,
                              "the feed kept retrying"))
            st = g.status()
            feed = next(p for p in st["processes"] if p["name"] == "feed")
            rows.append(check("reconnect_storm_group", "feed restarts", feed["restarts"] - feed_restarts0, "", "==", 0,
                              "the feed process survived both faults"))
            rows.append(check("reconnect_storm_group", "kill switch trips", tg.ks.state()["trips"] - trips0, "", "==",
                              0, "stale data is Red (cancel quotes), not Kill, under kill_stale_data_s"))
    return rows


SCENARIOS.append(Scenario("feed_stale_group", run_feed_stale_group, fast=False,
                          doc="paper group: feed link cut silently, then a reconnect storm: quotes cancelled, recovery"))
