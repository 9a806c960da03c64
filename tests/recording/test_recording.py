"""Recording files: exact round trip, rotation, crash and corruption tolerance, pacing."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mm.recording.format as fmt
from mm.recording import (
    RawFrame,
    RecordingFormatError,
    RecordingReader,
    RecordingWriter,
    paced,
    read_recording,
    recording_files,
    replay_realtime,
)
from mm.schema import Bbo, BookDelta, BookSnapshot, Codec, FeedStale, FundingUpdate, RefPrice, Trade

i64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
u_ts = st.integers(min_value=0, max_value=2**62)
flt = st.floats(allow_nan=False)  # NaN != NaN would make equality meaningless; bits checked below
small = st.integers(min_value=-5, max_value=5)
fl_list = st.lists(flt, max_size=6)

events = st.one_of(
    st.builds(Trade, small, small, u_ts, i64, i64, flt, flt, small, i64),
    st.builds(BookSnapshot, small, small, u_ts, i64, i64, fl_list, fl_list, fl_list, fl_list),
    st.builds(BookDelta, small, small, u_ts, i64, i64, i64, i64, fl_list, fl_list, fl_list, fl_list),
    st.builds(Bbo, small, small, u_ts, i64, i64, flt, flt, flt, flt),
    st.builds(FundingUpdate, small, small, u_ts, i64, flt, flt, flt, flt),
    st.builds(RefPrice, small, small, u_ts, i64, i64, flt, flt, flt),
    st.builds(FeedStale, small, small, u_ts, i64, st.booleans()),
    st.builds(RawFrame, small, u_ts, st.binary(max_size=64)),
)


def encoded(recs: list[object]) -> list[bytes]:
    """Exact bytes of each record (float bits included, -0.0 distinct from 0.0)."""
    enc = msgspec.msgpack.Encoder()
    return [enc.encode(r) for r in recs]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=st.lists(events, max_size=60), chunk_bytes=st.sampled_from([1, 64, 1024, 1 << 20]),
       rotate_bytes=st.sampled_from([200, 1 << 30]))
def test_round_trip_is_exact(tmp_path_factory: pytest.TempPathFactory, recs: list[object], chunk_bytes: int,
                             rotate_bytes: int) -> None:
    d = tmp_path_factory.mktemp("rec")
    with RecordingWriter(d, chunk_bytes=chunk_bytes, rotate_bytes=rotate_bytes) as w:
        for i, r in enumerate(recs):
            w.write(r, i)
    reader = RecordingReader(d, include_raw=True)
    back = list(reader)
    assert encoded(back) == encoded(recs)
    assert reader.stats.truncated_tails == 0 and reader.stats.corrupt_chunks == 0
    assert reader.stats.records == len(recs) == w.stats.records
    # without raw frames
    assert encoded(list(read_recording(d))) == encoded([r for r in recs if not isinstance(r, RawFrame)])


def trades(n: int, t0: int = 0) -> list[Trade]:
    return [Trade(0, 1, t0 + i * 1_000_000, 1_700_000_000_000 + i, i, 100.0 + i * 0.5, 0.25, 1, i) for i in range(n)]


def test_schema_codec_bytes_are_the_record_bytes(tmp_path: Path) -> None:
    """Records are stored exactly as mm.schema.Codec encodes them."""
    t = trades(1)[0]
    with RecordingWriter(tmp_path, chunk_bytes=1) as w:
        w.write(t, 0)
    data = w.paths[0].read_bytes()
    comp = data[data.index(fmt.CHUNK_MAGIC) + fmt.CHUNK_HEADER.size:]
    assert zstandard.ZstdDecompressor().decompress(comp) == b"\x91" + Codec().encode(t)


def test_rotation_by_size_and_time_keeps_order(tmp_path: Path) -> None:
    recs = trades(300)
    with RecordingWriter(tmp_path, prefix="hl", chunk_bytes=500, rotate_bytes=2_000) as w:
        for r in recs:
            w.write(r, r.ts_ns)
    assert len(w.paths) >= 3 and w.stats.files == len(w.paths)
    assert [p.name for p in recording_files(tmp_path)] == [f"hl-{i:06d}.mmrec" for i in range(len(w.paths))]
    assert list(read_recording(tmp_path)) == recs
    d2 = tmp_path / "time"
    with RecordingWriter(d2, flush_interval_ns=10_000_000, rotate_interval_ns=50_000_000) as w2:
        for r in recs:  # one record per ms: flush every 10 ms, a new file every 50 ms
            w2.write(r, r.ts_ns)
    assert w2.stats.chunks >= 27 and len(w2.paths) >= 5
    assert list(read_recording(d2)) == recs


def test_maybe_flush_writes_pending_records_on_a_timer(tmp_path: Path) -> None:
    w = RecordingWriter(tmp_path, flush_interval_ns=100)
    w.write(trades(1)[0], 1_000)
    w.maybe_flush(1_050)
    assert w.stats.chunks == 0
    w.maybe_flush(1_100)
    assert w.stats.chunks == 1
    assert len(list(read_recording(tmp_path))) == 1  # readable while the writer is open
    w.close()


def test_writer_continues_numbering_and_never_overwrites(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path) as w:
        w.write(trades(1)[0], 0)
    with RecordingWriter(tmp_path) as w2:
        w2.write(trades(1, 5)[0], 0)
    assert [p.name for p in recording_files(tmp_path)] == ["md-000000.mmrec", "md-000001.mmrec"]
    assert [r.ts_ns for r in read_recording(tmp_path)] == [0, 5]
    with pytest.raises(ValueError):
        w2.write(trades(1)[0], 0)


def _write_chunks(d: Path, n_chunks: int, per_chunk: int) -> tuple[Path, list[Trade], list[int]]:
    recs = trades(n_chunks * per_chunk)
    ends = []
    with RecordingWriter(d, chunk_bytes=1 << 30) as w:
        for c in range(n_chunks):
            for r in recs[c * per_chunk:(c + 1) * per_chunk]:
                w.write(r, 0)
            w.flush()
            ends.append(w.stats.bytes_written)
    return w.paths[0], recs, ends


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut_frac=st.floats(min_value=0.0, max_value=0.999))
def test_truncated_tail_is_skipped_and_counted(tmp_path_factory: pytest.TempPathFactory, cut_frac: float) -> None:
    """A crash mid-write: the file ends anywhere inside its last chunk."""
    d = tmp_path_factory.mktemp("trunc")
    path, recs, ends = _write_chunks(d, 4, 25)
    start_last, end_last = ends[-2], ends[-1]
    cut = start_last + int(cut_frac * (end_last - start_last))
    path.write_bytes(path.read_bytes()[:cut])
    reader = RecordingReader(path)
    assert list(reader) == recs[:75]
    assert reader.stats.truncated_tails == (1 if cut > start_last else 0)
    assert reader.stats.corrupt_chunks == 0


def test_a_killed_writer_leaves_every_flushed_chunk_readable(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import os
        from mm.recording import RecordingWriter
        from mm.schema import Trade
        w = RecordingWriter({str(tmp_path)!r}, chunk_bytes=1 << 30)
        for i in range(950):
            w.write(Trade(0, 1, i, i, i, 100.0, 1.0, 1, i), i)
            if i % 100 == 99:
                w.flush()
        os._exit(9)  # no close(): records 900.. are lost, the file is not finalised
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert res.returncode == 9
    reader = RecordingReader(tmp_path)
    assert [r.trade_id for r in reader] == list(range(900))
    assert reader.stats.truncated_tails == 0


def test_corrupt_middle_chunk_is_skipped_and_reading_resumes(tmp_path: Path) -> None:
    path, recs, ends = _write_chunks(tmp_path, 4, 25)
    data = bytearray(path.read_bytes())
    data[(ends[0] + ends[1]) // 2] ^= 0xFF  # inside chunk 2's payload: CRC mismatch
    path.write_bytes(bytes(data))
    reader = RecordingReader(path)
    assert list(reader) == recs[:25] + recs[50:]
    assert reader.stats.corrupt_chunks == 1 and reader.stats.truncated_tails == 0
    # a damaged length field: the reader finds the next chunk marker
    data = bytearray(path.read_bytes())
    data[ends[1] + 4: ends[1] + 8] = (10**9).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    reader = RecordingReader(path)
    assert list(reader) == recs[:25] + recs[75:]
    assert reader.stats.corrupt_chunks == 2


def test_not_a_recording(tmp_path: Path) -> None:
    p = tmp_path / "x.mmrec"
    p.write_bytes(b"hello world")
    with pytest.raises(RecordingFormatError):
        list(RecordingReader(p))


def test_paced_yields_delays_and_never_sleeps() -> None:
    recs = [FeedStale(0, 0, t, 0) for t in (100, 100, 1_000_000_100, 500_000_100, 3_000_000_100)]
    out = list(paced(recs, speed=2.0))
    assert [d for d, _ in out] == [0.0, 0.0, 0.5, 0.0, 1.0]  # time going backwards: no wait
    assert [r for _, r in out] == recs
    assert [d for d, _ in paced(recs, max_delay_s=0.25)] == [0.0, 0.0, 0.25, 0.0, 0.25]
    slept: list[float] = []
    got: list[object] = []
    assert replay_realtime(recs, got.append, speed=4.0, sleep=slept.append) == 5
    assert slept == [0.25, 0.5] and got == recs
    with pytest.raises(ValueError):
        list(paced(recs, speed=0))


def test_docstring_example_is_a_real_recording(tmp_path: Path) -> None:
    """The hexdump in mm/recording/format.py is a valid file, and today's writer produces
    the same header and the same uncompressed chunk for the same two trades."""
    doc = fmt.__doc__ or ""
    rows = re.findall(r"^    ([0-9a-f]{8})  ((?:[0-9a-f]{2} ?){1,8}(?: (?:[0-9a-f]{2} ?){1,8})?)", doc, re.M)
    chunk_rows = [(int(off, 16), bytes.fromhex(hx.replace(" ", ""))) for off, hx in rows if int(off, 16) >= 0x134]
    chunk = b"".join(b for _, b in chunk_rows)
    want = [
        Trade(0, 0, 1756904113029678000, 1756904112363, 1756904112363, 111038.0, 0.00093, -1, 834790675867468),
        Trade(0, 0, 1756904113333714700, 1756904112708, 1756904112708, 111039.0, 0.00108, 1, 351760835821104),
    ]
    with RecordingWriter(tmp_path, source="example", wall_clock_ns=lambda: 0) as w:
        for t in want:
            w.write(t, t.ts_ns)
    written = w.paths[0].read_bytes()
    assert len(written) == 427 and written[:0x134].startswith(fmt.MAGIC)
    # the documented file: today's preamble + the documented chunk, read back
    doc_file = tmp_path / "doc-000000.mmrec"
    doc_file.write_bytes(written[:0x134] + chunk)
    assert list(RecordingReader(doc_file)) == want
    dctx = zstandard.ZstdDecompressor()
    assert dctx.decompress(chunk[16:]) == dctx.decompress(written[0x134 + 16:])
