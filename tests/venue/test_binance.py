"""The Binance USD-M style reference streams fed by the market driver's reference events."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from mm.schema import Bbo, RefPrice, Side, Trade, Venue

from .conftest import wait_for

BN = int(Venue.BINANCE)


def _reader(url: str) -> tuple[Any, list[Any]]:
    conn = connect(url, open_timeout=10)
    frames: list[Any] = []

    def read() -> None:
        try:
            while True:
                frames.append(json.loads(conn.recv()))
        except ConnectionClosed:
            return

    threading.Thread(target=read, daemon=True).start()
    return conn, frames


def test_combined_stream_book_ticker_agg_trade_and_depth_chain(venue: Any) -> None:
    base = "ws" + venue.url[4:]
    conn, frames = _reader(base + "/binance/stream?streams=btcusdt@bookTicker/btcusdt@aggTrade/btcusdt@depth@100ms")
    raw_conn, raw_frames = _reader(base + "/binance/ws/btcusdt@aggTrade")
    try:
        time.sleep(0.1)  # let both subscriptions register before the first event (not asserted on)
        now = time.time_ns()
        venue.apply(
            RefPrice(BN, 0, now, now // 1_000_000, 1, 100010.0, 100011.0, 100010.5),
            RefPrice(BN, 0, now, now // 1_000_000, 2, 100012.0, 100013.0, 100012.5),
            Trade(BN, 0, now, now // 1_000_000, 3, 100013.0, 0.25, int(Side.SELL), 9),
            Bbo(BN, 0, now, now // 1_000_000, 4, 100012.0, 3.5, 100014.0, 1.25),
        )
        wait_for(lambda: len(frames) >= 7 and raw_frames, what="binance frames")
        streams = [f["stream"] for f in frames]
        assert set(streams) == {"btcusdt@bookTicker", "btcusdt@aggTrade", "btcusdt@depth@100ms"}
        tickers = [f["data"] for f in frames if f["stream"] == "btcusdt@bookTicker"]
        assert set(tickers[0]) == {"e", "u", "E", "T", "s", "b", "B", "a", "A"}
        assert (tickers[0]["e"], tickers[0]["s"], tickers[0]["b"], tickers[0]["a"]) == (
            "bookTicker", "BTCUSDT", "100010", "100011")
        assert (tickers[-1]["b"], tickers[-1]["B"], tickers[-1]["a"], tickers[-1]["A"]) == (
            "100012", "3.5", "100014", "1.25")
        depth = [f["data"] for f in frames if f["stream"] == "btcusdt@depth@100ms"]
        for prev, cur in itertools.pairwise(depth):
            assert cur["pu"] == prev["u"] and cur["U"] == prev["u"] + 1  # an unbroken u/pu chain
        assert depth[1]["b"] == [["100010", "0"], ["100012", "1"]]  # the old best removed, the new one added
        agg = next(f["data"] for f in frames if f["stream"] == "btcusdt@aggTrade")
        assert (agg["e"], agg["p"], agg["q"], agg["m"]) == ("aggTrade", "100013", "0.25", True)  # seller aggressed
        assert raw_frames[0] == agg  # the raw endpoint has no envelope
        snap = requests.get(venue.url + "/binance/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 5},
                            timeout=10).json()
        assert snap["lastUpdateId"] == depth[-1]["u"]
        assert snap["bids"] == [["100012", "3.5"]] and snap["asks"] == [["100014", "1.25"]]
    finally:
        conn.close()
        raw_conn.close()


def test_subscribe_method_on_the_combined_endpoint(venue: Any) -> None:
    conn, frames = _reader("ws" + venue.url[4:] + "/binance/stream")
    try:
        conn.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 1}))
        wait_for(lambda: frames, what="subscribe reply")
        assert frames[0] == {"result": None, "id": 1}
        now = time.time_ns()
        venue.apply(RefPrice(BN, 1, now, now // 1_000_000, 1, 3000.0, 3000.1, 3000.05))
        wait_for(lambda: len(frames) >= 2, what="ticker")
        assert frames[1]["stream"] == "ethusdt@bookTicker" and frames[1]["data"]["s"] == "ETHUSDT"
    finally:
        conn.close()
