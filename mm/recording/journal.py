"""The input journal: a pure object's state-changing calls, kept in memory as they were made.

Live/replay parity (docs/ARCHITECTURE.md, "Determinism") rests on one mechanism: an object
on the decision path appends every call that changes its state to :attr:`InputJournal.inputs`
as ``(op, args)``, the positional arguments exactly as given (each message as received, the
``now_ns`` the step used, and any value read from a clock or the outside world by the
process, passed in as an argument). The process drains the calls into its run recording
(:class:`mm.recording.run.RunRecorder`); the replay decodes each with the object's table
(``OPS``: op -> msgspec type of its argument tuple, :func:`decoders`) and applies it to a
fresh object (:meth:`InputJournal.apply_input`).

Two ways to journal a call: :meth:`InputJournal._j` inside the method (the pipeline stages,
:mod:`mm.stages`), or the :func:`journaled` decorator for an object whose inputs also call
one another (:class:`mm.risk.authority.RiskAuthority`): only the outermost call is kept,
since replaying it repeats the inner ones, and defaulted positional arguments are written
out so every call of an op has one arity (its table type).

Pure: no I/O, no clock reads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

import msgspec

InputCall = tuple[str, tuple[Any, ...]]
"""One journaled call: the step's name and its positional arguments."""

P = ParamSpec("P")
R = TypeVar("R")
J = TypeVar("J", bound="InputJournal")
_MISSING = object()


class InputJournal:
    """The in-memory input journal (see the module docstring). ``OPS``: the journaled calls
    and the msgspec type of their argument tuples."""

    OPS: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, journal: bool) -> None:
        self.inputs: list[InputCall] | None = [] if journal else None
        self._in_input = False

    def _j(self, op: str, *args: Any) -> None:
        if self.inputs is not None:
            self.inputs.append((op, args))

    def drain_inputs(self) -> list[InputCall]:
        """The journaled calls since the last drain (empty without ``journal``)."""
        if not self.inputs:
            return []
        out = self.inputs
        self.inputs = []
        return out

    def _check_op(self, op: str) -> None:
        if op not in self.OPS:
            raise ValueError(f"journal: unknown {type(self).__name__} input {op!r}")


def journaled(fn: Callable[Concatenate[J, P], R]) -> Callable[Concatenate[J, P], R]:
    """Journal calls of ``fn`` (a method of an :class:`InputJournal`) made from outside the
    object: ``(fn.__name__, positional arguments with defaults filled in)``. A call made while
    another journaled call runs is not kept (the outer call's replay makes it again). A
    keyword argument naming a positional parameter is journaled in its place; a keyword-only
    one cannot be and is refused (TypeError) while journaling."""
    code = fn.__code__
    n_pos = code.co_argcount - 1  # without self
    names = code.co_varnames[1:n_pos + 1]
    defaults = fn.__defaults__ or ()
    first_default = n_pos - len(defaults)
    op = fn.__name__

    @functools.wraps(fn)
    def call(self: J, *args: P.args, **kwargs: P.kwargs) -> R:
        if self.inputs is None or self._in_input:
            return fn(self, *args, **kwargs)
        full: tuple[Any, ...] = args
        if kwargs or len(args) < n_pos:
            slots: list[Any] = [*args, *([_MISSING] * (n_pos - len(args)))]
            for k, v in kwargs.items():
                if k not in names:
                    raise TypeError(f"{op}: keyword argument {k!r} cannot be journaled (positional only)")
                slots[names.index(k)] = v
            for i in range(n_pos):
                if slots[i] is _MISSING:
                    if i < first_default:
                        raise TypeError(f"{op}: missing argument {names[i]!r}")
                    slots[i] = defaults[i - first_default]
            full = tuple(slots)
        self.inputs.append((op, full))
        self._in_input = True
        try:
            return fn(self, *full)  # type: ignore[arg-type, call-arg]
        finally:
            self._in_input = False

    return call


def decoders(ops: Mapping[str, Any]) -> dict[str, msgspec.msgpack.Decoder[Any]]:
    """One msgpack decoder per journaled op of a table (``OPS``)."""
    return {op: msgspec.msgpack.Decoder(t) for op, t in ops.items()}
