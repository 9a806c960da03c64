"""The regime chain does what its config says: dwell times, transitions, volatility."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
import pytest

from mm.schema import Regime
from mm.venues.sim.generator_config import DEFAULT_COINS, GeneratorConfig
from tests.generator._checks import check_labels, ref_mid_series
from tests.generator.conftest import Run, make_run

FAST_CHAIN = GeneratorConfig(mean_dwell_s=(3.0, 4.0, 2.0), cascade_min_s=1.0, cascade_max_s=3.0,
                             initial_regime=int(Regime.QUIET))


@pytest.fixture(scope="module")
def chain_run() -> Run:
    return make_run(FAST_CHAIN, [DEFAULT_COINS["BTC"]], seed=21, duration_s=1800.0)


def test_labels_tile_the_run(chain_run: Run) -> None:
    r = chain_run
    check_labels(r.labels, r.cfg, r.coins, r.start_ts_ns, r.start_ts_ns + 1800 * 1_000_000_000)


def test_mean_dwell_times_are_as_configured(chain_run: Run) -> None:
    durs: dict[int, list[float]] = defaultdict(list)
    for iv in chain_run.labels.regimes[1:-1]:  # the first and last are cut by the run
        durs[iv.regime].append((iv.end_ts_ns - iv.start_ts_ns) / 1e9)
    for reg, mean_s in zip((Regime.QUIET, Regime.NORMAL, Regime.VOLATILE), FAST_CHAIN.mean_dwell_s,
                           strict=True):
        assert len(durs[reg]) >= 60, reg
        assert abs(np.mean(durs[reg]) - mean_s) <= 0.25 * mean_s, (reg, np.mean(durs[reg]))
    cas = np.array(durs[Regime.CASCADE])
    assert len(cas) >= 60
    assert cas.min() >= FAST_CHAIN.cascade_min_s - 1e-3 and cas.max() <= FAST_CHAIN.cascade_max_s + 1e-3
    assert abs(cas.mean() - 0.5 * (FAST_CHAIN.cascade_min_s + FAST_CHAIN.cascade_max_s)) <= 0.2


def test_transition_frequencies_follow_the_matrix(chain_run: Run) -> None:
    counts = np.zeros((4, 4))
    for a, b in itertools.pairwise(chain_run.labels.regimes):
        counts[a.regime, b.regime] += 1
    freq = counts / counts.sum(axis=1, keepdims=True)
    assert np.all(counts.sum(axis=1) >= 60)
    assert np.max(np.abs(freq - np.asarray(FAST_CHAIN.transitions))) <= 0.1


def test_cascade_directions_follow_up_probability(chain_run: Run) -> None:
    dirs = np.array([k.direction for k in chain_run.labels.cascades])
    assert abs(np.mean(dirs == 1) - FAST_CHAIN.cascade_up_prob) <= 0.12


def test_reference_volatility_by_regime_is_as_configured(chain_run: Run) -> None:
    """Realised variance of the Binance mid inside Quiet/Normal/Volatile intervals."""
    ts, mid = ref_mid_series(chain_run.events, 0)
    lr = np.diff(np.log(mid))
    idx_reg = np.full(lr.size, -1)
    for iv in chain_run.labels.regimes:
        # increments wholly inside the interval
        lo = np.searchsorted(ts, iv.start_ts_ns, side="left")
        hi = np.searchsorted(ts, iv.end_ts_ns, side="left")
        if hi - lo >= 2:
            idx_reg[lo:hi - 1] = iv.regime
    for reg in (Regime.QUIET, Regime.NORMAL, Regime.VOLATILE):
        sel = idx_reg == reg
        dt_s = float(np.sum(np.diff(ts)[sel])) / 1e9
        vol_bps = np.sqrt(np.sum(lr[sel] ** 2) / dt_s) * 1e4
        want = FAST_CHAIN.latent_vol_bps[reg] * DEFAULT_COINS["BTC"].vol_mult
        assert abs(vol_bps - want) <= 0.15 * want, (reg, vol_bps, want)
