"""Configuration of the feature engine, the regime filter and the toxicity classifier.

One frozen msgspec struct per TOML section (``[features]``, ``[regime]``,
``[toxicity]``). Every field has a default and a line in the struct's docstring giving
its unit and meaning; ``__post_init__`` validates and raises ``ValueError`` naming the
offending field, so a bad config fails at load time, not at the first event.

Window lengths that appear in a ``StateSnapshot`` field name (``ofi_500ms``, ``ofi_2s``,
``sigma_realized_1m``) are not configurable: a field must mean what its name says. They
live as constants in :mod:`mm.features.ofi` and :mod:`mm.features.rolling`.
"""

from __future__ import annotations

import math

import msgspec

from mm.features.lead_move import LeadMoveConfig
from mm.schema import N_DEPTH, Venue

N_REGIMES = 4
N_REGIME_OBS = 3


def _require(cond: bool, field: str, why: str) -> None:
    if not cond:
        raise ValueError(f"{field}: {why}")


def _finite(x: float) -> bool:
    return math.isfinite(x)


class FeatureConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[features]``: what the feature engine listens to and how it rolls its features.

    Fields:
        our_venues: venue ids (``mm.schema.Venue``) whose book and trades are the market
            we quote (default Hyperliquid and the sim venue).
        ref_venues: venue ids of the lead reference (default Binance); only their mid is
            used (``RefPrice``, or ``Bbo`` from such a venue).
        snapshot_interval_ms: ms between timer-driven snapshots (``due``).
        imbalance_levels: k of the top-k book imbalance (Σb-Σa)/(Σb+Σa), 1..10 levels.
        vwap_window_ms: ms of trades behind ``vwap_direction`` (volume-weighted sign).
        sigma_sample_ms: ms between samples of the mid on the fixed time grid from which
            ``sigma_ewma`` (EWMA of |Δmid| in bps per sample) is computed.
        sigma_half_life_s: s, half-life of ``sigma_ewma``.
        sigma_baseline_half_life_s: s, half-life of the slow sigma used as the baseline of
            the toxicity volatility-ratio feature; must exceed ``sigma_half_life_s``.
        max_gap_ms: ms without any event from our venue after which the feed is treated as
            an outage, not a quiet market: grid-based state (sigma, regime, baselines) is
            frozen over the gap and the first mid after it starts a new return chain.
        snapshot_on_ref_change: a snapshot on every change of the reference mid (the
            alpha's lead-move detector then sees every reference update, as the feature
            engine's does).
        snapshot_on_ref_move_bps: bps move of the reference mid since the last snapshot
            that makes a snapshot due at once (lead-lag must not wait for the timer);
            0 disables.
        window_capacity: initial slots of each rolling time-window ring (power of two;
            rings grow by doubling when a window holds more events).
        fill_memory: number of our recent orders (cloids) and fills remembered to
            reconcile ``Fill`` with ``OrderEvent.filled_qty`` without double counting.
    """

    our_venues: tuple[int, ...] = (int(Venue.HYPERLIQUID), int(Venue.SIM))
    ref_venues: tuple[int, ...] = (int(Venue.BINANCE),)
    snapshot_interval_ms: int = 100
    imbalance_levels: int = 5
    vwap_window_ms: int = 5_000
    sigma_sample_ms: int = 100
    sigma_half_life_s: float = 10.0
    sigma_baseline_half_life_s: float = 300.0
    max_gap_ms: int = 5_000
    snapshot_on_ref_move_bps: float = 1.0
    snapshot_on_ref_change: bool = True
    window_capacity: int = 1024
    fill_memory: int = 4096

    def __post_init__(self) -> None:
        _require(len(self.our_venues) > 0, "our_venues", "must name at least one venue")
        _require(
            not set(self.our_venues) & set(self.ref_venues),
            "ref_venues",
            "must not overlap our_venues",
        )
        _require(self.snapshot_interval_ms > 0, "snapshot_interval_ms", "must be > 0")
        _require(
            1 <= self.imbalance_levels <= N_DEPTH,
            "imbalance_levels",
            f"must be in 1..{N_DEPTH}",
        )
        _require(self.vwap_window_ms > 0, "vwap_window_ms", "must be > 0")
        _require(self.sigma_sample_ms > 0, "sigma_sample_ms", "must be > 0")
        _require(
            _finite(self.sigma_half_life_s) and self.sigma_half_life_s > 0,
            "sigma_half_life_s",
            "must be finite and > 0",
        )
        _require(
            _finite(self.sigma_baseline_half_life_s)
            and self.sigma_baseline_half_life_s > self.sigma_half_life_s,
            "sigma_baseline_half_life_s",
            "must be finite and > sigma_half_life_s",
        )
        _require(
            self.max_gap_ms >= self.sigma_sample_ms,
            "max_gap_ms",
            "must be >= sigma_sample_ms",
        )
        _require(
            _finite(self.snapshot_on_ref_move_bps) and self.snapshot_on_ref_move_bps >= 0,
            "snapshot_on_ref_move_bps",
            "must be finite and >= 0",
        )
        _require(
            self.window_capacity >= 2 and self.window_capacity & (self.window_capacity - 1) == 0,
            "window_capacity",
            "must be a power of two >= 2",
        )
        _require(self.fill_memory >= 16, "fill_memory", "must be >= 16")


class RegimeConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[regime]``: the 4-state HMM (Quiet, Normal, Volatile, Cascade) forward filter.

    Observations, one vector per interval: y0 = ln(|mid log return| in bps + return_floor_bps),
    y1 = ln(1 + trades in the interval), y2 = ln(|OFI over the interval| / touch depth +
    ofi_floor). Emissions are diagonal Gaussians per state.

    Fields:
        interval_ms: ms per filter step (observation interval, aligned to multiples of it).
        stay_prob: per state (Quiet, Normal, Volatile, Cascade), probability of staying in
            the state from one interval to the next (sticky diagonal); the rest is spread
            over the other states by distance (``jump_decay``).
        initial_probs: the filter's belief before its first interval (Quiet, Normal, Volatile,
            Cascade), positive, summing to 1. Calm by default: a uniform start let the first
            interval after start-up (a book that just filled in, a first burst) read as
            Cascade at once, which put risk in Red for the level's whole dwell.
        jump_decay: weight of a jump of d states relative to a jump of d - 1 (off-diagonal
            row mass ∝ jump_decay^(|i - j| - 1)), in (0, 1]: 1 spreads it evenly; below 1 a
            regime moves mostly to its neighbours, so one busy interval in a Quiet market
            reads as Volatile, not Cascade (a cascade builds up through Volatile).
        prior_means: per state, the prior emission mean of (y0, y1, y2); states must be
            ordered by activity (each mean of y0 and y1 above the previous state's).
        prior_sd: per state, the prior emission standard deviation of (y0, y1, y2).
        prior_weight: pseudo-intervals of evidence held by the prior in each state's
            emission estimate (a guard against collapse: a state never forgets its prior).
        emission_half_life_s: s, half-life of the exponentially weighted per-state
            sufficient statistics (Σγ, Σγy, Σγy²); larger learns more slowly.
        min_sd: floor of every emission standard deviation (a guard against collapse).
        min_separation: minimum gap kept between consecutive states' means of y0 and y1
            (keeps the states ordered Quiet < Normal < Volatile < Cascade).
        prob_floor: floor of each filtered probability before renormalisation, so that no
            state becomes unreachable.
        return_floor_bps: bps added to |return| before the log of y0.
        ofi_floor: added to the depth-normalised |OFI| before the log of y2.
        learn: whether emission parameters are updated online.
    """

    interval_ms: int = 500
    stay_prob: tuple[float, float, float, float] = (0.98, 0.96, 0.93, 0.90)
    initial_probs: tuple[float, float, float, float] = (0.5, 0.45, 0.049, 0.001)
    jump_decay: float = 0.05
    prior_means: tuple[
        tuple[float, float, float],
        tuple[float, float, float],
        tuple[float, float, float],
        tuple[float, float, float],
    ] = (
        (-2.1, 0.0, -2.0),
        (-1.0, 0.7, -1.0),
        (0.6, 1.5, 0.2),
        (2.3, 2.6, 1.4),
    )
    prior_sd: tuple[
        tuple[float, float, float],
        tuple[float, float, float],
        tuple[float, float, float],
        tuple[float, float, float],
    ] = (
        (0.4, 0.35, 0.6),
        (0.8, 0.6, 0.8),
        (0.9, 0.7, 0.9),
        (1.0, 0.8, 1.0),
    )
    prior_weight: float = 50.0
    emission_half_life_s: float = 1800.0
    min_sd: float = 0.15
    min_separation: float = 0.3
    prob_floor: float = 1e-4
    return_floor_bps: float = 0.1
    ofi_floor: float = 0.1
    learn: bool = True

    def __post_init__(self) -> None:
        _require(self.interval_ms > 0, "interval_ms", "must be > 0")
        _require(len(self.stay_prob) == N_REGIMES, "stay_prob", "needs 4 values")
        for p in self.stay_prob:
            _require(_finite(p) and 0.0 < p < 1.0, "stay_prob", "each value must be in (0, 1)")
        _require(_finite(self.jump_decay) and 0.0 < self.jump_decay <= 1.0, "jump_decay", "must be in (0, 1]")
        _require(len(self.initial_probs) == N_REGIMES and all(_finite(p) and p > 0.0 for p in self.initial_probs)
                 and abs(sum(self.initial_probs) - 1.0) <= 1e-9, "initial_probs",
                 "needs 4 positive values summing to 1")
        for name, table in (("prior_means", self.prior_means), ("prior_sd", self.prior_sd)):
            _require(len(table) == N_REGIMES, name, "needs 4 rows (one per state)")
            for row in table:
                _require(len(row) == N_REGIME_OBS, name, "each row needs 3 values")
                for v in row:
                    _require(_finite(v), name, "values must be finite")
        for row in self.prior_sd:
            for v in row:
                _require(v > 0, "prior_sd", "values must be > 0")
        for k in range(1, N_REGIMES):
            for d in (0, 1):
                _require(
                    self.prior_means[k][d] > self.prior_means[k - 1][d],
                    "prior_means",
                    "states must be ordered by activity in y0 and y1",
                )
        _require(_finite(self.prior_weight) and self.prior_weight > 0, "prior_weight", "must be > 0")
        _require(
            _finite(self.emission_half_life_s) and self.emission_half_life_s > 0,
            "emission_half_life_s",
            "must be finite and > 0",
        )
        _require(_finite(self.min_sd) and self.min_sd > 0, "min_sd", "must be > 0")
        _require(
            _finite(self.min_separation) and self.min_separation >= 0,
            "min_separation",
            "must be >= 0",
        )
        _require(
            _finite(self.prob_floor) and 0 < self.prob_floor < 0.05,
            "prob_floor",
            "must be in (0, 0.05)",
        )
        _require(
            _finite(self.return_floor_bps) and self.return_floor_bps > 0,
            "return_floor_bps",
            "must be > 0",
        )
        _require(_finite(self.ofi_floor) and self.ofi_floor > 0, "ofi_floor", "must be > 0")


class ToxicityConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[toxicity]``: the fast logistic toxicity classifier and its fast features.

    Fields:
        toxic_threshold: probability at or above which the flow is Toxic.
        benign_threshold: probability below which the flow is Benign (between: Normal).
        toxic_hold_ms: ms a Toxic verdict is held after the probability last reached
            ``toxic_threshold`` (no flapping back to Normal between the trades of a sweep).
        label_move_bps: bps the mid must move in a trade's direction for the trade's label
            to be 1 (toxic).
        label_horizon_s: s within which that move must happen; a trade whose horizon passes
            without the move is labelled 0.
        max_pending: bound of the queue of trades waiting for their label; when full the
            oldest is dropped (and counted).
        learn: whether weights are updated online (SGD) as labels resolve.
        learning_rate: SGD step size on the log loss.
        l2_to_prior: strength of the L2 pull of the weights back to the prior (or loaded)
            weights, per update.
        min_weight_ratio: each feature weight is kept at or above this fraction of its
            prior (or loaded) weight, so a long calm stretch of 0 labels cannot unlearn
            detection; 0 lets weights fall to 0.
        grad_clip: absolute bound of each gradient component per update.
        weight_clip: absolute bound of every weight and of the bias.
        burst_half_life_ms: ms, half-life of the fast trade-rate and signed-flow decays.
        run_gap_ms: ms, the longest gap between two same-side trades that continues a
            fast same-side run.
        rate_baseline_half_life_s: s, half-life of the baseline trade rate.
        size_baseline_trades: trades in the EWMA of ln(trade qty) (its baseline).
        baseline_half_life_s: s, half-life of the spread, touch-depth and OFI-scale
            baselines (sampled on the regime interval grid).
        run_cap: cap of the same-side run length feature, trades.
        lead_move: the reference venue's own-move changepoint
            (:mod:`mm.features.lead_move`): while its alarm is up, and ``hold_ms`` after,
            the verdict is Toxic whatever the classifier says (a move on the lead reaches
            our venue about a lead later). Less eager than the alpha's copy (fire 5, k 1,
            noise half-life 10 s: Toxic means Flat, so false alarms cost quoting time;
            chosen on generator seed 7, 3600 s: 1.6% of the time Toxic outside cascades,
            median 187 ms after the Binance start, well inside the 650 ms lead).
    """

    toxic_threshold: float = 0.6
    benign_threshold: float = 0.1
    toxic_hold_ms: int = 1_000
    label_move_bps: float = 2.0
    label_horizon_s: float = 2.0
    max_pending: int = 512
    learn: bool = True
    learning_rate: float = 0.01
    l2_to_prior: float = 0.02
    min_weight_ratio: float = 0.5
    grad_clip: float = 5.0
    weight_clip: float = 10.0
    burst_half_life_ms: float = 200.0
    run_gap_ms: int = 500
    rate_baseline_half_life_s: float = 60.0
    size_baseline_trades: int = 200
    baseline_half_life_s: float = 120.0
    run_cap: int = 10
    lead_move: LeadMoveConfig = msgspec.field(
        default_factory=lambda: LeadMoveConfig(fire_threshold=5.0, cusum_drift=1.0, noise_half_life_s=10.0))

    def __post_init__(self) -> None:
        _require(
            _finite(self.toxic_threshold) and 0.0 < self.toxic_threshold < 1.0,
            "toxic_threshold",
            "must be in (0, 1)",
        )
        _require(
            _finite(self.benign_threshold) and 0.0 < self.benign_threshold < self.toxic_threshold,
            "benign_threshold",
            "must be in (0, toxic_threshold)",
        )
        _require(self.toxic_hold_ms >= 0, "toxic_hold_ms", "must be >= 0")
        _require(
            _finite(self.label_move_bps) and self.label_move_bps > 0,
            "label_move_bps",
            "must be > 0",
        )
        _require(
            _finite(self.label_horizon_s) and self.label_horizon_s > 0,
            "label_horizon_s",
            "must be > 0",
        )
        _require(self.max_pending >= 1, "max_pending", "must be >= 1")
        _require(
            _finite(self.learning_rate) and self.learning_rate >= 0,
            "learning_rate",
            "must be >= 0",
        )
        _require(_finite(self.l2_to_prior) and self.l2_to_prior >= 0, "l2_to_prior", "must be >= 0")
        _require(
            _finite(self.min_weight_ratio) and 0.0 <= self.min_weight_ratio <= 1.0,
            "min_weight_ratio",
            "must be in [0, 1]",
        )
        _require(self.run_gap_ms > 0, "run_gap_ms", "must be > 0")
        _require(_finite(self.grad_clip) and self.grad_clip > 0, "grad_clip", "must be > 0")
        _require(_finite(self.weight_clip) and self.weight_clip > 0, "weight_clip", "must be > 0")
        _require(
            _finite(self.burst_half_life_ms) and self.burst_half_life_ms > 0,
            "burst_half_life_ms",
            "must be > 0",
        )
        _require(
            _finite(self.rate_baseline_half_life_s)
            and self.rate_baseline_half_life_s * 1000.0 > self.burst_half_life_ms,
            "rate_baseline_half_life_s",
            "must be finite and longer than burst_half_life_ms",
        )
        _require(self.size_baseline_trades >= 1, "size_baseline_trades", "must be >= 1")
        _require(
            _finite(self.baseline_half_life_s) and self.baseline_half_life_s > 0,
            "baseline_half_life_s",
            "must be > 0",
        )
        _require(self.run_cap >= 1, "run_cap", "must be >= 1")
