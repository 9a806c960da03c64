"""The risk process: position from fills, exposure level, operator commands -> ControlState.

Wiring only: the decisions are mm.risk.authority.RiskAuthority's. It publishes ControlState
on the ctl ring every control period and whenever a command changes something, and writes
each command's acknowledgement to its heartbeat row for the supervisor. The exposure
level history is persisted in state_dir and reloaded at start.
"""

from __future__ import annotations

import logging
import os
import time

from mm.graduation.exposure import decode_history, encode_history
from mm.risk.authority import RiskAuthority
from mm.schema import AnyMessage, Fill, OperatorCommand, StateSnapshot
from procs.runtime import Worker, run_worker

log = logging.getLogger("mm")
CONTROL_PERIOD_NS = 100_000_000


class RiskWorker(Worker):
    name = "risk"

    def on_start(self, now_ns: int) -> None:
        os.makedirs(self.cfg.run.state_dir, exist_ok=True)
        self.history_path = os.path.join(self.cfg.run.state_dir, "exposure_history.json")
        history = None
        if os.path.exists(self.history_path):
            try:
                with open(self.history_path, "rb") as fh:
                    history = decode_history(fh.read())
            except (OSError, ValueError) as exc:
                log.error("cannot read %s (%s); starting from the configured level", self.history_path, exc)
        self.authority = RiskAuthority(self.cfg.exposure, history)
        log.info("exposure level %s at start", self.authority.exposure.level.name)
        self.publish("ctl", self.authority.control_state(now_ns))

    def on_message(self, ring: str, msg: AnyMessage, now_ns: int) -> None:
        if isinstance(msg, Fill):
            self.authority.on_fill(msg)
        elif isinstance(msg, StateSnapshot):
            self.authority.on_mark(msg.symbol_id, msg.mid_px)
        elif isinstance(msg, OperatorCommand):
            ack, text = self.authority.on_command(msg, time.time_ns())
            log.warning("operator %s by %s (%s): %s -> %s", msg.verb, msg.who, msg.reason, ack.name, text)
            self._persist()
            self.publish("ctl", self.authority.control_state(now_ns))
            self.hb.set(ack_code=int(ack), ack_seq=msg.seq)
        else:
            self.note_latency(getattr(msg, "origin_ts_ns", 0), now_ns)

    def on_timer(self, now_ns: int) -> int:
        self.publish("ctl", self.authority.control_state(now_ns))
        return CONTROL_PERIOD_NS

    def _persist(self) -> None:
        tmp = self.history_path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(encode_history(self.authority.exposure.history))
        os.replace(tmp, self.history_path)


if __name__ == "__main__":
    raise SystemExit(run_worker(RiskWorker))
