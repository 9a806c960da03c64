"""Quoting uptime against the real opportunity, and where the missed time went.

The opportunity (issue 17 item 4, "quoting uptime >= 85% of the time that net queue value is
positive on a side"): per decision cycle the replay evaluates with the run's own queue-value
model whether some passive candidate level on a side has net queue value > 0 outside Toxic
flow (:func:`mm.execution.state_machine.positive_qv_sides`, ``ModeRow.qv_pos_sides``) and
which sides got a passive, non-reduce-only quote (``ModeRow.quoted_sides``). A cycle's
figures hold until the symbol's next cycle (:meth:`~mm.replay.engine.ReplayResult.cycle_spans`).

:func:`miss_causes` names why a cycle with such a side quoted none of them, from the cycle's
own decision record: the mode and its reason when the mode was not Maker, else per missed
side the refusal of that side's best candidate level (fill probability, inventory penalty,
queue-value margin) or what dropped the chosen quote afterwards (size, minimum notional, a
gate, risk, our other quote). :func:`uptime_misses` weighs those causes by time, as shares
of the opportunity time; with :func:`qv_uptime`'s share they sum to one.
Pure logic: no I/O, no clock reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mm.execution.decision import DecisionRecord

if TYPE_CHECKING:
    from mm.replay.engine import ReplayResult

_SIDE_BITS = ((1, 1, "bid"), (2, -1, "ask"))
_CROSS = "would cross the book"  # mm.execution.mode_handlers.maker_candidates' refusal

# A reason line names its side ("bid ..." / "ask ..." / "side gate: bid withdrawn ...");
# the first keyword found names the cause.
_REASON_CAUSES = (
    ("not allowed by risk", "risk: side not allowed"),
    ("risk says reduce-only", "risk: reduce-only"),
    ("lock or cross", "would lock or cross our other quote"),
    ("minimum notional", "size below the minimum notional"),
    ("size 0", "size 0 (size multiplier or headroom)"),
    ("side gate", "side gate (microprice)"),
    ("lead gate", "lead gate (lead venue's move)"),
    ("direction gate", "direction gate (fitted direction model)"),
    ("previous order still in flight", "previous order still in flight"),
    ("not quoted", "policy did not quote"),
)


def _side_cause(rec: DecisionRecord, side: int, name: str) -> str:
    cands = [c for c in rec.candidates if c.side == side]
    if cands and not any(c.chosen for c in cands):
        # the opportunity counts levels inside the book only: name the refusal of the best of those
        inside = [c for c in cands if c.reject != _CROSS] or cands
        best = max(inside, key=lambda c: c.queue_value_bps)
        return f"maker: {best.reject or 'no candidate chosen'}"
    for line in rec.reasons:
        if name not in line:
            continue
        for key, cause in _REASON_CAUSES:
            if key in line:
                return f"maker: {cause}"
    if not cands:
        return "maker: no candidate level evaluated"
    return "maker: quoted reduce-only or not at all (no reason recorded)"


def miss_causes(rec: DecisionRecord, missed_sides: int) -> tuple[str, ...]:
    """Why a cycle quoted none of ``missed_sides`` (bit 1 bid, bit 2 ask): one cause, or one
    per missed side in Maker (the time is then shared between them)."""
    if missed_sides == 0:
        return ()
    if rec.mode_name != "MAKER":
        return (f"{rec.mode_name.lower()}: {rec.mode_reason}",)
    return tuple(_side_cause(rec, side, name) for bit, side, name in _SIDE_BITS if missed_sides & bit)


def qv_uptime(res: ReplayResult, n_symbols: int) -> tuple[float | None, int]:
    """(time quoted on a side with positive queue value / time with such a side, that time in ns)."""
    pos_t = quoted_t = 0
    for sid in range(n_symbols):
        for m, a, b in res.cycle_spans(sid):
            dt = b - a
            if m.qv_pos_sides:
                pos_t += dt
                if m.qv_pos_sides & m.quoted_sides:
                    quoted_t += dt
    return (quoted_t / pos_t if pos_t else None), pos_t


def uptime_misses(res: ReplayResult, n_symbols: int) -> list[tuple[str, float]]:
    """(cause, share of the positive-queue-value time) for the time no positive side was
    quoted, largest first. A cycle without a recorded cause counts as "unrecorded"."""
    pos_t = 0
    by_cause: dict[str, float] = {}
    for sid in range(n_symbols):
        for m, a, b in res.cycle_spans(sid):
            dt = b - a
            if not m.qv_pos_sides:
                continue
            pos_t += dt
            if m.qv_pos_sides & m.quoted_sides:
                continue
            causes = m.miss or ("unrecorded",)
            for c in causes:
                by_cause[c] = by_cause.get(c, 0.0) + dt / len(causes)
    if not pos_t:
        return []
    return sorted(((c, t / pos_t) for c, t in by_cause.items()), key=lambda x: (-x[1], x[0]))
