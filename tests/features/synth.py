"""Synthetic event streams for the feature tests: a calm market, then a one-sided sweep.

Deterministic for a seed. The calm market: a 20-level book around a random-walking mid
(BookSnapshot every 500 ms, Bbo every 120 ms), trades as a Poisson stream (about 1/s),
random side, log-normal size, at the touch. The cascade: aggressive trades of one side
every ``burst_dt_ms``, several times the usual size, each eating the best level (and,
with ``sweep``, printing one level through it; ``burst_qty`` sets the size instead),
followed 5 ms later by a Bbo showing the book stepping away (two ticks with ``sweep``, one
without).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from mm.schema import Bbo, BookSnapshot, Trade, Venue

VENUE = int(Venue.HYPERLIQUID)
SYMBOL = 7


@dataclass
class Stream:
    events: list[object] = field(default_factory=list)
    burst_start_ts_ns: int = -1
    burst_trade_ts_ns: list[int] = field(default_factory=list)


def _levels(mid: float, tick: float, rng: random.Random, n: int) -> tuple[list[float], list[float], list[float], list[float]]:
    bid0 = mid - tick / 2
    ask0 = mid + tick / 2
    bpx = [round(bid0 - i * tick, 6) for i in range(n)]
    apx = [round(ask0 + i * tick, 6) for i in range(n)]
    bq = [round(rng.uniform(0.5, 3.0), 5) for _ in range(n)]
    aq = [round(rng.uniform(0.5, 3.0), 5) for _ in range(n)]
    return bpx, bq, apx, aq


def make_stream(
    seed: int = 1,
    quiet_s: float = 120.0,
    burst_trades: int = 12,
    burst_dt_ms: float = 40.0,
    burst_side: int = -1,
    sweep: bool = True,
    t0_ns: int = 1_000_000_000_000,
    mid0: float = 2000.0,
    tick: float = 0.1,
    trade_rate_hz: float = 1.0,
    burst_qty: float = 0.0,
) -> Stream:
    rng = random.Random(seed)
    out = Stream()
    ev = out.events
    seq = 0
    mid = mid0
    bpx, bq, apx, aq = _levels(mid, tick, rng, 20)
    t = t0_ns
    end = t0_ns + int(quiet_s * 1e9)
    next_book = t
    next_bbo = t + 120_000_000
    next_trade = t + int(rng.expovariate(trade_rate_hz) * 1e9)
    while t < end:
        t = min(next_book, next_bbo, next_trade)
        if t >= end:
            break
        seq += 1
        if t == next_book:
            if rng.random() < 0.2:
                mid += tick * rng.choice((-1, 1))
            bpx, bq, apx, aq = _levels(mid, tick, rng, 20)
            ev.append(BookSnapshot(VENUE, SYMBOL, t, t // 1_000_000, seq, bpx, bq, apx, aq))
            next_book = t + 500_000_000
        elif t == next_bbo:
            bq[0] = round(max(0.05, bq[0] * rng.uniform(0.8, 1.25)), 5)
            aq[0] = round(max(0.05, aq[0] * rng.uniform(0.8, 1.25)), 5)
            ev.append(Bbo(VENUE, SYMBOL, t, t // 1_000_000, seq, bpx[0], bq[0], apx[0], aq[0]))
            next_bbo = t + 120_000_000
        else:
            side = rng.choice((1, -1))
            qty = round(min(math.exp(rng.gauss(math.log(0.05), 0.8)), 0.5), 5) or 0.00001
            px = apx[0] if side > 0 else bpx[0]
            ev.append(Trade(VENUE, SYMBOL, t, t // 1_000_000, seq, px, qty, side, seq))
            if side > 0:
                aq[0] = round(max(0.01, aq[0] - qty), 5)
            else:
                bq[0] = round(max(0.01, bq[0] - qty), 5)
            next_trade = t + max(1_000_000, int(rng.expovariate(trade_rate_hz) * 1e9))
    # the cascade
    t = end
    out.burst_start_ts_ns = t
    s = burst_side
    for _ in range(burst_trades):
        seq += 1
        if s < 0:
            px = bpx[1] if sweep else bpx[0]
            qty = round(bq[0] + (bq[1] * 0.5 if sweep else 0.0) + rng.uniform(0.2, 0.6), 5)
        else:
            px = apx[1] if sweep else apx[0]
            qty = round(aq[0] + (aq[1] * 0.5 if sweep else 0.0) + rng.uniform(0.2, 0.6), 5)
        if burst_qty > 0.0:
            qty = round(burst_qty * rng.uniform(0.8, 1.25), 5)
        ev.append(Trade(VENUE, SYMBOL, t, t // 1_000_000, seq, px, qty, s, seq))
        out.burst_trade_ts_ns.append(t)
        # the book steps away: 2 levels gone on the hit side, the other side follows
        steps = 2 if sweep else 1
        mid += s * tick * steps
        bpx, bq, apx, aq = _levels(mid, tick, rng, 20)
        seq += 1
        tb = t + 5_000_000
        ev.append(Bbo(VENUE, SYMBOL, tb, tb // 1_000_000, seq, bpx[0], bq[0], apx[0], aq[0]))
        t += int(burst_dt_ms * 1e6)
    return out
