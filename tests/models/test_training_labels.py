"""Training labels: on hand-made streams every outcome (filled, escaped, horizon, outage),
time, markout edge and toxicity label is the one the definitions give; on a generated stream
the labels keep their invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mm.features.config import ToxicityConfig
from mm.features.engine import FeatureEngine
from mm.models.training_labels import (
    ESCAPED,
    FILLED,
    HORIZON,
    OUTAGE,
    LabelConfig,
    ReplayResult,
    in_outage,
    markout_edges,
    mid_at,
    replay,
    toxicity_labels,
    verdict_first_toxic,
)
from mm.schema import Bbo, BookSnapshot, Toxicity, Trade, Venue
from mm.venues.sim.generator import MarketGenerator
from mm.venues.sim.generator_config import GeneratorConfig

HL = int(Venue.HYPERLIQUID)
S = 1_000_000_000


def snap(t: float) -> BookSnapshot:
    return BookSnapshot(venue=HL, symbol_id=0, ts_ns=int(t * S), remote_ts_ms=0, seq=0, bid_px=[100.0, 99.9],
                        bid_qty=[5.0, 3.0], ask_px=[100.1, 100.2], ask_qty=[4.0, 2.0])


def bbo(t: float, bp: float, bq: float, ap: float, aq: float) -> Bbo:
    return Bbo(venue=HL, symbol_id=0, ts_ns=int(t * S), remote_ts_ms=0, seq=0, bid_px=bp, bid_qty=bq, ask_px=ap,
               ask_qty=aq)


def trade(t: float, px: float, qty: float, side: int) -> Trade:
    return Trade(venue=HL, symbol_id=0, ts_ns=int(t * S), remote_ts_ms=0, seq=0, px=px, qty=qty, side=side)


CFG = LabelConfig(sample_interval_ms=5000, joins=((0, 0.0), (0, 1.0)), horizon_s=3.0, escape_ticks=2,
                  markout_s=1.0, warmup_s=0.0, timer_ms=100, max_gap_ms=5000)


def run(events: list[object], cfg: LabelConfig = CFG):  # type: ignore[no-untyped-def]
    return replay(events, 0, 0.1, cfg, FeatureEngine(0, toxicity=ToxicityConfig(learn=False)))


def by_key(res) -> dict[tuple[int, float], tuple[int, float, float]]:  # type: ignore[no-untyped-def]
    j = res.joins()
    return {(int(s), float(r)): (int(o), (te - t0) / S, float(a))
            for s, r, o, te, t0, a in zip(j["side"], j["rank"], j["outcome"], j["tend"], j["t0"], j["ahead"])}


def test_fills_escape_and_crossing_with_their_times_and_edges() -> None:
    evs = [
        snap(4.0),
        bbo(4.5, 100.0, 5.0, 100.1, 4.0),
        # sample at 5.0 s: bids at 100 (rank 0: 0 ahead; rank 1: 5 ahead), asks at 100.1 (0; 4 ahead)
        trade(5.2, 100.0, 1.0, -1),  # the rank-0 bid fills
        bbo(5.5, 100.0, 4.0, 100.1, 4.0),
        trade(5.8, 100.1, 0.5, +1),  # the rank-0 ask fills
        bbo(6.5, 100.2, 1.0, 100.3, 2.0),  # bids jump 2 ticks over ours: escape; best bid crosses our ask
        bbo(7.5, 100.2, 1.0, 100.3, 2.0),
        bbo(9.5, 100.2, 1.0, 100.3, 2.0),
    ]
    res = run(evs)
    k = by_key(res)
    assert k[(1, 0.0)] == (FILLED, pytest.approx(0.2), 0.0)
    assert k[(-1, 0.0)] == (FILLED, pytest.approx(0.8), 0.0)
    assert k[(1, 1.0)] == (ESCAPED, pytest.approx(1.5), 5.0)
    assert k[(-1, 1.0)] == (FILLED, pytest.approx(1.5), 4.0)  # crossed by the best bid
    edges, m_fill = markout_edges(res, 1.0)
    j = res.joins()
    e = {(int(s), float(r)): v for s, r, v in zip(j["side"], j["rank"], edges)}
    assert e[(1, 0.0)] == pytest.approx((100.05 - 100.0) / 100.0 * 1e4)  # bought at 100, mid 100.05 a second later
    assert e[(-1, 0.0)] == pytest.approx(-(100.25 - 100.1) / 100.1 * 1e4)  # sold at 100.1, mid 100.25 later
    assert math.isnan(e[(1, 1.0)])  # not filled
    # toxicity labels: the sell at 5.2 was followed by a rise (0), the buy at 5.8 by one (1)
    y = toxicity_labels(res, 2.0, 2.0)
    assert list(y) == [0.0, 1.0]
    assert res.tr_mid == [pytest.approx(100.05), pytest.approx(100.05)]


def test_horizon_and_outage_censoring() -> None:
    evs = [snap(4.0)] + [bbo(4.0 + 0.5 * i, 100.0, 5.0, 100.1, 4.0) for i in range(1, 12)]  # to 9.5 s
    evs += [bbo(16.0, 100.0, 5.0, 100.1, 4.0)]  # 6.5 s gap: an outage
    res = run(evs)
    k = by_key(res)
    assert all(v[0] == HORIZON and v[1] == pytest.approx(3.0) for v in k.values())
    assert res.outages == [(int(9.5 * S), int(16.0 * S))]
    # joins open when the data stops are censored where it stopped
    evs2 = [snap(4.0)] + [bbo(4.0 + 0.5 * i, 100.0, 5.0, 100.1, 4.0) for i in range(1, 5)]  # to 6.0 s
    evs2 += [bbo(12.0, 100.0, 5.0, 100.1, 4.0)]
    k2 = by_key(run(evs2))
    assert all(v[0] == OUTAGE and v[1] == pytest.approx(1.0) for v in k2.values())


def test_mid_tape_helpers() -> None:
    ts = np.array([10, 20, 30], dtype=np.int64)
    mids = np.array([1.0, 2.0, 3.0])
    got = mid_at(ts, mids, [5, 10, 25, 99])
    assert math.isnan(got[0]) and list(got[1:]) == [1.0, 2.0, 3.0]
    bad = in_outage([(40, 60)], np.array([0, 35, 45, 61]), np.array([30, 41, 50, 70]), last_ts_ns=65)
    assert list(bad) == [False, True, True, True]


def test_verdict_first_toxic_counts_trades_and_honours_a_verdict_in_force() -> None:
    r = ReplayResult()
    r.v_ts = [10, 20, 30, 40, 50]
    r.v_level = [1, 1, 1, 2, 1]
    r.v_is_trade = [True, False, True, True, False]
    assert verdict_first_toxic(r, 15, 100) == (40, 2)
    assert verdict_first_toxic(r, 45, 100) == (45, 0)
    assert verdict_first_toxic(r, 51, 100) == (-1, -1)
    assert int(Toxicity.TOXIC) == 2


def test_generated_stream_label_invariants() -> None:
    gen = MarketGenerator(GeneratorConfig(), ["BTC"], 3)
    events, _ = gen.generate(0, 120.0)
    cfg = LabelConfig(warmup_s=10.0)
    res = replay(events, 0, gen.tick_px["BTC"], cfg, FeatureEngine(0, toxicity=ToxicityConfig(learn=False)))
    j = res.joins()
    n = j["t0"].size
    assert n > 1000 and len(res.snapshots) > 300
    assert set(np.unique(j["outcome"])) <= {HORIZON, FILLED, ESCAPED, OUTAGE}
    dur = j["tend"] - j["t0"]
    assert np.all(dur >= 0) and np.all(dur <= int(cfg.horizon_s * S))
    assert np.all(j["t0"] >= 10 * S)  # warm-up respected
    assert np.all(j["ahead"] >= 0)
    # a rank-1 join never had less ahead than the rank-0 join of the same sample and side
    for lvl_side in (1, -1):
        a0 = j["ahead"][(j["side"] == lvl_side) & (j["rank"] == 0.0) & (j["level"] == 0)]
        a1 = j["ahead"][(j["side"] == lvl_side) & (j["rank"] == 1.0) & (j["level"] == 0)]
        assert np.all(a0 == 0.0) and np.all(a1 >= a0)
    filled = j["outcome"] == FILLED
    assert 0.2 < filled.mean() < 0.9
    edges, _ = markout_edges(res, cfg.markout_s)
    assert np.isfinite(edges[filled]).mean() > 0.9 and np.all(np.isnan(edges[~filled]))
    assert len(res.v_ts) == len(res.v_x) == len(res.v_level)
    assert len(res.s_ts) == 0  # no alpha given
