"""Order and cancel latency of the paper venue: log-normal with occasional spikes.

This module owns the draw of how long an action takes between reaching the venue and
taking effect (graduation design notes: log-normal, mean 150 ms, sd 50 ms, 1% spikes of
500 ms and more). Hyperliquid's own figures for a co-located client are a median of 0.2 s
and a p99 of 0.9 s end to end (ARCHITECTURE). Pure: the caller passes the RNG.

The log-normal is parametrised by the mean ``m`` and standard deviation ``s`` of the delay
itself: ``sigma^2 = ln(1 + s^2/m^2)``, ``mu = ln(m) - sigma^2 / 2``.
"""

from __future__ import annotations

import math
import random

from mm.venues.sim.config import LatencyConfig


class LatencyModel:
    """Draws action delays in milliseconds; always 0 when disabled."""

    __slots__ = ("_cfg", "_mu", "_rng", "_sigma")

    def __init__(self, cfg: LatencyConfig, rng: random.Random) -> None:
        self._cfg = cfg
        self._rng = rng
        mean = max(cfg.mean_ms, 1e-9)
        var_ratio = (cfg.std_ms / mean) ** 2
        self._sigma = math.sqrt(math.log1p(var_ratio))
        self._mu = math.log(mean) - self._sigma**2 / 2

    @property
    def enabled(self) -> bool:
        return self._cfg.enabled

    def sample_ms(self) -> float:
        """One delay: a log-normal draw plus, with the spike probability, a uniform spike."""
        if not self._cfg.enabled:
            return 0.0
        delay = self._rng.lognormvariate(self._mu, self._sigma) if self._cfg.std_ms > 0 else self._cfg.mean_ms
        if self._cfg.spike_probability > 0 and self._rng.random() < self._cfg.spike_probability:
            delay += self._rng.uniform(self._cfg.spike_min_ms, self._cfg.spike_max_ms)
        return delay
