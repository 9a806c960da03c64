"""The default order latency is Hyperliquid's documented end-to-end figure: median 0.2 s, p99 0.9 s.

Hyperliquid docs (L1 overview): end-to-end order latency from a co-located client has median
0.2 s and p99 0.9 s. The venue's default draw is the log-normal through those two quantiles
(``latency.py`` gives the derivation); with blocks on, part of it is the wait for the block.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from mm.venues.sim.config import LatencyConfig, VenueConfig
from mm.venues.sim.latency import LatencyModel, lognormal_params

N = 100_000


def _quantiles(xs: list[float]) -> tuple[float, float]:
    a = np.asarray(xs)
    return float(np.median(a)), float(np.quantile(a, 0.99))


def test_default_parameters_are_the_fit_to_the_documented_quantiles() -> None:
    cfg = VenueConfig().latency
    assert (cfg.median_ms, cfg.p99_ms, cfg.mean_ms, cfg.spike_probability) == (200.0, 900.0, 0.0, 0.0)
    mu, sigma = lognormal_params(cfg)
    assert mu == pytest.approx(math.log(200.0)) and mu == pytest.approx(5.29832, abs=1e-5)
    assert sigma == pytest.approx(math.log(4.5) / 2.326348, rel=1e-6) and sigma == pytest.approx(0.64654, abs=1e-5)
    assert math.exp(mu + sigma**2 / 2) == pytest.approx(246.5, abs=0.1)  # the mean, for reference
    assert not cfg.enabled  # the bare test venue is immediate; paper mode switches it on


def test_100k_draws_have_median_0_2_s_and_p99_0_9_s() -> None:
    m = LatencyModel(LatencyConfig(enabled=True), random.Random(16))
    med, p99 = _quantiles([m.sample_ms() for _ in range(N)])
    # standard errors at n = 100k: about 0.5 ms (median) and 7 ms (p99)
    assert med == pytest.approx(200.0, rel=0.02)
    assert p99 == pytest.approx(900.0, rel=0.03)


def test_with_blocks_the_wait_for_the_block_end_completes_the_end_to_end_figure() -> None:
    """Draw less half a block, then the wait to the end of a 70 +/- 20 ms block: the end-to-end
    time (arrival to application) keeps the documented median and p99."""
    block = VenueConfig().matching
    m = LatencyModel(LatencyConfig(enabled=True), random.Random(17))
    rng = random.Random(18)
    total = []
    for _ in range(N):
        length = block.block_ms + rng.uniform(-block.block_jitter_ms, block.block_jitter_ms)
        total.append(m.pre_block_ms(block.block_ms) + rng.uniform(0.0, length))
    med, p99 = _quantiles(total)
    assert med == pytest.approx(200.0, rel=0.03)
    assert p99 == pytest.approx(900.0, rel=0.03)


def test_the_design_notes_parametrisation_is_still_available() -> None:
    m = LatencyModel(LatencyConfig(enabled=True, mean_ms=150.0, std_ms=50.0), random.Random(3))
    xs = np.asarray([m.sample_ms() for _ in range(20_000)])
    assert xs.mean() == pytest.approx(150.0, rel=0.03) and xs.std() == pytest.approx(50.0, rel=0.06)
    assert LatencyModel(LatencyConfig(), random.Random(1)).sample_ms() == 0.0
