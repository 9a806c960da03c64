"""Recording writer: append normalized messages (and optionally raw frames) to ``.mmrec`` files.

Edge module (file I/O). Records are encoded with msgspec into an in-memory chunk; a chunk
is compressed as one independent zstd frame and appended with a single ``write`` when it
reaches ``chunk_bytes`` or when ``flush_interval_ns`` has passed since its first record
(checked on each ``write`` and by ``maybe_flush(now_ns)``, which the owner calls from its
timer). Files rotate when they reach ``rotate_bytes`` or are ``rotate_interval_ns`` old;
names are ``<prefix>-<index:06d>.mmrec``, the index continuing after the highest already in
the directory, so sorting names orders the files. The byte layout is in
:mod:`mm.recording.format`. Times are passed in (``now_ns``, local monotonic); the wall
clock is read only to stamp ``created_unix_ns`` in each file header.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import msgspec
import zstandard

from mm.recording.format import (
    VERSION,
    FileHeader,
    RawFrame,
    Record,
    encode_header,
    frame_chunk,
    msgpack_array_prefix,
    schema_tags,
)

_NAME_RE = re.compile(r"^(?P<prefix>.+)-(?P<index>\d{6})\.mmrec$")


def recording_files(directory: str | Path, prefix: str | None = None) -> list[Path]:
    """The ``.mmrec`` files of a directory in write order (optionally of one prefix)."""
    out: list[tuple[str, int, Path]] = []
    for p in Path(directory).iterdir():
        m = _NAME_RE.match(p.name)
        if m and p.is_file() and (prefix is None or m["prefix"] == prefix):
            out.append((m["prefix"], int(m["index"]), p))
    out.sort()
    return [p for _, _, p in out]


class WriterStats(msgspec.Struct):
    records: int = 0
    chunks: int = 0
    files: int = 0
    raw_bytes: int = 0
    bytes_written: int = 0


class RecordingWriter:
    """Append-only writer. Use as a context manager or call ``close()``."""

    def __init__(
        self,
        directory: str | Path,
        prefix: str = "md",
        source: str = "",
        chunk_bytes: int = 256 * 1024,
        flush_interval_ns: int = 1_000_000_000,
        rotate_bytes: int = 256 * 1024 * 1024,
        rotate_interval_ns: int = 3600 * 1_000_000_000,
        zstd_level: int = 3,
        fsync: bool = False,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if "/" in prefix or not prefix:
            raise ValueError(f"bad prefix {prefix!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.source = source
        self.chunk_bytes = chunk_bytes
        self.flush_interval_ns = flush_interval_ns
        self.rotate_bytes = rotate_bytes
        self.rotate_interval_ns = rotate_interval_ns
        self.fsync = fsync
        self._wall_clock_ns = wall_clock_ns
        self._enc = msgspec.msgpack.Encoder()
        self._cctx = zstandard.ZstdCompressor(level=zstd_level)
        self._buf = bytearray()
        self._n = 0
        self._first_ns = 0
        self._file: BinaryIO | None = None
        self._file_bytes = 0
        self._file_opened_ns = 0
        existing = recording_files(self.directory, prefix)
        self._next_index = (int(_NAME_RE.match(existing[-1].name)["index"]) + 1) if existing else 0  # type: ignore[index]
        self.paths: list[Path] = []
        self.stats = WriterStats()
        self.closed = False

    # ------------------------------------------------------------------ writing

    def write(self, msg: Record, now_ns: int) -> None:
        """Append one schema message (or RawFrame) at local time ``now_ns``."""
        if self.closed:
            raise ValueError("write on a closed RecordingWriter")
        if self._n == 0:
            self._first_ns = now_ns
        before = len(self._buf)
        self._enc.encode_into(msg, self._buf, -1)
        self.stats.raw_bytes += len(self._buf) - before
        self._n += 1
        self.stats.records += 1
        if len(self._buf) >= self.chunk_bytes or now_ns - self._first_ns >= self.flush_interval_ns:
            self._flush_chunk(now_ns)

    def write_raw(self, venue: int, ts_ns: int, data: bytes, now_ns: int) -> None:
        """Append a raw websocket frame."""
        self.write(RawFrame(venue, ts_ns, data), now_ns)

    def maybe_flush(self, now_ns: int) -> None:
        """Flush the pending chunk if it is older than ``flush_interval_ns``; rotate if due."""
        if self._n and now_ns - self._first_ns >= self.flush_interval_ns:
            self._flush_chunk(now_ns)
        elif self._file is not None and now_ns - self._file_opened_ns >= self.rotate_interval_ns:
            self._close_file()

    def flush(self, now_ns: int | None = None) -> None:
        """Write the pending chunk now (if any)."""
        if self._n:
            self._flush_chunk(self._first_ns if now_ns is None else now_ns)

    def close(self) -> None:
        if self.closed:
            return
        self.flush()
        self._close_file()
        self.closed = True

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _open_file(self, now_ns: int) -> BinaryIO:
        path = self.directory / f"{self.prefix}-{self._next_index:06d}.mmrec"
        self._next_index += 1
        f = open(path, "xb")  # never overwrite
        header = encode_header(FileHeader(VERSION, self._wall_clock_ns(), self.source, schema_tags()))
        f.write(header)
        f.flush()
        self._file = f
        self._file_bytes = len(header)
        self._file_opened_ns = now_ns
        self.paths.append(path)
        self.stats.files += 1
        self.stats.bytes_written += len(header)
        return f

    def _flush_chunk(self, now_ns: int) -> None:
        payload = msgpack_array_prefix(self._n) + bytes(self._buf)
        chunk = frame_chunk(self._cctx.compress(payload), self._n)
        f = self._file if self._file is not None else self._open_file(now_ns)
        f.write(chunk)
        f.flush()
        if self.fsync:
            os.fsync(f.fileno())
        self._file_bytes += len(chunk)
        self.stats.bytes_written += len(chunk)
        self.stats.chunks += 1
        self._buf.clear()
        self._n = 0
        if self._file_bytes >= self.rotate_bytes or now_ns - self._file_opened_ns >= self.rotate_interval_ns:
            self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            if self.fsync:
                os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
