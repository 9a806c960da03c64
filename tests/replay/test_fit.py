"""Issue 17 evaluation protocol: models fitted on the warm-up only, used by the replay; the
per-cycle queue-value opportunity and the uptime figure built on it."""

from __future__ import annotations

import msgspec
import pytest

from mm.execution.config import ExecutionConfig
from mm.execution.mode_handlers import PriceGrid
from mm.execution.state_machine import positive_qv_sides
from mm.replay.engine import CoinSpec, ModeRow, ReplayConfig, ReplayEngine, ReplayResult
from mm.replay.fit import fit_replay_models
from mm.replay.metrics import compute
from mm.replay.uptime import qv_uptime
from mm.schema import BookSnapshot, StateSnapshot, Trade
from mm.venues.sim.generator import MarketGenerator
from tests.execution.helpers import snap

T0 = 1_700_000_000 * 10**9
SPLIT_NS = T0 + 90 * 10**9


@pytest.fixture(scope="module")
def events() -> list[object]:
    evs, _ = MarketGenerator(coins=["BTC"], seed=11).generate(T0, 150.0)
    return list(evs)


@pytest.fixture(scope="module")
def models(events: list[object]):  # type: ignore[no-untyped-def]
    return fit_replay_models(events, ["BTC"], SPLIT_NS)


def test_fit_uses_only_the_warm_up(events: list[object], models) -> None:  # type: ignore[no-untyped-def]
    """Scrambling every price after the split leaves the fitted parameters unchanged."""
    assert models.figures["BTC"]["fitted"], models.figures
    bent: list[object] = []
    for e in events:
        if getattr(e, "ts_ns", 0) >= SPLIT_NS and isinstance(e, Trade):
            e = msgspec.structs.replace(e, px=e.px * 1.01, side=-e.side)
        elif getattr(e, "ts_ns", 0) >= SPLIT_NS and isinstance(e, BookSnapshot):
            e = msgspec.structs.replace(e, bid_qty=[q * 3.0 for q in e.bid_qty])
        bent.append(e)
    again = fit_replay_models(bent, ["BTC"], SPLIT_NS)
    for attr in ("toxicity", "fill", "queue_value"):
        a, b = getattr(models, attr), getattr(again, attr)
        assert set(a) == set(b)
        for sid in a:
            da, db = msgspec.to_builtins(a[sid]), msgspec.to_builtins(b[sid])
            da.pop("metrics", None)
            db.pop("metrics", None)
            assert da == db, attr


def test_replay_uses_the_fitted_models_net_of_the_replayed_tier(events: list[object], models) -> None:  # type: ignore[no-untyped-def]
    if 0 not in models.queue_value:
        pytest.skip("too little data to fit queue value")
    base = ReplayEngine([CoinSpec("BTC", 5)], ReplayConfig(fee_tier="base"), ExecutionConfig(), models)
    reb = ReplayEngine([CoinSpec("BTC", 5)], ReplayConfig(fee_tier="rebate3"), ExecutionConfig(), models)
    s = snap(bid=100.0, ask=100.1)
    # same gross model; the difference is the fee: 1.5 - (-0.3) bps
    d = base.ex.qv.queue_value(1, 100.0, 1.0, s) - reb.ex.qv.queue_value(1, 100.0, 1.0, s)
    assert d == pytest.approx(-1.8, abs=1e-9)
    res = base.run(events, SPLIT_NS)
    m = compute(res, None, 1, maker_bps=1.5)
    assert res.n_cycles > 0 and m["table"][0]["metric"].startswith("Adverse selection")


class _Qv:
    def __init__(self, good_side: int) -> None:
        self.good = good_side

    def queue_value(self, side: int, px: float, rank_frac: float, snap: StateSnapshot) -> float:
        return 0.5 if side == self.good else -0.5


def test_positive_qv_sides() -> None:
    g = PriceGrid(2)
    s = snap(bid=100.0, ask=100.01)  # one tick: +1 would cross, so only 0 and -1 count
    assert positive_qv_sides(_Qv(1), g, s, [1, 0, -1], 1.0) == 1
    assert positive_qv_sides(_Qv(-1), g, s, [1, 0, -1], 1.0) == 2
    assert positive_qv_sides(_Qv(0), g, s, [1, 0, -1], 1.0) == 0
    crossed = snap(bid=100.0, ask=100.0)
    assert positive_qv_sides(_Qv(1), g, crossed, [0], 1.0) == 0


def test_qv_uptime_counts_time_quoted_on_a_positive_side() -> None:
    res = ReplayResult(1)
    res.trade_from_ns, res.end_ns = 0, 100
    # 0-40 bid positive and quoted on the bid; 40-70 ask positive, quoted on the bid only; 70-100 nothing positive
    res.modes = [ModeRow(0, 0, 1, 0, 0, 1, 0, 0, 0.0, 1.0, 1, 1), ModeRow(0, 40, 1, 0, 0, 1, 0, 0, 0.0, 1.0, 2, 1),
                 ModeRow(0, 70, 0, 0, 0, 0, 0, 0, 0.0, 1.0, 0, 0)]
    up, pos_ns = qv_uptime(res, 1)
    assert pos_ns == 70
    assert up == pytest.approx(40 / 70)
