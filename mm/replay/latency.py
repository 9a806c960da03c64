"""Latency models of the replay: market data, orders, cancels and the venue's answers.

Each model draws a one-way delay in nanoseconds from a ``random.Random`` the replay owns
(one per run, seeded), so a run is deterministic for its seed. Three families:

- **constant**: ``d = c``.
- **log-normal with spikes**: ``d = exp(mu + sigma * Z)`` plus, with probability ``p``, a
  spike ``U(spike_min, spike_max)``; ``mu = ln(median)``, ``sigma = ln(p99 / median) /
  z_0.99`` (the paper venue's :mod:`mm.venues.sim.latency`, reused here: two quantiles fix
  the distribution; Hyperliquid documents median 0.2 s, p99 0.9 s end to end).
- **empirical**: a recorded sample of round trips ``r_1..r_n`` (ms); a draw picks one
  uniformly and takes ``frac * r_i`` (``frac = 0.5`` for one leg of a round trip), i.e.
  the empirical distribution of the measured delays, nothing fitted.

Spec strings (CLI and config)::

    const:MS
    lognormal:MEDIAN_MS,P99_MS[,SPIKE_P,SPIKE_MIN_MS,SPIKE_MAX_MS]
    empirical:MS,MS,...[@FRAC]      (or empirical:file=PATH[@FRAC], one value per line; parsed by the CLI)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from mm.venues.sim.config import LatencyConfig
from mm.venues.sim.latency import LatencyModel

NS_PER_MS = 1_000_000


class Latency(Protocol):
    """A one-way delay distribution."""

    spec: str

    def sample_ns(self, rng: random.Random) -> int: ...


class ConstantLatency:
    """``d = delay_ms`` always."""

    def __init__(self, delay_ms: float) -> None:
        if not delay_ms >= 0.0:
            raise ValueError(f"constant latency: must be >= 0 ms, got {delay_ms!r}")
        self.delay_ns = round(delay_ms * NS_PER_MS)
        self.spec = f"const:{delay_ms:g}"

    def sample_ns(self, rng: random.Random) -> int:
        return self.delay_ns


class LogNormalLatency:
    """Log-normal by median and p99, plus uniform spikes with probability ``spike_p``."""

    def __init__(self, median_ms: float, p99_ms: float, spike_p: float = 0.0, spike_min_ms: float = 500.0,
                 spike_max_ms: float = 2000.0) -> None:
        if not (median_ms > 0.0 and p99_ms >= median_ms):
            raise ValueError("lognormal latency: need 0 < median <= p99")
        if not (0.0 <= spike_p <= 1.0 and 0.0 <= spike_min_ms <= spike_max_ms):
            raise ValueError("lognormal latency: need 0 <= spike_p <= 1 and 0 <= spike_min <= spike_max")
        self.cfg = LatencyConfig(enabled=True, median_ms=median_ms, p99_ms=p99_ms, spike_probability=spike_p,
                                 spike_min_ms=spike_min_ms, spike_max_ms=spike_max_ms)
        self.spec = f"lognormal:{median_ms:g},{p99_ms:g},{spike_p:g},{spike_min_ms:g},{spike_max_ms:g}"
        self._models: dict[int, LatencyModel] = {}

    def sample_ns(self, rng: random.Random) -> int:
        m = self._models.get(id(rng))
        if m is None:
            m = LatencyModel(self.cfg, rng)
            self._models = {id(rng): m}  # one run's RNG at a time
        return round(m.sample_ms() * NS_PER_MS)


class EmpiricalLatency:
    """A uniform draw from recorded round trips (ms), times ``frac`` (0.5 = one leg)."""

    def __init__(self, round_trips_ms: Sequence[float], frac: float = 0.5) -> None:
        rts = [float(x) for x in round_trips_ms]
        if not rts or any(not x >= 0.0 for x in rts):
            raise ValueError("empirical latency: need at least one round trip >= 0 ms")
        if not 0.0 < frac <= 1.0:
            raise ValueError("empirical latency: frac must be in (0, 1]")
        self.delays_ns = [round(x * frac * NS_PER_MS) for x in rts]
        self.spec = f"empirical:n={len(rts)},frac={frac:g}"

    def sample_ns(self, rng: random.Random) -> int:
        return self.delays_ns[rng.randrange(len(self.delays_ns))]


def parse_latency(spec: str) -> Latency:
    """A model from its spec string (see the module docstring)."""
    kind, _, rest = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "const":
        return ConstantLatency(float(rest))
    if kind == "lognormal":
        xs = [float(x) for x in rest.split(",") if x.strip()]
        if len(xs) not in (2, 3, 5):
            raise ValueError(f"lognormal latency: 2, 3 or 5 numbers, got {spec!r}")
        return LogNormalLatency(*xs)
    if kind == "empirical":
        body, _, frac = rest.partition("@")
        xs = [float(x) for x in body.replace("\n", ",").split(",") if x.strip()]
        return EmpiricalLatency(xs, float(frac) if frac else 0.5)
    raise ValueError(f"latency: unknown kind in {spec!r} (const, lognormal, empirical)")
