"""Tick and lot rules (D-tick) and the wire formatter, checked against the official SDK."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hyperliquid.utils.signing import float_to_wire as sdk_float_to_wire
from hypothesis import given, settings
from hypothesis import strategies as st

from mm.venues.hyperliquid import rules
from mm.venues.hyperliquid.rules import AssetRules, Rounding

# A meta with every szDecimals value 0..5 (the formatter must be right for all of them).
META = {"universe": [{"name": f"C{d}", "szDecimals": d, "maxLeverage": 20} for d in range(6)]}
ASSETS = rules.rules_from_meta(META)


def test_documented_tick_examples() -> None:
    assert rules.check_price("1234.5", 0) is None
    assert rules.check_price("1234.56", 0) == rules.ERR_TICK
    assert rules.check_price("0.001234", 0) is None
    assert rules.check_price("0.0012345", 0) == rules.ERR_TICK
    assert rules.check_price("0.01234", 1) is None
    assert rules.check_price("0.012345", 1) == rules.ERR_TICK
    assert rules.check_price("123456", 5) is None  # integers always allowed
    assert rules.check_price("12345.6", 0) == rules.ERR_TICK
    assert rules.check_price("0", 0) == rules.ERR_TICK
    assert rules.check_price("-1", 0) == rules.ERR_TICK
    assert rules.check_price("abc", 0) == rules.ERR_TICK
    # BTC (szDecimals 5): one decimal at most
    assert rules.check_price("60000", 5) is None
    assert rules.check_price("60000.5", 5) == rules.ERR_TICK
    assert rules.check_price("6000.5", 5) is None
    assert rules.check_price("6000.55", 5) == rules.ERR_TICK
    # spot allows 8 - szDecimals
    assert rules.check_price("0.0001234", 1, is_spot=True) is None
    assert rules.check_price("0.0001234", 1, is_spot=False) == rules.ERR_TICK


def test_documented_lot_and_notional_examples() -> None:
    assert rules.check_size("1.001", 3) is None
    assert rules.check_size("1.0001", 3) == rules.ERR_INVALID_SIZE
    assert rules.check_size("0", 3) == rules.ERR_INVALID_SIZE
    assert rules.check_size("16.4", 0) == rules.ERR_INVALID_SIZE
    assert rules.check_size("16", 0) is None
    assert rules.check_order("60000", "0.0001", 5) == rules.ERR_MIN_NOTIONAL  # $6
    assert rules.check_order("60000", "0.001", 5) is None  # $60
    assert rules.check_order("60000.5", "0.001", 5) == rules.ERR_TICK
    assert rules.check_order("60000", "0.0000001", 5) == rules.ERR_INVALID_SIZE


def test_wire_strings_match_sdk() -> None:
    for x, want in [(60000.0, "60000"), (0.001, "0.001"), (0.1 + 0.2, "0.3"), (1e-8, "0.00000001"), (123456.0, "123456")]:
        assert rules.to_wire(x) == want == sdk_float_to_wire(x)
    with pytest.raises(ValueError):
        rules.to_wire(1e-9)
    assert rules.to_wire(-0.0) == "0"


def test_hl_response_style() -> None:
    assert rules.hl_str(29792) == "29792.0"
    assert rules.hl_str("0") == "0.0"
    assert rules.hl_str(Decimal("7.66990")) == "7.6699"
    assert rules.hl_str("1E+5") == "100000.0"
    assert rules.hl_str(-0.0335) == "-0.0335"


def test_rounding_directions() -> None:
    assert rules.format_price(1234.56, 0, rounding=Rounding.DOWN) == "1234.5"
    assert rules.format_price(1234.56, 0, rounding=Rounding.UP) == "1234.6"
    assert rules.format_price(123456.7, 0, rounding=Rounding.UP) == "123457"
    assert rules.format_price(0.00001, 5) == "0.1"  # too small for the grid: smallest tick, never 0
    assert rules.format_size(0.123456, 3) == "0.123"
    assert rules.format_size(0.0004, 3) == "0"


def test_units_round_trip() -> None:
    btc = AssetRules("BTC", 5)
    assert btc.px_to_units(Decimal("60000.5")) == 600005
    assert btc.units_to_px(600005) == Decimal("60000.5")
    assert btc.sz_to_lots(Decimal("0.001")) == 100
    assert btc.lots_to_sz(100) == Decimal("0.001")
    assert btc.float_px_to_units(109741.0) == 1097410


prices = st.floats(min_value=1e-5, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(px=prices, asset=st.sampled_from(ASSETS), rounding=st.sampled_from(list(Rounding)))
def test_formatted_prices_are_never_rejected(px: float, asset: AssetRules, rounding: Rounding) -> None:
    s = asset.format_price(px, rounding)
    assert rules.check_price(s, asset.sz_decimals) is None
    # what a client sends after float(): the SDK's float_to_wire gives the same string back
    assert sdk_float_to_wire(float(s)) == s
    assert rules.to_wire(float(s)) == s
    d = Decimal(s)
    tick = Decimal(1).scaleb(-asset.px_decimals)
    exact = Decimal(repr(px))
    if d != tick:  # unless clamped to the smallest tick
        if rounding is Rounding.DOWN:
            assert d <= exact
        elif rounding is Rounding.UP:
            assert d >= exact
        # within 5 significant figures of the input
        assert abs(d - exact) <= max(exact * Decimal("0.0001"), tick)


@settings(max_examples=300, deadline=None)
@given(qty=st.floats(min_value=0, max_value=1e7, allow_nan=False), asset=st.sampled_from(ASSETS))
def test_formatted_sizes_are_on_the_lot_grid(qty: float, asset: AssetRules) -> None:
    s = asset.format_size(qty)
    d = Decimal(s)
    assert d <= Decimal(repr(qty))
    if d > 0:
        assert rules.check_size(s, asset.sz_decimals) is None
        assert sdk_float_to_wire(float(s)) == s


@settings(max_examples=300, deadline=None)
@given(
    digits=st.integers(min_value=1, max_value=10**9),
    exponent=st.integers(min_value=-12, max_value=3),
    sz_decimals=st.integers(min_value=0, max_value=5),
)
def test_validator_agrees_with_the_rule_definition(digits: int, exponent: int, sz_decimals: int) -> None:
    px = Decimal(digits).scaleb(exponent)
    n = px.normalize()
    exp = n.as_tuple().exponent
    assert isinstance(exp, int)
    integer = px == px.to_integral_value()
    decimals_ok = -exp <= 6 - sz_decimals
    sig_ok = len(n.as_tuple().digits) <= 5
    assert rules.is_valid_price(px, sz_decimals) == (integer or (decimals_ok and sig_ok))
