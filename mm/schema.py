"""The messages that travel between mm's processes, and their binary codec.

Every message is a flat, frozen ``msgspec.Struct`` encoded as a msgpack array
(``array_like=True``) whose first element is an integer type tag, so one ring can
carry several message types and a reader decodes any of them with one decoder.

Conventions (ARCHITECTURE.md): prices ``px``, quantities ``qty`` (always >= 0,
direction lives in ``side``), local monotonic times ``ts_ns``, venue times
``remote_ts_ms``, basis points ``_bps``. ``origin_ts_ns`` is the local receive time
of the market event that started a causal chain; every derived message carries it
so that per-hop and end-to-end latency can be measured anywhere downstream.

Tags are part of the recording format (mm/recording): never renumber one.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec


class Side(enum.IntEnum):
    """Order or aggressor side. ``BUY`` is +1 so that ``side * qty`` is signed."""

    BUY = 1
    SELL = -1


class Venue(enum.IntEnum):
    HYPERLIQUID = 0
    BINANCE = 1
    SIM = 2
    SYNTHETIC = 3


class Regime(enum.IntEnum):
    """Market regime of the feature engine's filter (seed 000 §2.3)."""

    QUIET = 0
    NORMAL = 1
    VOLATILE = 2
    CASCADE = 3


class Toxicity(enum.IntEnum):
    """Output of the toxicity classifier (seed 000 §2.4.3)."""

    BENIGN = 0
    NORMAL = 1
    TOXIC = 2


class OrderStatus(enum.IntEnum):
    """Order lifecycle states (issue 6)."""

    PENDING_NEW = 0
    OPEN = 1
    PARTIALLY_FILLED = 2
    PENDING_CANCEL = 3
    FILLED = 4
    CANCELLED = 5
    REJECTED = 6
    STALE = 7


class SafetyLevel(enum.IntEnum):
    GREEN = 0
    YELLOW = 1
    ORANGE = 2
    RED = 3
    KILL = 4


class ExposureLevel(enum.IntEnum):
    SHADOW = 0
    MICRO_LIVE = 1
    RAMPING = 2
    CAUTIOUS = 3
    FULL = 4
    OPTIMIZED = 5


class ExecMode(enum.IntEnum):
    FLAT = 0
    MAKER = 1
    TAKER_ENTRY = 2
    TAKER_EXIT = 3
    INVENTORY_REDUCE = 4


# Allowed-sides bit mask of ControlState.
SIDES_NONE: Final = 0
SIDES_BID: Final = 1
SIDES_ASK: Final = 2
SIDES_BOTH: Final = 3


class _Msg(msgspec.Struct, array_like=True, frozen=True, tag_field="t"):
    """Base of every ring message (the tag is the first array element)."""


# --------------------------------------------------------------------------- market data


class Trade(_Msg, tag=1, frozen=True):
    """A public trade. ``side`` is the aggressor's side."""

    venue: int
    symbol_id: int
    ts_ns: int
    remote_ts_ms: int
    seq: int
    px: float
    qty: float
    side: int
    trade_id: int = 0


class BookSnapshot(_Msg, tag=2, frozen=True):
    """A full L2 snapshot (Hyperliquid pushes these per block). Best level first."""

    venue: int
    symbol_id: int
    ts_ns: int
    remote_ts_ms: int
    seq: int
    bid_px: list[float]
    bid_qty: list[float]
    ask_px: list[float]
    ask_qty: list[float]


class BookDelta(_Msg, tag=3, frozen=True):
    """Absolute level quantities (0 removes the level), as in Binance's depth diff.

    ``first_seq``/``seq``/``prev_seq`` are Binance's U/u/pu.
    """

    venue: int
    symbol_id: int
    ts_ns: int
    remote_ts_ms: int
    seq: int
    first_seq: int
    prev_seq: int
    bid_px: list[float]
    bid_qty: list[float]
    ask_px: list[float]
    ask_qty: list[float]


class Bbo(_Msg, tag=4, frozen=True):
    """Best bid and offer. A missing side has px 0 and qty 0."""

    venue: int
    symbol_id: int
    ts_ns: int
    remote_ts_ms: int
    seq: int
    bid_px: float
    bid_qty: float
    ask_px: float
    ask_qty: float


class FundingUpdate(_Msg, tag=5, frozen=True):
    """Hyperliquid activeAssetCtx: funding and mark."""

    venue: int
    symbol_id: int
    ts_ns: int
    remote_ts_ms: int
    funding_rate: float
    mark_px: float
    oracle_px: float
    open_interest: float


class RefPrice(_Msg, tag=6, frozen=True):
    """The lead reference (Binance USD-M) for a symbol: its best bid/ask and mid."""

    venue: int
    symbol_id: int
    ts_ns: int
    remote_ts_ms: int
    seq: int
    bid_px: float
    ask_px: float
    mid_px: float


class FeedStale(_Msg, tag=7, frozen=True):
    """No message from a venue for a symbol within the configured time."""

    venue: int
    symbol_id: int
    ts_ns: int
    silent_ns: int
    stale: bool = True


MarketEvent = Trade | BookSnapshot | BookDelta | Bbo | FundingUpdate | RefPrice | FeedStale

# --------------------------------------------------------------------------- derived state

N_DEPTH: Final = 10


class StateSnapshot(_Msg, tag=20, frozen=True):
    """The feature engine's compact state (seed 000 §2.3), under 16 KB encoded."""

    symbol_id: int
    ts_ns: int
    origin_ts_ns: int
    seq: int
    best_bid: float
    best_ask: float
    mid_px: float
    microprice: float
    spread_bps: float
    depth_bids: list[float]
    depth_asks: list[float]
    book_imbalance: float
    ofi_500ms: float
    ofi_2s: float
    trade_sign_run_length: int
    vwap_direction: float
    sigma_ewma: float
    sigma_realized_1m: float
    regime: int
    regime_probs: list[float]
    inventory: float
    queue_rank_bid: float
    queue_rank_ask: float
    ref_mid_px: float = 0.0
    last_trade_ts_ns: int = 0
    book_ts_ns: int = 0
    toxicity: int = 1
    toxic_prob: float = 0.0


class AlphaSignal(_Msg, tag=21, frozen=True):
    """The alpha engine's view: target inventory and what it rests on."""

    symbol_id: int
    ts_ns: int
    origin_ts_ns: int
    seq: int
    target_inventory: float
    lead_lag_skew_bps: float
    divergence_bps: float
    toxicity: int
    toxic_prob: float
    changepoint: bool = False
    model_weight: float = 1.0
    """The continuous validator's weight alpha applied to the lead-lag skew (and so to the
    target): 1 healthy or unscored, 0 retired (signal disabled). The raw skew is skew / weight."""


# --------------------------------------------------------------------------- orders and control


class OrderEvent(_Msg, tag=30, frozen=True):
    """A change in one of our orders' lifecycle, published by execution."""

    symbol_id: int
    ts_ns: int
    origin_ts_ns: int
    cloid: str
    oid: int
    side: int
    px: float
    qty: float
    filled_qty: float
    status: int
    reason: str = ""


class Fill(_Msg, tag=31, frozen=True):
    """One of our fills."""

    symbol_id: int
    ts_ns: int
    origin_ts_ns: int
    remote_ts_ms: int
    cloid: str
    oid: int
    trade_id: int
    side: int
    px: float
    qty: float
    fee: float
    is_maker: bool
    mid_px: float = 0.0


class ShadowFill(_Msg, tag=32, frozen=True):
    """A simulated fill of the active policy's would-be quote at the Shadow exposure level.

    At Shadow (size multiplier 0) execution places nothing; the variants simulator's track
    of the active parameters (mm.execution.variants) quotes on the same snapshots and its
    quotes are filled by the paper fill model. Execution publishes those fills on the ex
    ring so that risk has evidence at Shadow (fills at level, markouts, the validator's
    observations). Never a position or PnL: no order, no venue, no inventory (the feature
    process and the monitor ignore this type). ``mid_px``: the mid the fill is measured
    against (the symbol's mid before the move that filled it); ``predicted_edge_bps``: the
    quote's expected edge (its queue value) when the policy evaluated one, else NaN.
    """

    symbol_id: int
    ts_ns: int
    origin_ts_ns: int
    side: int
    px: float
    qty: float
    fee: float
    is_maker: bool
    mid_px: float
    predicted_edge_bps: float = float("nan")


class ControlState(_Msg, tag=40, frozen=True):
    """Risk's instruction to execution, applied every cycle."""

    ts_ns: int
    seq: int
    safety_level: int
    exposure_level: int
    size_multiplier: float
    spread_multiplier: float
    reduce_only: bool
    allowed_sides: int
    reason: str = ""
    model_weights: dict[str, float] = msgspec.field(default_factory=dict)
    """The continuous validator's weight per model (mm.validation.signals.control_weights):
    Retired 0 (the signal disabled), Degraded 0.05-0.5, Healthy 1; a model not listed: 1."""


class OperatorCommand(_Msg, tag=41, frozen=True):
    """An operator's command forwarded by the supervisor (mmctl promote/demote...)."""

    ts_ns: int
    seq: int
    verb: str
    arg: str = ""
    reason: str = ""
    who: str = ""
    force: bool = False


class CycleSummary(_Msg, tag=50, frozen=True):
    """Execution's per-cycle outcome on the ex ring (the full audit record is issue 9)."""

    symbol_id: int
    ts_ns: int
    origin_ts_ns: int
    cycle: int
    mode: int
    n_actions: int
    inventory: float


# The audit messages live with their owner (mm.audit.record: tags 60-62) and travel on the
# audit and ctl rings; mm.audit.record imports nothing from mm at run time (no cycle).
from mm.audit.record import AuditFill, CycleDecisionRecord, RiskStatus  # noqa: E402

AnyMessage = (
    Trade
    | BookSnapshot
    | BookDelta
    | Bbo
    | FundingUpdate
    | RefPrice
    | FeedStale
    | StateSnapshot
    | AlphaSignal
    | OrderEvent
    | Fill
    | ShadowFill
    | ControlState
    | OperatorCommand
    | CycleSummary
    | CycleDecisionRecord
    | AuditFill
    | RiskStatus
)


class Codec:
    """Encode any message to bytes and decode bytes back to the typed struct.

    One instance per process; reuses msgspec's encoder and decoder buffers.
    """

    __slots__ = ("_dec", "_enc")

    def __init__(self) -> None:
        self._enc = msgspec.msgpack.Encoder()
        self._dec: msgspec.msgpack.Decoder[AnyMessage] = msgspec.msgpack.Decoder(AnyMessage)

    def encode(self, msg: AnyMessage) -> bytes:
        return self._enc.encode(msg)

    def decode(self, data: bytes | memoryview) -> AnyMessage:
        return self._dec.decode(data)


def tag_of(msg_type: type[msgspec.Struct]) -> int:
    """The integer tag of a message type."""
    tag = msg_type.__struct_config__.tag
    if not isinstance(tag, int):
        raise TypeError(f"{msg_type.__name__} has no integer tag")
    return tag
