"""TradingConfidence, each promotion criterion and each demotion trigger, one at a time."""

import pytest

from mm.graduation.confidence import (
    DemotionSignals,
    GraduationController,
    PromotionEvidence,
    TradingConfidence,
    band_position,
    implied_level,
    safety_confidence,
)
from mm.graduation.exposure import ExposureConfig, ExposureController
from mm.risk.config import PromotionConfig
from mm.risk.escalation import ExchangeHealth
from mm.schema import ExposureLevel, SafetyLevel

S = 1_000_000_000
CFG = PromotionConfig(min_dwell_s=[100.0, 200.0, 300.0, 400.0, 500.0], min_fills_at_level=[10, 20, 30, 40, 50])
GOOD = PromotionEvidence(brier=0.15, information_ratio=1.0, sim_to_real_gap_bps=None, drawdown_pct=0.0,
                         safety_level=0, overall_confidence=0.6)
CALM = DemotionSignals(drawdown_pct=0.0, safety_level=0, degraded_models=[], sim_to_real_gap_bps=None,
                       exchange_health=0)


def test_components_blend_and_bands() -> None:
    tc = TradingConfidence(PromotionConfig())
    c = tc.update(model=1.0, execution=0.5, safety=1.0)
    assert c.overall == pytest.approx(0.4 + 0.15 + 0.3)
    assert c.implied_level == ExposureLevel.FULL
    assert implied_level(0.05, CFG.confidence_floors) == ExposureLevel.SHADOW
    assert implied_level(0.1, CFG.confidence_floors) == ExposureLevel.MICRO_LIVE
    assert implied_level(0.95, CFG.confidence_floors) == ExposureLevel.OPTIMIZED
    assert band_position(ExposureLevel.RAMPING, 0.4, CFG.confidence_floors) == pytest.approx(0.5)
    assert safety_confidence(SafetyLevel.YELLOW, 2.5, 5.0, CFG.safety_level_factors) == pytest.approx(0.3)
    assert safety_confidence(SafetyLevel.GREEN, float("nan"), 5.0, CFG.safety_level_factors) == 0.0


def test_size_moves_within_the_held_levels_band() -> None:
    exp = ExposureController(ExposureConfig())
    tc = TradingConfidence(PromotionConfig())
    tc.update(1.0, 1.0, 1.0)
    assert tc.size_multiplier(exp) == 0.0  # Shadow is 0 whatever the confidence
    exp.promote(True, "", "t", "", False, 1, 1)
    exp.promote(True, "", "t", "", False, 2, 2)  # Ramping: 10-50% across confidence 0.3-0.5
    tc.update(0.4, 0.4, 0.4)
    assert tc.size_multiplier(exp) == pytest.approx(0.30)
    tc.update(0.0, 0.0, 0.0)
    assert tc.size_multiplier(exp) == pytest.approx(0.10)
    tc.update(1.0, 1.0, 1.0)
    assert tc.size_multiplier(exp) == pytest.approx(0.50)


def ready(level: ExposureLevel = ExposureLevel.SHADOW) -> tuple[ExposureController, GraduationController]:
    exp = ExposureController(ExposureConfig())
    for _ in range(int(level)):
        exp.promote(True, "", "t", "", False, 0, 0)
    g = GraduationController(CFG, exp, 0)
    return exp, g


def add_fills(g: GraduationController, n: int, positive: int, shadow: bool = False) -> None:
    for i in range(n):
        e = g.on_fill(shadow)
        assert e is not None
        g.on_markout(e, 1.0 if i < positive else -1.0)


def test_promotion_after_the_dwell_with_every_criterion() -> None:
    exp, g = ready()
    add_fills(g, 10, 6, shadow=True)
    out = g.step(GOOD, CALM, 0, 0)
    assert not out.evidence_ok and "held 0 s" in out.evidence_why
    out = g.step(GOOD, CALM, 99 * S, 0)
    assert exp.level == ExposureLevel.SHADOW
    out = g.step(GOOD, CALM, 100 * S, 0)
    assert out.promoted is not None and exp.level == ExposureLevel.MICRO_LIVE
    assert g.fills_at_level == 0 and g.time_at_level_s(100 * S) == 0.0
    assert exp.history[-1].who == "risk" and exp.history[-1].kind == "promote"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"brier": 0.26}, "Brier"),
        ({"brier": None}, "no model scored"),
        ({"information_ratio": 0.4}, "IR"),
        ({"information_ratio": None}, "no model with an IR"),
        ({"sim_to_real_gap_bps": 2.5}, "gap"),
        ({"drawdown_pct": 1.1}, "drawdown"),
        ({"safety_level": 1}, "safety YELLOW"),
        ({"overall_confidence": 0.05}, "overall"),
    ],
)
def test_each_state_criterion_blocks_promotion(change: dict[str, object], why: str) -> None:
    exp, g = ready()
    add_fills(g, 10, 10, shadow=True)
    bad = PromotionEvidence(**{**{f: getattr(GOOD, f) for f in GOOD.__struct_fields__}, **change})  # type: ignore[arg-type]
    for t in (0, 100, 1000):
        out = g.step(bad, CALM, t * S, 0)
    assert exp.level == ExposureLevel.SHADOW and why in out.evidence_why
    # and a break in the middle of the dwell restarts the hold clock
    exp2, g2 = ready()
    add_fills(g2, 10, 10, shadow=True)
    g2.step(GOOD, CALM, 0, 0)
    g2.step(bad, CALM, 50 * S, 0)
    g2.step(GOOD, CALM, 60 * S, 0)
    g2.step(GOOD, CALM, 150 * S, 0)
    assert exp2.level == ExposureLevel.SHADOW
    g2.step(GOOD, CALM, 160 * S, 0)
    assert exp2.level == ExposureLevel.MICRO_LIVE


def test_fill_count_and_positive_edge_share_block_promotion() -> None:
    exp, g = ready()
    add_fills(g, 9, 9, shadow=True)
    g.step(GOOD, CALM, 0, 0)
    g.step(GOOD, CALM, 500 * S, 0)
    assert exp.level == ExposureLevel.SHADOW and g.last_criteria[-2].name == "fills"
    exp, g = ready()
    add_fills(g, 10, 5, shadow=True)  # 50% < 60%
    g.step(GOOD, CALM, 0, 0)
    g.step(GOOD, CALM, 500 * S, 0)
    assert exp.level == ExposureLevel.SHADOW and not g.last_criteria[-1].ok


def test_shadow_fills_count_only_in_shadow_and_the_gap_must_be_measured_above() -> None:
    exp, g = ready(ExposureLevel.MICRO_LIVE)
    assert g.on_fill(shadow=True) is None and g.fills_at_level == 0
    add_fills(g, 20, 20)
    g.step(GOOD, CALM, 0, 0)
    g.step(GOOD, CALM, 1000 * S, 0)
    assert exp.level == ExposureLevel.MICRO_LIVE  # gap unmeasured
    measured = PromotionEvidence(**{**{f: getattr(GOOD, f) for f in GOOD.__struct_fields__},
                                    "sim_to_real_gap_bps": 1.0})
    g.step(measured, CALM, 1001 * S, 0)
    g.step(measured, CALM, 1201 * S, 0)
    assert exp.level == ExposureLevel.RAMPING


def test_auto_promotion_stops_at_the_configured_level() -> None:
    cfg = PromotionConfig(min_dwell_s=[0.0] * 5, min_fills_at_level=[0] * 5, max_auto_level="MICRO_LIVE",
                          require_confidence_band=False)
    exp = ExposureController(ExposureConfig())
    g = GraduationController(cfg, exp, 0)
    add_fills(g, 1, 1, shadow=True)
    g.step(GOOD, CALM, 0, 0)
    assert exp.level == ExposureLevel.MICRO_LIVE
    add_fills(g, 1, 1)
    ev = PromotionEvidence(**{**{f: getattr(GOOD, f) for f in GOOD.__struct_fields__}, "sim_to_real_gap_bps": 0.5})
    out = g.step(ev, CALM, S, 0)
    assert exp.level == ExposureLevel.MICRO_LIVE and out.evidence_ok  # an operator may promote


def sig(**kw: object) -> DemotionSignals:
    return DemotionSignals(**{**{f: getattr(CALM, f) for f in CALM.__struct_fields__}, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (sig(drawdown_pct=1.5), ExposureLevel.RAMPING),  # drop 2
        (sig(safety_level=SafetyLevel.ORANGE), ExposureLevel.MICRO_LIVE),
        (sig(safety_level=SafetyLevel.RED), ExposureLevel.MICRO_LIVE),
        (sig(safety_level=SafetyLevel.KILL), ExposureLevel.SHADOW),
        (sig(degraded_models=["tox"]), ExposureLevel.CAUTIOUS),
        (sig(sim_to_real_gap_bps=6.0), ExposureLevel.CAUTIOUS),
        (sig(exchange_health=ExchangeHealth.DEGRADED), ExposureLevel.CAUTIOUS),
        (sig(safety_level=SafetyLevel.YELLOW), ExposureLevel.FULL),  # Yellow is not a trigger
        (sig(drawdown_pct=1.5, safety_level=SafetyLevel.ORANGE, degraded_models=["a"]), ExposureLevel.MICRO_LIVE),
    ],
)
def test_each_demotion_trigger_is_instant(signals: DemotionSignals, expected: ExposureLevel) -> None:
    exp, g = ready(ExposureLevel.FULL)
    g.step(GOOD, CALM, 0, 0)
    out = g.step(GOOD, signals, 1, 0)
    assert exp.level == expected
    if expected < ExposureLevel.FULL:
        assert out.demoted is not None and exp.history[-1].kind == "demote" and "auto" in exp.history[-1].reason


def test_a_lasting_trigger_demotes_once_and_rearms_after_clearing() -> None:
    exp, g = ready(ExposureLevel.FULL)
    gap = sig(sim_to_real_gap_bps=6.0)
    g.step(GOOD, gap, 0, 0)
    assert exp.level == ExposureLevel.CAUTIOUS
    for t in range(1, 20):
        g.step(GOOD, gap, t, 0)
    assert exp.level == ExposureLevel.CAUTIOUS
    g.step(GOOD, sig(sim_to_real_gap_bps=4.5), 30, 0)  # inside the re-arm band: still armed-off
    g.step(GOOD, gap, 31, 0)
    assert exp.level == ExposureLevel.CAUTIOUS
    g.step(GOOD, sig(sim_to_real_gap_bps=1.0), 40, 0)  # cleared
    g.step(GOOD, gap, 41, 0)
    assert exp.level == ExposureLevel.RAMPING
    # a second model degrading while the first still is: another onset
    g.step(GOOD, sig(degraded_models=["a"]), 50, 0)
    assert exp.level == ExposureLevel.MICRO_LIVE
    g.step(GOOD, sig(degraded_models=["a", "b"]), 51, 0)
    assert exp.level == ExposureLevel.SHADOW
    assert "model:a" in g.active_triggers and "model:b" in g.active_triggers


def test_exposure_config_bands_are_validated() -> None:
    with pytest.raises(ValueError, match="size_max_multipliers"):
        ExposureConfig(size_max_multipliers=[0.0, 0.01, 0.5, 0.8, 1.0, 1.2])
    with pytest.raises(ValueError, match="size_max_multipliers"):
        ExposureConfig(size_max_multipliers=[0.1, 0.1, 0.5, 0.8, 1.0, 1.2])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_dwell_s": [1.0]}, "promotion.min_dwell_s"),
        ({"confidence_floors": [0.0, 0.3, 0.2, 0.5, 0.7, 0.9]}, "promotion.confidence_floors"),
        ({"max_auto_level": "MOON"}, "promotion.max_auto_level"),
        ({"safety_demote_level": "GREEN"}, "promotion.safety_demote_level"),
        ({"min_positive_edge_pct": 120.0}, "promotion.min_positive_edge_pct"),
        ({"drawdown_demote_levels": 0}, "promotion.drawdown_demote_levels"),
        ({"model_weight": 0.0, "execution_weight": 0.0, "safety_weight": 0.0}, "promotion.model_weight"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        PromotionConfig(**kwargs)  # type: ignore[arg-type]
