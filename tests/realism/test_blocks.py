"""Blocks decide who escapes a sweep: Hyperliquid's in-block order, end to end over loopback.

Hyperliquid docs (HyperCore, order book): within a block, actions that send no GTC or IOC
order to any book (ALO placements among them) go first, then cancels, then actions sending
at least one GTC or IOC; within each group in proposal order; a modify is categorised by the
order it places. Each test below lands its requests in one block in an arrival order that
the documented order reverses, so arrival-order matching would give the other outcome.
"""

from __future__ import annotations

import time
from typing import Any

from mm.schema import Side, Trade, Venue
from mm.venues.hyperliquid import exchange_wire as wire
from mm.venues.hyperliquid import rules
from mm.venues.sim.config import MatchingConfig, VenueConfig
from mm.venues.sim.driver import QueueDriver
from mm.venues.sim.server import _block_priority, _market_priority

from .conftest import LOT, LOT_SYMBOL, MAKER, TAKER, InBlock, exchange, info, lot_book, statuses, wait_for

GTC = {"limit": {"tif": "Gtc"}}
IOC = {"limit": {"tif": "Ioc"}}
ALO = {"limit": {"tif": "Alo"}}
ERR_MISSING = rules.ERR_CANCEL_MISSING + " asset=0"


def _rest(ex: Any, is_buy: bool, px: float, tif: dict[str, Any] = GTC) -> int:
    (st,) = statuses(ex.order(LOT, is_buy, 1, px, tif))
    return int(st["resting"]["oid"])


def test_defaults_have_blocks_on() -> None:
    m = VenueConfig().matching
    assert m.block_ms == 70 and m.block_jitter_ms == 20
    assert MatchingConfig(block_ms=0).block_ms == 0  # still switchable off


def test_cancel_beats_a_crossing_ioc_sent_before_it(make_venue: Any) -> None:
    v = make_venue()
    maker, taker = exchange(v, MAKER), exchange(v, TAKER)
    oid = _rest(maker, False, 20.005)  # the best ask, ahead of the background at 20.01
    blk = InBlock(v)
    blk.send("ioc", lambda: taker.order(LOT, True, 1, 20.01, IOC))
    blk.send("cancel", lambda: maker.cancel(LOT, oid))
    got = blk.release()
    assert statuses(got["cancel"]) == ["success"]
    (ioc,) = statuses(got["ioc"])
    assert ioc["filled"]["avgPx"] == "20.01"  # it met the background, not the cancelled 20.005
    assert info(v).user_fills(MAKER.address) == []


def _sweep(px: float, qty: float) -> Trade:
    now = time.time_ns()
    return Trade(int(Venue.HYPERLIQUID), LOT_SYMBOL, now, now // 1_000_000, 0, px, qty, int(Side.BUY), 0)


def test_cancel_escapes_a_market_sweep_in_the_same_block(make_venue: Any) -> None:
    """The market driver's trades are takers' GTC/IOC orders: queued in the block, after cancels."""
    driver = QueueDriver()
    v = make_venue(driver=driver)
    maker = exchange(v, MAKER)
    oid = _rest(maker, False, 20.005)
    blk = InBlock(v)
    driver.push(_sweep(20.01, 6.0))  # a buyer sweeps through 20.005 up to 20.01
    wait_for(lambda: v.call(lambda s: s.n_queued_market_events) == 1, what="the sweep queued")
    blk.send("cancel", lambda: maker.cancel(LOT, oid))
    got = blk.release()
    assert statuses(got["cancel"]) == ["success"]
    assert info(v).user_fills(MAKER.address) == []
    # the same sweep with no cancel in its block fills the resting order
    oid2 = _rest(maker, False, 20.005)
    driver.push(_sweep(20.02, 6.0))
    fills = wait_for(lambda: info(v).user_fills(MAKER.address), what="the sweep's fill")
    assert [(f["oid"], f["px"], f["sz"], f["crossed"]) for f in fills] == [(oid2, "20.005", "1.0", False)]


def test_alo_rests_first_and_is_then_hit_by_a_gtc_sent_before_it(make_venue: Any) -> None:
    v = make_venue()
    maker, taker = exchange(v, MAKER), exchange(v, TAKER)
    blk = InBlock(v)
    blk.send("gtc", lambda: taker.order(LOT, True, 2, 20.01, GTC))
    blk.send("alo", lambda: maker.order(LOT, False, 1, 20.005, ALO))
    got = blk.release()
    (alo,) = statuses(got["alo"])
    assert set(alo) == {"resting"}  # placed before the GTC: nothing to cross yet, so it rested
    (gtc,) = statuses(got["gtc"])
    assert gtc["filled"] == {"totalSz": "2.0", "avgPx": "20.0075", "oid": gtc["filled"]["oid"]}
    i = info(v)
    (mf,) = i.user_fills(MAKER.address)
    assert (mf["oid"], mf["px"], mf["sz"], mf["crossed"]) == (alo["resting"]["oid"], "20.005", "1.0", False)
    taker_fills = sorted(i.user_fills(TAKER.address), key=lambda f: f["px"])
    assert [(f["px"], f["crossed"]) for f in taker_fills] == [("20.005", True), ("20.01", True)]
    assert i.query_order_by_oid(MAKER.address, alo["resting"]["oid"])["order"]["status"] == "filled"


def test_modify_to_an_alo_goes_before_a_cancel_sent_before_it(make_venue: Any) -> None:
    v = make_venue()
    maker = exchange(v, MAKER)
    oid = _rest(maker, False, 20.05)
    blk = InBlock(v)
    blk.send("cancel", lambda: maker.cancel(LOT, oid))
    blk.send("modify", lambda: maker.modify_order(oid, LOT, False, 1, 20.04, ALO))
    got = blk.release()
    (mod,) = statuses(got["modify"])
    assert set(mod) == {"resting"}  # the modify places an ALO: first group, before the cancel
    assert statuses(got["cancel"]) == [{"error": ERR_MISSING}]
    (oo,) = info(v).open_orders(MAKER.address)
    assert (oo["oid"], oo["limitPx"]) == (mod["resting"]["oid"], "20.04")


def test_modify_to_a_gtc_goes_after_a_cancel_sent_after_it(make_venue: Any) -> None:
    v = make_venue()
    maker = exchange(v, MAKER)
    oid = _rest(maker, False, 20.05)
    blk = InBlock(v)
    blk.send("modify", lambda: maker.modify_order(oid, LOT, False, 1, 20.04, GTC))
    blk.send("cancel", lambda: maker.cancel(LOT, oid))
    got = blk.release()
    assert statuses(got["cancel"]) == ["success"]  # cancels before GTC placements
    (mod,) = statuses(got["modify"])
    assert mod["error"].startswith(rules.ERR_MODIFY_DEAD)
    assert info(v).open_orders(MAKER.address) == []


def _order(tif: str | None) -> wire.OrderWire:
    t = (wire.OrderType(limit=wire.Limit(tif=tif)) if tif is not None  # type: ignore[arg-type]
         else wire.OrderType(trigger=wire.Trigger(is_market=True, trigger_px="20", tpsl="sl")))
    return wire.OrderWire(a=0, b=True, p="20", s="1", r=False, t=t)


def test_block_groups_of_every_action_kind() -> None:
    alo, gtc, ioc = _order("Alo"), _order("Gtc"), _order("Ioc")
    assert _block_priority(wire.OrderAction(orders=[alo, alo], grouping="na")) == 0
    assert _block_priority(wire.ScheduleCancelAction(time=None)) == 0
    assert _block_priority(wire.UpdateLeverageAction(asset=0, is_cross=True, leverage=5)) == 0
    assert _block_priority(wire.CancelAction(cancels=[wire.CancelWire(a=0, o=1)])) == 1
    assert _block_priority(wire.CancelByCloidAction(cancels=[wire.CancelByCloidWire(asset=0, cloid="0x1")])) == 1
    assert _block_priority(wire.OrderAction(orders=[gtc], grouping="na")) == 2
    assert _block_priority(wire.OrderAction(orders=[alo, ioc], grouping="na")) == 2  # at least one GTC/IOC
    assert _block_priority(wire.ModifyAction(oid=1, order=alo)) == 0
    assert _block_priority(wire.BatchModifyAction(modifies=[wire.ModifyWire(oid=1, order=alo)])) == 0
    assert _block_priority(wire.BatchModifyAction(modifies=[wire.ModifyWire(oid=1, order=alo),
                                                            wire.ModifyWire(oid=2, order=gtc)])) == 2
    snap = lot_book()
    assert _market_priority(_sweep(20.0, 1.0)) == 2 and _market_priority(snap) == 3
