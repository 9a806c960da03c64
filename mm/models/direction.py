"""Short-horizon direction model (issue 17): P(a passive fill is adverse at the markout | state).

What this module owns: the probability that a passive order on side ``s`` (+1 bid, -1 ask)
at ``px`` with queue rank ``rank_frac``, *if filled*, is marked adverse ``markout_s``
(default 5 s) after the fill: the replay report's adverse-selection label,

    adverse  <=>  s * (mid(t_fill + markout_s) - px) / px < 0

i.e. the mid moved through the fill price within the markout (a fill at the touch of a
one-tick book with the mid unchanged 5 s later is *not* adverse: it earned the half
spread). The features are the queue value's (:func:`mm.models.queue_value.qv_features`,
oriented per side: imbalance, microprice offset, OFI over 500 ms and 2 s, signed trade
run, VWAP direction, half spread, sigma, regime and toxicity probabilities, the lead,
queue rank and their products), so the model sees exactly what the state snapshot carries
live. Logistic, numpy-free at prediction time (one dot product), deterministic.

The file also carries ``threshold``: the probability above which the state machine's gate
(:func:`mm.execution.state_machine.direction_gate`) withdraws a passive quote, chosen on a
time-ordered hold-out of the training rows (:func:`mm.models.train.fit_direction`).

Model file: msgspec JSON ``{"format": "mm.direction", "version": 1, ...}``
(:class:`DirectionParams`); :func:`decode_params` validates format, version, feature names
and finiteness. Fitting is in :mod:`mm.models.train`. Pure logic.
"""

from __future__ import annotations

import math
from typing import Final

import msgspec

from mm.models.queue_value import N_QV_FEATURES, QV_FEATURES, qv_features
from mm.schema import StateSnapshot

MODEL_FORMAT: Final = "mm.direction"
MODEL_VERSION: Final = 1
DIRECTION_FEATURES: Final[tuple[str, ...]] = QV_FEATURES
N_DIRECTION_FEATURES: Final = N_QV_FEATURES


class DirectionParams(msgspec.Struct, frozen=True, kw_only=True):
    """The saved model: ``P(adverse) = 1 / (1 + exp(-(intercept + coef . x)))``, x in raw
    feature units (:data:`DIRECTION_FEATURES`).

    Fields:
        symbol: the coin it was fitted on.
        qty_scale: base qty that normalises OFI in the features (the typical touch size).
        markout_s: s, the markout of the adverse label.
        feature_names: :data:`DIRECTION_FEATURES`.
        intercept, coef: the logistic's parameters (raw units).
        threshold: probability above which the gate withdraws a quote, in (0, 1]
            (1 = the hold-out found no threshold that raised the kept fills' markout).
        metrics: finite test figures (Brier, AUC, ...) for the record.
        trained_on: what data it was fitted on.
    """

    format: str = MODEL_FORMAT
    version: int = MODEL_VERSION
    symbol: str
    qty_scale: float
    markout_s: float
    feature_names: list[str]
    intercept: float
    coef: list[float]
    threshold: float
    metrics: dict[str, float] = {}
    trained_on: str = ""


def encode_params(params: DirectionParams) -> bytes:
    return msgspec.json.encode(params)


def validate_params(p: DirectionParams) -> None:
    """ValueError naming the bad field."""
    if p.format != MODEL_FORMAT:
        raise ValueError(f"format: expected {MODEL_FORMAT!r}, got {p.format!r}")
    if p.version != MODEL_VERSION:
        raise ValueError(f"version: expected {MODEL_VERSION}, got {p.version}")
    if tuple(p.feature_names) != DIRECTION_FEATURES:
        raise ValueError(f"feature_names: expected {list(DIRECTION_FEATURES)}, got {p.feature_names}")
    if len(p.coef) != N_DIRECTION_FEATURES:
        raise ValueError(f"coef: expected {N_DIRECTION_FEATURES} values, got {len(p.coef)}")
    if not all(math.isfinite(c) for c in p.coef) or not math.isfinite(p.intercept):
        raise ValueError("coef/intercept: must be finite")
    if not (p.qty_scale > 0.0 and math.isfinite(p.qty_scale)):
        raise ValueError("qty_scale: must be finite and > 0")
    if not (p.markout_s > 0.0 and math.isfinite(p.markout_s)):
        raise ValueError("markout_s: must be finite and > 0")
    if not 0.0 < p.threshold <= 1.0:
        raise ValueError(f"threshold: must be in (0, 1], got {p.threshold!r}")


def decode_params(data: bytes) -> DirectionParams:
    """Parse and validate a model file's bytes; ValueError names the bad field."""
    try:
        p = msgspec.json.decode(data, type=DirectionParams)
    except msgspec.DecodeError as exc:
        raise ValueError(f"direction model: {exc}") from exc
    validate_params(p)
    return p


def _sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-min(z, 30.0)))
    e = math.exp(max(z, -30.0))
    return e / (1.0 + e)


class DirectionModel:
    """``adverse_prob(side, px, rank_frac, snap)`` in [0, 1]; ``threshold`` from the file."""

    __slots__ = ("_b0", "_w", "params", "qty_scale", "threshold")

    def __init__(self, params: DirectionParams) -> None:
        validate_params(params)
        self.params = params
        self.qty_scale = params.qty_scale
        self.threshold = params.threshold
        self._b0 = params.intercept
        self._w = list(params.coef)

    @classmethod
    def from_bytes(cls, data: bytes) -> DirectionModel:
        return cls(decode_params(data))

    def predict(self, x: list[float]) -> float:
        """P(adverse) of a feature vector (:data:`DIRECTION_FEATURES` order)."""
        z = self._b0
        w = self._w
        for i in range(N_DIRECTION_FEATURES):
            z += w[i] * x[i]
        return _sigmoid(z)

    def adverse_prob(self, side: int, px: float, rank_frac: float, snap: StateSnapshot) -> float:
        """P(a fill of this order is adverse at the markout); 1.0 without a mid or a finite
        price (an unknown book is treated as the worst case)."""
        if not (0.0 < snap.mid_px < math.inf and math.isfinite(px)):
            return 1.0
        return self.predict(qv_features(snap, side, px, rank_frac, self.qty_scale))
