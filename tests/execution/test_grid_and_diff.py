"""The price grid the handlers quote on, and the order diff's properties."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from mm.execution.mode_handlers import PriceGrid
from mm.execution.order_diff import LiveOrder, TargetOrder, apply_diff, diff_orders, within_tolerance
from mm.venues.hyperliquid import rules

prices = st.floats(1e-4, 2e6, allow_nan=False, allow_infinity=False)
sz_decimals = st.integers(0, 5)


def _valid(px: float, szd: int) -> bool:
    return rules.check_price(rules.plain_str(Decimal(repr(px))), szd) is None


@given(px=prices, szd=sz_decimals)
def test_every_grid_price_is_a_valid_hyperliquid_price(px: float, szd: int) -> None:
    g = PriceGrid(szd)
    assume(px >= 10.0 ** -g.px_decimals)  # below the smallest tick the grid answers that tick
    lo, hi = g.floor_px(px), g.ceil_px(px)
    assert _valid(lo, szd) and _valid(hi, szd)
    assert lo <= px * (1 + 1e-12) and hi >= px * (1 - 1e-12)
    for q in (g.up(lo), g.down(hi), g.up(hi, 3), g.down(lo, 2)):
        if q > 0:
            assert _valid(q, szd), q


@given(px=prices, szd=sz_decimals)
def test_up_and_down_are_the_adjacent_valid_prices(px: float, szd: int) -> None:
    g = PriceGrid(szd)
    p = g.floor_px(px)
    assume(p > 10.0 ** -g.px_decimals * 1.5)  # the smallest tick has nothing below it
    up, down = g.up(p), g.down(p)
    assert down < p < up
    # nothing valid strictly between: the rules' own rounding of a midpoint lands on an end
    for a, b in ((down, p), (p, up)):
        mid = Decimal(repr(a)) + (Decimal(repr(b)) - Decimal(repr(a))) / 2
        lo = rules.round_price(mid, szd, rounding=rules.Rounding.DOWN)
        hi = rules.round_price(mid, szd, rounding=rules.Rounding.UP)
        assert float(lo) in (a, b) and float(hi) in (a, b)


@given(qty=st.floats(0.0, 1e6), szd=sz_decimals)
def test_floor_qty_never_grows_and_is_on_the_lot_grid(qty: float, szd: int) -> None:
    g = PriceGrid(szd)
    q = g.floor_qty(qty)
    assert 0.0 <= q <= qty * (1 + 1e-12)
    if q > 0:
        assert rules.check_size(rules.plain_str(Decimal(repr(q))), szd) is None
    assert qty - q < g.lot * (1 + 1e-9)


# --------------------------------------------------------------------------- order diff

TICK = 0.01


def tick_of(px: float) -> float:
    return TICK


def _order(draw: st.DrawFn, i: int, aggressive_ok: bool) -> TargetOrder:
    side = draw(st.sampled_from([1, -1]))
    px = round(draw(st.integers(9_900, 10_100)) * TICK, 2)
    qty = draw(st.integers(1, 10)) / 2
    ro = draw(st.booleans())
    aggressive = aggressive_ok and draw(st.integers(0, 5)) == 0
    return TargetOrder(side, px, qty, "Ioc" if aggressive else "Alo", ro, aggressive)


@st.composite
def books(draw: st.DrawFn) -> tuple[list[LiveOrder], list[TargetOrder], int, float]:
    n_live = draw(st.integers(0, 4))
    live = []
    for i in range(n_live):
        t = _order(draw, i, False)
        live.append(LiveOrder(f"c{i}", t.side, t.px, t.qty, t.reduce_only))
    targets = [_order(draw, i, True) for i in range(draw(st.integers(0, 4)))]
    return live, targets, draw(st.integers(0, 3)), draw(st.sampled_from([0.0, 0.1, 0.5]))


def _matches(result: list[LiveOrder], targets: list[TargetOrder], tol_ticks: int, tol_frac: float) -> bool:
    """A one-to-one pairing of resting orders with passive targets, each within tolerance."""
    passive = [t for t in targets if not t.aggressive]
    if len(result) != len(passive):
        return False
    used = [False] * len(result)

    def place(k: int) -> bool:
        if k == len(passive):
            return True
        for i, o in enumerate(result):
            if not used[i] and within_tolerance(o, passive[k], tick_of, tol_ticks, tol_frac):
                used[i] = True
                if place(k + 1):
                    return True
                used[i] = False
        return False

    return place(0)


@given(books())
def test_applying_the_diff_yields_the_targets(book: tuple[list[LiveOrder], list[TargetOrder], int, float]) -> None:
    live, targets, tol_ticks, tol_frac = book
    d = diff_orders(live, targets, tick_of, tol_ticks, tol_frac)
    after = apply_diff(live, d)  # raises if the diff names an order twice or one that is not live
    assert _matches(after, targets, tol_ticks, tol_frac)
    def key(t: TargetOrder) -> tuple[int, float, float, bool]:
        return t.side, t.px, t.qty, t.reduce_only

    assert sorted(map(key, (t for t in d.new if t.aggressive))) == sorted(map(key, (t for t in targets if t.aggressive)))


@given(book=books(), dpx=st.integers(-3, 3), shrink=st.floats(0.0, 0.5))
def test_nothing_is_sent_inside_the_tolerance(book: tuple[list[LiveOrder], list[TargetOrder], int, float],
                                              dpx: int, shrink: float) -> None:
    live, _, tol_ticks, tol_frac = book
    assume(abs(dpx) <= tol_ticks and shrink <= tol_frac)
    # targets that each live order already satisfies within the band
    targets = [TargetOrder(o.side, round(o.px + dpx * TICK, 2), o.qty / (1 - shrink) if shrink < 1 else o.qty,
                           "Alo", o.reduce_only) for o in live]
    d = diff_orders(live, targets, tick_of, tol_ticks, tol_frac)
    assert d.empty, d
    assert sorted(d.keep) == sorted(o.cloid for o in live)


@given(books())
def test_each_live_order_gets_at_most_one_action_and_modify_beats_cancel_plus_new(
        book: tuple[list[LiveOrder], list[TargetOrder], int, float]) -> None:
    live, targets, tol_ticks, tol_frac = book
    d = diff_orders(live, targets, tick_of, tol_ticks, tol_frac)
    named = d.cancel + [m.cloid for m in d.modify] + d.keep
    assert sorted(named) == sorted(o.cloid for o in live)
    for side in (1, -1):
        n_new = sum(1 for t in d.new if t.side == side and not t.aggressive)
        n_cancel = sum(1 for c in d.cancel if next(o for o in live if o.cloid == c).side == side)
        assert n_new == 0 or n_cancel == 0, "a cancel and a new on one side should have been a modify"


def test_a_kept_order_is_never_larger_than_its_target() -> None:
    live = [LiveOrder("a", 1, 100.0, 1.2)]
    d = diff_orders(live, [TargetOrder(1, 100.0, 1.0)], tick_of, 0, 0.5)
    assert [m.cloid for m in d.modify] == ["a"] and d.modify[0].target.qty == 1.0
    d = diff_orders(live, [TargetOrder(1, 100.0, 1.5)], tick_of, 0, 0.5)
    assert d.keep == ["a"]


def test_price_moved_beyond_tolerance_is_modified_and_extra_orders_cancelled() -> None:
    live = [LiveOrder("a", 1, 100.0, 1.0), LiveOrder("b", 1, 99.5, 1.0), LiveOrder("c", -1, 101.0, 1.0)]
    d = diff_orders(live, [TargetOrder(1, 100.02, 1.0)], tick_of, 1, 0.0)
    assert [m.cloid for m in d.modify] == ["a"]
    assert sorted(d.cancel) == ["b", "c"] and not d.new
