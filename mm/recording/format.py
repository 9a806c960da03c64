"""The recording file format (``.mmrec``): append-only, chunked, zstd-compressed msgpack.

This module owns the byte layout, shared by :mod:`mm.recording.writer` and
:mod:`mm.recording.reader`. It is pure (bytes in, bytes out).

Layout (all integers little-endian)::

    file    := MAGIC header_len:u32 header chunk*
    MAGIC   := b"MMREC\\x00\\x01\\n"                (8 bytes; the \\x01 is the format version)
    header  := msgpack map of FileHeader          (version, created_unix_ns, source, tags)
    chunk   := b"MMCK" comp_len:u32 n_records:u32 crc32:u32 comp
    comp    := one complete zstd frame (content size in its header) whose content is ONE
               msgpack array of n_records records
    record  := a mm.schema message exactly as mm.schema.Codec encodes it (a msgpack array whose
               first element is the integer type tag), or a RawFrame (tag 200: venue, ts_ns,
               the raw websocket frame bytes), or a JournalEntry (tag 201: seq, op, args:
               one input a process consumed, in run recordings)

``crc32`` is zlib.crc32 of ``comp``. Each chunk is written with one ``write`` and is
independent of the others, so a crash mid-write leaves at worst a truncated last chunk: the
reader skips it (counting ``truncated_tails``) and everything before it reads back. A chunk
whose CRC, zstd frame or msgpack does not check out is skipped and counted
(``corrupt_chunks``); the reader then looks for the next ``MMCK`` and goes on.

A real example: the first two trades that the importer keeps from ``trades_BTC.csv`` of
2025-09-03 (mm.importers.hl_csv, symbol id 0), written as one chunk by
``RecordingWriter(dir, source="example", wall_clock_ns=lambda: 0)``. The file is 427 bytes:
a 308-byte preamble (magic, header length 0x128, then the msgpack header
``{"version": 1, "created_unix_ns": 0, "source": "example", "tags": {"Trade": 1, ...,
"RawFrame": 200, "JournalEntry": 201}}``), then one chunk::

    00000000  4d 4d 52 45 43 00 01 0a  28 01 00 00 84 a7 76 65 |MMREC...(.....ve|
    00000010  72 73 69 6f 6e 01 af 63  72 65 61 74 65 64 5f 75 |rsion..created_u|
    ...
    00000134  4d 4d 43 4b 67 00 00 00  02 00 00 00 64 7a 82 c5 |MMCKg.......dz..|
    00000144  28 b5 2f fd 20 77 f5 02  00 d4 04 92 9a 01 00 00 |(./. w..........|
    00000154  cf 18 61 c6 fb 79 8e 83  b0 cf 00 00 01 99 0f a5 |..a..y..........|
    00000164  40 eb cb 40 fb 1b e0 00  00 00 00 cb 3f 4e 79 67 |@..@........?Nyg|
    00000174  ca ea 74 7e ff cf 00 02  f7 3c d9 b2 67 4c 8b ad |..t~.....<..gL..|
    00000184  bf 0c 42 44 42 44 f0 51  b1 d9 2b 7f e0 8b 01 cf |..BDBD.Q..+.....|
    00000194  00 01 3f ec b3 aa 3e 30  06 00 60 04 08 18 64 0c |..?...>0..`...d.|
    000001a4  32 c1 ab e2 b2 28 4d                             |2....(M|

``MMCK``, comp_len 0x67 = 103, n_records 2, crc32 0xc5827a64, then the zstd frame
(``28 b5 2f fd``). It decompresses to ``92`` (a msgpack array of 2) followed by two
``Trade`` records (``9a``: arrays of 10, the first element the tag 1), which decode as::

    Trade(venue=0, symbol_id=0, ts_ns=1756904113029678000, remote_ts_ms=1756904112363,
          seq=1756904112363, px=111038.0, qty=0.00093, side=-1, trade_id=834790675867468)
    Trade(venue=0, symbol_id=0, ts_ns=1756904113333714700, remote_ts_ms=1756904112708,
          seq=1756904112708, px=111039.0, qty=0.00108, side=1, trade_id=351760835821104)

tests/recording checks that the writer still produces exactly these bytes.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Final, Union, get_args

import msgspec

from mm.schema import AnyMessage, tag_of

MAGIC: Final = b"MMREC\x00\x01\n"
VERSION: Final = 1
CHUNK_MAGIC: Final = b"MMCK"
CHUNK_HEADER = struct.Struct("<4sIII")  # magic, comp_len, n_records, crc32
LEN_U32 = struct.Struct("<I")
MAX_CHUNK_BYTES: Final = 1 << 30
RAW_FRAME_TAG: Final = 200
JOURNAL_TAG: Final = 201


class RawFrame(msgspec.Struct, array_like=True, frozen=True, tag_field="t", tag=RAW_FRAME_TAG):
    """A raw websocket frame as received (optional in recordings)."""

    venue: int
    ts_ns: int
    data: bytes


class JournalEntry(msgspec.Struct, array_like=True, frozen=True, tag_field="t", tag=JOURNAL_TAG):
    """One input a process consumed, as it consumed it (run recordings, :mod:`mm.recording.run`).

    ``seq``: the entry's index in its process's journal (0, 1, ...; a gap is a lost entry);
    ``op``: what was called (an :data:`mm.execution.engine.INPUT_ARGS` key for execution);
    ``args``: the call's positional arguments as one msgpack array (msgspec-encoded; its
    types are the op's entry in the decoding table).
    """

    seq: int
    op: str
    args: bytes


class FileHeader(msgspec.Struct):
    """Written once at the start of every file."""

    version: int
    created_unix_ns: int
    source: str
    tags: dict[str, int] = msgspec.field(default_factory=dict)


_MESSAGE_TYPES: tuple[type[msgspec.Struct], ...] = (*get_args(AnyMessage), RawFrame, JournalEntry)
if {RAW_FRAME_TAG, JOURNAL_TAG} & {tag_of(t) for t in get_args(AnyMessage)}:  # pragma: no cover - schema guard
    raise RuntimeError(f"mm.schema uses tag {RAW_FRAME_TAG} or {JOURNAL_TAG}, reserved for recordings")

Record = Any
"""A schema message or a RawFrame (typed as Any: msgspec builds the union at run time)."""
RecordUnion: Any = Union[_MESSAGE_TYPES]  # noqa: UP007 - a run-time union of the tuple


def schema_tags() -> dict[str, int]:
    """Type name -> tag of every record type, stored in each file header."""
    return {t.__name__: tag_of(t) for t in _MESSAGE_TYPES}


def encode_header(header: FileHeader) -> bytes:
    body = msgspec.msgpack.encode(header)
    return MAGIC + LEN_U32.pack(len(body)) + body


def msgpack_array_prefix(n: int) -> bytes:
    """The msgpack header of an array of ``n`` elements."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def frame_chunk(comp: bytes, n_records: int) -> bytes:
    """Chunk header + compressed payload, ready for one write."""
    return CHUNK_HEADER.pack(CHUNK_MAGIC, len(comp), n_records, zlib.crc32(comp)) + comp
