"""The generated stream: valid, ordered, deterministic, streaming, and shaped like the venue."""

from __future__ import annotations

import itertools

import msgspec
import numpy as np
import pytest

from mm.schema import Bbo, BookSnapshot, Trade, Venue
from mm.venues.sim.generator import MarketGenerator
from mm.venues.sim.generator_config import DEFAULT_COINS, CoinSpec, GeneratorConfig
from tests.generator._checks import check_stream
from tests.generator.conftest import Run, make_run

HL = int(Venue.HYPERLIQUID)
BN = int(Venue.BINANCE)


def _encode(events: list) -> bytes:
    return msgspec.msgpack.encode(events)


def test_default_stream_is_valid(default_run: Run) -> None:
    r = default_run
    check_stream(r.events, r.labels, r.cfg, r.coins, r.start_ts_ns, r.duration_s)


def test_stream_has_every_event_kind_per_coin(default_run: Run) -> None:
    for c in range(len(default_run.coins)):
        kinds = {(type(e).__name__, e.venue) for e in default_run.events if e.symbol_id == c}
        assert kinds == {("Trade", HL), ("Bbo", HL), ("BookSnapshot", HL), ("Trade", BN), ("Bbo", BN),
                         ("RefPrice", BN)}


def test_same_seed_same_stream_and_labels() -> None:
    coins = [DEFAULT_COINS["BTC"], DEFAULT_COINS["WLFI"]]
    a = make_run(GeneratorConfig(), coins, seed=3, duration_s=20.0)
    b = make_run(GeneratorConfig(), coins, seed=3, duration_s=20.0)
    assert _encode(a.events) == _encode(b.events)
    assert msgspec.json.encode(a.labels) == msgspec.json.encode(b.labels)


def test_other_seed_other_stream() -> None:
    coins = [DEFAULT_COINS["BTC"]]
    a = make_run(GeneratorConfig(), coins, seed=3, duration_s=10.0)
    b = make_run(GeneratorConfig(), coins, seed=4, duration_s=10.0)
    assert _encode(a.events) != _encode(b.events)


def test_rerun_of_one_instance_restarts_from_the_seed() -> None:
    gen = MarketGenerator(GeneratorConfig(), ["ETH"], seed=9)
    first = list(gen.events(0, 8.0))
    second = list(gen.events(0, 8.0))
    assert _encode(first) == _encode(second)


def test_chunk_size_does_not_change_the_stream() -> None:
    """Streaming in small or large compiled chunks yields the same events (state carries over)."""
    coins = ["BTC", "ETH"]
    small = list(MarketGenerator(GeneratorConfig(chunk_ms=100), coins, seed=5).events(0, 15.0))
    large = list(MarketGenerator(GeneratorConfig(chunk_ms=20_000), coins, seed=5).events(0, 15.0))
    assert _encode(small) == _encode(large)


def test_interleaved_generators_do_not_share_random_state() -> None:
    solo_a = list(MarketGenerator(GeneratorConfig(chunk_ms=200), ["BTC"], seed=1).events(0, 6.0))
    solo_b = list(MarketGenerator(GeneratorConfig(chunk_ms=200), ["BTC"], seed=2).events(0, 6.0))
    it_a = MarketGenerator(GeneratorConfig(chunk_ms=200), ["BTC"], seed=1).events(0, 6.0)
    it_b = MarketGenerator(GeneratorConfig(chunk_ms=200), ["BTC"], seed=2).events(0, 6.0)
    got_a: list = []
    got_b: list = []
    for ea, eb in itertools.zip_longest(it_a, it_b):
        if ea is not None:
            got_a.append(ea)
        if eb is not None:
            got_b.append(eb)
    assert _encode(got_a) == _encode(solo_a)
    assert _encode(got_b) == _encode(solo_b)


def test_start_ts_only_shifts_local_times() -> None:
    a = list(MarketGenerator(GeneratorConfig(), ["SOL"], seed=2).events(0, 5.0))
    b = list(MarketGenerator(GeneratorConfig(), ["SOL"], seed=2).events(123_456_789_000, 5.0))
    assert len(a) == len(b)
    for ea, eb in zip(a, b, strict=True):
        assert eb.ts_ns - ea.ts_ns == 123_456_789_000
        assert msgspec.structs.replace(eb, ts_ns=ea.ts_ns) == ea


def test_labels_before_the_end_are_cut_at_the_frontier() -> None:
    gen = MarketGenerator(GeneratorConfig(chunk_ms=500), ["BTC"], seed=1)
    it = gen.events(0, 30.0)
    first = [next(it) for _ in range(50)]
    assert first
    partial = gen.labels
    assert not partial.complete
    assert 0 < partial.end_ts_ns < 30_000_000_000
    assert partial.regimes[-1].end_ts_ns == partial.end_ts_ns
    for _ in it:
        pass
    full = gen.labels
    assert full.complete and full.end_ts_ns == 30_000_000_000


def test_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="duration_s"):
        MarketGenerator(GeneratorConfig(), ["BTC"]).events(0, 0.0)
    with pytest.raises(ValueError, match="start_ts_ns"):
        MarketGenerator(GeneratorConfig(), ["BTC"]).events(-1, 1.0)
    with pytest.raises(ValueError, match="unknown coin"):
        MarketGenerator(GeneratorConfig(), ["DOGE"])
    with pytest.raises(ValueError, match="duplicate"):
        MarketGenerator(GeneratorConfig(), ["BTC", "BTC"])
    with pytest.raises(ValueError, match="seed"):
        MarketGenerator(GeneratorConfig(), ["BTC"], seed=-1)
    with pytest.raises(RuntimeError):
        _ = MarketGenerator(GeneratorConfig(), ["BTC"]).labels
    with pytest.raises(ValueError, match="tick changes"):
        MarketGenerator(GeneratorConfig(), [CoinSpec(name="X", px=9995.0, sz_decimals=2)])


def test_coins_mapping_names_and_symbol_ids() -> None:
    gen = MarketGenerator(GeneratorConfig(), {"AAA": DEFAULT_COINS["ETH"], "BBB": DEFAULT_COINS["BTC"]})
    assert gen.symbol_ids == {"AAA": 0, "BBB": 1}
    assert gen.tick_px == {"AAA": 0.1, "BBB": 1.0}


def test_shape_matches_the_recorded_market(default_run: Run) -> None:
    """Calibration against the shared 2025-09-04 recording (data/README.md): one-tick touch
    most of the time on majors, snapshots about every 0.54 s, BBO changes several times a
    second, a few trades a second in fills of a few per taker order, a touch deeper than
    the next levels; Binance quoting every 50-100 ms."""
    evs = default_run.events
    dur = default_run.duration_s
    ticks = MarketGenerator(GeneratorConfig(), default_run.coins).tick_px
    for c, spec in enumerate(default_run.coins[:3]):  # BTC, ETH, SOL: one-tick markets
        tick = ticks[spec.name]
        bbo = [e for e in evs if isinstance(e, Bbo) and e.venue == HL and e.symbol_id == c]
        spreads = np.array([round((e.ask_px - e.bid_px) / tick) for e in bbo])
        assert np.mean(spreads == 1) > 0.8, spec.name
        assert 3.0 < len(bbo) / dur < 15.0
        snaps = [e for e in evs if isinstance(e, BookSnapshot) and e.symbol_id == c]
        gaps_ms = np.diff([s.ts_ns for s in snaps]) / 1e6
        assert 500.0 <= np.median(gaps_ms) <= 560.0
        trades = [e for e in evs if isinstance(e, Trade) and e.venue == HL and e.symbol_id == c]
        orders = len({t.ts_ns for t in trades})
        assert 0.5 < orders / dur < 6.0, spec.name
        assert 1.5 < len(trades) / orders < 6.0, spec.name
        bid_qty = np.array([s.bid_qty[:6] for s in snaps])
        if spec.touch_depth_mult >= 3.0:
            assert np.median(bid_qty[:, 0]) > np.median(bid_qty[:, 1]), spec.name
    refs = [e.ts_ns for e in evs if e.venue == BN and e.symbol_id == 0 and not isinstance(e, Trade | Bbo)]
    assert 60.0 < float(np.mean(np.diff(refs))) / 1e6 < 90.0


def test_the_checker_catches_a_crossed_book_and_an_off_tick_price(default_run: Run) -> None:
    """The invariant checker used above is not vacuous."""
    r = default_run
    i = next(k for k, e in enumerate(r.events) if isinstance(e, BookSnapshot) and k > 100)
    snap = r.events[i]
    assert isinstance(snap, BookSnapshot)
    crossed = msgspec.structs.replace(snap, bid_px=[snap.ask_px[0] + 1.0, *snap.bid_px[1:]])
    bad = [*r.events[:i], crossed, *r.events[i + 1:]]
    with pytest.raises(AssertionError):
        check_stream(bad, r.labels, r.cfg, r.coins, r.start_ts_ns, r.duration_s)
    j = next(k for k, e in enumerate(r.events) if isinstance(e, Trade) and e.venue == HL and k > 100)
    t = r.events[j]
    assert isinstance(t, Trade)
    off = msgspec.structs.replace(t, px=t.px + 0.5 * MarketGenerator(GeneratorConfig(), r.coins).tick_px[
        r.coins[t.symbol_id].name] + 1e-7)
    bad = [*r.events[:j], off, *r.events[j + 1:]]
    with pytest.raises(AssertionError):
        check_stream(bad, r.labels, r.cfg, r.coins, r.start_ts_ns, r.duration_s)


def test_prices_stay_valid_at_the_edge_where_the_tick_would_change() -> None:
    """A coin just under 10,000 (tick 0.1; from 10,000 on Hyperliquid allows only 1) driven
    up hard: the latent price is reflected below the edge and every price stays valid."""
    coin = CoinSpec(name="EDGE", px=9_900.0, sz_decimals=2, depth_qty=5.0, taker_qty_median=0.5,
                    ref_tick_px=0.01)
    cfg = GeneratorConfig(initial_regime=2, latent_vol_bps=(20.0, 20.0, 20.0, 20.0), cascade_up_prob=1.0,
                          cascade_move_bps_min=200.0, cascade_move_bps_max=300.0, mean_dwell_s=(1.0, 1.0, 1.0))
    r = make_run(cfg, [coin], seed=4, duration_s=60.0)
    check_stream(r.events, r.labels, r.cfg, r.coins, r.start_ts_ns, r.duration_s)
    top = max(e.ask_px for e in r.events if isinstance(e, Bbo) and e.venue == HL)
    assert 9_950.0 < top < 10_000.0  # it got there, and no further
