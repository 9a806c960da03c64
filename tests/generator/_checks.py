"""Shared checks of a generated stream's invariants (used by the example and property tests).

Written independently of the generator: Hyperliquid's price rule is re-derived here from
its statement (at most 5 significant figures unless an integer, at most 6 - szDecimals
decimals) with exact decimal arithmetic.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from mm.schema import Bbo, BookSnapshot, MarketEvent, RefPrice, Trade, Venue
from mm.venues.sim.generator import GroundTruth
from mm.venues.sim.generator_config import CoinSpec, GeneratorConfig

HL = int(Venue.HYPERLIQUID)
BN = int(Venue.BINANCE)


def decimals_of(x: float) -> int:
    """Decimals of the shortest decimal that round-trips to ``x``."""
    exp = Decimal(repr(x)).normalize().as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


def sig_figs_of(x: float) -> int:
    d = Decimal(repr(x)).normalize()
    return len(d.as_tuple().digits)


def is_valid_hl_px(px: float, sz_decimals: int) -> bool:
    if not (px > 0.0):
        return False
    if decimals_of(px) > 6 - sz_decimals:
        return False
    return float(px).is_integer() or sig_figs_of(px) <= 5


def is_on_lot(qty: float, sz_decimals: int) -> bool:
    return qty > 0.0 and decimals_of(qty) <= sz_decimals


def check_stream(events: Sequence[MarketEvent], labels: GroundTruth, cfg: GeneratorConfig,
                 coins: Sequence[CoinSpec], start_ts_ns: int, duration_s: float) -> None:
    """Assert every structural invariant of a generated stream and its labels."""
    end_ts_ns = start_ts_ns + round(duration_s * 1000) * 1_000_000
    assert events, "a run produces events"
    last_ts = start_ts_ns
    last_seq: dict[tuple[int, int], int] = {}
    last_tid: dict[tuple[int, int], int] = {}
    last_hl_tid = 0
    hl_bbo: dict[int, Bbo] = {}  # latest HL Bbo: within a block trades come first, so for a
    # trade this is the top of book as the block found it
    last_snap_ts: dict[int, int] = {}
    last_ref_ts: dict[int, int] = {}
    ref_at: dict[tuple[int, int], RefPrice] = {}
    bn_bbo_at: dict[tuple[int, int], Bbo] = {}
    max_block_ms = cfg.block_ms * (1 + cfg.block_jitter_frac) + 1
    for ev in events:
        assert start_ts_ns <= ev.ts_ns < end_ts_ns
        assert ev.ts_ns >= last_ts, "events in ts_ns order"
        last_ts = ev.ts_ns
        if not isinstance(ev, BookSnapshot | Bbo | Trade | RefPrice):
            raise AssertionError(f"unexpected event type {type(ev).__name__}")
        assert ev.remote_ts_ms == cfg.remote_epoch_ms + (ev.ts_ns - start_ts_ns) // 1_000_000
        c = ev.symbol_id
        assert 0 <= c < len(coins)
        spec = coins[c]
        key = (ev.venue, c)
        assert ev.seq > last_seq.get(key, 0), "seq strictly increases per venue and coin"
        last_seq[key] = ev.seq
        if ev.venue == HL:
            if isinstance(ev, Trade):
                assert ev.side in (1, -1)
                assert is_valid_hl_px(ev.px, spec.sz_decimals), ev
                assert is_on_lot(ev.qty, spec.sz_decimals), ev
                assert ev.trade_id > last_hl_tid, "HL trade ids increase"
                last_hl_tid = ev.trade_id
                prev = hl_bbo.get(c)
                if prev is not None:
                    assert prev.ts_ns < ev.ts_ns
                    if ev.side == 1:
                        assert ev.px >= prev.ask_px, (ev, prev)
                    else:
                        assert ev.px <= prev.bid_px, (ev, prev)
            elif isinstance(ev, Bbo):
                assert 0 < ev.bid_px < ev.ask_px, ev
                assert is_valid_hl_px(ev.bid_px, spec.sz_decimals), ev
                assert is_valid_hl_px(ev.ask_px, spec.sz_decimals), ev
                assert is_on_lot(ev.bid_qty, spec.sz_decimals) and is_on_lot(ev.ask_qty, spec.sz_decimals)
                hl_bbo[c] = ev
            elif isinstance(ev, BookSnapshot):
                n = cfg.book_levels
                assert len(ev.bid_px) == len(ev.bid_qty) == len(ev.ask_px) == len(ev.ask_qty) == n
                assert ev.bid_px[0] < ev.ask_px[0], "book never crossed"
                assert all(a > b for a, b in itertools.pairwise(ev.bid_px)), "bids descend"
                assert all(b > a for a, b in itertools.pairwise(ev.ask_px)), "asks ascend"
                for px in (*ev.bid_px, *ev.ask_px):
                    assert is_valid_hl_px(px, spec.sz_decimals), px
                for q in (*ev.bid_qty, *ev.ask_qty):
                    assert is_on_lot(q, spec.sz_decimals), q
                top = hl_bbo[c]
                assert (top.bid_px, top.bid_qty, top.ask_px, top.ask_qty) == (
                    ev.bid_px[0], ev.bid_qty[0], ev.ask_px[0], ev.ask_qty[0]
                ), "snapshot top equals the latest Bbo"
                if c in last_snap_ts:
                    gap_ms = (ev.ts_ns - last_snap_ts[c]) / 1e6
                    assert cfg.snapshot_interval_ms <= gap_ms <= cfg.snapshot_interval_ms + max_block_ms
                last_snap_ts[c] = ev.ts_ns
        else:
            assert ev.venue == BN
            if isinstance(ev, Trade):
                assert ev.side in (1, -1)
                assert ev.px > 0 and decimals_of(ev.px) <= decimals_of(spec.ref_tick_px)
                assert ev.qty > 0 and decimals_of(ev.qty) <= spec.ref_sz_decimals
                assert ev.trade_id > last_tid.get(key, 0)
                last_tid[key] = ev.trade_id
            elif isinstance(ev, Bbo):
                assert 0 < ev.bid_px < ev.ask_px and ev.bid_qty > 0 and ev.ask_qty > 0
                bn_bbo_at[(c, ev.ts_ns)] = ev
            elif isinstance(ev, RefPrice):
                assert 0 < ev.bid_px < ev.ask_px
                assert ev.mid_px == 0.5 * (ev.bid_px + ev.ask_px)
                assert decimals_of(ev.bid_px) <= decimals_of(spec.ref_tick_px)
                b = bn_bbo_at[(c, ev.ts_ns)]
                assert (b.bid_px, b.ask_px) == (ev.bid_px, ev.ask_px), "Binance Bbo and RefPrice agree"
                if c in last_ref_ts:
                    gap_ms = (ev.ts_ns - last_ref_ts[c]) / 1e6
                    assert cfg.ref_interval_ms_min <= gap_ms <= cfg.ref_interval_ms_max
                last_ref_ts[c] = ev.ts_ns
                ref_at[(c, ev.ts_ns)] = ev
            else:
                raise AssertionError(f"unexpected Binance event {ev!r}")
    # every coin got a snapshot and a reference price at the start
    for c in range(len(coins)):
        assert c in last_snap_ts and c in last_ref_ts
    check_labels(labels, cfg, coins, start_ts_ns, end_ts_ns)


def check_labels(labels: GroundTruth, cfg: GeneratorConfig, coins: Sequence[CoinSpec],
                 start_ts_ns: int, end_ts_ns: int) -> None:
    """Regime intervals tile the run per coin; cascades are exactly the Cascade intervals."""
    assert labels.complete
    assert labels.start_ts_ns == start_ts_ns and labels.end_ts_ns == end_ts_ns
    assert labels.coins == [c.name for c in coins]
    lag_ns = cfg.lead_lag_ms * 1_000_000
    for c in range(len(coins)):
        ivs = [r for r in labels.regimes if r.symbol_id == c]
        assert ivs and ivs[0].start_ts_ns == start_ts_ns and ivs[-1].end_ts_ns == end_ts_ns
        assert ivs[0].regime == cfg.initial_regime
        for a, b in itertools.pairwise(ivs):
            assert a.end_ts_ns == b.start_ts_ns, "intervals tile time"
            assert a.regime != b.regime, "a switch changes the regime"
            assert cfg.transitions[a.regime][b.regime] > 0.0, "only configured transitions"
        for r in ivs:
            assert r.start_ts_ns < r.end_ts_ns
            assert r.hl_start_ts_ns == r.start_ts_ns + lag_ns and r.hl_end_ts_ns == r.end_ts_ns + lag_ns
            assert r.coin == coins[c].name
        cas_iv = [(r.start_ts_ns, r.end_ts_ns) for r in ivs if r.regime == 3]
        cas = [(k.start_ts_ns, k.end_ts_ns) for k in labels.cascades if k.symbol_id == c]
        assert sorted(cas) == cas_iv
        for k in labels.cascades:
            if k.symbol_id != c:
                continue
            assert k.direction in (1, -1)
            assert k.hl_start_ts_ns == k.start_ts_ns + lag_ns
            lo = cfg.cascade_move_bps_min * coins[c].vol_mult
            hi = cfg.cascade_move_bps_max * coins[c].vol_mult
            assert lo - 1e-9 <= k.move_bps <= hi + 1e-9
            dur_s = (k.end_ts_ns - k.start_ts_ns) / 1e9
            if not k.truncated:
                assert cfg.cascade_min_s - 0.001 <= dur_s <= cfg.cascade_max_s + 0.001
            else:
                assert k.end_ts_ns == end_ts_ns


def hl_mid_series(events: Sequence[MarketEvent], c: int) -> tuple[np.ndarray, np.ndarray]:
    ts = [e.ts_ns for e in events if isinstance(e, Bbo) and e.venue == HL and e.symbol_id == c]
    mid = [0.5 * (e.bid_px + e.ask_px) for e in events
           if isinstance(e, Bbo) and e.venue == HL and e.symbol_id == c]
    return np.asarray(ts, dtype=np.int64), np.asarray(mid)


def ref_mid_series(events: Sequence[MarketEvent], c: int) -> tuple[np.ndarray, np.ndarray]:
    ts = [e.ts_ns for e in events if isinstance(e, RefPrice) and e.symbol_id == c]
    mid = [e.mid_px for e in events if isinstance(e, RefPrice) and e.symbol_id == c]
    return np.asarray(ts, dtype=np.int64), np.asarray(mid)


def value_at(ts: np.ndarray, vals: np.ndarray, t_ns: int) -> float:
    """The last value observed at or before ``t_ns`` (the first one before the start)."""
    i = int(np.searchsorted(ts, t_ns, side="right")) - 1
    return float(vals[max(i, 0)])
