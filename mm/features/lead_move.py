"""The lead venue's own move: a changepoint on the reference (Binance) price itself.

Why: Binance leads Hyperliquid by about 650 ms. A cascade shows on Binance first as a
run of same-direction moves of the reference mid; on our venue it arrives a lead later.
The lead-lag divergence (:mod:`mm.alpha.leadlag`) compares the reference with our mid,
so its noise includes the whole lagged move of the lead (sigma x sqrt(lead)); the
reference's own returns over one update (50-100 ms) are several times quieter, so a
drift shows in them within one to three updates. This detector watches those returns.

What this module owns: :class:`LeadMoveConfig` and :class:`LeadMoveDetector` (one per
symbol). Pure logic; times come in as arguments. The feature engine uses it to flip
toxicity to Toxic on the update that shows the move (the state machine then goes Flat on
that very snapshot), and the alpha engine uses it for the direction and size of the
lead-lag skew (both run the same class on the same reference prices).

The model, per update of the reference mid R at time t (dt since the previous one)::

    r_t   = ln(R_t / R_{t-1}) * 1e4                       bps
    v_t   = EWMA over updates of min(r^2/dt, (winsor^2) v_{t-1})   variance per second,
            time-aware half-life noise_half_life_s, floored at min_sigma_bps^2
    z_t   = r_t / sqrt(v_t dt)                            the move in noise units
    CUSUM U_t = min(cap, max(0, U_{t-1} + z_t - k)),  D_t = min(cap, max(0, D_{t-1} - z_t - k))

The alarm is up while ``max(U, D) >= fire``, pointing up when U is the larger. ``move_bps``
is the reference's move since the alarm's sum last left zero (the onset), in the alarm's
direction: the part of the move our venue has not seen yet (it is younger than the lead).
An update more than ``max_gap_s`` after the previous one resets the detector (a feed
outage is not a move); no alarm during the first ``warmup_updates`` (noise unknown).
A reference mid that did not change is not an update (nothing new was seen).
"""

from __future__ import annotations

import math
from typing import Final

import msgspec

_LN2: Final = math.log(2.0)


class LeadMoveConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The reference-move changepoint (see the module docstring for the math).

    Fields:
        enabled: whether the detector runs (False: never an alarm).
        fire_threshold: CUSUM level (noise units) at which the alarm goes up.
        cusum_drift: k, noise units subtracted per update (the CUSUM's allowance).
        cusum_cap: upper bound of each CUSUM sum (>= fire_threshold): bounds how long an
            alarm outlives the move.
        noise_half_life_s: s, half-life of the return-variance EWMA.
        noise_winsor: a squared return enters the variance clipped at this many noise
            units squared (a cascade widens the noise scale only slowly).
        min_sigma_bps: bps per sqrt(s), floor of the noise scale.
        warmup_updates: updates before an alarm may go up.
        max_gap_s: s, a longer gap between updates resets the detector.
        hold_ms: ms the feature engine holds Toxic after the alarm drops: the move reaches
            our venue about a lead (650 ms) after it shows on the reference.
    """

    enabled: bool = True
    fire_threshold: float = 4.0
    cusum_drift: float = 0.5
    cusum_cap: float = 10.0
    noise_half_life_s: float = 30.0
    noise_winsor: float = 3.0
    min_sigma_bps: float = 0.05
    warmup_updates: int = 50
    max_gap_s: float = 5.0
    hold_ms: int = 1_000

    def __post_init__(self) -> None:
        for name in ("fire_threshold", "noise_half_life_s", "noise_winsor", "min_sigma_bps", "max_gap_s"):
            v = getattr(self, name)
            if not (v > 0.0 and math.isfinite(v)):
                raise ValueError(f"{name}: must be finite and > 0, got {v!r}")
        if not (self.cusum_drift >= 0.0 and math.isfinite(self.cusum_drift)):
            raise ValueError("cusum_drift: must be finite and >= 0")
        if not (math.isfinite(self.cusum_cap) and self.cusum_cap >= self.fire_threshold):
            raise ValueError("cusum_cap: must be finite and >= fire_threshold")
        if self.warmup_updates < 0:
            raise ValueError("warmup_updates: must be >= 0")
        if self.hold_ms < 0:
            raise ValueError("hold_ms: must be >= 0")


class LeadMoveDetector:
    """Two-sided CUSUM on the reference mid's own noise-scaled returns."""

    __slots__ = ("_dn", "_last_ns", "_last_px", "_n", "_onset_dn_px", "_onset_up_px", "_tau_ns", "_up", "_var",
                 "alarm_since_ns", "cfg", "direction", "fires", "move_bps", "strength")

    def __init__(self, cfg: LeadMoveConfig | None = None) -> None:
        self.cfg = cfg if cfg is not None else LeadMoveConfig()
        self._tau_ns = self.cfg.noise_half_life_s / _LN2 * 1e9
        self.fires = 0
        self.reset()

    def reset(self) -> None:
        """Forget the price history and the alarm (after an outage); ``fires`` is kept."""
        self._last_px = 0.0
        self._last_ns = -1
        self._n = 0
        self._var = self.cfg.min_sigma_bps**2
        self._up = 0.0
        self._dn = 0.0
        self._onset_up_px = 0.0
        self._onset_dn_px = 0.0
        self.direction = 0
        self.move_bps = 0.0
        self.strength = 0.0
        self.alarm_since_ns = -1

    @property
    def alarm(self) -> bool:
        return self.direction != 0

    @property
    def sigma_bps(self) -> float:
        """Noise scale, bps per sqrt(s)."""
        return math.sqrt(self._var)

    def update(self, ts_ns: int, ref_px: float) -> bool:
        """One reference mid; True when the alarm state (up/down/none) changed."""
        c = self.cfg
        if not c.enabled or not (ref_px > 0.0 and math.isfinite(ref_px)):
            return False
        before = self.direction
        if self._n > 0 and ts_ns - self._last_ns > c.max_gap_s * 1e9:
            self.reset()
        if self._n == 0:
            self._last_px = ref_px
            self._last_ns = ts_ns
            self._n = 1
            self._onset_up_px = self._onset_dn_px = ref_px
            return before != self.direction
        if ref_px == self._last_px:
            return False
        dt_ns = ts_ns - self._last_ns
        if dt_ns < 1_000_000:  # same instant (or clock noise): count it over 1 ms
            dt_ns = 1_000_000
        dt_s = dt_ns * 1e-9
        r = math.log(ref_px / self._last_px) * 1e4
        sd = math.sqrt(self._var * dt_s)
        z = r / sd
        if self._n > c.warmup_updates:
            if self._up <= 0.0:
                self._onset_up_px = self._last_px
            if self._dn <= 0.0:
                self._onset_dn_px = self._last_px
            up = self._up + z - c.cusum_drift
            dn = self._dn - z - c.cusum_drift
            self._up = min(c.cusum_cap, up if up > 0.0 else 0.0)
            self._dn = min(c.cusum_cap, dn if dn > 0.0 else 0.0)
        # the noise always learns, from a winsorised square per second
        a = 1.0 - math.exp(-dt_ns / self._tau_ns)
        if self._n <= c.warmup_updates:
            a = max(a, 1.0 / self._n)
        lim = c.noise_winsor * c.noise_winsor * self._var
        q = r * r / dt_s
        self._var += a * ((q if q < lim else lim) - self._var)
        floor = c.min_sigma_bps * c.min_sigma_bps
        if self._var < floor:
            self._var = floor
        self._n += 1
        self._last_px = ref_px
        self._last_ns = ts_ns
        s = self._up if self._up >= self._dn else self._dn
        if s >= c.fire_threshold:
            d = 1 if self._up >= self._dn else -1
            onset = self._onset_up_px if d > 0 else self._onset_dn_px
            self.move_bps = d * math.log(ref_px / onset) * 1e4 if onset > 0.0 else 0.0
            self.strength = s
            if d != self.direction:
                self.fires += 1
                self.alarm_since_ns = ts_ns
            self.direction = d
        else:
            self.direction = 0
            self.move_bps = 0.0
            self.strength = 0.0
            self.alarm_since_ns = -1
        return before != self.direction
