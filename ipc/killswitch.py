"""The kill switch: a tiny shared-memory segment any process can trip, every process reads.

It is deliberately not a ring: reading it is one aligned 8-byte load (``tripped``), cheap
enough for execution to check before every order action. Tripping is idempotent and the
first trip wins: the flag goes 0 -> TRIPPING by compare-and-swap, the winner writes who,
why and when, then publishes TRIPPED. A process killed between the two leaves the flag at
TRIPPING, which every reader already treats as tripped (fail safe). Only an explicit
operator ``reset`` clears it; each trip and each reset bumps ``epoch``, so a reader that
polls rarely can still tell that something happened.

Layout (little-endian u64 words, 512 bytes):
  [0] magic  [1] flag (0 armed-clear, 1 tripping, 2 tripped)  [2] epoch  [3] reason code
  [4] tripper pid  [5] monotonic ts_ns  [6] wall-clock ns  [7] trip count
  bytes 64..127 who (utf-8, NUL padded), 128..511 reason text
"""

from __future__ import annotations

import enum
import mmap
from typing import Any

import numpy as np
import posix_ipc

from ipc.atomics import cas_u64, fetch_add_u64, load_u64, store_u64

MAGIC = 0x6D6D_4B53_0001  # "mmKS" v1
SIZE = 512
CLEAR, TRIPPING, TRIPPED = 0, 1, 2
_W_MAGIC, _W_FLAG, _W_EPOCH, _W_CODE, _W_PID, _W_TS, _W_WALL, _W_COUNT = range(8)
_WHO = slice(64, 128)
_TEXT = slice(128, SIZE)


class KillReason(enum.IntEnum):
    """Why the switch was tripped."""

    OPERATOR = 1
    PROCESS_LOST = 2
    RISK_LIMIT = 3
    SUPERVISOR = 4
    STALE_DATA = 5
    SAFETY_KILL = 6
    TEST = 99


class KillSwitch:
    """Handle on a run's kill-switch segment."""

    def __init__(self, shm: posix_ipc.SharedMemory, mm: mmap.mmap) -> None:
        self._shm = shm
        self._mm = mm
        self._words: np.ndarray[Any, Any] = np.frombuffer(mm, dtype="<u8", count=8)
        self._bytes: np.ndarray[Any, Any] = np.frombuffer(mm, dtype=np.uint8, count=SIZE)
        if int(self._words[_W_MAGIC]) != MAGIC:
            raise ValueError(f"{shm.name}: not a kill switch (bad magic)")
        self.name = shm.name

    @classmethod
    def create(cls, name: str) -> KillSwitch:
        shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=0o600, size=SIZE)
        mm = mmap.mmap(shm.fd, SIZE)
        shm.close_fd()
        np.frombuffer(mm, dtype="<u8", count=1)[0] = MAGIC
        return cls(shm, mm)

    @classmethod
    def attach(cls, name: str) -> KillSwitch:
        try:
            shm = posix_ipc.SharedMemory(name)
        except posix_ipc.ExistentialError:
            raise FileNotFoundError(f"kill switch {name} does not exist") from None
        mm = mmap.mmap(shm.fd, SIZE)
        shm.close_fd()
        return cls(shm, mm)

    # ------------------------------------------------------------------ hot path

    def tripped(self) -> bool:
        """True when tripped (or being tripped).

        A plain aligned 8-byte read: single-copy atomic on x86-64, and from Python it is a
        C call the compiler cannot hoist, so it needs no numba dispatch (~0.1 us vs ~0.5 us).
        """
        return bool(self._words[_W_FLAG] != CLEAR)

    def epoch(self) -> int:
        return int(load_u64(self._words, _W_EPOCH))

    # ------------------------------------------------------------------ state changes

    def trip(self, code: int, who: str, reason: str, pid: int, ts_ns: int, wall_ns: int) -> bool:
        """Trip the switch. Returns True if this call tripped it, False if it already was."""
        if not cas_u64(self._words, _W_FLAG, CLEAR, TRIPPING):
            return False
        store_u64(self._words, _W_CODE, int(code))
        store_u64(self._words, _W_PID, pid)
        store_u64(self._words, _W_TS, ts_ns)
        store_u64(self._words, _W_WALL, wall_ns)
        _put_text(self._bytes, _WHO, who)
        _put_text(self._bytes, _TEXT, reason)
        fetch_add_u64(self._words, _W_COUNT, 1)
        fetch_add_u64(self._words, _W_EPOCH, 1)
        store_u64(self._words, _W_FLAG, TRIPPED)
        return True

    def reset(self) -> bool:
        """Clear the switch (operator command only). Returns False if it was not tripped."""
        flag = load_u64(self._words, _W_FLAG)
        if flag == CLEAR:
            return False
        fetch_add_u64(self._words, _W_EPOCH, 1)
        return bool(cas_u64(self._words, _W_FLAG, flag, CLEAR))

    def state(self) -> dict[str, Any]:
        flag = int(load_u64(self._words, _W_FLAG))
        return {
            "tripped": flag != CLEAR,
            "flag": flag,
            "epoch": int(load_u64(self._words, _W_EPOCH)),
            "trips": int(load_u64(self._words, _W_COUNT)),
            "code": int(self._words[_W_CODE]),
            "reason_code": _reason_name(int(self._words[_W_CODE])),
            "pid": int(self._words[_W_PID]),
            "ts_ns": int(self._words[_W_TS]),
            "wall_ns": int(self._words[_W_WALL]),
            "who": _get_text(self._bytes, _WHO) if flag != CLEAR else "",
            "reason": _get_text(self._bytes, _TEXT) if flag != CLEAR else "",
        }

    def close(self) -> None:
        self._words = np.empty(0, dtype="<u8")
        self._bytes = np.empty(0, dtype=np.uint8)
        try:
            self._mm.close()
        except BufferError:
            pass

    def unlink(self) -> None:
        try:
            posix_ipc.unlink_shared_memory(self.name)
        except posix_ipc.ExistentialError:
            pass


def _reason_name(code: int) -> str:
    try:
        return KillReason(code).name
    except ValueError:
        return str(code) if code else ""


def _put_text(buf: np.ndarray[Any, Any], where: slice, text: str) -> None:
    width = where.stop - where.start
    raw = text.encode("utf-8", "replace")[:width]
    field = np.zeros(width, dtype=np.uint8)
    field[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    buf[where] = field


def _get_text(buf: np.ndarray[Any, Any], where: slice) -> str:
    return bytes(buf[where]).rstrip(b"\0").decode("utf-8", "replace")
