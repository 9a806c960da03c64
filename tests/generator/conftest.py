"""Runs shared by the generator tests (each generated once per session)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mm.schema import MarketEvent
from mm.venues.sim.generator import GroundTruth, MarketGenerator
from mm.venues.sim.generator_config import DEFAULT_COINS, CoinSpec, GeneratorConfig

START_TS_NS = 5_000_000_000


@dataclass(frozen=True)
class Run:
    events: list[MarketEvent]
    labels: GroundTruth
    cfg: GeneratorConfig
    coins: list[CoinSpec]
    start_ts_ns: int
    duration_s: float


def make_run(cfg: GeneratorConfig, coins: list[CoinSpec], seed: int, duration_s: float,
             start_ts_ns: int = START_TS_NS) -> Run:
    gen = MarketGenerator(cfg, coins, seed=seed)
    events, labels = gen.generate(start_ts_ns, duration_s)
    return Run(events, labels, cfg, coins, start_ts_ns, duration_s)


# Cascades every few seconds (dwell times of a few seconds, many transitions into Cascade).
CASCADE_RICH = GeneratorConfig(
    mean_dwell_s=(5.0, 6.0, 4.0),
    transitions=(
        (0.0, 0.6, 0.2, 0.2),
        (0.3, 0.0, 0.4, 0.3),
        (0.1, 0.4, 0.0, 0.5),
        (0.0, 0.5, 0.5, 0.0),
    ),
)


@pytest.fixture(scope="session")
def default_run() -> Run:
    return make_run(GeneratorConfig(), list(DEFAULT_COINS.values()), seed=7, duration_s=120.0)


@pytest.fixture(scope="session")
def cascade_run() -> Run:
    coins = [DEFAULT_COINS["BTC"], DEFAULT_COINS["ETH"]]
    return make_run(CASCADE_RICH, coins, seed=11, duration_s=300.0)
