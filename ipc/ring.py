"""Single-writer, multi-reader ring log in POSIX shared memory.

This module owns the ring's memory layout, the seqlock protocol between its one writer
and its readers, the reader table, and overrun detection. It moves bytes and knows
nothing of what they mean.

Layout
======
One ``posix_ipc.SharedMemory`` segment (mode 0o600), mapped with ``mmap``. Every shared
word is a little-endian 64-bit integer kept below 2**63. Byte offsets::

    0     magic, version, slot_count, slot_size, max_readers, header_bytes,
          creator pid, creation time                 (written once, read-only after)
    128   published: the last sequence number fully written, writer pid  (writer's line)
    256   waiting mask: bit i set when reader entry i may be asleep      (readers' RMW)
    384   reader-table lock (pid of the holder, 0 when free)
    512   reader table: max_readers entries of 256 bytes each:
          +0 state (0 free, 1 in use), +8 pid, +16 cursor (next seq to read),
          +24 overrun count, +32 waiting flag, +40 generation,
          +64 name (<= 31 bytes, NUL padded), +128 wake semaphore name (<= 127 bytes)
    header_bytes (a multiple of 4096): slot_count slots of slot_size bytes each:
          +0 seq, +8 payload length (u32) and tag (u32), +16 payload

The writer's line, the waiting mask, the lock and each reader entry sit 128 bytes apart
(two cache lines, so the adjacent-line prefetcher does not couple them either).

Sequence numbers start at 1; message ``s`` lives in slot ``s & (slot_count - 1)``. A
slot whose seq word is ``s | BUSY`` (bit 62) is being overwritten with message ``s``.

Protocol (a seqlock per slot)
=============================
Writer, for message ``s``: store ``s | BUSY`` into the slot's seq; acq_rel fence; copy
the payload and the length/tag word; release-store ``s`` into the seq; release-store
``s`` into ``published``. The writer never waits for a reader.

Reader at cursor ``c``: acquire-load the slot's seq. ``== c``: copy the payload, then
load the seq again; if it still reads ``c`` the copy is whole, else the writer lapped
the reader during the copy. Seq below ``c`` (or ``c | BUSY``): nothing new yet. Seq
(without BUSY) above ``c``: the slot already holds a later lap, the reader was lapped.

Overrun: every message below ``max(published, slot_seq) - slot_count + 1`` has had its
slot at least started being overwritten, so the reader moves its cursor there and
reports ``lost = new_cursor - old_cursor`` (an exact count: each skipped message was
really overwritten). If that message is overwritten too before it is read, the next
check repeats the resync; the losses add up. A reader never returns a torn or stale
message: a message is returned only if the seq read before and after its copy both
equal the expected sequence number.

Why it is ordered, and how each path gets there (x86-64 is the target). Costs below
were measured on the 2-core CI-like VM, CPU time per call, best of several runs:

- Numba code (``push``, ``push_batch``, the bulk of ``poll_batch``) uses the atomics of
  :mod:`ipc.atomics`. The writer's acq_rel fence after the BUSY store keeps LLVM from
  hoisting payload stores above it and its release stores keep them below; the reader's
  acquire load, acq_rel fence after the copy and second load are Boehm's seqlock reader.
  The payload bytes are plain accesses; a racing read may see garbage, which is then
  thrown away by the seq check. Hot functions take raw addresses as integers: numba's
  dispatch costs about 0.17 us with two ints, 0.25 us with a ``bytes`` argument and more
  with each array argument (0.3-0.45 us in all).
- A single ``poll`` runs in plain Python on memoryviews of the mapping: a word load costs
  0.03 us, an mmap slice that copies the payload into ``bytes`` 0.07 us, a whole poll
  about 0.3 us, less than a numba call that would still have to build the ``bytes``. Its
  loads (seq, length, payload, seq again) are separate C calls through the interpreter,
  opaque to the C compiler, so none is reordered at compile time, and x86 never reorders
  a load with an earlier load: that is all a seqlock reader needs. (A weakly ordered CPU
  would need fences on this path.) ``poll_batch`` takes its first message the same way
  and, only when more are waiting, the rest in one compiled call (Disruptor-style
  catch-up: about 0.1 us a message), so asking for a batch when one message is there
  costs little more than ``poll``.
- A single ``push`` is one numba call (about 0.45 us including the Python method), not
  Python stores, because publishing must be followed by a full fence before the waiting
  flags are read (x86 lets a load pass an earlier store) and only compiled code can emit
  one; Python stores plus a separate fence call measured slower.

The per-message calls are CPython builtins (``push``, ``poll`` on an instance; see
:mod:`ipc.fastcall`): numba cfuncs with the ``METH_FASTCALL`` signature, so the
interpreter calls them directly, without numba's dispatcher. Measured in one thread on
the VM: push 0.04 us, push + poll 0.06 us, against 0.4-0.6 us and 0.8-1.0 us for the
Python paths (``push_py``: one numba call; ``poll_py``: memoryview loads), which remain as
the reference implementation and the fallback for every unusual case. ``push``'s builtin
is ``_write_slot`` then a release store of ``published`` then ``mfence`` then the mask
check (numba's assembly: BUSY store, memcpy, length/tag store, seq store, published
store, ``mfence``); ``poll``'s is the seqlock read above with ``PyBytes_FromStringAndSize``
as the copy. When the mask is set the builtin posts the armed readers' semaphores itself
(libc ``sem_post`` on the ``sem_t *`` it keeps per reader entry and generation).

Waiting: ``available()`` and the spin loops of :mod:`ipc.wait` watch ``published``, not
the slot: a spinning reader then pulls the writer's header line once per message instead
of contending for the slot line while the writer fills it (several cache-line transfers
per message, measured as a halving of single-message throughput). As in the Disruptor,
a batch becomes visible to waiters when it is complete.

Wake-ups (the Dekker pattern): a reader about to sleep stores its waiting flag, sets its
bit in the waiting mask with an atomic OR, fences, and checks its slot again before it
sleeps. The writer, after publishing, fences and reads the mask; when it is non-zero it
exchanges it with 0 and, for each bit, exchanges the entry's waiting flag with 0 and posts
that reader's semaphore if the flag was set. Either the reader's re-check sees the message
or the writer sees the flag, so no wake-up is lost; a stale flag only causes a spurious
post.

Restart: a writer that attaches to an existing ring continues after ``published``, first
adopting any slot that was fully written but not yet counted (a crash between the two
release stores); a slot left BUSY is simply rewritten. A reader that registers under a
name already in the table takes that entry over (``start="resume"`` keeps its cursor).
"""

from __future__ import annotations

import mmap
import operator
import os
import time
import weakref
from typing import Any, Final, NoReturn

import numpy as np
import posix_ipc
from numba import cfunc, njit, types

from ipc import fastcall
from ipc.atomics import (
    buffer_address,
    fence_acq_rel,
    fence_seq_cst,
    ptr_cas,
    ptr_exchange,
    ptr_fetch_or,
    ptr_load_acquire,
    ptr_load_relaxed,
    ptr_memcpy,
    ptr_store_relaxed,
    ptr_store_release,
)
from ipc.fastcall import (
    A_BYTES_FROM,
    A_BYTES_T,
    A_DECREF,
    A_ERR_CLEAR,
    A_INCREF,
    A_INT_T,
    A_LONG_AS,
    A_LONG_FROM,
    A_NONE,
    A_VCALL,
    BYTES_DATA,
    NDARRAY_DATA,
    OB_SIZE,
    OB_TYPE,
    TUPLE_ITEMS,
    call_i,
    call_ii,
    call_iiii,
    call_v,
    call_vi,
)

__all__ = [
    "MessageTooLarge",
    "Ring",
    "RingCorrupt",
    "RingNotFound",
    "RingOverrun",
    "RingReader",
    "RingWriter",
]

MAGIC: Final = 0x314C474E49524D4D  # b"MMRINGL1" little-endian
VERSION: Final = 1

H_MAGIC: Final = 0
H_VERSION: Final = 8
H_SLOT_COUNT: Final = 16
H_SLOT_SIZE: Final = 24
H_MAX_READERS: Final = 32
H_HEADER_BYTES: Final = 40
H_CREATOR_PID: Final = 48
H_CREATED_NS: Final = 56
H_PUBLISHED: Final = 128
H_WRITER_PID: Final = 136
H_WAIT_MASK: Final = 256
H_TABLE_LOCK: Final = 384
H_READERS: Final = 512

ENTRY_BYTES: Final = 256
E_STATE: Final = 0
E_PID: Final = 8
E_CURSOR: Final = 16
E_OVERRUNS: Final = 24
E_WAITING: Final = 32
E_GEN: Final = 40
E_NAME: Final = 64
E_SEM: Final = 128
NAME_MAX: Final = 31
SEM_NAME_MAX: Final = 127

SLOT_HDR: Final = 16
BUSY: Final = 1 << 62
SEQ_MASK: Final = BUSY - 1
LEN_MASK: Final = 0xFFFFFFFF
MAX_READERS_LIMIT: Final = 62  # bits of the waiting mask; bit 63 stays clear
TOO_LARGE: Final = -1  # _push_one's answers to an oversized payload, and to a tag out of range
BAD_TAG: Final = -2
BATCH_MISMATCH: Final = -(1 << 62)  # push_batch: payload lengths do not add up (not plain bytes)
TAG_MAX: Final = 0xFFFFFFFF

STATE_FREE: Final = 0
STATE_USED: Final = 1

_PUBLISHED_K: Final = H_PUBLISHED >> 3  # index of `published` in the u64 view
_SCRATCH_LIMIT: Final = 1 << 20  # bytes poll_batch copies per call at most (at least one message)
_LOCK_TIMEOUT_S: Final = 5.0


class MessageTooLarge(ValueError):
    """A payload does not fit in one slot of the ring."""

    def __init__(self, ring: str, size: int, capacity: int) -> None:
        super().__init__(
            f"ring {ring!r}: payload of {size} bytes exceeds the slot payload capacity of {capacity} bytes"
        )
        self.ring = ring
        self.size = size
        self.capacity = capacity

    def __reduce__(self) -> tuple[Any, ...]:
        return (MessageTooLarge, (self.ring, self.size, self.capacity))


class RingOverrun(Exception):
    """The reader was lapped by the writer; ``lost`` messages were overwritten unread.

    Raised once per overrun, after the reader has moved to the oldest message still in the
    ring, so the next poll goes on from there.
    """

    def __init__(self, ring: str, lost: int, reader: str = "") -> None:
        super().__init__(f"reader {reader!r} of ring {ring!r} was lapped: {lost} messages lost")
        self.ring = ring
        self.lost = lost
        self.reader = reader

    def __reduce__(self) -> tuple[Any, ...]:
        return (RingOverrun, (self.ring, self.lost, self.reader))


class RingNotFound(FileNotFoundError):
    """No shared-memory segment of that name exists."""


class RingCorrupt(ValueError):
    """A segment exists but does not hold a ring of this version (bad magic or geometry)."""


# --------------------------------------------------------------------------- compiled core
# Entry points called from Python carry explicit signatures: they compile (or load from
# numba's cache) at import, so the first message pays no compilation.

_i64 = types.int64
_BYTES = types.Bytes(types.uint8, 1, "C", readonly=True)


@njit(cache=True, nogil=True)
def _write_slot(slot: int, seq: int, src: int, n: int, tag: int) -> None:
    ptr_store_relaxed(slot, seq | BUSY)
    fence_acq_rel()
    ptr_memcpy(slot + SLOT_HDR, src, n)
    ptr_store_relaxed(slot + 8, n | (tag << 32))
    ptr_store_release(slot, seq)


@njit(_i64(_i64), cache=True, nogil=True)
def _wake_scan(base: int) -> int:
    """After publishing: which reader entries to post (bit i = entry i)."""
    fence_seq_cst()
    if ptr_load_relaxed(base + H_WAIT_MASK) == 0:
        return 0
    bits = ptr_exchange(base + H_WAIT_MASK, 0)
    wake = 0
    for i in range(MAX_READERS_LIMIT):
        if bits & (1 << i):
            if ptr_exchange(base + H_READERS + i * ENTRY_BYTES + E_WAITING, 0) != 0:
                wake |= 1 << i
    return wake


@njit(_i64(_i64, _i64, _BYTES, _i64), cache=True, nogil=True)
def _push_one(base: int, seq: int, payload: bytes, tag: int) -> int:
    """Write and publish message ``seq``; the entries to wake, or TOO_LARGE / BAD_TAG."""
    if tag < 0 or tag > TAG_MAX:
        return BAD_TAG
    n = len(payload)
    slot_size = ptr_load_relaxed(base + H_SLOT_SIZE)
    if n > slot_size - SLOT_HDR:
        return TOO_LARGE
    mask = ptr_load_relaxed(base + H_SLOT_COUNT) - 1
    slot = base + ptr_load_relaxed(base + H_HEADER_BYTES) + (seq & mask) * slot_size
    _write_slot(slot, seq, buffer_address(payload), n, tag)
    ptr_store_release(base + H_PUBLISHED, seq)
    return _wake_scan(base)


@njit(_i64(_i64, _i64, _BYTES, _i64[::1], _i64), cache=True, nogil=True)
def _push_many(base: int, seq0: int, blob: bytes, lens: np.ndarray, tag: int) -> int:
    """Write messages ``seq0 ..`` from ``blob`` cut by ``lens``; wake bits, or -(i+1) when
    message i is too large, or ``BATCH_MISMATCH`` when the lengths do not add up to the
    blob (then nothing is written)."""
    slot_size = ptr_load_relaxed(base + H_SLOT_SIZE)
    cap = slot_size - SLOT_HDR
    count = lens.shape[0]
    total = 0
    for i in range(count):
        if lens[i] > cap or lens[i] < 0:
            return -(i + 1)
        total += lens[i]
    if total != len(blob):
        return BATCH_MISMATCH
    mask = ptr_load_relaxed(base + H_SLOT_COUNT) - 1
    slots = base + ptr_load_relaxed(base + H_HEADER_BYTES)
    src = buffer_address(blob)
    seq = seq0
    for i in range(count):
        n = lens[i]
        _write_slot(slots + (seq & mask) * slot_size, seq, src, n, tag)
        src += n
        seq += 1
    ptr_store_release(base + H_PUBLISHED, seq - 1)
    return _wake_scan(base)


@njit(_i64(_i64, _i64, _i64), cache=True, nogil=True)
def _resync_cursor(base: int, cursor: int, slot_seq: int) -> int:
    """The oldest sequence number that may still be in the ring, given that the slot of
    ``cursor`` was seen holding ``slot_seq`` (a later lap)."""
    n = ptr_load_relaxed(base + H_SLOT_COUNT)
    pub = ptr_load_acquire(base + H_PUBLISHED)
    newest = slot_seq & SEQ_MASK
    if pub > newest:
        newest = pub
    new = newest - n + 1
    if new <= cursor:
        new = cursor + 1
    return new


@njit(_i64(_i64, _i64, _i64, _i64, _i64, _i64), cache=True, nogil=True)
def _pop_many(base: int, cursor: int, max_n: int, out: int, room: int, offs: int) -> int:
    """Copy up to ``max_n`` messages from ``cursor`` into the ``room`` bytes at address
    ``out``; message i is ``out[offs[i]:offs[i+1]]`` with ``offs`` an int64 array at
    address ``offs``. Returns how many were taken (it stops at the first message not yet
    published, or lapped, or not fitting). When the reader turns out to be lapped before
    any message was taken, returns ``-resync_cursor`` instead.
    """
    n_slots = ptr_load_relaxed(base + H_SLOT_COUNT)
    mask = n_slots - 1
    slot_size = ptr_load_relaxed(base + H_SLOT_SIZE)
    cap = slot_size - SLOT_HDR
    slots = base + ptr_load_relaxed(base + H_HEADER_BYTES)
    used = 0
    got = 0
    c = cursor
    ptr_store_relaxed(offs, 0)
    while got < max_n:
        slot = slots + (c & mask) * slot_size
        s1 = ptr_load_acquire(slot)
        if s1 != c:
            if (s1 & SEQ_MASK) > c and got == 0:
                return -_resync_cursor(base, c, s1)
            break
        ln = ptr_load_relaxed(slot + 8) & LEN_MASK
        if ln > cap:
            ln = cap
        if used + ln > room:
            break
        ptr_memcpy(out + used, slot + SLOT_HDR, ln)
        fence_acq_rel()
        s2 = ptr_load_relaxed(slot)
        if s2 != c:
            if got == 0:
                return -_resync_cursor(base, c, s2)
            break
        used += ln
        got += 1
        ptr_store_relaxed(offs + 8 * got, used)
        c += 1
    return got


@njit(types.void(_i64, _i64), cache=True, nogil=True)
def _arm(base: int, index: int) -> None:
    """Mark reader entry ``index`` as about to sleep, then full fence."""
    ptr_store_relaxed(base + H_READERS + index * ENTRY_BYTES + E_WAITING, 1)
    ptr_fetch_or(base + H_WAIT_MASK, 1 << index)
    fence_seq_cst()


@njit(types.boolean(_i64, _i64, _i64), cache=True, nogil=True)
def _cas(addr: int, expected: int, new: int) -> bool:
    return ptr_cas(addr, expected, new)  # type: ignore[no-any-return]


@njit(types.void(_i64, _i64), cache=True, nogil=True)
def _store_release(addr: int, value: int) -> None:
    ptr_store_release(addr, value)


# --------------------------------------------------------------------------- builtins (ipc.fastcall)
# ``push`` and ``poll`` as CPython builtins: see ipc.fastcall. Each takes ``self`` = a tuple
# (state array, Python fallback[, wake-up hook]); the state array holds the end's words
# (below) followed by ipc.fastcall's C-API table. Anything but the common case (a closed
# end, keyword arguments, a payload that is not ``bytes``, a tag out of range, a message
# too large, an overrun) is handed to the Python fallback with the original arguments, so
# the errors and the rare paths are the Python code's.

W_BASE: Final = 0  # writer state: mapping address (0 once closed), last published seq,
W_SEQ: Final = 1  # slot-index mask, address of slot 0, slot size, payload capacity
W_MASK: Final = 2
W_SLOTS: Final = 3
W_SLOT_SIZE: Final = 4
W_CAP: Final = 5
W_SEM_POST: Final = 6  # address of libc's sem_post
W_PENDING: Final = 7  # reader entries the builtin could not post itself (for the hook)
W_API: Final = 8
W_SEMS: Final = W_API + fastcall.API_SLOTS  # per reader entry i: [W_SEMS + 2i] its generation,
# [W_SEMS + 2i + 1] its wake semaphore's sem_t * (0: not opened yet)
R_BASE: Final = 0  # reader state: mapping address (0 once closed), cursor, slot-index
R_CURSOR: Final = 1  # mask, address of slot 0, slot size, payload capacity, address of
R_MASK: Final = 2  # the cursor word in the reader table
R_SLOTS: Final = 3
R_SLOT_SIZE: Final = 4
R_CAP: Final = 5
R_CURSOR_ADDR: Final = 6
R_API: Final = 8

_FASTCALL_SIG = _i64(_i64, _i64, _i64, _i64)  # (self, args, nargs, kwnames) -> PyObject *


@njit(_i64(_i64, _i64), cache=True, nogil=True)
def _post_waiters(base: int, st: int) -> int:
    """After publishing and a full fence, with the waiting mask seen non-zero: take the
    mask, and post the wake semaphore of each entry whose waiting flag was set, where the
    writer's table has it opened for the entry's current generation. The entries left
    for the Python hook (bits, also stored at ``W_PENDING``)."""
    wake = _wake_scan(base)
    pending = 0
    i = 0
    while wake:
        if wake & 1:
            gen = ptr_load_relaxed(base + H_READERS + i * ENTRY_BYTES + E_GEN)
            cell = st + 8 * (W_SEMS + 2 * i)
            sem = ptr_load_relaxed(cell + 8)
            if sem != 0 and ptr_load_relaxed(cell) == gen:
                call_i(ptr_load_relaxed(st + 8 * W_SEM_POST), sem)
            else:
                pending |= 1 << i
        wake >>= 1
        i += 1
    ptr_store_relaxed(st + 8 * W_PENDING, pending)
    return pending


@cfunc(_FASTCALL_SIG, cache=True, nopython=True)
def _push_builtin(me: int, args: int, nargs: int, kwnames: int) -> int:
    """``writer.push(payload, tag=0)``: write, publish, full fence, and when a reader may
    be asleep call the wake-up hook (which returns the sequence number)."""
    st = ptr_load_relaxed(ptr_load_relaxed(me + TUPLE_ITEMS) + NDARRAY_DATA)
    api = st + 8 * W_API
    base = ptr_load_relaxed(st + 8 * W_BASE)
    if base != 0 and kwnames == 0 and (nargs == 1 or nargs == 2):
        payload = ptr_load_relaxed(args)
        ok = ptr_load_relaxed(payload + OB_TYPE) == ptr_load_relaxed(api + 8 * A_BYTES_T)
        tag = 0
        if ok and nargs == 2:
            t = ptr_load_relaxed(args + 8)
            if ptr_load_relaxed(t + OB_TYPE) != ptr_load_relaxed(api + 8 * A_INT_T):
                ok = False
            else:
                tag = call_i(ptr_load_relaxed(api + 8 * A_LONG_AS), t)
                if tag == -1:
                    call_v(ptr_load_relaxed(api + 8 * A_ERR_CLEAR))  # maybe OverflowError
                    ok = False
                elif tag < 0 or tag > TAG_MAX:
                    ok = False
        n = ptr_load_relaxed(payload + OB_SIZE)
        if ok and n <= ptr_load_relaxed(st + 8 * W_CAP):
            seq = ptr_load_relaxed(st + 8 * W_SEQ) + 1
            slot_size = ptr_load_relaxed(st + 8 * W_SLOT_SIZE)
            slot = ptr_load_relaxed(st + 8 * W_SLOTS) + (seq & ptr_load_relaxed(st + 8 * W_MASK)) * slot_size
            _write_slot(slot, seq, payload + BYTES_DATA, n, tag)
            ptr_store_release(base + H_PUBLISHED, seq)
            ptr_store_relaxed(st + 8 * W_SEQ, seq)
            fence_seq_cst()
            if ptr_load_relaxed(base + H_WAIT_MASK) != 0 and _post_waiters(base, st) != 0:
                hook = ptr_load_relaxed(me + TUPLE_ITEMS + 16)
                return call_iiii(ptr_load_relaxed(api + 8 * A_VCALL), hook, 0, 0, 0)
            return call_i(ptr_load_relaxed(api + 8 * A_LONG_FROM), seq)
    fallback = ptr_load_relaxed(me + TUPLE_ITEMS + 8)
    return call_iiii(ptr_load_relaxed(api + 8 * A_VCALL), fallback, args, nargs, kwnames)


@cfunc(_FASTCALL_SIG, cache=True, nopython=True)
def _poll_builtin(me: int, args: int, nargs: int, kwnames: int) -> int:
    """``reader.poll()``: the seqlock read of the slot at the cursor into a new ``bytes``;
    None when nothing new; an overrun (or a copy the writer overwrote) goes to the
    Python fallback, which reports it."""
    st = ptr_load_relaxed(ptr_load_relaxed(me + TUPLE_ITEMS) + NDARRAY_DATA)
    api = st + 8 * R_API
    if ptr_load_relaxed(st + 8 * R_BASE) != 0 and nargs == 0 and kwnames == 0:
        c = ptr_load_relaxed(st + 8 * R_CURSOR)
        slot = ptr_load_relaxed(st + 8 * R_SLOTS) + (c & ptr_load_relaxed(st + 8 * R_MASK)) * ptr_load_relaxed(
            st + 8 * R_SLOT_SIZE
        )
        s1 = ptr_load_acquire(slot)
        if s1 == c:
            n = ptr_load_relaxed(slot + 8) & LEN_MASK
            cap = ptr_load_relaxed(st + 8 * R_CAP)
            if n > cap:
                n = cap  # a length torn by a concurrent overwrite; the check below rejects it
            data = call_ii(ptr_load_relaxed(api + 8 * A_BYTES_FROM), slot + SLOT_HDR, n)
            if data == 0:
                return 0  # MemoryError is set
            fence_acq_rel()
            if ptr_load_relaxed(slot) == c:
                ptr_store_relaxed(st + 8 * R_CURSOR, c + 1)
                ptr_store_relaxed(ptr_load_relaxed(st + 8 * R_CURSOR_ADDR), c + 1)
                return data
            call_vi(ptr_load_relaxed(api + 8 * A_DECREF), data)
        elif (s1 & SEQ_MASK) <= c:
            none = ptr_load_relaxed(api + 8 * A_NONE)
            call_vi(ptr_load_relaxed(api + 8 * A_INCREF), none)
            return none
    fallback = ptr_load_relaxed(me + TUPLE_ITEMS + 8)
    return call_iiii(ptr_load_relaxed(api + 8 * A_VCALL), fallback, args, nargs, kwnames)


# --------------------------------------------------------------------------- helpers


def _pid_alive(pid: int) -> bool:
    """True when ``pid`` names a running (not zombie) process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] != b"Z"
    except OSError:
        return True


def _check_shm_name(name: str) -> None:
    if not name.startswith("/") or "/" in name[1:] or len(name) < 2 or len(name) > 250:
        raise ValueError(f"ring name {name!r} must look like '/mm.<runid>.<ring>' (one leading slash, <= 250 chars)")


def _encode_name(name: str, limit: int, what: str) -> bytes:
    raw = name.encode()
    if not raw or len(raw) > limit or b"\0" in raw:
        raise ValueError(f"{what} {name!r} must be 1..{limit} bytes of UTF-8 without NUL")
    return raw


class Ring:
    """A mapped ring segment. Create it once (``Ring.create``), attach anywhere else.

    ``writer()`` and ``reader()`` hand out the two ends; ``stats()`` is for monitoring.
    """

    name: str
    slot_count: int
    slot_size: int
    payload_capacity: int
    max_readers: int

    def __init__(self, name: str, mm: mmap.mmap) -> None:
        """Wrap an already-validated mapping; use :meth:`create` or :meth:`attach`."""
        self.name = name
        self._mm: mmap.mmap | None = mm
        self._mv = memoryview(mm)
        self._q = self._mv.cast("Q")
        probe = np.frombuffer(mm, dtype=np.uint8)
        self._base = int(probe.ctypes.data)
        del probe
        q = self._q
        self.slot_count = int(q[H_SLOT_COUNT >> 3])
        self.slot_size = int(q[H_SLOT_SIZE >> 3])
        self.max_readers = int(q[H_MAX_READERS >> 3])
        self.header_bytes = int(q[H_HEADER_BYTES >> 3])
        self.payload_capacity = self.slot_size - SLOT_HDR
        self._ends: weakref.WeakSet[RingWriter | RingReader] = weakref.WeakSet()

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def _geometry(slot_count: int, slot_size: int, max_readers: int) -> int:
        if slot_count < 2 or slot_count & (slot_count - 1):
            raise ValueError(f"slot_count must be a power of 2 (>= 2), got {slot_count}")
        if slot_size < 64 or slot_size % 64:
            raise ValueError(f"slot_size must be a multiple of 64 bytes (>= 64), got {slot_size}")
        if slot_size - SLOT_HDR > LEN_MASK:
            raise ValueError(f"slot_size {slot_size} is too large")
        if not 1 <= max_readers <= MAX_READERS_LIMIT:
            raise ValueError(f"max_readers must be in 1..{MAX_READERS_LIMIT}, got {max_readers}")
        table_end = H_READERS + max_readers * ENTRY_BYTES
        return (table_end + 4095) // 4096 * 4096

    @classmethod
    def create(cls, name: str, slot_count: int, slot_size: int, max_readers: int = 8) -> Ring:
        """Create a new ring segment (fails if ``name`` exists: unlink stale ones first)."""
        _check_shm_name(name)
        header_bytes = cls._geometry(slot_count, slot_size, max_readers)
        size = header_bytes + slot_count * slot_size
        try:
            shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=0o600, size=size)
        except posix_ipc.ExistentialError as e:
            raise FileExistsError(f"ring {name!r} already exists (/dev/shm{name}); unlink it first") from e
        try:
            mm = mmap.mmap(shm.fd, size)
        except BaseException:
            shm.unlink()
            raise
        finally:
            shm.close_fd()
        q = memoryview(mm).cast("Q")
        q[H_VERSION >> 3] = VERSION
        q[H_SLOT_COUNT >> 3] = slot_count
        q[H_SLOT_SIZE >> 3] = slot_size
        q[H_MAX_READERS >> 3] = max_readers
        q[H_HEADER_BYTES >> 3] = header_bytes
        q[H_CREATOR_PID >> 3] = os.getpid()
        q[H_CREATED_NS >> 3] = time.time_ns()
        q.release()
        ring = cls(name, mm)
        _store_release(ring._base + H_MAGIC, MAGIC)  # last: attachers see a complete header
        return ring

    @classmethod
    def attach(cls, name: str) -> Ring:
        """Map an existing ring; its geometry comes from the header."""
        _check_shm_name(name)
        try:
            shm = posix_ipc.SharedMemory(name)
        except posix_ipc.ExistentialError as e:
            raise RingNotFound(f"ring {name!r} does not exist (no shared-memory segment /dev/shm{name})") from e
        try:
            size = shm.size
            if size < 4096:
                raise RingCorrupt(f"ring {name!r}: segment of {size} bytes is too small to be a ring")
            mm = mmap.mmap(shm.fd, size)
        finally:
            shm.close_fd()
        q = memoryview(mm).cast("Q")
        magic, version = q[H_MAGIC >> 3], q[H_VERSION >> 3]
        slot_count, slot_size = q[H_SLOT_COUNT >> 3], q[H_SLOT_SIZE >> 3]
        max_readers, header_bytes = q[H_MAX_READERS >> 3], q[H_HEADER_BYTES >> 3]
        q.release()
        problem = ""
        if magic != MAGIC:
            problem = f"bad magic {magic:#x} (not a ring, or not initialised yet)"
        elif version != VERSION:
            problem = f"layout version {version}, this code reads version {VERSION}"
        else:
            try:
                expect = cls._geometry(slot_count, slot_size, max_readers)
            except ValueError as e:
                problem = f"bad geometry: {e}"
            else:
                if expect != header_bytes or header_bytes + slot_count * slot_size != size:
                    problem = f"geometry does not match the segment size {size}"
        if problem:
            mm.close()
            raise RingCorrupt(f"ring {name!r}: {problem}")
        return cls(name, mm)

    def close(self) -> None:
        """Close this process's ends (freeing their reader entries) and unmap."""
        if self._mm is None:
            return
        for end in list(self._ends):
            end.close()
        self._q.release()
        self._mv.release()
        self._mm.close()
        self._mm = None

    def unlink(self) -> None:
        """Remove the segment name (idempotent). Mappings stay valid until closed."""
        try:
            posix_ipc.unlink_shared_memory(self.name)
        except posix_ipc.ExistentialError:
            pass

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ring({self.name!r}, slot_count={self.slot_count}, slot_size={self.slot_size})"

    # ------------------------------------------------------------------ internals shared with the ends

    @property
    def closed(self) -> bool:
        return self._mm is None

    def _live(self) -> mmap.mmap:
        if self._mm is None:
            raise ValueError(f"ring {self.name!r} is closed")
        return self._mm

    def _word(self, offset: int) -> int:
        return int(self._q[offset >> 3])

    def _set_word(self, offset: int, value: int) -> None:
        self._q[offset >> 3] = value

    def _entry(self, index: int) -> int:
        return H_READERS + index * ENTRY_BYTES

    def _read_str(self, offset: int, size: int) -> str:
        mm = self._live()
        return mm[offset : offset + size].split(b"\0", 1)[0].decode(errors="replace")

    def _write_str(self, offset: int, size: int, raw: bytes) -> None:
        self._live()[offset : offset + size] = raw.ljust(size, b"\0")

    def _lock_table(self) -> None:
        me = os.getpid()
        addr = self._base + H_TABLE_LOCK
        deadline = time.monotonic() + _LOCK_TIMEOUT_S
        while not _cas(addr, 0, me):
            holder = self._word(H_TABLE_LOCK)
            if holder and holder != me and not _pid_alive(holder) and _cas(addr, holder, me):
                return
            if holder == me:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"ring {self.name!r}: reader table locked by pid {holder}")
            time.sleep(0.001)

    def _unlock_table(self) -> None:
        _store_release(self._base + H_TABLE_LOCK, 0)

    # ------------------------------------------------------------------ public

    def writer(self) -> RingWriter:
        """The ring's single writer. Continues after the header's published sequence."""
        self._live()
        return RingWriter(self)

    def reader(self, reader_name: str, wake_sem_name: str | None = None, start: str = "latest") -> RingReader:
        """Register (or take over, by name) a reader entry.

        ``start``: ``"latest"`` reads only messages published from now on, ``"oldest"``
        starts at the oldest message still in the ring, ``"resume"`` keeps the cursor of
        an entry registered earlier under the same name (``"oldest"`` when there is none).
        """
        self._live()
        if start not in ("latest", "oldest", "resume"):
            raise ValueError(f"start must be 'latest', 'oldest' or 'resume', got {start!r}")
        return RingReader(self, reader_name, wake_sem_name, start)

    def stats(self) -> dict[str, Any]:
        """A snapshot for monitoring: published sequence and each registered reader."""
        self._live()
        published = self._word(H_PUBLISHED)
        readers = []
        for i in range(self.max_readers):
            e = self._entry(i)
            if self._word(e + E_STATE) != STATE_USED:
                continue
            cursor = self._word(e + E_CURSOR)
            readers.append(
                {
                    "name": self._read_str(e + E_NAME, NAME_MAX + 1),
                    "pid": self._word(e + E_PID),
                    "cursor": cursor,
                    "lag": max(0, published + 1 - cursor),
                    "overruns": self._word(e + E_OVERRUNS),
                    "waiting": bool(self._word(e + E_WAITING)),
                }
            )
        return {
            "name": self.name,
            "slot_count": self.slot_count,
            "slot_size": self.slot_size,
            "published": published,
            "readers": readers,
        }


class RingWriter:
    """The one producer of a ring. Never waits for readers; wakes the ones asleep."""

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self._base = ring._base
        self._cap = ring.payload_capacity
        me = os.getpid()
        addr = ring._base + H_WRITER_PID
        while True:
            holder = ring._word(H_WRITER_PID)
            if holder and holder != me and _pid_alive(holder):
                raise RuntimeError(f"ring {ring.name!r} already has a live writer (pid {holder})")
            if _cas(addr, holder, me):
                break
        # Adopt a message that was fully written but not counted in `published` (a crash
        # between the two release stores); a slot left BUSY is rewritten by the next push.
        pub = ring._word(H_PUBLISHED)
        mask = ring.slot_count - 1
        while True:
            nxt = pub + 1
            if ring._word(ring.header_bytes + (nxt & mask) * ring.slot_size) != nxt:
                break
            pub = nxt
        _store_release(ring._base + H_PUBLISHED, pub)
        st = fastcall.state_array(W_API, 2 * MAX_READERS_LIMIT)
        st[W_BASE] = ring._base
        st[W_SEQ] = pub
        st[W_SEM_POST] = fastcall.SEM_POST_ADDRESS
        st[W_MASK] = ring.slot_count - 1
        st[W_SLOTS] = ring._base + ring.header_bytes
        st[W_SLOT_SIZE] = ring.slot_size
        st[W_CAP] = self._cap
        self._st = st
        self._sv = st.data  # the state words as Python ints
        self._closed = False
        ring._ends.add(self)
        self.push_py = RingWriter.push.__get__(self, RingWriter)
        if fastcall.LAYOUT_OK:
            self.push = fastcall.make_builtin(  # type: ignore[method-assign]
                "push", _push_builtin.address, (st, self.push_py, self._after_publish)
            )

    @property
    def published(self) -> int:
        """The sequence number of the last message this writer published (0: none yet)."""
        return int(self._sv[W_SEQ])

    def push(self, payload: bytes, tag: int = 0) -> int:
        """Publish one message; returns its sequence number.

        On an instance this is the compiled builtin (``_push_builtin``, about 0.05 us);
        the method itself (also reachable as ``push_py``) is the reference path it falls
        back to for anything unusual: a payload that is not ``bytes``, a tag that is not
        an int in range, a message too large, a closed writer.
        """
        sv = self._sv
        if not sv[W_BASE]:
            self._refuse()
        if payload.__class__ is not bytes or tag.__class__ is not int:
            return self._push_other(payload, tag)
        s = sv[W_SEQ] + 1
        try:
            wake = _push_one(self._base, s, payload, tag)
        except (TypeError, OverflowError):
            return self._push_other(payload, tag)
        if wake:
            if wake < 0:
                if wake == BAD_TAG:
                    raise ValueError(f"ring {self.ring.name!r}: tag {tag} is not in 0..{TAG_MAX}")
                raise MessageTooLarge(self.ring.name, len(payload), self._cap)
            self._wake(wake)
        sv[W_SEQ] = s
        return s

    def _after_publish(self) -> int:
        """The builtin's hook when an armed reader's semaphore is not in the table yet (a
        new reader, or a re-registered one): open and post it; the sequence number just
        published."""
        sv = self._sv
        bits = sv[W_PENDING]
        sv[W_PENDING] = 0
        if bits:
            self._wake(bits)
        return int(sv[W_SEQ])

    def _push_other(self, payload: object, tag: object) -> int:
        """``push`` of a payload that is not ``bytes``, or of a tag that is not a plain
        ``int``: checked here, then pushed as ``bytes`` and ``int``."""
        if isinstance(tag, bool) or not hasattr(tag, "__index__"):
            raise TypeError(f"ring {self.ring.name!r}: tag must be an int, got {type(tag).__name__}")
        tag = operator.index(tag)
        if not 0 <= tag <= TAG_MAX:
            raise ValueError(f"ring {self.ring.name!r}: tag {tag} is not in 0..{TAG_MAX}")
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"ring {self.ring.name!r}: payload must be bytes, got {type(payload).__name__}")
        return RingWriter.push(self, bytes(payload), tag)

    def push_batch(self, payloads: list[bytes], tag: int = 0) -> int:
        """Publish several messages in one compiled call; returns the last sequence number.

        All or nothing: if one payload is too large, none is published.
        """
        count = len(payloads)
        sv = self._sv
        if count == 0:
            return int(sv[W_SEQ])
        if not 0 <= tag <= TAG_MAX:
            raise ValueError(f"ring {self.ring.name!r}: tag {tag} is not in 0..{TAG_MAX}")
        lens = np.fromiter(map(len, payloads), dtype=np.int64, count=count)
        blob = b"".join(payloads)
        if not sv[W_BASE]:
            self._refuse()
        s0 = sv[W_SEQ] + 1
        wake = _push_many(self._base, s0, blob, lens, tag)
        if wake:
            if wake < 0:
                if wake == BATCH_MISMATCH:
                    raise TypeError(f"ring {self.ring.name!r}: push_batch takes a list of bytes")
                raise MessageTooLarge(self.ring.name, int(lens[-wake - 1]), self._cap)
            self._wake(wake)
        sv[W_SEQ] = s0 + count - 1
        return s0 + count - 1

    def _wake(self, bits: int) -> None:
        """Post the wake semaphores of reader entries ``bits`` (bit i = entry i), opening
        (or re-opening, when the entry's generation changed) those not in the table."""
        ring = self.ring
        sv = self._sv
        i = 0
        while bits:
            if bits & 1:
                e = ring._entry(i)
                gen = ring._word(e + E_GEN)
                k = W_SEMS + 2 * i
                sem = sv[k + 1]
                if sem == 0 or sv[k] != gen:
                    if sem:
                        sv[k + 1] = 0
                        fastcall.sem_close(sem)
                    sem_name = ring._read_str(e + E_SEM, SEM_NAME_MAX + 1)
                    # 0 when not created yet, or its process is gone: looked up again next time
                    sem = fastcall.sem_open(sem_name) if sem_name else 0
                    sv[k] = gen
                    sv[k + 1] = sem
                if sem:
                    fastcall.sem_post(sem)
            bits >>= 1
            i += 1

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise ValueError(f"writer of ring {self.ring.name!r} is closed")

    def close(self) -> None:
        """Give up the writer role (another process may then become the writer)."""
        if self._closed:
            return
        self._closed = True
        self._sv[W_BASE] = 0  # the builtin now hands every call to push_py, which refuses
        # the hot methods check nothing: shadow them so that a closed writer cannot touch
        # memory that may be unmapped
        self.push = self._refuse  # type: ignore[method-assign]
        self.push_batch = self._refuse  # type: ignore[method-assign]
        sv = self._sv
        for i in range(MAX_READERS_LIMIT):
            sem = sv[W_SEMS + 2 * i + 1]
            if sem:
                sv[W_SEMS + 2 * i + 1] = 0
                fastcall.sem_close(sem)
        ring = self.ring
        if not ring.closed:
            _cas(ring._base + H_WRITER_PID, os.getpid(), 0)


class RingReader:
    """One consumer's cursor on a ring, registered by name in the ring's reader table."""

    name: str
    wake_sem_name: str | None

    def __init__(self, ring: Ring, name: str, wake_sem_name: str | None, start: str) -> None:
        raw = _encode_name(name, NAME_MAX, "reader name")
        raw_sem = _encode_name(wake_sem_name, SEM_NAME_MAX, "wake semaphore name") if wake_sem_name else b""
        self.ring = ring
        self.name = name
        self.wake_sem_name = wake_sem_name
        ring._lock_table()
        try:
            index = -1
            free = -1
            stale = -1
            for i in range(ring.max_readers):
                e = ring._entry(i)
                state = ring._word(e + E_STATE)
                if state == STATE_USED and ring._read_str(e + E_NAME, NAME_MAX + 1) == name:
                    index = i
                    break
                if state != STATE_USED and free < 0:
                    free = i
                if state == STATE_USED and stale < 0 and not _pid_alive(ring._word(e + E_PID)):
                    stale = i
            reuse = index >= 0
            if not reuse:
                index = free if free >= 0 else stale
            if index < 0:
                raise RuntimeError(
                    f"ring {ring.name!r}: reader table full ({ring.max_readers} live readers); cannot add {name!r}"
                )
            e = ring._entry(index)
            published = ring._word(H_PUBLISHED)
            oldest = max(1, published - ring.slot_count + 1)
            if start == "resume" and reuse:
                cursor = max(1, ring._word(e + E_CURSOR))
            elif start == "latest":
                cursor = published + 1
            else:
                cursor = oldest
            ring._set_word(e + E_WAITING, 0)
            ring._set_word(e + E_PID, os.getpid())
            ring._set_word(e + E_CURSOR, cursor)
            ring._set_word(e + E_OVERRUNS, 0)
            ring._write_str(e + E_NAME, NAME_MAX + 1, raw)
            ring._write_str(e + E_SEM, SEM_NAME_MAX + 1, raw_sem)
            ring._set_word(e + E_GEN, ring._word(e + E_GEN) + 1)
            _store_release(ring._base + e + E_STATE, STATE_USED)
        finally:
            ring._unlock_table()
        self.index = index
        self._gen = ring._word(e + E_GEN)
        self._entry = e
        self._overruns = 0
        self._closed = False
        # hot-path constants
        self._mm = ring._live()
        self._q = ring._q
        self._mask = ring.slot_count - 1
        self._sw = ring.slot_size >> 3
        self._slot0 = ring.header_bytes >> 3
        self._cap = ring.payload_capacity
        self._cur_k = (e + E_CURSOR) >> 3
        self._base = ring._base
        self._out: np.ndarray | None = None  # poll_batch's scratch, allocated on first use
        self._offs = np.empty(1, dtype=np.int64)
        self._room = self._out_addr = self._offs_addr = 0
        st = fastcall.state_array(R_API)
        st[R_BASE] = ring._base
        st[R_CURSOR] = cursor
        st[R_MASK] = self._mask
        st[R_SLOTS] = ring._base + ring.header_bytes
        st[R_SLOT_SIZE] = ring.slot_size
        st[R_CAP] = self._cap
        st[R_CURSOR_ADDR] = ring._base + e + E_CURSOR
        self._st = st
        self._sv = st.data  # the state words as Python ints; [R_CURSOR] is the cursor
        ring._ends.add(self)
        self.poll_py = RingReader.poll.__get__(self, RingReader)
        if fastcall.LAYOUT_OK:
            self.poll = fastcall.make_builtin("poll", _poll_builtin.address, (st, self.poll_py))  # type: ignore[method-assign]

    # ------------------------------------------------------------------ reading

    @property
    def cursor(self) -> int:
        """The sequence number of the next message this reader will return."""
        return int(self._sv[R_CURSOR])

    @property
    def overruns(self) -> int:
        """Messages lost to overruns since this reader registered."""
        return self._overruns

    def available(self) -> bool:
        """True when the message at the cursor is published: a poll returns it (or reports
        the overrun, if it was overwritten since)."""
        return bool(self._q[_PUBLISHED_K] >= self._sv[R_CURSOR])

    def watch_word(self) -> tuple[memoryview, int, int]:
        """``(words, index, cursor)``: the reader has something to poll once
        ``words[index] >= cursor`` (``words[index]`` is the ring's published sequence).
        For spin loops (ipc.wait) that cannot afford a method call per look; valid until
        the next poll."""
        return self._q, _PUBLISHED_K, int(self._sv[R_CURSOR])

    def poll(self) -> bytes | None:
        """The next message, or None when there is none yet.

        Raises :class:`RingOverrun` (after moving to the oldest message still held) when
        the writer lapped this reader.

        On an instance this is the compiled builtin (``_poll_builtin``); the method itself
        (also reachable as ``poll_py``) is the path it falls back to on an overrun.
        """
        sv = self._sv
        c = sv[R_CURSOR]
        q = self._q
        k = self._slot0 + (c & self._mask) * self._sw
        s = q[k]
        if s != c:
            if (s & SEQ_MASK) > c:
                self._overrun(s)
            return None
        n = q[k + 1] & LEN_MASK
        if n > self._cap:
            n = self._cap  # a length torn by a concurrent overwrite; the check below rejects it
        o = (k + 2) << 3
        data = self._mm[o : o + n]
        s = q[k]
        if s != c:
            self._overrun(s)
        c += 1
        sv[R_CURSOR] = c
        q[self._cur_k] = c
        return data

    def poll_tagged(self) -> tuple[int, bytes] | None:
        """Like :meth:`poll`, with the tag the writer pushed: ``(tag, payload)``."""
        sv = self._sv
        c = sv[R_CURSOR]
        q = self._q
        k = self._slot0 + (c & self._mask) * self._sw
        s = q[k]
        if s != c:
            if (s & SEQ_MASK) > c:
                self._overrun(s)
            return None
        lt = q[k + 1]
        n = lt & LEN_MASK
        if n > self._cap:
            n = self._cap
        o = (k + 2) << 3
        data = self._mm[o : o + n]
        s = q[k]
        if s != c:
            self._overrun(s)
        c += 1
        sv[R_CURSOR] = c
        q[self._cur_k] = c
        return lt >> 32, data

    def poll_batch(self, max_n: int) -> list[bytes]:
        """Up to ``max_n`` messages: everything published since the cursor, if fewer.

        The first message goes through :meth:`poll`; when more are waiting, the rest are
        copied in one compiled call. Raises :class:`RingOverrun` (after resync) when
        lapped at the cursor; when the reader is lapped after some messages were taken,
        those are returned and the next call raises.
        """
        if max_n <= 0:
            return []
        first = self.poll()
        if first is None:
            return []
        c = self._sv[R_CURSOR]
        if max_n == 1 or self._q[self._slot0 + (c & self._mask) * self._sw] != c:
            return [first]
        scratch = self._out if self._out is not None else self._alloc_scratch()
        self.ring._live()
        got = _pop_many(self._base, c, min(max_n - 1, self.ring.slot_count), self._out_addr, self._room, self._offs_addr)
        if got <= 0:
            return [first]  # lapped just now: the next call reports it
        c += got
        self._sv[R_CURSOR] = c
        self._q[self._cur_k] = c
        offs = self._offs[: got + 1].tolist()
        blob = scratch[: offs[got]].tobytes()
        out = [first]
        out += [blob[offs[i] : offs[i + 1]] for i in range(got)]
        return out

    def _alloc_scratch(self) -> np.ndarray:
        n = self.ring.slot_count
        room = max(self._cap, min(n * self._cap, _SCRATCH_LIMIT))
        self._out = np.empty(room, dtype=np.uint8)
        self._offs = np.empty(n + 1, dtype=np.int64)
        self._room = room
        self._out_addr = int(self._out.ctypes.data)
        self._offs_addr = int(self._offs.ctypes.data)
        return self._out

    def _overrun(self, slot_seq: int) -> NoReturn:
        self.ring._live()
        self._lost(_resync_cursor(self._base, self._sv[R_CURSOR], slot_seq))

    def _lost(self, new_cursor: int) -> NoReturn:
        lost = new_cursor - self._sv[R_CURSOR]
        self._sv[R_CURSOR] = new_cursor
        self._overruns += lost
        q = self._q
        q[self._cur_k] = new_cursor
        q[(self._entry + E_OVERRUNS) >> 3] = self._overruns
        raise RingOverrun(self.ring.name, lost, self.name)

    # ------------------------------------------------------------------ wake-up handshake (used by ipc.wait)

    def arm_wakeup(self) -> None:
        """Ask the writer to post this reader's semaphore on its next publish (full fence)."""
        self.ring._live()
        _arm(self._base, self.index)

    def disarm_wakeup(self) -> None:
        """Withdraw :meth:`arm_wakeup` (a post already on its way is a spurious wake-up)."""
        self._q[(self._entry + E_WAITING) >> 3] = 0

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Free this reader's entry in the table (unless another process took it over)."""
        if self._closed:
            return
        self._closed = True
        self._sv[R_BASE] = 0  # the builtin now hands every call to poll_py
        ring = self.ring
        if ring.closed:
            return
        ring._lock_table()
        try:
            e = self._entry
            if ring._word(e + E_GEN) == self._gen and ring._word(e + E_PID) == os.getpid():
                ring._set_word(e + E_WAITING, 0)
                _store_release(ring._base + e + E_STATE, STATE_FREE)
        finally:
            ring._unlock_table()

    def __repr__(self) -> str:
        return f"RingReader({self.ring.name!r}, {self.name!r}, cursor={self.cursor})"
