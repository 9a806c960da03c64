"""The monitor process: audit files, postmortems, /metrics and the live dashboard.

Wiring only: what it knows is mm.metrics.state.MonitorState's; postmortem rules are
mm.audit.postmortem's; the HTTP side is mm.metrics.server's. Every ``poll_interval_ms`` it
drains its rings (``snap``, ``sig``, ``ex``, ``ctl`` and ``audit`` when they exist) without
ever asking a producer to wake it, reads the kill switch, and writes the audit records that
come back (decision records enriched with fills, PnL and confidence; fill joins; control
changes; risk status) to rotated zstd files under ``<state_dir>/audit``, and on an escalation to Red or Kill or a kill-switch trip writes a
postmortem bundle under ``<state_dir>/postmortems``. Every ``state_interval_ms`` it samples
the heartbeat table, the rings' statistics and the PnL. The state served on ``/``,
``/api/state`` and ``/metrics`` (127.0.0.1 by default, from an HTTP thread) is built on
demand under a lock. Its address goes to ``<run_dir>/monitor.json`` for ``mmctl status``.
It runs at a lower priority (``nice``) than the trading processes.

It trades nothing and holds no key. ``--port``/``--host`` override the config's
``[monitor]`` (tests use ``--port 0``). Started by the supervisor like any worker:
``python -m procs.monitor --run-id R --config C``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import queue
import threading
import time
from typing import Any, Union, get_args

import msgspec

from ipc.ring import Ring, RingNotFound, RingOverrun, RingReader
from ipc.segments import shm_name
from mm.audit.config import MonitorConfig
from mm.audit.postmortem import Trigger, build_bundle
from mm.audit.record import SAFETY_NAMES, CycleDecisionRecord, RiskStatus, level_name
from mm.audit.store import AuditWriter, audit_dir, postmortem_dir, write_bundle
from mm.audit.window import WindowView
from mm.config import default_run_dir
from mm.dashboard import MONITOR_FILE
from mm.metrics.server import MonitorHttpServer
from mm.metrics.state import MonitorState
from mm.schema import AnyMessage
from procs.runtime import Worker, run_worker

log = logging.getLogger("mm")

MONITOR_READS = ("snap", "sig", "ex", "ctl", "audit")
"""Rings the monitor reads, when they exist."""
STATS_RINGS = ("md", "snap", "sig", "ex", "ctl", "cmd", "audit")
"""Rings whose statistics (published, readers' lag and overruns) the dashboard shows."""
REATTACH_NS = 5_000_000_000


def release_free_memory() -> None:
    """Hand the allocator's free pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    A bundle takes megabytes for a moment on the writer thread (the window's chunks
    decompressed, the files encoded); glibc keeps such freed memory in that thread's arena,
    and the monitor's resident memory grew with each bundle until trimmed."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def monitor_decoder() -> msgspec.msgpack.Decoder[Any]:
    """A decoder of every ring message plus the audit messages (tags 60 and 62), whether or
    not mm.schema's union carries them yet."""
    types = tuple(dict.fromkeys((*get_args(AnyMessage), CycleDecisionRecord, RiskStatus)))
    return msgspec.msgpack.Decoder(Union[types])  # type: ignore[arg-type]  # noqa: UP007 - a run-time union


def _own_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    ap = argparse.ArgumentParser(prog="procs.monitor", add_help=False)
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--host", default=None)
    return ap.parse_known_args(argv)


def monitor_config(cfg: Any, host: str | None = None, port: int | None = None) -> MonitorConfig:
    """The ``[monitor]`` section of a Config (defaults when the Config has none), with overrides."""
    m = getattr(cfg, "monitor", None)
    mcfg = m if isinstance(m, MonitorConfig) else MonitorConfig()
    changes: dict[str, Any] = {}
    if host is not None:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    return MonitorConfig(**{**{f: getattr(mcfg, f) for f in mcfg.__struct_fields__}, **changes}) if changes else mcfg


class MonitorWorker(Worker):
    name = "monitor"

    def __init__(self, argv: list[str] | None = None) -> None:
        own, rest = _own_args(argv)
        super().__init__(rest)
        self.mcfg = monitor_config(self.cfg, own.host, own.port)
        if self.mcfg.nice:
            try:
                os.nice(self.mcfg.nice)  # an observer: never take CPU from the trading processes
            except OSError as exc:
                log.warning("could not lower the monitor's priority: %s", exc)
        # The monitor polls on its timer: it takes over any readers the runtime attached for it
        # (when the topology lists it) and attaches the rest itself, none with a wake-up.
        self.poll_readers: dict[str, RingReader] = dict(self.readers)
        self._reader_list = []
        self._wait_readers = []
        self.stat_rings: dict[str, Ring] = {}
        self.decoder = monitor_decoder()
        self.undecodable: dict[str, int] = {}
        self._last_attach_ns = 0
        self._attach()

    # ------------------------------------------------------------------ shared memory

    def _attach(self) -> None:
        for ring_name in STATS_RINGS:
            if ring_name in self.stat_rings:
                continue
            try:
                ring = Ring.attach(shm_name(self.run_id, ring_name))
            except (RingNotFound, FileNotFoundError, ValueError):
                continue
            self.stat_rings[ring_name] = ring
            self._rings.append(ring)
            if ring_name in MONITOR_READS and ring_name not in self.poll_readers:
                self.poll_readers[ring_name] = ring.reader(self.name)
        missing = [r for r in MONITOR_READS if r not in self.poll_readers]
        if missing and not self._last_attach_ns:
            log.warning("rings not found (yet): %s; retrying every %d s", ", ".join(missing), REATTACH_NS // 10**9)

    def _drain(self, now_ns: int, wall_ns: int) -> int:
        n = 0
        for ring_name, reader in self.poll_readers.items():
            while True:
                try:
                    batch = reader.poll_batch(1024)
                except RingOverrun as exc:
                    self.hb.add("overruns", exc.lost)
                    log.warning("ring %s: lapped, %d messages lost; resynchronised", ring_name, exc.lost)
                    continue
                if not batch:
                    break
                for payload in batch:
                    try:
                        msg = self.decoder.decode(payload)
                    except Exception as exc:  # a message the codec does not know: counted, dropped
                        self.hb.add("errors")
                        seen = self.undecodable.get(ring_name, 0)
                        self.undecodable[ring_name] = seen + 1
                        if seen == 0 or (seen + 1) % 1000 == 0:
                            log.warning("ring %s: undecodable message dropped (%d so far): %s",
                                        ring_name, seen + 1, exc)
                        continue
                    for rec in self.state.on_message(msg, now_ns, wall_ns):
                        if self.audit is not None:
                            self.audit.write(rec, now_ns)
                n += len(batch)
                if len(batch) < 1024:
                    break
        if n:
            self.hb.add("msgs_in", n)
        return n

    # ------------------------------------------------------------------ lifecycle

    def on_start(self, now_ns: int) -> None:
        wall = time.time_ns()
        self.state = MonitorState(
            self.cfg.run.symbols, self.mcfg, run_id=self.run_id, run_mode=self.cfg.run.mode,
            heartbeat_deadline_ms=self.cfg.supervisor.heartbeat_deadline_ms, start_ns=now_ns, start_wall_ns=wall,
        )
        state_dir = self.cfg.run.state_dir
        self.audit_path = audit_dir(state_dir)
        self.pm_path = postmortem_dir(state_dir)
        self.audit: AuditWriter | None = AuditWriter(self.audit_path, self.mcfg) if self.mcfg.audit else None
        self.postmortems_written = 0
        self.last_postmortem = ""
        # Bundles are built and written on their own thread: a bundle holds minutes of audit
        # records, and writing it on the loop thread overran the heartbeat deadline under load
        # (the watchdog then restarted the monitor, which wrote the bundle again).
        # The records go to it still encoded (mm.audit.window) and are written as they are, never decoded.
        self._pm_queue: queue.Queue[tuple[Trigger, dict[str, Any], WindowView] | None] = queue.Queue()
        self._pm_thread = threading.Thread(target=self._pm_writer, name="postmortem-writer", daemon=True)
        self._pm_thread.start()
        self._next_state_ns = now_ns
        self.lock = threading.Lock()  # the state is read by the HTTP thread, changed by this one
        with self.lock:
            self._sample(now_ns, wall)
        self.http = MonitorHttpServer(self.serve_state, self.mcfg.host, self.mcfg.port, self.mcfg.serve_cache_ms)
        self.http.start()
        self.run_dir = default_run_dir(self.cfg.run.run_dir)
        self._write_monitor_file()
        log.info("monitor on %s (dashboard /, /metrics); audit in %s", self.http.url, self.audit_path)
        if self.mcfg.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("monitor binds %s: the dashboard and metrics are reachable beyond loopback", self.mcfg.host)

    def _write_monitor_file(self) -> None:
        os.makedirs(self.run_dir, exist_ok=True)
        path = os.path.join(self.run_dir, MONITOR_FILE)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "run_id": self.run_id, "url": self.http.url,
                       "host": self.http.host, "port": self.http.port}, fh)
        os.replace(tmp, path)

    def on_timer(self, now_ns: int) -> int:
        wall = time.time_ns()
        if len(self.poll_readers) < len(MONITOR_READS) and now_ns - self._last_attach_ns >= REATTACH_NS:
            self._last_attach_ns = now_ns
            self._attach()
        with self.lock:
            self._drain(now_ns, wall)
            self.state.on_killswitch(self.ks.state(), now_ns, wall)
            if self.audit is not None:
                self.audit.maybe_flush(now_ns)
            triggers = self.state.take_triggers()
            if triggers or now_ns >= self._next_state_ns:
                self._next_state_ns = now_ns + self.mcfg.state_interval_ms * 1_000_000
                self._sample(time.monotonic_ns(), time.time_ns())
            for trig in triggers:
                self._postmortem(trig, self._snapshot(), now_ns)
        return self.mcfg.poll_interval_ms * 1_000_000

    def _sample(self, now_ns: int, wall_ns: int) -> None:
        """Process health, ring statistics, the PnL history (on the state interval)."""
        self.state.on_heartbeats(self.hb_table.snapshot(), now_ns)
        self.state.on_channels([{**ring.stats(), "channel": name} for name, ring in self.stat_rings.items()])
        self.state.sample(wall_ns)

    def _snapshot(self) -> dict[str, Any]:
        """The state dict now (the caller holds the lock)."""
        self._audit_info()
        return self.state.snapshot(time.monotonic_ns(), time.time_ns())

    def serve_state(self) -> dict[str, Any]:
        """The state for the HTTP server's thread: built under the lock, on demand."""
        with self.lock:
            return self._snapshot()

    def _audit_info(self) -> None:
        a = self.audit
        self.state.audit_info = {
            "dir": str(self.audit_path),
            "records": a.records if a else 0,
            "bytes": a.bytes_written if a else 0,
            "files": a.files if a else 0,
            "postmortems": self.postmortems_written,
            "last_postmortem": self.last_postmortem,
        }

    def _postmortem(self, trig: Trigger, snap: dict[str, Any], now_ns: int) -> None:
        """Queue a bundle for the writer thread (the caller holds the lock)."""
        log.error("postmortem: %s (%s): %s", level_name(SAFETY_NAMES, trig.level), trig.kind, trig.reason)
        if not self.mcfg.postmortem:
            return
        if self.audit is not None:
            self.audit.flush()  # the audit files hold everything up to the trigger too
        self._pm_queue.put((trig, snap, self.state.window_view(now_ns)))

    def _pm_writer(self) -> None:
        while True:
            item = self._pm_queue.get()
            if item is None:
                return
            trig, snap, view = item
            try:
                bundle = build_bundle(trig, snap, view.raw_records(), self.mcfg.postmortem_minutes)
                path = write_bundle(self.pm_path, bundle, self.mcfg)
            except OSError as exc:
                log.error("postmortem bundle could not be written in %s: %s", self.pm_path, exc)
                continue
            except Exception as exc:  # the writer thread must survive one bad bundle
                log.exception("postmortem bundle could not be built: %s", exc)
                continue
            del bundle
            release_free_memory()
            with self.lock:
                self.postmortems_written += 1
                self.last_postmortem = str(path)
                self.state.postmortems.append(str(path))
            log.error("postmortem bundle written: %s", path)

    def on_stop(self, now_ns: int) -> None:
        if getattr(self, "_pm_thread", None) is not None:
            self._pm_queue.put(None)  # bundles still queued are written before the monitor exits
            self._pm_thread.join(timeout=20.0)
        if getattr(self, "http", None) is not None:
            self.http.stop()
            try:
                os.unlink(os.path.join(self.run_dir, MONITOR_FILE))
            except FileNotFoundError:
                pass
        for reader in self.poll_readers.values():
            if reader not in self.readers.values():
                reader.close()
        if getattr(self, "audit", None) is not None and self.audit is not None:
            self.audit.close()

if __name__ == "__main__":
    raise SystemExit(run_worker(MonitorWorker))
