"""The supervisor: creates a run's shared memory, starts and pins the workers, watches
their heartbeats, answers mmctl, and tears everything down.

Entry point of ``make up``: ``python -m procs.supervisor --config configs/paper.toml``.

Watchdog rules (config [supervisor]): a worker whose process exits, whose heartbeat is older
than ``heartbeat_deadline_ms``, or which has not sent its first heartbeat within
``startup_grace_ms``, is lost. If it is in ``kill_on_loss`` (execution, risk) the kill
switch is tripped first. Then, if it is ``restartable`` and within ``max_restarts`` per
``restart_window_s``, it is restarted; otherwise the group stops. Every action is logged
with its reason. Under systemd (NOTIFY_SOCKET set) it sends READY=1, WATCHDOG=1 and STATUS=.
SIGTERM or SIGINT stops the group: workers get SIGTERM, then SIGKILL after
``shutdown_timeout_ms``; every segment of the run is unlinked.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from typing import Any

import psutil

from ipc.control import ControlReply, ControlRequest, ControlServer, ensure_private_dir
from ipc.heartbeat import HeartbeatTable, ProcState
from ipc.killswitch import KillReason, KillSwitch
from ipc.ring import Ring, RingOverrun
from ipc.segments import clean_stale, new_run_id, shm_name, unlink_run
from ipc.wait import Waker
from mm.config import PROCESS_NAMES, Config, ConfigError, default_run_dir, load_config
from mm.risk.authority import Ack
from mm.schema import Codec, ControlState, ExposureLevel, OperatorCommand, SafetyLevel
from procs.paper_keys import KeySetupError, provision
from procs.runtime import setup_logging
from procs.topology import HEARTBEAT, KILLSWITCH, RING_WRITER, wake_name

log = logging.getLogger("mm")

GROUP_FILE = "group.json"
CONTROL_SOCKET = "control.sock"
LOCK_FILE = "supervisor.lock"


def sd_notify(message: str) -> None:
    """Send a systemd notification if running under systemd (NOTIFY_SOCKET set)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(addr)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)


class Managed:
    """One supervised worker process."""

    def __init__(self, name: str, core: int) -> None:
        self.name = name
        self.core = core
        self.popen: subprocess.Popen[bytes] | None = None
        self.restarts: deque[float] = deque()
        self.total_restarts = 0
        self.started_ns = 0
        self.last_loops = 0
        self.last_rate_ns = 0
        self.loop_rate_hz = 0.0
        self.last_loss_ns = 0
        self.last_loss_reason = ""


class Supervisor:
    def __init__(self, cfg: Config, config_path: str) -> None:
        self.cfg = cfg
        self.config_path = os.path.abspath(config_path)
        self.run_dir = os.path.abspath(default_run_dir(cfg.run.run_dir))
        ensure_private_dir(self.run_dir)
        self._lock_fh = open(os.path.join(self.run_dir, LOCK_FILE), "a+")
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_group(self.run_dir)
            raise SystemExit(
                f"a process group is already running in {self.run_dir} "
                f"(supervisor pid {other.get('pid', '?')}); stop it with `mmctl shutdown` "
                "or set run.run_dir / MM_RUN_DIR for a second group"
            ) from None
        removed = clean_stale()
        if removed:
            log.warning("removed %d stale shared-memory entries of dead runs: %s", len(removed), removed)
        self.run_id = new_run_id()
        self.started_ns = time.monotonic_ns()
        self.stopping = False
        self.codec = Codec()
        self.cmd_seq = 0
        names = list(PROCESS_NAMES)
        if cfg.run.mode == "paper" and cfg.feed.source == "venue" and not cfg.paper.external_venue:
            names.insert(0, "venue")
        ncpu = os.cpu_count() or 1
        self.procs: dict[str, Managed] = {}
        shared = []
        for n in names:
            want = cfg.cores.core_of(n)
            core = -1 if want < 0 else want % ncpu
            if want >= ncpu:
                shared.append(f"{n}:{want}->{core}")
            self.procs[n] = Managed(n, core)
        if shared:
            log.warning(
                "this machine has %d cores; sharing cores (%s). Readers block instead of spinning "
                "(ipc.wait=%s).", ncpu, ", ".join(shared), cfg.ipc.wait,
            )
        # shared memory of the run
        self.hb = HeartbeatTable.create(shm_name(self.run_id, HEARTBEAT), [*names, "supervisor"])
        self.hb_self = self.hb.row("supervisor")
        self.hb_self.set(pid=os.getpid(), state=int(ProcState.RUNNING), core=self._pin_self())
        self.ks = KillSwitch.create(shm_name(self.run_id, KILLSWITCH))
        self.rings: dict[str, Ring] = {}
        for r in RING_WRITER:
            count, size = cfg.ipc.slot_count, cfg.ipc.slot_size
            if r == "audit":  # decision records are larger than market messages
                count, size = cfg.monitor.audit_slot_count, cfg.monitor.audit_slot_size
            self.rings[r] = Ring.create(shm_name(self.run_id, r), count, size)
        self.cmd_writer = self.rings["cmd"].writer()
        # The supervisor reads risk's ControlState (no wake-up: it polls) for status and acks.
        self.ctl_reader = self.rings["ctl"].reader("supervisor")
        self.last_control: ControlState | None = None
        self.wakers = {n: Waker.create(shm_name(self.run_id, wake_name(n))) for n in names}
        self.control = ControlServer(os.path.join(self.run_dir, CONTROL_SOCKET))
        self._write_group_file()

    # ------------------------------------------------------------------ setup

    def _pin_self(self) -> int:
        core = self.cfg.cores.supervisor
        if core < 0:
            return -1
        core %= os.cpu_count() or 1
        try:
            psutil.Process().cpu_affinity([core])
        except (psutil.Error, OSError) as exc:
            log.warning("could not pin supervisor to core %d: %s", core, exc)
            return -1
        return core

    def _write_group_file(self) -> None:
        info = {
            "run_id": self.run_id,
            "pid": os.getpid(),
            "config": self.config_path,
            "mode": self.cfg.run.mode,
            "started_wall": time.time(),
            "processes": list(self.procs),
            "rings": {r: shm_name(self.run_id, r) for r in self.rings},
            "killswitch": shm_name(self.run_id, KILLSWITCH),
            "heartbeat": shm_name(self.run_id, HEARTBEAT),
            "control": self.control.path,
        }
        path = os.path.join(self.run_dir, GROUP_FILE)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh, indent=1)
        os.replace(tmp, path)

    # ------------------------------------------------------------------ processes

    def spawn(self, m: Managed) -> None:
        cmd = [sys.executable, "-m", f"procs.{m.name}", "--run-id", self.run_id, "--config", self.config_path]
        row = self.hb.row(m.name)
        row.set(state=int(ProcState.STARTING), ts_ns=0, pid=0, started_ts_ns=time.monotonic_ns())
        m.popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        m.started_ns = time.monotonic_ns()
        m.last_loops = 0
        pinned = -1
        if m.core >= 0:
            try:
                psutil.Process(m.popen.pid).cpu_affinity([m.core])
                pinned = m.core
            except (psutil.Error, OSError) as exc:
                log.warning("could not pin %s to core %d: %s", m.name, m.core, exc)
        row.set(pid=m.popen.pid, core=pinned, restarts=m.total_restarts)
        log.info("started %s pid %d core %s", m.name, m.popen.pid, pinned if pinned >= 0 else "any")

    def _lose(self, m: Managed, why: str, now_ns: int) -> None:
        """A worker is lost: kill what is left, trip the switch if required, restart or stop."""
        log.error("watchdog: %s lost: %s", m.name, why)
        m.last_loss_ns = now_ns
        m.last_loss_reason = why
        if m.popen is not None and m.popen.poll() is None:
            m.popen.kill()
            try:
                m.popen.wait(timeout=2)
            except subprocess.TimeoutExpired:
                log.error("watchdog: %s (pid %d) did not die on SIGKILL", m.name, m.popen.pid)
        self.hb.row(m.name).set(state=int(ProcState.LOST))
        if m.name in self.cfg.supervisor.kill_on_loss:
            tripped = self.trip(KillReason.PROCESS_LOST, f"{m.name} lost: {why}", now_ns)
            log.error(
                "watchdog: kill switch %s (%s is required for safe trading)",
                "tripped" if tripped else "already tripped", m.name,
            )
        if m.name not in self.cfg.supervisor.restartable:
            log.error("watchdog: %s is not restartable; stopping the group", m.name)
            self.stopping = True
            return
        window_s = self.cfg.supervisor.restart_window_s
        now_s = now_ns / 1e9
        while m.restarts and now_s - m.restarts[0] > window_s:
            m.restarts.popleft()
        if len(m.restarts) >= self.cfg.supervisor.max_restarts:
            self.trip(KillReason.SUPERVISOR, f"{m.name} restarted too often", now_ns)
            log.error(
                "watchdog: %s lost %d times within %.0f s; giving up, stopping the group",
                m.name, len(m.restarts) + 1, window_s,
            )
            self.stopping = True
            return
        m.restarts.append(now_s)
        m.total_restarts += 1
        log.warning("watchdog: restarting %s (restart %d)", m.name, m.total_restarts)
        self.spawn(m)

    def trip(self, code: KillReason, reason: str, now_ns: int) -> bool:
        return self.ks.trip(int(code), "supervisor", reason, os.getpid(), now_ns, time.time_ns())

    def watchdog(self, now_ns: int) -> None:
        sup = self.cfg.supervisor
        deadline_ns = sup.heartbeat_deadline_ms * 1_000_000
        grace_ns = sup.startup_grace_ms * 1_000_000
        for m in self.procs.values():
            if self.stopping:
                return
            if m.popen is None:
                continue
            rc = m.popen.poll()
            if rc is not None:
                self._lose(m, f"process exited with code {rc}", now_ns)
                continue
            row = self.hb.row(m.name)
            state = row.get("state")
            beat_ns = row.get("ts_ns")
            if state == ProcState.STARTING or beat_ns == 0:
                if now_ns - m.started_ns > grace_ns:
                    self._lose(m, f"no heartbeat within startup grace {sup.startup_grace_ms} ms", now_ns)
                continue
            age_ns = now_ns - beat_ns
            own_ms = max(sup.deadline_overrides_ms.get(m.name, 0), sup.heartbeat_deadline_ms)
            if age_ns > (deadline_ns if own_ms == sup.heartbeat_deadline_ms else own_ms * 1_000_000):
                self._lose(m, f"heartbeat {age_ns / 1e6:.0f} ms old > deadline {own_ms} ms", now_ns)
                continue
            if now_ns - m.last_rate_ns >= 1_000_000_000:
                loops = row.get("loops")
                if m.last_rate_ns:
                    m.loop_rate_hz = (loops - m.last_loops) * 1e9 / (now_ns - m.last_rate_ns)
                m.last_loops, m.last_rate_ns = loops, now_ns

    # ------------------------------------------------------------------ control

    def status(self, now_ns: int) -> dict[str, Any]:
        procs = []
        rows = {r["name"]: r for r in self.hb.snapshot()}
        for name, m in self.procs.items():
            row = rows[name]
            alive = m.popen is not None and m.popen.poll() is None
            beat = int(row["ts_ns"])
            procs.append(
                {
                    "name": name,
                    "pid": int(row["pid"]),
                    "core": int(row["core"]),
                    "alive": alive,
                    "state": ProcState(int(row["state"])).name.lower(),
                    "heartbeat_age_ms": round((now_ns - beat) / 1e6, 1) if beat else None,
                    "loop_rate_hz": round(m.loop_rate_hz, 1),
                    "restarts": m.total_restarts,
                    "msgs_in": int(row["msgs_in"]),
                    "msgs_out": int(row["msgs_out"]),
                    "overruns": int(row["overruns"]),
                    "errors": int(row["errors"]),
                    "latency_last_us": round(int(row["lat_last_ns"]) / 1e3, 1),
                    "latency_max_us": round(int(row["lat_max_ns"]) / 1e3, 1),
                    "ks_epoch_seen": int(row["ks_epoch"]),
                    "last_loss_ns": m.last_loss_ns,
                    "last_loss_reason": m.last_loss_reason,
                }
            )
        channels = []
        for name, ring in self.rings.items():
            st = ring.stats()
            st["writer"] = RING_WRITER[name]
            st["channel"] = name
            channels.append(st)
        return {
            "run_id": self.run_id,
            "mode": self.cfg.run.mode,
            "pid": os.getpid(),
            "uptime_s": round((now_ns - self.started_ns) / 1e9, 1),
            "processes": procs,
            "channels": channels,
            "killswitch": self.ks.state(),
            "wait": self.cfg.ipc.wait,
            "risk": self._levels(),
            "risk_detail": self._risk_detail(),
        }

    def _risk_detail(self) -> dict[str, Any]:
        """Risk's own status (levels, confidence components, criteria), written by risk."""
        try:
            with open(os.path.join(self.run_dir, "risk_status.json")) as fh:
                data: dict[str, Any] = json.load(fh)
                return data
        except (OSError, ValueError):
            return {}

    def handle(self, req: ControlRequest, now_ns: int) -> ControlReply:
        cmd = req.cmd
        if cmd == "status":
            return ControlReply(ok=True, data=self.status(now_ns))
        if cmd == "kill":
            reason = str(req.args.get("reason") or "operator kill")
            who = str(req.args.get("who") or "mmctl")
            tripped = self.ks.trip(int(KillReason.OPERATOR), who, reason, os.getpid(), now_ns, time.time_ns())
            log.warning("kill switch %s by %s: %s", "tripped" if tripped else "already tripped", who, reason)
            return ControlReply(ok=True, data={"tripped": tripped, "killswitch": self.ks.state()})
        if cmd == "reset-kill":
            was = self.ks.reset()
            log.warning("kill switch reset by operator (%s)", "was tripped" if was else "was not tripped")
            return ControlReply(ok=True, data={"reset": was, "killswitch": self.ks.state()})
        if cmd in ("promote", "demote"):
            return self._forward(cmd, req, now_ns)
        if cmd == "shutdown":
            log.warning("shutdown requested over the control socket")
            self.stopping = True
            return ControlReply(ok=True, data={"stopping": True})
        return ControlReply(ok=False, error=f"unknown command {cmd!r}")

    def _forward(self, verb: str, req: ControlRequest, now_ns: int) -> ControlReply:
        """Forward promote/demote to risk on the cmd ring and wait for its acknowledgement."""
        self.cmd_seq += 1
        seq = self.cmd_seq
        msg = OperatorCommand(
            ts_ns=now_ns,
            seq=seq,
            verb=verb,
            arg=str(req.args.get("to") or ""),
            reason=str(req.args.get("reason") or ""),
            who=str(req.args.get("who") or "mmctl"),
            force=bool(req.args.get("force", False)),
        )
        self.cmd_writer.push(self.codec.encode(msg))
        risk = self.hb.row("risk")
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            if risk.get("ack_seq") >= seq:
                ack = risk.get("ack_code")
                time.sleep(0.01)
                self._read_control()
                text = self.last_control.reason if self.last_control is not None else ""
                data = {"seq": seq, "ack": Ack(ack).name.lower(), "message": text, **self._levels()}
                if ack == Ack.ACCEPTED:
                    return ControlReply(ok=True, data=data)
                return ControlReply(ok=False, data=data, error=text or Ack(ack).name.lower())
            time.sleep(0.005)
        return ControlReply(
            ok=False,
            error=f"{verb} forwarded to risk (seq {seq}) but not acknowledged within 2 s; "
            "check `mmctl status` (is risk alive?)",
        )

    def _read_control(self) -> None:
        while True:
            try:
                batch = self.ctl_reader.poll_batch(1024)
            except RingOverrun:
                continue
            if not batch:
                return
            for raw in reversed(batch):  # the ring also carries RiskStatus: take the last ControlState
                try:
                    msg = self.codec.decode(raw)
                except Exception as exc:
                    log.error("ctl ring: undecodable message dropped: %s", exc)
                    continue
                if isinstance(msg, ControlState):
                    self.last_control = msg
                    break

    def _levels(self) -> dict[str, Any]:
        c = self.last_control
        if c is None:
            return {"exposure_level": None, "safety_level": None}
        return {
            "exposure_level": ExposureLevel(c.exposure_level).name,
            "safety_level": SafetyLevel(c.safety_level).name,
            "size_multiplier": c.size_multiplier,
            "spread_multiplier": c.spread_multiplier,
            "reduce_only": c.reduce_only,
            "control_reason": c.reason,
        }

    # ------------------------------------------------------------------ main loop

    def run(self) -> int:
        for m in self.procs.values():
            self.spawn(m)
        sd_notify("READY=1\nSTATUS=starting workers")
        wd_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        wd_every_ns = wd_usec * 500 if wd_usec else 0
        last_wd = 0
        last_status = 0
        poll_ms = self.cfg.supervisor.poll_interval_ms
        while not self.stopping:
            req = self.control.poll(poll_ms)
            now = time.monotonic_ns()
            if req is not None:
                try:
                    reply = self.handle(req, now)
                except Exception as exc:  # a control error must never take the group down
                    log.exception("control command %s failed", req.cmd)
                    reply = ControlReply(ok=False, error=f"{req.cmd} failed: {exc}")
                self.control.reply(reply)
            self.hb_self.beat(now)
            self._read_control()
            self.watchdog(now)
            if wd_every_ns and now - last_wd >= wd_every_ns:
                sd_notify("WATCHDOG=1")
                last_wd = now
            if now - last_status >= 5_000_000_000:
                alive = sum(1 for m in self.procs.values() if m.popen and m.popen.poll() is None)
                ks = "TRIPPED" if self.ks.tripped() else "armed"
                sd_notify(f"STATUS={alive}/{len(self.procs)} workers alive, kill switch {ks}")
                last_status = now
        return 0

    def request_stop(self, signum: int, frame: object) -> None:
        log.warning("signal %d: stopping the group", signum)
        self.stopping = True

    def shutdown(self) -> None:
        sd_notify("STOPPING=1")
        timeout_s = self.cfg.supervisor.shutdown_timeout_ms / 1000
        # The paper venue stops last: execution's clean stop cancels its orders there first.
        running = [m for m in self.procs.values() if m.popen is not None and m.popen.poll() is None]
        deadline = time.monotonic() + timeout_s
        for wave in ([m for m in running if m.name != "venue"], [m for m in running if m.name == "venue"]):
            for m in wave:
                self.hb.row(m.name).set(state=int(ProcState.STOPPING))
                assert m.popen is not None
                m.popen.terminate()
            for m in wave:
                assert m.popen is not None
                try:
                    m.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.error("%s did not stop within %.1f s; killing it", m.name, timeout_s)
                    m.popen.kill()
                    m.popen.wait()
        self.control.close()
        self.ctl_reader.close()
        for w in self.wakers.values():
            w.close()
        for ring in self.rings.values():
            ring.close()
        self.ks.close()
        self.hb.close()
        removed = unlink_run(self.run_id)
        for fname in (GROUP_FILE,):
            try:
                os.unlink(os.path.join(self.run_dir, fname))
            except FileNotFoundError:
                pass
        log.info("group stopped; unlinked %d shared-memory entries", len(removed))
        fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
        self._lock_fh.close()


def _read_group(run_dir: str) -> dict[str, Any]:
    try:
        with open(os.path.join(run_dir, GROUP_FILE)) as fh:
            data: dict[str, Any] = json.load(fh)
            return data
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="procs.supervisor", description="Run the mm process group.")
    ap.add_argument("--config", default="configs/paper.toml")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    setup_logging("supervisor", cfg.run.log_level)
    try:  # before anything is spawned: paper keys made once, live keys checked (never generated)
        signers = provision(cfg)
    except KeySetupError as exc:
        print(f"key error: {exc}", file=sys.stderr)
        return 2
    if signers is not None:
        log.info("account %s; API wallets: execution %s, risk %s", signers.account, signers.execution, signers.risk)
    sup = Supervisor(cfg, args.config)
    signal.signal(signal.SIGTERM, sup.request_stop)
    signal.signal(signal.SIGINT, sup.request_stop)
    log.info(
        "run %s mode %s: %s; control %s", sup.run_id, cfg.run.mode, ", ".join(sup.procs), sup.control.path
    )
    try:
        return sup.run()
    finally:
        sup.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
