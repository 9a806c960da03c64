"""The reference's own-move changepoint (mm.features.lead_move)."""

from __future__ import annotations

import numpy as np
import pytest

from mm.features.lead_move import LeadMoveConfig, LeadMoveDetector

MS = 1_000_000


def _quiet(det: LeadMoveDetector, n: int, seed: int = 0, sigma_bps: float = 0.2) -> tuple[int, float, int]:
    rng = np.random.default_rng(seed)
    t, px, alarms = 0, 100.0, 0
    for _ in range(n):
        px *= 1.0 + sigma_bps * 1e-4 * rng.standard_normal()
        t += 100 * MS
        det.update(t, px)
        alarms += det.alarm
    return t, px, alarms


def test_quiet_noise_rarely_alarms_and_a_drift_fires_within_two_updates() -> None:
    det = LeadMoveDetector()
    t, px, alarms = _quiet(det, 3000)
    assert alarms / 3000 < 0.1
    assert det.sigma_bps == pytest.approx(0.2 * np.sqrt(10.0), rel=0.2)  # per sqrt(s) at 10 updates/s
    while det.alarm:  # let a noise alarm (if any) end
        t, px, _ = _quiet(det, 1, seed=t)
    seen = []
    for _ in range(3):  # 2 bps per 100 ms down: ~3 noise units per update
        px *= 1.0 - 2e-4
        t += 100 * MS
        det.update(t, px)
        seen.append(det.direction)
    assert -1 in seen[:2]
    assert det.move_bps >= 4.0 - 1e-9  # the move since the onset, in the alarm's direction


def test_an_unchanged_price_is_no_update_and_a_gap_resets() -> None:
    det = LeadMoveDetector(LeadMoveConfig(warmup_updates=0))
    assert not det.update(0, 100.0)
    for i in range(1, 5):
        det.update(i * 100 * MS, 100.0 + 0.01 * (i % 2))
    n_before = det.sigma_bps
    det.update(5 * 100 * MS, 100.0 + 0.01 * (4 % 2))  # same as last: nothing learnt
    assert det.sigma_bps == n_before
    det.update(20_000 * MS, 90.0)  # after a 20 s gap: a fresh start, no alarm on the jump
    assert not det.alarm


def test_disabled_and_bad_input() -> None:
    det = LeadMoveDetector(LeadMoveConfig(enabled=False))
    assert not det.update(0, 100.0) and not det.alarm
    det = LeadMoveDetector()
    assert not det.update(0, float("nan")) and not det.update(0, -1.0)
    with pytest.raises(ValueError, match="cusum_cap"):
        LeadMoveConfig(fire_threshold=5.0, cusum_cap=4.0)
    with pytest.raises(ValueError, match="hold_ms"):
        LeadMoveConfig(hold_ms=-1)
