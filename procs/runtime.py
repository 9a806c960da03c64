"""What every worker process shares: attach to the run, heartbeat, wait, read, publish.

A worker is started by the supervisor as ``python -m procs.<name> --run-id R --config C``.
It attaches to the run's rings, heartbeat table and kill switch, then loops: wait for input
(or a timer), decode what arrived, hand each message to its ``mm`` objects, publish what
they return, heartbeat. SIGTERM stops it cleanly; it also exits if its supervisor dies
(PR_SET_PDEATHSIG and a parent check), so no worker outlives its group.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

import posix_ipc

from ipc.heartbeat import HeartbeatTable, ProcState
from ipc.killswitch import KillSwitch
from ipc.ring import Ring, RingOverrun, RingReader, RingWriter
from ipc.segments import shm_name
from ipc.wait import Waiter, Waker
from mm.config import Config, load_config
from mm.schema import AnyMessage, Codec
from procs.topology import HEARTBEAT, KILLSWITCH, READS, WRITES, wake_name

PR_SET_PDEATHSIG = 1
log = logging.getLogger("mm")


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM this process when its parent dies (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def setup_logging(name: str, level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format=f"%(asctime)s %(levelname)s {name}[%(process)d] %(message)s",
        stream=sys.stderr,
    )


def worker_args(name: str, argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=f"procs.{name}")
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--config", required=True)
    return ap.parse_args(argv)


class Worker:
    """A worker's attachment to its run. Subclasses implement ``on_message``/``on_timer``."""

    name = "worker"

    def __init__(self, argv: list[str] | None = None) -> None:
        die_with_parent()
        self.parent_pid = os.getppid()
        args = worker_args(self.name, argv)
        self.run_id: str = args.run_id
        self.config_path: str = args.config
        self.cfg: Config = load_config(args.config)
        setup_logging(self.name, self.cfg.run.log_level)
        self.stopping = False
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; Ctrl-C reaches it
        self.codec = Codec()
        self.hb_table = HeartbeatTable.attach(shm_name(self.run_id, HEARTBEAT))
        self.hb = self.hb_table.row(self.name)
        self.ks = KillSwitch.attach(shm_name(self.run_id, KILLSWITCH))
        self.waker = Waker.attach(shm_name(self.run_id, wake_name(self.name)))
        self.waiter = Waiter(self.cfg.ipc.wait, self.waker, self.cfg.ipc.spin_ns)
        self._rings: list[Ring] = []
        self.readers: dict[str, RingReader] = {}
        for ring_name in READS.get(self.name, ()):
            ring = Ring.attach(shm_name(self.run_id, ring_name))
            self._rings.append(ring)
            self.readers[ring_name] = ring.reader(self.name, wake_sem_name=self.waker.name)
        self.writers: dict[str, RingWriter] = {}
        for ring_name in WRITES.get(self.name, ()):
            ring = Ring.attach(shm_name(self.run_id, ring_name))
            self._rings.append(ring)
            self.writers[ring_name] = ring.writer()
        self._reader_list = list(self.readers.items())
        self._wait_readers = [r for _, r in self._reader_list]
        self.hb_interval_ns = self.cfg.supervisor.heartbeat_interval_ms * 1_000_000
        self._last_beat_ns = 0
        self._ks_epoch = 0
        self.killed = self.ks.tripped()

    # ------------------------------------------------------------------ to override

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        """Handle one decoded message from an input ring."""

    def on_timer(self, now_ns: int) -> int:
        """Periodic work. Returns the ns until it wants to run again."""
        return self.hb_interval_ns

    def on_start(self, now_ns: int) -> None:
        """Called once after attaching, before the loop."""

    def on_stop(self, now_ns: int) -> None:
        """Called once when the loop ends."""

    def on_kill(self, now_ns: int) -> None:
        """Called when the kill switch is seen tripped (execution cancels everything here)."""

    # ------------------------------------------------------------------ plumbing

    def _on_sigterm(self, signum: int, frame: object) -> None:
        self.stopping = True

    def publish(self, ring: str, msg: AnyMessage) -> int:
        seq = self.writers[ring].push(self.codec.encode(msg))
        self.hb.add("msgs_out")
        return seq

    def note_latency(self, origin_ts_ns: int, now_ns: int) -> None:
        if origin_ts_ns <= 0:
            return
        lat = now_ns - origin_ts_ns
        self.hb.set(lat_last_ns=lat)
        if lat > self.hb.get("lat_max_ns"):
            self.hb.set(lat_max_ns=lat)

    def beat(self, now_ns: int) -> None:
        if now_ns - self._last_beat_ns >= self.hb_interval_ns // 4:
            self.hb.beat(now_ns)
            self._last_beat_ns = now_ns
            epoch = self.ks.epoch()
            if epoch != self._ks_epoch:
                self._ks_epoch = epoch
                self.killed = self.ks.tripped()
                self.hb.set(ks_epoch=epoch)
                if self.killed:
                    st = self.ks.state()
                    log.error("kill switch seen: tripped by %s: %s", st["who"], st["reason"])
                    self.on_kill(now_ns)
                else:
                    log.warning("kill switch seen: reset")
            if os.getppid() != self.parent_pid:
                log.error("supervisor (pid %d) is gone; exiting", self.parent_pid)
                self.stopping = True

    def drain(self, now_ns: int, max_batch: int = 256) -> int:
        """Read everything available on the input rings and dispatch it."""
        n = 0
        for ring_name, reader in self._reader_list:
            try:
                batch = reader.poll_batch(max_batch)
            except RingOverrun as exc:
                self.hb.add("overruns", exc.lost)
                log.warning("ring %s: lapped, %d messages lost; resynchronised", ring_name, exc.lost)
                continue
            for payload in batch:
                try:
                    msg = self.codec.decode(payload)
                except Exception as exc:  # a bad message is counted and dropped, never a crash
                    self.hb.add("errors")
                    log.error("ring %s: undecodable message dropped: %s", ring_name, exc)
                    continue
                self.on_message(ring_name, msg, now_ns)
            n += len(batch)
        if n:
            self.hb.add("msgs_in", n)
        return n

    def run(self, clock_ns: Callable[[], int] = time.monotonic_ns) -> int:
        # on_start (model loading, JIT warm-up) runs inside the supervisor's startup grace:
        # the deadline applies from the first heartbeat on.
        self.on_start(clock_ns())
        now = clock_ns()
        self.hb.set(pid=os.getpid(), state=int(ProcState.RUNNING))
        self.hb.beat(now)
        next_timer_ns = now
        try:
            while not self.stopping:
                now = clock_ns()
                self.beat(now)
                if now >= next_timer_ns:
                    next_timer_ns = now + max(self.on_timer(now), 100_000)
                wait_ns = min(next_timer_ns - now, self.hb_interval_ns // 2)
                if self._reader_list:
                    try:
                        ready = self.waiter.wait(self._wait_readers, max(wait_ns, 0))
                    except posix_ipc.SignalError:  # a signal (SIGTERM) woke the wait: loop
                        ready = False
                    if ready:
                        self.drain(clock_ns())
                elif wait_ns > 0:
                    time.sleep(wait_ns / 1e9)
        finally:
            now = clock_ns()
            self.hb.set(state=int(ProcState.STOPPED))
            self.on_stop(now)
            self.close()
        return 0

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
        for ring in self._rings:
            ring.close()
        self.waker.close()
        self.ks.close()
        self.hb_table.close()


def run_worker(cls: type[Worker], argv: list[str] | None = None) -> int:
    worker = cls(argv)
    return worker.run()
