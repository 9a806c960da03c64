"""Predictive lead-lag (seed 000 §1.1, phase 5; issue 5 item 8): fire on the first
statistical divergence of Binance from Hyperliquid, with skew scaled by its size.

Why: Binance USD-M leads Hyperliquid by 600-700 ms (ARCHITECTURE.md). A signal that waits
for a confirmed, mutual-information-thresholded lead is stale by the time quotes move; one
that reacts to the *first* divergence that the noise cannot explain has most of the lead
left to use.

What this module owns: one detector per symbol. Pure logic; times come in as arguments.

The model, per update at time t with the reference (Binance) mid R and our mid M::

    d_t    = ln(R / M) * 1e4                                       raw divergence, bps
    b_t    = EWMA of d (half-life basis_half_life_s, time-aware)   the persistent basis
             (USDT vs USDC quotes, funding); slow, so a divergence of seconds barely moves
             it, yet a lasting shift of the basis is absorbed and ends the alarm
    dev_t  = d_t - b_t                                             divergence, bps
    s_t    = sqrt(EWMA of min(dev^2, (noise_winsor s_{t-1})^2)) (half-life noise_half_life_s),
             floored at min_noise_bps: the typical size of the divergence, lag included
    z_t    = dev_t / s_t
    CUSUM  (two-sided, Page 1954):  U_t = min(cap, max(0, U_{t-1} + z_t - k))
                                    D_t = min(cap, max(0, D_{t-1} - z_t - k))

An alarm (``changepoint``) is up while ``max(U, D) >= fire_threshold``, pointing up when
U is the larger (Binance above us: our mid should rise). A jump of ``fire_threshold + k``
noise units fires on the update that shows it; smaller persistent drifts fire after
accumulating. Confidence rises linearly from 0 at the fire threshold to 1 at
``confirm_threshold``::

    confidence = clip((S - fire) / (confirm - fire), 0, 1) in the alarm's direction, S = max(U, D)
    skew_bps   = clip(pass_through * dev_t * max(confidence, min_confidence), +-max_skew_bps)  while alarmed
               = 0 otherwise

``skew_bps`` is the expected move of our mid over the lead horizon, in bps (+ = up): a small
skew at the first sign of divergence (``min_confidence`` of the pass-through), the full
pass-through at confirmation, and always proportional to the divergence itself, so the
skew fades as Hyperliquid catches up (dev -> 0) even before the CUSUM has decayed.
``pass_through`` (the share of a divergence our mid closes within ``horizon_s``) is fitted
offline by least squares through the origin (:mod:`mm.models.train`); its prior is 0.8.
The cap on U and D (``cusum_cap``) bounds how long an alarm outlives its divergence.

Second channel, the lead's own move (:mod:`mm.features.lead_move`, ``lead_move``): the
divergence's noise holds the whole lagged move of the lead, so a cascade's first
100-300 ms hide in it; the reference's own returns are several times quieter. While that
detector's alarm is up (direction e, the reference's move since its onset m bps, strength
S) it sets the direction and::

    skew_bps = e * pass_through * max(e * dev_t, m) * max(conf_m, min_confidence)
    conf_m   = clip((S - fire_m) / (cap_m - fire_m), 0, 1)

(the larger of the divergence and the move not yet seen here), clipped at max_skew_bps;
where the divergence alarm agrees and gives a larger skew, that one is kept.

Defaults (k = 0.5, fire 4, confirm 8) were chosen on a generated stream of another seed
than the one ``mmctl train`` reports on: on white noise at 10 updates/s they raise the
alarm on about 2% of updates (about 4-5 false fires a minute, each with a skew of a
fraction of the noise); on labelled cascades they fire within about 10-150 ms of the
Binance start.

Model file: msgspec JSON ``{"format": "mm.leadlag", "version": 1, ...}``
(:class:`LeadLagParams`, the config plus fitted pass-through and metrics).
"""

from __future__ import annotations

import math
from typing import Final

import msgspec

from mm.features.lead_move import LeadMoveConfig, LeadMoveDetector

MODEL_FORMAT: Final = "mm.leadlag"
MODEL_VERSION: Final = 1
_LN2: Final = math.log(2.0)


class LeadLagConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[alpha.leadlag]``: the detector (see the module docstring for the math).

    Fields:
        basis_half_life_s: s, half-life of the basis EWMA (slow: a divergence is fast).
        noise_half_life_s: s, half-life of the divergence noise EWMA.
        min_noise_bps: bps, floor of the noise scale (a flat tape must not give z = inf).
        cusum_drift: k, noise units subtracted per update (the allowance of the CUSUM).
        fire_threshold: CUSUM level at which the alarm goes up (first divergence).
        confirm_threshold: CUSUM level of full confidence (> fire_threshold).
        cusum_cap: upper bound of each CUSUM sum (>= confirm_threshold).
        min_confidence: confidence applied at the fire threshold (the first small skew).
        pass_through: share of the divergence our mid closes within ``horizon_s``.
        horizon_s: s, the horizon the skew predicts (about the lead).
        max_skew_bps: bps, cap of the skew's magnitude.
        warmup_updates: updates before the detector may fire (noise scale not yet known).
        noise_winsor: the squared divergence entering the noise EWMA is clipped at this
            many noise units (a cascade's divergence widens the scale only slowly).
        max_gap_s: s, a gap between updates longer than this (a feed outage on either
            venue) resets the detector: a stale basis must not read as a divergence.
        lead_move: the reference's own-move channel (:mod:`mm.features.lead_move`).
    """

    basis_half_life_s: float = 120.0
    noise_half_life_s: float = 30.0
    min_noise_bps: float = 0.2
    cusum_drift: float = 0.5
    fire_threshold: float = 4.0
    confirm_threshold: float = 8.0
    cusum_cap: float = 12.0
    min_confidence: float = 0.25
    pass_through: float = 0.8
    horizon_s: float = 1.0
    max_skew_bps: float = 20.0
    warmup_updates: int = 50
    noise_winsor: float = 3.0
    max_gap_s: float = 5.0
    lead_move: LeadMoveConfig = msgspec.field(default_factory=LeadMoveConfig)

    def __post_init__(self) -> None:
        for name in ("basis_half_life_s", "noise_half_life_s", "min_noise_bps", "horizon_s", "max_skew_bps",
                     "max_gap_s"):
            v = getattr(self, name)
            if not (v > 0.0 and math.isfinite(v)):
                raise ValueError(f"{name}: must be finite and > 0, got {v!r}")
        if not (self.cusum_drift >= 0.0 and math.isfinite(self.cusum_drift)):
            raise ValueError("cusum_drift: must be finite and >= 0")
        if not (0.0 < self.fire_threshold < self.confirm_threshold <= self.cusum_cap < math.inf):
            raise ValueError("fire_threshold < confirm_threshold <= cusum_cap must hold, all finite and > 0")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError("min_confidence: must be in [0, 1]")
        if not (0.0 <= self.pass_through <= 2.0):
            raise ValueError("pass_through: must be in [0, 2]")
        if not (self.noise_winsor > 0.0 and math.isfinite(self.noise_winsor)):
            raise ValueError("noise_winsor: must be finite and > 0")
        if self.warmup_updates < 0:
            raise ValueError("warmup_updates: must be >= 0")


class LeadLagParams(msgspec.Struct, frozen=True, kw_only=True):
    """The saved detector: its config (pass-through fitted) and how it did."""

    format: str = MODEL_FORMAT
    version: int = MODEL_VERSION
    symbol: str
    config: LeadLagConfig
    metrics: dict[str, float] = {}
    trained_on: str = ""


def encode_params(p: LeadLagParams) -> bytes:
    return msgspec.json.encode(p)


def decode_params(data: bytes) -> LeadLagParams:
    """Parse and validate (the config validates itself); ValueError names the bad field."""
    try:
        p = msgspec.json.decode(data, type=LeadLagParams)
    except msgspec.DecodeError as exc:
        raise ValueError(f"leadlag model: {exc}") from exc
    if p.format != MODEL_FORMAT:
        raise ValueError(f"format: expected {MODEL_FORMAT!r}, got {p.format!r}")
    if p.version != MODEL_VERSION:
        raise ValueError(f"version: expected {MODEL_VERSION}, got {p.version}")
    return p


class LeadLagState(msgspec.Struct, frozen=True, kw_only=True):
    """One update's output."""

    divergence_bps: float  # raw d
    dev_bps: float  # d - basis
    z: float
    cusum_up: float
    cusum_down: float
    changepoint: bool  # alarm up
    direction: int  # +1 up, -1 down, 0 none
    confidence: float
    skew_bps: float


_NONE: Final = LeadLagState(divergence_bps=0.0, dev_bps=0.0, z=0.0, cusum_up=0.0, cusum_down=0.0,
                            changepoint=False, direction=0, confidence=0.0, skew_bps=0.0)


def raw_divergence_bps(ref_mid_px: float, mid_px: float) -> float:
    """ln(ref / mid) in bps; 0 when either is missing."""
    if ref_mid_px > 0.0 and mid_px > 0.0 and math.isfinite(ref_mid_px) and math.isfinite(mid_px):
        return math.log(ref_mid_px / mid_px) * 1e4
    return 0.0


class LeadLagDetector:
    """Two-sided CUSUM on the de-based, noise-scaled Binance-Hyperliquid divergence."""

    __slots__ = ("_basis", "_down", "_last_ns", "_move", "_n", "_tau_b_ns", "_tau_n_ns", "_up", "_var", "cfg",
                 "fires", "last")

    def __init__(self, cfg: LeadLagConfig | None = None) -> None:
        self.cfg = cfg if cfg is not None else LeadLagConfig()
        self._tau_b_ns = self.cfg.basis_half_life_s / _LN2 * 1e9
        self._tau_n_ns = self.cfg.noise_half_life_s / _LN2 * 1e9
        self._move = LeadMoveDetector(self.cfg.lead_move)
        self.reset()

    def reset(self) -> None:
        """Forget everything (after a feed outage of either venue)."""
        self._basis = 0.0
        self._var = 0.0
        self._up = 0.0
        self._down = 0.0
        self._n = 0
        self._last_ns = -1
        self.fires = 0
        self.last = _NONE
        self._move.reset()

    @property
    def noise_bps(self) -> float:
        return max(math.sqrt(self._var), self.cfg.min_noise_bps)

    @property
    def basis_bps(self) -> float:
        return self._basis

    def update(self, ts_ns: int, ref_mid_px: float, mid_px: float) -> LeadLagState:
        """One observation of both mids (call on every snapshot); missing ones give no signal."""
        if not (ref_mid_px > 0.0 and mid_px > 0.0 and math.isfinite(ref_mid_px + mid_px)):
            self.last = _NONE
            return _NONE
        c = self.cfg
        d = math.log(ref_mid_px / mid_px) * 1e4
        if self._n > 0 and ts_ns - self._last_ns > c.max_gap_s * 1e9:
            fires = self.fires
            self.reset()
            self.fires = fires
        if self._n == 0:
            self._basis = d
            self._var = c.min_noise_bps**2
            self._last_ns = ts_ns
        dt = ts_ns - self._last_ns if ts_ns > self._last_ns else 0
        self._last_ns = max(self._last_ns, ts_ns)
        dev = d - self._basis
        noise = self.noise_bps
        z = dev / noise
        alarmed_before = max(self._up, self._down) >= c.fire_threshold or self._move.alarm
        if self._n >= c.warmup_updates:
            up = self._up + z - c.cusum_drift
            dn = self._down - z - c.cusum_drift
            self._up = min(c.cusum_cap, up if up > 0.0 else 0.0)
            self._down = min(c.cusum_cap, dn if dn > 0.0 else 0.0)
        self._n += 1
        s = self._up if self._up >= self._down else self._down
        alarm = s >= c.fire_threshold
        ab = 1.0 - math.exp(-dt / self._tau_b_ns) if dt > 0 else 0.0
        if self._n <= c.warmup_updates:  # faster start: running mean over the warm-up
            ab = max(ab, 1.0 / self._n)
        self._basis += ab * dev  # slow enough that a divergence of seconds barely moves it
        # the noise scale always learns, from a winsorised square (one jump cannot blow it up)
        an = 1.0 - math.exp(-dt / self._tau_n_ns) if dt > 0 else 0.0
        if self._n <= c.warmup_updates:
            an = max(an, 1.0 / self._n)
        lim = c.noise_winsor * noise
        dw = dev if -lim <= dev <= lim else (lim if dev > 0.0 else -lim)
        self._var += an * (dw * dw - self._var)
        mv = self._move
        mv.update(ts_ns, ref_mid_px)
        if (alarm or mv.alarm) and not alarmed_before:
            self.fires += 1
        if mv.alarm:
            e = mv.direction
            mc = c.lead_move
            conf = min(max((mv.strength - mc.fire_threshold) / max(mc.cusum_cap - mc.fire_threshold, 1e-9), 0.0), 1.0)
            w = conf if conf > c.min_confidence else c.min_confidence
            skew = e * c.pass_through * max(e * dev, mv.move_bps) * w
            if alarm and (1 if self._up >= self._down else -1) == e:
                cd = (s - c.fire_threshold) / (c.confirm_threshold - c.fire_threshold)
                wd = min(cd, 1.0) if cd > c.min_confidence else c.min_confidence
                sd = c.pass_through * dev * wd
                if sd * e > skew * e:
                    skew, conf = sd, min(cd, 1.0)
            skew = max(-c.max_skew_bps, min(c.max_skew_bps, skew))
            direction = e
            alarm = True
        elif alarm:
            direction = 1 if self._up >= self._down else -1
            conf = (s - c.fire_threshold) / (c.confirm_threshold - c.fire_threshold)
            conf = 1.0 if conf > 1.0 else conf
            w = conf if conf > c.min_confidence else c.min_confidence
            skew = c.pass_through * dev * w
            # the skew follows the alarm's direction; a divergence that has already reversed gives none
            if skew * direction < 0.0:
                skew = 0.0
            skew = max(-c.max_skew_bps, min(c.max_skew_bps, skew))
        else:
            direction = 0
            conf = 0.0
            skew = 0.0
        st = LeadLagState(divergence_bps=d, dev_bps=dev, z=z, cusum_up=self._up, cusum_down=self._down,
                          changepoint=alarm, direction=direction, confidence=conf, skew_bps=skew)
        self.last = st
        return st
