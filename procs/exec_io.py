"""Exchange I/O for the sync worker loops: execution's client bridged to the OMS; risk's own link.

Wiring only. The execution process's main thread runs the worker loop (rings, heartbeat)
and is the only one that touches :class:`mm.execution.engine.ExecutionEngine`. The
:class:`ExchangeIO` here owns an event loop (uvloop) in a background thread, and on it the
:class:`~mm.venues.hyperliquid.client.ExchangeClient`, its user-data stream and the dead
man's switch:

- the main thread hands the engine's requests over (:meth:`ExchangeIO.submit`; one
  ``run_coroutine_threadsafe`` per batch, each request then sent as its own task, in order);
- the answers (action results, lookups, open orders) and the user stream's order updates,
  fills and reconnects come back through a thread-safe queue that the main thread drains
  each loop iteration (:meth:`ExchangeIO.apply`), feeding them to the engine with exactly
  the mapping of ``tests/client/test_oms_bridge.py`` (:func:`apply_action_result`,
  :func:`venue_order`, :meth:`ExchangeIO.apply`).

At start (:meth:`ExchangeIO.start`, blocking, inside the supervisor's startup grace): the
client starts (meta, websocket), the user stream is subscribed, then the account is
reconciled: every open order is a previous life's (this process has none yet) and is
cancelled, and the venue's positions are returned for the engine; then the dead man's
switch (``scheduleCancel``) is armed and kept refreshed. On the kill switch,
:meth:`ExchangeIO.sweep` cancels every open order of the account through this client
(:func:`mm.venues.hyperliquid.kill_path.cancel_everything`, the venue's list is the truth)
and reports whether the venue showed none left. :class:`LoopThread` is the generic loop
thread.

:class:`RiskVenueLink` is risk's own connection (its own API wallet, so its nonces never
collide with execution's; HTTP only), on its own loop thread: the independent kill path
(:func:`~mm.venues.hyperliquid.kill_path.cancel_everything` when execution has not
confirmed in time) and the venue's positions for risk's reconciliation. It connects in the
background and never blocks risk.

The kill confirmation (:func:`kill_confirmation`, :func:`is_kill_confirmation`) is the
message by which execution tells risk, on the ex ring, that it has cancelled everything
after the kill switch tripped: an ``OrderEvent`` with empty cloid, status CANCELLED,
reason :data:`KILL_CONFIRMED_REASON` and the kill switch epoch in ``oid`` (so a late one is
never taken for a later trip's).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, Final, TypeVar

import msgspec
import uvloop

from mm.execution.engine import ExecutionEngine
from mm.execution.lifecycle import ExchangeRequest, InfoRequest, VenueOrder
from mm.execution.mode_handlers import SymbolSpec
from mm.schema import OrderEvent, OrderStatus
from mm.venues.hyperliquid import rules
from mm.venues.hyperliquid.client import (
    AccountState,
    ActionResult,
    ExchangeClient,
    OrderInfo,
    StreamStatus,
    UserFill,
    VenueRequestError,
)
from mm.venues.hyperliquid.client_config import ExchangeClientConfig
from mm.venues.hyperliquid.deadman import DeadMansSwitch
from mm.venues.hyperliquid.keys import AgentKey
from mm.venues.hyperliquid.kill_path import KillReport, cancel_everything

log = logging.getLogger("mm")
T = TypeVar("T")

KILL_CONFIRMED_REASON: Final = "kill:cancel-all-confirmed"
_PLACING: Final = ("order", "batchModify")


# --------------------------------------------------------------------------- the kill confirmation


def kill_confirmation(epoch: int, now_ns: int) -> OrderEvent:
    """Execution's word to risk: the venue lists no open order of ours since the trip of ``epoch``."""
    return OrderEvent(symbol_id=0, ts_ns=now_ns, origin_ts_ns=now_ns, cloid="", oid=epoch, side=0, px=0.0,
                      qty=0.0, filled_qty=0.0, status=int(OrderStatus.CANCELLED), reason=KILL_CONFIRMED_REASON)


def is_kill_confirmation(msg: object) -> bool:
    return isinstance(msg, OrderEvent) and msg.reason == KILL_CONFIRMED_REASON and not msg.cloid


# --------------------------------------------------------------------------- the loop thread


class LoopThread:
    """An asyncio (uvloop) event loop running in a daemon thread; coroutines submitted from any thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run ``coro`` on the loop and wait for its result (TimeoutError past ``timeout_s``)."""
        fut = self.submit(coro)
        try:
            return fut.result(timeout_s)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"{self.name}: no result within {timeout_s:.1f} s") from None

    def close(self, timeout_s: float = 5.0) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout_s)
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()


async def start_client(client: ExchangeClient, deadline_s: float, connect_ws: bool = True) -> int:
    """Start ``client`` (meta, websocket), retrying until ``deadline_s`` (the venue may still be
    coming up); the attempts it took. Raises the last error past the deadline."""
    t_end = time.monotonic() + deadline_s
    attempts = 0
    while True:
        attempts += 1
        try:
            await client.start(connect_ws=connect_ws)
            return attempts
        except (VenueRequestError, OSError) as exc:
            if time.monotonic() + 0.5 > t_end:
                raise VenueRequestError(f"{client.name}: venue at {client.http_url} unreachable for "
                                        f"{deadline_s:.0f} s ({attempts} attempts): {exc}") from None
            if attempts == 1:
                log.warning("%s: venue at %s not reachable yet (%s); retrying", client.name, client.http_url, exc)
            await asyncio.sleep(0.5)


# --------------------------------------------------------------------------- client results -> OMS


def venue_order(o: OrderInfo, symbol_of: dict[str, int]) -> VenueOrder:
    """The OMS's view of an order the venue reported (symbol -1: not one of ours)."""
    return VenueOrder(symbol_id=symbol_of.get(o.coin, -1), oid=o.oid, cloid=o.cloid, is_buy=o.is_buy,
                      px=o.limit_px, rem_qty=o.sz, orig_qty=o.orig_sz, status=o.status)


def apply_action_result(engine: ExecutionEngine, req: ExchangeRequest, res: ActionResult, now_ns: int) -> None:
    """One action's outcome into the OMS (the client's docstring and test_oms_bridge)."""
    if res.outcome == "ok" and req.kind in ("order", "batchModify"):
        for st in res.statuses:
            if st.cloid and st.kind in ("resting", "filled", "error"):
                engine.on_order_result(st.cloid, now_ns, st.kind, st.oid, st.total_sz, st.error)  # type: ignore[arg-type]
    elif res.outcome == "ok":
        for c, st in zip(req.cancels, res.statuses):
            if st.kind != "unknown":
                engine.on_cancel_result(c.cloid, now_ns, st.kind == "success", st.error)
    else:
        engine.on_request_failed(req.request_id, now_ns, maybe_delivered=res.outcome == "unknown", reason=res.error)


class StartReport(msgspec.Struct, frozen=True, kw_only=True):
    """What execution found and did at start.

    specs: the traded symbols as the venue lists them (asset id, szDecimals from meta).
    positions: the venue's position per coin (absent: flat).
    orphans_found: open orders of a previous life found (all are cancelled).
    orphans_cancelled: ... whose cancel the venue answered ``success``.
    orphans_gone: ... already gone when our cancel arrived (cancelled by someone else, e.g.
        risk's kill path, or filled).
    left_open: open orders still listed after those cancels (handed to the OMS, which
        adopts and cancels them).
    dead_mans_armed_until_ms: the scheduled cancel time set (0: disabled or refused).
    attempts: connection attempts it took.
    elapsed_ms: the whole start, connection included.
    reconcile_ms: the reconciliation alone.
    """

    specs: tuple[SymbolSpec, ...]
    positions: dict[str, float]
    orphans_found: int
    orphans_cancelled: int
    orphans_gone: int
    left_open: tuple[OrderInfo, ...]
    dead_mans_armed_until_ms: int
    attempts: int
    elapsed_ms: float
    reconcile_ms: float


# --------------------------------------------------------------------------- execution's venue I/O


class ExchangeIO:
    """Execution's exchange client on its own loop thread (module docstring)."""

    def __init__(self, xcfg: ExchangeClientConfig, key: AgentKey, symbols: Sequence[str], name: str = "execution") -> None:
        self.xcfg = xcfg
        self.symbols = list(symbols)
        self.symbol_of = {c: i for i, c in enumerate(self.symbols)}
        self.name = name
        self._key = key
        self.inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.thread = LoopThread(f"{name}-io")
        self.client: ExchangeClient | None = None
        self.dms: DeadMansSwitch | None = None
        self.in_flight = 0  # requests handed over and not yet answered (main thread's count)
        self.placing = 0  # ... of them, order and batchModify actions (orders that may still land)
        self._tasks: set[asyncio.Future[None]] = set()  # the loop thread's
        self.stats: dict[str, int] = {"actions": 0, "ok": 0, "rejected": 0, "unknown": 0, "info": 0,
                                      "info_failed": 0, "order_updates": 0, "fills": 0, "other_coin": 0,
                                      "reconnects": 0}

    def __repr__(self) -> str:
        return f"ExchangeIO({self.client!r})"

    # ------------------------------------------------------------------ start and stop (main thread, blocking)

    def start(self, deadline_s: float) -> StartReport:
        """Connect, subscribe, reconcile (cancel a previous life's orders), arm the dead man's switch."""
        return self.thread.call(self._start(deadline_s), deadline_s + 30.0)

    async def _start(self, deadline_s: float) -> StartReport:
        t0 = time.perf_counter()
        client = ExchangeClient.from_config(self.xcfg, key=self._key, name=self.name)
        self.client = client
        try:
            return await self._connect_and_reconcile(client, deadline_s, t0)
        except BaseException:
            await client.close()
            raise

    async def _connect_and_reconcile(self, client: ExchangeClient, deadline_s: float, t0: float) -> StartReport:
        attempts = await start_client(client, deadline_s)
        specs = []
        for i, coin in enumerate(self.symbols):
            try:
                specs.append(SymbolSpec(coin, client.asset_of(coin), client.rules_of(coin).sz_decimals))
            except KeyError:
                raise VenueRequestError(f"{self.name}: {coin} is not listed by the venue's meta") from None
            assert i == self.symbol_of[coin]
        if not await client.subscribe_user_events(self._on_user_event):
            log.warning("%s: no userFills snapshot within the connect timeout; the stream keeps trying", self.name)
        # No fills are fetched: the venue's position includes them all (loaded into the OMS).
        rep = await client.reconcile(unknown_policy="cancel", fills_since_ms=time.time_ns() // 1_000_000)
        statuses = [st for res in rep.cancel_results for st in res.statuses]
        armed = 0
        dms = DeadMansSwitch.from_config(client, self.xcfg)
        if dms is not None:
            self.dms = dms
            await dms.refresh()
            armed = dms.armed_until_ms
            asyncio.get_running_loop().call_later(dms.next_delay_s(), dms.start)
        return StartReport(specs=tuple(specs), positions=dict(rep.positions), orphans_found=len(rep.plan.cancel),
                           orphans_cancelled=sum(st.kind == "success" for st in statuses),
                           orphans_gone=sum(st.kind == "error" and st.error.startswith(rules.ERR_CANCEL_MISSING)
                                            for st in statuses),
                           left_open=rep.venue_open_after, dead_mans_armed_until_ms=armed, attempts=attempts,
                           elapsed_ms=(time.perf_counter() - t0) * 1000.0, reconcile_ms=rep.elapsed_ms)

    def stop(self, sweep_deadline_s: float) -> KillReport | None:
        """Clean stop: cancel everything (bounded), stop the dead man's switch (unset only when
        nothing is left open: otherwise the venue's scheduled cancel stays as a last line), close."""
        report: KillReport | None = None
        if self.client is not None:
            try:
                report = self.thread.call(self._stop(sweep_deadline_s), sweep_deadline_s + 5.0)
            except (TimeoutError, RuntimeError) as exc:
                log.error("%s: stop did not finish: %s", self.name, exc)
        self.thread.close()
        return report

    async def _stop(self, sweep_deadline_s: float) -> KillReport | None:
        assert self.client is not None
        report = None
        if sweep_deadline_s > 0:
            report = await cancel_everything(self.client, sweep_deadline_s)
        if self.dms is not None:
            await self.dms.stop(disarm=report is not None and report.confirmed)
        await self.client.close()
        return report

    # ------------------------------------------------------------------ requests out (main thread)

    def submit(self, reqs: Sequence[ExchangeRequest | InfoRequest]) -> None:
        """Hand the engine's requests to the loop; their answers come back through the inbox."""
        if not reqs:
            return
        self.in_flight += len(reqs)
        self.placing += sum(isinstance(r, ExchangeRequest) and r.kind in _PLACING for r in reqs)
        self.thread.loop.call_soon_threadsafe(self._dispatch, list(reqs))

    def sweep(self, epoch: int, deadline_s: float) -> None:
        """Cancel every open order of the account; ``("sweep", epoch, KillReport)`` comes back."""
        self.thread.loop.call_soon_threadsafe(self._spawn_sweep, epoch, deadline_s)

    # ------------------------------------------------------------------ on the loop thread

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)  # a task only weakly referenced by the loop could be collected mid-flight
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self, reqs: list[ExchangeRequest | InfoRequest]) -> None:
        for req in reqs:
            self._spawn(self._send(req))

    def _spawn_sweep(self, epoch: int, deadline_s: float) -> None:
        self._spawn(self._sweep(epoch, deadline_s))

    async def _sweep(self, epoch: int, deadline_s: float) -> None:
        assert self.client is not None
        report = await cancel_everything(self.client, deadline_s)
        self.inbox.put(("sweep", epoch, report))

    async def _send(self, req: ExchangeRequest | InfoRequest) -> None:
        client = self.client
        assert client is not None
        if isinstance(req, ExchangeRequest):
            try:
                res = await client.send_action(req.action())
            except Exception as exc:  # never lose an answer: an exception here may have sent it
                log.error("%s: %s request %d raised %s", self.name, req.kind, req.request_id, type(exc).__name__)
                res = ActionResult(action=req.kind, outcome="unknown", error=type(exc).__name__)
            self.inbox.put(("action", req, res))
            return
        try:
            if req.kind == "orderStatus":
                found = await client.order_status(req.cloid)
                self.inbox.put(("status", req, found))
            else:
                self.inbox.put(("open_orders", req, await client.open_orders()))
        except Exception as exc:  # the OMS asks again on its own timer
            self.inbox.put(("info_failed", req, str(exc) or type(exc).__name__))

    def _on_user_event(self, ev: OrderInfo | UserFill | StreamStatus) -> None:
        if isinstance(ev, OrderInfo) and self.dms is not None:
            self.dms.on_order_update(ev)
        self.inbox.put(("event", ev))

    # ------------------------------------------------------------------ answers in (main thread)

    def apply(self, engine: ExecutionEngine, now_ns: int) -> list[tuple[int, KillReport]]:
        """Feed everything that came back to the engine; the finished sweeps ``(epoch, report)``."""
        sweeps: list[tuple[int, KillReport]] = []
        st = self.stats
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return sweeps
            kind = item[0]
            if kind == "event":
                ev = item[1]
                if isinstance(ev, OrderInfo):
                    st["order_updates"] += 1
                    engine.on_order_update(now_ns, venue_order(ev, self.symbol_of))
                elif isinstance(ev, UserFill):
                    sid = self.symbol_of.get(ev.coin, -1)
                    if sid < 0:
                        st["other_coin"] += 1
                        continue
                    st["fills"] += 1
                    engine.on_fill(now_ns, sid, ev.cloid, ev.oid, ev.tid, ev.is_buy, ev.px, ev.sz, ev.fee,
                                   not ev.crossed, ev.time_ms)
                elif isinstance(ev, StreamStatus) and ev.kind == "reconnected":
                    st["reconnects"] += 1
                    engine.request_open_orders(now_ns, "reconnect")
            elif kind == "action":
                self.in_flight -= 1
                self.placing -= item[1].kind in _PLACING
                res: ActionResult = item[2]
                st["actions"] += 1
                st[res.outcome] += 1
                apply_action_result(engine, item[1], res, now_ns)
            elif kind == "status":
                self.in_flight -= 1
                st["info"] += 1
                req: InfoRequest = item[1]
                found: OrderInfo | None = item[2]
                engine.on_order_status(now_ns, req.cloid, venue_order(found, self.symbol_of) if found else None)
            elif kind == "open_orders":
                self.in_flight -= 1
                st["info"] += 1
                engine.on_open_orders(now_ns, [venue_order(o, self.symbol_of) for o in item[2]])
            elif kind == "info_failed":
                self.in_flight -= 1
                st["info_failed"] += 1
                log.warning("%s: %s lookup failed (%s); the OMS asks again", self.name, item[1].kind, item[2])
            elif kind == "sweep":
                sweeps.append((item[1], item[2]))

    def dead_mans_status(self) -> str:
        if self.dms is None:
            return "disabled"
        s = self.dms.status()
        return (f"armed until {s.armed_until_ms} ({s.accepted}/{s.attempts} accepted)" if s.armed_until_ms
                else f"not armed ({s.last_error or 'no attempt yet'})")



# --------------------------------------------------------------------------- risk's own link


class RiskVenueLink:
    """Risk's own venue connection (module docstring). Every call returns a future at once."""

    def __init__(self, xcfg: ExchangeClientConfig, key: AgentKey, name: str = "risk-kill-path") -> None:
        self.xcfg = xcfg
        self.name = name
        self.thread = LoopThread(name)
        self.client = ExchangeClient.from_config(xcfg, key=key, name=name, use_ws_post=False)
        self.ready = False
        self.started = self.thread.submit(self._connect())

    def __repr__(self) -> str:
        return f"RiskVenueLink({self.client!r}, ready={self.ready})"

    async def _connect(self) -> None:
        attempts = await start_client(self.client, deadline_s=365 * 86_400.0, connect_ws=False)
        self.ready = True
        log.info("%s: connected to %s as %s for %s (%d attempt(s))", self.name, self.client.http_url,
                 self.client.signer_address, self.client.account_address, attempts)

    def cancel_everything(self, deadline_s: float | None = None) -> concurrent.futures.Future[KillReport]:
        """Cancel every open order of the account until the venue lists none, or the deadline."""
        d = self.xcfg.kill_deadline_s if deadline_s is None else deadline_s
        return self.thread.submit(cancel_everything(self.client, d))

    def account(self) -> concurrent.futures.Future[AccountState]:
        """The venue's positions and margin (clearinghouseState)."""
        return self.thread.submit(self.client.clearinghouse_state())

    def close(self, timeout_s: float = 3.0) -> None:
        self.started.cancel()
        try:
            self.thread.call(self.client.close(), timeout_s)
        except Exception as exc:
            log.warning("%s: close: %s", self.name, type(exc).__name__)
        self.thread.close()
