"""The real recordings in the shared data dir, through the importers, the book and the recorder.

Skipped (with the path in the reason) only when the data dir is absent; it is found by
mm.importers.data_dir(): $MM_DATA_DIR, else ../shared/data/real next to the repository.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import msgspec
import pytest

from mm.book import BookStatus, L2Book
from mm.importers import DATA_DIR_ENV, data_dir, import_to_recording
from mm.importers.hl_csv import import_hl_csv, seconds_text_to_ns
from mm.importers.raw_frames import import_binance_raw, import_hl_raw, raw_records
from mm.recording import RecordingReader, RecordingWriter
from mm.schema import Bbo, BookDelta, BookSnapshot, MarketEvent, RefPrice, Trade, Venue
from mm.venues.feed_health import BadInput, StaleDetector

DATA = data_dir()
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data dir absent: {DATA} (set {DATA_DIR_ENV})")


def test_data_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert data_dir() == (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real").resolve()
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert data_dir() == tmp_path.resolve()


def test_seconds_text_to_ns_is_exact() -> None:
    assert seconds_text_to_ns("1756904112.5465927") == 1756904112546592700
    assert seconds_text_to_ns("1756904113.19153") == 1756904113191530000
    assert seconds_text_to_ns("12") == 12_000_000_000
    assert seconds_text_to_ns("0.000000001999") == 1
    with pytest.raises(ValueError):
        seconds_text_to_ns("1e9")


def replay_books(events: list[MarketEvent]) -> dict[int, L2Book]:
    """Apply every book event to a per-symbol L2Book; each must apply cleanly."""
    books: dict[int, L2Book] = {}
    for ev in events:
        if isinstance(ev, BookSnapshot | BookDelta):
            book = books.setdefault(ev.symbol_id, L2Book())
            assert book.apply(ev) == BookStatus.OK, ev.seq
            assert not book.is_crossed()
    return books


# The README's measured facts: trade ids repeated per coin in each recording.
REPEATED_IDS = {"hyperliquid-2025-09-03": {"BTC": 30, "ETH": 1, "WLFI": 21},
                "hyperliquid-2025-09-04": {"BTC": 0, "ETH": 17, "WLFI": 8}}


@needs_data
@pytest.mark.parametrize("day", sorted(REPEATED_IDS))
def test_hl_csv_import_replays_through_the_book(day: str) -> None:
    imp = import_hl_csv(DATA / day)
    assert set(imp.per_coin) == {"BTC", "ETH", "WLFI"}
    for coin, ci in imp.per_coin.items():
        c = ci.counters
        assert c[BadInput.TRADE_DUPLICATE] == REPEATED_IDS[day][coin]
        # every (re)subscription's 30-trade backfill is dropped; nothing else is refused
        assert set(c.as_dict(nonzero_only=True)) <= {"TRADE_DUPLICATE", "TRADE_BACKFILL", "SEQ_DUPLICATE"}
        assert c[BadInput.TRADE_BACKFILL] + c[BadInput.TRADE_DUPLICATE] == 30 * ci.sessions
        assert ci.emitted["BookSnapshot"] + c[BadInput.SEQ_DUPLICATE] == ci.rows["orderbooks"]
        assert ci.emitted["Bbo"] * 2 == ci.rows["prices"]
        assert ci.emitted["Trade"] + c[BadInput.TRADE_BACKFILL] + c[BadInput.TRADE_DUPLICATE] == ci.rows["trades"]
        trades = [e for e in ci.events if isinstance(e, Trade)]
        assert len({t.trade_id for t in trades}) == len(trades)
    events = list(imp.events())
    assert all(a.ts_ns <= b.ts_ns for a, b in itertools.pairwise(events))
    books = replay_books(events)
    assert set(books) == {0, 1, 2}
    # the BBO stream agrees with the book top whenever both carry the same block time
    last: dict[int, BookSnapshot] = {}
    same = 0
    for ev in events:
        if isinstance(ev, BookSnapshot):
            last[ev.symbol_id] = ev
        elif isinstance(ev, Bbo) and ev.symbol_id in last and last[ev.symbol_id].remote_ts_ms == ev.remote_ts_ms:
            b = last[ev.symbol_id]
            assert (b.bid_px[0], b.bid_qty[0], b.ask_px[0], b.ask_qty[0]) == (ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty)
            same += 1
    assert same > 50
    for book in books.values():
        bp, bq, ap, aq = book.top(20)
        assert bp[0] < ap[0] and math.isfinite(book.microprice())


@needs_data
def test_hl_csv_gaps_show_as_feed_stale() -> None:
    """The 2025-09-03 recording has a 250 s and a 51 s outage for every coin."""
    imp = import_hl_csv(DATA / "hyperliquid-2025-09-03")
    det = StaleDetector(Venue.HYPERLIQUID, [0, 1, 2], stale_after_ns=5_000_000_000)
    episodes: list[tuple[int, float]] = []
    for i, ev in enumerate(imp.events()):
        if i == 0:
            det.reset(ev.ts_ns)
        episodes += [(s.symbol_id, s.silent_ns / 1e9) for s in det.check(ev.ts_ns)]
        det.on_message(ev.symbol_id, ev.ts_ns)
    assert sorted(s for s, _ in episodes) == [0, 0, 1, 1, 2, 2]
    assert sorted(round(g) for _, g in episodes) == [51, 51, 51, 250, 250, 250]


@needs_data
def test_hl_raw_frames_import() -> None:
    r = import_hl_raw(DATA / "hyperliquid-raw-2025-01-26" / "btcusd_20250126.gz", {"BTC": 0})
    assert r.frames == 55
    assert r.emitted == {"BookSnapshot": 45, "Trade": 34}
    assert r.counters.as_dict(nonzero_only=True) == {"SEQ_DUPLICATE": 1, "TRADE_BACKFILL": 30}
    books = replay_books(r.events)
    assert books[0].n_bids == 20 and books[0].n_asks == 20


@needs_data
@pytest.mark.parametrize(("fname", "symbol"), [("btcusdt_20240808.gz", "BTCUSDT"), ("ethusdt_20240808.gz", "ETHUSDT")])
def test_binance_raw_frames_sync_and_match_book_ticker(fname: str, symbol: str) -> None:
    """The documented snapshot + diff procedure on real frames: one snapshot bridges the
    stream, the u/pu chain never breaks, and the book's top equals bookTicker at every
    update id they share."""
    r = import_binance_raw(DATA / "binance-usdm-2024-08-08" / fname, {symbol: 0})
    assert r.counters.total == 0 and r.snapshots == 1
    assert r.emitted["BookSnapshot"] == 1 and r.emitted["BookDelta"] > 6000
    assert r.emitted["RefPrice"] > 50_000 and r.emitted["Trade"] > 10_000
    assert all(a.ts_ns <= b.ts_ns for a, b in zip(r.events, r.events[1:], strict=False))
    book = L2Book()
    matched = 0
    for ev in r.events:
        if isinstance(ev, BookSnapshot | BookDelta):
            assert book.apply(ev) == BookStatus.OK
        elif isinstance(ev, RefPrice) and book.synced and ev.seq == book.seq:
            assert (book.best_bid()[0], book.best_ask()[0]) == (ev.bid_px, ev.ask_px)
            matched += 1
    assert matched >= 50
    assert not book.is_crossed() and book.truncated > 0 and min(book.n_bids, book.n_asks) > 990  # deep diffs fill it


@needs_data
def test_imported_streams_round_trip_through_recordings(tmp_path: Path) -> None:
    hl = list(import_hl_csv(DATA / "hyperliquid-2025-09-03").events())
    bn = import_binance_raw(DATA / "binance-usdm-2024-08-08" / "ethusdt_20240808.gz", {"ETHUSDT": 1}).events
    raw = list(raw_records(DATA / "hyperliquid-raw-2025-01-26" / "btcusd_20250126.gz", Venue.HYPERLIQUID))
    for name, recs in (("hl", hl), ("bn", bn), ("raw", raw)):
        with RecordingWriter(tmp_path / name, source=name, chunk_bytes=64 * 1024, rotate_bytes=1 << 20) as w:
            for rec in recs:
                w.write(rec, rec.ts_ns)
        reader = RecordingReader(tmp_path / name, include_raw=True)
        back = list(reader)
        enc = msgspec.msgpack.Encoder()
        assert len(back) == len(recs)
        assert all(enc.encode(a) == enc.encode(b) for a, b in zip(back, recs, strict=True))
        assert reader.stats.truncated_tails == 0 and reader.stats.corrupt_chunks == 0


@needs_data
def test_import_to_recording_tells_datasets_apart(tmp_path: Path) -> None:
    ids = {"BTC": 0, "ETH": 1, "WLFI": 2}
    s1 = import_to_recording(DATA / "hyperliquid-2025-09-03", tmp_path, ids)
    s2 = import_to_recording(DATA / "hyperliquid-raw-2025-01-26" / "btcusd_20250126.gz", tmp_path, ids, keep_raw=True)
    s3 = import_to_recording(DATA / "binance-usdm-2024-08-08" / "ethusdt_20240808.gz", tmp_path, ids)
    assert (s1["kind"], s2["kind"], s3["kind"]) == ("hyperliquid_csv", "hyperliquid_raw", "binance_raw")
    assert s2["records"] == 79 + 55  # events + raw frames
    back = list(RecordingReader(tmp_path, include_raw=True))
    assert len(back) == s1["records"] + s2["records"] + s3["records"]
    assert {r.symbol_id for r in back if isinstance(r, RefPrice)} == {1}
