"""Audit files: the monitor's rotated, zstd-compressed ``.mmrec`` files and their reader.

Edge module (file I/O). The files are mm.recording's format (chunked zstd msgpack, crash-safe
tail, rotation by size and age) with ``audit`` as the name prefix and ``source="audit"`` in
each header; they hold :data:`AuditRecord` messages: ``CycleDecisionRecord``, ``AuditFill``,
``RiskStatus`` and ``ControlState``. :class:`AuditReader` decodes them (mm.recording's reader
knows only mm.schema's union until the audit types join it). Old files beyond ``keep_files``
are deleted after each rotation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Union

import msgspec

from mm.audit.config import MonitorConfig
from mm.audit.postmortem import Bundle
from mm.audit.record import AuditFill, CycleDecisionRecord, RiskStatus
from mm.recording.reader import RecordingReader
from mm.recording.writer import RecordingWriter, recording_files
from mm.schema import ControlState

AUDIT_PREFIX = "audit"
AUDIT_SUBDIR = "audit"
POSTMORTEM_SUBDIR = "postmortems"

AuditRecord = Union[CycleDecisionRecord, AuditFill, RiskStatus, ControlState]  # noqa: UP007 - a run-time union
"""What an audit file holds."""
AUDIT_TYPES: tuple[type[msgspec.Struct], ...] = (CycleDecisionRecord, AuditFill, RiskStatus, ControlState)


def audit_dir(state_dir: str | Path) -> Path:
    """Where a run's audit files live: ``<state_dir>/audit``."""
    return Path(state_dir) / AUDIT_SUBDIR


def postmortem_dir(state_dir: str | Path) -> Path:
    """Where postmortem bundles are written: ``<state_dir>/postmortems``."""
    return Path(state_dir) / POSTMORTEM_SUBDIR


class AuditWriter:
    """Append audit records to rotated compressed files, deleting the oldest past a count."""

    def __init__(self, directory: str | Path, cfg: MonitorConfig | None = None) -> None:
        c = cfg if cfg is not None else MonitorConfig()
        self.directory = Path(directory)
        self.keep_files = c.audit_keep_files
        self.writer = RecordingWriter(
            self.directory, prefix=AUDIT_PREFIX, source="audit", chunk_bytes=c.audit_chunk_bytes,
            flush_interval_ns=c.audit_flush_interval_ms * 1_000_000, rotate_bytes=c.audit_rotate_bytes,
            rotate_interval_ns=int(c.audit_rotate_interval_s * 1e9), zstd_level=c.audit_zstd_level,
        )
        self._files_seen = 0
        self.deleted = 0

    @property
    def records(self) -> int:
        return self.writer.stats.records

    @property
    def bytes_written(self) -> int:
        return self.writer.stats.bytes_written

    @property
    def files(self) -> int:
        return self.writer.stats.files

    def write(self, rec: CycleDecisionRecord | AuditFill | RiskStatus | ControlState | msgspec.Raw,
              now_ns: int) -> None:
        """Append one record (a ``msgspec.Raw`` is one already encoded: written as it is)."""
        self.writer.write(rec, now_ns)
        self._retain()

    def maybe_flush(self, now_ns: int) -> None:
        self.writer.maybe_flush(now_ns)
        self._retain()

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def _retain(self) -> None:
        if self.keep_files <= 0 or self.writer.stats.files == self._files_seen:
            return
        self._files_seen = self.writer.stats.files
        files = recording_files(self.directory, AUDIT_PREFIX)
        for old in files[: max(0, len(files) - self.keep_files)]:
            try:
                old.unlink()
                self.deleted += 1
            except FileNotFoundError:
                pass


class AuditReader(RecordingReader):
    """Iterate the records of audit files (a directory, files, or a postmortem bundle)."""

    def __init__(self, paths: str | Path | Iterable[str | Path]) -> None:
        super().__init__(paths, include_raw=False)
        self._dec = msgspec.msgpack.Decoder(list[AuditRecord])  # type: ignore[assignment]


def audit_files(path: str | Path) -> list[Path]:
    """The audit files under ``path``: a file, a directory of them, a state dir (its
    ``audit/``) or a postmortem bundle (its ``records/``)."""
    p = Path(path)
    if p.is_file():
        return [p]
    for sub in (p, p / AUDIT_SUBDIR, p / "records"):
        if sub.is_dir():
            files = recording_files(sub, AUDIT_PREFIX)
            if files:
                return files
    return []


def read_audit(path: str | Path | Iterable[str | Path]) -> Iterator[Any]:
    """Every record of the audit files found at ``path`` (see :func:`audit_files`)."""
    if isinstance(path, str | Path):
        files: list[Path] = audit_files(path)
    else:
        files = [f for p in path for f in audit_files(p)]
    return iter(AuditReader(files)) if files else iter(())


def write_bundle(base_dir: str | Path, bundle: Bundle, cfg: MonitorConfig | None = None) -> Path:
    """Write a postmortem bundle under ``base_dir`` (owner-only directory): its files, then
    its records as an audit file in ``records/``. Returns the bundle's directory."""
    base = Path(base_dir)
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = base / bundle.name
    n = 1
    while target.exists():
        n += 1
        target = base / f"{bundle.name}-{n}"
    tmp_dir = base / f".{target.name}.partial"
    tmp_dir.mkdir(mode=0o700)
    for name, data in bundle.files.items():
        (tmp_dir / name).write_bytes(data)
    if bundle.records:
        c = cfg if cfg is not None else MonitorConfig()
        w = AuditWriter(tmp_dir / "records", c)
        for rec in bundle.records:
            w.write(rec, 0)
        w.close()
    tmp_dir.rename(target)  # a bundle appears whole or not at all
    return target
