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


def test_risk_key_source_explicit_or_derived() -> None:
    r = RiskConfig()
    assert r.key_source("/etc/mm/agent.key", "MM_HL_AGENT_KEY") == ("file", "/etc/mm/agent.key.risk")
    assert r.key_source("", "MM_HL_AGENT_KEY") == ("env", "MM_HL_AGENT_KEY_RISK")
    assert RiskConfig(key_env="MM_RISK").key_source("/etc/mm/agent.key", "X") == ("env", "MM_RISK")
    both = RiskConfig(key_file="/etc/mm/risk.key", key_env="MM_RISK")
    assert both.key_source("", "X") == ("file", "/etc/mm/risk.key")  # the file takes precedence
    for bad, key in (({"key_env": "0x" + "ab" * 32}, "risk.key_env"), ({"key_env": "MY-VAR"}, "risk.key_env"),
                     ({"key_file": "ab" * 32}, "risk.key_file")):
        with pytest.raises(msgspec.ValidationError, match=key):
            msgspec.convert({"risk": bad}, Sections)


def test_live_loads_risk_key_from_its_own_config(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The explicit [risk] key_file is what risk signs with (a real key file, owner-only)."""
    from mm.config import parse_config
    from mm.venues.hyperliquid.keys import AgentKey, write_key_file
    from procs.paper_keys import KeySetupError, load_key, provision

    ex_key, risk_key = "0x" + "1" * 64, "0x" + "2" * 64
    write_key_file(tmp_path / "risk-wallet.key", risk_key)
    text = (f'[run]\nmode = "live"\nstate_dir = "{tmp_path}"\n[venues]\nhl_http_url = "https://api.hyperliquid.xyz"\n'
            f'[exchange]\nnetwork = "mainnet"\nkey_env = "MM_TEST_EXEC_KEY"\n'
            f'[risk]\nkey_file = "{tmp_path / "risk-wallet.key"}"\n')
    cfg = parse_config(text)
    monkeypatch.setenv("MM_TEST_EXEC_KEY", ex_key)
    monkeypatch.setenv("MM_TEST_EXEC_KEY_RISK", ex_key)  # the derived place is not consulted any more
    assert load_key(cfg, "risk").address == AgentKey.from_file(tmp_path / "risk-wallet.key").address
    s = provision(cfg)
    assert s is not None and s.risk == load_key(cfg, "risk").address != s.execution
    (tmp_path / "risk-wallet.key").unlink()
    with pytest.raises(KeySetupError, match="risk: key_file = "):
        provision(cfg)
