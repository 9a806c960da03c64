"""Stateful test: the execution engine (state machine + OMS) trading against the sim matching engine.

Hypothesis drives the market (book moves, spreads, prints at and through our prices), the
features and alpha inputs, risk's control state, the kill switch, time, and faults on the
link (a lost response, a request refused before it reached the venue, lost order-update
pushes). The venue is ``mm.venues.sim.matching.MatchingEngine``: requests take effect there
after a delay, and what it answers goes back through the engine's feedback methods, as the
exchange client will do it.

Invariants checked after every step (ARCHITECTURE "Invariants", issue 6):

- |inventory| <= max at the venue, after any sequence of fills the limits allowed;
- ask > bid on every quote set;
- no passive quote with negative queue value outside InventoryReduce;
- never Maker while Toxic;
- never two resting orders of ours on one side at the venue (nothing duplicated);
- every order ever sent is accounted for (a record and a status for each cloid, status
  counts summing to the orders sent) and, once the link is drained, every status and the
  position agree with the venue's.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mm.execution.config import SymbolLimits
from mm.execution.engine import ExecutionEngine
from mm.execution.lifecycle import TERMINAL, ExchangeRequest, InfoRequest, VenueOrder, venue_status
from mm.execution.mode_handlers import PriceGrid, SymbolSpec
from mm.schema import N_DEPTH, ExecMode, OrderStatus, Toxicity
from mm.venues.sim.config import CoinConfig, MatchingConfig, UserConfig
from mm.venues.sim.matching import FillEvent, MatchingEngine, OrderRequest, OrderUpdateEvent
from tests.execution.helpers import config, control, signal, snap

COIN = "X"
SZ_DECIMALS = 1
USER = "0x" + "aa" * 20
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
LINK_DELAY_NS = 50 * MS
MAX_INV = 3.0


class ExecutionAgainstSim(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sim = MatchingEngine([CoinConfig(name=COIN, sz_decimals=SZ_DECIMALS)], MatchingConfig(), None,
                                  [UserConfig(address=USER, balance_usd=1e7, leverage=20)])
        cfg = config(symbol_limits={COIN: SymbolLimits(max_inventory_qty=MAX_INV, quote_qty=1.2)})
        self.ex = ExecutionEngine(1, cfg, [SymbolSpec(COIN, 0, SZ_DECIMALS)], session_id=0xABC)
        self.grid = PriceGrid(SZ_DECIMALS)
        self.now = T0
        self.killed = False
        self.in_flight: list[tuple[int, ExchangeRequest | InfoRequest, bool, bool]] = []
        self.lose_next_response = False
        self.refuse_next_request = False
        self.lose_updates = False
        self.link_down = ""  # "", "refusing" (nothing gets through) or "mute" (requests land, answers are lost)
        self.sent_cloids: set[str] = set()
        self.feat: dict[str, Any] = dict(toxicity=1, toxic_prob=0.05, regime=0, ofi=0.0, sigma=0.5)
        self.target = 0.0
        self.skew = 0.0
        self.ex.on_control(control())
        self._book(100.5, 40, 5.0)

    # ------------------------------------------------------------------ venue side

    def _book(self, mid: float, spread_ticks: int, size: float) -> None:
        g = self.grid
        bid = g.floor_px(mid)
        for _ in range(spread_ticks // 2):
            bid = g.down(bid)
        ask = g.up(bid, spread_ticks)
        bids, asks = [], []
        b, a = bid, ask
        for i in range(N_DEPTH):
            bids.append((b, size + i))
            asks.append((a, size + i))
            b, a = g.down(b), g.up(a)
        self.sim.apply_book_snapshot(COIN, bids, asks, self.now)
        self._pump()

    def _pump(self) -> None:
        """The venue's pushes: our fills and order updates (lost while the link is down)."""
        rules = self.sim.books[COIN].rules
        for ev in self.sim.drain_events():
            if isinstance(ev, FillEvent) and ev.user == USER and not self.link_down:
                self.ex.on_fill(self.now, 0, ev.cloid, ev.oid, ev.tid, ev.is_buy, ev.px_units / rules.px_units_per_one,
                                ev.lots / rules.lots_per_one, ev.fee_usd, not ev.crossed, ev.time_ms)
            elif isinstance(ev, OrderUpdateEvent) and ev.user == USER and not self.lose_updates and not self.link_down:
                self.ex.on_order_update(self.now, self._venue_order(ev.oid))
        self._route()

    def _venue_status(self, target: int | str) -> str:
        """The order's status as orderStatus should say it.

        Works around the sim keeping status "open" on a taker order that filled on arrival
        (it is in no book and gets no "filled" update): such an order is filled.
        """
        o = self.sim.find_order(USER, target)
        assert o is not None
        acct = self.sim.account(USER)
        assert acct is not None
        if o.status == "open" and o.oid not in acct.open_orders:
            return "filled" if o.rem_lots == 0 else "canceled"
        return o.status

    def _venue_order(self, target: int | str) -> VenueOrder:
        o = self.sim.find_order(USER, target)
        assert o is not None
        rules = self.sim.books[COIN].rules
        return VenueOrder(symbol_id=0, oid=o.oid, cloid=o.cloid, is_buy=o.is_buy, px=o.px / rules.px_units_per_one,
                          rem_qty=o.rem_lots / rules.lots_per_one, orig_qty=o.orig_lots / rules.lots_per_one,
                          status=self._venue_status(o.oid))

    def _route(self) -> None:
        for req in self.ex.drain_requests():
            if isinstance(req, ExchangeRequest):
                for p in req.places:
                    self.sent_cloids.add(p.cloid)
                for m in req.modifies:
                    self.sent_cloids.add(m.order.cloid)
            lose = self.lose_next_response or self.link_down == "mute"
            refuse = self.refuse_next_request or self.link_down == "refusing"
            self.in_flight.append((self.now + LINK_DELAY_NS, req, lose, refuse))
            self.lose_next_response = self.refuse_next_request = False

    def _deliver(self) -> None:
        while self.in_flight and self.in_flight[0][0] <= self.now:
            _, req, lose, refuse = self.in_flight.pop(0)
            if isinstance(req, InfoRequest):
                if not (lose or refuse):
                    self._answer_info(req)
            elif refuse:
                self.ex.on_request_failed(req.request_id, self.now, False, "HTTP 429")
            else:
                self._apply(req, lose)
            self._pump()

    def _apply(self, req: ExchangeRequest, lose: bool) -> None:
        now = self.now
        if req.kind == "order":
            for p in req.places:
                out = self.sim.place_order(USER, OrderRequest(asset=p.asset, is_buy=p.is_buy, px=p.px, sz=p.sz,
                                                              tif=p.tif, reduce_only=p.reduce_only, cloid=p.cloid), now)
                if not lose:
                    self.ex.on_order_result(p.cloid, now, out.kind, out.oid, float(out.total_sz or 0), out.error)
        elif req.kind == "batchModify":
            for m in req.modifies:
                o = m.order
                out = self.sim.modify(USER, m.oid, OrderRequest(asset=o.asset, is_buy=o.is_buy, px=o.px, sz=o.sz,
                                                                tif=o.tif, reduce_only=o.reduce_only, cloid=o.cloid), now)
                if not lose:
                    self.ex.on_order_result(o.cloid, now, out.kind, out.oid, float(out.total_sz or 0), out.error)
        else:
            for c in req.cancels:
                err = (self.sim.cancel(USER, c.asset, c.oid, now) if req.kind == "cancel"
                       else self.sim.cancel_by_cloid(USER, c.asset, c.cloid, now))
                if not lose:
                    self.ex.on_cancel_result(c.cloid, now, err is None, err or "")

    def _answer_info(self, req: InfoRequest) -> None:
        if req.kind == "orderStatus":
            o = self.sim.find_order(USER, req.cloid)
            self.ex.on_order_status(self.now, req.cloid, None if o is None else self._venue_order(o.oid))
        else:
            self.ex.on_open_orders(self.now, [self._venue_order(o.oid) for o in self.sim.open_orders(USER)])

    def _position(self) -> float:
        acct = self.sim.account(USER)
        assert acct is not None
        return acct.position(COIN).lots / self.sim.books[COIN].rules.lots_per_one

    # ------------------------------------------------------------------ rules

    @rule(move_ticks=st.integers(-40, 40), spread_ticks=st.integers(1, 120), size=st.floats(0.5, 20.0))
    def market_moves(self, move_ticks: int, spread_ticks: int, size: float) -> None:
        self.now += 100 * MS
        mid = self.sim.mid_px(COIN) or 100.0
        self._book(self.grid.shift(self.grid.floor_px(mid), move_ticks), spread_ticks, size)

    @rule(aggressor_buy=st.booleans(), through_ticks=st.integers(0, 2), qty=st.floats(0.1, 12.0),
          repeat=st.integers(1, 4))
    def market_prints(self, aggressor_buy: bool, through_ticks: int, qty: float, repeat: int) -> None:
        """``repeat`` one-sided prints, a decision cycle after each (a run of flow against us)."""
        for _ in range(repeat):
            self._print(aggressor_buy, through_ticks, qty)
            self.decision_cycle()

    def _print(self, aggressor_buy: bool, through_ticks: int, qty: float) -> None:
        bid, ask = self.sim.bbo(COIN)
        if bid is None or ask is None:
            return
        rules = self.sim.books[COIN].rules
        if aggressor_buy:
            px = self.grid.up(ask[0] / rules.px_units_per_one, through_ticks)
        else:
            px = self.grid.down(bid[0] / rules.px_units_per_one, through_ticks)
        self.sim.apply_trade(COIN, aggressor_buy, px, qty, self.now)
        self._pump()

    @rule(toxicity=st.sampled_from([0, 0, 1, 1, 2]), toxic_prob=st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]),
          regime=st.sampled_from([0, 0, 1, 2, 3]), ofi=st.sampled_from([0.0, 0.0, -5.0, 5.0, -40.0, 40.0]),
          sigma=st.sampled_from([0.0, 0.2, 1.0, 5.0]), target_qty=st.floats(-4.5, 4.5),
          skew=st.sampled_from([0.0, 0.0, -30.0, 30.0, 80.0, -80.0]))
    def features_change(self, toxicity: int, toxic_prob: float, regime: int, ofi: float, sigma: float,
                        target_qty: float, skew: float) -> None:
        self.feat = dict(toxicity=toxicity, toxic_prob=toxic_prob, regime=regime, ofi=ofi, sigma=sigma)
        self.target = target_qty
        self.skew = skew

    @rule(size=st.sampled_from([0.0, 0.5, 1.0, 2.0, 2.0]), spread=st.sampled_from([1.0, 1.0, 1.5, 3.0]),
          reduce_only=st.sampled_from([False, False, False, True]), sides=st.sampled_from([0, 1, 2, 3, 3, 3, 3]))
    def risk_control(self, size: float, spread: float, reduce_only: bool, sides: int) -> None:
        self.ex.on_control(control(size, spread, reduce_only, sides))

    @rule(on=st.sampled_from([False, False, True]))
    def kill_switch(self, on: bool) -> None:
        self.killed = on

    @rule()
    def decision_cycle(self) -> None:
        self.now += 60 * MS  # cycles are ~100 ms apart; the link answers in 50 ms
        self._deliver()
        bids, asks = self.sim.book_levels(COIN, N_DEPTH)
        if not bids or not asks:
            return
        rules = self.sim.books[COIN].rules
        ps, ls = rules.px_units_per_one, rules.lots_per_one
        bid, ask = bids[0][0] / ps, asks[0][0] / ps
        f = self.feat
        regime_probs = [0.0] * 4
        regime_probs[f["regime"]] = 1.0
        s = snap(bid, ask, ts_ns=self.now, origin_ts_ns=self.now,
                 depth_bids=[q / ls for _, q, _ in bids] + [0.0] * (N_DEPTH - len(bids)),
                 depth_asks=[q / ls for _, q, _ in asks] + [0.0] * (N_DEPTH - len(asks)),
                 ofi_500ms=f["ofi"], sigma_ewma=f["sigma"], regime=f["regime"], regime_probs=regime_probs,
                 toxicity=f["toxicity"], toxic_prob=f["toxic_prob"], inventory=self._position())
        self.ex.on_snapshot(s)
        summary = self.ex.on_signal(signal(self.target, f["toxicity"], f["toxic_prob"], self.skew, ts_ns=self.now),
                                    self.now, self.killed)
        assert summary is not None
        self._check_records()
        self._route()

    @rule(dt_ms=st.sampled_from([20, 100, 400, 1500, 5100, 7000]))
    def time_passes(self, dt_ms: int) -> None:
        self.now += dt_ms * MS
        self._deliver()
        self.ex.tick(self.now, self.killed)
        self._route()
        self._deliver()

    @rule(lose_response=st.booleans(), refuse_request=st.booleans(), lose_updates=st.booleans())
    def link_fault(self, lose_response: bool, refuse_request: bool, lose_updates: bool) -> None:
        self.lose_next_response = lose_response
        self.refuse_next_request = refuse_request
        self.lose_updates = lose_updates

    @rule(mode=st.sampled_from(["refusing", "mute"]))
    def link_goes_down(self, mode: str) -> None:
        self.link_down = mode

    @rule()
    def link_comes_back(self) -> None:
        """What the client does on reconnect: userFills since the last seen, and openOrders."""
        self.link_down = ""
        self._replay_fills()
        self.reconcile_open_orders()

    def _replay_fills(self) -> None:
        acct = self.sim.account(USER)
        assert acct is not None
        rules = self.sim.books[COIN].rules
        for ev in reversed(acct.fills):  # userFills is newest first; duplicates are dropped by the OMS
            self.ex.on_fill(self.now, 0, ev.cloid, ev.oid, ev.tid, ev.is_buy, ev.px_units / rules.px_units_per_one,
                            ev.lots / rules.lots_per_one, ev.fee_usd, not ev.crossed, ev.time_ms)

    @rule()
    def reconcile_open_orders(self) -> None:
        self.ex.on_open_orders(self.now, [self._venue_order(o.oid) for o in self.sim.open_orders(USER)])
        self._route()

    @rule()
    def reconcile_position(self) -> None:
        self.ex.set_position(0, self._position())

    # ------------------------------------------------------------------ invariants

    def _check_records(self) -> None:
        for rec in self.ex.drain_records():
            if rec.mode == ExecMode.MAKER:
                assert rec.toxicity < Toxicity.TOXIC, "Maker while Toxic"
            bids = [t.px for t in rec.targets if t.side > 0 and not t.aggressive]
            asks = [t.px for t in rec.targets if t.side < 0 and not t.aggressive]
            if bids and asks:
                assert max(bids) < min(asks), f"crossed quote set {bids} / {asks}"
            if rec.mode != ExecMode.INVENTORY_REDUCE:
                for t in rec.targets:
                    if not t.aggressive and not t.reduce_only:
                        qv = t.queue_value_bps
                        assert qv is not None and qv >= 0.0, f"passive quote with queue value {qv}"

    @invariant()
    def inventory_within_max(self) -> None:
        assert abs(self._position()) <= MAX_INV + 1e-9, f"position {self._position()} beyond {MAX_INV}"

    @invariant()
    def never_two_resting_orders_on_a_side(self) -> None:
        orders = self.sim.open_orders(USER)
        assert sum(o.is_buy for o in orders) <= 1 and sum(not o.is_buy for o in orders) <= 1, orders

    @invariant()
    def every_order_sent_is_accounted_for(self) -> None:
        oms = self.ex.oms
        assert oms.accounted() == oms.sent_total == len(self.sent_cloids)
        for c in self.sent_cloids:
            assert oms.status_of(c) is not None, f"{c} has no record"

    def teardown(self) -> None:
        # drain the link without faults, let every timer run, answer every lookup
        self.lose_next_response = self.refuse_next_request = self.lose_updates = False
        self.link_down = ""
        self._replay_fills()
        self.in_flight = [(t, r, False, False) for t, r, _, _ in self.in_flight]
        for _ in range(30):
            self.now += 6_000 * MS
            self._deliver()
            self.ex.tick(self.now, True)
            self._route()
            pending = [r for r in self.ex.oms.orders.values()
                       if r.status in (OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL, OrderStatus.STALE)]
            if not self.in_flight and not pending:
                break
        oms = self.ex.oms
        for c in self.sent_cloids:
            r = oms.orders[c]
            o = self.sim.find_order(USER, c)
            if o is None:
                assert r.status == OrderStatus.REJECTED, f"{r} never reached the venue"
                continue
            want = venue_status(self._venue_status(c))
            if want == OrderStatus.OPEN and o.filled_lots:
                want = OrderStatus.PARTIALLY_FILLED
            assert r.status == want, f"{r} but the venue says {o.status}"
            assert r.status in TERMINAL, f"{r} still live after the kill switch"
        assert abs(oms.effective_position(0) - self._position()) < 1e-9


ExecutionAgainstSim.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_execution_against_sim_upholds_invariants = ExecutionAgainstSim.TestCase
