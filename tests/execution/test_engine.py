"""The engine's interface as the execution process and the replay call it."""

from __future__ import annotations

import msgspec

from mm.execution.config import ExecutionConfig, SymbolLimits
from mm.execution.decision import DecisionRecord
from mm.execution.engine import ExecutionEngine
from mm.execution.lifecycle import ExchangeRequest
from mm.execution.mode_handlers import SymbolSpec
from mm.schema import SIDES_ASK, CycleSummary, ExecMode, OrderEvent, OrderStatus
from tests.execution.helpers import config, control, signal, snap

T = 10**15
MS = 1_000_000


def engine(cfg: ExecutionConfig | None = None) -> ExecutionEngine:
    return ExecutionEngine(1, cfg if cfg is not None else config(), [SymbolSpec("X", 0, 1)], session_id=5)


def calm() -> msgspec.Struct:
    return snap(99.7, 100.3, toxic_prob=0.0, sigma_ewma=0.2)


def places(e: ExecutionEngine) -> list[ExchangeRequest]:
    return [r for r in e.drain_requests() if isinstance(r, ExchangeRequest)]


def test_bare_engine_as_the_execution_process_builds_it() -> None:
    e = ExecutionEngine(2)
    e.on_snapshot(snap(symbol_id=1))
    out = e.on_signal(signal(symbol_id=1), T)
    assert isinstance(out, CycleSummary) and out.symbol_id == 1 and out.cycle == 1 and out.n_actions == 0
    assert out.mode == ExecMode.FLAT  # no control state from risk yet
    assert e.on_signal(signal(symbol_id=7), T) is None and e.unknown_symbol == 1


def test_nothing_is_sent_without_a_control_state_or_a_valid_book() -> None:
    e = engine()
    e.on_snapshot(calm())
    e.on_signal(signal(), T)
    assert e.drain_requests() == []
    e.on_control(control())
    e.on_snapshot(snap(100.0, 100.0))  # locked book
    e.on_signal(signal(), T + MS)
    assert e.drain_requests() == []
    (_, rec) = e.drain_records()
    assert rec.mode_reason == "no valid two-sided book"


def test_shadow_sends_nothing_but_records_what_it_would_quote() -> None:
    e = engine()
    e.on_control(control(size=0.0))
    e.on_snapshot(calm())
    e.on_signal(signal(), T)
    assert e.drain_requests() == []
    (rec,) = e.drain_records()
    assert rec.mode == ExecMode.MAKER and rec.candidates and not rec.actions


def test_a_cycle_quotes_and_its_record_holds_inputs_mode_candidates_and_actions() -> None:
    e = engine()
    e.on_control(control())
    e.on_snapshot(calm())
    out = e.on_signal(signal(target=0.5), T)
    assert out is not None and out.n_actions == 2 and out.mode == ExecMode.MAKER
    (req,) = places(e)
    assert req.kind == "order" and {p.is_buy for p in req.places} == {True, False}
    (rec,) = e.drain_records()
    assert isinstance(rec, DecisionRecord)
    assert (rec.best_bid, rec.best_ask, rec.target_inventory_qty, rec.max_inventory_qty) == (99.7, 100.3, 0.5, 3.0)
    assert rec.mode_name == "MAKER" and rec.policy == "state_machine"
    assert sum(c.chosen for c in rec.candidates) == 2 and len(rec.actions) == 2
    assert {a.cloid for a in rec.actions} == {p.cloid for p in req.places}
    assert msgspec.json.decode(msgspec.json.encode(rec), type=DecisionRecord) == rec
    evs = e.drain_events()
    assert [ev.status for ev in evs if isinstance(ev, OrderEvent)] == [OrderStatus.PENDING_NEW] * 2


def test_kill_switch_cancels_every_live_order_and_places_nothing() -> None:
    e = engine()
    e.on_control(control())
    e.on_snapshot(calm())
    e.on_signal(signal(), T)
    (req,) = places(e)
    for i, p in enumerate(req.places):
        e.on_order_result(p.cloid, T + MS, "resting", 100 + i)
    out = e.on_signal(signal(), T + 2 * MS, killed=True)
    assert out is not None and out.mode == ExecMode.FLAT
    (cancel,) = places(e)
    assert cancel.kind == "cancel" and {c.oid for c in cancel.cancels} == {100, 101}
    (_, rec) = e.drain_records()
    assert rec.killed and rec.mode_reason == "kill switch"


def test_risk_allowed_sides_and_reduce_only_shape_the_quotes() -> None:
    e = engine()
    e.on_control(control(sides=SIDES_ASK))
    e.on_snapshot(calm())
    e.on_signal(signal(), T)
    (req,) = places(e)
    assert [p.is_buy for p in req.places] == [False]
    e2 = engine()
    e2.on_control(control(reduce_only=True))
    e2.on_fill(T, 0, None, 0, 1, True, 100.0, 0.3, 0.0, False)
    e2.on_snapshot(calm())
    e2.on_signal(signal(), T + MS)
    (req,) = places(e2)
    assert [(p.is_buy, p.reduce_only, p.sz) for p in req.places] == [(False, True, "0.3")]


def test_policies_are_selectable_and_the_touch_baseline_quotes_where_the_design_stays_flat() -> None:
    btc = SymbolSpec("BTC", 0, 5)
    lim = {"BTC": SymbolLimits(max_inventory_qty=0.01, quote_qty=0.001)}
    one_tick = snap(100000.0, 100001.0, sigma_ewma=0.05, toxic_prob=0.0)
    modes = {}
    for policy in ("state_machine", "glft", "touch"):
        e = ExecutionEngine(1, ExecutionConfig(policy=policy, symbol_limits=lim), [btc])
        e.on_control(control())
        e.on_snapshot(one_tick)
        out = e.on_signal(signal(), T)
        assert out is not None
        modes[policy] = (out.mode, out.n_actions)
    assert modes["state_machine"] == (ExecMode.FLAT, 0)
    assert modes["touch"] == (ExecMode.MAKER, 2) and modes["glft"][0] == ExecMode.MAKER


def test_dry_run_places_one_far_order_and_cancels_it_on_ack() -> None:
    e = engine(config(dry_run=True))
    e.on_control(control())
    e.on_snapshot(calm())
    e.on_signal(signal(), T)
    (req,) = places(e)
    (p,) = req.places
    assert p.tif == "Alo" and p.is_buy and float(p.px) <= 99.7 * 0.99 + 1e-9
    assert 10.0 <= float(p.px) * float(p.sz) <= 20.0
    e.on_order_result(p.cloid, T + MS, "resting", 1)
    (cancel,) = places(e)
    assert cancel.kind == "cancel" and cancel.cancels[0].cloid == p.cloid
    e.on_cancel_result(p.cloid, T + 2 * MS, True)
    e.on_signal(signal(), T + 3 * MS)
    assert places(e) == []  # one per dry_run_interval_ms
    e.on_signal(signal(), T + 10_001 * MS)
    (req,) = places(e)
    assert not req.places[0].is_buy  # alternates sides


def test_venue_feedback_flows_to_events_fills_and_the_next_decision() -> None:
    e = engine()
    e.on_control(control())
    e.on_snapshot(calm())
    e.on_signal(signal(), T)
    (req,) = places(e)
    b = next(p for p in req.places if p.is_buy)
    e.on_order_result(b.cloid, T + MS, "resting", 7)
    e.on_fill(T + 2 * MS, 0, b.cloid, 7, 1, True, float(b.px), 0.5, 0.0, True)
    fills = [ev for ev in e.drain_events() if not isinstance(ev, OrderEvent)]
    assert len(fills) == 1 and fills[0].mid_px == 100.0
    out = e.on_signal(signal(), T + 3 * MS)
    assert out is not None and out.inventory == 0.5


def test_outboxes_are_bounded_when_nobody_drains_them() -> None:
    e = ExecutionEngine(1, config(), [SymbolSpec("X", 0, 1)], outbox_max=5)
    e.on_snapshot(calm())
    for k in range(12):
        e.on_signal(signal(), T + k)
    assert len(e.drain_records()) == 5 and e.dropped_records == 7
