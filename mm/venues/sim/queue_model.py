"""How a resting order's place in its price level's queue moves when displayed size shrinks.

This module owns one decision of the paper venue's fill model: when the market's displayed
size at a level falls between two book snapshots by more than the trades explain, the
difference was cancelled, and someone has to decide how much of it was *ahead* of our
order. The market data never says; the three answers below are the usual assumptions.

A level's background (market) quantity ``Q`` is a queue; each of our orders there knows
``ahead``, the background quantity in front of it (``0 <= ahead <= Q``). After ``c`` lots
are cancelled (``Q' = Q - c``):

- ``PRO_RATA`` (default): cancels are spread evenly over the queue, so the part in front of
  us shrinks in proportion: ``ahead' = round(ahead * Q' / Q)``.
- ``BEHIND_FIRST``: cancels come from the back of the queue first (the most recently joined
  liquidity leaves first); our ``ahead`` only shrinks once the level falls below it:
  ``ahead' = min(ahead, Q')``. This is the *pessimistic* assumption for our fills: the
  queue in front of us only moves on trades.
- ``AHEAD_FIRST``: cancels come from the front first: ``ahead' = max(0, ahead - c)``. The
  *optimistic* assumption: every cancel moves us up.

All three keep the order of several of our orders at one level (a later order never gets
ahead of an earlier one) and never move an order backwards. Integers only (lots).
"""

from __future__ import annotations

import enum


class QueueModel(enum.Enum):
    """Which part of the queue a displayed-size decrease is taken from."""

    PRO_RATA = "pro_rata"
    BEHIND_FIRST = "behind_first"
    AHEAD_FIRST = "ahead_first"


def ahead_after_cancel(model: QueueModel, ahead: int, level_qty: int, cancel_qty: int) -> int:
    """Quantity ahead of an order after ``cancel_qty`` of ``level_qty`` background lots are cancelled."""
    if cancel_qty <= 0 or ahead <= 0:
        return max(ahead, 0)
    remaining = level_qty - cancel_qty
    if remaining <= 0:
        return 0
    if model is QueueModel.PRO_RATA:
        # round half up, in integers: floor((2 * ahead * remaining + level_qty) / (2 * level_qty))
        return min((2 * ahead * remaining + level_qty) // (2 * level_qty), remaining)
    if model is QueueModel.BEHIND_FIRST:
        return min(ahead, remaining)
    return max(0, ahead - cancel_qty)


def consume_front(aheads: list[int], qty: int) -> list[int]:
    """Aheads after ``qty`` background lots at the front of the queue were consumed by trades."""
    return [a - qty if a > qty else 0 for a in aheads]
