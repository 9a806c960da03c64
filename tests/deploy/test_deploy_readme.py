"""deploy/README.md's install path refers to things that exist and produces a valid config."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from mm.config import parse_config

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "deploy" / "README.md").read_text()


def test_install_steps_name_real_targets_and_files() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "sudo make venv" in DOC and re.search(r"^venv:", makefile, re.M)
    assert "cp deploy/systemd/mm.service /etc/systemd/system/" in DOC
    unit = (REPO / "deploy" / "systemd" / "mm.service").read_text()
    m = re.search(r"^ExecStart=\S+ -m procs\.supervisor --config (\S+)$", unit, re.M)
    assert m is not None and m.group(1) == "/etc/mm/live.toml" and "/etc/mm/live.toml" in DOC
    assert "StateDirectory=mm" in unit and "ReadWritePaths=/var/lib/mm" in unit
    assert "systemd-analyze verify" in DOC and "WatchdogUSec" in DOC


def test_the_config_the_steps_install_is_valid_and_writable_under_the_unit(tmp_path: Path) -> None:
    # the README's sed: state_dir moves to the unit's StateDirectory (/opt is read-only there)
    sed = re.search(r"sed -i '(s\|[^']*)' /etc/mm/live\.toml", DOC)
    assert sed is not None
    cfg = tmp_path / "live.toml"
    cfg.write_text((REPO / "configs" / "paper.toml").read_text())
    subprocess.run(["sed", "-i", sed.group(1), str(cfg)], check=True, timeout=30)
    config = parse_config(cfg.read_text(), str(cfg))
    assert config.run.state_dir == "/var/lib/mm"
