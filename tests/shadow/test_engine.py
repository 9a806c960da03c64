"""The shadow engine: paper twins of live quotes (P(fill) along the mid's path, paper edge of a
live fill), their outcomes reaching the fill calibrator and the P(fill) validator, the
sim-to-real gap measured from live fills and feeding execution_confidence, exchange failures
feeding exchange health; all through RiskAuthority as procs/risk.py drives it."""

from __future__ import annotations

import math

import pytest

from mm.graduation.exposure import ExposureConfig
from mm.risk.authority import RiskAuthority
from mm.risk.config import RiskConfig, ShadowConfig
from mm.risk.escalation import ExchangeHealth
from mm.schema import Fill, OrderEvent, OrderStatus
from mm.shadow.engine import ShadowEngine, exchange_event_kind
from mm.shadow.tracker import FillCalibrator

S = 1_000_000_000
MS = 1_000_000


def ev(cloid: str, status: OrderStatus, px: float = 99.9, side: int = 1, filled: float = 0.0, reason: str = "",
       sid: int = 0, ts: int = 0) -> OrderEvent:
    return OrderEvent(symbol_id=sid, ts_ns=ts, origin_ts_ns=ts, cloid=cloid, oid=1, side=side, px=px, qty=1.0,
                      filled_qty=filled, status=int(status), reason=reason)


def fill(cloid: str, ts: int, px: float = 99.9, side: int = 1, qty: float = 1.0, fee: float = 0.0,
         sid: int = 0) -> Fill:
    return Fill(symbol_id=sid, ts_ns=ts, origin_ts_ns=ts, remote_ts_ms=0, cloid=cloid, oid=1, trade_id=1, side=side,
                px=px, qty=qty, fee=fee, is_maker=True)


def test_twin_integrates_the_paper_model_along_the_mid() -> None:
    cfg = ShadowConfig()
    eng = ShadowEngine(FillCalibrator(cfg))
    eng.on_mark(0, 100.0, 0)
    assert eng.on_order_event(ev("a", OrderStatus.PENDING_NEW), 0) == []  # not resting yet
    eng.on_order_event(ev("a", OrderStatus.OPEN), 0)
    for i in range(1, 21):  # 2 s at 10 bps behind a flat mid
        eng.on_mark(0, 100.0, i * 100 * MS)
    out = eng.on_order_event(ev("a", OrderStatus.CANCELLED), 2 * S)
    assert len(out) == 1
    o = out[0]
    d = (100.0 - 99.9) / 100.0 * 1e4
    lam = cfg.prior_a_per_s * math.exp(-cfg.prior_kappa_per_bps * d)
    assert o.distance_bps == pytest.approx(d)
    assert o.exposure_s == pytest.approx(2.0)
    assert not o.filled
    assert o.predicted_p_fill == pytest.approx(1.0 - math.exp(-lam * 2.0))
    # a quote twice as close is predicted to fill more
    eng.on_order_event(ev("b", OrderStatus.OPEN, px=99.95), 2 * S)
    eng.on_mark(0, 100.0, 4 * S)
    o2 = eng.on_order_event(ev("b", OrderStatus.CANCELLED, px=99.95), 4 * S)[0]
    assert o2.predicted_p_fill > o.predicted_p_fill


def test_paper_edge_of_a_live_fill_and_one_no_quote_explains() -> None:
    eng = ShadowEngine(FillCalibrator(ShadowConfig()))
    eng.on_mark(0, 100.0, 0)
    eng.on_order_event(ev("a", OrderStatus.OPEN), 0)
    eng.on_mark(0, 100.0, S)
    # the FILLED event may come before the Fill message: the closed twin still answers
    eng.on_order_event(ev("a", OrderStatus.FILLED, filled=1.0), S)
    fee = 99.9 * 1.0 * 1.5e-4  # 1.5 bps
    pe = eng.paper_edge_bps(fill("a", S, fee=fee))
    assert pe == pytest.approx((100.0 - 99.9) / 99.9 * 1e4 - 1.5)
    # filled on arrival (never rested): a paper fill at the mid of that moment
    eng.on_mark(0, 101.0, 2 * S)
    pe2 = eng.paper_edge_bps(fill("zz", 2 * S, px=101.05, side=-1))
    assert pe2 == pytest.approx(-1 * (101.0 - 101.05) / 101.05 * 1e4)
    assert eng.paper_edge_bps(fill("x", 2 * S, px=float("nan"))) is None
    assert eng.on_order_event(ev("", OrderStatus.OPEN), 0) == [] and eng.bad_events == 1


def test_exchange_event_kinds() -> None:
    assert exchange_event_kind(ev("a", OrderStatus.REJECTED, reason="Post only order would have immediately "
                                                                      "matched, bbo was 1@2")) is None
    assert exchange_event_kind(ev("a", OrderStatus.REJECTED, reason="Insufficient margin to place order.")) == "reject"
    assert exchange_event_kind(ev("a", OrderStatus.REJECTED, reason="venue: badAloPxRejected")) is None
    # races with a fill or cancel, and an IOC with nothing to take: the market, not the exchange
    for race in ("Cannot modify canceled or filled order asset=1",
                 "Order was never placed, already canceled, or filled. asset=0",
                 "Order could not immediately match against any resting orders. asset=0",
                 "No liquidity available for market order."):
        assert exchange_event_kind(ev("a", OrderStatus.REJECTED, reason=race)) is None, race
    assert exchange_event_kind(ev("a", OrderStatus.REJECTED, reason="Order has invalid size.")) == "reject"
    assert exchange_event_kind(ev("a", OrderStatus.STALE, reason="no answer within ack_timeout_ms")) == "timeout"
    assert exchange_event_kind(ev("a", OrderStatus.REJECTED, reason="not sent: HTTP 429")) == "429"
    assert exchange_event_kind(ev("a", OrderStatus.OPEN)) is None
    assert exchange_event_kind(ev("a", OrderStatus.CANCELLED, reason="cancel")) is None


def _authority(**shadow: object) -> RiskAuthority:
    return RiskAuthority(ExposureConfig(), risk=RiskConfig(markout_horizon_s=1.0, notional_cap_usd=1e9),
                         shadow=ShadowConfig(**shadow), symbols=["BTC"])  # type: ignore[arg-type]


def _quote_and_fill(a: RiskAuthority, i: int, t: int, adverse_bps: float) -> int:
    """A bid rests 1 s at 10 bps behind a 100.0 mid and is filled; 1 s later the mid has moved
    ``adverse_bps`` against it (the live markout). Returns the time after."""
    cid = f"q{i}"
    a.on_mark(0, 100.0, t)
    a.on_order_event(ev(cid, OrderStatus.OPEN, ts=t), t)
    for k in range(1, 11):
        a.on_mark(0, 100.0, t + k * 100 * MS)
    t += S
    a.on_fill(fill(cid, t))
    a.on_order_event(ev(cid, OrderStatus.FILLED, filled=1.0, ts=t), t)
    a.on_mark(0, 100.0 * (1 - adverse_bps / 1e4), t + S)  # resolves the markout
    a.on_mark(0, 100.0, t + S + 1)
    return t + 2 * S


def test_sim_to_real_gap_from_live_fills_feeds_execution_confidence() -> None:
    a = _authority(min_pairs=5, zero_confidence_gap_bps=20.0)
    t = S
    for i in range(5):
        t = _quote_and_fill(a, i, t, adverse_bps=4.0)
    paper = (100.0 - 99.9) / 99.9 * 1e4  # ~10.01 bps: paper books the half spread
    live = (100.0 * (1 - 4e-4) - 99.9) / 99.9 * 1e4  # ~6.0 bps after the adverse move
    assert a.sim_to_real.pairs == 5
    assert a.sim_to_real.gap_bps == pytest.approx(paper - live, rel=1e-6)
    assert a.sim_to_real.bias_bps == pytest.approx(paper - live, rel=1e-6)  # paper optimistic
    a.on_timer(t)
    assert a.confidence.components.execution == pytest.approx(1.0 - (paper - live) / 20.0, rel=1e-6)
    st = a.status(t)["shadow"]
    assert isinstance(st, dict)
    assert st["engine"]["outcomes"] == 5 and st["engine"]["open_quotes"] == 0
    # every episode reached the calibrator and the P(fill) validator, filled
    assert a.fill_calibrator.episodes == 5 and a.pfill.n == 5
    row = next(r for r in a.fill_calibrator.table() if r["episodes"])
    assert row["observed_p_fill"] == pytest.approx(1.0)


def test_calibrator_moves_the_twins_paper_model_towards_live_fills() -> None:
    """Live quotes at 10 bps that never fill: the calibrated intensity there falls, and the
    twins' predicted P(fill) with it (the sim's fill parameters updated from live)."""
    a = _authority(prior_exposure_s=5.0)
    t = S
    preds = []
    for i in range(40):
        cid = f"n{i}"
        a.on_mark(0, 100.0, t)
        a.on_order_event(ev(cid, OrderStatus.OPEN, ts=t), t)
        a.on_mark(0, 100.0, t + 5 * S)
        preds.append(a.on_order_event(ev(cid, OrderStatus.CANCELLED, ts=t + 5 * S), t + 5 * S)[0].predicted_p_fill)
        t += 6 * S
    assert preds[-1] < 0.5 * preds[0]
    err = a.pfill.calibration_error()
    assert err is not None and err > 0.0  # the early predictions were too high: measured, not hidden


def test_exchange_failures_degrade_exchange_health_and_execution_confidence() -> None:
    a = _authority()
    a.on_timer(S)
    before = a.confidence.components.execution
    a.on_order_event(ev("p", OrderStatus.REJECTED, reason="Post only order would have immediately matched"), S)
    assert a.health.health(S) == ExchangeHealth.OK
    a.on_order_event(ev("r", OrderStatus.REJECTED, reason="Insufficient margin to place order."), S)
    assert a.health.health(S) == ExchangeHealth.DEGRADED
    a.on_timer(2 * S)
    assert a.confidence.components.execution == pytest.approx(before * a.shadow_cfg.health_factors[1])
