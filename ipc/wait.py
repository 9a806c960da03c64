"""How a reader waits for the next message: wait strategies and the per-process wake-up.

This module owns the consumer side of waiting, in the Disruptor's terms a wait strategy
chosen by config:

- ``"spin"``: poll the readers in a tight loop. Lowest latency; burns a whole core, so
  only for a process pinned to a core of its own.
- ``"spin_then_block"``: spin for ``spin_ns``, then block. Messages that follow each
  other closely are taken at spinning latency; an idle process sleeps.
- ``"block"``: sleep on the process's :class:`Waker` until a writer posts it. No CPU
  while idle; a wake-up costs a semaphore post and a scheduler wake (tens of us).

A :class:`Waker` is one POSIX named semaphore per reader process. A process that reads
several rings registers each reader with the same ``wake_sem_name`` and waits on all of
them at once. Blocking follows the handshake described in :mod:`ipc.ring`: drain stale
posts, arm every reader (waiting flag + mask bit, full fence), check the rings again, and
only then sleep; the writer fences after publishing and posts any armed reader. Spurious
wake-ups happen and are harmless (the loop checks again); lost wake-ups do not.
"""

from __future__ import annotations

import time
from typing import Final

import posix_ipc

from ipc.ring import RingReader

__all__ = ["WAIT_STRATEGIES", "Waiter", "Waker"]

WAIT_STRATEGIES: Final = ("spin", "spin_then_block", "block")

_CLOCK_EVERY: Final = 16  # spin iterations between clock reads


class Waker:
    """A process's wake-up semaphore (POSIX named semaphore, mode 0o600)."""

    name: str

    def __init__(self, name: str, sem: posix_ipc.Semaphore) -> None:
        """Wrap an open semaphore; use :meth:`create` or :meth:`attach`."""
        self.name = name
        self._sem: posix_ipc.Semaphore | None = sem

    @classmethod
    def create(cls, name: str) -> Waker:
        """Open the semaphore, creating it (value 0) if it does not exist yet."""
        if not name.startswith("/") or "/" in name[1:]:
            raise ValueError(f"waker name {name!r} must look like '/mm.<runid>.wake.<proc>'")
        return cls(name, posix_ipc.Semaphore(name, posix_ipc.O_CREAT, mode=0o600, initial_value=0))

    @classmethod
    def attach(cls, name: str) -> Waker:
        """Open an existing semaphore; ``FileNotFoundError`` when there is none."""
        try:
            sem = posix_ipc.Semaphore(name)
        except posix_ipc.ExistentialError as e:
            raise FileNotFoundError(f"wake semaphore {name!r} does not exist (/dev/shm/sem.{name[1:]})") from e
        return cls(name, sem)

    def _live(self) -> posix_ipc.Semaphore:
        if self._sem is None:
            raise ValueError(f"waker {self.name!r} is closed")
        return self._sem

    def post(self) -> None:
        """Wake the process (what a ring writer does for an armed reader)."""
        self._live().release()

    def sleep(self, timeout_s: float) -> bool:
        """Block until posted or ``timeout_s`` has passed; True when posted."""
        try:
            self._live().acquire(max(timeout_s, 0.0))
        except posix_ipc.BusyError:
            return False
        return True

    def drain(self) -> int:
        """Consume posts already pending (without blocking); how many there were."""
        sem = self._live()
        n = 0
        while True:
            try:
                sem.acquire(0)
            except posix_ipc.BusyError:
                return n
            n += 1

    def close(self) -> None:
        """Close this process's handle (the semaphore itself stays)."""
        if self._sem is not None:
            self._sem.close()
            self._sem = None

    def unlink(self) -> None:
        """Remove the semaphore's name (idempotent)."""
        try:
            posix_ipc.unlink_semaphore(self.name)
        except posix_ipc.ExistentialError:
            pass

    def __repr__(self) -> str:
        return f"Waker({self.name!r})"


class Waiter:
    """Waits until one of a process's readers has a message, by the configured strategy.

    Counters for monitoring: ``sleeps`` (times it blocked on the semaphore) and
    ``sleep_timeouts`` (sleeps that ended by timeout rather than by a post).
    """

    def __init__(self, strategy: str, waker: Waker | None, spin_ns: int = 50_000) -> None:
        if strategy not in WAIT_STRATEGIES:
            raise ValueError(f"unknown wait strategy {strategy!r}; expected one of {WAIT_STRATEGIES}")
        if strategy != "spin" and waker is None:
            raise ValueError(f"wait strategy {strategy!r} blocks, so it needs a Waker")
        if spin_ns < 0:
            raise ValueError(f"spin_ns must be >= 0, got {spin_ns}")
        self.strategy = strategy
        self.waker = waker
        self.spin_ns = spin_ns if strategy == "spin_then_block" else 0
        self.sleeps = 0
        self.sleep_timeouts = 0

    def wait(self, readers: list[RingReader], timeout_ns: int) -> bool:
        """True as soon as any reader has a message (or an overrun to report); False after
        ``timeout_ns`` without one."""
        deadline = time.monotonic_ns() + max(timeout_ns, 0)
        if self.strategy == "spin":
            return self._spin(readers, deadline)
        if self.spin_ns and self._spin(readers, min(deadline, time.monotonic_ns() + self.spin_ns)):
            return True
        return self._block(readers, deadline)

    @staticmethod
    def _spin(readers: list[RingReader], deadline: int) -> bool:
        # the readers' cursors cannot move while we wait: watch their rings' published
        # words directly (a method call per look would double the time a look takes)
        clock = time.monotonic_ns
        if len(readers) == 1:
            words, k, c = readers[0].watch_word()
            while True:
                for _ in range(_CLOCK_EVERY):
                    if words[k] >= c:
                        return True
                if clock() >= deadline:
                    return readers[0].available()
        watched = [r.watch_word() for r in readers]
        while True:
            for _ in range(_CLOCK_EVERY):
                for words, k, c in watched:
                    if words[k] >= c:
                        return True
            if clock() >= deadline:
                return any(r.available() for r in readers)

    def _block(self, readers: list[RingReader], deadline: int) -> bool:
        waker = self.waker
        assert waker is not None
        for r in readers:
            if r.wake_sem_name != waker.name:
                raise ValueError(
                    f"reader {r.name!r} of ring {r.ring.name!r} is registered with wake semaphore "
                    f"{r.wake_sem_name!r}, not this waiter's {waker.name!r}: nobody would wake it"
                )
        while True:
            for r in readers:  # plain loops, not any(<generator>): this is the wake-up path
                if r.available():
                    return True
            remaining = deadline - time.monotonic_ns()
            if remaining <= 0:
                return False
            waker.drain()
            for r in readers:
                r.arm_wakeup()
            try:
                for r in readers:
                    if r.available():
                        return True
                self.sleeps += 1
                if not waker.sleep(remaining / 1e9):
                    self.sleep_timeouts += 1
            finally:
                for r in readers:
                    r.disarm_wakeup()
