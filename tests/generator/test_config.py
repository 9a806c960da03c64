"""GeneratorConfig / CoinSpec: defaults valid, every range enforced with the field named,
round trip through JSON, and Hyperliquid's tick rule."""

from __future__ import annotations

import inspect
import math
from typing import Any

import msgspec
import pytest

from mm.venues.sim import generator_config
from mm.venues.sim.generator_config import (
    DEFAULT_COINS,
    CoinSpec,
    GeneratorConfig,
    hl_px_decimals,
    hl_tick_px,
)


def test_defaults_are_valid_and_round_trip() -> None:
    cfg = GeneratorConfig()
    assert cfg.lead_lag_ms == 650  # the measured Binance lead (600-700 ms)
    assert msgspec.json.decode(msgspec.json.encode(cfg), type=GeneratorConfig) == cfg
    for spec in DEFAULT_COINS.values():
        assert msgspec.json.decode(msgspec.json.encode(spec), type=CoinSpec) == spec


def test_every_field_has_a_default_and_a_documented_unit() -> None:
    src = inspect.getsource(generator_config)
    for struct in (GeneratorConfig, CoinSpec):
        for f in msgspec.structs.fields(struct):
            assert f.default is not msgspec.NODEFAULT, f.name
            # the attribute docstring follows the field and starts with the unit
            i = src.index(f"    {f.name}: ")
            doc = src[i:].split("\n", 2)[1].strip()
            assert doc.startswith('"""') and ":" in doc, f.name


BAD_CONFIG: list[tuple[str, Any]] = [
    ("lead_lag_ms", -1),
    ("lead_lag_ms", 1501),
    ("block_ms", 5.0),
    ("block_jitter_frac", 0.95),
    ("snapshot_interval_ms", 10),
    ("book_levels", 0),
    ("book_levels", 21),
    ("ref_interval_ms_min", 0),
    ("ref_interval_ms_max", 10),  # below the default min of 50
    ("chunk_ms", 50),
    ("initial_regime", 3),
    ("mean_dwell_s", (1.0, 1.0)),
    ("mean_dwell_s", (1.0, 0.0, 1.0)),
    ("transitions", ((0.5, 0.5, 0.0, 0.0), (0.5, 0.0, 0.5, 0.0), (0.5, 0.5, 0.0, 0.0), (0.5, 0.5, 0.0, 0.0))),
    ("transitions", ((0.0, 0.5, 0.4, 0.0), (0.5, 0.0, 0.5, 0.0), (0.5, 0.5, 0.0, 0.0), (0.5, 0.5, 0.0, 0.0))),
    ("cascade_min_s", 0.0),
    ("cascade_max_s", 0.5),  # below the default min of 1.0
    ("cascade_move_bps_max", 1.0),
    ("cascade_up_prob", 1.5),
    ("latent_vol_bps", (0.1, 0.2, -0.3, 0.4)),
    ("latent_vol_bps", (0.1, 0.2, float("nan"), 0.4)),
    ("cross_coin_corr", 1.1),
    ("hl_noise_bps", -0.1),
    ("hl_noise_half_life_ms", 0.0),
    ("hl_taker_rate_hz", (1.0, 1.0, 1.0, -1.0)),
    ("ref_taker_rate_hz", (1.0, 1.0, 1.0)),
    ("hawkes_branching", (0.3, 0.3, 0.3, 0.99)),
    ("hawkes_decay_hz", 0.0),
    ("hawkes_cross_frac", 2.0),
    ("cascade_side_frac", 0.4),
    ("taker_qty_sigma", 5.0),
    ("cascade_qty_mult", 0.5),
    ("max_orders_per_block", 0),
    ("stale_take_prob", (0.1, 0.1, 0.1, 1.1)),
    ("arb_qty_mult", -1.0),
    ("cascade_sweep_frac", 1.5),
    ("refill_prob", (0.0, 0.5, 0.5, 0.5)),
    ("depth_mult", (1.0, 1.0, 1.0, 0.0)),
    ("level_update_prob", -0.1),
    ("depth_reversion", 1.5),
    ("depth_noise_sigma", 4.0),
    ("fresh_level_frac", 0.0),
    ("fill_split_mean", 9.0),
]


@pytest.mark.parametrize(("field", "value"), BAD_CONFIG)
def test_out_of_range_config_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        GeneratorConfig(**{field: value})
    # the same check runs when decoding a config file
    raw = msgspec.json.encode({field: value}) if value == value else None  # NaN is not JSON
    if raw is not None and field != "latent_vol_bps":
        with pytest.raises(msgspec.ValidationError, match=field):
            msgspec.json.decode(raw, type=GeneratorConfig)


def test_unknown_config_field_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="lead_ms"):
        msgspec.json.decode(b'{"lead_ms": 100}', type=GeneratorConfig)


BAD_COIN: list[tuple[str, Any]] = [
    ("name", ""),
    ("px", 0.0),
    ("sz_decimals", 7),
    ("vol_mult", -1.0),
    ("taker_qty_median", 0.0),
    ("depth_qty", 0.0),
    ("touch_depth_mult", 0.0),
    ("depth_slope", -0.1),
    ("spread_ticks", 0),
    ("ref_tick_px", 0.03),
    ("ref_tick_px", 10.0),
    ("ref_sz_decimals", 9),
    ("ref_qty_mult", 0.0),
]


@pytest.mark.parametrize(("field", "value"), BAD_COIN)
def test_out_of_range_coin_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        CoinSpec(**{field: value})


def test_coin_too_cheap_for_its_lot_is_refused() -> None:
    with pytest.raises(ValueError, match="px"):
        CoinSpec(name="X", px=0.05, sz_decimals=5, depth_qty=1.0)  # tick 0.1 > 0.2% of px


@pytest.mark.parametrize(
    ("px", "sz_decimals", "tick"),
    [
        (110_000.0, 5, 1.0),  # BTC: integer prices
        (9_500.0, 5, 0.1),  # 5 significant figures -> 0.1; 6 - 5 = 1 decimal allowed
        (4_270.0, 4, 0.1),  # ETH (data/README.md)
        (205.0, 2, 0.01),  # SOL
        (0.1865, 0, 0.00001),  # WLFI: 5 significant figures
        (0.0123, 0, 0.000001),  # 6 - szDecimals decimals bind
        (25.3, 1, 0.001),
    ],
)
def test_hl_tick_rule(px: float, sz_decimals: int, tick: float) -> None:
    assert hl_tick_px(px, sz_decimals) == pytest.approx(tick)
    assert hl_px_decimals(hl_tick_px(px, sz_decimals)) == max(0, round(-math.log10(tick)))
