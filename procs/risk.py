"""The risk process: the single authority on how much the system may trade.

Wiring only: every decision is mm.risk.authority.RiskAuthority's. This process feeds it our
fills and order events (ex ring), state snapshots (marks, volatility, regime), FeedStale of
our venue (md ring), the kill switch and operator commands (cmd ring); each control period
it publishes ControlState on the ctl ring. It trips the kill switch on a kill decision,
persists the exposure and safety histories (reloaded at start), writes a postmortem on
Kill, and writes its status (levels, confidence components, criteria) to the run directory
for `mmctl status`.
"""

from __future__ import annotations

import json
import logging
import os
import time

from ipc.killswitch import KillReason
from mm.config import default_run_dir
from mm.graduation.exposure import decode_history
from mm.risk.authority import RiskAuthority
from mm.risk.escalation import KillAction, decode_safety_history
from mm.schema import AnyMessage, FeedStale, Fill, OperatorCommand, StateSnapshot, Venue
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
        self.authority = RiskAuthority(
            cfg.exposure, history, risk=cfg.risk, escalation=cfg.escalation, promotion=cfg.promotion,
            validation=cfg.validation, shadow=cfg.shadow, symbols=list(cfg.run.symbols),
            safety_history=safety, start_ns=now_ns,
        )
        self.last_status_ns = 0
        self.last_kill_action = KillAction.NONE
        log.info("exposure %s, safety %s at start", self.authority.exposure.level.name,
                 self.authority.safety.name)

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        a = self.authority
        if isinstance(msg, StateSnapshot):
            a.on_snapshot(msg, now_ns)
        elif isinstance(msg, Fill):
            a.on_fill(msg)
        elif isinstance(msg, FeedStale):
            if msg.venue in OUR_VENUES:
                a.on_feed_stale(msg.symbol_id, msg.stale, msg.silent_ns, now_ns)
        elif isinstance(msg, OperatorCommand):
            ack, text = a.on_command(msg, time.time_ns())
            log.warning("operator %s by %s (%s): %s -> %s", msg.verb, msg.who, msg.reason, ack.name, text)
            self._persist()
            self.publish("ctl", a.control_state(now_ns, time.time_ns()))
            self.hb.set(ack_code=int(ack), ack_seq=msg.seq)
        elif ring == "ex":
            self.note_latency(getattr(msg, "origin_ts_ns", 0), now_ns)

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
        action = a.kill_action(now_ns)
        if action == KillAction.CANCEL_ALL and self.last_kill_action != KillAction.CANCEL_ALL:
            # Execution places no orders in this build (no quoting policy wired), so nothing is
            # open; the independent cancel path needs risk's own venue client (issue 7, item 7).
            log.error("kill: execution did not confirm cancel-all by the deadline; no venue client "
                      "in risk yet, and no order is ever placed by this build")
        self.last_kill_action = action
        self._persist()
        if now_ns - self.last_status_ns >= STATUS_PERIOD_NS:
            self.last_status_ns = now_ns
            try:
                _atomic_write(self.status_path, json.dumps(a.status(now_ns), default=str).encode())
            except OSError as exc:
                log.error("cannot write %s: %s", self.status_path, exc)
        return CONTROL_PERIOD_NS

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
