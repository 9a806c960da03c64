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
and finiteness (the checks of every linear model over the queue value's features,
:func:`mm.models.queue_value.validate_linear`) and the threshold. The model is a
:class:`mm.models.queue_value.LinearModel` with a sigmoid on top. Fitting is in
:mod:`mm.models.train`. Pure logic.
"""

from __future__ import annotations

import math
from typing import Final

import msgspec

from mm.models.queue_value import (
    N_QV_FEATURES,
    QV_FEATURES,
    LinearModel,
    decode_linear,
    qv_features,
    validate_linear,
)
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
    """ValueError naming the bad field (:func:`mm.models.queue_value.validate_linear`, then
    ``threshold``)."""
    validate_linear(p, MODEL_FORMAT, MODEL_VERSION)
    if not 0.0 < p.threshold <= 1.0:
        raise ValueError(f"threshold: must be in (0, 1], got {p.threshold!r}")


def decode_params(data: bytes) -> DirectionParams:
    """Parse and validate a model file's bytes; ValueError names the bad field."""
    return decode_linear(data, DirectionParams, "direction model", validate_params)


def _sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-min(z, 30.0)))
    e = math.exp(max(z, -30.0))
    return e / (1.0 + e)


class DirectionModel(LinearModel):
    """``adverse_prob(side, px, rank_frac, snap)`` in [0, 1]; ``threshold`` from the file."""

    __slots__ = ("params", "threshold")

    def __init__(self, params: DirectionParams) -> None:
        validate_params(params)
        super().__init__(params)
        self.params = params
        self.threshold = params.threshold

    @classmethod
    def from_bytes(cls, data: bytes) -> DirectionModel:
        return cls(decode_params(data))

    def predict(self, x: list[float]) -> float:
        """P(adverse) of a feature vector (:data:`DIRECTION_FEATURES` order)."""
        return _sigmoid(self.linear(x))

    def adverse_prob(self, side: int, px: float, rank_frac: float, snap: StateSnapshot) -> float:
        """P(a fill of this order is adverse at the markout); 1.0 without a mid or a finite
        price (an unknown book is treated as the worst case)."""
        if not (0.0 < snap.mid_px < math.inf and math.isfinite(px)):
            return 1.0
        return self.predict(qv_features(snap, side, px, rank_frac, self.qty_scale))
