"""Scoring alpha's signals live, and the weights that go back to alpha.

The continuous validator (mm.validation.scorecard) scores models from observations; this
module makes observations of alpha's lead-lag signal and defines how the validator's
verdicts travel back:

- :class:`SignalScorer`: an AlphaSignal's ``lead_lag_skew_bps`` is the expected move of the
  symbol's mid over the signal's horizon (+ = up). When a symbol's skew is non-zero and no
  prediction of it is pending, the (raw, unweighted) skew and the mid are taken; the first
  mark at or after ``horizon_s`` resolves it with the realised move (mid_after - mid) / mid
  in bps. Predictions do not overlap, so the window's observations are not the same move
  counted many times. Each resolution is one ``ModelObservation`` of the symbol's model.
- :func:`leadlag_model_name`: the model name of a symbol's lead-lag signal
  (``leadlag.<COIN>``), shared by risk (which scores it) and alpha (which weights it).
- :func:`control_weights`: the validator's per-model weights as ControlState carries them to
  alpha and execution: Healthy 1, Degraded 0.05-0.5, Warming the warming weight, Retired 0
  (signal disabled), at most ``max_models`` entries (retired ones first, so a retirement is
  never the entry left out), names cut to ``MAX_NAME_CHARS``.

Pure logic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from mm.validation.scorecard import ModelObservation

MAX_CONTROL_MODELS = 8
MAX_NAME_CHARS = 24


def leadlag_model_name(coin: str) -> str:
    return f"leadlag.{coin}"[:MAX_NAME_CHARS]


def control_weights(weights: Mapping[str, float], max_models: int = MAX_CONTROL_MODELS) -> dict[str, float]:
    """The weights ControlState carries (module docstring); non-finite weights are sent as 0."""
    clean = {n[:MAX_NAME_CHARS]: (min(max(w, 0.0), 1.0) if math.isfinite(w) else 0.0) for n, w in weights.items()}
    order = sorted(clean, key=lambda n: (clean[n], n))  # lowest weight (retired) first
    return {n: round(clean[n], 4) for n in order[:max_models]}


class _Pending(msgspec.Struct, frozen=True):
    ts_ns: int
    mid_px: float
    predicted_bps: float


class SignalScorer:
    """Lead-lag predictions -> ModelObservations (module docstring)."""

    def __init__(self, model_names: Mapping[int, str], horizon_s: Mapping[int, float]) -> None:
        self.model_names = dict(model_names)
        self.horizon_ns = {sid: int(h * 1e9) for sid, h in horizon_s.items() if h > 0.0 and math.isfinite(h)}
        self._pending: dict[int, _Pending] = {}
        self._mid: dict[int, float] = {}
        self.taken = 0
        self.resolved = 0
        self.ignored = 0

    def on_signal(self, symbol_id: int, skew_bps: float, weight: float, now_ns: int) -> bool:
        """A lead-lag skew as alpha published it with the weight it applied; the raw skew is
        skew / weight (a weight of 0 leaves nothing to score). True when taken."""
        name = self.model_names.get(symbol_id)
        if name is None or symbol_id not in self.horizon_ns or symbol_id in self._pending:
            return False
        if skew_bps == 0.0 or not (weight > 0.0 and math.isfinite(skew_bps) and math.isfinite(weight)):
            return False
        mid = self._mid.get(symbol_id)
        if mid is None:
            self.ignored += 1
            return False
        self._pending[symbol_id] = _Pending(now_ns, mid, skew_bps / weight)
        self.taken += 1
        return True

    def on_mark(self, symbol_id: int, mid_px: float, now_ns: int) -> list[ModelObservation]:
        if not (mid_px > 0.0 and math.isfinite(mid_px)):
            return []
        self._mid[symbol_id] = mid_px
        p = self._pending.get(symbol_id)
        if p is None or now_ns < p.ts_ns + self.horizon_ns[symbol_id]:
            return []
        del self._pending[symbol_id]
        self.resolved += 1
        realized = (mid_px - p.mid_px) / p.mid_px * 1e4
        return [ModelObservation(model=self.model_names[symbol_id], ts_ns=now_ns, predicted_bps=p.predicted_bps,
                                 realized_bps=realized)]

    def status(self) -> dict[str, object]:
        return {"taken": self.taken, "resolved": self.resolved, "pending": len(self._pending)}
