"""In the real paper group at Shadow, `mmctl status` shows shadow fills accumulating (issue 7).

Real OS processes and the sim venue on loopback, configs/paper.toml at its Shadow start level
(size multiplier 0: execution places nothing) with the touch baseline as the active policy.
Execution's variants simulator fills the active policy's would-be quotes and publishes them as
ShadowFill on the ex ring; risk counts them as the evidence at Shadow: `mmctl status --json`
shows them growing (risk's pnl.shadow_fills and the level's fills_at_level), while risk's
position and PnL stay flat and the venue holds no order of ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaos.group import eventually

from .conftest import Group, status

REPLACE = {
    "dry_run = false": 'dry_run = false\npolicy = "touch"',
    "heartbeat_deadline_ms = 250": "heartbeat_deadline_ms = 2000",
}

# a slow start on the loaded box can leave market data stale for a few seconds (Red, which
# allows no side, for the active policy's would-be quotes too): short safety dwells
OVERRIDES = """
[escalation]
dwell_s = [0.0, 0.3, 0.3, 0.3, 0.0]
"""


def _risk(run_dir: str) -> dict[str, Any]:
    detail: dict[str, Any] = status(run_dir).get("risk_detail") or {}
    return detail


def test_shadow_fills_accumulate_in_mmctl_status_at_shadow(tmp_path: Path) -> None:
    g = Group(tmp_path, OVERRIDES, replace=REPLACE)
    g.start()
    try:
        first = eventually(lambda: (d := _risk(g.run_dir)) and d.get("pnl", {}).get("shadow_fills", 0) > 0 and d,
                           40.0, "a shadow fill in mmctl status", g.log)
        n1 = first["pnl"]["shadow_fills"]
        later = eventually(lambda: (d := _risk(g.run_dir)) and d["pnl"]["shadow_fills"] > n1 and d,
                           20.0, "more shadow fills", g.log)
        print(f"\nshadow fills in mmctl status: {n1} then {later['pnl']['shadow_fills']}; fills at level "
              f"{later['exposure']['fills_at_level']}, marked out {later['exposure']['marked_out_at_level']}")
        assert later["exposure"]["level"] == "SHADOW"
        assert later["exposure"]["fills_at_level"] >= n1  # counted as the evidence at Shadow
        assert later["pnl"]["shadow_fills_above_shadow"] == 0
        assert later["pnl"]["total_pnl_usd"] == 0.0  # never position or PnL
        assert all(s["qty"] == 0.0 for s in later["limits"]["symbols"]), later["limits"]
        st = status(g.run_dir)
        assert st["risk"]["size_multiplier"] == 0.0
    finally:
        g.stop()
