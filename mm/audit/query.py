"""Queries over decoded audit records: by time range, mode, symbol, and a fill's whole story.

Pure logic: records in, records out; the caller opens the files (mm.audit.store) and reads
the clock (``now_wall_ns`` is an argument). Times are wall-clock ns (``wall_ns``, stamped by
the monitor), since a person asks about "10:32 UTC" or "the last 10 minutes", not about a
monotonic clock.

- :func:`parse_time`: ``2026-03-01T10:32:00Z``, ``2026-03-01 10:32`` (UTC unless an offset
  is given), ``10m`` / ``2h`` / ``90s`` / ``1d`` / ``500ms`` ago, or ``now``.
- :func:`select`: the cycle records matching an :class:`AuditQuery` (the last ``limit``).
- :func:`trace_fill`: a fill by venue trade id, cloid or oid -> the fill, the cycle that
  placed its order (seed 002: "a fill id -> the cycle that placed the order") and the cycle
  that reported it.
- :func:`summarize`: counts per mode and symbol, fills, PnL, over a selection.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from mm.audit.record import MODE_NAMES, SAFETY_NAMES, AuditFill, CycleDecisionRecord, FillRef, level_name

_REL_RE = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|min|h|d)\s*(?:ago)?\s*$", re.IGNORECASE)
_UNIT_NS = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "min": 60_000_000_000,
            "h": 3_600_000_000_000, "d": 86_400_000_000_000}


class QueryError(ValueError):
    """A query argument that cannot be understood (the message says which and why)."""


def parse_time(text: str, now_wall_ns: int) -> int:
    """Wall-clock ns of an ISO 8601 time (UTC unless it has an offset), a duration ago
    (``10m``, ``2h``, ``90s``, ``1d``, ``500ms``) or ``now``."""
    t = text.strip()
    if t.lower() == "now":
        return now_wall_ns
    m = _REL_RE.match(t)
    if m is not None:
        return now_wall_ns - int(float(m["n"]) * _UNIT_NS[m["unit"].lower()])
    try:
        when = dt.datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise QueryError(f"time {text!r}: not ISO 8601 (2026-03-01T10:32:00Z) nor a duration ago (10m, 2h)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def format_wall(wall_ns: int) -> str:
    """``2026-03-01T10:32:00.123Z`` (UTC, ms); ``-`` for 0 (unknown)."""
    if wall_ns <= 0:
        return "-"
    t = dt.datetime.fromtimestamp(wall_ns / 1e9, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def mode_number(text: str) -> int:
    """An execution mode by name (``maker``, ``TAKER_EXIT``, ``inventory-reduce``) or number."""
    t = text.strip().upper().replace("-", "_")
    if t.isdigit() and int(t) < len(MODE_NAMES):
        return int(t)
    if t in MODE_NAMES:
        return MODE_NAMES.index(t)
    raise QueryError(f"mode {text!r}: one of {', '.join(MODE_NAMES)} (or 0-{len(MODE_NAMES) - 1})")


class AuditQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What to select. ``None`` matches everything; ``limit`` 0 means no limit.

    since_wall_ns / until_wall_ns: a half-open wall-clock range [since, until).
    mode: execution mode number (mm.schema.ExecMode).
    symbol: a coin name (``BTC``) or a symbol id (``0``).
    limit: keep the last ``limit`` matching records.
    """

    since_wall_ns: int | None = None
    until_wall_ns: int | None = None
    mode: int | None = None
    symbol: str | None = None
    limit: int = 0


def _symbol_matches(rec: CycleDecisionRecord | AuditFill, symbol: str | None) -> bool:
    if symbol is None:
        return True
    s = symbol.strip()
    if s.lstrip("-").isdigit():
        return rec.symbol_id == int(s)
    return rec.symbol.upper() == s.upper()


def _in_range(wall_ns: int, q: AuditQuery) -> bool:
    if q.since_wall_ns is not None and wall_ns < q.since_wall_ns:
        return False
    return not (q.until_wall_ns is not None and wall_ns >= q.until_wall_ns)


def matches(rec: CycleDecisionRecord, q: AuditQuery) -> bool:
    """True when a cycle record satisfies the query's filters (not its limit)."""
    return (
        _in_range(rec.wall_ns, q)
        and (q.mode is None or rec.mode == q.mode)
        and _symbol_matches(rec, q.symbol)
    )


def select(records: Iterable[Any], q: AuditQuery) -> list[CycleDecisionRecord]:
    """The cycle records that match, in file order; the last ``q.limit`` when it is set."""
    out: deque[CycleDecisionRecord] | list[CycleDecisionRecord] = deque(maxlen=q.limit) if q.limit > 0 else []
    for rec in records:
        if isinstance(rec, CycleDecisionRecord) and matches(rec, q):
            out.append(rec)
    return list(out)


def select_fills(records: Iterable[Any], q: AuditQuery) -> list[AuditFill]:
    """The AuditFill records in the query's time range and symbol (mode does not apply)."""
    out: deque[AuditFill] | list[AuditFill] = deque(maxlen=q.limit) if q.limit > 0 else []
    for rec in records:
        if isinstance(rec, AuditFill) and _in_range(rec.wall_ns, q) and _symbol_matches(rec, q.symbol):
            out.append(rec)
    return list(out)


class FillTrace(msgspec.Struct, kw_only=True):
    """A fill's story: the fill, the AuditFill join (if written), the cycle whose action
    placed (or modified into) the order, and the cycle that reported the fill."""

    fill: FillRef
    symbol_id: int
    symbol: str
    audit_fill: AuditFill | None = None
    placed_by: CycleDecisionRecord | None = None
    reported_in: CycleDecisionRecord | None = None


def _fill_matches(f: FillRef, fill_id: str) -> bool:
    key = fill_id.strip()
    if f.cloid and f.cloid == key:
        return True
    if key.isdigit():
        n = int(key)
        return f.trade_id == n or f.oid == n
    return False


def trace_fill(open_records: Callable[[], Iterable[Any]], fill_id: str) -> list[FillTrace]:
    """Every fill matching ``fill_id`` (venue trade id, cloid or oid) with the cycle that
    placed its order. ``open_records`` returns a fresh iteration over the records each call
    (two passes: first the fills, then the cycles that placed their orders, so that a long
    history need not be held in memory)."""
    if not fill_id.strip():
        raise QueryError("fill id: empty")
    traces: dict[tuple[int, int, str], FillTrace] = {}
    for rec in open_records():
        if isinstance(rec, AuditFill) and _fill_matches(rec.fill, fill_id):
            key = (rec.symbol_id, rec.fill.trade_id, rec.fill.cloid)
            t = traces.setdefault(key, FillTrace(fill=rec.fill, symbol_id=rec.symbol_id, symbol=rec.symbol))
            t.audit_fill = rec
        elif isinstance(rec, CycleDecisionRecord):
            for f in rec.fills:
                if _fill_matches(f, fill_id):
                    key = (rec.symbol_id, f.trade_id, f.cloid)
                    t = traces.setdefault(key, FillTrace(fill=f, symbol_id=rec.symbol_id, symbol=rec.symbol))
                    t.reported_in = rec
    if not traces:
        return []
    wanted = {t.fill.cloid: t for t in traces.values() if t.fill.cloid}
    for rec in open_records():
        if not isinstance(rec, CycleDecisionRecord):
            continue
        for o in rec.orders_placed + rec.orders_modified:
            w = wanted.get(o.cloid)
            if w is not None and w.symbol_id == rec.symbol_id and rec.ts_ns <= w.fill.ts_ns:
                w.placed_by = rec  # the last placement before the fill wins
    return sorted(traces.values(), key=lambda t: t.fill.ts_ns)


class Summary(msgspec.Struct, kw_only=True):
    """Totals over a selection of cycle records."""

    records: int = 0
    first_wall_ns: int = 0
    last_wall_ns: int = 0
    by_mode: dict[str, int] = msgspec.field(default_factory=dict)
    by_symbol: dict[str, int] = msgspec.field(default_factory=dict)
    by_safety: dict[str, int] = msgspec.field(default_factory=dict)
    orders_placed: int = 0
    orders_modified: int = 0
    orders_cancelled: int = 0
    fills: int = 0
    pnl_delta_usd: float = 0.0


def summarize(records: Iterable[CycleDecisionRecord]) -> Summary:
    """Counts per mode, symbol and safety level, orders, fills and PnL over the records."""
    s = Summary()
    modes: Counter[str] = Counter()
    syms: Counter[str] = Counter()
    safety: Counter[str] = Counter()
    for r in records:
        s.records += 1
        if r.wall_ns and (s.first_wall_ns == 0 or r.wall_ns < s.first_wall_ns):
            s.first_wall_ns = r.wall_ns
        s.last_wall_ns = max(s.last_wall_ns, r.wall_ns)
        modes[r.mode_name] += 1
        syms[r.symbol or str(r.symbol_id)] += 1
        safety["none yet" if r.safety_level < 0 else level_name(SAFETY_NAMES, r.safety_level)] += 1
        s.orders_placed += len(r.orders_placed)
        s.orders_modified += len(r.orders_modified)
        s.orders_cancelled += len(r.orders_cancelled)
        s.fills += len(r.fills)
        if math.isfinite(r.pnl_delta_usd):
            s.pnl_delta_usd += r.pnl_delta_usd
    s.by_mode = dict(modes.most_common())
    s.by_symbol = dict(syms.most_common())
    s.by_safety = dict(safety.most_common())
    return s


def to_plain(obj: Any) -> Any:
    """A JSON-able view of a record with field names (the wire form is positional arrays):
    structs become dicts (with ``type``), NaN becomes None."""
    if isinstance(obj, msgspec.Struct):
        out: dict[str, Any] = {"type": type(obj).__name__}
        for name in obj.__struct_fields__:
            out[name] = to_plain(getattr(obj, name))
        return out
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
