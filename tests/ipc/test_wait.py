"""Wait strategies and wake-ups (ipc/wait.py): blocking readers wake, and sleep for free."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import posix_ipc
import psutil
import pytest

from ipc.ring import Ring, RingReader
from ipc.wait import WAIT_STRATEGIES, Waiter, Waker
from tests.ipc import leftovers, name_prefix

PREFIX = name_prefix()
_seq = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    yield
    assert leftovers(PREFIX) == []


@pytest.fixture
def make_name() -> Iterator[Callable[[str], str]]:
    made: list[str] = []

    def make(kind: str) -> str:
        name = f"{PREFIX}.{kind}{next(_seq)}"
        made.append(name)
        return name

    yield make
    for name in made:
        for unlink in (posix_ipc.unlink_shared_memory, posix_ipc.unlink_semaphore):
            try:
                unlink(name)
            except posix_ipc.ExistentialError:
                pass


def wait_until(cond: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.002)


def is_waiting(ring: Ring, reader_name: str) -> bool:
    return any(r["name"] == reader_name and r["waiting"] for r in ring.stats()["readers"])


# --------------------------------------------------------------------------- in one process


def test_strategies_and_their_checks(make_name: Callable[[str], str]) -> None:
    assert WAIT_STRATEGIES == ("spin", "spin_then_block", "block")
    with pytest.raises(ValueError, match="unknown wait strategy"):
        Waiter("yield", None)
    with pytest.raises(ValueError, match="needs a Waker"):
        Waiter("block", None)
    with pytest.raises(ValueError, match="needs a Waker"):
        Waiter("spin_then_block", None)
    Waiter("spin", None)


def test_waker_create_attach_unlink(make_name: Callable[[str], str]) -> None:
    name = make_name("wake")
    w = Waker.create(name)
    assert os.stat(f"/dev/shm/sem.{name[1:]}").st_mode & 0o777 == 0o600
    again = Waker.create(name)  # O_CREAT: a restarted process reopens its semaphore
    other = Waker.attach(name)
    other.post()
    assert w.sleep(0.0) is True
    assert w.sleep(0.0) is False
    other.post()
    other.post()
    assert again.drain() == 2
    for x in (w, again, other):
        x.close()
    w.unlink()
    w.unlink()  # idempotent
    with pytest.raises(FileNotFoundError, match=name):
        Waker.attach(name)
    with pytest.raises(ValueError, match="closed"):
        w.post()


@pytest.mark.parametrize("strategy", WAIT_STRATEGIES)
def test_wait_returns_at_once_when_a_message_is_there_and_false_on_timeout(
    strategy: str, make_name: Callable[[str], str]
) -> None:
    waker = Waker.create(make_name("wake"))
    ring = Ring.create(make_name("ring"), slot_count=8, slot_size=64)
    try:
        rd = ring.reader("a", wake_sem_name=waker.name)
        waiter = Waiter(strategy, waker, spin_ns=10_000)
        t0 = time.monotonic_ns()
        assert waiter.wait([rd], 20_000_000) is False
        assert time.monotonic_ns() - t0 >= 20_000_000
        assert not is_waiting(ring, "a")  # disarmed after the timeout
        ring.writer().push(b"x")
        assert waiter.wait([rd], 10_000_000_000) is True
        assert rd.poll() == b"x"
        assert waiter.wait([rd], 0) is False
    finally:
        ring.close()
        ring.unlink()
        waker.close()
        waker.unlink()


def test_blocking_on_a_reader_nobody_would_wake_is_an_error(make_name: Callable[[str], str]) -> None:
    waker = Waker.create(make_name("wake"))
    ring = Ring.create(make_name("ring"), slot_count=8, slot_size=64)
    try:
        rd = ring.reader("a")  # no wake semaphore
        with pytest.raises(ValueError, match="nobody would wake it"):
            Waiter("block", waker).wait([rd], 1_000_000)
    finally:
        ring.close()
        ring.unlink()
        waker.close()
        waker.unlink()


def test_a_push_from_another_thread_wakes_a_blocked_reader(make_name: Callable[[str], str]) -> None:
    waker = Waker.create(make_name("wake"))
    ring = Ring.create(make_name("ring"), slot_count=8, slot_size=64)
    try:
        rd = ring.reader("a", wake_sem_name=waker.name)
        w = ring.writer()

        def push_when_asleep() -> None:
            wait_until(lambda: is_waiting(ring, "a"), "the reader to block")
            w.push(b"wake up")

        t = threading.Thread(target=push_when_asleep)
        t.start()
        woke = Waiter("block", waker).wait([rd], 30_000_000_000)
        t.join()
        assert woke is True
        assert rd.poll() == b"wake up"
    finally:
        ring.close()
        ring.unlink()
        waker.close()
        waker.unlink()


def test_a_push_posts_an_armed_reader_once(make_name: Callable[[str], str]) -> None:
    waker = Waker.create(make_name("wake"))
    ring = Ring.create(make_name("ring"), slot_count=8, slot_size=64)
    try:
        rd = ring.reader("a", wake_sem_name=waker.name)
        idle = ring.reader("b", wake_sem_name=waker.name)
        w = ring.writer()
        w.push(b"1")
        assert waker.sleep(0) is False  # nobody armed: no post
        rd.arm_wakeup()
        assert is_waiting(ring, "a") and not is_waiting(ring, "b")
        w.push(b"2")
        assert waker.sleep(0) is True  # posted once ...
        assert waker.sleep(0) is False
        assert not is_waiting(ring, "a")  # ... and the flag taken down by the writer
        w.push(b"3")
        assert waker.sleep(0) is False
        assert idle.poll_batch(10) == [b"1", b"2", b"3"]
    finally:
        ring.close()
        ring.unlink()
        waker.close()
        waker.unlink()


def test_a_waker_created_after_the_reader_registered_is_still_posted(make_name: Callable[[str], str]) -> None:
    ring = Ring.create(make_name("ring"), slot_count=8, slot_size=64)
    waker_name = make_name("wake")
    try:
        rd = ring.reader("a", wake_sem_name=waker_name)
        w = ring.writer()
        rd.arm_wakeup()
        w.push(b"1")  # the semaphore does not exist yet: nothing to post
        waker = Waker.create(waker_name)
        rd.arm_wakeup()
        w.push(b"2")
        assert waker.sleep(0) is True
        waker.close()
    finally:
        ring.close()
        ring.unlink()


def test_a_push_just_before_arming_is_seen_by_the_recheck(make_name: Callable[[str], str]) -> None:
    """The window the handshake closes: the message lands after the reader's first look
    and before its waiting flag is up, so no post comes; the re-check after arming must
    find it instead of sleeping until the timeout."""
    waker = Waker.create(make_name("wake"))
    ring = Ring.create(make_name("ring"), slot_count=8, slot_size=64)
    try:
        rd = ring.reader("a", wake_sem_name=waker.name)
        w = ring.writer()
        real_arm = rd.arm_wakeup

        def push_then_arm() -> None:
            w.push(b"raced")
            real_arm()

        rd.arm_wakeup = push_then_arm  # type: ignore[method-assign]
        waiter = Waiter("block", waker)
        assert waiter.wait([rd], 2_000_000_000) is True
        assert (waiter.sleeps, waiter.sleep_timeouts) == (0, 0)
        assert rd.poll() == b"raced"
    finally:
        ring.close()
        ring.unlink()
        waker.close()
        waker.unlink()


# --------------------------------------------------------------------------- across processes


def blocked_reader_main(ring_name: str, waker_name: str, strategy: str, results: Any) -> None:
    waker = Waker.create(waker_name)
    ring = Ring.attach(ring_name)
    rd = ring.reader("sleeper", wake_sem_name=waker.name)
    results.put("ready")
    woke = Waiter(strategy, waker, spin_ns=50_000).wait([rd], 60_000_000_000)
    results.put((woke, rd.poll()))
    ring.close()
    waker.close()


@pytest.mark.integration
@pytest.mark.parametrize("strategy", ["block", "spin_then_block"])
def test_an_idle_blocked_reader_uses_no_cpu_and_wakes_on_a_push_from_another_process(
    strategy: str, make_name: Callable[[str], str]
) -> None:
    ctx = mp.get_context("spawn")
    ring = Ring.create(make_name("ring"), slot_count=8, slot_size=64)
    waker_name = make_name("wake")
    try:
        results = ctx.Queue()
        child = ctx.Process(target=blocked_reader_main, args=(ring.name, waker_name, strategy, results), daemon=True)
        child.start()
        assert results.get(timeout=60) == "ready"
        wait_until(lambda: is_waiting(ring, "sleeper"), "the reader to block")
        proc = psutil.Process(child.pid)
        before = proc.cpu_times()
        time.sleep(0.5)
        after = proc.cpu_times()
        used = (after.user - before.user) + (after.system - before.system)
        # a spinning reader would use ~0.5 s of CPU here; a blocked one next to nothing
        assert used < 0.1, f"blocked reader used {used:.3f} s of CPU in 0.5 s"
        ring.writer().push(b"ding")
        assert results.get(timeout=30) == (True, b"ding")
        child.join(30)
        assert child.exitcode == 0
    finally:
        ring.close()
        ring.unlink()


def echo_main(ring_names: list[str], ack_name: str, waker_name: str, total: int, results: Any) -> None:
    """Block on two rings with one semaphore; after each wake-up, ack the count received."""
    waker = Waker.create(waker_name)
    rings = [Ring.attach(n) for n in ring_names]
    readers: list[RingReader] = [r.reader("echo", wake_sem_name=waker.name) for r in rings]
    ack_ring = Ring.attach(ack_name)
    ack = ack_ring.writer()
    results.put("ready")
    waiter = Waiter("block", waker)
    got: list[list[bytes]] = [[] for _ in readers]
    n = timeouts = 0
    while n < total:
        if not waiter.wait(readers, 1_000_000_000):
            timeouts += 1
        for i, rd in enumerate(readers):
            msgs = rd.poll_batch(64)
            got[i] += msgs
            n += len(msgs)
        ack.push(n.to_bytes(8, "little"))
    results.put({"got": got, "timeouts": timeouts, "sleeps": waiter.sleeps, "slept_through": waiter.sleep_timeouts})
    for r in (*rings, ack_ring):
        r.close()
    waker.close()


@pytest.mark.integration
def test_no_lost_wakeups_for_a_reader_blocked_on_two_rings(make_name: Callable[[str], str]) -> None:
    """One process blocks on two rings with one semaphore. Each message goes to either
    ring, right after the reader acked the previous one plus a random 0-8 us, so pushes
    keep landing while the reader is on its way to sleep. One message is in flight at a
    time: a lost wake-up leaves the reader asleep until its 1 s timeout, which the waiter
    counts."""
    ctx = mp.get_context("spawn")
    rings = [Ring.create(make_name("ring"), slot_count=64, slot_size=64) for _ in range(2)]
    ack_ring = Ring.create(make_name("ack"), slot_count=64, slot_size=64)
    waker_name = make_name("wake")
    total = 2000
    try:
        results = ctx.Queue()
        acks = ack_ring.reader("parent")
        child = ctx.Process(
            target=echo_main,
            args=([r.name for r in rings], ack_ring.name, waker_name, total, results),
            daemon=True,
        )
        child.start()
        assert results.get(timeout=60) == "ready"
        writers = [r.writer() for r in rings]
        rng = random.Random(7)
        sent: list[list[bytes]] = [[], []]
        for i in range(1, total + 1):
            k = rng.randrange(2)
            msg = b"m%d" % i
            writers[k].push(msg)
            sent[k].append(msg)
            deadline = time.monotonic() + 30
            while (m := acks.poll()) is None or int.from_bytes(m, "little") < i:
                assert time.monotonic() < deadline, f"no ack for message {i}"
            end = time.perf_counter_ns() + rng.randrange(8_000)
            while time.perf_counter_ns() < end:
                pass
        out = results.get(timeout=60)
        child.join(30)
        assert child.exitcode == 0
        assert out["slept_through"] == 0, f"{out['slept_through']} lost wake-ups: the reader slept through a push"
        assert out["timeouts"] == 0
        assert out["got"] == sent
        assert out["sleeps"] > total // 4  # it did go to sleep, again and again
    finally:
        for r in (*rings, ack_ring):
            r.close()
            r.unlink()


def test_spin_wait_on_several_readers_sees_any_of_them(make_name: Callable[[str], str]) -> None:
    rings = [Ring.create(make_name("ring"), slot_count=8, slot_size=64) for _ in range(3)]
    try:
        readers = [r.reader("a") for r in rings]
        waiter = Waiter("spin", None)
        assert waiter.wait(readers, 1_000_000) is False
        rings[2].writer().push(b"x")
        assert waiter.wait(readers, 10_000_000_000) is True
        assert readers[2].poll() == b"x"
        w0 = rings[0].writer()
        for _ in range(9):  # lap the first reader: an overrun to report counts as something to poll
            w0.push(b"y")
        assert waiter.wait(readers, 10_000_000_000) is True
        assert waiter.wait(readers[:1], 10_000_000_000) is True
    finally:
        for r in rings:
            r.close()
            r.unlink()
