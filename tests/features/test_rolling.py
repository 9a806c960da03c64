"""Rolling features against brute-force references: windows, decays, sigma grid, runs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.features.rolling import Ewma, ExpDecay, GridSigma, SignRun, WindowSums, imbalance
from tests.features.reference import sigma_brute

MS = 1_000_000

# a stream op: (dt_ns >= 0, is_push, values)
_ops = st.lists(
    st.tuples(
        st.integers(0, 900 * MS),
        st.booleans(),
        st.tuples(*[st.floats(-1e3, 1e3, allow_nan=False)] * 3),
    ),
    min_size=1,
    max_size=300,
)


def _brute(entries: list[tuple[int, tuple[float, float, float]]], w: int, now: int, m: int) -> float:
    return math.fsum(v[m] for ts, v in entries if now - w < ts <= now)


@settings(max_examples=150, deadline=None)
@given(
    ops=_ops,
    windows=st.lists(st.integers(1, 3_000 * MS), min_size=1, max_size=3),
    ncol=st.integers(1, 3),
    cap_exp=st.integers(1, 4),
)
def test_window_sums_match_brute_force(ops, windows, ncol, cap_exp) -> None:
    ws = WindowSums(windows, ncol=ncol, capacity=1 << cap_exp)
    t = 10_000 * MS
    entries: list[tuple[int, tuple[float, float, float]]] = []
    for dt, is_push, vals in ops:
        t += dt
        if is_push:
            ws.push(t, *vals[:ncol])
            entries.append((t, vals))
        else:
            ws.query(t)
        for k, w in enumerate(windows):
            for m in range(ncol):
                ref = _brute(entries, w, t, m)
                scale = 1.0 + math.fsum(abs(v[m]) for _, v in entries)
                assert abs(ws.sum(k, m) - ref) <= 1e-9 * scale
            assert ws.count(k) == sum(1 for ts, _ in entries if t - w < ts <= t)


def test_window_eviction_boundary_is_exclusive_of_the_window_start() -> None:
    ws = WindowSums([500 * MS])
    ws.push(1_000 * MS, 1.0)
    ws.query(1_499 * MS)
    assert ws.sum(0) == 1.0
    ws.query(1_500 * MS)  # ts <= now - window is out
    assert ws.sum(0) == 0.0
    assert ws.count(0) == 0


def test_window_time_never_goes_backwards() -> None:
    ws = WindowSums([1_000 * MS])
    ws.push(5_000 * MS, 1.0)
    ws.push(4_000 * MS, 2.0)  # clamped to 5_000 ms
    ws.query(5_999 * MS)
    assert ws.sum(0) == 3.0
    ws.query(6_000 * MS)
    assert ws.sum(0) == 0.0


def test_window_grows_and_keeps_exact_sums() -> None:
    ws = WindowSums([10_000 * MS, 100 * MS], capacity=2)
    for i in range(1000):
        ws.push(i * MS, float(i))
    assert ws.capacity >= 1024
    assert ws.sum(0) == pytest.approx(sum(range(1000)))
    assert ws.sum(1) == pytest.approx(sum(range(900, 1000)))


def test_window_drift_is_repaired_by_the_periodic_recount() -> None:
    # 1e16 + 1.0 == 1e16 in float64: once the big entry leaves, the running sum is off by
    # the small entries it swallowed. The recount (every `capacity` evictions) repairs it.
    ws = WindowSums([1_000 * MS], capacity=8)
    ws.push(0, 1e16)
    for i in range(1, 3_000):
        ws.push(i * MS, 1.0)
    assert ws.capacity == 1024
    assert ws.sum(0) == 1_000.0  # exact again, 2 000 evictions after the error appeared
    assert ws.count(0) == 1_000


def test_window_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="windows_ns"):
        WindowSums([])
    with pytest.raises(ValueError, match="ncol"):
        WindowSums([1], ncol=4)
    with pytest.raises(ValueError, match="capacity"):
        WindowSums([1], capacity=3)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2_000 * MS), st.floats(-100, 100, allow_nan=False)), min_size=1, max_size=60),
    st.floats(0.05, 30.0),
)
def test_exp_decay_matches_brute_force(events, half_life_s) -> None:
    d = ExpDecay(half_life_s)
    tau_ns = half_life_s * 1e9 / math.log(2.0)
    t = 0
    hist: list[tuple[int, float]] = []
    for dt, x in events:
        t += dt
        d.add(t, x)
        hist.append((t, x))
    t_end = t + 123 * MS
    ref = math.fsum(x * math.exp(-(t_end - ts) / tau_ns) for ts, x in hist)
    assert d.value(t_end) == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_exp_decay_rate_of_a_steady_stream() -> None:
    d = ExpDecay(10.0)
    for i in range(2000):
        d.add(i * 100 * MS, 1.0)  # 10 per second for 200 s
    assert d.rate(1999 * 100 * MS, 1_000 * MS) == pytest.approx(10.0, rel=0.05)


def test_ewma_bias_correction() -> None:
    e = Ewma(0.01)
    e.update(5.0)
    assert e.value == pytest.approx(5.0)  # no pull towards 0 at the first sample
    for _ in range(10):
        e.update(5.0)
    assert e.value == pytest.approx(5.0)
    e.update_zeros(3)
    ref = Ewma(0.01)
    for _ in range(11):
        ref.update(5.0)
    for _ in range(3):
        ref.update(0.0)
    assert e.value == pytest.approx(ref.value)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 700 * MS), st.floats(90.0, 110.0)), min_size=1, max_size=40),
    st.floats(0.2, 20.0),
)
def test_grid_sigma_matches_brute_force(moves, hl_s) -> None:
    step = 100 * MS
    gs = GridSigma(100, hl_s, hl_s * 10)
    t = 5_000 * MS + 37
    mids: list[tuple[int, float]] = []
    for dt, mid in moves:
        t += dt
        gs.advance(t - 1)
        gs.set_mid(t, mid)
        mids.append((t, mid))
    t_end = t + 1_234 * MS
    gs.advance(t_end)
    assert gs.sigma_bps == pytest.approx(sigma_brute(mids, step, hl_s, t_end), rel=1e-9, abs=1e-12)
    assert gs.baseline_bps == pytest.approx(sigma_brute(mids, step, hl_s * 10, t_end), rel=1e-9, abs=1e-12)


def test_grid_sigma_is_zero_for_a_constant_mid_and_restarts_after_a_gap() -> None:
    gs = GridSigma(100, 1.0, 10.0)
    gs.set_mid(0, 100.0)
    gs.advance(10_000 * MS)
    assert gs.sigma_bps == 0.0
    gs.restart(60_000 * MS)
    gs.set_mid(60_000 * MS, 200.0)  # a jump across the gap is not a move
    gs.advance(61_000 * MS)
    assert gs.sigma_bps == 0.0


def test_sign_run_counts_and_resets_on_side_change() -> None:
    r = SignRun()
    assert [r.add(s) for s in (1, 1, 1, -1, -1, 1)] == [1, 2, 3, -1, -2, 1]


@given(st.integers(1, 30), st.lists(st.tuples(st.sampled_from([1, -1]), st.integers(1, 5)), max_size=20))
def test_sign_run_matches_brute_force(_: int, blocks) -> None:
    r = SignRun()
    sides = [s for s, n in blocks for _ in range(n)]
    for i, s in enumerate(sides):
        got = r.add(s)
        n = 1
        while i - n >= 0 and sides[i - n] == s:
            n += 1
        assert got == s * n


@given(
    st.lists(st.floats(0, 1e6), max_size=12),
    st.lists(st.floats(0, 1e6), max_size=12),
    st.integers(1, 10),
)
def test_imbalance_in_unit_interval(bids, asks, k) -> None:
    x = imbalance(bids, asks, k)
    assert -1.0 <= x <= 1.0
    sb, sa = sum(bids[:k]), sum(asks[:k])
    if sb + sa > 0:
        assert x == pytest.approx((sb - sa) / (sb + sa))
    else:
        assert x == 0.0


def test_imbalance_uses_top_k_only() -> None:
    assert imbalance([1.0, 100.0], [1.0, 0.0], 1) == 0.0
    assert imbalance([3.0], [1.0], 5) == pytest.approx(0.5)
