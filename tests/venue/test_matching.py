"""The matching engine: queue position, Hyperliquid's order rules, fills, fees, invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.venues.hyperliquid import rules
from mm.venues.sim.config import CoinConfig, FeeConfig, MatchingConfig, UserConfig
from mm.venues.sim.matching import (
    FillEvent,
    MatchingEngine,
    OrderRequest,
    OrderUpdateEvent,
    TradeEvent,
)

A = "0x" + "aa" * 20
B = "0x" + "bb" * 20
C = "0x" + "cc" * 20
COIN = "X"  # szDecimals 0: one lot = one coin; prices up to 6 decimals
T0 = 1_700_000_000_000_000_000


def engine(queue_model: str = "pro_rata", fees: FeeConfig | None = None, balance: float = 1e7,
           leverage: int = 20, **matching: object) -> MatchingEngine:
    return MatchingEngine(
        [CoinConfig(name=COIN, sz_decimals=0), CoinConfig(name="BTC", sz_decimals=5)],
        MatchingConfig(queue_model=queue_model, **matching),  # type: ignore[arg-type]
        fees,
        [UserConfig(address=u, balance_usd=balance, leverage=leverage) for u in (A, B, C)],
    )


def gtc(is_buy: bool, px: str, sz: str, tif: str = "Gtc", reduce_only: bool = False, cloid: str | None = None,
        asset: int = 0) -> OrderRequest:
    return OrderRequest(asset=asset, is_buy=is_buy, px=px, sz=sz, tif=tif, reduce_only=reduce_only, cloid=cloid)


def fills_of(eng: MatchingEngine, user: str) -> list[FillEvent]:
    return [e for e in eng.events if isinstance(e, FillEvent) and e.user == user]


def pos(eng: MatchingEngine, user: str, coin: str = COIN) -> int:
    acct = eng.account(user)
    assert acct is not None
    return acct.position(coin).lots


def book(eng: MatchingEngine, bids: list[tuple[float, float]], asks: list[tuple[float, float]], t: int = 0) -> None:
    eng.apply_book_snapshot(COIN, bids, asks, T0 + t)
    eng.check_invariants()


def test_joined_behind_five_lots_fills_only_after_five_trade_ahead() -> None:
    eng = engine()
    book(eng, [(100, 5)], [(101, 5)])
    out = eng.place_order(A, gtc(True, "100", "1"), T0)
    assert out.kind == "resting"
    for qty in (2, 2, 1):  # 5 lots trade ahead of us: no fill yet
        eng.apply_trade(COIN, False, 100, qty, T0)
        eng.check_invariants()
        assert fills_of(eng, A) == []
    eng.apply_trade(COIN, False, 100, 1, T0)
    (fill,) = fills_of(eng, A)
    assert fill.lots == 1 and fill.px_units == eng.books[COIN].rules.px_to_units(rules.to_decimal("100"))
    assert not fill.crossed and pos(eng, A) == 1
    eng.check_invariants()


@pytest.mark.parametrize("model", ["pro_rata", "behind_first", "ahead_first"])
def test_joined_behind_five_lots_fills_only_after_five_cancel_ahead(model: str) -> None:
    eng = engine(model)
    book(eng, [(100, 5)], [(101, 5)])
    eng.place_order(A, gtc(True, "100", "1"), T0)
    book(eng, [(100, 1)], [(101, 5)])  # 4 of the 5 cancelled; we were at the back
    eng.apply_trade(COIN, False, 100, 1, T0)  # the last lot ahead trades
    assert fills_of(eng, A) == []
    eng.apply_trade(COIN, False, 100, 1, T0)
    assert [f.lots for f in fills_of(eng, A)] == [1]


def test_snapshot_is_a_diff_not_a_reload() -> None:
    eng = engine()
    book(eng, [(100, 5)], [(101, 5)])
    eng.place_order(A, gtc(True, "100", "1"), T0)
    for _ in range(5):  # the same book again and again: the queue position holds
        book(eng, [(100, 5)], [(101, 5)])
    order = eng.open_orders(A)[0]
    assert order.ahead == 5
    book(eng, [(100, 9)], [(101, 5)])  # 4 more joined behind us
    assert order.ahead == 5
    eng.apply_trade(COIN, False, 100, 6, T0)
    assert [f.lots for f in fills_of(eng, A)] == [1]


@pytest.mark.parametrize(("model", "want"), [("pro_rata", 3), ("behind_first", 5), ("ahead_first", 1)])
def test_queue_models_split_cancels(model: str, want: int) -> None:
    eng = engine(model)
    book(eng, [(100, 5)], [(101, 5)])
    eng.place_order(A, gtc(True, "100", "1"), T0)
    book(eng, [(100, 10)], [(101, 5)])  # 5 behind us now
    book(eng, [(100, 6)], [(101, 5)])  # 4 cancelled, somewhere
    assert eng.open_orders(A)[0].ahead == want


def test_levels_beyond_snapshot_depth_keep_our_orders() -> None:
    eng = engine()
    book(eng, [(100, 5), (99, 5)], [(101, 5)])
    eng.place_order(A, gtc(True, "98", "1"), T0)
    book(eng, [(100, 5), (99.5, 5)], [(101, 5)])  # 98 is deeper than this snapshot shows
    (o,) = eng.open_orders(A)
    assert o.px == eng.books[COIN].rules.px_to_units(rules.to_decimal("98"))
    # a level inside the snapshot's range that it omits is gone
    eng.place_order(A, gtc(True, "99.6", "1"), T0)
    book(eng, [(100, 5), (99.7, 1), (99.5, 5)], [(101, 5)])
    assert [lv[0] for lv in eng.book_levels(COIN)[0]][:4] == [100_000000, 99_700000, 99_600000, 99_500000]


def test_alo_that_would_cross_is_rejected_with_the_bbo() -> None:
    eng = engine()
    book(eng, [(100, 5)], [(101, 5)])
    out = eng.place_order(A, gtc(True, "101", "1", tif="Alo", cloid="0x" + "01" * 16), T0)
    assert out.kind == "error"
    assert out.error == "Post only order would have immediately matched, bbo was 100@101."
    assert eng.find_order(A, "0x" + "01" * 16).status == "badAloPxRejected"  # type: ignore[union-attr]
    out = eng.place_order(A, gtc(True, "100.5", "1", tif="Alo"), T0)
    assert out.kind == "resting"
    out = eng.place_order(B, gtc(False, "100.5", "1", tif="Alo"), T0)  # crosses A's bid
    assert out.error == "Post only order would have immediately matched, bbo was 100.5@101."


def test_ioc_without_a_match_is_rejected_and_partial_ioc_reports_filled() -> None:
    eng = engine()
    book(eng, [(100, 5)], [(101, 5), (102, 5)])
    out = eng.place_order(A, gtc(True, "100.5", "1", tif="Ioc"), T0)
    assert (out.kind, out.error) == ("error", rules.ERR_IOC_CANCEL)
    out = eng.place_order(A, gtc(True, "101", "8", tif="Ioc"), T0)
    assert (out.kind, out.total_sz, out.avg_px) == ("filled", "5.0", "101.0")
    assert eng.open_orders(A) == []
    statuses = [e.status for e in eng.events if isinstance(e, OrderUpdateEvent) and e.oid == out.oid]
    assert statuses == ["canceled"]


def test_partial_fills_across_levels_then_rest() -> None:
    eng = engine()
    book(eng, [(100, 5)], [(101, 5), (102, 5)])
    out = eng.place_order(A, gtc(True, "102", "8"), T0)
    assert (out.kind, out.total_sz, out.avg_px) == ("filled", "8.0", "101.375")
    assert [(f.lots, f.crossed) for f in fills_of(eng, A)] == [(5, True), (3, True)]
    eng.events.clear()
    out = eng.place_order(B, gtc(True, "102", "5"), T0)  # 2 left at 102, 3 rest
    assert out.kind == "resting"
    (o,) = eng.open_orders(B)
    assert (o.rem_lots, o.orig_lots, o.filled_lots, o.ahead) == (3, 5, 2, 0)
    bids, asks = eng.book_levels(COIN)
    assert bids[0] == (102_000000, 3, 1) and asks == []
    # the same snapshot again does not bring back what A and B took (depletion)
    book(eng, [(100, 5)], [(101, 5), (102, 5)])
    assert eng.book_levels(COIN)[1] == []
    assert [f.lots for f in fills_of(eng, B)] == [2]
    # 101 leaving the market's book is charged to what we took there; 102 unchanged
    book(eng, [(100, 5)], [(102, 5)])
    assert eng.book_levels(COIN)[1] == [] and eng.book_levels(COIN)[0][0] == (102_000000, 3, 1)
    # 2 new lots offered at 102 meet B's resting bid there: B is the maker
    book(eng, [(100, 5)], [(102, 7)])
    assert [(f.lots, f.crossed) for f in fills_of(eng, B)] == [(2, True), (2, False)]
    assert eng.book_levels(COIN)[0][0] == (102_000000, 1, 1) and eng.book_levels(COIN)[1] == []
    eng.check_invariants()


def test_background_arriving_through_our_quote_fills_it_once() -> None:
    eng = engine()
    book(eng, [(99, 5)], [(101, 5)])
    eng.place_order(A, gtc(True, "100", "3"), T0)
    book(eng, [(99, 5)], [(99.5, 2), (101, 5)])  # the market's asks came down through our bid
    assert [(f.lots, f.px_units, f.crossed) for f in fills_of(eng, A)] == [(2, 100_000000, False)]
    book(eng, [(99, 5)], [(99.5, 2), (101, 5)])  # the same again: no second fill
    assert len(fills_of(eng, A)) == 1
    assert eng.open_orders(A)[0].rem_lots == 1


def test_trade_through_our_price_fills_print_qty_or_full() -> None:
    for mode, want in (("print_qty", 2), ("full", 4)):
        eng = engine(trade_through=mode)
        book(eng, [(100, 5)], [(102, 5)])
        eng.place_order(A, gtc(False, "101", "4"), T0)
        eng.apply_trade(COIN, True, 102, 2, T0)  # a buy printed at 102: it swept 101 first
        assert sum(f.lots for f in fills_of(eng, A)) == want
        eng.check_invariants()


def test_reduce_only() -> None:
    eng = engine()
    book(eng, [(100, 50)], [(101, 50)])
    out = eng.place_order(A, gtc(False, "101", "1", reduce_only=True), T0)
    assert (out.kind, out.error) == ("error", rules.ERR_REDUCE_ONLY)
    eng.place_order(A, gtc(True, "101", "3", tif="Ioc"), T0)  # long 3
    assert pos(eng, A) == 3
    out = eng.place_order(A, gtc(True, "100", "1", reduce_only=True), T0)
    assert out.error == rules.ERR_REDUCE_ONLY
    out = eng.place_order(A, gtc(False, "100.5", "5", reduce_only=True), T0)  # larger than the position
    assert out.kind == "resting"
    eng.apply_trade(COIN, True, 100.5, 10, T0)
    assert pos(eng, A) == 0
    ups = [e.status for e in eng.events if isinstance(e, OrderUpdateEvent) and e.oid == out.oid]
    assert ups == ["open", "reduceOnlyCanceled"]
    # reduce-only IOC closes exactly the position
    eng.place_order(A, gtc(False, "100", "2", tif="Ioc"), T0)  # short 2
    out = eng.place_order(A, gtc(True, "101", "9", tif="Ioc", reduce_only=True), T0)
    assert (out.kind, out.total_sz) == ("filled", "2.0") and pos(eng, A) == 0
    eng.check_invariants()


def test_price_time_priority_among_users() -> None:
    eng = engine()
    book(eng, [(99, 5)], [(102, 5)])
    oa = eng.place_order(A, gtc(True, "100", "2"), T0).oid
    ob = eng.place_order(B, gtc(True, "100", "2"), T0 + 1).oid
    oc = eng.place_order(C, gtc(True, "100.5", "1"), T0 + 2).oid
    out = eng.place_order(C, gtc(False, "100", "4", tif="Ioc"), T0 + 3)
    # C's own bid at 100.5 is the best: self-trade cancels it; then A before B at 100
    assert out.total_sz == "4.0"
    assert eng.find_order(C, oc).status == "selfTradeCanceled"  # type: ignore[union-attr]
    assert [(f.oid, f.lots) for f in eng.events if isinstance(f, FillEvent) and not f.crossed] == [(oa, 2), (ob, 2)]
    assert pos(eng, A) == 2 and pos(eng, B) == 2 and pos(eng, C) == -4
    prints = [e for e in eng.events if isinstance(e, TradeEvent)]
    assert [(p.buyer, p.seller, p.lots, p.taker_is_buy) for p in prints] == [(A, C, 2, False), (B, C, 2, False)]


def test_market_trades_fill_users_in_time_priority() -> None:
    eng = engine()
    book(eng, [(100, 1)], [(102, 5)])
    oa = eng.place_order(A, gtc(True, "100", "2"), T0).oid
    ob = eng.place_order(B, gtc(True, "100", "2"), T0).oid
    eng.apply_trade(COIN, False, 100, 4, T0)  # 1 background ahead, then A's 2, then 1 of B's
    assert [(f.oid, f.lots) for f in eng.events if isinstance(f, FillEvent)] == [(oa, 2), (ob, 1)]
    assert eng.open_orders(B)[0].ahead == 0


def test_fees_base_tier_and_rebate() -> None:
    eng = engine()
    book(eng, [(100, 5)], [(101, 5)])
    eng.place_order(A, gtc(True, "101", "2", tif="Ioc"), T0)  # taker: 202 USD
    (f,) = fills_of(eng, A)
    assert f.fee_usd == pytest.approx(202 * 0.00045)
    eng.place_order(B, gtc(True, "100", "1"), T0)
    eng.apply_trade(COIN, False, 100, 6, T0)
    (fb,) = fills_of(eng, B)
    assert fb.fee_usd == pytest.approx(100 * 0.00015)
    acct = eng.account(B)
    assert acct is not None and acct.balance_usd == pytest.approx(1e7 - 100 * 0.00015)
    eng2 = engine(fees=FeeConfig(tier="tier1", maker_share=0.02))
    book(eng2, [(100, 5)], [(101, 5)])
    eng2.place_order(B, gtc(True, "100", "1"), T0)
    eng2.apply_trade(COIN, False, 100, 6, T0)
    (fr,) = fills_of(eng2, B)
    assert fr.fee_usd == pytest.approx(-100 * 0.00002)  # rebate -0.2 bps
    eng2.place_order(A, gtc(True, "101", "1", tif="Ioc"), T0)
    assert fills_of(eng2, A)[0].fee_usd == pytest.approx(101 * 0.00040)


def test_margin_check() -> None:
    eng = engine(balance=100.0, leverage=1)
    book(eng, [(100, 5)], [(101, 5)])
    out = eng.place_order(A, gtc(True, "99", "2"), T0)  # 198 USD at 1x on 100 USD
    assert (out.kind, out.error) == ("error", rules.ERR_MARGIN)
    assert eng.place_order(A, gtc(True, "99", "1"), T0).kind == "resting"
    assert eng.place_order(A, gtc(True, "98", "1"), T0).error == rules.ERR_MARGIN  # the open order holds margin
    assert eng.set_leverage(A, 0, 5) is None
    assert eng.place_order(A, gtc(True, "98", "1"), T0).kind == "resting"


def test_static_rules_and_cancel_and_modify() -> None:
    eng = engine()
    book(eng, [(100, 5)], [(101, 5)])
    assert eng.place_order(A, gtc(True, "100.0000001", "1"), T0).error == rules.ERR_TICK
    assert eng.place_order(A, gtc(True, "100", "1.5"), T0).error == rules.ERR_INVALID_SIZE
    assert eng.place_order(A, gtc(True, "9", "1"), T0).error == rules.ERR_MIN_NOTIONAL
    assert eng.place_order(A, gtc(True, "1", "1", asset=7), T0).error == rules.ERR_UNKNOWN_ASSET
    cloid = "0x" + "ab" * 16
    out = eng.place_order(A, gtc(True, "99", "1", cloid=cloid), T0)
    assert eng.cancel(B, 0, out.oid, T0) == rules.ERR_CANCEL_MISSING  # not B's
    assert eng.cancel(A, 1, out.oid, T0) == rules.ERR_CANCEL_MISSING  # wrong asset
    eng.events.clear()
    new = eng.modify(A, cloid, gtc(True, "99.5", "2", cloid=cloid), T0)
    assert new.kind == "resting" and new.oid != out.oid
    ups = [(e.oid, e.status) for e in eng.events if isinstance(e, OrderUpdateEvent)]
    assert ups == [(new.oid, "open"), (out.oid, "canceled")]
    assert eng.modify(A, out.oid, gtc(True, "99.5", "2"), T0).error == rules.ERR_MODIFY_DEAD
    assert eng.modify(A, new.oid, gtc(True, "99.55555", "2"), T0).error == rules.ERR_TICK
    assert eng.find_order(A, cloid).oid == new.oid  # type: ignore[union-attr]  # bad modify left it alone
    assert eng.cancel_by_cloid(A, 0, cloid, T0) is None
    assert eng.cancel_by_cloid(A, 0, cloid, T0) == rules.ERR_CANCEL_MISSING
    assert eng.find_order(A, new.oid).status == "canceled"  # type: ignore[union-attr]
    eng.check_invariants()


def test_bbo_updates_between_snapshots() -> None:
    eng = engine()
    book(eng, [(100, 5), (99, 5)], [(101, 5), (102, 5)])
    eng.place_order(A, gtc(False, "101", "1"), T0)
    eng.apply_bbo(COIN, 100, 3, 101, 7, T0)  # 2 more joined behind at 101, bid shrank
    assert eng.open_orders(A)[0].ahead == 5
    eng.apply_bbo(COIN, 101.5, 2, 102, 5, T0)  # the market moved up through our ask
    eng.check_invariants()
    assert sum(f.lots for f in fills_of(eng, A)) == 1


# ------------------------------------------------------------------ hypothesis: invariants


ops = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.integers(-20, 20), st.integers(1, 4), st.lists(st.integers(0, 30), min_size=1,
                                                                                       max_size=6)),
        st.tuples(st.just("trade"), st.booleans(), st.integers(-25, 25), st.integers(1, 20)),
        st.tuples(st.just("order"), st.sampled_from([A, B, C]), st.booleans(), st.integers(-25, 25),
                  st.integers(1, 12), st.sampled_from(["Gtc", "Ioc", "Alo"]), st.booleans()),
        st.tuples(st.just("cancel"), st.sampled_from([A, B, C]), st.integers(0, 5)),
        st.tuples(st.just("bbo"), st.integers(-20, 20), st.integers(1, 3), st.integers(0, 9), st.integers(0, 9)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=ops, model=st.sampled_from(["pro_rata", "behind_first", "ahead_first"]),
       through=st.sampled_from(["print_qty", "full"]))
def test_invariants_hold_under_random_flow(ops: list[tuple], model: str, through: str) -> None:
    eng = engine(model, trade_through=through, balance=1e9)
    t = T0
    orders_seen: dict[int, int] = {}
    for op in ops:
        t += 1_000_000
        if op[0] == "book":
            _, mid, half, sizes = op
            bids = [(1000 + mid - half - i, s) for i, s in enumerate(sizes)]
            asks = [(1000 + mid + half + i, s) for i, s in enumerate(sizes)]
            eng.apply_book_snapshot(COIN, bids, asks, t)
        elif op[0] == "trade":
            _, is_buy, off, qty = op
            eng.apply_trade(COIN, is_buy, 1000 + off, qty, t)
        elif op[0] == "order":
            _, user, is_buy, off, qty, tif, ro = op
            out = eng.place_order(user, gtc(is_buy, str(1000 + off), str(qty), tif=tif, reduce_only=ro), t)
            if out.kind != "error":
                orders_seen[out.oid] = qty
        elif op[0] == "cancel":
            _, user, k = op
            open_ = eng.open_orders(user)
            if open_:
                assert eng.cancel(user, 0, open_[k % len(open_)].oid, t) is None
        else:
            _, mid, half, bq, aq = op
            eng.apply_bbo(COIN, 1000 + mid - half, bq, 1000 + mid + half, aq, t)
        eng.check_invariants()  # never crossed, no empty or negative levels, queues ordered
    fills = [e for e in eng.events if isinstance(e, FillEvent)]
    assert all(f.lots > 0 for f in fills)
    for user in (A, B, C):  # positions are the sum of fills
        signed = sum(f.lots if f.is_buy else -f.lots for f in fills if f.user == user)
        assert pos(eng, user) == signed
    per_order: dict[int, int] = {}
    for f in fills:
        per_order[f.oid] = per_order.get(f.oid, 0) + f.lots
    for oid, filled in per_order.items():  # never more than ordered
        assert filled <= orders_seen[oid]
    for user in (A, B, C):
        for o in eng.open_orders(user):
            assert 0 < o.rem_lots <= o.orig_lots and o.filled_lots == per_order.get(o.oid, 0)
    # user-vs-user prints balance out
    for p in (e for e in eng.events if isinstance(e, TradeEvent)):
        assert p.lots > 0
