"""ExecutionConfig: defaults valid, every bad value refused with the field's name, TOML-shaped input."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from mm.execution.config import (
    DiffConfig,
    ExecutionConfig,
    GlftConfig,
    HeuristicModelConfig,
    OmsConfig,
    RateLimitConfig,
    SymbolLimits,
)


def test_defaults_are_valid_and_match_hyperliquid_rules() -> None:
    cfg = ExecutionConfig()
    assert cfg.policy == "state_machine" and not cfg.dry_run
    assert cfg.oms.ack_timeout_ms == 5_000
    assert cfg.rate_limit.ip_weight_per_min == 1200 and cfg.rate_limit.address_initial_requests == 10_000
    assert cfg.rate_limit.cancel_extra_requests == 100_000 and cfg.rate_limit.cancel_reserve_frac == 0.05
    assert cfg.models.maker_fee_bps == 1.5 and cfg.models.taker_fee_bps == 4.5
    assert cfg.candidate_offsets_ticks == [1, 0, -1]


@pytest.mark.parametrize(
    ("cls", "field", "bad"),
    [
        (ExecutionConfig, "max_inventory_usd", 0.0),
        (ExecutionConfig, "quote_notional_usd", float("nan")),
        (ExecutionConfig, "toxic_reduce_inv_frac", 1.5),
        (ExecutionConfig, "toxic_dir_min_skew_bps", 0.0),
        (ExecutionConfig, "toxic_dir_flip_skew_bps", 0.1),
        (ExecutionConfig, "toxic_exit_urgency", 1.5),
        (ExecutionConfig, "toxic_exit_min_edge_bps", float("nan")),
        (ExecutionConfig, "toxic_exit_clip_frac", -0.1),
        (ExecutionConfig, "toxic_exit_slippage_bps", -1.0),
        (ExecutionConfig, "toxic_exit_slippage_bps", float("inf")),
        (ExecutionConfig, "toxic_exit_max_ms", -1),
        (ExecutionConfig, "lead_gate_min_skew_bps", 0.0),
        (ExecutionConfig, "lead_gate_min_skew_bps", float("nan")),
        (ExecutionConfig, "lead_gate_drift_weight", -0.5),
        (ExecutionConfig, "lead_gate_drift_weight", float("inf")),
        (ExecutionConfig, "taker_gap_frac", -0.1),
        (ExecutionConfig, "p_fill_min", 1.0),
        (ExecutionConfig, "min_queue_value_bps", -1.0),
        (ExecutionConfig, "candidate_offsets_ticks", []),
        (ExecutionConfig, "candidate_offsets_ticks", [20]),
        (ExecutionConfig, "taker_timeout_ms", 0),
        (ExecutionConfig, "default_sz_decimals", 9),
        (GlftConfig, "gamma_per_bps", 0.0),
        (GlftConfig, "kappa_per_bps", -1.0),
        (GlftConfig, "arrival_rate_per_s", float("inf")),
        (HeuristicModelConfig, "kappa_per_s", 0.0),
        (HeuristicModelConfig, "delta_char_bps", 0.0),
        (HeuristicModelConfig, "as_bps_by_regime", [1.0, 2.0]),
        (HeuristicModelConfig, "maker_fee_bps", float("nan")),
        (DiffConfig, "qty_tolerance_frac", 1.0),
        (DiffConfig, "px_tolerance_ticks", -1),
        (OmsConfig, "ack_timeout_ms", 0),
        (OmsConfig, "max_outstanding_passive_usd", 0.0),
        (RateLimitConfig, "cancel_reserve_frac", 0.6),
        (RateLimitConfig, "ip_weight_per_min", 0),
        (SymbolLimits, "max_inventory_qty", -1.0),
    ],
)
def test_invalid_value_is_refused_naming_its_field(cls: type[Any], field: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=field):
        cls(**{field: bad})


def test_toml_shaped_dict_converts_with_sections() -> None:
    raw = {
        "policy": "glft",
        "symbol_limits": {"BTC": {"max_inventory_qty": 0.01, "quote_qty": 0.001}},
        "glft": {"gamma_per_bps": 0.2},
        "oms": {"passive_tif": "Gtc"},
        "rate_limit": {"cancel_reserve_frac": 0.1},
    }
    cfg = msgspec.convert(raw, ExecutionConfig)
    assert cfg.policy == "glft" and cfg.glft.gamma_per_bps == 0.2 and cfg.oms.passive_tif == "Gtc"
    assert cfg.limits_for("BTC").max_inventory_qty == 0.01
    assert cfg.limits_for("ETH").max_inventory_qty == 0.0  # notional defaults apply


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"policy": "yolo"}, ExecutionConfig)
