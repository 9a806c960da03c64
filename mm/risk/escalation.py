"""Graduated safety: the SafetyEscalator (Green, Yellow, Orange, Red, Kill) and its inputs.

Seed 002, engineer 5. Owns the entry conditions of each level, the effects table that the
risk process turns into ControlState, the dwell and evidence rules of de-escalation, the
transition records, exchange health from exchange events, and the kill path's deadline
watch. Pure logic: every method that needs time takes ``now_ns``.

Rules:

- Escalation is instant and may skip levels: each update computes the level the inputs
  demand (the highest level any condition enters) and moves there at once if it is higher.
- De-escalation is one level at a time and only on evidence: from level L to L-1 once the
  inputs, with hysteresis (numeric thresholds x ``clear_ratio``), no longer demand L, and
  L's minimum dwell has passed since the later of entering L and the last time L's
  condition held. Red -> Orange -> Yellow -> Green, never Red -> Yellow.
- Kill is a hard stop: it is never left automatically; an operator's ``clear_kill`` moves
  it to Red, from where the normal rules apply.
- A non-finite numeric input is treated as a Red condition (risk that cannot measure
  itself stops quoting).

Entry conditions (defaults from seed 002, all in EscalationConfig):

======  =========================================================================
Yellow  drawdown > 0.5% of capital; 1 model degraded; exchange health Degraded
        (reconnection, 429s); position differs from the venue's (configurable level)
Orange  drawdown > 1%; 2+ models degraded; position > 70% of its cap; PaR > budget
Red     drawdown > 2%; cascade regime; exchange health Critical; data stale > 5 s
Kill    drawdown > 5%; position runaway (> 150% of cap); data stale > 60 s
======  =========================================================================

Effects: Yellow spreads x1.5, new size x0.5; Orange only the side that reduces inventory,
size x0.25, reduce-only; Red cancel all quotes, reduce-only exits only; Kill hard stop
(kill switch, persist state, postmortem).
"""

from __future__ import annotations

import enum
import math
from collections import deque

import msgspec

from mm.risk.config import EscalationConfig
from mm.schema import SafetyLevel


class ExchangeHealth(enum.IntEnum):
    OK = 0
    DEGRADED = 1
    CRITICAL = 2


class QuoteSides(enum.IntEnum):
    """Which sides a safety level lets execution quote."""

    BOTH = 0
    REDUCING = 1  # only the side that reduces the symbol's inventory
    NONE = 2


class SafetyInputs(msgspec.Struct, frozen=True, kw_only=True):
    """What the escalator looks at, gathered by the risk authority each cycle.

    drawdown_pct: % of capital below the equity peak. degraded_models: models whose verdict
    is Degraded. position_share: largest |notional| / cap over symbols. par_share: position
    at risk / budget. cascade: some symbol is in the Cascade regime. exchange_health: an
    ExchangeHealth value. stale_data_s: s the stalest symbol's market data has been stale.
    reconcile_mismatch: our positions differ from the venue's.
    """

    drawdown_pct: float = 0.0
    degraded_models: int = 0
    position_share: float = 0.0
    par_share: float = 0.0
    cascade: bool = False
    exchange_health: int = ExchangeHealth.OK
    stale_data_s: float = 0.0
    reconcile_mismatch: bool = False


class Trigger(msgspec.Struct, frozen=True):
    level: int
    reason: str


class SafetyEffects(msgspec.Struct, frozen=True, kw_only=True):
    """What a level does to execution.

    spread_multiplier: applied to every quoted half-spread. size_multiplier: applied to new
    quote size (not to reduce-only exits). sides: a QuoteSides value. reduce_only: every
    new order must reduce its symbol's |position|. cancel_all: cancel every resting quote.
    hard_stop: the kill switch is tripped; nothing may be sent but cancels.
    """

    spread_multiplier: float
    size_multiplier: float
    sides: int
    reduce_only: bool
    cancel_all: bool
    hard_stop: bool


class SafetyTransition(msgspec.Struct, frozen=True):
    """One change of safety level. kind: escalate, deescalate, clear_kill or restore."""

    ts_ns: int
    wall_ns: int
    from_level: int
    to_level: int
    kind: str
    reason: str


def effects_of(level: SafetyLevel, cfg: EscalationConfig) -> SafetyEffects:
    """The effects table."""
    if level == SafetyLevel.GREEN:
        return SafetyEffects(spread_multiplier=1.0, size_multiplier=1.0, sides=QuoteSides.BOTH,
                             reduce_only=False, cancel_all=False, hard_stop=False)
    if level == SafetyLevel.YELLOW:
        return SafetyEffects(spread_multiplier=cfg.yellow_spread_multiplier, size_multiplier=cfg.yellow_size_multiplier,
                             sides=QuoteSides.BOTH, reduce_only=False, cancel_all=False, hard_stop=False)
    if level == SafetyLevel.ORANGE:
        return SafetyEffects(spread_multiplier=cfg.orange_spread_multiplier, size_multiplier=cfg.orange_size_multiplier,
                             sides=QuoteSides.REDUCING, reduce_only=True, cancel_all=False, hard_stop=False)
    if level == SafetyLevel.RED:
        return SafetyEffects(spread_multiplier=cfg.red_spread_multiplier, size_multiplier=0.0,
                             sides=QuoteSides.NONE, reduce_only=True, cancel_all=True, hard_stop=False)
    return SafetyEffects(spread_multiplier=cfg.red_spread_multiplier, size_multiplier=0.0, sides=QuoteSides.NONE,
                         reduce_only=True, cancel_all=True, hard_stop=True)


def entry_triggers(inputs: SafetyInputs, cfg: EscalationConfig, ratio: float = 1.0) -> list[Trigger]:
    """Every condition the inputs meet, with its level and reason.

    ``ratio`` scales the numeric thresholds: 1 for entry, ``clear_ratio`` for the
    hysteresis test of de-escalation (a value between ratio x threshold and the threshold
    still holds its level).
    """
    out: list[Trigger] = []
    numeric = {
        "drawdown_pct": inputs.drawdown_pct,
        "position_share": inputs.position_share,
        "par_share": inputs.par_share,
        "stale_data_s": inputs.stale_data_s,
    }
    for name, v in numeric.items():
        if not math.isfinite(v):
            out.append(Trigger(SafetyLevel.RED, f"invalid risk input {name}={v}"))
    dd = inputs.drawdown_pct
    for lvl, thr in ((SafetyLevel.KILL, cfg.kill_drawdown_pct), (SafetyLevel.RED, cfg.red_drawdown_pct),
                     (SafetyLevel.ORANGE, cfg.orange_drawdown_pct), (SafetyLevel.YELLOW, cfg.yellow_drawdown_pct)):
        if dd > thr * ratio:
            out.append(Trigger(lvl, f"drawdown {dd:.2f}% > {thr * ratio:.2f}% of capital"))
            break
    if inputs.degraded_models >= cfg.orange_degraded_models:
        out.append(Trigger(SafetyLevel.ORANGE, f"{inputs.degraded_models} models degraded"))
    elif inputs.degraded_models >= cfg.yellow_degraded_models:
        out.append(Trigger(SafetyLevel.YELLOW, f"{inputs.degraded_models} model(s) degraded"))
    ps = inputs.position_share
    if ps > cfg.kill_position_share * ratio:
        out.append(Trigger(SafetyLevel.KILL, f"position runaway: {ps:.0%} of its cap"))
    elif ps > cfg.orange_position_share * ratio:
        out.append(Trigger(SafetyLevel.ORANGE, f"position {ps:.0%} of its cap > {cfg.orange_position_share * ratio:.0%}"))
    if inputs.par_share > cfg.orange_par_share * ratio:
        out.append(Trigger(SafetyLevel.ORANGE, f"position-at-risk {inputs.par_share:.0%} of budget"))
    if inputs.cascade and cfg.red_on_cascade:
        out.append(Trigger(SafetyLevel.RED, "cascade detected"))
    if inputs.exchange_health >= ExchangeHealth.CRITICAL:
        out.append(Trigger(SafetyLevel.RED, "exchange health critical"))
    elif inputs.exchange_health >= ExchangeHealth.DEGRADED:
        out.append(Trigger(SafetyLevel.YELLOW, "exchange health degraded"))
    st = inputs.stale_data_s
    if st > cfg.kill_stale_data_s * ratio:
        out.append(Trigger(SafetyLevel.KILL, f"market data stale {st:.1f} s"))
    elif st > cfg.red_stale_data_s * ratio:
        out.append(Trigger(SafetyLevel.RED, f"market data stale {st:.1f} s"))
    mismatch_level = SafetyLevel[cfg.reconcile_mismatch_level]
    if inputs.reconcile_mismatch and mismatch_level > SafetyLevel.GREEN:
        out.append(Trigger(mismatch_level, "position differs from the venue's"))
    return out


def demanded_level(triggers: list[Trigger]) -> SafetyLevel:
    return SafetyLevel(max((t.level for t in triggers), default=SafetyLevel.GREEN))


class SafetyEscalator:
    """The current safety level, its transitions and their reasons.

    ``history`` (from a previous run) restores the last level: Kill stays Kill until an
    operator clears it; any other level resumes with its dwell counted from ``start_ns``.
    """

    def __init__(
        self, cfg: EscalationConfig, history: list[SafetyTransition] | None = None, start_ns: int = 0
    ) -> None:
        self.cfg = cfg
        self.history: deque[SafetyTransition] = deque(history or [], maxlen=cfg.max_history)
        self.level = SafetyLevel.GREEN
        self.level_since_ns = start_ns
        self.reason = "start"
        self.triggers: list[Trigger] = []
        # last time (ns) the hysteresis-adjusted inputs demanded each level (or above)
        self._last_demand_ns: list[int | None] = [None] * len(SafetyLevel)
        if self.history:
            last = SafetyLevel(self.history[-1].to_level)
            if last > SafetyLevel.GREEN:
                self._move(last, "restore", f"restored after restart: {self.history[-1].reason}", start_ns, 0)
                for lvl in range(1, int(last) + 1):
                    self._last_demand_ns[lvl] = start_ns

    # ------------------------------------------------------------------ transitions

    def update(self, inputs: SafetyInputs, now_ns: int, wall_ns: int = 0) -> SafetyTransition | None:
        """Feed the current inputs; returns the transition made, if any."""
        self.triggers = entry_triggers(inputs, self.cfg)
        demand = demanded_level(self.triggers)
        held = demanded_level(entry_triggers(inputs, self.cfg, self.cfg.clear_ratio))
        for lvl in range(1, int(held) + 1):
            self._last_demand_ns[lvl] = now_ns
        if demand > self.level:
            why = "; ".join(t.reason for t in self.triggers if t.level == demand)
            return self._move(demand, "escalate", why, now_ns, wall_ns)
        if SafetyLevel.GREEN < self.level < SafetyLevel.KILL and held < self.level:
            if self.dwell_remaining_s(now_ns) <= 0.0:
                dwell = self.cfg.dwell_s[int(self.level)]
                why = f"{self.level.name} conditions clear for its {dwell:g} s dwell"
                return self._move(SafetyLevel(int(self.level) - 1), "deescalate", why, now_ns, wall_ns)
        return None

    def escalate_to(self, level: SafetyLevel, reason: str, now_ns: int, wall_ns: int = 0) -> SafetyTransition | None:
        """An external escalation (e.g. the kill switch tripped by another process)."""
        if level <= self.level:
            return None
        for lvl in range(1, int(level) + 1):
            self._last_demand_ns[lvl] = now_ns
        return self._move(level, "escalate", reason, now_ns, wall_ns)

    def clear_kill(self, who: str, reason: str, now_ns: int, wall_ns: int = 0) -> SafetyTransition | None:
        """Operator: leave Kill for Red (the normal de-escalation rules apply from there)."""
        if self.level != SafetyLevel.KILL:
            return None
        self._last_demand_ns[SafetyLevel.RED] = now_ns
        return self._move(SafetyLevel.RED, "clear_kill", f"by {who}: {reason}", now_ns, wall_ns)

    def dwell_remaining_s(self, now_ns: int) -> float:
        """Seconds before the current level may be left (0 when it may; inf for Kill)."""
        if self.level == SafetyLevel.GREEN:
            return 0.0
        if self.level == SafetyLevel.KILL:
            return math.inf
        anchor = self.level_since_ns
        last = self._last_demand_ns[int(self.level)]
        if last is not None and last > anchor:
            anchor = last
        left = self.cfg.dwell_s[int(self.level)] - max(now_ns - anchor, 0) / 1e9
        return max(left, 0.0)

    def effects(self) -> SafetyEffects:
        return effects_of(self.level, self.cfg)

    def _move(self, target: SafetyLevel, kind: str, reason: str, now_ns: int, wall_ns: int) -> SafetyTransition:
        tr = SafetyTransition(now_ns, wall_ns, int(self.level), int(target), kind, reason)
        self.history.append(tr)
        self.level = target
        self.level_since_ns = now_ns
        self.reason = reason
        return tr

    def status(self, now_ns: int) -> dict[str, object]:
        eff = self.effects()
        left = self.dwell_remaining_s(now_ns)
        return {
            "level": self.level.name,
            "since_s": round(max(now_ns - self.level_since_ns, 0) / 1e9, 3),
            "dwell_left_s": None if math.isinf(left) else round(left, 3),
            "reason": self.reason,
            "active_conditions": [f"{SafetyLevel(t.level).name}: {t.reason}" for t in self.triggers],
            "effects": {
                "spread_multiplier": eff.spread_multiplier,
                "size_multiplier": eff.size_multiplier,
                "sides": QuoteSides(eff.sides).name,
                "reduce_only": eff.reduce_only,
                "cancel_all": eff.cancel_all,
                "hard_stop": eff.hard_stop,
            },
            "recent": [
                {"ts_ns": t.ts_ns, "from": SafetyLevel(t.from_level).name, "to": SafetyLevel(t.to_level).name,
                 "kind": t.kind, "reason": t.reason}
                for t in list(self.history)[-5:]
            ],
        }


def encode_safety_history(history: list[SafetyTransition] | deque[SafetyTransition]) -> bytes:
    return msgspec.json.encode(list(history))


def decode_safety_history(data: bytes) -> list[SafetyTransition]:
    return msgspec.json.decode(data, type=list[SafetyTransition])


# ---------------------------------------------------------------------- exchange health


class ExchangeHealthMonitor:
    """Exchange health from exchange events and the connection state.

    Events (reconnects, 429s, rejects, order timeouts) are counted over a sliding window:
    ``health_degraded_events`` of them make health Degraded, ``health_critical_events``
    Critical. A connection down at all is Degraded; down for ``health_critical_disconnect_s``
    is Critical.
    """

    def __init__(self, cfg: EscalationConfig) -> None:
        self.cfg = cfg
        self._events: deque[tuple[int, str]] = deque()
        self._down_since_ns: int | None = None
        self.total_events = 0

    def on_event(self, kind: str, now_ns: int) -> None:
        self._events.append((now_ns, kind))
        self.total_events += 1

    def set_connected(self, connected: bool, now_ns: int) -> None:
        if connected:
            self._down_since_ns = None
        elif self._down_since_ns is None:
            self._down_since_ns = now_ns

    def events_in_window(self, now_ns: int) -> int:
        horizon = now_ns - int(self.cfg.health_window_s * 1e9)
        while self._events and self._events[0][0] < horizon:
            self._events.popleft()
        return len(self._events)

    def health(self, now_ns: int) -> ExchangeHealth:
        n = self.events_in_window(now_ns)
        if self._down_since_ns is not None:
            if now_ns - self._down_since_ns >= self.cfg.health_critical_disconnect_s * 1e9:
                return ExchangeHealth.CRITICAL
            return max(ExchangeHealth.DEGRADED, self._from_count(n))
        return self._from_count(n)

    def _from_count(self, n: int) -> ExchangeHealth:
        if n >= self.cfg.health_critical_events:
            return ExchangeHealth.CRITICAL
        if n >= self.cfg.health_degraded_events:
            return ExchangeHealth.DEGRADED
        return ExchangeHealth.OK


# ---------------------------------------------------------------------- independent kill path


class KillAction(enum.IntEnum):
    NONE = 0  # not tripped, or the venue has confirmed nothing is open
    WAIT = 1  # tripped; execution still has time to confirm its cancel-all
    CANCEL_ALL = 2  # risk must cancel everything through its own venue connection now


class KillCancelWatch:
    """The deadline on execution's cancel-all after the kill switch trips.

    ``trip`` starts the clock. Execution confirming (``on_execution_confirmed``) or the venue
    reporting no open orders (``on_open_orders(0)``, from risk's own query) settles it. If
    neither happens within ``kill_cancel_deadline_ms``, ``poll`` answers CANCEL_ALL, and again
    every ``kill_cancel_retry_ms`` until the venue reports nothing open. The times of trip,
    first own cancel and settlement are kept for the report.
    """

    def __init__(self, cfg: EscalationConfig) -> None:
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        """Re-arm (after the operator resets the kill switch)."""
        self.tripped_ns: int | None = None
        self.reason = ""
        self.settled_ns: int | None = None
        self.settled_by = ""
        self.first_own_cancel_ns: int | None = None
        self._next_cancel_ns: int | None = None
        self.own_cancels = 0

    def trip(self, reason: str, now_ns: int) -> bool:
        if self.tripped_ns is not None:
            return False
        self.tripped_ns = now_ns
        self.reason = reason
        self._next_cancel_ns = now_ns + self.cfg.kill_cancel_deadline_ms * 1_000_000
        return True

    def on_execution_confirmed(self, now_ns: int) -> None:
        if self.tripped_ns is not None and self.settled_ns is None:
            self.settled_ns = now_ns
            self.settled_by = "execution"

    def on_open_orders(self, count: int, now_ns: int) -> None:
        if self.tripped_ns is not None and self.settled_ns is None and count == 0:
            self.settled_ns = now_ns
            self.settled_by = "venue reports no open orders"

    def poll(self, now_ns: int) -> KillAction:
        if self.tripped_ns is None or self.settled_ns is not None:
            return KillAction.NONE
        assert self._next_cancel_ns is not None
        if now_ns < self._next_cancel_ns:
            return KillAction.WAIT
        if self.first_own_cancel_ns is None:
            self.first_own_cancel_ns = now_ns
        self.own_cancels += 1
        self._next_cancel_ns = now_ns + self.cfg.kill_cancel_retry_ms * 1_000_000
        return KillAction.CANCEL_ALL

    def status(self) -> dict[str, object]:
        def rel(t: int | None) -> float | None:
            if t is None or self.tripped_ns is None:
                return None
            return round((t - self.tripped_ns) / 1e6, 3)

        return {
            "tripped": self.tripped_ns is not None,
            "reason": self.reason,
            "settled": self.settled_ns is not None,
            "settled_by": self.settled_by,
            "settled_after_ms": rel(self.settled_ns),
            "first_own_cancel_after_ms": rel(self.first_own_cancel_ns),
            "own_cancels": self.own_cancels,
        }
