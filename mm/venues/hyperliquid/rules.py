"""Hyperliquid tick and lot rules, the wire number format, and the venue's error strings.

This module owns every rule that decides whether a price or size string is acceptable to
Hyperliquid (HYPERLIQUID_WIRE.md §4, D-tick), a formatter that always produces an
acceptable wire string, and the exact per-order error strings the venue answers with
(§2, D-err). The exchange client uses the formatter; the paper venue uses the validators;
the two share one definition so they cannot drift apart.

Rules (perpetuals unless noted):

- A price has at most 5 significant figures and at most ``6 - szDecimals`` decimals
  (``8 - szDecimals`` for spot). An integer price is always allowed, whatever its number
  of figures (``123456`` is valid, ``12345.6`` is not).
- A size has at most ``szDecimals`` decimals and is positive.
- Price x size is at least $10 (perps).
- On the wire, numbers are decimal strings with at most 8 decimals, no exponent and no
  trailing zeros (``60000``, ``0.001``), which is what the official SDK's
  ``float_to_wire`` produces. Hyperliquid's own responses print at least one decimal
  (``"29792.0"``, ``"0.0"``): :func:`hl_str`.

Exact arithmetic is done with :class:`decimal.Decimal`. For the matching engine every valid
price of an asset is an integer number of *price units* ``10 ** -price_decimals`` and every
size an integer number of *lots* ``10 ** -szDecimals``: :class:`AssetRules` converts both ways.
"""

from __future__ import annotations

import enum
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Final

import msgspec

MAX_DECIMALS_PERP: Final = 6
MAX_DECIMALS_SPOT: Final = 8
MAX_SIG_FIGS: Final = 5
WIRE_MAX_DECIMALS: Final = 8
MIN_NOTIONAL_USD: Final = Decimal(10)

# Per-order error strings (D-err). Real replies append " asset=<n>"; the venue adds it.
ERR_TICK: Final = "Price must be divisible by tick size."
ERR_MIN_NOTIONAL: Final = "Order must have minimum value of $10."
ERR_INVALID_SIZE: Final = "Order has invalid size."
ERR_MARGIN: Final = "Insufficient margin to place order."
ERR_REDUCE_ONLY: Final = "Reduce only order would increase position."
ERR_IOC_CANCEL: Final = "Order could not immediately match against any resting orders."
ERR_BAD_TRIGGER_PX: Final = "Invalid TP/SL price."
ERR_NO_LIQUIDITY: Final = "No liquidity available for market order."
ERR_CANCEL_MISSING: Final = "Order was never placed, already canceled, or filled."
ERR_MODIFY_DEAD: Final = "Cannot modify canceled or filled order"
ERR_POST_ONLY_WINDOW: Final = "Only post-only orders allowed immediately after a network upgrade"
ERR_UNKNOWN_ASSET: Final = "Invalid asset."

_ONE: Final = Decimal(1)
_ZERO: Final = Decimal(0)


def err_bad_alo(bid: str, ask: str) -> str:
    """The post-only rejection, carrying the BBO as ``<bid>@<ask>`` (e.g. ``64143@64144``)."""
    return f"Post only order would have immediately matched, bbo was {bid}@{ask}."


class Rounding(enum.Enum):
    """Direction of rounding onto the price or lot grid."""

    NEAREST = ROUND_HALF_EVEN
    DOWN = ROUND_FLOOR
    UP = ROUND_CEILING


def price_decimals(sz_decimals: int, is_spot: bool = False) -> int:
    """The most decimals a price may have: ``6 - szDecimals`` (perp), ``8 - szDecimals`` (spot)."""
    return max(0, (MAX_DECIMALS_SPOT if is_spot else MAX_DECIMALS_PERP) - sz_decimals)


def to_decimal(x: float | int | str | Decimal) -> Decimal:
    """A finite Decimal from a float (its shortest repr), int, str or Decimal; ValueError otherwise."""
    if isinstance(x, Decimal):
        d = x
    elif isinstance(x, float):
        d = Decimal(repr(x))
    else:
        try:
            d = Decimal(x)
        except InvalidOperation as exc:
            raise ValueError(f"not a number: {x!r}") from exc
    if not d.is_finite():
        raise ValueError(f"not a finite number: {x!r}")
    return d


def plain_str(d: Decimal) -> str:
    """``d`` without exponent and without trailing zeros (``6E+4`` -> ``60000``, ``-0`` -> ``0``)."""
    if d == 0:
        return "0"
    s = format(d.normalize(), "f")
    return s


def hl_str(x: float | int | str | Decimal) -> str:
    """Hyperliquid's response style: no exponent, trailing zeros dropped but at least one decimal.

    ``29792`` -> ``"29792.0"``, ``0`` -> ``"0.0"``, ``7.66990`` -> ``"7.6699"``.
    """
    s = plain_str(to_decimal(x))
    return s if "." in s else s + ".0"


def to_wire(x: float | int | str | Decimal) -> str:
    """The wire form of a number as the official SDK sends it (``float_to_wire`` semantics).

    At most 8 decimals, no trailing zeros, no exponent. Raises ValueError when 8 decimals
    cannot represent the value to within 1e-12 (the SDK refuses those too).
    """
    d = to_decimal(x)
    try:
        q = d.quantize(Decimal(1).scaleb(-WIRE_MAX_DECIMALS), rounding=ROUND_HALF_EVEN)
    except InvalidOperation as exc:
        raise ValueError(f"to_wire cannot represent {x!r}") from exc
    if abs(float(q) - float(d)) >= 1e-12:
        raise ValueError(f"to_wire would round {x!r}")
    return plain_str(q)


def sig_figs(d: Decimal) -> int:
    """Significant figures of a non-zero decimal, trailing zeros not counted."""
    digits = d.normalize().as_tuple().digits
    return len(digits)


def is_valid_price(px: Decimal, sz_decimals: int, is_spot: bool = False) -> bool:
    """True when ``px`` is positive and on Hyperliquid's tick grid for the asset."""
    if not px.is_finite() or px <= 0:
        return False
    if px == px.to_integral_value():
        return True
    t = px.normalize().as_tuple()
    exponent = t.exponent
    assert isinstance(exponent, int)
    if -exponent > price_decimals(sz_decimals, is_spot):
        return False
    return len(t.digits) <= MAX_SIG_FIGS


def is_valid_size(sz: Decimal, sz_decimals: int) -> bool:
    """True when ``sz`` is positive with at most ``sz_decimals`` decimals."""
    if not sz.is_finite() or sz <= 0:
        return False
    exponent = sz.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent <= sz_decimals


def check_price(px: str | Decimal, sz_decimals: int, is_spot: bool = False) -> str | None:
    """None when the price is valid, else Hyperliquid's tick error string."""
    try:
        d = to_decimal(px)
    except ValueError:
        return ERR_TICK
    return None if is_valid_price(d, sz_decimals, is_spot) else ERR_TICK


def check_size(sz: str | Decimal, sz_decimals: int) -> str | None:
    """None when the size is valid, else Hyperliquid's invalid-size error string."""
    try:
        d = to_decimal(sz)
    except ValueError:
        return ERR_INVALID_SIZE
    return None if is_valid_size(d, sz_decimals) else ERR_INVALID_SIZE


def check_min_notional(px: Decimal, sz: Decimal, min_notional_usd: Decimal = MIN_NOTIONAL_USD) -> str | None:
    """None when ``px * sz`` reaches the minimum order value, else the $10 error string."""
    return None if px * sz >= min_notional_usd else ERR_MIN_NOTIONAL


def check_order(
    px: str, sz: str, sz_decimals: int, is_spot: bool = False, min_notional_usd: Decimal = MIN_NOTIONAL_USD
) -> str | None:
    """All static checks of one order in Hyperliquid's order: tick, size, then minimum value."""
    err = check_price(px, sz_decimals, is_spot)
    if err is not None:
        return err
    err = check_size(sz, sz_decimals)
    if err is not None:
        return err
    return check_min_notional(Decimal(px), Decimal(sz), min_notional_usd)


def round_price(
    px: float | int | str | Decimal, sz_decimals: int, is_spot: bool = False, rounding: Rounding = Rounding.NEAREST
) -> Decimal:
    """The nearest valid price in the given direction (a bid rounds DOWN, an ask UP).

    Keeps 5 significant figures, at most ``price_decimals`` decimals, and whole units
    for prices of 100000 and above (integers are always valid). A positive price too small
    for the grid becomes the smallest tick, never zero. Raises ValueError on px <= 0.
    """
    d = to_decimal(px)
    if d <= 0:
        raise ValueError(f"price must be positive: {px!r}")
    exponent = min(d.adjusted() - (MAX_SIG_FIGS - 1), 0)
    exponent = max(exponent, -price_decimals(sz_decimals, is_spot))
    quantum = _ONE.scaleb(exponent)
    r = d.quantize(quantum, rounding=rounding.value)
    if r <= 0:
        r = quantum
    return r


def format_price(
    px: float | int | str | Decimal, sz_decimals: int, is_spot: bool = False, rounding: Rounding = Rounding.NEAREST
) -> str:
    """:func:`round_price` as a wire string (``"60000"``, ``"0.001234"``)."""
    return plain_str(round_price(px, sz_decimals, is_spot, rounding))


def round_size(qty: float | int | str | Decimal, sz_decimals: int, rounding: Rounding = Rounding.DOWN) -> Decimal:
    """``qty`` on the lot grid (down by default, so a size never grows); may be zero."""
    d = to_decimal(qty)
    if d < 0:
        raise ValueError(f"size must not be negative: {qty!r}")
    return d.quantize(_ONE.scaleb(-sz_decimals), rounding=rounding.value)


def format_size(qty: float | int | str | Decimal, sz_decimals: int, rounding: Rounding = Rounding.DOWN) -> str:
    """:func:`round_size` as a wire string."""
    return plain_str(round_size(qty, sz_decimals, rounding))


class AssetRules(msgspec.Struct, frozen=True):
    """One asset's trading rules, as listed in ``meta.universe`` (its index is the asset id)."""

    name: str
    sz_decimals: int
    max_leverage: int = 50
    is_spot: bool = False
    only_isolated: bool = False

    @property
    def px_decimals(self) -> int:
        """Decimals allowed in a price."""
        return price_decimals(self.sz_decimals, self.is_spot)

    @property
    def px_units_per_one(self) -> int:
        """Integer price units in 1.0 of price (every valid price is a whole number of them)."""
        return 10**self.px_decimals

    @property
    def lots_per_one(self) -> int:
        """Lots in 1.0 of size."""
        return 10**self.sz_decimals

    def px_to_units(self, px: Decimal) -> int:
        """A valid price as integer price units (exact)."""
        return int(px.scaleb(self.px_decimals))

    def sz_to_lots(self, sz: Decimal) -> int:
        """A valid size as integer lots (exact)."""
        return int(sz.scaleb(self.sz_decimals))

    def units_to_px(self, units: int) -> Decimal:
        """Integer price units back to a price."""
        return Decimal(units).scaleb(-self.px_decimals)

    def lots_to_sz(self, lots: int) -> Decimal:
        """Integer lots back to a size."""
        return Decimal(lots).scaleb(-self.sz_decimals)

    def float_px_to_units(self, px: float) -> int:
        """A market-data price (float) to the nearest integer price unit."""
        return int(round(px * self.px_units_per_one))

    def float_sz_to_lots(self, qty: float) -> int:
        """A market-data size (float) to the nearest whole lot."""
        return int(round(qty * self.lots_per_one))

    def check_order(self, px: str, sz: str, min_notional_usd: Decimal = MIN_NOTIONAL_USD) -> str | None:
        """:func:`check_order` for this asset."""
        return check_order(px, sz, self.sz_decimals, self.is_spot, min_notional_usd)

    def format_price(self, px: float | Decimal, rounding: Rounding = Rounding.NEAREST) -> str:
        """:func:`format_price` for this asset."""
        return format_price(px, self.sz_decimals, self.is_spot, rounding)

    def format_size(self, qty: float | Decimal, rounding: Rounding = Rounding.DOWN) -> str:
        """:func:`format_size` for this asset."""
        return format_size(qty, self.sz_decimals, rounding)

    def meta_entry(self) -> dict[str, object]:
        """This asset as an entry of ``meta.universe``."""
        return {
            "name": self.name,
            "szDecimals": self.sz_decimals,
            "maxLeverage": self.max_leverage,
            "onlyIsolated": self.only_isolated,
        }


def rules_from_meta(meta: dict[str, object]) -> list[AssetRules]:
    """The perp assets of a ``meta`` response, in asset-id order."""
    universe = meta.get("universe")
    if not isinstance(universe, list):
        raise ValueError("meta has no universe list")
    out: list[AssetRules] = []
    for entry in universe:
        if not isinstance(entry, dict):
            raise ValueError(f"bad universe entry: {entry!r}")
        out.append(
            AssetRules(
                name=str(entry["name"]),
                sz_decimals=int(entry["szDecimals"]),
                max_leverage=int(entry.get("maxLeverage", 50)),
                only_isolated=bool(entry.get("onlyIsolated", False)),
            )
        )
    return out
