"""The compiled book + queue fill model (mm.venues.sim.book_kernel) against the matching engine."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from mm.importers import data_dir
from mm.schema import Bbo, BookSnapshot, Trade, Venue
from mm.venues.sim import book_kernel as bk
from mm.venues.sim.config import CoinConfig, MatchingConfig, UserConfig
from mm.venues.sim.matching import FillEvent, MatchingEngine, OrderRequest
from mm.venues.sim.queue_model import QueueModel

USER = "0x" + "ab" * 20
DAY = data_dir() / "hyperliquid-2025-09-04"


def engine_touch_keeper(events: list[Any], sz_dec: int, quote_lots: int, model: str,
                        full: bool) -> list[tuple[int, int, int, int]]:
    """The matching engine with one post-only bid and ask kept at the touch: (time_ms, side, px, lots) per fill."""
    sim = MatchingEngine([CoinConfig(name="X", sz_decimals=sz_dec)],
                         MatchingConfig(block_ms=0, queue_model=model,  # type: ignore[arg-type]
                                        trade_through="full" if full else "print_qty"), None,
                         [UserConfig(address=USER, balance_usd=1e12, leverage=20)])
    r = sim.books["X"].rules
    dec = r.px_decimals
    sz = f"{quote_lots / 10**sz_dec:.{sz_dec}f}"
    live: dict[bool, tuple[int, int]] = {}
    out: list[tuple[int, int, int, int]] = []
    for ev in events:
        t = ev.ts_ns
        if isinstance(ev, Trade):
            sim.apply_trade("X", ev.side > 0, ev.px, ev.qty, t, ev.trade_id)
        elif isinstance(ev, BookSnapshot):
            sim.apply_book_snapshot("X", list(zip(ev.bid_px, ev.bid_qty)), list(zip(ev.ask_px, ev.ask_qty)), t)
        elif isinstance(ev, Bbo):
            sim.apply_bbo("X", ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, t)
        bid, ask = sim.bbo("X")
        open_ids = {o.oid for o in sim.open_orders(USER)}
        for is_buy, top in ((True, bid), (False, ask)):
            if top is None:
                continue
            cur = live.get(is_buy)
            if cur is not None and cur[0] in open_ids and cur[1] == top[0]:
                continue
            if cur is not None and cur[0] in open_ids:
                sim.cancel(USER, 0, cur[0], t)
            px = f"{top[0] / 10**dec:.{dec}f}"
            res = sim.place_order(USER, OrderRequest(asset=0, is_buy=is_buy, px=px, sz=sz, tif="Alo"), t)
            if res.kind == "resting":
                live[is_buy] = (res.oid, top[0])
            else:
                live.pop(is_buy, None)
        for e in sim.drain_events():
            if isinstance(e, FillEvent) and e.user == USER:
                out.append((e.time_ms, 0 if e.is_buy else 1, e.px_units, e.lots))
        sim.check_invariants()
    return out


def kernel_touch_keeper(events: list[Any], sz_dec: int, quote_lots: int, model: str,
                        full: bool) -> list[tuple[int, int, int, int]]:
    cols = bk.encode_events(events, max(0, 6 - sz_dec), sz_dec)
    book = bk.KernelBook(QueueModel(model), trade_through_full=full)
    bk.run_touch_keeper(book.state, cols.kind, cols.t_ns, cols.a, cols.lvl_px, cols.lvl_lots, quote_lots, True)
    return [(f[0], f[2], f[3], f[4]) for f in book.fills_list()]


def _real(coin: str, seconds: float) -> list[Any]:
    from mm.venues.sim.driver import load_hyperliquid_csv

    if not DAY.is_dir():
        pytest.skip("no real recording")
    evs = load_hyperliquid_csv(DAY, coin, 0)
    return [e for e in evs if e.ts_ns < evs[0].ts_ns + int(seconds * 1e9)]


@pytest.mark.parametrize(("coin", "sz_dec", "quote_lots"), [("BTC", 5, 100), ("ETH", 4, 250), ("WLFI", 0, 600)])
def test_same_fills_as_the_matching_engine_on_the_real_recording(coin: str, sz_dec: int, quote_lots: int) -> None:
    evs = _real(coin, 400.0)
    want = engine_touch_keeper(evs, sz_dec, quote_lots, "pro_rata", False)
    got = kernel_touch_keeper(evs, sz_dec, quote_lots, "pro_rata", False)
    assert len(want) > 10
    assert got == want


@pytest.mark.parametrize("model", ["behind_first", "ahead_first"])
@pytest.mark.parametrize("full", [False, True])
def test_same_fills_for_every_queue_model_and_trade_through(model: str, full: bool) -> None:
    evs = _real("WLFI", 200.0)
    want = engine_touch_keeper(evs, 0, 600, model, full)
    assert kernel_touch_keeper(evs, 0, 600, model, full) == want


def _gen_events(seed: int, n: int) -> list[Any]:
    """A rough random market on a 1-unit grid: crossing BBOs, sweeping trades, sparse snapshots."""
    rng = np.random.default_rng(seed)
    out: list[Any] = []
    mid = 1000.0
    t = 10**15
    v = int(Venue.HYPERLIQUID)
    for i in range(n):
        t += int(rng.integers(1, 50)) * 1_000_000
        mid = max(50.0, mid + float(rng.integers(-2, 3)))
        u = rng.random()
        if u < 0.3:
            px = mid + float(rng.integers(-4, 5))
            out.append(Trade(ts_ns=t, remote_ts_ms=t // 10**6, seq=i, venue=v, symbol_id=0, px=px, qty=float(rng.integers(1, 30)), side=1 if rng.random() < 0.5
                             else -1, trade_id=i + 1))
        elif u < 0.8:
            spread = float(rng.integers(-1, 4))  # sometimes crossed (refused), sometimes locked
            out.append(Bbo(ts_ns=t, remote_ts_ms=t // 10**6, seq=i, venue=v, symbol_id=0, bid_px=mid - 1, bid_qty=float(rng.integers(0, 40)),
                           ask_px=mid - 1 + spread if rng.random() < 0.9 else 0.0, ask_qty=float(rng.integers(0, 40))))
        else:
            k = int(rng.integers(0, 6))
            bpx = [mid - 1 - j - float(rng.integers(0, 2)) for j in range(k)]
            apx = [mid + j + float(rng.integers(0, 2)) for j in range(int(rng.integers(0, 6)))]
            out.append(BookSnapshot(ts_ns=t, remote_ts_ms=t // 10**6, seq=i, venue=v, symbol_id=0, bid_px=bpx, bid_qty=[float(rng.integers(0, 40)) for _ in bpx],
                                    ask_px=apx, ask_qty=[float(rng.integers(0, 40)) for _ in apx]))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_same_fills_on_a_rough_random_market(seed: int) -> None:
    evs = _gen_events(seed, 3000)
    model = ("pro_rata", "behind_first", "ahead_first")[seed % 3]
    want = engine_touch_keeper(evs, 0, 10, model, seed % 2 == 1)
    assert len(want) > 50
    assert kernel_touch_keeper(evs, 0, 10, model, seed % 2 == 1) == want


def _engine_state(sim: MatchingEngine) -> tuple[Any, ...]:
    cb = sim.books["X"]
    out: list[Any] = []
    for side in (cb.bids, cb.asks):
        out.append([(px, side.levels[px].bg) for px in side.best_first()])
        out.append({px: q for px, q in side.depl.items() if q})
    out.append(sorted((o.oid, 0 if o.is_buy else 1, o.px, o.rem_lots, o.ahead)
                      for side in (cb.bids, cb.asks) for lv in side.levels.values() for o in lv.orders))
    return tuple(out)


def _kernel_state(book: bk.KernelBook, oid_of: dict[int, int]) -> tuple[Any, ...]:
    out: list[Any] = []
    for s in (bk.BID, bk.ASK):
        out.append(book.levels(s))
        out.append(book.depletion(s))
    out.append(sorted((oid_of[o[0]], *o[1:]) for o in book.orders()))
    return tuple(out)


@pytest.mark.parametrize(("source", "model", "full"), [("random", "pro_rata", False), ("random", "behind_first", True),
                                                       ("random", "ahead_first", False), ("WLFI", "pro_rata", False)])
def test_same_book_after_every_event(source: str, model: str, full: bool) -> None:
    """Not only the fills: after every event the kernel's levels (price, background), depletion and our
    orders (remaining, queue ahead) are the matching engine's, with the touch keeper of both driven step
    by step from here."""
    evs = _gen_events(11, 2500) if source == "random" else _real("WLFI", 120.0)
    quote_lots = 10 if source == "random" else 600
    sim = MatchingEngine([CoinConfig(name="X", sz_decimals=0)],
                         MatchingConfig(block_ms=0, queue_model=model,  # type: ignore[arg-type]
                                        trade_through="full" if full else "print_qty"), None,
                         [UserConfig(address=USER, balance_usd=1e12, leverage=20)])
    dec = sim.books["X"].rules.px_decimals
    cols = bk.encode_events(evs, dec, 0)
    book = bk.KernelBook(QueueModel(model), trade_through_full=full)
    st = book.state
    oid_of: dict[int, int] = {}  # kernel oid -> engine oid
    live: dict[int, tuple[int, int, int]] = {}  # side -> (engine oid, kernel oid, px)
    compared_with_orders = 0
    for i, ev in enumerate(evs):
        t = ev.ts_ns
        if isinstance(ev, Trade):
            sim.apply_trade("X", ev.side > 0, ev.px, ev.qty, t, ev.trade_id)
        elif isinstance(ev, BookSnapshot):
            sim.apply_book_snapshot("X", list(zip(ev.bid_px, ev.bid_qty)), list(zip(ev.ask_px, ev.ask_qty)), t)
        else:
            sim.apply_bbo("X", ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, t)
        bk.apply_event(st, cols.kind, cols.t_ns, cols.a, cols.lvl_px, cols.lvl_lots, i)
        bid, ask = sim.bbo("X")
        open_ids = {o.oid for o in sim.open_orders(USER)}
        for s, top in ((bk.BID, bid), (bk.ASK, ask)):
            assert bk.top(st, s) == ((top[0], top[1]) if top is not None else (0, 0))
        for s, top in ((bk.BID, bid), (bk.ASK, ask)):
            if top is None:
                continue
            cur = live.get(s)
            alive = cur is not None and cur[0] in open_ids
            assert alive == (cur is not None and bk.is_live(st, cur[1]))
            if cur is not None and alive and cur[2] == top[0]:
                continue
            if cur is not None and alive:
                sim.cancel(USER, 0, cur[0], t)
                assert bk.cancel(st, cur[1])
            px = f"{top[0] / 10**dec:.{dec}f}"
            res = sim.place_order(USER, OrderRequest(asset=0, is_buy=s == bk.BID, px=px, sz=str(quote_lots), tif="Alo"), t)
            koid = bk.place_alo(st, s == bk.BID, top[0], quote_lots)
            assert (res.kind == "resting") == (koid > 0)
            if koid > 0:
                oid_of[koid] = res.oid
                live[s] = (res.oid, koid, top[0])
            else:
                live.pop(s, None)
        sim.drain_events()
        want = _engine_state(sim)
        assert _kernel_state(book, oid_of) == want, f"event {i}: {type(ev).__name__}"
        compared_with_orders += bool(want[4])
    assert compared_with_orders > len(evs) // 2


def test_encode_matches_the_engine_conversion() -> None:
    ev = BookSnapshot(ts_ns=1, remote_ts_ms=0, seq=0, venue=0, symbol_id=0, bid_px=[100.05, 100.05, 99.0, 0.0], bid_qty=[1.0, 2.0, 0.0, 3.0],
                      ask_px=[100.0, 101.0], ask_qty=[1.0, 1.5])
    cols = bk.encode_events([ev], 1, 1)
    b0, a0, e = cols.a[0, :3]
    assert cols.lvl_px[b0:a0].tolist() == [1000] and cols.lvl_lots[b0:a0].tolist() == [30]  # 100.05 -> 1000 (half even)
    assert cols.lvl_px[a0:e].tolist() == [1010]  # the crossing ask dropped
    assert math.isclose(cols.lvl_lots[a0:e][0], 15)
