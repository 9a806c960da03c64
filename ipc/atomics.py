"""Atomic memory operations for numba code, on 64-bit integers in shared memory.

This module owns every ordering primitive ``ipc/`` relies on. Numba gives plain array
loads and stores no ordering at all: LLVM may keep a value in a register (a
``while seq[i] != want`` loop inside ``@njit`` becomes an endless loop because the load
is hoisted out of it), merge stores, or move a payload store past the store that
publishes it. The intrinsics below emit LLVM's own atomic instructions and fences, so
the compiler keeps them where they are written and the CPU is told the ordering that is
meant:

- ``atomic_load_acquire`` / ``ptr_load_acquire``: ``load atomic acquire`` (x86: ``mov``)
- ``atomic_load_relaxed`` / ``ptr_load_relaxed``: ``load atomic monotonic`` (``mov``)
- ``atomic_store_release`` / ``ptr_store_release``: ``store atomic release`` (``mov``)
- ``atomic_store_relaxed`` / ``ptr_store_relaxed``: ``store atomic monotonic`` (``mov``)
- ``atomic_exchange`` / ``ptr_exchange``: ``atomicrmw xchg seq_cst`` (``xchg``)
- ``atomic_cas`` / ``ptr_cas``: ``cmpxchg seq_cst`` (``lock cmpxchg``)
- ``atomic_fetch_add``, ``atomic_fetch_or`` / ``ptr_fetch_or``: ``atomicrmw`` (``lock xadd``,
  ``lock or`` or a ``lock cmpxchg`` loop)
- ``fence_seq_cst``: ``fence seq_cst`` (``mfence``): keeps a later load from passing an
  earlier store, which x86 otherwise allows (a locked read-modify-write does too)
- ``fence_acq_rel``: ``fence acq_rel``: no instruction on x86 (TSO already keeps load-load,
  load-store and store-store order) but LLVM moves no memory access across it

The accesses come in two forms: on a one-dimensional ``int64``/``uint64`` numpy array and
an index (``atomic_load_acquire(arr, i)``), and on a raw address given as an integer
(``ptr_load_acquire(addr)``); ``ptr_memcpy`` and ``buffer_address`` (the address of a
``bytes`` or array's data) complete the address form. The address form lets hot functions take plain integers
instead of arrays, which makes numba's per-call dispatch cheaper (no array unboxing).
Addresses must be 8-byte aligned; an aligned 8-byte access is single-copy atomic on
x86-64. The address forms type every value as a signed 64-bit integer (numba turns mixed
``int64``/``uint64`` arithmetic into floats, so one signedness throughout keeps index math
exact): callers keep the words they share below 2**63.

The Python-callable wrappers ``load_u64``, ``store_u64``, ``cas_u64``,
``fetch_add_u64`` and ``full_fence`` are jitted functions for use from Python code and
tests; hot loops call the intrinsics directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "atomic_cas",
    "atomic_exchange",
    "atomic_fetch_add",
    "atomic_fetch_or",
    "atomic_load_acquire",
    "atomic_load_relaxed",
    "atomic_store_relaxed",
    "atomic_store_release",
    "buffer_address",
    "cas_u64",
    "exchange_u64",
    "fence_acq_rel",
    "fence_seq_cst",
    "fetch_add_u64",
    "full_fence",
    "load_u64",
    "ptr_cas",
    "ptr_exchange",
    "ptr_fetch_or",
    "ptr_load_acquire",
    "ptr_load_relaxed",
    "ptr_memcpy",
    "ptr_store_relaxed",
    "ptr_store_release",
    "store_u64",
]

_I64 = ir.IntType(64)
_I8P = ir.IntType(8).as_pointer()


def _check_array(arr: Any, what: str) -> None:
    if not isinstance(arr, types.Array) or arr.ndim != 1:
        raise TypeError(f"{what}: expected a 1-d int64/uint64 array, got {arr}")
    if arr.dtype not in (types.int64, types.uint64):
        raise TypeError(f"{what}: expected an int64/uint64 array, got dtype {arr.dtype}")


def _elem_ptr(context: Any, builder: Any, aryty: Any, ary: Any, idxty: Any, idx: Any) -> Any:
    arr = context.make_array(aryty)(context, builder, ary)
    i = context.cast(builder, idx, idxty, types.intp)
    return cgutils.get_item_pointer(context, builder, aryty, arr, [i], wraparound=False)


def _addr_ptr(builder: Any, addr: Any) -> Any:
    return builder.inttoptr(addr, _I64.as_pointer())


# --------------------------------------------------------------------------- array forms


def _make_load(ordering: str, what: str) -> Any:
    def impl(typingctx: Any, arr: Any, idx: Any) -> Any:
        _check_array(arr, what)
        if not isinstance(idx, types.Integer):
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            ptr = _elem_ptr(context, builder, sig.args[0], args[0], sig.args[1], args[1])
            return builder.load_atomic(ptr, ordering, 8)

        return arr.dtype(arr, idx), codegen

    impl.__name__ = what
    return intrinsic(impl)


def _make_store(ordering: str, what: str) -> Any:
    def impl(typingctx: Any, arr: Any, idx: Any, val: Any) -> Any:
        _check_array(arr, what)
        if not isinstance(idx, types.Integer) or not isinstance(val, types.Integer):
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            aryty = sig.args[0]
            ptr = _elem_ptr(context, builder, aryty, args[0], sig.args[1], args[1])
            v = context.cast(builder, args[2], sig.args[2], aryty.dtype)
            builder.store_atomic(v, ptr, ordering, 8)
            return context.get_dummy_value()

        return types.void(arr, idx, val), codegen

    impl.__name__ = what
    return intrinsic(impl)


def _make_rmw(op: str, what: str) -> Any:
    def impl(typingctx: Any, arr: Any, idx: Any, val: Any) -> Any:
        _check_array(arr, what)
        if not isinstance(idx, types.Integer) or not isinstance(val, types.Integer):
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            aryty = sig.args[0]
            ptr = _elem_ptr(context, builder, aryty, args[0], sig.args[1], args[1])
            v = context.cast(builder, args[2], sig.args[2], aryty.dtype)
            return builder.atomic_rmw(op, ptr, v, "seq_cst")

        return arr.dtype(arr, idx, val), codegen

    impl.__name__ = what
    return intrinsic(impl)


atomic_load_acquire = _make_load("acquire", "atomic_load_acquire")
atomic_load_relaxed = _make_load("monotonic", "atomic_load_relaxed")
atomic_store_release = _make_store("release", "atomic_store_release")
atomic_store_relaxed = _make_store("monotonic", "atomic_store_relaxed")
atomic_exchange = _make_rmw("xchg", "atomic_exchange")
atomic_fetch_add = _make_rmw("add", "atomic_fetch_add")
atomic_fetch_or = _make_rmw("or", "atomic_fetch_or")


@intrinsic
def atomic_cas(typingctx: Any, arr: Any, idx: Any, expected: Any, new: Any) -> Any:
    """``arr[idx]``: if it equals ``expected`` set it to ``new``; True when it did (seq_cst)."""
    _check_array(arr, "atomic_cas")
    if not all(isinstance(t, types.Integer) for t in (idx, expected, new)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        aryty = sig.args[0]
        ptr = _elem_ptr(context, builder, aryty, args[0], sig.args[1], args[1])
        exp = context.cast(builder, args[2], sig.args[2], aryty.dtype)
        new_v = context.cast(builder, args[3], sig.args[3], aryty.dtype)
        res = builder.cmpxchg(ptr, exp, new_v, "seq_cst", "seq_cst")
        return builder.extract_value(res, 1)

    return types.boolean(arr, idx, expected, new), codegen


@intrinsic
def fence_seq_cst(typingctx: Any) -> Any:
    """A full fence: no load or store moves across it, store-to-load included (``mfence``)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def fence_acq_rel(typingctx: Any) -> Any:
    """An acquire-release fence. On x86-64 it emits no instruction (TSO already orders
    load-load, load-store and store-store) but LLVM moves no memory access across it."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        builder.fence("acq_rel")
        return context.get_dummy_value()

    return types.void(), codegen


# --------------------------------------------------------------------------- address forms


def _make_ptr_load(ordering: str, what: str) -> Any:
    def impl(typingctx: Any, addr: Any) -> Any:
        if not isinstance(addr, types.Integer):
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            a = context.cast(builder, args[0], sig.args[0], types.int64)
            return builder.load_atomic(_addr_ptr(builder, a), ordering, 8)

        return types.int64(addr), codegen

    impl.__name__ = what
    return intrinsic(impl)


def _make_ptr_store(ordering: str, what: str) -> Any:
    def impl(typingctx: Any, addr: Any, val: Any) -> Any:
        if not isinstance(addr, types.Integer) or not isinstance(val, types.Integer):
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            a = context.cast(builder, args[0], sig.args[0], types.int64)
            v = context.cast(builder, args[1], sig.args[1], types.int64)
            builder.store_atomic(v, _addr_ptr(builder, a), ordering, 8)
            return context.get_dummy_value()

        return types.void(addr, val), codegen

    impl.__name__ = what
    return intrinsic(impl)


def _make_ptr_rmw(op: str, what: str) -> Any:
    def impl(typingctx: Any, addr: Any, val: Any) -> Any:
        if not isinstance(addr, types.Integer) or not isinstance(val, types.Integer):
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            a = context.cast(builder, args[0], sig.args[0], types.int64)
            v = context.cast(builder, args[1], sig.args[1], types.int64)
            return builder.atomic_rmw(op, _addr_ptr(builder, a), v, "seq_cst")

        return types.int64(addr, val), codegen

    impl.__name__ = what
    return intrinsic(impl)


ptr_load_acquire = _make_ptr_load("acquire", "ptr_load_acquire")
ptr_load_relaxed = _make_ptr_load("monotonic", "ptr_load_relaxed")
ptr_store_release = _make_ptr_store("release", "ptr_store_release")
ptr_store_relaxed = _make_ptr_store("monotonic", "ptr_store_relaxed")
ptr_exchange = _make_ptr_rmw("xchg", "ptr_exchange")
ptr_fetch_or = _make_ptr_rmw("or", "ptr_fetch_or")


@intrinsic
def ptr_cas(typingctx: Any, addr: Any, expected: Any, new: Any) -> Any:
    """The u64 at ``addr``: if it equals ``expected`` set it to ``new``; True when it did."""
    if not all(isinstance(t, types.Integer) for t in (addr, expected, new)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        a = context.cast(builder, args[0], sig.args[0], types.int64)
        exp = context.cast(builder, args[1], sig.args[1], types.int64)
        new_v = context.cast(builder, args[2], sig.args[2], types.int64)
        res = builder.cmpxchg(_addr_ptr(builder, a), exp, new_v, "seq_cst", "seq_cst")
        return builder.extract_value(res, 1)

    return types.boolean(addr, expected, new), codegen


@intrinsic
def ptr_memcpy(typingctx: Any, dst: Any, src: Any, n: Any) -> Any:
    """Copy ``n`` bytes from address ``src`` to address ``dst`` (plain, non-atomic accesses).

    Ordering against the surrounding atomics comes from the fences the caller places.
    """
    if not all(isinstance(t, types.Integer) for t in (dst, src, n)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        d = builder.inttoptr(context.cast(builder, args[0], sig.args[0], types.int64), _I8P)
        s = builder.inttoptr(context.cast(builder, args[1], sig.args[1], types.int64), _I8P)
        cnt = context.cast(builder, args[2], sig.args[2], types.intp)
        cgutils.raw_memcpy(builder, d, s, cnt, 1)
        return context.get_dummy_value()

    return types.void(dst, src, n), codegen


@intrinsic
def buffer_address(typingctx: Any, buf: Any) -> Any:
    """The address of the first byte of a contiguous buffer (``bytes``, a numpy array...)."""
    if not isinstance(buf, types.Buffer) or buf.layout != "C":
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        a = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.ptrtoint(a.data, _I64)

    return types.int64(buf), codegen


# --------------------------------------------------------------------------- Python-callable


@njit(cache=True, nogil=True)
def load_u64(arr: np.ndarray, i: int) -> int:
    """``arr[i]`` with acquire ordering."""
    return atomic_load_acquire(arr, i)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def store_u64(arr: np.ndarray, i: int, v: int) -> None:
    """``arr[i] = v`` with release ordering."""
    atomic_store_release(arr, i, v)


@njit(cache=True, nogil=True)
def cas_u64(arr: np.ndarray, i: int, expected: int, new: int) -> bool:
    """Compare-and-swap ``arr[i]`` from ``expected`` to ``new`` (seq_cst); True on success."""
    return atomic_cas(arr, i, expected, new)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def fetch_add_u64(arr: np.ndarray, i: int, v: int) -> int:
    """Atomically add ``v`` to ``arr[i]`` (seq_cst); returns the value before the add."""
    return atomic_fetch_add(arr, i, v)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def exchange_u64(arr: np.ndarray, i: int, v: int) -> int:
    """Atomically set ``arr[i]`` to ``v`` (seq_cst); returns the previous value."""
    return atomic_exchange(arr, i, v)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def full_fence() -> None:
    """A sequentially consistent fence (``mfence`` on x86-64)."""
    fence_seq_cst()
