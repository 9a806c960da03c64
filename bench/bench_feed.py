"""Market-data costs: parse + normalize per message, L2 book updates, importers, recording.

- Parse + normalize: one websocket frame in, validated :mod:`mm.schema` events out, through
  the live parsers (msgspec typed decoding) and, for the same frames in the same run, through
  plain ``json.loads`` + dict walking that builds the same events with the same checks. The
  frames are real ones (the Hyperliquid raw recording of 2025-01-26 and the Binance USD-M
  recording of 2024-08-08) made distinct per iteration (block time, trade ids, update ids),
  so every call takes the full path rather than the duplicate-drop shortcut. Target: <= 20 us
  per l2Book (20 levels a side).
- Book update: :class:`mm.book.L2Book` ``apply`` of a normalized event (lists converted to
  arrays included), for Hyperliquid snapshots (20 levels a side) and the real Binance diff
  stream (after its snapshot, books of ~5000 levels a side).
- Importers: events per second of each importer on the real data.
- Recording: records per second written (zstd level 3) and read back.

Each per-call figure is timed with ``perf_counter_ns`` around the call (about 0.05 us of
timer overhead included). Run: ``python -m bench.bench_feed [--quick]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from mm.book import L2Book
from mm.importers import data_dir
from mm.importers.hl_csv import import_hl_csv
from mm.importers.raw_frames import import_binance_raw, import_hl_raw
from mm.recording import RecordingReader, RecordingWriter
from mm.schema import BookDelta, BookSnapshot, MarketEvent, Side, Trade, Venue
from mm.venues.binance.wire import BinanceParser
from mm.venues.hyperliquid.md_wire import HyperliquidMdParser

DATA = data_dir()
HL_RAW = DATA / "hyperliquid-raw-2025-01-26" / "btcusd_20250126.gz"
BN_RAW = DATA / "binance-usdm-2024-08-08" / "btcusdt_20240808.gz"
HL_DAY = DATA / "hyperliquid-2025-09-04"

# Used only when the real data dir is absent (same shape as the real frames).
_FALLBACK_BOOK: dict[str, Any] = {"channel": "l2Book", "data": {"coin": "BTC", "time": 1737918843542, "levels": [
    [{"px": f"{105055 - i}.0", "sz": f"{0.1 + i * 0.37:.5f}", "n": 1 + i % 7} for i in range(20)],
    [{"px": f"{105056 + i}.0", "sz": f"{0.2 + i * 0.41:.5f}", "n": 1 + i % 5} for i in range(20)]]}}
_FALLBACK_TRADES: dict[str, Any] = {"channel": "trades", "data": [
    {"coin": "BTC", "side": "B" if i % 2 else "A", "px": "105056.0", "sz": "0.00219", "time": 1737918794873,
     "hash": "0x" + "ab" * 32, "tid": 121451470284048 + i, "users": ["0x" + "e9" * 20, "0x" + "68" * 20]}
    for i in range(4)]}


# --------------------------------------------------------------------------- baselines (json + dicts)

_INF = math.inf


def _side_dicts(levels: list[dict[str, Any]], descending: bool) -> tuple[list[float], list[float]] | None:
    px: list[float] = []
    qty: list[float] = []
    prev = _INF if descending else 0.0
    for lv in levels:
        p = float(lv["px"])
        q = float(lv["sz"])
        if not (0.0 < p < _INF and 0.0 < q < _INF):
            return None
        if (p >= prev) if descending else (p <= prev):
            return None
        prev = p
        px.append(p)
        qty.append(q)
    return px, qty


def baseline_hl(frame: bytes, ts_ns: int, sym: dict[str, int]) -> list[MarketEvent]:
    """The same normalization with json.loads and dict walking (no sequence state)."""
    msg = json.loads(frame)
    ch = msg["channel"]
    d = msg["data"]
    if ch == "l2Book":
        b = _side_dicts(d["levels"][0], True)
        a = _side_dicts(d["levels"][1], False)
        if b is None or a is None or (b[0] and a[0] and b[0][0] >= a[0][0]):
            return []
        t = int(d["time"])
        return [BookSnapshot(0, sym[d["coin"]], ts_ns, t, t, b[0], b[1], a[0], a[1])]
    if ch == "trades":
        out: list[MarketEvent] = []
        for tr in d:
            p, q, t = float(tr["px"]), float(tr["sz"]), int(tr["time"])
            if 0.0 < p < _INF and 0.0 < q < _INF:
                side = int(Side.BUY) if tr["side"] == "B" else int(Side.SELL)
                out.append(Trade(0, sym[tr["coin"]], ts_ns, t, t, p, q, side, int(tr["tid"])))
        return out
    return []


# --------------------------------------------------------------------------- frames


def _hl_frames() -> tuple[dict[str, Any], dict[str, Any]]:
    if not HL_RAW.exists():
        return _FALLBACK_BOOK, _FALLBACK_TRADES
    book = trades = None
    with gzip.open(HL_RAW, "rb") as f:
        for line in f:
            msg = json.loads(line.partition(b" ")[2])
            if msg["channel"] == "l2Book" and book is None:
                book = msg
            elif msg["channel"] == "trades" and len(msg["data"]) < 30:
                # the largest live frame (not the subscription's 30-trade backfill)
                if trades is None or len(msg["data"]) > len(trades["data"]):
                    trades = msg
    return book or _FALLBACK_BOOK, trades or _FALLBACK_TRADES


def _distinct_books(book: dict[str, Any], n: int) -> list[bytes]:
    t0 = book["data"]["time"]
    head, _, tail = json.dumps(book, separators=(",", ":")).partition(f'"time":{t0}')
    return [f'{head}"time":{t0 + i}{tail}'.encode() for i in range(n)]


def _distinct_trades(trades: dict[str, Any], n: int) -> list[bytes]:
    out = []
    base = [tr["tid"] for tr in trades["data"]]
    t0 = trades["data"][0]["time"]
    for i in range(n):
        msg = json.loads(json.dumps(trades))
        for k, tr in enumerate(msg["data"]):
            tr["tid"] = base[k] + 1000 * i + 1_000_000_000
            tr["time"] = t0 + i
        out.append(json.dumps(msg, separators=(",", ":")).encode())
    return out


# --------------------------------------------------------------------------- timing


def _stats(xs: list[int]) -> dict[str, float]:
    s = sorted(xs)
    return {
        "n": len(xs),
        "mean_us": statistics.fmean(xs) / 1000.0,
        "p50_us": s[len(s) // 2] / 1000.0,
        "p99_us": s[min(len(s) - 1, int(0.99 * len(s)))] / 1000.0,
    }


def _time_calls(fn: Callable[[Any], object], inputs: list[Any], warm: int = 0) -> list[int]:
    """Per-call times in ns; the first ``warm`` inputs are run untimed first."""
    clock = time.perf_counter_ns
    for x in inputs[:warm]:
        fn(x)
    out = []
    for x in inputs[warm:]:
        t0 = clock()
        fn(x)
        out.append(clock() - t0)
    return out


def _row(name: str, st: dict[str, float], extra: str = "") -> None:
    print(f"  {name:<40} {st['n']:>8} {st['mean_us']:>9.2f} {st['p50_us']:>9.2f} {st['p99_us']:>9.2f}  {extra}")


# --------------------------------------------------------------------------- sections


def bench_parse(n: int) -> dict[str, Any]:
    book, trades = _hl_frames()
    books = _distinct_books(book, n)
    trade_frames = _distinct_trades(trades, min(n, 10_000))
    coins = {"BTC": 0}
    out: dict[str, Any] = {"levels_per_side": len(book["data"]["levels"][0]), "trades_per_frame": len(trades["data"])}

    p = HyperliquidMdParser(coins)
    p.parse(books[0], 0)  # warm
    p2 = HyperliquidMdParser(coins)
    p2.parse(book_anchor(book), 0)  # trades need the session's first book
    checks = [p.parse(books[1], 1), baseline_hl(books[1], 1, coins)]
    assert checks[0] == checks[1], "baseline and parser disagree"
    # the parser was primed with books[0..1]; start timing from books[2]
    out["hl_l2book_msgspec"] = _stats(_time_calls(lambda f: p.parse(f, 5), books[2:]))
    out["hl_l2book_json_dicts"] = _stats(_time_calls(lambda f: baseline_hl(f, 5, coins), books[2:]))
    assert p.counters.total == 0
    out["hl_trades_msgspec"] = _stats(_time_calls(lambda f: p2.parse(f, 5), trade_frames))
    out["hl_trades_json_dicts"] = _stats(_time_calls(lambda f: baseline_hl(f, 5, coins), trade_frames))
    assert p2.counters.total == 0, p2.counters

    if BN_RAW.exists():
        tickers: list[bytes] = []
        with gzip.open(BN_RAW, "rb") as f:
            for line in f:
                body = line.partition(b" ")[2].rstrip()
                if b'"bookTicker"' in body[:60]:
                    tickers.append(body)
                if len(tickers) >= n:
                    break
        bp = BinanceParser({"BTCUSDT": 0})
        out["bn_bookticker_msgspec"] = _stats(_time_calls(lambda f: bp.parse(f, 5), tickers))
        out["bn_bookticker_json_dicts"] = _stats(_time_calls(_bn_ticker_baseline, tickers))
        assert bp.counters.total == 0
    return out


def book_anchor(book: dict[str, Any]) -> bytes:
    return json.dumps(book, separators=(",", ":")).encode()


def _bn_ticker_baseline(frame: bytes) -> object:
    d = json.loads(frame)["data"]
    b, a = float(d["b"]), float(d["a"])
    if 0.0 < b < a < _INF and 0.0 < float(d["B"]) < _INF and 0.0 < float(d["A"]) < _INF:
        return (d["s"], int(d["u"]), int(d["T"]), b, a, 0.5 * (b + a))
    return None


def bench_book(n: int) -> dict[str, Any]:
    book, _ = _hl_frames()
    p = HyperliquidMdParser({"BTC": 0})
    snaps = [e for f in _distinct_books(book, n) for e in p.parse(f, 0)]
    b = L2Book()
    out: dict[str, Any] = {"hl_snapshot_apply": _stats(_time_calls(b.apply, snaps, warm=100))}
    if BN_RAW.exists():
        r = import_binance_raw(BN_RAW, {"BTCUSDT": 0})
        book_events = [e for e in r.events if isinstance(e, BookSnapshot | BookDelta)]
        deltas = book_events[1:]
        out["bn_delta_levels_mean"] = statistics.fmean(len(d.bid_px) + len(d.ask_px) for d in deltas)
        for cap in (1024, 64):
            b2 = L2Book(cap)
            b2.apply(book_events[0])
            out[f"bn_delta_apply_cap{cap}"] = _stats(_time_calls(b2.apply, deltas))
            out[f"bn_book_levels_cap{cap}"] = b2.n_bids + b2.n_asks
            assert b2.synced and not b2.is_crossed()
    return out


def bench_importers(quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if HL_DAY.is_dir():
        t0 = time.perf_counter()
        imp = import_hl_csv(HL_DAY)
        dt = time.perf_counter() - t0
        out["hl_csv_2025_09_04"] = {"events": imp.n_events, "seconds": dt, "events_per_s": imp.n_events / dt}
    if BN_RAW.exists():
        t0 = time.perf_counter()
        r = import_binance_raw(BN_RAW, {"BTCUSDT": 0})
        dt = time.perf_counter() - t0
        out["binance_raw_btcusdt"] = {"events": len(r.events), "frames": r.frames, "seconds": dt,
                                      "events_per_s": len(r.events) / dt}
    if HL_RAW.exists():
        t0 = time.perf_counter()
        r2 = import_hl_raw(HL_RAW, {"BTC": 0})
        dt = time.perf_counter() - t0
        out["hl_raw_2025_01_26"] = {"events": len(r2.events), "frames": r2.frames, "seconds": dt,
                                    "events_per_s": len(r2.events) / dt}
    return out


def bench_recording(quick: bool) -> dict[str, Any]:
    if BN_RAW.exists():
        events: list[Any] = import_binance_raw(BN_RAW, {"BTCUSDT": 0}).events
    else:
        events = [Trade(int(Venue.SIM), 0, i, i, i, 100.0, 1.0, 1, i) for i in range(50_000)]
    if quick:
        events = events[:20_000]
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        with RecordingWriter(d) as w:
            for ev in events:
                w.write(ev, ev.ts_ns)
        dt_w = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = sum(1 for _ in RecordingReader(d))
        dt_r = time.perf_counter() - t0
        assert n == len(events)
        return {
            "records": len(events),
            "write_per_s": len(events) / dt_w,
            "read_per_s": len(events) / dt_r,
            "raw_bytes_per_record": w.stats.raw_bytes / len(events),
            "file_bytes_per_record": w.stats.bytes_written / len(events),
        }


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark, print a table, return the figures."""
    n = 3_000 if quick else 20_000
    figures: dict[str, Any] = {"data_dir": str(DATA), "real_data": DATA.is_dir()}
    print(f"data: {DATA}{'' if DATA.is_dir() else ' (absent: built-in frames, no importer figures)'}")
    print(f"  {'per call':<40} {'n':>8} {'mean us':>9} {'p50 us':>9} {'p99 us':>9}")
    parse = bench_parse(n)
    figures["parse"] = parse
    lv, tpf = parse["levels_per_side"], parse["trades_per_frame"]
    _row(f"HL l2Book ({lv}/side) msgspec", parse["hl_l2book_msgspec"], "<- target <= 20 us")
    _row(f"HL l2Book ({lv}/side) json.loads+dicts", parse["hl_l2book_json_dicts"])
    _row(f"HL trades ({tpf}/frame) msgspec", parse["hl_trades_msgspec"])
    _row(f"HL trades ({tpf}/frame) json.loads+dicts", parse["hl_trades_json_dicts"])
    if "bn_bookticker_msgspec" in parse:
        _row("BN bookTicker msgspec", parse["bn_bookticker_msgspec"])
        _row("BN bookTicker json.loads+dicts", parse["bn_bookticker_json_dicts"])
    speedup = parse["hl_l2book_json_dicts"]["mean_us"] / parse["hl_l2book_msgspec"]["mean_us"]
    figures["hl_l2book_speedup_vs_json"] = speedup
    print(f"  -> msgspec vs json.loads on l2Book: {speedup:.1f}x")
    book = bench_book(n)
    figures["book"] = book
    _row(f"book apply HL snapshot ({lv}/side)", book["hl_snapshot_apply"])
    for cap in (1024, 64):
        if f"bn_delta_apply_cap{cap}" in book:
            _row(f"book apply BN delta ({book['bn_delta_levels_mean']:.0f} lv), cap {cap}",
                 book[f"bn_delta_apply_cap{cap}"], f"book {book[f'bn_book_levels_cap{cap}']} levels")
    imp = bench_importers(quick)
    figures["importers"] = imp
    if imp:
        print(f"  {'importer':<40} {'events':>8} {'seconds':>9} {'events/s':>9}")
        for name, v in imp.items():
            print(f"  {name:<40} {v['events']:>8} {v['seconds']:>9.2f} {v['events_per_s']:>9.0f}")
    rec = bench_recording(quick)
    figures["recording"] = rec
    print(f"  recording: {rec['records']} records, write {rec['write_per_s']:.0f}/s, read {rec['read_per_s']:.0f}/s, "
          f"{rec['raw_bytes_per_record']:.0f} B raw -> {rec['file_bytes_per_record']:.1f} B on disk per record")
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    run(quick=args.quick)


if __name__ == "__main__":
    main()
