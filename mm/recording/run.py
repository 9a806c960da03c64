"""Run recordings: what each process consumed, as it consumed it, under ``<state_dir>/runs/<run_id>``.

Edge module (file I/O). A paper or live run's execution, feature, alpha and risk processes write,
into their run's directory:

- ``execution.json``: the run's manifest as that process saw it at start: run id, process,
  wall-clock start, the config file's path, bytes (as text) and SHA-256, the SHA-256 of
  every model file it loaded, the seeds (the OMS session id, which is the prefix of every
  cloid, and the variants' RNG seed), the symbol specs the venue listed, the audit ring's
  slot payload capacity, and ``extra`` (process-specific);
- ``execution-NNNNNN.mmrec``: the journal: one :class:`~mm.recording.format.JournalEntry`
  per state-changing engine call (snapshots, signals and control as they arrived, with
  their local arrival ``now_ns`` in the call's arguments; the venue's answers, order
  updates and fills; timers; the kill switch as each call saw it; variant activations),
  interleaved with the ``CycleDecisionRecord`` messages it published on the audit ring,
  in the order they happened;
- ``feature.json`` / ``feature-NNNNNN.mmrec`` and ``alpha.json`` / ``alpha-NNNNNN.mmrec``:
  the feature and alpha processes' manifests (symbols, the SHA-256 of the model bytes they
  loaded) and journals (:mod:`mm.stages`: every message each consumed, as received, with
  the ``now_ns`` of the step that consumed it; the feature's timer calls; alpha's model
  weights from risk);
- ``risk.json`` / ``risk-NNNNNN.mmrec``: the risk process's manifest (the config text and its
  SHA-256, symbols) and journal: every call it made into its
  :class:`~mm.risk.authority.RiskAuthority` (``RISK_INPUTS``), each process life opening
  with a ``start`` entry (start time, reloaded histories, the signals' model names), and the
  wall clock, kill switch and venue answers it read as arguments;
- ``activations.jsonl``: the operator's variant activations with their evidence;
- ``variants.json``: the latest variant comparison (rewritten periodically).

:class:`RunRecorder` writes one process's files (:class:`HashingReader` notes the hashes of
the model files it loaded); :func:`list_runs`, :func:`read_manifest` and
:func:`read_journal` read them back.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from mm.recording.format import JournalEntry, Record
from mm.recording.reader import RecordingReader
from mm.recording.writer import RecordingWriter, recording_files

RUNS_DIR = "runs"


def runs_root(state_dir: str | Path) -> Path:
    return Path(state_dir) / RUNS_DIR


def run_path(state_dir: str | Path, run_id: str) -> Path:
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise ValueError(f"bad run id {run_id!r}")
    return runs_root(state_dir) / run_id


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename (readers never see half)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(obj)))
    os.replace(tmp, path)


class RunRecorder:
    """One process's journal and manifest in its run directory."""

    def __init__(self, state_dir: str | Path, run_id: str, proc: str, manifest: dict[str, Any],
                 flush_interval_ns: int = 500_000_000) -> None:
        self.dir = run_path(state_dir, run_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = proc
        self.seq = 0
        self._enc = msgspec.msgpack.Encoder()
        man = {"run_id": run_id, "proc": proc, "started_unix_ns": time.time_ns(), **manifest}
        write_json_atomic(self.dir / f"{proc}.json", man)
        self.writer = RecordingWriter(self.dir, prefix=proc, source=f"run {run_id} {proc}",
                                      flush_interval_ns=flush_interval_ns)

    def input(self, op: str, args: tuple[Any, ...], now_ns: int) -> None:
        """Append one consumed input (``args`` msgspec-encodable)."""
        self.writer.write(JournalEntry(self.seq, op, self._enc.encode(args)), now_ns)
        self.seq += 1

    def output(self, msg: Record, now_ns: int) -> None:
        """Append one message the process published (kept in order with the inputs)."""
        self.writer.write(msg, now_ns)

    def maybe_flush(self, now_ns: int) -> None:
        self.writer.maybe_flush(now_ns)

    def close(self) -> None:
        self.writer.close()


class HashingReader:
    """Wraps a model reader ``read(coin, name) -> bytes | None`` and keeps the SHA-256 of every
    file it returned, keyed ``<coin>/<name>.json`` (a manifest's ``models``: exactly the
    bytes the process loaded)."""

    def __init__(self, read: Callable[[str, str], bytes | None]) -> None:
        self._read = read
        self.hashes: dict[str, str] = {}

    def __call__(self, coin: str, name: str) -> bytes | None:
        raw = self._read(coin, name)
        if raw is not None:
            self.hashes[f"{coin}/{name}.json"] = hashlib.sha256(raw).hexdigest()
        return raw


def config_manifest(config_path: str) -> dict[str, Any]:
    """The config file's path, text and SHA-256 (what the run was started with)."""
    p = Path(config_path)
    raw = p.read_bytes()
    return {"config_path": str(p.resolve()), "config_sha256": hashlib.sha256(raw).hexdigest(),
            "config_text": raw.decode("utf-8", "replace")}


# --------------------------------------------------------------------------- reading


class RunInfo(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    path: str
    started_unix_ns: int
    procs: list[str]
    files: list[str]
    bytes_total: int


def list_runs(state_dir: str | Path) -> list[RunInfo]:
    """Every run under ``<state_dir>/runs``, oldest first (by manifest start time)."""
    root = runs_root(state_dir)
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if not d.is_dir():
            continue
        files = sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
        procs = sorted(p.stem for p in files if p.suffix == ".json" and p.stem not in ("variants",))
        started = 0
        for proc in procs:
            try:
                started = max(started, int(read_manifest(d, proc).get("started_unix_ns", 0)))
            except (OSError, ValueError):
                continue
        out.append(RunInfo(run_id=d.name, path=str(d), started_unix_ns=started, procs=procs,
                           files=[p.name for p in files], bytes_total=sum(p.stat().st_size for p in files)))
    out.sort(key=lambda r: (r.started_unix_ns, r.run_id))
    return out


def resolve_run(state_dir: str | Path, run: str) -> Path:
    """A run directory from a run id, ``latest``, or a path; FileNotFoundError naming what was tried."""
    runs = list_runs(state_dir)
    for r in runs:  # a run id first: a directory of that name in the working directory is not it
        if r.run_id == run:
            return Path(r.path)
    p = Path(run)
    if p.is_dir() and any(p.glob("*.json")):
        return p
    if run == "latest":
        if not runs:
            raise FileNotFoundError(f"no run recorded under {runs_root(state_dir)}")
        return Path(runs[-1].path)
    for r in runs:
        if r.run_id == run:
            return Path(r.path)
    raise FileNotFoundError(f"no run {run!r} under {runs_root(state_dir)} (known: {[r.run_id for r in runs]})")


def read_manifest(run_dir: str | Path, proc: str) -> dict[str, Any]:
    path = Path(run_dir) / f"{proc}.json"
    try:
        out: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    return out


def read_journal(run_dir: str | Path, proc: str) -> Iterator[Record]:
    """The process's journal entries and published messages, in write order."""
    files = recording_files(run_dir, proc)
    if not files:
        raise FileNotFoundError(f"{run_dir}: no {proc}-*.mmrec journal")
    yield from RecordingReader(files)
