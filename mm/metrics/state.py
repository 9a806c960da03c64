"""The monitor's view of a running group, built from what it reads; pure logic.

:class:`MonitorState` is fed the messages the monitor reads (``snap``, ``sig``, ``ex``,
``ctl`` and ``audit`` rings), the heartbeat table's rows, the rings' statistics and the kill
switch's state, each with the time (monotonic ``now_ns`` and wall-clock ``wall_ns``, passed
in: no clock is read here). From them it keeps:

- positions and PnL from our fills (mm.risk.position's average-cost book, marked at the
  snapshot mid), open orders from OrderEvents, per-symbol mode and its timeline;
- the decision records, enriched with what only the monitor knows (fills since the
  symbol's previous cycle, PnL delta, position after, risk's confidence and model scores,
  wall time), and the fill joins (:class:`mm.audit.record.AuditFill`): both come back from
  :meth:`MonitorState.on_message` for the audit files;
- the last minutes of audit records for a postmortem (encoded and compressed:
  mm.audit.window), and the postmortem policy's triggers;
- per-hop latency histograms (from the ``ts_ns`` / ``origin_ts_ns`` stamps of the messages);
- process health (heartbeat age, loop rate, restarts, overruns) and ring lag.

:meth:`MonitorState.snapshot` turns it into one JSON-able dict: the dashboard's
``/api/state``, the source of every /metrics family (mm.metrics.registry), ``mmctl status``'s
essentials and a postmortem's ``state.json``. Nothing here holds or can hold a key.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from mm.audit.config import MonitorConfig
from mm.audit.postmortem import PostmortemPolicy, Trigger
from mm.audit.query import format_wall
from mm.audit.record import (
    EXPOSURE_NAMES,
    MODE_NAMES,
    SAFETY_NAMES,
    AuditFill,
    CycleDecisionRecord,
    FillRef,
    RiskStatus,
    fill_ref,
    level_name,
)
from mm.audit.window import RecordWindow, WindowView
from mm.risk.position import PositionBook
from mm.schema import (
    AlphaSignal,
    ControlState,
    CycleSummary,
    Fill,
    OrderEvent,
    OrderStatus,
    StateSnapshot,
)

LATENCY_BUCKETS_S: Final[tuple[float, ...]] = (
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5,
)
"""Upper bounds of the latency histogram buckets (s); a last bucket takes the rest (+Inf)."""

HOPS: Final[tuple[str, ...]] = (
    "md_to_snapshot",  # market event received -> feature snapshot published
    "md_to_signal",  # -> alpha signal published
    "md_to_decision",  # -> execution's decision cycle done
    "snapshot_to_decision",  # the snapshot a cycle used -> the cycle
    "signal_to_decision",  # the signal a cycle used -> the cycle
    "md_to_order_event",  # -> an order lifecycle event of ours
)
_TERMINAL: Final = frozenset({int(OrderStatus.FILLED), int(OrderStatus.CANCELLED), int(OrderStatus.REJECTED)})
_MAX_OPEN_ORDERS: Final = 10_000
_MAX_PLACEMENTS: Final = 20_000  # cloid -> placing cycle, for fill attribution: ~250 B each
_RECENT_DECISIONS: Final = 12
_PROC_STATES: Final = ("empty", "starting", "running", "stopping", "stopped", "lost")


def _finite(x: float) -> float | None:
    """JSON has no NaN: None stands for 'not measured'."""
    return x if isinstance(x, int | float) and math.isfinite(x) else None


class LatencyHistogram:
    """Counts per bucket of :data:`LATENCY_BUCKETS_S` (cumulative at read time), sum, count."""

    __slots__ = ("count", "counts", "sum_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.sum_s = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        if not (seconds >= 0.0 and math.isfinite(seconds)):
            return
        self.counts[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        self.sum_s += seconds
        self.count += 1

    def quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding the q-quantile (None if empty or beyond the last)."""
        if self.count == 0:
            return None
        want = q * self.count
        acc = 0
        for i, c in enumerate(self.counts):
            acc += c
            if acc >= want and c:
                return LATENCY_BUCKETS_S[i] if i < len(LATENCY_BUCKETS_S) else None
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"counts": list(self.counts), "count": self.count, "sum_s": self.sum_s,
                "p50_s": self.quantile(0.5), "p99_s": self.quantile(0.99)}


class Timeline:
    """Changes of one value over time: ``(wall_ms, value)``, kept for a window, plus the one
    in force at the window's start."""

    __slots__ = ("points", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.points: deque[tuple[int, int]] = deque()

    def note(self, wall_ms: int, value: int) -> bool:
        """Record ``value`` at ``wall_ms`` if it differs from the current one. True if it did."""
        if self.points and self.points[-1][1] == value:
            return False
        self.points.append((wall_ms, value))
        start = wall_ms - self.window_ms
        while len(self.points) >= 2 and self.points[1][0] <= start:
            self.points.popleft()
        return True

    @property
    def current(self) -> int | None:
        return self.points[-1][1] if self.points else None

    def as_list(self) -> list[list[int]]:
        return [[t, v] for t, v in self.points]


class SymbolState:
    """What the monitor knows of one symbol."""

    __slots__ = (
        "cycles", "fills", "last_decision", "last_pnl_usd", "limit_qty", "mid_px", "mode", "mode_reason",
        "modes", "pending_fills", "rate", "regime", "snapshot_inventory", "toxicity",
    )

    def __init__(self, window_ms: int) -> None:
        self.cycles = 0
        self.fills = 0
        self.mid_px = math.nan
        self.snapshot_inventory = math.nan
        self.regime = -1
        self.toxicity = -1
        self.mode = -1
        self.mode_reason = ""
        self.modes = Timeline(window_ms)
        self.limit_qty = math.nan
        self.last_decision: CycleDecisionRecord | None = None
        self.pending_fills: list[FillRef] = []
        self.last_pnl_usd = 0.0
        self.rate: Any = None


class ProcRate:
    """Loop-rate estimator of one process from its heartbeat loop counter."""

    __slots__ = ("hz", "loops", "ts_ns")

    def __init__(self) -> None:
        self.loops = -1
        self.ts_ns = 0
        self.hz = 0.0

    def update(self, loops: int, now_ns: int, min_window_ns: int = 1_000_000_000) -> float:
        if self.loops < 0 or loops < self.loops:
            self.loops, self.ts_ns = loops, now_ns
        elif now_ns - self.ts_ns >= min_window_ns:
            self.hz = (loops - self.loops) * 1e9 / (now_ns - self.ts_ns)
            self.loops, self.ts_ns = loops, now_ns
        return self.hz


class MonitorState:
    """See the module docstring. ``symbols``: coin names by symbol id."""

    def __init__(
        self,
        symbols: Sequence[str],
        cfg: MonitorConfig | None = None,
        *,
        run_id: str = "",
        run_mode: str = "",
        heartbeat_deadline_ms: int = 250,
        start_ns: int = 0,
        start_wall_ns: int = 0,
    ) -> None:
        self.cfg = cfg if cfg is not None else MonitorConfig()
        self.symbols = list(symbols)
        self.run_id = run_id
        self.run_mode = run_mode
        self.deadline_ns = heartbeat_deadline_ms * 1_000_000
        self.start_ns = start_ns
        self.start_wall_ns = start_wall_ns
        self.window_ms = int(self.cfg.timeline_minutes * 60_000)
        self.book = PositionBook()
        self.sym = [SymbolState(self.window_ms) for _ in self.symbols]
        self.control: ControlState | None = None
        self.control_wall_ns = 0
        self.risk: RiskStatus | None = None
        self.safety_tl = Timeline(self.window_ms)
        self.exposure_tl = Timeline(self.window_ms)
        self.pnl_series: deque[tuple[int, float]] = deque(maxlen=max(int(self.cfg.timeline_minutes * 60), 2))
        self.open_orders: OrderedDict[str, OrderEvent] = OrderedDict()
        self.placements: OrderedDict[str, tuple[int, int]] = OrderedDict()  # cloid -> (cycle, ts_ns)
        self.hist = {h: LatencyHistogram() for h in HOPS}
        self.processes: list[dict[str, Any]] = []
        self.rates: dict[str, ProcRate] = {}
        self.channels: list[dict[str, Any]] = []
        self.killswitch: dict[str, Any] = {"tripped": False, "epoch": 0, "trips": 0}
        self.policy = PostmortemPolicy(int(self.cfg.postmortem_min_interval_s * 1e9))
        self.triggers: list[Trigger] = []
        self.recent = RecordWindow(int(self.cfg.postmortem_minutes * 60e9), self.cfg.postmortem_max_records,
                                   self.cfg.postmortem_max_bytes)
        self.counters = {
            "snapshots": 0, "signals": 0, "cycles": 0, "decision_records": 0, "fills": 0, "order_events": 0,
            "orders_placed": 0, "orders_modified": 0, "orders_cancelled": 0, "control_states": 0,
            "risk_status": 0, "unknown_symbol": 0, "fills_unattributed": 0,
        }
        self.audit_info: dict[str, Any] = {}
        self.postmortems: list[str] = []
        self.recent_decisions: deque[dict[str, Any]] = deque(maxlen=_RECENT_DECISIONS)
        self._last_risk_written_ns: int | None = None
        self._last_control_key: tuple[Any, ...] | None = None

    # ------------------------------------------------------------------ messages

    def _sym(self, symbol_id: int) -> SymbolState | None:
        if 0 <= symbol_id < len(self.sym):
            return self.sym[symbol_id]
        self.counters["unknown_symbol"] += 1
        return None

    def _name(self, symbol_id: int) -> str:
        return self.symbols[symbol_id] if 0 <= symbol_id < len(self.symbols) else str(symbol_id)

    def _hop(self, hop: str, later_ns: int, earlier_ns: int) -> None:
        if earlier_ns > 0 and later_ns >= earlier_ns:
            self.hist[hop].observe((later_ns - earlier_ns) / 1e9)

    def _keep(self, now_ns: int, rec: Any) -> None:
        self.recent.add(now_ns, rec)

    def on_message(self, msg: Any, now_ns: int, wall_ns: int) -> list[Any]:
        """One message from a ring. Returns the audit records it produces (to be written)."""
        out: list[Any] = []
        if isinstance(msg, StateSnapshot):
            self.counters["snapshots"] += 1
            self._hop("md_to_snapshot", msg.ts_ns, msg.origin_ts_ns)
            s = self._sym(msg.symbol_id)
            if s is not None:
                s.mid_px = msg.mid_px
                s.snapshot_inventory = msg.inventory
                s.regime = msg.regime
                s.toxicity = msg.toxicity
                self.book.mark(msg.symbol_id, msg.mid_px)
        elif isinstance(msg, AlphaSignal):
            self.counters["signals"] += 1
            self._hop("md_to_signal", msg.ts_ns, msg.origin_ts_ns)
        elif isinstance(msg, CycleSummary):
            self.counters["cycles"] += 1
            self._hop("md_to_decision", msg.ts_ns, msg.origin_ts_ns)
            s = self._sym(msg.symbol_id)
            if s is not None:
                s.cycles += 1
                self._set_mode(s, msg.mode, None, wall_ns)
        elif isinstance(msg, CycleDecisionRecord):
            rec = self._on_record(msg, now_ns, wall_ns)
            if rec is not None:
                out.append(rec)
        elif isinstance(msg, Fill):
            af = self._on_fill(msg, self._wall_of(msg.ts_ns, now_ns, wall_ns))
            if af is not None:
                out.append(af)
        elif isinstance(msg, OrderEvent):
            self._on_order_event(msg)
        elif isinstance(msg, ControlState):
            out.extend(self._on_control(msg, now_ns, wall_ns))
        elif isinstance(msg, RiskStatus):
            self.counters["risk_status"] += 1
            self.risk = msg
            iv = int(self.cfg.risk_status_interval_s * 1e9)
            if self._last_risk_written_ns is None or now_ns - self._last_risk_written_ns >= iv:
                self._last_risk_written_ns = now_ns
                out.append(msg)
        for rec in out:
            self._keep(now_ns, rec)
        return out

    def _set_mode(self, s: SymbolState, mode: int, reason: str | None, wall_ns: int) -> None:
        s.mode = mode
        if reason is not None:
            s.mode_reason = reason
        s.modes.note(wall_ns // 1_000_000, mode)

    @staticmethod
    def _wall_of(ts_ns: int, now_ns: int, wall_ns: int) -> int:
        """Wall-clock ns of a monotonic ``ts_ns`` (CLOCK_MONOTONIC is one clock for every
        process of the machine), by the offset between the two clocks now."""
        return ts_ns + (wall_ns - now_ns) if 0 < ts_ns <= now_ns else wall_ns

    def _on_record(self, rec: CycleDecisionRecord, now_ns: int, wall_ns: int) -> CycleDecisionRecord | None:
        s = self._sym(rec.symbol_id)
        if s is None:
            return None
        self.counters["decision_records"] += 1
        self._hop("snapshot_to_decision", rec.ts_ns, rec.market.snapshot_ts_ns)
        self._hop("signal_to_decision", rec.ts_ns, rec.market.signal_ts_ns)
        pos = self.book.get(rec.symbol_id)
        pnl_now = pos.realized_pnl + pos.unrealized_pnl() - pos.fees
        delta = pnl_now - s.last_pnl_usd
        s.last_pnl_usd = pnl_now
        notional = abs(pos.qty) * (pos.mark_px if pos.mark_px > 0 else rec.market.mid_px)
        risk = self.risk
        conf = risk.confidence if risk is not None else rec.confidence
        models = list(risk.models) if risk is not None else rec.model_scores
        out = msgspec.structs.replace(
            rec,
            wall_ns=rec.wall_ns or self._wall_of(rec.ts_ns, now_ns, wall_ns),
            confidence=conf,
            model_scores=models,
            fills=s.pending_fills,
            pnl_delta_usd=delta,
            pnl_delta_bps=delta / notional * 1e4 if notional > 0 else math.nan,
            position_after_qty=pos.qty,
        )
        s.pending_fills = []
        s.last_decision = out
        self.recent_decisions.append({
            "time": format_wall(out.wall_ns), "wall_ns": out.wall_ns, "symbol": out.symbol, "cycle": out.cycle,
            "mode_name": out.mode_name, "mode_reason": out.mode_reason, "placed": len(out.orders_placed),
            "modified": len(out.orders_modified), "cancelled": len(out.orders_cancelled), "fills": len(out.fills),
            "raw_spread_bps": _finite(out.raw_spread_bps), "final_spread_bps": _finite(out.final_spread_bps),
            "exposure_scaling": _finite(out.exposure_scaling), "position_after_qty": out.position_after_qty,
            "reasons": out.reasons[:3],
        })
        if not math.isnan(rec.max_inventory_qty) and rec.max_inventory_qty > 0:
            s.limit_qty = rec.max_inventory_qty
        if rec.rate is not None:
            s.rate = rec.rate
        self._set_mode(s, rec.mode, rec.mode_reason, out.wall_ns)
        for o in rec.orders_placed + rec.orders_modified:
            self.placements[o.cloid] = (rec.cycle, rec.ts_ns)
            if len(self.placements) > _MAX_PLACEMENTS:
                self.placements.popitem(last=False)
        self.counters["orders_placed"] += len(rec.orders_placed)
        self.counters["orders_modified"] += len(rec.orders_modified)
        self.counters["orders_cancelled"] += len(rec.orders_cancelled)
        return out

    def _on_fill(self, f: Fill, wall_ns: int) -> AuditFill | None:
        s = self._sym(f.symbol_id)
        if s is None:
            return None
        if not self.book.apply_fill(f.symbol_id, f.side, f.px, f.qty, f.fee):
            return None
        self.counters["fills"] += 1
        s.fills += 1
        ref = fill_ref(f)
        s.pending_fills.append(ref)
        placed = self.placements.get(f.cloid)
        if placed is None:
            self.counters["fills_unattributed"] += 1
        pos = self.book.get(f.symbol_id)
        return AuditFill(
            ts_ns=f.ts_ns, wall_ns=wall_ns, symbol_id=f.symbol_id, symbol=self._name(f.symbol_id), fill=ref,
            placed_cycle=placed[0] if placed else -1, placed_ts_ns=placed[1] if placed else 0,
            position_after_qty=pos.qty, realized_pnl_usd=pos.realized_pnl,
        )

    def _on_order_event(self, ev: OrderEvent) -> None:
        self.counters["order_events"] += 1
        self._hop("md_to_order_event", ev.ts_ns, ev.origin_ts_ns)
        if ev.status in _TERMINAL:
            self.open_orders.pop(ev.cloid, None)
            return
        self.open_orders[ev.cloid] = ev
        self.open_orders.move_to_end(ev.cloid)
        if len(self.open_orders) > _MAX_OPEN_ORDERS:
            self.open_orders.popitem(last=False)

    def _on_control(self, c: ControlState, now_ns: int, wall_ns: int) -> list[Any]:
        self.counters["control_states"] += 1
        self.control = c
        self.control_wall_ns = wall_ns
        wall_ms = wall_ns // 1_000_000
        self.safety_tl.note(wall_ms, c.safety_level)
        self.exposure_tl.note(wall_ms, c.exposure_level)
        out: list[Any] = []
        key = (c.safety_level, c.exposure_level, round(c.size_multiplier, 6), round(c.spread_multiplier, 6),
               c.reduce_only, c.allowed_sides)
        if key != self._last_control_key:
            self._last_control_key = key
            out.append(c)
        trig = self.policy.on_safety(c.safety_level, c.reason, now_ns, wall_ns)
        if trig is not None:
            self.triggers.append(trig)
        return out

    # ------------------------------------------------------------------ shared memory views

    def on_killswitch(self, ks: Mapping[str, Any], now_ns: int, wall_ns: int) -> None:
        """The kill switch's ``state()`` dict (ipc.killswitch)."""
        self.killswitch = dict(ks)
        who = str(ks.get("who", ""))
        why = str(ks.get("reason", ""))
        trig = self.policy.on_kill_switch(bool(ks.get("tripped")), int(ks.get("epoch", 0)),
                                          f"tripped by {who}: {why}" if who else why, now_ns, wall_ns)
        if trig is not None:
            self.triggers.append(trig)

    def on_heartbeats(self, rows: Sequence[Mapping[str, Any]], now_ns: int) -> None:
        """The heartbeat table's rows (ipc.heartbeat ``snapshot()``)."""
        procs = []
        for r in rows:
            name = str(r["name"])
            beat = int(r["ts_ns"])
            state = int(r["state"])
            age_ns = max(now_ns - beat, 0) if beat else None
            rate = self.rates.setdefault(name, ProcRate())
            hz = rate.update(int(r["loops"]), now_ns)
            alive = state == 2 and age_ns is not None and age_ns <= self.deadline_ns
            procs.append({
                "name": name, "pid": int(r["pid"]), "core": int(r["core"]), "alive": alive,
                "state": _PROC_STATES[state] if 0 <= state < len(_PROC_STATES) else str(state),
                "heartbeat_age_ms": round(age_ns / 1e6, 1) if age_ns is not None else None,
                "loop_rate_hz": round(hz, 1), "restarts": int(r["restarts"]), "msgs_in": int(r["msgs_in"]),
                "msgs_out": int(r["msgs_out"]), "overruns": int(r["overruns"]), "errors": int(r["errors"]),
                "latency_last_us": round(int(r["lat_last_ns"]) / 1e3, 1),
                "latency_max_us": round(int(r["lat_max_ns"]) / 1e3, 1),
            })
        self.processes = procs

    def on_channels(self, stats: Sequence[Mapping[str, Any]]) -> None:
        """Ring ``stats()`` dicts, each with a ``channel`` key (the ring's short name)."""
        self.channels = [dict(s) for s in stats]

    def take_triggers(self) -> list[Trigger]:
        """Postmortem triggers since the last call (each returned once)."""
        out, self.triggers = self.triggers, []
        return out

    def window_records(self, now_ns: int) -> list[Any]:
        """The audit records of the last ``postmortem_minutes``, decoded."""
        return self.recent.records(now_ns)

    def window_view(self, now_ns: int) -> WindowView:
        """The same, still encoded (cheap): decode with ``.records()`` off the loop thread."""
        return self.recent.view(now_ns)

    # ------------------------------------------------------------------ the state dict

    def _pnl(self) -> dict[str, float]:
        realized = sum(p.realized_pnl for p in self.book.positions.values())
        unrealized = sum(p.unrealized_pnl() for p in self.book.positions.values())
        fees = sum(p.fees for p in self.book.positions.values())
        return {"realized_usd": realized, "unrealized_usd": unrealized, "fees_usd": fees,
                "total_usd": realized + unrealized - fees,
                "volume_usd": sum(p.volume_notional for p in self.book.positions.values())}

    def sample(self, wall_ns: int) -> None:
        """Add a point to the PnL history (the caller's timer: about once a second)."""
        wall_ms = wall_ns // 1_000_000
        if not self.pnl_series or wall_ms - self.pnl_series[-1][0] >= 500:
            self.pnl_series.append((wall_ms, self._pnl()["total_usd"]))

    def snapshot(self, now_ns: int, wall_ns: int) -> dict[str, Any]:
        """The whole state as a JSON-able dict (see the module docstring). Changes nothing."""
        pnl = self._pnl()
        wall_ms = wall_ns // 1_000_000
        c = self.control
        r = self.risk
        levels: dict[str, Any] = {
            "safety": c.safety_level if c else None,
            "safety_name": level_name(SAFETY_NAMES, c.safety_level) if c else None,
            "exposure": c.exposure_level if c else None,
            "exposure_name": level_name(EXPOSURE_NAMES, c.exposure_level) if c else None,
            "size_multiplier": c.size_multiplier if c else None,
            "spread_multiplier": c.spread_multiplier if c else None,
            "reduce_only": c.reduce_only if c else None,
            "allowed_sides": c.allowed_sides if c else None,
            "control_reason": c.reason if c else "",
            "control_age_s": round((now_ns - c.ts_ns) / 1e9, 3) if c and c.ts_ns else None,
            "safety_reason": r.safety_reason if r else "",
            "safety_since_s": _finite(r.safety_since_s) if r else None,
            "active_conditions": list(r.active_conditions) if r else [],
        }
        if r is not None:
            conf: dict[str, Any] = {
                "source": "risk", "overall": _finite(r.confidence.overall), "model": _finite(r.confidence.model),
                "execution": _finite(r.confidence.execution), "safety": _finite(r.confidence.safety),
                "implied_level_name": level_name(EXPOSURE_NAMES, r.confidence.implied_level)
                if r.confidence.implied_level >= 0 else None,
                "age_s": round((now_ns - r.ts_ns) / 1e9, 3) if r.ts_ns else None,
            }
            pnl.update({"equity_usd": r.equity_usd, "capital_usd": r.capital_usd, "drawdown_pct": r.drawdown_pct,
                        "max_drawdown_pct": r.max_drawdown_pct, "risk_total_usd": r.total_pnl_usd})
        else:
            conf = {"source": "none", "overall": None, "model": None, "execution": None, "safety": None,
                    "implied_level_name": None, "age_s": None}
        caps = {p.symbol_id: p for p in r.positions} if r is not None else {}
        symbols_state = []
        for i, s in enumerate(self.sym):
            pos = self.book.get(i)
            cap = caps.get(i)
            limit = s.limit_qty
            symbols_state.append({
                "symbol": self.symbols[i], "symbol_id": i, "position_qty": pos.qty, "avg_px": pos.avg_px,
                "limit_qty": _finite(limit), "limit_share": _finite(abs(pos.qty) / limit) if limit > 0 else None,
                "mid_px": _finite(s.mid_px), "notional_usd": _finite(abs(pos.qty) * s.mid_px),
                "cap_usd": _finite(cap.cap_usd) if cap else None, "cap_share": _finite(cap.share) if cap else None,
                "realized_usd": pos.realized_pnl, "unrealized_usd": pos.unrealized_pnl(), "fees_usd": pos.fees,
                "feature_inventory_qty": _finite(s.snapshot_inventory),
                "mode": s.mode if s.mode >= 0 else None,
                "mode_name": level_name(MODE_NAMES, s.mode) if s.mode >= 0 else None,
                "mode_reason": s.mode_reason, "cycles": s.cycles, "fills": s.fills,
                "regime": s.regime if s.regime >= 0 else None, "toxicity": s.toxicity if s.toxicity >= 0 else None,
                "open_orders": sum(1 for o in self.open_orders.values() if o.symbol_id == i),
            })
        rate = None
        for s in self.sym:
            if s.rate is not None:
                rate = {f: getattr(s.rate, f) for f in s.rate.__struct_fields__}
        return {
            "ts_wall_ns": wall_ns,
            "now_ms": wall_ms,
            "run_id": self.run_id,
            "run_mode": self.run_mode,
            "uptime_s": round((now_ns - self.start_ns) / 1e9, 1),
            "symbols": list(self.symbols),
            "names": {"safety": list(SAFETY_NAMES), "exposure": list(EXPOSURE_NAMES), "mode": list(MODE_NAMES)},
            "levels": levels,
            "confidence": conf,
            "models": [msgspec.structs.asdict(m) for m in (r.models if r else [])],
            "killswitch": {k: self.killswitch.get(k) for k in
                           ("tripped", "epoch", "trips", "reason_code", "who", "reason", "wall_ns")},
            "pnl": {k: _finite(v) if isinstance(v, float) else v for k, v in pnl.items()},
            "pnl_series": [[t, v] for t, v in self.pnl_series],
            "symbols_state": symbols_state,
            "timeline": {
                "window_ms": self.window_ms,
                "modes": {self.symbols[i]: s.modes.as_list() for i, s in enumerate(self.sym)},
                "safety": self.safety_tl.as_list(),
                "exposure": self.exposure_tl.as_list(),
            },
            "processes": list(self.processes),
            "channels": list(self.channels),
            "latency": {"buckets_s": list(LATENCY_BUCKETS_S), "hops": {h: v.as_dict() for h, v in self.hist.items()}},
            "rate_limit": rate,
            "open_orders": [
                {"cloid": o.cloid, "symbol": self._name(o.symbol_id), "side": o.side, "px": o.px, "qty": o.qty,
                 "filled_qty": o.filled_qty, "status": OrderStatus(o.status).name if o.status in
                 OrderStatus._value2member_map_ else str(o.status), "ts_ns": o.ts_ns}
                for o in list(self.open_orders.values())[-50:]
            ],
            "recent_decisions": list(reversed(self.recent_decisions)),
            "counters": dict(self.counters),
            "audit": dict(self.audit_info),
            "postmortems": list(self.postmortems[-10:]),
            "postmortem_policy": {"suppressed": self.policy.suppressed},
            "postmortem_window": self.recent.stats(),
        }
