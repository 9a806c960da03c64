"""Alpha engine: AlphaSignal per snapshot, target inventory from the lead-lag skew only
(mean-variance, capped), per-symbol detectors, fitted files; and on the generator's labelled
cascades the signal fires, in the cascade's direction, before Hyperliquid starts moving."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mm.alpha.engine import AlphaConfig, AlphaEngine, divergence_bps, target_inventory_qty
from mm.alpha.leadlag import LeadLagConfig, LeadLagParams
from mm.features.config import ToxicityConfig
from mm.features.engine import FeatureEngine
from mm.models.train import first_alarm_after
from mm.models.training_labels import LabelConfig, replay
from mm.schema import AlphaSignal
from mm.venues.sim.generator import MarketGenerator
from mm.venues.sim.generator_config import GeneratorConfig
from tests.models.helpers import make_snap

MS = 1_000_000


def test_divergence_bps() -> None:
    assert divergence_bps(101.0, 100.0) == pytest.approx(100.0)
    assert divergence_bps(0.0, 100.0) == 0.0


def test_target_inventory_formula_and_caps() -> None:
    cfg = AlphaConfig(risk_aversion_per_bps=1.0, max_target_notional_usd=1000.0, sigma_sample_ms=100)
    sigma_h = 0.1 * math.sqrt(math.pi / 2) * math.sqrt(10.0)
    q = target_inventory_qty(0.1, 0.1, 100.0, 1.0, cfg)
    assert q == pytest.approx(0.1 / sigma_h**2 * 10.0)
    assert target_inventory_qty(50.0, 0.1, 100.0, 1.0, cfg) == pytest.approx(10.0)  # full conviction
    assert target_inventory_qty(-50.0, 0.1, 100.0, 1.0, cfg) == pytest.approx(-10.0)
    assert target_inventory_qty(0.0, 0.1, 100.0, 1.0, cfg) == 0.0
    assert target_inventory_qty(1.0, 0.0, 100.0, 1.0, cfg) == pytest.approx(10.0)  # sigma floored, not 0
    assert target_inventory_qty(1.0, 0.1, 0.0, 1.0, cfg) == 0.0
    with pytest.raises(ValueError, match="risk_aversion"):
        AlphaConfig(risk_aversion_per_bps=0.0)


def test_signal_without_reference_is_flat() -> None:
    eng = AlphaEngine()
    sig = eng.on_snapshot(make_snap(toxicity=2, toxic_prob=0.8), 7)
    assert isinstance(sig, AlphaSignal)
    assert sig.target_inventory == 0.0 and sig.lead_lag_skew_bps == 0.0 and not sig.changepoint
    assert sig.toxicity == 2 and sig.toxic_prob == 0.8 and sig.ts_ns == 7 and sig.seq == 1


def _run(eng: AlphaEngine, symbol_id: int, jump_bps: float) -> AlphaSignal:
    rng = np.random.default_rng(symbol_id)
    sig = None
    for i in range(300):
        mid = 100.0
        ref = mid * math.exp(rng.normal(0, 0.3) / 1e4)
        sig = eng.on_snapshot(make_snap(symbol_id=symbol_id, ts_ns=i * 100 * MS, ref_mid_px=ref, mid_px=mid), 0)
    for i in range(30):
        sig = eng.on_snapshot(make_snap(symbol_id=symbol_id, ts_ns=(300 + i) * 100 * MS, ref_mid_px=100.0,
                                        mid_px=100.0), 0)
    ref = 100.0 * math.exp(jump_bps / 1e4)
    sig = eng.on_snapshot(make_snap(symbol_id=symbol_id, ts_ns=331 * 100 * MS, ref_mid_px=ref, mid_px=100.0), 0)
    assert sig is not None
    return sig


def test_target_follows_the_lead_lag_skew_per_symbol() -> None:
    eng = AlphaEngine()
    up = _run(eng, 0, 4.0)
    down = _run(eng, 1, -4.0)
    assert up.changepoint and up.lead_lag_skew_bps > 0 and up.target_inventory > 0
    assert down.changepoint and down.lead_lag_skew_bps < 0 and down.target_inventory < 0
    assert abs(up.target_inventory) <= eng.cfg.max_target_notional_usd / 100.05 + 1e-9
    assert set(eng.detectors) == {0, 1}


def test_fitted_files_set_the_detector() -> None:
    model = LeadLagParams(symbol="BTC", config=LeadLagConfig(pass_through=0.2))
    eng = AlphaEngine(models={0: model})
    a = _run(eng, 0, 4.0)
    b = _run(AlphaEngine(), 0, 4.0)
    assert eng.detector(0).cfg.pass_through == 0.2
    assert a.lead_lag_skew_bps == pytest.approx(b.lead_lag_skew_bps * 0.2 / 0.8)


def test_signal_fires_before_hyperliquid_moves_on_generated_cascades() -> None:
    gen = MarketGenerator(GeneratorConfig(), ["BTC", "ETH"], 7)
    events, truth = gen.generate(0, 300.0)
    casc = [c for c in truth.cascades if c.symbol_id == 1]
    assert casc, "seed 7 has ETH cascades in its first 300 s"
    evs = [e for e in events if e.symbol_id == 1]
    res = replay(evs, 1, gen.tick_px["ETH"], LabelConfig(), FeatureEngine(1, toxicity=ToxicityConfig(learn=False)),
                 AlphaEngine(), with_joins=False)
    ts = np.asarray(res.s_ts, dtype=np.int64)
    dirs = np.asarray(res.s_dir, dtype=np.int64)
    for c in casc:
        t = first_alarm_after(ts, dirs, c.start_ts_ns, c.direction, 2_000 * MS)
        assert t >= 0, f"no signal for the cascade at {c.start_ts_ns}"
        assert t < c.hl_start_ts_ns  # ahead of Hyperliquid (it lags by 650 ms)
        assert t - c.start_ts_ns < 400 * MS
