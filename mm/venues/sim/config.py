"""Configuration of the paper venue: one frozen, documented struct per TOML section.

This module owns the paper venue's settings and their defaults. The root is
:class:`VenueConfig`; each section below is a field of it. A bare ``VenueConfig`` with coins
and users applies actions in Hyperliquid's blocks (``matching.block_ms``, on by default, as on
Hyperliquid) and is otherwise perfect: latency, failures and quota limits are all off until
switched on (``[latency] enabled = true`` gives Hyperliquid's documented end-to-end latency;
:meth:`EnhancedSimConfig.seed_002` the "enhanced paper" values of the graduation design
notes). The fidelity of each setting to Hyperliquid is tabulated in this package's README.
Load from TOML with :func:`load_config`.

Example (TOML)::

    port = 8080
    [[coins]]
    name = "BTC"
    sz_decimals = 5
    [[users]]
    address = "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1"
    balance_usd = 100000.0
    [matching]
    queue_model = "pro_rata"
    [latency]
    enabled = true
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import msgspec


class CoinConfig(msgspec.Struct, frozen=True, kw_only=True):
    """One perpetual listed by the venue; its position in ``coins`` is its asset id.

    Attributes:
        name: Coin name as Hyperliquid spells it (``"BTC"``).
        sz_decimals: Size decimals (``meta.universe[i].szDecimals``); fixes tick and lot.
        max_leverage: Highest leverage a user may set on this coin.
        symbol_id: The ``symbol_id`` the market driver's events carry for this coin; -1 means
            "its index in ``coins``".
        binance_symbol: Binance USD-M symbol fed by reference events for this coin; empty
            means ``<name>USDT``.
        only_isolated: Listed in meta as isolated-only (informational; margin is cross).
    """

    name: str
    sz_decimals: int
    max_leverage: int = 50
    symbol_id: int = -1
    binance_symbol: str = ""
    only_isolated: bool = False


class UserConfig(msgspec.Struct, frozen=True, kw_only=True):
    """An account the venue knows, and the API wallets (agents) allowed to sign for it.

    Attributes:
        address: The user's address (any case). Orders are booked to it.
        balance_usd: Starting USDC collateral.
        agents: Addresses of approved API wallets that may sign for this user.
        leverage: Default cross leverage on every coin (capped at the coin's max).
        cum_volume_usd: Traded volume carried in from before (counts toward the per-address
            request budget and the scheduleCancel volume gate).
    """

    address: str
    balance_usd: float = 100_000.0
    agents: tuple[str, ...] = ()
    leverage: int = 20
    cum_volume_usd: float = 0.0


class MatchingConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The matching engine and its fill model.

    Attributes:
        queue_model: How displayed-size decreases between snapshots move our queue position:
            ``pro_rata`` (default), ``behind_first`` (pessimistic: cancels leave from behind
            us) or ``ahead_first`` (optimistic). See ``queue_model.py``.
        trade_through: When a market trade prints through a resting order's price, fill it
            for at most the printed quantity (``print_qty``, default) or completely (``full``).
        min_notional_usd: Minimum order value (Hyperliquid: $10).
        book_depth: Levels per side in l2Book replies and pushes (Hyperliquid: 20).
        fills_kept: Fills kept per user for userFills (newest first; Hyperliquid returns 2000).
        orders_kept: Closed orders kept per user for orderStatus lookups.
        margin_check: Refuse orders the account cannot margin ("Insufficient margin to place order.").
        first_oid: The first order id handed out.
        block_ms: Mean block length (Hyperliquid: a block roughly every 70 ms). Actions, and
            the market driver's Hyperliquid events, are collected into blocks and each block
            is applied at its end in Hyperliquid's order: actions that place no GTC or IOC
            order (ALO placements among them) first, then cancels, then actions placing
            GTC/IOC orders (a modify counts as the order it places; the market's trades are
            takers' GTC/IOC orders), then the market's book updates (the state the block left);
            arrival order within each group. So a cancel reaching the taker's block wins.
            Publication follows the blocks (see ``WsConfig``). 0 applies each action as it
            arrives and publishes at once.
        block_jitter_ms: Each block's length is uniform in ``block_ms +/- block_jitter_ms``.
    """

    queue_model: Literal["pro_rata", "behind_first", "ahead_first"] = "pro_rata"
    trade_through: Literal["print_qty", "full"] = "print_qty"
    min_notional_usd: float = 10.0
    book_depth: int = 20
    fills_kept: int = 2000
    orders_kept: int = 10_000
    margin_check: bool = True
    first_oid: int = 1_000_000
    block_ms: int = 70
    block_jitter_ms: int = 20


class FeeConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The fee tier the venue charges (see ``fees.py`` for the schedule).

    Attributes:
        tier: Volume tier name: ``base`` (4.5/1.5 bps), ``tier1`` .. ``tier6``.
        maker_share: Share of the venue's 14-day maker volume (0.006 = 0.6%); above 0.5%
            a maker rebate replaces the tier's maker fee.
        staking_discount: HYPE staking discount on fees paid, 0 to 0.4.
    """

    tier: str = "base"
    maker_share: float = 0.0
    staking_discount: float = 0.0


class LatencyConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Delay between an order or cancel reaching the venue and taking effect (then the reply).

    The default is Hyperliquid's documented end-to-end order latency from a co-located
    client, median 0.2 s and p99 0.9 s (docs, L1 overview): a log-normal with
    ``mu = ln(median_ms)`` and ``sigma = ln(p99_ms / median_ms) / 2.3263`` (``z_0.99``), i.e.
    ``mu = 5.2983``, ``sigma = 0.6465`` (mean 246.5 ms, sd 177.6 ms). With blocks on, the
    wait for the block's end is part of that end-to-end figure: the venue holds the action
    for the draw less half a block, and the block end adds the rest (see ``latency.py``).

    Attributes:
        enabled: Off: actions apply at once (at the next block end with blocks on).
        median_ms: Median of the log-normal delay (Hyperliquid: 200 ms).
        p99_ms: 99th percentile of the log-normal delay (Hyperliquid: 900 ms).
        mean_ms: Above 0: parametrise by the mean and ``std_ms`` instead (the graduation
            design notes used 150 ms and 50 ms, with 1% spikes).
        std_ms: Standard deviation of the log-normal delay when ``mean_ms`` is set.
        spike_probability: Chance that an action also meets a spike (0: the fitted tail
            already carries Hyperliquid's p99).
        spike_min_ms: Smallest spike added (500 ms).
        spike_max_ms: Largest spike added (uniform between min and max).
    """

    enabled: bool = False
    median_ms: float = 200.0
    p99_ms: float = 900.0
    mean_ms: float = 0.0
    std_ms: float = 0.0
    spike_probability: float = 0.0
    spike_min_ms: float = 500.0
    spike_max_ms: float = 2000.0


class EnhancedSimConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Injected failures (graduation design notes, "EnhancedSimConfig"). A zero rate is off.

    Attributes:
        rejection_rate: Chance each order is refused with one of ``rejection_messages``.
        rejection_messages: Error strings used for random rejections.
        margin_cancel_rate: Chance each resting order is later cancelled with status
            ``marginCanceled``, after a delay drawn from ``margin_cancel_delay_ms``.
        margin_cancel_delay_ms: (min, max) of that delay.
        quota_429_probability: Chance any HTTP request is answered 429 regardless of weight.
        disconnect_probability_per_s: Chance per second that the venue's websockets drop
            (every open connection is cut without a close frame).
        disconnect_duration_ms: (min, max) length of the outage that follows; new
            websocket connections are refused (HTTP 503) until it ends.
        disconnect_http: During an outage, also answer HTTP requests 503.
        post_only_windows_s: (start, length) windows in seconds since the venue started
            during which only ALO orders are accepted (as after a network upgrade).
        ack_hold_probability: Chance an order or modify action, once applied as usual, has
            its reply held back (a timeout that is not a failure: the order rests or fills
            while the client waits).
        ack_hold_ms: (min, max) of how long such a reply is held, in ms.
        ws_drop_every_s: Above 0: every this many seconds, cut every Hyperliquid websocket
            without a close frame (the client sees 1006); reconnects are accepted at once.
        user_event_drop_share: Share (0 to 1) of orderUpdates and userFills items never sent
            on the websocket (state drift); the venue's state and ``/info`` keep them.
        fill_duplicate_share: Share (0 to 1) of userFills frames sent twice.
        fill_reorder_share: Share (0 to 1) of userFills frames held back and sent after the
            user's next one (or after ``fill_reorder_max_ms``): fills out of order.
        fill_reorder_max_ms: Longest a held-back userFills frame waits for a successor.
    """

    rejection_rate: float = 0.0
    rejection_messages: tuple[str, ...] = ("Insufficient margin to place order.",)
    margin_cancel_rate: float = 0.0
    margin_cancel_delay_ms: tuple[float, float] = (100.0, 5000.0)
    quota_429_probability: float = 0.0
    disconnect_probability_per_s: float = 0.0
    disconnect_duration_ms: tuple[float, float] = (500.0, 10_000.0)
    disconnect_http: bool = False
    post_only_windows_s: tuple[tuple[float, float], ...] = ()
    ack_hold_probability: float = 0.0
    ack_hold_ms: tuple[float, float] = (1000.0, 3000.0)
    ws_drop_every_s: float = 0.0
    user_event_drop_share: float = 0.0
    fill_duplicate_share: float = 0.0
    fill_reorder_share: float = 0.0
    fill_reorder_max_ms: float = 1000.0

    @classmethod
    def seed_002(cls) -> EnhancedSimConfig:
        """The values of the design notes: 2% rejections, 0.5% margin cancels, 0.1% random 429s,
        0.01%/s disconnects of 0.5-10 s."""
        return cls(
            rejection_rate=0.02,
            margin_cancel_rate=0.005,
            quota_429_probability=0.001,
            disconnect_probability_per_s=0.0001,
        )


class RateLimitConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Hyperliquid's request limits (ARCHITECTURE "Rate limits").

    Attributes:
        enabled: Off: nothing is limited.
        ip_weight_per_min: REST weight per minute per IP (1200). Exchange actions weigh
            ``1 + floor(batch / 40)``; info requests 2, 20 or 60.
        address_initial_requests: Per-address request budget before any volume (10000).
        requests_per_usd: Requests added per USDC traded (1).
        cancel_extra_requests: Cancels stay allowed past the budget up to
            ``min(cap + cancel_extra_requests, 2 * cap)``.
        trickle_interval_s: Past the budget, one other request is still allowed every this
            many seconds (Hyperliquid: 1 every 10 s); 0 refuses them all.
    """

    enabled: bool = False
    ip_weight_per_min: int = 1200
    address_initial_requests: int = 10_000
    requests_per_usd: float = 1.0
    cancel_extra_requests: int = 100_000
    trickle_interval_s: float = 10.0


class NonceConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Nonce rules per signer (D-nonce).

    Attributes:
        keep: How many of the highest nonces are kept per signer (100); a new nonce must
            exceed the smallest of them once the set is full, and never repeat.
        window_past_ms: A nonce older than now minus this is refused (2 days).
        window_future_ms: A nonce later than now plus this is refused (1 day).
    """

    keep: int = 100
    window_past_ms: int = 2 * 86_400_000
    window_future_ms: int = 86_400_000


class ScheduleCancelConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The dead man's switch (``scheduleCancel``).

    Attributes:
        volume_gate_usd: Refuse the action until the user has traded this much (Hyperliquid
            mainnet: 1000000); 0 disables the gate.
        min_lead_ms: The time must be at least this far in the future (5000).
        max_triggers_per_day: Triggers allowed per UTC day (10).
    """

    volume_gate_usd: float = 0.0
    min_lead_ms: int = 5000
    max_triggers_per_day: int = 10


class WsConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The Hyperliquid websocket at ``/ws``.

    Attributes:
        idle_timeout_s: Close a connection the venue has sent nothing on for this long (60).
        l2book_interval_ms: Smallest gap between two l2Book pushes for a coin (500). With
            blocks on (``matching.block_ms``), a full snapshot goes out at the end of the
            first block at least this long after the last push, stamped with the block time,
            as Hyperliquid does; bbo goes out at a block's end only when it changed, trades
            once per block. With blocks off, pushes follow the publisher tick.
        l2book_push_unchanged: Push l2Book at every interval even when the book did not change
            (Hyperliquid pushes on every block past the interval).
        send_banner: Send the text frame ``Websocket connection established.`` on connect.
        trades_backfill: Recent trades sent right after a trades subscription (Hyperliquid
            backfills; clients must deduplicate by tid).
        asset_ctx_interval_ms: Period of activeAssetCtx pushes.
        tick_ms: Period of the publisher loop (timers, failure draws; book pushes when blocks
            are off).
    """

    idle_timeout_s: float = 60.0
    l2book_interval_ms: int = 500
    l2book_push_unchanged: bool = True
    send_banner: bool = True
    trades_backfill: int = 10
    asset_ctx_interval_ms: int = 1000
    tick_ms: int = 50


class BinanceConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The Binance USD-M style public streams at ``/binance/stream`` and ``/binance/ws/<stream>``.

    Attributes:
        enabled: Serve the endpoints.
        default_qty: Quantity printed in bookTicker/depth when a reference event has none
            (``RefPrice`` carries prices only).
    """

    enabled: bool = True
    default_qty: float = 1.0


class VenueConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The paper venue.

    Attributes:
        host: Listen address; loopback unless you mean otherwise.
        port: TCP port; 0 picks a free one (read it from the server handle).
        seed: Seed of the venue's random draws (latency, failures).
        signature_source: Phantom-agent source letter used to recover signers: ``"b"`` is
            what the official SDK uses for every URL but mainnet's.
        error_asset_suffix: Append ``" asset=<n>"`` to per-order errors, as Hyperliquid does.
        coins: Listed perpetuals (asset id = index).
        users: Known accounts and their agents; any other signer is refused.
        matching: Matching engine and fill model.
        fees: Fee tier.
        latency: Order/cancel latency model.
        failures: Injected failures.
        rate_limits: IP weight and per-address budget.
        nonces: Nonce rules.
        schedule_cancel: Dead man's switch rules.
        ws: Websocket behaviour.
        binance: Binance-style reference streams.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    signature_source: Literal["a", "b"] = "b"
    error_asset_suffix: bool = True
    coins: tuple[CoinConfig, ...] = ()
    users: tuple[UserConfig, ...] = ()
    matching: MatchingConfig = MatchingConfig()
    fees: FeeConfig = FeeConfig()
    latency: LatencyConfig = LatencyConfig()
    failures: EnhancedSimConfig = EnhancedSimConfig()
    rate_limits: RateLimitConfig = RateLimitConfig()
    nonces: NonceConfig = NonceConfig()
    schedule_cancel: ScheduleCancelConfig = ScheduleCancelConfig()
    ws: WsConfig = WsConfig()
    binance: BinanceConfig = BinanceConfig()


def load_config(path: str | Path) -> VenueConfig:
    """A :class:`VenueConfig` from a TOML file (a ``[venue]`` table, or the file's top level)."""
    data = tomllib.loads(Path(path).read_text())
    section = data.get("venue", data)
    return msgspec.convert(section, VenueConfig)
