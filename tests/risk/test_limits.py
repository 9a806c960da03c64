"""Limits: drawdown from the peak, notional caps, position-at-risk, reconciliation with the venue."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm.risk.config import RiskConfig
from mm.risk.limits import (
    DrawdownTracker,
    RiskLimits,
    VenuePosition,
    adopt_venue_positions,
    reconcile,
    sigma_bps_per_sqrt_s,
)
from mm.risk.position import PositionBook

S = 1_000_000_000


def test_drawdown_is_percent_of_capital_below_the_high_water_mark() -> None:
    dd = DrawdownTracker(capital_usd=10_000.0)
    assert dd.update(10_000.0, 0) == 0.0
    assert dd.update(10_200.0, 1) == 0.0
    assert dd.update(10_100.0, 2) == pytest.approx(1.0)  # 100 below a 10,200 peak, of 10,000 capital
    assert dd.update(10_300.0, 3) == 0.0
    assert dd.max_drawdown_pct == pytest.approx(1.0)
    assert math.isnan(dd.update(math.nan, 4))


@given(st.lists(st.floats(9_000.0, 11_000.0), min_size=1, max_size=80), st.integers(1, 30))
def test_windowed_peak_is_the_max_over_the_window(equities: list[float], window_s: int) -> None:
    dd = DrawdownTracker(capital_usd=10_000.0, peak_window_s=float(window_s))
    seen: list[tuple[int, float]] = [(0, 10_000.0)]  # the capital at the start
    for i, e in enumerate(equities):
        now = i * S // 2  # two samples per second
        dd.update(e, now)
        seen.append((now, e))
        horizon_s = (now - window_s * S) // S
        want = max(v for t, v in seen if t // S >= horizon_s)
        assert dd.peak_usd == pytest.approx(want)
        assert dd.drawdown_pct() == pytest.approx(max(want - e, 0.0) / 100.0)


def test_caps_shares_and_overrides() -> None:
    lim = RiskLimits(RiskConfig(notional_cap_usd=10_000.0, symbol_caps_usd={"BTC": 50_000.0}), ["BTC", "ETH"])
    book = PositionBook()
    book.apply_fill(0, 1, 50_000.0, 0.5, 0.0)
    book.apply_fill(1, -1, 2_000.0, 4.0, 0.0)
    book.mark(0, 50_000.0)
    book.mark(1, 2_000.0)
    r = {x.coin: x for x in lim.all_risk(book)}
    assert r["BTC"].share == pytest.approx(0.5) and r["ETH"].share == pytest.approx(0.8)
    assert lim.position_share(book) == pytest.approx(0.8)
    assert lim.headroom_qty(book, 1, -1, 2_000.0) == pytest.approx(1.0)  # 5 ETH cap, 4 short
    assert lim.headroom_qty(book, 1, 1, 2_000.0) == pytest.approx(9.0)


def test_position_at_risk() -> None:
    cfg = RiskConfig(capital_usd=100_000.0, par_budget_pct=1.0, par_horizon_s=100.0, par_z=2.0)
    lim = RiskLimits(cfg, ["BTC"])
    book = PositionBook()
    book.apply_fill(0, 1, 50_000.0, 1.0, 0.0)
    book.mark(0, 50_000.0)
    lim.set_sigma(0, 5.0)  # bps per sqrt(s)
    # 50,000 x 5e-4 x sqrt(100) x 2 = 500 USD against a 1,000 USD budget
    assert lim.par_usd(book) == pytest.approx(500.0)
    assert lim.par_share(book) == pytest.approx(0.5)


def test_sigma_conversion() -> None:
    # 1 bps mean |dmid| per 100 ms sample -> sd sqrt(pi/2) bps per sample, x sqrt(10) per sqrt(s)
    assert sigma_bps_per_sqrt_s(1.0, 100.0) == pytest.approx(math.sqrt(math.pi / 2) * math.sqrt(10.0))
    assert math.isnan(sigma_bps_per_sqrt_s(1.0, 0.0))


def test_reconciliation_reports_and_adopts_the_venue() -> None:
    lim = RiskLimits(RiskConfig(), ["BTC", "ETH", "SOL"])
    book = PositionBook()
    book.apply_fill(0, 1, 50_000.0, 0.2, 0.0)
    book.apply_fill(1, -1, 2_000.0, 1.0, 0.0)
    book.mark(0, 50_000.0)
    book.mark(1, 2_000.0)
    venue = [
        VenuePosition(symbol_id=0, qty=0.2, entry_px=50_000.0),  # agrees
        VenuePosition(symbol_id=1, qty=-1.5, entry_px=2_010.0),  # a fill we missed
        VenuePosition(symbol_id=2, qty=10.0, entry_px=150.0),  # a position we do not know of
    ]
    rep = reconcile(book, venue, lim, tol_usd=1.0, now_ns=5)
    assert not rep.ok and rep.checked == 3
    diffs = {d.coin: d for d in rep.diffs}
    assert set(diffs) == {"ETH", "SOL"}
    assert diffs["ETH"].diff_qty == pytest.approx(-0.5) and diffs["ETH"].diff_usd == pytest.approx(1_000.0)
    assert diffs["SOL"].diff_usd == pytest.approx(1_500.0)
    adopt_venue_positions(book, rep, venue)
    assert book.get(1).qty == -1.5 and book.get(1).avg_px == 2_010.0 and book.get(2).qty == 10.0
    assert reconcile(book, venue, lim, 1.0, 6).ok


def test_reconciliation_a_position_the_venue_does_not_have() -> None:
    lim = RiskLimits(RiskConfig(), ["BTC"])
    book = PositionBook()
    book.apply_fill(0, 1, 50_000.0, 0.01, 0.0)
    rep = reconcile(book, [], lim, tol_usd=1.0, now_ns=0)
    assert [d.venue_qty for d in rep.diffs] == [0.0]
    adopt_venue_positions(book, rep, [])
    assert book.get(0).qty == 0.0 and book.get(0).avg_px == 0.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"capital_usd": 0.0}, "risk.capital_usd"),
        ({"symbol_caps_usd": {"BTC": -1.0}}, "risk.symbol_caps_usd.BTC"),
        ({"par_horizon_s": math.nan}, "risk.par_horizon_s"),
        ({"markout_horizon_s": 0.0}, "risk.markout_horizon_s"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        RiskConfig(**kwargs)  # type: ignore[arg-type]
