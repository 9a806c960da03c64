"""Binance USD-M parser and depth sync: normalization, refusals, the documented U/u/pu
procedure, fault-injected streams that must never yield a wrong book, and fuzzing."""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.book import BookStatus, L2Book
from mm.schema import BookDelta, BookSnapshot, RefPrice, Side, Trade, Venue
from mm.venues.binance.depth_sync import DepthSync, SyncState
from mm.venues.binance.wire import BinanceParser, combined_stream_url, depth_snapshot_url
from mm.venues.feed_health import BadInput, BadInputCounters

BN = int(Venue.BINANCE)


def enc(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def ticker(u: int, b: str = "25.35190000", a: str = "25.36520000", s: str = "BTCUSDT", **kw: Any) -> dict[str, Any]:
    d = {"e": "bookTicker", "u": u, "E": 1568014460893, "T": 1568014460891, "s": s,
         "b": b, "B": "31.21000000", "a": a, "A": "40.66000000"}
    d.update(kw)
    return {"stream": f"{s.lower()}@bookTicker", "data": d}


def agg(a: int, m: bool = True, p: str = "0.001", q: str = "100", s: str = "BTCUSDT") -> dict[str, Any]:
    return {"stream": f"{s.lower()}@aggTrade", "data": {"e": "aggTrade", "E": 123456789, "s": s, "a": a,
                                                        "p": p, "q": q, "f": 100, "l": 105, "T": 123456785, "m": m}}


def depth(U: int, u: int, pu: int, b: list[list[str]], a: list[list[str]], s: str = "BTCUSDT") -> dict[str, Any]:  # noqa: N803
    return {"stream": f"{s.lower()}@depth@100ms", "data": {"e": "depthUpdate", "E": 123456789, "T": 123456788, "s": s,
                                                           "U": U, "u": u, "pu": pu, "b": b, "a": a}}


def snapshot(last_id: int, bids: list[list[str]], asks: list[list[str]]) -> bytes:
    return enc({"lastUpdateId": last_id, "E": 1589436922972, "T": 1589436922959, "bids": bids, "asks": asks})


def parser() -> BinanceParser:
    return BinanceParser({"BTCUSDT": 0, "ethusdt": 1})


# --------------------------------------------------------------------------- normalization


def test_doc_examples_normalize_exactly() -> None:
    p = parser()
    assert p.parse(enc(ticker(400900217)), 5) == [
        RefPrice(BN, 0, 5, 1568014460891, 400900217, 25.3519, 25.3652, 0.5 * (25.3519 + 25.3652))]
    assert p.parse(enc(agg(5933014, m=True)), 6) == [
        Trade(BN, 0, 6, 123456785, 5933014, 0.001, 100.0, int(Side.SELL), 5933014)]
    assert p.parse(enc(agg(5933015, m=False)), 7)[0].side == int(Side.BUY)
    raw_trade = {"stream": "ethusdt@trade", "data": {"e": "trade", "E": 1723161256322, "T": 1723161256322,
                                                     "s": "ETHUSDT", "t": 5266583935, "p": "61800.30", "q": "0.006",
                                                     "X": "MARKET", "m": False}}
    assert p.parse(enc(raw_trade), 8) == [
        Trade(BN, 1, 8, 1723161256322, 5266583935, 61800.3, 0.006, int(Side.BUY), 5266583935)]
    ins = copy.deepcopy(raw_trade)
    ins["data"].update(t=5266583936, X="INSURANCE_FUND")
    assert p.parse(enc(ins), 9) == [] and p.non_market == 1
    assert p.counters.total == 0


def test_urls() -> None:
    assert combined_stream_url("wss://fstream.binance.com/stream", ["BTCUSDT", "ETHUSDT"]) == (
        "wss://fstream.binance.com/stream?streams=btcusdt@bookTicker/btcusdt@aggTrade/btcusdt@depth@100ms"
        "/ethusdt@bookTicker/ethusdt@aggTrade/ethusdt@depth@100ms")
    assert depth_snapshot_url("https://fapi.binance.com/", "btcusdt") == (
        "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000")


BAD: list[tuple[str, bytes, BadInput]] = [
    ("not json", b'{"stream":', BadInput.MALFORMED_JSON),
    ("unknown event", enc({"stream": "x", "data": {"e": "markPriceUpdate", "s": "BTCUSDT"}}), BadInput.UNKNOWN_CHANNEL),
    ("no envelope", enc({"e": "bookTicker"}), BadInput.BAD_SHAPE),
    ("missing u", enc({"stream": "x", "data": {"e": "bookTicker", "s": "BTCUSDT", "b": "1", "B": "1", "a": "2", "A": "1"}}),
     BadInput.BAD_SHAPE),
    ("unknown symbol", enc(ticker(1, s="DOGEUSDT")), BadInput.UNKNOWN_SYMBOL),
    ("nan bid", enc(ticker(1, b="NaN")), BadInput.BAD_PRICE),
    ("zero ask", enc(ticker(1, a="0")), BadInput.BAD_PRICE),
    ("negative qty", enc(ticker(1, B="-1")), BadInput.BAD_QTY),
    ("crossed ticker", enc(ticker(1, b="26", a="25")), BadInput.CROSSED_BOOK),
    ("trade nan px", enc(agg(1, p="nan")), BadInput.BAD_PRICE),
    ("trade zero qty", enc(agg(1, q="0")), BadInput.BAD_QTY),
    ("depth bad level", enc(depth(1, 2, 0, [["1"]], [])), BadInput.BAD_SHAPE),
    ("depth unknown symbol", enc(depth(1, 2, 0, [], [], s="XRPUSDT")), BadInput.UNKNOWN_SYMBOL),
]


@pytest.mark.parametrize(("name", "frame", "kind"), BAD, ids=[b[0] for b in BAD])
def test_each_bad_input_is_counted_once_by_kind(name: str, frame: bytes, kind: BadInput) -> None:
    p = parser()
    assert p.parse(frame, 1) == []
    assert p.counters.as_dict(nonzero_only=True) == {kind.name: 1}


def test_ticker_and_trade_sequences() -> None:
    p = parser()
    assert len(p.parse(enc(ticker(10)), 1)) == 1
    assert p.parse(enc(ticker(10)), 2) == []
    assert p.parse(enc(ticker(9)), 3) == []
    assert len(p.parse(enc(ticker(11)), 4)) == 1
    assert len(p.parse(enc(agg(5)), 5)) == 1
    assert p.parse(enc(agg(5)), 6) == []
    assert p.counters.as_dict(nonzero_only=True) == {"SEQ_DUPLICATE": 1, "SEQ_OUT_OF_ORDER": 1, "TRADE_DUPLICATE": 1}
    p.new_session()
    assert len(p.parse(enc(ticker(3)), 7)) == 1  # a new connection's stream starts afresh


# --------------------------------------------------------------------------- depth sync: the documented steps


def test_depth_sync_follows_the_documented_procedure() -> None:
    p = parser()
    frames = [
        depth(100, 105, 99, [["10.0", "1"]], [["11.0", "1"]]),     # u < L: dropped at sync
        depth(106, 110, 105, [["10.0", "2"]], []),                  # U <= L=108 <= u: the bridge
        depth(111, 115, 110, [["9.5", "3"]], [["11.0", "0"]]),     # pu == previous u
    ]
    out: list[Any] = []
    for i, f in enumerate(frames):
        out += p.parse(enc(f), 10 + i)
    assert out == [] and p.snapshots_wanted() == ["BTCUSDT"]
    out = p.on_snapshot("BTCUSDT", snapshot(108, [["10.0", "5"], ["9.0", "1"]], [["11.0", "4"], ["12.0", "1"]]), 50)
    assert [type(e) for e in out] == [BookSnapshot, BookDelta, BookDelta]
    snap, d1, d2 = out
    assert snap.seq == 108 and snap.ts_ns == 50 and snap.bid_px == [10.0, 9.0]
    assert (d1.first_seq, d1.seq, d1.prev_seq, d1.ts_ns) == (106, 110, 105, 50)  # not before the snapshot
    assert (d2.seq, d2.prev_seq) == (115, 110)
    ds = p.depth["BTCUSDT"]
    assert ds.state == SyncState.LIVE and p.snapshots_wanted() == []
    assert [x.tolist() for x in ds.book.levels()] == [[10.0, 9.5, 9.0], [2.0, 3.0, 1.0], [12.0], [1.0]]
    # live: a duplicate and an old diff are dropped without a resync
    assert p.parse(enc(depth(111, 115, 110, [], [])), 60) == []
    assert p.parse(enc(depth(107, 112, 106, [], [])), 61) == []
    assert ds.state == SyncState.LIVE
    # a gap: resync (the diff that revealed it starts the new buffer)
    assert p.parse(enc(depth(120, 125, 118, [["9.0", "0"]], []), ), 62) == []
    assert ds.state == SyncState.SYNCING and ds.buffered == 1 and p.snapshots_wanted() == ["BTCUSDT"]
    assert p.counters.as_dict(nonzero_only=True) == {"SEQ_DUPLICATE": 1, "SEQ_OUT_OF_ORDER": 1, "SEQ_GAP": 1}


def test_stale_snapshot_is_refetched_and_a_newer_one_waits_for_the_bridge() -> None:
    c = BadInputCounters("t")
    ds = DepthSync(0, c)
    ds.on_diff(200, 210, 199, [(10.0, 1.0)], [(11.0, 1.0)], 1, 1)
    # snapshot older than the stream: U=200 > L=150
    assert ds.on_snapshot(150, [(10.0, 1.0)], [(11.0, 1.0)], 1, 2) == []
    assert c[BadInput.STALE_SNAPSHOT] == 1 and ds.wants_snapshot
    # snapshot newer than all buffered: held until a diff bridges it
    assert ds.on_snapshot(215, [(10.0, 2.0)], [(11.0, 2.0)], 1, 3) == []
    assert ds.state == SyncState.BRIDGING and not ds.wants_snapshot
    assert ds.on_diff(211, 214, 210, [], [], 1, 4) == []        # u < L: already in it
    out = ds.on_diff(215, 220, 214, [(9.0, 1.0)], [], 1, 5)     # U <= 215 <= u
    assert [type(e) for e in out] == [BookSnapshot, BookDelta] and ds.state == SyncState.LIVE


def test_bad_or_crossing_diff_forces_a_resync_and_is_never_emitted() -> None:
    c = BadInputCounters("t")
    ds = DepthSync(0, c)
    ds.on_diff(1, 5, 0, [], [], 1, 1)
    assert len(ds.on_snapshot(3, [(10.0, 1.0)], [(11.0, 1.0)], 1, 2)) == 2
    assert ds.on_diff(6, 7, 5, [(11.5, 1.0)], [], 1, 3) == []          # crosses the ask at 11
    assert c[BadInput.CROSSED_BOOK] == 1 and ds.state == SyncState.SYNCING and ds.buffered == 0
    assert ds.on_diff(8, 9, 7, [(10.0, math.nan)], [], 1, 4) == []
    assert ds.state == SyncState.SYNCING and ds.buffered == 1  # buffered while syncing
    # the NaN diff is refused when the snapshot replays it
    assert ds.on_snapshot(8, [(10.0, 1.0)], [(11.0, 1.0)], 1, 5)[1:] == []
    assert c[BadInput.BAD_QTY] == 1 and ds.state == SyncState.SYNCING


def test_bad_snapshot_is_counted_and_refetched() -> None:
    p = parser()
    p.parse(enc(depth(1, 5, 0, [], [])), 1)
    assert p.on_snapshot("BTCUSDT", snapshot(3, [["11", "1"]], [["10", "1"]]), 2) == []
    assert p.on_snapshot("BTCUSDT", b'{"lastUpdateId": "x"}', 3) == []
    assert p.on_snapshot("BTCUSDT", b"<html>", 4) == []
    assert p.counters.as_dict(nonzero_only=True) == {"CROSSED_BOOK": 1, "BAD_SHAPE": 2}
    assert p.snapshots_wanted() == ["BTCUSDT"]


def test_buffer_overflow_drops_oldest() -> None:
    c = BadInputCounters("t")
    ds = DepthSync(0, c, max_buffer=3)
    for i in range(5):
        ds.on_diff(10 * i + 1, 10 * i + 10, 10 * i, [], [], 1, i)
    assert ds.buffered == 3 and c[BadInput.BUFFER_OVERFLOW] == 2


# --------------------------------------------------------------------------- fault-injected streams


class TrueMarket:
    """A random uncrossed book (bids on ticks 1..30, asks 31..60) and its diff events."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.bids = {float(t): 1.0 for t in range(20, 31)}
        self.asks = {float(t): 1.0 for t in range(31, 42)}
        self.u = 1000
        self.states: dict[int, tuple[dict[float, float], dict[float, float]]] = {self.u: self.copy()}

    def copy(self) -> tuple[dict[float, float], dict[float, float]]:
        return dict(self.bids), dict(self.asks)

    def step(self) -> tuple[int, int, int, list[tuple[float, float]], list[tuple[float, float]]]:
        r = self.rng
        b: list[tuple[float, float]] = []
        a: list[tuple[float, float]] = []
        for _ in range(r.randint(1, 4)):
            side_bid = r.random() < 0.5
            px = float(r.randint(1, 30) if side_bid else r.randint(31, 60))
            q = r.choice([0.0, 0.0, 0.5, 1.0, 2.0, 3.5])
            (self.bids if side_bid else self.asks).pop(px, None) if q == 0 else None
            if q:
                (self.bids if side_bid else self.asks)[px] = q
            (b if side_bid else a).append((px, q))
        first, prev = self.u + 1, self.u
        self.u += r.randint(1, 3)
        self.states[self.u] = self.copy()
        return first, self.u, prev, b, a


def book_equals(book: L2Book, state: tuple[dict[float, float], dict[float, float]]) -> bool:
    bids, asks = state
    bp = sorted(bids, reverse=True)
    ap = sorted(asks)
    return [x.tolist() for x in book.levels()] == [bp, [bids[p] for p in bp], ap, [asks[p] for p in ap]]


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_events=st.integers(5, 80),
    fault_rate=st.sampled_from([0.0, 0.05, 0.2]),
    fetch_prob=st.sampled_from([0.3, 1.0]),
    top_levels=st.sampled_from([0, 0, 3]),
)
def test_depth_sync_never_yields_a_wrong_book(
    seed: int, n_events: int, fault_rate: float, fetch_prob: float, top_levels: int
) -> None:
    """Drops, duplicates, swaps and corrupted diffs, snapshots fetched late or stale: every
    emitted snapshot and delta, applied to a consumer book, gives exactly the venue's book at
    that update id, and the sync's own book agrees."""
    rng = random.Random(seed)
    market = TrueMarket(rng)
    counters = BadInputCounters("t")
    ds = DepthSync(0, counters, max_buffer=50, top_levels=top_levels)
    consumer = L2Book()
    ts = 0
    pending: list[tuple[int, int, int, list[tuple[float, float]], list[tuple[float, float]]]] = []

    def deliver(ev: tuple[int, int, int, list[tuple[float, float]], list[tuple[float, float]]]) -> None:
        nonlocal ts
        ts += 1
        check(ds.on_diff(ev[0], ev[1], ev[2], ev[3], ev[4], 0, ts))
        if ds.wants_snapshot and rng.random() < fetch_prob:
            lag = rng.choice([0, 0, 0, 1, 3])
            ids = sorted(market.states)
            lid = ids[max(0, len(ids) - 1 - lag)]
            bids, asks = market.states[lid]
            ts += 1
            check(ds.on_snapshot(lid, sorted(bids.items(), reverse=True), sorted(asks.items()), 0, ts))

    def check(events: list[Any]) -> None:
        for e in events:
            if top_levels:
                # top mode: each snapshot is the venue book's best levels at its update id
                assert isinstance(e, BookSnapshot)
                bids, asks = market.states[e.seq]
                bp = sorted(bids, reverse=True)[:top_levels]
                ap = sorted(asks)[:top_levels]
                assert (e.bid_px, e.bid_qty, e.ask_px, e.ask_qty) == (bp, [bids[p] for p in bp], ap, [asks[p] for p in ap])
                continue
            st_ = consumer.apply(e)
            assert st_ == BookStatus.OK, (st_, e)
            assert book_equals(consumer, market.states[e.seq]), f"wrong book at {e.seq}"
        if ds.state == SyncState.LIVE:
            assert book_equals(ds.book, market.states[ds.last_update_id])

    for _ in range(n_events):
        ev = market.step()
        r = rng.random()
        if r < fault_rate / 4:
            continue  # dropped: a gap
        if r < fault_rate / 2:
            deliver(ev)
            deliver(ev)  # duplicated
            continue
        if r < 3 * fault_rate / 4:
            pending.append(ev)  # delivered after the next one (swap)
            continue
        if r < fault_rate:
            bad_b = [*ev[3], (55.0, 1.0)] if rng.random() < 0.5 else [(ev[3][0][0] if ev[3] else 5.0, math.nan)]
            deliver((ev[0], ev[1], ev[2], bad_b, ev[4]))  # corrupted in flight
            continue
        deliver(ev)
        while pending:
            deliver(pending.pop())
    if fault_rate == 0.0:
        # a clean stream is only ever resynced because a lagging snapshot was too old
        assert set(counters.as_dict(nonzero_only=True)) <= {"STALE_SNAPSHOT"}
        assert ds.resyncs == counters[BadInput.STALE_SNAPSHOT]


# --------------------------------------------------------------------------- fuzzing


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_are_counted(data: bytes) -> None:
    p = parser()
    out = p.parse(data, 1)
    assert out == [] and p.counters.total == 1


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_mutated_frames_counted_by_kind(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(["ticker", "agg", "depth"]))
    f = {"ticker": ticker(10), "agg": agg(10), "depth": depth(1, 2, 0, [["10", "1"]], [["11", "1"]])}[base]
    d = f["data"]
    mutation = data.draw(st.sampled_from(["px", "qty", "symbol", "event", "drop", "truncate"]))
    expected: BadInput | None
    if mutation == "px":
        val = data.draw(st.sampled_from(["NaN", "0", "-1", "inf"]))
        if base == "ticker":
            d["b"] = val
        elif base == "agg":
            d["p"] = val
        else:
            d["b"][0][0] = val
        expected = BadInput.BAD_PRICE
    elif mutation == "qty":
        val = data.draw(st.sampled_from(["NaN", "-1", "inf"]))
        if base == "ticker":
            d["A"] = val
        elif base == "agg":
            d["q"] = val
        else:
            d["a"][0][1] = val
        expected = BadInput.BAD_QTY
    elif mutation == "symbol":
        d["s"] = data.draw(st.text(max_size=8).filter(lambda s: s.upper() not in ("BTCUSDT", "ETHUSDT")))
        expected = BadInput.UNKNOWN_SYMBOL
    elif mutation == "event":
        d["e"] = data.draw(st.text(max_size=10).filter(lambda e: e not in ("bookTicker", "aggTrade", "trade", "depthUpdate")))
        expected = BadInput.UNKNOWN_CHANNEL
    elif mutation == "drop":
        required = {"ticker": ["u", "s", "b", "B", "a", "A"], "agg": ["s", "a", "p", "q", "T", "m"],
                    "depth": ["s", "U", "u", "pu", "b", "a"]}[base]
        key = data.draw(st.sampled_from(required))
        del d[key]
        expected = BadInput.BAD_SHAPE
    else:
        raw = enc(f)
        cut = data.draw(st.integers(1, len(raw) - 1))
        p = parser()
        assert p.parse(raw[:cut], 1) == []
        assert p.counters.as_dict(nonzero_only=True) == {"MALFORMED_JSON": 1}
        return
    p = parser()
    out = p.parse(enc(f), 1)
    if base == "depth" and mutation in ("px", "qty"):
        # a bad level in a diff is found when it is applied: buffer, then the snapshot replay
        assert out == [] and p.counters.total == 0
        out = p.on_snapshot("BTCUSDT", snapshot(1, [["9", "1"]], [["12", "1"]]), 2)
        assert [type(e) for e in out] == [BookSnapshot]
    else:
        assert out == []
    assert p.counters.as_dict(nonzero_only=True) == {expected.name: 1}
