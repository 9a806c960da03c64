"""Shadow -> MicroLive on evidence, on the sim venue (issue 7: the clean-run and refused-promote
scenarios with the real execution engine and risk authority).

mm.replay runs the real ExecutionEngine against the sim venue's matching engine on a generated
market, and a RiskAuthority publishing ControlState every 100 ms. At Shadow execution places
nothing; the variants simulator's track of the active policy fills its would-be quotes, and the
engine's ``drain_shadow_fills`` go to risk as procs/execution.py publishes them on the ex ring
(here: to ``RiskAuthority.on_shadow_fill``, through the replay's ex queue). The promotion
criteria are made small by config only (dwell 20 s, 50 fills at Shadow); the quoting model's
information-ratio thresholds are set out of the way (the touch baseline quotes at the touch
whatever its queue value says), so what is judged is the shadow fills' count and markout
edge, the toxicity classifier's Brier at those fills, drawdown, safety and the dwell."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from mm.execution.config import ExecutionConfig
from mm.graduation.exposure import ExposureConfig
from mm.replay.engine import _EX, _P_US, CoinSpec, ReplayConfig, ReplayEngine, ReplayResult
from mm.risk.authority import TOXICITY_MODEL, Ack, RiskAuthority
from mm.risk.config import PromotionConfig, ValidationConfig
from mm.schema import ControlState, ExposureLevel, OperatorCommand, ShadowFill
from mm.venues.sim.generator import GeneratorConfig, MarketGenerator

T0 = 1_700_000_000 * 10**9
S = 10**9
WARMUP_NS = 20 * S
DWELL_S = 20.0
MIN_FILLS = 50
PROMO = PromotionConfig(min_dwell_s=[DWELL_S, 600.0, 600.0, 600.0, 600.0],
                        min_fills_at_level=[MIN_FILLS, 100, 100, 100, 100],
                        max_brier=0.25, min_information_ratio=-100.0, model_degraded_ir=-100.0,
                        min_positive_edge_pct=40.0, max_auto_level="MICRO_LIVE")
VALID = ValidationConfig(retire_ir=-100.0, healthy_min_ir=-99.0, max_edge_bias_bps=100.0,
                         calibration_slope_min=-100.0, calibration_slope_max=100.0)


class TracedRisk(RiskAuthority):
    """The authority, noting each control cycle (time, level, hold clock, fills at level) and
    when the first shadow fill arrived."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.trace: list[tuple[int, int, int | None, int]] = []
        self.first_shadow_ns: int | None = None
        self.last_shadow_ns: int | None = None

    def on_shadow_fill(self, sf: ShadowFill) -> bool:
        if self.first_shadow_ns is None:
            self.first_shadow_ns = sf.ts_ns
        self.last_shadow_ns = sf.ts_ns
        return super().on_shadow_fill(sf)

    def control_state(self, now_ns: int, wall_ns: int | None = None) -> ControlState:
        cs = super().control_state(now_ns, wall_ns)
        self.trace.append((now_ns, cs.exposure_level, self.graduation.state_ok_since_ns,
                           self.graduation.fills_at_level))
        return cs


class ShadowReplay(ReplayEngine):
    """The replay with execution's shadow fills delivered to risk (as on the ex ring)."""

    promotion = PROMO

    def _new_risk(self, start_ns: int) -> RiskAuthority:
        return TracedRisk(ExposureConfig(start_level="SHADOW"), promotion=self.promotion, validation=VALID,
                          symbols=[c.name for c in self.coins], start_ns=start_ns)

    def _flush(self, t: int) -> None:
        super()._flush(t)
        for sf in self.ex.drain_shadow_fills():
            self._push(t, _P_US, _EX, sf)

    def _on_ex(self, t: int, msg: Any) -> None:
        if isinstance(msg, ShadowFill):
            if self._risk_on(t):
                self.risk.on_shadow_fill(msg)
            return
        super()._on_ex(t, msg)


def run(seconds: float, promotion: PromotionConfig = PROMO) -> tuple[ShadowReplay, TracedRisk, ReplayResult]:
    evs, _ = MarketGenerator(GeneratorConfig(), coins=["BTC"], seed=3).generate(T0, seconds)
    eng = ShadowReplay([CoinSpec("BTC", 5)], ReplayConfig(seed=1, fee_tier="rebate3"), ExecutionConfig(policy="touch"))
    eng.promotion = promotion
    res = eng.run(list(evs), T0 + WARMUP_NS)
    assert isinstance(eng.risk, TracedRisk)
    return eng, eng.risk, res


@pytest.fixture(scope="module")
def clean() -> tuple[ShadowReplay, TracedRisk, ReplayResult]:
    return run(120.0)


def test_clean_run_promotes_shadow_to_microlive_only_after_the_dwell(
        clean: tuple[ShadowReplay, TracedRisk, ReplayResult]) -> None:
    eng, risk, res = clean
    assert not res.fills, "at Shadow nothing is placed, so nothing really fills"
    assert risk.positions.total_pnl() == 0.0 and all(p.qty == 0.0 for p in risk.positions.positions.values())
    assert risk.shadow_fills >= MIN_FILLS and risk.first_shadow_ns is not None
    promoted = [i for i, row in enumerate(risk.trace) if row[1] == ExposureLevel.MICRO_LIVE]
    assert promoted, risk.evidence_why
    i = promoted[0]
    at = risk.trace[i][0]
    held_since = risk.trace[i - 1][2]
    assert held_since is not None
    # not before the criteria held for the dwell, nor before the evidence began plus the dwell
    assert at - held_since >= DWELL_S * S
    assert at >= risk.first_shadow_ns + DWELL_S * S
    assert risk.trace[i - 1][3] >= MIN_FILLS  # the fills at Shadow were there
    assert all(row[1] == ExposureLevel.SHADOW for row in risk.trace[:i])
    assert all(row[1] == ExposureLevel.MICRO_LIVE for row in risk.trace[i:])  # one level, max_auto_level
    h = risk.exposure.history[-1]
    assert h.kind == "promote" and h.who == "risk" and h.ts_ns == at
    card = risk.validator.cards[TOXICITY_MODEL]
    assert card.brier_score is not None and card.brier_score < PROMO.max_brier
    print(f"\nsim shadow promotion: first shadow fill +{(risk.first_shadow_ns - T0) / 1e9:.1f} s, criteria held "
          f"from +{(held_since - T0) / 1e9:.1f} s, MicroLive at +{(at - T0) / 1e9:.1f} s; {risk.shadow_fills} "
          f"shadow fills, toxicity Brier {card.brier_score:.3f}, "
          f"{risk.graduation.positive_at_level} positive at MicroLive")


def test_above_shadow_no_shadow_fill_is_made_and_none_counts(
        clean: tuple[ShadowReplay, TracedRisk, ReplayResult]) -> None:
    eng, risk, res = clean
    at = next(row[0] for row in risk.trace if row[1] == ExposureLevel.MICRO_LIVE)
    assert eng.ex.shadow_fills_total == risk.shadow_fills  # every one made reached risk
    assert risk.last_shadow_ns is not None and risk.last_shadow_ns <= at  # none made once MicroLive is out
    assert risk.shadow_fills_above_shadow == 0
    assert res.end_ns - at > 30 * S  # and the run went on long enough to have made more
    # MicroLive's evidence is real fills only
    assert risk.graduation.fills_at_level == sum(1 for f in res.fills if f.ts_ns >= at)


def test_promote_without_evidence_is_refused_on_the_sim_venue() -> None:
    manual = msgspec.structs.replace(PROMO, auto_promote=False)
    eng, risk, res = run(30.0, manual)  # 10 s of trading: fewer than the dwell
    assert risk.exposure.level == ExposureLevel.SHADOW and not risk.evidence_ok
    now = res.end_ns
    ack, text = risk.on_command(OperatorCommand(ts_ns=now, seq=1, verb="promote", reason="looks fine", who="carol"),
                                1_700_000_000 * S)
    assert ack == Ack.REFUSED and "--force" in text
    assert "dwell" in text or "held" in text or "fills" in text
    h = risk.exposure.history[-1]
    assert h.kind == "refused" and h.who == "carol" and risk.exposure.level == ExposureLevel.SHADOW
    assert risk.control_state(now + S // 10).size_multiplier == 0.0
