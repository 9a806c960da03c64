"""The systemd unit passes `systemd-analyze verify` (with this checkout standing in for /opt/mm)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "systemd" / "mm.service"


def test_unit_declares_the_supervision_contract():
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "KillMode=mixed", "User=mm", "CPUAffinity="):
        assert line in text, line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (Debian: systemd)")
def test_systemd_analyze_verify(tmp_path):
    venv_python = REPO / ".venv" / "bin" / "python"
    if not venv_python.exists():
        pytest.skip(".venv not built (make test builds it)")
    unit = tmp_path / "mm.service"
    unit.write_text(UNIT.read_text().replace("/opt/mm", str(REPO)))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert r.returncode == 0 and not problems, problems
