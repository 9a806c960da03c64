"""RiskAuthority end to end (pure logic, simulated time): drawdown escalation and demotion within
one control cycle, a clean run that earns MicroLive only after the dwell, refused promotions, the
kill path, persistence across restarts, and the status that `mmctl status` shows."""

import json
import random

import msgspec
import pytest

from mm.graduation.exposure import ExposureConfig, decode_history
from mm.risk.authority import Ack, RiskAuthority
from mm.risk.config import PromotionConfig, RiskConfig
from mm.risk.escalation import KillAction, decode_safety_history
from mm.risk.limits import VenuePosition
from mm.schema import (
    SIDES_ASK,
    SIDES_BID,
    SIDES_BOTH,
    SIDES_NONE,
    ExposureLevel,
    Fill,
    OperatorCommand,
    SafetyLevel,
)
from mm.validation.scorecard import ModelObservation

S = 1_000_000_000
MS = 1_000_000
CYCLE = 100 * MS  # procs/risk.py's control period


def fill(ts: int, side: int, px: float, qty: float, fee: float = 0.0, symbol_id: int = 0) -> Fill:
    return Fill(symbol_id=symbol_id, ts_ns=ts, origin_ts_ns=ts, remote_ts_ms=0, cloid="c", oid=1, trade_id=1,
                side=side, px=px, qty=qty, fee=fee, is_maker=True)


def cmd(ts: int, verb: str, arg: str = "", reason: str = "", who: str = "alice", force: bool = False) -> OperatorCommand:
    return OperatorCommand(ts_ns=ts, seq=ts, verb=verb, arg=arg, reason=reason, who=who, force=force)


def authority(**kw: object) -> RiskAuthority:
    return RiskAuthority(ExposureConfig(), risk=RiskConfig(capital_usd=100_000.0, notional_cap_usd=100_000.0),
                         symbols=["BTC", "ETH"], **kw)  # type: ignore[arg-type]


def test_drawdown_escalates_and_demotes_within_one_control_cycle() -> None:
    a = authority()
    for i in range(3):  # the operator forces Cautious
        ack, _ = a.on_command(cmd(i + 1, "promote", reason="test", force=True), 0)
        assert ack == Ack.ACCEPTED
    assert a.exposure.level == ExposureLevel.CAUTIOUS
    a.on_fill(fill(S, 1, 50_000.0, 0.3))  # 15,000 USD long
    t = 10 * S
    a.on_mark(0, 50_000.0, t)
    cs = a.control_state(t)
    assert (cs.safety_level, cs.exposure_level, cs.allowed_sides) == (SafetyLevel.GREEN, ExposureLevel.CAUTIOUS,
                                                                      SIDES_BOTH)
    # the mid falls 2%: 300 USD = 0.3% of capital -> nothing yet
    t += CYCLE
    a.on_mark(0, 49_000.0, t)
    assert a.control_state(t).safety_level == SafetyLevel.GREEN
    # -4%: 600 USD = 0.6% -> Yellow at the next cycle (spreads x1.5, size x0.5)
    t += CYCLE
    a.on_mark(0, 48_000.0, t)
    cs = a.control_state(t)
    assert cs.safety_level == SafetyLevel.YELLOW and cs.spread_multiplier == 1.5
    assert cs.exposure_level == ExposureLevel.CAUTIOUS
    # -8%: 1,200 USD = 1.2% -> Orange, and in the same cycle the drawdown (drop 2) and safety
    # (to MicroLive) triggers demote Cautious -> MicroLive; only the reducing side (asks) may quote
    t += CYCLE
    a.on_mark(0, 46_000.0, t)
    cs = a.control_state(t)
    assert cs.safety_level == SafetyLevel.ORANGE
    assert cs.exposure_level == ExposureLevel.MICRO_LIVE
    assert cs.reduce_only and cs.allowed_sides == SIDES_ASK
    assert cs.size_multiplier == pytest.approx(0.25 * a.confidence.size_multiplier(a.exposure))
    assert 0.0 < cs.size_multiplier <= 0.25 * 0.10
    h = a.exposure.history[-1]
    assert h.kind == "demote" and h.who == "risk" and "drawdown" in h.reason and "ORANGE" in h.reason
    assert a.take_dirty() == {"exposure", "safety"}
    # -16%: 2.4% -> Red: no quotes, reduce-only
    t += CYCLE
    a.on_mark(0, 42_000.0, t)
    cs = a.control_state(t)
    assert cs.safety_level == SafetyLevel.RED and cs.allowed_sides == SIDES_NONE and cs.size_multiplier == 0.0
    assert a.take_kill_decision() is None
    # -35%: 5.25% -> Kill, and a kill decision for the process; exposure to Shadow
    t += CYCLE
    a.on_mark(0, 32_500.0, t)
    cs = a.control_state(t)
    assert cs.safety_level == SafetyLevel.KILL and cs.exposure_level == ExposureLevel.SHADOW
    kd = a.take_kill_decision()
    assert kd is not None and "drawdown" in kd.reason and not kd.already_tripped
    assert a.take_kill_decision() is None


def test_recovery_deescalates_one_level_at_a_time_after_each_dwell() -> None:
    a = authority()
    a.on_fill(fill(0, 1, 50_000.0, 0.3))
    a.on_mark(0, 46_000.0, 0)
    assert a.control_state(0).safety_level == SafetyLevel.ORANGE
    a.on_mark(0, 50_000.0, S)  # PnL back to 0; drawdown 0
    seen = []
    t = S
    while t <= 200 * S:
        seen.append(SafetyLevel(a.control_state(t).safety_level))
        t += CYCLE
    # Orange for its 60 s dwell, Yellow for 30 s, then Green; never a skip
    assert seen[0] == SafetyLevel.ORANGE
    first_yellow = seen.index(SafetyLevel.YELLOW)
    first_green = seen.index(SafetyLevel.GREEN)
    assert first_yellow == pytest.approx(590, abs=1) and first_green - first_yellow == pytest.approx(300, abs=1)
    assert [h.kind for h in a.escalator.history] == ["escalate", "deescalate", "deescalate"]


def clean_run(a: RiskAuthority, seconds: int, seed: int = 1) -> list[tuple[int, int, int | None]]:
    """Shadow fills every 10 s with positive expected edge, realised edge = expected + noise,
    marked out 5 s later; an informative toxicity model; one control cycle per second.
    Returns (t, exposure level, since when the state criteria have held) per cycle."""
    rng = random.Random(seed)
    pending: list[tuple[int, int, float, float]] = []
    out: list[tuple[int, int, int | None]] = []
    px = 50_000.0
    for sec in range(seconds):
        now = sec * S
        if sec % 10 == 0:
            side = rng.choice([1, -1])
            a.on_mark(0, px, now)
            pred = rng.gauss(1.5, 1.0)
            real = pred + rng.gauss(0.0, 1.0)
            a.on_fill(fill(now, side, px, 0.01), shadow=True, predicted_edge_bps=pred)
            pending.append((now + 5 * S, side, px, real))
            p_true = rng.random()
            a.on_model_observation(ModelObservation(model="toxicity", ts_ns=now, prob=0.1 + 0.8 * p_true,
                                                    outcome=rng.random() < p_true))
        for item in list(pending):
            if item[0] <= now:
                a.on_mark(0, item[2] * (1 + item[1] * item[3] / 1e4), now)
                pending.remove(item)
        cs = a.control_state(now)
        assert cs.exposure_level == int(a.exposure.level)
        if cs.exposure_level == ExposureLevel.SHADOW:
            assert cs.size_multiplier == 0.0
        out.append((now, cs.exposure_level, a.graduation.state_ok_since_ns))
    return out


def test_clean_run_promotes_shadow_to_microlive_only_after_the_dwell() -> None:
    a = authority()
    dwell_s = PromotionConfig().min_dwell_s[0]
    trace = clean_run(a, int(dwell_s) + 1200)
    promoted = [i for i, (_, lvl, _) in enumerate(trace) if lvl == ExposureLevel.MICRO_LIVE]
    assert promoted, a.evidence_why
    i = promoted[0]
    promoted_at = trace[i][0]
    held_since = trace[i - 1][2]  # the hold clock just before the promotion
    assert held_since is not None
    assert all(lvl == ExposureLevel.SHADOW for _, lvl, _ in trace[:i])
    assert promoted_at - held_since >= dwell_s * S  # not one cycle before the dwell
    assert promoted_at - held_since <= dwell_s * S + S  # and at the first cycle once it held
    assert all(lvl == ExposureLevel.MICRO_LIVE for _, lvl, _ in trace[i:])  # one level only
    h = a.exposure.history[-1]
    assert h.kind == "promote" and h.who == "risk" and h.ts_ns == promoted_at
    assert a.graduation.fills_at_level == 0  # shadow fills no longer count at MicroLive
    assert "exposure" in a.take_dirty()
    st = a.status(promoted_at)
    assert st["confidence"]["model"] == pytest.approx(1.0)  # type: ignore[index]


def test_clean_run_with_no_real_edge_stays_in_shadow() -> None:
    a = authority()
    rng = random.Random(3)
    for sec in range(4000):
        now = sec * S
        if sec % 10 == 0:
            a.on_mark(0, 50_000.0, now)
            a.on_fill(fill(now, rng.choice([1, -1]), 50_000.0, 0.01), shadow=True,
                      predicted_edge_bps=rng.gauss(1.5, 1.0))
        if sec % 10 == 5:
            a.on_mark(0, 50_000.0 * (1 + rng.gauss(-0.5, 1.0) / 1e4), now)  # losing edge
        a.control_state(now)
    assert a.exposure.level == ExposureLevel.SHADOW
    assert "positive edge" in a.evidence_why or "IR" in a.evidence_why or "Brier" in a.evidence_why


def test_promote_without_evidence_is_refused_forced_is_recorded() -> None:
    a = authority()
    ack, text = a.on_command(cmd(S, "promote", reason="feeling lucky", who="bob"), 1_700_000_000 * S)
    assert ack == Ack.REFUSED and "--force" in text and "no model scored" in text
    h = a.exposure.history[-1]
    assert h.kind == "refused" and h.who == "bob" and "feeling lucky" in h.reason
    ack, text = a.on_command(cmd(2 * S, "promote", reason="smoke test", who="bob", force=True), 1_700_000_001 * S)
    assert ack == Ack.ACCEPTED and "forced" in text
    h = a.exposure.history[-1]
    assert h.forced and h.who == "bob" and h.wall_ns == 1_700_000_001 * S
    ack, _ = a.on_command(cmd(3 * S, "demote", arg="shadow", reason="done"), 0)
    assert ack == Ack.ACCEPTED and a.control_state(4 * S).exposure_level == ExposureLevel.SHADOW


def test_operator_promotion_with_evidence_is_accepted() -> None:
    a = RiskAuthority(ExposureConfig(), risk=RiskConfig(notional_cap_usd=100_000.0), symbols=["BTC"],
                      promotion=PromotionConfig(auto_promote=False))
    clean_run(a, 2400)
    assert a.exposure.level == ExposureLevel.SHADOW and a.evidence_ok
    ack, text = a.on_command(cmd(2400 * S, "promote", reason="evidence holds"), 0)
    assert ack == Ack.ACCEPTED and not a.exposure.history[-1].forced
    ack, text = a.on_command(cmd(2401 * S, "promote", reason="more"), 0)
    assert ack == Ack.REFUSED and ("dwell" in text or "held" in text)


def test_kill_path_cancels_through_risk_when_execution_does_not_confirm() -> None:
    a = authority()
    a.on_fill(fill(0, 1, 50_000.0, 0.3))
    a.on_mark(0, 30_000.0, S)
    a.control_state(S)
    kd = a.take_kill_decision()
    assert kd is not None
    # execution was killed -9 with open orders: nobody confirms
    assert a.kill_action(S + 500 * MS) == KillAction.WAIT
    assert a.kill_action(S + 1000 * MS) == KillAction.CANCEL_ALL  # the deadline (1 s by default)
    a.on_open_orders(2, S + 1100 * MS)  # risk's own query still sees two
    assert a.kill_action(S + 2000 * MS) == KillAction.CANCEL_ALL
    a.on_open_orders(0, S + 2100 * MS)
    assert a.kill_action(S + 3000 * MS) == KillAction.NONE
    st = a.status(S + 3000 * MS)["kill"]
    assert st["settled_after_ms"] == pytest.approx(2100.0) and st["first_own_cancel_after_ms"] == 1000.0  # type: ignore[index]


def test_kill_switch_tripped_elsewhere_then_reset() -> None:
    a = authority()
    a.on_kill_switch(False, "", 4 * S)
    a.on_kill_switch(True, "mmctl kill", 5 * S)
    assert a.safety == SafetyLevel.KILL
    kd = a.take_kill_decision()
    assert kd is not None and kd.already_tripped
    assert a.control_state(6 * S).allowed_sides == SIDES_NONE
    a.on_kill_switch(True, "mmctl kill", 6 * S)
    a.on_kill_switch(False, "", 7 * S)  # mmctl reset-kill
    assert a.safety == SafetyLevel.RED and a.kill_watch.tripped_ns is None
    ack, _ = a.on_command(cmd(8 * S, "clear-kill", reason="again"), 0)
    assert ack == Ack.REFUSED
    # and the operator's clear-kill over the command ring
    b = authority()
    b.on_feed_stale(0, False, 0, 0)  # the feed's first data
    b.on_feed_stale(0, True, 70 * S, 70 * S)
    b.control_state(70 * S)
    assert b.safety == SafetyLevel.KILL
    b.on_feed_stale(0, False, 0, 71 * S)
    ack, _ = b.on_command(cmd(72 * S, "clear-kill", reason="feed back"), 0)
    assert ack == Ack.ACCEPTED and b.safety == SafetyLevel.RED


def test_state_survives_a_restart() -> None:
    a = authority()
    a.on_command(cmd(S, "promote", reason="r", force=True), 0)
    a.on_feed_stale(0, False, 0, 0)  # the feed's first data
    a.on_feed_stale(0, True, 61 * S, 100 * S)
    a.control_state(100 * S)
    assert a.safety == SafetyLevel.KILL
    exp_hist = decode_history(a.exposure_history_bytes())
    saf_hist = decode_safety_history(a.safety_history_bytes())
    b = RiskAuthority(ExposureConfig(), exp_hist, safety_history=saf_hist, start_ns=5 * S)
    assert b.safety == SafetyLevel.KILL and b.exposure.level == ExposureLevel.SHADOW
    kd = b.take_kill_decision()
    assert kd is not None and "restored" in kd.reason and not kd.already_tripped
    b.on_kill_switch(False, "", 6 * S)  # the process has not re-tripped the switch yet: stays Kill
    assert b.safety == SafetyLevel.KILL
    assert b.control_state(6 * S).size_multiplier == 0.0


def test_stale_data_reconciliation_and_models_escalate() -> None:
    a = authority()
    a.on_feed_stale(1, False, 0, 0)  # the feed's first data
    a.on_feed_stale(1, True, 2 * S, 10 * S)
    assert a.control_state(10 * S).safety_level == SafetyLevel.GREEN
    assert a.control_state(13 * S + 1).safety_level == SafetyLevel.RED  # stale > 5 s
    a.on_feed_stale(1, False, 0, 14 * S)

    b = authority()
    b.on_fill(fill(0, -1, 2_000.0, 1.0, symbol_id=1))
    b.on_mark(1, 2_000.0, 0)
    rep = b.on_venue_positions([VenuePosition(symbol_id=1, qty=-1.5, entry_px=2_000.0)], S)
    assert not rep.ok and b.positions.get(1).qty == -1.5
    assert b.control_state(S).safety_level == SafetyLevel.YELLOW
    assert b.on_venue_positions([VenuePosition(symbol_id=1, qty=-1.5, entry_px=2_000.0)], 2 * S).ok
    assert b.control_state(32 * S).safety_level == SafetyLevel.GREEN

    c = authority()
    rng = random.Random(5)
    for i in range(40):  # a model that is right only half the time with confident predictions
        y = rng.random() < 0.5
        c.on_model_observation(ModelObservation(model="tox", ts_ns=i, prob=0.75 if rng.random() < 0.5 else 0.25,
                                                outcome=y))
    c.validator.evaluate(0)
    assert c.validator.degraded_models() == ["tox"]
    assert c.control_state(S).safety_level == SafetyLevel.YELLOW


def test_orange_sides_follow_the_positions() -> None:
    a = authority()
    a.on_fill(fill(0, -1, 50_000.0, 1.5))  # 75% of a 100k cap: Orange
    a.on_mark(0, 50_000.0, 0)
    cs = a.control_state(0)
    assert cs.safety_level == SafetyLevel.ORANGE and cs.allowed_sides == SIDES_BID
    a.on_fill(fill(0, 1, 2_000.0, 1.0, symbol_id=1))
    a.on_mark(1, 2_000.0, 0)
    assert a.control_state(1).allowed_sides == SIDES_BOTH  # mixed: reduce-only per symbol
    assert a.symbol_sides(0) == SIDES_BID and a.symbol_sides(1) == SIDES_ASK


def test_status_shows_level_components_and_criteria() -> None:
    a = authority()
    clean_run(a, 300)
    st = a.status(300 * S)
    json.dumps(st)  # plain data for the control socket
    msgspec.json.encode(st)
    assert st["exposure"]["level"] == "SHADOW"  # type: ignore[index]
    assert set(st["confidence"]) == {"model", "execution", "safety", "overall", "implied_level"}  # type: ignore[arg-type]
    names = [c["name"] for c in st["exposure"]["criteria"]]  # type: ignore[index]
    assert names == ["brier", "information_ratio", "sim_to_real_gap", "drawdown", "safety", "confidence",
                     "held", "dwell", "fills", "positive_edge"]
    assert st["safety"]["level"] == "GREEN"  # type: ignore[index]
    assert "toxicity" in st["validation"]["models"]  # type: ignore[index]


def test_a_symbol_without_its_first_data_is_starting_not_stale() -> None:
    """A venue or feed slow to come up: silence before a symbol's first data does not escalate
    (nothing is quoted without a snapshot), even when a snapshot (another channel) arrives
    before the feed's first-data event; once the symbol has spoken, silence does."""
    a = authority()
    a.on_feed_stale(1, True, 8 * S, 8 * S)
    a.on_mark(1, 2_000.0, 9 * S)
    assert not a.has_data(1)
    assert a.control_state(20 * S).safety_level == SafetyLevel.GREEN
    assert a.status(20 * S)["awaiting_first_data"] == [1] and a.status(20 * S)["stale_symbols"] == []
    a.on_feed_stale(1, False, 0, 21 * S)  # first data
    assert a.has_data(1)
    a.on_feed_stale(1, True, 6 * S, 27 * S)
    assert a.control_state(27 * S).safety_level == SafetyLevel.RED
