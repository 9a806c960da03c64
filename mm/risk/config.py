"""Configuration of the risk process: limits, safety escalation, promotion, validation, shadow.

One frozen msgspec struct per TOML section (``[risk]``, ``[escalation]``, ``[promotion]``,
``[validation]``, ``[shadow]``). Every field has a default (the seed 002 figures where the
seed gives one) and a line in the struct's docstring with its unit and meaning.
``__post_init__`` validates and raises ``ValueError`` naming the section and field, so a
bad value fails when the configuration is loaded, not at the first fill.

Level names in config (``"MICRO_LIVE"``, ``"ORANGE"``) are the member names of
:class:`mm.schema.ExposureLevel` and :class:`mm.schema.SafetyLevel`.
"""

from __future__ import annotations

import itertools
import math
from typing import Final, Literal

import msgspec

from mm.schema import ExposureLevel, SafetyLevel
from mm.venues.hyperliquid.client_config import _ENV_NAME, _looks_like_key

RISK_KEY_FILE_SUFFIX: Final = ".risk"
RISK_KEY_ENV_SUFFIX: Final = "_RISK"

N_EXPOSURE_LEVELS = len(ExposureLevel)
N_SAFETY_LEVELS = len(SafetyLevel)


def _require(cond: bool, field: str, why: str) -> None:
    if not cond:
        raise ValueError(f"{field}: {why}")


def _pos(x: float) -> bool:
    return math.isfinite(x) and x > 0.0


def _nonneg(x: float) -> bool:
    return math.isfinite(x) and x >= 0.0


def _frac(x: float) -> bool:
    return math.isfinite(x) and 0.0 <= x <= 1.0


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class RiskConfig(_Section, frozen=True):
    """``[risk]``: capital, drawdown, notional caps, position-at-risk, reconciliation.

    Fields:
        capital_usd: USD, the capital the drawdown percentage is taken of (the account's
            collateral allotted to this system).
        peak_window_s: s, window of the equity high-water mark that drawdown is measured
            from; 0 means since the process started.
        notional_cap_usd: USD, default per-symbol cap on |position| x mark; the position share
            fed to escalation is |notional| / cap.
        symbol_caps_usd: USD, per-coin overrides of ``notional_cap_usd``, e.g. {BTC = 50000}.
        par_budget_pct: % of capital, budget of the position-at-risk summed over symbols.
        par_horizon_s: s, horizon of the position-at-risk (sigma scales with its square root).
        par_z: quantile multiplier of the position-at-risk (2.33: one-sided 99%).
        default_sigma_bps_per_sqrt_s: bps per sqrt(s), volatility used for a symbol before the
            feature engine has reported one.
        reconcile_tol_usd: USD, a difference between our position and the venue's larger than
            this (|dqty| x mark) is a mismatch.
        reconcile_interval_s: s, how often the risk process asks the venue for its positions
            (clearinghouseState).
        markout_horizon_s: s, a fill's realised edge is the mid move this long after it, in
            the fill's direction, net of its fee.
        max_pending_markouts: fills awaiting their markout, kept at most (oldest dropped,
            counted).
        key_file: path of the file holding risk's own API wallet key (hex, owner-only 0600),
            used outside paper mode for the independent kill path and position reads; risk
            signs with a different wallet from execution's (separate nonce stream). Empty:
            see ``key_env``.
        key_env: NAME of the environment variable holding risk's key (never the key), used
            when ``key_file`` is empty. Both empty (the default): derived from ``[exchange]``,
            ``<exchange.key_file>.risk`` when that is set, else ``<exchange.key_env>_RISK``.
            In paper mode against the sim none of these is read (generated keys).
    """

    capital_usd: float = 100_000.0
    peak_window_s: float = 0.0
    notional_cap_usd: float = 20_000.0
    symbol_caps_usd: dict[str, float] = msgspec.field(default_factory=dict)
    par_budget_pct: float = 1.0
    par_horizon_s: float = 60.0
    par_z: float = 2.33
    default_sigma_bps_per_sqrt_s: float = 1.0
    reconcile_tol_usd: float = 1.0
    reconcile_interval_s: float = 30.0
    markout_horizon_s: float = 5.0
    max_pending_markouts: int = 10_000
    key_file: str = ""
    key_env: str = ""

    def __post_init__(self) -> None:
        _require(_pos(self.capital_usd), "risk.capital_usd", "must be > 0")
        _require(_nonneg(self.peak_window_s), "risk.peak_window_s", "must be >= 0")
        _require(_pos(self.notional_cap_usd), "risk.notional_cap_usd", "must be > 0")
        for coin, cap in self.symbol_caps_usd.items():
            _require(_pos(cap), f"risk.symbol_caps_usd.{coin}", "must be > 0")
        _require(_pos(self.par_budget_pct), "risk.par_budget_pct", "must be > 0")
        _require(_pos(self.par_horizon_s), "risk.par_horizon_s", "must be > 0")
        _require(_pos(self.par_z), "risk.par_z", "must be > 0")
        _require(_pos(self.default_sigma_bps_per_sqrt_s), "risk.default_sigma_bps_per_sqrt_s", "must be > 0")
        _require(_nonneg(self.reconcile_tol_usd), "risk.reconcile_tol_usd", "must be >= 0")
        _require(_pos(self.reconcile_interval_s), "risk.reconcile_interval_s", "must be > 0")
        _require(_pos(self.markout_horizon_s), "risk.markout_horizon_s", "must be > 0")
        _require(self.max_pending_markouts >= 1, "risk.max_pending_markouts", "must be >= 1")
        if self.key_file:
            _require(not _looks_like_key(self.key_file), "risk.key_file", "must be a path to a key file, not a key")
        if self.key_env:
            _require(bool(_ENV_NAME.match(self.key_env)) and len(self.key_env) <= 128, "risk.key_env",
                     "must be the NAME of an environment variable (letters, digits, underscore), not a key")

    def key_source(self, exchange_key_file: str, exchange_key_env: str) -> tuple[Literal["file", "env"], str]:
        """Where risk's key is loaded from outside paper mode: ("file", path) or ("env", NAME)
        (``key_file``, else ``key_env``, else derived from [exchange]; see the fields)."""
        if self.key_file:
            return "file", self.key_file
        if self.key_env:
            return "env", self.key_env
        if exchange_key_file:
            return "file", exchange_key_file + RISK_KEY_FILE_SUFFIX
        return "env", exchange_key_env + RISK_KEY_ENV_SUFFIX

    def cap_usd(self, coin: str) -> float:
        """The notional cap of a coin, USD."""
        return self.symbol_caps_usd.get(coin, self.notional_cap_usd)


class EscalationConfig(_Section, frozen=True):
    """``[escalation]``: SafetyEscalator entry conditions, dwell, effects, kill path.

    Entry conditions (any one enters its level; escalation is instant and may skip levels):

    Fields:
        yellow_drawdown_pct, orange_drawdown_pct, red_drawdown_pct, kill_drawdown_pct: % of
            capital, drawdown from the peak above which the level is entered (strictly
            increasing; seed: 0.5, 1, 2, 5).
        yellow_degraded_models: degraded models that enter Yellow (seed: 1).
        orange_degraded_models: degraded models that enter Orange (seed: 2); >= the Yellow count.
        orange_position_share: largest |notional| / cap over symbols above which Orange is
            entered (seed: 0.7, "position > 70% of limit").
        kill_position_share: position share above which the position is a runaway (the limits
            were bypassed): Kill.
        orange_par_share: position-at-risk / budget above which Orange is entered.
        red_on_cascade: a symbol in the Cascade regime enters Red.
        red_stale_data_s: s, market data stale (FeedStale) this long enters Red.
        kill_stale_data_s: s, market data stale this long enters Kill; > red_stale_data_s.
        reconcile_mismatch_level: level entered while our position differs from the venue's
            ("GREEN" disables).
        dwell_s: s, minimum dwell per level in order Green, Yellow, Orange, Red, Kill
            (seed: -, 30, 60, 300); counted from the later of entering the level and the
            last time its condition held; Green's and Kill's entries are unused (Kill is left
            only by an operator).
        clear_ratio: hysteresis: a numeric condition counts as clear only below ratio x its
            entry threshold (0 < ratio <= 1).
        yellow_spread_multiplier, yellow_size_multiplier: Yellow effects (seed: 1.5, 0.5).
        orange_spread_multiplier, orange_size_multiplier: Orange effects (seed: size 0.25;
            quoting only the side that reduces inventory).
        red_spread_multiplier: Red spread multiplier (Red cancels all quotes; only
            reduce-only exits, whose size is not scaled).
        health_window_s: s, window over which exchange events (reconnects, 429s, rejects,
            timeouts) are counted for exchange health.
        health_degraded_events: events in the window that make exchange health Degraded.
        health_critical_events: events in the window that make exchange health Critical.
        health_critical_disconnect_s: s, disconnected this long makes exchange health Critical.
        kill_cancel_deadline_ms: ms, after the kill switch trips, execution has this long to
            confirm cancel-all before risk cancels through its own venue connection.
        kill_cancel_retry_ms: ms between risk's own cancel-all attempts until the venue
            reports no open orders.
        max_history: safety transitions kept in memory and persisted (oldest dropped).
    """

    yellow_drawdown_pct: float = 0.5
    orange_drawdown_pct: float = 1.0
    red_drawdown_pct: float = 2.0
    kill_drawdown_pct: float = 5.0
    yellow_degraded_models: int = 1
    orange_degraded_models: int = 2
    orange_position_share: float = 0.7
    kill_position_share: float = 1.5
    orange_par_share: float = 1.0
    red_on_cascade: bool = True
    red_stale_data_s: float = 5.0
    kill_stale_data_s: float = 60.0
    reconcile_mismatch_level: str = "YELLOW"
    dwell_s: list[float] = msgspec.field(default_factory=lambda: [0.0, 30.0, 60.0, 300.0, 0.0])
    clear_ratio: float = 0.8
    yellow_spread_multiplier: float = 1.5
    yellow_size_multiplier: float = 0.5
    orange_spread_multiplier: float = 1.5
    orange_size_multiplier: float = 0.25
    red_spread_multiplier: float = 1.0
    health_window_s: float = 60.0
    health_degraded_events: int = 1
    health_critical_events: int = 5
    health_critical_disconnect_s: float = 10.0
    kill_cancel_deadline_ms: int = 1_000
    kill_cancel_retry_ms: int = 1_000
    max_history: int = 1_000

    def __post_init__(self) -> None:
        dds = [self.yellow_drawdown_pct, self.orange_drawdown_pct, self.red_drawdown_pct, self.kill_drawdown_pct]
        for name, v in zip(("yellow", "orange", "red", "kill"), dds):
            _require(_pos(v), f"escalation.{name}_drawdown_pct", "must be > 0")
        _require(all(a < b for a, b in itertools.pairwise(dds)), "escalation.orange_drawdown_pct",
                 "drawdown thresholds must increase strictly from yellow to kill")
        _require(self.yellow_degraded_models >= 1, "escalation.yellow_degraded_models", "must be >= 1")
        _require(self.orange_degraded_models >= self.yellow_degraded_models, "escalation.orange_degraded_models",
                 "must be >= yellow_degraded_models")
        _require(_pos(self.orange_position_share), "escalation.orange_position_share", "must be > 0")
        _require(_pos(self.kill_position_share) and self.kill_position_share > self.orange_position_share,
                 "escalation.kill_position_share", "must be > orange_position_share")
        _require(_pos(self.orange_par_share), "escalation.orange_par_share", "must be > 0")
        _require(_pos(self.red_stale_data_s), "escalation.red_stale_data_s", "must be > 0")
        _require(_pos(self.kill_stale_data_s) and self.kill_stale_data_s > self.red_stale_data_s,
                 "escalation.kill_stale_data_s", "must be > red_stale_data_s")
        _require(self.reconcile_mismatch_level in SafetyLevel.__members__, "escalation.reconcile_mismatch_level",
                 f"must be one of {list(SafetyLevel.__members__)}")
        _require(len(self.dwell_s) == N_SAFETY_LEVELS, "escalation.dwell_s", f"needs {N_SAFETY_LEVELS} values")
        _require(all(_nonneg(d) for d in self.dwell_s), "escalation.dwell_s", "values must be >= 0")
        _require(math.isfinite(self.clear_ratio) and 0.0 < self.clear_ratio <= 1.0, "escalation.clear_ratio",
                 "must be in (0, 1]")
        for name in ("yellow_spread_multiplier", "orange_spread_multiplier", "red_spread_multiplier"):
            _require(math.isfinite(getattr(self, name)) and getattr(self, name) >= 1.0, f"escalation.{name}",
                     "must be >= 1 (a safety level never tightens spreads)")
        for name in ("yellow_size_multiplier", "orange_size_multiplier"):
            _require(_frac(getattr(self, name)), f"escalation.{name}", "must be in [0, 1]")
        _require(self.orange_size_multiplier <= self.yellow_size_multiplier, "escalation.orange_size_multiplier",
                 "must be <= yellow_size_multiplier")
        _require(_pos(self.health_window_s), "escalation.health_window_s", "must be > 0")
        _require(self.health_degraded_events >= 1, "escalation.health_degraded_events", "must be >= 1")
        _require(self.health_critical_events > self.health_degraded_events, "escalation.health_critical_events",
                 "must be > health_degraded_events")
        _require(_pos(self.health_critical_disconnect_s), "escalation.health_critical_disconnect_s", "must be > 0")
        _require(self.kill_cancel_deadline_ms >= 1, "escalation.kill_cancel_deadline_ms", "must be >= 1")
        _require(self.kill_cancel_retry_ms >= 1, "escalation.kill_cancel_retry_ms", "must be >= 1")
        _require(self.max_history >= 10, "escalation.max_history", "must be >= 10")


class PromotionConfig(_Section, frozen=True):
    """``[promotion]``: TradingConfidence, promotion criteria and demotion triggers.

    Promotion from a level (ALL must hold; the state criteria continuously for the dwell):

    Fields:
        auto_promote: promote automatically when the criteria hold (else only on an
            operator's ``mmctl promote``, which the criteria still gate).
        max_auto_level: highest level reached by automatic promotion; above it only an
            operator promotes.
        min_dwell_s: s, minimum time at a level, and for which the state criteria (Brier,
            IR, gap, drawdown, safety, confidence) have held, before promotion from it; one
            value per level Shadow .. Full (seed: 30 min from Shadow).
        min_fills_at_level: fills at the level (shadow fills count in Shadow) before promotion
            from it; one value per level Shadow .. Full (seed: 50 from Shadow).
        max_brier: the worst Brier score of the enabled models must be below this (seed 0.25).
        min_information_ratio: the lowest information ratio of the enabled models must
            exceed this (seed 0.5).
        max_sim_to_real_gap_bps: bps, the sim-to-real gap must be below this (seed 2); not
            measurable in Shadow (no live fills), where an unmeasured gap passes.
        max_drawdown_pct: % of capital, the drawdown must stay at or below this (seed 1).
        min_positive_edge_pct: %, share of the level's fills whose markout edge was positive
            (seed 60).
        require_confidence_band: the overall confidence must also reach the next level's
            band (``confidence_floors``).
        confidence_floors: overall confidence at which each level's band starts, in level
            order Shadow .. Optimized (seed: 0, 0.1, 0.3, 0.5, 0.7, 0.9).
        model_weight, execution_weight, safety_weight: weights of the components in the
            overall confidence (normalised by their sum).
        safety_level_factors: safety confidence factor per safety level Green .. Kill; the
            safety confidence is that factor x (1 - drawdown / kill drawdown).

    Demotion triggers (ANY one demotes at once; each fires on its onset and re-arms when it
    clears, so a lasting condition demotes once, not every cycle):

        drawdown_demote_pct: % of capital, drawdown above which the drawdown trigger fires.
        drawdown_demote_levels: levels dropped by the drawdown trigger (seed: 2).
        safety_demote_level: safety level at or above which the safety trigger fires
            (seed: Orange).
        safety_demote_to: exposure level the safety trigger drops to, at most (seed:
            MicroLive).
        kill_demote_to: exposure level on entering Kill.
        model_degraded_ir: an enabled model's information ratio below this is a model
            degradation (seed 0.3), as is a model turning Degraded or Retired.
        model_demote_levels: levels dropped by a model degradation (seed: 1).
        divergence_gap_bps: bps, sim-to-real gap above which the divergence trigger fires
            (seed 5).
        divergence_demote_levels: levels dropped by the divergence trigger (seed: 1).
        health_demote_levels: levels dropped when exchange health turns Degraded or worse
            (seed: 1).
        rearm_ratio: a numeric trigger re-arms once its value falls below ratio x threshold.
        max_history: exposure level changes kept in memory and persisted (oldest dropped).
    """

    auto_promote: bool = True
    max_auto_level: str = "FULL"
    min_dwell_s: list[float] = msgspec.field(default_factory=lambda: [1800.0, 5400.0, 14400.0, 64800.0, 86400.0])
    min_fills_at_level: list[int] = msgspec.field(default_factory=lambda: [50, 100, 200, 500, 1000])
    max_brier: float = 0.25
    min_information_ratio: float = 0.5
    max_sim_to_real_gap_bps: float = 2.0
    max_drawdown_pct: float = 1.0
    min_positive_edge_pct: float = 60.0
    require_confidence_band: bool = True
    confidence_floors: list[float] = msgspec.field(default_factory=lambda: [0.0, 0.1, 0.3, 0.5, 0.7, 0.9])
    model_weight: float = 0.4
    execution_weight: float = 0.3
    safety_weight: float = 0.3
    safety_level_factors: list[float] = msgspec.field(default_factory=lambda: [1.0, 0.6, 0.3, 0.1, 0.0])
    drawdown_demote_pct: float = 1.0
    drawdown_demote_levels: int = 2
    safety_demote_level: str = "ORANGE"
    safety_demote_to: str = "MICRO_LIVE"
    kill_demote_to: str = "SHADOW"
    model_degraded_ir: float = 0.3
    model_demote_levels: int = 1
    divergence_gap_bps: float = 5.0
    divergence_demote_levels: int = 1
    health_demote_levels: int = 1
    rearm_ratio: float = 0.8
    max_history: int = 10_000

    def __post_init__(self) -> None:
        _require(self.max_auto_level in ExposureLevel.__members__, "promotion.max_auto_level",
                 f"must be one of {list(ExposureLevel.__members__)}")
        n = N_EXPOSURE_LEVELS - 1
        _require(len(self.min_dwell_s) == n, "promotion.min_dwell_s", f"needs {n} values (Shadow .. Full)")
        _require(all(_nonneg(d) for d in self.min_dwell_s), "promotion.min_dwell_s", "values must be >= 0")
        _require(len(self.min_fills_at_level) == n, "promotion.min_fills_at_level",
                 f"needs {n} values (Shadow .. Full)")
        _require(all(f >= 0 for f in self.min_fills_at_level), "promotion.min_fills_at_level", "values must be >= 0")
        _require(_pos(self.max_brier), "promotion.max_brier", "must be > 0")
        _require(math.isfinite(self.min_information_ratio), "promotion.min_information_ratio", "must be finite")
        _require(_pos(self.max_sim_to_real_gap_bps), "promotion.max_sim_to_real_gap_bps", "must be > 0")
        _require(_pos(self.max_drawdown_pct), "promotion.max_drawdown_pct", "must be > 0")
        _require(math.isfinite(self.min_positive_edge_pct) and 0.0 <= self.min_positive_edge_pct <= 100.0,
                 "promotion.min_positive_edge_pct", "must be in [0, 100]")
        fl = self.confidence_floors
        _require(len(fl) == N_EXPOSURE_LEVELS, "promotion.confidence_floors", f"needs {N_EXPOSURE_LEVELS} values")
        _require(fl[0] == 0.0 and all(_frac(x) for x in fl) and all(a < b for a, b in itertools.pairwise(fl)),
                 "promotion.confidence_floors", "must start at 0 and increase strictly within [0, 1]")
        for name in ("model_weight", "execution_weight", "safety_weight"):
            _require(_nonneg(getattr(self, name)), f"promotion.{name}", "must be >= 0")
        _require(self.model_weight + self.execution_weight + self.safety_weight > 0, "promotion.model_weight",
                 "the component weights must not all be 0")
        f = self.safety_level_factors
        _require(len(f) == N_SAFETY_LEVELS, "promotion.safety_level_factors", f"needs {N_SAFETY_LEVELS} values")
        _require(all(_frac(x) for x in f) and all(b <= a for a, b in itertools.pairwise(f)),
                 "promotion.safety_level_factors", "must be in [0, 1] and not increase with the level")
        _require(_pos(self.drawdown_demote_pct), "promotion.drawdown_demote_pct", "must be > 0")
        for name in ("drawdown_demote_levels", "model_demote_levels", "divergence_demote_levels",
                     "health_demote_levels"):
            _require(1 <= getattr(self, name) <= n, f"promotion.{name}", f"must be in [1, {n}]")
        _require(self.safety_demote_level in SafetyLevel.__members__ and self.safety_demote_level != "GREEN",
                 "promotion.safety_demote_level", "must name a safety level above GREEN")
        for name in ("safety_demote_to", "kill_demote_to"):
            _require(getattr(self, name) in ExposureLevel.__members__, f"promotion.{name}",
                     f"must be one of {list(ExposureLevel.__members__)}")
        _require(math.isfinite(self.model_degraded_ir), "promotion.model_degraded_ir", "must be finite")
        _require(_pos(self.divergence_gap_bps), "promotion.divergence_gap_bps", "must be > 0")
        _require(math.isfinite(self.rearm_ratio) and 0.0 < self.rearm_ratio <= 1.0, "promotion.rearm_ratio",
                 "must be in (0, 1]")
        _require(self.max_history >= 10, "promotion.max_history", "must be >= 10")


class ValidationConfig(_Section, frozen=True):
    """``[validation]``: the continuous model validator and its scorecards.

    Fields:
        evaluate_every_fills: the scorecards are re-evaluated every this many fills (seed 20).
        window: observations per model in the rolling window (Brier, IR, MI, slope; seed 100).
        min_observations: observations a model needs before it gets a verdict; before that it
            is Warming (not counted as degraded, no confidence credit).
        healthy_max_brier: Brier below this is healthy (seed 0.25, the uninformed score).
        retire_brier: Brier above this is a retirement breach (seed 0.35).
        healthy_min_ir: information ratio above this is healthy (seed 0.5).
        retire_ir: information ratio below this is a retirement breach (seed 0.3).
        healthy_min_mi_ratio: mutual information / baseline above this is healthy (seed 0.5).
        retire_mi_ratio: mutual information / baseline below this is a retirement breach
            (seed 0.3).
        retire_fast_evaluations: consecutive evaluations with a Brier or IR breach that retire
            a model.
        retire_mi_evaluations: consecutive evaluations with an MI breach that retire a model
            (seed: 20 periods).
        max_edge_bias_bps: bps, |EWMA(predicted - realised edge)| above this is not healthy.
        edge_bias_half_life_obs: observations, half-life of the edge-bias EWMA.
        calibration_slope_min, calibration_slope_max: the slope of realised on predicted edge
            must lie in this range to be healthy (1 is perfect calibration).
        mi_bins: equal-width bins of the predicted probability for the mutual information.
        min_baseline_mi_bits: bits, a baseline MI below this is uninformative and the MI
            criterion is not applied.
        degraded_weight_min, degraded_weight_max: a Degraded model's weight runs from min
            (score 0) to max (score 1) (seed 5% to 50%).
        warming_weight: weight of a model before its first verdict.
        fill_model_name: name of the scorecard fed from fills that carry a predicted edge.
        evaluate_every_observations: the scorecards are also re-evaluated every this many
            resolved model observations (e.g. alpha's lead-lag predictions, scored with no
            fill needed); 0: only every ``evaluate_every_fills`` fills.
    """

    evaluate_every_fills: int = 20
    window: int = 100
    min_observations: int = 20
    healthy_max_brier: float = 0.25
    retire_brier: float = 0.35
    healthy_min_ir: float = 0.5
    retire_ir: float = 0.3
    healthy_min_mi_ratio: float = 0.5
    retire_mi_ratio: float = 0.3
    retire_fast_evaluations: int = 3
    retire_mi_evaluations: int = 20
    max_edge_bias_bps: float = 2.0
    edge_bias_half_life_obs: float = 50.0
    calibration_slope_min: float = 0.5
    calibration_slope_max: float = 1.5
    mi_bins: int = 5
    min_baseline_mi_bits: float = 0.001
    degraded_weight_min: float = 0.05
    degraded_weight_max: float = 0.5
    warming_weight: float = 0.5
    fill_model_name: str = "quote_edge"
    evaluate_every_observations: int = 20

    def __post_init__(self) -> None:
        _require(self.evaluate_every_fills >= 1, "validation.evaluate_every_fills", "must be >= 1")
        _require(self.window >= 2, "validation.window", "must be >= 2")
        _require(2 <= self.min_observations <= self.window, "validation.min_observations",
                 "must be in [2, window]")
        _require(_pos(self.healthy_max_brier) and self.healthy_max_brier < self.retire_brier,
                 "validation.healthy_max_brier", "must be > 0 and < retire_brier")
        _require(self.retire_brier <= 1.0, "validation.retire_brier", "must be <= 1")
        _require(math.isfinite(self.retire_ir) and math.isfinite(self.healthy_min_ir)
                 and self.retire_ir < self.healthy_min_ir, "validation.retire_ir", "must be < healthy_min_ir")
        _require(_frac(self.retire_mi_ratio) and self.retire_mi_ratio < self.healthy_min_mi_ratio,
                 "validation.retire_mi_ratio", "must be in [0, 1] and < healthy_min_mi_ratio")
        _require(self.retire_fast_evaluations >= 1, "validation.retire_fast_evaluations", "must be >= 1")
        _require(self.retire_mi_evaluations >= 1, "validation.retire_mi_evaluations", "must be >= 1")
        _require(_pos(self.max_edge_bias_bps), "validation.max_edge_bias_bps", "must be > 0")
        _require(_pos(self.edge_bias_half_life_obs), "validation.edge_bias_half_life_obs", "must be > 0")
        _require(math.isfinite(self.calibration_slope_min) and math.isfinite(self.calibration_slope_max)
                 and self.calibration_slope_min < self.calibration_slope_max, "validation.calibration_slope_min",
                 "must be < calibration_slope_max")
        _require(2 <= self.mi_bins <= 50, "validation.mi_bins", "must be in [2, 50]")
        _require(_nonneg(self.min_baseline_mi_bits), "validation.min_baseline_mi_bits", "must be >= 0")
        _require(_frac(self.degraded_weight_min) and _frac(self.degraded_weight_max)
                 and self.degraded_weight_min <= self.degraded_weight_max, "validation.degraded_weight_min",
                 "must be in [0, 1] and <= degraded_weight_max")
        _require(_frac(self.warming_weight), "validation.warming_weight", "must be in [0, 1]")
        _require(bool(self.fill_model_name), "validation.fill_model_name", "must not be empty")
        _require(self.evaluate_every_observations >= 0, "validation.evaluate_every_observations", "must be >= 0")


class ShadowConfig(_Section, frozen=True):
    """``[shadow]``: the sim-to-real tracker, the fill calibrator and execution confidence.

    Fields:
        gap_half_life_obs: paired observations, half-life of the EWMA of |paper - live edge|.
        min_pairs: paired observations before the gap is reported (until then: unmeasured).
        zero_confidence_gap_bps: bps, the gap at which the gap part of execution confidence
            reaches 0 (linear from 1 at a gap of 0).
        unknown_gap_confidence: gap part of execution confidence while the gap is unmeasured.
        health_factors: execution confidence factor per exchange health OK, Degraded,
            Critical.
        distance_buckets_bps: bps from mid, lower edges of the fill calibrator's distance
            buckets (increasing, first 0; the last bucket is open-ended).
        prob_buckets: equal-width buckets of predicted P(fill) for the reliability table.
        prior_a_per_s: 1/s, prior fill intensity at the mid (lambda(d) = A exp(-kappa d)).
        prior_kappa_per_bps: 1/bps, prior decay of fill intensity with distance.
        prior_exposure_s: s of pseudo-exposure per bucket at the prior intensity (the prior's
            weight against live evidence).
        kappa_min_per_bps, kappa_max_per_bps: 1/bps, range the fitted kappa is kept in
            (kappa > 0 on every path).
        calibrator_half_life_s: s, half-life of the calibrator's bucket statistics.
    """

    gap_half_life_obs: float = 50.0
    min_pairs: int = 20
    zero_confidence_gap_bps: float = 5.0
    unknown_gap_confidence: float = 0.5
    health_factors: list[float] = msgspec.field(default_factory=lambda: [1.0, 0.5, 0.0])
    distance_buckets_bps: list[float] = msgspec.field(default_factory=lambda: [0.0, 1.0, 2.0, 4.0, 8.0, 16.0])
    prob_buckets: int = 10
    prior_a_per_s: float = 0.2
    prior_kappa_per_bps: float = 0.3
    prior_exposure_s: float = 30.0
    kappa_min_per_bps: float = 0.001
    kappa_max_per_bps: float = 20.0
    calibrator_half_life_s: float = 3600.0

    def __post_init__(self) -> None:
        _require(_pos(self.gap_half_life_obs), "shadow.gap_half_life_obs", "must be > 0")
        _require(self.min_pairs >= 1, "shadow.min_pairs", "must be >= 1")
        _require(_pos(self.zero_confidence_gap_bps), "shadow.zero_confidence_gap_bps", "must be > 0")
        _require(_frac(self.unknown_gap_confidence), "shadow.unknown_gap_confidence", "must be in [0, 1]")
        hf = self.health_factors
        _require(len(hf) == 3 and all(_frac(x) for x in hf) and hf[0] >= hf[1] >= hf[2], "shadow.health_factors",
                 "needs 3 values in [0, 1], not increasing (OK, Degraded, Critical)")
        b = self.distance_buckets_bps
        _require(len(b) >= 2 and b[0] == 0.0 and all(math.isfinite(x) for x in b)
                 and all(x < y for x, y in itertools.pairwise(b)), "shadow.distance_buckets_bps",
                 "needs >= 2 finite values, starting at 0, strictly increasing")
        _require(2 <= self.prob_buckets <= 100, "shadow.prob_buckets", "must be in [2, 100]")
        _require(_pos(self.prior_a_per_s), "shadow.prior_a_per_s", "must be > 0")
        _require(_pos(self.kappa_min_per_bps) and self.kappa_min_per_bps < self.kappa_max_per_bps,
                 "shadow.kappa_min_per_bps", "must be > 0 and < kappa_max_per_bps")
        _require(math.isfinite(self.kappa_max_per_bps), "shadow.kappa_max_per_bps", "must be finite")
        _require(self.kappa_min_per_bps <= self.prior_kappa_per_bps <= self.kappa_max_per_bps,
                 "shadow.prior_kappa_per_bps", "must lie in [kappa_min_per_bps, kappa_max_per_bps]")
        _require(_pos(self.prior_exposure_s), "shadow.prior_exposure_s", "must be > 0")
        _require(_pos(self.calibrator_half_life_s), "shadow.calibrator_half_life_s", "must be > 0")
