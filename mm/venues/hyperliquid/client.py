"""The async Hyperliquid exchange client: signed actions, account queries, the user-data stream.

This module owns the I/O with Hyperliquid's ``/exchange``, ``/info`` and ``/ws`` (the real
venue or the paper venue; only the URLs and the network differ):

- **Actions** (order, cancel, cancelByCloid, batchModify, scheduleCancel, or any typed
  :mod:`exchange_wire` action) are signed with the API wallet key (:mod:`keys`) and a
  nonce from the signer's one :class:`~mm.venues.hyperliquid.signing.NonceSource` (share
  it, or its allocator, with every other signer of the key: risk's kill path), then sent
  as websocket ``post`` requests, or over ``POST /exchange`` when the websocket is down or
  has just let a post time out.
- **A timeout is not a failure.** An action with no answer (post or HTTP timeout, the
  connection lost after sending, an HTTP 5xx, a reply that does not parse) has outcome
  ``"unknown"``: it may have been applied. It is *never* re-sent here; every order carries
  a cloid (one is made when the caller gives none) so the caller looks it up
  (:meth:`ExchangeClient.order_status`) before sending anything again. ``"rejected"``
  means certainly not applied (an ``err`` envelope, HTTP 4xx/429, no connection made).
- **Typed results**: one :class:`ItemResult` per order or cancel, in request order, with
  the venue's exact strings; a post-only rejection's BBO is parsed into numbers.
- **Venue rules**: prices and sizes given as numbers are rounded onto the asset's grid
  (:mod:`rules`; a buy's price rounds down, a sell's up, so a limit is never worse than
  asked; sizes round down) and checked (tick, lot, $10 minimum) before anything is sent.
- **User data**: ``orderUpdates`` and ``userFills`` delivered as :class:`OrderInfo` and
  :class:`UserFill` to a callback; the websocket pings, reconnects with jittered backoff,
  resubscribes, and recovers the fills missed while it was down (the resubscription
  snapshot, and ``userFillsByTime`` since the newest fill seen), deduplicated by
  ``(oid, tid)``; then a :class:`StreamStatus` ``"reconnected"`` tells the caller to
  reconcile open orders.
- **Secrets**: the key lives in :class:`~mm.venues.hyperliquid.keys.AgentKey`; this module
  never logs request bodies, and its ``repr`` shows addresses and URLs only.

Feeding the OMS (``mm.execution.lifecycle.Oms``), per :class:`ExchangeRequest` ``req``::

    res = await client.send_action(req.action())
    if res.outcome == "ok" and req.kind in ("order", "batchModify"):
        for st in res.statuses:            # st.cloid is the (new) order's cloid
            if st.kind in ("resting", "filled", "error"):
                oms.on_order_result(st.cloid, now_ns, st.kind, st.oid, st.total_sz, st.error)
    elif res.outcome == "ok":              # cancel / cancelByCloid
        for c, st in zip(req.cancels, res.statuses):
            if st.kind != "unknown":
                oms.on_cancel_result(c.cloid, now_ns, st.kind == "success", st.error)
    else:
        oms.on_request_failed(req.request_id, now_ns, maybe_delivered=res.outcome == "unknown",
                              reason=res.error)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, Final, Literal

import aiohttp
import msgspec

from mm.venues.hyperliquid import exchange_wire as wire
from mm.venues.hyperliquid import rules
from mm.venues.hyperliquid.client_config import ExchangeClientConfig
from mm.venues.hyperliquid.keys import AgentKey
from mm.venues.hyperliquid.reconcile import (
    AccountState,
    LocalOrder,
    OrderInfo,
    Position,
    ReconcilePlan,
    UnknownPolicy,
    UserFill,
    plan_reconciliation,
)
from mm.venues.hyperliquid.signing import NonceSource

log = logging.getLogger(__name__)

__all__ = [
    "AccountState",
    "ActionResult",
    "CancelSpec",
    "CloidCancelSpec",
    "ExchangeClient",
    "ItemResult",
    "ModifySpec",
    "OrderInfo",
    "OrderSpec",
    "Position",
    "ReconcileReport",
    "StreamStatus",
    "UserFill",
    "VenueRequestError",
    "parse_alo_bbo",
]

Outcome = Literal["ok", "rejected", "unknown"]
Transport = Literal["ws", "http", "none"]
ItemKind = Literal["resting", "filled", "success", "error", "unknown"]
Tif = Literal["Alo", "Ioc", "Gtc"]

_CLOID_RE: Final = re.compile(r"^0x[0-9a-f]{32}$")
# the sentence ends with a period (then maybe " asset=N"): numbers are digits with one optional fraction
_BBO_RE: Final = re.compile(r"bbo was ([0-9]+(?:\.[0-9]+)?)@([0-9]+(?:\.[0-9]+)?)")
_BANNER: Final = "Websocket connection established."
_SEEN_FILLS_KEPT: Final = 50_000
_JSON: Final = {"Content-Type": "application/json"}
_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_alo_bbo(error: str) -> tuple[float, float] | None:
    """``(bid, ask)`` from ``Post only order would have immediately matched, bbo was B@A.``; else None."""
    m = _BBO_RE.search(error)
    if m is None:
        return None
    try:
        return float(m.group(1)), float(m.group(2))
    except ValueError:
        return None


class VenueRequestError(RuntimeError):
    """An ``/info`` request that got no usable answer after its retries."""


# --------------------------------------------------------------------------- requests in


class OrderSpec(msgspec.Struct, frozen=True, kw_only=True):
    """An order to place: numbers are rounded onto the asset's grid by the client.

    ``cloid``: ``0x`` + 32 lower-case hex; None makes the client assign one (returned in
    the result), so every order can be looked up after an unknown outcome.
    """

    coin: str
    is_buy: bool
    px: float | str | Decimal
    sz: float | str | Decimal
    tif: Tif = "Alo"
    reduce_only: bool = False
    cloid: str | None = None


class CancelSpec(msgspec.Struct, frozen=True):
    """Cancel by order id."""

    coin: str
    oid: int


class CloidCancelSpec(msgspec.Struct, frozen=True):
    """Cancel by client order id."""

    coin: str
    cloid: str


class ModifySpec(msgspec.Struct, frozen=True):
    """Replace the open order ``target`` (an oid, or a cloid string) by ``order`` (batchModify)."""

    target: int | str
    order: OrderSpec


# --------------------------------------------------------------------------- results out


class ItemResult(msgspec.Struct, frozen=True, kw_only=True):
    """The venue's word on one order, modify or cancel of an action, in request order.

    kind: ``resting`` / ``filled`` (orders and modifies), ``success`` (cancels), ``error``
        (the venue's exact string in ``error``), ``unknown`` (no answer for this item).
    oid: the venue's order id (of the new order for a modify; the cancelled one for a cancel).
    cloid: the order's client id as sent (for a modify, the replacement's).
    total_sz / avg_px: what a ``filled`` status reports.
    bbo: ``(bid, ask)`` carried by a post-only rejection (reprice from it, don't retry blind).
    local: refused by the client before sending (rounding left no valid order); not sent.
    """

    kind: ItemKind
    oid: int = 0
    cloid: str | None = None
    total_sz: float = 0.0
    avg_px: float = 0.0
    error: str = ""
    bbo: tuple[float, float] | None = None
    local: bool = False


class ActionResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one signed action.

    outcome: ``ok`` (the venue answered; see ``statuses``), ``rejected`` (certainly not
        applied: ``err`` envelope, HTTP 4xx/429, never sent), ``unknown`` (may have been
        applied: look orders up by cloid before re-sending anything).
    action: the action type (``order``, ``cancel``, ``cancelByCloid``, ``batchModify``,
        ``scheduleCancel``, ...).
    statuses: one per item in request order (empty for scheduleCancel).
    error: the ``err`` envelope's string, or the transport's reason.
    transport: how it went (``ws``, ``http``; ``none`` when nothing was sent).
    nonce: the nonce it was signed with (0 when not signed).
    rtt_ms: from just before sending to the answer (or the give-up).
    http_status: the HTTP status of an HTTP-sent action (0 otherwise).
    """

    action: str
    outcome: Outcome
    statuses: tuple[ItemResult, ...] = ()
    error: str = ""
    transport: Transport = "none"
    nonce: int = 0
    rtt_ms: float = 0.0
    http_status: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class StreamStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The user-data stream's state changes (delivered to the same callback as the data).

    ``reconnected`` comes after the resubscription and the fill recovery: reconcile open
    orders then (``fills_recovered`` fills were delivered with ``replayed=True``).
    """

    kind: Literal["connected", "disconnected", "reconnected"]
    ts_ms: int
    down_ms: int = 0
    fills_recovered: int = 0
    reason: str = ""


UserEvent = OrderInfo | UserFill | StreamStatus
EventHandler = Callable[[UserEvent], None]


class ReconcileReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a start/reconnect reconciliation found and did.

    plan: the pure decisions (:mod:`reconcile`), with every difference counted.
    cancel_results: the cancel actions sent for ``plan.cancel``.
    venue_open_after: the venue's open orders after the cancels (the adopted ones, and any
        cancel that did not take: an orphan would show here).
    positions: the venue's positions (coin -> signed size), to load into the OMS.
    elapsed_ms: wall time of the whole reconciliation.
    """

    plan: ReconcilePlan
    cancel_results: tuple[ActionResult, ...]
    venue_open_after: tuple[OrderInfo, ...]
    positions: dict[str, float]
    account: AccountState
    elapsed_ms: float


# --------------------------------------------------------------------------- raw /info shapes


class _RawOrder(msgspec.Struct, rename="camel"):
    coin: str
    side: str
    limit_px: str
    sz: str
    oid: int
    timestamp: int = 0
    orig_sz: str | None = None
    reduce_only: bool = False
    tif: str | None = None
    cloid: str | None = None


class _RawStatusOrder(msgspec.Struct, rename="camel"):
    order: _RawOrder
    status: str
    status_timestamp: int = 0


class _RawOrderStatus(msgspec.Struct):
    status: str
    order: _RawStatusOrder | None = None


class _RawFill(msgspec.Struct, rename="camel"):
    coin: str
    px: str
    sz: str
    side: str
    time: int
    oid: int
    tid: int
    start_position: str = "0"
    dir: str = ""
    closed_pnl: str = "0"
    hash: str = ""
    crossed: bool = False
    fee: str = "0"
    fee_token: str = "USDC"
    cloid: str | None = None
    liquidation: Any = None


class _RawLeverage(msgspec.Struct):
    value: int = 0


class _RawPosition(msgspec.Struct, rename="camel"):
    coin: str
    szi: str
    entry_px: str | None = None
    position_value: str = "0"
    unrealized_pnl: str = "0"
    margin_used: str = "0"
    liquidation_px: str | None = None
    leverage: _RawLeverage | None = None


class _RawAssetPosition(msgspec.Struct):
    position: _RawPosition


class _RawSummary(msgspec.Struct, rename="camel"):
    account_value: str = "0"
    total_margin_used: str = "0"


class _RawClearinghouse(msgspec.Struct, rename="camel"):
    asset_positions: list[_RawAssetPosition]
    margin_summary: _RawSummary
    withdrawable: str = "0"
    time: int = 0


def _f(x: str | None) -> float:
    return float(x) if x else 0.0


# --------------------------------------------------------------------------- the client


class ExchangeClient:
    """One account's connection to Hyperliquid (see the module docstring).

    Use ``async with ExchangeClient(...) as c`` or ``await c.start()`` / ``await c.close()``;
    :meth:`from_config` builds one from ``[exchange]``. One instance per event loop.
    """

    def __init__(
        self,
        *,
        http_url: str,
        key: AgentKey,
        account_address: str = "",
        is_mainnet: bool = False,
        ws_url: str = "",
        nonce_source: NonceSource | None = None,
        asset_rules: Sequence[rules.AssetRules] | None = None,
        use_ws_post: bool = True,
        post_timeout_ms: int = 2_000,
        http_timeout_ms: int = 3_000,
        info_timeout_ms: int = 3_000,
        info_retries: int = 2,
        ws_connect_timeout_ms: int = 3_000,
        ws_ping_interval_s: float = 20.0,
        ws_stale_after_s: float = 50.0,
        reconnect_min_ms: int = 200,
        reconnect_max_ms: int = 5_000,
        fill_replay_grace_ms: int = 5_000,
        expires_after_ms: int = 0,
        clock_ms: Callable[[], int] = _wall_ms,
        name: str = "exchange",
    ) -> None:
        self.name = name
        self.http_url = http_url.rstrip("/")
        self.ws_url = ws_url or ("ws" + self.http_url[len("http"):] + "/ws")
        self._key = key
        self.account_address = account_address or key.address
        self.is_mainnet = is_mainnet
        self._clock_ms = clock_ms
        self.nonces = nonce_source if nonce_source is not None else NonceSource(clock_ms)
        self.use_ws_post = use_ws_post
        self.post_timeout_s = post_timeout_ms / 1000.0
        self.http_timeout_s = http_timeout_ms / 1000.0
        self.info_timeout_s = info_timeout_ms / 1000.0
        self.info_retries = info_retries
        self.ws_connect_timeout_s = ws_connect_timeout_ms / 1000.0
        self.ws_ping_interval_s = ws_ping_interval_s
        self.ws_stale_after_s = ws_stale_after_s
        self.reconnect_min_s = reconnect_min_ms / 1000.0
        self.reconnect_max_s = reconnect_max_ms / 1000.0
        self.fill_replay_grace_ms = fill_replay_grace_ms
        self.expires_after_ms = expires_after_ms
        self._assets: dict[str, tuple[int, rules.AssetRules]] = {}
        self._coins: list[str] = []
        if asset_rules is not None:
            self._set_rules(asset_rules)
        self._cloid_prefix = secrets.randbits(64)
        self._cloid_seq = 0
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_task: asyncio.Task[None] | None = None
        self._ws_healthy = False
        self._ws_connected = asyncio.Event()
        self._ping_now = asyncio.Event()
        self._last_recv_s = 0.0
        self._post_seq = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._closing = False
        self._background: set[asyncio.Task[Any]] = set()
        # user-data stream
        self._handler: EventHandler | None = None
        self._user_subscribed = False
        self._fills_since_ms: int | None = None
        self._fills_primed = False
        self._fills_primed_event = asyncio.Event()
        self._seen_fills: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._fill_watermark_ms = 0
        self._replayed_since_connect = 0
        self.stats: dict[str, int] = {
            "actions_ws": 0, "actions_http": 0, "ws_fallbacks": 0, "outcome_unknown": 0, "outcome_rejected": 0,
            "late_post_replies": 0, "ws_connects": 0, "ws_disconnects": 0, "fills_delivered": 0,
            "fills_replayed": 0, "fills_duplicate": 0, "order_updates": 0, "nonce_errors": 0, "info_retries": 0,
            "local_rejects": 0,
        }

    @classmethod
    def from_config(
        cls,
        cfg: ExchangeClientConfig,
        key: AgentKey | None = None,
        nonce_source: NonceSource | None = None,
        asset_rules: Sequence[rules.AssetRules] | None = None,
        name: str = "exchange",
        use_ws_post: bool | None = None,
    ) -> ExchangeClient:
        """A client for ``[exchange]``; the key is loaded from ``key_file`` or ``key_env`` unless given."""
        k = key if key is not None else AgentKey.load(cfg.key_env, cfg.key_file)
        return cls(
            http_url=cfg.resolved_http_url, ws_url=cfg.resolved_ws_url, key=k, account_address=cfg.account_address,
            is_mainnet=cfg.is_mainnet, nonce_source=nonce_source, asset_rules=asset_rules,
            use_ws_post=cfg.use_ws_post if use_ws_post is None else use_ws_post,
            post_timeout_ms=cfg.post_timeout_ms, http_timeout_ms=cfg.http_timeout_ms,
            info_timeout_ms=cfg.info_timeout_ms, info_retries=cfg.info_retries,
            ws_connect_timeout_ms=cfg.ws_connect_timeout_ms, ws_ping_interval_s=cfg.ws_ping_interval_s,
            ws_stale_after_s=cfg.ws_stale_after_s, reconnect_min_ms=cfg.reconnect_min_ms,
            reconnect_max_ms=cfg.reconnect_max_ms, fill_replay_grace_ms=cfg.fill_replay_grace_ms,
            expires_after_ms=cfg.expires_after_ms, name=name,
        )

    def __repr__(self) -> str:
        return (f"ExchangeClient(name={self.name}, account={self.account_address}, signer={self._key.address}, "
                f"http={self.http_url}, mainnet={self.is_mainnet})")

    __str__ = __repr__

    @property
    def signer_address(self) -> str:
        return self._key.address

    @property
    def ws_connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    # ------------------------------------------------------------------ lifecycle

    async def start(self, connect_ws: bool | None = None) -> None:
        """Open the HTTP session, load meta (unless given), connect the websocket (posts, user data).

        A websocket that cannot connect now is not an error: actions go over HTTP and the
        connection keeps being retried in the background.
        """
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        if not self._assets:
            await self.meta()
        want_ws = self.use_ws_post if connect_ws is None else connect_ws
        if want_ws:
            self._ensure_ws()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._ws_connected.wait(), self.ws_connect_timeout_s)

    async def close(self) -> None:
        """Stop the websocket and background tasks, close the session; pending posts end ``unknown``."""
        self._closing = True
        tasks = [t for t in (self._ws_task, *self._background) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._ws_task = None
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
        self._fail_pending("client closed")
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> ExchangeClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("ExchangeClient is not started (await client.start())")
        return self._session

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(f"{self.name}-{name}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # ------------------------------------------------------------------ assets and rounding

    def _set_rules(self, asset_rules: Sequence[rules.AssetRules]) -> None:
        self._assets = {r.name: (i, r) for i, r in enumerate(asset_rules)}
        self._coins = [r.name for r in asset_rules]

    def asset_of(self, coin: str) -> int:
        """The asset id of a coin (its index in meta); KeyError when not listed."""
        return self._assets[coin][0]

    def rules_of(self, coin: str) -> rules.AssetRules:
        return self._assets[coin][1]

    def coin_of(self, asset: int) -> str:
        return self._coins[asset]

    def _asset_or_minus(self, coin: str) -> int:
        a = self._assets.get(coin)
        return a[0] if a is not None else -1

    def new_cloid(self) -> str:
        """A fresh client order id: 64 random bits of this client, then a counter."""
        self._cloid_seq += 1
        return f"0x{self._cloid_prefix:016x}{self._cloid_seq & ((1 << 64) - 1):016x}"

    def order_wire(self, spec: OrderSpec) -> wire.OrderWire:
        """The wire order for ``spec``: rounded onto the grid and checked; ValueError (the venue's words) if none."""
        a = self._assets.get(spec.coin)
        if a is None:
            raise ValueError(rules.ERR_UNKNOWN_ASSET)
        asset, r = a
        if spec.tif not in ("Alo", "Ioc", "Gtc"):
            raise ValueError(f"Invalid tif {spec.tif!r}")
        rounding = rules.Rounding.DOWN if spec.is_buy else rules.Rounding.UP
        px = rules.format_price(spec.px, r.sz_decimals, r.is_spot, rounding)
        sz = rules.format_size(spec.sz, r.sz_decimals, rules.Rounding.DOWN)
        err = r.check_order(px, sz)
        if err is not None:
            raise ValueError(err)
        cloid = spec.cloid if spec.cloid is not None else self.new_cloid()
        if not _CLOID_RE.match(cloid):
            raise ValueError(f"Invalid cloid {cloid!r}: 0x and 32 lower-case hex digits")
        return wire.OrderWire(a=asset, b=spec.is_buy, p=px, s=sz, r=spec.reduce_only,
                              t=wire.OrderType(limit=wire.Limit(tif=spec.tif)), c=cloid)

    # ------------------------------------------------------------------ actions

    async def place(self, orders: Sequence[OrderSpec], *, timeout_s: float | None = None) -> ActionResult:
        """Place orders (one ``order`` action, grouping ``na``); one status per order, in order."""
        wires, local = self._build_orders(orders, lambda spec: self.order_wire(spec))
        if not wires:
            return ActionResult(action="order", outcome="rejected", statuses=tuple(local[i] for i in range(len(orders))),
                                error="no order passed the venue's rules")
        res = await self.send_action(wire.OrderAction(orders=wires, grouping="na"), timeout_s=timeout_s)
        return self._merge_local(res, local, len(orders))

    async def batch_modify(self, modifies: Sequence[ModifySpec], *, timeout_s: float | None = None) -> ActionResult:
        """Replace open orders (batchModify): each status is the replacement's (new oid, its cloid)."""

        def build(m: ModifySpec) -> wire.ModifyWire:
            if isinstance(m.target, str) and not _CLOID_RE.match(m.target):
                raise ValueError(f"Invalid cloid {m.target!r}")
            return wire.ModifyWire(oid=m.target, order=self.order_wire(m.order))

        mods, local = self._build_orders(modifies, build)
        if not mods:
            return ActionResult(action="batchModify", outcome="rejected",
                                statuses=tuple(local[i] for i in range(len(modifies))),
                                error="no modify passed the venue's rules")
        res = await self.send_action(wire.BatchModifyAction(modifies=mods), timeout_s=timeout_s)
        return self._merge_local(res, local, len(modifies))

    async def cancel(self, cancels: Sequence[CancelSpec], *, timeout_s: float | None = None) -> ActionResult:
        """Cancel by oid; statuses ``success`` or ``error`` (``Order was never placed, already canceled, or filled.``)."""
        items: list[wire.CancelWire] = []
        local: dict[int, ItemResult] = {}
        for i, c in enumerate(cancels):
            a = self._assets.get(c.coin)
            if a is None:
                local[i] = ItemResult(kind="error", oid=c.oid, error=rules.ERR_UNKNOWN_ASSET, local=True)
            else:
                items.append(wire.CancelWire(a=a[0], o=c.oid))
        if not items:
            return ActionResult(action="cancel", outcome="rejected", statuses=tuple(local.values()),
                                error="no cancel for a listed coin")
        res = await self.send_action(wire.CancelAction(cancels=items), timeout_s=timeout_s)
        return self._merge_local(res, local, len(cancels))

    async def cancel_by_cloid(self, cancels: Sequence[CloidCancelSpec], *, timeout_s: float | None = None) -> ActionResult:
        """Cancel by client order id (cancelByCloid)."""
        items: list[wire.CancelByCloidWire] = []
        local: dict[int, ItemResult] = {}
        for i, c in enumerate(cancels):
            a = self._assets.get(c.coin)
            cl = c.cloid.lower()
            if a is None or not _CLOID_RE.match(cl):
                local[i] = ItemResult(kind="error", cloid=c.cloid, local=True,
                                      error=rules.ERR_UNKNOWN_ASSET if a is None else f"Invalid cloid {c.cloid!r}")
            else:
                items.append(wire.CancelByCloidWire(asset=a[0], cloid=cl))
        if not items:
            return ActionResult(action="cancelByCloid", outcome="rejected", statuses=tuple(local.values()),
                                error="no valid cancel")
        res = await self.send_action(wire.CancelByCloidAction(cancels=items), timeout_s=timeout_s)
        return self._merge_local(res, local, len(cancels))

    async def schedule_cancel(self, time_ms: int | None, *, timeout_s: float | None = None) -> ActionResult:
        """Arm the dead man's switch at unix ``time_ms`` (>= now + 5 s), or unset it with None."""
        return await self.send_action(wire.ScheduleCancelAction(time=time_ms), timeout_s=timeout_s)

    def _build_orders(self, specs: Sequence[Any], build: Callable[[Any], Any]) -> tuple[list[Any], dict[int, ItemResult]]:
        out: list[Any] = []
        local: dict[int, ItemResult] = {}
        for i, spec in enumerate(specs):
            try:
                out.append(build(spec))
            except ValueError as exc:
                self.stats["local_rejects"] += 1
                order = spec.order if isinstance(spec, ModifySpec) else spec
                local[i] = ItemResult(kind="error", cloid=order.cloid, error=str(exc), local=True)
        return out, local

    @staticmethod
    def _merge_local(res: ActionResult, local: dict[int, ItemResult], n: int) -> ActionResult:
        if not local:
            return res
        sent = iter(res.statuses)
        merged = [local[i] if i in local else next(sent, ItemResult(kind="unknown")) for i in range(n)]
        return msgspec.structs.replace(res, statuses=tuple(merged))

    async def send_action(self, action: wire.Action, *, timeout_s: float | None = None) -> ActionResult:
        """Sign and send any typed action; the general path (the OMS sends ``req.action()`` here).

        Over the websocket when it is up and healthy, else HTTP. Never re-sent: an action
        with no answer ends ``unknown``.
        """
        kind = str(type(action).__struct_config__.tag)
        items = _items_of(action)
        act = wire.action_to_builtins(action)
        nonce = self.nonces.next()
        expires = self._clock_ms() + self.expires_after_ms if self.expires_after_ms > 0 else None
        signature = self._key.sign_l1(act, nonce, None, expires, self.is_mainnet)
        body = wire.exchange_request_body(act, nonce, signature, None, expires)
        t0 = time.perf_counter()
        transport: Transport = "none"
        http_status = 0
        if self.use_ws_post and self._ws_usable():
            got = await self._post_ws(body, self.post_timeout_s if timeout_s is None else timeout_s)
            if got[0] != "not_sent":
                transport = "ws"
                self.stats["actions_ws"] += 1
                return self._result(kind, items, got, transport, nonce, t0, 0)
            self.stats["ws_fallbacks"] += 1
        elif self.use_ws_post:
            self.stats["ws_fallbacks"] += 1
        transport = "http"
        self.stats["actions_http"] += 1
        got, http_status = await self._post_http(body, self.http_timeout_s if timeout_s is None else timeout_s)
        if got[0] == "not_sent":
            transport = "none"
            got = ("rejected", got[1])
        return self._result(kind, items, got, transport, nonce, t0, http_status)

    def _result(self, kind: str, items: list[tuple[str | None, int]], got: tuple[str, Any], transport: Transport,
                nonce: int, t0: float, http_status: int) -> ActionResult:
        rtt_ms = (time.perf_counter() - t0) * 1000.0
        status, payload = got
        if status == "ok":
            return _interpret(kind, items, payload, transport, nonce, rtt_ms, http_status, self.stats)
        reason = str(payload)
        if status == "unknown":
            self.stats["outcome_unknown"] += 1
            log.warning("%s: %s action outcome unknown over %s (%s); look it up before re-sending",
                        self.name, kind, transport, reason)
            sts = tuple(ItemResult(kind="unknown", cloid=c, oid=o) for c, o in items)
            return ActionResult(action=kind, outcome="unknown", statuses=sts, error=reason, transport=transport,
                                nonce=nonce, rtt_ms=rtt_ms, http_status=http_status)
        self.stats["outcome_rejected"] += 1
        sts = tuple(ItemResult(kind="error", cloid=c, oid=o, error=reason) for c, o in items)
        return ActionResult(action=kind, outcome="rejected", statuses=sts, error=reason, transport=transport,
                            nonce=nonce, rtt_ms=rtt_ms, http_status=http_status)

    # ------------------------------------------------------------------ transports

    def _ws_usable(self) -> bool:
        return self._ws is not None and not self._ws.closed and self._ws_healthy

    async def _post_ws(self, body: dict[str, Any], timeout_s: float) -> tuple[str, Any]:
        """("ok", ExchangeResponse) | ("rejected", why) | ("unknown", why) | ("not_sent", why)."""
        ws = self._ws
        if ws is None or ws.closed:
            return ("not_sent", "websocket down")
        self._post_seq += 1
        pid = self._post_seq
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[pid] = fut
        frame = _enc.encode({"method": "post", "id": pid, "request": {"type": "action", "payload": body}}).decode()
        try:
            await ws.send_str(frame)
        except Exception as exc:  # the frame did not reach the transport
            self._pending.pop(pid, None)
            return ("not_sent", f"websocket send failed: {type(exc).__name__}")
        try:
            reply = await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            self._ws_healthy = False  # next actions go over HTTP until a ping proves the socket alive
            self._ping_now.set()
            return ("unknown", f"no answer to websocket post within {timeout_s * 1000:.0f} ms")
        except ConnectionError as exc:
            return ("unknown", f"websocket lost after sending: {exc}")
        finally:
            self._pending.pop(pid, None)  # a reply arriving later is counted as late
        if not isinstance(reply, dict):
            return ("unknown", "malformed post reply")
        rtype = reply.get("type")
        payload = reply.get("payload")
        if rtype == "action":
            try:
                return ("ok", msgspec.convert(payload, wire.ExchangeResponse))
            except msgspec.ValidationError:
                return ("unknown", "undecodable action reply")
        text = str(payload)[:300]
        if text.startswith(wire.DESERIALIZE_ERROR_TEXT) or "429" in text or "rate limit" in text.lower():
            return ("rejected", f"venue error: {text}")
        return ("unknown", f"venue error: {text}")

    async def _post_http(self, body: dict[str, Any], timeout_s: float) -> tuple[tuple[str, Any], int]:
        data = _enc.encode(body)
        try:
            async with self._http().post(self.http_url + "/exchange", data=data, headers=_JSON,
                                         timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                status = resp.status
                raw = await resp.read()
        except aiohttp.ClientConnectorError as exc:
            return ("not_sent", f"cannot connect: {type(exc).__name__}"), 0
        except TimeoutError:
            return ("unknown", f"no HTTP answer within {timeout_s * 1000:.0f} ms"), 0
        except (aiohttp.ClientError, OSError) as exc:
            return ("unknown", f"HTTP connection failed after sending: {type(exc).__name__}"), 0
        if status == 200:
            try:
                return ("ok", wire.decode_exchange_response(raw)), status
            except wire.WireError:
                return ("unknown", "undecodable /exchange reply"), status
        text = raw[:300].decode(errors="replace")
        if status == 429 or 400 <= status < 500:
            return ("rejected", f"HTTP {status}: {text}"), status
        return ("unknown", f"HTTP {status}: {text}"), status

    # ------------------------------------------------------------------ /info

    async def _info(self, payload: dict[str, Any], timeout_s: float | None = None) -> Any:
        per_try = self.info_timeout_s if timeout_s is None else timeout_s
        attempts = 1 + self.info_retries
        data = _enc.encode(payload)
        reason = ""
        for attempt in range(attempts):
            try:
                async with self._http().post(self.http_url + "/info", data=data, headers=_JSON,
                                             timeout=aiohttp.ClientTimeout(total=per_try)) as resp:
                    status = resp.status
                    raw = await resp.read()
                if status == 200:
                    return _dec.decode(raw)
                reason = f"HTTP {status}: {raw[:200].decode(errors='replace')}"
                if status != 429 and status < 500:
                    break
            except TimeoutError:
                reason = f"no answer within {per_try * 1000:.0f} ms"
            except (aiohttp.ClientError, OSError) as exc:
                reason = type(exc).__name__
            except msgspec.DecodeError:
                reason = "undecodable reply"
            if attempt + 1 < attempts:
                self.stats["info_retries"] += 1
                await asyncio.sleep(min(self.reconnect_max_s, self.reconnect_min_s * 2**attempt) * random.uniform(0.5, 1.0))
        raise VenueRequestError(f"info {payload.get('type')} failed: {reason}")

    async def meta(self) -> list[rules.AssetRules]:
        """The perp universe (asset id = index); also refreshes this client's coin table."""
        got = await self._info({"type": "meta", "dex": ""})
        out = rules.rules_from_meta(got)
        self._set_rules(out)
        return out

    def _order_info(self, o: _RawOrder, status: str, status_ts_ms: int) -> OrderInfo:
        return OrderInfo(
            coin=o.coin, asset=self._asset_or_minus(o.coin), oid=o.oid, cloid=o.cloid, is_buy=o.side == "B",
            limit_px=float(o.limit_px), sz=float(o.sz), orig_sz=_f(o.orig_sz), status=status,
            status_ts_ms=status_ts_ms, timestamp_ms=o.timestamp, reduce_only=o.reduce_only, tif=o.tif or "",
        )

    async def open_orders(self, *, timeout_s: float | None = None) -> list[OrderInfo]:
        """The account's open orders (frontendOpenOrders: with cloid, origSz, tif), oldest first."""
        got = await self._info({"type": "frontendOpenOrders", "user": self.account_address, "dex": ""}, timeout_s)
        try:
            raw = msgspec.convert(got, list[_RawOrder])
        except msgspec.ValidationError as exc:
            raise VenueRequestError(f"info frontendOpenOrders: unexpected shape: {exc}") from None
        return sorted((self._order_info(o, "open", o.timestamp) for o in raw), key=lambda x: (x.timestamp_ms, x.oid))

    async def order_status(self, target: int | str, *, timeout_s: float | None = None) -> OrderInfo | None:
        """An order by oid or cloid, open or recently closed; None when the venue does not know it."""
        ref: int | str = target.lower() if isinstance(target, str) else target
        got = await self._info({"type": "orderStatus", "user": self.account_address, "oid": ref}, timeout_s)
        try:
            raw = msgspec.convert(got, _RawOrderStatus)
        except msgspec.ValidationError as exc:
            raise VenueRequestError(f"info orderStatus: unexpected shape: {exc}") from None
        if raw.status != "order" or raw.order is None:
            return None
        return self._order_info(raw.order.order, raw.order.status, raw.order.status_timestamp)

    def _fill(self, f: _RawFill, replayed: bool = False) -> UserFill:
        return UserFill(
            coin=f.coin, asset=self._asset_or_minus(f.coin), oid=f.oid, cloid=f.cloid, tid=f.tid, is_buy=f.side == "B",
            px=float(f.px), sz=float(f.sz), time_ms=f.time, fee=_f(f.fee), fee_token=f.fee_token, crossed=f.crossed,
            start_position=_f(f.start_position), dir=f.dir, closed_pnl=_f(f.closed_pnl), hash=f.hash,
            liquidation=f.liquidation is not None, replayed=replayed,
        )

    async def user_fills(self, since_ms: int | None = None, *, timeout_s: float | None = None) -> list[UserFill]:
        """The account's fills, oldest first: recent ones (userFills), or from ``since_ms`` (userFillsByTime)."""
        if since_ms is None:
            payload: dict[str, Any] = {"type": "userFills", "user": self.account_address}
        else:
            payload = {"type": "userFillsByTime", "user": self.account_address, "startTime": int(since_ms)}
        got = await self._info(payload, timeout_s)
        try:
            raw = msgspec.convert(got, list[_RawFill])
        except msgspec.ValidationError as exc:
            raise VenueRequestError(f"info {payload['type']}: unexpected shape: {exc}") from None
        return sorted((self._fill(f) for f in raw), key=lambda x: (x.time_ms, x.tid))

    async def clearinghouse_state(self, *, timeout_s: float | None = None) -> AccountState:
        """Positions and margin (clearinghouseState)."""
        got = await self._info({"type": "clearinghouseState", "user": self.account_address, "dex": ""}, timeout_s)
        try:
            raw = msgspec.convert(got, _RawClearinghouse)
        except msgspec.ValidationError as exc:
            raise VenueRequestError(f"info clearinghouseState: unexpected shape: {exc}") from None
        positions = tuple(
            Position(coin=p.position.coin, asset=self._asset_or_minus(p.position.coin), szi=float(p.position.szi),
                     entry_px=float(p.position.entry_px) if p.position.entry_px else None,
                     position_value_usd=_f(p.position.position_value),
                     unrealized_pnl_usd=_f(p.position.unrealized_pnl), margin_used_usd=_f(p.position.margin_used),
                     liquidation_px=float(p.position.liquidation_px) if p.position.liquidation_px else None,
                     leverage=p.position.leverage.value if p.position.leverage is not None else 0)
            for p in raw.asset_positions
        )
        return AccountState(positions=positions, account_value_usd=_f(raw.margin_summary.account_value),
                            total_margin_used_usd=_f(raw.margin_summary.total_margin_used),
                            withdrawable_usd=_f(raw.withdrawable), time_ms=raw.time)

    async def top_of_book(self, coin: str, *, timeout_s: float | None = None) -> tuple[float | None, float | None]:
        """(best bid, best ask) from l2Book; None for an empty side."""
        got = await self._info({"type": "l2Book", "coin": coin}, timeout_s)
        if not isinstance(got, dict):
            raise VenueRequestError(f"info l2Book: no book for {coin}")
        levels = got.get("levels") or [[], []]
        bid = float(levels[0][0]["px"]) if levels[0] else None
        ask = float(levels[1][0]["px"]) if len(levels) > 1 and levels[1] else None
        return bid, ask

    # ------------------------------------------------------------------ reconciliation

    async def reconcile(
        self,
        local_orders: Sequence[LocalOrder] = (),
        *,
        local_positions: dict[str, float] | None = None,
        seen_fills: Sequence[tuple[int, int]] = (),
        unknown_policy: UnknownPolicy = "cancel",
        fills_since_ms: int | None = None,
        execute_cancels: bool = True,
    ) -> ReconcileReport:
        """At start (or after a reconnect): fetch open orders, fills and positions, plan, cancel.

        With no local orders (a fresh process) every open order is unknown: cancelled
        (default) or adopted, so a restart never leaves an order nobody tracks. The
        plan's adopt / mark_filled / lookup / missed_fills / positions go to the OMS.
        """
        t0 = time.perf_counter()
        venue_open, fills, account = await asyncio.gather(
            self.open_orders(), self.user_fills(fills_since_ms), self.clearinghouse_state())
        venue_positions = account.position_map()
        plan = plan_reconciliation(local_orders, venue_open, fills, seen_fills, local_positions,
                                   venue_positions if local_positions is not None else None, unknown_policy)
        results: list[ActionResult] = []
        if execute_cancels and plan.cancel:
            results.append(await self.cancel([CancelSpec(c.order.coin, c.order.oid) for c in plan.cancel]))
        after = tuple(await self.open_orders()) if plan.cancel else tuple(venue_open)
        if plan.differences:
            log.warning("%s: reconciliation found %d difference(s): %s", self.name, plan.differences,
                        {k: v for k, v in plan.counts.items() if v})
        return ReconcileReport(plan=plan, cancel_results=tuple(results), venue_open_after=after,
                               positions=venue_positions, account=account,
                               elapsed_ms=(time.perf_counter() - t0) * 1000.0)

    # ------------------------------------------------------------------ the websocket

    def _ensure_ws(self) -> None:
        if self._ws_task is None or self._ws_task.done():
            self._closing = False
            self._ws_task = asyncio.ensure_future(self._ws_main())
            self._ws_task.set_name(f"{self.name}-ws")

    async def wait_ws_connected(self, timeout_s: float) -> bool:
        """True once the websocket is connected (and healthy) within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._ws_usable():
                return True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._ws_connected.wait(), max(0.01, min(0.1, deadline - time.monotonic())))
        return self._ws_usable()

    async def subscribe_user_events(self, handler: EventHandler, *, since_ms: int | None = None,
                                    wait_s: float | None = None) -> bool:
        """Deliver ``orderUpdates`` and ``userFills`` to ``handler`` (synchronous; keep it quick).

        The first ``userFills`` snapshot primes deduplication: its fills are delivered only
        when newer than ``since_ms`` (None: none are, their effect is in the position read
        at start). Waits up to ``wait_s`` (default: the connect timeout) for that snapshot
        and returns whether it came, so a reconciliation run after this sees no gap.
        """
        self._http()  # must be started
        self._handler = handler
        self._fills_since_ms = since_ms
        self._user_subscribed = True
        self._ensure_ws()
        ws = self._ws
        if ws is not None and not ws.closed:
            await self._send_user_subscriptions(ws)
            self._emit(StreamStatus(kind="connected", ts_ms=self._clock_ms()))
        timeout = self.ws_connect_timeout_s if wait_s is None else wait_s
        try:
            await asyncio.wait_for(self._fills_primed_event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _send_user_subscriptions(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        for sub in ("orderUpdates", "userFills"):
            await ws.send_str(_enc.encode({"method": "subscribe",
                                           "subscription": {"type": sub, "user": self.account_address}}).decode())

    async def _ws_main(self) -> None:
        failures = 0
        down_since_ms = 0
        outage_logged = False
        while not self._closing:
            try:
                ws = await asyncio.wait_for(
                    self._http().ws_connect(self.ws_url, autoping=True, heartbeat=None, max_msg_size=16 * 1024 * 1024),
                    self.ws_connect_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if not outage_logged:
                    log.warning("%s: websocket connect to %s failed (%s); retrying, actions go over HTTP",
                                self.name, self.ws_url, type(exc).__name__)
                    outage_logged = True
                delay = min(self.reconnect_max_s, self.reconnect_min_s * 2 ** min(failures - 1, 16))
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                continue
            reconnect = self.stats["ws_connects"] > 0
            self.stats["ws_connects"] += 1
            failures = 0
            outage_logged = False
            self._ws = ws
            self._ws_healthy = True
            self._last_recv_s = time.monotonic()
            self._replayed_since_connect = 0
            self._ws_connected.set()
            if reconnect:
                log.info("%s: websocket reconnected after %d ms", self.name,
                         max(0, self._clock_ms() - down_since_ms))
            ping = asyncio.ensure_future(self._ping_loop(ws))
            try:
                if self._user_subscribed:
                    await self._send_user_subscriptions(ws)
                    if reconnect:
                        self._spawn(self._recover_after_reconnect(down_since_ms), "fill-recovery")
                    else:
                        self._emit(StreamStatus(kind="connected", ts_ms=self._clock_ms()))
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        self._last_recv_s = time.monotonic()
                        self._on_frame(msg.data)
                    elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: websocket reader stopped: %s", self.name, type(exc).__name__)
            finally:
                ping.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ping
                self._ws = None
                self._ws_healthy = False
                self._ws_connected.clear()
                self._fail_pending("websocket closed")
                with contextlib.suppress(Exception):
                    await ws.close()
            if self._closing:
                return
            self.stats["ws_disconnects"] += 1
            down_since_ms = self._clock_ms()
            log.warning("%s: websocket disconnected; reconnecting (actions go over HTTP meanwhile)", self.name)
            if self._user_subscribed:
                self._emit(StreamStatus(kind="disconnected", ts_ms=down_since_ms, reason="websocket closed"))
            await asyncio.sleep(self.reconnect_min_s * random.uniform(0.5, 1.0))

    async def _ping_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            woke = False
            try:
                await asyncio.wait_for(self._ping_now.wait(), self.ws_ping_interval_s)
                woke = True
            except TimeoutError:
                pass
            self._ping_now.clear()
            if time.monotonic() - self._last_recv_s > self.ws_stale_after_s:
                log.warning("%s: nothing received on the websocket for %.0f s; reconnecting",
                            self.name, self.ws_stale_after_s)
                await ws.close()
                return
            try:
                await ws.send_str('{"method":"ping"}')
            except Exception:
                return
            if woke and not self._ws_healthy:
                await asyncio.sleep(self.post_timeout_s)
                if not self._ws_healthy and not ws.closed:
                    log.warning("%s: websocket did not answer a ping within %.0f ms; reconnecting",
                                self.name, self.post_timeout_s * 1000)
                    await ws.close()
                    return

    def _fail_pending(self, why: str) -> None:
        pending = self._pending
        self._pending = {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(why))

    def _on_frame(self, text: str) -> None:
        if not text.startswith("{"):
            return  # e.g. the banner "Websocket connection established."
        try:
            msg = _dec.decode(text)
        except msgspec.DecodeError:
            log.warning("%s: undecodable websocket frame (%d bytes)", self.name, len(text))
            return
        if not isinstance(msg, dict):
            return
        channel = msg.get("channel")
        data = msg.get("data")
        if channel == "post" and isinstance(data, dict):
            fut = self._pending.pop(int(data.get("id", -1)), None)
            self._ws_healthy = True
            if fut is None:
                self.stats["late_post_replies"] += 1
                return
            if not fut.done():
                fut.set_result(data.get("response"))
        elif channel == "pong":
            self._ws_healthy = True
        elif channel == "orderUpdates" and isinstance(data, list):
            self._on_order_updates(data)
        elif channel == "userFills" and isinstance(data, dict):
            self._on_user_fills(data)
        elif channel == "error":
            log.warning("%s: venue websocket error: %.200s", self.name, str(data))

    def _emit(self, ev: UserEvent) -> None:
        h = self._handler
        if h is None:
            return
        try:
            h(ev)
        except Exception:
            log.exception("%s: user event handler failed on %s", self.name, type(ev).__name__)

    def _on_order_updates(self, data: list[Any]) -> None:
        for u in data:
            try:
                raw = msgspec.convert(u, _RawStatusOrder)
            except msgspec.ValidationError:
                log.warning("%s: malformed orderUpdates entry", self.name)
                continue
            self.stats["order_updates"] += 1
            self._emit(self._order_info(raw.order, raw.status, raw.status_timestamp))

    def _on_user_fills(self, data: dict[str, Any]) -> None:
        try:
            raw = msgspec.convert(data.get("fills", []), list[_RawFill])
        except msgspec.ValidationError:
            log.warning("%s: malformed userFills message", self.name)
            return
        fills = [self._fill(f) for f in raw]
        snapshot = bool(data.get("isSnapshot"))
        if snapshot and not self._fills_primed:
            since = self._fills_since_ms
            fresh = [f for f in fills if since is not None and f.time_ms > since]
            for f in fills:
                if not (since is not None and f.time_ms > since):
                    self._mark_seen(f)
            self._deliver_fills(fresh, replayed=True, floor_ms=None)
            self._fills_primed = True
            self._fills_primed_event.set()
            return
        if not self._fills_primed:
            self._fills_primed = True
            self._fills_primed_event.set()
        floor = self._fill_watermark_ms - self.fill_replay_grace_ms if snapshot else None
        self._deliver_fills(fills, replayed=snapshot, floor_ms=floor)

    def _mark_seen(self, f: UserFill) -> bool:
        key = f.key
        if key in self._seen_fills:
            return False
        self._seen_fills[key] = None
        if len(self._seen_fills) > _SEEN_FILLS_KEPT:
            self._seen_fills.popitem(last=False)
        if f.time_ms > self._fill_watermark_ms:
            self._fill_watermark_ms = f.time_ms
        return True

    def _deliver_fills(self, fills: Sequence[UserFill], replayed: bool, floor_ms: int | None) -> int:
        n = 0
        for f in sorted(fills, key=lambda x: (x.time_ms, x.tid)):
            if f.key in self._seen_fills:
                self.stats["fills_duplicate"] += 1
                continue
            if floor_ms is not None and f.time_ms < floor_ms:
                self._mark_seen(f)  # older than anything we could have missed: accounted for
                continue
            self._mark_seen(f)
            ev = msgspec.structs.replace(f, replayed=True) if replayed else f
            self.stats["fills_delivered"] += 1
            if replayed:
                self.stats["fills_replayed"] += 1
                self._replayed_since_connect += 1
            n += 1
            self._emit(ev)
        return n

    async def _recover_after_reconnect(self, down_since_ms: int) -> None:
        """Fetch the fills missed while the stream was down, then say ``reconnected``."""
        start = (self._fill_watermark_ms if self._fill_watermark_ms > 0 else down_since_ms) - self.fill_replay_grace_ms
        reason = ""
        try:
            fills = await self.user_fills(max(0, start))
            self._deliver_fills(fills, replayed=True, floor_ms=start)
        except VenueRequestError as exc:
            reason = f"fill recovery failed: {exc}"
            log.warning("%s: %s", self.name, reason)
        now = self._clock_ms()
        self._emit(StreamStatus(kind="reconnected", ts_ms=now, down_ms=max(0, now - down_since_ms),
                                fills_recovered=self._replayed_since_connect, reason=reason))


# --------------------------------------------------------------------------- response interpretation


def _items_of(action: wire.Action) -> list[tuple[str | None, int]]:
    """(cloid, oid) of each item of an action, in request order."""
    if isinstance(action, wire.OrderAction):
        return [(o.c, 0) for o in action.orders]
    if isinstance(action, wire.CancelAction):
        return [(None, c.o) for c in action.cancels]
    if isinstance(action, wire.CancelByCloidAction):
        return [(c.cloid, 0) for c in action.cancels]
    if isinstance(action, wire.BatchModifyAction):
        return [(m.order.c, 0) for m in action.modifies]
    if isinstance(action, wire.ModifyAction):
        return [(action.order.c, 0)]
    return []


def _item(entry: wire.StatusEntry, cloid: str | None, oid: int) -> ItemResult:
    if isinstance(entry, str):
        if entry == wire.CANCEL_SUCCESS:
            return ItemResult(kind="success", oid=oid, cloid=cloid)
        return ItemResult(kind="error", oid=oid, cloid=cloid, error=entry)
    if entry.resting is not None:
        return ItemResult(kind="resting", oid=entry.resting.oid, cloid=entry.resting.cloid or cloid)
    if entry.filled is not None:
        fs = entry.filled
        return ItemResult(kind="filled", oid=fs.oid, cloid=fs.cloid or cloid, total_sz=float(fs.total_sz),
                          avg_px=float(fs.avg_px))
    if entry.error is not None:
        return ItemResult(kind="error", oid=oid, cloid=cloid, error=entry.error, bbo=parse_alo_bbo(entry.error))
    return ItemResult(kind="unknown", oid=oid, cloid=cloid)


def _interpret(kind: str, items: list[tuple[str | None, int]], resp: wire.ExchangeResponse, transport: Transport,
               nonce: int, rtt_ms: float, http_status: int, stats: dict[str, int]) -> ActionResult:
    if resp.status == "err" or isinstance(resp.response, str):
        msg = resp.response if isinstance(resp.response, str) else "err"
        if "nonce" in msg.lower():
            stats["nonce_errors"] += 1
        stats["outcome_rejected"] += 1
        sts = tuple(ItemResult(kind="error", cloid=c, oid=o, error=msg) for c, o in items)
        return ActionResult(action=kind, outcome="rejected", statuses=sts, error=msg, transport=transport,
                            nonce=nonce, rtt_ms=rtt_ms, http_status=http_status)
    entries = resp.response.data.statuses if resp.response.data is not None else []
    out = [_item(e, c, o) for e, (c, o) in zip(entries, items)]
    out.extend(ItemResult(kind="unknown", cloid=c, oid=o) for c, o in items[len(out):])
    return ActionResult(action=kind, outcome="ok", statuses=tuple(out), transport=transport, nonce=nonce,
                        rtt_ms=rtt_ms, http_status=http_status)
