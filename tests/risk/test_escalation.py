"""SafetyEscalator: each entry condition, the effects table, dwell and evidence, persistence,
exchange health and the kill path's deadline."""

import math

import msgspec
import pytest

from mm.risk.config import EscalationConfig
from mm.risk.escalation import (
    ExchangeHealth,
    ExchangeHealthMonitor,
    KillAction,
    KillCancelWatch,
    QuoteSides,
    SafetyEscalator,
    SafetyInputs,
    decode_safety_history,
    demanded_level,
    encode_safety_history,
    entry_triggers,
)
from mm.schema import SafetyLevel

S = 1_000_000_000
CFG = EscalationConfig()


@pytest.mark.parametrize(
    ("inputs", "level"),
    [
        (SafetyInputs(), SafetyLevel.GREEN),
        (SafetyInputs(drawdown_pct=0.5), SafetyLevel.GREEN),
        (SafetyInputs(drawdown_pct=0.51), SafetyLevel.YELLOW),
        (SafetyInputs(drawdown_pct=1.01), SafetyLevel.ORANGE),
        (SafetyInputs(drawdown_pct=2.01), SafetyLevel.RED),
        (SafetyInputs(drawdown_pct=5.01), SafetyLevel.KILL),
        (SafetyInputs(degraded_models=1), SafetyLevel.YELLOW),
        (SafetyInputs(degraded_models=2), SafetyLevel.ORANGE),
        (SafetyInputs(exchange_health=ExchangeHealth.DEGRADED), SafetyLevel.YELLOW),
        (SafetyInputs(exchange_health=ExchangeHealth.CRITICAL), SafetyLevel.RED),
        (SafetyInputs(position_share=0.7), SafetyLevel.GREEN),
        (SafetyInputs(position_share=0.71), SafetyLevel.ORANGE),
        (SafetyInputs(position_share=1.51), SafetyLevel.KILL),
        (SafetyInputs(par_share=1.01), SafetyLevel.ORANGE),
        (SafetyInputs(cascade=True), SafetyLevel.RED),
        (SafetyInputs(stale_data_s=5.1), SafetyLevel.RED),
        (SafetyInputs(stale_data_s=60.1), SafetyLevel.KILL),
        (SafetyInputs(reconcile_mismatch=True), SafetyLevel.YELLOW),
        (SafetyInputs(drawdown_pct=math.nan), SafetyLevel.RED),
        (SafetyInputs(position_share=math.inf), SafetyLevel.KILL),
        (SafetyInputs(degraded_models=1, cascade=True, drawdown_pct=0.7), SafetyLevel.RED),
    ],
)
def test_entry_conditions_of_seed_002(inputs: SafetyInputs, level: SafetyLevel) -> None:
    assert demanded_level(entry_triggers(inputs, CFG)) == level
    esc = SafetyEscalator(CFG)
    tr = esc.update(inputs, 1)
    assert esc.level == level
    if level > SafetyLevel.GREEN:
        assert tr is not None and tr.kind == "escalate" and tr.reason


def test_disabled_conditions_do_not_escalate() -> None:
    cfg = EscalationConfig(red_on_cascade=False, reconcile_mismatch_level="GREEN")
    assert demanded_level(entry_triggers(SafetyInputs(cascade=True, reconcile_mismatch=True), cfg)) == 0


def test_effects_table() -> None:
    esc = SafetyEscalator(CFG)
    e = esc.effects()
    assert (e.spread_multiplier, e.size_multiplier, e.sides, e.reduce_only) == (1.0, 1.0, QuoteSides.BOTH, False)
    esc.update(SafetyInputs(drawdown_pct=0.6), 1)
    e = esc.effects()
    assert (e.spread_multiplier, e.size_multiplier, e.sides, e.reduce_only) == (1.5, 0.5, QuoteSides.BOTH, False)
    esc.update(SafetyInputs(drawdown_pct=1.5), 2)
    e = esc.effects()
    assert (e.size_multiplier, e.sides, e.reduce_only, e.cancel_all) == (0.25, QuoteSides.REDUCING, True, False)
    esc.update(SafetyInputs(drawdown_pct=2.5), 3)
    e = esc.effects()
    assert (e.size_multiplier, e.sides, e.reduce_only, e.cancel_all, e.hard_stop) == (
        0.0, QuoteSides.NONE, True, True, False)
    esc.update(SafetyInputs(drawdown_pct=9.0), 4)
    assert esc.effects().hard_stop and esc.level == SafetyLevel.KILL


def test_escalation_skips_levels_and_deescalation_walks_down_with_dwell() -> None:
    esc = SafetyEscalator(CFG)
    esc.update(SafetyInputs(cascade=True), 0)
    assert esc.level == SafetyLevel.RED  # Green -> Red at once
    clear = SafetyInputs()
    t = 0
    esc.update(clear, t + 299 * S)
    assert esc.level == SafetyLevel.RED  # Red's dwell is 5 minutes
    t = 300 * S
    esc.update(clear, t)
    assert esc.level == SafetyLevel.ORANGE  # never Red -> Yellow
    esc.update(clear, t + 59 * S)
    assert esc.level == SafetyLevel.ORANGE
    esc.update(clear, t + 60 * S)
    assert esc.level == SafetyLevel.YELLOW
    esc.update(clear, t + 89 * S)
    assert esc.level == SafetyLevel.YELLOW
    esc.update(clear, t + 90 * S)
    assert esc.level == SafetyLevel.GREEN
    assert [h.kind for h in esc.history] == ["escalate", "deescalate", "deescalate", "deescalate"]


def test_dwell_restarts_while_the_condition_holds_and_hysteresis_holds_the_level() -> None:
    esc = SafetyEscalator(CFG)
    esc.update(SafetyInputs(drawdown_pct=0.6), 0)
    assert esc.level == SafetyLevel.YELLOW
    esc.update(SafetyInputs(drawdown_pct=0.6), 20 * S)  # still above: the dwell counts from here
    esc.update(SafetyInputs(), 31 * S)
    assert esc.level == SafetyLevel.YELLOW and esc.dwell_remaining_s(31 * S) == pytest.approx(19.0)
    # 0.45% is below the 0.5% entry but above 0.8 x 0.5%: not evidence of recovery
    esc.update(SafetyInputs(drawdown_pct=0.45), 60 * S)
    esc.update(SafetyInputs(drawdown_pct=0.45), 200 * S)
    assert esc.level == SafetyLevel.YELLOW
    esc.update(SafetyInputs(drawdown_pct=0.35), 229 * S)
    assert esc.level == SafetyLevel.YELLOW
    esc.update(SafetyInputs(drawdown_pct=0.35), 230 * S)
    assert esc.level == SafetyLevel.GREEN


def test_kill_is_left_only_by_the_operator_and_then_to_red() -> None:
    esc = SafetyEscalator(CFG)
    esc.update(SafetyInputs(stale_data_s=100.0), 0)
    assert esc.level == SafetyLevel.KILL
    esc.update(SafetyInputs(), 10_000 * S)
    assert esc.level == SafetyLevel.KILL and math.isinf(esc.dwell_remaining_s(10_000 * S))
    tr = esc.clear_kill("alice", "flat and checked", 10_001 * S)
    assert tr is not None and "alice" in tr.reason and esc.level == SafetyLevel.RED
    esc.update(SafetyInputs(), 10_001 * S + 299 * S)
    assert esc.level == SafetyLevel.RED
    esc.update(SafetyInputs(), 10_001 * S + 300 * S)
    assert esc.level == SafetyLevel.ORANGE
    assert esc.clear_kill("alice", "again", 10_400 * S) is None


def test_history_restores_kill_and_levels_after_restart() -> None:
    esc = SafetyEscalator(CFG)
    esc.update(SafetyInputs(drawdown_pct=7.0), 5 * S, 1_700_000_000 * S)
    data = encode_safety_history(esc.history)
    again = SafetyEscalator(CFG, decode_safety_history(data), start_ns=3 * S)
    assert again.level == SafetyLevel.KILL and again.history[-1].kind == "restore"
    esc2 = SafetyEscalator(CFG)
    esc2.update(SafetyInputs(position_share=0.9), 0)
    again2 = SafetyEscalator(CFG, decode_safety_history(encode_safety_history(esc2.history)), start_ns=7 * S)
    assert again2.level == SafetyLevel.ORANGE
    again2.update(SafetyInputs(), 7 * S + 59 * S)
    assert again2.level == SafetyLevel.ORANGE  # dwell counted from the restart
    again2.update(SafetyInputs(), 7 * S + 60 * S)
    assert again2.level == SafetyLevel.YELLOW


def test_external_escalation() -> None:
    esc = SafetyEscalator(CFG)
    assert esc.escalate_to(SafetyLevel.KILL, "mmctl kill", 1) is not None
    assert esc.level == SafetyLevel.KILL
    assert esc.escalate_to(SafetyLevel.RED, "lower", 2) is None


def test_status_is_plain_data() -> None:
    esc = SafetyEscalator(CFG)
    esc.update(SafetyInputs(drawdown_pct=1.5, degraded_models=1), 0)
    st = esc.status(10 * S)
    msgspec.json.encode(st)
    assert st["level"] == "ORANGE" and st["dwell_left_s"] == pytest.approx(50.0)
    assert any("drawdown" in c for c in st["active_conditions"])  # type: ignore[union-attr]


def test_exchange_health_from_events_and_connection() -> None:
    mon = ExchangeHealthMonitor(CFG)
    assert mon.health(0) == ExchangeHealth.OK
    mon.on_event("reconnect", 1 * S)
    assert mon.health(2 * S) == ExchangeHealth.DEGRADED
    assert mon.health(62 * S) == ExchangeHealth.OK  # out of the 60 s window
    for i in range(5):
        mon.on_event("429", (70 + i) * S)
    assert mon.health(75 * S) == ExchangeHealth.CRITICAL
    mon2 = ExchangeHealthMonitor(CFG)
    mon2.set_connected(False, 0)
    assert mon2.health(1 * S) == ExchangeHealth.DEGRADED
    assert mon2.health(10 * S) == ExchangeHealth.CRITICAL
    mon2.set_connected(True, 11 * S)
    assert mon2.health(11 * S) == ExchangeHealth.OK


def test_kill_watch_cancels_itself_when_execution_misses_the_deadline() -> None:
    w = KillCancelWatch(CFG)
    assert w.poll(0) == KillAction.NONE
    t0 = 1_000 * S
    assert w.trip("drawdown", t0)
    assert not w.trip("again", t0 + 1)
    assert w.poll(t0 + 999_000_000) == KillAction.WAIT
    assert w.poll(t0 + 1_000_000_000) == KillAction.CANCEL_ALL
    assert w.poll(t0 + 1_500_000_000) == KillAction.WAIT
    w.on_open_orders(3, t0 + 1_600_000_000)
    assert w.poll(t0 + 2_000_000_000) == KillAction.CANCEL_ALL
    w.on_open_orders(0, t0 + 2_100_000_000)
    assert w.poll(t0 + 5 * S) == KillAction.NONE
    st = w.status()
    assert st["settled_after_ms"] == pytest.approx(2100.0) and st["own_cancels"] == 2
    assert st["first_own_cancel_after_ms"] == pytest.approx(1000.0)


def test_kill_watch_settled_by_execution_in_time() -> None:
    w = KillCancelWatch(CFG)
    w.trip("operator", 0)
    w.on_execution_confirmed(200_000_000)
    assert w.poll(2 * S) == KillAction.NONE and w.status()["settled_by"] == "execution"
    w.reset()
    assert not w.status()["tripped"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"orange_drawdown_pct": 0.4}, "escalation.orange_drawdown_pct"),
        ({"kill_position_share": 0.5}, "escalation.kill_position_share"),
        ({"dwell_s": [0.0, 30.0]}, "escalation.dwell_s"),
        ({"clear_ratio": 0.0}, "escalation.clear_ratio"),
        ({"yellow_spread_multiplier": 0.9}, "escalation.yellow_spread_multiplier"),
        ({"reconcile_mismatch_level": "PINK"}, "escalation.reconcile_mismatch_level"),
        ({"kill_stale_data_s": 1.0}, "escalation.kill_stale_data_s"),
        ({"health_critical_events": 1}, "escalation.health_critical_events"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        EscalationConfig(**kwargs)  # type: ignore[arg-type]
