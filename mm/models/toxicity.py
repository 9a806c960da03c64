"""Fast toxicity classifier (seed 000 §2.4.3): online logistic regression on fast flow features.

Owns: the feature vector (names, scaling, clipping: :func:`toxicity_features`), the model
(``p = sigmoid(b + w·x)``, :meth:`ToxicityClassifier.predict`), the verdict
(Benign / Normal / Toxic from config thresholds, with a hold so a sweep does not flap),
the causal online learning, and the versioned model file.

What "toxic" means here. The probability is that the current aggressive flow is informed
in its own direction: label of a trade = 1 if the mid moves at least ``label_move_bps`` in
the trade's direction (up for a buy, down for a sell) within ``label_horizon_s`` of it,
else 0. Every feature is therefore oriented by the side s = ±1 of the trade it describes
(the last trade, between trades), so that larger means "more one-sided, faster, bigger in
the direction of that flow".

Features (all clipped, so one bad input cannot dominate). "Before the trade" means the
trades before the one being scored: the trade's own information is in its size and sweep,
while rate, asymmetry and run say whether it lands on a burst of same-side flow.

=====================  =================================================================
run_same_side          (n - 1) / 2, clip [0, 5], n = the fast same-side run: consecutive
                       trades of side s, each within ``run_gap_ms`` of the previous
                       (a sign run gated by time: calm markets rarely chain quick prints)
burst_log_rate         ln((rate before + 0.05) / (baseline rate + 0.05)), trades/s; the rate
                       before decays with ``burst_half_life_ms``, the baseline with
                       ``rate_baseline_half_life_s``; clip [-3, 5] (a trade-rate burst)
flow_asym_same_side    s * Σ signed qty before / (Σ qty before + baseline qty), fast decay,
                       in [-1, 1]; the baseline is what the baseline qty rate leaves in the
                       decay, so a calm market's lone print stays near 0 (trade-intensity
                       asymmetry)
ofi_z_same_side        s * ofi_500ms / OFI scale, clip [-6, 6] (OFI z-score; the scale is
                       the RMS of the OFI per 500 ms interval, floored at a quarter of the
                       typical touch depth)
ofi_lag_z_same_side    s * (ofi_2s - ofi_500ms) / (OFI scale * sqrt 3), clip [-6, 6] (lagged
                       OFI: the 1.5 s before the last 0.5 s)
sweep_spreads          how far past the touch the trade printed, in spreads:
                       s * (px - touch) / spread, clip [0, 8] (a sweep through levels)
size_log_ratio         ln(qty) - EWMA ln(qty), clip [-3, 5] (size vs typical size)
spread_log_ratio       ln((spread_bps + 0.01) / (baseline spread_bps + 0.01)), clip [-3, 3]
vol_log_ratio          ln((sigma_ewma + 0.01) / (baseline sigma + 0.01)), clip [-3, 3]
vwap_dir_same_side     s * vwap_direction, in [-1, 1]
=====================  =================================================================

Prior weights (:func:`prior_model`), chosen so that the classifier works before any label
has resolved, flips within 1-2 trades of a one-sided sweep, and leaves a calm market's
random prints Benign or Normal. Bias -4.0. In a calm market the context features sit near
or below 0 (burst ≈ -2 when the previous print was a second ago), so a typical trade
scores p < 0.01. At the second trade of a burst the context features jump together:
run 0.8 (x = 0.5, 1, 1.5 at the 2nd, 3rd, 4th trade), burst 0.9 (x ≈ 1 at 40 ms spacing,
1.7 at the third), flow asymmetry 1.2 (x ≈ 1 after a big same-side print), OFI z 0.3 and
lagged OFI z 0.1 (x ≈ 2-6 when the book is eaten), sweep 0.6 (x ≈ 1-4 spreads), size 0.5
(x ≈ 1-2 for 3-7x the usual size), spread 0.3, vol 0.3, VWAP direction 0.2: together +4 to
+6 logits. A calm-market coincidence (two quick same-side prints) adds about +3 and stays
Normal.

Online learning (causal): each trade's feature vector waits in a bounded queue (oldest
dropped when full, counted) until its label resolves: positive as soon as a later mid
crosses the trade's threshold price, negative when its horizon passes first. Then one SGD
step on the log loss, with the gradient clipped per component, an L2 pull towards the
prior (or loaded) weights, each weight kept in [min_weight_ratio * prior, weight_clip]
(each feature is oriented so that toxicity rises with it; a sign flip or a collapse learnt
from a long calm stretch of 0 labels would disable detection) and the bias in
[-weight_clip, weight_clip]. Mostly, then, calm stretches recalibrate the bias.

Model file: msgspec JSON ``{"format": "mm.toxicity", "version": 1, "feature_names": [...],
"weights": [...], "bias": b, "metrics": {...}}``. :func:`decode_model` is pure (bytes in)
and refuses a file whose format, version or feature names do not match this code; reading
the file belongs to the edge.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from typing import Final

import msgspec

from mm.features.config import ToxicityConfig
from mm.models.files import check_header
from mm.schema import Toxicity

MODEL_FORMAT: Final = "mm.toxicity"
MODEL_VERSION: Final = 1

TOXICITY_FEATURES: Final[tuple[str, ...]] = (
    "run_same_side",
    "burst_log_rate",
    "flow_asym_same_side",
    "ofi_z_same_side",
    "ofi_lag_z_same_side",
    "sweep_spreads",
    "size_log_ratio",
    "spread_log_ratio",
    "vol_log_ratio",
    "vwap_dir_same_side",
)
N_FEATURES: Final = len(TOXICITY_FEATURES)
# features that describe the trade being scored and the flow just before it (the others
# describe the book and volatility now)
TRADE_DRIVEN: Final[tuple[int, ...]] = (0, 1, 2, 5, 6)

_PRIOR_BIAS = -4.0
_PRIOR_WEIGHTS: Final[tuple[float, ...]] = (0.8, 0.9, 1.2, 0.3, 0.1, 0.6, 0.5, 0.3, 0.3, 0.2)
_RATE_FLOOR_HZ = 0.05
_LOGIT_CLIP = 30.0
_METRIC_ALPHA = 0.01


class ToxicityModel(msgspec.Struct, frozen=True, kw_only=True):
    """The saved model: weights by feature name, bias, and how it has been doing."""

    format: str = MODEL_FORMAT
    version: int = MODEL_VERSION
    feature_names: list[str]
    weights: list[float]
    bias: float
    metrics: dict[str, float] = {}


def prior_model() -> ToxicityModel:
    """The documented prior (see the module docstring)."""
    return ToxicityModel(
        feature_names=list(TOXICITY_FEATURES),
        weights=list(_PRIOR_WEIGHTS),
        bias=_PRIOR_BIAS,
        metrics={},
    )


def encode_model(model: ToxicityModel) -> bytes:
    return msgspec.json.encode(model)


def decode_model(data: bytes) -> ToxicityModel:
    """Parse and validate a model file's bytes. Raises ValueError naming the bad field."""
    try:
        model = msgspec.json.decode(data, type=ToxicityModel)
    except msgspec.DecodeError as exc:
        raise ValueError(f"toxicity model: {exc}") from exc
    check_header(model.format, model.version, model.feature_names, MODEL_FORMAT, MODEL_VERSION, TOXICITY_FEATURES)
    if len(model.weights) != N_FEATURES:
        raise ValueError(f"weights: expected {N_FEATURES} values, got {len(model.weights)}")
    if not all(math.isfinite(w) and w >= 0.0 for w in model.weights):
        raise ValueError("weights: must be finite and >= 0 (each feature is oriented towards toxicity)")
    if not math.isfinite(model.bias):
        raise ValueError("bias: must be finite")
    return model


def _clip(x: float, lo: float, hi: float) -> float:
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x if x == x else 0.0  # NaN -> 0


def _nonneg(x: float) -> float:
    """x if finite and > 0 (an overflowed ratio then clips), else 0: keeps every log defined."""
    return x if 0.0 < x < math.inf else 0.0


def toxicity_features(
    *,
    side: int,
    fast_run: int,
    run_cap: int,
    rate_before_hz: float,
    base_rate_hz: float,
    signed_qty_before: float,
    qty_before: float,
    base_qty: float,
    ofi_500ms: float,
    ofi_2s: float,
    ofi_scale: float,
    sweep_spreads: float,
    size_log_ratio: float,
    spread_bps: float,
    spread_base_bps: float,
    sigma_bps: float,
    sigma_base_bps: float,
    vwap_direction: float,
) -> list[float]:
    """The feature vector, in ``TOXICITY_FEATURES`` order, oriented by ``side`` (±1).

    Inputs: the fast same-side run including this trade; the fast-decayed trade rate,
    signed qty and qty of the trades before it, with their baselines (``base_qty``: the
    qty the fast decay holds at the baseline qty rate); the OFI sums and their scale; the
    trade's sweep (spreads past the touch) and ln size over its baseline; spread and sigma
    (bps) with their baselines; the VWAP direction.
    """
    s = 1.0 if side > 0 else -1.0
    run_x = (min(fast_run, run_cap) - 1) / 2.0
    burst = math.log((_nonneg(rate_before_hz) + _RATE_FLOOR_HZ) / (_nonneg(base_rate_hz) + _RATE_FLOOR_HZ))
    den = qty_before + max(base_qty, 0.0)
    asym = s * signed_qty_before / den if den > 0.0 else 0.0
    if ofi_scale > 0.0:
        ofi_z = s * ofi_500ms / ofi_scale
        ofi_lag = s * (ofi_2s - ofi_500ms) / (ofi_scale * 1.7320508075688772)
    else:
        ofi_z = ofi_lag = 0.0
    spread_r = (
        math.log((_nonneg(spread_bps) + 0.01) / (_nonneg(spread_base_bps) + 0.01))
        if spread_bps > 0.0 and spread_base_bps > 0.0
        else 0.0
    )
    vol_r = math.log((_nonneg(sigma_bps) + 0.01) / (_nonneg(sigma_base_bps) + 0.01))
    return [
        _clip(run_x, 0.0, 5.0),
        _clip(burst, -3.0, 5.0),
        _clip(asym, -1.0, 1.0),
        _clip(ofi_z, -6.0, 6.0),
        _clip(ofi_lag, -6.0, 6.0),
        _clip(sweep_spreads, 0.0, 8.0),
        _clip(size_log_ratio, -3.0, 5.0),
        _clip(spread_r, -3.0, 3.0),
        _clip(vol_r, -3.0, 3.0),
        _clip(s * vwap_direction, -1.0, 1.0),
    ]


def between_trades(x_trade: Sequence[float], x_now: Sequence[float], decay: float) -> list[float]:
    """Features for scoring between trades: the book/volatility features of now
    (``x_now``), and the last trade's trade-driven features (``x_trade``) faded by
    ``decay`` in [0, 1] (only their positive part fades: a calm context stays calm)."""
    x = list(x_now)
    for i in TRADE_DRIVEN:
        v = x_trade[i]
        x[i] = v * decay if v > 0.0 else v
    return x


def _sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


class _Pending:
    __slots__ = ("done", "seq", "side", "thr_px", "ts_ns", "x")

    def __init__(self, seq: int, ts_ns: int, side: int, thr_px: float, x: list[float]) -> None:
        self.seq = seq
        self.ts_ns = ts_ns
        self.side = side
        self.thr_px = thr_px
        self.x = x
        self.done = False


class ToxicityClassifier:
    """Online logistic toxicity classifier. ``predict(x) -> prob`` is the model.

    Live use, per trade of our venue: ``x = toxicity_features(...)``;
    ``level, prob = assess(x, now_ns)``; ``observe_trade(ts_ns, side, mid_px, x)``; and on
    every mid change ``on_mid(ts_ns, mid_px)`` (resolves labels, learns).
    """

    __slots__ = (
        "_buy_heap",
        "_cfg",
        "_horizon_ns",
        "_move",
        "_pending",
        "_prior_b",
        "_prior_w",
        "_sell_heap",
        "_seq",
        "_toxic_until_ns",
        "_w_floor",
        "bias",
        "last_level",
        "last_prob",
        "metrics",
        "weights",
    )

    def __init__(self, cfg: ToxicityConfig, model: ToxicityModel | None = None) -> None:
        m = model if model is not None else prior_model()
        if tuple(m.feature_names) != TOXICITY_FEATURES or len(m.weights) != N_FEATURES:
            raise ValueError("model: feature names or weights do not match TOXICITY_FEATURES")
        self._cfg = cfg
        self.weights = [float(w) for w in m.weights]
        self.bias = float(m.bias)
        self._prior_w = list(self.weights)
        self._prior_b = self.bias
        self._w_floor = [max(0.0, cfg.min_weight_ratio * w) for w in self.weights]
        self._horizon_ns = int(cfg.label_horizon_s * 1e9)
        self._move = cfg.label_move_bps * 1e-4
        self._pending: deque[_Pending] = deque()
        self._buy_heap: list[tuple[float, int, _Pending]] = []
        self._sell_heap: list[tuple[float, int, _Pending]] = []
        self._seq = 0
        self._toxic_until_ns = -1
        self.last_prob = 0.0
        self.last_level = Toxicity.NORMAL
        self.metrics: dict[str, float] = {
            "n_labels": 0.0,
            "n_positive": 0.0,
            "n_dropped": 0.0,
            "ew_log_loss": math.log(2.0),
            "ew_brier": 0.25,
        }

    # ---------------------------------------------------------------- the model

    def predict(self, x: Sequence[float]) -> float:
        """P(toxic) for a feature vector in ``TOXICITY_FEATURES`` order."""
        z = self.bias
        w = self.weights
        for i in range(N_FEATURES):
            z += w[i] * x[i]
        if z != z:
            return 0.0
        return _sigmoid(max(-_LOGIT_CLIP, min(_LOGIT_CLIP, z)))

    def level(self, prob: float) -> Toxicity:
        """Verdict from thresholds alone (no hold)."""
        if prob >= self._cfg.toxic_threshold:
            return Toxicity.TOXIC
        if prob < self._cfg.benign_threshold:
            return Toxicity.BENIGN
        return Toxicity.NORMAL

    def assess(self, x: Sequence[float], now_ns: int) -> tuple[Toxicity, float]:
        """Predict and give the verdict, holding Toxic for ``toxic_hold_ms``."""
        p = self.predict(x)
        if p >= self._cfg.toxic_threshold:
            self._toxic_until_ns = now_ns + self._cfg.toxic_hold_ms * 1_000_000
        lvl = Toxicity.TOXIC if now_ns < self._toxic_until_ns else self.level(p)
        self.last_prob = p
        self.last_level = lvl
        return lvl, p

    # ---------------------------------------------------------------- learning

    def observe_trade(self, ts_ns: int, side: int, mid_px: float, x: Sequence[float]) -> None:
        """Queue a trade (features at trade time, mid before it) for its causal label."""
        if not self._cfg.learn or not (mid_px > 0.0 and math.isfinite(mid_px)):
            return
        if len(self._pending) >= self._cfg.max_pending:
            old = self._pending.popleft()
            if not old.done:
                old.done = True
                self.metrics["n_dropped"] += 1.0
        thr = mid_px * (1.0 + self._move) if side > 0 else mid_px * (1.0 - self._move)
        self._seq += 1
        rec = _Pending(self._seq, ts_ns, side, thr, list(x))
        self._pending.append(rec)
        if side > 0:
            heapq.heappush(self._buy_heap, (thr, self._seq, rec))
        else:
            heapq.heappush(self._sell_heap, (-thr, self._seq, rec))
        if len(self._buy_heap) + len(self._sell_heap) > 4 * self._cfg.max_pending + 16:
            self._rebuild_heaps()

    def on_mid(self, ts_ns: int, mid_px: float) -> int:
        """Resolve labels with the mid in effect from ts_ns; returns the number learnt."""
        if not self._cfg.learn:
            return 0
        n = self.expire(ts_ns)
        if not (mid_px > 0.0 and math.isfinite(mid_px)):
            return n
        bh = self._buy_heap
        while bh and bh[0][0] <= mid_px:
            rec = heapq.heappop(bh)[2]
            if not rec.done:
                rec.done = True
                self._learn(rec.x, 1.0)
                n += 1
        sh = self._sell_heap
        while sh and -sh[0][0] >= mid_px:
            rec = heapq.heappop(sh)[2]
            if not rec.done:
                rec.done = True
                self._learn(rec.x, 1.0)
                n += 1
        while self._pending and self._pending[0].done:
            self._pending.popleft()
        return n

    def expire(self, now_ns: int) -> int:
        """Label 0 every pending trade whose horizon ended before now_ns."""
        n = 0
        pend = self._pending
        while pend and pend[0].ts_ns + self._horizon_ns < now_ns:
            rec = pend.popleft()
            if not rec.done:
                rec.done = True
                self._learn(rec.x, 0.0)
                n += 1
        return n

    @property
    def n_pending(self) -> int:
        return sum(1 for r in self._pending if not r.done)

    def _rebuild_heaps(self) -> None:
        self._buy_heap = [(r.thr_px, r.seq, r) for r in self._pending if not r.done and r.side > 0]
        self._sell_heap = [(-r.thr_px, r.seq, r) for r in self._pending if not r.done and r.side < 0]
        heapq.heapify(self._buy_heap)
        heapq.heapify(self._sell_heap)

    def _learn(self, x: Sequence[float], y: float) -> None:
        cfg = self._cfg
        p = self.predict(x)
        met = self.metrics
        met["n_labels"] += 1.0
        met["n_positive"] += y
        pc = min(max(p, 1e-12), 1.0 - 1e-12)
        loss = -(y * math.log(pc) + (1.0 - y) * math.log(1.0 - pc))
        met["ew_log_loss"] += _METRIC_ALPHA * (loss - met["ew_log_loss"])
        met["ew_brier"] += _METRIC_ALPHA * ((p - y) ** 2 - met["ew_brier"])
        lr = cfg.learning_rate
        if lr <= 0.0:
            return
        g = p - y
        gc = cfg.grad_clip
        wc = cfg.weight_clip
        lam = cfg.l2_to_prior
        w = self.weights
        lo = self._w_floor
        for i in range(N_FEATURES):
            gi = g * x[i] + lam * (w[i] - self._prior_w[i])
            gi = max(-gc, min(gc, gi))
            w[i] = max(lo[i], min(wc, w[i] - lr * gi))
        gb = max(-gc, min(gc, g + lam * (self.bias - self._prior_b)))
        self.bias = max(-wc, min(wc, self.bias - lr * gb))

    # ---------------------------------------------------------------- persistence

    def to_model(self) -> ToxicityModel:
        return ToxicityModel(
            feature_names=list(TOXICITY_FEATURES),
            weights=list(self.weights),
            bias=self.bias,
            metrics=dict(self.metrics),
        )
