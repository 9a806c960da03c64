"""Recording: the ``.mmrec`` format, its writer and its reader.

``RecordingWriter(dir).write(msg, now_ns)`` appends; ``RecordingReader(dir)`` iterates;
``paced(records, speed)`` yields ``(delay_s, record)`` for real-time replay.
"""

from mm.recording.format import FileHeader, RawFrame
from mm.recording.reader import (
    ReaderStats,
    RecordingFormatError,
    RecordingReader,
    paced,
    read_recording,
    replay_realtime,
)
from mm.recording.writer import RecordingWriter, WriterStats, recording_files

__all__ = [
    "FileHeader",
    "RawFrame",
    "ReaderStats",
    "RecordingFormatError",
    "RecordingReader",
    "RecordingWriter",
    "WriterStats",
    "paced",
    "read_recording",
    "recording_files",
    "replay_realtime",
]
