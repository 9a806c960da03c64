"""Issue 12's table rows: the failures Hyperliquid bots meet, reproduced by the paper venue.

Each scenario starts the paper venue in-process on a free loopback port
(:class:`~mm.venues.sim.server.ThreadedVenue`), switches on one of its misbehaviours, and
drives it with the real client objects (:class:`~mm.venues.hyperliquid.client.ExchangeClient`,
the kill path, the dead man's switch, reconciliation) and, where the OMS decides, with
execution's OMS (:class:`mm.execution.lifecycle.Oms`) fed through the same mapping as the
execution process (``procs.exec_io.apply_action_result`` / ``venue_order``). The official
``hyperliquid-python-sdk`` is used for the error-string acceptance.

The shared harness (:class:`Rig`, :class:`OmsRig`) is also used by ``chaos.venue_faults``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from eth_account import Account

from chaos.table import Ctx, Row, Scenario, check
from mm.execution.config import ExecutionConfig
from mm.execution.lifecycle import ExchangeRequest, InfoRequest, Oms
from mm.execution.mode_handlers import SymbolSpec
from mm.execution.order_diff import TargetOrder
from mm.schema import BookSnapshot, OrderStatus, Side, Trade, Venue
from mm.venues.hyperliquid import rules
from mm.venues.hyperliquid.client import (
    ActionResult,
    CancelSpec,
    ExchangeClient,
    OrderSpec,
    StreamStatus,
    parse_alo_bbo,
)
from mm.venues.hyperliquid.deadman import DeadMansSwitch
from mm.venues.hyperliquid.keys import AgentKey
from mm.venues.hyperliquid.kill_path import cancel_everything
from mm.venues.hyperliquid.reconcile import LocalOrder, OrderInfo, UserFill
from mm.venues.hyperliquid.signing import NonceSource, shared_allocator
from mm.venues.sim.config import CoinConfig, UserConfig, VenueConfig
from mm.venues.sim.server import ThreadedVenue, VenueServer
from procs.exec_io import apply_action_result, venue_order

T = TypeVar("T")

COINS = (CoinConfig(name="BTC", sz_decimals=5, max_leverage=40), CoinConfig(name="ETH", sz_decimals=4, max_leverage=25))


# --------------------------------------------------------------------------- harness


def book(coin_index: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> BookSnapshot:
    now = time.time_ns()
    return BookSnapshot(int(Venue.HYPERLIQUID), coin_index, now, now // 1_000_000, 0, [p for p, _ in bids],
                        [q for _, q in bids], [p for p, _ in asks], [q for _, q in asks])


def trade(coin_index: int, aggressor_buy: bool, px: float, qty: float) -> Trade:
    now = time.time_ns()
    return Trade(int(Venue.HYPERLIQUID), coin_index, now, now // 1_000_000, 0, px, qty,
                 int(Side.BUY if aggressor_buy else Side.SELL), 0)


def standard_books(venue: ThreadedVenue) -> None:
    venue.apply(book(0, [(100000, 1.0), (99999, 2.0)], [(100001, 1.0), (100002, 2.0)]),
                book(1, [(3000.0, 10.0), (2999.9, 5.0)], [(3000.1, 10.0), (3000.2, 5.0)]))


@dataclass
class Rig:
    """A paper venue with one account, execution's and risk's API wallets, and a stranger."""

    venue: ThreadedVenue
    user: str
    user_key: str
    exec_key: str
    risk_key: str
    clock_offset_ms: list[int] = field(default_factory=lambda: [0])

    @classmethod
    def start(cls, coins: tuple[CoinConfig, ...] = COINS, balance_usd: float = 10_000_000.0,
              cum_volume_usd: float = 0.0, extra_users: tuple[UserConfig, ...] = (), **overrides: Any) -> Rig:
        user, ex, rk = Account.create(), Account.create(), Account.create()
        base: dict[str, Any] = {"coins": coins, "users": (UserConfig(
            address=user.address, balance_usd=balance_usd, agents=(ex.address, rk.address),
            cum_volume_usd=cum_volume_usd), *extra_users)}
        defaults = VenueConfig()
        for k, v in overrides.items():
            base[k] = msgspec.convert(v, type(getattr(defaults, k))) if isinstance(v, dict) else v
        offset = [0]
        venue = ThreadedVenue(VenueConfig(**base), clock_ns=lambda: time.time_ns() + offset[0] * 1_000_000)
        if coins == COINS:
            standard_books(venue)
        return cls(venue, user.address, user.key.hex(), ex.key.hex(), rk.key.hex(), offset)

    def client(self, role: str = "execution", **kw: Any) -> ExchangeClient:
        key_hex = {"execution": self.exec_key, "risk": self.risk_key, "user": self.user_key}[role]
        defaults: dict[str, Any] = {"post_timeout_ms": 3000, "http_timeout_ms": 3000, "info_timeout_ms": 3000,
                                    "reconnect_min_ms": 50, "reconnect_max_ms": 300, "ws_connect_timeout_ms": 3000,
                                    "name": role}
        defaults.update(kw)
        return ExchangeClient(http_url=self.venue.url, key=AgentKey.from_hex(key_hex, role),
                              account_address=self.user, **defaults)

    def call(self, fn: Callable[[VenueServer], T]) -> T:
        return self.venue.call(fn)

    def stats(self) -> dict[str, int]:
        return self.venue.call(lambda s: dict(s.stats))

    def open_orders(self) -> list[Any]:
        return self.venue.call(lambda s: s.engine.open_orders(self.user))

    def stop(self) -> None:
        self.venue.stop()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_async(coro: Coroutine[Any, Any, T], timeout_s: float = 300.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout_s)

    return asyncio.run(bounded())


async def until(pred: Callable[[], Any], timeout_s: float, step_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step_s)
    return True


class OmsRig:
    """Execution's OMS driven through a client, as the execution process wires them.

    Each request the OMS emits is sent as its own task (``ExchangeIO._dispatch``); answers,
    lookups and user-stream events come back through an inbox applied on each :meth:`step`
    with ``procs.exec_io``'s mapping; ``check_timeouts`` runs every step.
    """

    def __init__(self, client: ExchangeClient, coins: tuple[str, ...], cfg: ExecutionConfig | None = None) -> None:
        self.client = client
        self.coins = coins
        self.symbol_of = {c: i for i, c in enumerate(coins)}
        self.cfg = cfg if cfg is not None else ExecutionConfig()
        specs = [SymbolSpec(c, client.asset_of(c), client.rules_of(c).sz_decimals) for c in coins]
        self.oms = Oms(self.cfg, specs, session_id=random.getrandbits(32))
        self.inbox: list[tuple[Any, ...]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.sent: list[ExchangeRequest] = []
        self.lookups = 0
        self.open_order_reads = 0
        self.fills: list[UserFill] = []

    def on_event(self, ev: OrderInfo | UserFill | StreamStatus) -> None:
        self.inbox.append(("event", ev))

    async def _send(self, req: ExchangeRequest | InfoRequest) -> None:
        if isinstance(req, ExchangeRequest):
            try:
                res = await self.client.send_action(req.action())
            except Exception as exc:
                res = ActionResult(action=req.kind, outcome="unknown", error=type(exc).__name__)
            self.inbox.append(("action", req, res))
        elif req.kind == "orderStatus":
            self.lookups += 1
            try:
                self.inbox.append(("status", req, await self.client.order_status(req.cloid)))
            except Exception:
                pass  # the OMS asks again
        else:
            self.open_order_reads += 1
            try:
                self.inbox.append(("open_orders", req, await self.client.open_orders()))
            except Exception:
                pass

    def step(self, now_ns: int | None = None) -> None:
        now = time.time_ns() if now_ns is None else now_ns
        items, self.inbox = self.inbox, []
        oms = self.oms
        for item in items:
            kind = item[0]
            if kind == "event":
                ev = item[1]
                if isinstance(ev, OrderInfo):
                    oms.on_order_update(now, venue_order(ev, self.symbol_of))
                elif isinstance(ev, UserFill):
                    sid = self.symbol_of.get(ev.coin, -1)
                    if sid >= 0:
                        self.fills.append(ev)
                        oms.on_fill(now, sid, ev.cloid, ev.oid, ev.tid, ev.is_buy, ev.px, ev.sz, ev.fee,
                                    not ev.crossed, ev.time_ms)
                elif isinstance(ev, StreamStatus) and ev.kind == "reconnected":
                    oms.request_open_orders(now, "reconnect")
            elif kind == "action":
                apply_action_result(oms, item[1], item[2], now)  # type: ignore[arg-type]
            elif kind == "status":
                found = item[2]
                oms.on_order_status(now, item[1].cloid, venue_order(found, self.symbol_of) if found else None)
            elif kind == "open_orders":
                oms.on_open_orders(now, [venue_order(o, self.symbol_of) for o in item[2]])
        oms.check_timeouts(now)
        reqs = list(oms.requests)
        oms.requests.clear()
        for req in reqs:
            if isinstance(req, ExchangeRequest):
                self.sent.append(req)
            task = asyncio.get_running_loop().create_task(self._send(req))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def run_for(self, seconds: float, before_step: Callable[[], None] | None = None,
                      step_s: float = 0.02) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if before_step is not None:
                before_step()
            self.step()
            await asyncio.sleep(step_s)

    async def settle(self, timeout_s: float = 10.0) -> bool:
        """Step until nothing is in flight, no order is pending or stale, nothing waits."""
        def idle() -> bool:
            self.step()
            live = [r for sid in range(len(self.coins)) for r in self.oms.live_orders(sid)]
            return not self.tasks and not self.inbox and not self.oms.requests and not any(
                r.status in (OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL, OrderStatus.STALE) for r in live)
        return await until(idle, timeout_s, 0.03)


def oms_config(**oms: Any) -> ExecutionConfig:
    cfg = ExecutionConfig()
    return msgspec.structs.replace(cfg, oms=msgspec.structs.replace(cfg.oms, **oms))


def venue_order_count(rig: Rig) -> int:
    """Orders the venue accepted for the account in its life (open, closed and filled alike)."""
    return rig.venue.call(lambda s: s.budget.used(rig.user))


# --------------------------------------------------------------------------- 1. nonces


def _signer_thread(name: str, fn: Callable[[], Coroutine[Any, Any, dict[str, int]]], out: dict[str, Any]) -> threading.Thread:
    def target() -> None:
        try:
            out[name] = asyncio.run(fn())
        except BaseException as exc:  # reported as a failed row
            out[name] = exc

    return threading.Thread(target=target, name=name, daemon=True)


def nonces(ctx: Ctx) -> list[Row]:
    """Execution, the kill-switch sweep that ``mmctl kill`` sets off, and risk's kill path sign
    concurrently at 100 actions/s in all; the venue counts every nonce refusal."""
    sc = "hl_nonces"
    duration_s = 10.0 if ctx.quick else 60.0
    rate_per_s = 100.0
    rows: list[Row] = []
    with Rig.start() as rig:
        # execution and its sweep share the execution key, so they share one nonce stream (a
        # multiprocessing.Value across their threads, as across processes); risk has its own wallet
        exec_nonces = NonceSource(lambda: time.time_ns() // 1_000_000,
                                  shared_allocator(multiprocessing.Value("Q", 0)))
        counts: dict[str, Any] = {}
        per_signer = rate_per_s / 3.0

        async def paced(client: ExchangeClient, one: Callable[[int], Coroutine[Any, Any, ActionResult]]) -> dict[str, int]:
            got = {"sent": 0, "nonce_rejections": 0, "other_rejections": 0, "unknown": 0}
            await client.start()

            async def send(i: int) -> None:
                res = await one(i)
                got["sent"] += 1
                if res.outcome == "rejected":
                    got["nonce_rejections" if "nonce" in res.error.lower() else "other_rejections"] += 1
                elif res.outcome == "unknown":
                    got["unknown"] += 1

            try:  # each action its own task at its due time, as execution sends them (several in flight)
                t0 = time.monotonic()
                i = 0
                tasks = []
                while time.monotonic() - t0 < duration_s:
                    wait = t0 + i / per_signer - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    tasks.append(asyncio.ensure_future(send(i)))
                    i += 1
                await asyncio.gather(*tasks)
            finally:
                await client.close()
            got["nonce_errors_seen"] = client.stats["nonce_errors"]
            return got

        async def execution() -> dict[str, int]:
            c = rig.client("execution", nonce_source=exec_nonces)
            oids: list[int] = []

            async def one(i: int) -> ActionResult:
                if i % 2 == 0 or not oids:
                    r = await c.place([OrderSpec(coin="ETH", is_buy=True, px=2000 + (i % 500) * 0.1, sz=0.01)])
                    oids.extend(st.oid for st in r.statuses if st.kind == "resting")
                    return r
                return await c.cancel([CancelSpec("ETH", oids.pop(0))])

            return await paced(c, one)

        async def sweep() -> dict[str, int]:  # mmctl kill trips the switch; execution's sweep signs
            c = rig.client("execution", nonce_source=exec_nonces, use_ws_post=False)

            async def one(i: int) -> ActionResult:
                listed = rig.open_orders()
                oid = listed[0].oid if listed else 1
                return await c.cancel([CancelSpec("ETH", oid)])

            return await paced(c, one)

        async def risk() -> dict[str, int]:  # risk's independent kill path: own wallet, HTTP only
            c = rig.client("risk", use_ws_post=False)

            async def one(i: int) -> ActionResult:
                listed = rig.open_orders()
                oid = listed[-1].oid if listed else 2
                return await c.cancel([CancelSpec("ETH", oid)])

            return await paced(c, one)

        threads = [_signer_thread("execution", execution, counts), _signer_thread("mmctl-kill-sweep", sweep, counts),
                   _signer_thread("risk-kill-path", risk, counts)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(duration_s + 60)
        wall = time.monotonic() - t0
        errs = [f"{k}: {v!r}" for k, v in counts.items() if isinstance(v, BaseException)]
        if errs or len(counts) != 3:
            return [Row(sc, "signers ran", 0, "", "all 3", False, "; ".join(errs) or "a signer hung")]
        sent = sum(v["sent"] for v in counts.values())
        rejected = sum(v["nonce_rejections"] for v in counts.values())
        mode = f"{duration_s:.0f} s" + (" (quick: shortened from 60 s)" if ctx.quick else "")
        detail = f"{mode}; " + ", ".join(f"{k} {v['sent']}" for k, v in counts.items())
        rows.append(check(sc, "nonce rejections (3 signers)", rejected, "", "==", 0, detail))
        rows.append(check(sc, "signed actions per s (all signers)", sent / duration_s, "/s", ">=", 0.9 * rate_per_s,
                          f"{sent} actions in {wall:.1f} s wall"))

        # control: two call sites with their own now_ms nonces on one key collide, and the venue says so
        frozen = time.time_ns() // 1_000_000

        async def control() -> int:
            a = rig.client("execution", nonce_source=NonceSource(lambda: frozen), use_ws_post=False)
            b = rig.client("execution", nonce_source=NonceSource(lambda: frozen), use_ws_post=False)
            await a.start()
            await b.start()
            try:
                rs = await asyncio.gather(*(c.cancel([CancelSpec("ETH", 1)]) for _ in range(5) for c in (a, b)))
            finally:
                await a.close()
                await b.close()
            return sum(1 for r in rs if r.outcome == "rejected" and "nonce" in r.error.lower())

        caught = run_async(control(), 60)
        rows.append(check(sc, "control: naive now_ms nonces refused", caught, "", ">", 0,
                          "2 call sites x 5 actions on one key, same ms"))
    return rows


# --------------------------------------------------------------------------- 2. a timeout is not a failure


def ack_timeout(ctx: Ctx) -> list[Row]:
    """Every order's reply is held 1.2-1.6 s past the client's 300 ms timeout; meanwhile the
    order rests, or a market trade fills it. The OMS looks each one up by cloid."""
    sc = "hl_ack_timeout"
    n = 6
    with Rig.start(failures={"ack_hold_probability": 1.0, "ack_hold_ms": (1200.0, 1600.0)}) as rig:

        async def go() -> list[Row]:
            # no user stream: the worst case, the lookup by cloid is the only way to learn the outcome
            async with rig.client(post_timeout_ms=300, http_timeout_ms=300) as client:
                om = OmsRig(client, ("BTC", "ETH"), oms_config(ack_timeout_ms=500, reconcile_retry_ms=300))
                eth = 1
                om.oms.set_max_inventory(eth, 10.0)
                targets = [TargetOrder(1, 2995.0 - i, 0.01) for i in range(n)]
                om.oms.sync(eth, targets, time.time_ns(), False)
                om.step()
                await until(lambda: len(rig.open_orders()) == n, 10.0)
                # while the replies are held: a market sell prints through the three highest bids
                rig.venue.apply(trade(1, False, 2992.5, 1.0))
                await om.run_for(0.2)
                settled = await om.settle(20.0)
                recs = {p.cloid: om.oms.status_of(p.cloid) for r in om.sent for p in r.places}
                filled = sum(1 for s in recs.values() if s == OrderStatus.FILLED)
                known = sum(1 for s in recs.values() if s in (OrderStatus.OPEN, OrderStatus.FILLED))
                venue_orders = venue_order_count(rig)
                unknown = client.stats["outcome_unknown"]
                return [
                    check(sc, "duplicate orders at the venue", venue_orders - n, "", "==", 0,
                          f"{venue_orders} placed for {n} wanted; {len(om.sent)} order actions sent"),
                    check(sc, "orders adopted after lookup by cloid", known, "", "==", n,
                          f"{om.lookups} orderStatus lookups, {unknown} unknown outcomes, settled={settled}"),
                    check(sc, "filled while unacknowledged, found filled", filled, "", "==", 3,
                          f"acks held by the venue: {rig.stats()['acks_held']}"),
                ]

        return run_async(go(), 90)


# --------------------------------------------------------------------------- 3. tick and lot


def _oracle_price_ok(px: str, sz_decimals: int) -> bool:
    """The documented tick rule, written independently of ``rules``: integers always; else at most
    5 significant figures and at most 6 - szDecimals decimals."""
    d = Decimal(px)
    if d <= 0:
        return False
    if d == d.to_integral_value():
        return True
    digits = px.replace("-", "").replace(".", "").lstrip("0")
    decimals = len(px.split(".")[1]) if "." in px else 0
    return len(digits) <= 5 and decimals <= 6 - sz_decimals


def tick_lot(ctx: Ctx) -> list[Row]:
    """Prices log-uniform in 1e-5..1e6 and sizes worth $12-$40, formatted by the client for a meta
    with every szDecimals value 0..5, checked by an independent oracle and sent to the venue."""
    sc = "hl_tick_lot"
    coins = tuple(CoinConfig(name=f"C{d}", sz_decimals=d, max_leverage=50) for d in range(6))
    rng = random.Random(ctx.seed)
    per_coin = 60 if ctx.quick else 400
    rows: list[Row] = []
    with Rig.start(coins=coins, balance_usd=1e12, matching={"margin_check": False}) as rig:

        async def go() -> tuple[int, int, int, dict[str, int]]:
            async with rig.client(use_ws_post=False) as client:
                oracle_bad = 0
                venue_rejects: dict[str, int] = {}
                sent = 0
                local = 0
                for c in coins:
                    specs = []
                    for _ in range(per_coin):
                        px = 10 ** rng.uniform(-5, 6)
                        is_buy = rng.random() < 0.5
                        r = client.rules_of(c.name)
                        p = r.format_price(px, rules.Rounding.DOWN if is_buy else rules.Rounding.UP)
                        lot = Decimal(1).scaleb(-c.sz_decimals)
                        sz = max(Decimal(rng.uniform(12, 40)) / Decimal(p), lot).quantize(lot, rounding="ROUND_UP")
                        if not _oracle_price_ok(p, c.sz_decimals) or sz != sz.quantize(lot):
                            oracle_bad += 1
                        specs.append(OrderSpec(coin=c.name, is_buy=is_buy, px=px, sz=sz))
                    for i in range(0, len(specs), 40):
                        res = await client.place(specs[i:i + 40])
                        for st in res.statuses:
                            sent += 1
                            if st.kind == "error":
                                local += int(bool(getattr(st, "local", False)))
                                key = st.error.split(" asset=")[0]
                                venue_rejects[key] = venue_rejects.get(key, 0) + 1
                return sent, oracle_bad, local, venue_rejects

        sent, oracle_bad, local, rejects = run_async(go(), 240)
        tick_lot_rejects = sum(v for k, v in rejects.items() if k in (rules.ERR_TICK, rules.ERR_INVALID_SIZE,
                                                                        rules.ERR_MIN_NOTIONAL))
        rows.append(check(sc, "formatted prices failing the documented rule", oracle_bad, "", "==", 0,
                          f"{sent} prices, szDecimals 0..5, 1e-5..1e6"))
        rows.append(check(sc, "venue tick/lot/notional rejects", tick_lot_rejects, "", "==", 0,
                          f"{sent} orders sent; other errors: {rejects or 'none'}; refused locally {local}"))
    return rows


# --------------------------------------------------------------------------- 4. rate limits


def rate_limits(ctx: Ctx) -> list[Row]:
    """Cancel/replace churn in a fast market through the OMS and its limiter; then the
    address budget is spent and cancels must still pass."""
    sc = "hl_rate_limits"
    churn_s = 4.0 if ctx.quick else 20.0
    initial = 60 if ctx.quick else 300
    trickle_s = 2.0  # Hyperliquid: 10 s; shorter so the row is quick
    limits = {"enabled": True, "ip_weight_per_min": 1200, "address_initial_requests": initial,
              "cancel_extra_requests": 100_000, "trickle_interval_s": trickle_s}
    rows: list[Row] = []
    with Rig.start(rate_limits=limits) as rig:

        async def go() -> list[Row]:
            async with rig.client() as client:
                cfg = oms_config(ack_timeout_ms=2000)
                cfg = msgspec.structs.replace(cfg, rate_limit=msgspec.structs.replace(
                    cfg.rate_limit, ip_weight_per_min=1200, address_initial_requests=initial))
                om = OmsRig(client, ("BTC", "ETH"), cfg)
                await client.subscribe_user_events(om.on_event)
                eth = 1
                om.oms.set_max_inventory(eth, 10.0)
                mid = [2950.0]

                def churn() -> None:  # the market moves every step; the quotes chase it
                    mid[0] += random.choice((-0.5, 0.5))
                    om.oms.sync(eth, [TargetOrder(1, round(mid[0] - 1, 1), 0.01),
                                      TargetOrder(-1, round(mid[0] + 80, 1), 0.01)], time.time_ns(), False)

                http_429_before = rig.stats()["http_429"]
                await om.run_for(churn_s, churn)
                await om.settle(10)
                st = rig.stats()
                used = rig.call(lambda s: s.budget.used(rig.user))
                venue_refused = client.stats["outcome_rejected"]
                out = [
                    check(sc, "venue 429s during churn", st["http_429"] - http_429_before, "", "==", 0,
                          f"{len(om.sent)} actions in {churn_s:.0f} s"),
                    check(sc, "venue budget refusals during churn", venue_refused, "", "==", 0,
                          f"charged {used} of cap {initial}"),
                    check(sc, "limiter held orders back (reserve for cancels)", om.oms.limiter.refused, "", ">", 0,
                          "the churn reached the budget"),
                ]
                # spend what is left of the budget, so only cancels (and the trickle) may pass
                oids: list[int] = []
                while True:
                    r = await client.place([OrderSpec(coin="ETH", is_buy=True, px=2000 + len(oids) * 0.1, sz=0.01)])
                    if r.outcome != "ok":
                        refusal = r.error
                        break
                    oids.extend(s.oid for s in r.statuses if s.kind == "resting")
                await asyncio.sleep(trickle_s + 0.2)
                trickle = await client.place([OrderSpec(coin="ETH", is_buy=True, px=1999, sz=0.01)])
                again = await client.place([OrderSpec(coin="ETH", is_buy=True, px=1998, sz=0.01)])
                cancel_ok = 0
                for i in range(0, len(oids), 20):
                    cr = await client.cancel([CancelSpec("ETH", o) for o in oids[i:i + 20]])
                    cancel_ok += sum(1 for s in cr.statuses if s.kind == "success")
                out.append(check(sc, "cancels passing after the budget is spent", cancel_ok, "", "==", len(oids),
                                 f"refusal: {refusal[:60]}..."))
                out.append(check(sc, "refusal is Hyperliquid's string", int(refusal.startswith(
                    "Too many cumulative requests sent")), "", "==", 1, ""))
                out.append(check(sc, f"trickle past the cap (1 per {trickle_s:g} s)", int(trickle.outcome == "ok")
                                 + int(again.outcome == "rejected"), "", "==", 2,
                                 f"first {trickle.outcome}, next {again.outcome}"))
                return out

        rows = run_async(go(), 120)
    return rows


# --------------------------------------------------------------------------- 5. websocket drops


def ws_drops(ctx: Ctx) -> list[Row]:
    """The venue cuts every websocket (1006) every few seconds while the market trades through
    our orders; the feed resubscribes and resynchronises, the client recovers missed fills."""
    sc = "hl_ws_drops"
    every_s = 2.0
    run_s = 8.0 if ctx.quick else 40.0
    rows: list[Row] = []
    with Rig.start(failures={"ws_drop_every_s": every_s}, ws={"idle_timeout_s": 60.0}) as rig:

        async def go() -> list[Row]:
            books: dict[int, Any] = {}
            feed_events = [0]

            def on_md(ev: Any) -> None:
                feed_events[0] += 1
                if isinstance(ev, BookSnapshot):
                    books[ev.symbol_id] = ev

            feed = _make_feed(rig.venue.url, on_md)
            feed_task = asyncio.get_running_loop().create_task(feed.run())
            fills: dict[tuple[int, int], UserFill] = {}
            reconnects = [0]

            def on_user(ev: Any) -> None:
                if isinstance(ev, UserFill):
                    fills[(ev.oid, ev.tid)] = ev
                elif isinstance(ev, StreamStatus) and ev.kind == "reconnected":
                    reconnects[0] += 1

            rng = random.Random(ctx.seed)
            async with rig.client(post_timeout_ms=1000) as client:
                await client.subscribe_user_events(on_user)
                t0 = time.monotonic()
                px = 3000.0
                while time.monotonic() - t0 < run_s:
                    # a resting bid below the touch, then the market sells through it
                    await client.place([OrderSpec(coin="ETH", is_buy=True, px=px - 1.0, sz=0.01)])
                    await asyncio.sleep(rng.uniform(0.05, 0.4))
                    rig.venue.apply(trade(1, False, px - 1.5, 0.05))
                    px += rng.choice((-0.5, 0.5))
                    rig.venue.apply(book(1, [(px, 10.0)], [(px + 0.1, 10.0)]))
                    await asyncio.sleep(rng.uniform(0.05, 0.3))
                # quiet: let the last reconnect and recovery finish, then compare with the venue
                await asyncio.sleep(every_s + 1.5)
                await until(lambda: client.ws_connected, 10)
                await asyncio.sleep(0.5)
                venue_fills = await client.user_fills()
                missed = sum(1 for f in venue_fills if (f.oid, f.tid) not in fills)
                acct = await client.clearinghouse_state()
                venue_pos = acct.position_map().get("ETH", 0.0)
                local_pos = sum(f.sz if f.is_buy else -f.sz for f in fills.values())
                l2 = await _venue_l2(client)
                await asyncio.sleep(1.0)
                fb = books.get(1)
                book_ok = fb is not None and l2 is not None and abs(fb.bid_px[0] - l2[0]) < 1e-9 and \
                    abs(fb.ask_px[0] - l2[1]) < 1e-9
            feed_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feed_task
            st = rig.stats()
            conns = feed.stats.connects
            return [
                check(sc, "fills missed", missed, "", "==", 0,
                      f"{len(venue_fills)} fills, {st['ws_periodic_drops']} sockets cut every {every_s:.0f} s "
                      f"over {run_s:.0f} s, {reconnects[0]} user-stream reconnects"),
                check(sc, "position mismatch", round(abs(local_pos - venue_pos), 9), "", "==", 0,
                      f"venue {venue_pos:g}, from fills {local_pos:g}"),
                check(sc, "feed book equals venue top after resync", int(book_ok), "", "==", 1,
                      f"feed connects {conns}, md events {feed_events[0]}"),
            ]

        rows = run_async(go(), 180)
        rows.append(_idle_close_row(sc))
    return rows


def _make_feed(url: str, on_event: Callable[[Any], None]) -> Any:
    from mm.venues.hyperliquid.feed import HyperliquidFeed

    return HyperliquidFeed("ws" + url[len("http"):] + "/ws", {"BTC": 0, "ETH": 1}, on_event,
                           ping_interval_ms=5_000, dead_after_ms=10_000)


async def _venue_l2(client: ExchangeClient) -> tuple[float, float] | None:
    bid, ask = await client.top_of_book("ETH")
    if bid is None or ask is None:
        return None
    return bid, ask


def _idle_close_row(sc: str) -> Row:
    """A connection the venue has sent nothing on is closed after the idle timeout (60 s on
    Hyperliquid; 1.5 s here so the row is quick)."""
    import aiohttp

    idle_s = 1.5
    with Rig.start(ws={"idle_timeout_s": idle_s, "send_banner": False}) as rig:

        async def go() -> float:
            async with aiohttp.ClientSession() as s, s.ws_connect("ws" + rig.venue.url[4:] + "/ws") as ws:
                t0 = time.monotonic()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.receive(), 15)
                return time.monotonic() - t0

        closed_after = run_async(go(), 30)
    return check(sc, "silent connection closed after (idle 1.5 s)", closed_after, "s", "<=", idle_s + 1.0,
                 "Hyperliquid closes after 60 s; same code path")


# --------------------------------------------------------------------------- 6. ALO rejects and post-only windows


def alo_bbo(ctx: Ctx) -> list[Row]:
    """The book moves under stale quotes: each post-only reject carries the BBO (with the
    `` asset=N`` suffix); the OMS keeps it and the quote is repriced from it at once."""
    sc = "hl_alo_bbo"
    rounds = 5 if ctx.quick else 20
    with Rig.start() as rig:

        async def go() -> list[Row]:
            async with rig.client() as client:
                om = OmsRig(client, ("BTC", "ETH"), oms_config(ack_timeout_ms=3000))
                eth = 1
                om.oms.set_max_inventory(eth, 10.0)
                rejects = suffixed = repriced = parsed_ok = 0
                retries: list[int] = []
                px = 3000.0
                for _ in range(rounds):
                    # the market drops 20; our view is stale: the bid goes where the ask now is
                    stale_bid = px
                    px -= 20.0
                    rig.venue.apply(book(1, [(px, 10.0)], [(px + 0.1, 10.0)]))
                    om.oms.sync(eth, [TargetOrder(1, stale_bid, 0.01)], time.time_ns(), False)
                    await om.settle(5)
                    tries = 1
                    hint = om.oms.alo_bbo(eth)
                    last = [r for r in om.oms.live_orders(eth) if r.status == OrderStatus.OPEN]
                    if not last and hint is not None:
                        rejects += 1
                        bid, ask, _ = hint
                        parsed_ok += int(abs(bid - px) < 1e-9 and abs(ask - (px + 0.1)) < 1e-9)
                        om.oms.sync(eth, [TargetOrder(1, bid, 0.01)], time.time_ns(), False)
                        await om.settle(5)
                        tries += 1
                        if [r for r in om.oms.live_orders(eth) if r.status == OrderStatus.OPEN]:
                            repriced += 1
                    retries.append(tries)
                    om.oms.cancel_all(time.time_ns(), "next round")
                    await om.settle(5)
                # the raw strings, straight from the client
                rig.venue.apply(book(1, [(px, 10.0)], [(px + 0.1, 10.0)]))
                raw = await client.place([OrderSpec(coin="ETH", is_buy=True, px=px + 0.1, sz=0.01)])
                err = raw.statuses[0].error
                suffixed = int(err.startswith("Post only order would have immediately matched, bbo was ")
                               and err.endswith(" asset=1") and _close(parse_alo_bbo(err), (px, px + 0.1)))
                return [
                    check(sc, "ALO rejects repriced from the BBO", repriced, "", "==", rejects,
                          f"{rejects} rejects in {rounds} stale quotes; BBO parsed right {parsed_ok}"),
                    check(sc, "sends per quote (1 reject + 1 reprice)", max(retries) if retries else 0, "", "<=", 2, ""),
                    check(sc, "reject string with bbo and asset suffix", suffixed, "", "==", 1, err),
                ]

        return run_async(go(), 120)


def post_only_window(ctx: Ctx) -> list[Row]:
    """A post-only-only window (as after an upgrade): the exit (IOC) is refused with the
    venue's message every time it is tried; the OMS paces it (no retry storm), quotes stay
    post-only and rest, and the exit goes through once the window closes."""
    sc = "hl_post_only_window"
    window_s = 4.0
    with Rig.start(failures={"post_only_windows_s": ((0.0, 0.0),)}) as rig:

        async def go() -> list[Row]:
            async with rig.client() as client:
                cfg = oms_config(ack_timeout_ms=3000, min_aggressive_interval_ms=1000)
                om = OmsRig(client, ("BTC", "ETH"), cfg)
                await client.subscribe_user_events(om.on_event)
                eth = 1
                om.oms.set_max_inventory(eth, 10.0)
                # open the window now, for window_s
                rig.call(lambda s: setattr(s, "_started_s", time.monotonic()) or None)
                rig.call(lambda s: _set_window(s, window_s))
                t_start = time.monotonic()

                def exit_loop() -> None:  # every 20 ms the strategy wants out: IOC buy at the ask + a quote
                    if om.oms.effective_position(eth) < 0.009:
                        om.oms.sync(eth, [TargetOrder(1, 3000.1, 0.01, tif="Ioc", aggressive=True),
                                          TargetOrder(-1, 3050.0, 0.01)], time.time_ns(), False)
                    else:
                        om.oms.sync(eth, [TargetOrder(-1, 3050.0, 0.01)], time.time_ns(), False)

                await om.run_for(window_s, exit_loop)
                ioc_in_window = sum(1 for r in om.sent if r.kind == "order" and any(
                    o.t.limit is not None and o.t.limit.tif == "Ioc" for o in r.action().orders))
                quotes_resting = sum(1 for o in rig.open_orders() if not o.is_buy)
                await om.run_for(3.0, exit_loop)
                t_exit = time.monotonic() - t_start
                pos = om.oms.effective_position(eth)
                storm_bound = window_s / (cfg.oms.min_aggressive_interval_ms / 1000.0) + 1
                return [
                    check(sc, "IOC exits sent during the window", ioc_in_window, "", "<=", storm_bound,
                          f"exit wanted every 20 ms for {window_s:.0f} s ({window_s / 0.02:.0f} cycles)"),
                    check(sc, "post-only quotes resting in the window", quotes_resting, "", ">=", 1, ""),
                    check(sc, "exit filled after the window", round(pos, 6), "", "==", 0.01,
                          f"position after {t_exit:.1f} s"),
                ]

        return run_async(go(), 60)


def _close(got: tuple[float, float] | None, want: tuple[float, float]) -> bool:
    return got is not None and all(abs(g - w) < 1e-9 for g, w in zip(got, want, strict=True))


def _set_window(s: VenueServer, length_s: float) -> None:
    s.failures._cfg = msgspec.structs.replace(s.failures.config, post_only_windows_s=((0.0, length_s),))


# --------------------------------------------------------------------------- 7. scheduleCancel


def schedule_cancel(ctx: Ctx) -> list[Row]:
    """scheduleCancel's rules (5 s lead, 10 triggers a UTC day, the $1M volume gate with
    Hyperliquid's refusal); with the gate on the kill path still cancels everything in time."""
    sc = "hl_schedule_cancel"
    deadline_s = 5.0
    n_orders = 40
    trader = Account.create()
    rows: list[Row] = []
    with Rig.start(schedule_cancel={"volume_gate_usd": 1_000_000.0},
                   extra_users=(UserConfig(address=trader.address, cum_volume_usd=2_000_000.0),)) as rig:

        async def go() -> list[Row]:
            out: list[Row] = []
            async with rig.client() as client:
                dms = DeadMansSwitch(client, lead_s=30.0, refresh_s=10.0)
                res = await dms.refresh()
                st = dms.status()
                gate_msg = res.error if res is not None else ""
                want = "Cannot set scheduled cancel time until enough volume traded. Required: $1000000. Traded: $"
                out.append(check(sc, "volume gate refusal (HL string)", int(gate_msg.startswith(want)
                                                                              and st.refused_volume), "", "==", 1,
                                 gate_msg))
                # orders placed, then the kill path (risk's own wallet) with the switch refused
                for i in range(0, n_orders, 20):
                    await client.place([OrderSpec(coin="ETH", is_buy=True, px=2900 - (i + j) * 0.1, sz=0.01)
                                        for j in range(20)])
            async with rig.client("risk", use_ws_post=False) as risk:
                rep = await cancel_everything(risk, deadline_s)
            out.append(check(sc, "kill path confirm time (gate on)", rep.confirm_ms / 1000.0, "s", "<=", deadline_s,
                             f"{rep.cancelled} cancelled in {rep.rounds} round(s)"))
            out.append(check(sc, "orders left open after the kill path", len(rig.open_orders()), "", "==", 0, ""))
            # the rules, for an account past the gate
            t = ExchangeClient(http_url=rig.venue.url, key=AgentKey.from_hex(trader.key.hex(), "trader"),
                               use_ws_post=False)
            async with t:
                now = int(time.time() * 1000) + rig.clock_offset_ms[0]
                early = await t.schedule_cancel(now + 2000)
                accepted = 0
                refused = ""
                for _ in range(11):
                    now = int(time.time() * 1000) + rig.clock_offset_ms[0]
                    r = await t.schedule_cancel(now + 5500)
                    if r.outcome != "ok":
                        refused = r.error
                        break
                    accepted += 1
                    rig.clock_offset_ms[0] += 6000  # the venue's clock passes the time: it triggers
                    await until(lambda: not rig.call(lambda s: bool(s._dms)), 5)
            out.append(check(sc, "less than 5 s ahead refused", int(early.outcome == "rejected"), "", "==", 1,
                             early.error))
            out.append(check(sc, "triggers accepted before the daily cap", accepted, "", "==", 10,
                             f"then: {refused}"))
            return out

        rows = run_async(go(), 120)
    return rows


# --------------------------------------------------------------------------- 8. state drift


def state_drift(ctx: Ctx) -> list[Row]:
    """The venue drops a share of orderUpdates and userFills items. The stream-built view is
    reconciled against the venue: every dropped fill and every lost final status is found,
    and the repaired view equals the venue's."""
    sc = "hl_state_drift"
    share = 0.3
    n = 30 if ctx.quick else 120
    with Rig.start(failures={"user_event_drop_share": share}) as rig:

        async def go() -> list[Row]:
            seen: dict[tuple[int, int], UserFill] = {}
            last_status: dict[int, str] = {}

            def on_user(ev: Any) -> None:
                if isinstance(ev, UserFill):
                    seen[(ev.oid, ev.tid)] = ev
                elif isinstance(ev, OrderInfo):
                    last_status[ev.oid] = ev.status

            async with rig.client() as client:
                await client.subscribe_user_events(on_user)
                t_start = int(time.time() * 1000) - 1000
                placed: dict[int, tuple[str, float, float]] = {}  # oid -> cloid, px, qty
                rng = random.Random(ctx.seed)
                for _ in range(0, n, 10):
                    specs = [OrderSpec(coin="ETH", is_buy=True, px=2990.0 - rng.randrange(0, 40) * 0.5, sz=0.02)
                             for _ in range(10)]
                    res = await client.place(specs)
                    for spec, st in zip(specs, res.statuses, strict=True):
                        if st.kind == "resting":
                            placed[st.oid] = (st.cloid or "", float(rules.format_price(spec.px, 4,
                                                                                        rounding=rules.Rounding.DOWN)), 0.02)
                            last_status.setdefault(st.oid, "open")
                # the market sells through some of them, in part or in full
                for _ in range(12):
                    rig.venue.apply(trade(1, False, 2990.0 - rng.randrange(0, 40) * 0.5, rng.choice((0.01, 0.03))))
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)
                local = []
                for oid, (cloid, px, qty) in placed.items():
                    filled = sum(f.sz for f in seen.values() if f.oid == oid)
                    status = OrderStatus.OPEN if last_status.get(oid) == "open" else OrderStatus.FILLED
                    local.append(LocalOrder(cloid=cloid, coin="ETH", is_buy=True, px=px, qty=qty, oid=oid,
                                            filled_qty=filled, status=int(status)))
                local_pos = sum(f.sz if f.is_buy else -f.sz for f in seen.values())
                rep = await client.reconcile(local, local_positions={"ETH": local_pos}, seen_fills=list(seen),
                                             unknown_policy="adopt", fills_since_ms=t_start, execute_cancels=False)
                plan = rep.plan
                venue_open = {o.oid for o in rep.venue_open_after}
                # orders whose final status update was lost: live locally, not open at the venue
                lost_final = [o for o in local if o.status == OrderStatus.OPEN and o.oid not in venue_open]
                statuses = {o.oid: (await client.order_status(o.oid)) for o in lost_final}
                st = rig.stats()
                dropped = rig.call(lambda s: list(s.dropped_user_events))
                dropped_fills = {(oid, x) for kind, oid, x in dropped if kind == "fill"}
                dropped_final = {oid for kind, oid, x in dropped if kind == "update" and x != "open"
                                 and oid in placed}
                detected_fills = {(f.oid, f.tid) for f in plan.missed_fills}
                # repair: apply the missed fills and the venue's statuses; compare with the venue
                repaired_pos = local_pos + sum(f.sz if f.is_buy else -f.sz for f in plan.missed_fills)
                venue_pos = rep.positions.get("ETH", 0.0)
                still_wrong = sum(1 for oid, info in statuses.items() if info is None or info.status == "open")
                return [
                    check(sc, "dropped fills detected / injected", len(detected_fills & dropped_fills), "", "==",
                          len(dropped_fills), f"{len(dropped_fills)} fills dropped of {len(seen) + len(dropped_fills)}; "
                          f"detected {len(detected_fills)} (extra {len(detected_fills - dropped_fills)})"),
                    check(sc, "lost final statuses detected / injected", len({o.oid for o in lost_final}), "", "==",
                          len(dropped_final), f"{st['order_updates_dropped']} order updates dropped in all "
                          f"(share {share:g}); plan counts {dict((k, v) for k, v in plan.counts.items() if v)}"),
                    check(sc, "position mismatch after repair", abs(repaired_pos - venue_pos), "", "==", 0,
                          f"venue {venue_pos:g}, stream-only {local_pos:g}"),
                    check(sc, "order statuses wrong after repair", still_wrong, "", "==", 0, ""),
                ]

        return run_async(go(), 120)


# --------------------------------------------------------------------------- the SDK sees Hyperliquid's strings


def sdk_strings(ctx: Ctx) -> list[Row]:
    """The official hyperliquid-python-sdk, pointed at the paper venue, meets each failure and
    receives the strings of HYPERLIQUID_WIRE.md."""
    from hyperliquid.exchange import Exchange
    from hyperliquid.utils.types import Cloid

    sc = "hl_sdk_strings"
    with Rig.start(schedule_cancel={"volume_gate_usd": 1_000_000.0},
                   rate_limits={"enabled": True, "address_initial_requests": 3, "ip_weight_per_min": 100_000,
                                "trickle_interval_s": 0.0}) as rig:
        wallet = Account.from_key(rig.exec_key)
        ex = Exchange(wallet, rig.venue.url, account_address=rig.user)
        stranger = Exchange(Account.create(), rig.venue.url)
        got: list[tuple[str, str, str]] = []

        def first_error(resp: Any) -> str:
            if resp.get("status") == "err":
                return str(resp["response"])
            st = resp["response"]["data"]["statuses"][0]
            return st["error"] if isinstance(st, dict) and "error" in st else str(st)

        alo = first_error(ex.order("ETH", True, 0.01, 3000.1, {"limit": {"tif": "Alo"}}))
        got.append(("BadAloPx", alo, "Post only order would have immediately matched, bbo was 3000.0@3000.1 asset=1"))
        tick = first_error(ex.order("ETH", True, 0.01, 2990.123, {"limit": {"tif": "Gtc"}}))
        got.append(("Tick", tick, "Price must be divisible by tick size. asset=1"))
        small = first_error(ex.order("ETH", True, 0.001, 2990.0, {"limit": {"tif": "Gtc"}}))
        got.append(("MinTradeNtl", small, "Order must have minimum value of $10. asset=1"))
        cancel = first_error(ex.cancel("ETH", 424242))
        got.append(("cancel (missing)", cancel, "Order was never placed, already canceled, or filled. asset=1"))
        gate = first_error(ex.schedule_cancel(int(time.time() * 1000) + 60_000))
        got.append(("scheduleCancel gate", gate, "Cannot set scheduled cancel time until enough volume traded. "
                                                 "Required: $1000000. Traded: $0.0"))
        unknown = first_error(stranger.order("ETH", True, 0.01, 2900.0, {"limit": {"tif": "Gtc"}}))
        got.append(("unknown signer", unknown, f"User or API Wallet {stranger.wallet.address.lower()} does not exist."))
        budget = first_error(ex.order("ETH", True, 0.01, 2900.0, {"limit": {"tif": "Gtc"}},
                                      cloid=Cloid.from_str("0x" + "ab" * 16)))
        got.append(("address budget", budget, "Too many cumulative requests sent"))
        # a replayed nonce: the same signed body posted twice
        from hyperliquid.utils.signing import get_timestamp_ms, sign_l1_action
        action = {"type": "cancel", "cancels": [{"a": 1, "o": 1}]}
        nonce = get_timestamp_ms()
        sig = sign_l1_action(wallet, action, None, nonce, None, False)
        ex._post_action(action, sig, nonce)
        replay = first_error(ex._post_action(action, sig, nonce))
        got.append(("nonce replay", replay, "Invalid nonce"))
        bad = [(name, g, w) for name, g, w in got if not g.lower().startswith(w.lower()[:60].lower())
               and not (name == "unknown signer" and g.lower() == w.lower())]
        detail = "; ".join(f"{n}: got {g!r}" for n, g, _ in bad) or ", ".join(n for n, _, _ in got)
        return [check(sc, "SDK error strings differing from HL's", len(bad), "", "==", 0, detail)]


SCENARIOS: list[Scenario] = [
    Scenario("hl_nonces", nonces, fast=False, doc="3 signers at 100 actions/s for 60 s: 0 nonce rejections"),
    Scenario("hl_ack_timeout", ack_timeout, fast=True, doc="ack held past the timeout: 0 duplicates, adopted by cloid"),
    Scenario("hl_tick_lot", tick_lot, fast=True, doc="formatter vs every szDecimals, 1e-5..1e6: 0 rejects"),
    Scenario("hl_rate_limits", rate_limits, fast=True, doc="churn stays in budget; spent budget: cancels pass"),
    Scenario("hl_ws_drops", ws_drops, fast=True, doc="1006 every 2 s: 0 fills missed, 0 position mismatch"),
    Scenario("hl_alo_bbo", alo_bbo, fast=True, doc="ALO reject carries the BBO: repriced from it"),
    Scenario("hl_post_only_window", post_only_window, fast=True, doc="post-only-only window: no retry storm"),
    Scenario("hl_schedule_cancel", schedule_cancel, fast=True, doc="scheduleCancel rules; kill path in deadline"),
    Scenario("hl_state_drift", state_drift, fast=True, doc="dropped user events: detected == injected"),
    Scenario("hl_sdk_strings", sdk_strings, fast=True, doc="official SDK gets Hyperliquid's error strings"),
]
