"""The risk sections' defaults are seed 002's figures, and TOML decodes into them with errors that
name the key."""

import tomllib

import msgspec
import pytest

from mm.risk.config import EscalationConfig, PromotionConfig, RiskConfig, ShadowConfig, ValidationConfig


class Sections(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    escalation: EscalationConfig = msgspec.field(default_factory=EscalationConfig)
    promotion: PromotionConfig = msgspec.field(default_factory=PromotionConfig)
    validation: ValidationConfig = msgspec.field(default_factory=ValidationConfig)
    shadow: ShadowConfig = msgspec.field(default_factory=ShadowConfig)


def test_defaults_are_the_seed_figures() -> None:
    e = EscalationConfig()
    assert (e.yellow_drawdown_pct, e.orange_drawdown_pct, e.red_drawdown_pct, e.kill_drawdown_pct) == (0.5, 1, 2, 5)
    assert e.dwell_s[1:4] == [30.0, 60.0, 300.0]
    assert (e.yellow_spread_multiplier, e.yellow_size_multiplier, e.orange_size_multiplier) == (1.5, 0.5, 0.25)
    assert (e.orange_degraded_models, e.orange_position_share) == (2, 0.7)
    p = PromotionConfig()
    assert (p.min_fills_at_level[0], p.min_dwell_s[0]) == (50, 1800.0)
    assert (p.max_brier, p.min_information_ratio, p.max_sim_to_real_gap_bps, p.max_drawdown_pct,
            p.min_positive_edge_pct) == (0.25, 0.5, 2.0, 1.0, 60.0)
    assert (p.drawdown_demote_levels, p.safety_demote_level, p.safety_demote_to, p.model_degraded_ir,
            p.divergence_gap_bps) == (2, "ORANGE", "MICRO_LIVE", 0.3, 5.0)
    assert p.confidence_floors == [0.0, 0.1, 0.3, 0.5, 0.7, 0.9]
    v = ValidationConfig()
    assert (v.evaluate_every_fills, v.window, v.healthy_max_brier, v.retire_brier, v.healthy_min_ir,
            v.retire_ir, v.healthy_min_mi_ratio, v.retire_mi_ratio, v.retire_mi_evaluations) == (
        20, 100, 0.25, 0.35, 0.5, 0.3, 0.5, 0.3, 20)
    assert (v.degraded_weight_min, v.degraded_weight_max) == (0.05, 0.5)


def test_toml_sections_decode() -> None:
    text = """
[risk]
capital_usd = 50000
symbol_caps_usd = {BTC = 30000}
[escalation]
dwell_s = [0, 10, 20, 60, 0]
[promotion]
max_auto_level = "RAMPING"
[validation]
window = 50
[shadow]
min_pairs = 5
"""
    c = msgspec.convert(tomllib.loads(text), Sections)
    assert c.risk.cap_usd("BTC") == 30_000.0 and c.risk.cap_usd("ETH") == c.risk.notional_cap_usd
    assert c.escalation.dwell_s[3] == 60.0 and c.promotion.max_auto_level == "RAMPING"
    assert c.validation.window == 50 and c.shadow.min_pairs == 5


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[risk]\nbogus = 1", "bogus"),
        ("[validation]\nmin_observations = 500", "validation.min_observations"),
        ("[shadow]\ndistance_buckets_bps = [1, 2]", "shadow.distance_buckets_bps"),
        ("[shadow]\nhealth_factors = [0.5, 1.0, 0.0]", "shadow.health_factors"),
        ("[promotion]\nkill_demote_to = 'NOWHERE'", "promotion.kill_demote_to"),
    ],
)
def test_bad_values_name_the_key(text: str, where: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=where.replace(".", r"\.")):
        msgspec.convert(tomllib.loads(text), Sections)
