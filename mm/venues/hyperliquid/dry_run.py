"""Dry run: prove the order path end to end with an order that cannot fill, and time it.

This module owns :func:`dry_run`: read the touch, place one post-only (ALO) order far
behind it (``offset_bps``, just above the venue's $10 minimum), cancel it as soon as it is
acknowledged, and confirm with ``orderStatus`` that the venue has it cancelled. Each round
reports the place and cancel round trips and the transport that carried them; rounds
alternate sides. It is the network side of seed 002 level 2 (the OMS's dry-run mode
places its orders through the same client), and a start-up check for a live account.

An unknown outcome is handled as everywhere else: the order is looked up by cloid and
cancelled by cloid, never placed twice. A fill (the touch moved through the order) is
reported as a failure of the round.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from decimal import Decimal
from typing import Final

import msgspec

from mm.venues.hyperliquid import rules
from mm.venues.hyperliquid.client import (
    CancelSpec,
    CloidCancelSpec,
    ExchangeClient,
    OrderSpec,
    VenueRequestError,
)

log = logging.getLogger(__name__)

_LOOKUP_TRIES: Final = 20


class DryRunRound(msgspec.Struct, frozen=True, kw_only=True):
    """One place-and-cancel.

    ok: placed resting, cancelled, and the venue reports it cancelled.
    place_rtt_ms / cancel_rtt_ms: action round trips (-1 when not sent).
    transport: transports of place and cancel (``ws``/``http``).
    final_status: the venue's last word on the order (``canceled`` when all went well).
    """

    is_buy: bool
    cloid: str
    oid: int
    px: str
    sz: str
    ok: bool
    place_rtt_ms: float
    cancel_rtt_ms: float
    place_transport: str
    cancel_transport: str
    place_outcome: str
    final_status: str
    error: str = ""


class DryRunReport(msgspec.Struct, frozen=True, kw_only=True):
    """All rounds, and the medians and maxima of their round trips (ms; -1 when none)."""

    coin: str
    ok: bool
    rounds: tuple[DryRunRound, ...]
    place_rtt_ms_median: float
    place_rtt_ms_max: float
    cancel_rtt_ms_median: float
    cancel_rtt_ms_max: float
    elapsed_ms: float


def _stats(xs: list[float]) -> tuple[float, float]:
    ys = [x for x in xs if x >= 0]
    return (statistics.median(ys), max(ys)) if ys else (-1.0, -1.0)


def dry_run_order(coin: str, rules_: rules.AssetRules, bid: float, ask: float, is_buy: bool, offset_bps: float,
                  notional_usd: float, cloid: str, min_notional_usd: float = 10.0) -> OrderSpec:
    """The post-only order ``offset_bps`` behind the touch, sized just above the minimum notional."""
    touch = bid if is_buy else ask
    raw_px = touch * (1.0 - offset_bps / 1e4) if is_buy else touch * (1.0 + offset_bps / 1e4)
    px = rules.round_price(raw_px, rules_.sz_decimals, rules_.is_spot,
                           rules.Rounding.DOWN if is_buy else rules.Rounding.UP)
    want = Decimal(repr(max(notional_usd, min_notional_usd)))
    sz = rules.round_size(want / px, rules_.sz_decimals, rules.Rounding.UP)
    lot = Decimal(1).scaleb(-rules_.sz_decimals)
    while px * sz < Decimal(repr(min_notional_usd)):
        sz += lot
    return OrderSpec(coin=coin, is_buy=is_buy, px=px, sz=sz, tif="Alo", cloid=cloid)


async def _final_status(client: ExchangeClient, cloid: str) -> str:
    for _ in range(_LOOKUP_TRIES):
        try:
            info = await client.order_status(cloid)
        except VenueRequestError:
            info = None
        if info is not None and info.status != "open":
            return info.status
        await asyncio.sleep(0.05)
    return "open" if info is not None else "unknown"


async def _one_round(client: ExchangeClient, coin: str, is_buy: bool, offset_bps: float,
                     notional_usd: float) -> DryRunRound:
    bid, ask = await client.top_of_book(coin)
    cloid = client.new_cloid()
    if bid is None or ask is None:
        return DryRunRound(is_buy=is_buy, cloid=cloid, oid=0, px="", sz="", ok=False, place_rtt_ms=-1,
                           cancel_rtt_ms=-1, place_transport="none", cancel_transport="none", place_outcome="none",
                           final_status="", error=f"no two-sided book for {coin}")
    spec = dry_run_order(coin, client.rules_of(coin), bid, ask, is_buy, offset_bps, notional_usd, cloid)
    w = client.order_wire(spec)
    placed = await client.place([spec])
    st = placed.statuses[0]

    def done(oid: int, ok: bool, cancel_rtt_ms: float, cancel_transport: str, final: str, error: str) -> DryRunRound:
        return DryRunRound(is_buy=is_buy, cloid=cloid, oid=oid, px=w.p, sz=w.s, ok=ok, place_rtt_ms=placed.rtt_ms,
                           cancel_rtt_ms=cancel_rtt_ms, place_transport=placed.transport,
                           cancel_transport=cancel_transport, place_outcome=placed.outcome, final_status=final,
                           error=error)

    if placed.outcome == "rejected" or st.kind == "error":
        return done(0, False, -1.0, "none", "", st.error or placed.error)
    if st.kind == "filled":
        return done(st.oid, False, -1.0, "none", "filled", "the dry-run order filled")
    if st.kind == "resting":
        cancelled = await client.cancel([CancelSpec(coin, st.oid)])
    else:  # unknown: look it up by cloid, cancel by cloid (never place again)
        cancelled = await client.cancel_by_cloid([CloidCancelSpec(coin, cloid)])
    cst = cancelled.statuses[0] if cancelled.statuses else None
    final = await _final_status(client, cloid)
    ok = (st.kind == "resting" and cancelled.outcome == "ok" and cst is not None and cst.kind == "success"
          and final == "canceled")
    err = "" if ok else (cancelled.error or (cst.error if cst is not None else "") or f"final status {final}")
    return done(st.oid, ok, cancelled.rtt_ms, cancelled.transport, final, err)


async def dry_run(client: ExchangeClient, coin: str, *, rounds: int = 1, offset_bps: float = 100.0,
                  notional_usd: float = 12.0, first_side_buy: bool = True) -> DryRunReport:
    """Place-and-cancel ``rounds`` times (sides alternating) and report the round trips."""
    if rounds < 1:
        raise ValueError("rounds: must be >= 1")
    if not offset_bps > 0:
        raise ValueError("offset_bps: must be > 0 (the order must rest behind the touch)")
    t0 = time.perf_counter()
    out: list[DryRunRound] = []
    for i in range(rounds):
        is_buy = first_side_buy if i % 2 == 0 else not first_side_buy
        try:
            out.append(await _one_round(client, coin, is_buy, offset_bps, notional_usd))
        except VenueRequestError as exc:
            out.append(DryRunRound(is_buy=is_buy, cloid="", oid=0, px="", sz="", ok=False, place_rtt_ms=-1,
                                   cancel_rtt_ms=-1, place_transport="none", cancel_transport="none",
                                   place_outcome="none", final_status="", error=str(exc)))
    pm, px_ = _stats([r.place_rtt_ms for r in out])
    cm, cx = _stats([r.cancel_rtt_ms for r in out])
    report = DryRunReport(coin=coin, ok=all(r.ok for r in out), rounds=tuple(out), place_rtt_ms_median=pm,
                          place_rtt_ms_max=px_, cancel_rtt_ms_median=cm, cancel_rtt_ms_max=cx,
                          elapsed_ms=(time.perf_counter() - t0) * 1000.0)
    log.info("dry run %s: %s, %d round(s), place rtt median %.1f ms, cancel rtt median %.1f ms",
             coin, "ok" if report.ok else "FAILED", rounds, pm, cm)
    return report
