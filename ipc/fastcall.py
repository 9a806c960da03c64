"""Compiled code called the way CPython calls its own builtins, without numba's dispatcher.

This module owns the bridge that lets the ring's per-message calls (``push``, ``poll``)
cost what a C builtin costs. A numba-jitted function called from Python pays numba's
dispatcher: it types every argument and looks up the compiled signature, 0.15-0.5 us on
the CI-like VM, more than the work of moving 64 bytes. A ``@cfunc`` compiled with the
signature of CPython's ``METH_FASTCALL | METH_KEYWORDS`` calling convention, wrapped in a
builtin function object with ``PyCFunction_NewEx``, is called by the interpreter directly
(about 0.03 us): the interpreter hands over the argument array and the compiled code reads
the objects itself.

What the compiled side may do with a ``PyObject *`` is kept small and checked at import:

- read an object's type pointer (``ob_type``, offset 8), a variable-size object's length
  (``ob_size``, offset 16), a ``bytes`` object's data (offset 32), a tuple's items (from
  offset 24) and a numpy array's data pointer (offset 16);
- call a handful of C-API functions through addresses read at run time from a table
  (:func:`api_table`), never baked into the compiled code, so that the code stays
  cacheable and position independent: ``PyLong_FromLongLong``, ``PyLong_AsLongLong``,
  ``PyErr_Clear``, ``PyObject_Vectorcall``, ``PyBytes_FromStringAndSize``, ``Py_IncRef``
  and ``Py_DecRef``.

:data:`LAYOUT_OK` is False when any of those offsets does not hold for the running
interpreter (another Python implementation or build), or when ``MM_RING_FASTCALL=0`` is
set; callers then use their plain Python paths. The compiled functions run with the GIL held, as any builtin does; they
return a new reference, or NULL with an exception set.

The builtin's ``self`` is an object of the caller's choosing (the ring ends use a tuple:
a state array and the Python fallbacks), held by the builtin, so everything the compiled
code touches lives as long as the builtin does. The ``PyMethodDef`` records live for the
whole process (one per function kind, in :data:`_METHOD_DEFS`).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any, Final

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = [
    "API_SLOTS",
    "A_BYTES_FROM",
    "A_BYTES_T",
    "A_DECREF",
    "A_ERR_CLEAR",
    "A_INCREF",
    "A_INT_T",
    "A_LONG_AS",
    "A_LONG_FROM",
    "A_NONE",
    "A_VCALL",
    "BYTES_DATA",
    "LAYOUT_OK",
    "NDARRAY_DATA",
    "OB_SIZE",
    "OB_TYPE",
    "SEM_POST_ADDRESS",
    "TUPLE_ITEMS",
    "api_table",
    "call_i",
    "call_ii",
    "call_iiii",
    "call_v",
    "call_vi",
    "make_builtin",
    "sem_close",
    "sem_open",
    "sem_post",
    "state_array",
]

OB_TYPE: Final = 8
OB_SIZE: Final = 16
BYTES_DATA: Final = 32
TUPLE_ITEMS: Final = 24
NDARRAY_DATA: Final = 16

METH_FASTCALL: Final = 0x0080
METH_KEYWORDS: Final = 0x0002

# indices of the C-API table inside a state array (see api_table)
A_BYTES_T: Final = 0
A_INT_T: Final = 1
A_NONE: Final = 2
A_LONG_FROM: Final = 3
A_LONG_AS: Final = 4
A_ERR_CLEAR: Final = 5
A_VCALL: Final = 6
A_BYTES_FROM: Final = 7
A_INCREF: Final = 8
A_DECREF: Final = 9
API_SLOTS: Final = 10

_API_NAMES: Final = (
    "PyLong_FromLongLong",
    "PyLong_AsLongLong",
    "PyErr_Clear",
    "PyObject_Vectorcall",
    "PyBytes_FromStringAndSize",
    "Py_IncRef",
    "Py_DecRef",
)


def _word(addr: int) -> int:
    return int(ctypes.c_int64.from_address(addr).value)


def _check_layout() -> bool:
    """True when the object layouts the compiled code reads hold in this interpreter."""
    try:
        if not all(hasattr(ctypes.pythonapi, n) for n in _API_NAMES):
            return False
        b = bytes(range(7)) + b"layout"
        t = (b, np.zeros(3, dtype=np.int64))
        a = t[1]
        return (
            ctypes.sizeof(ctypes.c_void_p) == 8
            and _word(id(b) + OB_TYPE) == id(bytes)
            and _word(id(b) + OB_SIZE) == len(b)
            and ctypes.string_at(id(b) + BYTES_DATA, len(b)) == b
            and _word(id(t) + OB_TYPE) == id(tuple)
            and _word(id(t) + TUPLE_ITEMS) == id(b)
            and _word(id(t) + TUPLE_ITEMS + 8) == id(a)
            and _word(id(a) + NDARRAY_DATA) == int(a.ctypes.data)
            and _word(id(7) + OB_TYPE) == id(int)
        )
    except Exception:
        return False


# ``MM_RING_FASTCALL=0`` in the environment turns the bridge off (the operator's escape hatch:
# every caller then takes its plain Python path, about 1 us slower per message).
LAYOUT_OK: Final[bool] = os.environ.get("MM_RING_FASTCALL", "1") != "0" and _check_layout()


def api_table() -> list[int]:
    """The addresses the compiled code needs, in ``A_*`` order (this process's values:
    type objects and libpython move with ASLR, so they are read at run time)."""
    fn = ctypes.pythonapi
    addr = [ctypes.cast(getattr(fn, n), ctypes.c_void_p).value or 0 for n in _API_NAMES]
    return [id(bytes), id(int), id(None), *addr]


class _PyMethodDef(ctypes.Structure):
    _fields_ = (
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    )


_METHOD_DEFS: dict[tuple[str, int], _PyMethodDef] = {}
_new_builtin = ctypes.pythonapi.PyCFunction_NewEx
_new_builtin.restype = ctypes.py_object
_new_builtin.argtypes = [ctypes.POINTER(_PyMethodDef), ctypes.py_object, ctypes.c_void_p]


def make_builtin(name: str, address: int, self_obj: object) -> Callable[..., Any]:
    """A builtin function named ``name`` whose C function is the ``METH_FASTCALL |
    METH_KEYWORDS`` function at ``address`` (a numba ``cfunc``), called with
    ``self_obj`` as its ``self``."""
    key = (name, address)
    md = _METHOD_DEFS.get(key)
    if md is None:
        md = _PyMethodDef(name.encode(), address, METH_FASTCALL | METH_KEYWORDS, None)
        _METHOD_DEFS[key] = md  # never freed: builtins point at it
    fn: Callable[..., Any] = _new_builtin(ctypes.byref(md), self_obj, None)
    return fn


# --------------------------------------------------------------------------- POSIX semaphores by pointer
# The ring's writer posts a sleeping reader's wake semaphore from compiled code: it opens
# the named semaphore with libc's own ``sem_open`` (the same object posix_ipc opens in the
# reader) and keeps the ``sem_t *``.

_libc = ctypes.CDLL(None, use_errno=True)
_sem_open = _libc.sem_open
_sem_open.restype = ctypes.c_void_p
_sem_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
_sem_post = _libc.sem_post
_sem_post.restype = ctypes.c_int
_sem_post.argtypes = [ctypes.c_void_p]
_sem_close = _libc.sem_close
_sem_close.restype = ctypes.c_int
_sem_close.argtypes = [ctypes.c_void_p]
SEM_POST_ADDRESS: Final[int] = ctypes.cast(_sem_post, ctypes.c_void_p).value or 0


def sem_open(name: str) -> int:
    """``sem_t *`` of an existing named semaphore, 0 when it does not exist (or cannot be
    opened)."""
    return int(_sem_open(name.encode(), 0) or 0)


def sem_post(sem: int) -> None:
    """Post a semaphore opened by :func:`sem_open`."""
    if _sem_post(sem) != 0:
        raise OSError(ctypes.get_errno(), "sem_post failed")


def sem_close(sem: int) -> None:
    """Close a semaphore opened by :func:`sem_open` (the semaphore itself stays)."""
    _sem_close(sem)


# --------------------------------------------------------------------------- calls through an address
# ``call_*(fn, ...)``: call the C function at address ``fn`` with 64-bit integer arguments
# (pointers, Py_ssize_t, long long: all passed alike on x86-64); ``call_v*`` for functions
# returning void.

_I64 = ir.IntType(64)


def _fnptr(builder: Any, addr: Any, nargs: int, void: bool) -> Any:
    fnty = ir.FunctionType(ir.VoidType() if void else _I64, [_I64] * nargs)
    return builder.inttoptr(addr, fnty.as_pointer())


def _int_args(args: tuple[Any, ...]) -> bool:
    return all(isinstance(a, types.Integer) for a in args)


@intrinsic
def call_v(typingctx: Any, fn: Any) -> Any:
    if not _int_args((fn,)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        builder.call(_fnptr(builder, args[0], 0, True), [])
        return context.get_dummy_value()

    return types.void(fn), codegen


@intrinsic
def call_vi(typingctx: Any, fn: Any, a: Any) -> Any:
    if not _int_args((fn, a)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        builder.call(_fnptr(builder, args[0], 1, True), [args[1]])
        return context.get_dummy_value()

    return types.void(fn, a), codegen


@intrinsic
def call_i(typingctx: Any, fn: Any, a: Any) -> Any:
    if not _int_args((fn, a)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.call(_fnptr(builder, args[0], 1, False), [args[1]])

    return types.int64(fn, a), codegen


@intrinsic
def call_ii(typingctx: Any, fn: Any, a: Any, b: Any) -> Any:
    if not _int_args((fn, a, b)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.call(_fnptr(builder, args[0], 2, False), [args[1], args[2]])

    return types.int64(fn, a, b), codegen


@intrinsic
def call_iiii(typingctx: Any, fn: Any, a: Any, b: Any, c: Any, d: Any) -> Any:
    if not _int_args((fn, a, b, c, d)):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.call(_fnptr(builder, args[0], 4, False), [args[1], args[2], args[3], args[4]])

    return types.int64(fn, a, b, c, d), codegen


def state_array(size: int, extra: int = 0) -> np.ndarray:
    """A zeroed int64 state array: ``size`` words, the C-API table, ``extra`` words."""
    st = np.zeros(size + API_SLOTS + extra, dtype=np.int64)
    st[size : size + API_SLOTS] = api_table()
    return st
