"""The execution process: snapshots, signals and control in; orders to the venue; events out.

Wiring only: every decision is mm.execution.engine.ExecutionEngine's (policy, risk's
constraints, the OMS and its limits). This process:

- feeds it StateSnapshots, AlphaSignals (one decision cycle each, its CycleSummary on the
  ex ring) and risk's ControlState, and passes the kill switch to every call;
- sends what the OMS asks for through the signed Hyperliquid client, which runs on an
  asyncio thread (procs.exec_io.ExchangeIO), and feeds the answers and the user stream
  (order updates, fills, reconnects) back to the engine on this thread, each loop;
- publishes the OMS's OrderEvents and Fills on the ex ring; drains the per-cycle decision
  records (:meth:`ExecutionWorker.publish_decision_records`);
- at start, inside the supervisor's startup grace: connects, cancels every open order of
  the account (a previous life's: this process has none yet, so a restart never orphans an
  order), loads the venue's positions into the OMS, arms the dead man's switch
  (``scheduleCancel``, refreshed on the client's loop);
- on the kill switch: the engine cancels everything it knows, and a sweep through the same
  client cancels whatever the venue still lists; once the venue lists nothing, the OMS
  has nothing live and no placement sent before the trip is unanswered (it could still
  land), it publishes the kill confirmation for risk
  (procs.exec_io.kill_confirmation); risk cancels through its own connection if that does
  not come within its deadline;
- on a clean stop: cancels everything (bounded) and unsets the dead man's switch.

Without an ``[exchange]`` section there is no client: the engine decides, nothing is sent.
"""

from __future__ import annotations

import logging
import secrets
import time

from mm.audit.record import from_decision, rate_budget, shrink_to_fit
from mm.execution.decision import DecisionRecord
from mm.execution.engine import ExecutionEngine
from mm.execution.lifecycle import ExchangeRequest, InfoRequest
from mm.execution.mode_handlers import SymbolSpec
from mm.execution.models import ExpFillModel, FillModelBySymbol, HeuristicQueueValue, QueueValueBySymbol
from mm.execution.models import FillModel as FillModelP
from mm.execution.models import QueueValueModel as QueueValueModelP
from mm.models.fill_survival import FillSurvivalModel
from mm.models.queue_value import QueueValueModel as FittedQueueValue
from mm.schema import AlphaSignal, AnyMessage, ControlState, StateSnapshot
from mm.venues.hyperliquid.kill_path import KillReport
from procs.exec_io import ExchangeIO, StartReport, kill_confirmation, venue_order
from procs.model_files import model_bytes
from procs.paper_keys import exchange_config, load_key
from procs.runtime import Worker, run_worker

log = logging.getLogger("mm")

IO_POLL_BUSY_NS = 2_000_000  # venue answers picked up at least this often while requests are out
IO_POLL_IDLE_NS = 10_000_000  # and this often otherwise (user stream: fills, order updates)
SWEEP_RETRY_NS = 250_000_000  # a kill sweep that did not confirm is run again after this
STOP_SWEEP_S = 2.0  # clean stop: time allowed to cancel everything (within the shutdown timeout)
STATS_PERIOD_NS = 60_000_000_000


class ExecutionWorker(Worker):
    name = "execution"

    def on_start(self, now_ns: int) -> None:
        cfg = self.cfg
        symbols = list(cfg.run.symbols)
        self.io: ExchangeIO | None = None
        self.dropped_requests = 0
        self.records_out = 0
        self.session_id = secrets.randbits(64)
        self._sweep_in_flight = False
        self._sweep_due_ns = 0
        self._confirmed_epoch = -1
        self._kill_epoch = -1
        self._kill_seen_ns = 0
        self._last_stats_ns = now_ns
        report: StartReport | None = None
        if cfg.exchange is not None:
            self.io = ExchangeIO(exchange_config(cfg), load_key(cfg, "execution"), symbols)
            deadline_s = max(cfg.supervisor.startup_grace_ms / 1000.0 * 0.6, 1.0)
            try:
                report = self.io.start(deadline_s)
            except BaseException:
                self.io.thread.close()
                raise
            specs = list(report.specs)
        else:
            sz = {c.name: c.sz_decimals for c in cfg.venue.coins}
            specs = [SymbolSpec(c, i, sz.get(c, cfg.execution.default_sz_decimals)) for i, c in enumerate(symbols)]
            log.warning("no [exchange] section: no venue client; execution decides but sends no order")
        qv, fill = self._fitted_models(symbols)
        self.engine = ExecutionEngine(len(symbols), cfg.execution, specs, queue_model=qv, fill_model=fill,
                                      session_id=self.session_id)
        log.info("execution: session %016x (the first 16 hex digits of every cloid of this life)", self.session_id)
        if report is not None:
            self._load_start(report, now_ns)

    def _fitted_models(self, symbols: list[str]) -> tuple[QueueValueBySymbol, FillModelBySymbol]:
        """Per coin: the fitted queue-value and fill-survival files of [models] dir, else the
        heuristic baselines (the log says which). Queue value is net of the configured fee."""
        mcfg = self.cfg.execution.models
        qv: dict[int, QueueValueModelP] = {}
        fill: dict[int, FillModelP] = {}
        for i, coin in enumerate(symbols):
            raw = model_bytes(self.cfg, coin, "queue_value")
            if raw is not None:
                try:
                    qv[i] = FittedQueueValue.from_bytes(raw, maker_fee_bps=mcfg.maker_fee_bps)
                except ValueError as exc:
                    log.error("queue value model for %s is invalid (%s); using the heuristic", coin, exc)
            raw = model_bytes(self.cfg, coin, "fill_survival")
            if raw is not None:
                try:
                    fill[i] = FillSurvivalModel.from_bytes(raw)
                except ValueError as exc:
                    log.error("fill survival model for %s is invalid (%s); using the baseline", coin, exc)
        return (QueueValueBySymbol(qv, HeuristicQueueValue(mcfg)), FillModelBySymbol(fill, ExpFillModel(mcfg)))

    def _load_start(self, rep: StartReport, now_ns: int) -> None:
        """The start reconciliation's result into the engine: positions, and anything still open."""
        assert self.io is not None
        eng = self.engine
        for sid, spec in enumerate(rep.specs):
            eng.set_position(sid, rep.positions.get(spec.name, 0.0))
        if rep.left_open:  # cancels that did not take: the OMS adopts and cancels them
            eng.on_open_orders(now_ns, [venue_order(o, self.io.symbol_of) for o in rep.left_open])
            self._flush(now_ns)
        pos = ", ".join(f"{s.name} {rep.positions.get(s.name, 0.0):g}" for s in rep.specs)
        log.info("reconciliation: %d open order(s) of a previous life found: %d cancelled by us, %d already gone, "
                 "%d left to the OMS; position %s; in %.0f ms (start %.0f ms, %d attempt(s)); dead man's switch %s",
                 rep.orphans_found, rep.orphans_cancelled, rep.orphans_gone, len(rep.left_open), pos,
                 rep.reconcile_ms, rep.elapsed_ms, rep.attempts, self.io.dead_mans_status())

    # ------------------------------------------------------------------ the loop

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        if isinstance(msg, AlphaSignal):
            self.note_latency(msg.origin_ts_ns, now_ns)
            summary = self.engine.on_signal(msg, now_ns, killed=self.killed)
            if summary is not None:
                self.publish("ex", summary)
        elif isinstance(msg, StateSnapshot):
            self.engine.on_snapshot(msg)
        elif isinstance(msg, ControlState):
            self.engine.on_control(msg)

    def drain(self, now_ns: int, max_batch: int = 256) -> int:
        self._pump(now_ns)  # the venue's answers before new decisions
        n = super().drain(now_ns, max_batch)
        self._flush(now_ns)
        return n

    def on_timer(self, now_ns: int) -> int:
        self._pump(now_ns)
        self.engine.tick(now_ns, self.killed)
        self._kill_duty(now_ns)
        self._flush(now_ns)
        if now_ns - self._last_stats_ns >= STATS_PERIOD_NS:
            self._last_stats_ns = now_ns
            self._log_stats()
        if self.io is None:
            return self.hb_interval_ns
        return IO_POLL_BUSY_NS if self.io.in_flight > 0 or self._sweep_in_flight else IO_POLL_IDLE_NS

    def _pump(self, now_ns: int) -> None:
        if self.io is None:
            return
        for epoch, report in self.io.apply(self.engine, now_ns):
            self._on_sweep(epoch, report, now_ns)

    def _flush(self, now_ns: int) -> None:
        eng = self.engine
        reqs = eng.drain_requests()
        if reqs and self.ks.tripped():
            reqs = self._no_order_past_the_switch(reqs, now_ns)
        if reqs:
            if self.io is not None:
                self.io.submit(reqs)
            else:
                if not self.dropped_requests:
                    log.warning("no venue client: dropping the engine's requests (no [exchange] section)")
                self.dropped_requests += len(reqs)
        for ev in eng.drain_events():
            self.publish("ex", ev)
        records = eng.drain_records()
        if records:
            self.publish_decision_records(records)

    def _no_order_past_the_switch(self, reqs: list[ExchangeRequest | InfoRequest],
                                  now_ns: int) -> list[ExchangeRequest | InfoRequest]:
        """The switch is read again right before anything is sent (the runtime notices a trip at
        its next heartbeat; a decision made just before may still be here): orders and modifies
        are not sent, and the OMS is told they certainly were not (Rejected; a modify's original
        stays, and is cancelled with the rest). Cancels and lookups go."""
        out: list[ExchangeRequest | InfoRequest] = []
        for r in reqs:
            if isinstance(r, ExchangeRequest) and r.kind in ("order", "batchModify"):
                self.engine.on_request_failed(r.request_id, now_ns, maybe_delivered=False,
                                              reason="kill switch tripped")
            else:
                out.append(r)
        if len(out) < len(reqs):
            log.warning("kill switch: %d order action(s) decided before the trip was seen not sent",
                        len(reqs) - len(out))
            out.extend(self.engine.drain_requests())
        return out

    def publish_decision_records(self, records: list[DecisionRecord]) -> None:
        """One audit record per cycle on the audit ring (the monitor writes them to files, off
        this hot path); a record too large for a slot is shrunk, never dropped silently."""
        writer = self.writers["audit"]
        now_ns = time.monotonic_ns()
        rate = rate_budget(self.engine.oms.limiter, now_ns)
        for d in records:
            view = self.engine.views[d.symbol_id]
            rec = from_decision(
                d, symbol=self.cfg.run.symbols[d.symbol_id], signal=view.signal,
                snapshot_ts_ns=view.snapshot.ts_ns if view.snapshot is not None else 0, rate=rate,
            )
            _, payload = shrink_to_fit(rec, writer.ring.payload_capacity, self.codec.encode)
            writer.push(payload)
        self.records_out += len(records)
        self.hb.add("msgs_out", len(records))

    # ------------------------------------------------------------------ the kill switch

    def on_kill(self, now_ns: int) -> None:
        self.engine.tick(now_ns, killed=True)  # the OMS cancels everything it knows
        self._flush(now_ns)
        self._kill_seen_ns = now_ns
        self._kill_epoch = self.ks.epoch()  # this trip's (the runtime calls on_kill once per trip seen)
        self._sweep_due_ns = now_ns
        self._kill_duty(now_ns)

    def _kill_duty(self, now_ns: int) -> None:
        """While tripped and not yet confirmed: sweep the venue (again) when due."""
        if (self.io is None or not self.killed or self._sweep_in_flight or now_ns < self._sweep_due_ns
                or self._kill_epoch == self._confirmed_epoch):
            return
        assert self.cfg.exchange is not None
        self._sweep_in_flight = True
        self.io.sweep(self._kill_epoch, self.cfg.exchange.kill_deadline_s)

    def _on_sweep(self, epoch: int, report: KillReport, now_ns: int) -> None:
        self._sweep_in_flight = False
        if not self.killed or epoch != self._kill_epoch or epoch != self.ks.epoch():
            return  # reset (or tripped again) meanwhile: the next trip has its own sweep
        assert self.io is not None
        live = self.engine.live_order_count()
        placing = self.io.placing
        if self.engine.kill_confirmed(report.confirmed, placing):
            self._confirmed_epoch = epoch
            self.publish("ex", kill_confirmation(epoch, now_ns))
            log.warning("kill: cancel-all confirmed %.0f ms after the kill switch was seen: the venue lists no "
                        "open order (this sweep: %d seen, %d cancelled, %d already gone)",
                        (now_ns - self._kill_seen_ns) / 1e6, report.orders_seen, report.cancelled,
                        report.already_gone)
            return
        self._sweep_due_ns = now_ns + SWEEP_RETRY_NS
        log.warning("kill: not confirmed yet (venue: %s open at the last read; OMS: %d live, %d placement(s) "
                    "unanswered); sweeping again", report.remaining, live, placing)

    # ------------------------------------------------------------------ stop

    def _log_stats(self) -> None:
        if self.io is None:
            return
        oms = self.engine.oms
        log.info("exchange: %s; OMS: %d sent, %d stale, %d orphans adopted, %d unknown fills; dead man's switch %s",
                 ", ".join(f"{k} {v}" for k, v in self.io.stats.items() if v), oms.sent_total, oms.stale_total,
                 oms.orphans_adopted, oms.unknown_fills, self.io.dead_mans_status())

    def on_stop(self, now_ns: int) -> None:
        if self.io is None:
            return
        self._log_stats()
        report = self.io.stop(STOP_SWEEP_S)
        if report is not None:
            left = "none" if report.confirmed else ("unknown" if report.remaining < 0 else str(report.remaining))
            log.info("stop: open orders left at the venue: %s (%d cancelled)", left, report.cancelled)


if __name__ == "__main__":
    raise SystemExit(run_worker(ExecutionWorker))
