"""The last minutes of audit records, held in memory for a postmortem: encoded and compressed.

Pure logic (no I/O, no clock: times are passed in). A decoded CycleDecisionRecord with its
candidates costs about 3.7 KB of Python objects; msgpack-encoded it is about 0.6 KB, and
zstd (level 1) packs a 64 KiB run of them about 11 to 1 (measured on a paper run's audit
file). :class:`RecordWindow` therefore encodes each record as it comes, appends it to an
open chunk, and compresses the chunk once it reaches ``chunk_bytes``; records are decoded
again only on request (:meth:`WindowView.records`); a bundle is written from the encoded
bytes themselves (:meth:`WindowView.raw_records`), on the caller's thread of choice. Bounds, all enforced by dropping the oldest sealed chunk whole:

- time: chunks whose newest record is older than ``horizon_ns`` (records of the open chunk
  and of a straddling chunk older than the horizon are filtered out when read);
- records: at most ``max_records`` held;
- memory: at most ``max_bytes`` held (compressed chunks, the open chunk, 12 bytes of time and
  length per record); ``dropped`` counts the records these two caps took before their time.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Union

import msgspec
import zstandard

from mm.audit.record import AuditFill, CycleDecisionRecord, RiskStatus
from mm.schema import ControlState

WINDOW_TYPES: Final[tuple[type[msgspec.Struct], ...]] = (CycleDecisionRecord, AuditFill, RiskStatus, ControlState)
"""What the window holds by default: the audit records (each a tagged msgspec struct)."""
CHUNK_BYTES: Final = 64 * 1024
"""Encoded bytes per compressed chunk by default (a 64 KiB run compresses about 11:1)."""
ZSTD_LEVEL: Final = 1


@dataclass(frozen=True)
class _Chunk:
    ts_ns: bytes  # array('q') of each record's time, as bytes
    lens: bytes  # array('I') of each record's encoded length, as bytes
    first_ns: int
    last_ns: int
    n: int
    data: bytes  # zstd of the records' msgpack, back to back
    compressed: bool

    @property
    def nbytes(self) -> int:
        return len(self.data) + len(self.ts_ns) + len(self.lens)


@dataclass(frozen=True)
class WindowView:
    """An immutable copy of a window's contents at one moment (cheap: the chunks are shared
    bytes); :meth:`records` decodes them, e.g. on a postmortem writer's thread."""

    chunks: tuple[_Chunk, ...]
    horizon_ns: int
    types: tuple[type[msgspec.Struct], ...]

    def __len__(self) -> int:
        return sum(c.n for c in self.chunks)

    def raw_records(self) -> list[msgspec.Raw]:
        """The records at or after the horizon, oldest first, as their msgpack bytes
        (``msgspec.Raw``: an encoder writes them as they are). Nothing is decoded: a postmortem
        bundle is written from these (decoding ten minutes of decision records took ~50 MB
        for a moment, which the allocator of the writer's thread then kept)."""
        dctx = zstandard.ZstdDecompressor()
        out: list[msgspec.Raw] = []
        for c in self.chunks:
            if c.last_ns < self.horizon_ns:
                continue
            mv = memoryview(dctx.decompress(c.data) if c.compressed else c.data)
            ts, lens = array("q"), array("I")
            ts.frombytes(c.ts_ns)
            lens.frombytes(c.lens)
            off = 0
            for t, n in zip(ts, lens, strict=True):
                if t >= self.horizon_ns:
                    out.append(msgspec.Raw(mv[off:off + n]))
                off += n
        return out

    def records(self) -> list[Any]:
        """The records at or after the horizon, oldest first, decoded."""
        dec: msgspec.msgpack.Decoder[list[Any]] = msgspec.msgpack.Decoder(
            list[Union[self.types]])  # type: ignore[name-defined]  # noqa: UP007 - a run-time union
        dctx = zstandard.ZstdDecompressor()
        out: list[Any] = []
        for c in self.chunks:
            if c.last_ns < self.horizon_ns:
                continue
            raw = dctx.decompress(c.data) if c.compressed else c.data
            recs = dec.decode(b"\xdd" + c.n.to_bytes(4, "big") + raw)  # a msgpack array32 of n items
            if c.first_ns >= self.horizon_ns:
                out.extend(recs)
            else:
                ts = array("q")
                ts.frombytes(c.ts_ns)
                out.extend(r for t, r in zip(ts, recs, strict=True) if t >= self.horizon_ns)
        return out


class RecordWindow:
    """See the module docstring."""

    def __init__(self, horizon_ns: int, max_records: int, max_bytes: int, *, chunk_bytes: int = CHUNK_BYTES,
                 zstd_level: int = ZSTD_LEVEL, types: Sequence[type[msgspec.Struct]] = WINDOW_TYPES) -> None:
        if horizon_ns <= 0 or max_records <= 0 or chunk_bytes <= 0:
            raise ValueError("RecordWindow: horizon_ns, max_records and chunk_bytes must be > 0")
        if max_bytes < 2 * chunk_bytes:
            raise ValueError(f"RecordWindow: max_bytes ({max_bytes}) must hold two chunks of {chunk_bytes} bytes")
        self.horizon_ns = horizon_ns
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.chunk_bytes = chunk_bytes
        self.types = tuple(types)
        self._chunk_records = max(1, max_records // 4)  # a small record cap still drops a chunk at a time
        self._enc = msgspec.msgpack.Encoder()
        self._cctx = zstandard.ZstdCompressor(level=zstd_level)
        self._sealed: deque[_Chunk] = deque()
        self._sealed_records = 0
        self._sealed_bytes = 0
        self._buf = bytearray()
        self._ts = array("q")
        self._lens = array("I")
        self.dropped = 0
        """Records dropped by the record or byte cap before their time was up."""
        self.added = 0

    # ------------------------------------------------------------------ writing

    def add(self, ts_ns: int, rec: Any) -> None:
        """Keep ``rec`` (one of ``types``), received at ``ts_ns`` (monotonic)."""
        before = len(self._buf)
        self._enc.encode_into(rec, self._buf, -1)
        self._lens.append(len(self._buf) - before)
        self._ts.append(ts_ns)
        self.added += 1
        if len(self._buf) >= self.chunk_bytes or len(self._ts) >= self._chunk_records:
            self._seal()
        self._evict(ts_ns)

    def _seal(self) -> None:
        if not self._ts:
            return
        # zstandard's compress() returns bytes that keep their compress-bound allocation (64 KiB
        # behind a 5 KiB result, measured with 0.23): hold an exact-size copy instead
        data = memoryview(self._cctx.compress(self._buf)).tobytes()
        c = _Chunk(self._ts.tobytes(), self._lens.tobytes(), self._ts[0], self._ts[-1], len(self._ts), data, True)
        self._sealed.append(c)
        self._sealed_records += c.n
        self._sealed_bytes += c.nbytes
        self._buf = bytearray()
        self._ts = array("q")
        self._lens = array("I")

    def _evict(self, now_ns: int) -> None:
        horizon = now_ns - self.horizon_ns
        while self._sealed and self._sealed[0].last_ns < horizon:
            self._drop(False)
        while self._sealed and (len(self) > self.max_records or self.nbytes > self.max_bytes):
            self._drop(True)

    def _drop(self, early: bool) -> None:
        c = self._sealed.popleft()
        self._sealed_records -= c.n
        self._sealed_bytes -= c.nbytes
        if early:
            self.dropped += c.n

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        """Records held (some may be older than the horizon, in a chunk that straddles it)."""
        return self._sealed_records + len(self._ts)

    @property
    def nbytes(self) -> int:
        """Bytes held: the compressed chunks, the open chunk and the record times."""
        return self._sealed_bytes + len(self._buf) + 12 * len(self._ts)

    @property
    def chunks(self) -> int:
        return len(self._sealed) + (1 if self._ts else 0)

    def view(self, now_ns: int) -> WindowView:
        """The records of the last ``horizon_ns`` before ``now_ns``, still encoded (cheap)."""
        self._evict(now_ns)
        chunks = list(self._sealed)
        if self._ts:
            chunks.append(_Chunk(self._ts.tobytes(), self._lens.tobytes(), self._ts[0], self._ts[-1], len(self._ts),
                                 bytes(self._buf), False))
        return WindowView(tuple(chunks), now_ns - self.horizon_ns, self.types)

    def records(self, now_ns: int) -> list[Any]:
        """The records of the last ``horizon_ns`` before ``now_ns``, decoded, oldest first."""
        return self.view(now_ns).records()

    def stats(self) -> dict[str, int]:
        return {"records": len(self), "bytes": self.nbytes, "chunks": self.chunks, "added": self.added,
                "dropped": self.dropped, "max_records": self.max_records, "max_bytes": self.max_bytes}
