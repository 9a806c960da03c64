"""``[monitor]``: the monitor process (audit files, postmortems, /metrics, the dashboard).

Pure: a frozen msgspec struct with defaults, validated on decode like mm.config's sections.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta


class MonitorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[monitor]`` the monitor process.

    host: address the HTTP server (dashboard, /api/state, /metrics) binds. Loopback by
        default; anything else exposes the dashboard and metrics to that network.
    port: TCP port of that server; 0 picks a free one (written to <run_dir>/monitor.json).
    poll_interval_ms: how often the monitor drains its rings, in ms (it polls: it never asks
        a producer to wake it).
    state_interval_ms: how often process health (heartbeats, ring statistics) and the PnL
        history are sampled, in ms.
    serve_cache_ms: the state served on /api/state and /metrics is built when asked, at most
        once per this many ms (nothing is built while nobody looks).
    nice: niceness added to the monitor process at start: an observer must not take CPU from
        the trading processes on a shared core (0 leaves it as is).
    audit: write the audit files (CycleDecisionRecord, AuditFill, RiskStatus, ControlState
        changes) under <state_dir>/audit.
    audit_rotate_bytes: an audit file is closed and a new one started past this size (bytes).
    audit_rotate_interval_s: ... or when it is this old (s).
    audit_chunk_bytes: records are compressed and appended in chunks of about this size (bytes).
    audit_flush_interval_ms: a partial chunk is written at the latest after this long (ms):
        the most a crash can lose.
    audit_zstd_level: zstd compression level of the audit files (1 fast .. 19 small).
    audit_keep_files: oldest audit files beyond this count are deleted (0 keeps all).
    risk_status_interval_s: RiskStatus records are written to the audit files at most this
        often (s); ControlState is written whenever its levels, multipliers or sides change.
    postmortem: write a postmortem bundle on escalation to Red or Kill, or a kill-switch trip.
    postmortem_minutes: minutes of decision records kept in memory for (and written to) a
        postmortem bundle.
    postmortem_max_records: cap on the records kept in memory for postmortems (count bound).
    postmortem_max_bytes: cap on the memory those records take, in bytes. They are held
        msgpack-encoded and zstd-compressed in 64 KiB chunks (mm.audit.window; a decision record
        is ~3.7 KB as Python objects, ~0.6 KB encoded, ~55 B compressed) and decoded only when a
        bundle is written; past either cap the oldest chunk is dropped (counted in the
        dashboard's ``postmortem_window.dropped``).
    postmortem_min_interval_s: at most one bundle per this many seconds (an escalation that
        oscillates Red/Orange does not write a bundle each time).
    timeline_minutes: minutes of mode/safety/PnL history shown on the dashboard.
    audit_slot_size: slot size (bytes) of the ``audit`` ring the supervisor creates (a decision
        record with its candidates is 0.5-2 KiB; execution drops candidates to fit if needed).
    audit_slot_count: slots of the ``audit`` ring (a power of two).
    """

    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 9100
    poll_interval_ms: Annotated[int, Meta(ge=10, le=5000)] = 100
    state_interval_ms: Annotated[int, Meta(ge=50, le=10000)] = 1000
    serve_cache_ms: Annotated[int, Meta(ge=0, le=10000)] = 200
    nice: Annotated[int, Meta(ge=0, le=19)] = 10
    audit: bool = True
    audit_rotate_bytes: Annotated[int, Meta(ge=4096)] = 64 * 1024 * 1024
    audit_rotate_interval_s: Annotated[float, Meta(gt=0)] = 3600.0
    audit_chunk_bytes: Annotated[int, Meta(ge=1024)] = 256 * 1024
    audit_flush_interval_ms: Annotated[int, Meta(ge=10)] = 1000
    audit_zstd_level: Annotated[int, Meta(ge=1, le=19)] = 3
    audit_keep_files: Annotated[int, Meta(ge=0)] = 0
    risk_status_interval_s: Annotated[float, Meta(ge=0)] = 1.0
    postmortem: bool = True
    postmortem_minutes: Annotated[float, Meta(gt=0, le=240)] = 10.0
    postmortem_max_records: Annotated[int, Meta(ge=100)] = 200_000
    postmortem_max_bytes: Annotated[int, Meta(ge=1 << 20, le=1 << 34)] = 32 << 20
    postmortem_min_interval_s: Annotated[float, Meta(ge=0)] = 60.0
    timeline_minutes: Annotated[float, Meta(gt=0, le=240)] = 15.0
    audit_slot_size: Annotated[int, Meta(ge=1024, le=65536, multiple_of=64)] = 4096
    audit_slot_count: Annotated[int, Meta(ge=16, le=1 << 20)] = 2048

    def __post_init__(self) -> None:
        if self.audit_slot_count & (self.audit_slot_count - 1):
            raise ValueError(f"monitor.audit_slot_count must be a power of two, got {self.audit_slot_count}")
        if not self.host:
            raise ValueError("monitor.host must not be empty (127.0.0.1 keeps it on loopback)")
