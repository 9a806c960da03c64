"""Typed shapes of Hyperliquid's ``/exchange`` and ``/info`` requests and responses.

This module owns the msgspec structs for the signed ``/exchange`` envelope and the L1
actions a market maker sends (order, cancel, cancelByCloid, batchModify, modify,
scheduleCancel, updateLeverage), the ``/exchange`` response envelopes (ok with per-order
statuses resting/filled/error, or err with a plain string), the ``/info`` request types,
and the websocket client frames (HYPERLIQUID_WIRE.md §1-§3). Bytes in, typed structs out,
and back: no I/O.

Two decode paths for one body, on purpose: the signature covers the msgpack of the action
*with its keys in the order they arrived*, so :func:`decode_exchange_request` returns the
untyped JSON (dicts keep insertion order) for hashing next to the typed struct for logic.
Unknown keys are ignored everywhere; ``vaultAddress`` and ``expiresAfter`` may be null.

Encoding an action struct gives its keys in the order the SDK uses (``type`` first, then the
fields as declared), so ``msgspec.to_builtins(action)`` is hashable as is by a client.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

# --------------------------------------------------------------------------- actions


class Limit(msgspec.Struct, frozen=True):
    """``{"tif": "Alo"|"Ioc"|"Gtc"}``; ``FrontendMarket`` is what the web UI's market orders carry."""

    tif: Literal["Alo", "Ioc", "Gtc", "FrontendMarket"]


class Trigger(msgspec.Struct, frozen=True, rename="camel"):
    """A TP/SL trigger (key order as the SDK sends it)."""

    is_market: bool
    trigger_px: str
    tpsl: Literal["tp", "sl"]


class OrderType(msgspec.Struct, frozen=True, omit_defaults=True):
    """Exactly one of ``limit`` or ``trigger``."""

    limit: Limit | None = None
    trigger: Trigger | None = None


class OrderWire(msgspec.Struct, frozen=True, omit_defaults=True):
    """One order: asset, isBuy, price, size, reduceOnly, type, optional cloid (absent, not null)."""

    a: int
    b: bool
    p: str
    s: str
    r: bool
    t: OrderType
    c: str | None = None


class BuilderWire(msgspec.Struct, frozen=True):
    """Builder fee: lower-cased address and fee in tenths of a basis point."""

    b: str
    f: int


class CancelWire(msgspec.Struct, frozen=True):
    a: int
    o: int


class CancelByCloidWire(msgspec.Struct, frozen=True):
    asset: int
    cloid: str


class ModifyWire(msgspec.Struct, frozen=True):
    """``oid`` is an order id, or a cloid string to modify by cloid."""

    oid: int | str
    order: OrderWire


class _Action(msgspec.Struct, frozen=True, tag_field="type", omit_defaults=True):
    """Base of the L1 actions; the ``type`` key is the tag."""


class OrderAction(_Action, frozen=True, tag="order"):
    orders: list[OrderWire]
    grouping: str | dict[str, int]
    builder: BuilderWire | None = None


class CancelAction(_Action, frozen=True, tag="cancel"):
    cancels: list[CancelWire]


class CancelByCloidAction(_Action, frozen=True, tag="cancelByCloid"):
    cancels: list[CancelByCloidWire]


class BatchModifyAction(_Action, frozen=True, tag="batchModify"):
    modifies: list[ModifyWire]


class ModifyAction(_Action, frozen=True, tag="modify"):
    oid: int | str
    order: OrderWire


class ScheduleCancelAction(_Action, frozen=True, tag="scheduleCancel"):
    """``time`` in unix ms; absent unsets the dead man's switch."""

    time: int | None = None


class UpdateLeverageAction(_Action, frozen=True, tag="updateLeverage", rename="camel"):
    asset: int
    is_cross: bool
    leverage: int


Action = (
    OrderAction | CancelAction | CancelByCloidAction | BatchModifyAction | ModifyAction | ScheduleCancelAction | UpdateLeverageAction
)


class Signature(msgspec.Struct, frozen=True):
    """``r`` and ``s`` as hex strings (any length), ``v`` 27 or 28."""

    r: str
    s: str
    v: int


class ExchangeRequest(msgspec.Struct, frozen=True, rename="camel"):
    """The body of ``POST /exchange``."""

    action: Action
    nonce: int
    signature: Signature
    vault_address: str | None = None
    expires_after: int | None = None


class WireError(ValueError):
    """A body that does not deserialize into the target type (HTTP 422 on the real venue)."""


DESERIALIZE_ERROR_TEXT = "Failed to deserialize the JSON body into the target type"

_json_decoder = msgspec.json.Decoder()


def decode_json(body: bytes | str) -> Any:
    """Untyped JSON; objects become dicts in the order their keys arrived."""
    try:
        return _json_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise WireError(str(exc)) from exc


def decode_exchange_request(body: bytes | str | dict[str, Any]) -> tuple[dict[str, Any], ExchangeRequest]:
    """``(raw, typed)``: the raw JSON object (for hashing ``raw["action"]``) and the typed request."""
    raw = body if isinstance(body, dict) else decode_json(body)
    if not isinstance(raw, dict):
        raise WireError("body is not a JSON object")
    try:
        typed = msgspec.convert(raw, ExchangeRequest)
    except msgspec.ValidationError as exc:
        raise WireError(str(exc)) from exc
    return raw, typed


def action_to_builtins(action: Action) -> dict[str, Any]:
    """An action as plain dicts in the SDK's key order, ready for :func:`signing.action_hash`."""
    out: dict[str, Any] = msgspec.to_builtins(action)
    return out


def exchange_request_body(
    action: Action | dict[str, Any],
    nonce: int,
    signature: dict[str, Any],
    vault_address: str | None = None,
    expires_after: int | None = None,
) -> dict[str, Any]:
    """The ``/exchange`` body as the SDK posts it (vaultAddress and expiresAfter always present)."""
    act = action if isinstance(action, dict) else action_to_builtins(action)
    return {
        "action": act,
        "nonce": nonce,
        "signature": signature,
        "vaultAddress": vault_address,
        "expiresAfter": expires_after,
    }


# --------------------------------------------------------------------------- /exchange responses


class RestingStatus(msgspec.Struct, omit_defaults=True):
    oid: int
    cloid: str | None = None


class FilledStatus(msgspec.Struct, omit_defaults=True, rename="camel"):
    total_sz: str
    avg_px: str
    oid: int
    cloid: str | None = None


class OrderStatusEntry(msgspec.Struct, omit_defaults=True):
    """One per-order status: exactly one of ``resting``, ``filled``, ``error``."""

    resting: RestingStatus | None = None
    filled: FilledStatus | None = None
    error: str | None = None


# A status is an object (order-type replies) or a bare string ("success" in cancel replies).
StatusEntry = str | OrderStatusEntry


class StatusesData(msgspec.Struct):
    statuses: list[StatusEntry]


class OkBody(msgspec.Struct, omit_defaults=True):
    """``{"type": "order"|"cancel"|"default", "data": {"statuses": [...]}}`` (no data for default)."""

    type: str
    data: StatusesData | None = None


class ExchangeResponse(msgspec.Struct):
    """``{"status":"ok","response":{...}}`` or ``{"status":"err","response":"<message>"}``."""

    status: Literal["ok", "err"]
    response: str | OkBody


CANCEL_SUCCESS = "success"


def status_resting(oid: int, cloid: str | None = None) -> OrderStatusEntry:
    return OrderStatusEntry(resting=RestingStatus(oid=oid, cloid=cloid))


def status_filled(total_sz: str, avg_px: str, oid: int, cloid: str | None = None) -> OrderStatusEntry:
    return OrderStatusEntry(filled=FilledStatus(total_sz=total_sz, avg_px=avg_px, oid=oid, cloid=cloid))


def status_error(message: str) -> OrderStatusEntry:
    return OrderStatusEntry(error=message)


def ok_statuses(kind: Literal["order", "cancel"], statuses: list[StatusEntry]) -> ExchangeResponse:
    """An ok envelope with one status per order or cancel, in request order."""
    return ExchangeResponse(status="ok", response=OkBody(type=kind, data=StatusesData(statuses=statuses)))


def ok_default() -> ExchangeResponse:
    """``{"status":"ok","response":{"type":"default"}}``."""
    return ExchangeResponse(status="ok", response=OkBody(type="default"))


def err(message: str) -> ExchangeResponse:
    """The action-level refusal ``{"status":"err","response":"<message>"}``."""
    return ExchangeResponse(status="err", response=message)


def decode_exchange_response(body: bytes | str) -> ExchangeResponse:
    """A client's typed view of an ``/exchange`` reply."""
    try:
        return msgspec.json.decode(body, type=ExchangeResponse)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WireError(str(exc)) from exc


# Action-level error strings (the err envelope), as Hyperliquid words them.
def err_unknown_signer(address: str) -> str:
    return f"User or API Wallet {address.lower()} does not exist."


def err_duplicate_nonce(nonce: int) -> str:
    return f"Invalid nonce: duplicate nonce {nonce}"


def err_nonce_too_low(nonce: int, least: int) -> str:
    return f"Invalid nonce: nonce too low {nonce} < {least}"


def err_nonce_too_high(nonce: int, most: int) -> str:
    return f"Invalid nonce: nonce too high {nonce} > {most}"


def err_address_budget(used: int, cap: int, volume_usd: float) -> str:
    return (
        f"Too many cumulative requests sent ({used} > {cap}) for cumulative volume traded "
        f"${volume_usd:.2f}. Place taker orders to free up 1 request per USDC traded."
    )


def err_schedule_cancel_volume(required_usd: float, traded_usd: float) -> str:
    return (
        f"Cannot set scheduled cancel time until enough volume traded. "
        f"Required: ${required_usd:.0f}. Traded: ${traded_usd:.5f}."
    )


ERR_SCHEDULE_CANCEL_TOO_EARLY = "Scheduled cancel time too early, must be at least 5 seconds from now."
ERR_SCHEDULE_CANCEL_TOO_MANY = "Too many scheduled cancel triggers today"
ERR_UNABLE_TO_RECOVER = "Unable to recover signer."
ERR_EXPIRED = "Action already expired"
ERR_VAULT_UNSUPPORTED = "Vault trading is not supported by the paper venue."


# --------------------------------------------------------------------------- /info requests


class _Info(msgspec.Struct, frozen=True, tag_field="type", omit_defaults=True):
    """Base of the ``/info`` request types; the ``type`` key is the tag."""


class InfoMeta(_Info, frozen=True, tag="meta"):
    dex: str = ""


class InfoSpotMeta(_Info, frozen=True, tag="spotMeta"):
    pass


class InfoMetaAndAssetCtxs(_Info, frozen=True, tag="metaAndAssetCtxs"):
    dex: str = ""


class InfoAllMids(_Info, frozen=True, tag="allMids"):
    dex: str = ""


class InfoL2Book(_Info, frozen=True, tag="l2Book", rename="camel"):
    coin: str
    n_sig_figs: int | None = None
    mantissa: int | None = None


class InfoClearinghouseState(_Info, frozen=True, tag="clearinghouseState"):
    user: str
    dex: str = ""


class InfoOpenOrders(_Info, frozen=True, tag="openOrders"):
    user: str
    dex: str = ""


class InfoFrontendOpenOrders(_Info, frozen=True, tag="frontendOpenOrders"):
    user: str
    dex: str = ""


class InfoUserFills(_Info, frozen=True, tag="userFills", rename="camel"):
    user: str
    aggregate_by_time: bool | None = None


class InfoUserFillsByTime(_Info, frozen=True, tag="userFillsByTime", rename="camel"):
    user: str
    start_time: int
    end_time: int | None = None
    aggregate_by_time: bool | None = None


class InfoOrderStatus(_Info, frozen=True, tag="orderStatus"):
    """``oid`` is an order id or a ``0x`` + 32 hex cloid."""

    user: str
    oid: int | str


class InfoUserRateLimit(_Info, frozen=True, tag="userRateLimit"):
    user: str


class InfoUserFees(_Info, frozen=True, tag="userFees"):
    user: str


InfoRequest = (
    InfoMeta | InfoSpotMeta | InfoMetaAndAssetCtxs | InfoAllMids | InfoL2Book | InfoClearinghouseState | InfoOpenOrders | InfoFrontendOpenOrders | InfoUserFills | InfoUserFillsByTime | InfoOrderStatus | InfoUserRateLimit | InfoUserFees
)


def decode_info_request(body: bytes | str | dict[str, Any]) -> InfoRequest:
    """A typed ``/info`` request; WireError for unknown types or bad fields."""
    raw = body if isinstance(body, dict) else decode_json(body)
    try:
        out: InfoRequest = msgspec.convert(raw, InfoRequest)  # type: ignore[arg-type]
    except msgspec.ValidationError as exc:
        raise WireError(str(exc)) from exc
    return out


# Info weights (rate limits): 2 for these, 20 for other documented requests, 60 for userRole.
INFO_WEIGHT_2 = frozenset({"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"})
INFO_WEIGHT_60 = frozenset({"userRole"})


def info_weight(request_type: str) -> int:
    """The IP weight of an ``/info`` request type."""
    if request_type in INFO_WEIGHT_2:
        return 2
    if request_type in INFO_WEIGHT_60:
        return 60
    return 20


def exchange_weight(action: Action) -> int:
    """The IP weight of an ``/exchange`` request: ``1 + floor(batch_length / 40)``."""
    n = 0
    if isinstance(action, OrderAction):
        n = len(action.orders)
    elif isinstance(action, CancelAction | CancelByCloidAction):
        n = len(action.cancels)
    elif isinstance(action, BatchModifyAction):
        n = len(action.modifies)
    return 1 + n // 40


def action_request_count(action: Action) -> int:
    """How many requests an action charges to the per-address budget (one per order or cancel)."""
    if isinstance(action, OrderAction):
        return max(1, len(action.orders))
    if isinstance(action, CancelAction | CancelByCloidAction):
        return max(1, len(action.cancels))
    if isinstance(action, BatchModifyAction):
        return max(1, len(action.modifies))
    return 1


def is_cancel_action(action: Action) -> bool:
    """Cancels may run past the address budget (up to a larger cap)."""
    return isinstance(action, CancelAction | CancelByCloidAction | ScheduleCancelAction)


# --------------------------------------------------------------------------- websocket client frames


class Subscription(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    """A subscription object (``type`` plus the keys that type uses)."""

    type: str
    coin: str | None = None
    user: str | None = None
    n_sig_figs: int | None = None
    mantissa: int | None = None
    aggregate_by_time: bool | None = None
    interval: str | None = None


class WsPostRequest(msgspec.Struct, frozen=True):
    type: Literal["info", "action"]
    payload: dict[str, Any]


class WsClientMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    """``subscribe``/``unsubscribe`` (with subscription), ``ping``, or ``post`` (with id and request)."""

    method: Literal["subscribe", "unsubscribe", "ping", "post"]
    subscription: Subscription | None = None
    id: int | None = None
    request: WsPostRequest | None = None


def decode_ws_client_message(frame: bytes | str) -> WsClientMessage:
    try:
        return msgspec.json.decode(frame, type=WsClientMessage)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WireError(str(exc)) from exc


def ws_frame(channel: str, data: Any) -> dict[str, Any]:
    """A server-to-client frame ``{"channel": ..., "data": ...}``."""
    return {"channel": channel, "data": data}


def ws_post_reply(request_id: int, kind: Literal["action", "info", "error"], payload: Any) -> dict[str, Any]:
    """The reply to a ``post`` request (D-post)."""
    return {"channel": "post", "data": {"id": request_id, "response": {"type": kind, "payload": payload}}}


# --------------------------------------------------------------------------- /info response builders


def book_level(px: str, sz: str, n: int) -> dict[str, Any]:
    """One l2Book level ``{"px", "sz", "n"}``."""
    return {"px": px, "sz": sz, "n": n}


def l2_book(coin: str, time_ms: int, bids: list[dict[str, Any]], asks: list[dict[str, Any]]) -> dict[str, Any]:
    """The l2Book object, for ``/info`` and the ``l2Book`` channel (bids best first, then asks)."""
    return {"coin": coin, "time": time_ms, "levels": [bids, asks]}


def bbo(coin: str, time_ms: int, bid: dict[str, Any] | None, ask: dict[str, Any] | None) -> dict[str, Any]:
    """The ``bbo`` channel's data; a missing side is null."""
    return {"coin": coin, "time": time_ms, "bbo": [bid, ask]}


def spot_meta_empty() -> dict[str, Any]:
    """A perps-only venue's ``spotMeta``: the SDK's ``Info`` still asks for it."""
    return {"universe": [], "tokens": []}


def order_status_unknown() -> dict[str, Any]:
    return {"status": "unknownOid"}


def order_status_found(order: dict[str, Any], status: str, status_ts_ms: int) -> dict[str, Any]:
    return {"status": "order", "order": {"order": order, "status": status, "statusTimestamp": status_ts_ms}}


def user_fills_message(user: str, fills: list[dict[str, Any]], is_snapshot: bool) -> dict[str, Any]:
    """The ``userFills`` channel's data; ``user`` is required for the SDK's routing."""
    out: dict[str, Any] = {"user": user, "fills": fills}
    if is_snapshot:
        out["isSnapshot"] = True
    return out
