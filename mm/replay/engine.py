"""Single-process deterministic replay: the live objects against the sim matching engine.

Seed 000 phase 6 / §2.7 and seed 002 "decision replay". One process runs, per symbol, the
same :class:`~mm.features.engine.FeatureEngine` and
:class:`~mm.features.queue_rank.QueueRankTracker` as the feature process, the same
:class:`~mm.alpha.engine.AlphaEngine`, :class:`~mm.execution.engine.ExecutionEngine` and
:class:`~mm.risk.authority.RiskAuthority` as the alpha, execution and risk processes, with the
feed's :class:`~mm.venues.feed_health.StaleDetector`, and trades against the paper venue's
:class:`~mm.venues.sim.matching.MatchingEngine`.

Clock and event queue. One priority queue of ``(t_ns, priority, seq)``; ``seq`` is a
counter, so equal times keep a fixed order and the run is a pure function of its inputs
and the seed (one ``random.Random(seed)`` draws every latency). Kinds:

- market event at the venue at its venue time ``t``: applied to the matching engine
  (our resting orders fill there), and delivered to us at ``t + d_md`` (``d_md`` from the
  market-data latency model) with ``ts_ns`` restamped to that receive time, as the feed does;
- our request (``/exchange`` action or info lookup) sent at ``t``: takes effect at the venue
  at ``t + d_order`` (places, modifies) or ``t + d_cancel`` (cancels);
- the venue's answers (action results, order updates, our fills): back at ``t + d_resp``;
- timers: the feature timer every ``feature_timer_ms`` (``FeatureEngine.due``), and every
  ``control_ms`` risk's control cycle (``ControlState`` to execution), the stale detector and
  ``ExecutionEngine.tick``;
- the ex ring (execution's ``OrderEvent``/``Fill`` to features, queue ranks and risk): at the
  same time, after the current step (so no re-entrant cycles).

At equal times the venue follows Hyperliquid's block order: post-only placements, then
cancels, then the market's trades and GTC/IOC orders, then the market's book updates.

Dataflow per delivered market event (as the processes do it): tracker -> feature engine ->
on a material event a snapshot -> risk.on_snapshot, execution.on_snapshot, alpha -> signal
-> ``ExecutionEngine.on_signal`` (one decision cycle) -> requests into the queue.

Outages: a gap in the data is a feed outage: the stale detector reports ``FeedStale`` after
``stale_after_ms`` of silence, features stop their grid and risk pulls the quotes (Red at
5 s stale, Kill beyond 60 s); a Kill keeps the kill switch tripped to the end of the run, as
live until an operator clears it.

Evaluation window: trading starts at ``trade_from_ns`` (the split); before it the engines
see the market (warm-up) and execution gets no ``ControlState`` (so it quotes nothing). Risk
starts there too, as a process would (``risk = "authority"``, exposure ``exposure_level``);
``risk = "off"`` gives execution a constant full-size, both-sides ControlState instead, to
see a policy alone (its own Flat decisions, not risk's pulls).

Pure logic: no I/O, no clock reads.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

import msgspec
import numpy as np
import numpy.typing as npt

from mm.alpha.engine import AlphaEngine
from mm.execution.config import ExecutionConfig
from mm.execution.decision import DecisionRecord
from mm.execution.engine import ExecutionEngine
from mm.execution.lifecycle import ExchangeRequest, InfoRequest, VenueOrder
from mm.execution.mode_handlers import SymbolSpec
from mm.execution.models import ExpFillModel, HeuristicQueueValue
from mm.execution.state_machine import positive_qv_sides
from mm.features.config import ToxicityConfig
from mm.features.engine import FeatureEngine
from mm.graduation.exposure import ExposureConfig
from mm.replay.latency import Latency, parse_latency
from mm.replay.pnl import FillRow
from mm.replay.uptime import miss_causes
from mm.risk.authority import RiskAuthority
from mm.schema import (
    Bbo,
    BookSnapshot,
    ControlState,
    FeedStale,
    Fill,
    OrderEvent,
    RefPrice,
    StateSnapshot,
    Toxicity,
    Trade,
    Venue,
)
from mm.stages import FeatureStage
from mm.venues.feed_health import StaleDetector
from mm.venues.sim.config import CoinConfig, FeeConfig, MatchingConfig, UserConfig
from mm.venues.sim.fees import FeeRates, fee_rates, tier_by_name
from mm.venues.sim.matching import FillEvent, MatchingEngine, OrderRequest, OrderUpdateEvent

if TYPE_CHECKING:
    from mm.replay.fit import ReplayModels

USER: Final = "0x" + "5e" * 20
MS: Final = 1_000_000
OUR_VENUES: Final = (int(Venue.HYPERLIQUID), int(Venue.SIM))

# event kinds
_MD_VENUE, _MD_US, _REQ, _ANSWER, _FEAT_TIMER, _CONTROL, _EX = range(7)
# priorities at equal times (Hyperliquid block order at the venue; our side after the venue)
_P_ALO, _P_CANCEL, _P_TAKER, _P_BOOK, _P_ANSWER, _P_US, _P_TIMER = range(7)

FEE_TIER_ALIASES: Final = {f"rebate{i}": ("base", s) for i, s in ((1, 0.0051), (2, 0.0151), (3, 0.0301))}


class CoinSpec(msgspec.Struct, frozen=True):
    """A replayed coin: its name at the venue, ``symbol_id`` = its position, lot decimals."""

    name: str
    sz_decimals: int


def fee_config(tier: str) -> FeeConfig:
    """A fee tier by name: a volume tier (``base``, ``tier1``..) or a maker rebate tier (``rebate1``..3,
    at the base taker rate)."""
    if tier in FEE_TIER_ALIASES:
        base, share = FEE_TIER_ALIASES[tier]
        return FeeConfig(tier=base, maker_share=share)
    tier_by_name(tier)
    return FeeConfig(tier=tier)


def fee_rates_of(tier: str) -> FeeRates:
    fc = fee_config(tier)
    return fee_rates(tier_by_name(fc.tier), fc.maker_share, fc.staking_discount)


class ReplayConfig(msgspec.Struct, frozen=True, kw_only=True):
    """One replay run. Latencies are spec strings (:func:`mm.replay.latency.parse_latency`)."""

    seed: int = 0
    fee_tier: str = "base"
    md_latency: str = "lognormal:20,80"
    order_latency: str = "lognormal:200,900,0.01,500,2000"
    cancel_latency: str = "lognormal:200,900,0.01,500,2000"
    response_latency: str = "lognormal:20,80"
    feature_timer_ms: int = 50
    control_ms: int = 100
    stale_after_ms: int = 5_000
    exposure_level: str = "FULL"
    balance_usd: float = 1_000_000.0
    keep_records: bool = False
    risk: str = "authority"


class ModeRow(msgspec.Struct, frozen=True):
    """What one decision cycle chose (compact; the full record is kept only on request)."""

    symbol_id: int
    ts_ns: int
    mode: int
    toxicity: int
    regime: int
    n_passive: int
    n_aggressive: int
    qv_violations: int
    inventory_qty: float
    max_inventory_qty: float
    qv_pos_sides: int = 0
    quoted_sides: int = 0
    miss: tuple[str, ...] = ()


class ReplayResult:
    """Everything a run produced, for metrics and the report."""

    def __init__(self, n: int) -> None:
        self.fills: list[FillRow] = []
        self.modes: list[ModeRow] = []
        self.records: list[DecisionRecord] = []
        self.tape: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        self.trades: list[list[int]] = [[] for _ in range(n)]
        self.tox_ts: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        self.signals: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        self.ref: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        self.stale: list[list[tuple[int, bool]]] = [[] for _ in range(n)]
        self.controls: list[tuple[int, float, int, int]] = []
        self.kill_ns: int | None = None
        self.kill_reason = ""
        self.n_events = 0
        self.n_cycles = 0
        self.n_requests = 0
        self.start_ns = 0
        self.end_ns = 0
        self.trade_from_ns = 0

    def cycle_spans(self, sid: int) -> list[tuple[ModeRow, int, int]]:
        """(cycle, start, end) of the symbol's decision cycles, each holding until the symbol's
        next one, clipped to the evaluation window ``[trade_from_ns, end_ns]`` (empty spans left out)."""
        rows = [m for m in self.modes if m.symbol_id == sid]
        lo, hi = self.trade_from_ns, self.end_ns
        out = []
        for i, m in enumerate(rows):
            a = max(m.ts_ns, lo)
            b = min(rows[i + 1].ts_ns if i + 1 < len(rows) else hi, hi)
            if b > a:
                out.append((m, a, b))
        return out

    def tape_arrays(self, sid: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        t = self.tape[sid]
        return np.array([x[0] for x in t], dtype=np.int64), np.array([x[1] for x in t], dtype=np.float64)


class ReplayEngine:
    """Runs the live objects over one event stream (module docstring)."""

    def __init__(self, coins: Sequence[CoinSpec], cfg: ReplayConfig, exec_cfg: ExecutionConfig | None = None,
                 models: ReplayModels | None = None) -> None:
        """``models``: fitted on the warm-up (:mod:`mm.replay.fit`); None runs the heuristics."""
        self.coins = list(coins)
        self.cfg = cfg
        n = len(self.coins)
        rates = fee_rates_of(cfg.fee_tier)
        base = exec_cfg if exec_cfg is not None else ExecutionConfig()
        # the quoting side assumes the configured tier: queue value is net of it
        mcfg = msgspec.structs.replace(base.models, maker_fee_bps=rates.maker * 1e4, taker_fee_bps=rates.taker * 1e4)
        self.exec_cfg = msgspec.structs.replace(base, models=mcfg)
        self.rng = random.Random(cfg.seed)
        self.lat_md: Latency = parse_latency(cfg.md_latency)
        self.lat_order: Latency = parse_latency(cfg.order_latency)
        self.lat_cancel: Latency = parse_latency(cfg.cancel_latency)
        self.lat_resp: Latency = parse_latency(cfg.response_latency)
        self.sim = MatchingEngine([CoinConfig(name=c.name, sz_decimals=c.sz_decimals) for c in self.coins],
                                  MatchingConfig(block_ms=0), fee_config(cfg.fee_tier),
                                  [UserConfig(address=USER, balance_usd=cfg.balance_usd, leverage=20)])
        # the feature process's own step object (mm.stages): same engines, trackers and wiring as live
        self.stage = FeatureStage([None] * n if models is None else [models.toxicity_model(i) for i in range(n)])
        if models is not None:  # fitted thresholds too (the stage takes the models only)
            self.stage.engines = [FeatureEngine(i, toxicity=_tox_cfg(models.toxicity_threshold(i)),
                                                toxicity_model=models.toxicity_model(i)) for i in range(n)]
        self.features = self.stage.engines
        self.trackers = self.stage.trackers
        self.alpha = AlphaEngine()
        self.ex = ExecutionEngine(n, self.exec_cfg, [SymbolSpec(c.name, i, c.sz_decimals) for i, c in enumerate(self.coins)],
                                  session_id=0x5E ^ cfg.seed,
                                  queue_model=None if models is None else models.queue_model(
                                      mcfg.maker_fee_bps, HeuristicQueueValue(self.exec_cfg.models)),
                                  fill_model=None if models is None else models.fill_model(
                                      ExpFillModel(self.exec_cfg.models)))
        if models is not None and hasattr(self.ex.policy, "direction_models"):  # the state machine's direction gate
            self.ex.policy.direction_models = models.direction_model()
        self.risk = self._new_risk(0)
        self.stale = StaleDetector(int(Venue.HYPERLIQUID), range(n), cfg.stale_after_ms * MS)
        self.killed = False
        self._heap: list[tuple[int, int, int, int, Any]] = []
        self._seq = 0
        self._last_md_ns = 0
        self.res = ReplayResult(n)

    def _new_risk(self, start_ns: int) -> RiskAuthority:
        return RiskAuthority(ExposureConfig(start_level=self.cfg.exposure_level),
                             symbols=[c.name for c in self.coins], start_ns=start_ns)

    # ------------------------------------------------------------------ queue

    def _push(self, t: int, prio: int, kind: int, obj: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, prio, self._seq, kind, obj))

    # ------------------------------------------------------------------ run

    def run(self, events: Iterable[object], trade_from_ns: int | None = None) -> ReplayResult:
        """Replay ``events`` (market events in venue-time order); trade from ``trade_from_ns``."""
        evs = list(events)
        res = self.res
        if not evs:
            return res
        t0 = min(getattr(e, "ts_ns", 0) for e in evs)
        t_end = max(getattr(e, "ts_ns", 0) for e in evs)
        res.start_ns, res.end_ns = t0, t_end
        res.trade_from_ns = t0 if trade_from_ns is None else trade_from_ns
        self.risk = self._new_risk(res.trade_from_ns)
        self.stale.reset(t0)
        for ev in evs:
            prio = _P_TAKER if isinstance(ev, Trade) else _P_BOOK
            self._push(ev.ts_ns, prio, _MD_VENUE, ev)  # type: ignore[attr-defined]
        self._push(t0, _P_TIMER, _FEAT_TIMER, None)
        self._push(t0, _P_TIMER, _CONTROL, None)
        ft, ct = self.cfg.feature_timer_ms * MS, self.cfg.control_ms * MS
        heap = self._heap
        while heap:
            t, _, _, kind, obj = heapq.heappop(heap)
            if kind == _MD_VENUE:
                self._on_venue_md(t, obj)
            elif kind == _MD_US:
                self._on_our_md(t, obj)
            elif kind == _EX:
                self._on_ex(t, obj)
            elif kind == _REQ:
                self._on_request(t, obj)
            elif kind == _ANSWER:
                self._on_answer(t, obj)
            elif kind == _FEAT_TIMER:
                for snap in self.stage.on_timer(t):
                    self._publish(snap.symbol_id, t, snap)
                if t < t_end:
                    self._push(t + ft, _P_TIMER, _FEAT_TIMER, None)
            else:
                self._on_control(t)
                if t < t_end:
                    self._push(t + ct, _P_TIMER, _CONTROL, None)
        self._drain_records()
        return res

    # ------------------------------------------------------------------ the venue side

    def _on_venue_md(self, t: int, ev: Any) -> None:
        self.res.n_events += 1
        sid = ev.symbol_id
        if ev.venue in OUR_VENUES and 0 <= sid < len(self.coins):
            coin = self.coins[sid].name
            if isinstance(ev, Trade):
                self.sim.apply_trade(coin, ev.side > 0, ev.px, ev.qty, t, ev.trade_id)
                self.res.trades[sid].append(t)
            elif isinstance(ev, BookSnapshot):
                self.sim.apply_book_snapshot(coin, list(zip(ev.bid_px, ev.bid_qty)), list(zip(ev.ask_px, ev.ask_qty)), t)
            elif isinstance(ev, Bbo):
                self.sim.apply_bbo(coin, ev.bid_px, ev.bid_qty, ev.ask_px, ev.ask_qty, t)
            mid = self.sim.mid_px(coin)
            tape = self.res.tape[sid]
            if mid is not None and (not tape or tape[-1][1] != mid):
                tape.append((t, mid))
            self._venue_pushes(t)
        elif isinstance(ev, RefPrice) and 0 <= sid < len(self.coins):
            self.res.ref[sid].append((t, 0.5 * (ev.bid_px + ev.ask_px)))
        arrive = t + self.lat_md.sample_ns(self.rng)
        self._push(arrive, _P_US, _MD_US, ev)

    def _venue_pushes(self, t: int) -> None:
        """Our fills and order updates at the venue, sent back to us (and the truth recorded)."""
        for ev in self.sim.drain_events():
            if isinstance(ev, FillEvent) and ev.user == USER:
                r = self.sim.books[ev.coin].rules
                sid = self.sim.books[ev.coin].asset
                px, qty = ev.px_units / r.px_units_per_one, ev.lots / r.lots_per_one
                self.res.fills.append(FillRow(sid, t, 1 if ev.is_buy else -1, px, qty, ev.fee_usd, not ev.crossed))
                self._answer(t, ("fill", sid, ev.cloid, ev.oid, ev.tid, ev.is_buy, px, qty, ev.fee_usd, not ev.crossed,
                                 ev.time_ms))
            elif isinstance(ev, OrderUpdateEvent) and ev.user == USER:
                self._answer(t, ("update", self._venue_order(ev.oid)))

    def _answer(self, t: int, msg: tuple[Any, ...]) -> None:
        self._push(t + self.lat_resp.sample_ns(self.rng), _P_ANSWER, _ANSWER, msg)

    def _venue_status(self, target: int | str) -> str:
        o = self.sim.find_order(USER, target)
        if o is None:
            return "unknown"
        acct = self.sim.account(USER)
        if o.status == "open" and acct is not None and o.oid not in acct.open_orders:
            return "filled" if o.rem_lots == 0 else "canceled"  # a taker order filled on arrival rests nowhere
        return o.status

    def _venue_order(self, target: int | str) -> VenueOrder | None:
        o = self.sim.find_order(USER, target)
        if o is None:
            return None
        cb = self.sim.books_by_asset[o.asset]
        r = cb.rules
        return VenueOrder(symbol_id=cb.asset, oid=o.oid, cloid=o.cloid, is_buy=o.is_buy, px=o.px / r.px_units_per_one,
                          rem_qty=o.rem_lots / r.lots_per_one, orig_qty=o.orig_lots / r.lots_per_one,
                          status=self._venue_status(o.oid))

    def _send(self, t: int, req: ExchangeRequest | InfoRequest) -> None:
        self.res.n_requests += 1
        if isinstance(req, InfoRequest):
            self._push(t + self.lat_resp.sample_ns(self.rng), _P_CANCEL, _REQ, req)
        elif req.kind in ("cancel", "cancelByCloid"):
            self._push(t + self.lat_cancel.sample_ns(self.rng), _P_CANCEL, _REQ, req)
        else:
            alo = all(p.tif == "Alo" for p in req.places) and all(m.order.tif == "Alo" for m in req.modifies)
            self._push(t + self.lat_order.sample_ns(self.rng), _P_ALO if alo else _P_TAKER, _REQ, req)

    def _on_request(self, t: int, req: ExchangeRequest | InfoRequest) -> None:
        if isinstance(req, InfoRequest):
            if req.kind == "orderStatus":
                self._answer(t, ("status", req.cloid, self._venue_order(req.cloid)))
            else:
                found = [self._venue_order(o.oid) for o in self.sim.open_orders(USER)]
                self._answer(t, ("open", [v for v in found if v is not None]))
            return
        if req.kind == "order":
            for p in req.places:
                out = self.sim.place_order(USER, OrderRequest(asset=p.asset, is_buy=p.is_buy, px=p.px, sz=p.sz, tif=p.tif,
                                                              reduce_only=p.reduce_only, cloid=p.cloid), t)
                self._answer(t, ("result", p.cloid, out.kind, out.oid, float(out.total_sz or 0), out.error))
        elif req.kind == "batchModify":
            for m in req.modifies:
                o = m.order
                out = self.sim.modify(USER, m.oid, OrderRequest(asset=o.asset, is_buy=o.is_buy, px=o.px, sz=o.sz, tif=o.tif,
                                                                reduce_only=o.reduce_only, cloid=o.cloid), t)
                self._answer(t, ("result", o.cloid, out.kind, out.oid, float(out.total_sz or 0), out.error))
        else:
            for c in req.cancels:
                err = (self.sim.cancel(USER, c.asset, c.oid, t) if req.kind == "cancel"
                       else self.sim.cancel_by_cloid(USER, c.asset, c.cloid, t))
                self._answer(t, ("cancel", c.cloid, err is None, err or ""))
        self._venue_pushes(t)

    # ------------------------------------------------------------------ our side

    def _on_answer(self, t: int, msg: tuple[Any, ...]) -> None:
        ex = self.ex
        kind = msg[0]
        if kind == "result":
            ex.on_order_result(msg[1], t, msg[2], msg[3], msg[4], msg[5])
        elif kind == "cancel":
            ex.on_cancel_result(msg[1], t, msg[2], msg[3])
        elif kind == "fill":
            ex.on_fill(t, *msg[1:])
        elif kind == "update":
            if msg[1] is not None:
                ex.on_order_update(t, msg[1])
        elif kind == "status":
            ex.on_order_status(t, msg[1], msg[2])
        else:
            ex.on_open_orders(t, msg[1])
        self._flush(t)

    def _on_our_md(self, t: int, ev: Any) -> None:
        ev = msgspec.structs.replace(ev, ts_ns=t)
        sid = ev.symbol_id
        if not 0 <= sid < len(self.features):
            return
        if ev.venue in OUR_VENUES:
            back = self.stale.on_message(sid, t)
            if back is not None:
                self._feed_stale(t, back)
        self._to_features("md", t, ev)

    def _to_features(self, ring: str, t: int, ev: Any) -> None:
        snap = self.stage.on_message(ring, ev, t)
        if snap is not None:
            self._publish(snap.symbol_id, t, snap)

    def _feed_stale(self, t: int, ev: FeedStale) -> None:
        self.res.stale[ev.symbol_id].append((t, ev.stale))
        if self._risk_on(t):
            self.risk.on_feed_stale(ev.symbol_id, ev.stale, ev.silent_ns, t)
        self._to_features("md", t, ev)

    def _risk_on(self, t: int) -> bool:
        return self.cfg.risk == "authority" and t >= self.res.trade_from_ns

    def _publish(self, sid: int, t: int, snap: StateSnapshot) -> None:
        """A snapshot as the feature process publishes it: to risk, execution and alpha."""
        if self._risk_on(t):
            self.risk.on_snapshot(snap, t)
        self.ex.on_snapshot(snap)
        sig = self.alpha.on_snapshot(snap, t)
        res = self.res
        if not res.tox_ts[sid] or res.tox_ts[sid][-1][1] != snap.toxicity:
            res.tox_ts[sid].append((t, snap.toxicity))
        if sig.lead_lag_skew_bps != 0.0 or (res.signals[sid] and res.signals[sid][-1][1] != 0.0):
            res.signals[sid].append((t, sig.lead_lag_skew_bps))
        self.ex.on_signal(sig, t, self.killed)
        self._flush(t)

    def _on_ex(self, t: int, msg: OrderEvent | Fill) -> None:
        if isinstance(msg, Fill) and self._risk_on(t):
            self.risk.on_fill(msg)
        self._to_features("ex", t, msg)

    def _flush(self, t: int) -> None:
        ex = self.ex
        for req in ex.drain_requests():
            self._send(t, req)
        for ev in ex.drain_events():
            self._push(t, _P_US, _EX, ev)
        self._drain_records()

    def _drain_records(self) -> None:
        res = self.res
        keep = self.cfg.keep_records
        ex = self.ex
        offsets = ex.cfg.candidate_offsets_ticks
        join = ex.cfg.join_rank_frac
        for rec in ex.drain_records():
            res.n_cycles += 1
            n_p = n_a = bad = quoted = 0
            view = ex.views[rec.symbol_id]
            snap = view.snapshot
            # a Toxic verdict predicts an adverse move the queue value may not carry: no opportunity then
            pos = (positive_qv_sides(ex.qv, view.grid, snap, offsets, join)
                   if snap is not None and rec.toxicity < Toxicity.TOXIC else 0)
            for tg in rec.targets:
                if tg.aggressive:
                    n_a += 1
                else:
                    n_p += 1
                    if not tg.reduce_only:
                        quoted |= 1 if tg.side > 0 else 2
                    if (not tg.reduce_only and rec.mode_name != "INVENTORY_REDUCE"
                            and (tg.queue_value_bps is None or tg.queue_value_bps < 0.0)):
                        bad += 1
            # a positive side, none of them quoted: why (mm.replay.uptime)
            miss = miss_causes(rec, pos) if pos and not pos & quoted else ()
            res.modes.append(ModeRow(rec.symbol_id, rec.ts_ns, rec.mode, rec.toxicity, rec.regime, n_p, n_a, bad,
                                     rec.inventory_qty, rec.max_inventory_qty, pos, quoted, miss))
            if keep:
                res.records.append(rec)

    def _on_control(self, t: int) -> None:
        for ev in self.stale.check(t):
            self._feed_stale(t, ev)
        if t >= self.res.trade_from_ns:
            ctrl = control_full(t)
            if self.cfg.risk == "authority":
                risk = self.risk
                risk.on_kill_switch(self.killed, self.res.kill_reason, t)
                ctrl = risk.control_state(t)
                d = risk.take_kill_decision()
                while d is not None:
                    if not self.killed:
                        self.killed = True
                        self.res.kill_ns, self.res.kill_reason = t, d.reason
                    d = risk.take_kill_decision()
            self.ex.on_control(ctrl)
            self.res.controls.append((t, ctrl.size_multiplier, ctrl.allowed_sides, ctrl.safety_level))
        self.ex.tick(t, self.killed)
        self._flush(t)


def _tox_cfg(threshold: float | None) -> ToxicityConfig:
    base = ToxicityConfig()
    if threshold is None:
        return base
    return msgspec.structs.replace(base, toxic_threshold=threshold,
                                   benign_threshold=min(base.benign_threshold, 0.5 * threshold))


def control_full(now_ns: int) -> ControlState:
    """A ControlState at full size, both sides (``risk = "off"``: the policy alone)."""
    return ControlState(ts_ns=now_ns, seq=1, safety_level=0, exposure_level=4, size_multiplier=1.0, spread_multiplier=1.0,
                        reduce_only=False, allowed_sides=3)
