"""The paper venue's server: Hyperliquid's HTTP and websocket API over the matching engine.

This module owns the venue's I/O (the only module of the paper venue that does any): one
aiohttp application on one port (loopback by default) serving

- ``POST /info`` and ``POST /exchange`` exactly as Hyperliquid does (HYPERLIQUID_WIRE.md), so
  the official ``hyperliquid-python-sdk`` and any other client drive it with only
  ``base_url`` changed; ``/exchange`` verifies the L1 signature, the nonce, the signer
  (user or approved agent) and the request budgets before acting;
- ``/ws``: Hyperliquid's websocket (subscribe/unsubscribe to l2Book, trades, bbo,
  orderUpdates, userFills, activeAssetCtx, allMids; ping/pong; post requests for actions
  and info), closing connections it has sent nothing on for 60 s;
- ``/binance/stream?streams=...`` and ``/binance/ws/<stream>``: Binance USD-M style public
  streams (bookTicker, aggTrade, depth diffs with U/u/pu) fed by the market driver's
  reference events, plus ``GET /binance/fapi/v1/depth`` for the book-sync snapshot.

The background market comes from a *market driver* (``driver.py``): any async iterable of
``mm.schema`` events. Latency and failure injection (``latency.py``, ``failures.py``) and the
rate limits (``ratelimit.py``) are applied here, each switchable in the config.

Blocks (``matching.block_ms`` > 0, the default): users' actions and the driver's Hyperliquid
events wait for the end of the current block (``block_ms`` +/- ``block_jitter_ms``), where
they are applied in Hyperliquid's in-block order (:func:`_block_priority`) at one block time;
then trades go out (one frame per coin), bbo where it changed, and l2Book (a full snapshot)
where at least ``ws.l2book_interval_ms`` passed since the last push. :meth:`apply_market_event`
(tests, synchronous callers) applies and publishes at once, outside the blocks.

Entry points: :func:`serve` (``await serve(config, driver)`` gives a running
:class:`VenueServer` with ``.port`` and ``await .stop()``), :class:`ThreadedVenue` (the same
in a background thread with its own event loop, for tests and synchronous callers), and
:func:`main` (``python -m mm.venues.sim.server --config venue.toml``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import logging
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from aiohttp import WSMsgType, web

from mm.schema import Bbo, BookDelta, BookSnapshot, FundingUpdate, RefPrice, Side, Trade, Venue
from mm.venues.hyperliquid import exchange_wire as wire
from mm.venues.hyperliquid import rules, signing
from mm.venues.sim.config import VenueConfig, load_config
from mm.venues.sim.driver import DriverEvent, MarketDriver, ReplayDriver, load_hyperliquid_csv
from mm.venues.sim.failures import FailureModel
from mm.venues.sim.latency import LatencyModel
from mm.venues.sim.matching import (
    MARGIN_CANCELED,
    OPEN,
    SCHEDULED_CANCEL,
    FillEvent,
    MatchingEngine,
    Order,
    OrderRequest,
    OrderUpdateEvent,
    PlaceOutcome,
    TradeEvent,
)
from mm.venues.sim.nonces import NonceTracker
from mm.venues.sim.ratelimit import AddressBudget, IpWeightLimiter

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_T = TypeVar("_T")
_DAY_MS = 86_400_000
_WS_QUEUE_MAX = 20_000
_BANNER = "Websocket connection established."


def _dumps(obj: Any) -> str:
    return _encoder.encode(obj).decode()


def _usd_str(x: float) -> str:
    return rules.hl_str(f"{x:.6f}")


# --------------------------------------------------------------------------- websocket clients


class _Client:
    """One websocket connection: an ordered outbound queue drained by a writer task."""

    __slots__ = ("closed", "last_sent_s", "queue", "request", "subs", "writer", "ws")

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.request = request
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.last_sent_s = time.monotonic()
        self.subs: set[tuple[Any, ...]] = set()
        self.writer: asyncio.Task[None] | None = None
        self.closed = False

    def send(self, text: str) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= _WS_QUEUE_MAX:  # a consumer this slow is cut off, as a venue would
            self.abort()
            return
        self.queue.put_nowait(text)

    async def run_writer(self) -> None:
        try:
            while True:
                text = await self.queue.get()
                if text is None or self.ws.closed:
                    return
                await self.ws.send_str(text)
                self.last_sent_s = time.monotonic()
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return

    def abort(self) -> None:
        """Cut the connection without a close frame (the client sees 1006)."""
        self.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()


# --------------------------------------------------------------------------- Binance reference book


class _RefBook:
    """A Binance symbol's reference state: levels, update ids, aggregate trade ids."""

    __slots__ = ("agg_id", "asks", "bids", "last_u", "symbol", "top_ask", "top_bid")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.top_bid = 0.0
        self.top_ask = 0.0
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.last_u = 0
        self.agg_id = 0


def _num(x: float) -> str:
    return rules.plain_str(rules.to_decimal(x))


class _Queued:
    """An action (with its reply future) or a market event waiting for the block's end."""

    __slots__ = ("action", "event", "fut", "priority", "seq", "user")

    def __init__(self, priority: int, seq: int, user: str = "", action: wire.Action | None = None,
                 fut: asyncio.Future[wire.ExchangeResponse] | None = None, event: DriverEvent | None = None) -> None:
        self.priority = priority
        self.seq = seq
        self.user = user
        self.action = action
        self.fut = fut
        self.event = event


# --------------------------------------------------------------------------- the server


class VenueServer:
    """The paper venue: engine, protocol handlers, publishers, failure injection."""

    def __init__(
        self, config: VenueConfig, driver: MarketDriver | None = None, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.cfg = config
        self.driver = driver
        self._clock_ns = clock_ns
        self.engine = MatchingEngine(config.coins, config.matching, config.fees, config.users)
        self.coin_by_symbol: dict[int, str] = {}
        self.binance_symbol: dict[str, str] = {}
        for i, c in enumerate(config.coins):
            self.coin_by_symbol[c.symbol_id if c.symbol_id >= 0 else i] = c.name
            self.binance_symbol[c.name] = (c.binance_symbol or f"{c.name}USDT").upper()
        self.signers: dict[str, str] = {}
        for u in config.users:
            self.signers[u.address.lower()] = u.address.lower()
            for agent in u.agents:
                self.signers[agent.lower()] = u.address.lower()
        self.nonces = NonceTracker(config.nonces)
        self.ip_limiter = IpWeightLimiter(config.rate_limits)
        self.budget = AddressBudget(config.rate_limits)
        self.latency = LatencyModel(config.latency, random.Random(f"{config.seed}:latency"))
        self.failures = FailureModel(config.failures, random.Random(f"{config.seed}:failures"))
        self.port = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Future[Any]] = set()
        self._clients: set[_Client] = set()
        self._subs: dict[tuple[Any, ...], set[_Client]] = {}
        self._bn_clients: dict[str, set[_Client]] = {}
        self._ref: dict[str, _RefBook] = {}
        self._recent_trades: dict[str, deque[dict[str, Any]]] = {
            c.name: deque(maxlen=max(1, config.ws.trades_backfill)) for c in config.coins
        }
        self._last_bbo: dict[str, Any] = {}
        self._l2_changed: set[str] = set(self.engine.books)
        self._l2_last_push_s: dict[tuple[Any, ...], float] = {}
        self._ctx: dict[str, dict[str, float]] = {}
        self._ctx_last_push_s = 0.0
        self._mids_changed = True
        self._margin_cancels: list[tuple[int, str, int, int]] = []  # (due_ms, user, asset, oid)
        self._dms: dict[str, int] = {}
        self._dms_triggers: dict[str, tuple[int, int]] = {}
        self._outage_until_s = 0.0
        self._block_queue: list[_Queued] = []
        self._block_seq = 0
        self._blocks_held = False
        self._block_rng = random.Random(f"{config.seed}:blocks")
        self._block_now_ns: int | None = None
        self.block_times_ms: deque[int] = deque(maxlen=10_000)  # venue time of each block's end
        self._started_s = time.monotonic()
        self.stats: dict[str, int] = {"http_429": 0, "ws_dropped": 0, "outages": 0, "margin_cancels": 0,
                                      "random_rejections": 0, "market_events": 0, "acks_held": 0,
                                      "order_updates_dropped": 0, "fills_dropped": 0, "fill_frames_duplicated": 0,
                                      "fill_frames_reordered": 0, "ws_periodic_drops": 0, "restarts": 0}
        self._held_fill_frames: dict[str, tuple[float, str]] = {}  # user -> (held since, frame)
        # what the injected drift withheld: ("update", oid, status) or ("fill", oid, tid)
        self.dropped_user_events: deque[tuple[str, int, int | str]] = deque(maxlen=100_000)
        self._last_periodic_drop_s = time.monotonic()

    # ------------------------------------------------------------------ lifecycle

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/info", self._handle_info)
        app.router.add_post("/exchange", self._handle_exchange)
        app.router.add_get("/ws", self._handle_ws)
        if self.cfg.binance.enabled:
            app.router.add_get("/binance/stream", self._handle_binance_ws)
            app.router.add_get("/binance/ws/{stream}", self._handle_binance_ws)
            app.router.add_get("/binance/fapi/v1/depth", self._handle_binance_depth)
        return app

    async def start(self) -> None:
        """Bind, start the publisher and the market driver."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])
        self.url = f"http://{self.cfg.host}:{self.port}"
        self._started_s = time.monotonic()
        self._tasks.append(asyncio.create_task(self._tick_loop(), name="venue-tick"))
        if self.cfg.matching.block_ms > 0:
            self._tasks.append(asyncio.create_task(self._block_loop(), name="venue-blocks"))
        if self.driver is not None:
            self._tasks.append(asyncio.create_task(self._drive(self.driver), name="venue-driver"))
        log.info("paper venue listening on %s", self.url)

    async def stop(self) -> None:
        """Close connections, stop the tasks, unbind."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        for client in list(self._clients):
            client.closed = True
            client.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await client.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _drive(self, driver: MarketDriver) -> None:
        blocks = self.cfg.matching.block_ms > 0
        try:
            async for ev in driver:
                try:
                    if not blocks:
                        self.apply_market_event(ev)
                    elif _market_priority(ev) is not None:
                        self.enqueue_market_event(ev)
                    else:  # Binance reference and funding: sent as they come, books untouched
                        self._apply_market(ev)
                except Exception:
                    log.exception("market event failed: %r", ev)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("market driver stopped with an error")

    # ------------------------------------------------------------------ time

    def now_ns(self) -> int:
        """Venue time; inside a block being applied, the block's time."""
        if self._block_now_ns is not None:
            return self._block_now_ns
        return self._clock_ns()

    def now_ms(self) -> int:
        return self.now_ns() // 1_000_000

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine in the background, keeping a reference until it is done."""
        fut = asyncio.ensure_future(coro)
        self._background.add(fut)
        fut.add_done_callback(self._background.discard)

    def _outage(self) -> bool:
        return time.monotonic() < self._outage_until_s

    # ------------------------------------------------------------------ market events

    def apply_market_event(self, ev: DriverEvent) -> None:
        """Play one market event into the books (or the Binance streams) and publish the effects now."""
        self._apply_market(ev)
        self._publish()

    def enqueue_market_event(self, ev: DriverEvent) -> None:
        """Queue a Hyperliquid market event for the current block (applied at its end, in order)."""
        prio = _market_priority(ev)
        if prio is None or self.cfg.matching.block_ms <= 0:
            self.apply_market_event(ev)
            return
        self._block_seq += 1
        self._block_queue.append(_Queued(prio, self._block_seq, event=ev))

    def _apply_market(self, ev: DriverEvent) -> None:
        self.stats["market_events"] += 1
        if isinstance(ev, RefPrice) or ev.venue == Venue.BINANCE:
            self._binance_event(ev)
            return
        coin = self.coin_by_symbol.get(ev.symbol_id)
        if coin is None:
            return
        now_ns = self.now_ns()
        eng = self.engine
        if isinstance(ev, BookSnapshot):
            eng.apply_book_snapshot(coin, list(zip(ev.bid_px, ev.bid_qty)), list(zip(ev.ask_px, ev.ask_qty)), now_ns)
        elif isinstance(ev, Trade):
            eng.apply_trade(coin, ev.side == Side.BUY, ev.px, ev.qty, now_ns, ev.trade_id)
        elif isinstance(ev, Bbo):
            eng.apply_bbo(coin, ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, now_ns)
        elif isinstance(ev, BookDelta):
            eng.apply_book_delta(coin, list(zip(ev.bid_px, ev.bid_qty)), list(zip(ev.ask_px, ev.ask_qty)), now_ns)
        elif isinstance(ev, FundingUpdate):
            self._ctx[coin] = {"funding": ev.funding_rate, "mark": ev.mark_px, "oracle": ev.oracle_px,
                               "oi": ev.open_interest}
            self._push_ctx(coin)

    # ------------------------------------------------------------------ /exchange

    async def process_exchange(self, raw: dict[str, Any], req: wire.ExchangeRequest) -> wire.ExchangeResponse:
        """Authenticate, meter and apply one signed action (shared by HTTP and websocket post)."""
        now_ms = self.now_ms()
        if req.vault_address is not None:
            return wire.err(wire.ERR_VAULT_UNSUPPORTED)
        if req.expires_after is not None and req.expires_after < now_ms:
            return wire.err(wire.ERR_EXPIRED)
        window_err = self.nonces.check_window(req.nonce, now_ms)
        if window_err is not None:
            return wire.err(window_err)
        try:
            signer = signing.recover_l1_signer(
                raw["action"], raw["signature"], req.nonce, req.vault_address, req.expires_after,
                self.cfg.signature_source,
            )
        except (signing.SignatureError, ValueError, TypeError, OverflowError):
            return wire.err(wire.ERR_UNABLE_TO_RECOVER)
        user = self.signers.get(signer.lower())
        if user is None:
            return wire.err(wire.err_unknown_signer(signer))
        nonce_err = self.nonces.check_and_record(signer, req.nonce, now_ms)
        if nonce_err is not None:
            return wire.err(nonce_err)
        acct = self.engine.account(user)
        assert acct is not None
        budget_err = self.budget.charge(
            user, wire.action_request_count(req.action), wire.is_cancel_action(req.action), acct.cum_volume_usd,
            now_ms,
        )
        if budget_err is not None:
            return wire.err(budget_err)
        block_ms = self.cfg.matching.block_ms
        # the latency draw is end to end; with blocks, the wait for the block's end is part of it
        delay_ms = self.latency.pre_block_ms(block_ms) if block_ms > 0 else self.latency.sample_ms()
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000.0)
        if block_ms > 0:
            fut: asyncio.Future[wire.ExchangeResponse] = asyncio.get_running_loop().create_future()
            self._block_seq += 1
            self._block_queue.append(_Queued(_block_priority(req.action), self._block_seq, user, req.action, fut))
            resp = await fut
        else:
            try:
                resp = self._apply_action(user, req.action)
            finally:
                self._publish()
        if isinstance(req.action, wire.OrderAction | wire.BatchModifyAction | wire.ModifyAction):
            hold_ms = self.failures.ack_hold_ms()
            if hold_ms is not None:  # applied already: the reply alone is late
                self.stats["acks_held"] += 1
                await asyncio.sleep(hold_ms / 1000.0)
        return resp

    @property
    def n_queued_actions(self) -> int:
        """Users' actions waiting for the next block."""
        return sum(1 for q in self._block_queue if q.action is not None)

    @property
    def n_queued_market_events(self) -> int:
        """Market driver events waiting for the next block."""
        return sum(1 for q in self._block_queue if q.event is not None)

    def hold_blocks(self, hold: bool) -> None:
        """Stop (True) or resume (False) applying blocks; actions queue meanwhile (for tests and chaos)."""
        self._blocks_held = hold

    async def _block_loop(self) -> None:
        m = self.cfg.matching
        loop = asyncio.get_running_loop()
        next_end = loop.time()
        while True:
            jitter = self._block_rng.uniform(-m.block_jitter_ms, m.block_jitter_ms) if m.block_jitter_ms > 0 else 0.0
            next_end += max(1.0, m.block_ms + jitter) / 1000.0
            wait = next_end - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            else:  # fell behind (a slow block): start the next one from now, never in a burst
                next_end = loop.time()
            try:
                self.end_block()
            except Exception:
                log.exception("block failed")

    def end_block(self) -> None:
        """Close the current block: apply what it collected in Hyperliquid's order at one block time,
        then publish trades, changed bbo and (past the interval) l2Book."""
        now_ns = self._clock_ns()
        self._block_now_ns = now_ns
        try:
            if not self._blocks_held and self._block_queue:
                batch = sorted(self._block_queue, key=lambda q: (q.priority, q.seq))
                self._block_queue.clear()
                for q in batch:
                    if q.event is not None:
                        try:
                            self._apply_market(q.event)
                        except Exception:
                            log.exception("market event failed in block: %r", q.event)
                        continue
                    assert q.action is not None and q.fut is not None
                    try:
                        resp = self._apply_action(q.user, q.action)
                    except Exception as exc:
                        log.exception("action failed in block")
                        resp = wire.err(f"Internal error: {type(exc).__name__}")
                    if not q.fut.done():
                        q.fut.set_result(resp)
            self.block_times_ms.append(now_ns // 1_000_000)
            self._publish()
            self._push_l2(now_ns / 1e9)
        finally:
            self._block_now_ns = None

    def _suffix(self, msg: str, asset: int) -> str:
        return f"{msg} asset={asset}" if self.cfg.error_asset_suffix else msg

    def _status(self, out: PlaceOutcome, asset: int) -> wire.OrderStatusEntry:
        if out.kind == "resting":
            return wire.status_resting(out.oid, out.cloid)
        if out.kind == "filled":
            return wire.status_filled(out.total_sz, out.avg_px, out.oid, out.cloid)
        return wire.status_error(self._suffix(out.error, asset))

    @staticmethod
    def _request(o: wire.OrderWire) -> OrderRequest:
        tif = o.t.limit.tif if o.t.limit is not None else "Gtc"
        return OrderRequest(asset=o.a, is_buy=o.b, px=o.p, sz=o.s, tif=tif, reduce_only=o.r, cloid=o.c,
                            is_trigger=o.t.trigger is not None)

    def _injected_error(self, o: wire.OrderWire) -> str | None:
        if self.failures.post_only_only(time.monotonic() - self._started_s):
            if o.t.limit is None or o.t.limit.tif != "Alo":
                return rules.ERR_POST_ONLY_WINDOW
        rejection = self.failures.order_rejection()
        if rejection is not None:
            self.stats["random_rejections"] += 1
        return rejection

    def _apply_action(self, user: str, action: wire.Action) -> wire.ExchangeResponse:
        eng = self.engine
        now_ns = self.now_ns()
        if isinstance(action, wire.OrderAction):
            statuses: list[wire.StatusEntry] = []
            for o in action.orders:
                injected = self._injected_error(o)
                out = (PlaceOutcome("error", error=injected) if injected is not None
                       else eng.place_order(user, self._request(o), now_ns))
                statuses.append(self._status(out, o.a))
            return wire.ok_statuses("order", statuses)
        if isinstance(action, wire.CancelAction):
            statuses = []
            for c in action.cancels:
                e = eng.cancel(user, c.a, c.o, now_ns)
                statuses.append(wire.CANCEL_SUCCESS if e is None else wire.status_error(self._suffix(e, c.a)))
            return wire.ok_statuses("cancel", statuses)
        if isinstance(action, wire.CancelByCloidAction):
            statuses = []
            for cc in action.cancels:
                e = eng.cancel_by_cloid(user, cc.asset, cc.cloid, now_ns)
                statuses.append(wire.CANCEL_SUCCESS if e is None else wire.status_error(self._suffix(e, cc.asset)))
            return wire.ok_statuses("cancel", statuses)
        if isinstance(action, wire.BatchModifyAction | wire.ModifyAction):
            modifies = action.modifies if isinstance(action, wire.BatchModifyAction) else [
                wire.ModifyWire(oid=action.oid, order=action.order)]
            statuses = []
            for m in modifies:
                injected = self._injected_error(m.order)
                out = (PlaceOutcome("error", error=injected) if injected is not None
                       else eng.modify(user, m.oid, self._request(m.order), now_ns))
                statuses.append(self._status(out, m.order.a))
            return wire.ok_statuses("order", statuses)
        if isinstance(action, wire.ScheduleCancelAction):
            return self._schedule_cancel(user, action.time)
        if isinstance(action, wire.UpdateLeverageAction):
            e = eng.set_leverage(user, action.asset, action.leverage)
            return wire.ok_default() if e is None else wire.err(e)
        return wire.err(f"Unsupported action: {type(action).__name__}")

    def _schedule_cancel(self, user: str, at_ms: int | None) -> wire.ExchangeResponse:
        sc = self.cfg.schedule_cancel
        acct = self.engine.account(user)
        assert acct is not None
        if sc.volume_gate_usd > 0 and acct.cum_volume_usd < sc.volume_gate_usd:
            return wire.err(wire.err_schedule_cancel_volume(sc.volume_gate_usd, acct.cum_volume_usd))
        if at_ms is None:
            self._dms.pop(user, None)
            return wire.ok_default()
        now_ms = self.now_ms()
        if at_ms < now_ms + sc.min_lead_ms:
            return wire.err(wire.ERR_SCHEDULE_CANCEL_TOO_EARLY)
        day, count = self._dms_triggers.get(user, (now_ms // _DAY_MS, 0))
        if day == now_ms // _DAY_MS and count >= sc.max_triggers_per_day:
            return wire.err(wire.ERR_SCHEDULE_CANCEL_TOO_MANY)
        self._dms[user] = at_ms
        return wire.ok_default()

    # ------------------------------------------------------------------ HTTP handlers

    async def _handle_exchange(self, request: web.Request) -> web.StreamResponse:
        if self._outage() and self.cfg.failures.disconnect_http:
            return web.Response(status=503, text="Service Unavailable")
        body = await request.read()
        try:
            raw, req = wire.decode_exchange_request(body)
        except wire.WireError:
            return web.Response(status=422, text=wire.DESERIALIZE_ERROR_TEXT)
        if not self._admit(request, wire.exchange_weight(req.action)):
            return self._too_many()
        resp = await self.process_exchange(raw, req)
        return web.Response(body=_encoder.encode(resp), content_type="application/json")

    async def _handle_info(self, request: web.Request) -> web.StreamResponse:
        if self._outage() and self.cfg.failures.disconnect_http:
            return web.Response(status=503, text="Service Unavailable")
        body = await request.read()
        try:
            req = wire.decode_info_request(body)
        except wire.WireError:
            return web.Response(status=422, text=wire.DESERIALIZE_ERROR_TEXT)
        tag = type(req).__struct_config__.tag
        if not self._admit(request, wire.info_weight(str(tag))):
            return self._too_many()
        return web.Response(body=_encoder.encode(self.info(req)), content_type="application/json")

    def _admit(self, request: web.Request, weight: int) -> bool:
        if self.failures.spurious_429():
            return False
        return self.ip_limiter.allow(request.remote or "?", weight, self.now_ms())

    def _too_many(self) -> web.Response:
        self.stats["http_429"] += 1
        return web.Response(status=429, body=b"null", content_type="application/json")

    # ------------------------------------------------------------------ /info

    def info(self, req: wire.InfoRequest) -> Any:
        """The JSON-ready answer to an ``/info`` request."""
        eng = self.engine
        if isinstance(req, wire.InfoMeta):
            return {"universe": [cb.rules.meta_entry() for cb in eng.books_by_asset]}
        if isinstance(req, wire.InfoSpotMeta):
            return wire.spot_meta_empty()
        if isinstance(req, wire.InfoAllMids):
            return self._all_mids()
        if isinstance(req, wire.InfoL2Book):
            if req.coin not in eng.books:
                return None
            return self._l2_json(req.coin, req.n_sig_figs, req.mantissa)
        if isinstance(req, wire.InfoMetaAndAssetCtxs):
            return [{"universe": [cb.rules.meta_entry() for cb in eng.books_by_asset]},
                    [self._ctx_json(cb.name) for cb in eng.books_by_asset]]
        if isinstance(req, wire.InfoClearinghouseState):
            return self._clearinghouse(req.user)
        if isinstance(req, wire.InfoOpenOrders):
            return [self._open_order_json(o) for o in eng.open_orders(req.user)]
        if isinstance(req, wire.InfoFrontendOpenOrders):
            return [self._frontend_order_json(o) for o in eng.open_orders(req.user)]
        if isinstance(req, wire.InfoUserFills):
            acct = eng.account(req.user)
            return [self._fill_json(f) for f in acct.fills] if acct is not None else []
        if isinstance(req, wire.InfoUserFillsByTime):
            acct = eng.account(req.user)
            if acct is None:
                return []
            end = req.end_time if req.end_time is not None else 1 << 62
            return [self._fill_json(f) for f in acct.fills if req.start_time <= f.time_ms <= end]
        if isinstance(req, wire.InfoOrderStatus):
            o = eng.find_order(req.user, req.oid)
            if o is None:
                return wire.order_status_unknown()
            return wire.order_status_found(self._frontend_order_json(o), o.status, o.status_ts_ms)
        if isinstance(req, wire.InfoUserRateLimit):
            acct = eng.account(req.user)
            vol = acct.cum_volume_usd if acct is not None else 0.0
            return {"cumVlm": _usd_str(vol), "nRequestsUsed": self.budget.used(req.user),
                    "nRequestsCap": self.budget.cap(vol)}
        if isinstance(req, wire.InfoUserFees):
            fr = eng.fee_rates
            return {"userCrossRate": rules.hl_str(f"{fr.taker:.8f}"), "userAddRate": rules.hl_str(f"{fr.maker:.8f}"),
                    "feeSchedule": {"cross": rules.hl_str(f"{fr.taker:.8f}"), "add": rules.hl_str(f"{fr.maker:.8f}")},
                    "dailyUserVlm": [], "activeReferralDiscount": "0.0"}
        return None

    def _all_mids(self) -> dict[str, str]:
        out = {}
        for name in self.engine.books:
            mid = self.engine.mid_px(name)
            if mid is not None:
                out[name] = rules.hl_str(f"{mid:.8f}")
        return out

    def _level_json(self, coin: str, level: tuple[int, int, int]) -> dict[str, Any]:
        return wire.book_level(self.engine.px_str(coin, level[0]), self.engine.sz_str(coin, level[1]), level[2])

    def _l2_json(self, coin: str, n_sig_figs: int | None = None, mantissa: int | None = None) -> dict[str, Any]:
        bids, asks = self.engine.book_levels(coin, None if n_sig_figs in (None, 5) and not mantissa else 10**9)
        if not (n_sig_figs in (None, 5) and not mantissa):
            depth = self.cfg.matching.book_depth
            bids = _aggregate(bids, n_sig_figs or 5, mantissa, True)[:depth]
            asks = _aggregate(asks, n_sig_figs or 5, mantissa, False)[:depth]
        return wire.l2_book(coin, self.now_ms(), [self._level_json(coin, b) for b in bids],
                            [self._level_json(coin, a) for a in asks])

    def _bbo_json(self, coin: str) -> dict[str, Any]:
        bid, ask = self.engine.bbo(coin)
        return wire.bbo(coin, self.now_ms(), self._level_json(coin, bid) if bid else None,
                        self._level_json(coin, ask) if ask else None)

    def _ctx_json(self, coin: str) -> dict[str, Any]:
        mid = self.engine.mid_px(coin)
        ctx = self._ctx.get(coin, {})
        mark = ctx.get("mark") or mid or 0.0
        oracle = ctx.get("oracle") or mark
        bid, ask = self.engine.bbo(coin)
        impact = ([self.engine.px_str(coin, bid[0]), self.engine.px_str(coin, ask[0])]
                  if bid is not None and ask is not None else None)
        return {
            "funding": rules.hl_str(f"{ctx.get('funding', 0.0):.10f}"),
            "openInterest": rules.hl_str(f"{ctx.get('oi', 0.0):.6f}"),
            "prevDayPx": rules.hl_str(f"{mark:.8f}"),
            "dayNtlVlm": "0.0",
            "premium": rules.hl_str(f"{((mark - oracle) / oracle if oracle else 0.0):.8f}"),
            "oraclePx": rules.hl_str(f"{oracle:.8f}"),
            "markPx": rules.hl_str(f"{mark:.8f}"),
            "midPx": rules.hl_str(f"{mid:.8f}") if mid is not None else None,
            "impactPxs": impact,
            "dayBaseVlm": "0.0",
        }

    def _clearinghouse(self, user: str) -> dict[str, Any]:
        eng = self.engine
        acct = eng.account(user)
        now_ms = self.now_ms()
        if acct is None:
            zero = {"accountValue": "0.0", "totalNtlPos": "0.0", "totalRawUsd": "0.0", "totalMarginUsed": "0.0"}
            return {"assetPositions": [], "crossMarginSummary": zero, "marginSummary": dict(zero),
                    "crossMaintenanceMarginUsed": "0.0", "withdrawable": "0.0", "time": now_ms}
        positions = []
        total_ntl = 0.0
        signed_ntl = 0.0
        margin = 0.0
        for coin, pos in acct.positions.items():
            if not pos.lots:
                continue
            cb = eng.books[coin]
            lev = eng.leverage_of(acct, cb)
            mark = eng.mark_px(cb, pos)
            sz = pos.lots / cb.rules.lots_per_one
            value = abs(sz) * mark
            upnl = (mark - pos.entry_px) * sz
            used = value / lev
            total_ntl += value
            signed_ntl += sz * mark
            margin += used
            positions.append({"type": "oneWay", "position": {
                "coin": coin,
                "szi": eng.sz_str(coin, pos.lots),
                "leverage": {"type": "cross", "value": lev},
                "entryPx": rules.hl_str(f"{pos.entry_px:.8f}"),
                "positionValue": _usd_str(value),
                "unrealizedPnl": _usd_str(upnl),
                "returnOnEquity": rules.hl_str(f"{(upnl / used if used else 0.0):.8f}"),
                "liquidationPx": None,
                "marginUsed": _usd_str(used),
                "maxLeverage": cb.rules.max_leverage,
                "cumFunding": {"allTime": "0.0", "sinceOpen": "0.0", "sinceChange": "0.0"},
            }})
        value = eng.account_value_usd(acct)
        summary = {"accountValue": _usd_str(value), "totalNtlPos": _usd_str(total_ntl),
                   "totalRawUsd": _usd_str(value - signed_ntl), "totalMarginUsed": _usd_str(margin)}
        return {
            "assetPositions": positions,
            "crossMarginSummary": summary,
            "marginSummary": dict(summary),
            "crossMaintenanceMarginUsed": _usd_str(margin / 2),
            "withdrawable": _usd_str(max(0.0, value - margin - eng.order_margin_usd(acct))),
            "time": now_ms,
        }

    def _open_order_json(self, o: Order) -> dict[str, Any]:
        d: dict[str, Any] = {
            "coin": o.coin,
            "limitPx": self.engine.px_str(o.coin, o.px),
            "oid": o.oid,
            "side": "B" if o.is_buy else "A",
            "sz": self.engine.sz_str(o.coin, o.rem_lots),
            "timestamp": o.ts_ms,
        }
        if o.cloid is not None:
            d["cloid"] = o.cloid
        return d

    def _frontend_order_json(self, o: Order) -> dict[str, Any]:
        return {
            "coin": o.coin,
            "side": "B" if o.is_buy else "A",
            "limitPx": self.engine.px_str(o.coin, o.px),
            "sz": self.engine.sz_str(o.coin, o.rem_lots),
            "oid": o.oid,
            "timestamp": o.ts_ms,
            "triggerCondition": "N/A",
            "isTrigger": False,
            "triggerPx": "0.0",
            "children": [],
            "isPositionTpsl": False,
            "reduceOnly": o.reduce_only,
            "orderType": "Limit",
            "origSz": self.engine.sz_str(o.coin, o.orig_lots),
            "tif": o.tif,
            "cloid": o.cloid,
        }

    def _update_json(self, ev: OrderUpdateEvent) -> dict[str, Any]:
        order: dict[str, Any] = {
            "coin": ev.coin,
            "side": "B" if ev.is_buy else "A",
            "limitPx": self.engine.px_str(ev.coin, ev.px_units),
            "sz": self.engine.sz_str(ev.coin, ev.rem_lots),
            "oid": ev.oid,
            "timestamp": ev.ts_ms,
            "origSz": self.engine.sz_str(ev.coin, ev.orig_lots),
            "reduceOnly": ev.reduce_only,
        }
        if ev.cloid is not None:
            order["cloid"] = ev.cloid
        return {"order": order, "status": ev.status, "statusTimestamp": ev.status_ts_ms}

    def _fill_json(self, f: FillEvent) -> dict[str, Any]:
        d: dict[str, Any] = {
            "coin": f.coin,
            "px": self.engine.px_str(f.coin, f.px_units),
            "sz": self.engine.sz_str(f.coin, f.lots),
            "side": "B" if f.is_buy else "A",
            "time": f.time_ms,
            "startPosition": self.engine.sz_str(f.coin, f.start_pos_lots),
            "dir": f.dir,
            "closedPnl": _usd_str(f.closed_pnl_usd),
            "hash": f.hash,
            "oid": f.oid,
            "crossed": f.crossed,
            "fee": _usd_str(f.fee_usd),
            "tid": f.tid,
            "feeToken": "USDC",
        }
        if f.cloid is not None:
            d["cloid"] = f.cloid
        return d

    def _trade_json(self, t: TradeEvent) -> dict[str, Any]:
        return {
            "coin": t.coin,
            "side": "B" if t.taker_is_buy else "A",
            "px": self.engine.px_str(t.coin, t.px_units),
            "sz": self.engine.sz_str(t.coin, t.lots),
            "hash": t.hash,
            "time": t.time_ms,
            "tid": t.tid,
            "users": [t.buyer, t.seller],
        }

    # ------------------------------------------------------------------ publishing

    def _send_sub(self, key: tuple[Any, ...], text: str) -> None:
        for client in self._subs.get(key, ()):
            client.send(text)

    def _publish(self) -> None:
        """Turn the engine's events into websocket pushes; schedule injected margin cancels."""
        events = self.engine.drain_events()
        trades: dict[str, list[dict[str, Any]]] = {}
        updates: dict[str, list[dict[str, Any]]] = {}
        fills: dict[str, list[dict[str, Any]]] = {}
        now_ms = self.now_ms()
        for ev in events:
            if isinstance(ev, TradeEvent):
                d = self._trade_json(ev)
                self._recent_trades[ev.coin].append(d)
                trades.setdefault(ev.coin, []).append(d)
            elif isinstance(ev, OrderUpdateEvent):
                if self.failures.drop_user_event():
                    self.stats["order_updates_dropped"] += 1
                    self.dropped_user_events.append(("update", ev.oid, ev.status))
                else:
                    updates.setdefault(ev.user, []).append(self._update_json(ev))
                if ev.status == OPEN:
                    delay = self.failures.margin_cancel_delay_ms()
                    if delay is not None:
                        asset = self.engine.books[ev.coin].asset
                        heapq.heappush(self._margin_cancels, (now_ms + int(delay), ev.user, asset, ev.oid))
            elif isinstance(ev, FillEvent):
                if self.failures.drop_user_event():
                    self.stats["fills_dropped"] += 1
                    self.dropped_user_events.append(("fill", ev.oid, ev.tid))
                else:
                    fills.setdefault(ev.user, []).append(self._fill_json(ev))
        for coin, lst in trades.items():
            self._send_sub(("trades", coin), _dumps(wire.ws_frame("trades", lst)))
        for user, lst in updates.items():
            self._send_sub(("orderUpdates", user), _dumps(wire.ws_frame("orderUpdates", lst)))
        for user, lst in fills.items():
            self._send_fills(user, _dumps(wire.ws_frame("userFills", wire.user_fills_message(user, lst, False))))
        for coin in self.engine.dirty:
            self._l2_changed.add(coin)
            self._mids_changed = True
            bbo = self.engine.bbo(coin)
            if bbo != self._last_bbo.get(coin):
                self._last_bbo[coin] = bbo
                if self._subs.get(("bbo", coin)):
                    self._send_sub(("bbo", coin), _dumps(wire.ws_frame("bbo", self._bbo_json(coin))))
        self.engine.dirty.clear()

    def _send_fills(self, user: str, frame: str) -> None:
        """A userFills frame, possibly held back behind the next one or sent twice (injected)."""
        key = ("userFills", user)
        if not self._subs.get(key):
            return
        held = self._held_fill_frames.pop(user, None)
        if held is None and self.failures.reorder_fills():
            self.stats["fill_frames_reordered"] += 1
            self._held_fill_frames[user] = (time.monotonic(), frame)
            return
        self._send_sub(key, frame)
        if held is not None:
            self._send_sub(key, held[1])
        if self.failures.duplicate_fills():
            self.stats["fill_frames_duplicated"] += 1
            self._send_sub(key, frame)

    def _flush_held_fills(self, now_s: float) -> None:
        max_s = self.cfg.failures.fill_reorder_max_ms / 1000.0
        for user, (since_s, frame) in list(self._held_fill_frames.items()):
            if now_s - since_s >= max_s:
                del self._held_fill_frames[user]
                self._send_sub(("userFills", user), frame)

    def _push_ctx(self, coin: str) -> None:
        key = ("activeAssetCtx", coin)
        if self._subs.get(key):
            self._send_sub(key, _dumps(wire.ws_frame("activeAssetCtx", {"coin": coin, "ctx": self._ctx_json(coin)})))

    async def _tick_loop(self) -> None:
        tick_s = self.cfg.ws.tick_ms / 1000.0
        last = time.monotonic()
        while True:
            await asyncio.sleep(tick_s)
            now_s = time.monotonic()
            try:
                self._tick(now_s, now_s - last)
            except Exception:
                log.exception("venue tick failed")
            last = now_s

    def _tick(self, now_s: float, elapsed_s: float) -> None:
        now_ms = self.now_ms()
        # injected margin cancels and the dead man's switch
        while self._margin_cancels and self._margin_cancels[0][0] <= now_ms:
            _, user, asset, oid = heapq.heappop(self._margin_cancels)
            if self.engine.cancel(user, asset, oid, self.now_ns(), status=MARGIN_CANCELED) is None:
                self.stats["margin_cancels"] += 1
        for user, at_ms in list(self._dms.items()):
            if at_ms <= now_ms:
                del self._dms[user]
                self.engine.cancel_all(user, self.now_ns(), status=SCHEDULED_CANCEL)
                day = now_ms // _DAY_MS
                prev_day, count = self._dms_triggers.get(user, (day, 0))
                self._dms_triggers[user] = (day, count + 1 if prev_day == day else 1)
        blocks = self.cfg.matching.block_ms > 0
        if not blocks:
            self._publish()
        if self._held_fill_frames:
            self._flush_held_fills(now_s)
        every_s = self.cfg.failures.ws_drop_every_s
        if every_s > 0 and now_s - self._last_periodic_drop_s >= every_s:
            self._last_periodic_drop_s = now_s
            self.drop_websockets()
        # injected disconnects (no new draw while an outage lasts)
        if not self._outage():
            outage_ms = self.failures.disconnect_ms(elapsed_s)
            if outage_ms is not None:
                self.trigger_disconnect(outage_ms)
        if not blocks:
            self._push_l2(now_s)
        # allMids and activeAssetCtx
        if self._mids_changed and self._subs.get(("allMids",)):
            self._send_sub(("allMids",), _dumps(wire.ws_frame("allMids", {"mids": self._all_mids()})))
            self._mids_changed = False
        if now_s - self._ctx_last_push_s >= self.cfg.ws.asset_ctx_interval_ms / 1000.0:
            self._ctx_last_push_s = now_s
            for coin in self.engine.books:
                self._push_ctx(coin)
        # idle connections (the venue sent nothing for too long)
        idle = self.cfg.ws.idle_timeout_s
        for client in list(self._clients):
            if not client.closed and now_s - client.last_sent_s > idle and client.queue.empty():
                client.closed = True
                client.queue.put_nowait(None)
                self._spawn(client.ws.close())

    def _push_l2(self, now_s: float) -> None:
        """l2Book pushes: at most every interval per subscription, full snapshots."""
        interval_s = self.cfg.ws.l2book_interval_ms / 1000.0
        changed = self._l2_changed
        pushed: set[str] = set()
        for key, clients in self._subs.items():
            if key[0] != "l2Book" or not clients:
                continue
            coin = key[1]
            if now_s - self._l2_last_push_s.get(key, 0.0) < interval_s:
                continue
            if coin not in changed and not self.cfg.ws.l2book_push_unchanged:
                continue
            self._l2_last_push_s[key] = now_s
            text = _dumps(wire.ws_frame("l2Book", self._l2_json(coin, key[2], key[3])))
            for client in clients:
                client.send(text)
            pushed.add(coin)
        self._l2_changed = changed - pushed

    def drop_websockets(self) -> int:
        """Cut every Hyperliquid websocket now without a close frame (1006); reconnects are accepted."""
        n = 0
        for client in list(self._clients):
            if ("binance",) in client.subs or client.closed:
                continue
            client.abort()
            n += 1
        self.stats["ws_periodic_drops"] += n
        return n

    async def restart(self, down_s: float) -> None:
        """A restart of the venue's API servers: every connection is cut, nothing listens for
        ``down_s``, then the same port serves again. The chain's state (books, orders, fills,
        nonces) is kept, and blocks go on being applied meanwhile."""
        self.stats["restarts"] += 1
        for client in list(self._clients):
            client.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await asyncio.sleep(down_s)
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.port, reuse_address=True)
        await site.start()
        log.info("paper venue restarted on %s after %.1f s", self.url, down_s)

    def trigger_disconnect(self, duration_ms: float) -> None:
        """Cut every websocket now and refuse new ones for ``duration_ms`` (also HTTP if configured)."""
        self.stats["outages"] += 1
        self._outage_until_s = max(self._outage_until_s, time.monotonic() + duration_ms / 1000.0)
        for client in list(self._clients):
            self.stats["ws_dropped"] += 1
            client.abort()

    # ------------------------------------------------------------------ Hyperliquid websocket

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        if self._outage():
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        client = _Client(ws, request)
        client.writer = asyncio.create_task(client.run_writer())
        self._clients.add(client)
        if self.cfg.ws.send_banner:
            client.send(_BANNER)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_ws_text(client, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._drop_client(client)
        return ws

    def _drop_client(self, client: _Client) -> None:
        client.closed = True
        self._clients.discard(client)
        for key in client.subs:
            subs = self._subs.get(key)
            if subs is not None:
                subs.discard(client)
        client.subs.clear()
        client.queue.put_nowait(None)

    def _sub_key(self, sub: wire.Subscription) -> tuple[Any, ...] | str:
        coin_types = ("l2Book", "trades", "bbo", "activeAssetCtx")
        if sub.type in coin_types:
            if sub.coin is None or sub.coin not in self.engine.books:
                return f"Invalid subscription: unknown coin {sub.coin!r}"
            if sub.type == "l2Book":
                return ("l2Book", sub.coin, sub.n_sig_figs, sub.mantissa)
            return (sub.type, sub.coin)
        if sub.type in ("orderUpdates", "userFills"):
            if not sub.user:
                return f"Invalid subscription: {sub.type} needs a user"
            return (sub.type, sub.user.lower())
        if sub.type == "allMids":
            return ("allMids",)
        return f"Unsupported subscription type {sub.type!r}"

    def _on_ws_text(self, client: _Client, text: str) -> None:
        try:
            msg = wire.decode_ws_client_message(text)
        except wire.WireError:
            client.send(_dumps(wire.ws_frame("error", f"Error parsing JSON into valid websocket request: {text}")))
            return
        if msg.method == "ping":
            client.send('{"channel":"pong"}')
            return
        if msg.method == "post":
            if msg.id is None or msg.request is None:
                client.send(_dumps(wire.ws_frame("error", "Post request needs an id and a request")))
                return
            self._spawn(self._ws_post(client, msg.id, msg.request))
            return
        sub = msg.subscription
        if sub is None:
            client.send(_dumps(wire.ws_frame("error", f"Missing subscription: {text}")))
            return
        key = self._sub_key(sub)
        if isinstance(key, str):
            client.send(_dumps(wire.ws_frame("error", key)))
            return
        echo = {"method": msg.method, "subscription": msgspec.to_builtins(sub)}
        if msg.method == "subscribe":
            if key in client.subs:
                client.send(_dumps(wire.ws_frame("error", f"Already subscribed: {msgspec.json.encode(sub).decode()}")))
                return
            client.subs.add(key)
            self._subs.setdefault(key, set()).add(client)
            client.send(_dumps(wire.ws_frame("subscriptionResponse", echo)))
            self._send_initial(client, key)
        else:
            if key not in client.subs:
                client.send(_dumps(wire.ws_frame("error", f"Already unsubscribed: {msgspec.json.encode(sub).decode()}")))
                return
            client.subs.discard(key)
            self._subs.get(key, set()).discard(client)
            client.send(_dumps(wire.ws_frame("subscriptionResponse", echo)))

    def _send_initial(self, client: _Client, key: tuple[Any, ...]) -> None:
        kind = key[0]
        if kind == "l2Book":
            client.send(_dumps(wire.ws_frame("l2Book", self._l2_json(key[1], key[2], key[3]))))
        elif kind == "bbo":
            client.send(_dumps(wire.ws_frame("bbo", self._bbo_json(key[1]))))
        elif kind == "trades":
            recent = list(self._recent_trades[key[1]])[-self.cfg.ws.trades_backfill:] if self.cfg.ws.trades_backfill else []
            if recent:
                client.send(_dumps(wire.ws_frame("trades", recent)))
        elif kind == "userFills":
            acct = self.engine.account(key[1])
            fills = [self._fill_json(f) for f in acct.fills] if acct is not None else []
            client.send(_dumps(wire.ws_frame("userFills", wire.user_fills_message(key[1], fills, True))))
        elif kind == "activeAssetCtx":
            client.send(_dumps(wire.ws_frame("activeAssetCtx", {"coin": key[1], "ctx": self._ctx_json(key[1])})))
        elif kind == "allMids":
            client.send(_dumps(wire.ws_frame("allMids", {"mids": self._all_mids()})))

    async def _ws_post(self, client: _Client, request_id: int, request: wire.WsPostRequest) -> None:
        try:
            if request.type == "info":
                try:
                    req = wire.decode_info_request(request.payload)
                except wire.WireError:
                    client.send(_dumps(wire.ws_post_reply(request_id, "error", wire.DESERIALIZE_ERROR_TEXT)))
                    return
                tag = type(req).__struct_config__.tag
                payload = {"type": tag, "data": self.info(req)}
                client.send(_dumps(wire.ws_post_reply(request_id, "info", payload)))
                return
            try:
                raw, ex = wire.decode_exchange_request(request.payload)
            except wire.WireError:
                client.send(_dumps(wire.ws_post_reply(request_id, "error", wire.DESERIALIZE_ERROR_TEXT)))
                return
            resp = await self.process_exchange(raw, ex)
            client.send(_dumps(wire.ws_post_reply(request_id, "action", msgspec.to_builtins(resp))))
        except Exception as exc:  # a post must always be answered
            log.exception("ws post failed")
            client.send(_dumps(wire.ws_post_reply(request_id, "error", f"Internal error: {type(exc).__name__}")))

    # ------------------------------------------------------------------ Binance streams

    def _ref_book(self, symbol: str) -> _RefBook:
        rb = self._ref.get(symbol)
        if rb is None:
            rb = self._ref[symbol] = _RefBook(symbol)
        return rb

    def _binance_event(self, ev: DriverEvent) -> None:
        coin = self.coin_by_symbol.get(ev.symbol_id)
        if coin is None or not self.cfg.binance.enabled:
            return
        sym = self.binance_symbol[coin]
        rb = self._ref_book(sym)
        now_ms = self.now_ms()
        qty = self.cfg.binance.default_qty
        if isinstance(ev, RefPrice):
            self._ref_top(rb, ev.bid_px, qty, ev.ask_px, qty, now_ms)
        elif isinstance(ev, Bbo):
            self._ref_top(rb, ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, now_ms)
        elif isinstance(ev, BookDelta):
            self._ref_depth(rb, list(zip(ev.bid_px, ev.bid_qty)), list(zip(ev.ask_px, ev.ask_qty)), now_ms)
        elif isinstance(ev, BookSnapshot):
            new_b = dict(zip(ev.bid_px, ev.bid_qty))
            new_a = dict(zip(ev.ask_px, ev.ask_qty))
            bids = [(p, 0.0) for p in rb.bids if p not in new_b] + list(new_b.items())
            asks = [(p, 0.0) for p in rb.asks if p not in new_a] + list(new_a.items())
            self._ref_depth(rb, bids, asks, now_ms)
        elif isinstance(ev, Trade):
            rb.agg_id += 1
            data = {"e": "aggTrade", "E": now_ms, "s": sym, "a": rb.agg_id, "p": _num(ev.px), "q": _num(ev.qty),
                    "f": rb.agg_id, "l": rb.agg_id, "T": now_ms, "m": ev.side == Side.SELL}
            self._bn_send(f"{sym.lower()}@aggTrade", data)

    def _ref_top(self, rb: _RefBook, bid: float, bid_qty: float, ask: float, ask_qty: float, now_ms: int) -> None:
        """A new top of book: the previous top and anything at or through the new one is removed."""
        bids: list[tuple[float, float]] = []
        asks: list[tuple[float, float]] = []
        if bid > 0:
            bids = [(p, 0.0) for p in rb.bids if p >= bid or p == rb.top_bid or (ask > 0 and p >= ask)]
            bids.append((bid, bid_qty))
            rb.top_bid = bid
        if ask > 0:
            asks = [(p, 0.0) for p in rb.asks if p <= ask or p == rb.top_ask or (bid > 0 and p <= bid)]
            asks.append((ask, ask_qty))
            rb.top_ask = ask
        self._ref_depth(rb, bids, asks, now_ms)

    def _ref_depth(self, rb: _RefBook, bids: list[tuple[float, float]], asks: list[tuple[float, float]],
                   now_ms: int) -> None:
        merged_b: dict[float, float] = {}
        merged_a: dict[float, float] = {}
        for p, q in bids:
            merged_b[p] = q
        for p, q in asks:
            merged_a[p] = q
        for p, q in merged_b.items():
            if q > 0:
                rb.bids[p] = q
            else:
                rb.bids.pop(p, None)
        for p, q in merged_a.items():
            if q > 0:
                rb.asks[p] = q
            else:
                rb.asks.pop(p, None)
        first = rb.last_u + 1
        prev = rb.last_u
        rb.last_u += 1
        sym = rb.symbol
        diff = {"e": "depthUpdate", "E": now_ms, "T": now_ms, "s": sym, "U": first, "u": rb.last_u, "pu": prev,
                "b": [[_num(p), _num(q)] for p, q in merged_b.items()],
                "a": [[_num(p), _num(q)] for p, q in merged_a.items()]}
        low = sym.lower()
        for stream in (f"{low}@depth", f"{low}@depth@100ms", f"{low}@depth@250ms", f"{low}@depth@500ms",
                       f"{low}@depth@0ms"):
            self._bn_send(stream, diff)
        if rb.bids and rb.asks:
            bb = max(rb.bids)
            ba = min(rb.asks)
            ticker = {"e": "bookTicker", "u": rb.last_u, "E": now_ms, "T": now_ms, "s": sym, "b": _num(bb),
                      "B": _num(rb.bids[bb]), "a": _num(ba), "A": _num(rb.asks[ba])}
            self._bn_send(f"{low}@bookTicker", ticker)

    def _bn_send(self, stream: str, data: dict[str, Any]) -> None:
        clients = self._bn_clients.get(stream)
        if not clients:
            return
        raw = None
        combined = None
        for client in clients:
            if ("combined",) in client.subs:
                if combined is None:
                    combined = _dumps({"stream": stream, "data": data})
                client.send(combined)
            else:
                if raw is None:
                    raw = _dumps(data)
                client.send(raw)

    async def _handle_binance_ws(self, request: web.Request) -> web.StreamResponse:
        if self._outage():
            return web.Response(status=503, text="Service Unavailable")
        stream = request.match_info.get("stream")
        combined = stream is None
        streams = [s for s in (request.query.get("streams", "").split("/") if combined else [stream or ""]) if s]
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        client = _Client(ws, request)
        client.subs.add(("binance",))  # not cut by drop_websockets (Hyperliquid's socket only)
        if combined:
            client.subs.add(("combined",))
        client.writer = asyncio.create_task(client.run_writer())
        self._clients.add(client)
        for s in streams:
            self._bn_clients.setdefault(_stream_key(s), set()).add(client)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_binance_text(client, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            for clients in self._bn_clients.values():
                clients.discard(client)
            self._drop_client(client)
        return ws

    def _on_binance_text(self, client: _Client, text: str) -> None:
        try:
            msg = wire.decode_json(text)
            method = msg["method"]
            params = msg.get("params", [])
            req_id = msg.get("id")
        except (wire.WireError, KeyError, TypeError, AttributeError):
            client.send(_dumps({"error": {"code": 2, "msg": "Invalid request"}}))
            return
        if method == "SUBSCRIBE":
            for s in params:
                self._bn_clients.setdefault(_stream_key(str(s)), set()).add(client)
        elif method == "UNSUBSCRIBE":
            for s in params:
                self._bn_clients.get(_stream_key(str(s)), set()).discard(client)
        elif method == "LIST_SUBSCRIPTIONS":
            client.send(_dumps({"result": [s for s, cl in self._bn_clients.items() if client in cl], "id": req_id}))
            return
        client.send(_dumps({"result": None, "id": req_id}))

    async def _handle_binance_depth(self, request: web.Request) -> web.StreamResponse:
        sym = request.query.get("symbol", "").upper()
        limit = int(request.query.get("limit", "1000") or 1000)
        rb = self._ref_book(sym)
        now_ms = self.now_ms()
        body = {
            "lastUpdateId": rb.last_u, "E": now_ms, "T": now_ms,
            "bids": [[_num(p), _num(rb.bids[p])] for p in sorted(rb.bids, reverse=True)[:limit]],
            "asks": [[_num(p), _num(rb.asks[p])] for p in sorted(rb.asks)[:limit]],
        }
        return web.Response(body=_encoder.encode(body), content_type="application/json")


def _block_priority(action: wire.Action) -> int:
    """An action's place in a block (Hyperliquid docs, HyperCore order book): 0 sends no GTC or
    IOC order to any book (ALO placements, schedule cancel, leverage); 1 cancels; 2 sends at
    least one GTC or IOC order. A modify counts as the order it places."""
    if isinstance(action, wire.CancelAction | wire.CancelByCloidAction):
        return 1
    if isinstance(action, wire.OrderAction):
        orders = action.orders
    elif isinstance(action, wire.BatchModifyAction):
        orders = [m.order for m in action.modifies]
    elif isinstance(action, wire.ModifyAction):
        orders = [action.order]
    else:
        return 0
    takes = any(o.t.limit is None or o.t.limit.tif != "Alo" for o in orders)
    return 2 if takes else 0


def _market_priority(ev: DriverEvent) -> int | None:
    """A market driver event's place in a block: 2 for a trade (its taker sent a GTC/IOC order),
    3 for book updates (the state the block left, so after everything else); None for events
    outside Hyperliquid's blocks (Binance reference, funding), which apply as they come."""
    if isinstance(ev, RefPrice) or ev.venue == Venue.BINANCE:
        return None
    if isinstance(ev, Trade):
        return 2
    if isinstance(ev, BookSnapshot | Bbo | BookDelta):
        return 3
    return None


def _stream_key(stream: str) -> str:
    """A Binance stream name with its symbol lower-cased (``BTCUSDT@bookTicker`` -> ``btcusdt@bookTicker``)."""
    sym, sep, rest = stream.partition("@")
    return f"{sym.lower()}{sep}{rest}"


def _aggregate(levels: list[tuple[int, int, int]], n_sig_figs: int, mantissa: int | None,
               is_bid: bool) -> list[tuple[int, int, int]]:
    """Levels bucketed to ``n_sig_figs`` significant figures (bids down, asks up), as l2Book's nSigFigs."""
    out: list[tuple[int, int, int]] = []
    for px, lots, n in levels:
        digits = len(str(px))
        bucket = 10 ** max(0, digits - n_sig_figs) * (mantissa or 1)
        b = (px // bucket) * bucket if is_bid else -((-px) // bucket) * bucket
        if out and out[-1][0] == b:
            _, l0, n0 = out[-1]
            out[-1] = (b, l0 + lots, n0 + n)
        else:
            out.append((b, lots, n))
    return out


async def serve(
    config: VenueConfig, driver: MarketDriver | None = None, clock_ns: Callable[[], int] = time.time_ns
) -> VenueServer:
    """Start the paper venue on the running loop; returns it listening (``.port``, ``await .stop()``)."""
    server = VenueServer(config, driver, clock_ns)
    await server.start()
    return server


class ThreadedVenue:
    """The paper venue in a background thread with its own event loop (for synchronous callers).

    ``with ThreadedVenue(cfg) as venue: Exchange(wallet, venue.url)``. :meth:`apply` plays a
    market event and returns once it is applied; :meth:`call` runs a function on the venue's
    loop (to read or change engine state safely).
    """

    def __init__(
        self, config: VenueConfig, driver: MarketDriver | None = None, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.server = VenueServer(config, driver, clock_ns)
        self._thread = threading.Thread(target=self._run, name="paper-venue", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("paper venue failed to start") from self._error
        self.port = self.server.port
        self.url = self.server.url

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.server.stop())
        self._loop.close()

    def call(self, fn: Callable[[VenueServer], _T], timeout_s: float = 30.0) -> _T:
        """Run ``fn(server)`` on the venue's loop and return its result."""

        async def run() -> _T:
            return fn(self.server)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout_s)

    def apply(self, *events: DriverEvent) -> None:
        """Play market events (in order) and wait until they are applied."""

        def play(server: VenueServer) -> None:
            for ev in events:
                server.apply_market_event(ev)

        self.call(play)

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def __enter__(self) -> ThreadedVenue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- process entry


def _replay_driver(directory: str, cfg: VenueConfig, speed: float, loop: bool) -> ReplayDriver:
    streams: list[Iterable[DriverEvent]] = []
    for i, c in enumerate(cfg.coins):
        sid = c.symbol_id if c.symbol_id >= 0 else i
        if (Path(directory) / f"orderbooks_{c.name}.csv").exists():
            streams.append(load_hyperliquid_csv(directory, c.name, sid))
    events = list(heapq.merge(*streams, key=lambda e: e.ts_ns))
    return ReplayDriver(events, speed=speed, loop=loop)


def main(argv: list[str] | None = None) -> int:
    """``python -m mm.venues.sim.server --config venue.toml [--replay-csv DIR] [--port-file F]``."""
    parser = argparse.ArgumentParser(prog="mm.venues.sim.server", description="Hyperliquid paper venue")
    parser.add_argument("--config", required=True, help="TOML file ([venue] table or top level)")
    parser.add_argument("--host", help="override the listen address")
    parser.add_argument("--port", type=int, help="override the port (0 = any free one)")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--replay-csv", help="a recorder directory (orderbooks_/trades_/prices_<COIN>.csv)")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed (0 = as fast as possible)")
    parser.add_argument("--loop", action="store_true", help="restart the replay at its end")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config)
    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if overrides:
        cfg = msgspec.structs.replace(cfg, **overrides)
    driver = _replay_driver(args.replay_csv, cfg, args.speed, args.loop) if args.replay_csv else None

    async def run() -> None:
        server = await serve(cfg, driver)
        if args.port_file:
            Path(args.port_file).write_text(f"{server.port}\n")
        print(f"paper venue listening on {server.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
