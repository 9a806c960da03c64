"""The ring's compiled builtins (ipc/fastcall.py, ``_push_builtin``/``_poll_builtin``):
they take the common case themselves and hand every other one to the Python paths, with
the same answers and errors; reference counts stay balanced; a closed end or a retained
builtin after close never touches unmapped memory."""

from __future__ import annotations

import gc
import itertools
import os
import sys
from collections.abc import Iterator

import posix_ipc
import pytest

from ipc import fastcall
from ipc.ring import MessageTooLarge, Ring, RingOverrun
from ipc.wait import Waiter, Waker
from tests.ipc import leftovers, name_prefix

PREFIX = name_prefix()
_seq = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    yield
    assert leftovers(PREFIX) == []


@pytest.fixture
def ring() -> Iterator[Ring]:
    r = Ring.create(f"{PREFIX}.f{next(_seq)}", slot_count=8, slot_size=64)
    yield r
    r.close()
    r.unlink()


def test_this_interpreter_uses_the_builtins(ring: Ring) -> None:
    """CPython 3.11-3.13 on x86-64 (CI's): the layout check passes and the ends carry
    builtins; were it to fail, the ring would silently fall back to the slow paths."""
    if os.environ.get("MM_RING_FASTCALL") == "0":
        pytest.skip("MM_RING_FASTCALL=0: the bridge is switched off")
    assert fastcall.LAYOUT_OK
    w, rd = ring.writer(), ring.reader("a")
    assert type(w.push).__name__ == "builtin_function_or_method"
    assert type(rd.poll).__name__ == "builtin_function_or_method"


def test_builtin_and_python_paths_interleave(ring: Ring) -> None:
    w, rd = ring.writer(), ring.reader("a")
    assert w.push(b"a") == 1
    assert w.push_py(b"b", 3) == 2
    assert w.push(b"c", 4) == 3
    assert w.push(b"d", tag=5) == 4  # a keyword goes through the fallback
    assert w.push_batch([b"e", b"f"]) == 6
    assert w.published == 6
    assert rd.poll() == b"a"
    assert rd.poll_tagged() == (3, b"b")
    assert rd.poll_py() == b"c"
    assert rd.poll_tagged() == (5, b"d")
    assert rd.poll_batch(9) == [b"e", b"f"]
    assert rd.poll() is None and rd.poll_py() is None
    assert rd.cursor == 7
    assert ring.stats()["readers"][0]["cursor"] == 7


def test_fallback_errors_match_the_python_path(ring: Ring) -> None:
    w, rd = ring.writer(), ring.reader("a")
    for push in (w.push, w.push_py):
        with pytest.raises(ValueError, match="tag"):
            push(b"x", 1 << 32)
        with pytest.raises(ValueError, match="tag"):
            push(b"x", -1)
        with pytest.raises(ValueError, match="tag"):
            push(b"x", 1 << 70)  # PyLong_AsLongLong overflows: the error is cleared, not leaked
        with pytest.raises(TypeError, match="tag must be an int"):
            push(b"x", True)
        with pytest.raises(TypeError, match="payload must be bytes"):
            push("text")  # type: ignore[arg-type]
        with pytest.raises(MessageTooLarge, match="49 bytes"):
            push(b"y" * 49)
        with pytest.raises(TypeError):
            push()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            push(b"x", 1, 2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        rd.poll(1)  # type: ignore[call-arg]
    assert w.published == 0
    assert w.push(bytearray(b"ba")) == 1
    assert w.push(memoryview(b"mv")) == 2
    assert w.push(b"z" * 48, 2**32 - 1) == 3  # the largest payload and tag take the fast path
    assert [rd.poll(), rd.poll(), rd.poll_tagged()] == [b"ba", b"mv", (2**32 - 1, b"z" * 48)]


def test_overrun_through_the_builtin_is_exact(ring: Ring) -> None:
    w, rd = ring.writer(), ring.reader("a")
    for i in range(20):
        w.push(b"m%d" % i)
    with pytest.raises(RingOverrun) as err:
        rd.poll()
    assert err.value.lost == 12
    assert [rd.poll() for _ in range(8)] == [b"m%d" % i for i in range(12, 20)]
    assert rd.poll() is None
    assert rd.overruns == 12


def test_reference_counts_stay_balanced(ring: Ring) -> None:
    """None returned by an empty poll is a new reference, a message is a fresh bytes that
    only the caller holds, and the fallbacks leak nothing."""
    w, rd = ring.writer(), ring.reader("a")
    payload = b"p" * 40
    gc.collect()
    none0, payload0 = sys.getrefcount(None), sys.getrefcount(payload)
    for _ in range(1000):
        assert rd.poll() is None
        w.push(payload)
        m = rd.poll()
        assert m == payload and m is not payload
        assert sys.getrefcount(m) == 2  # m and getrefcount's argument
        with pytest.raises(ValueError):
            w.push(payload, -5)
    del m
    gc.collect()
    assert sys.getrefcount(payload) == payload0
    assert abs(sys.getrefcount(None) - none0) < 50  # other code may hold a few more or fewer


def test_a_retained_builtin_after_close_raises_instead_of_touching_unmapped_memory(ring: Ring) -> None:
    w, rd = ring.writer(), ring.reader("a")
    push, poll = w.push, rd.poll
    push(b"x")
    ring.close()
    with pytest.raises(ValueError, match="closed"):
        push(b"x")
    with pytest.raises(ValueError):
        poll()
    with pytest.raises(ValueError, match="closed"):
        w.push_py(b"x")


def test_a_closed_writer_refuses_through_a_retained_builtin(ring: Ring) -> None:
    w = ring.writer()
    push = w.push
    w.close()
    with pytest.raises(ValueError, match="closed"):
        push(b"x")
    with pytest.raises(ValueError, match="closed"):
        w.push_batch([b"x"])
    w2 = ring.writer()  # the role is free again
    assert w2.push(b"y") == 1


def test_the_builtin_wakes_an_armed_reader(ring: Ring) -> None:
    """The builtin publishes, fences, sees the waiting mask and calls the wake-up hook."""
    name = f"{PREFIX}.wk{next(_seq)}"
    waker = Waker.create(name)
    try:
        w = ring.writer()
        rd = ring.reader("a", wake_sem_name=name)
        rd.arm_wakeup()
        assert w.push(b"wake") == 1  # the hook's answer is the sequence number too
        assert waker.sleep(5.0), "the builtin push did not post the armed reader's semaphore"
        rd.disarm_wakeup()
        assert w.push(b"quiet") == 2
        assert not waker.sleep(0.0)
        rd.arm_wakeup()  # the semaphore is in the writer's table now: posted by compiled code
        assert w.push(b"again") == 3
        assert waker.sleep(5.0), "the compiled post did not reach the armed reader"
        rd.disarm_wakeup()
        assert Waiter("block", waker).wait([rd], 1_000_000_000)
        assert rd.poll_batch(5) == [b"wake", b"quiet", b"again"]
        again = ring.reader("a", wake_sem_name=name, start="resume")  # a new generation: the hook again
        again.arm_wakeup()
        assert w.push(b"new gen") == 4
        assert waker.sleep(5.0)
        again.disarm_wakeup()
    finally:
        waker.close()
        try:
            posix_ipc.unlink_semaphore(name)
        except posix_ipc.ExistentialError:
            pass
