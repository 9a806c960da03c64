"""Queue-rank tracker: the documented model, rule by rule, and its invariants under random
book/trade sequences (property tests named after the invariants)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.features.engine import FeatureEngine
from mm.features.queue_rank import (
    ASK,
    BID,
    NO_RANK,
    QueueRankConfig,
    QueueRankTracker,
    ahead_after_cancel,
)
from mm.schema import Bbo, BookSnapshot, OrderEvent, OrderStatus, Trade, Venue
from mm.venues.sim.queue_model import QueueModel

HL = int(Venue.HYPERLIQUID)


def book(tr: QueueRankTracker, bids: list[tuple[float, float]], asks: list[tuple[float, float]], t: int = 0) -> None:
    tr.on_event(BookSnapshot(venue=HL, symbol_id=0, ts_ns=t, remote_ts_ms=0, seq=0,
                             bid_px=[p for p, _ in bids], bid_qty=[q for _, q in bids],
                             ask_px=[p for p, _ in asks], ask_qty=[q for _, q in asks]), t)


def trade(tr: QueueRankTracker, px: float, qty: float, side: int, t: int = 1) -> None:
    tr.on_event(Trade(venue=HL, symbol_id=0, ts_ns=t, remote_ts_ms=0, seq=0, px=px, qty=qty, side=side), t)


def bbo(tr: QueueRankTracker, bp: float, bq: float, ap: float, aq: float, t: int = 2) -> None:
    tr.on_event(Bbo(venue=HL, symbol_id=0, ts_ns=t, remote_ts_ms=0, seq=0, bid_px=bp, bid_qty=bq,
                    ask_px=ap, ask_qty=aq), t)


def fresh() -> QueueRankTracker:
    tr = QueueRankTracker(0)
    book(tr, [(100.0, 5.0), (99.0, 3.0)], [(101.0, 4.0), (102.0, 2.0)])
    return tr


def test_join_at_back_has_the_whole_level_ahead() -> None:
    tr = fresh()
    o = tr.add_order("a", BID, 100.0, 1.0, 0)
    assert o.ahead_qty == 5.0 and o.level_qty == 5.0 and o.rank_frac == 1.0
    o2 = tr.add_order("b", ASK, 102.0, 1.0, 0, rank_frac=0.5)
    assert o2.ahead_qty == pytest.approx(1.0) and o2.rank_frac == pytest.approx(0.5)
    o3 = tr.add_order("c", BID, 99.5, 1.0, 0)  # an empty price inside the shown range
    assert o3.ahead_qty == 0.0 and o3.rank_frac == 0.0


def test_trade_at_our_price_consumes_the_front_then_fills() -> None:
    tr = fresh()
    o = tr.add_order("a", BID, 100.0, 1.0, 0)
    trade(tr, 100.0, 2.0, -1)  # a sell hits bids at 100
    assert o.ahead_qty == pytest.approx(3.0) and not o.filled
    trade(tr, 100.0, 3.5, -1, t=5)
    assert o.ahead_qty == 0.0 and o.filled_qty_est == pytest.approx(0.5) and not o.filled
    trade(tr, 100.0, 0.5, -1, t=7)
    assert o.filled and o.fill_ts_ns == 7
    assert [x.key for x in tr.drain_filled()] == ["a"] and tr.drain_filled() == []


def test_buy_trades_do_not_touch_bids_and_zero_qty_probe_fills_on_any_excess() -> None:
    tr = fresh()
    o = tr.add_order("p", BID, 100.0, 0.0, 0, rank_frac=0.0)
    trade(tr, 100.0, 1.0, +1)  # buyer lifts asks: not our side
    assert not o.filled
    trade(tr, 100.0, 1e-6, -1, t=9)
    assert o.filled and o.fill_ts_ns == 9


def test_trade_through_fills_whatever_is_ahead() -> None:
    tr = fresh()
    o = tr.add_order("a", BID, 100.0, 1.0, 0)
    trade(tr, 99.0, 0.1, -1, t=3)
    assert o.filled and o.ahead_qty == 0.0 and o.fill_ts_ns == 3


def test_opposite_best_reaching_our_price_fills() -> None:
    tr = fresh()
    o = tr.add_order("a", ASK, 101.0, 1.0, 0)
    bbo(tr, 101.0, 1.0, 101.5, 2.0, t=4)  # best bid now at our ask
    assert o.filled and o.fill_ts_ns == 4


@pytest.mark.parametrize(("model", "expect"), [("pro_rata", 2.5), ("behind_first", 4.0), ("ahead_first", 1.0)])
def test_cancels_move_us_up_by_the_configured_model(model: str, expect: float) -> None:
    tr = QueueRankTracker(0, QueueRankConfig(cancel_model=model))
    book(tr, [(100.0, 8.0)], [(101.0, 1.0)])
    o = tr.add_order("a", BID, 100.0, 1.0, 0, rank_frac=0.5)  # 4 ahead of 8
    bbo(tr, 100.0, 5.0, 101.0, 1.0)  # 3 cancelled, no trade
    assert o.ahead_qty == pytest.approx(expect)
    assert o.level_qty == 5.0


def test_decrease_explained_by_trades_is_not_a_cancel() -> None:
    tr = fresh()
    o = tr.add_order("a", BID, 100.0, 1.0, 0, rank_frac=0.6)  # 3 ahead
    trade(tr, 100.0, 2.0, -1)
    assert o.ahead_qty == pytest.approx(1.0)
    bbo(tr, 100.0, 3.0, 101.0, 4.0)  # 5 - 2 traded = 3 displayed: consistent
    assert o.ahead_qty == pytest.approx(1.0)


def test_additions_join_behind() -> None:
    tr = fresh()
    o = tr.add_order("a", BID, 100.0, 1.0, 0)
    bbo(tr, 100.0, 9.0, 101.0, 4.0)
    assert o.ahead_qty == 5.0 and o.rank_frac == pytest.approx(5.0 / 9.0)


def test_level_gone_makes_us_the_touch() -> None:
    tr = fresh()
    o = tr.add_order("a", BID, 100.0, 1.0, 0)
    bbo(tr, 99.0, 3.0, 101.0, 4.0)  # best bid below ours: nobody left at 100
    assert o.ahead_qty == 0.0 and o.level_qty == 0.0 and not o.filled
    assert tr.best()[0] == 99.0


def test_snapshot_covering_the_price_without_it_empties_the_level() -> None:
    tr = fresh()
    o = tr.add_order("a", BID, 99.0, 1.0, 0)
    book(tr, [(100.0, 5.0), (98.0, 3.0)], [(101.0, 4.0)], t=3)
    assert o.ahead_qty == 0.0


def test_snapshot_not_reaching_the_price_leaves_it_unknown() -> None:
    tr = fresh()
    o = tr.add_order("a", BID, 99.0, 1.0, 0)
    book(tr, [(100.0, 5.0)], [(101.0, 4.0)], t=3)  # 99 beyond the shown depth
    assert tr.displayed(BID, 99.0) is None
    assert o.ahead_qty == 3.0


def _oe(cloid: str, status: OrderStatus, px: float = 100.0, qty: float = 1.0, filled: float = 0.0,
        side: int = 1) -> OrderEvent:
    return OrderEvent(symbol_id=0, ts_ns=5, origin_ts_ns=5, cloid=cloid, oid=1, side=side, px=px, qty=qty,
                      filled_qty=filled, status=int(status))


def test_live_orders_from_order_events_and_ranks_for_the_feature_engine() -> None:
    tr = fresh()
    assert tr.ranks() == (NO_RANK, NO_RANK)
    tr.on_event(_oe("x", OrderStatus.PENDING_NEW), 5)
    assert len(tr) == 0  # not resting yet
    tr.on_event(_oe("x", OrderStatus.OPEN), 5)
    o = tr.order("x")
    assert o is not None and o.in_book and o.ahead_qty == 5.0
    # the next book shows our 1.0 inside the 6.0: others stay 5
    bbo(tr, 100.0, 6.0, 101.0, 4.0, t=6)
    assert o.level_qty == 5.0 and o.ahead_qty == 5.0
    trade(tr, 100.0, 4.0, -1, t=7)
    bid_rank, ask_rank = tr.ranks()
    assert bid_rank == pytest.approx(1.0) and ask_rank == NO_RANK  # 1 ahead of 1 other
    tr.on_event(_oe("x", OrderStatus.PARTIALLY_FILLED, filled=0.4), 8)
    assert tr.order("x") is not None and tr.order("x").qty == pytest.approx(0.6)  # type: ignore[union-attr]
    tr.on_event(_oe("x", OrderStatus.CANCELLED), 9)
    assert tr.order("x") is None and tr.ranks() == (NO_RANK, NO_RANK)
    eng = FeatureEngine(0)
    eng.set_queue_ranks(*tr.ranks())


def test_other_symbols_and_venues_are_ignored() -> None:
    tr = fresh()
    o = tr.add_order("a", BID, 100.0, 1.0, 0)
    tr.on_event(Trade(venue=HL, symbol_id=1, ts_ns=1, remote_ts_ms=0, seq=0, px=99.0, qty=9.0, side=-1), 1)
    tr.on_event(Trade(venue=int(Venue.BINANCE), symbol_id=0, ts_ns=1, remote_ts_ms=0, seq=0, px=99.0, qty=9.0,
                      side=-1), 1)
    assert not o.filled and tr.n_ignored == 2


def test_bad_orders_are_refused() -> None:
    tr = fresh()
    with pytest.raises(ValueError, match="side"):
        tr.add_order("a", 0, 100.0, 1.0, 0)
    with pytest.raises(ValueError, match="px"):
        tr.add_order("a", BID, math.nan, 1.0, 0)
    with pytest.raises(ValueError, match="qty"):
        tr.add_order("a", BID, 100.0, -1.0, 0)
    with pytest.raises(ValueError, match="cancel_model"):
        QueueRankConfig(cancel_model="lifo")


# ----------------------------------------------------------------- invariants

@given(ahead=st.floats(0, 100), others=st.floats(0, 100), new=st.floats(0, 100),
       model=st.sampled_from(list(QueueModel)))
def test_cancel_never_moves_an_order_back_nor_past_the_level(ahead: float, others: float, new: float,
                                                               model: QueueModel) -> None:
    ahead = min(ahead, others)
    a = ahead_after_cancel(model, ahead, others, new)
    assert 0.0 <= a <= ahead + 1e-12
    assert a <= max(new, 0.0) + 1e-12


@given(a1=st.floats(0, 50), a2=st.floats(0, 50), others=st.floats(0.1, 50), new=st.floats(0, 50),
       model=st.sampled_from(list(QueueModel)))
def test_cancel_keeps_fifo_order(a1: float, a2: float, others: float, new: float, model: QueueModel) -> None:
    lo, hi = sorted((min(a1, others), min(a2, others)))
    assert ahead_after_cancel(model, lo, others, new) <= ahead_after_cancel(model, hi, others, new) + 1e-9


_event = st.one_of(
    st.tuples(st.just("trade"), st.sampled_from([98.0, 99.0, 100.0, 101.0, 102.0]), st.floats(0.01, 6.0),
              st.sampled_from([1, -1])),
    st.tuples(st.just("bbo"), st.sampled_from([98.0, 99.0, 100.0]), st.floats(0.1, 12.0),
              st.sampled_from([101.0, 102.0])),
    st.tuples(st.just("book"), st.floats(0.1, 12.0), st.floats(0.1, 12.0), st.floats(0.1, 12.0)),
)


@settings(max_examples=150, deadline=None)
@given(events=st.lists(_event, max_size=40), r1=st.floats(0, 1), r2=st.floats(0, 1),
       model=st.sampled_from([m.value for m in QueueModel]))
def test_ahead_only_falls_stays_within_the_level_and_keeps_fifo(events: list[tuple[object, ...]], r1: float,
                                                                 r2: float, model: str) -> None:
    tr = QueueRankTracker(0, QueueRankConfig(cancel_model=model))
    book(tr, [(100.0, 6.0), (99.0, 4.0)], [(101.0, 5.0), (102.0, 3.0)])
    lo, hi = sorted((r1, r2))
    front = tr.add_order("front", BID, 100.0, 0.5, 0, rank_frac=lo)
    back = tr.add_order("back", BID, 100.0, 0.5, 0, rank_frac=hi)
    prev = (front.ahead_qty, back.ahead_qty)
    for k, ev in enumerate(events):
        t = k + 1
        if ev[0] == "trade":
            _, px, q, side = ev
            trade(tr, float(px), float(q), int(side), t)  # type: ignore[arg-type]
        elif ev[0] == "bbo":
            _, bp, bq, ap = ev
            bbo(tr, float(bp), float(bq), float(ap), 1.0, t)  # type: ignore[arg-type]
        else:
            _, q0, q1, q2 = ev
            book(tr, [(100.0, float(q0)), (99.0, float(q1))], [(101.0, float(q2))], t)  # type: ignore[arg-type]
        for o, p in zip((front, back), prev):
            assert 0.0 <= o.ahead_qty <= p + 1e-9  # never moves back
            assert o.ahead_qty <= o.level_qty + 1e-9  # within the level
            assert 0.0 <= o.rank_frac <= 1.0
        assert front.ahead_qty <= back.ahead_qty + 1e-9  # FIFO kept
        if back.filled:
            assert front.filled and front.fill_ts_ns <= back.fill_ts_ns  # the front fills first
        prev = (front.ahead_qty, back.ahead_qty)
