"""The OMS: cloids, states, timeouts and reconciliation, limits, kill switch, dry run, wire shapes."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mm.execution.config import ExecutionConfig, OmsConfig
from mm.execution.lifecycle import ExchangeRequest, InfoRequest, Oms, VenueOrder
from mm.execution.mode_handlers import PriceGrid, SymbolSpec
from mm.execution.order_diff import TargetOrder
from mm.schema import Fill, OrderEvent, OrderStatus
from mm.venues.hyperliquid import exchange_wire as wire
from mm.venues.hyperliquid import rules
from tests.execution.helpers import config

MS = 1_000_000
T = 10**15


def oms(**kw: Any) -> Oms:
    o = Oms(config(**kw), [SymbolSpec("X", 3, 1)], session_id=0x1234)
    o.set_max_inventory(0, 3.0)
    return o


def bid(px: float = 99.5, qty: float = 0.5, **kw: Any) -> TargetOrder:
    return TargetOrder(1, px, qty, "Alo", **kw)


def ask(px: float = 100.5, qty: float = 0.5, **kw: Any) -> TargetOrder:
    return TargetOrder(-1, px, qty, "Alo", **kw)


def ioc(side: int, px: float, qty: float, reduce_only: bool = False) -> TargetOrder:
    return TargetOrder(side, px, qty, "Ioc", reduce_only, True)


def reqs(o: Oms) -> list[ExchangeRequest | InfoRequest]:
    out = o.requests
    o.requests = []
    return out


def placed(o: Oms, t: TargetOrder | list[TargetOrder], now: int = T) -> list[str]:
    o.sync(0, t if isinstance(t, list) else [t], now, False)
    out = []
    for r in reqs(o):
        assert isinstance(r, ExchangeRequest)
        out += [p.cloid for p in r.places] + [m.order.cloid for m in r.modifies]
    return out


def acked(o: Oms, t: TargetOrder, oid: int, now: int = T) -> str:
    (c,) = placed(o, t, now)
    o.on_order_result(c, now + MS, "resting", oid)
    return c


# --------------------------------------------------------------------------- cloids and states


def test_cloid_is_0x_and_32_hex_unique_and_carries_the_session() -> None:
    o = oms()
    cs = [o.new_cloid() for _ in range(1000)]
    assert all(re.fullmatch(r"0x[0-9a-f]{32}", c) for c in cs)
    assert len(set(cs)) == len(cs) and all(c.startswith("0x0000000000001234") for c in cs)


def test_place_ack_partial_fill_fill_walks_the_states_and_publishes_events() -> None:
    o = oms()
    (c,) = placed(o, bid())
    assert o.status_of(c) == OrderStatus.PENDING_NEW
    o.on_order_result(c, T + MS, "resting", 77)
    assert o.status_of(c) == OrderStatus.OPEN
    o.on_fill(T + 2 * MS, 0, c, 77, 1, True, 99.5, 0.2, 0.001, True)
    assert o.status_of(c) == OrderStatus.PARTIALLY_FILLED
    o.on_fill(T + 3 * MS, 0, c, 77, 2, True, 99.5, 0.3, 0.001, True)
    assert o.status_of(c) == OrderStatus.FILLED
    assert abs(o.effective_position(0) - 0.5) < 1e-12
    evs = [e.status for e in o.events if isinstance(e, OrderEvent)]
    assert evs == [OrderStatus.PENDING_NEW, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED]
    fills = [e for e in o.events if isinstance(e, Fill)]
    assert [f.qty for f in fills] == [0.2, 0.3] and all(f.cloid == c and f.is_maker for f in fills)


def test_no_answer_within_5s_is_stale_and_looked_up_by_cloid() -> None:
    o = oms()
    (c,) = placed(o, bid())
    o.check_timeouts(T + 4_999 * MS)
    assert o.status_of(c) == OrderStatus.PENDING_NEW
    o.check_timeouts(T + 5_000 * MS)
    assert o.status_of(c) == OrderStatus.STALE
    lookups = [r for r in reqs(o) if isinstance(r, InfoRequest)]
    assert [(r.kind, r.cloid) for r in lookups] == [("orderStatus", c)]


def test_a_stale_order_is_never_duplicated_its_side_waits_for_the_lookup() -> None:
    o = oms()
    (c,) = placed(o, bid())
    o.check_timeouts(T + 5_000 * MS)
    reqs(o)
    for k in range(5):
        assert placed(o, bid(99.4), T + (5_001 + k) * MS) == []
    assert placed(o, ask(), T + 5_010 * MS) != []  # the other side is free
    o.on_order_status(T + 5_100 * MS, c, VenueOrder(symbol_id=0, oid=9, cloid=c, is_buy=True, px=99.5,
                                                    rem_qty=0.5, orig_qty=0.5, status="open"))
    assert o.status_of(c) == OrderStatus.OPEN
    o.sync(0, [bid(99.4)], T + 5_200 * MS, False)
    (r,) = reqs(o)
    assert isinstance(r, ExchangeRequest) and r.kind == "batchModify" and r.modifies[0].oid == 9


def test_a_lookup_that_finds_nothing_rejects_and_a_late_arrival_is_adopted() -> None:
    o = oms()
    (c,) = placed(o, bid())
    o.check_timeouts(T + 5_000 * MS)
    o.on_order_status(T + 5_100 * MS, c, None)
    assert o.status_of(c) == OrderStatus.REJECTED
    o.on_order_update(T + 6_000 * MS, VenueOrder(symbol_id=0, oid=5, cloid=c, is_buy=True, px=99.5, rem_qty=0.5,
                                                 orig_qty=0.5, status="open"))
    assert o.status_of(c) == OrderStatus.OPEN  # the venue is the truth


def test_an_older_open_report_does_not_reopen_a_terminal_order() -> None:
    o = oms()
    c = acked(o, bid(), 5)
    o.on_order_update(T + 2 * MS, VenueOrder(symbol_id=0, oid=5, cloid=c, orig_qty=0.5, status="canceled"))
    o.on_order_result(c, T + 3 * MS, "resting", 5)
    o.on_order_update(T + 4 * MS, VenueOrder(symbol_id=0, oid=5, cloid=c, rem_qty=0.5, orig_qty=0.5, status="open"))
    assert o.status_of(c) == OrderStatus.CANCELLED


def test_a_request_refused_before_sending_rejects_its_orders_and_undoes_its_cancels() -> None:
    o = oms()
    o.sync(0, [bid()], T, False)
    (r,) = reqs(o)
    assert isinstance(r, ExchangeRequest)
    c = r.places[0].cloid
    o.on_request_failed(r.request_id, T + MS, maybe_delivered=False, reason="HTTP 429")
    assert o.status_of(c) == OrderStatus.REJECTED
    c2 = acked(o, bid(), 8, T + 2 * MS)
    o.sync(0, [], T + 3 * MS, False)
    (r,) = reqs(o)
    assert isinstance(r, ExchangeRequest) and r.kind == "cancel" and o.status_of(c2) == OrderStatus.PENDING_CANCEL
    o.on_request_failed(r.request_id, T + 4 * MS, maybe_delivered=False, reason="err envelope")
    assert o.status_of(c2) == OrderStatus.OPEN


def test_a_timed_out_request_is_not_a_failure() -> None:
    o = oms()
    o.sync(0, [bid()], T, False)
    (r,) = reqs(o)
    assert isinstance(r, ExchangeRequest)
    o.on_request_failed(r.request_id, T + 3_000 * MS, maybe_delivered=True, reason="timeout")
    assert o.status_of(r.places[0].cloid) == OrderStatus.PENDING_NEW
    o.check_timeouts(T + 5_000 * MS)
    assert o.status_of(r.places[0].cloid) == OrderStatus.STALE


def test_a_refused_cancel_goes_stale_then_reconciles_to_the_venues_status() -> None:
    o = oms()
    c = acked(o, bid(), 11)
    o.sync(0, [], T + 2 * MS, False)
    reqs(o)
    o.on_cancel_result(c, T + 3 * MS, False, rules.ERR_CANCEL_MISSING)
    assert o.status_of(c) == OrderStatus.STALE
    (look,) = reqs(o)
    assert isinstance(look, InfoRequest) and look.cloid == c
    o.on_order_status(T + 4 * MS, c, VenueOrder(symbol_id=0, oid=11, cloid=c, is_buy=True, px=99.5, rem_qty=0.0,
                                                orig_qty=0.5, status="filled"))
    assert o.status_of(c) == OrderStatus.FILLED
    assert abs(o.effective_position(0) - 0.5) < 1e-12  # counted before the fill itself arrives
    o.on_fill(T + 5 * MS, 0, c, 11, 42, True, 99.5, 0.5, 0.0, True)
    assert abs(o.effective_position(0) - 0.5) < 1e-12  # and not twice after


def test_modify_replaces_the_old_order_and_a_failed_modify_looks_the_old_one_up() -> None:
    o = oms()
    c = acked(o, bid(), 21)
    (n,) = placed(o, bid(99.4), T + 2 * MS)
    assert o.status_of(c) == OrderStatus.PENDING_CANCEL and o.status_of(n) == OrderStatus.PENDING_NEW
    o.on_order_result(n, T + 3 * MS, "resting", 22)
    assert o.status_of(c) == OrderStatus.CANCELLED and o.status_of(n) == OrderStatus.OPEN
    (m,) = placed(o, bid(99.3), T + 4 * MS)
    o.on_order_result(m, T + 5 * MS, "error", error=rules.ERR_MODIFY_DEAD)
    assert o.status_of(m) == OrderStatus.REJECTED and o.status_of(n) == OrderStatus.STALE
    assert any(isinstance(r, InfoRequest) and r.cloid == n for r in reqs(o))


def test_an_open_order_we_do_not_know_is_adopted_and_cancelled() -> None:
    o = oms()
    o.on_open_orders(T, [VenueOrder(symbol_id=0, oid=999, cloid=None, is_buy=False, px=101.0, rem_qty=1.0,
                                    orig_qty=1.0)])
    (r,) = reqs(o)
    assert isinstance(r, ExchangeRequest) and r.kind == "cancel" and r.cancels[0].oid == 999
    assert o.orphans_adopted == 1 and o.accounted() == o.sent_total == 1


def test_an_order_missing_from_open_orders_goes_stale_and_is_looked_up() -> None:
    o = oms()
    c = acked(o, bid(), 31)
    o.on_open_orders(T + 2 * MS, [])
    assert o.status_of(c) == OrderStatus.STALE
    assert any(isinstance(r, InfoRequest) and r.cloid == c for r in reqs(o))


def test_kill_switch_sends_only_cancels_of_everything_live() -> None:
    o = oms()
    a = acked(o, bid(), 41)
    (p,) = placed(o, [bid(), ask()], T + 2 * MS)  # the bid is kept; the ask unacked: cancelled by cloid
    res = o.sync(0, [bid(99.0), ask(101.0), ioc(1, 100.6, 0.5)], T + 3 * MS, killed=True)
    rs = reqs(o)
    assert res.placed == 0 and res.modified == 0 and res.cancelled == 2
    assert {r.kind for r in rs if isinstance(r, ExchangeRequest)} == {"cancel", "cancelByCloid"}
    assert o.status_of(a) == o.status_of(p) == OrderStatus.PENDING_CANCEL


def test_min_time_between_aggressive_orders_and_one_at_a_time() -> None:
    o = oms()
    (c,) = placed(o, ioc(1, 100.6, 0.5))
    assert placed(o, ioc(1, 100.6, 0.5), T + 10 * MS) == []  # still in flight
    o.on_order_result(c, T + 20 * MS, "filled", 1, 0.5)
    assert placed(o, ioc(1, 100.6, 0.5), T + 100 * MS) == []  # min_aggressive_interval_ms = 200
    assert placed(o, ioc(1, 100.6, 0.5), T + 200 * MS) != []


def test_max_outstanding_passive_notional_per_symbol() -> None:
    o = oms(oms=OmsConfig(max_outstanding_passive_usd=120.0, open_orders_interval_ms=0))
    res = o.sync(0, [bid(99.5, 1.0), ask(100.5, 1.0)], T, False)
    assert res.placed == 1 and any("outstanding passive" in x for x in res.blocked)


def test_worst_case_inventory_blocks_orders_beyond_max_but_never_reduce_only() -> None:
    o = oms()
    o.on_fill(T, 0, None, 0, 1, True, 100.0, 2.8, 0.0, False)  # long 2.8 of max 3
    res = o.sync(0, [bid(99.5, 0.5)], T, False)
    assert res.placed == 0 and any("worst-case" in x for x in res.blocked)
    res = o.sync(0, [ask(100.5, 0.5), ioc(-1, 99.0, 2.8, reduce_only=True)], T, False)
    assert res.placed == 2


def test_a_modify_in_flight_counts_both_orders_and_falls_back_to_a_cancel() -> None:
    o = oms()
    o.on_fill(T, 0, None, 0, 1, True, 100.0, 1.5, 0.0, False)
    c = acked(o, bid(99.5, 1.0), 51)  # worst case 2.5
    o.sync(0, [bid(99.4, 1.0)], T + 2 * MS, False)  # a modify would make it 3.5 while in flight
    (r,) = reqs(o)
    assert isinstance(r, ExchangeRequest) and r.kind == "cancel" and o.status_of(c) == OrderStatus.PENDING_CANCEL


def test_duplicate_fills_are_dropped() -> None:
    o = oms()
    c = acked(o, bid(), 61)
    assert o.on_fill(T, 0, c, 61, 7, True, 99.5, 0.2, 0.0, True)
    assert not o.on_fill(T, 0, c, 61, 7, True, 99.5, 0.2, 0.0, True)
    assert abs(o.effective_position(0) - 0.2) < 1e-12 and o.duplicate_fills == 1


def test_the_venues_position_is_adopted_only_when_no_order_is_live() -> None:
    o = oms()
    c = acked(o, bid(), 71)
    assert not o.set_position(0, 1.0)
    o.on_order_update(T + 2 * MS, VenueOrder(symbol_id=0, oid=71, cloid=c, rem_qty=0.3, orig_qty=0.5,
                                             status="canceled"))
    assert abs(o.effective_position(0) - 0.2) < 1e-12
    assert o.set_position(0, 0.2)
    o.on_fill(T + 3 * MS, 0, c, 71, 9, True, 99.5, 0.2, 0.0, True)  # a fill already in the venue's figure
    assert abs(o.effective_position(0) - 0.2) < 1e-12


def test_dry_run_order_is_cancelled_as_soon_as_it_is_acked() -> None:
    o = oms()
    res = o.place_dry_run(0, bid(95.0, 0.2), T, False)
    assert res.placed == 1
    (r,) = reqs(o)
    assert isinstance(r, ExchangeRequest)
    c = r.places[0].cloid
    o.on_order_result(c, T + MS, "resting", 81)
    (r,) = reqs(o)
    assert isinstance(r, ExchangeRequest) and r.kind == "cancel" and r.cancels[0].oid == 81
    o.on_cancel_result(c, T + 2 * MS, True)
    assert o.status_of(c) == OrderStatus.CANCELLED
    assert o.place_dry_run(0, bid(95.0, 0.2), T, killed=True).placed == 0


def test_post_only_rejection_keeps_the_bbo_it_carries() -> None:
    o = oms()
    (c,) = placed(o, bid(100.4))
    o.on_order_result(c, T + MS, "error", error=rules.err_bad_alo("100.4", "100.41"))
    assert o.status_of(c) == OrderStatus.REJECTED and o.alo_bbo(0) == (100.4, 100.41, T + MS)


# --------------------------------------------------------------------------- what goes on the wire


@given(px=st.floats(1.0, 200_000.0), qty=st.floats(0.001, 50.0), side=st.sampled_from([1, -1]),
       szd=st.integers(0, 5))
def test_every_price_and_size_sent_is_valid_for_the_asset(px: float, qty: float, side: int, szd: int) -> None:
    g = PriceGrid(szd)
    o = Oms(ExecutionConfig(), [SymbolSpec("Y", 0, szd)])
    o.set_max_inventory(0, 1e9)
    p = g.floor_px(px) if side > 0 else g.ceil_px(px)
    o.sync(0, [TargetOrder(side, p, g.floor_qty(qty), "Alo")], T, False)
    for r in reqs(o):
        assert isinstance(r, ExchangeRequest)
        for pl in r.places:
            assert rules.check_order(pl.px, pl.sz, szd) is None
            assert Decimal(pl.px) * Decimal(pl.sz) >= 10


def test_requests_map_to_hyperliquid_actions() -> None:
    o = oms()
    c = acked(o, bid(), 91)
    o.sync(0, [ask()], T + 2 * MS, False)
    o.sync(0, [ask()], T + 2 * MS, False)
    rs = [r for r in reqs(o) if isinstance(r, ExchangeRequest)]
    kinds = {r.kind: r for r in rs}
    cancel = kinds["cancel"].action()
    assert isinstance(cancel, wire.CancelAction) and cancel.cancels == [wire.CancelWire(a=3, o=91)]
    order = kinds["order"].action()
    assert isinstance(order, wire.OrderAction) and order.grouping == "na"
    ow = order.orders[0]
    assert (ow.a, ow.b, ow.p, ow.s, ow.r, ow.t.limit) == (3, False, "100.5", "0.5", False, wire.Limit(tif="Alo"))
    assert ow.c is not None and ow.c != c
    assert kinds["order"].ip_weight == 1 and kinds["order"].n_items == 1
