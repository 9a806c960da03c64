"""Risk scenarios on the sim venue's matching engine (mm.replay: the real execution engine
quoting against mm.venues.sim's matching engine on a generated market with a cascade, risk's
RiskAuthority publishing ControlState every 100 ms as procs/risk.py does).

A touch quoter at full exposure is filled through a cascade; with 100 USD of capital its
losses cross 0.5% (Yellow) and then 1% of capital (Orange, and the drawdown / safety
demotion triggers): each escalation happens at the first control cycle after the loss, the
exposure demotion in that same cycle, and the ControlState of that cycle already carries
both (size: Orange's x0.25 times MicroLive's 5-10%)."""

from __future__ import annotations

from typing import Any

import pytest

from mm.execution.config import ExecutionConfig
from mm.graduation.exposure import ExposureConfig
from mm.replay.engine import CoinSpec, ReplayConfig, ReplayEngine, ReplayResult
from mm.risk.authority import RiskAuthority
from mm.risk.config import EscalationConfig, RiskConfig
from mm.schema import ExposureLevel, Fill, SafetyLevel, StateSnapshot
from mm.venues.sim.generator import MarketGenerator
from tests.replay.test_replay import CASCADE_CFG, T0, WARMUP_NS

CONTROL_NS = 100_000_000  # ReplayConfig.control_ms, procs/risk.py's control period


class WatchedRisk(RiskAuthority):
    """The authority, noting when (at mark granularity) the drawdown from the peak it holds
    first exceeds each threshold."""

    thresholds = (0.5, 1.0)

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.crossed: dict[float, int] = {}

    def _watch(self, now_ns: int) -> None:
        eq = self.risk_cfg.capital_usd + self.positions.total_pnl()
        dd = max(self.drawdown.peak_usd - eq, 0.0) / self.risk_cfg.capital_usd * 100.0
        for th in self.thresholds:
            if dd > th and th not in self.crossed:
                self.crossed[th] = now_ns

    def on_snapshot(self, snap: StateSnapshot, now_ns: int, sigma_sample_ms: float = 100.0) -> None:
        super().on_snapshot(snap, now_ns, sigma_sample_ms)
        self._watch(now_ns)

    def on_fill(self, fill: Fill, **kw: Any) -> bool:
        ok = super().on_fill(fill, **kw)
        self._watch(fill.ts_ns)
        return ok


class Engine(ReplayEngine):
    def _new_risk(self, start_ns: int) -> RiskAuthority:
        return WatchedRisk(ExposureConfig(start_level="FULL"),
                           risk=RiskConfig(capital_usd=100.0, notional_cap_usd=1e6),
                           escalation=EscalationConfig(red_on_cascade=False),  # the drawdown alone
                           symbols=["BTC"], start_ns=start_ns)


@pytest.fixture(scope="module")
def run() -> tuple[Engine, ReplayResult]:
    evs, _ = MarketGenerator(CASCADE_CFG, coins=["BTC"], seed=7).generate(T0, 150.0)
    eng = Engine([CoinSpec("BTC", 5)], ReplayConfig(seed=1, risk="authority"), ExecutionConfig(policy="touch"))
    return eng, eng.run(list(evs), T0 + WARMUP_NS)


def test_drawdown_escalates_and_demotes_within_one_cycle(run: tuple[Engine, ReplayResult]) -> None:
    eng, res = run
    risk = eng.risk
    assert isinstance(risk, WatchedRisk)
    assert res.fills, "the touch quoter must trade on the sim venue"
    assert set(risk.crossed) == {0.5, 1.0}, f"the scenario needs a 1% drawdown (max {risk.drawdown.max_drawdown_pct})"
    esc = {h.to_level: h for h in risk.escalator.history if "drawdown" in h.reason}
    y, o = esc[SafetyLevel.YELLOW], esc[SafetyLevel.ORANGE]
    lag_y = y.ts_ns - risk.crossed[0.5]
    lag_o = o.ts_ns - risk.crossed[1.0]
    print(f"\nsim drawdown scenario: 0.5% crossed at +{(risk.crossed[0.5] - T0) / 1e9:.2f} s, Yellow "
          f"{lag_y / 1e6:.1f} ms later; 1% at +{(risk.crossed[1.0] - T0) / 1e9:.2f} s, Orange and demotion "
          f"{lag_o / 1e6:.1f} ms later; {len(res.fills)} fills")
    assert 0 <= lag_y <= CONTROL_NS and 0 <= lag_o <= CONTROL_NS
    dem = [h for h in risk.exposure.history if h.kind != "promote" and h.ts_ns >= o.ts_ns]
    assert dem and dem[0].ts_ns == o.ts_ns, "the demotion is in the escalation's cycle"
    assert dem[0].from_level == ExposureLevel.FULL and dem[0].to_level == ExposureLevel.MICRO_LIVE
    assert "drawdown" in dem[0].reason
    ctl = next(c for c in res.controls if c[0] == o.ts_ns)
    # size: Orange's x0.25 times MicroLive's band (5-10%, placed by the overall confidence)
    orange = risk.escalator.cfg.orange_size_multiplier
    assert ctl[3] == SafetyLevel.ORANGE and orange * 0.05 - 1e-12 <= ctl[1] <= orange * 0.10 + 1e-12
