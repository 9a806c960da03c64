"""Mode selection (seed 000 §2.5.2), the mode handlers, and the GLFT / touch baselines."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm.execution.config import ExecutionConfig, GlftConfig, HeuristicModelConfig
from mm.execution.decision import DecisionBuilder
from mm.execution.mode_handlers import CycleInputs, PriceGrid, SymbolSpec
from mm.execution.models import ExpFillModel, HeuristicQueueValue
from mm.execution.order_diff import TargetOrder
from mm.execution.policies import GlftPolicy, TouchPolicy, glft_deltas
from mm.execution.state_machine import StateMachinePolicy, SymbolState, safe_target
from mm.schema import ExecMode, Regime, StateSnapshot, Toxicity
from tests.execution.helpers import config, snap

MAX = 3.0
QUOTE = 0.5


def inputs(s: StateSnapshot | None = None, cfg: ExecutionConfig | None = None, **kw: Any) -> CycleInputs:
    cfg = cfg if cfg is not None else config()
    s = s if s is not None else snap(99.7, 100.3, toxic_prob=0.0, sigma_ewma=0.2)  # 60 bps wide, calm
    d: dict[str, Any] = dict(
        cfg=cfg, spec=SymbolSpec("X", 0, 1), grid=PriceGrid(1), snap=s, now_ns=10**12,
        qv=HeuristicQueueValue(cfg.models), fill=ExpFillModel(cfg.models), inventory=0.0, max_inv=MAX,
        quote_qty=QUOTE, taker_clip_qty=2.0, reduce_clip_qty=5.0, size_mult=1.0, spread_mult=1.0, target=0.0,
        toxicity=Toxicity.NORMAL, toxic_prob=0.0, lead_lag_skew_bps=0.0, headroom_buy=MAX, headroom_sell=MAX,
        min_notional_usd=10.0,
    )
    d.update(kw)
    inp = CycleInputs(**d)
    inp.safe_target = safe_target(inp.target, MAX, s.sigma_realized_1m, cfg.baseline_sigma_bps)
    return inp


def run(inp: CycleInputs, state: SymbolState | None = None) -> tuple[DecisionBuilder, list[TargetOrder]]:
    b = DecisionBuilder()
    out = StateMachinePolicy().decide(inp, state if state is not None else SymbolState(), b)
    return b, out


# --------------------------------------------------------------------------- mode selection, in order


def test_inventory_over_max_is_inventory_reduce_at_full_urgency() -> None:
    b, out = run(inputs(inventory=3.5, headroom_buy=0.0))
    assert b.mode == ExecMode.INVENTORY_REDUCE and b.urgency == 1.0
    assert out and all(t.side < 0 and t.reduce_only for t in out)
    taken = [t for t in out if t.aggressive]
    assert taken and abs(taken[0].qty - 0.5) < 1e-9  # the excess over max, taken at once


def test_toxic_with_small_inventory_is_flat() -> None:
    b, out = run(inputs(toxicity=Toxicity.TOXIC, inventory=0.2))
    assert b.mode == ExecMode.FLAT and out == []


def test_toxic_while_holding_with_unknown_direction_is_inventory_reduce() -> None:
    b, out = run(inputs(toxicity=Toxicity.TOXIC, inventory=-1.0))  # no lead-lag skew: direction unknown
    assert b.mode == ExecMode.INVENTORY_REDUCE and abs(b.urgency - 0.8) < 1e-12
    assert out and all(t.side > 0 and t.reduce_only and not t.aggressive for t in out)


@pytest.mark.parametrize("inventory,skew", [(1.0, 2.0), (-1.0, -2.0)])
def test_toxic_while_holding_with_the_move_is_flat_and_keeps_the_position(inventory: float, skew: float) -> None:
    b, out = run(inputs(toxicity=Toxicity.TOXIC, inventory=inventory, lead_lag_skew_bps=skew))
    assert b.mode == ExecMode.FLAT and out == []
    assert "with the move" in b.mode_reason


TIGHT = snap(99.9, 100.0, toxic_prob=0.0, sigma_ewma=0.2)  # one tick: half spread 5 bps, exit cost 9.5 bps


@pytest.mark.parametrize("inventory,skew", [(2.5, -12.0), (-2.5, 12.0)])
def test_toxic_while_holding_against_the_move_exits_at_once_with_one_ioc(inventory: float, skew: float) -> None:
    b, out = run(inputs(TIGHT, toxicity=Toxicity.TOXIC, inventory=inventory, lead_lag_skew_bps=skew))
    assert b.mode == ExecMode.TAKER_EXIT and b.urgency == 1.0
    assert len(out) == 1
    t = out[0]
    assert t.aggressive and t.reduce_only and t.tif == "Ioc" and t.side == (-1 if inventory > 0 else 1)
    assert abs(t.qty - 2.5) < 1e-9  # the whole position, past the 2.0 taker clip (toxic_exit_clip_frac 1 x max 3)


def test_toxic_against_the_move_holds_flat_while_the_exit_costs_more_than_the_move() -> None:
    b, out = run(inputs(TIGHT, toxicity=Toxicity.TOXIC, inventory=2.5, lead_lag_skew_bps=-9.0))  # < 5 + 4.5
    assert b.mode == ExecMode.FLAT and out == [] and "exit costs more" in b.mode_reason
    b, _ = run(inputs(TIGHT, cfg=config(toxic_exit_min_edge_bps=-1.0), toxicity=Toxicity.TOXIC, inventory=2.5,
                      lead_lag_skew_bps=-9.0))
    assert b.mode == ExecMode.TAKER_EXIT


def test_toxic_exit_clip_frac_zero_keeps_the_taker_clip() -> None:
    _, out = run(inputs(TIGHT, cfg=config(toxic_exit_clip_frac=0.0), toxicity=Toxicity.TOXIC, inventory=2.5,
                        lead_lag_skew_bps=-12.0))
    assert len(out) == 1 and abs(out[0].qty - 2.0) < 1e-9


@pytest.mark.parametrize("inventory,skew", [(2.5, -40.0), (-2.5, 40.0)])
def test_toxic_exit_limit_reaches_toxic_exit_slippage_bps_past_the_touch(inventory: float, skew: float) -> None:
    side = -1 if inventory > 0 else 1
    opp = 99.9 if side < 0 else 100.0  # the touch the exit takes from

    def past_bps(toxicity: Toxicity, **kw: float) -> float:
        b, out = run(inputs(TIGHT, cfg=config(**kw), toxicity=toxicity, inventory=inventory, lead_lag_skew_bps=skew))
        assert b.mode == ExecMode.TAKER_EXIT and len(out) == 1 and out[0].aggressive and out[0].reduce_only
        return side * (out[0].px - opp) / opp * 1e4

    assert 4.9 < past_bps(Toxicity.TOXIC) <= 5.0 + 1e-9  # default: the plain taker limit (5 bps)
    assert 49.9 < past_bps(Toxicity.TOXIC, toxic_exit_slippage_bps=50.0) <= 50.0 + 1e-9
    # the larger of the two limits, never less than the plain one
    assert 19.9 < past_bps(Toxicity.TOXIC, toxic_exit_slippage_bps=1.0, taker_max_slippage_bps=20.0) <= 20.0 + 1e-9


def test_toxic_exit_slippage_leaves_other_iocs_at_the_plain_limit() -> None:
    cfg = config(toxic_exit_slippage_bps=50.0)
    b, out = run(inputs(cfg=cfg, target=2.0, lead_lag_skew_bps=80.0))  # TakerEntry, not Toxic
    assert b.mode == ExecMode.TAKER_ENTRY and len(out) == 1
    assert 100.3 <= out[0].px <= 100.3 * (1 + 5e-4)
    b, out = run(inputs(cfg=cfg, inventory=2.0, target=0.0, lead_lag_skew_bps=-80.0))  # a TakerExit, not Toxic
    assert b.mode == ExecMode.TAKER_EXIT and len(out) == 1
    assert 99.7 * (1 - 5e-4) <= out[0].px <= 99.7


def test_toxic_move_direction_is_kept_for_the_episode_and_turned_only_by_a_large_skew() -> None:
    st_ = SymbolState()

    def step(skew: float) -> ExecMode:
        b, _ = run(inputs(TIGHT, toxicity=Toxicity.TOXIC, inventory=1.0, lead_lag_skew_bps=skew), st_)
        return b.mode

    assert step(0.3) == ExecMode.INVENTORY_REDUCE and st_.toxic_dir == 0  # below toxic_dir_min_skew_bps
    assert step(1.0) == ExecMode.FLAT and st_.toxic_dir == 1
    assert step(0.0) == ExecMode.FLAT  # the skew faded: the direction is kept
    assert step(-4.0) == ExecMode.FLAT and st_.toxic_dir == 1  # the end's overshoot, below the flip threshold
    assert step(-6.0) == ExecMode.FLAT and st_.toxic_dir == -1  # turned, but an exit costs 9.5 bps
    assert step(-12.0) == ExecMode.TAKER_EXIT
    run(inputs(TIGHT, inventory=1.0), st_)  # the episode ends
    assert st_.toxic_dir == 0


def test_toxic_exit_max_ms_holds_flat_once_the_episode_has_spent_its_exit_window() -> None:
    ms = 1_000_000
    t0 = 10**12

    def episode(cfg: ExecutionConfig) -> list[ExecMode]:
        st_ = SymbolState()
        modes = []
        for dt_ms in (0, 300, 599, 600, 2000):
            b, out = run(inputs(TIGHT, cfg=cfg, toxicity=Toxicity.TOXIC, inventory=2.5, lead_lag_skew_bps=-12.0,
                                now_ns=t0 + dt_ms * ms), st_)
            assert (b.mode == ExecMode.TAKER_EXIT) == bool(out)
            modes.append(b.mode)
        return modes

    te, fl = ExecMode.TAKER_EXIT, ExecMode.FLAT
    assert episode(config(toxic_exit_max_ms=0)) == [te] * 5  # 0: chase for the whole episode
    assert episode(config(toxic_exit_max_ms=600)) == [te, te, te, fl, fl]
    assert episode(config(toxic_exit_max_ms=2500)) == [te] * 5
    st_ = SymbolState()  # a new episode gets a new window
    cfg = config(toxic_exit_max_ms=600)
    run(inputs(TIGHT, cfg=cfg, toxicity=Toxicity.TOXIC, inventory=2.5, lead_lag_skew_bps=-12.0, now_ns=t0), st_)
    b, _ = run(inputs(TIGHT, cfg=cfg, toxicity=Toxicity.TOXIC, inventory=2.5, lead_lag_skew_bps=-12.0,
                      now_ns=t0 + 700 * ms), st_)
    assert b.mode == fl and "exit window spent" in b.mode_reason
    run(inputs(TIGHT, cfg=cfg, inventory=2.5, now_ns=t0 + 800 * ms), st_)  # Toxic ends
    b, _ = run(inputs(TIGHT, cfg=cfg, toxicity=Toxicity.TOXIC, inventory=2.5, lead_lag_skew_bps=-12.0,
                      now_ns=t0 + 900 * ms), st_)
    assert b.mode == te


def test_toxic_follow_direction_off_is_always_inventory_reduce() -> None:
    b, _ = run(inputs(cfg=config(toxic_follow_direction=False), toxicity=Toxicity.TOXIC, inventory=1.0,
                      lead_lag_skew_bps=-3.0))
    assert b.mode == ExecMode.INVENTORY_REDUCE


def test_inventory_over_max_comes_before_the_toxic_direction_rule() -> None:
    b, _ = run(inputs(toxicity=Toxicity.TOXIC, inventory=3.5, headroom_buy=0.0, lead_lag_skew_bps=3.0))
    assert b.mode == ExecMode.INVENTORY_REDUCE and b.urgency == 1.0


def test_large_gap_takes_when_taker_ev_beats_maker_ev() -> None:
    b, out = run(inputs(target=2.0, lead_lag_skew_bps=80.0))
    assert b.taker_ev_bps is not None and b.maker_ev_bps is not None
    assert b.mode == ExecMode.TAKER_ENTRY and b.direction == 1 and b.taker_ev_bps > b.maker_ev_bps
    assert b.timeout_ms == 500
    assert len(out) == 1 and out[0].aggressive and out[0].tif == "Ioc" and out[0].side == 1
    assert out[0].px >= 100.3 and out[0].px <= 100.3 * (1 + 5e-4)


def test_large_gap_stays_maker_when_maker_ev_wins() -> None:
    b, _ = run(inputs(target=2.0, lead_lag_skew_bps=0.0))
    assert b.taker_ev_bps is not None and b.maker_ev_bps is not None
    assert b.mode == ExecMode.MAKER and b.maker_ev_bps >= b.taker_ev_bps


def test_gap_that_only_reduces_is_taker_exit_reduce_only() -> None:
    b, out = run(inputs(inventory=2.0, target=0.0, lead_lag_skew_bps=-80.0))
    assert b.mode == ExecMode.TAKER_EXIT
    assert len(out) == 1 and out[0].side == -1 and out[0].reduce_only and out[0].aggressive


def test_taker_mode_persists_until_its_timeout() -> None:
    state = SymbolState()
    inp = inputs(target=2.0, lead_lag_skew_bps=80.0)
    b, _ = run(inp, state)
    assert b.mode == ExecMode.TAKER_ENTRY
    b, _ = run(inputs(target=2.0, lead_lag_skew_bps=0.0, now_ns=inp.now_ns + 100_000_000), state)
    assert b.mode == ExecMode.TAKER_ENTRY and "persists" in b.mode_reason
    b, _ = run(inputs(target=2.0, lead_lag_skew_bps=0.0, now_ns=inp.now_ns + 600_000_000), state)
    assert b.mode == ExecMode.MAKER


def test_near_flat_without_positive_queue_value_is_flat_at_base_fees() -> None:
    # a one-tick major at the base tier: the architecture's lesson, Flat is the answer
    cfg = ExecutionConfig()
    s = snap(100000.0, 100001.0, sigma_ewma=0.05, toxic_prob=0.0)
    b, out = run(inputs(s, cfg, spec=SymbolSpec("BTC", 0, 5), grid=PriceGrid(5), max_inv=0.01, quote_qty=0.001,
                        headroom_buy=0.01, headroom_sell=0.01))
    assert b.mode == ExecMode.FLAT and out == []


def test_otherwise_maker_with_both_sides_quoted() -> None:
    b, out = run(inputs())
    assert b.mode == ExecMode.MAKER
    assert sorted(t.side for t in out) == [-1, 1]
    assert all(not t.aggressive and t.tif == "Alo" and (t.queue_value_bps or -1.0) >= 0.0 for t in out)


# --------------------------------------------------------------------------- maker details


def test_maker_sizes_scale_with_the_exposure_multiplier() -> None:
    _, out = run(inputs(size_mult=2.0))
    assert all(abs(t.qty - 1.0) < 1e-9 for t in out)
    b, out = run(inputs(size_mult=0.0))
    assert out == [] and b.mode == ExecMode.MAKER and b.candidates  # Shadow: evaluated, not sent


def test_maker_size_leans_towards_the_target() -> None:
    _, out = run(inputs(target=0.8))  # a gap below taker_gap_frac * max
    bid = next(t for t in out if t.side > 0)
    ask = next(t for t in out if t.side < 0)
    assert bid.qty > ask.qty


def test_maker_never_exceeds_the_worst_case_headroom() -> None:
    _, out = run(inputs(inventory=2.8, headroom_buy=0.2, headroom_sell=5.0))
    bid = [t for t in out if t.side > 0]
    assert all(t.qty <= 0.2 + 1e-12 for t in bid)


def test_candidates_are_touch_and_one_tick_either_side_with_their_models() -> None:
    b, out = run(inputs())
    bids = sorted(c.px for c in b.candidates if c.side > 0)
    assert bids == [99.699, 99.7, 99.701]  # below 100 a tick is 0.001 (5 significant figures)
    chosen = [c for c in b.candidates if c.chosen]
    assert len(chosen) == 2
    for c in b.candidates:
        assert math.isfinite(c.queue_value_bps) and 0.0 <= c.p_fill <= 1.0
    assert {(t.side, t.px) for t in out} == {(c.side, c.px) for c in chosen}


def test_spread_multiplier_keeps_quotes_outside_the_widened_spread() -> None:
    b, out = run(inputs(spread_mult=2.0))
    for t in out:
        assert abs(t.px - 100.0) >= 2.0 * 0.3 - 1e-9


def test_our_resting_level_is_a_candidate_with_its_own_queue_rank() -> None:
    b, _ = run(inputs(live_bid_px=99.65, live_bid_rank=0.1))
    own = [c for c in b.candidates if c.side > 0 and c.px == 99.65]
    assert own and own[0].rank_frac == 0.1


def test_inventory_penalty_pulls_the_side_that_adds_to_a_position() -> None:
    b, _ = run(inputs(inventory=2.5, headroom_buy=0.5, target=2.5))
    pen = {c.side: c.inv_penalty_bps for c in b.candidates}
    assert pen[1] > pen[-1]


# --------------------------------------------------------------------------- invariants, as properties

features = dict(
    toxicity=st.sampled_from(list(Toxicity)), toxic_prob=st.floats(0.0, 1.0), regime=st.sampled_from(list(Regime)),
    ofi=st.floats(-50.0, 50.0), sigma=st.floats(0.0, 10.0), spread_ticks=st.integers(1, 200),
    inventory=st.floats(-4.0, 4.0), target=st.floats(-5.0, 5.0), skew=st.floats(-100.0, 100.0),
    size_mult=st.sampled_from([0.0, 0.25, 1.0, 2.0]), spread_mult=st.sampled_from([1.0, 1.5, 3.0]),
    fee=st.sampled_from([-0.3, 0.0, 1.5]),
)


def _random_inputs(toxicity: int, toxic_prob: float, regime: int, ofi: float, sigma: float, spread_ticks: int,
                   inventory: float, target: float, skew: float, size_mult: float, spread_mult: float,
                   fee: float, lead_gate: bool = False) -> CycleInputs:
    grid = PriceGrid(1)
    bid = 99.5
    ask = grid.up(bid, spread_ticks)
    probs = [0.0] * 4
    probs[regime] = 1.0
    s = snap(bid, ask, toxicity=toxicity, toxic_prob=toxic_prob, regime=regime, regime_probs=probs, ofi_500ms=ofi,
             sigma_ewma=sigma)
    cfg = config(models=HeuristicModelConfig(maker_fee_bps=fee, kappa_per_s=2.0, delta_char_bps=10.0),
                 lead_gate=lead_gate)
    lng = inventory + 0.0
    return inputs(s, cfg, toxicity=toxicity, toxic_prob=toxic_prob, inventory=inventory, target=target,
                  lead_lag_skew_bps=skew, size_mult=size_mult, spread_mult=spread_mult,
                  headroom_buy=max(MAX - lng, 0.0), headroom_sell=max(MAX + lng, 0.0))


@given(**features)
def test_never_maker_while_toxic(**kw: Any) -> None:
    inp = _random_inputs(**kw)
    b, out = run(inp)
    if inp.toxicity == Toxicity.TOXIC:
        assert b.mode in (ExecMode.FLAT, ExecMode.INVENTORY_REDUCE, ExecMode.TAKER_EXIT)
        if b.mode == ExecMode.TAKER_EXIT:
            assert all(t.aggressive and t.reduce_only for t in out)


@given(**features)
def test_no_passive_quote_with_negative_queue_value_outside_inventory_reduce(**kw: Any) -> None:
    b, out = run(_random_inputs(**kw))
    if b.mode != ExecMode.INVENTORY_REDUCE:
        for t in out:
            if not t.aggressive:
                assert t.queue_value_bps is not None and t.queue_value_bps >= 0.0


@given(**features)
def test_every_quote_set_has_ask_above_bid_and_stays_passive(**kw: Any) -> None:
    inp = _random_inputs(**kw)
    _, out = run(inp)
    bids = [t.px for t in out if t.side > 0 and not t.aggressive]
    asks = [t.px for t in out if t.side < 0 and not t.aggressive]
    if bids and asks:
        assert max(bids) < min(asks)
    assert all(p < inp.snap.best_ask for p in bids) and all(p > inp.snap.best_bid for p in asks)


@given(**features)
def test_orders_that_add_to_the_position_fit_the_headroom(**kw: Any) -> None:
    inp = _random_inputs(**kw)
    _, out = run(inp)
    for side in (1, -1):
        adding = sum(t.qty for t in out if t.side == side and not t.reduce_only)
        assert adding <= inp.headroom(side) + 1e-9


def test_safe_target_is_clamped_then_scaled_down_by_volatility() -> None:
    assert safe_target(10.0, 3.0, 5.0, 20.0) == 3.0
    assert safe_target(-10.0, 3.0, 40.0, 20.0) == -1.5
    assert safe_target(math.nan, 3.0, 5.0, 20.0) == 0.0


# --------------------------------------------------------------------------- baselines


@given(g=st.floats(-10.0, 0.0) | st.just(math.nan), k=st.floats(0.01, 10.0))
def test_glft_refuses_gamma_or_kappa_that_is_not_positive(g: float, k: float) -> None:
    with pytest.raises(ValueError, match="gamma"):
        glft_deltas(0.0, 1.0, g, k, 1.0)
    with pytest.raises(ValueError, match="kappa"):
        glft_deltas(0.0, 1.0, k, g, 1.0)


def test_glft_half_spread_is_the_closed_form() -> None:
    gamma, kappa, a, sigma = 0.1, 0.5, 1.0, 2.0
    d0 = math.log(1 + gamma / kappa) / gamma
    c = math.sqrt(sigma**2 * gamma / (2 * kappa * a) * (1 + gamma / kappa) ** (1 + kappa / gamma))
    db, da = glft_deltas(0.0, sigma, gamma, kappa, a)
    assert abs(db - (d0 + c / 2)) < 1e-12 and abs(da - (d0 + c / 2)) < 1e-12
    db, da = glft_deltas(2.0, sigma, gamma, kappa, a)
    assert db > da  # long: the bid backs off, the ask comes in


@given(inventory=st.floats(-3.0, 3.0), spread_ticks=st.integers(1, 100), sigma=st.floats(0.0, 50.0))
def test_glft_quotes_have_ask_above_bid_and_skew_against_inventory(inventory: float, spread_ticks: int,
                                                                  sigma: float) -> None:
    grid = PriceGrid(1)
    s = snap(99.5, grid.up(99.5, spread_ticks), sigma_realized_1m=sigma)
    cfg = config(glft=GlftConfig())
    inp = inputs(s, cfg, inventory=inventory, headroom_buy=10.0, headroom_sell=10.0)
    out = GlftPolicy().decide(inp, SymbolState(), DecisionBuilder())
    bids = [t.px for t in out if t.side > 0]
    asks = [t.px for t in out if t.side < 0]
    if bids and asks:
        assert bids[0] < asks[0]
    assert all(p < s.best_ask for p in bids) and all(p > s.best_bid for p in asks)


def test_touch_quoter_quotes_the_best_bid_and_ask() -> None:
    b = DecisionBuilder()
    out = TouchPolicy().decide(inputs(), SymbolState(), b)
    assert {(t.side, t.px) for t in out} == {(1, 99.7), (-1, 100.3)}
    assert b.mode == ExecMode.MAKER and len(b.candidates) == 2  # recorded with their queue values


def test_baselines_respect_the_headroom() -> None:
    out = TouchPolicy().decide(inputs(inventory=3.0, headroom_buy=0.0), SymbolState(), DecisionBuilder())
    assert [t.side for t in out] == [-1]


def test_side_gate_withdraws_the_bid_when_the_microprice_leans_down() -> None:
    s = snap(99.7, 100.3, toxic_prob=0.0, sigma_ewma=0.2, microprice=100.0 - 0.3 * 0.6)  # m = -0.6
    b, out = run(inputs(s, cfg=config(side_gate_micro=0.5)))
    assert b.mode == ExecMode.MAKER
    assert out and all(t.side < 0 for t in out if not t.aggressive)
    assert any("side gate: bid withdrawn" in r for r in b.reasons)
    _, both = run(inputs(s, cfg=config()))  # off by default: both sides
    assert {t.side for t in both} == {1, -1}


def test_side_gate_keeps_both_sides_inside_its_threshold_and_keeps_reducing_orders() -> None:
    s = snap(99.7, 100.3, toxic_prob=0.0, sigma_ewma=0.2, microprice=100.0 + 0.3 * 0.3)  # m = +0.3
    _, out = run(inputs(s, cfg=config(side_gate_micro=0.5)))
    assert {t.side for t in out} == {1, -1}
    s = snap(99.7, 100.3, toxic_prob=0.0, sigma_ewma=0.2, microprice=100.0 + 0.3 * 0.9)  # m = +0.9: no new ask
    _, out = run(inputs(s, cfg=config(side_gate_micro=0.5)))
    assert all(t.side > 0 or t.reduce_only for t in out)


# --------------------------------------------------------------------------- lead gate (issue 17)


ON = config(lead_gate=True)  # the gate is off by default (issue 17: it did not help, docs/results-issue17.md)


def _maker_qv(side: int, **kw: Any) -> float:
    _, out = run(inputs(**kw))
    return next(t.queue_value_bps or 0.0 for t in out if t.side == side)


@pytest.mark.parametrize("sign,dropped", [(-1.0, 1), (1.0, -1)])  # mid predicted to fall: bid; to rise: ask
def test_lead_gate_withdraws_the_side_the_lead_predicts_a_move_through(sign: float, dropped: int) -> None:
    qv = _maker_qv(dropped)
    assert qv > 0.0
    b, out = run(inputs(cfg=ON, lead_lag_skew_bps=sign * (qv + 0.5)))  # the predicted drift beats the quote's edge
    assert b.mode == ExecMode.MAKER
    assert [t.side for t in out] == [-dropped]  # the side the move runs away from stays
    assert any("lead gate: " + ("bid" if dropped > 0 else "ask") in r for r in b.reasons)


def test_lead_gate_keeps_a_quote_whose_edge_covers_the_drift_and_ignores_a_skew_below_its_floor() -> None:
    qv = _maker_qv(1)
    _, out = run(inputs(cfg=ON, lead_lag_skew_bps=-(qv - 0.5)))  # drift smaller than the bid's queue value
    assert {t.side for t in out} == {1, -1}
    cfg = config(lead_gate=True, lead_gate_min_skew_bps=qv + 10.0)  # the skew is below the gate's floor
    _, out = run(inputs(cfg=cfg, lead_lag_skew_bps=-(qv + 5.0)))
    assert {t.side for t in out} == {1, -1}
    cfg = config(lead_gate=True, lead_gate_drift_weight=0.5)  # half the skew counted: qv + 0.5 of skew is not enough
    _, out = run(inputs(cfg=cfg, lead_lag_skew_bps=-(qv + 0.5)))
    assert {t.side for t in out} == {1, -1}


@pytest.mark.parametrize("skew", [math.nan, 0.0, math.inf, -math.inf])
def test_lead_gate_without_a_finite_skew_changes_nothing_unless_it_is_infinite(skew: float) -> None:
    base = run(inputs(cfg=ON))[1]
    _, out = run(inputs(cfg=ON, lead_lag_skew_bps=skew))
    if math.isinf(skew):  # an infinite skew (never sent, but never a crash): the side it runs over goes
        assert [t.side for t in out] == [1 if skew > 0 else -1]  # rising: the ask goes, the bid stays
    else:
        assert out == base


def test_lead_gate_is_off_by_default_and_off_keeps_both_sides() -> None:
    qv = _maker_qv(1)
    assert not ExecutionConfig().lead_gate
    for cfg in (config(), config(lead_gate=False)):
        _, out = run(inputs(cfg=cfg, lead_lag_skew_bps=-(qv + 5.0)))
        assert {t.side for t in out} == {1, -1}


def test_lead_gate_leaves_inventory_reduce_and_reduce_only_orders_alone() -> None:
    # over max: InventoryReduce's reduce-only ask stays, whatever the skew says
    b, out = run(inputs(cfg=ON, inventory=3.5, lead_lag_skew_bps=50.0))
    assert b.mode == ExecMode.INVENTORY_REDUCE and out and all(t.side < 0 and t.reduce_only for t in out)
    assert not any("lead gate" in r for r in b.reasons)


@given(**features)
def test_lead_gate_never_leaves_a_maker_quote_the_lead_runs_over(**kw: Any) -> None:
    inp = _random_inputs(**kw, lead_gate=True)
    cfg = inp.cfg
    assert cfg.lead_gate
    b, out = run(inp)
    skew = inp.lead_lag_skew_bps
    if b.mode != ExecMode.MAKER or not abs(skew) >= cfg.lead_gate_min_skew_bps:
        return
    against = 1 if skew < 0.0 else -1
    for t in out:
        if t.side == against and not t.aggressive and not t.reduce_only:
            assert (t.queue_value_bps or 0.0) - cfg.lead_gate_drift_weight * abs(skew) >= cfg.min_queue_value_bps


def test_rank_by_expected_value_prefers_the_level_with_the_larger_fill_probability_times_edge() -> None:
    """Per fill, the deepest level earns the most; times its fill probability, the touch does."""
    chosen = {}
    for flag in (False, True):
        cfg = config(p_fill_min=0.0, rank_by_expected_value=flag, candidate_offsets_ticks=[1, 0, -1, -4, -9])
        b, _ = run(inputs(cfg=cfg))
        bids = [c for c in b.candidates if c.side > 0 and not c.reject]
        best = max(bids, key=(lambda c: c.p_fill * c.epnl_bps) if flag else (lambda c: c.epnl_bps))
        (pick,) = [c for c in bids if c.chosen]
        assert pick.px == best.px
        chosen[flag] = pick.px
    assert chosen[True] > chosen[False]
