"""Risk's authority: what execution may do, published as ControlState.

Risk is independent of execution and the single authority on how much the system may
trade. This module gathers everything risk knows and turns it into one decision per
control cycle:

- its own position and PnL from our fills (PositionBook), marked at the mid, reconciled
  with the venue's positions (the venue is the truth; differences are reported, adopted,
  and hold the configured safety level while they last);
- limits: drawdown from the equity peak in % of capital, per-symbol notional caps,
  position-at-risk against its budget (mm.risk.limits);
- the SafetyEscalator (mm.risk.escalation), fed those numbers, the validator's degraded
  model count, exchange health, the cascade regime and stale market data;
- the continuous validator's scorecards (mm.validation.scorecard), fed the markouts of
  fills and alpha's lead-lag predictions (mm.validation.signals); its per-model weights go
  out on ControlState (``model_weights``: Retired 0, the signal disabled), which alpha
  applies;
- shadow fills (``ShadowFill``: at Shadow, execution's simulated fills of the active
  policy's would-be quotes): the evidence at Shadow (fills at level, markout edge, the
  quoting model's predicted edge and the toxicity classifier's probability for the
  validator), never a position or PnL; above Shadow they do not count (real fills do);
- the shadow engine (mm.shadow.engine): a paper twin of every live quote (execution's
  OrderEvents), integrated along the mid, gives each live fill its paper edge and each
  quote episode its predicted P(fill); the sim-to-real tracker, the fill calibrator and
  the P(fill) validator (mm.shadow.tracker) take them; order events that are exchange
  failures (rejects, timeouts, 429s) feed exchange health;
- TradingConfidence and the graduation rules over the ExposureController
  (mm.graduation.confidence / exposure): demotion instant, promotion on evidence;
- operator commands forwarded by the supervisor (promote, demote, clear-kill, reinstate),
  each answered with an acknowledgement code.

ControlState = safety effects x exposure: size = safety size multiplier x the held level's
size (placed in its band by the overall confidence); spread = the safety level's; sides and
reduce-only from the safety level (Orange: only the side that reduces inventory; Red and
Kill: none, reduce-only). Entering Kill queues a :class:`KillDecision` for the process to
act on (trip the kill switch, persist, postmortem) and starts the independent cancel watch.

Pure logic: every method that needs time takes ``now_ns`` (monotonic); wall-clock times for
the audit trail are passed in or derived from the last known offset.

Input journal (live/replay parity, :mod:`mm.recording.journal`): with ``journal=True`` every
input call made from outside (:data:`RISK_INPUTS`) is kept with its arguments as given, the
first entry being what the authority started from (:class:`RiskStart`: the start time, the
reloaded histories, the signals' model names and horizons). What the process read from a
clock or the venue enters only as arguments (``wall_ns``, the kill switch state, the venue's
positions, open-order counts), so a fresh authority (:func:`build_authority`) fed the journal
makes every ControlState again (:func:`mm.replay.parity.replay_risk`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import msgspec

from mm.features.config import ToxicityConfig
from mm.graduation.confidence import (
    DemotionSignals,
    GraduationController,
    GraduationStep,
    PromotionEvidence,
    TradingConfidence,
    safety_confidence,
)
from mm.graduation.exposure import ExposureConfig, ExposureController, LevelChange, encode_history
from mm.recording.journal import InputJournal, journaled
from mm.risk.config import EscalationConfig, PromotionConfig, RiskConfig, ShadowConfig, ValidationConfig
from mm.risk.escalation import (
    ExchangeHealth,
    ExchangeHealthMonitor,
    KillAction,
    KillCancelWatch,
    QuoteSides,
    SafetyEscalator,
    SafetyInputs,
    SafetyTransition,
    encode_safety_history,
)
from mm.risk.limits import (
    DrawdownTracker,
    ReconcileReport,
    RiskLimits,
    VenuePosition,
    adopt_venue_positions,
    reconcile,
    sigma_bps_per_sqrt_s,
)
from mm.risk.position import PositionBook
from mm.schema import (
    SIDES_ASK,
    SIDES_BID,
    SIDES_BOTH,
    SIDES_NONE,
    AlphaSignal,
    ControlState,
    ExposureLevel,
    Fill,
    OperatorCommand,
    OrderEvent,
    Regime,
    SafetyLevel,
    ShadowFill,
    StateSnapshot,
)
from mm.shadow.engine import QuoteOutcome, ShadowEngine, exchange_event_kind
from mm.shadow.tracker import (
    FillCalibrator,
    FillProbabilityValidator,
    SimToRealTracker,
    execution_confidence,
)
from mm.validation.scorecard import (
    ContinuousValidator,
    MarkoutBook,
    ModelObservation,
    PendingFill,
    ResolvedFill,
)
from mm.validation.signals import SignalScorer, control_weights

if TYPE_CHECKING:
    from mm.config import Config


class Ack(enum.IntEnum):
    """Outcome of an operator command, written to risk's heartbeat row for the supervisor."""

    ACCEPTED = 1
    REFUSED = 2
    INVALID = 3


TOXICITY_MODEL = "toxicity"
"""The scorecard of the toxicity classifier, scored at shadow fills (:meth:`RiskAuthority.on_shadow_fill`)."""
TOXIC_MOVE_BPS = ToxicityConfig().label_move_bps
"""bps: a shadow fill counts as toxic when the mid moved at least this far against it by its
markout (the classifier's own label threshold)."""
NO_EVIDENCE = "no promotion evidence: the trading-confidence criteria have not been met"
MAX_REASON_CHARS = 480  # ControlState.reason is truncated to fit a ring slot (with model_weights)


class KillDecision(msgspec.Struct, frozen=True, kw_only=True):
    """Risk entered Kill. The process trips the kill switch (unless ``already_tripped``),
    persists its state, writes a postmortem, and runs the independent cancel path."""

    ts_ns: int
    wall_ns: int
    reason: str
    already_tripped: bool = False


class RiskStart(msgspec.Struct, frozen=True, kw_only=True):
    """What an authority started from besides the config (the first entry of its journal; a
    restarted process journals a new one)."""

    start_ns: int
    history: list[LevelChange] | None
    safety_history: list[SafetyTransition] | None
    signal_models: dict[int, str]
    signal_horizon_s: dict[int, float]


RISK_INPUTS: Final[dict[str, Any]] = {
    "start": tuple[RiskStart],
    "on_fill": tuple[Fill],
    "on_shadow_fill": tuple[ShadowFill],
    "on_mark": tuple[int, float, int | None],
    "on_snapshot": tuple[StateSnapshot, int, float],
    "on_sigma": tuple[int, float],
    "on_cascade": tuple[int, bool],
    "on_feed_stale": tuple[int, bool, int, int],
    "on_exchange_event": tuple[str, int],
    "on_connection": tuple[bool, int],
    "on_model_observation": tuple[ModelObservation],
    "on_signal": tuple[AlphaSignal, int],
    "on_order_event": tuple[OrderEvent, int],
    "on_shadow_pair": tuple[float, float, int],
    "on_quote_outcome": tuple[float, float, bool, int, float | None],
    "on_venue_positions": tuple[list[VenuePosition], int],  # the venue's answer, as accepted
    "on_kill_switch": tuple[bool, str, int],  # the shared switch as the process read it
    "on_execution_cancel_confirmed": tuple[int],
    "on_open_orders": tuple[int, int],  # risk's own venue query after a kill
    "kill_action": tuple[int],
    "on_timer": tuple[int, int | None],  # now_ns, the wall clock the process read
    "control_state": tuple[int, int | None],
    "on_command": tuple[OperatorCommand, int],  # the command, the wall clock the process read
    "status": tuple[int],
    "postmortem": tuple[int],
}
"""The authority's journaled calls and the msgspec type of their positional arguments
(``take_kill_decision`` / ``take_dirty`` only hand outputs to the process and are not inputs)."""


class RiskAuthority(InputJournal):
    OPS: ClassVar[dict[str, Any]] = RISK_INPUTS

    def __init__(
        self,
        exposure_cfg: ExposureConfig,
        history: list[LevelChange] | None = None,
        *,
        risk: RiskConfig | None = None,
        escalation: EscalationConfig | None = None,
        promotion: PromotionConfig | None = None,
        validation: ValidationConfig | None = None,
        shadow: ShadowConfig | None = None,
        symbols: list[str] | None = None,
        safety_history: list[SafetyTransition] | None = None,
        start_ns: int = 0,
        signal_models: dict[int, str] | None = None,
        signal_horizon_s: dict[int, float] | None = None,
        journal: bool = False,
    ) -> None:
        """``signal_models`` / ``signal_horizon_s``: per symbol id, the model name and horizon of
        alpha's lead-lag signal (mm.validation.signals); without them signals are not scored.
        ``journal``: keep the input journal (module docstring), starting with a :class:`RiskStart`."""
        super().__init__(journal)
        self._j("start", RiskStart(
            start_ns=start_ns, history=None if history is None else list(history),
            safety_history=None if safety_history is None else list(safety_history),
            signal_models=dict(signal_models or {}), signal_horizon_s=dict(signal_horizon_s or {})))
        self.risk_cfg = risk or RiskConfig()
        self.esc_cfg = escalation or EscalationConfig()
        self.promo_cfg = promotion or PromotionConfig()
        self.val_cfg = validation or ValidationConfig()
        self.shadow_cfg = shadow or ShadowConfig()
        self.symbols = list(symbols or [])

        self.positions = PositionBook()
        self.limits = RiskLimits(self.risk_cfg, self.symbols)
        self.drawdown = DrawdownTracker(self.risk_cfg.capital_usd, self.risk_cfg.peak_window_s, start_ns)
        self.escalator = SafetyEscalator(self.esc_cfg, safety_history, start_ns)
        self.health = ExchangeHealthMonitor(self.esc_cfg)
        self.kill_watch = KillCancelWatch(self.esc_cfg)

        self.exposure = ExposureController(exposure_cfg, history)
        self.confidence = TradingConfidence(self.promo_cfg)
        self.graduation = GraduationController(self.promo_cfg, self.exposure, start_ns)

        self.validator = ContinuousValidator(self.val_cfg)
        self.markouts = MarkoutBook(self.risk_cfg.markout_horizon_s, self.risk_cfg.max_pending_markouts)
        self.sim_to_real = SimToRealTracker(self.shadow_cfg)
        self.fill_calibrator = FillCalibrator(self.shadow_cfg)
        self.pfill = FillProbabilityValidator(self.shadow_cfg)
        self.shadow_engine = ShadowEngine(self.fill_calibrator)
        self.signals = SignalScorer(signal_models or {}, signal_horizon_s or {})

        self.seq = 0
        self.last_reason = "start"
        self.evidence_ok = False
        self.evidence_why = NO_EVIDENCE
        self.last_step: GraduationStep | None = None
        self.last_update_ns = start_ns
        self._wall_offset_ns = 0
        self._stale_since_ns: dict[int, int] = {}
        # Symbols whose feed has reported data (a FeedStale(stale=False): the feed sends one on a
        # symbol's first message and on every recovery, in order with its stale events). Before
        # that a symbol is still starting (nothing can be quoted without a snapshot), not stale:
        # a venue or feed slow to come up must not hold the group in Red for the level's dwell.
        self._live_symbols: set[int] = set()
        self._cascade: set[int] = set()
        self.reconcile_mismatch = False
        self.last_reconcile: ReconcileReport | None = None
        self.reconcile_mismatches = 0
        self.shadow_fills = 0
        self.rejected_shadow_fills = 0
        self.shadow_fills_above_shadow = 0  # arrived while the level was above Shadow: not counted
        self._toxic_prob: dict[int, float] = {}
        self._kill_decisions: list[KillDecision] = []
        self._ks_seen: bool | None = None
        self._dirty: set[str] = set()
        if self.escalator.level == SafetyLevel.KILL:
            # restored in Kill: stay stopped; the process re-asserts the kill switch
            self._kill(f"restored in Kill: {self.escalator.reason}", start_ns, 0, already_tripped=False)

    def apply_input(self, op: str, args: Sequence[Any]) -> Any:
        """Replay one journaled call (``op`` one of :data:`RISK_INPUTS`); what it returned.
        A ``start`` entry begins a new authority (:func:`build_authority`)."""
        self._check_op(op)
        if op == "start":
            raise ValueError("journal: a start entry begins a new authority, not a call")
        return getattr(self, op)(*args)

    # ------------------------------------------------------------------ inputs

    @property
    def safety(self) -> SafetyLevel:
        return self.escalator.level

    @journaled
    def on_fill(
        self,
        fill: Fill,
        *,
        shadow: bool = False,
        predicted_edge_bps: float | None = None,
        paper_edge_bps: float | None = None,
        toxic_prob: float | None = None,
    ) -> bool:
        """One of our fills (``shadow``: a paper fill of the shadow engine, which changes no
        position but counts as evidence in Shadow). ``predicted_edge_bps``: the quoting
        model's expected edge of this fill (feeds its scorecard); ``paper_edge_bps``: what the
        paper fill model gave the same quote (feeds the sim-to-real gap)."""
        if shadow:
            if fill.side not in (1, -1) or not (fill.px > 0.0 and fill.qty > 0.0) or not math.isfinite(
                fill.px * fill.qty + fill.fee
            ):
                self.rejected_shadow_fills += 1
                return False
            self.shadow_fills += 1
            if self.exposure.level != ExposureLevel.SHADOW:
                self.shadow_fills_above_shadow += 1
        elif not self.positions.apply_fill(fill.symbol_id, fill.side, fill.px, fill.qty, fill.fee):
            return False
        elif paper_edge_bps is None:
            paper_edge_bps = self.shadow_engine.paper_edge_bps(fill)
        epoch = self.graduation.on_fill(shadow)
        notional = fill.px * fill.qty
        self.markouts.add(PendingFill(
            symbol_id=fill.symbol_id, ts_ns=fill.ts_ns, side=fill.side, px=fill.px,
            fee_bps=fill.fee / notional * 1e4, level=int(self.exposure.level),
            epoch=-1 if epoch is None else epoch, counts=epoch is not None, shadow=shadow,
            predicted_edge_bps=predicted_edge_bps, paper_edge_bps=paper_edge_bps,
            toxic_prob=toxic_prob, mid_px=fill.mid_px if fill.mid_px > 0.0 and math.isfinite(fill.mid_px) else 0.0,
        ))
        self.validator.note_fills(1, fill.ts_ns)
        return True

    @journaled
    def on_shadow_fill(self, sf: ShadowFill) -> bool:
        """A simulated fill of the active policy's would-be quote (execution makes them at
        Shadow only): evidence at Shadow (a fill at the level, its markout edge, the quote's
        predicted edge for the quoting model's scorecard, the toxicity classifier's latest
        probability of the symbol for its scorecard), never position or PnL. One arriving
        once the level is above Shadow is not credited (counted in
        ``shadow_fills_above_shadow``). False if malformed (counted)."""
        pred = sf.predicted_edge_bps if math.isfinite(sf.predicted_edge_bps) else None
        tox = self._toxic_prob.get(sf.symbol_id)
        fill = Fill(symbol_id=sf.symbol_id, ts_ns=sf.ts_ns, origin_ts_ns=sf.origin_ts_ns, remote_ts_ms=0, cloid="",
                    oid=0, trade_id=0, side=sf.side, px=sf.px, qty=sf.qty, fee=sf.fee, is_maker=sf.is_maker,
                    mid_px=sf.mid_px)
        return self.on_fill(fill, shadow=True, predicted_edge_bps=pred, toxic_prob=tox)

    @journaled
    def on_mark(self, symbol_id: int, mid_px: float, now_ns: int | None = None) -> None:
        """The mid of a symbol. With ``now_ns``, fills whose markout horizon has passed resolve."""
        self.positions.mark(symbol_id, mid_px)
        if now_ns is not None:
            self.shadow_engine.on_mark(symbol_id, mid_px, now_ns)
            for r in self.markouts.on_mark(symbol_id, mid_px, now_ns):
                self._on_markout(r, now_ns)
            for obs in self.signals.on_mark(symbol_id, mid_px, now_ns):
                self.on_model_observation(obs)

    @journaled
    def on_snapshot(self, snap: StateSnapshot, now_ns: int, sigma_sample_ms: float = 100.0) -> None:
        """A feature snapshot: mark, volatility (``sigma_ewma`` on a ``sigma_sample_ms`` grid)
        and the cascade regime."""
        self.on_mark(snap.symbol_id, snap.mid_px, now_ns)
        if math.isfinite(snap.toxic_prob) and 0.0 <= snap.toxic_prob <= 1.0:
            self._toxic_prob[snap.symbol_id] = snap.toxic_prob
        sig = sigma_bps_per_sqrt_s(snap.sigma_ewma, sigma_sample_ms)
        if math.isfinite(sig) and sig > 0.0:
            self.limits.set_sigma(snap.symbol_id, sig)
        if snap.regime == Regime.CASCADE:
            self._cascade.add(snap.symbol_id)
        else:
            self._cascade.discard(snap.symbol_id)

    @journaled
    def on_sigma(self, symbol_id: int, sigma_bps_per_s: float) -> None:
        """A symbol's volatility in bps per sqrt(s), for the position-at-risk."""
        self.limits.set_sigma(symbol_id, sigma_bps_per_s)

    @journaled
    def on_cascade(self, symbol_id: int, active: bool) -> None:
        if active:
            self._cascade.add(symbol_id)
        else:
            self._cascade.discard(symbol_id)

    @journaled
    def on_feed_stale(self, symbol_id: int, stale: bool, silent_ns: int, now_ns: int) -> None:
        """FeedStale: the symbol's market data has been silent ``silent_ns`` (or recovered)."""
        if stale:
            since = now_ns - max(silent_ns, 0)
            self._stale_since_ns[symbol_id] = min(self._stale_since_ns.get(symbol_id, since), since)
        else:
            self._stale_since_ns.pop(symbol_id, None)
            self._live_symbols.add(symbol_id)

    def has_data(self, symbol_id: int) -> bool:
        """Whether the symbol's feed has reported data (its staleness counts from then on)."""
        return symbol_id in self._live_symbols

    @journaled
    def on_exchange_event(self, kind: str, now_ns: int) -> None:
        """A reconnect, 429, reject or order timeout seen by execution or the feed."""
        self.health.on_event(kind, now_ns)

    @journaled
    def on_connection(self, connected: bool, now_ns: int) -> None:
        self.health.set_connected(connected, now_ns)

    @journaled
    def on_model_observation(self, obs: ModelObservation) -> bool:
        """One resolved prediction of a model; counts towards the next evaluation."""
        if not self.validator.observe(obs):
            return False
        self.validator.note_observations(1, obs.ts_ns)
        return True

    @journaled
    def on_signal(self, sig: AlphaSignal, now_ns: int) -> bool:
        """Alpha's signal: its lead-lag prediction is scored once its horizon has passed."""
        return self.signals.on_signal(sig.symbol_id, sig.lead_lag_skew_bps, sig.model_weight, now_ns)

    @journaled
    def on_order_event(self, ev: OrderEvent, now_ns: int) -> list[QuoteOutcome]:
        """One of execution's order events: the live quotes the shadow engine twins, and
        exchange failures for exchange health."""
        kind = exchange_event_kind(ev)
        if kind is not None:
            self.health.on_event(kind, now_ns)
        outcomes = self.shadow_engine.on_order_event(ev, now_ns)
        for o in outcomes:
            self.on_quote_outcome(o.distance_bps, o.exposure_s, o.filled, now_ns, o.predicted_p_fill)
        return outcomes

    @journaled
    def on_shadow_pair(self, paper_edge_bps: float, live_edge_bps: float, now_ns: int) -> bool:
        return self.sim_to_real.observe(paper_edge_bps, live_edge_bps, now_ns)

    @journaled
    def on_quote_outcome(
        self, distance_bps: float, exposure_s: float, filled: bool, now_ns: int,
        predicted_p_fill: float | None = None,
    ) -> None:
        """A quote episode ended (filled or cancelled): fill calibration and P(fill) validation."""
        self.fill_calibrator.observe(distance_bps, exposure_s, filled, now_ns, predicted_p_fill)
        if predicted_p_fill is not None:
            self.pfill.observe(predicted_p_fill, filled)

    @journaled
    def on_venue_positions(self, venue: list[VenuePosition], now_ns: int) -> ReconcileReport:
        """The venue's positions (clearinghouseState): compare, report, adopt the venue's."""
        rep = reconcile(self.positions, venue, self.limits, self.risk_cfg.reconcile_tol_usd, now_ns)
        self.last_reconcile = rep
        self.reconcile_mismatch = not rep.ok
        if not rep.ok:
            self.reconcile_mismatches += len(rep.diffs)
            adopt_venue_positions(self.positions, rep, venue)
        return rep

    @journaled
    def on_kill_switch(self, tripped: bool, reason: str, now_ns: int) -> None:
        """The shared kill switch's state as read by the process, every loop.

        Tripped (by anyone) while risk is not in Kill: enter Kill (the decision says the switch
        is already tripped) and start the cancel watch. A reset (a tripped -> not tripped
        transition seen here) while in Kill: the operator's clear, Kill -> Red. Only the
        transition counts, so a process restored in Kill is not cleared by a switch that it
        has not tripped yet.
        """
        prev, self._ks_seen = self._ks_seen, tripped
        if tripped and self.escalator.level != SafetyLevel.KILL:
            tr = self.escalator.escalate_to(SafetyLevel.KILL, f"kill switch tripped: {reason}", now_ns,
                                            self._wall(now_ns))
            if tr is not None:
                self._dirty.add("safety")
                self._kill(tr.reason, now_ns, self._wall(now_ns), already_tripped=True)
                self._update(now_ns, None)
        elif not tripped and prev is True and self.escalator.level == SafetyLevel.KILL:
            if self.escalator.clear_kill("operator", "kill switch reset", now_ns, self._wall(now_ns)) is not None:
                self._dirty.add("safety")
                self.kill_watch.reset()

    @journaled
    def on_execution_cancel_confirmed(self, now_ns: int) -> None:
        """Execution reports it has cancelled everything after the kill switch tripped."""
        self.kill_watch.on_execution_confirmed(now_ns)

    @journaled
    def on_open_orders(self, count: int, now_ns: int) -> None:
        """Risk's own query of the venue's open orders (after a kill)."""
        self.kill_watch.on_open_orders(count, now_ns)

    @journaled
    def kill_action(self, now_ns: int) -> KillAction:
        """What the independent kill path must do now (CANCEL_ALL: through risk's own
        venue connection, then query open orders and report them with on_open_orders)."""
        return self.kill_watch.poll(now_ns)

    # ------------------------------------------------------------------ the cycle

    @journaled
    def on_timer(self, now_ns: int, wall_ns: int | None = None) -> None:
        """Run one control cycle's evaluation (control_state also does)."""
        self._update(now_ns, wall_ns)

    @journaled
    def control_state(self, now_ns: int, wall_ns: int | None = None) -> ControlState:
        self._update(now_ns, wall_ns)
        self.seq += 1
        eff = self.escalator.effects()
        size = eff.size_multiplier * self.confidence.size_multiplier(self.exposure)
        if eff.sides == QuoteSides.BOTH:
            sides = SIDES_BOTH
        elif eff.sides == QuoteSides.REDUCING:
            sides = self.reducing_sides()
        else:
            sides = SIDES_NONE
        # the last exposure message first: the supervisor reports it as a command's answer
        reason = f"{self.last_reason} | safety {self.escalator.level.name}: {self.escalator.reason}"
        return ControlState(
            ts_ns=now_ns,
            seq=self.seq,
            safety_level=int(self.escalator.level),
            exposure_level=int(self.exposure.level),
            size_multiplier=size,
            spread_multiplier=eff.spread_multiplier,
            reduce_only=eff.reduce_only,
            allowed_sides=sides,
            reason=reason[:MAX_REASON_CHARS],
            model_weights=control_weights(self.validator.weights()),
        )

    def reducing_sides(self) -> int:
        """Sides that reduce inventory: asks if every open position is long, bids if every one
        is short, both (reduce-only applies per symbol) if mixed, none if flat."""
        signs = {1 if p.qty > 0 else -1 for p in self.positions.positions.values() if p.qty != 0.0}
        if not signs:
            return SIDES_NONE
        if signs == {1}:
            return SIDES_ASK
        if signs == {-1}:
            return SIDES_BID
        return SIDES_BOTH

    def symbol_sides(self, symbol_id: int) -> int:
        """Allowed sides for one symbol under the current safety level."""
        eff = self.escalator.effects()
        if eff.sides == QuoteSides.BOTH:
            return SIDES_BOTH
        if eff.sides == QuoteSides.NONE:
            return SIDES_NONE
        q = self.positions.get(symbol_id).qty
        return SIDES_ASK if q > 0 else (SIDES_BID if q < 0 else SIDES_NONE)

    def safety_inputs(self, now_ns: int) -> SafetyInputs:
        stale_s = max(((now_ns - t) / 1e9 for s, t in self._stale_since_ns.items() if s in self._live_symbols),
                      default=0.0)
        return SafetyInputs(
            drawdown_pct=self.drawdown.drawdown_pct(),
            degraded_models=len(self.validator.degraded_models()),
            position_share=self.limits.position_share(self.positions),
            par_share=self.limits.par_share(self.positions),
            cascade=bool(self._cascade),
            exchange_health=int(self.health.health(now_ns)),
            stale_data_s=max(stale_s, 0.0),
            reconcile_mismatch=self.reconcile_mismatch,
        )

    def _wall(self, now_ns: int) -> int:
        return now_ns + self._wall_offset_ns if self._wall_offset_ns else 0

    def _update(self, now_ns: int, wall_ns: int | None) -> None:
        if wall_ns:
            self._wall_offset_ns = wall_ns - now_ns
        wall = self._wall(now_ns)
        self.last_update_ns = now_ns
        equity = self.risk_cfg.capital_usd + self.positions.total_pnl()
        dd = self.drawdown.update(equity, now_ns)
        inputs = self.safety_inputs(now_ns)
        tr = self.escalator.update(inputs, now_ns, wall)
        if tr is not None:
            self._dirty.add("safety")
            if tr.to_level == SafetyLevel.KILL:
                self._kill(tr.reason, now_ns, wall, already_tripped=False)
        health = ExchangeHealth(inputs.exchange_health)
        gap = self.sim_to_real.gap_bps
        comps = self.confidence.update(
            self.validator.model_confidence(),
            execution_confidence(gap, health, self.shadow_cfg),
            safety_confidence(self.escalator.level, dd, self.esc_cfg.kill_drawdown_pct,
                              self.promo_cfg.safety_level_factors),
        )
        degraded = set(self.validator.degraded_models()) | set(self.validator.retired_models())
        for name, card in self.validator.cards.items():
            ir = card.information_ratio
            if self.validator.enabled(name) and ir is not None and ir < self.promo_cfg.model_degraded_ir:
                degraded.add(name)
        ev = PromotionEvidence(
            brier=self.validator.worst_brier(), information_ratio=self.validator.lowest_ir(),
            sim_to_real_gap_bps=gap, drawdown_pct=dd, safety_level=int(self.escalator.level),
            overall_confidence=comps.overall,
        )
        sig = DemotionSignals(drawdown_pct=dd, safety_level=int(self.escalator.level),
                              degraded_models=sorted(degraded), sim_to_real_gap_bps=gap,
                              exchange_health=int(health))
        step = self.graduation.step(ev, sig, now_ns, wall)
        self.last_step = step
        if step.demoted is not None and step.demoted.accepted:
            self._dirty.add("exposure")
            self.last_reason = f"{step.demoted.message}: {self.graduation.last_demotion_reason}"
        if step.promoted is not None and step.promoted.accepted:
            self._dirty.add("exposure")
            self.last_reason = step.promoted.message + " (criteria held for the dwell)"
        self.evidence_ok = step.evidence_ok
        self.evidence_why = step.evidence_why if not step.evidence_ok else ""

    def _on_markout(self, r: ResolvedFill, now_ns: int) -> None:
        f = r.fill
        if f.counts:
            self.graduation.on_markout(f.epoch, r.edge_bps)
        if f.predicted_edge_bps is not None:
            self.validator.observe(ModelObservation(model=self.val_cfg.fill_model_name, ts_ns=now_ns,
                                                    predicted_bps=f.predicted_edge_bps, realized_bps=r.edge_bps))
        if f.paper_edge_bps is not None and not f.shadow:
            self.sim_to_real.observe(f.paper_edge_bps, r.edge_bps, now_ns)
        if f.toxic_prob is not None and f.mid_px > 0.0 and r.mid_px > 0.0:
            against_bps = -f.side * (r.mid_px - f.mid_px) / f.mid_px * 1e4
            self.validator.observe(ModelObservation(model=TOXICITY_MODEL, ts_ns=now_ns, prob=f.toxic_prob,
                                                    outcome=against_bps >= TOXIC_MOVE_BPS))

    def _kill(self, reason: str, now_ns: int, wall_ns: int, already_tripped: bool) -> None:
        self._kill_decisions.append(KillDecision(ts_ns=now_ns, wall_ns=wall_ns, reason=reason,
                                                 already_tripped=already_tripped))
        self.kill_watch.trip(reason, now_ns)

    # ------------------------------------------------------------------ outputs for the process

    def take_kill_decision(self) -> KillDecision | None:
        """The oldest unhandled kill decision (each is returned once)."""
        return self._kill_decisions.pop(0) if self._kill_decisions else None

    def take_dirty(self) -> set[str]:
        """What changed since the last call and must be persisted: "exposure", "safety"."""
        d, self._dirty = self._dirty, set()
        return d

    def exposure_history_bytes(self) -> bytes:
        return encode_history(self.exposure.history)

    def safety_history_bytes(self) -> bytes:
        return encode_safety_history(self.escalator.history)

    # ------------------------------------------------------------------ operator commands

    @journaled
    def on_command(self, cmd: OperatorCommand, wall_ns: int) -> tuple[Ack, str]:
        who = cmd.who or "operator"
        if cmd.ts_ns >= self.last_update_ns:
            self._update(cmd.ts_ns, wall_ns if cmd.ts_ns > 0 else None)  # fresh evidence for the decision
        if cmd.verb == "promote":
            d = self.exposure.promote(
                self.evidence_ok, self.evidence_why or NO_EVIDENCE, who, cmd.reason, cmd.force, cmd.ts_ns, wall_ns
            )
        elif cmd.verb == "demote":
            to: ExposureLevel | None = None
            if cmd.arg:
                key = cmd.arg.upper().replace("-", "_")
                if key not in ExposureLevel.__members__:
                    return Ack.INVALID, f"unknown level {cmd.arg!r}; one of {list(ExposureLevel.__members__)}"
                to = ExposureLevel[key]
            d = self.exposure.demote(to, who, cmd.reason, cmd.ts_ns, wall_ns)
        elif cmd.verb == "clear-kill":
            tr = self.escalator.clear_kill(who, cmd.reason or "no reason given", cmd.ts_ns, wall_ns)
            if tr is None:
                return Ack.REFUSED, f"safety is {self.escalator.level.name}, not KILL"
            self._dirty.add("safety")
            self.kill_watch.reset()
            return Ack.ACCEPTED, "Kill cleared to RED (de-escalation continues by the usual rules)"
        elif cmd.verb == "reinstate":
            if not self.validator.reinstate(cmd.arg, cmd.ts_ns):
                return Ack.REFUSED, f"model {cmd.arg!r} is not retired"
            return Ack.ACCEPTED, f"model {cmd.arg} reinstated (warming)"
        else:
            return Ack.INVALID, f"unknown verb {cmd.verb!r}"
        self._dirty.add("exposure")
        self.last_reason = d.message
        return (Ack.ACCEPTED if d.accepted else Ack.REFUSED), d.message

    # ------------------------------------------------------------------ status

    @journaled
    def status(self, now_ns: int) -> dict[str, object]:
        """Everything `mmctl status` shows for risk (JSON-serialisable)."""
        c = self.confidence.components
        risks = self.limits.all_risk(self.positions)
        return {
            "safety": self.escalator.status(now_ns),
            "exposure": {
                **self.graduation.status(now_ns),
                "size_multiplier": self.confidence.size_multiplier(self.exposure),
                "evidence_ok": self.evidence_ok,
                "evidence_why": self.evidence_why,
                "auto_promote": self.promo_cfg.auto_promote,
                "max_auto_level": self.promo_cfg.max_auto_level,
                "recent": [
                    {"ts_ns": h.ts_ns, "wall_ns": h.wall_ns, "from": ExposureLevel(h.from_level).name,
                     "to": ExposureLevel(h.to_level).name, "kind": h.kind, "who": h.who, "reason": h.reason,
                     "forced": h.forced}
                    for h in self.exposure.history[-5:]
                ],
            },
            "confidence": {
                "model": round(c.model, 4),
                "execution": round(c.execution, 4),
                "safety": round(c.safety, 4),
                "overall": round(c.overall, 4),
                "implied_level": ExposureLevel(c.implied_level).name,
            },
            "pnl": {
                "capital_usd": self.risk_cfg.capital_usd,
                "equity_usd": self.drawdown.equity_usd,
                "peak_usd": self.drawdown.peak_usd,
                "drawdown_pct": self.drawdown.drawdown_pct(),
                "max_drawdown_pct": self.drawdown.max_drawdown_pct,
                "total_pnl_usd": self.positions.total_pnl(),
                "rejected_fills": self.positions.rejected_fills,
                "shadow_fills": self.shadow_fills,
                "shadow_fills_above_shadow": self.shadow_fills_above_shadow,
                "rejected_shadow_fills": self.rejected_shadow_fills,
            },
            "limits": {
                "position_share": self.limits.position_share(self.positions),
                "par_usd": sum(r.par_usd for r in risks),
                "par_budget_usd": self.limits.par_budget_usd(),
                "symbols": [msgspec.to_builtins(r) for r in risks],
            },
            "reconcile": {
                "mismatch": self.reconcile_mismatch,
                "mismatches_total": self.reconcile_mismatches,
                "last": None if self.last_reconcile is None else msgspec.to_builtins(self.last_reconcile),
            },
            "exchange_health": self.health.health(now_ns).name,
            "stale_symbols": sorted(s for s in self._stale_since_ns if s in self._live_symbols),
            "awaiting_first_data": sorted(s for s in self._stale_since_ns if s not in self._live_symbols),
            "cascade_symbols": sorted(self._cascade),
            "validation": self.validator.status(),
            "shadow": {
                **self.sim_to_real.status(),
                "fill_model": msgspec.to_builtins(self.fill_calibrator.params),
                "fill_buckets": self.fill_calibrator.table(),
                "p_fill_calibration_error": self.pfill.calibration_error(),
                "p_fill_table": self.pfill.table(),
                "engine": self.shadow_engine.status(),
                "execution_confidence": round(c.execution, 4),
            },
            "signals": self.signals.status(),
            "markouts": {"pending": self.markouts.pending(), "dropped": self.markouts.dropped},
            "kill": self.kill_watch.status(),
        }

    @journaled
    def postmortem(self, now_ns: int) -> dict[str, object]:
        """status() plus the full transition histories, for the Kill postmortem dump."""
        return {
            **self.status(now_ns),
            "safety_history": [msgspec.to_builtins(t) for t in self.escalator.history],
            "exposure_history": [msgspec.to_builtins(h) for h in self.exposure.history],
            "verdict_changes": [msgspec.to_builtins(v) for v in self.validator.changes],
        }


def build_authority(cfg: Config, start: RiskStart, journal: bool = False) -> RiskAuthority:
    """The authority as the risk process builds it: the config's sections and ``start``."""
    return RiskAuthority(
        cfg.exposure, start.history, risk=cfg.risk, escalation=cfg.escalation, promotion=cfg.promotion,
        validation=cfg.validation, shadow=cfg.shadow, symbols=list(cfg.run.symbols),
        safety_history=start.safety_history, start_ns=start.start_ns, signal_models=start.signal_models,
        signal_horizon_s=start.signal_horizon_s, journal=journal,
    )

