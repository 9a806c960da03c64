"""``mmctl record``: record a running group's normalized market stream to .mmrec files.

The recorder is one more reader of the group's md ring (each reader has its own cursor, so
it takes nothing from the feature process). With ``--ex`` it also records the ex ring (our
order events, fills, cycle summaries). Messages are written as decoded, in ring order,
with the writer of mm.recording (zstd chunks, rotated); a lapped recorder reports how many
messages it lost. Stops after ``--duration`` seconds or on Ctrl-C, and prints what it wrote.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from ipc.ring import Ring, RingOverrun, RingReader
from mm.recording.writer import RecordingWriter
from mm.schema import Codec


def record(group: dict[str, Any], out_dir: str, duration_s: float, with_ex: bool, prefix: str = "md") -> dict[str, Any]:
    codec = Codec()
    rings: list[Ring] = []
    readers: list[tuple[str, RingReader]] = []
    tag = f"rec{os.getpid()}"
    for name in ("md", "ex") if with_ex else ("md",):
        ring = Ring.attach(group["rings"][name])
        rings.append(ring)
        readers.append((name, ring.reader(tag, start="latest")))
    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    old = signal.signal(signal.SIGINT, _stop)
    counts = dict.fromkeys((n for n, _ in readers), 0)
    lost = dict.fromkeys((n for n, _ in readers), 0)
    t_end = time.monotonic() + duration_s if duration_s > 0 else float("inf")
    writer = RecordingWriter(out_dir, prefix=prefix, source=f"mmctl record run {group['run_id']}")
    try:
        while not stop and time.monotonic() < t_end:
            got = 0
            for name, reader in readers:
                try:
                    batch = reader.poll_batch(1024)
                except RingOverrun as exc:
                    lost[name] += exc.lost
                    continue
                now = time.monotonic_ns()
                for raw in batch:
                    writer.write(codec.decode(raw), now)
                counts[name] += len(batch)
                got += len(batch)
            if not got:
                writer.maybe_flush(time.monotonic_ns())
                time.sleep(0.005)
    finally:
        signal.signal(signal.SIGINT, old)
        writer.close()
        for _, reader in readers:
            reader.close()
        for ring in rings:
            ring.close()
    return {
        "messages": counts,
        "lost": lost,
        "files": [str(p) for p in writer.paths],
        "bytes": writer.stats.bytes_written,
    }


def format_result(res: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(res, indent=1)
    msgs = ", ".join(f"{k} {v}" for k, v in res["messages"].items())
    lost = sum(res["lost"].values())
    return (
        f"recorded {msgs} messages ({res['bytes']} bytes compressed, {lost} lost) into:\n  "
        + "\n  ".join(res["files"])
    )
