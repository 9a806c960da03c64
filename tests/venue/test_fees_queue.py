"""Fee schedule lookups and the queue model's arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm.venues.sim import fees
from mm.venues.sim.queue_model import QueueModel, ahead_after_cancel


def test_fee_tiers() -> None:
    base = fees.fee_rates(fees.tier_by_name("base"))
    assert (base.taker, base.maker) == pytest.approx((0.00045, 0.00015))
    assert fees.tier_for_volume(0).name == "base"
    assert fees.tier_for_volume(6e6).name == "tier1"
    assert fees.tier_for_volume(30e6).name == "tier2"
    assert fees.tier_for_volume(600e6).maker_bps == 0.0
    assert fees.rebate_for_share(0.004) is None
    assert fees.rebate_for_share(0.02).rebate_bps == -0.2  # type: ignore[union-attr]
    disc = fees.fee_rates(fees.tier_by_name("base"), staking_discount=0.4)
    assert (disc.taker, disc.maker) == pytest.approx((0.00027, 0.00009))
    reb = fees.fee_rates(fees.tier_by_name("base"), maker_share=0.05, staking_discount=0.4)
    assert reb.maker == pytest.approx(-0.00003)  # rebates are not discounted
    assert reb.fee_usd(1000.0, is_maker=True) == pytest.approx(-0.03)
    with pytest.raises(ValueError):
        fees.tier_by_name("vip9")
    with pytest.raises(ValueError):
        fees.fee_rates(fees.tier_by_name("base"), staking_discount=0.5)


def test_queue_model_examples() -> None:
    assert ahead_after_cancel(QueueModel.PRO_RATA, 5, 10, 4) == 3
    assert ahead_after_cancel(QueueModel.BEHIND_FIRST, 5, 10, 4) == 5
    assert ahead_after_cancel(QueueModel.BEHIND_FIRST, 5, 10, 7) == 3
    assert ahead_after_cancel(QueueModel.AHEAD_FIRST, 5, 10, 4) == 1
    for m in QueueModel:
        assert ahead_after_cancel(m, 5, 10, 10) == 0
        assert ahead_after_cancel(m, 5, 10, 0) == 5


@given(
    level=st.integers(1, 10_000),
    a=st.integers(0, 10_000),
    b=st.integers(0, 10_000),
    cancel=st.integers(0, 10_000),
    model=st.sampled_from(list(QueueModel)),
)
def test_queue_model_keeps_order_and_bounds(level: int, a: int, b: int, cancel: int, model: QueueModel) -> None:
    a, b = sorted((min(a, level), min(b, level)))
    cancel = min(cancel, level)
    na = ahead_after_cancel(model, a, level, cancel)
    nb = ahead_after_cancel(model, b, level, cancel)
    assert 0 <= na <= nb <= level - cancel  # an earlier order stays ahead; nobody exceeds the level
    assert na <= a and nb <= b  # never pushed back
