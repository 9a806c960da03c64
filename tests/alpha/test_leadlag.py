"""Predictive lead-lag: the CUSUM fires on the first divergence the noise cannot explain,
in its direction, with skew scaled by it; it stays quiet on noise and on a constant basis;
and on the generator's stream it fires well before Hyperliquid moves."""

from __future__ import annotations

import itertools
import math

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.alpha.leadlag import (
    LeadLagConfig,
    LeadLagDetector,
    LeadLagParams,
    decode_params,
    encode_params,
    raw_divergence_bps,
)

MS = 1_000_000


def feed(det: LeadLagDetector, devs_bps: list[float], t0: int = 0, step_ms: int = 100, mid: float = 100.0,
         basis_bps: float = 0.0) -> list[object]:
    out = []
    for i, d in enumerate(devs_bps):
        ref = mid * math.exp((d + basis_bps) / 1e4)
        out.append(det.update(t0 + i * step_ms * MS, ref, mid))
    return out


def warm(det: LeadLagDetector, n: int = 400, sd: float = 0.3, seed: int = 0, basis_bps: float = 0.0) -> int:
    """Noise to learn the scale, then a calm stretch so that no alarm is up; returns the next time."""
    rng = np.random.default_rng(seed)
    feed(det, [*rng.normal(0.0, sd, n), *([0.0] * 30)], basis_bps=basis_bps)
    assert not det.last.changepoint
    return (n + 30) * 100 * MS


def test_raw_divergence() -> None:
    assert raw_divergence_bps(101.0, 100.0) == pytest.approx(math.log(1.01) * 1e4)
    assert raw_divergence_bps(0.0, 100.0) == 0.0
    assert raw_divergence_bps(100.0, math.nan) == 0.0


def test_quiet_on_noise() -> None:
    det = LeadLagDetector()
    rng = np.random.default_rng(1)
    states = feed(det, list(rng.normal(0.0, 0.3, 6000)))  # 10 minutes of white noise
    share = np.mean([s.changepoint for s in states[100:]])  # type: ignore[attr-defined]
    assert share < 0.03  # the documented false-alarm rate of the defaults: about 2%


def test_a_jump_fires_on_the_update_that_shows_it_in_its_direction() -> None:
    for sign in (1, -1):
        det = LeadLagDetector()
        t = warm(det)
        fires = det.fires
        st = det.update(t, 100.0 * math.exp(sign * 3.0 / 1e4), 100.0)  # Binance 3 bps away: ~10 noise units
        assert st.changepoint and st.direction == sign
        assert st.skew_bps * sign > 0
        assert abs(st.skew_bps) <= det.cfg.pass_through * abs(st.dev_bps) + 1e-9
        assert det.fires == fires + 1


def test_skew_grows_from_first_sign_to_confirmation_and_scales_with_the_divergence() -> None:
    det = LeadLagDetector()
    t = warm(det)
    skews = []
    confs = []
    for k in range(8):  # a divergence building 0.5 bps per update
        st = det.update(t + k * 100 * MS, 100.0 * math.exp(0.5 * (k + 1) / 1e4), 100.0)
        skews.append(st.skew_bps)
        confs.append(st.confidence)
    fired = [i for i, s in enumerate(skews) if s != 0.0]
    assert fired and fired[0] <= 3  # the first statistical divergence, not the confirmation
    assert all(b >= a for a, b in itertools.pairwise(confs))
    assert confs[-1] == 1.0 and skews[-1] == pytest.approx(det.cfg.pass_through * 4.0, rel=0.1)
    assert skews[fired[0]] < 0.5 * skews[-1]  # small skew first, full skew at confirmation


def test_skew_fades_when_hyperliquid_catches_up() -> None:
    det = LeadLagDetector()
    t = warm(det)
    st = det.update(t, 100.0 * math.exp(4e-4), 100.0)
    assert st.skew_bps > 1.0
    st = det.update(t + 100 * MS, 100.0 * math.exp(4e-4), 100.0 * math.exp(4e-4))  # HL followed
    assert abs(st.skew_bps) < 0.2


def test_a_constant_basis_is_not_a_divergence() -> None:
    det = LeadLagDetector()
    rng = np.random.default_rng(2)
    states = feed(det, list(rng.normal(0.0, 0.3, 3000)), basis_bps=-6.0)  # USDT vs USDC quotes
    assert np.mean([s.changepoint for s in states[100:]]) < 0.03  # type: ignore[attr-defined]
    assert det.basis_bps == pytest.approx(-6.0, abs=0.2)


def test_cap_and_gap_reset_and_missing_prices() -> None:
    cfg = LeadLagConfig(max_skew_bps=2.0)
    det = LeadLagDetector(cfg)
    t = warm(det)
    st = det.update(t, 100.0 * math.exp(50e-4), 100.0)
    assert st.skew_bps == 2.0
    none = det.update(t + MS, 0.0, 100.0)
    assert not none.changepoint and none.skew_bps == 0.0
    st = det.update(t + 60_000 * MS, 100.0 * math.exp(50e-4), 100.0)  # after a 60 s outage: a fresh start
    assert not st.changepoint and det.basis_bps == pytest.approx(50.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=1, max_size=120))
def test_skew_is_bounded_and_follows_the_alarm(devs: list[float]) -> None:
    det = LeadLagDetector(LeadLagConfig(warmup_updates=5))
    for s in feed(det, devs):
        assert abs(s.skew_bps) <= det.cfg.max_skew_bps  # type: ignore[attr-defined]
        assert 0.0 <= s.confidence <= 1.0  # type: ignore[attr-defined]
        assert s.skew_bps * s.direction >= 0.0  # type: ignore[attr-defined]
        assert s.changepoint == (s.direction != 0)  # type: ignore[attr-defined]
        if not s.changepoint:  # type: ignore[attr-defined]
            assert s.skew_bps == 0.0  # type: ignore[attr-defined]


def test_config_validation_and_file() -> None:
    with pytest.raises(ValueError, match="fire_threshold"):
        LeadLagConfig(fire_threshold=9.0, confirm_threshold=8.0)
    with pytest.raises(ValueError, match="pass_through"):
        LeadLagConfig(pass_through=-0.1)
    p = LeadLagParams(symbol="BTC", config=LeadLagConfig(pass_through=1.1), metrics={"x": 1.0})
    assert decode_params(encode_params(p)) == p
    with pytest.raises(ValueError, match="format"):
        decode_params(msgspec.json.encode(msgspec.structs.replace(p, format="nope")))
    with pytest.raises(ValueError):
        decode_params(b'{"format": "mm.leadlag", "version": 1, "symbol": "X", "config": {"min_noise_bps": -1}}')


def test_the_reference_move_channel_signals_on_the_first_updates_of_a_drift() -> None:
    import numpy as np

    from mm.alpha.leadlag import LeadLagConfig, LeadLagDetector

    det = LeadLagDetector(LeadLagConfig())
    rng = np.random.default_rng(5)
    t, ref, mid = 0, 100.0, 100.0
    for _ in range(2000):  # quiet: the reference wanders 0.2 bps per 100 ms, our mid follows
        ref *= 1.0 + 0.2e-4 * rng.standard_normal()
        mid = 0.5 * (mid + ref)
        t += 100_000_000
        det.update(t, ref, mid)
    while det.last.changepoint:
        t += 100_000_000
        det.update(t, ref, mid)
    skews = []
    for _ in range(2):  # the reference drifts up 2 bps per update; our mid has not moved yet
        ref *= 1.0 + 2e-4
        t += 100_000_000
        skews.append(det.update(t, ref, mid).skew_bps)
    assert max(skews) > 0.0 and min(skews) >= 0.0
