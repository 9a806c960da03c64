"""Audit records from real execution cycles; their files (rotation, compression, crash tail,
retention); queries by time, mode, symbol and fill id; ``mmctl audit`` on top."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest

from mm.audit.config import MonitorConfig
from mm.audit.query import AuditQuery, QueryError, mode_number, parse_time, select, summarize, trace_fill
from mm.audit.record import (
    AUDIT_FILL_TAG,
    CYCLE_DECISION_TAG,
    EXPOSURE_NAMES,
    MODE_NAMES,
    RISK_STATUS_TAG,
    SAFETY_NAMES,
    AuditFill,
    CycleDecisionRecord,
    RiskStatus,
    risk_status,
    shrink_to_fit,
)
from mm.audit.store import AuditReader, AuditWriter, read_audit
from mm.cli import audit as audit_cli
from mm.graduation.exposure import ExposureConfig
from mm.metrics.state import MonitorState
from mm.recording.format import RAW_FRAME_TAG
from mm.recording.writer import recording_files
from mm.risk.authority import RiskAuthority
from mm.schema import AnyMessage, ControlState, ExecMode, ExposureLevel, SafetyLevel, tag_of
from tests.audit.helpers import control, cycles, engine, fill_for, snapshot

WALL0 = 1_772_000_000_000_000_000  # 2026-02-25T06:13:20Z


def test_names_and_tags_agree_with_the_schema() -> None:
    assert MODE_NAMES == tuple(m.name for m in ExecMode)
    assert SAFETY_NAMES == tuple(m.name for m in SafetyLevel)
    assert EXPOSURE_NAMES == tuple(m.name for m in ExposureLevel)
    used = {tag_of(t) for t in get_args(AnyMessage) if t not in (CycleDecisionRecord, AuditFill, RiskStatus)}
    used.add(RAW_FRAME_TAG)
    for tag in (CYCLE_DECISION_TAG, AUDIT_FILL_TAG, RISK_STATUS_TAG):
        assert tag not in used
    assert tag_of(CycleDecisionRecord) == 60 and tag_of(AuditFill) == 61 and tag_of(RiskStatus) == 62


def test_record_from_a_real_cycle_round_trips_and_fits() -> None:
    eng = engine()
    eng.on_control(control())
    recs = cycles(eng, 0, 1_000_000_000, n=2)
    first, second = recs
    assert first.mode_name == "MAKER" and first.symbol == "BTC"
    assert [o.kind for o in first.orders_placed] == ["place", "place"]
    assert {o.side for o in first.orders_placed} == {1, -1}
    assert second.orders_latched == 2 and not second.orders_placed  # the same quotes left resting
    assert math.isfinite(first.raw_spread_bps) and first.final_spread_bps == pytest.approx(first.raw_spread_bps)
    assert {a.name for a in first.signal_adjustments} >= {"alpha_target_inventory", "lead_lag_skew"}
    assert first.exposure_scaling == 1.0 and first.risk_overlay.safety_level == 0
    assert first.market.snapshot_ts_ns > 0 and first.market.signal_ts_ns > first.market.snapshot_ts_ns
    data = msgspec.msgpack.encode(first)
    assert msgspec.msgpack.decode(data)[0] == CYCLE_DECISION_TAG  # array with the tag first
    back = msgspec.msgpack.decode(data, type=CycleDecisionRecord)
    assert back.orders_placed == first.orders_placed and back.candidates == first.candidates
    small, enc = shrink_to_fit(first, len(data) - 1)
    assert small.truncated and len(enc) < len(data) and small.orders_placed == first.orders_placed
    with pytest.raises(ValueError, match="slot holds"):
        shrink_to_fit(first, 64)


def test_risk_status_from_a_real_authority_fits_a_ctl_slot() -> None:
    auth = RiskAuthority(ExposureConfig(), symbols=["BTC", "ETH"], start_ns=1)
    auth.on_mark(0, 100_000.0)
    status = auth.status(2_000_000_000)
    rs = risk_status(status, ts_ns=2_000_000_000, wall_ns=WALL0, seq=1)
    assert rs.safety_level == SAFETY_NAMES.index(status["safety"]["level"])  # type: ignore[index]
    assert rs.exposure_level == EXPOSURE_NAMES.index(status["exposure"]["level"])  # type: ignore[index]
    assert 0.0 <= rs.confidence.overall <= 1.0 and math.isfinite(rs.confidence.safety)
    assert [p.coin for p in rs.positions] == ["BTC", "ETH"]
    assert len(msgspec.msgpack.encode(rs)) < 1024 - 16  # the ctl ring's payload at slot_size 1024


def _history(tmp_path: Path, rotate_bytes: int = 4096) -> tuple[Path, dict[str, Any]]:
    """Two symbols, a few minutes of real cycles through the monitor's state into audit files."""
    cfg = MonitorConfig(audit_rotate_bytes=rotate_bytes, audit_chunk_bytes=1024, audit_flush_interval_ms=10)
    st = MonitorState(["BTC", "ETH"], cfg, start_ns=0, start_wall_ns=WALL0)
    w = AuditWriter(tmp_path / "audit", cfg)
    eng = engine()
    facts: dict[str, Any] = {"fills": []}

    def feed(msg: Any, t: int) -> None:
        for rec in st.on_message(msg, t, WALL0 + t):
            w.write(rec, t)

    t = 1_000_000_000
    feed(control(ts_ns=t), t)
    eng.on_control(control(ts_ns=t))
    for minute in range(3):
        for sid in (0, 1):
            base = t + minute * 60_000_000_000 + sid * 1_000_000
            feed(snapshot(sid, base), base)
            recs = cycles(eng, sid, base, n=3)
            for r in recs:
                feed(r, r.ts_ns)
            placed = [r for r in recs if r.orders_placed]
            if placed and minute == 0:
                f = fill_for(placed[0], base + 200_000_000, trade_id=9000 + sid)
                facts["fills"].append((f, placed[0]))
                feed(f, f.ts_ns)
                # the engine learns its order filled: the next cycle re-quotes (a new place)
                eng.on_fill(f.ts_ns, sid, f.cloid, f.oid, f.trade_id, f.side > 0, f.px, f.qty, f.fee, True)
                for r in cycles(eng, sid, base + 300_000_000, n=1):
                    feed(r, r.ts_ns)
    # one cycle in a different mode: risk says Red and the kill switch is tripped: flat, cancel all
    red_t = t + 3 * 60_000_000_000
    feed(control(safety=3, seq=2, ts_ns=red_t), red_t)
    eng.on_control(control(safety=3, seq=2, ts_ns=red_t))
    for r in cycles(eng, 0, red_t + 1_000_000, n=1, killed=True):
        feed(r, r.ts_ns)
        facts["red_record"] = r
    w.close()
    facts["writer"] = w
    facts["t0"] = t
    return tmp_path / "audit", facts


def test_rotated_compressed_files_read_back_whole(tmp_path: Path) -> None:
    d, facts = _history(tmp_path)
    files = recording_files(d, "audit")
    assert len(files) >= 2, "small rotate_bytes must have rotated"
    raw = facts["writer"].writer.stats.raw_bytes
    on_disk = sum(f.stat().st_size for f in files)
    assert on_disk < raw, (on_disk, raw)  # zstd did compress
    reader = AuditReader(d)
    recs = list(reader)
    assert reader.stats.corrupt_chunks == 0 and reader.stats.truncated_tails == 0
    kinds = {type(r).__name__ for r in recs}
    assert kinds == {"CycleDecisionRecord", "AuditFill", "ControlState"}
    assert sum(isinstance(r, CycleDecisionRecord) for r in recs) == facts["writer"].records - sum(
        not isinstance(r, CycleDecisionRecord) for r in recs)
    # a crash mid-chunk: the torn tail is skipped, everything before it reads back
    last = files[-1]
    data = last.read_bytes()
    last.write_bytes(data[:-7])
    again = AuditReader(d)
    assert len(list(again)) < len(recs) and again.stats.truncated_tails + again.stats.corrupt_chunks == 1


def test_retention_keeps_the_newest_files(tmp_path: Path) -> None:
    cfg = MonitorConfig(audit_rotate_bytes=4096, audit_chunk_bytes=1024, audit_keep_files=2)
    w = AuditWriter(tmp_path, cfg)
    eng = engine()
    eng.on_control(control())
    for i in range(40):
        for r in cycles(eng, i % 2, 1_000_000_000 + i * 100_000_000, n=1):
            w.write(r, r.ts_ns)
    w.close()
    assert w.files > 2 and w.deleted == w.files - 2
    assert len(recording_files(tmp_path, "audit")) == 2


def test_query_by_time_mode_symbol_and_fill(tmp_path: Path) -> None:
    d, facts = _history(tmp_path)
    recs = list(read_audit(d))
    cycles_all = [r for r in recs if isinstance(r, CycleDecisionRecord)]
    assert all(r.wall_ns > WALL0 for r in cycles_all)
    # by symbol (name or id)
    btc = select(recs, AuditQuery(symbol="btc"))
    assert btc and all(r.symbol == "BTC" for r in btc)
    assert select(recs, AuditQuery(symbol="1")) == [r for r in cycles_all if r.symbol_id == 1]
    # by mode
    flat = select(recs, AuditQuery(mode=mode_number("flat")))
    assert [r.cycle for r in flat] == [facts["red_record"].cycle]
    assert flat[0].safety_level == 3 and flat[0].orders_cancelled, "killed: execution cancelled its quotes"
    assert flat[0].mode_reason == "kill switch" and flat[0].risk_overlay.killed
    assert all(r.mode == 1 for r in select(recs, AuditQuery(mode=mode_number("MAKER"))))
    # by time: the middle minute only
    t0 = facts["t0"]
    mid = select(recs, AuditQuery(since_wall_ns=WALL0 + t0 + 60_000_000_000,
                                  until_wall_ns=WALL0 + t0 + 120_000_000_000))
    assert mid and all(WALL0 + t0 + 60e9 <= r.wall_ns < WALL0 + t0 + 120e9 for r in mid)
    assert len(mid) < len(cycles_all)
    # limit keeps the last ones
    assert select(recs, AuditQuery(limit=3)) == cycles_all[-3:]
    # a fill id -> the cycle that placed the order
    for f, placing in facts["fills"]:
        for key in (str(f.trade_id), f.cloid):
            traces = trace_fill(lambda: read_audit(d), key)
            assert len(traces) == 1
            tr = traces[0]
            assert tr.fill.trade_id == f.trade_id
            assert tr.placed_by is not None and tr.placed_by.cycle == placing.cycle
            assert f.cloid in {o.cloid for o in tr.placed_by.orders_placed}
            assert tr.audit_fill is not None and tr.audit_fill.placed_cycle == placing.cycle
            assert tr.reported_in is not None and tr.reported_in.cycle > placing.cycle
            assert tr.reported_in.position_after_qty == pytest.approx(f.side * f.qty)
    assert trace_fill(lambda: read_audit(d), "424242") == []
    s = summarize(cycles_all)
    assert s.records == len(cycles_all) and s.fills == len(facts["fills"]) and s.by_mode["FLAT"] == 1


def test_parse_time() -> None:
    now = WALL0
    assert parse_time("10m", now) == now - 600 * 10**9
    assert parse_time("90s ago", now) == now - 90 * 10**9
    assert parse_time("now", now) == now
    assert parse_time("2026-02-25T06:13:20Z", now) == WALL0
    assert parse_time("2026-02-25 07:13:20+01:00", now) == WALL0
    assert parse_time("2026-02-25T06:13:20", now) == WALL0  # naive is UTC
    with pytest.raises(QueryError, match="ISO 8601"):
        parse_time("yesterday-ish", now)
    with pytest.raises(QueryError, match="MAKER"):
        mode_number("aggressive")


def _cli(*args: str) -> tuple[int, str]:
    ap = audit_cli._parser()
    out = io.StringIO()
    rc = audit_cli.run(ap.parse_args(list(args)), out=out, now_wall_ns=WALL0 + 10**12)
    return rc, out.getvalue()


def test_mmctl_audit_answers(tmp_path: Path) -> None:
    d, facts = _history(tmp_path)
    rc, text = _cli("--dir", str(tmp_path), "--symbol", "ETH", "--limit", "0")
    assert rc == 0 and " ETH " in text and " BTC " not in text and "MAKER" in text
    rc, text = _cli("--dir", str(d), "--mode", "flat")
    assert rc == 0 and text.count("FLAT") == 1 and "safety RED" in text
    f, placing = facts["fills"][0]
    rc, text = _cli("--dir", str(d), "--fill-id", str(f.trade_id))
    assert rc == 0 and f"placed by cycle #{placing.cycle}" in text and f.cloid in text
    rc, text = _cli("--dir", str(d), "--fill-id", f.cloid, "--json")
    obj = json.loads(text.splitlines()[0])
    assert obj["placed_by"]["cycle"] == placing.cycle and obj["fill"]["trade_id"] == f.trade_id
    assert obj["placed_by"]["mode_name"] == "MAKER"
    rc, text = _cli("--dir", str(d), "--summary")
    assert rc == 0 and "modes: MAKER" in text
    rc, text = _cli("--dir", str(d), "--json", "--limit", "2")
    rows = [json.loads(x) for x in text.splitlines()]
    assert len(rows) == 2 and all(r["type"] == "CycleDecisionRecord" for r in rows)
    assert _cli("--dir", str(d), "--fill-id", "31337")[0] == 1
    assert _cli("--dir", str(tmp_path / "nothing"))[0] == 1
    assert _cli("--dir", str(d), "--since", "last tuesday")[0] == 2


def test_monitor_state_writes_control_only_on_change() -> None:
    st = MonitorState(["BTC"], MonitorConfig())
    out1 = st.on_message(control(seq=1), 1, WALL0)
    out2 = st.on_message(control(seq=2), 2, WALL0 + 1)
    out3 = st.on_message(control(safety=1, seq=3), 3, WALL0 + 2)
    assert [type(x) for x in out1] == [ControlState] and out2 == [] and len(out3) == 1


def test_risk_status_is_cut_to_fit_the_slot() -> None:
    cond = "ORANGE: position 71% of its cap on BTC, and more words to make a long condition " * 2
    status = {
        "safety": {"level": "ORANGE", "reason": "x" * 300, "since_s": 3.0, "active_conditions": [cond] * 4},
        "exposure": {"level": "CAUTIOUS", "size_multiplier": 0.5},
        "confidence": {"model": 0.5, "execution": 0.6, "safety": 0.7, "overall": 0.6, "implied_level": "CAUTIOUS"},
        "validation": {"models": {f"a_rather_long_model_name_{i}": {"verdict": "HEALTHY", "score": 0.9, "weight": 1.0,
                                                                    "brier_score": 0.2, "information_ratio": 0.7}
                                  for i in range(8)}},
    }
    full = risk_status(status, ts_ns=1, wall_ns=WALL0, seq=1, max_bytes=100_000)
    assert len(full.models) == 8 and len(full.active_conditions) == 4
    assert len(msgspec.msgpack.encode(full)) > 1000
    cut = risk_status(status, ts_ns=1, wall_ns=WALL0, seq=1)
    assert len(msgspec.msgpack.encode(cut)) <= 1000
    assert cut.safety_level == 2 and cut.exposure_level == 3 and cut.confidence == full.confidence
    assert cut.models, "models are kept when shortening the conditions is enough"
