"""Fill survival (seed 000 §2.4.2, issue 5 item 7): P(our passive order fills within h).

What this module owns: the state features of a resting order, the fitted competing-risks
hazard model and its probability of a fill within a horizon, the symmetric baseline it
replaces, and the versioned model file. Pure logic; fitting lives in
:mod:`mm.models.train`, labels in :mod:`mm.models.training_labels`.

The model
---------
An order placed at ``px`` on side ``s`` (+1 bid, -1 ask) ends in one of two ways: it fills
(the label builder's queue simulation says the queue in front of it was consumed), or the
market *escapes*: the touch on its side moves ``escape_ticks`` away from it (the order is
then stranded behind the touch and would be re-quoted). Each cause has a hazard,
piecewise constant in time since placement on the intervals ``[e_0, e_1), [e_1, e_2), ...``
(the last one open-ended) and log-linear in the state features ``x``::

    lambda_f(t | x) = exp(a_j + b . x)      lambda_e(t | x) = exp(c_j + d . x),   t in interval j

Over interval j (length ``D_j`` within the horizon), with survival ``S_j`` (no fill, no
escape) at its start and ``F = lambda_f``, ``T = lambda_f + lambda_e``::

    P(fill within h) = sum_j S_j * F / T * (1 - exp(-T D_j)),    S_{j+1} = S_j exp(-T D_j)

Both hazards are fitted offline by maximum likelihood (each is a Poisson regression on
per-interval exposures: a fill is an event for ``lambda_f`` and censors ``lambda_e``, an
escape the reverse, the horizon censors both). Censoring by the other cause is what makes
the probability that of "filled before the market left", the label of seed §2.4.1.

Features (``FILL_FEATURES``; "fill-oriented" = multiplied by -s, so that positive means
flow or pressure towards our side being hit: selling for a bid, buying for an ask):

==================  ===================================================================
rank_frac           queue rank at our level, 0 front .. 1 back
log_ahead           ln(1 + depth ahead / qty_scale): better levels plus rank x our level
level_ticks         ticks behind the touch (0 = joining the best; -1 = one tick inside the
                    spread, a new level), clipped to [-5, 20]
imbalance_fill      -s * book_imbalance (top-k)
ofi_fill            -s * ofi_500ms / qty_scale, clipped to [-5, 5]
ofi2_fill           -s * ofi_2s / qty_scale, clipped to [-5, 5]
log_sigma           ln(sigma_ewma + 0.01), sigma in bps per feature-grid sample
p_quiet, p_volatile, p_cascade   the regime filter's probabilities
toxic_prob          the toxicity classifier's probability
lead_fill           -s * (ref mid - mid) / mid in bps, clipped to [-20, 20] (0 without a reference)
vwap_fill           -s * vwap_direction
spread_ticks        spread in ticks, clipped to [0, 20]
==================  ===================================================================

Depth ahead uses the snapshot's ``depth_bids/asks``, taking levels to be one tick apart
near the touch (true on BTC/ETH about 95% of the time). The rank at our level
(:func:`resting_rank`) is the snapshot's ``queue_rank_bid/ask`` when ``px`` is the best
price and we rest there (rank >= 0), 0 for a price inside the spread (a new level), and
otherwise 1.0 (a new order joins at the back); :meth:`FillSurvivalModel.fill_prob_at_rank`
takes it explicitly. A non-finite snapshot field is treated as absent, so the output is
always a probability.

The baseline (:class:`SymmetricFillBaseline`) is the old ``1 - exp(-kappa exp(-delta /
delta_char) T)`` with delta the distance from the mid in bps, the same for both sides and
blind to the queue; ``kappa`` and ``delta_char`` are fitted by maximum likelihood on the
same labels and the same target (the binary "filled before escaping, within h" at the
standard horizons, a complementary log-log binomial), so that the comparison is fair.

Model file: msgspec JSON ``{"format": "mm.fill_survival", "version": 1, ...}``
(:class:`FillSurvivalParams`); :func:`decode_params` is pure (bytes in) and refuses a file
whose format, version or feature names differ from this code.
"""

from __future__ import annotations

import itertools
import math
from typing import Final

import msgspec

from mm.models.files import check_header
from mm.schema import StateSnapshot

MODEL_FORMAT: Final = "mm.fill_survival"
MODEL_VERSION: Final = 1
STANDARD_HORIZONS_S: Final = (0.5, 1.0, 3.0)

FILL_FEATURES: Final[tuple[str, ...]] = (
    "rank_frac",
    "log_ahead",
    "level_ticks",
    "imbalance_fill",
    "ofi_fill",
    "ofi2_fill",
    "log_sigma",
    "p_quiet",
    "p_volatile",
    "p_cascade",
    "toxic_prob",
    "lead_fill",
    "vwap_fill",
    "spread_ticks",
)
N_FILL_FEATURES: Final = len(FILL_FEATURES)
_ETA_CLIP: Final = 30.0


def _clip(x: float, lo: float, hi: float) -> float:
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x if x == x else 0.0


def level_ticks(snap: StateSnapshot, side: int, px: float, tick_px: float) -> int:
    """Ticks of ``px`` behind the touch on its side (0 at the best, < 0 inside the spread)."""
    best = snap.best_bid if side > 0 else snap.best_ask
    if best <= 0.0 or tick_px <= 0.0:
        return 0
    return round((best - px) / tick_px) if side > 0 else round((px - best) / tick_px)



def _pos(x: float) -> float:
    return x if 0.0 < x < math.inf else 0.0


def depth_ahead_qty(snap: StateSnapshot, side: int, level: int, rank_frac: float) -> float:
    """Displayed qty that trades before an order ``level`` ticks behind the touch at
    ``rank_frac`` in its level: the better levels plus ``rank_frac`` of its own (0 for a
    new level inside the spread)."""
    depth = snap.depth_bids if side > 0 else snap.depth_asks
    if level < 0:
        return 0.0
    n = len(depth)
    k = level if level < n else n
    ahead = sum(_pos(q) for q in depth[:k])
    if level < n:
        ahead += rank_frac * _pos(depth[level])
    return ahead


def resting_rank(snap: StateSnapshot, side: int, px: float) -> float:
    """The queue rank an order at ``px`` would have: the snapshot's rank of our resting
    order when we rest at the best there; 0.0 for a price better than the touch (a new
    level: we are its whole queue); else 1.0 (a new order joins at the back)."""
    best = snap.best_bid if side > 0 else snap.best_ask
    if best > 0.0 and (px > best if side > 0 else px < best):
        return 0.0
    r = (snap.queue_rank_bid if side > 0 else snap.queue_rank_ask) if px == best else -1.0
    return r if 0.0 <= r <= 1.0 else 1.0


def fill_features(snap: StateSnapshot, side: int, level: int, rank_frac: float, tick_px: float,
                  qty_scale: float) -> list[float]:
    """The feature vector in ``FILL_FEATURES`` order (see the module docstring). Every
    entry is finite whatever the snapshot holds (non-finite fields count as absent; a
    non-finite rank as the back of the queue)."""
    s = 1.0 if side > 0 else -1.0
    r = _clip(rank_frac, 0.0, 1.0) if math.isfinite(rank_frac) else 1.0
    inv_q = 1.0 / qty_scale if qty_scale > 0.0 else 0.0
    ahead = depth_ahead_qty(snap, side, level, r)
    mid = _pos(snap.mid_px)
    ref = _pos(snap.ref_mid_px)
    lead = (ref - mid) / mid * 1e4 if (ref > 0.0 and mid > 0.0) else 0.0
    spread_ticks = (snap.best_ask - snap.best_bid) / tick_px if (tick_px > 0.0 and mid > 0.0) else 0.0
    probs = snap.regime_probs
    return [
        r,
        math.log1p(ahead * inv_q),
        _clip(float(level), -5.0, 20.0),
        _clip(-s * snap.book_imbalance, -1.0, 1.0),
        _clip(-s * snap.ofi_500ms * inv_q, -5.0, 5.0),
        _clip(-s * snap.ofi_2s * inv_q, -5.0, 5.0),
        math.log(_pos(snap.sigma_ewma) + 0.01),
        _clip(probs[0], 0.0, 1.0) if len(probs) > 0 else 0.0,
        _clip(probs[2], 0.0, 1.0) if len(probs) > 2 else 0.0,
        _clip(probs[3], 0.0, 1.0) if len(probs) > 3 else 0.0,
        _clip(snap.toxic_prob, 0.0, 1.0),
        _clip(-s * lead, -20.0, 20.0),
        _clip(-s * snap.vwap_direction, -1.0, 1.0),
        _clip(spread_ticks, 0.0, 20.0),
    ]


class BaselineParams(msgspec.Struct, frozen=True, kw_only=True):
    """The symmetric baseline's fitted constants: rate = kappa_hz * exp(-delta_bps / delta_char_bps)."""

    kappa_hz: float
    delta_char_bps: float


class FillSurvivalParams(msgspec.Struct, frozen=True, kw_only=True):
    """The saved model (see the module docstring). ``interval_edges_s`` starts at 0; the
    last interval is open-ended. ``*_log_base`` has one entry per interval."""

    format: str = MODEL_FORMAT
    version: int = MODEL_VERSION
    symbol: str
    tick_px: float
    qty_scale: float
    escape_ticks: int
    feature_names: list[str]
    interval_edges_s: list[float]
    fill_log_base: list[float]
    fill_coef: list[float]
    escape_log_base: list[float]
    escape_coef: list[float]
    baseline: BaselineParams
    metrics: dict[str, float] = {}
    trained_on: str = ""


def encode_params(params: FillSurvivalParams) -> bytes:
    return msgspec.json.encode(params)


def decode_params(data: bytes) -> FillSurvivalParams:
    """Parse and validate a model file's bytes; ValueError names the bad field."""
    try:
        p = msgspec.json.decode(data, type=FillSurvivalParams)
    except msgspec.DecodeError as exc:
        raise ValueError(f"fill survival model: {exc}") from exc
    validate_params(p)
    return p


def _finite_list(name: str, xs: list[float], n: int) -> None:
    if len(xs) != n:
        raise ValueError(f"{name}: expected {n} values, got {len(xs)}")
    if not all(math.isfinite(x) for x in xs):
        raise ValueError(f"{name}: must be finite")


def validate_params(p: FillSurvivalParams) -> None:
    check_header(p.format, p.version, p.feature_names, MODEL_FORMAT, MODEL_VERSION, FILL_FEATURES)
    if not (p.tick_px > 0.0 and math.isfinite(p.tick_px)):
        raise ValueError("tick_px: must be finite and > 0")
    if not (p.qty_scale > 0.0 and math.isfinite(p.qty_scale)):
        raise ValueError("qty_scale: must be finite and > 0")
    e = p.interval_edges_s
    if not e or e[0] != 0.0 or any(b <= a for a, b in itertools.pairwise(e)) or not all(math.isfinite(x) for x in e):
        raise ValueError("interval_edges_s: must start at 0 and increase strictly")
    _finite_list("fill_log_base", p.fill_log_base, len(e))
    _finite_list("escape_log_base", p.escape_log_base, len(e))
    _finite_list("fill_coef", p.fill_coef, N_FILL_FEATURES)
    _finite_list("escape_coef", p.escape_coef, N_FILL_FEATURES)
    if not (p.baseline.kappa_hz > 0.0 and math.isfinite(p.baseline.kappa_hz)):
        raise ValueError("baseline.kappa_hz: must be finite and > 0")
    if not p.baseline.delta_char_bps > 0.0:
        raise ValueError("baseline.delta_char_bps: must be > 0 (inf allowed)")


def competing_fill_prob(horizon_s: float, edges_s: list[float], fill_log_base: list[float], eta_fill: float,
                        escape_log_base: list[float], eta_escape: float) -> float:
    """P(fill before escape and within ``horizon_s``) for piecewise-constant hazards."""
    if not horizon_s > 0.0:
        return 0.0
    ef = _clip(eta_fill, -_ETA_CLIP, _ETA_CLIP)
    ee = _clip(eta_escape, -_ETA_CLIP, _ETA_CLIP)
    surv = 1.0
    p = 0.0
    n = len(edges_s)
    for j in range(n):
        a = edges_s[j]
        if horizon_s <= a:
            break
        b = edges_s[j + 1] if j + 1 < n else math.inf
        dur = (horizon_s if horizon_s < b else b) - a
        f = math.exp(_clip(fill_log_base[j] + ef, -_ETA_CLIP, _ETA_CLIP))
        tot = f + math.exp(_clip(escape_log_base[j] + ee, -_ETA_CLIP, _ETA_CLIP))
        decay = math.exp(-tot * dur)
        p += surv * (f / tot) * (1.0 - decay)
        surv *= decay
    return p


class SymmetricFillBaseline:
    """``1 - exp(-kappa exp(-delta/delta_char) T)``: the queue-blind baseline to beat."""

    __slots__ = ("delta_char_bps", "kappa_hz")

    def __init__(self, params: BaselineParams) -> None:
        self.kappa_hz = params.kappa_hz
        self.delta_char_bps = params.delta_char_bps

    def rate_hz(self, delta_bps: float) -> float:
        d = delta_bps if delta_bps > 0.0 else 0.0
        return self.kappa_hz * math.exp(-d / self.delta_char_bps)

    def fill_prob(self, side: int, px: float, horizon_s: float, snap: StateSnapshot) -> float:
        mid = snap.mid_px
        if not (0.0 < mid < math.inf and 0.0 < horizon_s < math.inf and math.isfinite(px)):
            return 0.0
        s = 1.0 if side > 0 else -1.0
        delta_bps = s * (mid - px) / mid * 1e4
        return 1.0 - math.exp(-self.rate_hz(delta_bps) * horizon_s)


class FillSurvivalModel:
    """The fitted model. ``fill_prob(side, px, horizon_s, snap) -> probability``."""

    __slots__ = ("_be", "_bf", "_ce", "_cf", "_edges", "params", "qty_scale", "tick_px")

    def __init__(self, params: FillSurvivalParams) -> None:
        validate_params(params)
        self.params = params
        self.tick_px = params.tick_px
        self.qty_scale = params.qty_scale
        self._edges = list(params.interval_edges_s)
        self._bf = list(params.fill_log_base)
        self._be = list(params.escape_log_base)
        self._cf = list(params.fill_coef)
        self._ce = list(params.escape_coef)

    @classmethod
    def from_bytes(cls, data: bytes) -> FillSurvivalModel:
        return cls(decode_params(data))

    def baseline(self) -> SymmetricFillBaseline:
        return SymmetricFillBaseline(self.params.baseline)

    def etas(self, x: list[float]) -> tuple[float, float]:
        """Linear predictors (fill, escape) of a feature vector."""
        ef = 0.0
        ee = 0.0
        cf, ce = self._cf, self._ce
        for i in range(N_FILL_FEATURES):
            xi = x[i]
            ef += cf[i] * xi
            ee += ce[i] * xi
        return ef, ee

    def predict(self, x: list[float], horizon_s: float) -> float:
        """P(fill within horizon) for a feature vector (the model as ``predict(state)``)."""
        if not 0.0 < horizon_s < math.inf:
            return 0.0
        ef, ee = self.etas(x)
        return competing_fill_prob(horizon_s, self._edges, self._bf, ef, self._be, ee)

    def fill_prob_at_rank(self, side: int, px: float, rank_frac: float, horizon_s: float,
                          snap: StateSnapshot) -> float:
        if not (0.0 < snap.mid_px < math.inf and math.isfinite(px)):
            return 0.0
        lvl = level_ticks(snap, side, px, self.tick_px)
        x = fill_features(snap, side, lvl, rank_frac, self.tick_px, self.qty_scale)
        return self.predict(x, horizon_s)

    def fill_prob(self, side: int, px: float, horizon_s: float, snap: StateSnapshot) -> float:
        """Execution's Protocol method: P(an order at px fills within horizon_s)."""
        return self.fill_prob_at_rank(side, px, resting_rank(snap, side, px), horizon_s, snap)

    def fill_probs_standard(self, side: int, px: float, snap: StateSnapshot) -> tuple[float, float, float]:
        """P(fill) within 0.5 s, 1 s and 3 s, sharing one feature vector."""
        if not (0.0 < snap.mid_px < math.inf and math.isfinite(px)):
            return (0.0, 0.0, 0.0)
        lvl = level_ticks(snap, side, px, self.tick_px)
        x = fill_features(snap, side, lvl, resting_rank(snap, side, px), self.tick_px, self.qty_scale)
        ef, ee = self.etas(x)
        e, bf, be = self._edges, self._bf, self._be
        return (
            competing_fill_prob(0.5, e, bf, ef, be, ee),
            competing_fill_prob(1.0, e, bf, ef, be, ee),
            competing_fill_prob(3.0, e, bf, ef, be, ee),
        )
