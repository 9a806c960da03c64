"""Hyperliquid perpetuals fee schedule: volume tiers, maker rebates, staking discount.

This module owns the fee rates the paper venue charges and the quoting side can assume
(ARCHITECTURE "Fees decide whether making pays at all"). Rates are fractions of notional
(0.00045 = 0.045% = 4.5 bps); a negative maker rate is a rebate paid to the maker.

Tiers by 14-day weighted volume (taker / maker, bps): base 4.5 / 1.5, >$5M 4.0 / 1.2,
>$25M 3.5 / 0.8, >$100M 3.0 / 0.4, >$500M 2.8 / 0, >$2B 2.6 / 0, >$7B 2.4 / 0. The last
three taker rates come from Hyperliquid's published schedule as of 2025 (the architecture
notes list only "maker 0" above $500M). Maker rebates by share of the venue's 14-day maker
volume replace the tier's maker rate: >0.5% -0.1 bps, >1.5% -0.2 bps, >3% -0.3 bps. A HYPE
staking discount (up to 40%) scales the fees paid, never a rebate.
"""

from __future__ import annotations

from typing import Final

import msgspec


class FeeTier(msgspec.Struct, frozen=True):
    """One volume tier: reached at ``min_volume_14d_usd``; rates in basis points."""

    name: str
    min_volume_14d_usd: float
    taker_bps: float
    maker_bps: float


class MakerRebateTier(msgspec.Struct, frozen=True):
    """Reached above ``min_maker_share`` of the venue's maker volume; ``rebate_bps`` is negative."""

    name: str
    min_maker_share: float
    rebate_bps: float


PERP_FEE_TIERS: Final = (
    FeeTier("base", 0.0, 4.5, 1.5),
    FeeTier("tier1", 5e6, 4.0, 1.2),
    FeeTier("tier2", 25e6, 3.5, 0.8),
    FeeTier("tier3", 100e6, 3.0, 0.4),
    FeeTier("tier4", 500e6, 2.8, 0.0),
    FeeTier("tier5", 2e9, 2.6, 0.0),
    FeeTier("tier6", 7e9, 2.4, 0.0),
)

MAKER_REBATE_TIERS: Final = (
    MakerRebateTier("rebate1", 0.005, -0.1),
    MakerRebateTier("rebate2", 0.015, -0.2),
    MakerRebateTier("rebate3", 0.03, -0.3),
)

MAX_STAKING_DISCOUNT: Final = 0.40


class FeeRates(msgspec.Struct, frozen=True):
    """Fractions of notional charged to the taker and to the maker (negative = rebate)."""

    taker: float
    maker: float

    def fee_usd(self, notional_usd: float, is_maker: bool) -> float:
        """The fee for one fill (positive = paid)."""
        return notional_usd * (self.maker if is_maker else self.taker)


def tier_by_name(name: str) -> FeeTier:
    for tier in PERP_FEE_TIERS:
        if tier.name == name:
            return tier
    raise ValueError(f"unknown fee tier {name!r}; known: {[t.name for t in PERP_FEE_TIERS]}")


def tier_for_volume(volume_14d_usd: float) -> FeeTier:
    """The highest tier whose volume threshold is strictly exceeded (base at zero)."""
    chosen = PERP_FEE_TIERS[0]
    for tier in PERP_FEE_TIERS[1:]:
        if volume_14d_usd > tier.min_volume_14d_usd:
            chosen = tier
    return chosen


def rebate_for_share(maker_share: float) -> MakerRebateTier | None:
    """The maker rebate tier for a share of the venue's maker volume, or None below 0.5%."""
    chosen = None
    for tier in MAKER_REBATE_TIERS:
        if maker_share > tier.min_maker_share:
            chosen = tier
    return chosen


def fee_rates(tier: FeeTier, maker_share: float = 0.0, staking_discount: float = 0.0) -> FeeRates:
    """The rates for a tier, an optional maker-volume share (rebates) and a staking discount."""
    if not 0.0 <= staking_discount <= MAX_STAKING_DISCOUNT:
        raise ValueError(f"staking discount must be within [0, {MAX_STAKING_DISCOUNT}]")
    scale = 1.0 - staking_discount
    taker = tier.taker_bps * 1e-4 * scale
    rebate = rebate_for_share(maker_share)
    maker = rebate.rebate_bps * 1e-4 if rebate is not None else tier.maker_bps * 1e-4 * scale
    return FeeRates(taker=taker, maker=maker)
