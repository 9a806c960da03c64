"""The order diff: the smallest set of new / cancel / modify that turns live orders into targets.

Owns :class:`TargetOrder` (what a policy wants resting or sent this cycle),
:class:`LiveOrder` (an acked, settled order of ours as the diff sees it), :func:`diff_orders`
and :func:`apply_diff` (the diff's meaning, used by the property tests).

Rules, per side:

1. Aggressive targets (IOC) are one-shot: always new, never matched against resting orders.
2. A live order that lies within the tolerance band of a target (price within
   ``px_tolerance_ticks`` ticks, remaining size between ``(1 - qty_tolerance_frac)`` times
   the target size and the target size, same reduce-only flag) is kept: nothing is sent
   for it. As many orders as possible are kept (a maximum matching of targets to live
   orders within tolerance, closest prices tried first). The band is one-sided on purpose: a kept order never rests
   more than the policy asked for (the worst-case inventory check sees only what is sent).
3. Remaining targets take over remaining live orders of the same side by modify
   (Hyperliquid's batchModify is an atomic cancel-replace: one request instead of two, and
   no moment with both or neither order resting), closest price first.
4. Targets left over are new orders; live orders left over are cancelled.

So applying the diff yields exactly the targets, up to the tolerance of the orders kept,
and a book already within tolerance sends nothing. Pure logic; prices are floats already
on the venue's grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import msgspec


class TargetOrder(msgspec.Struct, frozen=True):
    """One order a policy wants: ``side`` +1 buy / -1 sell, price on the grid, size on the lot grid.

    ``queue_value_bps`` and ``p_fill`` are the model's view of a passive target (None when
    not evaluated); ``reason`` says why the handler wants it.
    """

    side: int
    px: float
    qty: float
    tif: str = "Alo"
    reduce_only: bool = False
    aggressive: bool = False
    queue_value_bps: float | None = None
    p_fill: float | None = None
    reason: str = ""


class LiveOrder(msgspec.Struct, frozen=True):
    """An acked resting order of ours: ``qty`` is the remaining size."""

    cloid: str
    side: int
    px: float
    qty: float
    reduce_only: bool = False


class Modify(msgspec.Struct, frozen=True):
    """Replace live order ``cloid`` by ``target``."""

    cloid: str
    target: TargetOrder


class Diff(msgspec.Struct, frozen=True):
    new: list[TargetOrder]
    cancel: list[str]
    modify: list[Modify]
    keep: list[str]

    @property
    def empty(self) -> bool:
        return not (self.new or self.cancel or self.modify)


TickOf = Callable[[float], float]


def within_tolerance(live: LiveOrder, target: TargetOrder, tick_of: TickOf, px_tolerance_ticks: int,
                     qty_tolerance_frac: float) -> bool:
    """True when ``live`` may stand for ``target`` (nothing needs sending)."""
    if live.side != target.side or live.reduce_only != target.reduce_only:
        return False
    tick = tick_of(target.px)
    if abs(live.px - target.px) > px_tolerance_ticks * tick + 1e-9 * tick:
        return False
    return (1.0 - qty_tolerance_frac) * target.qty - 1e-12 <= live.qty <= target.qty + 1e-12


def diff_orders(
    live: Sequence[LiveOrder],
    targets: Sequence[TargetOrder],
    tick_of: TickOf,
    px_tolerance_ticks: int = 0,
    qty_tolerance_frac: float = 0.0,
) -> Diff:
    """The minimal actions that move ``live`` to ``targets`` (see the module docstring)."""
    new: list[TargetOrder] = []
    cancel: list[str] = []
    modify: list[Modify] = []
    keep: list[str] = []
    for side in (1, -1):
        side_live = [o for o in live if o.side == side]
        side_targets: list[TargetOrder] = []
        for t in targets:
            if t.side != side:
                continue
            if t.aggressive:
                new.append(t)
            else:
                side_targets.append(t)
        n_live = len(side_live)
        n_targets = len(side_targets)
        # the usual cases first (at most one quote per side), as the general path decides them
        if n_live <= 1 and n_targets <= 1:
            if n_live == 0:
                new.extend(side_targets)
            elif n_targets == 0:
                cancel.append(side_live[0].cloid)
            elif within_tolerance(side_live[0], side_targets[0], tick_of, px_tolerance_ticks, qty_tolerance_frac):
                keep.append(side_live[0].cloid)
            elif abs(side_live[0].px - side_targets[0].px) < math.inf:
                modify.append(Modify(side_live[0].cloid, side_targets[0]))
            else:  # a price that is not a number: no closest order to take over
                new.append(side_targets[0])
                cancel.append(side_live[0].cloid)
            continue
        used = [False] * n_live
        owner = _max_tolerance_matching(side_live, side_targets, tick_of, px_tolerance_ticks, qty_tolerance_frac)
        unmatched: list[TargetOrder] = []
        matched_targets = {ti for ti in owner if ti >= 0}
        for li, ti in enumerate(owner):
            if ti >= 0:
                used[li] = True
                keep.append(side_live[li].cloid)
        for ti, t in enumerate(side_targets):
            if ti not in matched_targets:
                unmatched.append(t)
        for t in unmatched:
            best = -1
            best_dist = math.inf
            for i, o in enumerate(side_live):
                if used[i]:
                    continue
                d = abs(o.px - t.px)
                if d < best_dist:
                    best, best_dist = i, d
            if best >= 0:
                used[best] = True
                modify.append(Modify(side_live[best].cloid, t))
            else:
                new.append(t)
        for i, o in enumerate(side_live):
            if not used[i]:
                cancel.append(o.cloid)
    return Diff(new, cancel, modify, keep)


def _max_tolerance_matching(live: list[LiveOrder], targets: list[TargetOrder], tick_of: TickOf,
                            px_tolerance_ticks: int, qty_tolerance_frac: float) -> list[int]:
    """For each live order, the index of the target it is kept for (-1: none); as many as possible.

    Augmenting paths (Kuhn) over "live order within tolerance of target"; each target tries
    its closest live orders first. A handful of orders per side: the cost is negligible.
    """
    if len(live) == 1 and len(targets) == 1:  # the usual case: one quote per side
        return [0 if within_tolerance(live[0], targets[0], tick_of, px_tolerance_ticks, qty_tolerance_frac) else -1]
    if not live or not targets:
        return [-1] * len(live)
    adj: list[list[int]] = []
    for t in targets:
        cands = [i for i, o in enumerate(live)
                 if within_tolerance(o, t, tick_of, px_tolerance_ticks, qty_tolerance_frac)]
        cands.sort(key=lambda i: abs(live[i].px - t.px))
        adj.append(cands)
    owner = [-1] * len(live)

    def augment(ti: int, seen: list[bool]) -> bool:
        for li in adj[ti]:
            if seen[li]:
                continue
            seen[li] = True
            if owner[li] < 0 or augment(owner[li], seen):
                owner[li] = ti
                return True
        return False

    for ti in range(len(targets)):
        if adj[ti]:
            augment(ti, [False] * len(live))
    return owner


def apply_diff(live: Sequence[LiveOrder], diff: Diff) -> list[LiveOrder]:
    """The resting orders after ``diff`` is applied (new and modified orders get their target).

    New and modified orders take the id ``"new:<k>"``; aggressive targets do not rest and
    are left out. Raises ValueError when the diff names an order that is not live, or names
    one twice (a diff must never do that).
    """
    by_id = {o.cloid: o for o in live}
    if len(by_id) != len(live):
        raise ValueError("duplicate live cloid")
    touched: set[str] = set()
    for cid in [*diff.cancel, *(m.cloid for m in diff.modify), *diff.keep]:
        if cid not in by_id:
            raise ValueError(f"diff names {cid!r}, which is not live")
        if cid in touched:
            raise ValueError(f"diff names {cid!r} twice")
        touched.add(cid)
    out: list[LiveOrder] = [o for o in live if o.cloid not in touched or o.cloid in diff.keep]
    k = 0
    for t in [*(m.target for m in diff.modify), *diff.new]:
        if t.aggressive:
            continue
        out.append(LiveOrder(f"new:{k}", t.side, t.px, t.qty, t.reduce_only))
        k += 1
    return out
