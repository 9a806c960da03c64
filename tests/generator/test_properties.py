"""Property: any valid configuration (and any mix of coins, seed, start) yields a valid
stream and labels."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mm.venues.sim.generator import MarketGenerator
from mm.venues.sim.generator_config import DEFAULT_COINS, CoinSpec, GeneratorConfig
from tests.generator._checks import check_stream

_prob = st.floats(0.0, 1.0)
_quad = st.tuples


@st.composite
def configs(draw: st.DrawFn) -> GeneratorConfig:
    cmin = draw(st.floats(0.05, 3.0))
    mmin = draw(st.floats(0.0, 50.0))
    rmin = draw(st.integers(1, 200))
    dwell = draw(st.tuples(*[st.floats(0.05, 10.0)] * 3))
    rows = []
    for r in range(4):
        w = [0.0 if j == r else draw(st.floats(0.01, 1.0)) for j in range(4)]
        tot = sum(w)
        row = [v / tot for v in w]
        row[(r + 1) % 4] = 1.0 - sum(v for j, v in enumerate(row) if j != (r + 1) % 4)
        rows.append(tuple(row))
    return GeneratorConfig(
        lead_lag_ms=draw(st.integers(0, 1500)),
        block_ms=draw(st.floats(20.0, 400.0)),
        block_jitter_frac=draw(st.floats(0.0, 0.9)),
        snapshot_interval_ms=draw(st.integers(50, 2000)),
        book_levels=draw(st.integers(1, 20)),
        ref_interval_ms_min=rmin,
        ref_interval_ms_max=draw(st.integers(rmin, rmin + 300)),
        chunk_ms=draw(st.integers(100, 3000)),
        initial_regime=draw(st.integers(0, 2)),
        mean_dwell_s=dwell,
        transitions=tuple(rows),  # type: ignore[arg-type]
        cascade_min_s=cmin,
        cascade_max_s=draw(st.floats(cmin, cmin + 3.0)),
        cascade_move_bps_min=mmin,
        cascade_move_bps_max=draw(st.floats(mmin, mmin + 200.0)),
        cascade_up_prob=draw(_prob),
        latent_vol_bps=draw(_quad(*[st.floats(0.0, 20.0)] * 4)),
        cross_coin_corr=draw(_prob),
        hl_noise_bps=draw(st.floats(0.0, 10.0)),
        hl_noise_half_life_ms=draw(st.floats(1.0, 10_000.0)),
        hl_taker_rate_hz=draw(_quad(*[st.floats(0.0, 30.0)] * 4)),
        ref_taker_rate_hz=draw(_quad(*[st.floats(0.0, 100.0)] * 4)),
        hawkes_branching=draw(_quad(*[st.floats(0.0, 0.95)] * 4)),
        hawkes_decay_hz=draw(st.floats(0.01, 50.0)),
        hawkes_cross_frac=draw(_prob),
        cascade_side_frac=draw(st.floats(0.5, 1.0)),
        taker_qty_sigma=draw(st.floats(0.0, 4.0)),
        cascade_qty_mult=draw(st.floats(1.0, 50.0)),
        max_orders_per_block=draw(st.integers(1, 256)),
        stale_take_prob=draw(_quad(*[_prob] * 4)),
        arb_qty_mult=draw(st.floats(0.0, 1000.0)),
        cascade_sweep_frac=draw(_prob),
        refill_prob=draw(_quad(st.floats(0.01, 1.0), _prob, _prob, _prob)),
        depth_mult=draw(_quad(*[st.floats(0.01, 10.0)] * 4)),
        level_update_prob=draw(_prob),
        depth_reversion=draw(_prob),
        depth_noise_sigma=draw(st.floats(0.0, 3.0)),
        fresh_level_frac=draw(st.floats(0.01, 10.0)),
        fill_split_mean=draw(st.floats(0.0, 8.0)),
    )


_coins = st.lists(st.sampled_from(sorted(DEFAULT_COINS)), min_size=1, max_size=3, unique=True).map(
    lambda names: [DEFAULT_COINS[n] for n in names]
)

@st.composite
def custom_coins(draw: st.DrawFn) -> CoinSpec:
    px = draw(st.sampled_from([0.5123, 3.21, 47.5, 812.0, 2_500.0, 31_000.0, 250_000.0]))
    sz_decimals = draw(st.integers(0, 6))
    lot = 10.0**-sz_decimals
    kw = dict(
        name="ZZZ", px=px, sz_decimals=sz_decimals, vol_mult=draw(st.floats(0.0, 10.0)),
        taker_qty_median=draw(st.floats(lot, 1000.0 * lot + 1.0)),
        depth_qty=draw(st.floats(lot, 10_000.0 * lot + 1.0)),
        touch_depth_mult=draw(st.floats(0.01, 50.0)), depth_slope=draw(st.floats(0.0, 2.0)),
        spread_ticks=draw(st.integers(1, 10)), ref_tick_px=draw(st.sampled_from([0.00001, 0.001, 0.1])),
        ref_sz_decimals=draw(st.integers(0, 8)), ref_qty_mult=draw(st.floats(0.001, 100.0)),
    )
    try:
        return CoinSpec(**kw)  # type: ignore[arg-type]
    except ValueError:
        assume(False)
        raise


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(), coins=_coins, seed=st.integers(0, 2**32), start=st.integers(0, 2**50),
       dur=st.floats(0.5, 6.0))
def test_any_valid_config_yields_a_valid_stream(cfg: GeneratorConfig, coins: list[CoinSpec], seed: int,
                                                start: int, dur: float) -> None:
    events, labels = MarketGenerator(cfg, coins, seed=seed).generate(start, dur)
    check_stream(events, labels, cfg, coins, start, dur)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coin=custom_coins(), seed=st.integers(0, 2**32))
def test_any_valid_coin_yields_a_valid_stream(coin: CoinSpec, seed: int) -> None:
    cfg = GeneratorConfig(mean_dwell_s=(1.0, 1.0, 1.0))
    events, labels = MarketGenerator(cfg, [coin], seed=seed).generate(0, 5.0)
    check_stream(events, labels, cfg, [coin], 0, 5.0)
