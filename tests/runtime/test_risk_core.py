"""Position book and exposure controller: properties and the operator path."""

import math

from hypothesis import given
from hypothesis import strategies as st

from mm.graduation.exposure import ExposureConfig, ExposureController, decode_history, encode_history
from mm.risk.authority import Ack, RiskAuthority
from mm.risk.position import PositionBook
from mm.schema import ExposureLevel, OperatorCommand

fills = st.lists(
    st.tuples(st.sampled_from([1, -1]), st.floats(1.0, 1000.0), st.floats(0.001, 10.0), st.floats(-0.1, 0.1)),
    max_size=60,
)


@given(fills)
def test_position_is_the_signed_sum_of_fills(fs):
    book = PositionBook()
    for side, px, qty, fee in fs:
        assert book.apply_fill(0, side, px, qty, fee)
    pos = book.get(0)
    assert math.isclose(pos.qty, sum(s * q for s, _, q, _ in fs), abs_tol=1e-6)
    assert math.isclose(pos.fees, sum(f for *_, f in fs), abs_tol=1e-9)
    assert pos.fills == len(fs)


@given(fills, st.floats(1.0, 1000.0))
def test_pnl_equals_cash_flow_when_marked(fs, mark):
    """realized + unrealized - fees == cash flow + position value at the mark."""
    book = PositionBook()
    cash = 0.0
    for side, px, qty, fee in fs:
        book.apply_fill(0, side, px, qty, fee)
        cash -= side * px * qty + fee
    book.mark(0, mark)
    pos = book.get(0)
    assert math.isclose(book.total_pnl(), cash + pos.qty * mark, rel_tol=1e-7, abs_tol=1e-5)


def test_bad_fills_are_counted_not_applied():
    book = PositionBook()
    assert not book.apply_fill(0, 1, float("nan"), 1.0, 0.0)
    assert not book.apply_fill(0, 1, 100.0, -1.0, 0.0)
    assert not book.apply_fill(0, 0, 100.0, 1.0, 0.0)
    assert book.rejected_fills == 3 and book.get(0).qty == 0.0


def test_promotion_refused_without_evidence_unless_forced_and_recorded():
    ctl = ExposureController(ExposureConfig())
    assert ctl.level == ExposureLevel.SHADOW and ctl.size_multiplier == 0.0
    d = ctl.promote(False, "no evidence", "alice", "try", False, 1, 1)
    assert not d.accepted and ctl.level == ExposureLevel.SHADOW and "refused" in d.message
    d = ctl.promote(False, "no evidence", "alice", "I know", True, 2, 2)
    assert d.accepted and ctl.level == ExposureLevel.MICRO_LIVE
    assert [h.kind for h in ctl.history] == ["refused", "promote"] and ctl.history[-1].forced


@given(st.lists(st.sampled_from(["up", "down", "down2", "shadow"]), max_size=40))
def test_promotion_one_level_at_a_time_demotion_may_skip(ops):
    ctl = ExposureController(ExposureConfig())
    for i, op in enumerate(ops):
        before = int(ctl.level)
        if op == "up":
            ctl.promote(True, "", "t", "", False, i, i)
            assert int(ctl.level) - before in (0, 1)
        elif op == "down":
            ctl.demote(None, "t", "", i, i)
            assert int(ctl.level) == max(before - 1, 0)
        elif op == "down2":
            ctl.demote(ExposureLevel(max(before - 2, 0)), "t", "", i, i)
            assert int(ctl.level) == max(before - 2, 0)
        else:
            ctl.demote(ExposureLevel.SHADOW, "t", "", i, i)
            assert ctl.level == ExposureLevel.SHADOW


def test_history_survives_a_restart():
    ctl = ExposureController(ExposureConfig())
    ctl.promote(True, "", "a", "evidence", False, 5, 5)
    ctl.promote(False, "none", "a", "again", False, 6, 6)
    again = ExposureController(ExposureConfig(), decode_history(encode_history(ctl.history)))
    assert again.level == ExposureLevel.MICRO_LIVE and len(again.history) == 2


def test_authority_answers_operator_commands():
    auth = RiskAuthority(ExposureConfig())
    ack, text = auth.on_command(OperatorCommand(ts_ns=1, seq=1, verb="promote", who="bob"), 0)
    assert ack == Ack.REFUSED and "--force" in text
    ack, _ = auth.on_command(OperatorCommand(ts_ns=2, seq=2, verb="promote", force=True), 0)
    assert ack == Ack.ACCEPTED and auth.control_state(3).exposure_level == ExposureLevel.MICRO_LIVE
    ack, _ = auth.on_command(OperatorCommand(ts_ns=4, seq=3, verb="demote", arg="bogus"), 0)
    assert ack == Ack.INVALID
    ack, _ = auth.on_command(OperatorCommand(ts_ns=5, seq=4, verb="demote", arg="shadow"), 0)
    assert ack == Ack.ACCEPTED and auth.control_state(6).size_multiplier == 0.0
