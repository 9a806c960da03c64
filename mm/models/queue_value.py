"""Queue value (seed 000 §2.4.1, issue 5 item 6): expected edge in bps of a passive fill.

What this module owns: the expected edge, net of the maker fee, of being filled on an
order at ``px`` on side ``s`` (+1 bid, -1 ask) with queue rank ``rank_frac`` given the
state; a heuristic baseline and a learned model behind the same method, and the learned
model's versioned file. Pure logic; fitting is in :mod:`mm.models.train`, labels in
:mod:`mm.models.training_labels`.

Edge of a fill (the label, seed §2.4.1): bought at ``px`` (s = +1) or sold (s = -1), marked
at the mid ``markout_s`` after the fill::

    edge_bps = s * (mid(t_fill + markout_s) - px) / px * 1e4 - maker_fee_bps
             = spread captured (s (mid_fill - px)) + mid move after the fill (s (mid_later - mid_fill))

Queue value is E[edge | filled, state, rank]: conditional on the fill happening, which is
what the execution state machine multiplies by a fill probability. Negative means adverse
selection (and the fee) exceed the spread captured. The fee comes from the configured tier
at run time (``maker_fee_bps``), never from the file: on BTC/ETH the touch is 0.05-0.25 bps
wide against a 1.5 bps base maker fee (ARCHITECTURE.md), so the answer is negative almost
always at the base tier, and that is the point.

Heuristic baseline (no fitting; the bootstrap of seed phase 3)::

    qv = delta_bps - AS_bps - maker_fee_bps
    delta_bps = s * (mid - px) / mid * 1e4                     (half-spread at the touch)
    sigma_h = sigma_ewma * sqrt(pi/2) * sqrt(markout_s * 1000 / sigma_sample_ms)
    AS_bps = sigma_h * [ (sum_r p_r a_r) (1 + rank_as_mult * rank)
                         + ofi_as * max(0, ofi_adv) + toxic_as * toxic_prob ]

``sigma_ewma`` is the EWMA of |Δmid| (bps) per feature-grid sample; for a Gaussian step
E|X| = sigma sqrt(2/pi), hence the sqrt(pi/2), and sqrt time scales it to the markout.
``a_r`` is the adverse move after a fill, in sigma_h, by regime (Quiet, Normal, Volatile,
Cascade); a fill at the back of the queue comes from flow big enough to eat the whole
level, hence ``rank_as_mult``; adverse OFI (``ofi_adv`` below) and toxicity add to it.

Learned model: linear with interactions, ``gross_edge_bps = b0 + w . phi(state, side, px,
rank)`` (ridge fit on the realized gross edges of simulated fills), minus the fee.
Features (``QV_FEATURES``; "adverse" = multiplied by -s: for a bid, selling pressure,
which both fills the bid and predicts a lower mid):

==================  ===================================================================
rank_frac           queue rank, 0 front .. 1 back
delta_bps           s (mid - px) / mid in bps, clipped to [-50, 50]
ofi_adv             -s * ofi_500ms / qty_scale, clipped to [-5, 5]
ofi2_adv            -s * ofi_2s / qty_scale, clipped to [-5, 5]
imbalance_adv       -s * book_imbalance
micro_adv           -s * (microprice - mid) / (half spread), clipped to [-1, 1]
vwap_adv            -s * vwap_direction
run_adv             -s * trade_sign_run_length / 5, clipped to [-2, 2]
log_sigma           ln(sigma_ewma + 0.01)
p_quiet, p_volatile, p_cascade   regime probabilities
toxic_prob          toxicity probability
lead_adv            -s * (ref mid - mid) / mid in bps, clipped to [-20, 20]
rank_x_ofi, rank_x_toxic, rank_x_sigma, rank_x_cascade, cascade_x_ofi, toxic_x_ofi,
rank_x_lead         products of the named features
==================  ===================================================================

Model file: msgspec JSON ``{"format": "mm.queue_value", "version": 1, ...}``
(:class:`QueueValueParams`); :func:`decode_params` validates format, version and feature
names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, Protocol, TypeVar

import msgspec

from mm.models.files import check_header
from mm.schema import StateSnapshot
from mm.venues.sim.fees import fee_rates, tier_by_name

MODEL_FORMAT: Final = "mm.queue_value"
MODEL_VERSION: Final = 1

QV_FEATURES: Final[tuple[str, ...]] = (
    "rank_frac",
    "delta_bps",
    "ofi_adv",
    "ofi2_adv",
    "imbalance_adv",
    "micro_adv",
    "vwap_adv",
    "run_adv",
    "log_sigma",
    "p_quiet",
    "p_volatile",
    "p_cascade",
    "toxic_prob",
    "lead_adv",
    "rank_x_ofi",
    "rank_x_toxic",
    "rank_x_sigma",
    "rank_x_cascade",
    "cascade_x_ofi",
    "toxic_x_ofi",
    "rank_x_lead",
)
N_QV_FEATURES: Final = len(QV_FEATURES)
_SQRT_HALF_PI: Final = math.sqrt(math.pi / 2.0)
_MAX_SIGMA_BPS: Final = 1e4  # a 100% move per sample: anything larger is a corrupt field, not a market


def maker_fee_bps(tier: str = "base", maker_share: float = 0.0, staking_discount: float = 0.0) -> float:
    """The maker fee in bps (negative = rebate) of a Hyperliquid fee tier by name."""
    return round(fee_rates(tier_by_name(tier), maker_share, staking_discount).maker * 1e4, 10)  # no 1e-16 noise


def _clip(x: float, lo: float, hi: float) -> float:
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x if x == x else 0.0


def _pos(x: float) -> float:
    """x if finite and > 0, else 0.0 (a bad snapshot field is treated as absent)."""
    return x if 0.0 < x < math.inf else 0.0


def delta_bps(snap: StateSnapshot, side: int, px: float) -> float:
    """s * (mid - px) / mid in bps: how far on our side of the mid the order rests."""
    mid = _pos(snap.mid_px)
    if mid <= 0.0 or not math.isfinite(px):
        return 0.0
    return (mid - px) / mid * 1e4 if side > 0 else (px - mid) / mid * 1e4


def qv_features(snap: StateSnapshot, side: int, px: float, rank_frac: float, qty_scale: float) -> list[float]:
    """The feature vector in ``QV_FEATURES`` order (see the module docstring). Every entry
    is finite whatever the snapshot holds (non-finite fields count as absent; a non-finite
    rank as the back of the queue)."""
    s = 1.0 if side > 0 else -1.0
    r = _clip(rank_frac, 0.0, 1.0) if math.isfinite(rank_frac) else 1.0
    inv_q = 1.0 / qty_scale if qty_scale > 0.0 else 0.0
    mid = _pos(snap.mid_px)
    half = 0.5 * (snap.best_ask - snap.best_bid)
    micro = (snap.microprice - mid) / half if (0.0 < half < math.inf and mid > 0.0) else 0.0
    ref = _pos(snap.ref_mid_px)
    lead = (ref - mid) / mid * 1e4 if (ref > 0.0 and mid > 0.0) else 0.0
    probs = snap.regime_probs
    ofi_adv = _clip(-s * snap.ofi_500ms * inv_q, -5.0, 5.0)
    log_sigma = math.log(_pos(snap.sigma_ewma) + 0.01)
    p_cascade = _clip(probs[3], 0.0, 1.0) if len(probs) > 3 else 0.0
    tox = _clip(snap.toxic_prob, 0.0, 1.0)
    lead_adv = _clip(-s * lead, -20.0, 20.0)
    return [
        r,
        _clip(delta_bps(snap, side, px), -50.0, 50.0),
        ofi_adv,
        _clip(-s * snap.ofi_2s * inv_q, -5.0, 5.0),
        _clip(-s * snap.book_imbalance, -1.0, 1.0),
        _clip(-s * micro, -1.0, 1.0),
        _clip(-s * snap.vwap_direction, -1.0, 1.0),
        _clip(-s * snap.trade_sign_run_length / 5.0, -2.0, 2.0),
        log_sigma,
        _clip(probs[0], 0.0, 1.0) if len(probs) > 0 else 0.0,
        _clip(probs[2], 0.0, 1.0) if len(probs) > 2 else 0.0,
        p_cascade,
        tox,
        lead_adv,
        r * ofi_adv,
        r * tox,
        r * log_sigma,
        r * p_cascade,
        p_cascade * ofi_adv,
        tox * ofi_adv,
        r * lead_adv,
    ]


class HeuristicQueueValueConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[queue_value.heuristic]``: the baseline's constants (see the module docstring).

    Fields:
        markout_s: s, horizon of the adverse move (the label's markout).
        sigma_sample_ms: ms, the feature engine's sigma grid (``FeatureConfig.sigma_sample_ms``).
        as_sigmas_by_regime: adverse move after a fill, in sigma over the markout, by
            regime (Quiet, Normal, Volatile, Cascade).
        rank_as_mult: relative extra adverse selection at the back of the queue (rank 1).
        ofi_as_sigmas: extra adverse move per unit of adverse OFI (OFI / qty_scale).
        toxic_as_sigmas: extra adverse move at toxic_prob = 1.
        qty_scale: base qty that normalises OFI (the typical touch size).
    """

    markout_s: float = 1.0
    sigma_sample_ms: int = 100
    as_sigmas_by_regime: tuple[float, float, float, float] = (0.1, 0.2, 0.4, 1.0)
    rank_as_mult: float = 1.0
    ofi_as_sigmas: float = 0.2
    toxic_as_sigmas: float = 1.0
    qty_scale: float = 1.0

    def __post_init__(self) -> None:
        if not (self.markout_s > 0.0 and math.isfinite(self.markout_s)):
            raise ValueError("markout_s: must be finite and > 0")
        if self.sigma_sample_ms <= 0:
            raise ValueError("sigma_sample_ms: must be > 0")
        if len(self.as_sigmas_by_regime) != 4 or not all(
            v >= 0.0 and math.isfinite(v) for v in self.as_sigmas_by_regime
        ):
            raise ValueError("as_sigmas_by_regime: 4 finite values >= 0")
        for name in ("rank_as_mult", "ofi_as_sigmas", "toxic_as_sigmas"):
            v = getattr(self, name)
            if not (v >= 0.0 and math.isfinite(v)):
                raise ValueError(f"{name}: must be finite and >= 0")
        if not (self.qty_scale > 0.0 and math.isfinite(self.qty_scale)):
            raise ValueError("qty_scale: must be finite and > 0")


class HeuristicQueueValue:
    """The baseline: half-spread - expected adverse selection(regime, rank, OFI) - fee."""

    __slots__ = ("_a", "_h_scale", "cfg", "maker_fee_bps")

    def __init__(self, cfg: HeuristicQueueValueConfig | None = None, maker_fee_bps: float = 1.5) -> None:
        c = cfg if cfg is not None else HeuristicQueueValueConfig()
        self.cfg = c
        self.maker_fee_bps = maker_fee_bps
        self._a = list(c.as_sigmas_by_regime)
        self._h_scale = _SQRT_HALF_PI * math.sqrt(c.markout_s * 1000.0 / c.sigma_sample_ms)

    def adverse_bps(self, side: int, rank_frac: float, snap: StateSnapshot) -> float:
        c = self.cfg
        sigma_h = min(_pos(snap.sigma_ewma), _MAX_SIGMA_BPS) * self._h_scale
        probs = snap.regime_probs
        a = self._a
        base = 0.0
        for i in range(min(4, len(probs))):
            base += _clip(probs[i], 0.0, 1.0) * a[i]
        r = _clip(rank_frac, 0.0, 1.0) if math.isfinite(rank_frac) else 1.0
        s = 1.0 if side > 0 else -1.0
        ofi_adv = _clip(-s * snap.ofi_500ms / c.qty_scale, -5.0, 5.0)
        extra = c.ofi_as_sigmas * (ofi_adv if ofi_adv > 0.0 else 0.0) + c.toxic_as_sigmas * _clip(
            snap.toxic_prob, 0.0, 1.0
        )
        return sigma_h * (base * (1.0 + c.rank_as_mult * r) + extra)

    def queue_value(self, side: int, px: float, rank_frac: float, snap: StateSnapshot) -> float:
        """Expected edge in bps of a fill, net of the maker fee; -inf without a mid or price."""
        if not (0.0 < snap.mid_px < math.inf and math.isfinite(px)):
            return -math.inf
        return delta_bps(snap, side, px) - self.adverse_bps(side, rank_frac, snap) - self.maker_fee_bps


# --------------------------------------------------------------------------- linear models over QV_FEATURES
# The learned queue value and the direction model (:mod:`mm.models.direction`) are both one
# linear score over :data:`QV_FEATURES` with the same file fields; what they share is here.


class LinearParams(Protocol):
    """The fields of a linear model file over :data:`QV_FEATURES` (read-only)."""

    @property
    def format(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def qty_scale(self) -> float: ...
    @property
    def markout_s(self) -> float: ...
    @property
    def feature_names(self) -> list[str]: ...
    @property
    def intercept(self) -> float: ...
    @property
    def coef(self) -> list[float]: ...


P = TypeVar("P", bound=LinearParams)


def validate_linear(p: LinearParams, model_format: str, model_version: int) -> None:
    """The checks of a linear model file: its format and version, the feature names, one
    finite coefficient per feature, ``qty_scale`` and ``markout_s`` finite and > 0;
    ValueError naming the bad field."""
    check_header(p.format, p.version, p.feature_names, model_format, model_version, QV_FEATURES)
    if len(p.coef) != N_QV_FEATURES:
        raise ValueError(f"coef: expected {N_QV_FEATURES} values, got {len(p.coef)}")
    if not all(math.isfinite(c) for c in p.coef) or not math.isfinite(p.intercept):
        raise ValueError("coef/intercept: must be finite")
    if not (p.qty_scale > 0.0 and math.isfinite(p.qty_scale)):
        raise ValueError("qty_scale: must be finite and > 0")
    if not (p.markout_s > 0.0 and math.isfinite(p.markout_s)):
        raise ValueError("markout_s: must be finite and > 0")


def decode_linear(data: bytes, params_type: type[P], what: str, validate: Callable[[P], None]) -> P:
    """A model file's bytes decoded as ``params_type`` and validated; ValueError names the bad
    field (a file that does not decode: ``"<what>: <decoder's message>"``)."""
    try:
        p = msgspec.json.decode(data, type=params_type)
    except msgspec.DecodeError as exc:
        raise ValueError(f"{what}: {exc}") from exc
    validate(p)
    return p


class LinearModel:
    """``intercept + coef . x`` over :data:`QV_FEATURES` (:meth:`linear`), the file's
    ``qty_scale`` for the features; the caller validates ``params`` first."""

    __slots__ = ("_b0", "_w", "qty_scale")

    def __init__(self, params: LinearParams) -> None:
        self.qty_scale = params.qty_scale
        self._b0 = params.intercept
        self._w = list(params.coef)

    def linear(self, x: list[float]) -> float:
        """The linear score of a feature vector (:data:`QV_FEATURES` order)."""
        z = self._b0
        w = self._w
        for i in range(N_QV_FEATURES):
            z += w[i] * x[i]
        return z


class QueueValueParams(msgspec.Struct, frozen=True, kw_only=True):
    """The saved learned model: gross edge = intercept + coef . features (bps)."""

    format: str = MODEL_FORMAT
    version: int = MODEL_VERSION
    symbol: str
    qty_scale: float
    markout_s: float
    feature_names: list[str]
    intercept: float
    coef: list[float]
    heuristic: HeuristicQueueValueConfig
    metrics: dict[str, float] = {}
    trained_on: str = ""


def encode_params(params: QueueValueParams) -> bytes:
    return msgspec.json.encode(params)


def validate_params(p: QueueValueParams) -> None:
    """ValueError naming the bad field (:func:`validate_linear`)."""
    validate_linear(p, MODEL_FORMAT, MODEL_VERSION)


def decode_params(data: bytes) -> QueueValueParams:
    """Parse and validate a model file's bytes; ValueError names the bad field."""
    return decode_linear(data, QueueValueParams, "queue value model", validate_params)


class QueueValueModel(LinearModel):
    """The learned model. ``queue_value(side, px, rank_frac, snap) -> edge_bps`` net of fee."""

    __slots__ = ("maker_fee_bps", "params")

    def __init__(self, params: QueueValueParams, maker_fee_bps: float = 1.5) -> None:
        validate_params(params)
        super().__init__(params)
        self.params = params
        self.maker_fee_bps = maker_fee_bps

    @classmethod
    def from_bytes(cls, data: bytes, maker_fee_bps: float = 1.5) -> QueueValueModel:
        return cls(decode_params(data), maker_fee_bps)

    def heuristic(self) -> HeuristicQueueValue:
        """The baseline with this model's calibration constants and fee."""
        return HeuristicQueueValue(self.params.heuristic, self.maker_fee_bps)

    predict = LinearModel.linear  # the gross expected edge (bps, before fee) of a feature vector

    def gross_edge_bps(self, side: int, px: float, rank_frac: float, snap: StateSnapshot) -> float:
        return self.linear(qv_features(snap, side, px, rank_frac, self.qty_scale))

    def queue_value(self, side: int, px: float, rank_frac: float, snap: StateSnapshot) -> float:
        """Execution's Protocol method: expected edge of a fill in bps, net of the maker fee;
        -inf without a mid or price (never quote into an unknown book)."""
        if not (0.0 < snap.mid_px < math.inf and math.isfinite(px)):
            return -math.inf
        return self.gross_edge_bps(side, px, rank_frac, snap) - self.maker_fee_bps
