"""Quoting uptime's missed time and its causes (mm.replay.uptime)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from mm.execution.decision import CandidateRecord, DecisionRecord
from mm.replay.engine import ModeRow, ReplayResult
from mm.replay.uptime import miss_causes, qv_uptime, uptime_misses


def record(**kw: Any) -> DecisionRecord:
    """A decision record with zero/empty inputs and the given decision fields."""
    zero: dict[object, Any] = {int: 0, float: 0.0, str: "", bool: False}
    vals = {f.name: zero.get(f.type, [] if str(f.type).startswith("list") else None)
            for f in msgspec.structs.fields(DecisionRecord)}
    vals.update(mode_name="MAKER", mode_reason="maker")
    vals.update(kw)
    return DecisionRecord(**vals)


def cand(side: int, px: float, qv: float, reject: str = "", chosen: bool = False) -> CandidateRecord:
    return CandidateRecord(side, px, 0, 1.0, qv, 0.01, 0.0, qv, chosen, reject)


def test_a_mode_other_than_maker_is_the_cause_with_its_reason() -> None:
    rec = record(mode_name="TAKER_ENTRY", mode_reason="taker mode persists until its timeout")
    assert miss_causes(rec, 3) == ("taker_entry: taker mode persists until its timeout",)
    assert miss_causes(rec, 0) == ()


def test_maker_names_the_refusal_of_the_best_level_inside_the_book() -> None:
    rec = record(candidates=[
        cand(1, 100.1, 9.0, "would cross the book"),  # the opportunity never counts a crossing level
        cand(1, 100.0, 2.0, "fill probability below p_fill_min"),
        cand(1, 99.9, 1.0, "inventory penalty exceeds queue value"),
        cand(-1, 100.2, 1.0, "inventory penalty exceeds queue value"),
    ])
    assert miss_causes(rec, 1) == ("maker: fill probability below p_fill_min",)
    assert miss_causes(rec, 3) == ("maker: fill probability below p_fill_min",
                                   "maker: inventory penalty exceeds queue value")


def test_maker_names_what_dropped_a_chosen_quote_for_its_side_only() -> None:
    rec = record(candidates=[cand(1, 100.0, 2.0, chosen=True), cand(-1, 100.2, 2.0, chosen=True)],
                 reasons=["ask: 0.001 below the minimum notional", "bid not allowed by risk"])
    assert miss_causes(rec, 1) == ("maker: risk: side not allowed",)
    assert miss_causes(rec, 2) == ("maker: size below the minimum notional",)
    gated = record(candidates=[cand(1, 100.0, 2.0, chosen=True)],
                   reasons=["lead gate: bid at 100 withdrawn, lead skew -3.00 bps"])
    assert miss_causes(gated, 1) == ("maker: lead gate (lead venue's move)",)
    assert miss_causes(record(), 1) == ("maker: no candidate level evaluated",)


def row(ts_ns: int, pos: int, quoted: int, miss: tuple[str, ...] = ()) -> ModeRow:
    return ModeRow(0, ts_ns, 1, 0, 0, 0, 0, 0, 0.0, 1.0, pos, quoted, miss)


def test_missed_time_is_weighed_by_cause_and_completes_the_uptime() -> None:
    res = ReplayResult(1)
    res.trade_from_ns, res.end_ns = 0, 100
    res.modes = [
        row(-50, 1, 0, ("flat: warm-up",)),  # before the evaluated window: only 0-10 counts
        row(10, 1, 1),  # 10-40 quoted
        row(40, 3, 0, ("maker: a", "maker: b")),  # 40-60 missed, shared by two causes
        row(60, 2, 0, ("maker: a",)),  # 60-70
        row(70, 0, 0),  # 70-90 no opportunity
        row(90, 1, 0),  # 90-100 missed with no recorded cause
    ]
    up, pos_ns = qv_uptime(res, 1)
    assert pos_ns == 80 and up == pytest.approx(30 / 80)
    misses = dict(uptime_misses(res, 1))
    assert misses == pytest.approx({"maker: a": 20 / 80, "maker: b": 10 / 80, "flat: warm-up": 10 / 80,
                                    "unrecorded": 10 / 80})
    assert sum(misses.values()) + up == pytest.approx(1.0)
    assert uptime_misses(ReplayResult(1), 1) == []
