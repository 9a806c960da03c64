"""The websocket clients against real websocket (and HTTP) servers on loopback.

Each test starts its own server on 127.0.0.1, port 0, drives the client until a condition
holds (with a generous timeout, never a timing assertion), then stops it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop
from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve

from mm.schema import BookDelta, BookSnapshot, FeedStale, MarketEvent, RefPrice, Trade
from mm.venues.binance.feed import BinanceFeed, binance_symbol_ids
from mm.venues.feed_health import NS_PER_MS, Backoff
from mm.venues.hyperliquid.feed import HyperliquidFeed

FAST_BACKOFF = dict(base_ns=10 * NS_PER_MS, max_ns=40 * NS_PER_MS)
TIMEOUT_S = 20.0


def run_async(coro_fn: Callable[[], Awaitable[None]], use_uvloop: bool = False) -> None:
    async def guarded() -> None:
        await asyncio.wait_for(coro_fn(), TIMEOUT_S)

    if use_uvloop:
        uvloop.run(guarded())
    else:
        asyncio.run(guarded())


async def wait_until(cond: Callable[[], bool], what: str) -> None:
    while not cond():
        await asyncio.sleep(0.01)
    assert cond(), what


def hl_book(coin: str, t: int) -> str:
    return json.dumps({"channel": "l2Book", "data": {"coin": coin, "time": t, "levels": [
        [{"px": "100.0", "sz": "1.5", "n": 1}, {"px": "99.0", "sz": "2", "n": 2}],
        [{"px": "101.0", "sz": "0.5", "n": 1}]]}})


def hl_trades(coin: str, tid: int, t: int) -> str:
    return json.dumps({"channel": "trades", "data": [
        {"coin": coin, "side": "B", "px": "100.5", "sz": "0.1", "hash": "0x0", "time": t, "tid": tid, "users": ["a", "b"]}]})


class HlServer:
    """A scripted Hyperliquid-like websocket server."""

    def __init__(self, script: Callable[[HlServer, ServerConnection, int], Awaitable[None]], answer_pings: bool = True):
        self.script = script
        self.answer_pings = answer_pings
        self.connections = 0
        self.subscriptions: list[list[dict[str, Any]]] = []
        self.pings = 0
        self.go = asyncio.Event()
        self.received: list[MarketEvent] = []  # the test's event list, when it shares it

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        n = self.connections
        subs: list[dict[str, Any]] = []
        self.subscriptions.append(subs)

        async def reader() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("method") == "subscribe":
                    subs.append(msg["subscription"])
                    await ws.send(json.dumps({"channel": "subscriptionResponse", "data": msg}))
                elif msg.get("method") == "ping":
                    self.pings += 1
                    if self.answer_pings:
                        await ws.send('{"channel":"pong"}')

        # The connection ends when the client goes: stop the script then too.
        tasks = [asyncio.create_task(reader()), asyncio.create_task(self.script(self, ws, n))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("use_uvloop", [False, True], ids=["asyncio", "uvloop"])
def test_hl_feed_subscribes_reconnects_after_abrupt_close_and_resubscribes(use_uvloop: bool) -> None:
    async def script(srv: HlServer, ws: ServerConnection, n: int) -> None:
        while len(srv.subscriptions[n - 1]) < 8:
            await asyncio.sleep(0.005)
        await ws.send("Websocket connection established.")
        await ws.send(hl_book("BTC", 1000 * n))
        await ws.send(hl_book("ETH", 1000 * n))
        await ws.send(hl_trades("ETH", 10 + n, 1000 * n))
        if n == 1:
            await wait_until(lambda: len(srv.received) >= 3, "session 1 delivered")
            assert ws.transport is not None
            ws.transport.abort()  # no close frame: the client sees 1006
        else:
            await asyncio.sleep(30)

    async def main() -> None:
        srv = HlServer(script)
        events = srv.received
        async with serve(srv.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            feed = HyperliquidFeed(f"ws://127.0.0.1:{port}/ws", {"BTC": 0, "ETH": 1}, events.append,
                                   backoff=Backoff(**FAST_BACKOFF))
            task = asyncio.create_task(feed.run())
            await wait_until(lambda: sum(isinstance(e, Trade) for e in events) >= 2, "both sessions")
            feed.stop()
            await task
        assert srv.connections == 2
        want = [{"type": t, "coin": c} for c in ("BTC", "ETH") for t in ("l2Book", "trades", "bbo", "activeAssetCtx")]
        assert srv.subscriptions[0] == want and srv.subscriptions[1] == want
        assert feed.stats.connects == 2 and feed.stats.disconnects == 2
        books = [e for e in events if isinstance(e, BookSnapshot)]
        trades = [e for e in events if isinstance(e, Trade)]
        assert [(b.symbol_id, b.remote_ts_ms) for b in books] == [(0, 1000), (1, 1000), (0, 2000), (1, 2000)]
        assert [(t.symbol_id, t.trade_id) for t in trades] == [(1, 11), (1, 12)]
        assert feed.parser.acks == 16 and feed.counters.total == 0
        assert all(e.ts_ns > 0 for e in events)

    run_async(main, use_uvloop)


def test_hl_feed_silence_emits_feed_stale_then_recovery() -> None:
    async def script(srv: HlServer, ws: ServerConnection, n: int) -> None:
        await ws.send(hl_book("BTC", 1))
        await srv.go.wait()
        await ws.send(hl_book("BTC", 2))
        await asyncio.sleep(30)

    async def main() -> None:
        srv = HlServer(script)
        events: list[MarketEvent] = []
        async with serve(srv.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            feed = HyperliquidFeed(f"ws://127.0.0.1:{port}/ws", {"BTC": 0}, events.append,
                                   stale_after_ms=150, tick_ms=10, backoff=Backoff(**FAST_BACKOFF))
            task = asyncio.create_task(feed.run())
            await wait_until(lambda: any(isinstance(e, FeedStale) and e.stale for e in events), "stale")
            srv.go.set()
            await wait_until(lambda: sum(isinstance(e, BookSnapshot) for e in events) >= 2, "recovered")
            feed.stop()
            await task
        kinds = [(type(e).__name__, getattr(e, "stale", None)) for e in events]
        # the first message announces that the symbol's data has started (stale=False), in order
        assert kinds == [("FeedStale", False), ("BookSnapshot", None), ("FeedStale", True), ("FeedStale", False),
                         ("BookSnapshot", None)]
        stale = [e for e in events if isinstance(e, FeedStale)][1:]
        assert stale[0].symbol_id == 0 and stale[0].silent_ns >= 150 * NS_PER_MS
        assert stale[1].silent_ns >= stale[0].silent_ns
        assert srv.connections == 1

    run_async(main)


def test_hl_feed_pings_and_replaces_a_dead_connection() -> None:
    async def script(srv: HlServer, ws: ServerConnection, n: int) -> None:
        await ws.send(hl_book("BTC", n))
        await asyncio.sleep(30)

    async def main() -> None:
        srv = HlServer(script, answer_pings=False)
        events: list[MarketEvent] = []
        async with serve(srv.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            feed = HyperliquidFeed(f"ws://127.0.0.1:{port}/ws", {"BTC": 0}, events.append, ping_interval_ms=50,
                                   dead_after_ms=250, tick_ms=10, backoff=Backoff(**FAST_BACKOFF))
            task = asyncio.create_task(feed.run())
            await wait_until(lambda: srv.connections >= 2, "reconnected after silence")
            srv.answer_pings = True
            await wait_until(lambda: feed.parser.pongs >= 1, "pong")
            feed.stop()
            await task
        assert srv.pings >= 2 and feed.stats.pings >= 2

    run_async(main)


def test_hl_feed_backs_off_when_nothing_listens() -> None:
    async def main() -> None:
        # bind then close a socket to get a port with nothing listening
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        feed = HyperliquidFeed(f"ws://127.0.0.1:{port}/ws", {"BTC": 0}, lambda e: None,
                               backoff=Backoff(**FAST_BACKOFF))
        task = asyncio.create_task(feed.run())
        await wait_until(lambda: feed.stats.connect_failures >= 3, "retries")
        feed.stop()
        await task
        assert feed.stats.connects == 0 and "Error" in feed.stats.last_error

    run_async(main)


def test_hl_feed_consumer_exception_ends_run() -> None:
    async def script(srv: HlServer, ws: ServerConnection, n: int) -> None:
        await ws.send(hl_book("BTC", 1))
        await asyncio.sleep(30)

    def boom(ev: MarketEvent) -> None:
        raise RuntimeError("consumer bug")

    async def main() -> None:
        srv = HlServer(script)
        async with serve(srv.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            feed = HyperliquidFeed(f"ws://127.0.0.1:{port}/ws", {"BTC": 0}, boom)
            with pytest.raises(RuntimeError, match="consumer bug"):
                await feed.run()

    run_async(main)


# --------------------------------------------------------------------------- Binance


def bn_frames(start_u: int) -> list[str]:
    """A synthetic combined stream: tickers, aggTrades and a chained diff-depth stream."""
    out = []
    u = start_u
    for i in range(30):
        U, pu = u + 1, u  # noqa: N806
        u += 3
        out.append(json.dumps({"stream": "btcusdt@depth@100ms", "data": {
            "e": "depthUpdate", "E": 1000 + i, "T": 1000 + i, "s": "BTCUSDT", "U": U, "u": u, "pu": pu,
            "b": [[f"{99 - (i % 3)}.0", f"{1 + i}"]], "a": [["101.0", f"{2 + i}"]]}}))
        out.append(json.dumps({"stream": "btcusdt@bookTicker", "data": {
            "e": "bookTicker", "u": u, "E": 1000 + i, "T": 1000 + i, "s": "BTCUSDT",
            "b": "100.0", "B": "1.0", "a": "101.0", "A": f"{2 + i}"}}))
        out.append(json.dumps({"stream": "btcusdt@aggTrade", "data": {
            "e": "aggTrade", "E": 1000 + i, "s": "BTCUSDT", "a": 500 + i, "p": "100.5", "q": "0.2",
            "f": 1, "l": 2, "T": 1000 + i, "m": i % 2 == 0}}))
    return out


async def until_closed(ws: ServerConnection, script: Awaitable[None]) -> None:
    """Run a server-side script until it ends or the client goes away."""
    tasks = [asyncio.create_task(ws.wait_closed()), asyncio.ensure_future(script)]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_binance_feed_syncs_depth_with_a_loopback_rest_snapshot_and_resyncs_after_reconnect() -> None:
    start_u = 5_000

    async def main() -> None:
        paths: list[str] = []
        rest_queries: list[dict[str, str]] = []
        snapshot_served = asyncio.Event()
        connections = 0

        async def depth_handler(request: web.Request) -> web.Response:
            rest_queries.append(dict(request.query))
            snapshot_served.set()
            # the venue's book as of update id start_u + 7 (inside the third diff's range)
            body = {"lastUpdateId": start_u + 7, "E": 999, "T": 999,
                    "bids": [["100.0", "1.0"], ["99.0", "3.0"]], "asks": [["101.0", "2.0"], ["102.0", "1.0"]]}
            return web.json_response(body)

        async def ws_handler(ws: ServerConnection) -> None:
            await until_closed(ws, ws_script(ws))

        async def ws_script(ws: ServerConnection) -> None:
            nonlocal connections
            connections += 1
            assert ws.request is not None
            paths.append(ws.request.path)
            frames = bn_frames(start_u)
            snapshot_served.clear()
            for f in frames[:12]:  # four diffs buffered (ids up to start_u + 12)
                await ws.send(f)
            await snapshot_served.wait()
            await asyncio.sleep(0.05)  # let the client apply the snapshot before more diffs
            for f in frames[12:]:
                await ws.send(f)
            if connections == 1:
                # abort once the client has everything (abort drops unsent bytes)
                await wait_until(lambda: sum(isinstance(e, BookDelta) for e in events) >= 28, "session 1")
                assert ws.transport is not None
                ws.transport.abort()
            else:
                await asyncio.sleep(30)

        events: list[MarketEvent] = []
        app = web.Application()
        app.router.add_get("/binance/fapi/v1/depth", depth_handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        rest_port = runner.addresses[0][1]
        async with serve(ws_handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            feed = BinanceFeed(
                f"ws://127.0.0.1:{port}/binance/stream", f"http://127.0.0.1:{rest_port}/binance",
                binance_symbol_ids({"BTC": 0, "ETH": 1}, {"BTC": "BTCUSDT"}), events.append,
                backoff=Backoff(**FAST_BACKOFF), snapshot_min_interval_ms=0, top_levels=0,
            )
            task = asyncio.create_task(feed.run())
            await wait_until(lambda: sum(isinstance(e, BookSnapshot) for e in events) >= 2
                             and sum(isinstance(e, BookDelta) for e in events) >= 2 * 28, "two syncs")
            feed.stop()
            await task
        await runner.cleanup()

        assert paths[0] == "/binance/stream?streams=btcusdt@bookTicker/btcusdt@aggTrade/btcusdt@depth@100ms"
        assert rest_queries == [{"symbol": "BTCUSDT", "limit": "1000"}] * 2
        assert feed.stats.connects == 2 and feed.stats.snapshots_fetched == 2
        snaps = [e for e in events if isinstance(e, BookSnapshot)]
        assert [s.seq for s in snaps] == [start_u + 7, start_u + 7]
        # per session: the bridge is the third diff (U = start_u+7 <= L <= u = start_u+9)
        first_session = events[: events.index(snaps[1])]
        deltas = [e for e in first_session if isinstance(e, BookDelta)]
        assert deltas[0].first_seq == start_u + 7 and len(deltas) == 28
        assert all(b.prev_seq == a.seq for a, b in itertools.pairwise(deltas))
        assert sum(isinstance(e, RefPrice) for e in events) == 60
        # the second session repeats the same aggTrade ids: dropped as duplicates
        assert sum(isinstance(e, Trade) for e in events) == 30
        assert feed.counters.as_dict(nonzero_only=True) == {"TRADE_DUPLICATE": 30}
        ds = feed.parser.depth["BTCUSDT"]
        assert not ds.book.is_crossed() and ds.last_update_id == start_u + 90

    run_async(main)


def test_binance_feed_retries_a_failed_snapshot_with_an_injected_fetcher() -> None:
    start_u = 100

    async def main() -> None:
        calls: list[str] = []

        async def fetch(symbol: str) -> bytes:
            calls.append(symbol)
            if len(calls) == 1:
                raise OSError("connection refused")
            return json.dumps({"lastUpdateId": start_u + 2, "bids": [["100.0", "1.0"]],
                               "asks": [["101.0", "1.0"]]}).encode()

        gate = asyncio.Event()

        async def ws_handler(ws: ServerConnection) -> None:
            await until_closed(ws, ws_script(ws))

        async def ws_script(ws: ServerConnection) -> None:
            frames = bn_frames(start_u)
            await ws.send(frames[0])
            await gate.wait()
            for f in frames[1:]:
                await ws.send(f)
            await asyncio.sleep(30)

        events: list[MarketEvent] = []
        async with serve(ws_handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            feed = BinanceFeed(f"ws://127.0.0.1:{port}/stream", "http://unused.invalid", {"btcusdt": 3},
                               events.append, fetch_snapshot=fetch, snapshot_min_interval_ms=20, tick_ms=10,
                               backoff=Backoff(**FAST_BACKOFF))
            task = asyncio.create_task(feed.run())
            await wait_until(lambda: any(isinstance(e, BookSnapshot) for e in events), "synced")
            gate.set()
            ds = feed.parser.depth["BTCUSDT"]
            await wait_until(lambda: ds.last_update_id == start_u + 90, "all diffs")
            feed.stop()
            await task
        assert calls == ["BTCUSDT", "BTCUSDT"]
        assert feed.stats.snapshot_failures == 1 and feed.stats.snapshots_fetched == 1
        assert all(e.symbol_id == 3 for e in events)
        # default output: top-20 snapshots of the synced book, only when the top changes
        snaps = [e for e in events if isinstance(e, BookSnapshot)]
        assert not any(isinstance(e, BookDelta) for e in events)
        assert all(len(s.bid_px) <= 20 and len(s.ask_px) <= 20 for s in snaps)
        assert all(a.seq < b.seq for a, b in itertools.pairwise(snaps))
        bp, bq, ap, aq = ds.book.top(20)
        last = snaps[-1]
        assert last.bid_px == bp[: len(last.bid_px)].tolist() and last.ask_qty == aq[: len(last.ask_qty)].tolist()

    run_async(main)
