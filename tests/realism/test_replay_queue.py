"""Replay of the shared 2025-09-04 recording: cancels ahead of our order move it up the queue.

The recording is Hyperliquid's own feed (l2Book snapshots, bbo changes, trades). One of our
orders rests at the touch (an ALO bid at the best bid, re-placed there whenever it fills or
the market leaves it); every market event goes through the matching engine as the paper
venue's replay does. Level changes between consecutive snapshots (and bbo updates) that no
trade explains are cancellations, taken from the queue by the queue model: our size ahead
must fall on some of them, never rise (a snapshot applied as clear-and-reload would put us
back behind the whole level), and trades at our level advance it too.

Found through ``mm.importers.data_dir()`` ($MM_DATA_DIR, else ../shared/data/real next to the
repository); skipped with the reason when the recording is absent.
"""

from __future__ import annotations

import pytest

from mm.importers import data_dir
from mm.schema import Bbo, BookSnapshot, Side, Trade
from mm.venues.sim.config import CoinConfig, MatchingConfig
from mm.venues.sim.driver import DriverEvent, load_hyperliquid_csv
from mm.venues.sim.matching import OPEN, MatchingEngine, Order, OrderRequest

RECORDING = data_dir() / "hyperliquid-2025-09-04"
US = "0x" + "16" * 20
COINS = {"BTC": (5, "0.001"), "ETH": (4, "0.01")}  # szDecimals, our size (about $110 and $43)

pytestmark = pytest.mark.skipif(
    not (RECORDING / "orderbooks_BTC.csv").exists(),
    reason=f"shared recording not found at {RECORDING} (set MM_DATA_DIR or put shared/data/real next to the repo)",
)


class Tally:
    """What happened to our size ahead, event by event."""

    def __init__(self) -> None:
        self.placed = 0
        self.filled = 0
        self.cancel_advances = 0  # a decrease on a book event, with no trade at our price that block
        self.cancel_lots = 0
        self.trade_advances = 0
        self.trade_lots = 0
        self.rises = 0
        self.max_ahead_at_join = 0


def replay(coin: str, queue_model: str) -> Tally:
    sz_decimals, our_sz = COINS[coin]
    events: list[DriverEvent] = load_hyperliquid_csv(RECORDING, coin, 0)
    eng = MatchingEngine([CoinConfig(name=coin, sz_decimals=sz_decimals)],
                         MatchingConfig(queue_model=queue_model))  # type: ignore[arg-type]
    eng.add_user(US, 1e9)
    rules = eng.books[coin].rules
    traded_at: dict[int, set[int]] = {}  # block time -> prices (units) traded then
    for ev in events:
        if isinstance(ev, Trade):
            traded_at.setdefault(ev.ts_ns, set()).add(rules.float_px_to_units(ev.px))
    t = Tally()
    order: Order | None = None
    ahead = 0
    for ev in events:
        now = ev.ts_ns
        if isinstance(ev, BookSnapshot):
            eng.apply_book_snapshot(coin, list(zip(ev.bid_px, ev.bid_qty)), list(zip(ev.ask_px, ev.ask_qty)), now)
        elif isinstance(ev, Bbo):
            eng.apply_bbo(coin, ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, now)
        elif isinstance(ev, Trade):
            eng.apply_trade(coin, ev.side == Side.BUY, ev.px, ev.qty, now, ev.trade_id)
        eng.drain_events()
        if order is not None:
            if order.status == OPEN:
                if order.ahead > ahead:
                    t.rises += 1
                elif order.ahead < ahead:
                    if isinstance(ev, Trade):
                        t.trade_advances += 1
                        t.trade_lots += ahead - order.ahead
                    elif order.px not in traded_at.get(now, ()):
                        t.cancel_advances += 1
                        t.cancel_lots += ahead - order.ahead
                ahead = order.ahead
            else:
                t.filled += order.status == "filled"
                order = None
        best_bid, _ = eng.bbo(coin)
        if order is not None and best_bid is not None and best_bid[0] > order.px:
            eng.cancel(US, 0, order.oid, now)  # the touch moved up and away: follow it
            eng.drain_events()
            order = None
        if order is None and best_bid is not None and isinstance(ev, BookSnapshot):
            px = str(rules.units_to_px(best_bid[0]))
            out = eng.place_order(US, OrderRequest(asset=0, is_buy=True, px=px, sz=our_sz, tif="Alo"), now)
            if out.kind == "resting":
                order = eng.accounts[US].open_orders[out.oid]
                ahead = order.ahead
                t.placed += 1
                t.max_ahead_at_join = max(t.max_ahead_at_join, ahead)
        if isinstance(ev, BookSnapshot) and t.placed % 100 == 1:
            eng.check_invariants()
    return t


@pytest.mark.parametrize("coin", ["BTC", "ETH"])
def test_queue_position_advances_on_cancels_ahead_and_never_jumps_up(coin: str) -> None:
    t = replay(coin, "pro_rata")  # the venue's default queue model
    print(f"{coin} pro_rata: {vars(t)}")
    assert t.placed > 100 and t.max_ahead_at_join > 0  # we joined behind displayed size
    assert t.rises == 0  # never clear-and-reload
    assert t.cancel_advances > 0  # cancels ahead moved us up with no trade at our price
    assert t.trade_advances > 0  # and so did trades at our level
    assert t.filled > 0  # some orders reached the front and filled


@pytest.mark.parametrize("queue_model", ["behind_first", "ahead_first"])
def test_every_queue_model_keeps_position_monotone(queue_model: str) -> None:
    t = replay("BTC", queue_model)
    print(f"BTC {queue_model}: {vars(t)}")
    assert t.rises == 0 and t.cancel_advances > 0 and t.filled > 0


def test_a_blocks_trades_come_before_the_book_it_left() -> None:
    """A snapshot or bbo stamped with a block's time already shows that block's trades, so the
    loader yields the trades first (else the queue would lose them twice)."""
    events = load_hyperliquid_csv(RECORDING, "BTC", 0)
    first_book: dict[int, int] = {}
    n_shared = 0
    for i, ev in enumerate(events):
        if isinstance(ev, BookSnapshot | Bbo):
            first_book.setdefault(ev.ts_ns, i)
    for i, ev in enumerate(events):
        if isinstance(ev, Trade) and ev.ts_ns in first_book:
            n_shared += 1
            assert i < first_book[ev.ts_ns]
    assert n_shared > 100
