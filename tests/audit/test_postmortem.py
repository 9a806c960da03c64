"""Automated postmortem: when a bundle is due, and what a forced Red leaves on disk."""

from __future__ import annotations

import io
import json
from pathlib import Path

from mm.audit.config import MonitorConfig
from mm.audit.postmortem import REDACTED, PostmortemPolicy, build_bundle, redact
from mm.audit.query import AuditQuery, select
from mm.audit.record import AuditFill, CycleDecisionRecord
from mm.audit.store import read_audit, write_bundle
from mm.cli import audit as audit_cli
from mm.metrics.state import MonitorState
from mm.schema import ControlState, OrderStatus
from tests.audit.helpers import control, cycles, engine, fill_for, order_event, snapshot

S = 1_000_000_000
MIN = 60 * S
WALL0 = 1_772_000_000_000_000_000


def test_policy_escalations_and_episodes() -> None:
    p = PostmortemPolicy(min_interval_ns=60 * S)
    assert p.on_safety(0, "", 1 * S, 0) is None
    assert p.on_safety(2, "orange", 2 * S, 0) is None
    t = p.on_safety(3, "drawdown 2.1%", 3 * S, 0)
    assert t is not None and t.level == 3 and t.prev_level == 2 and t.kind == "safety" and t.slug() == "red-safety"
    assert p.on_safety(3, "drawdown 2.1%", 4 * S, 0) is None  # the same episode
    k = p.on_safety(4, "drawdown 5%", 5 * S, 0)  # higher: a new bundle even within the interval
    assert k is not None and k.level == 4
    assert p.on_kill_switch(True, 1, "risk: kill", 5 * S, 0) is None  # the Kill of this episode is covered
    # oscillation Red -> Orange -> Red within the interval: covered by the bundle just written
    assert p.on_safety(2, "", 6 * S, 0) is None
    assert p.on_safety(3, "again", 7 * S, 0) is None and p.suppressed == 1
    # a later escalation, after the interval, is a new episode
    assert p.on_safety(1, "", 100 * S, 0) is None
    assert p.on_safety(3, "later", 200 * S, 0) is not None


def test_policy_kill_switch() -> None:
    p = PostmortemPolicy(min_interval_ns=60 * S)
    assert p.on_kill_switch(False, 0, "", 1 * S, 0) is None
    t = p.on_kill_switch(True, 1, "tripped by mmctl: manual", 2 * S, 0)
    assert t is not None and t.kind == "kill_switch" and t.level == 4
    assert p.on_kill_switch(True, 1, "", 3 * S, 0) is None  # still the same trip
    assert p.on_kill_switch(False, 2, "", 4 * S, 0) is None  # reset
    assert p.on_kill_switch(True, 3, "again", 5 * S, 0) is None  # within the interval: suppressed
    assert p.on_kill_switch(False, 4, "", 6 * S, 0) is None
    assert p.on_kill_switch(True, 5, "much later", 500 * S, 0) is not None
    # a monitor that starts while the switch is already tripped still records it
    q = PostmortemPolicy(min_interval_ns=0)
    assert q.on_kill_switch(True, 7, "before we started", 1 * S, 0) is not None


def test_redact_blanks_secret_looking_fields() -> None:
    state = {"levels": {"safety_name": "RED"}, "venue": {"private_key": "0xabc", "api_key": "k", "key": "x",
                                                           "keyboard": 1, "nested": [{"secret": "s", "px": 1.0}]}}
    clean = redact(state)
    assert clean["venue"]["private_key"] == REDACTED and clean["venue"]["api_key"] == REDACTED
    assert clean["venue"]["key"] == REDACTED and clean["venue"]["keyboard"] == 1
    assert clean["venue"]["nested"] == [{"secret": REDACTED, "px": 1.0}]
    assert clean["levels"] == {"safety_name": "RED"}


def test_forced_red_writes_a_bundle_with_the_last_minutes(tmp_path: Path) -> None:
    """Feed a ControlState with safety RED through the monitor's logic: a trigger; the bundle
    holds the records of the last ``postmortem_minutes`` only, the state, positions, open
    orders and a summary of the trigger; ``mmctl audit`` answers from it."""
    cfg = MonitorConfig(postmortem_minutes=2.0)
    st = MonitorState(["BTC", "ETH"], cfg, run_id="test-run", run_mode="paper", start_ns=0, start_wall_ns=WALL0)
    eng = engine()
    written: list[object] = []

    def feed(msg: object, t: int) -> None:
        written.extend(st.on_message(msg, t, WALL0 + t))

    feed(control(ts_ns=S), S)
    eng.on_control(control(ts_ns=S))
    feed(snapshot(0, S), S)
    old = cycles(eng, 0, 2 * S, n=2)  # five minutes before the trigger: outside the window
    for r in old:
        feed(r, r.ts_ns)
    t = 5 * MIN
    feed(snapshot(0, t), t)
    recent = cycles(eng, 1, t, n=3)
    for r in recent:
        feed(r, r.ts_ns)
    placed = next(r for r in recent if r.orders_placed)
    feed(order_event(placed, t + S, OrderStatus.OPEN), t + S)
    fill = fill_for(placed, t + 2 * S, trade_id=555)
    feed(fill, fill.ts_ns)
    assert not st.take_triggers()
    red_t = t + 3 * S
    feed(control(safety=3, seq=2, ts_ns=red_t, reason="safety RED: drawdown 2.40% > 2.00%"), red_t)
    triggers = st.take_triggers()
    assert len(triggers) == 1 and triggers[0].level == 3 and "drawdown" in triggers[0].reason
    snap = st.snapshot(red_t, WALL0 + red_t)
    window = st.window_records(red_t)
    bundle = build_bundle(triggers[0], snap, window, cfg.postmortem_minutes)
    path = write_bundle(tmp_path / "postmortems", bundle, cfg)

    assert path.name.endswith("-red-safety") and path.parent == tmp_path / "postmortems"
    names = {p.name for p in path.iterdir()}
    assert {"summary.md", "trigger.json", "state.json", "positions.json", "open_orders.json", "timeline.json",
            "records"} <= names
    summary = (path / "summary.md").read_text()
    assert "# Postmortem: RED" in summary and "GREEN -> RED" in summary and "drawdown 2.40%" in summary
    assert placed.orders_placed[0].cloid in summary  # the open orders table
    state = json.loads((path / "state.json").read_text())
    assert state["levels"]["safety_name"] == "RED" and state["run_id"] == "test-run"
    positions = json.loads((path / "positions.json").read_text())
    eth = next(p for p in positions if p["symbol"] == "ETH")
    assert eth["position_qty"] == fill.side * fill.qty
    orders = json.loads((path / "open_orders.json").read_text())
    assert [o["cloid"] for o in orders] == [placed.orders_placed[0].cloid]
    # the records: the last 2 minutes (ETH's cycles, the fill, control), not the BTC cycles of minute 0
    recs = list(read_audit(path))
    cyc = [r for r in recs if isinstance(r, CycleDecisionRecord)]
    assert {r.cycle for r in cyc} == {r.cycle for r in recent}
    assert all(r.symbol == "ETH" for r in cyc)
    assert any(isinstance(r, AuditFill) and r.fill.trade_id == 555 for r in recs)
    assert any(isinstance(r, ControlState) and r.safety_level == 3 for r in recs)
    assert select(recs, AuditQuery(symbol="BTC")) == []
    # the bundle is a valid --dir for mmctl audit
    ap = audit_cli._parser()
    out = io.StringIO()
    assert audit_cli.run(ap.parse_args(["--dir", str(path), "--fill-id", "555"]), out=out) == 0
    assert f"placed by cycle #{placed.cycle}" in out.getvalue()
    # a second bundle with the same name does not overwrite the first
    again = write_bundle(tmp_path / "postmortems", bundle, cfg)
    assert again != path and again.exists() and path.exists()


def test_control_reason_split_for_the_summary() -> None:
    from mm.audit.postmortem import split_control_reason

    assert split_control_reason("promotion refused: no evidence | safety KILL: kill switch tripped: end") == (
        "promotion refused: no evidence", "kill switch tripped: end")
    assert split_control_reason("start | safety GREEN: start") == ("start", "start")
    assert split_control_reason("no separator") == ("", "no separator")
