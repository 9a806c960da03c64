"""Which process writes and reads which ring: the wiring of the process group.

Every ring has exactly one writer. Readers each keep their own cursor. Ring names are
short because they end up in /dev/shm as ``mm.<run_id>.<ring>``.
"""

from __future__ import annotations

from typing import Final

RING_WRITER: Final[dict[str, str]] = {
    "md": "feed",  # MarketEvent: feed -> feature (and recorders)
    "snap": "feature",  # StateSnapshot: feature -> alpha, execution, risk
    "sig": "alpha",  # AlphaSignal: alpha -> execution, risk (the validator scores it)
    "ex": "execution",  # OrderEvent, Fill, CycleSummary: execution -> risk, feature
    "ctl": "risk",  # ControlState, RiskStatus: risk -> execution, alpha, monitor, supervisor
    "cmd": "supervisor",  # OperatorCommand: supervisor -> risk
    "audit": "execution",  # CycleDecisionRecord: execution -> monitor (larger slots)
}

READS: Final[dict[str, tuple[str, ...]]] = {
    "feed": (),
    "feature": ("md", "ex"),
    "alpha": ("snap", "ctl"),  # ctl: ControlState's model weights (a retired signal is zeroed)
    "execution": ("snap", "sig", "ctl"),
    "risk": ("ex", "snap", "cmd", "md", "sig"),  # md: FeedStale (stale data escalates); sig: scored signals
    "monitor": ("snap", "sig", "ex", "ctl", "audit"),
}

WRITES: Final[dict[str, tuple[str, ...]]] = {
    proc: tuple(ring for ring, writer in RING_WRITER.items() if writer == proc)
    for proc in ("feed", "feature", "alpha", "execution", "risk", "monitor", "supervisor")
}

HEARTBEAT: Final = "hb"
KILLSWITCH: Final = "ks"


def wake_name(process: str) -> str:
    """The segment name of a process's wake-up semaphore."""
    return f"wake.{process}"
