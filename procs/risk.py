"""The risk process: the single authority on how much the system may trade.

Wiring only: every decision is mm.risk.authority.RiskAuthority's. This process feeds it our
fills (and, at Shadow, execution's ShadowFills: simulated fills of the active policy's
would-be quotes, evidence but never position) and order events (ex ring: the live quotes the shadow engine twins, and exchange
failures), state snapshots (marks, volatility, regime), alpha's signals (sig ring: the
lead-lag predictions the continuous validator scores), FeedStale of our venue (md ring),
the kill switch and operator commands (cmd ring); each control period it publishes
ControlState on the ctl ring (with the validator's model weights, which alpha applies). It trips the kill switch on a kill decision,
persists the exposure and safety histories (reloaded at start), writes a postmortem on
Kill, and writes its status (levels, confidence components, criteria) to the run directory
for `mmctl status`.

With an ``[exchange]`` section it also has its own venue connection (procs.exec_io.
RiskVenueLink: its own API wallet, HTTP only), used for two things. The independent kill
path: after the kill switch trips, execution has ``escalation.kill_cancel_deadline_ms`` to
confirm on the ex ring that the venue lists no open order (procs.exec_io.kill_confirmation);
when the authority answers CANCEL_ALL instead, risk cancels every open order of the account
itself and reports what the venue then lists (``on_open_orders``), again every
``kill_cancel_retry_ms`` until it lists none. And the venue's positions, every
``risk.reconcile_interval_s``, compared with its own (the venue's win, a difference is
reported); a read is used only when none of our fills arrived around it and execution was
looping (heartbeat) before it was sent and after its answer came, so a fill in flight, or
held by a stalled execution, is not taken for a difference.

Run recording (live/replay parity): the authority journals every call this process makes
into it (mm.risk.authority.RISK_INPUTS: each message as received with the ``now_ns`` of its
step, the kill switch as read, the wall clock read for a timer or a command, the venue's
positions as accepted, open-order counts, what it started from) into
``<state_dir>/runs/<run_id>/risk-*.mmrec`` after a manifest (``risk.json``: the config text
and its SHA-256, symbols); ``mmctl replay --run`` rebuilds the ControlStates from it.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import time

from ipc.killswitch import KillReason
from mm.audit.record import risk_status
from mm.config import default_run_dir
from mm.graduation.exposure import decode_history
from mm.recording.run import RunRecorder, config_manifest
from mm.risk.authority import RiskStart, build_authority
from mm.risk.escalation import KillAction, decode_safety_history
from mm.risk.limits import VenuePosition
from mm.risk.position_read import PositionReadGate
from mm.schema import (
    AlphaSignal,
    AnyMessage,
    FeedStale,
    Fill,
    OperatorCommand,
    OrderEvent,
    ShadowFill,
    StateSnapshot,
    Venue,
)
from mm.venues.hyperliquid.client import AccountState
from mm.venues.hyperliquid.kill_path import KillReport
from procs.alpha import alpha_engine
from procs.exec_io import RiskVenueLink, is_kill_confirmation
from procs.paper_keys import exchange_config, load_key
from procs.runtime import Worker, run_worker

log = logging.getLogger("mm")
CONTROL_PERIOD_NS = 100_000_000
STATUS_PERIOD_NS = 1_000_000_000
OUR_VENUES = (int(Venue.HYPERLIQUID), int(Venue.SIM), int(Venue.SYNTHETIC))


def _atomic_write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class RiskWorker(Worker):
    name = "risk"

    def _load(self, name: str) -> bytes | None:
        path = os.path.join(self.state_dir, name)
        if not os.path.exists(path):
            return None
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError as exc:
            log.error("cannot read %s (%s); starting without it", path, exc)
            return None

    def on_start(self, now_ns: int) -> None:
        cfg = self.cfg
        self.state_dir = cfg.run.state_dir
        os.makedirs(self.state_dir, exist_ok=True)
        self.status_path = os.path.join(default_run_dir(cfg.run.run_dir), "risk_status.json")
        exposure_raw = self._load("exposure_history.json")
        safety_raw = self._load("safety_history.json")
        try:
            history = decode_history(exposure_raw) if exposure_raw else None
            safety = decode_safety_history(safety_raw) if safety_raw else None
        except ValueError as exc:
            log.error("unreadable risk history (%s); starting from the configured levels", exc)
            history, safety = None, None
        alpha = alpha_engine(cfg)  # only for the signals' model names and horizons
        n = len(cfg.run.symbols)
        self.recorder = RunRecorder(cfg.run.state_dir, self.run_id, "risk", {
            **config_manifest(self.config_path), "symbols": list(cfg.run.symbols)})
        self.authority = build_authority(cfg, RiskStart(
            start_ns=now_ns, history=history, safety_history=safety,
            signal_models={i: alpha.model_name(i) for i in range(n)},
            signal_horizon_s={i: alpha.horizon_s(i) for i in range(n)},
        ), journal=True)
        self._journal(now_ns)
        log.info("risk: run recording in %s", self.recorder.dir)
        self.last_status_ns = 0
        self.last_kill_action = KillAction.NONE
        self.venue: RiskVenueLink | None = None
        self._kill_fut: concurrent.futures.Future[KillReport] | None = None
        self._kill_sent_ns = 0
        self._exec_confirmed_epoch = -1
        self._pos_fut: concurrent.futures.Future[AccountState] | None = None
        self.pos_gate = PositionReadGate(int(cfg.risk.reconcile_interval_s * 1e9), now_ns)
        self.sym = {c: i for i, c in enumerate(cfg.run.symbols)}
        if cfg.exchange is not None:  # connects in the background: risk never waits on the venue
            self.venue = RiskVenueLink(exchange_config(cfg), load_key(cfg, "risk"))
        log.info("exposure %s, safety %s at start", self.authority.exposure.level.name,
                 self.authority.safety.name)

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        a = self.authority
        if isinstance(msg, StateSnapshot):
            a.on_snapshot(msg, now_ns)
        elif isinstance(msg, Fill):
            a.on_fill(msg)
            self.pos_gate.on_fill(now_ns)
        elif isinstance(msg, ShadowFill):  # evidence at Shadow; no position, no venue read held
            a.on_shadow_fill(msg)
        elif is_kill_confirmation(msg):
            self._exec_confirmed_epoch = getattr(msg, "oid", -1)
        elif isinstance(msg, OrderEvent):
            a.on_order_event(msg, now_ns)  # the shadow engine's live quotes; exchange failures
            self.note_latency(msg.origin_ts_ns, now_ns)
        elif isinstance(msg, AlphaSignal):
            a.on_signal(msg, now_ns)
        elif isinstance(msg, FeedStale):
            if msg.venue in OUR_VENUES:
                a.on_feed_stale(msg.symbol_id, msg.stale, msg.silent_ns, now_ns)
        elif isinstance(msg, OperatorCommand):
            ack, text = a.on_command(msg, time.time_ns())
            log.warning("operator %s by %s (%s): %s -> %s", msg.verb, msg.who, msg.reason, ack.name, text)
            self._persist()
            self.publish("ctl", a.control_state(now_ns, time.time_ns()))
            self.hb.set(ack_code=int(ack), ack_seq=msg.seq)
        elif ring == "md" and getattr(msg, "venue", -1) in OUR_VENUES and not a.has_data(msg.symbol_id):
            # market data of our venue for a symbol risk has not seen speak yet: the feed's
            # first-data event came before this reader attached (readers start at the latest)
            a.on_feed_stale(msg.symbol_id, False, 0, now_ns)
        elif ring == "ex":
            self.note_latency(getattr(msg, "origin_ts_ns", 0), now_ns)

    def _journal(self, now_ns: int) -> None:
        for op, args in self.authority.drain_inputs():
            self.recorder.input(op, args, now_ns)

    def drain(self, now_ns: int, max_batch: int = 256) -> int:
        n = super().drain(now_ns, max_batch)
        self._journal(now_ns)
        return n

    def on_timer(self, now_ns: int) -> int:
        a = self.authority
        wall = time.time_ns()
        ks = self.ks.state() if self.ks.tripped() else None
        a.on_kill_switch(ks is not None, ks["reason"] if ks else "", now_ns)
        a.on_timer(now_ns, wall)
        self.publish("ctl", a.control_state(now_ns, wall))
        decision = a.take_kill_decision()
        while decision is not None:
            self._on_kill(decision.reason, decision.already_tripped, now_ns)
            decision = a.take_kill_decision()
        if ks is not None and self._exec_confirmed_epoch == self.ks.epoch():
            self._on_exec_confirmed(now_ns)
        action = a.kill_action(now_ns)
        if action == KillAction.CANCEL_ALL:
            self._kill_path(now_ns)
        self.last_kill_action = action
        self._poll_venue(now_ns)
        self._persist()
        if now_ns - self.last_status_ns >= STATUS_PERIOD_NS:
            self.last_status_ns = now_ns
            st = a.status(now_ns)
            self.publish("ctl", risk_status(st, ts_ns=now_ns, wall_ns=wall, seq=a.seq))
            try:
                _atomic_write(self.status_path, json.dumps(st, default=str).encode())
            except OSError as exc:
                log.error("cannot write %s: %s", self.status_path, exc)
        self._journal(now_ns)
        self.recorder.maybe_flush(now_ns)
        return CONTROL_PERIOD_NS

    # ------------------------------------------------------------------ the independent kill path

    def _since_trip_ms(self, now_ns: int) -> float:
        t = self.authority.kill_watch.tripped_ns
        return (now_ns - t) / 1e6 if t is not None else float("nan")

    def _on_exec_confirmed(self, now_ns: int) -> None:
        w = self.authority.kill_watch
        if w.tripped_ns is not None and w.settled_ns is None:
            self.authority.on_execution_cancel_confirmed(now_ns)
            log.warning("kill: execution confirmed cancel-all %.0f ms after the trip", self._since_trip_ms(now_ns))

    def _kill_path(self, now_ns: int) -> None:
        """CANCEL_ALL: execution has not confirmed in time; cancel everything through our own link."""
        if self.venue is None:
            if self.last_kill_action != KillAction.CANCEL_ALL:
                log.error("kill: execution did not confirm cancel-all by the deadline, and risk has no venue "
                          "connection (no [exchange] section: no client, so no order was ever sent)")
            return
        if not self.venue.ready:
            log.error("kill: execution did not confirm cancel-all by the deadline; risk's own venue connection "
                      "is not up yet (retrying)")
            return
        if self._kill_fut is not None:
            return  # the previous attempt is still running
        log.error("kill: execution has not confirmed cancel-all %.0f ms after the trip; cancelling every open "
                  "order through risk's own connection", self._since_trip_ms(now_ns))
        self._kill_sent_ns = now_ns
        self._kill_fut = self.venue.cancel_everything()

    def _poll_venue(self, now_ns: int) -> None:
        fut = self._kill_fut
        if fut is not None and fut.done():
            self._kill_fut = None
            try:
                rep = fut.result()
            except Exception as exc:
                log.error("kill path: failed: %s", exc or type(exc).__name__)
            else:
                if rep.confirmed:
                    self.authority.on_open_orders(0, now_ns)
                    log.warning("kill path: the venue lists no open order %.0f ms after the trip (risk's own "
                                "cancel: %d seen, %d cancelled, %d already gone, %.0f ms)",
                                self._since_trip_ms(now_ns), rep.orders_seen, rep.cancelled, rep.already_gone,
                                rep.elapsed_ms)
                elif rep.remaining > 0:
                    self.authority.on_open_orders(rep.remaining, now_ns)
        if self.venue is not None and self.venue.ready:
            self._reconcile_positions(now_ns)

    def _reconcile_positions(self, now_ns: int) -> None:
        """Every reconcile_interval_s: the venue's positions against ours, when the read may be
        trusted (mm.risk.position_read.PositionReadGate decides)."""
        gate = self.pos_gate
        beat = self.hb_table.row("execution").get("ts_ns")
        fut = self._pos_fut
        if fut is None:
            if gate.may_send(now_ns, beat):
                assert self.venue is not None
                gate.on_sent(now_ns)
                self._pos_fut = self.venue.account()
            return
        if not fut.done() or not gate.settled(now_ns):
            return
        self._pos_fut = None
        try:
            account = fut.result()
        except Exception as exc:
            log.warning("reconcile: clearinghouseState failed: %s", exc or type(exc).__name__)
            gate.on_failed(now_ns)
            return
        if not gate.accept(now_ns, beat):
            return  # a fill of ours around the read, or execution not looping since: retried
        venue = [VenuePosition(symbol_id=self.sym[p.coin], qty=p.szi, entry_px=p.entry_px or 0.0)
                 for p in account.positions if p.coin in self.sym]
        rep = self.authority.on_venue_positions(venue, now_ns)
        if not rep.ok:
            log.warning("reconcile: our positions differ from the venue's (the venue's adopted): %s",
                        "; ".join(f"{d.coin} ours {d.ours_qty:g} venue {d.venue_qty:g}" for d in rep.diffs))

    def on_stop(self, now_ns: int) -> None:
        if self.venue is not None:
            self.venue.close()
        self._journal(now_ns)
        self.recorder.close()

    def _on_kill(self, reason: str, already_tripped: bool, now_ns: int) -> None:
        if not already_tripped:
            tripped = self.ks.trip(int(KillReason.SAFETY_KILL), "risk", reason, os.getpid(), now_ns, time.time_ns())
            log.error("risk: safety Kill (%s); kill switch %s", reason, "tripped" if tripped else "already tripped")
        self._persist(force=True)
        pm_dir = os.path.join(self.state_dir, "postmortems")
        os.makedirs(pm_dir, exist_ok=True)
        path = os.path.join(pm_dir, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-risk-kill.json")
        try:
            _atomic_write(path, json.dumps(self.authority.postmortem(now_ns), indent=1, default=str).encode())
            log.error("risk: postmortem written to %s", path)
        except OSError as exc:
            log.error("risk: cannot write postmortem %s: %s", path, exc)

    def _persist(self, force: bool = False) -> None:
        dirty = self.authority.take_dirty()
        if force:
            dirty |= {"exposure", "safety"}
        if "exposure" in dirty:
            _atomic_write(os.path.join(self.state_dir, "exposure_history.json"),
                          self.authority.exposure_history_bytes())
        if "safety" in dirty:
            _atomic_write(os.path.join(self.state_dir, "safety_history.json"), self.authority.safety_history_bytes())


if __name__ == "__main__":
    raise SystemExit(run_worker(RiskWorker))
