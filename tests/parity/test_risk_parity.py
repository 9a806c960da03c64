"""Risk parity without a process group: the risk authority's input journal through a run
recording and back, replayed into fresh authorities, its ControlStates compared with what
execution and alpha consumed; a changed input and a changed consumption are reported."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest

from mm.alpha.engine import AlphaEngine
from mm.config import Config, parse_config
from mm.graduation.exposure import decode_history
from mm.recording.journal import InputCall
from mm.recording.run import RunRecorder
from mm.replay.parity import compare_stream, load_run, load_stage, replay_risk, replay_stages
from mm.risk.authority import RiskAuthority, RiskStart, build_authority
from mm.risk.escalation import decode_safety_history
from mm.risk.limits import VenuePosition
from mm.schema import (
    ControlState,
    Fill,
    OperatorCommand,
    OrderEvent,
    OrderStatus,
    SafetyLevel,
    ShadowFill,
    Side,
)
from mm.stages import AlphaStage
from tests.audit.helpers import signal, snapshot

REPO = Path(__file__).resolve().parents[2]
CONFIG_TEXT = (REPO / "configs" / "paper.toml").read_text()
WALL0 = 1_700_000_000_000_000_000  # what the process read from the wall clock, minus now_ns


def _cfg() -> Config:
    return parse_config(CONFIG_TEXT, "paper.toml")


def _session(a: RiskAuthority, t0: int, n: int = 400) -> list[ControlState]:
    """Every input the risk process feeds its authority, on a deterministic market: snapshots and
    signals of two symbols, our order events and fills, shadow fills, a stale feed, an operator's
    promotion, a venue position read that differs, the kill switch tripped elsewhere and reset,
    risk's own open-order count; a control cycle every other step. The ControlStates published."""
    out: list[ControlState] = []
    t = t0
    tripped = False
    for i in range(n):
        t += 50_000_000
        for sid, base in ((0, 100_000.0), (1, 4_000.0)):
            mid = round(base * (1.0 + 0.002 * math.sin(i / 13.0 + sid)), 2)
            a.on_snapshot(snapshot(sid, t, mid=mid, seq=i), t + 1_000)
            a.on_signal(signal(sid, t, seq=i), t + 2_000)
            if i % 25 == 5:
                a.on_shadow_fill(ShadowFill(symbol_id=sid, ts_ns=t, origin_ts_ns=t - 1_000, side=Side.BUY,
                                            px=mid * 0.9999, qty=0.01, fee=0.0, is_maker=True, mid_px=mid,
                                            predicted_edge_bps=0.5))
        if i % 40 == 7:
            cloid = f"0x{i:032x}"
            px = round(100_000.0 * 0.999, 1)
            a.on_order_event(OrderEvent(symbol_id=0, ts_ns=t, origin_ts_ns=t - 5_000, cloid=cloid, oid=i,
                                        side=Side.BUY, px=px, qty=0.001, filled_qty=0.0, status=OrderStatus.OPEN),
                             t + 3_000)
            a.on_fill(Fill(symbol_id=0, ts_ns=t + 4_000, origin_ts_ns=t - 5_000, remote_ts_ms=0, cloid=cloid, oid=i,
                           trade_id=50_000 + i, side=Side.BUY, px=px, qty=0.001, fee=0.02, is_maker=True,
                           mid_px=100_000.0))
        if i == 60:
            a.on_command(OperatorCommand(ts_ns=t, seq=1, verb="promote", reason="parity test", who="op",
                                         force=True), WALL0 + t)
        if i in (100, 130):
            a.on_feed_stale(1, i == 100, 3_000_000_000, t)
        if i == 150:  # the venue lists a position we do not hold: adopted, reported
            a.on_venue_positions([VenuePosition(symbol_id=1, qty=0.3, entry_px=4_000.0)], t)
        if i in (250, 300):
            tripped = i == 250
        if i % 2 == 0:
            a.on_kill_switch(tripped, "tripped by the operator" if tripped else "", t)
            a.on_timer(t, WALL0 + t)
            out.append(a.control_state(t, WALL0 + t))
            while a.take_kill_decision() is not None:
                pass
            if a.kill_action(t).name == "CANCEL_ALL":
                a.on_open_orders(0, t + 1_000)
        if i % 20 == 0:
            a.status(t)
    return out


def _record(tmp: Path, calls: list[InputCall]) -> None:
    rec = RunRecorder(tmp, "r1", "risk", {"config_text": CONFIG_TEXT, "symbols": ["BTC", "ETH"]})
    for k, (op, args) in enumerate(calls):
        rec.input(op, args, k)
    rec.close()


def _start(t0: int, a: RiskAuthority | None = None) -> RiskStart:
    return RiskStart(start_ns=t0, history=decode_history(a.exposure_history_bytes()) if a else None,
                     safety_history=decode_safety_history(a.safety_history_bytes()) if a else None,
                     signal_models={0: "leadlag.BTC", 1: "leadlag.ETH"}, signal_horizon_s={0: 1.0, 1: 1.0})


def _live(tmp: Path) -> tuple[list[ControlState], list[InputCall]]:
    """Two process lives (the second reloads the first's histories), journaled and recorded."""
    cfg = _cfg()
    first = build_authority(cfg, _start(1_000_000_000), journal=True)
    states = _session(first, 1_000_000_000)
    calls = first.drain_inputs()
    _record(tmp, calls)
    t1 = 1_000_000_000 + 60_000_000_000
    second = build_authority(cfg, _start(t1, first), journal=True)  # a new process: its journal's seq from 0
    states += _session(second, t1, n=120)
    again = second.drain_inputs()
    _record(tmp, again)
    return states, calls + again


def test_risk_journal_replays_every_control_state(tmp_path: Path) -> None:
    states, calls = _live(tmp_path)
    levels = {s.safety_level for s in states}
    assert {int(SafetyLevel.KILL)} < levels and len({s.exposure_level for s in states}) > 1, levels
    assert {"start", "on_snapshot", "on_signal", "on_fill", "on_shadow_fill", "on_order_event", "on_feed_stale",
            "on_command", "on_venue_positions", "on_kill_switch", "on_timer", "control_state", "kill_action",
            "on_open_orders", "status"} <= {op for op, _ in calls}
    # nested calls (on_mark inside on_snapshot, on_fill inside on_shadow_fill) are not journaled
    assert "on_mark" not in {op for op, _ in calls}
    assert next(args for op, args in calls if op == "on_snapshot")[2] == 100.0  # the default written out
    j = load_stage(tmp_path / "runs" / "r1", "risk")
    assert j is not None and j.lost_inputs == 0 and len(j.restarts) == 1
    replayed = replay_risk(j)
    enc = msgspec.msgpack.Encoder()
    assert [enc.encode(s) for s in replayed] == [enc.encode(s) for s in states]
    c = compare_stream("risk", "execution", replayed, states[4:-2])  # attached late, stopped early
    assert (c.divergent, c.skipped_head, c.unconsumed_tail, c.first) == (0, 4, 2, None)


def test_a_changed_risk_input_is_a_reported_divergence(tmp_path: Path) -> None:
    """The kill switch read differently at one step (as if the process had read it without
    journaling it): the replay's ControlStates part from what execution consumed there."""
    states, calls = _live(tmp_path / "live")
    k = next(i for i, (op, args) in enumerate(calls) if op == "on_kill_switch" and not args[0])
    op, args = calls[k]
    calls[k] = (op, (True, "seeded", *args[2:]))
    second = next(i for i, (op, _) in enumerate(calls) if op == "start" and i > 0)
    _record(tmp_path / "seeded", calls[:second])
    _record(tmp_path / "seeded", calls[second:])
    j = load_stage(tmp_path / "seeded" / "runs" / "r1", "risk")
    assert j is not None
    c = compare_stream("risk", "execution", replay_risk(j), states)
    assert c.divergent > 0 and c.first is not None and c.first.index == 0
    assert "safety_level" in [f[0] for f in c.first.fields], c.first.fields
    assert c.first.consumed.safety_level != int(SafetyLevel.KILL) == c.first.produced.safety_level


def test_journal_refuses_what_it_cannot_replay() -> None:
    a = build_authority(_cfg(), _start(0), journal=True)
    fill = Fill(symbol_id=0, ts_ns=1, origin_ts_ns=0, remote_ts_ms=0, cloid="", oid=0, trade_id=1, side=1,
                px=100.0, qty=1.0, fee=0.0, is_maker=True)
    with pytest.raises(TypeError, match="cannot be journaled"):
        a.on_fill(fill, shadow=True)
    a.on_timer(5, wall_ns=WALL0)  # a keyword naming a positional parameter is journaled in its place
    assert a.drain_inputs()[-1] == ("on_timer", (5, WALL0))
    with pytest.raises(ValueError, match="unknown RiskAuthority input"):
        a.apply_input("take_dirty", ())
    with pytest.raises(ValueError, match="start entry"):
        a.apply_input("start", (_start(0),))
    from mm.replay.parity import StageJournal
    j = StageJournal(proc="risk", manifest={"config_text": CONFIG_TEXT}, inputs=[("on_timer", (1, None))])
    with pytest.raises(ValueError, match="before any start entry"):
        replay_risk(j)


def _consumers(tmp: Path, states: list[ControlState]) -> Path:
    """Execution's journal consuming ``states`` (as the live process does on the ctl ring) and
    alpha's applying their weights, with execution's manifest; the run directory."""
    from mm.execution.engine import ExecutionEngine
    from mm.execution.mode_handlers import SymbolSpec

    text = CONFIG_TEXT + f'\n[models]\ndir = "{tmp / "models"}"\n'
    specs = [SymbolSpec("BTC", 0, 5), SymbolSpec("ETH", 1, 4)]
    eng = ExecutionEngine(2, parse_config(text).execution, specs, session_id=7, journal=True)
    alpha = AlphaStage(AlphaEngine(symbols=["BTC", "ETH"]), journal=True)
    for s in states:
        eng.on_control(s)
        alpha.on_control(s)
    rec = RunRecorder(tmp, "r1", "execution", {
        "config_text": text, "models": {}, "seeds": {"session_id": 7, "variant_seed": 0}, "symbols": ["BTC", "ETH"],
        "specs": [[s.name, s.asset, s.sz_decimals] for s in specs], "audit_payload_capacity": 4000})
    for op, args in eng.drain_inputs():
        rec.input(op, args, 0)
    rec.close()
    rec = RunRecorder(tmp, "r1", "alpha", {"symbols": ["BTC", "ETH"], "models": {}})
    for op, args in alpha.drain_inputs():
        rec.input(op, args, 0)
    rec.close()
    return tmp / "runs" / "r1"


def test_mmctl_replay_run_reports_the_risk_stage_and_the_first_divergent_control_state(
        tmp_path: Path, capsys) -> None:
    from mm.cli.replay_run import main

    states, _ = _live(tmp_path)
    run_dir = _consumers(tmp_path, states[3:])
    st = {s.stage: s for s in replay_stages(load_run(run_dir))}
    assert [c.consumer for c in st["risk"].checks] == ["execution", "alpha"] and st["risk"].divergent == 0
    assert main(["--run", str(run_dir), "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (f"stage risk: {sum(1 for _ in load_stage(run_dir, 'risk').inputs)} inputs (0 lost), {len(states)} "
            f"outputs replayed\n  vs execution's: {len(states) - 3} consumed, 0 divergent (3 published before it "
            "attached, 0 after it stopped)") in out, out
    assert "divergent control states: 0" in out, out

    bad = list(states)
    bad[40] = msgspec.structs.replace(bad[40], size_multiplier=bad[40].size_multiplier + 0.25)
    other = tmp_path / "other"
    _live(other)
    run_dir = _consumers(other, bad)
    assert main(["--run", str(run_dir), "--state-dir", str(other), "--diff"]) == 1
    out = capsys.readouterr().out
    assert "divergent control states: 1" in out, out
    assert "first divergent risk output consumed by execution: message #40" in out, out
    side_by_side = out.split("first divergent risk output consumed by execution")[1].split("stage execution")[0]
    assert "ControlState ts_ns" in side_by_side and "size_multiplier" in side_by_side, side_by_side
