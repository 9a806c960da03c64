"""`mmctl status` shows risk's levels and the confidence components: the authority's status
(as procs/risk.py writes it to risk_status.json, JSON) and its ControlState (as the
supervisor summarises it) rendered by mmctl's status formatter."""

from __future__ import annotations

import json
import re

from mm.cli.mmctl import _fmt_status
from mm.graduation.exposure import ExposureConfig
from mm.risk.authority import RiskAuthority
from mm.schema import ExposureLevel, OperatorCommand, SafetyLevel

S = 1_000_000_000


def test_mmctl_status_shows_levels_and_confidence_components() -> None:
    a = RiskAuthority(ExposureConfig(), symbols=["BTC"])
    a.on_command(OperatorCommand(ts_ns=S, seq=1, verb="promote", reason="test", who="alice", force=True), 0)
    cs = a.control_state(2 * S)
    detail = json.loads(json.dumps(a.status(2 * S), default=str))  # risk_status.json
    d = {
        "run_id": "r", "mode": "paper", "pid": 1, "uptime_s": 1.0, "wait": "block", "processes": [], "channels": [],
        "killswitch": {"tripped": False, "epoch": 0, "trips": 0},
        "risk": {"exposure_level": ExposureLevel(cs.exposure_level).name,
                 "safety_level": SafetyLevel(cs.safety_level).name, "size_multiplier": cs.size_multiplier,
                 "spread_multiplier": cs.spread_multiplier, "reduce_only": cs.reduce_only,
                 "control_reason": cs.reason},
        "risk_detail": detail,
    }
    text = _fmt_status(d)
    assert re.search(r"risk: exposure MICRO_LIVE \(size x0\.\d+\), safety GREEN \(spread x1\)", text), text
    c = a.confidence.components
    m = re.search(r"confidence: overall ([\d.]+) \(model ([\d.]+), execution ([\d.]+), safety ([\d.]+)\) "
                  r"-> implies (\w+)", text)
    assert m, text
    assert [float(x) for x in m.groups()[:4]] == [round(v, 2) for v in (c.overall, c.model, c.execution, c.safety)]
    assert "promotion evidence: not met" in text and "drawdown" in text
    assert "evidence at level: 0 fills (0 simulated at Shadow), 0 marked out, 0 with positive edge" in text, text
