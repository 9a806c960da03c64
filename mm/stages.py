"""The feature and alpha processes' steps as pure objects, shared by the live process and the replay.

A *stage* is what one pipeline process does with each input it consumes: the feature
process hands market events (md ring) and our order events (ex ring) to one
:class:`~mm.features.queue_rank.QueueRankTracker` and one
:class:`~mm.features.engine.FeatureEngine` per symbol and publishes a ``StateSnapshot``
when one is due (on a material event, or on its timer); the alpha process hands each
snapshot to the :class:`~mm.alpha.engine.AlphaEngine` and applies risk's model weights
(``ControlState.model_weights``). ``procs/feature.py`` and ``procs/alpha.py`` only wire
rings to these objects, and ``mmctl replay --run`` (:mod:`mm.replay.parity`) drives the
very same objects from the run's journals, so live and replay cannot differ in wiring.

Input journal: with ``journal=True`` each stage appends every call that changes its state
to :attr:`inputs` as ``(op, args)``, the arguments exactly as given (each message as
received, with the ``now_ns`` the step used), the same mechanism as the execution engine's
(:data:`mm.execution.engine.INPUT_ARGS`) and risk's (:mod:`mm.recording.journal`);
:data:`FEATURE_INPUTS` and :data:`ALPHA_INPUTS` are the decoding tables. The process writes the drained calls into its run recording
(:class:`mm.recording.run.RunRecorder`); :meth:`FeatureStage.apply_input` /
:meth:`AlphaStage.apply_input` replay one. Pure: no I/O, no clock reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

from mm.alpha.engine import AlphaEngine
from mm.alpha.leadlag import LeadLagParams, decode_params
from mm.features.engine import FeatureEngine
from mm.features.queue_rank import QueueRankConfig, QueueRankTracker
from mm.models.files import ModelReader, decode_by_coin
from mm.models.toxicity import ToxicityModel, decode_model
from mm.recording.journal import InputJournal
from mm.schema import AlphaSignal, AnyMessage, ControlState, StateSnapshot

FEATURE_INPUTS: Final[dict[str, Any]] = {
    "md": tuple[AnyMessage, int],  # a market event from the md ring, the drain's now_ns
    "ex": tuple[AnyMessage, int],  # our OrderEvent / Fill / CycleSummary from the ex ring
    "timer": tuple[int],  # the timer's now_ns (snapshots that are due)
}
"""The feature stage's journaled calls and the msgspec type of their arguments."""

ALPHA_INPUTS: Final[dict[str, Any]] = {
    "on_snapshot": tuple[StateSnapshot, int],  # a snapshot from the snap ring, the drain's now_ns
    "set_model_weights": tuple[dict[str, float]],  # ControlState.model_weights from the ctl ring
}
"""The alpha stage's journaled calls and the msgspec type of their arguments."""

def toxicity_models(symbols: Sequence[str], read: ModelReader) -> tuple[list[ToxicityModel | None], list[str]]:
    """Each coin's fitted toxicity model (None: the prior) and the errors of files that did
    not decode (that coin gets the prior)."""
    models, errors = decode_by_coin(symbols, read, "toxicity", decode_model, "toxicity", "using the prior")
    return [models.get(i) for i in range(len(symbols))], errors


def leadlag_models(symbols: Sequence[str], read: ModelReader) -> tuple[dict[int, LeadLagParams], list[str]]:
    """Each coin's fitted lead-lag file by symbol id (absent: the prior) and decode errors."""
    return decode_by_coin(symbols, read, "leadlag", decode_params, "lead-lag", "using the prior")


class FeatureStage(InputJournal):
    """Market and order events in, StateSnapshots out (the feature process's step)."""

    OPS: ClassVar[dict[str, Any]] = FEATURE_INPUTS

    def __init__(self, toxicity: Sequence[ToxicityModel | None], journal: bool = False) -> None:
        super().__init__(journal)
        self.engines = [FeatureEngine(i, toxicity_model=m) for i, m in enumerate(toxicity)]
        self.trackers = [QueueRankTracker(i, QueueRankConfig()) for i in range(len(self.engines))]
        self.dropped = 0  # messages without a known symbol id

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> StateSnapshot | None:
        """One message from the md or ex ring at ``now_ns``; the snapshot it makes due, if any.
        The snapshot's origin is the event's ``ts_ns`` (md), or ``now_ns`` for our own order
        events and fills (ex): theirs is the origin of the decision that sent the order, maybe
        seconds ago, which would read as pipeline latency downstream."""
        self._j("md" if ring == "md" else "ex", msg, now_ns)
        sid = getattr(msg, "symbol_id", -1)
        if not 0 <= sid < len(self.engines):
            self.dropped += 1
            return None
        origin = getattr(msg, "ts_ns", now_ns) if ring == "md" else now_ns
        eng = self.engines[sid]
        if self.trackers[sid].on_event(msg, now_ns):
            eng.set_queue_ranks(*self.trackers[sid].ranks())
        if eng.on_event(msg, now_ns):
            return eng.snapshot(now_ns, origin)
        return None

    def on_timer(self, now_ns: int) -> list[StateSnapshot]:
        """The snapshots due at ``now_ns`` (symbol order). A timer snapshot originates at the
        timer; data age is in ``book_ts_ns`` etc."""
        self._j("timer", now_ns)
        return [eng.snapshot(now_ns, now_ns) for eng in self.engines if eng.due(now_ns)]

    def apply_input(self, op: str, args: Sequence[Any]) -> list[StateSnapshot]:
        """Replay one journaled call; the snapshots it published."""
        self._check_op(op)
        if op == "timer":
            return self.on_timer(int(args[0]))
        snap = self.on_message(op, args[0], int(args[1]))
        return [] if snap is None else [snap]


class AlphaStage(InputJournal):
    """StateSnapshots and risk's model weights in, AlphaSignals out (the alpha process's step)."""

    OPS: ClassVar[dict[str, Any]] = ALPHA_INPUTS

    def __init__(self, engine: AlphaEngine, journal: bool = False) -> None:
        super().__init__(journal)
        self.engine = engine

    def on_snapshot(self, snap: StateSnapshot, now_ns: int) -> AlphaSignal:
        self._j("on_snapshot", snap, now_ns)
        return self.engine.on_snapshot(snap, now_ns)

    def set_model_weights(self, weights: Mapping[str, float]) -> bool:
        """Apply the validator's weights; True when the effective weights changed."""
        self._j("set_model_weights", dict(weights))
        before = self.engine.weights
        self.engine.set_model_weights(weights)
        return self.engine.weights != before

    def on_control(self, msg: ControlState) -> bool:
        return self.set_model_weights(msg.model_weights)

    def apply_input(self, op: str, args: Sequence[Any]) -> list[AlphaSignal]:
        """Replay one journaled call; the signals it published."""
        self._check_op(op)
        if op == "on_snapshot":
            return [self.on_snapshot(args[0], int(args[1]))]
        self.set_model_weights(args[0])
        return []
