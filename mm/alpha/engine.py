"""The alpha engine: from a StateSnapshot to an AlphaSignal, kept apart from inventory.

Seed 000 §1.3: directional conviction is separate from inventory management. This module
owns the conviction side only: what inventory the predictive signals would want held,
never how the current inventory should be worked off (that is execution's state machine,
which clamps this target by its risk envelope). Pure logic; one detector per symbol.

Signals, per snapshot of a symbol:

- Predictive lead-lag (:mod:`mm.alpha.leadlag`): the de-based Binance-Hyperliquid
  divergence with a two-sided CUSUM; ``lead_lag_skew_bps`` is the expected move of our mid
  over the lead horizon (+ = up), non-zero from the first statistical divergence,
  ``changepoint`` says the alarm is up. ``divergence_bps`` is the raw (reference - mid) /
  mid in bps, as before.
- Toxicity is passed through from the snapshot (it says how dangerous the flow is, not
  which way to lean).

Target inventory (mean-variance): with expected move mu = ``lead_lag_skew_bps`` over the
horizon h and sigma_h the mid's standard deviation over h (from the snapshot's
``sigma_ewma``, the EWMA of |Δmid| per ``sigma_sample_ms`` sample: sigma_h = sigma_ewma *
sqrt(pi/2) * sqrt(h / sample), floored at ``min_sigma_bps``)::

    conviction = clip(mu / (risk_aversion_per_bps * sigma_h^2), -1, 1)
    target_inventory (base qty) = conviction * max_target_notional_usd / mid_px

so the full target is reached when the expected move is ``risk_aversion_per_bps`` times
the variance over the horizon; without a reference price or a changepoint the target is 0.

Model weights (seed 002, the continuous validator): risk scores each symbol's lead-lag
signal live (model ``leadlag.<COIN>``, mm.validation.signals) and publishes the validator's
weights on ControlState. :meth:`AlphaEngine.set_model_weights` takes them; the skew (and so
the target) is multiplied by the symbol's weight: a Degraded signal counts for 5-50%, a
Retired one for nothing (skew 0, target 0, no changepoint: the signal is disabled until an
operator reinstates it). The weight applied travels in ``AlphaSignal.model_weight``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from mm.alpha.leadlag import LeadLagConfig, LeadLagDetector, LeadLagParams, LeadLagState
from mm.schema import AlphaSignal, StateSnapshot
from mm.validation.signals import leadlag_model_name

_SQRT_HALF_PI = math.sqrt(math.pi / 2.0)


def divergence_bps(ref_mid_px: float, mid_px: float) -> float:
    """(reference mid - our mid) / our mid, in bps; 0 when either side is missing."""
    if ref_mid_px > 0.0 and mid_px > 0.0 and math.isfinite(ref_mid_px + mid_px):
        return (ref_mid_px - mid_px) / mid_px * 1e4
    return 0.0


class AlphaConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[alpha]``: target inventory from the predictive signals.

    Fields:
        leadlag: the lead-lag detector's config (used for symbols without a model file).
        risk_aversion_per_bps: 1/bps; full conviction when the expected move equals this
            times the variance (bps^2) over the horizon.
        max_target_notional_usd: USD, the largest target the alpha asks for, either way.
        sigma_sample_ms: ms, the feature engine's sigma grid (``FeatureConfig.sigma_sample_ms``).
        min_sigma_bps: bps, floor of sigma over the horizon (a flat tape must not give
            infinite conviction).
    """

    leadlag: LeadLagConfig = msgspec.field(default_factory=LeadLagConfig)
    risk_aversion_per_bps: float = 1.0
    max_target_notional_usd: float = 1000.0
    sigma_sample_ms: int = 100
    min_sigma_bps: float = 0.1

    def __post_init__(self) -> None:
        for name in ("risk_aversion_per_bps", "min_sigma_bps"):
            v = getattr(self, name)
            if not (v > 0.0 and math.isfinite(v)):
                raise ValueError(f"{name}: must be finite and > 0, got {v!r}")
        if not (self.max_target_notional_usd >= 0.0 and math.isfinite(self.max_target_notional_usd)):
            raise ValueError("max_target_notional_usd: must be finite and >= 0")
        if self.sigma_sample_ms <= 0:
            raise ValueError("sigma_sample_ms: must be > 0")


def target_inventory_qty(skew_bps: float, sigma_ewma_bps: float, mid_px: float, horizon_s: float,
                         cfg: AlphaConfig) -> float:
    """The mean-variance target in base qty (see the module docstring)."""
    if skew_bps == 0.0 or not mid_px > 0.0:
        return 0.0
    sigma_h = max(sigma_ewma_bps, 0.0) * _SQRT_HALF_PI * math.sqrt(horizon_s * 1000.0 / cfg.sigma_sample_ms)
    if sigma_h < cfg.min_sigma_bps:
        sigma_h = cfg.min_sigma_bps
    conv = skew_bps / (cfg.risk_aversion_per_bps * sigma_h * sigma_h)
    conv = 1.0 if conv > 1.0 else (-1.0 if conv < -1.0 else conv)
    return conv * cfg.max_target_notional_usd / mid_px


class AlphaEngine:
    """One AlphaSignal per snapshot, per symbol: ``on_snapshot(snap, now_ns) -> AlphaSignal``.

    ``models`` maps symbol_id to a fitted lead-lag file (``LeadLagParams``, from
    ``mm.alpha.leadlag.decode_params(bytes)``); other symbols use ``cfg.leadlag``.
    ``symbols``: the coin of each symbol id (its model name is ``leadlag.<COIN>``; without
    it, ``leadlag.<id>``).
    """

    def __init__(self, cfg: AlphaConfig | None = None, models: dict[int, LeadLagParams] | None = None,
                 symbols: list[str] | None = None) -> None:
        self.cfg = cfg if cfg is not None else AlphaConfig()
        self.models = dict(models) if models else {}
        self.detectors: dict[int, LeadLagDetector] = {}
        self.seq = 0
        self.symbols = list(symbols or [])
        self.weights: dict[str, float] = {}

    def model_name(self, symbol_id: int) -> str:
        """The validator's name of a symbol's lead-lag signal."""
        coin = self.symbols[symbol_id] if 0 <= symbol_id < len(self.symbols) else str(symbol_id)
        return leadlag_model_name(coin)

    def horizon_s(self, symbol_id: int) -> float:
        """The horizon a symbol's skew predicts, s."""
        m = self.models.get(symbol_id)
        return (m.config if m is not None else self.cfg.leadlag).horizon_s

    def set_model_weights(self, weights: Mapping[str, float]) -> None:
        """The validator's weights (ControlState.model_weights); a model not listed weighs 1.
        Weights are clipped to [0, 1]; a non-finite one counts as 0."""
        self.weights = {n: (min(max(w, 0.0), 1.0) if math.isfinite(w) else 0.0) for n, w in weights.items()}

    def weight(self, symbol_id: int) -> float:
        return self.weights.get(self.model_name(symbol_id), 1.0)

    def detector(self, symbol_id: int) -> LeadLagDetector:
        det = self.detectors.get(symbol_id)
        if det is None:
            m = self.models.get(symbol_id)
            det = LeadLagDetector(m.config if m is not None else self.cfg.leadlag)
            self.detectors[symbol_id] = det
        return det

    def evaluate(self, snap: StateSnapshot) -> tuple[LeadLagState, float]:
        """Update the symbol's detector with a snapshot; (detector state, target qty), both
        unweighted (the raw model)."""
        det = self.detector(snap.symbol_id)
        st = det.update(snap.ts_ns, snap.ref_mid_px, snap.mid_px)
        tgt = target_inventory_qty(st.skew_bps, snap.sigma_ewma, snap.mid_px, det.cfg.horizon_s, self.cfg)
        return st, tgt

    def on_snapshot(self, snap: StateSnapshot, now_ns: int) -> AlphaSignal:
        st = self.detector(snap.symbol_id).update(snap.ts_ns, snap.ref_mid_px, snap.mid_px)
        w = self.weight(snap.symbol_id)
        if w != 1.0:
            st = msgspec.structs.replace(st, skew_bps=st.skew_bps * w, changepoint=st.changepoint and w > 0.0)
        tgt = target_inventory_qty(st.skew_bps, snap.sigma_ewma, snap.mid_px, self.horizon_s(snap.symbol_id),
                                   self.cfg)
        self.seq += 1
        return AlphaSignal(
            symbol_id=snap.symbol_id,
            ts_ns=now_ns,
            origin_ts_ns=snap.origin_ts_ns,
            seq=self.seq,
            target_inventory=tgt,
            lead_lag_skew_bps=st.skew_bps,
            divergence_bps=divergence_bps(snap.ref_mid_px, snap.mid_px),
            toxicity=snap.toxicity,
            toxic_prob=snap.toxic_prob,
            changepoint=st.changepoint,
            model_weight=w,
        )
