"""Decision replay (seed 002): re-run a recorded decision log with changed parameters.

A decision log is the list of execution's :class:`~mm.execution.decision.DecisionRecord`
of a replay run (one per decision cycle). Re-running the same events, seed and latencies
with changed execution parameters gives a second log; since the replay is deterministic, an
unchanged config gives an identical log, and every difference is caused by the change.

Matching: cycles are keyed by ``(symbol_id, ts_ns)`` (cycles run on snapshots, whose times
come from the market data, so both runs share most keys; once fills differ, fill-driven
snapshots make keys appear in one run only: they are counted as such). A matched cycle's
decision is ``(mode, direction, targets)`` with each target as ``(side, px, qty,
aggressive, reduce_only)``; it *changed* when those differ. Reported: counts (matched,
changed mode, changed targets, only in one run), the first divergence in time with both
decisions and their reasons, the mode transitions ``old -> new`` with counts, and the
first ``max_examples`` changed cycles.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec

from mm.execution.decision import DecisionRecord

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(list[DecisionRecord])


def encode_log(records: list[DecisionRecord]) -> bytes:
    return _enc.encode(records)


def decode_log(data: bytes) -> list[DecisionRecord]:
    return _dec.decode(data)


def decision_of(r: DecisionRecord) -> tuple[Any, ...]:
    return (r.mode, r.direction, tuple(sorted((t.side, round(t.px, 10), round(t.qty, 10), t.aggressive, t.reduce_only)
                                              for t in r.targets)))


def _brief(r: DecisionRecord) -> dict[str, Any]:
    return {"cycle": r.cycle, "mode": r.mode_name, "reason": r.mode_reason, "direction": r.direction,
            "targets": [{"side": t.side, "px": t.px, "qty": t.qty, "aggressive": t.aggressive} for t in r.targets],
            "inventory_qty": r.inventory_qty, "toxicity": r.toxicity, "reasons": r.reasons[:5]}


def diff_logs(base: list[DecisionRecord], new: list[DecisionRecord], max_examples: int = 20) -> dict[str, Any]:
    a = {(r.symbol_id, r.ts_ns): r for r in base}
    b = {(r.symbol_id, r.ts_ns): r for r in new}
    common = sorted(set(a) & set(b), key=lambda k: (k[1], k[0]))
    changed_mode = changed_targets = 0
    transitions: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    first: dict[str, Any] | None = None
    for k in common:
        ra, rb = a[k], b[k]
        if decision_of(ra) == decision_of(rb):
            continue
        if ra.mode != rb.mode:
            changed_mode += 1
            transitions[f"{ra.mode_name}->{rb.mode_name}"] += 1
        else:
            changed_targets += 1
        ex = {"symbol_id": k[0], "ts_ns": k[1], "base": _brief(ra), "new": _brief(rb)}
        if first is None:
            first = ex
        if len(examples) < max_examples:
            examples.append(ex)
    only_a = sorted(set(a) - set(b), key=lambda k: (k[1], k[0]))
    only_b = sorted(set(b) - set(a), key=lambda k: (k[1], k[0]))
    first_only = min([x[1] for x in only_a[:1] + only_b[:1]], default=None)
    if first is None and first_only is not None:
        first = {"ts_ns": first_only, "note": "a cycle present in one run only (fills or timing diverged)"}
    elif first is not None and first_only is not None and first_only < first["ts_ns"]:
        first = {"ts_ns": first_only, "note": "a cycle present in one run only (fills or timing diverged)",
                 "first_changed_decision": first}
    return {
        "n_base": len(base), "n_new": len(new), "matched": len(common),
        "changed": changed_mode + changed_targets, "changed_mode": changed_mode, "changed_targets_only": changed_targets,
        "only_in_base": len(only_a), "only_in_new": len(only_b),
        "diverged": bool(changed_mode + changed_targets + len(only_a) + len(only_b)),
        "first_divergence": first, "mode_transitions": dict(transitions.most_common()), "examples": examples,
    }
