"""Configuration of the synthetic market generator (issue 4, market driver (b)).

Two frozen structs, both with a default for every field:

- :class:`GeneratorConfig`: the market model shared by every coin: the regime chain
  (Quiet/Normal/Volatile/Cascade), the latent price's volatility, the Binance lead, the
  Hyperliquid block clock and book dynamics, the self-exciting taker flow of both venues.
- :class:`CoinSpec`: one coin's scale: start price, Hyperliquid ``szDecimals`` (from which
  the tick follows by the venue's 5-significant-figure rule), volatility multiplier, typical
  order and level sizes, Binance tick and lot.

Per-regime parameters are 4-tuples in :class:`mm.schema.Regime` order
``(QUIET, NORMAL, VOLATILE, CASCADE)``. Defaults are calibrated on the shared 2025-09-04
Hyperliquid recording (BTC/ETH/WLFI: one-tick touch 93-95% of snapshots on BTC and ETH,
about 3.2 trades/s over about 1.1 taker orders/s on BTC, touch about 10 BTC over deeper
levels of about 1 BTC, snapshots every ~0.54 s) and on the measured 600-700 ms Binance lead
(ARCHITECTURE.md, "Lessons from the field").

Validation happens in ``__post_init__`` (so also when decoding from JSON/TOML) and raises
``ValueError`` naming the offending field.
"""

from __future__ import annotations

import math

import msgspec

from mm.schema import Regime

N_REGIMES = 4
MAX_LEAD_LAG_MS = 1500
MAX_BOOK_LEVELS = 32

Quad = tuple[float, float, float, float]

_DEFAULT_TRANSITIONS: tuple[Quad, Quad, Quad, Quad] = (
    # to:  QUIET NORMAL VOLATILE CASCADE
    (0.00, 0.85, 0.10, 0.05),  # from QUIET
    (0.45, 0.00, 0.40, 0.15),  # from NORMAL
    (0.05, 0.60, 0.00, 0.35),  # from VOLATILE
    (0.00, 0.30, 0.70, 0.00),  # from CASCADE
)


def _check_quad(name: str, values: Quad, lo: float, hi: float, *, lo_open: bool = False) -> None:
    if len(values) != N_REGIMES:
        raise ValueError(f"{name} must have {N_REGIMES} entries (Quiet, Normal, Volatile, Cascade)")
    for v in values:
        _check_range(name, v, lo, hi, lo_open=lo_open)


def _check_range(name: str, v: float, lo: float, hi: float, *, lo_open: bool = False) -> None:
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v!r}")
    if (v <= lo if lo_open else v < lo) or v > hi:
        left = "(" if lo_open else "["
        raise ValueError(f"{name} must be in {left}{lo}, {hi}], got {v!r}")


class GeneratorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The synthetic market's model; see the field docstrings for units and meaning."""

    # ------------------------------------------------------------------ lead and clocks
    lead_lag_ms: int = 650
    """ms, 0..1500: how long the Hyperliquid fair price lags the latent (Binance) price."""

    block_ms: float = 70.0
    """ms, 20..1000: mean Hyperliquid block interval; book, trades and BBO change per block."""

    block_jitter_frac: float = 0.3
    """fraction, 0..0.9: block interval is uniform in block_ms * (1 +/- this)."""

    snapshot_interval_ms: int = 500
    """ms, 50..5000: at most one full L2 snapshot per coin per this interval (first block after)."""

    book_levels: int = 20
    """levels, 1..20: price levels per side in each Hyperliquid BookSnapshot."""

    ref_interval_ms_min: int = 50
    """ms, 1..1000: shortest gap between two Binance RefPrice/Bbo publications of a coin."""

    ref_interval_ms_max: int = 100
    """ms, >= ref_interval_ms_min and <= 5000: longest such gap (uniform in between)."""

    remote_epoch_ms: int = 1_757_015_216_000
    """unix ms: venue clock (remote_ts_ms) at the generation start ts_ns."""

    chunk_ms: int = 2000
    """ms, 100..60000: market time simulated per compiled call (bounds memory per step)."""

    # ------------------------------------------------------------------ regime chain
    initial_regime: int = int(Regime.NORMAL)
    """Regime value (0 Quiet, 1 Normal, 2 Volatile; not 3): the regime at the start."""

    mean_dwell_s: tuple[float, float, float] = (90.0, 120.0, 45.0)
    """s, each 0.05..86400: mean (exponential) dwell in Quiet, Normal, Volatile."""

    transitions: tuple[Quad, Quad, Quad, Quad] = _DEFAULT_TRANSITIONS
    """probabilities: row r = where the chain goes on leaving regime r (zero diagonal, rows sum to 1)."""

    cascade_min_s: float = 1.0
    """s, 0.05..60: shortest cascade (a cascade is one Cascade-regime visit)."""

    cascade_max_s: float = 3.0
    """s, >= cascade_min_s and <= 60: longest cascade (uniform in between)."""

    cascade_move_bps_min: float = 8.0
    """bps, 0..5000: smallest latent price move over one cascade (times the coin's vol_mult)."""

    cascade_move_bps_max: float = 30.0
    """bps, >= cascade_move_bps_min and <= 5000: largest such move (uniform in between)."""

    cascade_up_prob: float = 0.4
    """probability, 0..1: that a cascade goes up (buy-side sweep) rather than down."""

    # ------------------------------------------------------------------ latent price
    latent_vol_bps: Quad = (0.3, 0.6, 1.5, 1.5)
    """bps per sqrt(s), each 0..100: latent log-price diffusion by regime (times vol_mult)."""

    cross_coin_corr: float = 0.6
    """correlation, 0..1: weight of the common factor in every coin's diffusion shocks."""

    hl_noise_bps: float = 0.3
    """bps, 0..100: stationary std of Hyperliquid's own (OU) deviation from the lagged price."""

    hl_noise_half_life_ms: float = 1000.0
    """ms, 1..600000: half-life of that deviation's mean reversion."""

    # ------------------------------------------------------------------ taker flow (Hawkes)
    hl_taker_rate_hz: Quad = (0.4, 0.6, 1.2, 4.0)
    """orders/s, each 0..1000: Hyperliquid background taker-order rate by regime, both sides."""

    ref_taker_rate_hz: Quad = (2.0, 4.0, 8.0, 16.0)
    """orders/s, each 0..5000: Binance background taker-order (trade) rate by regime."""

    hawkes_branching: Quad = (0.3, 0.45, 0.6, 0.8)
    """ratio, each 0..0.95: expected children per taker order (self-excitation) by regime."""

    hawkes_decay_hz: float = 2.0
    """1/s, 0.01..1000: decay rate of an order's excitation (kernel alpha * exp(-decay * t))."""

    hawkes_cross_frac: float = 0.1
    """fraction, 0..1: share of an order's excitation that goes to the opposite side."""

    cascade_side_frac: float = 0.95
    """fraction, 0.5..1: share of the background rate on the cascade's side during a cascade."""

    taker_qty_sigma: float = 1.8
    """log-units, 0..4: lognormal sigma of a taker order's size around the coin's median."""

    cascade_qty_mult: float = 4.0
    """ratio, 1..1000: taker order size multiplier during a cascade."""

    max_orders_per_block: int = 64
    """orders, 1..256: cap on background taker orders executed in one block."""

    # ------------------------------------------------------------------ Hyperliquid book
    stale_take_prob: Quad = (0.02, 0.04, 0.1, 0.95)
    """probability, each 0..1: that levels left stale by a fair-price move are hit by an
    aggressive order in that block (the rest are cancelled), by regime."""

    arb_qty_mult: float = 20.0
    """ratio, 0..1e6: median size of such an aggressive order outside cascades, in
    taker-order medians (lognormal with taker_qty_sigma)."""

    cascade_sweep_frac: float = 0.6
    """fraction, 0..1: in a cascade, the sweep takes this share (times U(0.5, 1.5)) of the
    resting size on the levels the move left stale."""

    refill_prob: Quad = (0.95, 0.9, 0.8, 0.6)
    """probability, each 0..1 (Quiet > 0): that makers re-post at the fair touch in a block, by
    regime (below 1 the spread widens after moves and sweeps)."""

    depth_mult: Quad = (1.2, 1.0, 0.7, 0.4)
    """ratio, each 0.01..100: resting depth relative to the coin's profile, by regime."""

    level_update_prob: float = 0.15
    """probability, 0..1: that a resting level's size is revised in a block."""

    depth_reversion: float = 0.3
    """fraction, 0..1: log-space pull of a revised level's size toward its target."""

    depth_noise_sigma: float = 0.4
    """log-units, 0..3: lognormal noise of a level revision."""

    fresh_level_frac: float = 0.5
    """ratio, 0.01..10: size of a newly posted level relative to its target."""

    fill_split_mean: float = 1.0
    """fills, 0..8: mean extra maker fills (Poisson, at most 3) at the touch level a taker hits."""

    def __post_init__(self) -> None:
        _check_range("lead_lag_ms", self.lead_lag_ms, 0, MAX_LEAD_LAG_MS)
        _check_range("block_ms", self.block_ms, 20.0, 1000.0)
        _check_range("block_jitter_frac", self.block_jitter_frac, 0.0, 0.9)
        _check_range("snapshot_interval_ms", self.snapshot_interval_ms, 50, 5000)
        _check_range("book_levels", self.book_levels, 1, 20)
        _check_range("ref_interval_ms_min", self.ref_interval_ms_min, 1, 1000)
        _check_range("ref_interval_ms_max", self.ref_interval_ms_max, self.ref_interval_ms_min, 5000)
        _check_range("remote_epoch_ms", self.remote_epoch_ms, 0, 2**53)
        _check_range("chunk_ms", self.chunk_ms, 100, 60_000)
        if self.initial_regime not in (Regime.QUIET, Regime.NORMAL, Regime.VOLATILE):
            raise ValueError("initial_regime must be 0 (Quiet), 1 (Normal) or 2 (Volatile)")
        if len(self.mean_dwell_s) != 3:
            raise ValueError("mean_dwell_s must have 3 entries (Quiet, Normal, Volatile)")
        for v in self.mean_dwell_s:
            _check_range("mean_dwell_s", v, 0.05, 86_400.0)
        if len(self.transitions) != N_REGIMES:
            raise ValueError("transitions must be a 4x4 matrix")
        for r, row in enumerate(self.transitions):
            _check_quad("transitions", row, 0.0, 1.0)
            if row[r] != 0.0:
                raise ValueError(f"transitions[{r}][{r}] must be 0 (dwell times model staying)")
            if abs(sum(row) - 1.0) > 1e-9:
                raise ValueError(f"transitions[{r}] must sum to 1, sums to {sum(row)!r}")
        _check_range("cascade_min_s", self.cascade_min_s, 0.05, 60.0)
        _check_range("cascade_max_s", self.cascade_max_s, self.cascade_min_s, 60.0)
        _check_range("cascade_move_bps_min", self.cascade_move_bps_min, 0.0, 5000.0)
        _check_range("cascade_move_bps_max", self.cascade_move_bps_max, self.cascade_move_bps_min, 5000.0)
        _check_range("cascade_up_prob", self.cascade_up_prob, 0.0, 1.0)
        _check_quad("latent_vol_bps", self.latent_vol_bps, 0.0, 100.0)
        _check_range("cross_coin_corr", self.cross_coin_corr, 0.0, 1.0)
        _check_range("hl_noise_bps", self.hl_noise_bps, 0.0, 100.0)
        _check_range("hl_noise_half_life_ms", self.hl_noise_half_life_ms, 1.0, 600_000.0)
        _check_quad("hl_taker_rate_hz", self.hl_taker_rate_hz, 0.0, 1000.0)
        _check_quad("ref_taker_rate_hz", self.ref_taker_rate_hz, 0.0, 5000.0)
        _check_quad("hawkes_branching", self.hawkes_branching, 0.0, 0.95)
        _check_range("hawkes_decay_hz", self.hawkes_decay_hz, 0.01, 1000.0)
        _check_range("hawkes_cross_frac", self.hawkes_cross_frac, 0.0, 1.0)
        _check_range("cascade_side_frac", self.cascade_side_frac, 0.5, 1.0)
        _check_range("taker_qty_sigma", self.taker_qty_sigma, 0.0, 4.0)
        _check_range("cascade_qty_mult", self.cascade_qty_mult, 1.0, 1000.0)
        _check_range("max_orders_per_block", self.max_orders_per_block, 1, 256)
        _check_quad("stale_take_prob", self.stale_take_prob, 0.0, 1.0)
        _check_range("arb_qty_mult", self.arb_qty_mult, 0.0, 1e6)
        _check_range("cascade_sweep_frac", self.cascade_sweep_frac, 0.0, 1.0)
        _check_quad("refill_prob", self.refill_prob, 0.0, 1.0)
        if self.refill_prob[Regime.QUIET] <= 0.0:
            raise ValueError("refill_prob[Quiet] must be > 0 (a book must recover)")
        _check_quad("depth_mult", self.depth_mult, 0.01, 100.0)
        _check_range("level_update_prob", self.level_update_prob, 0.0, 1.0)
        _check_range("depth_reversion", self.depth_reversion, 0.0, 1.0)
        _check_range("depth_noise_sigma", self.depth_noise_sigma, 0.0, 3.0)
        _check_range("fresh_level_frac", self.fresh_level_frac, 0.01, 10.0)
        _check_range("fill_split_mean", self.fill_split_mean, 0.0, 8.0)


class CoinSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One synthetic coin; sizes are in coin units, prices in USD."""

    name: str = "BTC"
    """coin name, non-empty: Hyperliquid's coin (Binance symbol is <name>USDT)."""

    px: float = 110_000.0
    """USD, > 0: latent price at the start."""

    sz_decimals: int = 5
    """decimals, 0..6: Hyperliquid szDecimals (lot 10**-sz_decimals; price decimals <= 6 - it)."""

    vol_mult: float = 1.0
    """ratio, 0..100: multiplies latent_vol_bps and cascade moves for this coin."""

    taker_qty_median: float = 0.01
    """coin, > 0: median Hyperliquid taker order size."""

    depth_qty: float = 1.0
    """coin, > 0: target resting size of a level next to the touch (deeper levels grow)."""

    touch_depth_mult: float = 15.0
    """ratio, 0.01..1000: target size of the touch level in depth_qty units."""

    depth_slope: float = 0.1
    """per level, 0..10: target size of level i is depth_qty * (1 + depth_slope * i)."""

    spread_ticks: int = 1
    """ticks, 1..10: quoted spread the makers re-post to."""

    ref_tick_px: float = 0.1
    """USD, a power of ten in (0, 1]: Binance USD-M tick size."""

    ref_sz_decimals: int = 3
    """decimals, 0..8: Binance quantity decimals."""

    ref_qty_mult: float = 2.0
    """ratio, 0.001..1000: Binance taker size (and touch size) relative to Hyperliquid's."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name must be non-empty")
        _check_range("px", self.px, 0.0, 1e9, lo_open=True)
        _check_range("sz_decimals", self.sz_decimals, 0, 6)
        _check_range("vol_mult", self.vol_mult, 0.0, 100.0)
        _check_range("taker_qty_median", self.taker_qty_median, 0.0, 1e12, lo_open=True)
        _check_range("depth_qty", self.depth_qty, 0.0, 1e12, lo_open=True)
        _check_range("touch_depth_mult", self.touch_depth_mult, 0.01, 1000.0)
        _check_range("depth_slope", self.depth_slope, 0.0, 10.0)
        _check_range("spread_ticks", self.spread_ticks, 1, 10)
        _check_range("ref_tick_px", self.ref_tick_px, 0.0, 1.0, lo_open=True)
        exp10 = math.log10(self.ref_tick_px)
        if abs(exp10 - round(exp10)) > 1e-9:
            raise ValueError(f"ref_tick_px must be a power of ten, got {self.ref_tick_px!r}")
        _check_range("ref_sz_decimals", self.ref_sz_decimals, 0, 8)
        _check_range("ref_qty_mult", self.ref_qty_mult, 0.001, 1000.0)
        lot = 10.0**-self.sz_decimals
        if self.depth_qty < lot:
            raise ValueError(f"depth_qty must be at least one lot ({lot!r})")
        # A price's tick must stay at least 1/1000 of it, else the book has no resolution.
        if hl_tick_px(self.px, self.sz_decimals) > self.px / 1000.0:
            raise ValueError(
                f"px {self.px!r} is too small for sz_decimals {self.sz_decimals}: tick over 10 bps"
            )


def hl_tick_px(px: float, sz_decimals: int) -> float:
    """Hyperliquid perp tick at ``px``: 5 significant figures, at most ``6 - sz_decimals``
    decimals, and integer prices always valid (so the tick never exceeds 1)."""
    if px <= 0.0:
        raise ValueError("px must be > 0")
    exp = min(math.floor(math.log10(px)) - 4, 0)
    exp = max(exp, -(6 - sz_decimals))
    return float(10.0**exp)


def hl_px_decimals(tick_px: float) -> int:
    """Number of decimals of a power-of-ten tick (0 for ticks >= 1)."""
    return max(0, round(-math.log10(tick_px)))


DEFAULT_COINS: dict[str, CoinSpec] = {
    "BTC": CoinSpec(),
    "ETH": CoinSpec(
        name="ETH", px=4270.0, sz_decimals=4, vol_mult=1.4, taker_qty_median=0.3, depth_qty=40.0,
        touch_depth_mult=3.0, depth_slope=0.2, ref_tick_px=0.01, ref_sz_decimals=3,
    ),
    "SOL": CoinSpec(
        name="SOL", px=205.0, sz_decimals=2, vol_mult=1.8, taker_qty_median=5.0, depth_qty=300.0,
        touch_depth_mult=3.0, depth_slope=0.15, ref_tick_px=0.01, ref_sz_decimals=2,
    ),
    "WLFI": CoinSpec(
        name="WLFI", px=0.1865, sz_decimals=0, vol_mult=4.0, taker_qty_median=2000.0,
        depth_qty=20000.0, touch_depth_mult=1.0, depth_slope=0.02, spread_ticks=2,
        ref_tick_px=0.00001, ref_sz_decimals=0,
    ),
}
"""Built-in coins, calibrated on the shared recordings (BTC, ETH, WLFI) and SOL by analogy."""
