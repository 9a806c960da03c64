"""The postmortem window: audit records kept encoded and compressed, bounded in time, count and bytes."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import msgspec
import pytest

from mm.audit.config import MonitorConfig
from mm.audit.postmortem import Trigger, build_bundle
from mm.audit.record import CycleDecisionRecord
from mm.audit.store import read_audit, write_bundle
from mm.audit.window import RecordWindow
from mm.config import ConfigError, parse_config
from mm.metrics.state import MonitorState
from tests.audit.helpers import control, cycles, engine, snapshot

S = 1_000_000_000
ENC = msgspec.msgpack.Encoder()


def _records(n: int) -> list[CycleDecisionRecord]:
    eng = engine()
    eng.on_control(control(ts_ns=S))
    eng.on_snapshot(snapshot(1, S))
    out: list[CycleDecisionRecord] = []
    t = 2 * S
    while len(out) < n:
        got = cycles(eng, 1, t, n=50)
        out.extend(got)
        t += 50 * 50_000_000
    return out[:n]


RECS = _records(600)


def test_records_come_back_as_they_went_in_across_chunks() -> None:
    w = RecordWindow(60 * S, 10_000, 1 << 20, chunk_bytes=8 * 1024)
    for i, r in enumerate(RECS):
        w.add(S + i * 1_000_000, r)
    assert w.chunks > 5  # several sealed chunks and the open one
    got = w.records(S + len(RECS) * 1_000_000)
    assert [ENC.encode(r) for r in got] == [ENC.encode(r) for r in RECS]
    assert w.dropped == 0 and len(w) == len(RECS)


def test_horizon_drops_old_chunks_and_filters_a_straddling_one() -> None:
    w = RecordWindow(10 * S, 10_000, 1 << 20, chunk_bytes=8 * 1024)
    for i, r in enumerate(RECS):
        w.add(i * 100_000_000, r)  # 10 per second: 60 s in all
    now = len(RECS) * 100_000_000
    got = w.records(now)
    want = [r for i, r in enumerate(RECS) if i * 100_000_000 >= now - 10 * S]
    assert [ENC.encode(r) for r in got] == [ENC.encode(r) for r in want]
    assert len(w) < len(RECS) // 2  # the old chunks are gone, not just hidden
    assert w.dropped == 0  # time, not a cap, took them


def test_byte_and_record_caps_drop_the_oldest_and_count_them() -> None:
    w = RecordWindow(3600 * S, 10_000, 64 * 1024, chunk_bytes=8 * 1024)
    for _ in range(20):
        for i, r in enumerate(RECS):
            w.add(S + i, r)
            assert w.nbytes <= 64 * 1024
    assert w.dropped > 0 and w.dropped + len(w) == 20 * len(RECS)
    assert ENC.encode(w.records(2 * S)[-1]) == ENC.encode(RECS[-1])  # the newest is kept
    c = RecordWindow(3600 * S, 100, 1 << 20)
    for i, r in enumerate(RECS):
        c.add(S + i, r)
        assert len(c) <= 100
    assert c.dropped + len(c) == len(RECS)


def test_a_view_is_a_copy_decoded_later() -> None:
    w = RecordWindow(60 * S, 10_000, 1 << 20, chunk_bytes=8 * 1024)
    for i, r in enumerate(RECS[:100]):
        w.add(S + i, r)
    view = w.view(2 * S)
    for i, r in enumerate(RECS[100:]):
        w.add(S + 100 + i, r)
    assert len(view) == 100 and [ENC.encode(r) for r in view.records()] == [ENC.encode(r) for r in RECS[:100]]


def test_held_memory_is_a_fraction_of_the_decoded_records() -> None:
    """What the bound is for: the decoded records the monitor used to hold cost ~3.7 KB each.
    Marginal memory: the window's compression context (fixed, ~0.5 MB) is warm before the count."""
    blobs = [ENC.encode(r) for r in RECS[100:]]
    dec = msgspec.msgpack.Decoder(CycleDecisionRecord)
    w = RecordWindow(60 * S, 10_000, 1 << 20)
    for i, r in enumerate(RECS[:100]):
        w.add(S + i, r)
    w.view(2 * S)
    tracemalloc.start()
    try:
        s0 = tracemalloc.get_traced_memory()[0]
        decoded = [dec.decode(b) for b in blobs]
        decoded_b = tracemalloc.get_traced_memory()[0] - s0
        del decoded
        s0 = tracemalloc.get_traced_memory()[0]
        for i, r in enumerate(RECS[100:]):
            w.add(S + 100 + i, r)
        held_b = tracemalloc.get_traced_memory()[0] - s0
    finally:
        tracemalloc.stop()
    assert held_b * 8 < decoded_b, (held_b, decoded_b)
    assert w.nbytes * 8 < decoded_b


def test_monitor_state_reports_the_window() -> None:
    st = MonitorState(["BTC", "ETH"], MonitorConfig(postmortem_max_bytes=1 << 20))
    st.on_message(snapshot(1, S), S, S)
    for r in RECS[:50]:
        st.on_message(r, r.ts_ns, r.ts_ns)
    win = st.snapshot(3 * S, 3 * S)["postmortem_window"]
    assert win["records"] == 50 and win["max_bytes"] == 1 << 20 and 0 < win["bytes"] <= 1 << 20
    assert len(st.window_records(RECS[49].ts_ns)) == 50


def test_config_refuses_a_byte_cap_below_a_mebibyte() -> None:
    with pytest.raises(ConfigError, match="postmortem_max_bytes"):
        parse_config("[monitor]\npostmortem_max_bytes = 1000\n")
    with pytest.raises(ValueError, match="max_bytes"):
        RecordWindow(S, 10, 1000, chunk_bytes=1024)


def test_a_bundle_is_written_from_the_encoded_records_undecoded(tmp_path: Path) -> None:
    """raw_records: the msgpack of each record in the horizon, written by the audit writer as
    it is; the bundle's file reads back as the records that went in."""
    w = RecordWindow(10 * S, 10_000, 1 << 20, chunk_bytes=8 * 1024)
    for i, r in enumerate(RECS):
        w.add(i * 100_000_000, r)
    now = len(RECS) * 100_000_000
    raw = w.view(now).raw_records()
    assert all(isinstance(r, msgspec.Raw) for r in raw)
    want = [r for i, r in enumerate(RECS) if i * 100_000_000 >= now - 10 * S]
    trig = Trigger(kind="safety", level=3, prev_level=0, reason="test", ts_ns=now, wall_ns=0)
    path = write_bundle(tmp_path, build_bundle(trig, {}, raw, 10 / 60))
    back = list(read_audit(path))
    assert [ENC.encode(r) for r in back] == [ENC.encode(r) for r in want]
    assert f"{len(want)} audit records" in (path / "summary.md").read_text()
