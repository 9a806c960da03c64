"""Hyperliquid market-data parser: exact normalization, every refusal kind, and fuzzing."""

from __future__ import annotations

import copy
import gzip
import itertools
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mm.importers import data_dir
from mm.schema import Bbo, BookSnapshot, FundingUpdate, Side, Trade, Venue
from mm.venues.feed_health import BadInput
from mm.venues.hyperliquid.md_wire import HyperliquidMdParser, subscribe_message

HL = int(Venue.HYPERLIQUID)
RAW_HL = data_dir() / "hyperliquid-raw-2025-01-26" / "btcusd_20250126.gz"


def book_frame(coin: str = "BTC", t: int = 1754450974231, bids: Any = None, asks: Any = None) -> dict[str, Any]:
    bids = bids if bids is not None else [["113377.0", "7.6699", 17], ["113376.0", "4.13714", 8]]
    asks = asks if asks is not None else [["113397.0", "0.11543", 3], ["113398.0", "1.5", 2]]
    lv = [[{"px": p, "sz": s, "n": n} for p, s, n in side] for side in (bids, asks)]
    return {"channel": "l2Book", "data": {"coin": coin, "time": t, "levels": lv}}


def trade(tid: int, t: int, px: str = "97432.5", sz: str = "0.1", side: str = "B", coin: str = "BTC") -> dict[str, Any]:
    return {"coin": coin, "side": side, "px": px, "sz": sz, "hash": "0xab", "time": t, "tid": tid,
            "users": ["0xbuyer", "0xseller"]}


def enc(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def parser(anchored: bool = False) -> HyperliquidMdParser:
    """A parser; ``anchored``: a bbo at venue time 1 has been seen for each coin, so trades
    are not held waiting for the session's first book."""
    p = HyperliquidMdParser({"BTC": 0, "ETH": 1})
    if anchored:
        for coin in ("BTC", "ETH"):
            p.parse(enc({"channel": "bbo", "data": {"coin": coin, "time": 1, "bbo": [None, None]}}), 0)
    return p


# --------------------------------------------------------------------------- normalization


def test_l2book_doc_example_normalizes_exactly() -> None:
    p = parser()
    out = p.parse(enc(book_frame()), ts_ns=123)
    assert out == [BookSnapshot(HL, 0, 123, 1754450974231, 1754450974231,
                                [113377.0, 113376.0], [7.6699, 4.13714], [113397.0, 113398.0], [0.11543, 1.5])]


def test_trades_bbo_ctx_normalize_exactly() -> None:
    p = parser(anchored=True)
    frames = [
        {"channel": "trades", "data": [trade(118906512037719, 1700000000000), trade(5, 1700000000000, side="A")]},
        {"channel": "bbo", "data": {"coin": "ETH", "time": 1700000000001,
                                    "bbo": [{"px": "3000.5", "sz": "1.2", "n": 3}, None]}},
        {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {
            "funding": "0.0000125", "openInterest": "1234.5", "oraclePx": "97430.0", "markPx": "97431.0",
            "prevDayPx": "1", "dayNtlVlm": "2", "midPx": "97431.5", "impactPxs": ["97431.0", "97432.0"]}}},
        {"channel": "pong"},
        {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}},
    ]
    out = [e for f in frames for e in p.parse(enc(f), ts_ns=7)]
    assert out == [
        Trade(HL, 0, 7, 1700000000000, 1700000000000, 97432.5, 0.1, int(Side.BUY), 118906512037719),
        Trade(HL, 0, 7, 1700000000000, 1700000000000, 97432.5, 0.1, int(Side.SELL), 5),
        Bbo(HL, 1, 7, 1700000000001, 1700000000001, 3000.5, 1.2, 0.0, 0.0),
        FundingUpdate(HL, 0, 7, 1700000000000, 0.0000125, 97431.0, 97430.0, 1234.5),
    ]
    assert p.pongs == 1 and p.acks == 1 and p.counters.total == 0


def test_subscribe_message_matches_the_docs() -> None:
    assert json.loads(subscribe_message("l2Book", "BTC")) == {
        "method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}}


@pytest.mark.skipif(not RAW_HL.exists(), reason=f"real data dir absent: {RAW_HL}")
def test_real_raw_frames_parse() -> None:
    p = parser()
    out = []
    with gzip.open(RAW_HL, "rb") as f:
        for line in f:
            ts, _, body = line.partition(b" ")
            out += p.parse(body, int(ts))
    books = [e for e in out if isinstance(e, BookSnapshot)]
    trades = [e for e in out if isinstance(e, Trade)]
    # 46 l2Book frames, one repeating the previous block time; 9 trades frames whose first
    # (the subscription's backfill, ~50 s old) carries 30 trades.
    assert len(books) == 45 and len(trades) == 34
    assert p.counters.as_dict(nonzero_only=True) == {"SEQ_DUPLICATE": 1, "TRADE_BACKFILL": 30}
    assert all(len(b.bid_px) == 20 and b.bid_px[0] < b.ask_px[0] for b in books)
    assert all(a.remote_ts_ms < b.remote_ts_ms for a, b in itertools.pairwise(books))


# --------------------------------------------------------------------------- refusals


BAD_CASES: list[tuple[str, bytes, BadInput]] = [
    ("not json", b"{nope", BadInput.MALFORMED_JSON),
    ("not utf8", b"\xff\xfe", BadInput.MALFORMED_JSON),
    ("unknown channel", enc({"channel": "allMids", "data": {"mids": {}}}), BadInput.UNKNOWN_CHANNEL),
    ("no channel", enc({"data": 1}), BadInput.BAD_SHAPE),
    ("array", b"[1,2]", BadInput.BAD_SHAPE),
    ("missing time", enc({"channel": "l2Book", "data": {"coin": "BTC", "levels": [[], []]}}), BadInput.BAD_SHAPE),
    ("three sides", enc({"channel": "l2Book", "data": {"coin": "BTC", "time": 1, "levels": [[], [], []]}}),
     BadInput.BAD_SHAPE),
    ("px not number", enc(book_frame(bids=[["abc", "1", 1]])), BadInput.BAD_SHAPE),
    ("unknown coin", enc(book_frame(coin="DOGE")), BadInput.UNKNOWN_SYMBOL),
    ("nan px", enc(book_frame(bids=[["NaN", "1", 1]])), BadInput.BAD_PRICE),
    ("zero px", enc(book_frame(asks=[["0", "1", 1]])), BadInput.BAD_PRICE),
    ("negative px", enc(book_frame(asks=[["-5", "1", 1]])), BadInput.BAD_PRICE),
    ("inf px", enc(book_frame(asks=[["inf", "1", 1]])), BadInput.BAD_PRICE),
    ("negative sz", enc(book_frame(bids=[["100", "-1", 1]])), BadInput.BAD_QTY),
    ("zero sz", enc(book_frame(bids=[["100", "0", 1]])), BadInput.BAD_QTY),
    ("nan sz", enc(book_frame(bids=[["100", "nan", 1]])), BadInput.BAD_QTY),
    ("unsorted bids", enc(book_frame(bids=[["100", "1", 1], ["101", "1", 1]], asks=[["102", "1", 1]])),
     BadInput.UNSORTED_LEVELS),
    ("repeated ask", enc(book_frame(bids=[], asks=[["102", "1", 1], ["102", "1", 1]])), BadInput.UNSORTED_LEVELS),
    ("crossed", enc(book_frame(bids=[["103", "1", 1]], asks=[["102", "1", 1]])), BadInput.CROSSED_BOOK),
    ("locked", enc(book_frame(bids=[["102", "1", 1]], asks=[["102", "1", 1]])), BadInput.CROSSED_BOOK),
    ("crossed bbo", enc({"channel": "bbo", "data": {"coin": "BTC", "time": 5,
                                                    "bbo": [{"px": "2", "sz": "1", "n": 1}, {"px": "1", "sz": "1", "n": 1}]}}),
     BadInput.CROSSED_BOOK),
    ("bad trade side", enc({"channel": "trades", "data": [trade(1, 5, side="X")]}), BadInput.BAD_SHAPE),
    ("trade nan px", enc({"channel": "trades", "data": [trade(1, 5, px="nan")]}), BadInput.BAD_PRICE),
    ("trade zero sz", enc({"channel": "trades", "data": [trade(1, 5, sz="0")]}), BadInput.BAD_QTY),
    ("ctx bad mark", enc({"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {
        "funding": "0", "openInterest": "1", "oraclePx": "1", "markPx": "-1"}}}), BadInput.BAD_PRICE),
    ("venue error", enc({"channel": "error", "data": "Invalid subscription"}), BadInput.VENUE_ERROR),
]


@pytest.mark.parametrize(("name", "frame", "kind"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_each_bad_input_is_counted_once_by_kind_and_dropped(name: str, frame: bytes, kind: BadInput) -> None:
    p = parser(anchored=True)
    assert p.parse(frame, 1) == []
    assert p.counters.as_dict(nonzero_only=True) == {kind.name: 1}


def test_banner_and_empty_trades_are_tolerated() -> None:
    p = parser()
    assert p.parse(b"Websocket connection established.", 1) == []
    assert p.parse(enc({"channel": "trades", "data": []}), 1) == []
    assert p.counters.total == 0


def test_book_and_bbo_times_must_advance_per_coin() -> None:
    p = parser()
    assert len(p.parse(enc(book_frame(t=100)), 1)) == 1
    assert p.parse(enc(book_frame(t=100)), 2) == []
    assert p.parse(enc(book_frame(t=99)), 3) == []
    assert len(p.parse(enc(book_frame(coin="ETH", t=50)), 4)) == 1  # per coin
    assert len(p.parse(enc(book_frame(t=101)), 5)) == 1
    assert p.counters.as_dict(nonzero_only=True) == {"SEQ_DUPLICATE": 1, "SEQ_OUT_OF_ORDER": 1}
    p.new_session()  # a new connection's first snapshot is the truth
    assert len(p.parse(enc(book_frame(t=90)), 6)) == 1
    # the same block time with different content is a newer update (kept); repeated, a duplicate
    changed = book_frame(t=90, bids=[["113377.0", "1.0", 1]])
    assert len(p.parse(enc(changed), 7)) == 1
    assert p.parse(enc(changed), 8) == []
    bbo = {"channel": "bbo", "data": {"coin": "BTC", "time": 5, "bbo": [{"px": "1", "sz": "1", "n": 1}, None]}}
    assert len(p.parse(enc(bbo), 9)) == 1 and p.parse(enc(bbo), 10) == []
    bbo["data"]["bbo"][0]["sz"] = "2"
    assert len(p.parse(enc(bbo), 11)) == 1
    assert p.counters.as_dict(nonzero_only=True) == {"SEQ_DUPLICATE": 3, "SEQ_OUT_OF_ORDER": 1}


def test_trade_dedup_and_backfill_across_sessions() -> None:
    p = parser()
    # the subscription's backfill arrives before the first book: held, then judged by it
    backfill = {"channel": "trades", "data": [trade(1, 60_000), trade(2, 97_000), trade(3, 99_500)]}
    assert p.parse(enc(backfill), 1) == [] and p.n_held == 1 and p.counters.total == 0
    out = p.parse(enc(book_frame(t=100_000)), 2)
    assert [type(e) for e in out] == [BookSnapshot] and p.n_held == 0
    assert p.counters.as_dict(nonzero_only=True) == {"TRADE_BACKFILL": 3}  # all before the first book
    out = p.parse(enc({"channel": "trades", "data": [trade(3, 99_500), trade(4, 100_400)]}), 3)
    assert [e.trade_id for e in out] == [4]
    # later, a trade far behind the venue's latest time is backfill too
    p.parse(enc(book_frame(t=110_000)), 4)
    assert p.parse(enc({"channel": "trades", "data": [trade(5, 107_000)]}), 5) == []
    assert len(p.parse(enc({"channel": "trades", "data": [trade(6, 108_500)]}), 6)) == 1
    p.new_session()
    # reconnect: the backfill repeats trades (dupes) and adds ones missed while down
    frame = {"channel": "trades", "data": [trade(i, t) for i, t in
                                           [(4, 100_400), (5, 107_000), (6, 108_500), (7, 130_000), (8, 160_000)]]}
    assert p.parse(enc(frame), 7) == []
    out = p.parse(enc(book_frame(t=159_000)), 8)
    assert [type(e) for e in out] == [BookSnapshot, Trade]
    assert out[1].trade_id == 8 and out[1].ts_ns == 8  # released at the book's time
    assert p.counters[BadInput.TRADE_DUPLICATE] == 1 + 3  # trade 3, then 4, 5 and 6
    assert p.counters[BadInput.TRADE_BACKFILL] == 3 + 1 + 1


def test_held_trades_are_released_by_time_rule_without_a_book() -> None:
    p = HyperliquidMdParser({"BTC": 0}, hold_ms=1_000)
    frame = {"channel": "trades", "data": [trade(1, 10_000), trade(2, 12_500)]}
    assert p.parse(enc(frame), 0) == []
    # no book within hold_ms: the next frame of any kind releases it (time rule only)
    out = p.parse(b'{"channel":"pong"}', 1_000_000_000)
    assert [e.trade_id for e in out] == [2] and out[0].ts_ns == 1_000_000_000
    assert p.counters.as_dict(nonzero_only=True) == {"TRADE_BACKFILL": 1}
    # trades held when the connection drops are released by new_session
    p.new_session()
    p.parse(enc({"channel": "trades", "data": [trade(3, 20_000)]}), 2)
    assert [e.trade_id for e in p.new_session(3)] == [3]


def test_dedup_window_is_bounded() -> None:
    p = HyperliquidMdParser({"BTC": 0}, dedup_window=3)
    p.parse(enc(book_frame(t=1)), 0)
    for tid in range(10):
        p.parse(enc({"channel": "trades", "data": [trade(tid, 1000 + tid)]}), tid)
    st_ = p._state["BTC"]
    assert len(st_.tids) == 3 and st_.tids == {7, 8, 9}


# --------------------------------------------------------------------------- fuzzing


def check_event(ev: object) -> None:
    """Invariants of anything the parser emits."""
    if isinstance(ev, BookSnapshot):
        for px in (ev.bid_px, ev.ask_px, ev.bid_qty, ev.ask_qty):
            assert all(0 < x < math.inf for x in px)
        assert all(a > b for a, b in zip(ev.bid_px, ev.bid_px[1:]))
        assert all(a < b for a, b in zip(ev.ask_px, ev.ask_px[1:]))
        if ev.bid_px and ev.ask_px:
            assert ev.bid_px[0] < ev.ask_px[0]
    elif isinstance(ev, Trade):
        assert 0 < ev.px < math.inf and 0 < ev.qty < math.inf and ev.side in (1, -1)
    elif isinstance(ev, Bbo):
        assert ev.bid_px >= 0 and ev.ask_px >= 0
        if ev.bid_px and ev.ask_px:
            assert ev.bid_px < ev.ask_px


def accounted(p: HyperliquidMdParser, frame: bytes | str) -> list[object]:
    """Parse one frame: it must emit events, or be counted, or be a control frame."""
    before = (p.counters.total, p.pongs, p.acks, p.n_held)
    out = p.parse(frame, 1)
    for ev in out:
        check_event(ev)
    after = (p.counters.total, p.pongs, p.acks, p.n_held)
    raw = frame.encode() if isinstance(frame, str) else frame
    is_empty_trades = raw.replace(b" ", b"") in (b'{"channel":"trades","data":[]}',)
    assert out or after != before or raw.strip() == b"Websocket connection established." or is_empty_trades
    return out


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_never_crash(data: bytes) -> None:
    accounted(parser(), data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["l2Book", "trades", "bbo", "activeAssetCtx", "pong", "error", "x"]), json_values)
def test_fuzz_random_json_with_known_channels(channel: str, data: Any) -> None:
    accounted(parser(), enc({"channel": channel, "data": data}))


SEED_BOOK = book_frame()
SEED_TRADES = {"channel": "trades", "data": [trade(10, 1_000), trade(11, 1_000, side="A")]}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_book_frames_counted_by_kind(data: st.DataObject) -> None:
    """Each mutation of a valid frame is refused under the kind it breaks, and nothing else."""
    f = copy.deepcopy(SEED_BOOK)
    side = data.draw(st.integers(0, 1))
    lvl = data.draw(st.integers(0, 1))
    level = f["data"]["levels"][side][lvl]
    mutation = data.draw(st.sampled_from(["px", "sz", "swap", "cross", "coin", "channel", "drop_key", "truncate"]))
    expected: BadInput
    if mutation == "px":
        level["px"] = data.draw(st.sampled_from(["NaN", "0", "-1", "-0.5", "inf", "-inf", "0.0"]))
        expected = BadInput.BAD_PRICE
    elif mutation == "sz":
        level["sz"] = data.draw(st.sampled_from(["NaN", "0", "-3", "inf", "-0.00001"]))
        expected = BadInput.BAD_QTY
    elif mutation == "swap":
        lv = f["data"]["levels"][side]
        lv[0], lv[1] = lv[1], lv[0]
        expected = BadInput.UNSORTED_LEVELS
    elif mutation == "cross":
        f["data"]["levels"][0][0]["px"] = data.draw(st.sampled_from(["113397.0", "113397.5", "120000"]))
        expected = BadInput.CROSSED_BOOK
    elif mutation == "coin":
        f["data"]["coin"] = data.draw(st.text(min_size=1, max_size=5).filter(lambda c: c not in ("BTC", "ETH")))
        expected = BadInput.UNKNOWN_SYMBOL
    elif mutation == "channel":
        f["channel"] = data.draw(st.text(max_size=12).filter(
            lambda c: c not in ("l2Book", "trades", "bbo", "activeAssetCtx", "pong", "error", "subscriptionResponse")))
        expected = BadInput.UNKNOWN_CHANNEL
    elif mutation == "drop_key":
        key = data.draw(st.sampled_from(["coin", "time", "levels"]))
        del f["data"][key]
        expected = BadInput.BAD_SHAPE
    else:
        raw = enc(f)
        cut = data.draw(st.integers(1, len(raw) - 1))
        p = parser()
        assert p.parse(raw[:cut], 1) == []
        assert p.counters.as_dict(nonzero_only=True) == {"MALFORMED_JSON": 1}
        return
    p = parser()
    assert p.parse(enc(f), 1) == []
    assert p.counters.as_dict(nonzero_only=True) == {expected.name: 1}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 40), st.integers(1, 5)), min_size=1, max_size=30))
def test_fuzz_book_time_sequences(times: list[tuple[int, int]]) -> None:
    """Any order of block times: exactly the strictly newer ones are emitted, the rest are
    counted as duplicate or out of order."""
    p = parser()
    last = -1
    for t, _ in times:
        out = p.parse(enc(book_frame(t=t)), 1)
        assert len(out) == (1 if t > last else 0)
        last = max(last, t)
    dup_ooo = p.counters[BadInput.SEQ_DUPLICATE] + p.counters[BadInput.SEQ_OUT_OF_ORDER]
    n_emitted = sum(1 for i, (t, _) in enumerate(times) if all(t > u for u, _ in times[:i]))
    assert dup_ooo == len(times) - n_emitted


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 10_000)), min_size=1, max_size=40))
def test_fuzz_trade_streams_never_emit_a_trade_twice(spec: list[tuple[int, int]]) -> None:
    p = parser(anchored=True)
    seen: set[int] = set()
    for tid, t in spec:
        out = p.parse(enc({"channel": "trades", "data": [trade(tid, t)]}), 1)
        for ev in out:
            assert ev.trade_id not in seen
            seen.add(ev.trade_id)
    total = len(spec)
    dropped = p.counters[BadInput.TRADE_DUPLICATE] + p.counters[BadInput.TRADE_BACKFILL]
    assert len(seen) + dropped == total
