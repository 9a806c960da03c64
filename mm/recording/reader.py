"""Recording reader: stream ``.mmrec`` files back, at full speed or paced in real time.

Edge module (file I/O). :class:`RecordingReader` yields the records of one or more files
(or of a directory, in write order) as typed structs. A truncated last chunk (a crash
mid-write) is skipped and counted in ``stats.truncated_tails``; a damaged chunk is skipped
and counted in ``stats.corrupt_chunks`` and reading resumes at the next chunk marker. Raw
frames are skipped unless ``include_raw``.

Pacing is a pure generator: :func:`paced` yields ``(delay_s, record)`` where ``delay_s`` is
how long the caller should wait before handling the record (the ``ts_ns`` difference to the
previous record, divided by ``speed``). The sleeping stays with the caller, for example
:func:`replay_realtime` or an asyncio loop.
"""

from __future__ import annotations

import mmap
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

import msgspec
import zstandard

from mm.recording.format import (
    CHUNK_HEADER,
    CHUNK_MAGIC,
    LEN_U32,
    MAGIC,
    MAX_CHUNK_BYTES,
    FileHeader,
    RawFrame,
    Record,
    RecordUnion,
)
from mm.recording.writer import recording_files


class RecordingFormatError(ValueError):
    """A file that is not a recording (bad magic or header)."""


class ReaderStats(msgspec.Struct):
    files: int = 0
    chunks: int = 0
    records: int = 0
    raw_frames_skipped: int = 0
    truncated_tails: int = 0
    corrupt_chunks: int = 0
    skipped_bytes: int = 0


def _expand(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    out: list[Path] = []
    for p in map(Path, items):
        out.extend(recording_files(p) if p.is_dir() else [p])
    return out


def read_header(f: BinaryIO, name: str = "") -> FileHeader:
    magic = f.read(len(MAGIC))
    if magic != MAGIC:
        raise RecordingFormatError(f"{name}: not a .mmrec file (magic {magic!r})")
    raw_len = f.read(LEN_U32.size)
    if len(raw_len) < LEN_U32.size:
        raise RecordingFormatError(f"{name}: truncated header")
    (n,) = LEN_U32.unpack(raw_len)
    body = f.read(n)
    try:
        return msgspec.msgpack.decode(body, type=FileHeader)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RecordingFormatError(f"{name}: bad header: {exc}") from None


class RecordingReader:
    """Iterate the records of recording files. ``headers`` fills in as files are opened."""

    def __init__(self, paths: str | Path | Iterable[str | Path], include_raw: bool = False) -> None:
        self.paths = _expand(paths)
        self.include_raw = include_raw
        self.stats = ReaderStats()
        self.headers: list[FileHeader] = []
        self._dec = msgspec.msgpack.Decoder(list[RecordUnion])
        self._dctx = zstandard.ZstdDecompressor()

    def __iter__(self) -> Iterator[Record]:
        for path in self.paths:
            yield from self._read_file(path)

    def _read_file(self, path: Path) -> Iterator[Record]:
        with open(path, "rb") as f:
            self.headers.append(read_header(f, str(path)))
            self.stats.files += 1
            pos = f.tell()
            if pos == f.seek(0, 2):
                return
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                yield from self._read_chunks(data, pos)

    def _read_chunks(self, data: mmap.mmap, pos: int) -> Iterator[Record]:
        end = len(data)
        hsize = CHUNK_HEADER.size
        while pos < end:
            if end - pos < hsize:
                self._truncated(end - pos)
                return
            magic, comp_len, n_records, crc = CHUNK_HEADER.unpack_from(data, pos)
            if magic != CHUNK_MAGIC or comp_len > MAX_CHUNK_BYTES:
                pos = self._resync(data, pos + 1)
                continue
            start = pos + hsize
            if start + comp_len > end:
                # A chunk that runs past the end is a truncated tail, unless a later marker
                # shows the length itself is damaged.
                nxt = data.find(CHUNK_MAGIC, pos + 1)
                if nxt < 0:
                    self._truncated(end - pos)
                    return
                self.stats.corrupt_chunks += 1
                self.stats.skipped_bytes += nxt - pos
                pos = nxt
                continue
            comp = data[start : start + comp_len]
            records = self._decode_chunk(comp, n_records, crc)
            if records is None:
                pos = self._resync(data, pos + 1)
                continue
            pos = start + comp_len
            self.stats.chunks += 1
            for rec in records:
                if isinstance(rec, RawFrame) and not self.include_raw:
                    self.stats.raw_frames_skipped += 1
                    continue
                self.stats.records += 1
                yield rec

    def _decode_chunk(self, comp: bytes, n_records: int, crc: int) -> list[Record] | None:
        if zlib.crc32(comp) != crc:
            return None
        try:
            records = self._dec.decode(self._dctx.decompress(comp))
        except (zstandard.ZstdError, msgspec.DecodeError, msgspec.ValidationError):
            return None
        if len(records) != n_records:
            return None
        return records

    def _truncated(self, n_bytes: int) -> None:
        self.stats.truncated_tails += 1
        self.stats.skipped_bytes += n_bytes

    def _resync(self, data: mmap.mmap, start: int) -> int:
        """Skip a damaged chunk: continue at the next chunk marker (or the end)."""
        self.stats.corrupt_chunks += 1
        nxt = data.find(CHUNK_MAGIC, start)
        if nxt < 0:
            nxt = len(data)
        self.stats.skipped_bytes += nxt - (start - 1)
        return nxt


def read_recording(paths: str | Path | Iterable[str | Path], include_raw: bool = False) -> Iterator[Record]:
    """All records of the given files or directories, at full speed."""
    return iter(RecordingReader(paths, include_raw))


class _Timed(Protocol):
    @property
    def ts_ns(self) -> int: ...


T = TypeVar("T", bound=_Timed)


def paced(records: Iterable[T], speed: float = 1.0, max_delay_s: float | None = None) -> Iterator[tuple[float, T]]:
    """``(delay_s, record)``: wait ``delay_s`` before handling ``record`` to replay in real time.

    ``delay_s`` is the ``ts_ns`` step from the latest earlier record divided by ``speed``
    (0 for the first record and when time does not advance), capped at ``max_delay_s``
    (to skip long gaps in a recording quickly).
    """
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    prev: int | None = None
    for rec in records:
        ts = rec.ts_ns
        delay = 0.0
        if prev is not None and ts > prev:
            delay = (ts - prev) / 1e9 / speed
            if max_delay_s is not None and delay > max_delay_s:
                delay = max_delay_s
        if prev is None or ts > prev:
            prev = ts
        yield delay, rec


def replay_realtime(
    records: Iterable[T],
    on_record: Callable[[T], None],
    speed: float = 1.0,
    max_delay_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Blocking real-time replay at the edge: sleep per :func:`paced`, then call ``on_record``."""
    n = 0
    for delay, rec in paced(records, speed, max_delay_s):
        if delay > 0:
            sleep(delay)
        on_record(rec)
        n += 1
    return n
