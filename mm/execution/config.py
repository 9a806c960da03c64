"""Configuration of execution: policy, state machine, baselines, order diff, OMS and rate limits.

One frozen msgspec struct per TOML section (``[execution]`` and its sub-tables). Every
field has a default and a line in the struct's docstring giving its unit and meaning;
``__post_init__`` validates and raises ``ValueError`` naming the offending field, so a
bad config fails at load time, not at the first order.

Units: ``_bps`` basis points of the mid, ``_ms``/``_s`` durations, ``_usd`` quote-currency
notional, ``_qty`` base-asset quantity, ``_frac`` a dimensionless fraction (of the maximum
inventory unless said otherwise), ``_per_s`` rates.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from mm.schema import N_DEPTH

N_REGIMES = 4


def _require(cond: bool, field: str, why: str) -> None:
    if not cond:
        raise ValueError(f"{field}: {why}")


def _fin(x: float) -> bool:
    return math.isfinite(x)


def _pos(x: float) -> bool:
    return math.isfinite(x) and x > 0.0


def _nonneg(x: float) -> bool:
    return math.isfinite(x) and x >= 0.0


def _frac(x: float) -> bool:
    return math.isfinite(x) and 0.0 <= x <= 1.0


class SymbolLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Per-coin sizes in base quantity, overriding the notional defaults of ExecutionConfig.

    Fields:
        max_inventory_qty: base qty, hard limit on |position|; 0 = use
            ``ExecutionConfig.max_inventory_usd`` at the current mid.
        quote_qty: base qty of one passive quote at size multiplier 1; 0 = use
            ``ExecutionConfig.quote_notional_usd`` at the current mid.
    """

    max_inventory_qty: float = 0.0
    quote_qty: float = 0.0

    def __post_init__(self) -> None:
        _require(_nonneg(self.max_inventory_qty), "max_inventory_qty", "must be finite and >= 0")
        _require(_nonneg(self.quote_qty), "quote_qty", "must be finite and >= 0")


class HeuristicModelConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[execution.models]``: the heuristic queue-value and fill-probability baselines.

    Queue value (edge of a passive fill, bps, net of the maker fee)::

        capture - (regime AS + toxic_bps * toxic_prob + ofi_bps * adverse OFI
                   + rank_bps * rank_frac + sigma_mult * sigma_ewma) - maker_fee_bps

    Fill probability (the symmetric baseline of seed 000 §1.6)::

        1 - exp(-kappa_per_s * exp(-delta_bps / delta_char_bps) * horizon_s)

    Fields:
        maker_fee_bps: bps of notional paid on a maker fill at the configured fee tier
            (base tier 1.5; a rebate is negative).
        taker_fee_bps: bps of notional paid on a taker fill (base tier 4.5).
        use_microprice: measure capture from the microprice (when it lies inside the
            book) rather than the mid.
        as_bps_by_regime: bps of expected adverse selection per regime (Quiet, Normal,
            Volatile, Cascade), weighted by the snapshot's regime probabilities.
        as_toxic_bps: bps of adverse selection at toxic_prob = 1 (scaled linearly).
        as_ofi_bps: bps per unit of adverse OFI, where OFI is ``ofi_500ms`` divided by the
            touch depth (bid + ask level 1) and only flow against the quote counts.
        ofi_clip: cap on that normalised adverse OFI (dimensionless).
        as_rank_bps: bps added at the back of the queue (rank_frac = 1): a fill there
            comes mostly from sweeps.
        as_sigma_mult: bps of adverse selection per bps of ``sigma_ewma``.
        kappa_per_s: fill intensity at delta 0 (fills per second), > 0.
        delta_char_bps: bps over which the intensity decays by e, > 0.
    """

    maker_fee_bps: float = 1.5
    taker_fee_bps: float = 4.5
    use_microprice: bool = True
    as_bps_by_regime: list[float] = msgspec.field(default_factory=lambda: [0.3, 0.8, 2.5, 8.0])
    as_toxic_bps: float = 10.0
    as_ofi_bps: float = 2.0
    ofi_clip: float = 3.0
    as_rank_bps: float = 0.5
    as_sigma_mult: float = 0.25
    kappa_per_s: float = 1.0
    delta_char_bps: float = 2.0

    def __post_init__(self) -> None:
        _require(_fin(self.maker_fee_bps) and -5.0 <= self.maker_fee_bps <= 50.0, "maker_fee_bps", "must be in [-5, 50]")
        _require(_fin(self.taker_fee_bps) and 0.0 <= self.taker_fee_bps <= 50.0, "taker_fee_bps", "must be in [0, 50]")
        _require(
            len(self.as_bps_by_regime) == N_REGIMES and all(_nonneg(x) for x in self.as_bps_by_regime),
            "as_bps_by_regime",
            f"needs {N_REGIMES} finite values >= 0",
        )
        for name in ("as_toxic_bps", "as_ofi_bps", "ofi_clip", "as_rank_bps", "as_sigma_mult"):
            _require(_nonneg(getattr(self, name)), name, "must be finite and >= 0")
        _require(_pos(self.kappa_per_s), "kappa_per_s", "must be > 0")
        _require(_pos(self.delta_char_bps), "delta_char_bps", "must be > 0")


class GlftConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[execution.glft]``: the GLFT baseline (Guéant-Lehalle-Fernandez-Tapia, asymptotic form).

    Half-spread ``delta* = (1/gamma) ln(1 + gamma/kappa)`` plus the inventory skew
    ``(2q ± 1)/2 * sqrt(sigma^2 gamma / (2 kappa A) * (1 + gamma/kappa)^(1 + kappa/gamma))``
    with q the inventory in quote sizes. Prices in bps of the mid.

    Fields:
        gamma_per_bps: risk aversion, 1/bps, > 0.
        kappa_per_bps: decay of the fill intensity with depth, 1/bps, > 0.
        arrival_rate_per_s: A, fill intensity at depth 0, fills per second, > 0.
        min_sigma_bps_per_sqrt_s: floor of the volatility (bps per sqrt(s)) taken from
            ``sigma_realized_1m / sqrt(60)``, > 0.
        max_half_spread_bps: cap on either side's distance from the mid, bps, > 0.
    """

    gamma_per_bps: float = 0.1
    kappa_per_bps: float = 0.5
    arrival_rate_per_s: float = 1.0
    min_sigma_bps_per_sqrt_s: float = 0.05
    max_half_spread_bps: float = 200.0

    def __post_init__(self) -> None:
        for name in ("gamma_per_bps", "kappa_per_bps", "arrival_rate_per_s", "min_sigma_bps_per_sqrt_s",
                     "max_half_spread_bps"):
            _require(_pos(getattr(self, name)), name, "must be finite and > 0")


class DiffConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[execution.diff]``: tolerance bands of the order diff (against cancel/replace churn).

    A live order is kept as is when its price is within ``px_tolerance_ticks`` ticks of
    the target's and its remaining size is between ``(1 - qty_tolerance_frac)`` x the target
    size and the target size (never above it). Outside the band it is modified
    (batchModify) when acked, else left until it is; a live order with no target is
    cancelled.

    Fields:
        px_tolerance_ticks: ticks, >= 0.
        qty_tolerance_frac: fraction of the target size, in [0, 1).
    """

    px_tolerance_ticks: int = 0
    qty_tolerance_frac: float = 0.25

    def __post_init__(self) -> None:
        _require(self.px_tolerance_ticks >= 0, "px_tolerance_ticks", "must be >= 0")
        _require(_fin(self.qty_tolerance_frac) and 0.0 <= self.qty_tolerance_frac < 1.0, "qty_tolerance_frac",
                 "must be in [0, 1)")


class RateLimitConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[execution.rate_limit]``: Hyperliquid's request limits as execution accounts them.

    IP weight: 1200 per rolling minute; an exchange action weighs ``1 + floor(batch / 40)``,
    info requests 2 (orderStatus) or 20 (openOrders). Per-address budget: ``initial +
    1 per USDC traded`` requests (one per order or cancel of a batch); cancels may run past
    it up to ``min(cap + cancel_extra_requests, 2 * cap)``. A share of both is kept for
    cancels: a new order or modify is not sent when it would eat into that reserve.

    Fields:
        ip_weight_per_min: weight per rolling 60 s, > 0.
        address_initial_requests: requests an address has before any volume, >= 0.
        requests_per_usd: requests earned per USDC traded, >= 0.
        cancel_extra_requests: requests cancels may use past the cap, >= 0.
        cancel_reserve_frac: share of the address cap and of the IP weight kept for
            cancels, in [0, 0.5].
        info_weight_order_status: weight of one orderStatus request.
        info_weight_open_orders: weight of one openOrders request.
        batch_weight_step: orders per extra unit of exchange weight (Hyperliquid: 40).
    """

    ip_weight_per_min: int = 1200
    address_initial_requests: int = 10_000
    requests_per_usd: float = 1.0
    cancel_extra_requests: int = 100_000
    cancel_reserve_frac: float = 0.05
    info_weight_order_status: int = 2
    info_weight_open_orders: int = 20
    batch_weight_step: int = 40

    def __post_init__(self) -> None:
        _require(self.ip_weight_per_min > 0, "ip_weight_per_min", "must be > 0")
        _require(self.address_initial_requests >= 0, "address_initial_requests", "must be >= 0")
        _require(_nonneg(self.requests_per_usd), "requests_per_usd", "must be finite and >= 0")
        _require(self.cancel_extra_requests >= 0, "cancel_extra_requests", "must be >= 0")
        _require(_fin(self.cancel_reserve_frac) and 0.0 <= self.cancel_reserve_frac <= 0.5, "cancel_reserve_frac",
                 "must be in [0, 0.5]")
        _require(self.info_weight_order_status > 0, "info_weight_order_status", "must be > 0")
        _require(self.info_weight_open_orders > 0, "info_weight_open_orders", "must be > 0")
        _require(self.batch_weight_step > 0, "batch_weight_step", "must be > 0")


class OmsConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[execution.oms]``: the order lifecycle's timers and per-symbol limits.

    Fields:
        ack_timeout_ms: ms without an answer after which a sent order, cancel or modify is
            Stale (unknown) and looked up by cloid before anything is re-sent (seed 002: 5 s).
        reconcile_retry_ms: ms between lookups of the same still-stale order.
        open_orders_interval_ms: ms between periodic full reconciliations (openOrders);
            0 disables the periodic one (start and reconnect are the caller's to ask for).
        max_outstanding_passive_usd: per symbol, notional (px x remaining qty) of all
            non-terminal passive orders, stale ones included, > 0.
        min_aggressive_interval_ms: per symbol, ms between two aggressive (IOC) orders.
        passive_tif: time in force of passive quotes: ``Alo`` (post only, default) or ``Gtc``.
        min_notional_usd: smallest order value the venue accepts (Hyperliquid: $10).
        history_kept: terminal order records kept for late answers and lookups (counts per
            status are kept for all; OrderEvents carry every transition to the audit log).
            Each kept record adds about 0.3-0.5 us to a full garbage collection.
        fills_dedup_kept: (oid, trade id) pairs remembered to drop duplicate fills.
    """

    ack_timeout_ms: int = 5_000
    reconcile_retry_ms: int = 2_000
    open_orders_interval_ms: int = 60_000
    max_outstanding_passive_usd: float = 2_000.0
    min_aggressive_interval_ms: int = 1_000
    passive_tif: Literal["Alo", "Gtc"] = "Alo"
    min_notional_usd: float = 10.0
    history_kept: int = 10_000
    fills_dedup_kept: int = 100_000

    def __post_init__(self) -> None:
        _require(self.ack_timeout_ms > 0, "ack_timeout_ms", "must be > 0")
        _require(self.reconcile_retry_ms > 0, "reconcile_retry_ms", "must be > 0")
        _require(self.open_orders_interval_ms >= 0, "open_orders_interval_ms", "must be >= 0")
        _require(_pos(self.max_outstanding_passive_usd), "max_outstanding_passive_usd", "must be > 0")
        _require(self.min_aggressive_interval_ms >= 0, "min_aggressive_interval_ms", "must be >= 0")
        _require(_nonneg(self.min_notional_usd), "min_notional_usd", "must be finite and >= 0")
        _require(self.history_kept > 0, "history_kept", "must be > 0")
        _require(self.fills_dedup_kept > 0, "fills_dedup_kept", "must be > 0")


class ExecutionConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``[execution]``: the per-symbol state machine (seed 000 §2.5) and its sizes.

    Policy and modes:
        policy: ``state_machine`` (the design), ``glft`` or ``touch`` (baselines kept for
            comparison: they quote without the queue-value gate and never go Flat on edge).
        dry_run: seed 002 level 2: place one far-from-touch post-only order per symbol and
            cancel it as soon as it is acked, instead of trading (connectivity, no exposure).
        dry_run_offset_bps: bps behind the touch of the dry-run order, > 0.
        dry_run_interval_ms: ms between dry-run orders of one symbol, > 0.
        dry_run_notional_usd: notional of a dry-run order (above the venue minimum).

    Sizes (a ``symbol_limits`` entry in base qty wins over the notional defaults):
        max_inventory_usd: hard limit on |position| as notional at the current mid, > 0.
        quote_notional_usd: one passive quote at size multiplier 1, > 0.
        taker_clip_usd: largest aggressive (IOC) order, notional, > 0.
        reduce_clip_usd: largest passive reducing order, notional, > 0.
        symbol_limits: coin name -> SymbolLimits.
        default_sz_decimals: szDecimals assumed for a symbol whose rules the caller did not
            pass (meta is the truth; this only keeps a bare engine usable).

    Mode selection (fractions of the maximum inventory):
        toxic_reduce_inv_frac: when Toxic, |inventory| up to this is Flat; above it the
            move's direction decides (``toxic_follow_direction``).
        toxic_follow_direction: when Toxic and holding more than ``toxic_reduce_inv_frac``:
            inventory with the move's direction -> Flat (keep it), against it -> TakerExit,
            direction unknown -> InventoryReduce. False: always InventoryReduce.
        toxic_dir_min_skew_bps: bps, |lead-lag skew| at or above which its sign is taken as
            the Toxic move's direction (kept for the rest of the Toxic episode), > 0.
        toxic_dir_flip_skew_bps: bps, |skew| against the kept direction at or above which the
            direction turns within a Toxic episode (>= toxic_dir_min_skew_bps).
        toxic_exit_min_edge_bps: bps, the TakerExit against the move is taken only when
            |lead-lag skew| - half spread - taker fee >= this (else Flat, holding), finite.
        toxic_exit_urgency: urgency of the TakerExit against the move, in [0, 1].
        toxic_exit_clip_frac: that TakerExit's IOC is clipped at the larger of the taker
            clip and this fraction of the maximum inventory, in [0, 1].
        toxic_exit_slippage_bps: bps past the opposite touch that TakerExit's IOC limit may
            reach (the larger of this and ``taker_max_slippage_bps``), >= 0. The IOC fills at
            the book's prices up to the limit; a limit the cascade outruns within one order
            latency is not filled at all and leaves the position to the whole move.
        toxic_exit_max_ms: ms, how long one Toxic episode may spend in that TakerExit (from
            its first exit cycle); past it the episode holds what is left, Flat, instead of
            chasing the move with further IOCs; 0 = no limit, >= 0. The default, 600 ms, is
            one exit IOC's round trip at about the order latency's 90th percentile (458 ms)
            plus a block and the answer (issue 17: Flat in labelled cascades 90.8% -> 96.1%
            on generator seed 0, 3600 s, rebate3, net PnL within the latency draws' band).
        toxic_reduce_urgency: urgency of the InventoryReduce when the direction is unknown,
            in [0, 1].
        over_max_urgency: urgency of InventoryReduce when |inventory| > max, in [0, 1].
        taker_gap_frac: |target - inventory| above which taking is considered.
        flat_inv_frac / flat_target_frac: "near flat": |inventory| and |target| below these;
            there Flat unless a side has a positive queue value.
        baseline_sigma_bps: the ``sigma_realized_1m`` (bps) at which the maximum is not
            scaled down; above it the usable maximum shrinks as baseline / sigma, > 0.
        taker_timeout_ms: ms a TakerEntry/TakerExit mode persists once chosen (its IOCs are
            spaced by the OMS's ``min_aggressive_interval_ms``).
        taker_max_slippage_bps: bps past the opposite touch an IOC's limit may reach, >= 0.
        inv_risk_coef: inventory risk (in sigma over the taker horizon, bps) per unit of
            gap / max, counted in both taker and maker EV.

    Maker:
        candidate_offsets_ticks: candidate levels relative to the touch, in ticks; +1 is
            one tick more aggressive (inside the spread), -1 one tick behind. The live
            order's own level is always a candidate too (its queue position is worth
            keeping).
        fill_horizon_s: horizon of the fill probability, > 0.
        p_fill_min: smallest fill probability worth quoting, in [0, 1).
        rank_by_expected_value: choose a side's level by fill probability x (queue value -
            inventory penalty), the edge expected over the fill horizon, instead of by the
            edge per fill (which prefers a deep level that rarely fills to the touch).
        min_queue_value_bps: smallest queue value (net of fees) of a quote, >= 0.
        lambda_inv: inventory penalty, bps per (|inventory after fill| / max) per bps of
            sigma over the fill horizon, >= 0.
        join_rank_frac: queue rank fraction (0 front, 1 back) of a new order at an
            existing level, in [0, 1].
        target_size_gain: quote size scales by 1 + gain * (target - inventory)/max on the
            side that moves towards the target (and down on the other), clipped to [0, 2].
        lead_gate: withdraw the Maker passive quote that the lead venue's predicted move
            runs against (the bid when the lead-lag skew is negative, the ask when
            positive) when its queue value less ``lead_gate_drift_weight * |skew|`` is below
            ``min_queue_value_bps``; reduce-only and aggressive orders are kept. No effect
            without a skew (no Binance data). Off by default (issue 17: on generated data it
            moved net PnL by -8.2 to +2.4 USD across seeds, see docs/results-issue17.md).
        lead_gate_min_skew_bps: bps, |lead-lag skew| below which the lead gate never acts
            (the noise floor of the skew), finite and > 0.
        lead_gate_drift_weight: dimensionless, share of the skew (itself the expected move
            of our mid over the lead, bps) counted against the quote's queue value, >= 0;
            a large value withdraws on any skew above the floor.
        side_gate_micro: one-sided quoting from our own book: a Maker bid is withdrawn when
            (microprice - mid) / half spread <= -this, an ask when >= this; 0 = off, in [0, 1].
        direction_gate: withdraw a Maker passive quote whose fill the fitted direction
            model (mm/models/direction.py, fitted on the warm-up/training data) predicts
            adverse at the 5 s markout with probability above the threshold; needs a
            fitted model for the symbol (none: no gate). Off by default (issue 17: it did
            not help on the real recordings, see docs/results-issue17.md).
        direction_gate_prob: the gate's probability threshold, in [0, 1]; 0 = the
            threshold chosen with the model on its training hold-out.

    InventoryReduce:
        reduce_taker_min_urgency: urgency at or above which the excess over the maximum
            is also taken with a reduce-only IOC, in [0, 1].
        sigma_sample_ms: ms per sample of ``sigma_ewma`` (the feature engine's), > 0.

    Sub-tables:
        models: ``[execution.models]``, the heuristic queue-value and fill-probability
            baselines (used where no fitted model file is loaded).
        glft: ``[execution.glft]``, parameters of the GLFT baseline policy.
        diff: ``[execution.diff]``, tolerance bands of the order diff.
        oms: ``[execution.oms]``, the order lifecycle's timers and per-symbol limits.
        rate_limit: ``[execution.rate_limit]``, Hyperliquid's request limits as execution
            accounts them.
    """

    policy: Literal["state_machine", "glft", "touch"] = "state_machine"
    dry_run: bool = False
    dry_run_offset_bps: float = 100.0
    dry_run_interval_ms: int = 10_000
    dry_run_notional_usd: float = 12.0

    max_inventory_usd: float = 1_000.0
    quote_notional_usd: float = 100.0
    taker_clip_usd: float = 200.0
    reduce_clip_usd: float = 500.0
    symbol_limits: dict[str, SymbolLimits] = msgspec.field(default_factory=dict)
    default_sz_decimals: int = 4

    toxic_reduce_inv_frac: float = 0.1
    toxic_follow_direction: bool = True
    toxic_dir_min_skew_bps: float = 0.5
    toxic_dir_flip_skew_bps: float = 5.0
    toxic_exit_min_edge_bps: float = 0.0
    toxic_exit_urgency: float = 1.0
    toxic_exit_clip_frac: float = 1.0
    toxic_exit_slippage_bps: float = 5.0
    toxic_exit_max_ms: int = 600
    toxic_reduce_urgency: float = 0.8
    over_max_urgency: float = 1.0
    taker_gap_frac: float = 0.3
    flat_inv_frac: float = 0.05
    flat_target_frac: float = 0.1
    baseline_sigma_bps: float = 20.0
    taker_timeout_ms: int = 500
    taker_max_slippage_bps: float = 5.0
    inv_risk_coef: float = 1.0

    candidate_offsets_ticks: list[int] = msgspec.field(default_factory=lambda: [1, 0, -1])
    fill_horizon_s: float = 1.0
    p_fill_min: float = 0.05
    rank_by_expected_value: bool = False
    min_queue_value_bps: float = 0.0
    lambda_inv: float = 0.5
    join_rank_frac: float = 1.0
    target_size_gain: float = 0.5
    lead_gate: bool = False
    lead_gate_min_skew_bps: float = 0.5
    lead_gate_drift_weight: float = 1.0
    side_gate_micro: float = 0.0
    direction_gate: bool = False
    direction_gate_prob: float = 0.0

    reduce_taker_min_urgency: float = 0.9
    sigma_sample_ms: int = 100

    models: HeuristicModelConfig = msgspec.field(default_factory=HeuristicModelConfig)
    glft: GlftConfig = msgspec.field(default_factory=GlftConfig)
    diff: DiffConfig = msgspec.field(default_factory=DiffConfig)
    oms: OmsConfig = msgspec.field(default_factory=OmsConfig)
    rate_limit: RateLimitConfig = msgspec.field(default_factory=RateLimitConfig)

    def __post_init__(self) -> None:
        _require(_pos(self.dry_run_offset_bps), "dry_run_offset_bps", "must be > 0")
        _require(self.dry_run_interval_ms > 0, "dry_run_interval_ms", "must be > 0")
        _require(_pos(self.dry_run_notional_usd), "dry_run_notional_usd", "must be > 0")
        for name in ("max_inventory_usd", "quote_notional_usd", "taker_clip_usd", "reduce_clip_usd",
                     "baseline_sigma_bps", "fill_horizon_s"):
            _require(_pos(getattr(self, name)), name, "must be finite and > 0")
        _require(0 <= self.default_sz_decimals <= 8, "default_sz_decimals", "must be in [0, 8]")
        _require(_fin(self.toxic_exit_min_edge_bps), "toxic_exit_min_edge_bps", "must be finite")
        _require(_nonneg(self.toxic_exit_slippage_bps), "toxic_exit_slippage_bps", "must be finite and >= 0")
        _require(self.toxic_exit_max_ms >= 0, "toxic_exit_max_ms", "must be >= 0")
        _require(_pos(self.toxic_dir_min_skew_bps), "toxic_dir_min_skew_bps", "must be finite and > 0")
        _require(_fin(self.toxic_dir_flip_skew_bps) and self.toxic_dir_flip_skew_bps >= self.toxic_dir_min_skew_bps,
                 "toxic_dir_flip_skew_bps", "must be finite and >= toxic_dir_min_skew_bps")
        for name in ("toxic_reduce_inv_frac", "toxic_reduce_urgency", "toxic_exit_urgency", "toxic_exit_clip_frac",
                     "over_max_urgency", "taker_gap_frac",
                     "flat_inv_frac", "flat_target_frac", "join_rank_frac", "side_gate_micro", "reduce_taker_min_urgency", "direction_gate_prob"):
            _require(_frac(getattr(self, name)), name, "must be in [0, 1]")
        _require(_pos(self.lead_gate_min_skew_bps), "lead_gate_min_skew_bps", "must be finite and > 0")
        _require(_nonneg(self.lead_gate_drift_weight), "lead_gate_drift_weight", "must be finite and >= 0")
        _require(self.taker_timeout_ms > 0, "taker_timeout_ms", "must be > 0")
        for name in ("taker_max_slippage_bps", "inv_risk_coef", "min_queue_value_bps", "lambda_inv",
                     "target_size_gain"):
            _require(_nonneg(getattr(self, name)), name, "must be finite and >= 0")
        _require(_fin(self.p_fill_min) and 0.0 <= self.p_fill_min < 1.0, "p_fill_min", "must be in [0, 1)")
        _require(
            bool(self.candidate_offsets_ticks) and all(-N_DEPTH < k < N_DEPTH for k in self.candidate_offsets_ticks),
            "candidate_offsets_ticks",
            f"needs at least one offset, each within +/-{N_DEPTH - 1} ticks",
        )
        _require(self.sigma_sample_ms > 0, "sigma_sample_ms", "must be > 0")

    def limits_for(self, coin: str) -> SymbolLimits:
        """The coin's quantity overrides (zeros where the notional defaults apply)."""
        return self.symbol_limits.get(coin, _NO_LIMITS)


_NO_LIMITS = SymbolLimits()
