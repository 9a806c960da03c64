"""OFI (Cont, Kukanov and Stoikov 2014) increments and windows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.features.ofi import OFI_LONG_NS, OFI_SHORT_NS, OfiTracker, ofi_increment
from tests.features.reference import ofi_brute

MS = 1_000_000
_px = st.integers(990, 1010).map(lambda i: i / 10)
_qty = st.floats(0.0, 100.0, allow_nan=False)


@given(_px, _qty, _qty)
def test_unchanged_book_has_zero_ofi(pb, qb, qa) -> None:
    pa = pb + 0.1
    assert ofi_increment(pb, qb, pa, qa, pb, qb, pa, qa) == 0.0


def test_bid_size_increase_is_buying_pressure() -> None:
    assert ofi_increment(100.0, 5.0, 100.1, 5.0, 100.0, 8.0, 100.1, 5.0) == pytest.approx(3.0)


def test_bid_size_decrease_is_selling_pressure() -> None:
    assert ofi_increment(100.0, 5.0, 100.1, 5.0, 100.0, 1.0, 100.1, 5.0) == pytest.approx(-4.0)


def test_ask_size_increase_is_selling_pressure() -> None:
    assert ofi_increment(100.0, 5.0, 100.1, 5.0, 100.0, 5.0, 100.1, 9.0) == pytest.approx(-4.0)


def test_ask_size_decrease_is_buying_pressure() -> None:
    assert ofi_increment(100.0, 5.0, 100.1, 5.0, 100.0, 5.0, 100.1, 2.0) == pytest.approx(3.0)


def test_bid_price_up_adds_the_new_bid_queue() -> None:
    assert ofi_increment(100.0, 5.0, 100.2, 5.0, 100.1, 2.0, 100.2, 5.0) == pytest.approx(2.0)


def test_bid_price_down_removes_the_old_bid_queue() -> None:
    assert ofi_increment(100.0, 5.0, 100.2, 5.0, 99.9, 7.0, 100.2, 5.0) == pytest.approx(-5.0)


def test_ask_price_down_adds_the_new_ask_queue_as_selling() -> None:
    assert ofi_increment(100.0, 5.0, 100.2, 5.0, 100.0, 5.0, 100.1, 3.0) == pytest.approx(-3.0)


def test_ask_price_up_removes_the_old_ask_queue_as_buying() -> None:
    assert ofi_increment(100.0, 5.0, 100.2, 5.0, 100.0, 5.0, 100.3, 9.0) == pytest.approx(5.0)


@given(_px, _qty, _qty, _px, _qty, _qty, st.integers(1, 5), st.integers(1, 5))
def test_mirrored_book_gives_opposite_ofi(pb0, qb0, qa0, pb1, qb1, qa1, s0, s1) -> None:
    """Swap the roles of bid and ask (reflect prices around 0): OFI changes sign."""
    pa0, pa1 = pb0 + s0 / 10, pb1 + s1 / 10
    e = ofi_increment(pb0, qb0, pa0, qa0, pb1, qb1, pa1, qa1)
    mirrored = ofi_increment(-pa0, qa0, -pb0, qb0, -pa1, qa1, -pb1, qb1)
    assert mirrored == pytest.approx(-e)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 800 * MS), st.integers(-3, 3), _qty, st.integers(1, 3), _qty),
        min_size=2,
        max_size=80,
    )
)
def test_tracker_windows_match_brute_force(moves) -> None:
    tr = OfiTracker(capacity=4)
    t = 1_000 * MS
    pb = 100.0
    states = []
    for dt, dpb, qb, spread, qa in moves:
        t += dt
        pb = round(pb + dpb / 10, 1)
        pa = round(pb + spread / 10, 1)
        tr.update(t, pb, qb, pa, qa)
        states.append((t, pb, qb, pa, qa))
        s, l_ = tr.values(t)
        assert s == pytest.approx(ofi_brute(states, t, OFI_SHORT_NS), abs=1e-7)
        assert l_ == pytest.approx(ofi_brute(states, t, OFI_LONG_NS), abs=1e-7)


def test_tracker_first_level_and_reset_contribute_nothing() -> None:
    tr = OfiTracker()
    assert tr.update(0, 100.0, 5.0, 100.1, 5.0) == 0.0
    assert tr.update(1, 100.0, 9.0, 100.1, 5.0) == pytest.approx(4.0)
    tr.reset()
    assert tr.update(2, 50.0, 1.0, 51.0, 1.0) == 0.0
    assert tr.values(2) == pytest.approx((4.0, 4.0))
    assert tr.values(1 + OFI_SHORT_NS) == pytest.approx((0.0, 4.0))
