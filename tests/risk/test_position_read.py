"""The timing rule of venue position reads: away from our fills, with execution alive."""

from mm.risk.position_read import PositionReadGate

S = 1_000_000_000


def test_a_read_waits_for_quiet_fills_and_a_live_execution():
    g = PositionReadGate(interval_ns=30 * S, start_ns=0)
    assert not g.may_send(10 * S, execution_beat_ns=0)  # execution never beat
    g.on_fill(10 * S)
    assert not g.may_send(10 * S + S // 2, execution_beat_ns=10 * S)  # a fill too close
    assert g.may_send(11 * S, execution_beat_ns=11 * S)


def test_an_answer_is_judged_after_settling_and_adopted_only_without_a_fill_around_it():
    g = PositionReadGate(interval_ns=30 * S, start_ns=0)
    g.on_sent(5 * S)
    assert not g.settled(6 * S)
    assert g.settled(6 * S + g.settle_ns)
    assert g.accept(6 * S + g.settle_ns, execution_beat_ns=6 * S + g.settle_ns)
    assert g.due_ns == 6 * S + g.settle_ns + 30 * S  # next read after the interval
    g.on_sent(40 * S)
    g.on_fill(40 * S + 1)  # a fill arrived around the read: rejected, retried soon
    assert not g.accept(42 * S, execution_beat_ns=42 * S)
    assert g.due_ns == 42 * S + g.fill_quiet_ns


def test_a_failed_read_or_a_silent_execution_is_retried_soon():
    g = PositionReadGate(interval_ns=30 * S, start_ns=0)
    g.on_sent(5 * S)
    assert not g.accept(7 * S, execution_beat_ns=5 * S)  # execution has not looped since
    assert g.due_ns == 8 * S
    g.on_failed(9 * S)
    assert g.due_ns == 10 * S
