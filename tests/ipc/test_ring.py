"""Unit tests of the shared-memory ring log (ipc/ring.py) and its atomics (ipc/atomics.py)."""

from __future__ import annotations

import itertools
import mmap
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import numpy as np
import posix_ipc
import pytest
from numba import njit

from ipc import atomics
from ipc.ring import (
    BUSY,
    E_WAITING,
    H_PUBLISHED,
    H_READERS,
    H_WRITER_PID,
    MessageTooLarge,
    Ring,
    RingCorrupt,
    RingNotFound,
    RingOverrun,
    RingReader,
)
from tests.ipc import leftovers, name_prefix

PREFIX = name_prefix()
_seq = itertools.count()

NameFactory = Callable[[], str]


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    yield
    assert leftovers(PREFIX) == []


@pytest.fixture
def names() -> Iterator[NameFactory]:
    made: list[str] = []

    def make() -> str:
        name = f"{PREFIX}.r{next(_seq)}"
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            posix_ipc.unlink_shared_memory(name)
        except posix_ipc.ExistentialError:
            pass


@pytest.fixture
def ring(names: NameFactory) -> Iterator[Ring]:
    r = Ring.create(names(), slot_count=8, slot_size=64)
    yield r
    r.close()
    r.unlink()


def drain(reader: RingReader) -> list[bytes]:
    out = []
    while (m := reader.poll()) is not None:
        out.append(m)
    return out


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(p.stdout)


# --------------------------------------------------------------------------- atomics


def test_atomics_on_u64_and_i64_arrays() -> None:
    for dtype in (np.uint64, np.int64):
        a = np.zeros(4, dtype=dtype)
        atomics.store_u64(a, 1, 5)
        assert atomics.load_u64(a, 1) == 5
        assert atomics.cas_u64(a, 1, 5, 7) is True
        assert atomics.cas_u64(a, 1, 5, 9) is False
        assert a[1] == 7
        assert atomics.fetch_add_u64(a, 1, 3) == 7
        assert a[1] == 10
        assert atomics.exchange_u64(a, 1, 2) == 10
        assert a[1] == 2
        atomics.full_fence()


@njit(nogil=True)
def _spin_until(arr: np.ndarray, want: int, limit: int) -> int:
    n = 0
    while atomics.atomic_load_acquire(arr, 0) != want:
        n += 1
        if n == limit:
            break
    return n


def test_atomic_load_in_a_compiled_loop_sees_another_threads_store() -> None:
    # a plain arr[0] load would be hoisted out of the loop and spin until the limit
    flag = np.zeros(1, dtype=np.uint64)
    t = threading.Timer(0.05, atomics.store_u64, args=(flag, 0, 1))
    t.start()
    spins = _spin_until(flag, 1, 1 << 62)
    t.join()
    assert spins < 1 << 62
    assert flag[0] == 1


def test_fetch_add_from_threads_loses_nothing() -> None:
    counter = np.zeros(1, dtype=np.int64)

    @njit(nogil=True)
    def add_many(arr: np.ndarray, n: int) -> None:
        for _ in range(n):
            atomics.atomic_fetch_add(arr, 0, 1)

    add_many(counter, 1)
    counter[0] = 0
    threads = [threading.Thread(target=add_many, args=(counter, 200_000)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter[0] == 400_000


# --------------------------------------------------------------------------- geometry and lifecycle


def test_create_validates_geometry(names: NameFactory) -> None:
    with pytest.raises(ValueError, match="power of 2"):
        Ring.create(names(), slot_count=12, slot_size=64)
    with pytest.raises(ValueError, match="multiple of 64"):
        Ring.create(names(), slot_count=8, slot_size=100)
    with pytest.raises(ValueError, match="max_readers"):
        Ring.create(names(), slot_count=8, slot_size=64, max_readers=0)
    with pytest.raises(ValueError, match="leading slash"):
        Ring.create("no-slash", slot_count=8, slot_size=64)


def test_create_refuses_an_existing_name(ring: Ring) -> None:
    with pytest.raises(FileExistsError, match=ring.name):
        Ring.create(ring.name, slot_count=8, slot_size=64)


def test_attach_reads_geometry_from_the_header(names: NameFactory) -> None:
    r = Ring.create(names(), slot_count=32, slot_size=192, max_readers=3)
    a = Ring.attach(r.name)
    assert (a.slot_count, a.slot_size, a.payload_capacity, a.max_readers) == (32, 192, 176, 3)
    r.writer().push(b"via creator")
    rd = a.reader("x", start="oldest")
    assert rd.poll() == b"via creator"
    a.close()
    r.close()
    r.unlink()


def test_attach_to_a_missing_ring_says_so(names: NameFactory) -> None:
    name = names()
    with pytest.raises(RingNotFound, match=f"{name}.*does not exist") as err:
        Ring.attach(name)
    assert isinstance(err.value, FileNotFoundError)


def test_attach_to_a_segment_that_is_not_a_ring_says_so(names: NameFactory) -> None:
    name = names()
    shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=0o600, size=8192)
    with mmap.mmap(shm.fd, 8192) as m:
        m[:16] = b"not a ring at al"
    shm.close_fd()
    with pytest.raises(RingCorrupt, match="bad magic"):
        Ring.attach(name)
    shm.unlink()


def test_unlink_leaves_nothing_in_dev_shm(names: NameFactory) -> None:
    r = Ring.create(names(), slot_count=8, slot_size=64)
    path = f"/dev/shm{r.name}"
    assert os.stat(path).st_mode & 0o777 == 0o600
    r.writer().push(b"x")
    r.reader("a")
    r.close()
    r.unlink()
    assert not os.path.exists(path)
    r.unlink()  # idempotent
    with pytest.raises(RingNotFound):
        Ring.attach(r.name)


def test_a_closed_ring_refuses_use(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    ring.close()
    with pytest.raises(ValueError, match="closed"):
        w.push(b"x")
    with pytest.raises(ValueError):
        rd.poll()
    with pytest.raises(ValueError, match="closed"):
        ring.writer()
    ring.close()  # idempotent


# --------------------------------------------------------------------------- messages


def test_round_trip_sizes_and_tags(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    cap = ring.payload_capacity
    payloads = [b"", b"x", bytes(range(48))[:cap], b"\x00" * 7, b"\xff" * cap]
    for i, p in enumerate(payloads):
        assert w.push(p, tag=i + 40) == i + 1
    assert [rd.poll_tagged() for _ in payloads] == [(i + 40, p) for i, p in enumerate(payloads)]
    assert rd.poll() is None
    assert w.published == len(payloads)


def test_push_accepts_other_buffers(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    w.push(bytearray(b"ba"))
    w.push(memoryview(b"mv-xyz")[3:])
    assert drain(rd) == [b"ba", b"xyz"]


def test_bad_tags_and_payloads_are_refused(ring: Ring) -> None:
    w = ring.writer()
    with pytest.raises(ValueError, match="tag"):
        w.push(b"x", tag=1 << 32)
    with pytest.raises(ValueError, match="tag"):
        w.push(b"x", tag=1 << 70)
    with pytest.raises(TypeError, match="tag must be an int"):
        w.push(b"x", tag="7")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tag"):
        w.push_batch([b"x"], tag=-1)
    with pytest.raises(TypeError, match="payload must be bytes"):
        w.push(5)  # type: ignore[arg-type]  # bytes(5) would be five zero bytes
    with pytest.raises(TypeError, match="payload must be bytes"):
        w.push("text")  # type: ignore[arg-type]
    assert w.published == 0


def test_order_kept_without_duplicates_across_wrap_around(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    got: list[bytes] = []
    for i in range(100):  # 12 laps of an 8-slot ring, reader keeping up
        w.push(b"m%d" % i)
        if i % 3 == 2:
            got += drain(rd)
    got += drain(rd)
    assert got == [b"m%d" % i for i in range(100)]
    assert rd.overruns == 0


def test_batches_round_trip_and_mix_with_single_calls(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    assert w.push_batch([]) == 0
    assert w.push_batch([b"a", b"bb", b""]) == 3
    w.push(b"d")
    assert rd.poll() == b"a"
    assert rd.poll_batch(2) == [b"bb", b""]
    assert rd.poll_batch(100) == [b"d"]
    assert rd.poll_batch(100) == []
    assert rd.poll_batch(0) == []


def test_message_too_large_names_ring_size_and_capacity(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    with pytest.raises(MessageTooLarge, match=rf"{ring.name}.*49 bytes.*capacity of 48") as err:
        w.push(b"x" * 49)
    assert (err.value.ring, err.value.size, err.value.capacity) == (ring.name, 49, 48)
    assert isinstance(err.value, ValueError)
    with pytest.raises(MessageTooLarge, match="100 bytes"):
        w.push_batch([b"ok", b"y" * 100, b"ok"])
    assert w.published == 0  # nothing of the batch was published
    assert rd.poll() is None
    w.push(b"fits")
    assert rd.poll() == b"fits"


# --------------------------------------------------------------------------- overruns


def test_overrun_reports_exactly_the_messages_overwritten(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    for i in range(20):
        w.push(b"m%d" % i)
    # 20 published into 8 slots: m0..m11 were overwritten
    assert rd.available()
    with pytest.raises(RingOverrun) as err:
        rd.poll()
    assert err.value.lost == 12
    assert err.value.ring == ring.name
    assert rd.overruns == 12
    assert drain(rd) == [b"m%d" % i for i in range(12, 20)]
    assert ring.stats()["readers"][0]["overruns"] == 12


def test_overrun_in_poll_batch_is_exact_and_raised_once(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    w.push_batch([b"m%d" % i for i in range(11)])
    with pytest.raises(RingOverrun) as err:
        rd.poll_batch(100)
    assert err.value.lost == 3
    assert rd.poll_batch(100) == [b"m%d" % i for i in range(3, 11)]
    assert rd.poll_batch(100) == []


def test_poll_batch_returns_what_it_took_before_an_overrun(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    for i in range(8):
        w.push(b"m%d" % i)
    assert rd.poll_batch(2) == [b"m0", b"m1"]
    for i in range(8, 11):  # overwrites m0..m2: m2 is lost, m3.. remain
        w.push(b"m%d" % i)
    with pytest.raises(RingOverrun) as err:
        rd.poll_batch(100)
    assert err.value.lost == 1
    assert rd.poll_batch(100) == [b"m%d" % i for i in range(3, 11)]


def test_a_message_overwritten_during_the_copy_is_never_returned(ring: Ring) -> None:
    """The seqlock's second check: the writer laps the reader while it copies a payload.

    The interleaving is staged in the Python path (``poll_py``); the compiled builtin's
    copy cannot be interrupted from Python, the torn-read stress test hunts it instead."""
    w = ring.writer()
    rd = ring.reader("a")
    for i in range(3):
        w.push(b"m%d" % i)

    real = rd._mm

    class Interleaving:
        def __getitem__(self, key: slice) -> bytes:
            data = real[key]  # the reader's copy of m0 ...
            for i in range(3, 12):  # ... then the writer overwrites it (and more)
                w.push(b"m%d" % i)
            return data

    rd._mm = Interleaving()  # type: ignore[assignment]
    with pytest.raises(RingOverrun) as err:
        rd.poll_py()
    rd._mm = real
    assert err.value.lost == 4  # m0..m3 overwritten; m4..m11 remain
    assert drain(rd) == [b"m%d" % i for i in range(4, 12)]


def test_a_slot_being_written_is_not_available(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    w.push(b"m0")
    q = ring._q
    k = (ring.header_bytes + (2 % ring.slot_count) * ring.slot_size) >> 3
    q[k] = 2 | BUSY  # the writer is in the middle of message 2
    assert rd.poll() == b"m0"
    assert not rd.available()
    assert rd.poll() is None
    assert rd.poll_batch(10) == []


def test_readers_are_independent(ring: Ring) -> None:
    w = ring.writer()
    fast = ring.reader("fast")
    slow = ring.reader("slow")
    late = None
    for i in range(12):
        w.push(b"m%d" % i)
        assert fast.poll() == b"m%d" % i
        if i == 5:
            late = ring.reader("late")
    assert late is not None
    assert drain(late) == [b"m%d" % i for i in range(6, 12)]
    with pytest.raises(RingOverrun) as err:
        slow.poll()
    assert err.value.lost == 4
    assert drain(slow) == [b"m%d" % i for i in range(4, 12)]
    assert fast.overruns == 0 and late.overruns == 0


def test_start_latest_and_oldest(ring: Ring) -> None:
    w = ring.writer()
    for i in range(10):
        w.push(b"m%d" % i)
    assert ring.reader("new").poll() is None
    assert drain(ring.reader("old", start="oldest")) == [b"m%d" % i for i in range(2, 10)]
    with pytest.raises(ValueError, match="start"):
        ring.reader("bad", start="middle")


# --------------------------------------------------------------------------- writer restart


def test_writer_reattach_continues_the_sequence(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    w.push(b"m1")
    w.push(b"m2")
    w.close()
    other = Ring.attach(ring.name)
    w2 = other.writer()
    assert w2.published == 2
    assert w2.push(b"m3") == 3
    assert drain(rd) == [b"m1", b"m2", b"m3"]
    other.close()


def test_writer_restart_rewrites_a_half_written_slot(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    w.push(b"m1")
    w.close()
    q = ring._q
    k = (ring.header_bytes + 2 * ring.slot_size) >> 3
    q[k] = 2 | BUSY  # crashed while writing message 2
    ring._mm[(k + 2) * 8 : (k + 2) * 8 + 4] = b"junk"  # type: ignore[index]
    w2 = ring.writer()
    assert w2.published == 1
    assert rd.poll() == b"m1"
    assert rd.poll() is None
    assert w2.push(b"m2") == 2
    assert drain(rd) == [b"m2"]


def test_writer_restart_adopts_a_written_but_uncounted_message(ring: Ring) -> None:
    w = ring.writer()
    rd = ring.reader("a")
    w.push(b"m1")
    w.push(b"m2")
    w.close()
    ring._q[H_PUBLISHED >> 3] = 1  # crashed between the slot's release store and the header's
    w2 = ring.writer()
    assert w2.published == 2
    w2.push(b"m3")
    assert drain(rd) == [b"m1", b"m2", b"m3"]


def test_a_second_live_writer_is_refused_and_a_dead_ones_role_taken(ring: Ring) -> None:
    ring._q[H_WRITER_PID >> 3] = os.getppid()  # a live process that is not us
    with pytest.raises(RuntimeError, match="live writer"):
        ring.writer()
    ring._q[H_WRITER_PID >> 3] = dead_pid()
    w = ring.writer()
    assert w.push(b"x") == 1
    w.close()
    assert ring._q[H_WRITER_PID >> 3] == 0


# --------------------------------------------------------------------------- reader table


def test_reader_reregistering_reuses_its_entry(ring: Ring) -> None:
    w = ring.writer()
    first = ring.reader("exec", wake_sem_name="/mm.x.wake.exec")
    w.push(b"m1")
    w.push(b"m2")
    assert first.poll() == b"m1"
    again = Ring.attach(ring.name)
    second = again.reader("exec", start="resume")
    assert second.index == first.index
    assert [r["name"] for r in ring.stats()["readers"]] == ["exec"]
    assert second.poll() == b"m2"  # resumed at the saved cursor
    third = again.reader("exec")  # "latest": skips what is there
    assert third.index == first.index
    assert third.poll() is None
    again.close()


def test_reader_close_frees_its_entry_and_a_full_table_is_an_error(names: NameFactory) -> None:
    r = Ring.create(names(), slot_count=8, slot_size=64, max_readers=2)
    a = r.reader("a")
    r.reader("b")
    with pytest.raises(RuntimeError, match="reader table full"):
        r.reader("c")
    a.close()
    c = r.reader("c")
    assert c.index == a.index
    assert sorted(x["name"] for x in r.stats()["readers"]) == ["b", "c"]
    r.close()
    r.unlink()


def test_entry_of_a_dead_process_is_reclaimed_when_the_table_is_full(names: NameFactory) -> None:
    r = Ring.create(names(), slot_count=8, slot_size=64, max_readers=1)
    gone = r.reader("gone")
    r._q[(H_READERS + gone.index * 256 + 8) >> 3] = dead_pid()
    fresh = r.reader("fresh")
    assert fresh.index == gone.index
    assert [x["name"] for x in r.stats()["readers"]] == ["fresh"]
    r.close()
    r.unlink()


def test_reader_names_are_checked(ring: Ring) -> None:
    with pytest.raises(ValueError, match="reader name"):
        ring.reader("x" * 32)
    with pytest.raises(ValueError, match="reader name"):
        ring.reader("")
    with pytest.raises(ValueError, match="wake semaphore name"):
        ring.reader("ok", wake_sem_name="/" + "s" * 200)


def test_stats(ring: Ring) -> None:
    w = ring.writer()
    a = ring.reader("a", wake_sem_name="/mm.t.wake.a")
    ring.reader("b")
    for i in range(5):
        w.push(b"m%d" % i)
    a.poll_batch(3)
    a.arm_wakeup()
    st = ring.stats()
    assert {k: st[k] for k in ("name", "slot_count", "slot_size", "published")} == {
        "name": ring.name,
        "slot_count": 8,
        "slot_size": 64,
        "published": 5,
    }
    ra, rb = st["readers"]
    assert ra == {"name": "a", "pid": os.getpid(), "cursor": 4, "lag": 2, "overruns": 0, "waiting": True}
    assert rb["lag"] == 5 and rb["waiting"] is False
    a.disarm_wakeup()
    assert ring._q[(H_READERS + a.index * 256 + E_WAITING) >> 3] == 0


def test_push_batch_refuses_buffers_whose_length_is_not_their_size(ring: Ring) -> None:
    w = ring.writer()
    words = memoryview(b"\x01" * 16).cast("Q")  # len() 2, 16 bytes
    with pytest.raises(TypeError, match="list of bytes"):
        w.push_batch([b"ok", words])  # type: ignore[list-item]
    assert w.published == 0
