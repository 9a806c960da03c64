"""The execution process: snapshots, signals and control in; orders to the venue; events out.

Wiring only: every decision is mm.execution.engine.ExecutionEngine's (policy, risk's
constraints, the OMS and its limits). This process:

- feeds it StateSnapshots, AlphaSignals (one decision cycle each, its CycleSummary on the
  ex ring) and risk's ControlState, and passes the kill switch to every call;
- sends what the OMS asks for through the signed Hyperliquid client, which runs on an
  asyncio thread (procs.exec_io.ExchangeIO), and feeds the answers and the user stream
  (order updates, fills, reconnects) back to the engine on this thread, each loop;
- publishes the OMS's OrderEvents and Fills on the ex ring, and at the Shadow exposure level
  the engine's ShadowFills (simulated fills of the active policy's would-be quotes: risk's
  evidence at Shadow); drains the per-cycle decision records
  (:meth:`ExecutionWorker.publish_decision_records`);
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

Run recording (live/replay parity, :mod:`mm.recording.run`): the engine journals every
state-changing call; each flush appends them, and the OMS's events and the audit records
published, to
``<state_dir>/runs/<run_id>/execution-*.mmrec``, after a manifest (config and model file
hashes, the session id and the variants' seed, the venue's symbol specs). ``mmctl replay
--run`` feeds that journal to a fresh engine and must reproduce every audit record.

Variants (``[[variants]]``, :mod:`mm.execution.variants`): simulated in the engine; their
figures are written to the run's ``variants.json`` every ``VARIANTS_PERIOD_NS``; an
operator's ``mmctl variants --activate`` leaves a request file that this process applies
(the switch is a journaled engine call) and answers with the evidence in
``activations.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

import msgspec

from mm.audit.record import CycleDecisionRecord, shrink_to_fit
from mm.execution.engine import ExecutionEngine, direction_models, engine_models
from mm.execution.lifecycle import ExchangeRequest, InfoRequest
from mm.execution.mode_handlers import SymbolSpec
from mm.execution.models import FillModelBySymbol, QueueValueBySymbol
from mm.recording.run import RunRecorder, config_manifest, sha256_file, write_json_atomic
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
VARIANTS_PERIOD_NS = 2_000_000_000  # variants.json rewritten, activation requests looked for
ACTIVATE_REQUEST = "activate.request.json"


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
        direction, errors = direction_models(symbols, lambda coin, name: model_bytes(self.cfg, coin, name))
        for e in errors:
            log.error("%s", e)
        variant_seed = secrets.randbits(63)
        self.engine = ExecutionEngine(len(symbols), cfg.execution, specs, queue_model=qv, fill_model=fill,
                                      session_id=self.session_id, variants=cfg.variants, variant_seed=variant_seed,
                                      journal=True, direction=direction)
        self.recorder = RunRecorder(cfg.run.state_dir, self.run_id, "execution", {
            **config_manifest(self.config_path),
            "models": self._model_hashes(symbols),
            "seeds": {"session_id": self.session_id, "variant_seed": variant_seed},
            "symbols": symbols,
            "specs": [[s.name, s.asset, s.sz_decimals] for s in specs],
            "audit_payload_capacity": self.writers["audit"].ring.payload_capacity,
            "variants": [v.name for v in cfg.variants],
        })
        self.run_path: Path = self.recorder.dir
        self._last_variants_ns = now_ns
        log.info("execution: run recording in %s", self.run_path)
        log.info("execution: session %016x (the first 16 hex digits of every cloid of this life)", self.session_id)
        if report is not None:
            self._load_start(report, now_ns)

    def _fitted_models(self, symbols: list[str]) -> tuple[QueueValueBySymbol, FillModelBySymbol]:
        """Per coin: the fitted queue-value and fill-survival files of [models] dir, else the
        heuristic baselines (the log says which; mm.execution.engine.engine_models)."""
        qv, fill, errors = engine_models(symbols, self.cfg.execution.models,
                                         lambda coin, name: model_bytes(self.cfg, coin, name))
        for e in errors:
            log.error("%s", e)
        return qv, fill

    def _model_hashes(self, symbols: list[str]) -> dict[str, str]:
        """SHA-256 of every model file present under [models] dir for our coins (any process's)."""
        out: dict[str, str] = {}
        for coin in symbols:
            d = os.path.join(self.cfg.models.dir, coin)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    path = os.path.join(d, name)
                    if os.path.isfile(path):
                        out[f"{coin}/{name}"] = sha256_file(path)
        return out

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
        if now_ns - self._last_variants_ns >= VARIANTS_PERIOD_NS:
            self._last_variants_ns = now_ns
            self._variants_duty(now_ns)
        self.recorder.maybe_flush(now_ns)
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
        for op, args in eng.drain_inputs():
            self.recorder.input(op, args, now_ns)
        for ev in eng.drain_events():
            self.publish("ex", ev)
            self.recorder.output(ev, now_ns)
        for sf in eng.drain_shadow_fills():  # at Shadow: the active policy's paper fills, risk's evidence
            self.publish("ex", sf)
            self.recorder.output(sf, now_ns)
        records = eng.drain_audit(self.cfg.run.symbols)
        if records:
            self.publish_decision_records(records, now_ns)

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

    def publish_decision_records(self, records: list[CycleDecisionRecord], now_ns: int) -> None:
        """One audit record per cycle on the audit ring (the monitor writes them to files, off
        this hot path) and in the run recording; a record too large for a slot is shrunk,
        never dropped silently."""
        writer = self.writers["audit"]
        for rec in records:
            shrunk, payload = shrink_to_fit(rec, writer.ring.payload_capacity, self.codec.encode)
            writer.push(payload)
            self.recorder.output(shrunk, now_ns)
        self.records_out += len(records)
        self.hb.add("msgs_out", len(records))

    # ------------------------------------------------------------------ variants

    def _variants_duty(self, now_ns: int) -> None:
        """variants.json rewritten; an operator's activation request applied and answered."""
        eng = self.engine
        if not eng.variants.tracks:
            return
        write_json_atomic(self.run_path / "variants.json", {
            "run_id": self.run_id, "wall_ns": time.time_ns(), "ts_ns": now_ns,
            "active": eng.variants.active_name, "variants": eng.variants.stats(),
        })
        req_path = self.run_path / ACTIVATE_REQUEST
        if not req_path.exists():
            return
        try:
            req: dict[str, Any] = json.loads(req_path.read_text())
            name, reason = str(req["name"]), str(req.get("reason", ""))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("variants: unreadable activation request %s (%s); ignored", req_path, exc)
            req_path.unlink(missing_ok=True)
            return
        req_path.unlink(missing_ok=True)
        evidence = eng.variants.stats()
        try:
            before = eng.variants.active_name
            eng.activate_variant(name, now_ns)
        except ValueError as exc:
            outcome: dict[str, Any] = {"ok": False, "error": str(exc)}
            log.error("variants: activation of %r refused: %s", name, exc)
        else:
            outcome = {"ok": True, "from": before, "to": name}
            log.warning("variants: active parameters switched from %s to %s by the operator (%s)", before, name,
                        reason)
        line = {"wall_ns": time.time_ns(), "ts_ns": now_ns, "name": name, "reason": reason,
                "requested_by": req.get("user", ""), **outcome, "evidence": evidence}
        with open(self.run_path / "activations.jsonl", "ab") as fh:
            fh.write(msgspec.json.encode(line) + b"\n")
        self._flush(now_ns)

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
        self._flush(now_ns)
        if self.engine.variants.tracks:
            self._variants_duty(now_ns)
        self.recorder.close()
        if self.io is None:
            return
        self._log_stats()
        report = self.io.stop(STOP_SWEEP_S)
        if report is not None:
            left = "none" if report.confirmed else ("unknown" if report.remaining < 0 else str(report.remaining))
            log.info("stop: open orders left at the venue: %s (%d cancelled)", left, report.cancelled)


if __name__ == "__main__":
    raise SystemExit(run_worker(ExecutionWorker))
