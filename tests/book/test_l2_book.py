"""The numba L2 book: unit behaviour and the invariants of mm/book/l2.py as properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.book import BookStatus, L2Book
from mm.schema import BookDelta, BookSnapshot

# --------------------------------------------------------------------------- helpers


class ModelBook:
    """The same rules in plain Python dicts: the reference the numba book must match."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def crossed(self) -> bool:
        return bool(self.bids and self.asks and max(self.bids) >= min(self.asks))

    def snapshot(self, bp: list[float], bq: list[float], ap: list[float], aq: list[float]) -> BookStatus:
        # checked level by level, bids then asks: price, size, order (the kernel's order)
        for px, qty, desc in ((bp, bq, True), (ap, aq, False)):
            prev = math.inf if desc else 0.0
            for p, q in zip(px, qty):
                if not (0 < p < math.inf):
                    return BookStatus.BAD_PRICE
                if not (0 < q < math.inf):
                    return BookStatus.BAD_QTY
                if (p >= prev) if desc else (p <= prev):
                    return BookStatus.UNSORTED
                prev = p
        if bp and ap and bp[0] >= ap[0]:
            return BookStatus.CROSSED
        self.bids = dict(zip(bp, bq))
        self.asks = dict(zip(ap, aq))
        return BookStatus.OK

    def delta(self, bp: list[float], bq: list[float], ap: list[float], aq: list[float]) -> BookStatus:
        for px, qty in ((bp, bq), (ap, aq)):
            for p, q in zip(px, qty):
                if not (0 < p < math.inf):
                    return BookStatus.BAD_PRICE
                if not (0 <= q < math.inf):
                    return BookStatus.BAD_QTY
        old = (dict(self.bids), dict(self.asks))
        for side, px, qty in ((self.bids, bp, bq), (self.asks, ap, aq)):
            for p, q in zip(px, qty):
                if q == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
        if self.crossed():
            self.bids, self.asks = old
            return BookStatus.CROSSED
        return BookStatus.OK

    def levels(self) -> tuple[list[float], list[float], list[float], list[float]]:
        b = sorted(self.bids.items(), reverse=True)
        a = sorted(self.asks.items())
        return [p for p, _ in b], [q for _, q in b], [p for p, _ in a], [q for _, q in a]


def assert_same(book: L2Book, model: ModelBook) -> None:
    got = [x.tolist() for x in book.levels()]
    assert got == list(model.levels())


def assert_sane(book: L2Book) -> None:
    bp, bq, ap, aq = book.levels()
    assert np.all(bq > 0) and np.all(aq > 0), "sizes must be > 0"
    assert np.all(np.isfinite(bp)) and np.all(np.isfinite(ap))
    assert np.all(bp > 0) and np.all(ap > 0)
    assert np.all(np.diff(bp) < 0) and np.all(np.diff(ap) > 0), "levels strictly ordered"
    assert not book.is_crossed()
    if len(bp) and len(ap):
        assert bp[0] < ap[0]


# --------------------------------------------------------------------------- unit


def test_snapshot_reads_best_top_mid_microprice() -> None:
    b = L2Book()
    assert b.apply_snapshot([100.0, 99.0], [1.0, 2.0], [101.0, 102.0, 103.0], [3.0, 4.0, 5.0], seq=7) == BookStatus.OK
    assert b.synced and b.seq == 7
    assert b.best_bid() == (100.0, 1.0) and b.best_ask() == (101.0, 3.0)
    assert b.mid_px() == 100.5
    assert b.microprice() == pytest.approx((100.0 * 3.0 + 101.0 * 1.0) / 4.0)
    bp, bq, ap, aq = b.top(4)
    assert bp.tolist() == [100.0, 99.0, 0.0, 0.0] and bq.tolist() == [1.0, 2.0, 0.0, 0.0]
    assert ap.tolist() == [101.0, 102.0, 103.0, 0.0] and aq.tolist() == [3.0, 4.0, 5.0, 0.0]


def test_empty_book_reads() -> None:
    b = L2Book()
    assert b.best_bid() == (0.0, 0.0) and b.best_ask() == (0.0, 0.0)
    assert math.isnan(b.mid_px()) and math.isnan(b.microprice())
    assert not b.is_crossed()


def test_delta_sets_inserts_and_removes_levels() -> None:
    b = L2Book()
    b.apply_snapshot([100.0, 99.0], [1.0, 2.0], [101.0], [3.0], seq=1)
    assert b.apply_delta([99.5, 100.0, 98.0], [5.0, 0.0, 0.0], [102.0], [1.0], seq=2, prev_seq=1) == BookStatus.OK
    bp, bq, ap, aq = b.levels()
    assert bp.tolist() == [99.5, 99.0] and bq.tolist() == [5.0, 2.0]
    assert ap.tolist() == [101.0, 102.0] and aq.tolist() == [3.0, 1.0]


def test_crossing_delta_is_rolled_back_whole() -> None:
    b = L2Book()
    b.apply_snapshot([100.0], [1.0], [101.0], [3.0], seq=1)
    before = [x.tolist() for x in b.levels()]
    # bid 99 would be fine, but bid 101.5 crosses: the whole delta goes.
    st_ = b.apply_delta([99.0, 101.5], [2.0, 1.0], [], [], seq=2, prev_seq=1)
    assert st_ == BookStatus.CROSSED
    assert [x.tolist() for x in b.levels()] == before
    assert b.seq == 1
    # the next delta in the chain is now a gap: the book waits for a snapshot
    assert b.apply_delta([99.0], [1.0], [], [], seq=3, prev_seq=2) == BookStatus.SEQ_GAP
    assert not b.synced
    assert b.apply_delta([99.0], [1.0], [], [], seq=4, prev_seq=3) == BookStatus.NOT_SYNCED


@pytest.mark.parametrize(
    ("bp", "bq", "status"),
    [
        ([float("nan")], [1.0], BookStatus.BAD_PRICE),
        ([-1.0], [1.0], BookStatus.BAD_PRICE),
        ([0.0], [1.0], BookStatus.BAD_PRICE),
        ([float("inf")], [1.0], BookStatus.BAD_PRICE),
        ([99.0], [-1.0], BookStatus.BAD_QTY),
        ([99.0], [float("nan")], BookStatus.BAD_QTY),
    ],
)
def test_bad_delta_values_are_refused(bp: list[float], bq: list[float], status: BookStatus) -> None:
    b = L2Book()
    b.apply_snapshot([100.0], [1.0], [101.0], [3.0], seq=1)
    assert b.apply_delta([98.0, *bp], [1.0, *bq], [], [], seq=2, prev_seq=1) == status
    assert b.levels()[0].tolist() == [100.0]


@pytest.mark.parametrize(
    ("bp", "bq", "ap", "aq", "status"),
    [
        ([100.0, 100.0], [1.0, 1.0], [101.0], [1.0], BookStatus.UNSORTED),
        ([99.0, 100.0], [1.0, 1.0], [101.0], [1.0], BookStatus.UNSORTED),
        ([100.0], [1.0], [102.0, 101.0], [1.0, 1.0], BookStatus.UNSORTED),
        ([101.0], [1.0], [101.0], [1.0], BookStatus.CROSSED),
        ([100.0], [0.0], [101.0], [1.0], BookStatus.BAD_QTY),
        ([100.0], [1.0], [float("nan")], [1.0], BookStatus.BAD_PRICE),
    ],
)
def test_bad_snapshots_are_refused_whole(
    bp: list[float], bq: list[float], ap: list[float], aq: list[float], status: BookStatus
) -> None:
    b = L2Book()
    b.apply_snapshot([50.0], [1.0], [60.0], [1.0], seq=1)
    assert b.apply_snapshot(bp, bq, ap, aq, seq=2) == status
    assert b.best_bid() == (50.0, 1.0) and b.seq == 1


def test_sequence_rules_bridge_stale_gap() -> None:
    b = L2Book()
    assert b.apply_delta([1.0], [1.0], [], [], seq=5, prev_seq=4) == BookStatus.NOT_SYNCED
    b.apply_snapshot([100.0], [1.0], [101.0], [1.0], seq=100)
    # Binance futures bridge: U <= lastUpdateId <= u, pu is anything
    assert b.apply_delta([99.0], [1.0], [], [], seq=105, first_seq=98, prev_seq=90) == BookStatus.OK
    assert b.seq == 105
    assert b.apply_delta([98.0], [1.0], [], [], seq=104, first_seq=103, prev_seq=102) == BookStatus.SEQ_STALE
    assert b.apply_delta([98.0], [1.0], [], [], seq=110, first_seq=106, prev_seq=105) == BookStatus.OK
    assert b.apply_delta([97.0], [1.0], [], [], seq=120, first_seq=115, prev_seq=114) == BookStatus.SEQ_GAP
    assert not b.synced


def test_apply_normalized_events() -> None:
    b = L2Book()
    snap = BookSnapshot(1, 0, 10, 1, 50, [100.0], [1.0], [101.0], [2.0])
    delta = BookDelta(1, 0, 11, 2, 55, 51, 50, [100.0], [0.0], [100.5], [1.0])
    assert b.apply(snap) == BookStatus.OK
    assert b.apply(delta) == BookStatus.OK
    assert b.best_bid() == (0.0, 0.0) and b.best_ask() == (100.5, 1.0)


def test_capacity_keeps_the_best_levels() -> None:
    b = L2Book(capacity=3)
    b.apply_snapshot([100.0, 99.0, 98.0, 97.0], [1.0] * 4, [101.0], [1.0], seq=1)
    assert b.levels()[0].tolist() == [100.0, 99.0, 98.0] and b.truncated == 1
    b.apply_delta([96.0], [1.0], [], [], seq=2, prev_seq=1)  # worse than all: dropped
    assert b.levels()[0].tolist() == [100.0, 99.0, 98.0] and b.truncated == 2
    b.apply_delta([99.5], [1.0], [], [], seq=3, prev_seq=2)  # pushes out 98
    assert b.levels()[0].tolist() == [100.0, 99.5, 99.0] and b.truncated == 3


# --------------------------------------------------------------------------- properties

TICK = 0.5
prices = st.integers(min_value=1, max_value=60).map(lambda k: k * TICK)
good_qty = st.sampled_from([0.0, 0.001, 0.5, 1.0, 2.25, 10.0, 123.456])
wild_float = st.one_of(
    good_qty,
    st.sampled_from([-1.0, -0.0, float("nan"), float("inf"), -float("inf"), 1e300]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def wild_updates(draw: st.DrawFn) -> tuple[str, list[float], list[float], list[float], list[float]]:
    kind = draw(st.sampled_from(["snap", "delta", "delta", "delta"]))
    nb_ = draw(st.integers(0, 6))
    na_ = draw(st.integers(0, 6))
    px = st.one_of(prices, prices, prices, wild_float)
    bp = draw(st.lists(px, min_size=nb_, max_size=nb_))
    ap = draw(st.lists(px, min_size=na_, max_size=na_))
    bq = draw(st.lists(wild_float, min_size=nb_, max_size=nb_))
    aq = draw(st.lists(wild_float, min_size=na_, max_size=na_))
    if kind == "snap" and draw(st.booleans()):
        bp = sorted(set(p for p in bp if p == p), reverse=True)
        ap = sorted(set(p for p in ap if p == p))
        bq = bq[: len(bp)] + [1.0] * (len(bp) - len(bq[: len(bp)]))
        aq = aq[: len(ap)] + [1.0] * (len(ap) - len(aq[: len(ap)]))
    return kind, bp, bq, ap, aq


@settings(max_examples=150, deadline=None)
@given(st.lists(wild_updates(), min_size=1, max_size=25))
def test_sizes_never_negative_and_book_matches_model(updates: list) -> None:  # type: ignore[type-arg]
    """Any mix of valid and invalid input: sizes stay > 0, levels stay ordered, and the book
    is exactly the reference model (same accept/refuse decisions)."""
    book = L2Book(capacity=64)
    model = ModelBook()
    for kind, bp, bq, ap, aq in updates:
        if kind == "snap":
            got = book.apply_snapshot(bp, bq, ap, aq)
            want = model.snapshot(bp, bq, ap, aq)
        else:
            got = book.apply_delta(bp, bq, ap, aq, check_seq=False)
            want = model.delta(bp, bq, ap, aq)
        assert got == want
        assert_sane(book)
        assert_same(book, model)


@st.composite
def valid_update_stream(draw: st.DrawFn) -> list[tuple[list[float], list[float], list[float], list[float]]]:
    n = draw(st.integers(1, 30))
    out = []
    for _ in range(n):
        k = draw(st.integers(0, 8))
        side_bid = draw(st.lists(st.booleans(), min_size=k, max_size=k))
        pxs = draw(st.lists(prices, min_size=k, max_size=k))
        qs = draw(st.lists(good_qty, min_size=k, max_size=k))
        bp = [p for p, b in zip(pxs, side_bid) if b]
        bq = [q for q, b in zip(qs, side_bid) if b]
        ap = [p for p, b in zip(pxs, side_bid) if not b]
        aq = [q for q, b in zip(qs, side_bid) if not b]
        out.append((bp, bq, ap, aq))
    return out


@settings(max_examples=150, deadline=None)
@given(valid_update_stream())
def test_valid_update_never_leaves_book_crossed(updates: list) -> None:  # type: ignore[type-arg]
    """Every accepted delta leaves an uncrossed book; a crossing one is refused and undone."""
    book = L2Book(capacity=64)
    book.apply_snapshot([10.0], [1.0], [20.0], [1.0])
    for bp, bq, ap, aq in updates:
        before = [x.tolist() for x in book.levels()]
        st_ = book.apply_delta(bp, bq, ap, aq, check_seq=False)
        assert st_ in (BookStatus.OK, BookStatus.CROSSED)
        assert not book.is_crossed()
        if st_ == BookStatus.CROSSED:
            assert [x.tolist() for x in book.levels()] == before
        assert_sane(book)


@st.composite
def book_states(draw: st.DrawFn) -> list[tuple[dict[float, float], dict[float, float]]]:
    """A sequence of uncrossed books on a price grid (bids below a moving split, asks above)."""
    n = draw(st.integers(2, 12))
    states = []
    for _ in range(n):
        split = draw(st.integers(5, 55))
        bid_ticks = draw(st.sets(st.integers(1, split), max_size=12))
        ask_ticks = draw(st.sets(st.integers(split + 1, 60), max_size=12))
        qty = st.sampled_from([0.001, 0.5, 1.0, 3.0, 7.5])
        bids = {t * TICK: draw(qty) for t in bid_ticks}
        asks = {t * TICK: draw(qty) for t in ask_ticks}
        states.append((bids, asks))
    return states


def _delta(old: dict[float, float], new: dict[float, float]) -> tuple[list[float], list[float]]:
    px = sorted(set(old) | set(new))
    px = [p for p in px if old.get(p) != new.get(p)]
    return px, [new.get(p, 0.0) for p in px]


@settings(max_examples=150, deadline=None)
@given(book_states())
def test_snapshot_plus_deltas_equals_later_snapshot(states: list) -> None:  # type: ignore[type-arg]
    """Applying the first snapshot then the diffs between states gives each later snapshot.

    Removals go first within a delta (as a venue's diff of two uncrossed books implies), so
    every intermediate step is accepted."""
    book = L2Book(capacity=64)
    b0, a0 = states[0]
    bl = sorted(b0, reverse=True)
    al = sorted(a0)
    assert book.apply_snapshot(bl, [b0[p] for p in bl], al, [a0[p] for p in al], seq=0) == BookStatus.OK
    for i in range(1, len(states)):
        (ob, oa), (nb_, na_) = states[i - 1], states[i]
        bp, bq = _delta(ob, nb_)
        ap, aq = _delta(oa, na_)
        # two steps: removals and shrinking moves first, then additions, both uncrossed
        rm_b = [(p, q) for p, q in zip(bp, bq) if q == 0]
        rm_a = [(p, q) for p, q in zip(ap, aq) if q == 0]
        add_b = [(p, q) for p, q in zip(bp, bq) if q != 0]
        add_a = [(p, q) for p, q in zip(ap, aq) if q != 0]
        seq = 2 * i - 1
        st1 = book.apply_delta([p for p, _ in rm_b], [q for _, q in rm_b], [p for p, _ in rm_a],
                               [q for _, q in rm_a], seq=seq, prev_seq=seq - 1)
        assert st1 == BookStatus.OK
        # Applying removals left the book a subset of the old one: never crossed. Additions
        # may cross the *old* remaining levels only if the new state were crossed: it is not.
        st2 = book.apply_delta([p for p, _ in add_b], [q for _, q in add_b], [p for p, _ in add_a],
                               [q for _, q in add_a], seq=seq + 1, prev_seq=seq)
        assert st2 == BookStatus.OK
        want_b = sorted(nb_, reverse=True)
        want_a = sorted(na_)
        got = [x.tolist() for x in book.levels()]
        assert got == [want_b, [nb_[p] for p in want_b], want_a, [na_[p] for p in want_a]]
