"""Progress of long CLI work (train, replay, sweep, chaos) on a terminal, silence in CI.

One line on stderr, rewritten in place (``\\r``) at most every ``min_interval_s``::

    replay [########............] 2/5 touch@base  41 s

It is shown only when all of these hold: the stream is a TTY, ``CI`` is not set to a true
value (``CI=true`` is what CI services export), ``TERM`` is not ``dumb`` and the command was
not given ``--quiet``. Otherwise every call is a no-op, so a CI log, a pipe or a test
capture never sees a progress line. ``NO_COLOR`` (https://no-color.org) turns the one
colour (the bar) off. Nothing is written to stdout: results stay machine-readable.

Use::

    prog = Progress("train", total=len(coins), quiet=args.quiet)
    for coin in coins:
        prog.update(note=coin, force=True)   # "working on coin"
        result = work(coin)
        prog.clear()                         # erase the line before printing
        print(result)
        prog.advance()                       # one step done
    prog.close()

or as a context manager (``with Progress(...) as prog:``). A step of unknown length can be
shown with ``total=None`` (elapsed time and the note only). :func:`add_quiet_flag` adds the
common ``--quiet`` flag to an argparse parser.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TextIO

BAR_WIDTH = 20
_TRUE = {"1", "true", "yes", "on"}


def progress_enabled(stream: TextIO | None = None, quiet: bool = False, env: Mapping[str, str] | None = None) -> bool:
    """Whether a progress line may be drawn on ``stream`` (default stderr)."""
    if quiet:
        return False
    env = os.environ if env is None else env
    if env.get("CI", "").strip().lower() in _TRUE or env.get("TERM", "") == "dumb":
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False


def add_quiet_flag(parser: argparse.ArgumentParser) -> None:
    """The common ``--quiet`` flag of the long-running verbs."""
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress line on the terminal (it is never shown in CI or when not a TTY)")


class Progress:
    """A single rewritten status line: label, bar (when the total is known), count, note, elapsed."""

    def __init__(self, label: str, total: int | None = None, *, quiet: bool = False, stream: TextIO | None = None,
                 env: Mapping[str, str] | None = None, min_interval_s: float = 0.1) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.note = ""
        self._stream = sys.stderr if stream is None else stream
        env = os.environ if env is None else env
        self.enabled = progress_enabled(self._stream, quiet, env)
        self._color = self.enabled and "NO_COLOR" not in env
        self._min_interval_s = min_interval_s
        self._t0 = time.monotonic()
        self._last_draw = -1e9
        self._width = 0

    def update(self, done: int | None = None, note: str | None = None, force: bool = False) -> None:
        """Set the count and/or the note, redraw if due."""
        if done is not None:
            self.done = done
        if note is not None:
            self.note = note
        self._draw(force)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """``n`` more steps done; the step's outcome may go in ``note``."""
        self.update(self.done + n, note, force=True)

    def line(self) -> str:
        """The text of the progress line (without colour or carriage return)."""
        parts = [self.label]
        if self.total:
            filled = min(BAR_WIDTH, int(BAR_WIDTH * self.done / self.total))
            parts.append("[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]")
            parts.append(f"{self.done}/{self.total}")
        elif self.done:
            parts.append(str(self.done))
        if self.note:
            parts.append(self.note)
        parts.append(f" {time.monotonic() - self._t0:.0f} s")
        return " ".join(parts)

    def _draw(self, force: bool) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self._min_interval_s:
            return
        self._last_draw = now
        text = self.line()
        if self._color and "[" in text:
            a, b = text.index("["), text.index("]") + 1
            text = f"{text[:a]}\x1b[36m{text[a:b]}\x1b[0m{text[b:]}"
        pad = max(0, self._width - len(text))
        self._width = len(text)
        try:
            self._stream.write("\r" + text + " " * pad)
            self._stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def clear(self) -> None:
        """Erase the line, e.g. before printing results; the next update draws it again."""
        if not self.enabled or not self._width:
            return
        try:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
        except (OSError, ValueError):
            self.enabled = False
        self._width = 0

    def close(self) -> None:
        """Erase the line for good (the command prints its own result after it)."""
        self.clear()
        self.enabled = False

    def __enter__(self) -> Progress:
        self._draw(True)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
