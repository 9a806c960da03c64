"""The decision path's shortcuts give the answers of the plain forms, bit for bit.

Batch model calls (``fill_probs``, ``queue_values``) against one call per price, the
memoised grid steps against a fresh grid's, and the OMS's price string shortcut against
``rules.format_price``, including non-finite and out-of-range inputs; the OMS's one-pass
settled-orders-and-headroom view against the two queries it replaces, and the audit rate
budget built at drain time against the limiter read at the cycle.
"""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mm.audit.record import rate_budget
from mm.execution.engine import ExecutionEngine
from mm.execution.lifecycle import ExchangeRequest, Oms, price_str_on_grid, size_str_on_lots
from mm.execution.mode_handlers import PriceGrid, SymbolSpec
from mm.execution.models import ExpFillModel, HeuristicQueueValue, fill_probs, queue_values
from mm.execution.order_diff import TargetOrder
from mm.venues.hyperliquid import rules
from mm.venues.hyperliquid.rules import price_decimals
from tests.execution.helpers import config, control, signal, snap

QV = HeuristicQueueValue()
FILL = ExpFillModel()

prices = st.one_of(st.floats(99.0, 101.0), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0]))
ranks = st.one_of(st.floats(-0.5, 1.5), st.sampled_from([math.nan, math.inf, -math.inf]))


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b))


@given(st.sampled_from([1, -1]), st.lists(prices, max_size=6), st.sampled_from([1.0, 0.25, 0.0, -1.0, math.nan]),
       st.sampled_from([100.0, 0.0, math.nan]), st.floats(-30.0, 30.0))
def test_fill_probs_are_fill_prob_per_price(side: int, pxs: list[float], horizon_s: float, mid: float,
                                            ofi: float) -> None:
    s = snap(mid_px=mid, ofi_500ms=ofi)
    want = [FILL.fill_prob(side, px, horizon_s, s) for px in pxs]
    assert _same(FILL.fill_probs(side, pxs, horizon_s, s), want)
    assert _same(fill_probs(FILL, side, pxs, horizon_s, s), want)


@given(st.sampled_from([1, -1]), st.lists(st.tuples(prices, ranks), max_size=6), st.floats(-50.0, 50.0),
       st.floats(0.0, 1.0), st.sampled_from([0.1, 0.5, math.nan]))
def test_queue_values_are_queue_value_per_level(side: int, levels: list[tuple[float, float]], ofi: float,
                                                toxic_prob: float, microprice: float) -> None:
    s = snap(ofi_500ms=ofi, toxic_prob=toxic_prob, microprice=100.0 + microprice)
    pxs = [px for px, _ in levels]
    rks = [r for _, r in levels]
    want = [HeuristicQueueValue().queue_value(side, px, r, s) for px, r in levels]
    assert _same(QV.queue_values(side, pxs, rks, s), want)
    assert _same(queue_values(QV, side, pxs, rks, s), want)


@given(st.lists(st.floats(0.5, 200_000.0), min_size=1, max_size=20), st.integers(0, 5), st.integers(0, 3))
def test_memoised_grid_steps_are_a_fresh_grids(pxs: list[float], szd: int, n: int) -> None:
    g = PriceGrid(szd)
    for _ in range(2):  # the second pass answers from the memo
        for px in pxs:
            assert g.up(px, n) == PriceGrid(szd).up(px, n)
            assert g.down(px, n) == PriceGrid(szd).down(px, n)
            assert g.floor_qty(px / 1000.0) == PriceGrid(szd).floor_qty(px / 1000.0)
    assert g.floor_qty(math.nan) == 0.0 and g.floor_qty(-1.0) == 0.0


@given(st.one_of(st.floats(1e-9, 1e9), st.sampled_from([0.0, -1.0, math.nan, math.inf, 1e-5, 1e16, 0.1, 100000.0])),
       st.integers(0, 6))
def test_price_str_on_grid_is_rules_format_price(px: float, szd: int) -> None:
    fast = price_str_on_grid(px, price_decimals(szd))
    if fast is not None:
        assert fast == rules.format_price(px, szd)


@given(st.floats(0.001, 500_000.0), st.integers(0, 5), st.integers(-3, 3))
def test_price_str_on_grid_formats_every_grid_price(px: float, szd: int, n: int) -> None:
    g = PriceGrid(szd)
    on_grid = g.shift(g.floor_px(px), n)
    assert price_str_on_grid(on_grid, g.px_decimals) == rules.format_price(on_grid, szd)


@given(st.one_of(st.floats(1e-9, 1e7), st.sampled_from([0.0, -1.0, math.nan, math.inf, 1e-5, 1e16, 0.05])),
       st.integers(0, 6))
def test_size_str_on_lots_is_rules_format_size(qty: float, szd: int) -> None:
    fast = size_str_on_lots(qty, szd)
    if fast is not None:
        assert fast == rules.format_size(qty, szd)
    lots = PriceGrid(szd).floor_qty(qty) if math.isfinite(qty) else 0.0
    if 1e-4 <= lots < 1e15:  # repr has no exponent here: the shortcut must answer
        assert size_str_on_lots(lots, szd) == rules.format_size(lots, szd)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-3, 3), st.floats(0.01, 0.3), st.booleans()), min_size=1,
                max_size=30))
@example([(0, 0, 0.3, True), (3, 0, 0.1, True), (1, 1, 0.2, False), (0, 2, 0.2, False)])  # long, RO ask pending
def test_settled_and_headroom_is_settled_passive_and_headroom(steps: list[tuple[int, int, float, bool]]) -> None:
    """The engine's one-pass view of the live orders equals the two queries it replaces, through
    pending, acked, partly filled, cancelling, modified and reduce-only orders."""
    o = Oms(config(), [SymbolSpec("X", 0, 2)], session_id=3)
    o.set_max_inventory(0, 1.0)
    now = 10**12
    oid = 0
    for k, (op, ticks, qty, answer) in enumerate(steps):
        now += 1_000_000
        side = 1 if ticks % 2 == 0 else -1
        px = round(100.0 - 0.01 * abs(ticks), 2) if side > 0 else round(100.2 + 0.01 * abs(ticks), 2)
        if op <= 1:
            o.sync(0, [TargetOrder(side, px, round(qty, 2), reduce_only=op == 1)], now, False)
        elif op == 2:
            o.sync(0, [], now, False)
        elif op == 3 and o.books[0].live:
            r = next(iter(o.books[0].live.values()))
            o.on_fill(now, 0, r.cloid, r.oid, k, r.side > 0, r.px, max(round(r.remaining / 2, 2), 0.01), 0.0, True)
        for req in o.requests:
            if isinstance(req, ExchangeRequest) and answer:  # else the venue has not answered (yet)
                for p in req.places:
                    oid += 1
                    o.on_order_result(p.cloid, now, "resting", oid)
                for m in req.modifies:
                    oid += 1
                    o.on_order_result(m.order.cloid, now, "resting", oid)
                for c in req.cancels:
                    o.on_cancel_result(c.cloid, now, True)
        o.requests = []
        settled, hb, hs = o.settled_and_headroom(0)
        assert settled == o.settled_passive(0)
        assert (hb, hs) == o.headroom(0)


def test_drained_audit_rate_budget_is_the_cycles_own() -> None:
    """The audit record's rate budget, built when drained from the counts kept at the cycle,
    equals ``rate_budget`` of the limiter read right after that cycle."""
    e = ExecutionEngine(1, config(), [SymbolSpec("X", 0, 2)], session_id=1)
    e.on_control(control())
    want = []
    for k in range(40):
        now = 10**12 + k * 700_000_000
        e.on_snapshot(snap(bid=100.0 - 0.01 * (k % 3), ask=100.2 + 0.01 * (k % 2), ts_ns=now))
        e.on_signal(signal(), now)
        want.append(rate_budget(e.oms.limiter, now))
        for r in e.drain_requests():
            if isinstance(r, ExchangeRequest):
                for p in r.places:
                    e.on_fill(now, 0, p.cloid, 0, k, p.is_buy, float(p.px), float(p.sz), 0.0, True)
    got = [a.rate for a in e.drain_audit(["X"])]
    assert got == want
    assert any(w.address_used > 0 for w in want) and len({w.address_cap for w in want}) > 1  # it traded


@given(st.floats(0.0001, 200_000.0), st.integers(0, 5), st.sampled_from([1, -1]),
       st.lists(st.integers(-3, 3), min_size=1, max_size=5))
def test_unique_offset_levels_are_offset_levels_each_price_once(px: float, szd: int, side: int,
                                                                offsets: list[int]) -> None:
    g = PriceGrid(szd)
    touch = g.floor_px(px)
    want: list[tuple[float, int]] = []
    for lv in PriceGrid(szd).offset_levels(touch, side, offsets):
        if all(lv[0] != w[0] for w in want):
            want.append(lv)
    for _ in range(2):  # the second answer comes from the memo
        assert g.unique_offset_levels(touch, side, offsets) == want
