"""The feature engine: snapshot fields, publishing, determinism, bad input, inventory, book."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.features.config import FeatureConfig
from mm.features.engine import NO_QUEUE_RANK, FeatureEngine
from mm.features.ofi import OFI_LONG_NS, OFI_SHORT_NS
from mm.features.rolling import REALIZED_VOL_WINDOW_NS
from mm.schema import (
    N_DEPTH,
    Bbo,
    BookDelta,
    BookSnapshot,
    Codec,
    FeedStale,
    Fill,
    FundingUpdate,
    OrderEvent,
    RefPrice,
    Regime,
    StateSnapshot,
    Toxicity,
    Trade,
    Venue,
)
from tests.features.reference import ofi_brute, realized_vol_bps_brute, sigma_brute
from tests.features.synth import SYMBOL, make_stream

HL = int(Venue.HYPERLIQUID)
BN = int(Venue.BINANCE)
MS = 1_000_000
T0 = 1_000_000 * MS


def book(t: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]], venue: int = HL) -> BookSnapshot:
    return BookSnapshot(venue, SYMBOL, t, 0, 0, [p for p, _ in bids], [q for _, q in bids],
                        [p for p, _ in asks], [q for _, q in asks])


def bbo(t: int, pb: float, qb: float, pa: float, qa: float, venue: int = HL) -> Bbo:
    return Bbo(venue, SYMBOL, t, 0, 0, pb, qb, pa, qa)


def trade(t: int, px: float, qty: float, side: int, venue: int = HL) -> Trade:
    return Trade(venue, SYMBOL, t, 0, 0, px, qty, side, t)


def fill(cloid: str, trade_id: int, side: int, qty: float, symbol: int = SYMBOL) -> Fill:
    return Fill(symbol, 0, 0, 0, cloid, 1, trade_id, side, 100.0, qty, 0.0, True)


def _all_floats(s: StateSnapshot) -> list[float]:
    out: list[float] = []
    for name in s.__struct_fields__:
        v = getattr(s, name)
        if isinstance(v, float):
            out.append(v)
        elif isinstance(v, list):
            out.extend(v)
    return out


def run(events: list[object], eng: FeatureEngine | None = None) -> tuple[FeatureEngine, list[StateSnapshot]]:
    eng = eng if eng is not None else FeatureEngine(SYMBOL)
    snaps = []
    for ev in events:
        now = getattr(ev, "ts_ns", 0) or 0
        if eng.on_event(ev, now) or eng.due(now):
            snaps.append(eng.snapshot(now, now))
    return eng, snaps


# ------------------------------------------------------------------ snapshot contents


def test_snapshot_fields_from_a_known_book() -> None:
    eng = FeatureEngine(SYMBOL)
    bids = [(100.0 - i, 1.0 + i) for i in range(12)]
    asks = [(101.0 + i, 2.0) for i in range(3)]
    eng.on_event(book(T0, bids, asks), T0)
    eng.on_event(RefPrice(BN, SYMBOL, T0, 0, 0, 100.4, 100.6, 100.5), T0)
    s = eng.snapshot(T0 + 5 * MS, 77)
    assert (s.symbol_id, s.ts_ns, s.origin_ts_ns, s.seq) == (SYMBOL, T0 + 5 * MS, 77, 1)
    assert (s.best_bid, s.best_ask, s.mid_px) == (100.0, 101.0, 100.5)
    assert s.microprice == pytest.approx((100.0 * 2.0 + 101.0 * 1.0) / 3.0)
    assert s.spread_bps == pytest.approx(1.0 / 100.5 * 1e4)
    assert s.depth_bids == [1.0 + i for i in range(N_DEPTH)]
    assert s.depth_asks == [2.0, 2.0, 2.0] + [0.0] * (N_DEPTH - 3)
    k = FeatureConfig().imbalance_levels
    sb, sa = sum(1.0 + i for i in range(k)), 2.0 * 3
    assert s.book_imbalance == pytest.approx((sb - sa) / (sb + sa))
    assert s.ref_mid_px == 100.5
    assert s.book_ts_ns == T0 and s.last_trade_ts_ns == 0
    assert (s.queue_rank_bid, s.queue_rank_ask) == (NO_QUEUE_RANK, NO_QUEUE_RANK) == (-1.0, -1.0)
    assert s.inventory == 0.0 and s.trade_sign_run_length == 0 and s.vwap_direction == 0.0
    assert len(s.regime_probs) == 4 and math.fsum(s.regime_probs) == pytest.approx(1.0)
    eng.set_queue_ranks(3.0, 0.5)
    s2 = eng.snapshot(T0 + 6 * MS, 0)
    assert (s2.queue_rank_bid, s2.queue_rank_ask, s2.seq) == (3.0, 0.5, 2)


def test_empty_engine_snapshot_is_all_zero_and_finite() -> None:
    s = FeatureEngine(SYMBOL).snapshot(T0, T0)
    assert s.best_bid == s.best_ask == s.mid_px == s.spread_bps == 0.0
    assert s.depth_bids == [0.0] * N_DEPTH
    assert all(math.isfinite(x) for x in _all_floats(s))


def test_snapshot_under_16_kb_and_round_trips() -> None:
    eng, snaps = run(make_stream(seed=3, quiet_s=20.0).events)
    codec = Codec()
    big = 0
    for s in snaps:
        data = codec.encode(s)
        big = max(big, len(data))
        assert codec.decode(data) == s
    assert big < 16 * 1024
    # a worst case: every field at full width
    worst = msgspec.structs.replace(
        snaps[-1], depth_bids=[1e300] * N_DEPTH, depth_asks=[-1e300] * N_DEPTH,
        ts_ns=2**63 - 1, origin_ts_ns=2**63 - 1, seq=2**63 - 1,
    )
    assert len(codec.encode(worst)) < 16 * 1024


def test_trades_drive_sign_run_vwap_and_last_trade_time() -> None:
    eng = FeatureEngine(SYMBOL)
    eng.on_event(book(T0, [(100.0, 1.0)], [(101.0, 1.0)]), T0)
    seq = [(1, 1.0), (1, 2.0), (1, 1.0), (-1, 4.0), (-1, 1.0)]
    runs = []
    for i, (side, q) in enumerate(seq):
        t = T0 + (i + 1) * 100 * MS
        assert eng.on_event(trade(t, 101.0 if side > 0 else 100.0, q, side), t)
        runs.append(eng.snapshot(t, t).trade_sign_run_length)
    assert runs == [1, 2, 3, -1, -2]
    s = eng.snapshot(T0 + 600 * MS, 0)
    assert s.vwap_direction == pytest.approx((1 + 2 + 1 - 4 - 1) / 9.0)
    assert s.last_trade_ts_ns == T0 + 500 * MS
    # the window forgets: vwap_window_ms after the last trade nothing is left
    late = T0 + 500 * MS + FeatureConfig().vwap_window_ms * MS
    assert eng.snapshot(late, 0).vwap_direction == 0.0


# ------------------------------------------------------------------ features vs brute force


_moves = st.lists(
    st.tuples(st.integers(1, 900 * MS), st.integers(-2, 2), st.floats(0.1, 9.0), st.integers(1, 3),
              st.floats(0.1, 9.0)),
    min_size=2,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(_moves)
def test_engine_ofi_rv_and_sigma_match_brute_force(moves) -> None:
    eng = FeatureEngine(SYMBOL)
    t = T0
    pb = 1000.0
    states: list[tuple[int, float, float, float, float]] = []
    mids: list[tuple[int, float]] = []
    for dt, dpb, qb, spread, qa in moves:
        t += dt
        pb = round(pb + dpb * 0.5, 1)
        pa = round(pb + spread * 0.5, 1)
        qb, qa = round(qb, 3), round(qa, 3)
        eng.on_event(bbo(t, pb, qb, pa, qa), t)
        if not states or states[-1][1:] != (pb, qb, pa, qa):
            states.append((t, pb, qb, pa, qa))
        mid = (pb + pa) / 2
        if not mids or mids[-1][1] != mid:
            mids.append((t, mid))
    now = t + 100 * MS
    s = eng.snapshot(now, now)
    assert s.ofi_500ms == pytest.approx(ofi_brute(states, now, OFI_SHORT_NS), abs=1e-6)
    assert s.ofi_2s == pytest.approx(ofi_brute(states, now, OFI_LONG_NS), abs=1e-6)
    assert s.sigma_realized_1m == pytest.approx(realized_vol_bps_brute(mids, now, REALIZED_VOL_WINDOW_NS), rel=1e-9)
    cfg = FeatureConfig()
    assert s.sigma_ewma == pytest.approx(
        sigma_brute(mids, cfg.sigma_sample_ms * MS, cfg.sigma_half_life_s, now - 1), rel=1e-9, abs=1e-12
    )


def test_book_that_does_not_change_has_zero_ofi_and_is_not_material() -> None:
    eng = FeatureEngine(SYMBOL)
    b = [(100.0, 3.0), (99.0, 1.0)]
    a = [(101.0, 2.0), (102.0, 1.0)]
    assert eng.on_event(book(T0, b, a), T0)
    for i in range(1, 20):
        assert not eng.on_event(book(T0 + i * 50 * MS, b, a), T0 + i * 50 * MS)
        assert not eng.on_event(bbo(T0 + i * 50 * MS, 100.0, 3.0, 101.0, 2.0), T0 + i * 50 * MS)
    s = eng.snapshot(T0 + 1_000 * MS, 0)
    assert s.ofi_500ms == 0.0 and s.ofi_2s == 0.0 and s.sigma_ewma == 0.0 and s.sigma_realized_1m == 0.0


def test_deep_level_change_is_not_material_but_is_in_depth() -> None:
    eng = FeatureEngine(SYMBOL)
    eng.on_event(book(T0, [(100.0, 3.0), (99.0, 1.0)], [(101.0, 2.0)]), T0)
    assert not eng.on_event(book(T0 + MS, [(100.0, 3.0), (99.0, 5.0)], [(101.0, 2.0)]), T0 + MS)
    assert eng.snapshot(T0 + MS, 0).depth_bids[:2] == [3.0, 5.0]


# ------------------------------------------------------------------ publishing


def test_due_every_interval_and_material_events() -> None:
    eng = FeatureEngine(SYMBOL)
    assert eng.due(T0)  # nothing published yet
    eng.snapshot(T0, T0)
    assert not eng.due(T0 + 99 * MS)
    assert eng.due(T0 + 100 * MS)
    assert eng.on_event(book(T0, [(100.0, 1.0)], [(101.0, 1.0)]), T0)
    assert eng.on_event(trade(T0 + MS, 101.0, 0.1, 1), T0 + MS)
    assert eng.on_event(bbo(T0 + 2 * MS, 100.0, 2.0, 101.0, 1.0), T0 + 2 * MS)
    assert not eng.on_event(FundingUpdate(HL, SYMBOL, T0, 0, 0.0, 100.0, 100.0, 1.0), T0)
    assert eng.counters["unused_event"] == 1


def test_reference_move_makes_a_snapshot_due() -> None:
    eng = FeatureEngine(SYMBOL, FeatureConfig(snapshot_on_ref_move_bps=1.0, snapshot_on_ref_change=False))
    assert eng.on_event(RefPrice(BN, SYMBOL, T0, 0, 0, 99.9, 100.1, 100.0), T0)
    eng.snapshot(T0, T0)
    assert not eng.on_event(RefPrice(BN, SYMBOL, T0 + MS, 0, 0, 0, 0, 100.005), T0 + MS)  # 0.5 bps
    assert eng.on_event(RefPrice(BN, SYMBOL, T0 + 2 * MS, 0, 0, 0, 0, 100.011), T0 + 2 * MS)  # 1.1 bps
    assert eng.on_event(bbo(T0 + 3 * MS, 99.0, 1.0, 99.2, 1.0, venue=BN), T0 + 3 * MS)
    assert eng.snapshot(T0 + 3 * MS, 0).ref_mid_px == pytest.approx(99.1)


def test_every_reference_change_makes_a_snapshot_due_by_default() -> None:
    eng = FeatureEngine(SYMBOL)
    assert eng.on_event(RefPrice(BN, SYMBOL, T0, 1, 0, 99.9, 100.1, 100.0), T0)
    eng.snapshot(T0, T0)
    assert eng.on_event(RefPrice(BN, SYMBOL, T0 + MS, 2, 0, 0, 0, 100.005), T0 + MS)
    eng.snapshot(T0 + MS, T0 + MS)
    assert not eng.on_event(RefPrice(BN, SYMBOL, T0 + 2 * MS, 3, 0, 0, 0, 100.005), T0 + 2 * MS)  # unchanged


def test_reference_trades_and_order_of_delivery() -> None:
    eng = FeatureEngine(SYMBOL)
    assert not eng.on_event(Trade(BN, SYMBOL, T0, 5, 0, 100.1, 1.0, 1, 1), T0)  # no quote yet: no half spread
    eng.on_event(RefPrice(BN, SYMBOL, T0, 10, 0, 99.9, 100.1, 100.0), T0)
    assert eng.on_event(Trade(BN, SYMBOL, T0 + MS, 11, 0, 100.3, 1.0, 1, 2), T0 + MS)  # bought at the ask
    assert eng.snapshot(T0 + MS, 0).ref_mid_px == pytest.approx(100.2)
    # an older update delivered late is dropped and counted
    assert not eng.on_event(RefPrice(BN, SYMBOL, T0 + 2 * MS, 9, 0, 99.0, 99.2, 99.1), T0 + 2 * MS)
    assert eng.counters["ref_out_of_order"] == 1
    assert eng.snapshot(T0 + 2 * MS, 0).ref_mid_px == pytest.approx(100.2)


def test_a_move_on_the_reference_flips_toxicity_on_that_update() -> None:
    eng = FeatureEngine(SYMBOL)
    t = T0
    eng.on_event(bbo(t, 99.99, 5.0, 100.01, 5.0), t)
    px = 100.0
    rng = np.random.default_rng(1)
    for i in range(200):  # quiet reference: 0.2 bps noise per 100 ms
        px *= 1.0 + 0.2e-4 * rng.standard_normal()
        t += 100 * MS
        eng.on_event(RefPrice(BN, SYMBOL, t, t // MS, i, 0, 0, px), t)
        eng.snapshot(t, t)
    assert eng.snapshot(t, t).toxicity != Toxicity.TOXIC
    flips = []
    for i in range(5):  # then 3 bps per update, down
        px *= 1.0 - 3e-4
        t += 100 * MS
        due = eng.on_event(RefPrice(BN, SYMBOL, t, t // MS, 1000 + i, 0, 0, px), t)
        flips.append((due, eng.toxicity))
    assert flips[0] == (True, Toxicity.TOXIC)  # due at once, Toxic on the update that shows the move
    assert eng.lead_move.direction == -1
    assert eng.snapshot(t, t).toxicity == Toxicity.TOXIC


def test_engine_is_deterministic() -> None:
    events = make_stream(seed=11, quiet_s=30.0).events
    _, a = run(events)
    _, b = run(events)
    assert len(a) > 300
    assert a == b
    codec = Codec()
    assert [codec.encode(x) for x in a] == [codec.encode(x) for x in b]


# ------------------------------------------------------------------ bad input


def test_bad_values_are_ignored_and_counted() -> None:
    eng = FeatureEngine(SYMBOL)
    eng.on_event(book(T0, [(100.0, 1.0)], [(101.0, 1.0)]), T0)
    before = eng.snapshot(T0 + 1, T0)
    nan, inf = float("nan"), float("inf")
    bad = [
        trade(T0 + 1, nan, 1.0, 1),
        trade(T0 + 1, 0.0, 1.0, 1),
        trade(T0 + 1, 100.0, -1.0, 1),
        trade(T0 + 1, 100.0, 1.0, 0),
        trade(T0 + 1, 100.0, inf, 1),
        book(T0 + 1, [(nan, 1.0)], [(101.0, 1.0)]),
        book(T0 + 1, [(0.0, 1.0)], [(101.0, 1.0)]),
        book(T0 + 1, [(100.0, nan)], [(101.0, 1.0)]),
        book(T0 + 1, [(99.0, 1.0), (100.0, 1.0)], [(101.0, 1.0)]),
        book(T0 + 1, [(102.0, 1.0)], [(101.0, 1.0)]),
        bbo(T0 + 1, nan, 1.0, 101.0, 1.0),
        bbo(T0 + 1, 100.0, 0.0, 101.0, 1.0),
        bbo(T0 + 1, 101.0, 1.0, 100.0, 1.0),
        bbo(T0 + 1, 0.0, 0.0, 0.0, 0.0),
        BookDelta(HL, SYMBOL, T0 + 1, 0, 0, 0, 0, [inf], [1.0], [], []),
        BookDelta(HL, SYMBOL, T0 + 1, 0, 0, 0, 0, [101.5], [1.0], [], []),  # would cross
        RefPrice(BN, SYMBOL, T0 + 1, 0, 0, nan, nan, nan),
        fill("a", 1, 1, nan),
        OrderEvent(SYMBOL, 0, 0, "b", 1, 1, 100.0, 1.0, nan, 1),
    ]
    for ev in bad:
        assert not eng.on_event(ev, T0 + 1)
    after = eng.snapshot(T0 + 1, T0)
    c = eng.counters
    assert c["bad_trade"] == 5 and c["bad_book"] == 4 and c["crossed_book"] == 3
    assert c["bad_bbo"] == 3 and c["bad_delta"] == 1 and c["bad_ref"] == 1
    assert c["bad_fill"] == 1 and c["bad_order_event"] == 1
    assert msgspec.structs.replace(after, seq=before.seq) == before


_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 1e-300, 1e300]),
    st.floats(99.0, 101.0),
)


@st.composite
def _event(draw: st.DrawFn, t: int) -> object:
    kind = draw(st.integers(0, 6))
    f = lambda: draw(_float)  # noqa: E731
    venue = draw(st.sampled_from([HL, HL, HL, BN, int(Venue.SIM), int(Venue.SYNTHETIC)]))
    if kind == 0:
        return Trade(venue, SYMBOL, t, 0, 0, f(), f(), draw(st.sampled_from([1, -1, 0])), 0)
    if kind == 1:
        n = draw(st.integers(0, 4))
        return BookSnapshot(venue, SYMBOL, t, 0, 0, sorted([f() for _ in range(n)], reverse=True),
                            [f() for _ in range(n)], [f() for _ in range(n)], [f() for _ in range(n)])
    if kind == 2:
        return Bbo(venue, SYMBOL, t, 0, 0, f(), f(), f(), f())
    if kind == 3:
        return BookDelta(venue, SYMBOL, t, 0, 0, 0, 0, [f()], [f()], [f()], [f()])
    if kind == 4:
        return RefPrice(venue, SYMBOL, t, 0, 0, f(), f(), f())
    if kind == 5:
        return Fill(SYMBOL, t, 0, 0, draw(st.sampled_from(["", "x", "y"])), 1, draw(st.integers(0, 3)),
                    draw(st.sampled_from([1, -1, 2])), f(), f(), f(), True)
    return FeedStale(venue, SYMBOL, t, 0, draw(st.booleans()))


@settings(max_examples=150, deadline=None)
@given(st.data(), st.lists(st.integers(0, 3_000 * MS), min_size=1, max_size=50))
def test_no_nan_ever_reaches_a_snapshot(data, dts) -> None:
    eng = FeatureEngine(SYMBOL)
    t = T0
    eng.on_event(book(t, [(100.0, 1.0), (99.9, 2.0)], [(100.1, 1.0)]), t)
    for dt in dts:
        t += dt
        eng.on_event(data.draw(_event(t)), t)
        s = eng.snapshot(t, t)
        for x in _all_floats(s):
            assert math.isfinite(x)
        assert math.fsum(s.regime_probs) == pytest.approx(1.0)
        assert -1.0 <= s.book_imbalance <= 1.0
        assert -1.0 <= s.vwap_direction <= 1.0
        assert s.sigma_ewma >= 0.0 and s.sigma_realized_1m >= 0.0
        assert s.best_bid == 0.0 or s.best_ask == 0.0 or s.best_bid < s.best_ask
    assert eng.counters["nonfinite_output"] == 0


def test_other_symbols_and_venues_are_ignored_and_counted() -> None:
    eng = FeatureEngine(SYMBOL)
    assert not eng.on_event(Trade(HL, SYMBOL + 1, T0, 0, 0, 100.0, 1.0, 1, 0), T0)
    assert not eng.on_event(trade(T0, 100.0, 1.0, 1, venue=int(Venue.SYNTHETIC)), T0)
    assert not eng.on_event(fill("a", 1, 1, 1.0, symbol=SYMBOL + 1), T0)
    assert eng.counters["other_symbol"] == 2 and eng.counters["other_venue"] == 1
    assert eng.snapshot(T0, 0).last_trade_ts_ns == 0


def test_time_going_backwards_is_clamped_and_counted() -> None:
    eng = FeatureEngine(SYMBOL)
    eng.on_event(book(T0, [(100.0, 1.0)], [(101.0, 1.0)]), T0)
    eng.on_event(trade(T0 - 5 * MS, 101.0, 1.0, 1), T0)
    assert eng.counters["ts_backwards"] == 1
    assert eng.snapshot(T0, 0).last_trade_ts_ns == T0


# ------------------------------------------------------------------ our book


def test_bbo_between_snapshots_updates_the_touch() -> None:
    eng = FeatureEngine(SYMBOL)
    eng.on_event(book(T0, [(100.0, 1.0), (99.0, 2.0), (98.0, 3.0)], [(101.0, 1.0), (102.0, 2.0)]), T0)
    eng.on_event(bbo(T0 + 1, 100.5, 0.7, 101.0, 1.5), T0 + 1)  # a better bid joins in front
    s = eng.snapshot(T0 + 1, 0)
    assert s.best_bid == 100.5 and s.depth_bids[:4] == [0.7, 1.0, 2.0, 3.0] and s.depth_asks[0] == 1.5
    eng.on_event(bbo(T0 + 2, 99.0, 2.5, 100.0, 0.4), T0 + 2)  # bids above 99 gone; ask stepped down
    s = eng.snapshot(T0 + 2, 0)
    assert (s.best_bid, s.best_ask) == (99.0, 100.0)
    assert s.depth_bids[:2] == [2.5, 3.0] and s.depth_asks[:3] == [0.4, 1.5, 2.0]
    eng.on_event(bbo(T0 + 3, 99.0, 2.0, 0.0, 0.0), T0 + 3)  # no news about the ask side
    assert eng.snapshot(T0 + 3, 0).best_ask == 100.0


def test_book_deltas_set_absolute_levels() -> None:
    eng = FeatureEngine(SYMBOL)
    eng.on_event(book(T0, [(100.0, 1.0), (99.0, 2.0)], [(101.0, 1.0)]), T0)
    eng.on_event(BookDelta(HL, SYMBOL, T0 + 1, 0, 0, 0, 0, [100.0, 99.5], [0.0, 4.0], [102.0], [5.0]), T0 + 1)
    s = eng.snapshot(T0 + 1, 0)
    assert s.best_bid == 99.5 and s.depth_bids[:2] == [4.0, 2.0]
    assert s.depth_asks[:2] == [1.0, 5.0]


def test_one_sided_book_has_no_mid() -> None:
    eng = FeatureEngine(SYMBOL)
    eng.on_event(book(T0, [(100.0, 1.0)], []), T0)
    s = eng.snapshot(T0, 0)
    assert s.best_bid == 100.0 and s.best_ask == 0.0 and s.mid_px == 0.0 and s.spread_bps == 0.0


# ------------------------------------------------------------------ outages


def test_gap_is_an_outage_not_a_quiet_market() -> None:
    eng = FeatureEngine(SYMBOL)
    t = T0
    mid = 100.0
    for i in range(200):  # 20 s of a moving mid
        t += 100 * MS
        mid += 0.1 if i % 2 else -0.1
        eng.on_event(bbo(t, mid - 0.05, 1.0, mid + 0.05, 1.0), t)
    sigma_before = eng.snapshot(t, 0).sigma_ewma
    assert sigma_before > 0
    # 60 s of silence, then the book is back 5% away
    s_gap = eng.snapshot(t + 60_000 * MS, 0)
    assert s_gap.sigma_ewma >= 0.5 * sigma_before  # frozen after max_gap_ms, not decayed for 60 s
    t += 60_000 * MS
    eng.on_event(bbo(t, 104.95, 1.0, 105.05, 1.0), t)
    s = eng.snapshot(t + 1, 0)
    assert eng.counters["outages"] == 1
    assert s.sigma_realized_1m == 0.0  # the jump across the gap is not a return
    assert s.ofi_500ms == 0.0


def test_feed_stale_is_material_and_freezes_the_grid() -> None:
    eng = FeatureEngine(SYMBOL)
    eng.on_event(bbo(T0, 99.95, 1.0, 100.05, 1.0), T0)
    steps0 = eng.regime_filter.n_steps
    assert eng.on_event(FeedStale(HL, SYMBOL, T0 + 1_000 * MS, 1_000 * MS), T0 + 1_000 * MS)
    assert eng.stale
    assert not eng.on_event(FeedStale(HL, SYMBOL, T0 + 1_100 * MS, 1_100 * MS), T0 + 1_100 * MS)
    steps1 = eng.regime_filter.n_steps
    eng.snapshot(T0 + 4_000 * MS, 0)
    assert eng.regime_filter.n_steps == steps1 > steps0  # no regime steps while stale
    assert eng.on_event(FeedStale(HL, SYMBOL, T0 + 4_100 * MS, 0, stale=False), T0 + 4_100 * MS)
    assert not eng.stale


def test_regime_reads_a_cascade() -> None:
    stream = make_stream(seed=2, quiet_s=120.0, burst_trades=60)
    eng, snaps = run(stream.events)
    calm = [s.regime for s in snaps if s.ts_ns < stream.burst_start_ts_ns - 10_000 * MS]
    assert sum(r in (Regime.QUIET, Regime.NORMAL) for r in calm) / len(calm) > 0.95
    end = stream.events[-1].ts_ns  # type: ignore[attr-defined]
    s = eng.snapshot(end + 1, 0)
    assert s.regime in (Regime.VOLATILE, Regime.CASCADE)
    assert s.regime_probs[Regime.VOLATILE] + s.regime_probs[Regime.CASCADE] > 0.9


# ------------------------------------------------------------------ inventory


def test_inventory_from_fills_with_duplicates_ignored() -> None:
    eng = FeatureEngine(SYMBOL)
    assert eng.on_event(fill("a", 1, 1, 0.5), T0)
    assert eng.on_event(fill("a", 2, 1, 0.25), T0)
    assert not eng.on_event(fill("a", 2, 1, 0.25), T0)  # the same fill again
    assert eng.on_event(fill("b", 3, -1, 1.0), T0)
    assert eng.on_event(fill("", 4, -1, 0.1), T0)
    assert eng.snapshot(T0, 0).inventory == pytest.approx(0.75 - 1.0 - 0.1)
    assert eng.counters["duplicate_fill"] == 1


def test_order_events_reconcile_missed_fills_without_double_counting() -> None:
    eng = FeatureEngine(SYMBOL)
    # the fill was missed: the order event says 0.4 filled
    assert eng.on_event(OrderEvent(SYMBOL, T0, 0, "c", 9, 1, 100.0, 1.0, 0.4, 2), T0)
    assert eng.inventory == pytest.approx(0.4)
    # the fill arrives late: already accounted
    assert not eng.on_event(fill("c", 7, 1, 0.4), T0)
    assert eng.inventory == pytest.approx(0.4)
    # a further fill moves it on; the order event that reports it adds nothing
    assert eng.on_event(fill("c", 8, 1, 0.6), T0)
    assert not eng.on_event(OrderEvent(SYMBOL, T0, 0, "c", 9, 1, 100.0, 1.0, 1.0, 4), T0)
    assert eng.inventory == pytest.approx(1.0)
    eng.set_inventory(-2.0)
    assert eng.snapshot(T0, 0).inventory == -2.0


def test_feature_config_validation_names_the_field() -> None:
    for field, kw in [
        ("our_venues", {"our_venues": ()}),
        ("ref_venues", {"ref_venues": (HL,)}),
        ("imbalance_levels", {"imbalance_levels": 11}),
        ("sigma_baseline_half_life_s", {"sigma_baseline_half_life_s": 1.0}),
        ("window_capacity", {"window_capacity": 1000}),
        ("snapshot_interval_ms", {"snapshot_interval_ms": 0}),
    ]:
        with pytest.raises(ValueError, match=field):
            FeatureConfig(**kw)  # type: ignore[arg-type]


def test_state_does_not_depend_on_when_snapshots_are_taken() -> None:
    """Grid state (sigma, regime, baselines) is the same whether or not the timer ran in
    between events, including across a silence longer than max_gap_ms."""
    stream = make_stream(seed=4, quiet_s=40.0, burst_trades=10)
    events = list(stream.events)
    cut = len(events) // 2
    gap_ns = 30_000 * MS
    late = [msgspec.structs.replace(ev, ts_ns=ev.ts_ns + gap_ns) for ev in events[cut:]]  # type: ignore[type-var]
    events = events[:cut] + late
    a, b = FeatureEngine(SYMBOL), FeatureEngine(SYMBOL)
    for ev in events:
        t = ev.ts_ns  # type: ignore[attr-defined]
        a.on_event(ev, t)
        b.on_event(ev, t)
        if a.due(t):
            a.snapshot(t, t)
    end = events[-1].ts_ns + 1  # type: ignore[attr-defined]
    sa, sb = a.snapshot(end, 0), b.snapshot(end, 0)
    assert a.counters["outages"] == b.counters["outages"] == 1
    # (k unchanged samples are applied as (1 - a)^k at once: the same up to rounding)
    assert sa.sigma_ewma == pytest.approx(sb.sigma_ewma, rel=1e-12)
    assert (sa.regime_probs, sa.sigma_realized_1m, sa.regime) == (sb.regime_probs, sb.sigma_realized_1m, sb.regime)
    assert a.regime_filter.n_steps == b.regime_filter.n_steps
