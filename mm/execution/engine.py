"""Execution's engine: per-symbol views, one decision cycle per input, the OMS, the outboxes.

Holds the latest StateSnapshot and AlphaSignal per symbol and risk's latest ControlState;
runs a decision cycle per new signal (or on :meth:`ExecutionEngine.decide`): the kill
switch first, then the policy (the state machine of :mod:`mm.execution.state_machine`, or a
baseline of :mod:`mm.execution.policies`, or dry-run), then risk's constraints (allowed
sides, reduce-only), then the OMS (:mod:`mm.execution.lifecycle`), which diffs the targets
against our live orders, checks every limit and emits requests. Pure logic: times come in
as arguments and nothing here does I/O.

What comes out, drained by the caller after each call:

- :meth:`drain_requests`: ``ExchangeRequest`` (``/exchange`` actions to sign and send) and
  ``InfoRequest`` (``orderStatus`` / ``openOrders`` lookups for reconciliation).
- :meth:`drain_events`: ``OrderEvent`` and ``Fill`` messages to publish.
- :meth:`drain_records`: one ``DecisionRecord`` per cycle for the audit log (built when
  drained, so that building it is not on the path from snapshot to actions).

Records and events are kept up to ``outbox_max`` each when nobody drains them (the oldest
are dropped and counted in ``dropped_records`` / ``dropped_events``); requests are never
dropped.
- ``on_signal`` / ``decide`` return the cycle's ``CycleSummary`` for the ex ring.
- :meth:`drain_audit`: the same cycles as audit ``CycleDecisionRecord`` records, built from what
  the cycle itself used (its signal, its snapshot's time, the rate budget at its ``now_ns``),
  so they depend on the inputs only, never on when they are drained.

Input journal (live/replay parity): with ``journal=True`` every call that changes the
engine's state (the ``on_*`` inputs, ``tick``, ``decide``, ``set_position``,
``request_open_orders``, ``activate_variant``) is appended to :attr:`inputs` as
``(op, args)`` with its arguments exactly as given (the journal of
:class:`mm.recording.journal.InputJournal`, as risk's and the pipeline stages');
:data:`INPUT_ARGS` is the type of each op's arguments (the decoding table, ``OPS``). Feeding
the same calls in the same order to an engine built alike (config, specs, models,
``session_id``) reproduces every decision (:mod:`mm.replay.parity`).

Fitted models: :func:`engine_models` (queue value, fill survival) and
:func:`direction_models` (the state machine's direction gate, acting only with
``direction_gate`` on) read ``<coin>/<name>.json`` through one reader, in the live process
and in the replay alike.

Variants (:mod:`mm.execution.variants`): parameter variants run in shadow beside the active
policy on the same inputs; their would-be quotes get simulated fills. They never send
anything. :meth:`activate_variant` makes a variant's parameters the active ones.

Shadow fills: at the Shadow exposure level (risk's ControlState says ``exposure_level``
Shadow: size multiplier 0, nothing placed) the variants simulator's track of the active
parameters runs every cycle that reaches the policy (with or without declared variants),
and its simulated fills come out of :meth:`drain_shadow_fills` as ``ShadowFill`` messages
for risk (the evidence at Shadow). Above Shadow none are made (real fills are the
evidence). They depend on the journaled inputs and the variants' seed only, and change no
decision, order or event of the engine.

The venue's answers go back in through the ``on_*`` feedback methods (see
:class:`mm.execution.lifecycle.Oms` for their meaning). Safe defaults: without a
ControlState from risk, or at size multiplier 0 (Shadow), nothing that adds exposure is
sent; without a valid two-sided book, resting quotes are pulled.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final, Literal, Protocol

import msgspec

from mm.audit.record import CycleDecisionRecord, RateBudget, from_decision
from mm.execution.config import ExecutionConfig, HeuristicModelConfig
from mm.execution.decision import DecisionBuilder, DecisionRecord
from mm.execution.lifecycle import ExchangeRequest, InfoRequest, Oms, SyncResult, VenueOrder
from mm.execution.mode_handlers import CycleInputs, PriceGrid, SymbolSpec
from mm.execution.models import (
    ExpFillModel,
    FillModel,
    FillModelBySymbol,
    HeuristicQueueValue,
    QueueValueBySymbol,
    QueueValueModel,
)
from mm.execution.order_diff import TargetOrder
from mm.execution.policies import dry_run_target
from mm.execution.rate_limit import RateLimiter
from mm.execution.state_machine import StateMachinePolicy, SymbolState, safe_target
from mm.execution.variants import VariantSet, VariantSpec, make_variant_policy
from mm.models.direction import DirectionModel
from mm.models.files import ModelReader, decode_by_coin
from mm.models.fill_survival import FillSurvivalModel
from mm.models.queue_value import QueueValueModel as FittedQueueValue
from mm.recording.journal import InputJournal
from mm.schema import (
    SIDES_ASK,
    SIDES_BID,
    AlphaSignal,
    ControlState,
    CycleSummary,
    ExecMode,
    ExposureLevel,
    Fill,
    OrderEvent,
    ShadowFill,
    StateSnapshot,
)

_PendingRecord = tuple[int, int, int, int, StateSnapshot | None, AlphaSignal | None, ControlState | None, bool,
                       float, float, float, DecisionBuilder, tuple[int, int, float, int]]
"""A cycle's record, kept raw until drained: the cycle's arguments, its decision builder and
the limiter's counts at its ``now_ns`` (IP weight used, address requests used, traded USD,
refused), from which :func:`_rate_budget` builds the audit record's ``RateBudget``."""


def _rate_budget(limiter: RateLimiter, counts: tuple[int, int, float, int]) -> RateBudget:
    """:func:`mm.audit.record.rate_budget` of ``limiter`` as it stood when ``counts`` were taken."""
    ip_used, address_used, traded_usd, refused = counts
    return RateBudget(
        ip_weight_used=ip_used,
        ip_weight_limit=int(limiter.cfg.ip_weight_per_min),
        address_used=int(address_used),
        address_cap=int(limiter.address_cap_at(traded_usd)),
        refused=int(refused),
    )

INPUT_ARGS: Final[dict[str, Any]] = {
    "on_control": tuple[ControlState],
    "on_snapshot": tuple[StateSnapshot],
    "on_signal": tuple[AlphaSignal, int, bool],
    "decide": tuple[int, int, bool, int],
    "tick": tuple[int, bool],
    "on_order_result": tuple[str, int, str, int, float, str],
    "on_cancel_result": tuple[str, int, bool, str],
    "on_request_failed": tuple[int, int, bool, str],
    "on_order_update": tuple[int, VenueOrder],
    "on_order_status": tuple[int, str, VenueOrder | None],
    "on_open_orders": tuple[int, list[VenueOrder], list[int] | None],
    "on_fill": tuple[int, int, str | None, int, int, bool, float, float, float, bool, int],
    "set_position": tuple[int, float],
    "request_open_orders": tuple[int, str],
    "activate_variant": tuple[str, int],
}
"""Every state-changing call of :class:`ExecutionEngine` and the msgspec type of its
positional arguments (what :attr:`ExecutionEngine.inputs` holds; how a journal decodes)."""


class Policy(Protocol):
    name: str

    def decide(self, inp: CycleInputs, state: SymbolState, b: DecisionBuilder) -> list[TargetOrder]: ...


def make_policy(name: str) -> Policy:
    policy: Policy = make_variant_policy(name)
    return policy


def engine_models(symbols: Sequence[str], mcfg: HeuristicModelConfig,
                  read: ModelReader) -> tuple[QueueValueBySymbol, FillModelBySymbol, list[str]]:
    """Per coin: the fitted queue-value and fill-survival models whose bytes ``read(coin,
    name)`` returns, else the heuristic baselines; the errors of files that did not decode
    (their coin gets the baseline). Queue value is net of ``mcfg.maker_fee_bps``. The live
    process and the replay build their models with this one function."""
    qv, qv_errors = decode_by_coin(
        symbols, read, "queue_value", lambda raw: FittedQueueValue.from_bytes(raw, maker_fee_bps=mcfg.maker_fee_bps),
        "queue value", "using the heuristic")
    fill, fill_errors = decode_by_coin(symbols, read, "fill_survival", FillSurvivalModel.from_bytes, "fill survival",
                                       "using the baseline")
    return (QueueValueBySymbol(qv, HeuristicQueueValue(mcfg)), FillModelBySymbol(fill, ExpFillModel(mcfg)),
            qv_errors + fill_errors)


def direction_models(symbols: Sequence[str],
                     read: ModelReader) -> tuple[dict[int, DirectionModel], list[str]]:
    """Per coin with a file (``read(coin, "direction")``, as :func:`engine_models` reads the
    others): the fitted direction model by symbol id, which the state machine's direction
    gate uses when ``direction_gate`` is on (:func:`mm.execution.state_machine.direction_gate`;
    a coin without one has no gate); the errors of files that did not decode (no gate there
    either). The live process and the replay load them with this one function."""
    return decode_by_coin(symbols, read, "direction", DirectionModel.from_bytes, "direction", "no direction gate there")


class SymbolView:
    """One symbol's latest inputs and its state machine."""

    __slots__ = ("dry_run_side", "grid", "inventory", "last_dry_run_ns", "signal", "snapshot", "spec", "state")

    def __init__(self, spec: SymbolSpec) -> None:
        self.spec = spec
        self.grid = PriceGrid(spec.sz_decimals)
        self.snapshot: StateSnapshot | None = None
        self.signal: AlphaSignal | None = None
        self.inventory = 0.0
        self.state = SymbolState()
        self.last_dry_run_ns = -(1 << 62)
        self.dry_run_side = 1


def _book_ok(s: StateSnapshot) -> bool:
    return (
        math.isfinite(s.best_bid) and math.isfinite(s.best_ask) and math.isfinite(s.mid_px)
        and 0.0 < s.best_bid < s.best_ask and s.best_bid <= s.mid_px <= s.best_ask
    )


class ExecutionEngine(InputJournal):
    """One decision cycle per input; returns the cycle's summary; requests and records in outboxes."""

    OPS: ClassVar[dict[str, Any]] = INPUT_ARGS

    def __init__(
        self,
        n_symbols: int,
        cfg: ExecutionConfig | None = None,
        specs: Sequence[SymbolSpec] | None = None,
        queue_model: QueueValueModel | None = None,
        fill_model: FillModel | None = None,
        session_id: int = 0,
        limiter: RateLimiter | None = None,
        outbox_max: int = 10_000,
        variants: Sequence[VariantSpec] = (),
        variant_seed: int = 0,
        journal: bool = False,
        direction: Mapping[int, DirectionModel] | None = None,
    ) -> None:
        super().__init__(journal)
        self.cfg = cfg if cfg is not None else ExecutionConfig()
        if specs is None:
            specs = [SymbolSpec(str(i), i, self.cfg.default_sz_decimals) for i in range(n_symbols)]
        if len(specs) != n_symbols:
            raise ValueError(f"specs: {len(specs)} given for {n_symbols} symbols")
        self.specs = list(specs)
        self.views = [SymbolView(s) for s in self.specs]
        self.control: ControlState | None = None
        self.cycles = 0
        self.unknown_symbol = 0
        self.qv: QueueValueModel = queue_model if queue_model is not None else HeuristicQueueValue(self.cfg.models)
        self.fill: FillModel = fill_model if fill_model is not None else ExpFillModel(self.cfg.models)
        self.direction: dict[int, DirectionModel] = dict(direction or {})
        self.policy = self._policy(self.cfg.policy)
        self.oms = Oms(self.cfg, self.specs, session_id, limiter)
        self.outbox_max = max(outbox_max, 1)
        self.records: deque[_PendingRecord] = deque(maxlen=self.outbox_max)
        self.dropped_records = 0
        self.dropped_events = 0
        self.variants = VariantSet(self.cfg, variants, self.specs, self.qv, self.fill, variant_seed)
        self.activations: list[tuple[int, str, str]] = []  # (now_ns, from, to)
        self.shadow_fills: deque[ShadowFill] = deque(maxlen=self.outbox_max)
        self.shadow_fills_total = 0
        self.dropped_shadow_fills = 0

    # ------------------------------------------------------------------ the input journal
    # ``_j``, ``inputs`` and ``drain_inputs`` come from :class:`mm.recording.journal.InputJournal`.

    def apply_input(self, op: str, args: Sequence[Any]) -> None:
        """Replay one journaled call (``op`` one of :data:`INPUT_ARGS`)."""
        self._check_op(op)
        getattr(self, op)(*args)

    # ------------------------------------------------------------------ inputs

    def on_control(self, msg: ControlState) -> None:
        self._j("on_control", msg)
        self.control = msg

    def on_snapshot(self, snap: StateSnapshot) -> None:
        self._j("on_snapshot", snap)
        if 0 <= snap.symbol_id < len(self.views):
            view = self.views[snap.symbol_id]
            view.snapshot = snap
            view.inventory = snap.inventory
        else:
            self.unknown_symbol += 1

    def on_signal(self, sig: AlphaSignal, now_ns: int, killed: bool = False) -> CycleSummary | None:
        """A new signal: store it and run the symbol's decision cycle."""
        self._j("on_signal", sig, now_ns, killed)
        if not 0 <= sig.symbol_id < len(self.views):
            self.unknown_symbol += 1
            return None
        self.views[sig.symbol_id].signal = sig
        return self._cycle(sig.symbol_id, now_ns, killed, sig.origin_ts_ns)

    def decide(self, symbol_id: int, now_ns: int, killed: bool = False, origin_ts_ns: int = 0) -> CycleSummary | None:
        """Run a decision cycle on the latest inputs (a snapshot-driven or timer-driven cycle)."""
        self._j("decide", symbol_id, now_ns, killed, origin_ts_ns)
        if not 0 <= symbol_id < len(self.views):
            self.unknown_symbol += 1
            return None
        snap = self.views[symbol_id].snapshot
        return self._cycle(symbol_id, now_ns, killed, origin_ts_ns or (snap.origin_ts_ns if snap else now_ns))

    def live_order_count(self) -> int:
        """Orders of ours the OMS holds live (any state short of terminal), all symbols."""
        return sum(len(self.oms.live_orders(s)) for s in range(len(self.specs)))

    def kill_confirmed(self, venue_clear: bool, unanswered_placements: int) -> bool:
        """Whether a cancel-all after the kill switch is done: the venue lists no open order of
        ours, the OMS holds none live, and no placement sent before the trip is unanswered (it
        could still land after the venue's answer)."""
        return venue_clear and self.live_order_count() == 0 and unanswered_placements == 0

    def tick(self, now_ns: int, killed: bool = False) -> None:
        """Timers without a decision: stale detection, lookups, periodic reconciliation; kill cancels."""
        self._j("tick", now_ns, killed)
        self.oms.check_timeouts(now_ns)
        if killed:
            self.oms.cancel_all(now_ns, "kill switch")

    # ------------------------------------------------------------------ venue feedback (see Oms)

    def on_order_result(self, cloid: str, now_ns: int, kind: Literal["resting", "filled", "error"], oid: int = 0,
                        total_sz: float = 0.0, error: str = "") -> None:
        self._j("on_order_result", cloid, now_ns, kind, oid, total_sz, error)
        self.oms.on_order_result(cloid, now_ns, kind, oid, total_sz, error)

    def on_cancel_result(self, cloid: str, now_ns: int, ok: bool, error: str = "") -> None:
        self._j("on_cancel_result", cloid, now_ns, ok, error)
        self.oms.on_cancel_result(cloid, now_ns, ok, error)

    def on_request_failed(self, request_id: int, now_ns: int, maybe_delivered: bool, reason: str = "") -> None:
        self._j("on_request_failed", request_id, now_ns, maybe_delivered, reason)
        self.oms.on_request_failed(request_id, now_ns, maybe_delivered, reason)

    def on_order_update(self, now_ns: int, v: VenueOrder) -> None:
        self._j("on_order_update", now_ns, v)
        self.oms.on_order_update(now_ns, v)

    def on_order_status(self, now_ns: int, cloid: str, found: VenueOrder | None) -> None:
        self._j("on_order_status", now_ns, cloid, found)
        self.oms.on_order_status(now_ns, cloid, found)

    def on_open_orders(self, now_ns: int, orders: Sequence[VenueOrder], symbol_ids: Sequence[int] | None = None) -> None:
        self._j("on_open_orders", now_ns, list(orders), None if symbol_ids is None else list(symbol_ids))
        self.oms.on_open_orders(now_ns, orders, symbol_ids)

    def on_fill(self, now_ns: int, symbol_id: int, cloid: str | None, oid: int, trade_id: int, is_buy: bool,
                px: float, qty: float, fee: float, is_maker: bool, remote_ts_ms: int = 0) -> bool:
        self._j("on_fill", now_ns, symbol_id, cloid, oid, trade_id, is_buy, px, qty, fee, is_maker, remote_ts_ms)
        snap = self.views[symbol_id].snapshot if 0 <= symbol_id < len(self.views) else None
        mid = snap.mid_px if snap is not None else 0.0
        return self.oms.on_fill(now_ns, symbol_id, cloid, oid, trade_id, is_buy, px, qty, fee, is_maker,
                                remote_ts_ms, mid)

    def set_position(self, symbol_id: int, qty: float) -> bool:
        self._j("set_position", symbol_id, qty)
        return self.oms.set_position(symbol_id, qty)

    def request_open_orders(self, now_ns: int, reason: str) -> bool:
        self._j("request_open_orders", now_ns, reason)
        return self.oms.request_open_orders(now_ns, reason)

    # ------------------------------------------------------------------ outboxes

    def drain_requests(self) -> list[ExchangeRequest | InfoRequest]:
        out = self.oms.requests
        self.oms.requests = []
        return out

    def drain_events(self) -> list[OrderEvent | Fill]:
        out = self.oms.events
        self.oms.events = []
        return out

    def drain_shadow_fills(self) -> list[ShadowFill]:
        """The simulated fills of the active policy's would-be quotes at Shadow since the last
        drain (module docstring); kept up to ``outbox_max`` (the oldest dropped and counted)."""
        out = list(self.shadow_fills)
        self.shadow_fills.clear()
        return out

    def drain_records(self) -> list[DecisionRecord]:
        out = [self._record(*p[:12]) for p in self.records]
        self.records.clear()
        return out

    def drain_audit(self, symbols: Sequence[str]) -> list[CycleDecisionRecord]:
        """The pending cycles as audit records (``symbols``: names by symbol id), each built
        from the signal, snapshot time and rate budget of its own cycle."""
        out = []
        for p in self.records:
            d = self._record(*p[:12])
            sig = p[5]
            snap = p[4]
            out.append(from_decision(d, symbol=symbols[d.symbol_id] if 0 <= d.symbol_id < len(symbols) else "",
                                     signal=sig, snapshot_ts_ns=snap.ts_ns if snap is not None else 0,
                                     rate=_rate_budget(self.oms.limiter, p[12])))
        self.records.clear()
        return out

    # ------------------------------------------------------------------ variants

    def activate_variant(self, name: str, now_ns: int) -> None:
        """Make variant ``name``'s parameters (and policy) the active ones from this call on
        (an operator's decision; the caller records its evidence). ValueError if unknown."""
        self._j("activate_variant", name, now_ns)
        cfg = self.variants.config_of(name)
        before = self.variants.active_name
        self.cfg = cfg
        self.policy = self._policy(cfg.policy)
        self.variants.set_active(name)
        self.activations.append((now_ns, before, name))

    def _policy(self, name: str) -> Policy:
        """Policy ``name``; the state machine gets the direction models (``direction``)."""
        policy = make_policy(name)
        if self.direction and isinstance(policy, StateMachinePolicy):
            policy.direction_models = dict(self.direction)
        return policy

    # ------------------------------------------------------------------ the cycle

    def _limits(self, view: SymbolView, mid: float) -> tuple[float, float, float, float]:
        cfg = self.cfg
        lim = cfg.limits_for(view.spec.name)
        max_inv = lim.max_inventory_qty if lim.max_inventory_qty > 0.0 else cfg.max_inventory_usd / mid
        quote = lim.quote_qty if lim.quote_qty > 0.0 else cfg.quote_notional_usd / mid
        return max_inv, quote, cfg.taker_clip_usd / mid, cfg.reduce_clip_usd / mid

    def _cycle(self, sid: int, now_ns: int, killed: bool, origin_ts_ns: int) -> CycleSummary:
        self.cycles += 1
        view = self.views[sid]
        oms = self.oms
        b = DecisionBuilder()
        oms.check_timeouts(now_ns)
        snap = view.snapshot
        sig = view.signal
        ctrl = self.control
        inventory = oms.effective_position(sid)
        max_inv = quote = 0.0
        book_ok = False
        targets: list[TargetOrder] = []
        if killed:
            b.set_mode(ExecMode.FLAT, "kill switch")
            view.state.enter(ExecMode.FLAT, now_ns)
            res = oms.sync(sid, targets, now_ns, True, origin_ts_ns, b)
        elif snap is None or not (book_ok := _book_ok(snap)):
            b.set_mode(ExecMode.FLAT, "no valid two-sided book")
            view.state.enter(ExecMode.FLAT, now_ns)
            res = oms.sync(sid, targets, now_ns, False, origin_ts_ns, b)
        elif ctrl is None:
            b.set_mode(ExecMode.FLAT, "no control state from risk yet")
            view.state.enter(ExecMode.FLAT, now_ns)
            res = oms.sync(sid, targets, now_ns, False, origin_ts_ns, b)
        else:
            hinted = self._with_alo_hint(sid, snap)
            if hinted is not snap:
                book_ok = _book_ok(hinted)
                snap = hinted
            max_inv, quote, taker_clip, reduce_clip = self._limits(view, snap.mid_px)
            oms.set_max_inventory(sid, max_inv)
            inp = self._inputs(sid, snap, sig, ctrl, now_ns, inventory, max_inv, quote, taker_clip, reduce_clip)
            b.safe_target = inp.safe_target
            if self.cfg.dry_run:
                b.set_mode(ExecMode.FLAT, "dry run: place and cancel")
                view.state.enter(ExecMode.FLAT, now_ns)
                res = oms.sync(sid, targets, now_ns, False, origin_ts_ns, b)
                targets = self._dry_run(view, sid, inp, now_ns, origin_ts_ns, b, res)
            else:
                targets = self._apply_control(self.policy.decide(inp, view.state, b), ctrl, inventory, b)
                res = oms.sync(sid, targets, now_ns, False, origin_ts_ns, b)
                shadow = ctrl.exposure_level == ExposureLevel.SHADOW
                if self.variants.specs or shadow:
                    self.variants.cycle(sid, view.spec, view.grid, snap, sig, ctrl, now_ns, emit=shadow)
                    if shadow:
                        self._shadow_fills(origin_ts_ns)
                else:
                    self.variants.pull(sid, now_ns)  # the active track quotes only while it runs
        if killed or snap is None or ctrl is None or not book_ok:
            self.variants.pull(sid, now_ns)
        b.targets = targets
        if len(self.records) == self.outbox_max:
            self.dropped_records += 1
        events = self.oms.events
        if len(events) > self.outbox_max:
            drop = len(events) - self.outbox_max
            del events[:drop]
            self.dropped_events += drop
        lim = oms.limiter
        self.records.append((sid, self.cycles, now_ns, origin_ts_ns, snap, sig, ctrl, killed, inventory, max_inv,
                             quote, b, (lim.ip_weight_used(now_ns), lim.address_used, lim.traded_usd, lim.refused)))
        # positional, in CycleSummary's field order: symbol_id, ts_ns, origin_ts_ns, cycle, mode, n_actions, inventory
        return CycleSummary(sid, now_ns, origin_ts_ns, self.cycles, int(b.mode),
                            res.placed + res.cancelled + res.modified, inventory)

    def _shadow_fills(self, origin_ts_ns: int) -> None:
        for f in self.variants.take_fills():
            if len(self.shadow_fills) == self.outbox_max:
                self.dropped_shadow_fills += 1
            self.shadow_fills_total += 1
            self.shadow_fills.append(ShadowFill(
                symbol_id=f.symbol_id, ts_ns=f.ts_ns, origin_ts_ns=origin_ts_ns, side=f.side, px=f.px, qty=f.qty,
                fee=f.fee, is_maker=f.is_maker, mid_px=f.mid_px, predicted_edge_bps=f.predicted_edge_bps))

    def _with_alo_hint(self, sid: int, snap: StateSnapshot) -> StateSnapshot:
        """A post-only rejection newer than the snapshot tells a fresher BBO: quote against it."""
        hint = self.oms.alo_bbo(sid)
        if hint is None:
            return snap
        bid, ask, ts = hint
        if ts <= snap.ts_ns or not 0.0 < bid < ask or (bid == snap.best_bid and ask == snap.best_ask):
            return snap
        mid = (bid + ask) / 2.0
        return msgspec.structs.replace(snap, best_bid=bid, best_ask=ask, mid_px=mid,
                                       spread_bps=(ask - bid) / mid * 1e4,
                                       microprice=min(max(snap.microprice, bid), ask))

    def _inputs(self, sid: int, snap: StateSnapshot, sig: AlphaSignal | None, ctrl: ControlState, now_ns: int,
                inventory: float, max_inv: float, quote: float, taker_clip: float, reduce_clip: float) -> CycleInputs:
        cfg = self.cfg
        view = self.views[sid]
        toxicity = snap.toxicity
        toxic_prob = snap.toxic_prob
        target = 0.0
        skew = 0.0
        if sig is not None:
            toxicity = max(toxicity, sig.toxicity)
            toxic_prob = max(toxic_prob, sig.toxic_prob) if math.isfinite(sig.toxic_prob) else toxic_prob
            target = sig.target_inventory
            skew = sig.lead_lag_skew_bps
        settled, hb, hs = self.oms.settled_and_headroom(sid)  # headroom leaves out exactly ``settled``
        live_bid = live_ask = 0.0
        rank_bid = rank_ask = -1.0
        for r in settled:
            if r.side > 0 and r.px > live_bid:
                live_bid = r.px
                rank_bid = snap.queue_rank_bid if r.px == snap.best_bid else -1.0
            elif r.side < 0 and (live_ask == 0.0 or r.px < live_ask):
                live_ask = r.px
                rank_ask = snap.queue_rank_ask if r.px == snap.best_ask else -1.0
        size_mult = ctrl.size_multiplier if math.isfinite(ctrl.size_multiplier) else 0.0
        spread_mult = ctrl.spread_multiplier if math.isfinite(ctrl.spread_multiplier) else 1.0
        inp = CycleInputs(  # positional, in the order of CycleInputs.__init__ (named below)
            cfg, view.spec, view.grid, snap, now_ns, self.qv, self.fill,
            inventory, max_inv, quote, taker_clip,  # inventory, max_inv, quote_qty, taker_clip_qty
            reduce_clip, max(size_mult, 0.0), max(spread_mult, 1.0),  # reduce_clip_qty, size_mult, spread_mult
            target, toxicity, toxic_prob, skew,  # target, toxicity, toxic_prob, lead_lag_skew_bps
            hb, hs, cfg.oms.min_notional_usd,  # headroom_buy, headroom_sell, min_notional_usd
            live_bid, rank_bid, live_ask, rank_ask,  # live_bid_px, live_bid_rank, live_ask_px, live_ask_rank
        )
        inp.safe_target = safe_target(target, max_inv, snap.sigma_realized_1m, cfg.baseline_sigma_bps)
        return inp

    def _apply_control(self, targets: list[TargetOrder], ctrl: ControlState, inventory: float,
                       b: DecisionBuilder) -> list[TargetOrder]:
        """Risk's allowed sides and reduce-only applied to the policy's targets."""
        out = []
        for t in targets:
            if (t.side > 0 and not ctrl.allowed_sides & SIDES_BID) or (t.side < 0 and not ctrl.allowed_sides & SIDES_ASK):
                b.reason(f"{'bid' if t.side > 0 else 'ask'} not allowed by risk")
                continue
            if ctrl.reduce_only and not t.reduce_only:
                if t.side * inventory >= 0.0:
                    b.reason(f"{'bid' if t.side > 0 else 'ask'} dropped: risk says reduce-only")
                    continue
                t = msgspec.structs.replace(t, qty=min(t.qty, abs(inventory)), reduce_only=True)
            out.append(t)
        return out

    def _dry_run(self, view: SymbolView, sid: int, inp: CycleInputs, now_ns: int, origin_ts_ns: int,
                 b: DecisionBuilder, res: SyncResult) -> list[TargetOrder]:
        """Seed 002 level 2: one far post-only order at a time, cancelled by the OMS on its ack."""
        if self.oms.dry_run_in_flight(sid):
            b.reason("dry run: previous order still in flight")
            return []
        if now_ns - view.last_dry_run_ns < self.cfg.dry_run_interval_ms * 1_000_000:
            return []
        t = dry_run_target(inp, view.dry_run_side)
        if t is None:
            return []
        out = self.oms.place_dry_run(sid, t, now_ns, False, origin_ts_ns, b)
        if out.placed:
            view.last_dry_run_ns = now_ns
            view.dry_run_side = -view.dry_run_side
        res.placed += out.placed
        return [t]

    def _record(self, sid: int, cycle: int, now_ns: int, origin_ts_ns: int, snap: StateSnapshot | None,
                sig: AlphaSignal | None, ctrl: ControlState | None, killed: bool, inventory: float, max_inv: float,
                quote: float, b: DecisionBuilder) -> DecisionRecord:
        s = snap
        return DecisionRecord(
            symbol_id=sid, cycle=cycle, ts_ns=now_ns, origin_ts_ns=origin_ts_ns, policy=self.policy.name,
            snapshot_seq=s.seq if s else -1, signal_seq=sig.seq if sig else -1,
            best_bid=s.best_bid if s else 0.0, best_ask=s.best_ask if s else 0.0, mid_px=s.mid_px if s else 0.0,
            microprice=s.microprice if s else 0.0, spread_bps=s.spread_bps if s else 0.0,
            sigma_ewma=s.sigma_ewma if s else 0.0, sigma_realized_1m=s.sigma_realized_1m if s else 0.0,
            regime=s.regime if s else -1, toxicity=max(s.toxicity if s else 0, sig.toxicity if sig else 0),
            toxic_prob=max(s.toxic_prob if s else 0.0, sig.toxic_prob if sig else 0.0), ofi_500ms=s.ofi_500ms if s else 0.0,
            inventory_qty=inventory, snapshot_inventory_qty=s.inventory if s else 0.0,
            target_inventory_qty=sig.target_inventory if sig else 0.0, safe_target_qty=b.safe_target,
            max_inventory_qty=max_inv, quote_qty=quote,
            control_seq=ctrl.seq if ctrl else -1, safety_level=ctrl.safety_level if ctrl else -1,
            exposure_level=ctrl.exposure_level if ctrl else -1, size_multiplier=ctrl.size_multiplier if ctrl else 0.0,
            spread_multiplier=ctrl.spread_multiplier if ctrl else 1.0,
            control_reduce_only=ctrl.reduce_only if ctrl else False, allowed_sides=ctrl.allowed_sides if ctrl else 0,
            killed=killed, mode=int(b.mode), mode_name=ExecMode(b.mode).name, direction=b.direction,
            timeout_ms=b.timeout_ms, urgency=b.urgency, mode_reason=b.mode_reason, taker_ev_bps=b.taker_ev_bps,
            maker_ev_bps=b.maker_ev_bps, candidates=b.candidates, targets=b.targets, actions=b.actions,
            reasons=b.reasons,
        )
